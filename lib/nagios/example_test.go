package nagios_test

import (
	"fmt"
	"math"
	"os"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/nagios"
)

func ExampleResult_Render() {
	warn, _ := nagios.ParseRange("14:") // alert below 14 days
	crit, _ := nagios.ParseRange("7:")
	th := nagios.Thresholds{Warning: &warn, Critical: &crit}
	days := 10.0

	r := nagios.Result{Name: "RELAY_FINGERPRINT", Summary: "certificate of mx1:25 expires in 10 days"}
	r.Raise(th.Check(days))
	r.Long = append(r.Long, "mx1:25 3A:4B:5C listed as relay1")
	r.Perf = append(r.Perf, nagios.Perf{Label: "mx1 days", Value: days, Warn: &warn, Crit: &crit, Min: new(float64)})
	if err := r.Render(os.Stdout); err != nil {
		fmt.Println(err)
	}
	fmt.Println("exit", r.State.ExitCode())
	// Output:
	// RELAY_FINGERPRINT WARNING - certificate of mx1:25 expires in 10 days | 'mx1 days'=10;14:;7:;0
	// mx1:25 3A:4B:5C listed as relay1
	// exit 1
}

func ExampleParseRange() {
	for _, s := range []string{"10", "10:", "~:10", "10:20", "@10:20", "20:10"} {
		r, err := nagios.ParseRange(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-7s alerts at 5: %-5v at 15: %-5v at 25: %v\n", r, r.Alert(5), r.Alert(15), r.Alert(25))
	}
	// Output:
	// 10      alerts at 5: false at 15: true  at 25: true
	// 10:     alerts at 5: true  at 15: false at 25: false
	// ~:10    alerts at 5: false at 15: true  at 25: true
	// 10:20   alerts at 5: true  at 15: false at 25: true
	// @10:20  alerts at 5: false at 15: true  at 25: false
	// invalid range "20:10": start 20 is greater than end 10
}

func ExamplePerf_String() {
	p := nagios.Perf{Label: "tls handshake", Value: 0.0000125, UOM: "s", Max: new(10.0)}
	fmt.Println(p)
	fmt.Println(nagios.Perf{Label: "it's", Value: math.NaN()})
	// Output:
	// 'tls handshake'=0.0000125s;;;;10
	// it%27s=U
}

package bench

// RESULTS.md, as written by TestBench, all of it each time:
//
//	# Bench results            machine, date, run parameters
//	## Targets                 one row per target: ratio, limit, PASS/MISS;
//	                           then the fan-out targets on the reference rig
//	## Start-up                page faults and CPU of -V and of a one-relay
//	                           check (and of the candidate's, if any)
//	## Reading                 what the tables say, in sentences made from
//	                           the same numbers
//	## One relay, ...          one table per section: median wall time,
//	## Table size, ...         p25-p75, median CPU (user+system) and minor
//	## Fan-out, bench ...      page faults of the child, CPU of Postfix and
//	## Fan-out, ... proxy ...  of the bench process, median peak RSS, and
//	                           the section's ratio
//
// A ratio is a quotient of medians. Peak RSS is ru_maxrss: for a shell
// pipeline or script it is the largest single process, not the sum.

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

type report struct {
	rounds        int
	delay         time.Duration
	elapsed       time.Duration
	load          [2]string
	scenarios     []*scenario
	candidate     string
	candidateNote string
	haveSSLCert   bool
	pluginPath    string
	unstamped     int64 // bench relay reads without a kernel timestamp
}

// quantile returns the q-quantile of ds by linear interpolation; 0 for none.
func quantile[T ~int64](ds []T, q float64) T {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	frac := pos - float64(i)
	return s[i] + T(frac*float64(s[i+1]-s[i]))
}

func (sc *scenario) walls() []time.Duration {
	out := make([]time.Duration, len(sc.samples))
	for i, s := range sc.samples {
		out[i] = s.wall
	}
	return out
}

func (sc *scenario) median() time.Duration { return quantile(sc.walls(), 0.5) }

// medianOf returns the median of one field of the samples.
func (sc *scenario) medianOf(field func(sample) time.Duration) time.Duration {
	out := make([]time.Duration, len(sc.samples))
	for i, s := range sc.samples {
		out[i] = field(s)
	}
	return quantile(out, 0.5)
}

func (sc *scenario) medianRSS() int64 { return quantile(sc.rss, 0.5) }

func (sc *scenario) medianFaults() int64 {
	out := make([]int64, len(sc.samples))
	for i, s := range sc.samples {
		out[i] = s.faults
	}
	return quantile(out, 0.5)
}

func (sc *scenario) medianCPU() time.Duration {
	return sc.medianOf(func(s sample) time.Duration { return s.cpu })
}

// lateCell tells which share of the rig's delayed writes in the measured
// runs came more than lateBy after due, and the median of each run's
// latest.
func (sc *scenario) lateCell() string {
	var writes, late int64
	for _, s := range sc.samples {
		writes += s.writes
		late += s.late
	}
	if writes == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %% · %s", 100*float64(late)/float64(writes), ms(sc.medianOf(func(s sample) time.Duration { return s.maxLate })))
}

func (r *report) get(id string) *scenario {
	for _, sc := range r.scenarios {
		if sc.id == id {
			return sc
		}
	}
	return nil
}

// ratio returns median(a)/median(b), and false when either has no sample.
func (r *report) ratio(a, b string) (float64, bool) {
	sa, sb := r.get(a), r.get(b)
	if sa == nil || sb == nil || len(sa.samples) == 0 || len(sb.samples) == 0 {
		return 0, false
	}
	return float64(sa.median()) / float64(sb.median()), true
}

type target struct {
	what  string
	value float64
	ok    bool // measured at all
	limit float64
	unit  string // "×" or " MB"
	less  bool   // strictly below the limit (RSS), else at most
}

func (tg target) result() string {
	switch {
	case !tg.ok:
		return "not measured"
	case tg.less && tg.value < tg.limit, !tg.less && tg.value <= tg.limit:
		return "PASS"
	}
	return "MISS"
}

// targets returns the targets, or with reference the fan-out targets
// measured on the rig of proxies in front of the one Postfix.
func (r *report) targets(suffix string, reference bool) []target {
	ratio := func(what, a, b string, limit float64) target {
		if sb := r.get(b); sb != nil && sb.plugin {
			b += suffix // a candidate is compared with itself
		}
		v, ok := r.ratio(a+suffix, b)
		return target{what: what, value: v, ok: ok, limit: limit, unit: "×"}
	}
	// noise: a's median within the spread of b's own runs, at most their
	// upper quartile; both as ratios to b's median, to two decimals.
	noise := func(what, a, b string) target {
		tg := ratio(what, a, b, 0)
		if sb := r.get(b + suffix); sb != nil && len(sb.samples) > 0 {
			tg.limit = round2(float64(quantile(sb.walls(), 0.75)) / float64(sb.median()))
			tg.value = round2(tg.value)
		}
		return tg
	}
	rss := func(what, id string) target {
		tg := target{what: what, limit: 25, unit: " MB", less: true}
		if sc := r.get(id + suffix); sc != nil && len(sc.rss) > 0 {
			tg.value, tg.ok = float64(sc.medianRSS())/1e6, true
		}
		return tg
	}
	if reference {
		return []target{
			ratio("50 relays ÷ 1 relay; rig: proxies to the one Postfix", "pfx-50", "pfx-1", 1.5),
			ratio("200 relays ÷ 1 relay; rig: proxies to the one Postfix", "pfx-200", "pfx-1", 2.0),
			rss("peak RSS, 50 relays and 100 000 entries; rig: proxies to the one Postfix", "pfx-50-100000"),
			ratio(fmt.Sprintf("100 000-entry table ÷ %d-entry table, one relay %v RTT away; rig: bench relays", maxRelays, 2*r.delay), "fan-1-100000", "fan-1", 1.5),
		}
	}
	return []target{
		ratio("one relay: plugin ÷ openssl s_client pipeline", "one", "openssl", 0.3),
		ratio("one relay: plugin ÷ posttls-finger", "one", "posttls-finger", 0.6),
		ratio("one relay: plugin ÷ check_smtp -S -D 30", "one", "check_smtp", 1.0),
		ratio(fmt.Sprintf("50 relays ÷ 1 relay; rig: bench relays, each %v RTT away", 2*r.delay), "fan-50", "fan-1", 1.5),
		ratio("200 relays ÷ 1 relay; rig: bench relays", "fan-200", "fan-1", 2.0),
		noise("1 000-entry table ÷ 1-entry table (one relay, direct); limit: the 1-entry runs' upper quartile ÷ their median", "table-1000", "one"),
		ratio("100 000-entry table ÷ 1-entry table (one relay, direct)", "table-100000", "one", 2.0),
		rss("peak RSS, 50 relays and 100 000 entries; rig: bench relays", "fan-50-100000"),
	}
}

func (r *report) targetsTable() string {
	var b strings.Builder
	r.writeTargets(&b, "", "")
	if r.candidate != "" {
		r.writeTargets(&b, "+cand", " of the candidate")
	}
	return b.String()
}

func (r *report) writeTargets(b *strings.Builder, suffix, title string) {
	fmt.Fprintf(b, "\n## Targets%s\n\n"+
		"Fan-out targets are measured on the bench relays (each relay its own delaying SMTP server, port and certificate); "+
		"the second table gives the same targets on the other rig, each relay a delaying proxy to the one real Postfix, "+
		"whose CPU shares the machine's 2 cores with the plugin's (see the two Fan-out sections).\n\n", title)
	r.writeTargetRows(b, r.targets(suffix, false))
	fmt.Fprintf(b, "\nReference, not the targets: the fan-out targets%s with each relay a proxy to the one real Postfix, "+
		"and the table-size target with the relay as far away as in the fan-out, where the table is read while the relay answers\n\n", title)
	r.writeTargetRows(b, r.targets(suffix, true))
}

func round2(x float64) float64 { return math.Round(100*x) / 100 }

// writeStartup writes the start-up table: page faults and CPU of the
// plugin starting alone (-V) and of a whole one-relay check, the
// candidate's beside them, and check_smtp's whole check for scale.
func (r *report) writeStartup(b *strings.Builder) {
	b.WriteString("\n## Start-up\n\n" +
		"Medians of the same runs as below: minor page faults and CPU (user + system) move less with the load on the machine than wall time.")
	if r.candidate != "" {
		b.WriteString(" [candidate] rows: " + r.candidateText() + ".")
	}
	b.WriteString("\n\n| what | page faults | CPU | wall |\n|---|---:|---:|---:|\n")
	for _, id := range []string{"version", "version+cand", "one", "one+cand", "check_smtp"} {
		sc := r.get(id)
		if sc == nil || len(sc.samples) == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s |\n", cell(sc.label), sc.medianFaults(), ms(sc.medianCPU()), ms(sc.median()))
	}
}

// candidateText says what the candidate is.
func (r *report) candidateText() string {
	if r.candidateNote != "" {
		return r.candidateNote
	}
	return "`" + r.candidate + "`"
}

// writeReading writes what the tables say, from their numbers.
func (r *report) writeReading(b *strings.Builder) {
	b.WriteString("\n## Reading\n\nMade from the medians in the tables here, by the harness.\n\n")
	one, smtp, ver := r.get("one"), r.get("check_smtp"), r.get("version")
	has := func(scs ...*scenario) bool {
		for _, sc := range scs {
			if sc == nil || len(sc.samples) == 0 {
				return false
			}
		}
		return true
	}
	if has(one, smtp, ver) {
		fmt.Fprintf(b, "- **One relay.** The plugin takes %s (%s of CPU, %d page faults), check_smtp -S %s (%s, %d): %.2f×. "+
			"Starting alone (-V) takes %s of the plugin's %s (%d page faults), the rest is the probe, the table and the verdict.\n",
			ms(one.median()), ms(one.medianCPU()), one.medianFaults(), ms(smtp.median()), ms(smtp.medianCPU()), smtp.medianFaults(),
			float64(one.median())/float64(smtp.median()), ms(ver.median()), ms(one.median()), ver.medianFaults())
	}
	if vc, oc := r.get("version+cand"), r.get("one+cand"); has(ver, vc, one, oc) {
		fmt.Fprintf(b, "- **Against the candidate** (%s): -V %d → %d page faults and %s → %s of CPU (candidate → this build); "+
			"a one-relay check %d → %d page faults and %s → %s of CPU, %s → %s of wall time.\n",
			r.candidateText(), vc.medianFaults(), ver.medianFaults(), ms(vc.medianCPU()), ms(ver.medianCPU()),
			oc.medianFaults(), one.medianFaults(), ms(oc.medianCPU()), ms(one.medianCPU()), ms(oc.median()), ms(one.median()))
	}
	if has(one) {
		var parts []string
		for _, n := range []int{1_000, 10_000, 100_000} {
			sc := r.get(fmt.Sprintf("table-%d", n))
			if !has(sc) {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s entries %+.2f ms of wall time and %+.2f ms of CPU (%.2f×)",
				thousands(n), float64(sc.median()-one.median())/1e6, float64(sc.medianCPU()-one.medianCPU())/1e6,
				float64(sc.median())/float64(one.median())))
		}
		if len(parts) > 0 {
			fmt.Fprintf(b, "- **Table size.** Against the 1-entry table: %s. The 1-entry runs themselves spread over %s–%s (p25–p75): "+
				"a difference inside that is noise.", strings.Join(parts, "; "), ms(quantile(one.walls(), 0.25)), ms(quantile(one.walls(), 0.75)))
			if big := r.get("table-100000"); has(big) {
				fmt.Fprintf(b, " The 100 000-entry check makes %+d page faults (%.1f MB of peak RSS against %.1f MB): "+
					"the file, its lines and its entries are held in memory, each page of it faulted in once.",
					big.medianFaults()-one.medianFaults(), float64(big.medianRSS())/1e6, float64(one.medianRSS())/1e6)
			}
			b.WriteString("\n")
		}
	}
	f1, f50, f200 := r.get("fan-1"), r.get("fan-50"), r.get("fan-200")
	if has(f1, f50, f200) {
		fmt.Fprintf(b, "- **Fan-out, bench relays** (each %v away): 1 relay %s, 50 relays %s (%.2f×), 200 relays %s (%.2f×); "+
			"at 200 the plugin spent %s of CPU and the relays %s, on the same 2 cores.\n",
			2*r.delay, ms(f1.median()), ms(f50.median()), float64(f50.median())/float64(f1.median()),
			ms(f200.median()), float64(f200.median())/float64(f1.median()),
			ms(f200.medianCPU()), ms(f200.medianOf(func(s sample) time.Duration { return s.harness })))
	}
	p1, p200 := r.get("pfx-1"), r.get("pfx-200")
	if has(p1, p200) {
		fmt.Fprintf(b, "- **Fan-out, proxies to the one Postfix** (reference): 200 relays %.2f×, with Postfix spending %s "+
			"and the proxies %s of CPU against the plugin's %s: the rig's cost, which relays on other machines would not add.\n",
			float64(p200.median())/float64(p1.median()), ms(p200.medianOf(func(s sample) time.Duration { return s.postfix })),
			ms(p200.medianOf(func(s sample) time.Duration { return s.harness })), ms(p200.medianCPU()))
	}
}

// thousands writes n with a space between groups of three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + " " + s[i:]
	}
	return s
}

func (r *report) writeTargetRows(b *strings.Builder, ts []target) {
	b.WriteString("| target | measured | limit | result |\n|---|---:|---:|---|\n")
	for _, tg := range ts {
		cmp := "≤"
		if tg.less {
			cmp = "<"
		}
		val := "–"
		if tg.ok {
			val = fmt.Sprintf("%.2f%s", tg.value, tg.unit)
		}
		fmt.Fprintf(b, "| %s | %s | %s %g%s | **%s** |\n", tg.what, val, cmp, tg.limit, tg.unit, tg.result())
	}
}

// section is one table of RESULTS.md: rows and the row ratios refer to.
type section struct {
	title, intro string
	ids          []string
	base         string // ratios are row ÷ base, or base ÷ row with inverse
	inverse      bool
	ratioHead    string
	rigHead      string // heading of the bench process's CPU column
	late         bool   // show how many delayed writes were late
}

func (r *report) sections() []section {
	one := []string{"one", "one+cand", "one-cgo", "openssl", "posttls-finger", "check_smtp", "check_ssl_cert", "version", "version+cand"}
	return []section{
		{
			title: "One relay, direct",
			intro: "The one Postfix on 127.0.0.1, no added delay: the cost of each tool itself (process start, TLS, output). " +
				"The plugin reads a 1-entry table. The last column is the plugin's median divided by the row's.",
			ids: one, base: "one", inverse: true, ratioHead: "plugin ÷ row", rigHead: "bench CPU",
		},
		{
			title: "Table size, one relay, direct",
			intro: "The same probe with the relay's entry last in a table of generated fingerprints and labels " +
				"(texthash: source, about 120 bytes a line), which every run reads and parses. " +
				"The last column is the row's median divided by the first row's (1 entry).",
			ids: []string{"one", "one+cand", "table-1000", "table-1000+cand", "table-10000", "table-10000+cand",
				"table-100000", "table-100000+cand"},
			base: "one", ratioHead: "row ÷ 1 entry", rigHead: "bench CPU",
		},
		{
			title: "Fan-out, bench relays: each relay its own delaying SMTP server and certificate (the targets' rig)",
			intro: fmt.Sprintf("Distinct 127.0.0.1 ports, each a bench relay (relay_test.go) in the bench process: "+
				"its own ECDSA P-256 key and certificate (90 days, sent with the ECDSA P-384 intermediate that issued it, "+
				"as Let's Encrypt's default today), a Postfix 3.7 smtpd's dialogue "+
				"(banner, EHLO with STARTTLS, STARTTLS, TLS 1.3 from Go's crypto/tls, EHLO, QUIT), "+
				"every chunk delayed %v each way (the banner 4 delays after connect, each reply 2 delays after the "+
				"kernel's receive time of what it answers). Tables: R%d lists the %d relays' public-key fingerprints; "+
				"R100000 is 99 800 generated entries, then the same %d. Every run must get OK from the plugin "+
				"and a completed TLS handshake from every relay it names. "+
				"Relays CPU is what the bench process spent meanwhile: the relays, plus starting and reaping the child "+
				"(the bench CPU of the direct rows). The last column is the row's median divided by the 1-relay run's.",
				r.delay, maxRelays, maxRelays, maxRelays),
			ids: []string{"fan-1", "fan-1+cand", "fan-10", "fan-10+cand", "fan-50", "fan-50+cand", "fan-200", "fan-200+cand",
				"fan-50-100000", "fan-50-100000+cand", "fan-1-100000", "fan-1-100000+cand", "openssl-relay"},
			base: "fan-1", ratioHead: "row ÷ 1 relay", rigHead: "relays CPU", late: true,
		},
		{
			title: "Fan-out, each relay a proxy to the one real Postfix (reference rig)",
			intro: fmt.Sprintf("Distinct 127.0.0.1 ports, each a delaying proxy (proxy_test.go) in the bench process "+
				"adding %v one way to every chunk (and three delays before connecting upstream), all in front of the "+
				"one Postfix: every relay presents the same certificate, and Postfix (one smtpd per connection) and the "+
				"proxies spend their CPU on the 2 cores the plugin uses. Tables: T1 and T100000, the Postfix's "+
				"public-key fingerprint last. Proxies CPU is what the bench process spent meanwhile. "+
				"The last column is the row's median divided by the 1-relay run's.", r.delay),
			ids: []string{"pfx-1", "pfx-1+cand", "pfx-10", "pfx-10+cand", "pfx-50", "pfx-50+cand", "pfx-200", "pfx-200+cand",
				"pfx-50-100000", "pfx-50-100000+cand", "openssl-proxied"},
			base: "pfx-1", ratioHead: "row ÷ 1 relay", rigHead: "proxies CPU", late: true,
		},
	}
}

func (r *report) render() string {
	var b strings.Builder
	b.WriteString("# Bench results\n\n")
	b.WriteString("Written by `BENCH=1 go test -count=1 -timeout 20m -run '^TestBench$' -v ./bench` (see README.md), " +
		"all of it by each run.\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %d CPUs (nproc), %s, Linux %s, %s\n", runtime.NumCPU(), cpuModel(), kernel(), runtime.Version())
	fmt.Fprintf(&b, "- peers: Postfix %s, %s, check_smtp %s", firstLine(command("postconf", "-d", "-h", "mail_version")),
		firstLine(command("openssl", "version")), versionOf(command(checkSMTP, "-V")))
	if r.haveSSLCert {
		fmt.Fprintf(&b, ", %s", firstLine(command(checkSSLCert, "--version")))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- run: %d measured rounds after a warm-up round, every scenario once per round in a fixed order; "+
		"%v in all; load average %s before, %s after (the machine is shared)\n", r.rounds, r.elapsed.Round(time.Second), r.load[0], r.load[1])
	fmt.Fprintf(&b, "- wall time is from fork to the child's exit as the bench sees it; CPU is user + system of the child and its children, "+
		"page faults their minor page faults (`ru_minflt`); "+
		"Postfix CPU is what the Postfix master and its children (smtpd, ...) spent meanwhile (`/proc/PID/schedstat`); "+
		"bench, relays or proxies CPU is what the bench process itself spent meanwhile (`getrusage`): in the direct rows "+
		"only starting and reaping the child, in the fan-out rows nearly all of it the bench relays or the delaying proxies; "+
		"peak RSS is the median of %d more rounds run under GNU `time -f %%M` (`ru_maxrss` of the command; "+
		"for a shell pipeline or script, its largest single process, not the sum; see `measureRSS` for why not os/exec's own)\n", rssRounds)
	if r.candidate != "" {
		fmt.Fprintf(&b, "- candidate: `%s`, run in every plugin scenario as an extra row [candidate]", r.candidate)
		if r.candidateNote != "" {
			fmt.Fprintf(&b, ": %s", r.candidateNote)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "- late writes (fan-out): the share of the rig's delayed writes (a bench relay's replies, a proxy's chunks) "+
		"made more than %v after they were due, over the measured runs, · the median of each run's latest: "+
		"time the rig, not the distance or the plugin, added because it did not get a core in time\n", lateBy)
	if r.unstamped > 0 {
		fmt.Fprintf(&b, "- **the bench relays read %d chunks without a kernel receive timestamp**: their delays were counted from the read, "+
			"later than the arrival, for those\n", r.unstamped)
	}
	b.WriteString(r.targetsTable())
	r.writeStartup(&b)
	r.writeReading(&b)

	for _, s := range r.sections() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", s.title, s.intro)
		lateHead, lateAlign := "", ""
		if s.late {
			lateHead, lateAlign = " late writes |", "---:|"
		}
		fmt.Fprintf(&b, "| what | median | p25–p75 | CPU | page faults | Postfix CPU | %s |%s peak RSS | runs | %s |\n|---|---:|---:|---:|---:|---:|---:|%s---:|---:|---:|\n",
			s.rigHead, lateHead, s.ratioHead, lateAlign)
		for _, id := range s.ids {
			sc := r.get(id)
			if sc == nil {
				continue
			}
			bid := s.base
			if strings.HasSuffix(id, "+cand") {
				bid += "+cand"
			}
			base := r.get(bid)
			ratio := "–"
			if base != nil && len(base.samples) > 0 && len(sc.samples) > 0 {
				q := float64(sc.median()) / float64(base.median())
				if s.inverse {
					q = 1 / q
				}
				ratio = fmt.Sprintf("%.2f", q)
				if id == bid {
					ratio = "1"
				}
			}
			runs := fmt.Sprint(len(sc.samples))
			if len(sc.failed) > 0 {
				runs += fmt.Sprintf(" (+%d failed)", len(sc.failed))
			}
			rss := "–"
			if len(sc.rss) > 0 {
				rss = fmt.Sprintf("%.1f MB", float64(sc.medianRSS())/1e6)
			}
			rig := ms(sc.medianOf(func(s sample) time.Duration { return s.harness }))
			if s.late {
				rig += " | " + sc.lateCell()
			}
			fmt.Fprintf(&b, "| %s<br>`%s` | %s | %s–%s | %s | %d | %s | %s | %s | %s | %s |\n", cell(sc.label), cell(sc.shown),
				ms(sc.median()), ms(quantile(sc.walls(), 0.25)), ms(quantile(sc.walls(), 0.75)),
				ms(sc.medianCPU()), sc.medianFaults(),
				ms(sc.medianOf(func(s sample) time.Duration { return s.postfix })), rig, rss, runs, ratio)
		}
	}
	if !r.haveSSLCert {
		b.WriteString("\ncheck_ssl_cert was not installed; its row is missing (apt-get install monitoring-plugins-contrib).\n")
	}
	return b.String()
}

// cell escapes the pipe, which would end a table cell even in code.
func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func ms(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func command(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	return string(out)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// versionOf returns the "vX.Y" word of a plugin's -V output.
func versionOf(s string) string {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "v") && strings.ContainsAny(f, "0123456789") {
			return strings.Trim(f, "()")
		}
	}
	return firstLine(s)
}

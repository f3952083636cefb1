package bench

// TestBench, the harness. It builds the plugin, starts one real Postfix on
// 127.0.0.1 (internal/postfixtest) with a certificate valid for a year, writes
// relay_clientcerts tables of 1, 1 000, 10 000 and 100 000 entries (the relay's
// public-key fingerprint last), starts 200 bench relays (relay_test.go:
// delaying SMTP servers, each with its own port and certificate) with
// tables of 200 and 100 000 entries listing them all, puts 200 delaying
// proxies in front of the Postfix, and then runs every scenario as a child
// process, one after the other in a fixed order, round after round (A B C
// ... A B C ...), so that a burst of load from other users of the machine
// hits every scenario alike. It reports medians, ratios of medians, the
// CPU time and minor page faults of the child, the CPU time of Postfix and
// of the bench process (the relays or the proxies), and peak RSS (in extra
// rounds under GNU time, see measureRSS), and writes RESULTS.md.
//
// Environment:
//
//	BENCH=1            run at all (otherwise TestBench skips)
//	BENCH_ROUNDS=N     measured rounds (default 15), after one warm-up round
//	BENCH_DELAY=D      one-way delay of the relays and proxies (default 20ms)
//	BENCH_CANDIDATE=P  also run another build of the plugin (a prototype
//	                   fix) in every plugin scenario, as extra rows
//	BENCH_CANDIDATE_NOTE=TEXT  what the candidate is, for RESULTS.md
//	BENCH_OUT=PATH     where to write the results (default RESULTS.md here)

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/check-relay-fingerprint/check_relay_fingerprint/internal/postfixtest"
	"github.com/check-relay-fingerprint/check_relay_fingerprint/lib/fingerprint"
)

const (
	pluginPkg     = "github.com/check-relay-fingerprint/check_relay_fingerprint/cmd/check_relay_fingerprint"
	checkSMTP     = "/usr/lib/nagios/plugins/check_smtp"
	checkSSLCert  = "/usr/lib/nagios/plugins/check_ssl_cert"
	maxRelays     = 200
	runTimeout    = 60 * time.Second // a hang guard per child, not a measurement
	defaultRounds = 15
	defaultDelay  = 20 * time.Millisecond
	rssRounds     = 3 // peak RSS barely varies from run to run
)

// scenario is one command measured in every round.
type scenario struct {
	id     string   // key for sections and targets
	label  string   // row label
	shown  string   // the command as shown in RESULTS.md
	argv   []string // program and arguments
	env    []string // added to the environment
	plugin bool     // a run of the plugin (or of the candidate)
	// rig, when set, are bench relays the run must have completed a TLS
	// handshake with each of the first relays of.
	rig    *relaySet
	relays int
	// late, when set, counts the delayed writes of the rig the run uses.
	late *lateness
	// ok tells whether a run did its job, from its exit status and output.
	ok      func(code int, out string) error
	samples []sample
	rss     []int64  // peak RSS of the RSS runs, bytes
	failed  []string // why runs failed; such runs are not counted
}

// sample is one measured run.
type sample struct {
	wall    time.Duration
	cpu     time.Duration // user + system, the child and its waited-for children
	faults  int64         // minor page faults, likewise
	postfix time.Duration // CPU time of the Postfix processes meanwhile
	harness time.Duration // CPU time of this process meanwhile: the relays or proxies
	// The rig's delayed writes meanwhile, those more than lateBy after
	// due, and the latest of them.
	writes, late int64
	maxLate      time.Duration
}

// run executes sc once and records a sample, or why it failed. The CPU
// time the Postfix processes and this process (the relays or proxies)
// spent is read before and after, outside the timed part; this process's
// own just inside the Postfix reading, so that scanning /proc is not
// counted as the rig's.
// handshakesPerRelay is what one probe of a bench relay (one ECDSA
// certificate) completes: the default handshake and the one offering only
// ECDSA suites; the one offering only RSA suites fails (lib/probe's
// ProbeAll asks for every key type a relay may serve).
const handshakesPerRelay = 2

func (sc *scenario) run(record bool, postfix *peers) {
	var w0, l0 int64
	var hs0 []int64
	if sc.rig != nil {
		for i := range sc.relays {
			hs0 = append(hs0, sc.rig.handshakes[i].Load())
		}
	}
	if sc.late != nil {
		sc.late.maxLate.Store(0)
		w0, l0 = sc.late.writes.Load(), sc.late.late.Load()
	}
	pf0 := postfix.cpu()
	h0 := selfCPU()
	code, out, ru, wall, err := execute(sc.argv, sc.env)
	h1 := selfCPU()
	var w1, l1, maxLate int64
	if sc.late != nil {
		w1, l1, maxLate = sc.late.writes.Load(), sc.late.late.Load(), sc.late.maxLate.Load()
	}
	pf1 := postfix.cpu()
	if err != nil {
		sc.failed = append(sc.failed, fmt.Sprintf("%v: %.300s", err, out))
		return
	}
	if err := sc.ok(code, out); err != nil {
		sc.failed = append(sc.failed, fmt.Sprintf("exit %d: %v: %.300s", code, err, out))
		return
	}
	for i, n0 := range hs0 {
		// Every relay named, once: a run that probed one relay twice
		// and another not at all must not count. Once is
		// handshakesPerRelay completed handshakes (see there).
		if got := sc.rig.handshakes[i].Load() - n0; got != handshakesPerRelay {
			sc.failed = append(sc.failed, fmt.Sprintf("bench relay %d (%s) completed %d TLS handshakes in the run, want %d", i, sc.rig.addrs[i], got, handshakesPerRelay))
			return
		}
	}
	if record {
		cpu := time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
		sc.samples = append(sc.samples, sample{wall: wall, cpu: cpu, faults: ru.Minflt, postfix: max(pf1-pf0, 0), harness: h1 - h0,
			writes: w1 - w0, late: l1 - l0, maxLate: time.Duration(maxLate)})
	}
}

// measureRSS runs sc once under GNU time and records its peak RSS.
//
// Why not ru_maxrss of a child started by os/exec: Go starts children
// with clone(CLONE_VM|CLONE_VFORK), so at execve the kernel folds the high
// water mark of the mm being left, the parent's, into the child's
// ru_maxrss: every child would report at least the harness's own peak
// (65 MB here). GNU time forks a copy of its own small process (about
// 1 MB), so what it reports is the command's own peak.
func (sc *scenario) measureRSS(timeBin, dir string) {
	f := filepath.Join(dir, "rss")
	argv := append([]string{timeBin, "-f", "%M", "-o", f, "--"}, sc.argv...)
	code, out, _, _, err := execute(argv, sc.env)
	if err == nil {
		err = sc.ok(code, out)
	}
	if err != nil {
		sc.failed = append(sc.failed, fmt.Sprintf("under %s: exit %d: %v: %.300s", timeBin, code, err, out))
		return
	}
	b, err := os.ReadFile(f)
	if err != nil {
		sc.failed = append(sc.failed, fmt.Sprintf("%s: %v", timeBin, err))
		return
	}
	// The last line: "Command exited with non-zero status N" may precede it.
	lines := strings.Fields(string(b))
	kib, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		sc.failed = append(sc.failed, fmt.Sprintf("%s -f %%M wrote %q", timeBin, b))
		return
	}
	sc.rss = append(sc.rss, kib*1024)
}

// execute runs argv with env added and returns its exit status, its
// output (stdout and stderr), its rusage and the wall time from start to
// exit. err is set when it could not run or hit the hang guard.
func execute(argv, env []string) (code int, out string, ru *syscall.Rusage, wall time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	st := cmd.ProcessState
	if st == nil || ctx.Err() != nil {
		if err == nil {
			err = ctx.Err()
		}
		return -1, b.String(), nil, wall, err
	}
	ru, _ = st.SysUsage().(*syscall.Rusage)
	if ru == nil {
		ru = &syscall.Rusage{}
	}
	return st.ExitCode(), b.String(), ru, wall, nil
}

func wantExit(want int, contains ...string) func(int, string) error {
	return func(code int, out string) error {
		if code != want {
			return fmt.Errorf("exit status %d, want %d", code, want)
		}
		for _, c := range contains {
			if !strings.Contains(out, c) {
				return fmt.Errorf("output lacks %q", c)
			}
		}
		return nil
	}
}

func TestBench(t *testing.T) {
	if os.Getenv("BENCH") == "" {
		t.Skip("the bench runs only with BENCH=1; see bench/README.md")
	}
	rounds := envInt(t, "BENCH_ROUNDS", defaultRounds)
	delay := defaultDelay
	if s := os.Getenv("BENCH_DELAY"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			t.Fatalf("BENCH_DELAY=%q: want a duration such as 20ms", s)
		}
		delay = d
	}
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		out = "RESULTS.md"
	}
	postfixtest.Require(t, "postfix", "postmap", "postconf", "posttls-finger", "openssl")
	if _, err := os.Stat(checkSMTP); err != nil {
		t.Fatalf("%v; hint: apt-get install monitoring-plugins-standard", err)
	}
	timeBin := "/usr/bin/time"
	if !fileExists(timeBin) {
		timeBin = ""
		t.Logf("GNU time not found: no peak RSS (apt-get install time)")
	}
	haveSSLCert := true
	if _, err := os.Stat(checkSSLCert); err != nil {
		haveSSLCert = false
		t.Logf("check_ssl_cert not found, its row is left out (apt-get install monitoring-plugins-contrib)")
	}

	// The relays and proxies allocate per connection and keep little: a
	// GC cycle every few hundred connections is CPU a distant relay would
	// not take from these cores.
	defer debug.SetGCPercent(debug.SetGCPercent(800))

	dir := t.TempDir()
	// The plugin as the README builds it (CGO_ENABLED=0: a static binary,
	// no dynamic loader at start-up), and a default cgo build to compare.
	plugin := buildPlugin(t, dir, "check_relay_fingerprint", "CGO_ENABLED=0")
	cgoBuild := buildPlugin(t, dir, "check_relay_fingerprint.cgo", "CGO_ENABLED=1")
	candidate := os.Getenv("BENCH_CANDIDATE")

	cert := postfixtest.NewClientCert(t, dir, postfixtest.ServerHostname, nil, time.Now().AddDate(1, 0, 0))
	in := postfixtest.Start(t, postfixtest.Options{
		ServerCert: cert,
		Settings: []string{
			// 200 concurrent probes: one smtpd each, and a listen backlog
			// (max of maxproc and this) that drops no SYN.
			"default_process_limit = 450",
			"smtpd_client_connection_count_limit = 0",
		},
	})
	host, port, _ := strings.Cut(in.SMTPAddr, ":")
	postfix := &peers{pidFile: filepath.Join(in.QueueDir, "pid", "master.pid")}
	pubkey := fingerprint.SHA256.PublicKey(cert.Cert)
	certFP := fingerprint.SHA256.Cert(cert.Cert)

	// Tables by the name RESULTS.md shows: T for the one Postfix, R for
	// the bench relays (every relay listed, last).
	tables := map[string]string{}
	for _, n := range []int{1, 1_000, 10_000, 100_000} {
		name := fmt.Sprintf("T%d", n)
		tables[name] = writeTable(t, filepath.Join(dir, name), n, pubkey+" "+postfixtest.ServerHostname)
	}
	relays := startRelays(t, maxRelays, delay)
	var relayLines []string
	for i, c := range relays.certs {
		relayLines = append(relayLines, fingerprint.SHA256.PublicKey(c)+" "+relays.names[i])
	}
	for _, n := range []int{maxRelays, 100_000} {
		name := fmt.Sprintf("R%d", n)
		tables[name] = writeTable(t, filepath.Join(dir, name), n, relayLines...)
	}
	proxies := startDelayProxy(t, in.SMTPAddr, delay, maxRelays)

	// The scenarios, in the order of every round.
	var scs []*scenario
	add := func(sc *scenario) { scs = append(scs, sc) }
	pluginRun := func(id, label, bin string, addrs []string, table string, rig *relaySet, late *lateness) *scenario {
		args := []string{bin}
		for _, a := range addrs {
			args = append(args, "-H", a)
		}
		args = append(args, "--table", "texthash:"+tables[table], "-d", "sha256")
		shown := fmt.Sprintf("check_relay_fingerprint -H ADDR --table texthash:%s -d sha256", table)
		if len(addrs) > 1 {
			shown = fmt.Sprintf("check_relay_fingerprint -H ADDR1 … -H ADDR%d --table texthash:%s -d sha256", len(addrs), table)
		}
		want := "RELAY_FINGERPRINT OK - "
		sc := &scenario{id: id, label: label, shown: shown, argv: args, plugin: true,
			ok: wantExit(0, want)}
		if rig != nil {
			sc.rig, sc.relays = rig, len(addrs)
		}
		sc.late = late
		return sc
	}
	plugins := func(id, label string, addrs []string, table string, rig *relaySet, late *lateness) {
		add(pluginRun(id, label, plugin, addrs, table, rig, late))
		if candidate != "" {
			add(pluginRun(id+"+cand", label+" [candidate]", candidate, addrs, table, rig, late))
		}
	}
	direct := []string{in.SMTPAddr}

	// One relay, direct.
	plugins("one", "check_relay_fingerprint", direct, "T1", nil, nil)
	add(pluginRun("one-cgo", "check_relay_fingerprint, default cgo build", cgoBuild, direct, "T1", nil, nil))
	add(&scenario{id: "openssl", label: "openssl s_client | openssl x509",
		shown: "sh -c 'openssl s_client -starttls smtp -connect ADDR </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256'",
		argv:  []string{"/bin/sh", "-c", "openssl s_client -starttls smtp -connect " + in.SMTPAddr + " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"},
		ok:    wantExit(0, "Fingerprint="+certFP)})
	add(&scenario{id: "posttls-finger", label: "posttls-finger",
		shown: "MAIL_CONFIG=DIR posttls-finger -c -l may -d sha256 [127.0.0.1]:PORT",
		argv:  []string{lookPath(t, "posttls-finger"), "-c", "-l", "may", "-d", "sha256", "[" + host + "]:" + port},
		env:   []string{"MAIL_CONFIG=" + in.ConfigDir},
		ok:    wantExit(0, "fingerprint="+certFP, "pkey_fingerprint="+pubkey)})
	add(&scenario{id: "check_smtp", label: "check_smtp -S -D 30",
		shown: "check_smtp -H 127.0.0.1 -p PORT -S -D 30",
		argv:  []string{checkSMTP, "-H", host, "-p", port, "-S", "-D", "30"},
		ok:    wantExit(0, "OK")})
	if haveSSLCert {
		add(&scenario{id: "check_ssl_cert", label: "check_ssl_cert -P smtp",
			shown: "check_ssl_cert -H 127.0.0.1 -p PORT -P smtp --selfsigned",
			argv:  []string{checkSSLCert, "-H", host, "-p", port, "-P", "smtp", "--selfsigned"},
			ok:    wantExit(0, "SSL_CERT OK")})
	}
	add(&scenario{id: "version", label: "check_relay_fingerprint -V (start-up only)",
		shown: "check_relay_fingerprint -V", argv: []string{plugin, "-V"},
		ok: wantExit(3, "check_relay_fingerprint")})
	if candidate != "" {
		add(&scenario{id: "version+cand", label: "check_relay_fingerprint -V (start-up only) [candidate]",
			shown: "check_relay_fingerprint -V", argv: []string{candidate, "-V"},
			ok: wantExit(3, "check_relay_fingerprint")})
	}

	// Table size, one relay direct.
	plugins("table-1000", "check_relay_fingerprint, 1 000 entries", direct, "T1000", nil, nil)
	plugins("table-10000", "check_relay_fingerprint, 10 000 entries", direct, "T10000", nil, nil)
	plugins("table-100000", "check_relay_fingerprint, 100 000 entries", direct, "T100000", nil, nil)

	// Fan-out: the bench relays (the targets), then the delaying proxies
	// in front of the one Postfix.
	fanLabel := func(n int) string {
		if n == 1 {
			return "check_relay_fingerprint, 1 relay"
		}
		return fmt.Sprintf("check_relay_fingerprint, %d relays", n)
	}
	for _, n := range []int{1, 10, 50, 200} {
		plugins(fmt.Sprintf("fan-%d", n), fanLabel(n), relays.addrs[:n], fmt.Sprintf("R%d", maxRelays), relays, &relays.lateness)
	}
	plugins("fan-50-100000", "check_relay_fingerprint, 50 relays, 100 000 entries", relays.addrs[:50], "R100000", relays, &relays.lateness)
	plugins("fan-1-100000", "check_relay_fingerprint, 1 relay, 100 000 entries", relays.addrs[:1], "R100000", relays, &relays.lateness)
	add(&scenario{id: "openssl-relay", label: "openssl s_client | openssl x509, 1 relay",
		shown: "sh -c 'openssl s_client -starttls smtp -connect ADDR </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256'",
		argv:  []string{"/bin/sh", "-c", "openssl s_client -starttls smtp -connect " + relays.addrs[0] + " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"},
		ok:    wantExit(0, "Fingerprint="+fingerprint.SHA256.Cert(relays.certs[0])), late: &relays.lateness})
	for _, n := range []int{1, 10, 50, 200} {
		plugins(fmt.Sprintf("pfx-%d", n), fanLabel(n), proxies.addrs[:n], "T1", nil, &proxies.lateness)
	}
	plugins("pfx-50-100000", "check_relay_fingerprint, 50 relays, 100 000 entries", proxies.addrs[:50], "T100000", nil, &proxies.lateness)
	add(&scenario{id: "openssl-proxied", label: "openssl s_client | openssl x509, 1 relay",
		shown: "sh -c 'openssl s_client -starttls smtp -connect ADDR </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256'",
		argv:  []string{"/bin/sh", "-c", "openssl s_client -starttls smtp -connect " + proxies.addrs[0] + " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"},
		ok:    wantExit(0, "Fingerprint="+certFP), late: &proxies.lateness})

	// A warm-up round: page cache, smtpd processes, and a check that every
	// tool does its job here at all.
	for _, sc := range scs {
		sc.run(false, postfix)
		if len(sc.failed) > 0 {
			t.Fatalf("%s (%s) fails here: %s", sc.label, strings.Join(sc.argv, " "), sc.failed[0])
		}
	}
	load0 := loadAvg()
	start := time.Now()
	for r := range rounds {
		for _, sc := range scs {
			sc.run(true, postfix)
		}
		if r == 0 || (r+1)%5 == 0 {
			t.Logf("round %d/%d done after %v", r+1, rounds, time.Since(start).Round(time.Second))
		}
	}
	// Peak RSS, in rounds of their own: the wrapper that measures it
	// costs time of its own, which must not reach the timings above.
	if timeBin != "" {
		for range rssRounds {
			for _, sc := range scs {
				sc.measureRSS(timeBin, dir)
			}
		}
	}
	elapsed := time.Since(start)
	load1 := loadAvg()

	rep := report{
		rounds: rounds, delay: delay, elapsed: elapsed, load: [2]string{load0, load1},
		scenarios: scs, candidate: candidate, candidateNote: os.Getenv("BENCH_CANDIDATE_NOTE"), haveSSLCert: haveSSLCert,
		pluginPath: plugin, unstamped: relays.unstamped.Load(),
	}
	if err := os.WriteFile(out, []byte(rep.render()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s\n%s", out, rep.targetsTable())
	for _, sc := range scs {
		if len(sc.failed) > 0 {
			t.Errorf("%s: %d of %d runs failed, first: %s", sc.label, len(sc.failed), rounds+1, sc.failed[0])
		}
	}
	if n := relays.unstamped.Load(); n > 0 {
		t.Errorf("the bench relays read %d chunks without a kernel receive timestamp: their delays counted from the read instead", n)
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// buildPlugin builds the plugin into dir with extra environment settings,
// then copies the binary with one write, as install(1) would. The Go
// linker writes its output through a memory map, which leaves the file in
// the page cache as 4 KiB pages; every exec then maps (and at exit unmaps)
// some 1 600 of them one by one, about 0.6 ms a run on the bench machine.
// Written with write(2), the file is cached in large folios, as a freshly
// installed plugin is (after a reboot the first run reads it back in small
// pages again).
func buildPlugin(t *testing.T, dir, name string, env ...string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	linked := bin + ".linked"
	cmd := exec.Command("go", "build", "-o", linked, pluginPkg)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s %s: %v\n%s", strings.Join(env, " "), pluginPkg, err, out)
	}
	data, err := os.ReadFile(linked)
	if err != nil {
		t.Fatal(err)
	}
	// No fork while the copy is open for writing (ETXTBSY at its exec).
	syscall.ForkLock.RLock()
	err = os.WriteFile(bin, data, 0o755)
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(linked); err != nil {
		t.Fatal(err)
	}
	return bin
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	t.Fatalf("%s not found", name)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// writeTable writes a relay_clientcerts source of n entries to path:
// n-len(last) generated sha256 fingerprints with labels, then the lines of
// last. It returns path.
func writeTable(t testing.TB, path string, n int, last ...string) string {
	t.Helper()
	var b bytes.Buffer
	b.Grow(n * 120)
	b.WriteString("# relay_clientcerts, generated by the bench\n")
	r := rand.New(rand.NewPCG(uint64(n), 1))
	sum := make([]byte, 32)
	for i := range n - len(last) {
		for j := range sum {
			sum[j] = byte(r.Uint32())
		}
		fmt.Fprintf(&b, "%s relay-%06d.example.net\n", fingerprint.Format(sum), i)
	}
	for _, l := range last {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// peers finds the Postfix processes: the master and its children.
type peers struct{ pidFile string }

// cpu returns the CPU time the Postfix processes have spent so far, from
// /proc/PID/schedstat (nanoseconds; /proc/PID/stat counts 10 ms ticks).
// Processes that exited meanwhile are missed; smtpd processes live for up
// to 100 uses, so few do.
func (p *peers) cpu() time.Duration {
	b, err := os.ReadFile(p.pidFile)
	if err != nil {
		return 0
	}
	master, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pid != master && parentPID(pid) != master {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/schedstat"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				sum += time.Duration(ns)
			}
		}
	}
	return sum
}

// parentPID reads the parent of pid from /proc/PID/stat; 0 if gone.
func parentPID(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// selfCPU returns this process's user + system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

// Package postfixtest starts throwaway, real Postfix instances for end-to-end
// tests, and drives real clients (swaks, posttls-finger) against them.
//
// An Instance is a RECEIVER: a Postfix smtpd that relays mail only for clients
// whose TLS certificate fingerprint is listed in its relay_clientcerts table.
// Its verdict on a client certificate is the ground truth the plugin must
// agree with. The plugin itself probes a relay's smtpd and reads that smtpd's
// certificate, so an Instance can also play the relay: give it a chosen
// certificate with Options.ServerCert, and the certificate the plugin reads
// from it is the same one Swaks presents as a client.
//
// A Relay (relay.go) is a second instance that really relays: its smtp
// client delivers every message to a receiver started with StartReceiver,
// over TLS on loopback, presenting the client certificates it is given, and
// its log says whether the receiver took the message (status=sent) or
// refused relaying (status=deferred, 454 4.7.1 Relay access denied).
//
// What it does:
//   - runs Debian's postfix (postfix start/reload/stop, postmap, postconf) as
//     root, without systemd, with its own config, queue and data directories
//     under a fresh temporary directory, so instances coexist with each other
//     and with a system Postfix;
//   - listens only on 127.0.0.1, on two free high ports: one smtpd offering
//     STARTTLS (SMTPAddr) and one implicit-TLS smtpd (SMTPSAddr);
//   - never delivers anything: every transport is discard, mydestination is
//     empty, and Swaks quits after RCPT (a Relay's smtp transport delivers
//     only to its receiver on 127.0.0.1, which discards);
//   - never uses DNS; logs to a file (Maillog), which is attached to every
//     failure;
//   - is stopped and removed by tb.Cleanup.
//
// What it does not do: run without root or without the postfix package (tests
// are skipped, or failed when the CI environment variable is set, see
// Require), start anything from /etc/postfix, touch the system Postfix, check
// timings, or listen on any address but loopback.
//
// The instance layout, all under Dir (mode 0755, as Postfix daemons running
// as the postfix user traverse it):
//
//	Dir/etc/main.cf, master.cf    ConfigDir, written here (no chroot)
//	Dir/etc/relay_clientcerts     TablePath (postmap source) and its .db
//	Dir/etc/smtpd.crt, smtpd.key  the smtpd certificate (ServerCert)
//	Dir/queue                     queue_directory, root-owned
//	Dir/data                      data_directory, postfix-owned
//	Dir/maillog                   maillog_file, written by postlogd
//
// main.cf sets compatibility_level (3.6 by default: a fresh main.cf without it
// is level 0, where smtpd_tls_fingerprint_digest silently becomes md5), the
// digest explicitly, smtpd_tls_ask_ccert = yes,
// smtpd_relay_restrictions = permit_tls_clientcerts, reject and
// soft_bounce = yes, so a refusal reads exactly
// "454 4.7.1 <rcpt>: Recipient address rejected: Access denied".
package postfixtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configures an Instance. The zero value is a sha256 receiver at
// compatibility level 3.6 with a freshly generated server certificate.
type Options struct {
	// Digest is smtpd_tls_fingerprint_digest: "sha256" when empty; "md5",
	// "sha1", "sha512" and other OpenSSL digest names are passed through.
	Digest string
	// DefaultDigest leaves smtpd_tls_fingerprint_digest out of main.cf, so the
	// compatibility level decides it (md5 below 3.6, sha256 from 3.6). Digest
	// must then be empty.
	DefaultDigest bool
	// CompatibilityLevel is compatibility_level: "3.6" when empty.
	CompatibilityLevel string
	// ServerCert is the certificate and key smtpd presents on both listeners.
	// When nil, a self-signed ECDSA P-256 certificate for relay-test.localdomain
	// valid for 24 hours is generated. Passing the ClientCert a test also hands
	// to Swaks makes the instance a relay whose certificate, as the plugin
	// reads it, is exactly the one that relay presents as a client.
	ServerCert *ClientCert
	// Settings are extra main.cf parameters, "name = value" or "name=value".
	// Each replaces the generated parameter of the same name, or is added.
	Settings []string
	// SMTPOverrides are "name=value" parameters written as "-o name=value"
	// under the smtp client service in master.cf, the way admins override
	// main.cf per transport (for example smtp_tls_chain_files).
	SMTPOverrides []string
}

// Instance is a running Postfix instance. Its fields are read-only.
type Instance struct {
	// Dir is the instance's temporary root directory.
	Dir string
	// ConfigDir holds main.cf and master.cf; pass it to postfix -c, postmap -c,
	// postconf -c or as MAIL_CONFIG.
	ConfigDir string
	// QueueDir is queue_directory; DataDir is data_directory.
	QueueDir, DataDir string
	// MaillogFile is maillog_file.
	MaillogFile string
	// SyslogName is the instance's unique syslog_name.
	SyslogName string
	// SMTPAddr is the "127.0.0.1:port" of the smtpd that offers STARTTLS.
	SMTPAddr string
	// SMTPSAddr is the "127.0.0.1:port" of the implicit-TLS smtpd
	// (smtpd_tls_wrappermode = yes).
	SMTPSAddr string
	// TablePath is the postmap source of relay_clientcerts; main.cf says
	// relay_clientcerts = hash:TablePath (see TableSpec).
	TablePath string
	// ServerCert is the certificate smtpd presents (Server.Cert).
	ServerCert *x509.Certificate
	// Server is the certificate and key smtpd presents, with its files.
	Server *ClientCert
	// Digest is the effective smtpd_tls_fingerprint_digest at start.
	Digest string

	stopOnce sync.Once
}

// ServerHostname is myhostname of every instance and the CN of the generated
// server certificate.
const ServerHostname = "relay-test.localdomain"

// cmdTimeout bounds every external command; it is a hang guard, not a test.
const cmdTimeout = 60 * time.Second

// Start creates, configures and starts an Instance, and registers its stop
// and removal with tb.Cleanup. It fails tb, with the maillog, when Postfix
// cannot start; it skips (or fails under CI, see Require) when Postfix is
// missing or the process is not root.
func Start(tb testing.TB, opts Options) *Instance {
	tb.Helper()
	Require(tb, "postfix", "postmap", "postconf")
	requireRoot(tb)

	digest := opts.Digest
	switch {
	case opts.DefaultDigest && digest != "":
		tb.Fatalf("postfixtest: Options.Digest %q conflicts with DefaultDigest", digest)
	case digest == "" && !opts.DefaultDigest:
		digest = "sha256"
	}
	level := opts.CompatibilityLevel
	if level == "" {
		level = "3.6"
	}

	in := newLayout(tb)
	if opts.ServerCert != nil {
		in.Server = opts.ServerCert
	} else {
		in.Server = NewClientCert(tb, in.Dir, ServerHostname, nil, time.Time{})
	}
	in.ServerCert = in.Server.Cert
	writeFile(tb, filepath.Join(in.ConfigDir, "smtpd.crt"), in.Server.CertPEM, 0o644)
	writeFile(tb, filepath.Join(in.ConfigDir, "smtpd.key"), in.Server.KeyPEM, 0o600)
	writeFile(tb, in.TablePath, nil, 0o644)

	// Ports are chosen by the kernel, then released and handed to Postfix: a
	// concurrent process may grab one in between, so retry on a bind failure.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		smtp, smtps := freePorts(tb)
		in.SMTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(smtp))
		in.SMTPSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(smtps))
		writeFile(tb, filepath.Join(in.ConfigDir, "main.cf"), in.mainCF(level, digest, opts.Settings), 0o644)
		writeFile(tb, filepath.Join(in.ConfigDir, "master.cf"), in.masterCF(opts.SMTPOverrides), 0o644)
		in.backdateMainCF(tb)
		if attempt == 1 {
			in.Postmap(tb)
		}
		logged := len(in.Maillog())
		out, err := in.postfix("start")
		if err == nil {
			break
		}
		log := in.Maillog()
		if attempt < attempts && len(log) >= logged && strings.Contains(log[logged:], "Address already in use") {
			tb.Logf("postfixtest: port taken, retrying: %s", lastLines(log, 3))
			continue
		}
		tb.Fatalf("postfixtest: postfix -c %s start: %v\n%s\nmaillog:\n%s", in.ConfigDir, err, out, log)
	}
	tb.Cleanup(func() { in.Stop(tb) })

	if digest == "" {
		digest = in.postconfValue(tb, "smtpd_tls_fingerprint_digest")
	}
	in.Digest = digest
	for _, l := range []struct {
		addr     string
		implicit bool
	}{{in.SMTPAddr, false}, {in.SMTPSAddr, true}} {
		if err := greet(l.addr, l.implicit); err != nil {
			tb.Fatalf("postfixtest: postfix started but %v\nmaillog:\n%s", err, in.Maillog())
		}
	}
	return in
}

// greet reads the 220 banner at addr and says QUIT. A connection dropped
// before the banner would instead cost a smtpd_error_sleep_time (1 s) that
// delays the next Reload.
func greet(addr string, implicitTLS bool) error {
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer raw.Close()
	if err := raw.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	var c net.Conn = raw
	if implicitTLS {
		c = tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) // only a liveness check
	}
	tc := textproto.NewConn(c)
	if _, _, err := tc.ReadResponse(220); err != nil {
		return fmt.Errorf("%s banner: %w", addr, err)
	}
	if _, err := tc.Cmd("QUIT"); err != nil {
		return fmt.Errorf("%s QUIT: %w", addr, err)
	}
	if _, _, err := tc.ReadResponse(221); err != nil {
		return fmt.Errorf("%s QUIT: %w", addr, err)
	}
	return nil
}

// newLayout makes the directories of a new instance and registers their
// removal.
func newLayout(tb testing.TB) *Instance {
	tb.Helper()
	dir, err := os.MkdirTemp("", "postfixtest-")
	if err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
	tb.Cleanup(func() { removeAll(tb, dir) })
	if err := checkTraversable(filepath.Dir(dir)); err != nil {
		tb.Fatalf("postfixtest: %v; hint: set TMPDIR to a world-searchable directory such as /tmp", err)
	}
	in := &Instance{
		Dir:         dir,
		ConfigDir:   filepath.Join(dir, "etc"),
		QueueDir:    filepath.Join(dir, "queue"),
		DataDir:     filepath.Join(dir, "data"),
		MaillogFile: filepath.Join(dir, "maillog"),
		SyslogName:  "postfixtest-" + strings.TrimPrefix(filepath.Base(dir), "postfixtest-"),
	}
	in.TablePath = filepath.Join(in.ConfigDir, "relay_clientcerts")
	for _, d := range []string{dir, in.ConfigDir, in.QueueDir, in.DataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatalf("postfixtest: %v", err)
		}
		// MkdirTemp makes 0700 and the umask may strip bits: set it exactly.
		if err := os.Chmod(d, 0o755); err != nil {
			tb.Fatalf("postfixtest: %v", err)
		}
	}
	owner, err := user.Lookup("postfix")
	if err != nil {
		tb.Fatalf("postfixtest: mail_owner: %v", err)
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	if err := os.Chown(in.DataDir, uid, gid); err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
	if err := os.Chmod(in.DataDir, 0o700); err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
	return in
}

// checkTraversable reports an error when the postfix user could not reach
// dir: every directory on the way must be searchable by others.
func checkTraversable(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("temporary directory parent %s is mode %v: postfix daemons cannot traverse it", dir, fi.Mode().Perm())
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// mainCF renders main.cf. Paths are absolute: postfix-script changes
// directory before it uses them. A setting in extra replaces the generated
// one of the same name in place (main.cf warns about duplicates).
func (in *Instance) mainCF(level, digest string, extra []string) []byte {
	type param struct{ name, value string }
	var params []param
	set := func(name, value string) {
		for i := range params {
			if params[i].name == name {
				params[i].value = value
				return
			}
		}
		params = append(params, param{name, value})
	}
	set("compatibility_level", level)
	set("queue_directory", in.QueueDir)
	set("data_directory", in.DataDir)
	set("mail_owner", "postfix")
	set("syslog_name", in.SyslogName)
	set("maillog_file", in.MaillogFile)
	set("maillog_file_prefixes", in.Dir)
	set("inet_interfaces", "127.0.0.1")
	set("inet_protocols", "ipv4")
	set("myhostname", ServerHostname)
	set("mydomain", "localdomain")
	set("myorigin", "$myhostname")
	set("mydestination", "")
	set("relay_domains", "")
	set("alias_maps", "")
	set("alias_database", "")
	set("biff", "no")
	set("smtpd_peername_lookup", "no")
	set("smtp_host_lookup", "native")
	set("lmtp_host_lookup", "native")
	set("smtp_dns_support_level", "disabled")
	set("default_transport", "discard")
	set("relay_transport", "discard")
	set("local_transport", "discard")
	set("virtual_transport", "discard")
	set("soft_bounce", "yes")
	// A client that drops the connection (a probe) must not keep smtpd busy
	// sleeping, or the next Reload waits for it.
	set("smtpd_error_sleep_time", "0s")
	set("smtpd_tls_cert_file", filepath.Join(in.ConfigDir, "smtpd.crt"))
	set("smtpd_tls_key_file", filepath.Join(in.ConfigDir, "smtpd.key"))
	set("smtpd_tls_security_level", "may")
	set("smtpd_tls_ask_ccert", "yes")
	set("smtpd_tls_loglevel", "1")
	if digest != "" {
		set("smtpd_tls_fingerprint_digest", digest)
	}
	set("relay_clientcerts", in.TableSpec())
	set("smtpd_relay_restrictions", "permit_tls_clientcerts, reject")
	for _, s := range extra {
		name, value, _ := strings.Cut(s, "=")
		set(strings.TrimSpace(name), strings.TrimSpace(value))
	}

	var b bytes.Buffer
	b.WriteString("# written by postfixtest; a throwaway instance that never delivers mail\n")
	for _, p := range params {
		fmt.Fprintf(&b, "%s = %s\n", p.name, p.value)
	}
	return b.Bytes()
}

// masterCF renders master.cf: both listeners plus the internal services
// smtpd needs, none chrooted, the postlog service maillog_file requires, and
// the smtp client (used only by a Relay, whose transports are not discard),
// with smtpOverrides as its -o options.
func (in *Instance) masterCF(smtpOverrides []string) []byte {
	var b bytes.Buffer
	b.WriteString("# written by postfixtest; columns: service type private unpriv chroot wakeup maxproc command\n")
	fmt.Fprintf(&b, "%s inet n - n - - smtpd\n", in.SMTPAddr)
	fmt.Fprintf(&b, "%s inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n  -o syslog_name=%s/smtps\n", in.SMTPSAddr, in.SyslogName)
	b.WriteString(`pickup     unix  n - n 60    1 pickup
cleanup    unix  n - n -     0 cleanup
qmgr       unix  n - n 300   1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -     - trivial-rewrite
bounce     unix  - - n -     0 bounce
defer      unix  - - n -     0 bounce
trace      unix  - - n -     0 bounce
verify     unix  - - n -     1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -     - proxymap
proxywrite unix  - - n -     1 proxymap
showq      unix  n - n -     - showq
error      unix  - - n -     - error
retry      unix  - - n -     - error
discard    unix  - - n -     - discard
anvil      unix  - - n -     1 anvil
scache     unix  - - n -     1 scache
postlog    unix-dgram n - n - 1 postlogd
smtp       unix  - - n -     - smtp
`)
	for _, o := range smtpOverrides {
		name, value, _ := strings.Cut(o, "=")
		fmt.Fprintf(&b, "  -o %s=%s\n", strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return b.Bytes()
}

// TableSpec returns the relay_clientcerts map, "hash:" + TablePath.
func (in *Instance) TableSpec() string { return "hash:" + in.TablePath }

// WriteTable replaces the postmap source TablePath with content. It does
// not run postmap: smtpd keeps using the old .db until Postmap.
func (in *Instance) WriteTable(tb testing.TB, content []byte) {
	tb.Helper()
	writeFile(tb, in.TablePath, content, 0o644)
}

// Postmap runs postmap -c ConfigDir hash:TablePath. Running smtpd processes
// notice the new .db only by its mtime, to the second: call Reload before
// relying on it.
func (in *Instance) Postmap(tb testing.TB) {
	tb.Helper()
	if out, err := run(nil, "postmap", "-c", in.ConfigDir, in.TableSpec()); err != nil {
		tb.Fatalf("postfixtest: postmap -c %s %s: %v\n%s", in.ConfigDir, in.TableSpec(), err, out)
	}
}

// SetTable writes content to TablePath, runs postmap and reloads.
func (in *Instance) SetTable(tb testing.TB, content []byte) {
	tb.Helper()
	in.WriteTable(tb, content)
	in.Postmap(tb)
	in.Reload(tb)
}

// Postconf edits main.cf with postconf -c ConfigDir -e; each setting is
// "name=value". Call Reload to make running daemons use it.
func (in *Instance) Postconf(tb testing.TB, settings ...string) {
	tb.Helper()
	args := append([]string{"-c", in.ConfigDir, "-e"}, settings...)
	if out, err := run(nil, "postconf", args...); err != nil {
		tb.Fatalf("postfixtest: postconf %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	in.backdateMainCF(tb)
}

// backdateMainCF sets main.cf's time stamps three seconds back. Every
// postfix(1) command (3.7, measured) first sleeps, in 300 ms steps, until
// main.cf is about two seconds old; master re-reads main.cf on start and
// reload whatever its time stamp, so backdating only saves that wait (1.5 to
// 2 seconds per Start, and per Reload after Postconf).
func (in *Instance) backdateMainCF(tb testing.TB) {
	tb.Helper()
	t := time.Now().Add(-3 * time.Second)
	if err := os.Chtimes(filepath.Join(in.ConfigDir, "main.cf"), t, t); err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
}

func (in *Instance) postconfValue(tb testing.TB, name string) string {
	tb.Helper()
	out, err := run(nil, "postconf", "-c", in.ConfigDir, "-xh", name)
	if err != nil {
		tb.Fatalf("postfixtest: postconf -xh %s: %v\n%s", name, err, out)
	}
	return strings.TrimSpace(out)
}

// Reload runs postfix -c ConfigDir reload and returns once it is effective:
// master has logged its reload and every smtpd and smtp process that existed
// before has exited, so the next connection is served (or, on a Relay, made)
// by a process that read the current main.cf and the current .db, whatever
// their mtimes.
func (in *Instance) Reload(tb testing.TB) {
	tb.Helper()
	before := in.countReloads()
	master := in.masterPID()
	old := append(childrenNamed(master, "smtpd"), childrenNamed(master, "smtp")...)
	if out, err := in.postfix("reload"); err != nil {
		tb.Fatalf("postfixtest: postfix -c %s reload: %v\n%s\nmaillog:\n%s", in.ConfigDir, err, out, in.Maillog())
	}
	deadline := time.Now().Add(cmdTimeout)
	for {
		done := in.countReloads() > before
		for _, pid := range old {
			if alive(pid, master) {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("postfixtest: reload not effective after %v (old smtpd/smtp %v)\nmaillog:\n%s", cmdTimeout, old, in.Maillog())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countReloads counts the lines master logs once it has re-read its
// configuration: "... SYSLOG_NAME/master[PID]: reload -- version ...".
func (in *Instance) countReloads() int {
	n := 0
	for _, line := range strings.Split(in.Maillog(), "\n") {
		if strings.Contains(line, " "+in.SyslogName+"/master[") && strings.Contains(line, "]: reload -- version") {
			n++
		}
	}
	return n
}

// Maillog returns the instance's log so far ("" before anything is logged).
func (in *Instance) Maillog() string {
	b, _ := os.ReadFile(in.MaillogFile)
	return string(b)
}

// postfix runs postfix -c ConfigDir cmd. postfix reports errors on stderr
// only when it runs on a terminal; the maillog has them otherwise.
func (in *Instance) postfix(cmd string) (string, error) {
	return run(nil, "postfix", "-c", in.ConfigDir, cmd)
}

// masterPID reads the master's pid file; 0 when absent.
func (in *Instance) masterPID() int {
	b, err := os.ReadFile(filepath.Join(in.QueueDir, "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	return pid
}

// Stop stops the instance now, for tests of a relay that went away; the
// directory stays until cleanup. If postfix stop fails, it kills the master's
// process group. On test failure it logs the maillog first. Stop is
// idempotent and also runs in tb.Cleanup of Start.
func (in *Instance) Stop(tb testing.TB) {
	in.stopOnce.Do(func() { in.stop(tb) })
}

func (in *Instance) stop(tb testing.TB) {
	if tb.Failed() {
		tb.Logf("postfixtest: maillog of %s:\n%s", in.ConfigDir, in.Maillog())
	}
	pid := in.masterPID()
	if comm, _, ok := procStat(pid); !ok || comm != "master" {
		// No master, or a stale pid file naming a pid that another
		// process has since been given: nothing of ours to wait for or
		// kill.
		pid = 0
	}
	// Its children now: once master is gone they are init's, and would no
	// longer be found as master's; some (smtpd) hold the listening sockets.
	kids := childrenNamed(pid, "")
	out, err := in.postfix("stop")
	if err != nil {
		tb.Logf("postfixtest: postfix -c %s stop: %v\n%s", in.ConfigDir, err, out)
		if pid != 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if pid == 0 {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for processExists(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// Children exit on their own once master is gone; wait for them too, so
	// that the directory can be removed and nothing listens on the ports.
	for _, kid := range kids {
		for processExists(kid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// childrenNamed lists the processes whose parent is ppid and whose command
// name is name ("" for any), from /proc.
func childrenNamed(ppid int, name string) []int {
	if ppid == 0 {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, parent, ok := procStat(pid)
		if ok && parent == ppid && (name == "" || comm == name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid still runs as a child of ppid.
func alive(pid, ppid int) bool {
	_, parent, ok := procStat(pid)
	return ok && parent == ppid
}

func processExists(pid int) bool {
	_, _, ok := procStat(pid)
	return ok
}

// procStat parses /proc/PID/stat: "pid (comm) state ppid ...". A zombie
// counts as gone.
func procStat(pid int) (comm string, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, false
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 2 || f[0] == "Z" {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return "", 0, false
	}
	return s[open+1 : closing], ppid, true
}

// freePorts returns two distinct free TCP ports on 127.0.0.1.
func freePorts(tb testing.TB) (int, int) {
	tb.Helper()
	var ports [2]int
	var ls [2]net.Listener
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("postfixtest: %v", err)
		}
		ls[i] = l
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		l.Close()
	}
	return ports[0], ports[1]
}

// Require skips tb, or fails it when the environment variable CI is set,
// unless every program is found in PATH, /usr/sbin or /usr/bin.
func Require(tb testing.TB, programs ...string) {
	tb.Helper()
	var missing []string
	for _, p := range programs {
		if _, err := lookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		unavailable(tb, fmt.Sprintf("postfixtest: %s not found (apt-get install postfix swaks)", strings.Join(missing, ", ")))
	}
}

// DefaultConfig is where Postfix commands run without -c (and without
// MAIL_CONFIG) read their configuration.
const DefaultConfig = "/etc/postfix/main.cf"

// RequireDefaultConfig is for tests that run postmap or postfix the way
// the plugin does without --postconf: with no -c, reading DefaultConfig.
// A package installed with "No configuration" has none; .ci/run writes a
// minimal one. Missing, the test fails under CI and is skipped otherwise.
func RequireDefaultConfig(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(DefaultConfig); err != nil {
		unavailable(tb, "postfixtest: "+DefaultConfig+" is missing: postmap without -c cannot run (.ci/run creates a minimal one)")
	}
}

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		unavailable(tb, "postfixtest: starting postfix needs root")
	}
}

func unavailable(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
}

// run runs a program with extra environment variables and returns its
// combined output. Output goes through a pipe, so a program that leaves a
// daemon holding it would stall; WaitDelay bounds that.
func run(env []string, name string, args ...string) (string, error) {
	path, err := lookPath(name)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: %w", name, ctx.Err())
	}
	return string(out), err
}

func writeFile(tb testing.TB, path string, data []byte, mode os.FileMode) {
	tb.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatalf("postfixtest: %v", err)
	}
}

// removeAll removes dir, retrying briefly while exiting daemons still write.
func removeAll(tb testing.TB, dir string) {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.RemoveAll(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Errorf("postfixtest: %v", err)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package postfix

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// Service is one master.cf service, as postconf -M and -P print it.
type Service struct {
	Name      string     // "smtp", "submission", "127.0.0.1:10025"
	Type      string     // "inet", "unix", "pass", ...
	Command   string     // the daemon: "smtpd", "smtp", "lmtp", ... (base name)
	Overrides []Override // its -o settings, in master.cf order, unexpanded
}

// Override is one master.cf "-o name=value".
type Override struct{ Name, Value string }

// String returns "name=value" as master.cf writes it after -o.
func (o Override) String() string { return o.Name + "=" + o.Value }

// String returns the service as postconf names it: "submission/inet".
func (s Service) String() string { return s.Name + "/" + s.Type }

// Services runs "postconf [-c configDir] -M" and "postconf [-c configDir]
// -P" and returns master.cf's services with their -o overrides, in
// master.cf order. bin is as for Find.
func Services(ctx context.Context, bin, configDir string) ([]Service, error) {
	m, err := run(ctx, "postconf", bin, configArgs(configDir, "-M"), nil, nil)
	if err != nil {
		return nil, err
	}
	p, err := run(ctx, "postconf", bin, configArgs(configDir, "-P"), nil, nil)
	if err != nil {
		return nil, err
	}
	return parseServices(string(m), string(p))
}

// parseServices reads postconf -M's lines ("name type private unpriv
// chroot wakeup maxproc command [args]") and postconf -P's lines
// ("name/type/parameter = value").
func parseServices(m, p string) ([]Service, error) {
	var svcs []Service
	index := map[string]int{}
	n := 0
	for l := range strings.Lines(m) {
		n++
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("postconf -M: output line %d: expected \"name type private unpriv chroot wakeup maxproc command\", got %q", n, strings.TrimSpace(l))
		}
		s := Service{Name: f[0], Type: f[1], Command: path.Base(f[7])}
		index[s.String()] = len(svcs)
		svcs = append(svcs, s)
	}
	n = 0
	for l := range strings.Lines(p) {
		n++
		l = strings.TrimRight(l, "\r\n")
		if strings.TrimSpace(l) == "" {
			continue
		}
		key, value, ok := strings.Cut(l, " =")
		i := strings.LastIndexByte(key, '/')
		if !ok || i <= 0 {
			return nil, fmt.Errorf("postconf -P: output line %d: expected \"service/type/parameter = value\", got %q", n, l)
		}
		at, ok := index[key[:i]]
		if !ok {
			return nil, fmt.Errorf("postconf -P: output line %d: service %s is not in postconf -M's output", n, key[:i])
		}
		svcs[at].Overrides = append(svcs[at].Overrides, Override{Name: key[i+1:], Value: strings.TrimSpace(value)})
	}
	return svcs, nil
}

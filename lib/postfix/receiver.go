package postfix

// What makes relay_clientcerts effective on a receiver. smtpd consults
// it only through permit_tls_clientcerts, and that matches only when
// (smtpd.c, smtpd_check.c):
//   - smtpd asks for a client certificate: smtpd_tls_ask_ccert = yes (or
//     smtpd_tls_req_ccert = yes where TLS is enforced);
//   - smtpd offers TLS at all: smtpd_tls_security_level is not "none"
//     (empty means the legacy smtpd_use_tls / smtpd_enforce_tls, both "no"
//     by default), or smtpd_tls_wrappermode = yes;
//   - every restriction list evaluated at RCPT that refuses unauthorized
//     relaying (smtpd_relay_restrictions, then smtpd_recipient_restrictions)
//     reaches permit_tls_clientcerts before the rule that refuses:
//     reject_unauth_destination, defer_unauth_destination, reject, defer.
//     Rules before it that only sometimes refuse (check_* tables,
//     reject_rbl_client, ...) are fine. A restriction class
//     (smtpd_restriction_classes) counts as the list it stands for.
// master.cf services running smtpd may override each of these with -o;
// services that listen on loopback only (content filter re-injection,
// "127.0.0.1:10025") are not judged: relays do not connect there.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Problem is one reason why permit_tls_clientcerts can never let a listed
// relay through, with the setting that fixes it.
type Problem struct {
	// Service is "" for main.cf, else the master.cf service whose -o
	// overrides cause the problem ("submission/inet").
	Service string
	// Overrides are those -o settings of Service that cause it.
	Overrides []Override
	// Param is the parameter to change: "smtpd_tls_ask_ccert".
	Param string
	// Text says what is wrong and what to set, starting with the value
	// that is wrong: "smtpd_tls_ask_ccert = no: Postfix never asks ...".
	Text string
}

// String returns the problem as one line, naming the master.cf service
// and its -o settings when it comes from them.
func (p Problem) String() string {
	if p.Service == "" {
		return p.Text
	}
	var o []string
	for _, x := range p.Overrides {
		o = append(o, "-o "+x.String())
	}
	if len(o) == 0 {
		return "master.cf service " + p.Service + " (through its -o settings): " + p.Text
	}
	return "master.cf service " + p.Service + ": " + strings.Join(o, " ") + ": " + p.Text
}

// ReceiverConfig is what JudgeReceiver judges: receiverParams' values as
// postconf -x prints them, for main.cf and for each smtpd service with
// its overrides applied.
type ReceiverConfig struct {
	Main     map[string]string
	Services []ServiceValues
}

// ServiceValues is a master.cf service and its parameters' values.
type ServiceValues struct {
	Service Service
	Values  map[string]string
}

// receiverParams are the parameters JudgeReceiver reads.
var receiverParams = []string{
	"smtpd_tls_ask_ccert", "smtpd_tls_req_ccert",
	"smtpd_tls_security_level", "smtpd_use_tls", "smtpd_enforce_tls", "smtpd_tls_wrappermode",
	"smtpd_relay_restrictions", "smtpd_recipient_restrictions",
	"relay_clientcerts", "smtpd_tls_fingerprint_digest",
	"smtpd_restriction_classes",
}

// Receiver asks a receiver's Postfix (postconf -x, -M, -P, and
// postconf -x -o per smtpd service with overrides) what makes
// relay_clientcerts effective and returns JudgeReceiver's problems: none
// when permit_tls_clientcerts can match. The error, beside them, also says
// what a check of main.cf's table cannot judge (Unjudged). bin is as for
// Find, configDir "" for Postfix's default.
func Receiver(ctx context.Context, bin, configDir string) ([]Problem, error) {
	svcs, err := Services(ctx, bin, configDir)
	if err != nil {
		return nil, err
	}
	var cfg ReceiverConfig
	var judged []Service
	for _, s := range svcs {
		if receiving(s) && len(s.Overrides) > 0 {
			judged = append(judged, s)
		}
	}
	cfg.Services = make([]ServiceValues, len(judged))
	errs := make([]error, len(judged)+1)
	var wg sync.WaitGroup
	wg.Go(func() { cfg.Main, errs[0] = values(ctx, bin, configDir, nil, receiverParams...) })
	for i, s := range judged {
		wg.Go(func() {
			v, err := values(ctx, bin, configDir, s.Overrides, receiverParams...)
			cfg.Services[i], errs[i+1] = ServiceValues{s, v}, err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := addClasses(ctx, bin, configDir, &cfg); err != nil {
		return nil, err
	}
	if u := Unjudged(cfg); len(u) > 0 {
		return JudgeReceiver(cfg), errors.New(strings.Join(u, "; "))
	}
	return JudgeReceiver(cfg), nil
}

// Unjudged returns, for each receiving master.cf service whose -o
// settings give it another relay_clientcerts or
// smtpd_tls_fingerprint_digest than main.cf's, a sentence saying so:
// relays that connect to that service are judged by Postfix with what a
// check of main.cf's table and digest did not read. It is a pure function.
func Unjudged(cfg ReceiverConfig) []string {
	var out []string
	for _, sv := range cfg.Services {
		if !receiving(sv.Service) {
			continue
		}
		v, m := sv.Values, cfg.Main
		if v["relay_clientcerts"] == m["relay_clientcerts"] && strings.EqualFold(v["smtpd_tls_fingerprint_digest"], m["smtpd_tls_fingerprint_digest"]) {
			continue
		}
		var o []string
		for _, x := range sv.Service.Overrides {
			if x.Name == "relay_clientcerts" || x.Name == "smtpd_tls_fingerprint_digest" {
				o = append(o, "-o "+x.String())
			}
		}
		if len(o) == 0 {
			o = append(o, "through its -o settings")
		}
		out = append(out, fmt.Sprintf("master.cf service %s: %s: relays connecting to it are judged by relay_clientcerts = %s with smtpd_tls_fingerprint_digest = %s, not by main.cf's relay_clientcerts = %s with %s, and this check read main.cf's; hint: check that service too, without --postconf: --table %q -d %s",
			sv.Service, strings.Join(o, " "), orEmpty(v["relay_clientcerts"]), orEmpty(v["smtpd_tls_fingerprint_digest"]),
			orEmpty(m["relay_clientcerts"]), orEmpty(m["smtpd_tls_fingerprint_digest"]), v["relay_clientcerts"], strings.ToLower(v["smtpd_tls_fingerprint_digest"])))
	}
	return out
}

// addClasses reads the restriction classes that smtpd_restriction_classes
// names, in main.cf or in a service's -o settings, as main.cf defines them
// (postconf -x), into every values map that does not define them itself.
func addClasses(ctx context.Context, bin, configDir string, cfg *ReceiverConfig) error {
	var names []string
	all := []map[string]string{cfg.Main}
	for _, sv := range cfg.Services {
		all = append(all, sv.Values)
	}
	for _, v := range all {
		for _, n := range SplitList(v["smtpd_restriction_classes"]) {
			if !slices.Contains(names, n) && !strings.HasPrefix(n, "-") {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	classes, err := values(ctx, bin, configDir, nil, names...)
	if err != nil {
		return err
	}
	for _, v := range all {
		for n, c := range classes {
			if _, ok := v[n]; !ok {
				v[n] = c
			}
		}
	}
	return nil
}

// expand replaces, in a restriction list, each name of a restriction
// class (smtpd_restriction_classes) by the class's own list, as smtpd
// evaluates it: a permit or a refusal in the class decides the whole list.
// Classes nest up to 10 deep; deeper, or a class naming itself, is left as
// it is.
func expand(items []string, v map[string]string, depth int) []string {
	classes := SplitList(v["smtpd_restriction_classes"])
	var out []string
	for _, it := range items {
		if depth < 10 && slices.Contains(classes, it) {
			out = append(out, expand(SplitList(v[it]), v, depth+1)...)
			continue
		}
		out = append(out, it)
	}
	return out
}

// receiving reports whether s is an smtpd that relays may connect to:
// an inet or pass (postscreen's) service not bound to loopback only.
func receiving(s Service) bool {
	if s.Command != "smtpd" || s.Type != "inet" && s.Type != "pass" {
		return false
	}
	if s.Type != "inet" {
		return true
	}
	i := strings.LastIndexByte(s.Name, ':')
	if i < 0 {
		return true // all interfaces
	}
	host := strings.Trim(s.Name[:i], "[]")
	return host != "localhost" && !strings.HasPrefix(host, "127.") && host != "::1"
}

// JudgeReceiver returns what stops permit_tls_clientcerts from matching:
// main.cf's problems, then each service's problems that main.cf does not
// have (caused by its -o overrides). It is a pure function.
func JudgeReceiver(cfg ReceiverConfig) []Problem {
	out := judge(cfg.Main)
	seen := map[string]bool{}
	for _, p := range out {
		seen[p.Param+"\x00"+p.Text] = true
	}
	for _, sv := range cfg.Services {
		if !receiving(sv.Service) {
			continue
		}
		for _, p := range judge(sv.Values) {
			if seen[p.Param+"\x00"+p.Text] {
				continue
			}
			p.Service = sv.Service.String()
			for _, o := range sv.Service.Overrides {
				if slices.Contains(related[p.Param], o.Name) {
					p.Overrides = append(p.Overrides, o)
				}
			}
			out = append(out, p)
		}
	}
	return out
}

// related lists, per Param of a problem, the parameters that decide it.
var related = map[string][]string{
	"smtpd_tls_ask_ccert":          {"smtpd_tls_ask_ccert", "smtpd_tls_req_ccert", "smtpd_tls_security_level", "smtpd_enforce_tls", "smtpd_tls_wrappermode"},
	"smtpd_tls_security_level":     {"smtpd_tls_security_level", "smtpd_use_tls", "smtpd_enforce_tls", "smtpd_tls_wrappermode"},
	"smtpd_relay_restrictions":     {"smtpd_relay_restrictions"},
	"smtpd_recipient_restrictions": {"smtpd_recipient_restrictions"},
}

// refusing are the restrictions that refuse every client they reach that
// is not otherwise permitted: relaying clients, for the first two.
var refusing = []string{"reject_unauth_destination", "defer_unauth_destination", "reject", "defer"}

const permitCerts = "permit_tls_clientcerts"

// judge applies the rules to one set of values.
func judge(v map[string]string) []Problem {
	var out []Problem
	yes := func(name string) bool { return strings.EqualFold(v[name], "yes") }
	level := strings.ToLower(v["smtpd_tls_security_level"])
	enforce := yes("smtpd_tls_wrappermode")
	switch {
	case enforce:
	case level == "none":
		out = append(out, Problem{Param: "smtpd_tls_security_level", Text: "smtpd_tls_security_level = none: smtpd offers no STARTTLS, so a relay never presents a certificate and permit_tls_clientcerts never matches; set smtpd_tls_security_level = may"})
	case level == "":
		if yes("smtpd_enforce_tls") {
			enforce = true
		} else if !yes("smtpd_use_tls") {
			out = append(out, Problem{Param: "smtpd_tls_security_level", Text: "smtpd_tls_security_level is empty and smtpd_use_tls = no: smtpd offers no STARTTLS, so a relay never presents a certificate and permit_tls_clientcerts never matches; set smtpd_tls_security_level = may"})
		}
	default: // encrypt, and the levels smtpd takes for encrypt
		enforce = level != "may"
	}
	if !yes("smtpd_tls_ask_ccert") && !(enforce && yes("smtpd_tls_req_ccert")) {
		out = append(out, Problem{Param: "smtpd_tls_ask_ccert", Text: fmt.Sprintf("smtpd_tls_ask_ccert = %s: Postfix never asks for a client certificate, so permit_tls_clientcerts never matches; set smtpd_tls_ask_ccert = yes", orEmpty(v["smtpd_tls_ask_ccert"]))})
	}

	lists := []string{"smtpd_relay_restrictions", "smtpd_recipient_restrictions"}
	anywhere := false
	var listProblems []Problem
	for _, name := range lists {
		items := expand(SplitList(v[name]), v, 0)
		permit := slices.IndexFunc(items, func(s string) bool { return strings.EqualFold(s, permitCerts) })
		anywhere = anywhere || permit >= 0
		for i, it := range items {
			it = strings.ToLower(it)
			if it == "permit" || i == permit {
				break // everything after is never reached by a relay
			}
			if slices.Contains(refusing, it) {
				where := "is not in this list"
				if permit >= 0 {
					where = "comes after it"
				}
				listProblems = append(listProblems, Problem{Param: name, Text: fmt.Sprintf("%s = %s: %s refuses relaying before permit_tls_clientcerts is reached (%s), so listed relays are refused; put permit_tls_clientcerts before %s in %s", name, orEmpty(v[name]), it, where, it, name)})
				break
			}
		}
	}
	if !anywhere && len(listProblems) == 0 {
		out = append(out, Problem{Param: "smtpd_relay_restrictions", Text: "permit_tls_clientcerts is in neither smtpd_relay_restrictions nor smtpd_recipient_restrictions, so relay_clientcerts is never consulted; add permit_tls_clientcerts to smtpd_relay_restrictions before defer_unauth_destination"})
	}
	return append(out, listProblems...)
}

func orEmpty(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

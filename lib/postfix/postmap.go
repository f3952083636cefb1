package postfix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// Postmap runs "postmap [-c configDir] spec", spec being TYPE:PATH (or a
// bare PATH for Postfix's default type), to rebuild an indexed table from
// its source file. bin is the command, as for Find ("postmap" when
// empty). An empty configDir leaves Postfix's default. The command ends
// with ctx. On failure the error names the command and carries its exit
// status and its stderr (trimmed, on one line, bounded).
func Postmap(ctx context.Context, bin, configDir, spec string) error {
	if spec == "" {
		return errors.New("postmap: empty table name")
	}
	if strings.HasPrefix(spec, "-") {
		return fmt.Errorf("postmap: table name %q starts with '-'", spec)
	}
	_, err := run(ctx, "postmap", bin, configArgs(configDir, spec), nil, nil)
	return err
}

// Reload runs "postfix [-c configDir] reload" so that the Postfix daemons
// read their tables and configuration again. bin ("postfix" when empty)
// and configDir are as for Postmap, and so are the error rules.
func Reload(ctx context.Context, bin, configDir string) error {
	_, err := run(ctx, "postfix", bin, configArgs(configDir, "reload"), nil, nil)
	return err
}

// Query looks keys up in the compiled table spec (TYPE:PATH), as Postfix
// does, with "postmap [-c configDir] -q - spec", and returns the keys it
// holds, as given. bin and configDir are as for Postmap. Keys must not be
// empty or contain a newline.
func Query(ctx context.Context, bin, configDir, spec string, keys []string) (map[string]bool, error) {
	if spec == "" || strings.HasPrefix(spec, "-") {
		return nil, fmt.Errorf("postmap -q: bad table name %q", spec)
	}
	var in bytes.Buffer
	for _, k := range keys {
		if strings.ContainsAny(k, "\r\n") || k == "" {
			return nil, fmt.Errorf("postmap -q: bad key %q", k)
		}
		in.WriteString(k)
		in.WriteByte('\n')
	}
	// postmap -q exits 1 when it finds none of the keys, and also when it
	// fails ("postmap: fatal: open database ..."); only a failure says more
	// than warnings, such as main.cf's "overriding earlier entry".
	out, err := run(ctx, "postmap", bin, configArgs(configDir, "-q", "-", spec), in.Bytes(),
		func(code int, stderr []byte) bool { return code == 1 && onlyWarnings(stderr) })
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for l := range strings.Lines(string(out)) {
		if k, _, ok := strings.Cut(l, "\t"); ok {
			found[k] = true
		}
	}
	return found, nil
}

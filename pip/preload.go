package pip

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/wasipy/wasipy/interp"
)

// Install resolves and installs requirements in a running interpreter
// started with Configure, before (or between) the cells of a session: the
// Go API for embedders, and what --preload uses. Requirements already
// satisfied by the site folder need no network. It returns the
// "name-version" of what was installed.
func Install(ctx context.Context, p *interp.Process, requirements []string) ([]string, error) {
	if len(requirements) == 0 {
		return nil, nil
	}
	v, err := p.Eval(ctx, "__import__('_wasipy_pip').install(list(args[0]), quiet=True)", anys(requirements))
	if err != nil {
		return nil, err
	}
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// ParsePreload reads --preload: a requirements file when the value names
// one, else comma-separated requirements.
func ParsePreload(value string) ([]string, error) {
	if value == "" {
		return nil, nil
	}
	if st, err := os.Stat(value); err == nil && st.Mode().IsRegular() {
		f, err := os.Open(value)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(strings.SplitN(sc.Text(), " #", 2)[0])
			if line != "" && !strings.HasPrefix(line, "#") {
				if strings.HasPrefix(line, "-") {
					return nil, fmt.Errorf("%s: options (%q) are not supported in a --preload file", value, line)
				}
				out = append(out, line)
			}
		}
		return out, sc.Err()
	}
	var out []string
	for _, r := range strings.Split(value, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

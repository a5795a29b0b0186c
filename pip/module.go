package pip

import (
	"context"
	"fmt"
	"time"

	"github.com/wasipy/wasipy/interp"
)

// Module is the Go module the guest's installer calls (ModuleName). Cell
// code can call it too: it can do nothing %pip cannot (fetch from allowed
// hosts, install a checked wheel, uninstall), and it never writes outside
// the site folder and the cache.
func Module(in *Installer) *interp.Module {
	page := func(ctx context.Context, args []any, kw map[string]any) (any, error) {
		a := argv(args, kw, "url", "accept")
		return in.Page(ctx, str(a["url"]), str(a["accept"]))
	}
	start := func(ctx context.Context, args []any, kw map[string]any) (any, error) {
		a := argv(args, kw, "url", "filename", "sha256")
		return in.StartDownload(str(a["url"]), str(a["filename"]), str(a["sha256"]))
	}
	wait := func(ctx context.Context, args []any, kw map[string]any) (any, error) {
		a := argv(args, kw, "id", "timeout")
		id, _ := a["id"].(int64)
		secs, _ := a["timeout"].(float64)
		if n, ok := a["timeout"].(int64); ok {
			secs = float64(n)
		}
		t, err := in.Wait(ctx, id, time.Duration(secs*float64(time.Second)))
		if err != nil {
			return nil, err
		}
		out := map[string]any{"done": t.Done, "total": t.Total, "finished": t.Finished}
		if m, ok := fetched(t.Fetched).(map[string]any); ok && t.Finished {
			for k, v := range m {
				out[k] = v
			}
		}
		return out, nil
	}
	cancel := func(ctx context.Context, args []any, kw map[string]any) (any, error) {
		a := argv(args, kw, "id")
		id, _ := a["id"].(int64)
		in.Cancel(id)
		return nil, nil
	}
	add := func(ctx context.Context, args []any, kw map[string]any) (any, error) {
		a := argv(args, kw, "filename", "data")
		data, ok := a["data"].([]byte)
		if !ok {
			return nil, &interp.GuestError{Type: "TypeError", Message: "data must be bytes"}
		}
		f, err := in.AddLocal(str(a["filename"]), data)
		return fetched(f), err
	}
	install := func(ctx context.Context, args []any, kw map[string]any) (any, error) {
		a := argv(args, kw, "wheels", "remove")
		var items []CachedWheel
		ws, _ := a["wheels"].([]any)
		for _, w := range ws {
			m, ok := w.(map[string]any)
			if !ok {
				return nil, &interp.GuestError{Type: "TypeError", Message: "wheels must be a list of dicts"}
			}
			req, _ := m["requested"].(bool)
			items = append(items, CachedWheel{Filename: str(m["filename"]), SHA256: str(m["sha256"]), Requested: req})
		}
		inst, rem, err := in.InstallCached(items, strs(a["remove"]))
		if err != nil {
			return nil, &interp.GuestError{Type: "OSError", Message: err.Error()}
		}
		return map[string]any{"installed": anys(inst), "removed": anys(rem)}, nil
	}
	uninstall := func(ctx context.Context, args []any, kw map[string]any) (any, error) {
		a := argv(args, kw, "names")
		rem, err := in.Site.Uninstall(strs(a["names"]))
		if err != nil {
			return nil, &interp.GuestError{Type: "OSError", Message: err.Error()}
		}
		return anys(rem), nil
	}
	site := func(ctx context.Context, args []any, kw map[string]any) (any, error) { return in.Site.Dir, nil }
	return &interp.Module{
		Name: ModuleName,
		Funcs: map[string]interp.Func{
			"page": page, "start_download": start, "wait": wait, "cancel": cancel,
			"add_wheel": add, "install": install, "uninstall": uninstall, "site_dir": site,
		},
		// The same, awaitable: wasipy.pip.install's event loop keeps
		// turning while they wait on the network.
		Async: map[string]interp.Func{"page_async": page, "wait_async": wait},
	}
}

func fetched(f *Fetched) any {
	if f == nil {
		return nil
	}
	return map[string]any{"sha256": f.SHA256, "metadata": string(f.Metadata), "size": int64(f.Size), "cached": f.Cached}
}

// argv names positional arguments; keywords win.
func argv(args []any, kw map[string]any, names ...string) map[string]any {
	out := map[string]any{}
	for i, n := range names {
		if i < len(args) {
			out[n] = args[i]
		}
		if v, ok := kw[n]; ok {
			out[n] = v
		}
	}
	return out
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

package kernelcmd

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
)

// Jupyter's clients treat a kernel named python3 as ipykernel and pass it
// IPython's configuration on the command line: nbclient always adds
// --HistoryManager.hist_file=:memory:. wasipy installed as python3 must
// accept those arguments instead of dying before kernel_info, so they are
// taken out of the argument list before the flag package sees it.

// ipyTrait matches the name part of a traitlets command-line option:
// Class.trait, or App.Class.trait (a dotted path of identifiers with at
// least one dot). A plain flag (--connection-file) has no dot and is left
// to the flag package, which rejects the unknown ones with a clear message.
var ipyTrait = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$`)

// ipyOptions are the IPython-style settings the kernel understands.
type ipyOptions struct {
	// HistFile is HistoryManager.hist_file; set when HistFileSet.
	HistFile    string
	HistFileSet bool
	// HistEnabled is HistoryManager.enabled; set when HistEnabledSet.
	HistEnabled    bool
	HistEnabledSet bool
	// Ignored are the options (name=value) the kernel does not
	// understand, or whose value it could not read: logged once, never
	// fatal, as ipykernel ignores configuration for classes it lacks.
	Ignored []string
}

// maxIPyArgs bounds how many IPython-style options are kept for the log:
// the command line comes from a trusted launcher, but a log line should
// stay readable whatever it passes.
const maxIPyArgs = 64

// splitIPythonArgs takes the IPython-style options out of args and returns
// the rest, in order, for the flag package. An option is --Class.trait=value
// or --Class.trait value (traitlets accepts both; one dash too, like the
// flag package). Only arguments before a "--" terminator are looked at.
func splitIPythonArgs(args []string) (rest []string, opts ipyOptions) {
	rest = make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		body, ok := strings.CutPrefix(arg, "--")
		if !ok {
			body, ok = strings.CutPrefix(arg, "-")
		}
		name, value, hasValue := strings.Cut(body, "=")
		if !ok || !ipyTrait.MatchString(name) {
			rest = append(rest, arg)
			continue
		}
		if !hasValue {
			// --Class.trait value: the next argument is the value unless it
			// is itself an option (then this one has none and is ignored).
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				value, hasValue = args[i+1], true
				i++
			}
		}
		if !hasValue {
			opts.ignore(name + " (no value)")
			continue
		}
		opts.set(name, value)
	}
	return rest, opts
}

// set applies one option, or records it as ignored.
func (o *ipyOptions) set(name, value string) {
	// traitlets reads a value as a Python literal when it can, so a
	// launcher may quote strings: --HistoryManager.hist_file=':memory:'.
	value = unquote(value)
	// Matched on the last two parts: a longer dotted path names the same
	// class's trait for traitlets' purposes here.
	parts := strings.Split(name, ".")
	key := parts[len(parts)-2] + "." + parts[len(parts)-1]
	switch key {
	case "HistoryManager.hist_file":
		o.HistFile, o.HistFileSet = value, true
	case "HistoryManager.enabled":
		b, ok := parseBool(value)
		if !ok {
			o.ignore(name + "=" + value + " (not a boolean)")
			return
		}
		o.HistEnabled, o.HistEnabledSet = b, true
	default:
		o.ignore(name + "=" + value)
	}
}

func (o *ipyOptions) ignore(s string) {
	if len(o.Ignored) < maxIPyArgs {
		o.Ignored = append(o.Ignored, s)
	}
}

// unquote strips one pair of matching quotes, as a Python string literal
// of a plain value would have.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// parseBool reads a traitlets Bool from the command line.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no":
		return false, true
	}
	return false, false
}

// Guest environment variables that carry the history settings to
// get_ipython().history_manager (interp/runtime/_wasipy_ipshell.py).
const (
	envHistFile    = "WASIPY_HIST_FILE"
	envHistEnabled = "WASIPY_HISTORY_ENABLED"
)

// guestEnv adds the settings the guest shows to env.
func (o ipyOptions) guestEnv(env map[string]string) {
	if o.HistFileSet {
		env[envHistFile] = o.HistFile
	}
	if o.HistEnabledSet {
		env[envHistEnabled] = fmt.Sprint(o.HistEnabled)
	}
}

// logIgnored logs the options the kernel does not act on, in one line.
func (o ipyOptions) logIgnored(log *slog.Logger) {
	if len(o.Ignored) > 0 {
		log.Warn("IPython options ignored (wasipy has no such setting)", "options", strings.Join(o.Ignored, " "))
	}
}

// historyFor is the history folder the kernel keeps, given the IPython
// options: none with HistoryManager.enabled=False; with hist_file=:memory:
// (what nbclient passes) a private temporary one removed when the kernel
// ends, so that the session keeps its history (history_request, %history)
// but nothing outlives it, as with IPython's in-memory database. Any other
// hist_file is a path in ipykernel's world; wasipy keeps its own store
// outside the sandbox, so the setting is only shown to the guest.
func historyFor(o ipyOptions, dir string) (string, func(), error) {
	if (o.HistEnabledSet && !o.HistEnabled) || dir == "" {
		return "", func() {}, nil
	}
	if o.HistFileSet && o.HistFile == ":memory:" {
		tmp, err := os.MkdirTemp("", "wasipy-history-")
		if err != nil {
			return "", nil, err
		}
		return tmp, func() { os.RemoveAll(tmp) }, nil
	}
	return dir, func() {}, nil
}

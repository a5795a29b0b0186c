// Package fetch is the host side of wasipy.http: HTTP requests that Python
// code in the sandbox asks the kernel to make with Go's net/http. The
// sandbox has no network of its own; this module is its only way out, and
// it is closed unless the kernel was started with an allow-list of hosts.
package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wasipy/wasipy/interp"
)

// ModuleName is the Go module's name in Python; wasipy/http.py wraps it.
const ModuleName = "_wasipy_http"

// MaxBody caps a response body read into the sandbox.
const MaxBody = 256 << 20

// Policy says which hosts Python may reach.
type Policy struct {
	// Allow lists host names or host:port pairs; "*" allows every host.
	// Empty denies all.
	Allow []string
}

// Allows reports whether u may be fetched.
func (p Policy) Allows(u *url.URL) bool {
	host, port := u.Hostname(), u.Port()
	if port == "" { // the scheme's own port: "example.org:443" allows https://example.org/
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, a := range p.Allow {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "*" {
			return true
		}
		h, pt, err := net.SplitHostPort(a)
		if err != nil {
			h, pt = a, ""
		}
		h = strings.Trim(h, "[]")
		if strings.EqualFold(h, host) && (pt == "" || pt == port) {
			return true
		}
	}
	return false
}

func (p Policy) deny(u *url.URL) error {
	if len(p.Allow) == 0 {
		return &interp.GuestError{Type: "PermissionError", Message: fmt.Sprintf(
			"network access is off in this sandbox: %s was not fetched. Start the kernel with --allow-net %s (in the kernelspec's argv) to allow it", u.Redacted(), u.Hostname())}
	}
	return &interp.GuestError{Type: "PermissionError", Message: fmt.Sprintf(
		"%s is not in the kernel's --allow-net list (%s): add it to allow %s", u.Hostname(), strings.Join(p.Allow, ","), u.Redacted())}
}

// Module builds the Go module for a policy. client may be nil.
func Module(policy Policy, client *http.Client) *interp.Module {
	if client == nil {
		client = &http.Client{}
	}
	c := *client
	// Every hop of a redirect must be allowed too.
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if !policy.Allows(req.URL) {
			return policy.deny(req.URL)
		}
		return nil
	}
	do := func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
		return doFetch(ctx, &c, policy, args, kwargs)
	}
	return &interp.Module{
		Name:  ModuleName,
		Funcs: map[string]interp.Func{"fetch_sync": do},
		Async: map[string]interp.Func{"fetch": do},
	}
}

// doFetch takes (url, method="GET", headers=None, body=None, timeout=30)
// and returns {"url", "status", "reason", "headers": [[k, v]...], "body"}.
func doFetch(ctx context.Context, client *http.Client, policy Policy, args []any, kwargs map[string]any) (any, error) {
	params := map[string]any{}
	for i, name := range []string{"url", "method", "headers", "body", "timeout"} {
		if i < len(args) {
			params[name] = args[i]
		}
		if v, ok := kwargs[name]; ok {
			params[name] = v
		}
	}
	raw, _ := params["url"].(string)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &interp.GuestError{Type: "ValueError", Message: fmt.Sprintf("not an http(s) URL: %q", raw)}
	}
	if !policy.Allows(u) {
		return nil, policy.deny(u)
	}
	method := "GET"
	if m, ok := params["method"].(string); ok && m != "" {
		method = strings.ToUpper(m)
	}
	var body io.Reader
	switch b := params["body"].(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		return nil, &interp.GuestError{Type: "TypeError", Message: fmt.Sprintf("body must be bytes or str, not %T", b)}
	}
	timeout := 30 * time.Second
	switch t := params["timeout"].(type) {
	case float64:
		timeout = time.Duration(t * float64(time.Second))
	case int64:
		timeout = time.Duration(t) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, &interp.GuestError{Type: "ValueError", Message: err.Error()}
	}
	if err := setHeaders(req, params["headers"]); err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ge *interp.GuestError
		if errors.As(err, &ge) {
			return nil, ge
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &interp.GuestError{Type: "TimeoutError", Message: fmt.Sprintf("%s %s: no answer within %s", method, u.Redacted(), timeout)}
		}
		return nil, &interp.GuestError{Type: "ConnectionError", Message: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, &interp.GuestError{Type: "ConnectionError", Message: err.Error()}
	}
	if len(data) > MaxBody {
		return nil, &interp.GuestError{Type: "OSError", Message: fmt.Sprintf("response body over %d bytes", MaxBody)}
	}
	var headers []any
	for k, vs := range resp.Header {
		for _, v := range vs {
			headers = append(headers, interp.Tuple{k, v})
		}
	}
	return map[string]any{
		"url":     resp.Request.URL.String(),
		"status":  int64(resp.StatusCode),
		"reason":  strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode))),
		"headers": headers,
		"body":    data,
	}, nil
}

func setHeaders(req *http.Request, h any) error {
	switch hs := h.(type) {
	case nil:
	case map[string]any:
		for k, v := range hs {
			s, ok := v.(string)
			if !ok {
				return &interp.GuestError{Type: "TypeError", Message: fmt.Sprintf("header %s must be a str", k)}
			}
			req.Header.Set(k, s)
		}
	case []any:
		for _, p := range hs {
			pair, ok := p.(interp.Tuple)
			if !ok {
				if l, isList := p.([]any); isList {
					pair, ok = interp.Tuple(l), true
				}
			}
			if !ok || len(pair) != 2 {
				return &interp.GuestError{Type: "TypeError", Message: "headers must be a dict or a list of (name, value) pairs"}
			}
			k, _ := pair[0].(string)
			v, _ := pair[1].(string)
			req.Header.Add(k, v)
		}
	default:
		return &interp.GuestError{Type: "TypeError", Message: "headers must be a dict or a list of (name, value) pairs"}
	}
	return nil
}

"""HTTP through the host: the sandbox has no network, the kernel does.

    from wasipy.http import fetch, fetch_sync
    r = await fetch("https://example.org/data.json")
    r.status, r.headers["content-type"], r.json()

Requests are made by the kernel with Go's net/http, and only to hosts the
kernel was started to allow (--allow-net); any other host raises
PermissionError saying which option to set. urllib.request.urlopen goes
through here too.
"""

import json as _json

import _wasipy_http

__all__ = ["Response", "fetch", "fetch_sync"]


class Headers(dict):
    """Response headers; look-ups ignore case."""

    def __init__(self, pairs):
        super().__init__()
        self._pairs = list(pairs)
        for k, v in self._pairs:
            super().__setitem__(k.lower(), v if k.lower() not in self else self[k.lower()] + ", " + v)

    def __getitem__(self, key):
        return super().__getitem__(key.lower())

    def get(self, key, default=None):
        return super().get(key.lower(), default)

    def __contains__(self, key):
        return super().__contains__(key.lower())

    def items_raw(self):
        return list(self._pairs)


class Response:
    def __init__(self, raw):
        self.url = raw["url"]
        self.status = raw["status"]
        self.reason = raw["reason"]
        self.headers = Headers(raw["headers"] or [])
        self.body = raw["body"]

    @property
    def ok(self):
        return 200 <= self.status < 300

    def text(self, encoding=None):
        if encoding is None:
            ctype = self.headers.get("content-type", "")
            encoding = "utf-8"
            if "charset=" in ctype:
                encoding = ctype.split("charset=", 1)[1].split(";")[0].strip() or "utf-8"
        return self.body.decode(encoding, "replace")

    def json(self):
        return _json.loads(self.body)

    def __repr__(self):
        return f"<Response [{self.status} {self.reason}] {self.url}>"


def _args(method, headers, body):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return {"method": method, "headers": dict(headers) if headers else None, "body": body}


async def fetch(url, method="GET", headers=None, body=None, timeout=30.0):
    """Fetch url through the host without blocking the event loop."""
    return Response(await _wasipy_http.fetch(url, timeout=float(timeout), **_args(method, headers, body)))


def fetch_sync(url, method="GET", headers=None, body=None, timeout=30.0):
    """Fetch url through the host, blocking until the answer."""
    return Response(_wasipy_http.fetch_sync(url, timeout=float(timeout), **_args(method, headers, body)))


def install_urllib(request=None):
    """Make urllib.request.urlopen fetch http(s) URLs through the host.

    request is the urllib.request module (given while it is being imported)."""
    import email.message
    import io
    import urllib.response

    if request is None:
        import urllib.request as request

    class HostHandler(request.BaseHandler):
        handler_order = 100  # before the socket-based handlers, which cannot work here

        def _open(self, req):
            headers = dict(req.header_items())
            # urlopen's default timeout is a sentinel object, not a number.
            timeout = req.timeout if isinstance(req.timeout, (int, float)) else 30.0
            r = fetch_sync(req.full_url, method=req.get_method(), headers=headers,
                           body=req.data, timeout=timeout)
            msg = email.message.Message()
            for k, v in r.headers.items_raw():
                msg[k] = v
            resp = urllib.response.addinfourl(io.BytesIO(r.body), msg, r.url, r.status)
            resp.msg = r.reason
            return resp

        http_open = https_open = _open

    request.install_opener(request.build_opener(HostHandler))

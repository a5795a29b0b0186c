"""HTTP through the host (issue 3): `--allow-net HOST[:PORT]` enables
wasipy.http's fetch / fetch_sync and urllib.request.urlopen, done by the
kernel's Go net/http against a server this test runs on 127.0.0.1; without
the option, or for a host not in the list, PermissionError naming the
option. Also: a fetch does not block the event loop, and HostError is
importable."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path
        if path.startswith("/slow"):
            time.sleep(0.6)  # the server is slow; the kernel's loop must not be
        if path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", path.split("?to=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path.startswith("/missing"):
            out = b"not here"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
        elif path.startswith("/bytes"):
            out = bytes(range(256)) * 4
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
        elif path.startswith("/latin1"):
            out = "café".encode("latin-1")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=iso-8859-1")
        else:
            out = json.dumps({
                "method": self.command,
                "path": path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("latin-1"),
            }).encode()
            self.send_response(201 if self.command == "POST" else 200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("X-Reply-Header", "Reply-Value")
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=10)


@pytest.fixture(scope="module")
def net(wasipy_env, server):
    """A kernel allowed to reach the test server (and nothing else)."""
    import harness
    base, port = server
    k = harness.Kernel.start(extra_arguments=["--allow-net", f"127.0.0.1:{port}"])
    try:
        k.ok("from wasipy.http import fetch, fetch_sync\nimport asyncio, json, time")
        yield k, base
    finally:
        k.shutdown()


def test_get_with_headers(net):
    k, base = net
    code = (f"r = await fetch('{base}/get?x=1&y=%C3%A9', headers={{'X-Test': 'héllo', 'Accept': 'application/json'}})\n"
            "echo = r.json()\n"
            "print(json.dumps([r.status, r.ok, r.headers['x-reply-header'], r.headers['X-REPLY-HEADER'],\n"
            "                  r.headers.get('content-type'), 'x-reply-header' in r.headers, r.url, echo]))")
    status, ok, h1, h2, ctype, has, url, echo = json.loads(k.ok(code).stdout)
    assert (status, ok) == (200, True)
    assert h1 == h2 == "Reply-Value"  # header look-up ignores case
    assert ctype == "application/json; charset=utf-8" and has
    assert url.startswith(base + "/get")
    assert echo["method"] == "GET"
    assert echo["path"] == "/get?x=1&y=%C3%A9"
    # (sent as UTF-8 bytes; Python's http.server reads header bytes as latin-1)
    assert echo["headers"]["x-test"].encode("latin-1").decode("utf-8") == "héllo"
    assert echo["headers"]["accept"] == "application/json"
    assert echo["body"] == ""


def test_post_binary_body_and_headers(net):
    k, base = net
    code = (f"r = await fetch('{base}/post', method='POST', body=bytes(range(256)),\n"
            "                headers={'Content-Type': 'application/octet-stream', 'X-Multi': 'a, b'})\n"
            "echo = r.json()\n"
            "print(json.dumps([r.status, r.ok, echo['method'], echo['body'] == bytes(range(256)).decode('latin-1'),\n"
            "                  echo['headers']['content-type'], echo['headers']['content-length'], echo['headers']['x-multi']]))")
    assert json.loads(k.ok(code).stdout) == [201, True, "POST", True, "application/octet-stream", "256", "a, b"]
    # A str body is sent as UTF-8; other methods.
    code = (f"r = await fetch('{base}/put', method='put', body='ünïcode')\n"
            "echo = r.json()\n"
            "echo['method'], echo['body'].encode('latin-1').decode('utf-8')")
    assert k.value(code) == "('PUT', 'ünïcode')"


def test_response_body_text_and_status(net):
    k, base = net
    r = k.ok(f"r = await fetch('{base}/bytes')\nprint(type(r.body).__name__, r.body == bytes(range(256)) * 4)")
    assert r.stdout == "bytes True\n"
    # text() follows the declared charset.
    assert k.value(f"(await fetch('{base}/latin1')).text()") == "'café'"
    # An HTTP error status is a response, not an exception.
    assert k.value(f"r = await fetch('{base}/missing')\nr.status, r.ok, r.text()") == "(404, False, 'not here')"
    # Repeated headers are joined.
    assert k.value(f"(await fetch('{base}/get')).headers['set-cookie']") == "'a=1, b=2'"


def test_fetch_sync(net):
    k, base = net
    code = (f"r = fetch_sync('{base}/sync', method='DELETE', headers={{'X-Sync': '1'}})\n"
            "r.status, r.json()['method'], r.json()['headers']['x-sync']")
    assert k.value(code) == "(200, 'DELETE', '1')"


def test_urllib_urlopen(net):
    k, base = net
    code = ("import urllib.request\n"
            f"with urllib.request.urlopen('{base}/via-urllib') as f:\n"
            "    body = json.loads(f.read())\n"
            "    print(f.status, f.headers['X-Reply-Header'], body['method'], body['path'])\n"
            f"req = urllib.request.Request('{base}/form', data=b'a=1&b=2', headers={{'X-From': 'urllib'}}, method='POST')\n"
            "with urllib.request.urlopen(req, timeout=30) as f:\n"
            "    body = json.loads(f.read())\n"
            "    print(f.status, body['method'], body['body'], body['headers']['x-from'])\n")
    assert k.ok(code).stdout == "200 Reply-Value GET /via-urllib\n201 POST a=1&b=2 urllib\n"
    # An HTTP error status raises urllib's HTTPError, as with sockets.
    code = ("import urllib.error\n"
            "try:\n"
            f"    urllib.request.urlopen('{base}/missing')\n"
            "except urllib.error.HTTPError as e:\n"
            "    print('HTTPError', e.code)\n")
    assert k.ok(code).stdout == "HTTPError 404\n"


def test_fetch_does_not_block_the_event_loop(net):
    """While a slow request (0.6 s on the server) is in flight, other
    coroutines keep running: a ticker counts 20 ms sleeps concurrently."""
    k, base = net
    code = ("ticks = 0\n"
            "async def ticker(stop):\n"
            "    global ticks\n"
            "    while not stop.is_set():\n"
            "        await asyncio.sleep(0.02)\n"
            "        ticks += 1\n"
            "stop = asyncio.Event()\n"
            "async def slow():\n"
            "    try:\n"
            f"        return await fetch('{base}/slow')\n"
            "    finally:\n"
            "        stop.set()\n"
            "t0 = time.monotonic()\n"
            "r, _ = await asyncio.gather(slow(), ticker(stop))\n"
            "print(json.dumps([r.status, ticks, time.monotonic() - t0]))")
    status, ticks, dt = json.loads(k.ok(code).stdout)
    print(f"fetch of /slow took {dt:.3f} s; the loop ticked {ticks} times meanwhile")
    assert status == 200
    assert dt >= 0.6
    assert ticks >= 10, ticks  # ~30 expected; a blocked loop gives 0 or 1
    # Several fetches at once overlap too: 3 slow requests take ~0.6 s, not 1.8 s.
    code = ("t0 = time.monotonic()\n"
            f"rs = await asyncio.gather(*[fetch('{base}/slow?n=' + str(i)) for i in range(3)])\n"
            "print(json.dumps([[r.status for r in rs], time.monotonic() - t0]))")
    statuses, dt = json.loads(k.ok(code).stdout)
    assert statuses == [200, 200, 200]
    assert dt < 1.5, dt


def test_redirect_to_a_denied_host_is_refused(net):
    k, base = net
    port = base.rsplit(":", 1)[1]
    # Allowed redirect (same host and port) is followed.
    r = k.ok(f"r = await fetch('{base}/redirect?to={base}/landed')\nprint(r.status, r.json()['path'])")
    assert r.stdout == "200 /landed\n"
    r = k.execute(f"await fetch('{base}/redirect?to=http://localhost:{port}/elsewhere')")
    assert r.status == "error" and r.reply["ename"] == "PermissionError", r


def test_host_error_is_importable(net):
    k, _ = net
    assert k.value("from wasipy import HostError\nissubclass(HostError, Exception)") == "True"


# ---- denial -------------------------------------------------------------------------


def _denied(k, url, what="await fetch"):
    r = k.execute(f"from wasipy.http import fetch, fetch_sync\n{what}({url!r})")
    assert r.status == "error", r
    assert r.reply["ename"] == "PermissionError", r
    return r.reply["evalue"]


def test_denied_without_allow_net(start_kernel, server):
    base, port = server
    k = start_kernel()
    msg = _denied(k, f"{base}/x")
    assert "--allow-net" in msg, msg
    assert "--allow-net" in _denied(k, f"{base}/x", "fetch_sync")
    r = k.execute(f"import urllib.request\nurllib.request.urlopen('{base}/x')")
    assert r.status == "error"
    text = r.reply["ename"] + ": " + r.reply["evalue"]
    assert "PermissionError" in text or "--allow-net" in text, text
    # Catchable as PermissionError in the cell.
    code = (f"try:\n    await fetch('{base}/x')\nexcept PermissionError as e:\n    print('denied:', e)")
    assert "--allow-net" in k.ok(code).stdout


def test_denied_for_a_host_not_in_the_list(start_kernel, server):
    base, port = server
    # Other hosts, and this host on another port, but not this host:port.
    k = start_kernel(extra_arguments=["--allow-net", f"example.invalid,127.0.0.1:{port + 1}"])
    msg = _denied(k, f"{base}/x")
    assert "--allow-net" in msg, msg
    assert "127.0.0.1" in msg, msg
    msg = _denied(k, f"http://localhost:{port}/x")
    assert "--allow-net" in msg and "localhost" in msg, msg


def test_allow_list_forms(start_kernel, server):
    """`*` allows every host; a comma list; the flag repeated."""
    base, port = server
    k = start_kernel(extra_arguments=["--allow-net", "*"])
    assert k.value(f"from wasipy.http import fetch\n(await fetch('http://localhost:{port}/star')).status") == "200"
    k2 = start_kernel(extra_arguments=["--allow-net", f"example.invalid, localhost:{port}", "--allow-net", "127.0.0.1"])
    assert k2.value(f"from wasipy.http import fetch_sync\nfetch_sync('http://localhost:{port}/a').status, "
                    f"fetch_sync('{base}/b').status") == "(200, 200)"


def test_allowed_host_with_default_port(start_kernel):
    """`--allow-net HOST:80` allows http://HOST/ (the URL's port is the
    scheme's default). The host does not resolve, so the fetch fails, but it
    must fail on the network, not with PermissionError."""
    k = start_kernel(extra_arguments=["--allow-net", "wasipy-test.invalid:80"])
    r = k.execute("from wasipy.http import fetch\nawait fetch('http://wasipy-test.invalid/', timeout=10)")
    assert r.status == "error"
    assert r.reply["ename"] != "PermissionError", (r.reply["ename"], r.reply["evalue"])

"""The FFI's Python half on the host's CPython: conversion options,
proxy lifetimes and errors that keep their identity (no interpreter, no
host: a fake router records what would be sent)."""

import gc

import pytest

import _wasipy_ffi as ffi
import _wasipy_protocol as proto
import _wasipy_rpc as rpc


class FakeRouter:
    """Records messages and requests; answers requests with None."""

    def __init__(self):
        self.sent, self.requests = [], []
        self.handlers, self.notifications, self.deferred, self.before_reply = {}, {}, {}, []

    def send(self, msg, buffers=None):
        self.sent.append(msg)

    def request(self, method, content, buffers=None, with_buffers=False):
        self.requests.append((method, content))
        return (None, []) if with_buffers else None


@pytest.fixture
def router():
    saved = ffi._router, ffi._shell
    r = FakeRouter()
    ffi.install(None, r)
    ffi._collected.clear()
    yield r
    ffi._router, ffi._shell = saved
    ffi._handles.clear()


def test_values_round_trip_and_unknown_objects_become_handles(router):
    value = [1, 2**80, 1.5, float("inf"), "s", b"\x00", (1,), {3}, {1: "x"}, {"a": None}]
    buffers = []
    assert ffi.decode(ffi.encode(value, buffers), buffers) == value
    obj = object()
    enc = ffi.encode(obj, [])
    assert ffi.decode(enc, []) is obj and ffi.handle_count() == 1
    ffi.release(enc["$py"])
    assert ffi.handle_count() == 0
    with pytest.raises(ValueError, match="released"):
        ffi.decode(enc, [])


def test_to_go_depth_sends_deeper_containers_by_reference(router):
    inner = [1]
    enc = ffi.encode(ffi.to_go([inner, {"k": inner}], depth=1), [])
    assert ffi.decode(enc[0], []) is inner
    assert ffi.decode(enc[1], []) is not None and "$py" in enc[1]
    whole = [1, 2]
    assert ffi.decode(ffi.encode(ffi.to_go(whole, depth=0), []), []) is whole
    assert ffi.encode(ffi.to_go([complex(1, 2)], default=lambda c: [c.real, c.imag]), []) == [
        [{"$float": 1.0}, {"$float": 2.0}]]


def test_memoryview_and_bytearray_cross_as_buffers(router):
    buffers = []
    enc = ffi.encode([bytearray(b"ab"), memoryview(b"cdef")[1:3]], buffers)
    assert [bytes(b) for b in buffers] == [b"ab", b"de"]
    assert ffi.decode(enc, buffers) == [b"ab", b"de"]


def test_collected_proxies_are_released_at_the_next_safe_point(router):
    p = ffi.decode({"$go": 7, "type": "*main.T"}, [])
    q = ffi.decode({"$go": 8, "type": "*main.T"}, [])
    del p
    gc.collect()
    assert router.sent == []  # nothing is sent from inside the collector
    ffi.flush_released()
    assert router.sent == [{"type": proto.GO_RELEASE, "content": {"ids": [7], "counts": [1]}}]
    q.destroy()
    q.destroy()
    assert router.requests == [(proto.METHOD_FFI_RELEASE, {"id": 8, "count": 1})]
    del q
    gc.collect()
    ffi.flush_released()
    assert len(router.sent) == 1  # a destroyed proxy is not released twice


def test_one_go_value_is_one_proxy_and_releases_count_its_sendings(router):
    """Promise: the host's handle for one Go value arrives as the same
    GoProxy while Python holds it (is, ==, hash agree), and its release
    gives back every sending, so the host frees it once, after the last."""
    a = ffi.decode({"$go": 5, "type": "*main.T"}, [])
    b = ffi.decode([{"$go": 5, "type": "*main.T"}, {"$go": 5, "type": "*main.T"}], [])
    assert b[0] is a and b[1] is a and a == b[0] and hash(a) == hash(b[1]) and len({a, *b}) == 1
    other = ffi.decode({"$go": 6, "type": "*main.T"}, [])
    assert other is not a and other != a
    del b, other
    gc.collect()
    ffi.flush_released()
    assert router.sent == [{"type": proto.GO_RELEASE, "content": {"ids": [6], "counts": [1]}}]
    router.sent.clear()
    del a
    gc.collect()
    ffi.flush_released()
    assert router.sent == [{"type": proto.GO_RELEASE, "content": {"ids": [5], "counts": [3]}}]
    # Sent again after its release: a new proxy, counted afresh.
    c = ffi.decode({"$go": 5, "type": "*main.T"}, [])
    assert c._count == 1
    c.destroy()
    assert router.requests[-1] == (proto.METHOD_FFI_RELEASE, {"id": 5, "count": 1})
    assert ffi.decode({"$go": 5, "type": "*main.T"}, []) is not c, "a destroyed proxy is not handed out again"


def test_host_errors_keep_identity_class_and_cause(router):
    exc = ValueError("mine")
    handle = ffi._keep(exc)
    assert rpc.make_error({"type": "ValueError", "message": "mine", "object": handle}) is exc
    err = rpc.make_error({"type": "KeyError", "message": "k",
                          "cause": {"type": "HostError", "message": "inner", "cause": {"message": "root"}}})
    assert isinstance(err, KeyError)
    assert str(err.__cause__) == "inner" and str(err.__cause__.__cause__) == "root"
    forged = {"message": "x"}
    for _ in range(100):
        forged = {"message": "x", "cause": forged}
    depth, e = 0, rpc.make_error(forged)
    while e.__cause__ is not None:
        depth, e = depth + 1, e.__cause__
    assert depth <= 32


def test_module_error_classes(router):
    ffi.register_modules({"modules": [{"name": "zz_test_mod", "funcs": [], "async": [],
                                       "errors": {"Oops": "LookupError", "bad name": ""}}]})
    import sys
    mod = sys.modules.pop("zz_test_mod")
    assert issubclass(mod.Oops, LookupError) and mod.Oops.__module__ == "zz_test_mod"
    assert not hasattr(mod, "bad name")
    assert isinstance(rpc.make_error({"type": "zz_test_mod.Oops", "message": "m"}), mod.Oops)

"""A small CPU-bound suite, run the same way on native CPython and inside
wasipy's interpreters (bench/cpu/main.go). Each benchmark is timed with
time.perf_counter inside the interpreter, so start-up and the kernel are
not counted; the median of REPEAT runs is reported, after one warm-up run.

Run natively:  python3 bench/cpu/suite.py        (prints JSON)
"""

import json
import re
import statistics
import time
from decimal import Decimal, getcontext

REPEAT = 5


def loops():
    x = 0
    for i in range(1_000_000):
        x += i & 7
    return x


def calls():
    def f(a, b):
        return a + b

    x = 0
    for i in range(300_000):
        x = f(x, i)
    return x


def json_roundtrip():
    data = [{"id": i, "name": f"item{i}", "tags": ["a", "b"], "v": i * 0.5} for i in range(10_000)]
    return len(json.loads(json.dumps(data)))


WORDS = " ".join(f"user{i}@example{i % 13}.org and some words {i}" for i in range(5_000))
EMAIL = re.compile(r"(\w+)@(\w+)\.org")


def regex():
    return sum(1 for _ in EMAIL.finditer(WORDS)) + len(re.sub(r"\d+", "#", WORDS))


def formatting():
    out = []
    for i in range(100_000):
        out.append(f"{i:>8} {i * 1.5:.2f} {hex(i)}")
    return len("".join(out)) + len("%d-%s" % (1, "x") * 1000)


def dict_churn():
    d = {}
    s = set()
    for i in range(200_000):
        k = i % 5000
        d[k] = d.get(k, 0) + 1
        s.add(k * 3)
        if i % 7 == 0:
            s.discard(k)
    return len(d) + len(s)


def pysort():
    # A pure-Python merge sort: comparisons, slicing, appends.
    def msort(a):
        if len(a) <= 1:
            return a
        m = len(a) // 2
        left, right = msort(a[:m]), msort(a[m:])
        out = []
        i = j = 0
        while i < len(left) and j < len(right):
            if left[i] <= right[j]:
                out.append(left[i]); i += 1
            else:
                out.append(right[j]); j += 1
        out.extend(left[i:]); out.extend(right[j:])
        return out

    data = [(i * 7919) % 20011 for i in range(20_000)]
    return msort(data)[100]


def decimal_math():
    getcontext().prec = 30
    x = Decimal(0)
    for i in range(1, 30_000):
        x += Decimal(1) / Decimal(i)
    return str(x)[:10]


BENCHMARKS = [loops, calls, json_roundtrip, regex, formatting, dict_churn, pysort, decimal_math]


def run():
    results = {}
    for fn in BENCHMARKS:
        fn()  # warm-up
        times = []
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        results[fn.__name__] = statistics.median(times)
    return results


if __name__ == "__main__":
    print(json.dumps(run()))

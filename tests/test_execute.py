"""Running cells: IPython's cell semantics, execution counts, silent and
store_history, user_expressions, stop_on_error, error replies, real time and
randomness, and the sandbox (working directory, environment, files)."""

import os
import time
import uuid

import pytest

import harness
from harness import strip_ansi


@pytest.fixture(scope="module")
def k(shared_kernel):
    return shared_kernel


# ---- cell semantics --------------------------------------------------------------


def test_multi_statement_cell(k):
    r = k.ok("a = 2\nb = 3\nprint(a + b)\nfor i in range(2):\n    print('loop', i)\na * b * 10")
    assert r.stdout == "5\nloop 0\nloop 1\n"
    assert r.result_text() == "60"


def test_last_expression_is_out_n(k):
    r = k.ok("40 + 2")
    assert r.count >= 1
    [res] = r.results
    assert res["data"]["text/plain"] == "42"
    assert res["execution_count"] == r.count
    assert r.of_type("execute_input")[0]["content"]["execution_count"] == r.count
    # The result comes after execute_input and before idle.
    types = [m["msg_type"] for m in r.iopub]
    assert types == ["status", "execute_input", "execute_result", "status"], types


def test_only_the_last_expression_is_shown(k):
    r = k.ok("1\n2\n3")
    assert [x["data"]["text/plain"] for x in r.results] == ["3"]


@pytest.mark.parametrize("code", ["None", "x_none = None\nx_none", "print('p')", "y_assigned = 5", "def f(): pass",
                                  "import math", "[1] and None", "(lambda: None)()"])
def test_no_result_for_none_or_statements(k, code):
    r = k.ok(code)
    assert r.results == [], r.summary()


@pytest.mark.parametrize("code", ["1 + 1;", "x_semi = 3\nx_semi;", "1 + 1;  ", "1 + 1;\n", "1 + 1;  # comment"])
def test_trailing_semicolon_suppresses(k, code):
    r = k.ok(code)
    assert r.results == [], r.summary()


def test_semicolon_not_trailing_shows(k):
    assert k.value("x_mid = 7; x_mid") == "7"
    assert k.value("s_mid = ';'\ns_mid") == "';'"


def test_result_repr_of_containers_and_strings(k):
    assert k.value("'text'") == "'text'"
    assert k.value("{'a': 1}") == "{'a': 1}"
    assert k.value("list(range(3))") == "[0, 1, 2]"


def test_output_history(kernel):
    r1 = kernel.ok("10")
    r2 = kernel.ok("20")
    r3 = kernel.ok("30")
    n1, n2, n3 = r1.count, r2.count, r3.count
    assert (n2, n3) == (n1 + 1, n1 + 2)
    assert kernel.value("(_, __, ___)") == "(30, 20, 10)"
    assert kernel.value(f"(_{n1}, _{n2}, _{n3})") == "(10, 20, 30)"
    assert kernel.value(f"(Out[{n1}], Out[{n3}])") == "(10, 30)"
    assert kernel.value(f"In[{n2}]") == "'20'"
    # A cell without a result does not move the output history.
    kernel.value("'marker'")
    kernel.ok("no_result = 1")
    kernel.ok("print('printing is not a result')")
    assert kernel.value("_") == "'marker'"


def test_in_and_out_lists(kernel):
    codes = ["first = 1", "second = 2\nsecond"]
    counts = [kernel.ok(c).count for c in codes]
    r = kernel.ok("In")
    ins = eval(r.result_text())
    assert ins[0] == ""
    assert ins[counts[0]] == codes[0] and ins[counts[1]] == codes[1], ins
    assert kernel.value(f"Out[{counts[1]}]") == "2"
    assert kernel.eval(f"{counts[0]} in Out") is False


def test_input_history_variables(kernel):
    """As in IPython: _i is the previous cell's input, _ii the one before,
    _iN the input of cell N."""
    a = kernel.ok("'cell a'")
    b = kernel.ok("'cell b'")
    r = kernel.ok("(_i, _ii)")
    assert r.result_text() == "(\"'cell b'\", \"'cell a'\")"
    assert kernel.value(f"_i{a.count}") == repr("'cell a'")


# ---- execution counts, silent, store_history ------------------------------------


def test_execution_count_increments(kernel):
    a = kernel.ok("1")
    b = kernel.ok("print('x')")
    c = kernel.execute("1/0")
    d = kernel.ok("2")
    assert [b.count, c.count, d.count] == [a.count + 1, a.count + 2, a.count + 3]


def test_silent_does_not_count_or_publish(kernel):
    before = kernel.ok("'before'").count
    s = kernel.execute("silent_value = 41 + 1\nsilent_value", silent=True)
    assert s.status == "ok"
    assert s.of_type("execute_input") == [], s.summary()
    assert s.of_type("execute_result") == [], s.summary()
    assert [m["msg_type"] for m in s.iopub] == ["status", "status"], s.summary()
    # Silent results do not enter the output history.
    after = kernel.ok("_")
    assert after.count == before + 1
    assert after.result_text() == "'before'"
    assert kernel.value("silent_value") == "42"  # the silent cell did run


def test_store_history_false_does_not_count(kernel):
    before = kernel.ok("'before'").count
    r = kernel.execute("nostore = 5\nnostore * 2", store_history=False)
    assert r.status == "ok"
    assert r.result_text() == "10"  # not silent: the result is shown
    after = kernel.ok("nostore")
    assert after.count == before + 1
    assert kernel.eval("'nostore = 5\\nnostore * 2' in In") is False


def test_user_expressions(k):
    r = k.ok("ue_x = 20", user_expressions={"double": "ue_x * 2", "bad": "1/0", "name": "undefined_name_zz"})
    ue = r.reply["user_expressions"]
    assert set(ue) == {"double", "bad", "name"}
    assert ue["double"]["status"] == "ok"
    assert ue["double"]["data"]["text/plain"] == "40"
    assert "metadata" in ue["double"]
    assert ue["bad"]["status"] == "error"
    assert ue["bad"]["ename"] == "ZeroDivisionError"
    assert ue["bad"]["evalue"] == "division by zero"
    assert isinstance(ue["bad"]["traceback"], list)
    assert ue["name"]["status"] == "error" and ue["name"]["ename"] == "NameError"
    # user_expressions produce no execute_result of their own.
    assert r.results == []


def test_user_expressions_do_not_count(kernel):
    a = kernel.ok("ue_a = 1", user_expressions={"v": "ue_a + 1"})
    b = kernel.ok("ue_a")
    assert b.count == a.count + 1
    assert a.reply["user_expressions"]["v"]["data"]["text/plain"] == "2"


# ---- stop_on_error -----------------------------------------------------------------

SLOW_FAIL = "import time\ntime.sleep(1)\nraise ValueError('first fails')"


def test_stop_on_error_aborts_queued(kernel):
    ids = [kernel.execute_async(SLOW_FAIL),
           kernel.execute_async("print('second')\nsecond_ran = True"),
           kernel.execute_async("print('third')")]
    first, second, third = [kernel.collect(i) for i in ids]
    assert first.status == "error" and first.reply["ename"] == "ValueError"
    for r in (second, third):
        assert r.status == "aborted", r
        assert r.stdout == "", r.summary()
        assert r.of_type("execute_input") == [], r.summary()
        statuses = [m["content"]["execution_state"] for m in r.of_type("status")]
        assert statuses == ["busy", "idle"], r.summary()
    # Aborted cells did not run, and the kernel goes on afterwards.
    r = kernel.ok("'second_ran' in dir()")
    assert r.result_text() == "False"
    assert r.count == first.count + 1


def test_no_stop_on_error_runs_queued(kernel):
    ids = [kernel.execute_async(SLOW_FAIL, stop_on_error=False),
           kernel.execute_async("print('second')"),
           kernel.execute_async("print('third')")]
    first, second, third = [kernel.collect(i) for i in ids]
    assert first.status == "error"
    assert second.status == "ok" and second.stdout == "second\n"
    assert third.status == "ok" and third.stdout == "third\n"
    assert (second.count, third.count) == (first.count + 1, first.count + 2)


def test_abort_only_applies_to_the_queue_at_the_time(kernel):
    first = kernel.execute("raise RuntimeError('x')")
    assert first.status == "error"
    # Sent after the error reply: runs normally.
    assert kernel.ok("print('later')").stdout == "later\n"


# ---- errors ---------------------------------------------------------------------------


def _tb(r):
    return strip_ansi("\n".join(r.reply["traceback"]))


def test_error_reply_and_message(k):
    code = "def inner():\n    raise ValueError('boom ' + 'here')\n\ninner()"
    r = k.execute(code)
    assert r.status == "error"
    assert r.reply["ename"] == "ValueError"
    assert r.reply["evalue"] == "boom here"
    [err] = r.errors
    assert err["ename"] == "ValueError" and err["evalue"] == "boom here"
    assert err["traceback"] == r.reply["traceback"]
    tb = _tb(r)
    assert f"Cell In[{r.count}]" in tb, tb
    assert "raise ValueError('boom ' + 'here')" in tb, tb
    assert "inner()" in tb
    assert "line 2" in tb and "line 4" in tb, tb
    assert "/.wasipy/runtime" not in tb, tb
    assert "_wasipy" not in tb, tb
    assert "ValueError: boom here" in tb.splitlines()[-1] or tb.rstrip().endswith("ValueError: boom here"), tb
    # The error message comes before idle, and there is no result.
    assert r.results == []
    assert [m["msg_type"] for m in r.iopub] == ["status", "execute_input", "error", "status"]


def test_error_in_earlier_cell_function(k):
    k.ok("def helper_fails(x):\n    return 1 / x")
    r = k.execute("helper_fails(0)")
    assert r.reply["ename"] == "ZeroDivisionError"
    tb = _tb(r)
    assert "return 1 / x" in tb and "helper_fails(0)" in tb, tb
    assert tb.count("Cell In[") >= 2, tb
    assert "/.wasipy/runtime" not in tb


def test_error_from_stdlib_hides_kernel_frames(k):
    r = k.execute("import json\njson.loads('{')")
    assert r.reply["ename"] == "JSONDecodeError"
    tb = _tb(r)
    assert "json.loads('{')" in tb
    assert "/.wasipy/runtime" not in tb and "_wasipy" not in tb, tb


def test_error_in_repr_hides_kernel_frames(k):
    r = k.execute("class BadRepr:\n    def __repr__(self):\n        raise KeyError('r')\nBadRepr()")
    text = _tb(r) if r.status == "error" else r.stderr
    assert "/.wasipy/runtime" not in text and "_wasipy" not in text, r


def test_syntax_error_shows_line_and_caret(k):
    r = k.execute("a_ok = 1\nb_bad = = 2\nc = 3")
    assert r.status == "error"
    assert r.reply["ename"] == "SyntaxError"
    tb = _tb(r)
    lines = tb.splitlines()
    src = [i for i, l in enumerate(lines) if l.strip() == "b_bad = = 2"]
    assert src, tb
    caret = lines[src[0] + 1]
    assert caret.strip() and set(caret.strip()) <= {"^"}, tb
    # The caret points at the second '='.
    assert caret.index("^") == lines[src[0]].index("= 2"), tb
    assert "line 2" in tb
    assert "/.wasipy/runtime" not in tb and "<wasipy-input" not in tb, tb
    assert "<wasipy-input" not in r.reply["evalue"], r.reply


def test_indentation_error(k):
    r = k.execute("if True:\nprint('x')")
    assert r.reply["ename"] == "IndentationError"
    assert "print('x')" in _tb(r)


def test_name_error(k):
    r = k.execute("undefined_thing_123 + 1")
    assert r.reply["ename"] == "NameError"
    assert "undefined_thing_123" in r.reply["evalue"]


def test_system_exit_does_not_end_kernel(kernel):
    before = kernel.ok("keep_me = 'still here'")
    pid_tree = {p.pid for p in kernel.tree()}
    for code in ("raise SystemExit", "raise SystemExit(3)", "import sys; sys.exit('bye')"):
        r = kernel.execute(code)
        assert r.status == "error", r
        assert r.reply["ename"] == "SystemExit"
    # exit() asks the frontend to end the session, as in ipykernel; the
    # kernel itself stays.
    for code in ("exit()", "exit", "quit(keep_kernel=True)"):
        r = kernel.ok(code)
        keep = "keep_kernel" in code
        assert r.reply["payload"] == [{"source": "ask_exit", "keepkernel": keep}], r
        assert not r.results, r
    r = kernel.ok("keep_me")
    assert r.result_text() == "'still here'"
    assert r.count == before.count + 7
    assert {p.pid for p in kernel.tree()} == pid_tree, "the interpreter was replaced"


# ---- time and randomness ------------------------------------------------------------


def test_wall_clock(k):
    t0 = time.time()
    t = k.eval("__import__('time').time()")
    t1 = time.time()
    assert t0 - 5 <= t <= t1 + 5, (t0, t, t1)


def test_monotonic_clock_moves(k):
    a, b = k.eval("[__import__('time').monotonic(), sum(range(10000)), __import__('time').monotonic()][::2]")
    assert b > a


def test_sleep_sleeps(k):
    t0 = time.monotonic()
    r = k.ok("import time\nt0 = time.monotonic()\ntime.sleep(0.5)\nprint(time.monotonic() - t0)")
    elapsed_host = time.monotonic() - t0
    elapsed_guest = float(r.stdout)
    assert elapsed_guest >= 0.5, elapsed_guest
    assert elapsed_host >= 0.5, elapsed_host
    assert elapsed_guest < 10, elapsed_guest


def test_select_timeout_sleeps(k):
    t0 = time.monotonic()
    k.ok("import select\nselect.select([], [], [], 0.3)")
    assert time.monotonic() - t0 >= 0.3


def test_randomness_differs_between_starts(start_kernel):
    code = "import random, os\nprint(random.random(), os.urandom(8).hex(), random.getrandbits(64))"
    outs = [start_kernel().ok(code).stdout.split() for _ in range(2)]
    (r1, u1, b1), (r2, u2, b2) = outs
    assert r1 != r2, outs
    assert u1 != u2, outs
    assert b1 != b2, outs


def test_urandom_is_not_constant_within_a_kernel(k):
    a, b = k.eval("[__import__('os').urandom(16).hex() for _ in range(2)]")
    assert a != b


# ---- the sandbox: working directory, environment, files -------------------------------


def test_cwd_is_the_kernels_working_directory(kernel):
    assert kernel.eval("__import__('os').getcwd()") == os.path.realpath(kernel.cwd)


def test_relative_write_appears_on_host(kernel):
    name = f"written-{uuid.uuid4().hex}.txt"
    kernel.ok(f"with open({name!r}, 'w') as f:\n    f.write('from the guest\\n')")
    with open(os.path.join(kernel.cwd, name)) as f:
        assert f.read() == "from the guest\n"
    os.makedirs(os.path.join(kernel.cwd, "sub"))
    with open(os.path.join(kernel.cwd, "sub", "host.txt"), "w") as f:
        f.write("from the host")
    assert kernel.eval("open('sub/host.txt').read()") == "from the host"
    assert kernel.eval(f"sorted(__import__('os').listdir('.'))") == sorted([name, "sub"])
    # Absolute paths inside the working directory work too.
    assert kernel.eval(f"open({os.path.join(kernel.cwd, 'sub', 'host.txt')!r}).read()") == "from the host"


def test_environment_is_minimal(k):
    env = k.eval("dict(__import__('os').environ)")
    allowed = {"HOME", "LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONUNBUFFERED", "WASIPY_WORKDIR",
               "WASIPY_SITE"}
    assert set(env) <= allowed, set(env) - allowed
    # %pip's package folder, named by its path inside the guest, never the host's.
    assert env.get("WASIPY_SITE") in (None, "/.wasipy/site"), env.get("WASIPY_SITE")
    assert harness.HOST_MARKER_VAR not in env
    assert os.environ[harness.HOST_MARKER_VAR] not in repr(env)
    for host_var in ("PATH", "JUPYTER_PATH", "USER", "PWD", harness.SESSION_MARK_VAR):
        assert host_var not in env, host_var


HOST_PATHS = ["/etc/passwd", "/etc/hostname", "/proc/self/environ", "/usr/bin/env",
              os.path.join(harness.REPO, "tests", "harness.py"), "python.wasm", "kernel binary"]


@pytest.mark.parametrize("path", HOST_PATHS)
def test_host_files_are_not_visible(k, path):
    env = harness.setup_env()
    path = {"python.wasm": env["python_wasm"], "kernel binary": env["kernel"]}.get(path, path)
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist on this host")
    assert not path.startswith(k.cwd + "/")
    r = k.ok(f"import os\nprint(os.path.exists({path!r}))\ntry:\n    open({path!r}, 'rb').read(1)\n"
             f"except OSError as e:\n    print(type(e).__name__)\nelse:\n    print('READ')")
    exists, outcome = r.stdout.split()
    assert exists == "False", r.stdout
    assert outcome != "READ", r.stdout


def test_ancestors_of_the_working_directory_show_nothing_else(k):
    """The working directory is mounted at its host path; its ancestors show
    at most the way down to it, never the host's other files."""
    parts = k.cwd.strip("/").split("/")
    for depth in range(len(parts)):
        ancestor = "/" + "/".join(parts[:depth])
        allowed = {parts[depth], ".wasipy"}
        r = k.ok(f"import os\ntry:\n    print(sorted(os.listdir({ancestor!r})))\nexcept OSError as e:\n    print([])")
        listed = set(eval(r.stdout))
        assert listed <= allowed, f"the guest lists {sorted(listed - allowed)} in {ancestor}"


def test_outside_the_working_directory_is_not_visible(kernel):
    parent = os.path.dirname(kernel.cwd)
    secret = os.path.join(parent, f"outside-{uuid.uuid4().hex}.txt")
    with open(secret, "w") as f:
        f.write("secret")
    try:
        for path in (secret, "../" + os.path.basename(secret)):
            r = kernel.ok(f"try:\n    print(open({path!r}).read())\nexcept OSError as e:\n    print('denied', type(e).__name__)")
            assert r.stdout.startswith("denied"), (path, r.stdout)
        r = kernel.ok(f"try:\n    open('../escape.txt', 'w').write('x')\nexcept OSError as e:\n    print('denied')")
        assert r.stdout == "denied\n"
        assert not os.path.exists(os.path.join(parent, "escape.txt"))
        r = kernel.ok("import os\ntry:\n    os.symlink('/etc/passwd', 'link')\n    print(open('link').read()[:4])\n"
                      "except OSError as e:\n    print('denied')")
        assert r.stdout == "denied\n", r.stdout
    finally:
        os.unlink(secret)


def test_deep_recursion_traceback_is_collapsed(shared_kernel):
    """RecursionError shows one round of the cycle and a note, as IPython
    does, not a thousand frames (also for a -> b -> a cycles)."""
    for code in ("def rec_f(n):\n    return rec_f(n + 1)\nrec_f(0)",
                 "def rec_a(n):\n    return rec_b(n)\ndef rec_b(n):\n    return rec_a(n)\nrec_a(0)"):
        r = shared_kernel.execute(code)
        assert r.reply["ename"] == "RecursionError"
        text = harness.strip_ansi("\n".join(r.reply["traceback"]))
        assert "skipping similar frames" in text, text
        assert len(text) < 5000, len(text)
        assert "Cell In[" in text

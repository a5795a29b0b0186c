"""Jupyter's own kernel conformance suite (Debian's python3-jupyter-kernel-test)
run against the wasipy kernel.

`obj?` answers with a `page` payload, as ipykernel does (test_pager).
"""

import jupyter_kernel_test
from jupyter_client.manager import start_new_kernel

import harness


class WasipyKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = harness.KERNEL_NAME
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('oops', file=sys.stderr)"

    complete_code_samples = ["1", "print('hello')", "import sys", "x = 1\ny = 2"]
    incomplete_code_samples = ["for i in range(3):", "x = [1,", "def f(x):\n    return x", "print("]
    invalid_code_samples = ["import = 7", "1 +* 2", ")"]

    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[1, 2, 3]", "result": "[1, 2, 3]"},
    ]
    code_generate_error = "raise ValueError('boom')"

    completion_samples = [
        {"text": "pri", "matches": {"print"}},
        {"text": "impo", "matches": {"import"}},
        {"text": "ValueE", "matches": {"ValueError"}},
        {"text": "import jso", "matches": {"json"}},
        {"text": "from json import dum", "matches": {"dump", "dumps"}},
        {"text": "'hello'.upp", "matches": {"upper"}},
        {"text": "%pw", "matches": {"%pwd"}},
    ]
    code_inspect_sample = "print"
    code_page_something = "print?"

    code_display_data = [
        {"code": "from IPython.display import HTML, display; display(HTML('<b>hi</b>'))", "mime": "text/html"},
        {"code": "display('plain')", "mime": "text/plain"},
    ]
    code_clear_output = "from IPython.display import clear_output; clear_output()"

    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "1+2*"

    @classmethod
    def setUpClass(cls):
        harness.setup_env()
        cls.km, cls.kc = start_new_kernel(
            kernel_name=cls.kernel_name, startup_timeout=harness.START_TIMEOUT, cwd=harness.new_workdir()
        )

    @classmethod
    def tearDownClass(cls):
        procs = harness.process_tree(cls.km.provisioner.process.pid)
        super().tearDownClass()
        import psutil

        _, left = psutil.wait_procs(harness.alive(procs), timeout=15)
        left = harness.alive(left)
        assert not left, f"processes left after shutdown: {harness.describe(left)}"

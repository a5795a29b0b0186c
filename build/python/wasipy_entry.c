/*
 * wasipy_entry.c: the entry points of wasipy's python.wasm, a WASI
 * reactor rather than a command.
 *
 * A command runs main() from _start and never comes back while the
 * interpreter lives, so nothing can be captured between "initialised" and
 * "serving". A reactor hands control back: the worker calls
 *
 *   _initialize      wasi-libc's constructors (preopens, environ)
 *   wasipy_init      CPython initialised, the runtime imported and its
 *                    session built, no channel open: returns 0 or 1
 *   wasipy_serve     the session served until the host closes the channel
 *
 * and between wasipy_init and wasipy_serve the wasm call stack is empty, so
 * linear memory and the mutable globals are the whole state of the
 * interpreter. The worker can write them to an image and start later
 * kernels from it: a fresh instance, the image read into its memory, then
 * wasipy_serve(WASIPY_RESTORED, first session descriptor).
 *
 * wasipy_main runs the whole `python ARGS` command line (from WASI args),
 * for the worker's tasks that are not sessions (compiling the runtime).
 */
#include "Python.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

/* wasi-libc: run main(argc, argv) with WASI's arguments. */
int __main_void(void);
/* wasi-libc: forget and re-read the environment (WASI environ_get). */
void __wasilibc_deinitialize_environ(void);
void __wasilibc_initialize_environ(void);
/* wasi-libc: make a preopened directory known to path resolution. */
int __wasilibc_register_preopened_fd(int fd, const char *prefix);

/* The modes of wasipy_serve (the same numbers in worker/guest.go and the
 * runtime's _wasipy_kernel.serve). */
#define WASIPY_FRESH 0    /* the instance wasipy_init ran in */
#define WASIPY_RESTORED 1 /* a new instance holding an image's memory */
#define WASIPY_CONTINUE 2 /* the same instance, after an image was taken mid-session */

/* Where the worker mounts the runtime (worker.RuntimeGuestDir). */
#define RUNTIME_DIR "/.wasipy/runtime"

__attribute__((export_name("wasipy_main"))) int wasipy_main(void) { return __main_void(); }

/* sys.exit() and uncaught exceptions end the process as `python -c` would:
 * PyErr_Print handles SystemExit by exiting with its code. */
static int fail(void) {
    PyErr_Print();
    return 1;
}

__attribute__((export_name("wasipy_init"))) int wasipy_init(void) {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    /* As `python -u -s`: unbuffered output (the host streams it as it
     * comes), no user site folder (HOME is the notebook folder). */
    config.buffered_stdio = 0;
    config.user_site_directory = 0;
    config.parse_argv = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, "python");
    if (!PyStatus_Exception(status)) {
        status = Py_InitializeFromConfig(&config);
    }
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        Py_ExitStatusException(status);
    }
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    PyObject *dir = PyUnicode_FromString(RUNTIME_DIR);
    if (path == NULL || dir == NULL || PyList_Insert(path, 0, dir) < 0) {
        Py_XDECREF(dir);
        return fail();
    }
    Py_DECREF(dir);
    PyObject *kernel = PyImport_ImportModule("_wasipy_kernel");
    if (kernel == NULL) {
        return fail();
    }
    PyObject *r = PyObject_CallMethod(kernel, "prepare", NULL);
    Py_DECREF(kernel);
    if (r == NULL) {
        return fail();
    }
    Py_DECREF(r);
    return 0;
}

/* Registers the preopened directories from fd on: the mounts of this
 * session, which the instance the image was taken in did not have. */
static void register_preopens(int fd) {
    for (;; fd++) {
        __wasi_prestat_t prestat;
        if (__wasi_fd_prestat_get(fd, &prestat) != 0) {
            return; /* EBADF: past the last preopen */
        }
        if (prestat.tag != __WASI_PREOPENTYPE_DIR) {
            continue;
        }
        size_t len = prestat.u.dir.pr_name_len;
        char *name = malloc(len + 1);
        if (name == NULL) {
            return;
        }
        if (__wasi_fd_prestat_dir_name(fd, (uint8_t *)name, len) == 0) {
            name[len] = '\0';
            __wasilibc_register_preopened_fd(fd, name); /* keeps its own copy */
        }
        free(name);
    }
}

/* The environment of this instance, as a dict of str (what os.environ
 * holds): the image's os.environ is the prepared instance's. */
static PyObject *environ_dict(void) {
    extern char **environ;
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL || eq == *e) {
            continue;
        }
        PyObject *k = PyUnicode_DecodeFSDefaultAndSize(*e, eq - *e);
        PyObject *v = PyUnicode_DecodeFSDefault(eq + 1);
        if (k == NULL || v == NULL || PyDict_SetItem(d, k, v) < 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    return d;
}

/* Serves the session: returns 0 when the host closed the channel, or the
 * runtime's own code (2: take an image now, then call again with
 * WASIPY_CONTINUE). */
__attribute__((export_name("wasipy_serve"))) int wasipy_serve(int mode, int first_session_fd) {
    PyObject *env = Py_None;
    Py_INCREF(env);
    if (mode == WASIPY_RESTORED) {
        __wasilibc_deinitialize_environ();
        __wasilibc_initialize_environ();
        register_preopens(first_session_fd);
        Py_DECREF(env);
        env = environ_dict();
        if (env == NULL) {
            return fail();
        }
    }
    PyObject *kernel = PyImport_ImportModule("_wasipy_kernel");
    if (kernel == NULL) {
        Py_DECREF(env);
        return fail();
    }
    PyObject *r = PyObject_CallMethod(kernel, "serve", "iO", mode, env);
    Py_DECREF(kernel);
    Py_DECREF(env);
    if (r == NULL) {
        return fail();
    }
    long code = PyLong_Check(r) ? PyLong_AsLong(r) : 0;
    Py_DECREF(r);
    return (int)code;
}

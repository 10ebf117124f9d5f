/* The interpreter-facing side of CPython support, which needs the C-API
 * and so runs only where the interpreter allows it, never inside malloc:
 *
 *  - before the interpreter starts (library constructor): PYTHONMALLOC and
 *    the built-in `memwatch` module (PyImport_AppendInittab);
 *  - once it is initialized, from the recorder thread: Py_AddPendingCall,
 *    which needs no thread state, queues setup() for the main thread at a
 *    safe point of the evaluation loop (GIL held).  setup() registers the
 *    atexit callback that takes the exit snapshot after the main script has
 *    finished and before the interpreter tears its objects down.  Pending
 *    calls also run in Py_FinalizeEx before atexit callbacks, so a script
 *    that ends at once still gets its callback.
 *
 * The few C-API types used are defined here with their stable-ABI layouts;
 * libpython is never linked: every function comes from dlsym. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mw.h"
#include "platform.h"
#include "python.h"

typedef struct py_object {
    intptr_t ob_refcnt;
    void *ob_type;
} PyObject;

typedef PyObject *(*py_cfunction)(PyObject *, PyObject *);

struct py_method_def {
    const char *ml_name;
    py_cfunction ml_meth;
    int ml_flags;
    const char *ml_doc;
};

struct py_module_def {
    PyObject ob_base; /* PyModuleDef_Base */
    PyObject *(*m_init)(void);
    intptr_t m_index;
    PyObject *m_copy;
    const char *m_name;
    const char *m_doc;
    intptr_t m_size;
    struct py_method_def *m_methods;
    void *m_slots, *m_traverse, *m_clear, *m_free;
};

enum { METH_VARARGS = 1, METH_KEYWORDS = 2, METH_NOARGS = 4 };
#define PYTHON_API_VERSION 1013
/* Static objects we hand to the interpreter are never deallocated. */
#define STATIC_REFCNT 0x3fffffff

static struct {
    int version;
    int set_pythonmalloc; /* we set it: hide it from the program afterwards */
    _Atomic int pending_added;
    _Atomic uint64_t retry_ns; /* setup() asked to be queued again after this */
    uint64_t first_poll_ns;
    int done_atexit; /* setup(): the exit snapshot is registered */
    char objects[192];

    PyObject *(*module_create)(struct py_module_def *, int);
    PyObject *(*cfunction_new)(struct py_method_def *, PyObject *, PyObject *);
    PyObject *(*import)(const char *);
    PyObject *(*call_method)(PyObject *, const char *, const char *, ...);
    PyObject *(*getattr)(PyObject *, const char *);
    PyObject *(*sys_get)(const char *);
    int (*is_true)(PyObject *);
    void (*decref)(PyObject *);
    void (*incref)(PyObject *);
    void (*err_clear)(void);
    PyObject *(*err_occurred)(void);
    int (*err_matches)(PyObject *);
    PyObject *(*err_set_errno)(PyObject *, const char *);
    void (*err_set_string)(PyObject *, const char *);
    int (*parse)(PyObject *, PyObject *, const char *, char **, ...);
    PyObject *(*build)(const char *, ...);
    PyObject *(*from_bool)(long);
    PyObject *(*decode_fs)(const char *);
    void *(*save_thread)(void);
    void (*restore_thread)(void *);
    int (*add_pending)(int (*)(void *), void *);
    /* 3.12 only: _PyEval_AddPendingCall(interp, func, arg, mainthreadonly). */
    int (*add_pending_interp)(void *, int (*)(void *), void *, int);
    void *(*interp_main)(void);
    int (*append_inittab)(const char *, PyObject *(*)(void));
    void *(*interp_head)(void);
    PyObject **exc_oserror;
    PyObject **exc_runtime;
    PyObject **exc_exception;
    PyObject *none;
} api;

#define LOAD(field, name) (api.field = (__typeof__(api.field))dlsym(RTLD_DEFAULT, name))

/* ---- the `memwatch` module ---- */

static PyObject *py_snapshot(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "path", NULL };
    const char *path = NULL;
    char written[MW_PATH_MAX];
    (void)self;
    if (!api.parse(args, kwargs, "|z:snapshot", kwlist, &path))
        return NULL;
    /* The recorder never needs the GIL: let other threads run. */
    void *ts = api.save_thread();
    int r = mw_recorder_snapshot(MW_TRIGGER_API, path, written, sizeof written);
    api.restore_thread(ts);
    if (r == -EPERM) {
        api.err_set_string(*api.exc_runtime, "memwatch is not recording in this process");
        return NULL;
    }
    if (r) {
        errno = -r;
        return api.err_set_errno(*api.exc_oserror, path ? path : "snapshot");
    }
    return api.decode_fs(written);
}

static PyObject *py_get_traced_memory(PyObject *self, PyObject *unused)
{
    uint64_t live = 0, peak = 0;
    (void)self;
    (void)unused;
    void *ts = api.save_thread();
    int r = mw_recorder_memory(&live, &peak);
    api.restore_thread(ts);
    if (r)
        live = peak = 0; /* as tracemalloc when not tracing */
    return api.build("(KK)", (unsigned long long)live, (unsigned long long)peak);
}

static PyObject *py_is_tracing(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return api.from_bool(atomic_load(&mw_g.active) != 0);
}

static struct py_method_def module_methods[] = {
    { "snapshot", (py_cfunction)(void (*)(void))py_snapshot, METH_VARARGS | METH_KEYWORDS,
      "snapshot(path=None) -> str\n\nWrite a snapshot of the live allocations now and "
      "return the file's name.  path=None uses the next name from MEMWATCH_OUTPUT." },
    { "get_traced_memory", py_get_traced_memory, METH_NOARGS,
      "get_traced_memory() -> (current, peak)\n\nLive and peak bytes of traced "
      "allocations, like tracemalloc.get_traced_memory()." },
    { "is_tracing", py_is_tracing, METH_NOARGS,
      "is_tracing() -> bool\n\nTrue while memwatch records this process." },
    { NULL, NULL, 0, NULL },
};

static struct py_module_def module_def = {
    .ob_base = { STATIC_REFCNT, NULL },
    .m_name = "memwatch",
    .m_doc = "Control of the memwatch memory profiler from inside a profiled process.\n\n"
             "Present only when the process runs under memwatch "
             "(memwatch run, or LD_PRELOAD=libmemwatch.so).",
    .m_size = -1,
    .m_methods = module_methods,
};

static PyObject *init_module(void)
{
    return api.module_create(&module_def, PYTHON_API_VERSION);
}

/* ---- atexit and the safe-point set-up ---- */

static PyObject *on_python_exit(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    mw_recorder_snapshot(MW_TRIGGER_PYTHON_EXIT, NULL, NULL, 0);
    atomic_store(&mw_py_exit_snapshot_taken, 1);
    api.incref(api.none);
    return api.none;
}

static struct py_method_def exit_def = { "_memwatch_exit_snapshot", on_python_exit, METH_NOARGS,
                                         NULL };

static void release(PyObject *o)
{
    if (o)
        api.decref(o);
}

/* setup() again after delay_ns: asked from setup() itself (the recorder
 * queues it once pending_added is 0 again). */
static void setup_later(uint64_t delay_ns)
{
    atomic_store(&api.retry_ns, mw_os_now_ns() + delay_ns);
    atomic_store(&api.pending_added, 0);
}

/* After a step of setup(): 0 when it may go on (its own errors are
 * cleared: they only mean the step is skipped), -1 when the program's
 * own exception was raised meanwhile.  The work runs Python code (an
 * import, os.environ.pop), where the interpreter also runs signal
 * handlers: a KeyboardInterrupt (or SystemExit) raised there belongs to
 * the program and must reach it, as if memwatch had not been there. */
static int step_done(void)
{
    if (api.err_occurred() && !api.err_matches(*api.exc_exception))
        return -1;
    api.err_clear();
    return 0;
}

/* A Python thread (the main one; on 3.12 possibly another), GIL held, at
 * a safe point of the evaluation loop, which may still be in the middle
 * of an import: then wait for a later one.  Each step is done once; when
 * the program's exception interrupts one, it is handed on (-1 raises it
 * where the thread was) and the remaining steps run later. */
static int setup(void *arg)
{
    (void)arg;
    if (mw_py_importing()) {
        setup_later(2000000);
        return 0;
    }
    /* What this allocates is memwatch's, not the line the interrupted
     * thread was on: not recorded (its frees still are). */
    unsigned saved = mw_tls;
    int rc = 0;
    mw_tls |= MW_TLS_HOOK;
    if (!api.done_atexit) {
        PyObject *atexit = api.import("atexit");
        PyObject *fn = atexit ? api.cfunction_new(&exit_def, NULL, NULL) : NULL;
        PyObject *r = fn ? api.call_method(atexit, "register", "O", fn) : NULL;
        release(r);
        release(fn);
        release(atexit);
        if ((rc = step_done()) != 0)
            goto out;
        if (!r && mw_cfg.verbose)
            mw_os_warn("could not register the Python exit snapshot");
        api.done_atexit = 1;
    }

    PyObject *flags = api.sys_get("flags"); /* borrowed */
    PyObject *ignore = flags ? api.getattr(flags, "ignore_environment") : NULL;
    if (ignore && api.is_true(ignore) && api.set_pythonmalloc)
        mw_fmt(api.objects, sizeof api.objects,
               "pymalloc (python -E or -I ignores PYTHONMALLOC): objects of 512 bytes and "
               "less are not seen");
    release(ignore);
    api.err_clear();

    if (api.set_pythonmalloc) {
        /* Python read it while starting; hide it again, so the program and
         * the programs it starts see the environment they were given. */
        PyObject *os = api.import("os");
        PyObject *environ = os ? api.getattr(os, "environ") : NULL;
        PyObject *gone = environ ? api.call_method(environ, "pop", "sO", "PYTHONMALLOC", api.none)
                                 : NULL;
        release(gone);
        release(environ);
        release(os);
        if ((rc = step_done()) != 0)
            goto out;
        unsetenv("PYTHONMALLOC");
    }
out:
    if (rc)
        setup_later(0); /* at the recorder's next poll, once the exception is on its way */
    mw_tls = saved;
    return rc;
}

/* Queue setup() for the interpreter's next safe point.  CPython 3.12
 * puts a Py_AddPendingCall() made from a thread other than the main one
 * in a main-thread queue that it only looks at when its interpreter's own
 * queue is signalled too, in practice at finalization; 3.12's internal
 * _PyEval_AddPendingCall() can use the interpreter's queue, which the main
 * thread runs at its next periodic check (a garbage collection being due,
 * a GIL switch). */
static void add_pending_call(void)
{
    void *main_interp = api.add_pending_interp ? api.interp_main() : NULL;
    if (!main_interp || api.add_pending_interp(main_interp, setup, NULL, 0) != 0)
        api.add_pending(setup, NULL);
}

void mw_py_poll(void)
{
    /* Frames can be read once the main interpreter exists: its creation
     * follows the creation of the thread-state key PyGILState reads (read
     * earlier, that key's index could be another library's). */
    int alive = api.interp_head() != NULL;
    int ready = atomic_load_explicit(&mw_py.ready, memory_order_relaxed);
    if (alive != ready)
        atomic_store_explicit(&mw_py.ready, alive, memory_order_release);
    int expected = 0;
    if (alive && mw_py.is_initialized() && api.add_pending &&
        mw_os_now_ns() >= atomic_load(&api.retry_ns) &&
        atomic_compare_exchange_strong(&api.pending_added, &expected, 1))
        add_pending_call();
}

int mw_py_poll_possible(void)
{
    return api.add_pending != NULL;
}

int mw_py_waiting(void)
{
    return mw_py_code_type && (!atomic_load_explicit(&mw_py.ready, memory_order_relaxed) ||
                               !atomic_load(&api.pending_added));
}

void mw_py_api_init(int version, int frames_on)
{
    api.version = version;
    LOAD(module_create, "PyModule_Create2");
    LOAD(cfunction_new, "PyCFunction_NewEx");
    LOAD(import, "PyImport_ImportModule");
    LOAD(call_method, "PyObject_CallMethod");
    LOAD(getattr, "PyObject_GetAttrString");
    LOAD(sys_get, "PySys_GetObject");
    LOAD(is_true, "PyObject_IsTrue");
    LOAD(decref, "Py_DecRef");
    LOAD(incref, "Py_IncRef");
    LOAD(err_clear, "PyErr_Clear");
    LOAD(err_set_errno, "PyErr_SetFromErrnoWithFilename");
    LOAD(err_set_string, "PyErr_SetString");
    LOAD(parse, "PyArg_ParseTupleAndKeywords");
    LOAD(build, "Py_BuildValue");
    LOAD(from_bool, "PyBool_FromLong");
    LOAD(decode_fs, "PyUnicode_DecodeFSDefault");
    LOAD(save_thread, "PyEval_SaveThread");
    LOAD(restore_thread, "PyEval_RestoreThread");
    LOAD(add_pending, "Py_AddPendingCall");
    LOAD(append_inittab, "PyImport_AppendInittab");
    LOAD(interp_head, "PyInterpreterState_Head");
    if (version == 312) {
        LOAD(add_pending_interp, "_PyEval_AddPendingCall");
        LOAD(interp_main, "PyInterpreterState_Main");
        if (!api.interp_main)
            api.add_pending_interp = NULL;
    }
    LOAD(exc_oserror, "PyExc_OSError");
    LOAD(exc_runtime, "PyExc_RuntimeError");
    LOAD(exc_exception, "PyExc_Exception");
    LOAD(err_occurred, "PyErr_Occurred");
    LOAD(err_matches, "PyErr_ExceptionMatches");
    api.none = dlsym(RTLD_DEFAULT, "_Py_NoneStruct");
    int complete = api.module_create && api.cfunction_new && api.import && api.call_method &&
                   api.getattr && api.sys_get && api.is_true && api.decref && api.incref &&
                   api.err_clear && api.err_set_errno && api.err_set_string && api.parse &&
                   api.build && api.from_bool && api.decode_fs && api.save_thread &&
                   api.restore_thread && api.add_pending && api.append_inittab && api.interp_head &&
                   api.exc_oserror && api.exc_runtime && api.exc_exception &&
                   api.err_occurred && api.err_matches && api.none;
    if (mw_py.free_threaded)
        mw_fmt(api.objects, sizeof api.objects,
               "mimalloc (free-threaded build): objects are not seen");
    if (!complete || mw_py.free_threaded) {
        api.add_pending = NULL; /* nothing to do at a safe point */
        return;
    }
    api.first_poll_ns = mw_os_now_ns();

    /* Every Python object allocation through malloc, where the hooks see
     * it: pymalloc would serve objects of 512 bytes and less from its own
     * arenas.  A user's own PYTHONMALLOC is respected. */
    const char *pm = getenv("PYTHONMALLOC");
    if (!frames_on) {
        /* Python's own allocators, untouched. */
    } else if (!pm || !*pm) {
        setenv("PYTHONMALLOC", "malloc", 1);
        api.set_pythonmalloc = 1;
        mw_fmt(api.objects, sizeof api.objects, "malloc (PYTHONMALLOC=malloc set by memwatch)");
    } else if (strcmp(pm, "malloc") == 0 || strcmp(pm, "malloc_debug") == 0) {
        mw_fmt(api.objects, sizeof api.objects, "malloc (PYTHONMALLOC=%s set by the user)", pm);
    } else {
        mw_fmt(api.objects, sizeof api.objects,
               "%s (PYTHONMALLOC=%s set by the user): objects of 512 bytes and less are not "
               "seen",
               pm, pm);
    }
    /* The `memwatch` module, built in, so `import memwatch` works with
     * nothing installed.  Allowed before Py_Initialize on every version. */
    api.append_inittab("memwatch", init_module);
}

const char *mw_py_objects(void)
{
    return api.objects;
}

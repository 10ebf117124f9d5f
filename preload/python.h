/* Shared between python.c (frames, on the allocation path) and
 * python_api.c (the interpreter-facing side, at safe points). */
#ifndef MEMWATCH_PYTHON_H
#define MEMWATCH_PYTHON_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Byte offsets in the interpreter's structures for one CPython version. */
struct mw_py_layout {
    int version;            /* major*100+minor; 0 = no Python frames */
    size_t ts_frame;        /* thread state: frame (<=3.10), cframe (3.11, 3.12),
                               current_frame (3.13) */
    size_t cframe_current;  /* _PyCFrame: current_frame (3.11, 3.12) */
    size_t f_back;          /* frame: f_back / previous */
    size_t f_code;          /* frame: f_code / f_executable */
    size_t f_instr;         /* frame: f_lasti / prev_instr / instr_ptr */
    size_t owner;           /* frame: owner (3.11+) */
    size_t is_entry;        /* frame: is_entry (3.11 only) */
    size_t code_start;      /* code: co_code_adaptive (3.11+) */
    size_t firsttraceable;  /* code: _co_firsttraceable (3.11+) */
    size_t co_filename, co_name, co_qualname, co_firstlineno, co_linetable;
    size_t ascii_size, compact_size; /* sizeof PyASCIIObject, PyCompactUnicodeObject */
};

struct mw_py {
    struct mw_py_layout layout;
    int free_threaded;
    void *(*get_tstate)(void);   /* PyGILState_GetThisThreadState */
    int (*is_initialized)(void); /* Py_IsInitialized */
    uintptr_t eval_lo, eval_hi;  /* _PyEval_EvalFrameDefault */
    /* Set by the recorder once the interpreter is initialized: before
     * that, the thread-state key PyGILState_GetThisThreadState reads may
     * not exist yet. */
    _Atomic int ready;
};

extern struct mw_py mw_py __attribute__((visibility("hidden")));

/* python_api.c: called by mw_py_init for a supported interpreter, before
 * it starts: PYTHONMALLOC (when frames_on) and the built-in module. */
void mw_py_api_init(int version, int frames_on) __attribute__((visibility("hidden")));
/* 1 when the calling thread (holding the GIL) is inside the import
 * machinery: importing from there would corrupt importlib's lock
 * bookkeeping, so the safe-point work waits. */
int mw_py_importing(void) __attribute__((visibility("hidden")));
/* 1 when every C-API function the safe-point work needs was found. */
int mw_py_poll_possible(void) __attribute__((visibility("hidden")));

#endif /* MEMWATCH_PYTHON_H */

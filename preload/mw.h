/* Internal contract of the preloaded library: the state every room shares,
 * the call-stack record, and the functions each room offers the others.
 * Public names live in include/memwatch/; everything here is hidden. */
#ifndef MEMWATCH_MW_H
#define MEMWATCH_MW_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena.h"
#include "codec.h"
#include "ring.h"

#define MW_HIDDEN __attribute__((visibility("hidden")))
#define MW_LIKELY(x) __builtin_expect(!!(x), 1)
#define MW_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Bounds of the capture buffer (on the C stack of the allocating thread). */
#define MW_MAX_NATIVE_DEPTH 128
#define MW_MAX_PYTHON_DEPTH 192
#define MW_MAX_WORDS 512
#define MW_PATH_MAX 4096

/* ---- config.c: settings from the environment, read once at start ---- */
struct mw_config {
    int disabled;           /* MEMWATCH_DISABLE=1, or a setuid program */
    const char *disabled_why;
    char output[MW_PATH_MAX]; /* absolute file name pattern, %p and %n */
    char manifest[MW_PATH_MAX]; /* MEMWATCH_MANIFEST: list of files written */
    uint64_t interval_ns;   /* MEMWATCH_INTERVAL; 0 = off */
    int signal;             /* MEMWATCH_SIGNAL; 0 = off */
    int native_depth;       /* MEMWATCH_NATIVE_DEPTH */
    int native_mixed;       /* MEMWATCH_NATIVE=1: native frames in Python */
    int python;             /* MEMWATCH_PYTHON (default on) */
    int python_depth;       /* MEMWATCH_PYTHON_DEPTH */
    int verbose;            /* MEMWATCH_VERBOSE=1 */
    uint64_t ring_slots;
};

extern struct mw_config mw_cfg MW_HIDDEN;

/* Parse the environment into mw_cfg; warns once per invalid value. */
void mw_config_load(void) MW_HIDDEN;

/* ---- shared state ---- */

/* Per-thread state bits (initial-exec TLS: no allocation on first use). */
enum {
    MW_TLS_HOOK = 1,     /* inside an allocation hook: nested calls pass through */
    MW_TLS_RECORDER = 2, /* the recorder thread: never records */
    MW_TLS_PUSH = 4,     /* inside a ring begin/commit */
};
extern __thread unsigned mw_tls MW_HIDDEN __attribute__((tls_model("initial-exec")));

struct mw_global {
    _Atomic int active;        /* recording: hooks push events */
    struct mw_rings rings;
    struct mw_arena arena;     /* stacks and code records */
    struct mw_itable stacks;
    uintptr_t self_lo, self_hi; /* libmemwatch.so's mapped range */
    uint64_t start_ns;          /* CLOCK_REALTIME at start */
    pid_t pid;                  /* the process the recorder belongs to */
};

extern struct mw_global mw_g MW_HIDDEN;

/* ---- stacks.c: call stacks ---- */

/* Words of a stack key: a native frame is its address (bit 63 clear); a
 * Python frame is two words, MW_PYTAG|code object address, then
 * generation << 32 | instruction byte offset. */
#define MW_PYTAG (1ULL << 63)

struct mw_code;

/* A distinct call stack, interned once per process.  Immutable once
 * published: producers read it on every allocation. */
struct mw_stack {
    uint64_t hash;
    uint32_t nwords;
    uint16_t npy;       /* Python frames; code records follow the words */
    uint16_t flags;
    uint64_t words[];    /* nwords key words, then npy struct mw_code * */
};

/* The recorder's running totals of a stack.  They live on their own cache
 * line just before the stack record: the recorder writes them on every
 * event, and sharing a line with the hash and frames that producers compare
 * would make every lookup miss. */
struct mw_totals {
    uint64_t live_bytes;
    uint64_t live_count;
    uint64_t total_bytes;
    uint64_t total_count;
    uint32_t site_index; /* position in the recorder's site list, +1 */
    uint32_t pad;
    uint64_t pad2[3];
};

_Static_assert(sizeof(struct mw_totals) == 64, "one cache line");

static inline struct mw_totals *mw_totals(struct mw_stack *s)
{
    return (struct mw_totals *)(void *)((char *)s - sizeof(struct mw_totals));
}

int mw_stacks_init(void) MW_HIDDEN;
/* The calling thread's stack, interned.  Called by the hooks with
 * MW_TLS_HOOK set.  Never NULL: falls back to mw_stack_lost. */
struct mw_stack *mw_stack_capture(void) MW_HIDDEN;
/* Stand-in record for stacks that could not be stored (arena exhausted). */
extern struct mw_stack *const mw_stack_lost MW_HIDDEN;
/* Native frames of the caller, skipping libmemwatch.so's own frames;
 * returns the number of addresses stored. */
int mw_native_capture(uint64_t *ips, int max) MW_HIDDEN;

/* ---- unwind.c: the cached CFI unwinder ---- */

/* Return addresses of the calling thread's stack, most recent first,
 * starting with mw_unwind's caller and dropping the first `skip`.  Stops
 * at the outermost frame or at a frame it cannot follow.  Lock-free and
 * allocation-free once its cache is warm. */
int mw_unwind(uint64_t *ips, int max, int skip) MW_HIDDEN;

/* ---- python.c: CPython frames ---- */

/* What a Python code object looked like while it ran; never freed. */
struct mw_code {
    uint64_t hash;      /* of (addr, gen): the interning key */
    uint64_t addr;
    uint64_t gen;
    uint32_t id;        /* dense, process-wide, written to snapshots */
    int32_t firstlineno;
    uint16_t py_version; /* major*100+minor: selects the line table format */
    uint16_t pad;
    uint32_t filename_len, name_len, qualname_len, linetable_len;
    uint64_t mark;       /* recorder-owned: last snapshot that listed it */
    uint8_t data[];      /* filename, name, qualname, linetable */
};

/* Address of PyCode_Type when the process runs a supported CPython with
 * Python frames on, else NULL.  The free hook compares the type word of
 * every freed block with it (see mw_py_code_freed). */
extern void *mw_py_code_type MW_HIDDEN;

/* Detect CPython at start (constructor); may set PYTHONMALLOC. */
void mw_py_init(void) MW_HIDDEN;
/* Called by the recorder thread while it polls: registers the atexit
 * snapshot at a safe point once the interpreter is initialized. */
void mw_py_poll(void) MW_HIDDEN;
/* 1 while Python frames are on but the interpreter is not initialized yet
 * (or the safe-point work is still to be done): the recorder then polls
 * often, so the script's first lines have frames. */
int mw_py_waiting(void) MW_HIDDEN;
/* Python frames of the calling thread as key words, most recent first;
 * returns the number of words (0: no Python frames). */
int mw_py_capture(uint64_t *words, int max_words) MW_HIDDEN;
/* Mixed stack (MEMWATCH_NATIVE=1): native frames with each run of
 * interpreter frames replaced by the Python frames it executes. */
int mw_py_capture_mixed(uint64_t *words, int max_words) MW_HIDDEN;
/* The code record for the Python frame (words[0], words[1]); NULL when it
 * could not be read.  Only called for a frame of the calling thread's
 * current stack, while its code object is alive. */
struct mw_code *mw_py_code(const uint64_t *pair) MW_HIDDEN;
/* The free hook saw a code object being freed. */
void mw_py_code_freed(void *code) MW_HIDDEN;
/* An address inside the interpreter's module (0 when not Python), so the
 * snapshot can flag that module. */
extern uintptr_t mw_py_interp_addr MW_HIDDEN;
/* Text for snapshots: Python support state, version, objects seen. */
const char *mw_py_state(void) MW_HIDDEN;
const char *mw_py_version(void) MW_HIDDEN;
const char *mw_py_objects(void) MW_HIDDEN;
/* The process is CPython at exit time: python-exit snapshot taken already. */
extern _Atomic int mw_py_exit_snapshot_taken MW_HIDDEN;

/* ---- recorder.c ---- */

enum mw_trigger {
    MW_TRIGGER_EXIT,
    MW_TRIGGER_PYTHON_EXIT,
    MW_TRIGGER_SIGNAL,
    MW_TRIGGER_INTERVAL,
    MW_TRIGGER_API,
};

/* Set up the event rings (before any hook records). */
int mw_recorder_init_rings(void) MW_HIDDEN;
int mw_recorder_start(void) MW_HIDDEN;
/* Take a snapshot including every event claimed before the call; waits for
 * it.  path NULL: next name from the pattern.  Returns 0 or -errno. */
int mw_recorder_snapshot(enum mw_trigger trigger, const char *path,
                         char *written, size_t written_size) MW_HIDDEN;
/* Exact live and peak bytes as of the call. */
int mw_recorder_memory(uint64_t *live, uint64_t *peak) MW_HIDDEN;
/* Async-signal-safe: ask for a snapshot from a signal handler. */
void mw_recorder_signal(void) MW_HIDDEN;
void mw_recorder_fork_prepare(void) MW_HIDDEN;
void mw_recorder_fork_parent(void) MW_HIDDEN;
void mw_recorder_fork_child(void) MW_HIDDEN;
/* Process exit: the last snapshot, then recording stops.  may_block is 0
 * from _exit(), which signal handlers call: never wait for a lock then. */
void mw_recorder_exit(int may_block) MW_HIDDEN;

/* ---- snapshot_write.c ---- */

/* Everything the recorder knows, for the writer. */
struct mw_snapshot_view {
    enum mw_trigger trigger;
    uint64_t seq;
    uint64_t live_bytes, live_blocks, peak_bytes;
    uint64_t total_bytes, total_allocs, total_frees, unknown_frees;
    uint64_t events, ring_waits, ring_wait_ns;
    struct mw_stack *const *sites;
    size_t nsites;
};

/* Encode the snapshot into memory from mmap; *out and *len receive it, to be
 * released with mw_snapshot_free.  Returns 0 or -errno. */
int mw_snapshot_encode(const struct mw_snapshot_view *v, uint8_t **out,
                       size_t *len, size_t *cap) MW_HIDDEN;
void mw_snapshot_free(uint8_t *data, size_t cap) MW_HIDDEN;
/* Write the file for `path` through a temporary name; never replaces an
 * existing file (another name is chosen and stored in final_path). */
int mw_snapshot_store(const char *path, const uint8_t *data, size_t len,
                      char *final_path, size_t final_size) MW_HIDDEN;
/* Expand the output pattern for sequence number seq. */
void mw_snapshot_path(uint64_t seq, char *out, size_t size) MW_HIDDEN;

#endif /* MEMWATCH_MW_H */

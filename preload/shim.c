/* The interposed allocator entry points and the re-entrancy guard.
 *
 * Every function forwards to the next allocator in the lookup order
 * (glibc's, or jemalloc/tcmalloc when preloaded after us), found with
 * dlsym(RTLD_NEXT).  Around the real call it records an event:
 *   - a free before the real free, an allocation after the real one
 *     returns, so the recorder never sees an address reused before it was
 *     freed (see ring.c for why ring order then matches);
 *   - realloc in two steps (BEGIN before, END after), so a failed realloc
 *     gives the block back unchanged.
 * The recording path takes no lock, makes no system call (unless the ring
 * is full) and never calls malloc: the thread-local guard makes every
 * allocation made while recording (libunwind's, dlsym's) pass through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "memwatch/memwatch.h"
#include "mw.h"
#include "platform.h"

#define MW_EXPORT __attribute__((visibility("default")))

static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    void (*exit_now)(int); /* _exit */
} real;

enum { RESOLVE_NONE, RESOLVE_BUSY, RESOLVE_DONE };
static _Atomic int resolve_state;
static __thread int resolving __attribute__((tls_model("initial-exec")));

/* Look up the real allocator once.  While dlsym runs (it calls calloc),
 * this thread's allocations come from the bootstrap pool. */
static void resolve(void)
{
    int expected = RESOLVE_NONE;
    if (!atomic_compare_exchange_strong(&resolve_state, &expected, RESOLVE_BUSY)) {
        while (atomic_load(&resolve_state) != RESOLVE_DONE)
            mw_os_yield();
        return;
    }
    resolving = 1;
    real.malloc = dlsym(RTLD_NEXT, "malloc");
    real.calloc = dlsym(RTLD_NEXT, "calloc");
    real.realloc = dlsym(RTLD_NEXT, "realloc");
    real.free = dlsym(RTLD_NEXT, "free");
    real.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real.aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real.memalign = dlsym(RTLD_NEXT, "memalign");
    real.valloc = dlsym(RTLD_NEXT, "valloc");
    real.pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    real.malloc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
    real.exit_now = dlsym(RTLD_NEXT, "_exit");
    resolving = 0;
    if (!real.malloc || !real.free || !real.calloc || !real.realloc) {
        mw_os_warn("the real allocator was not found; cannot continue");
        abort();
    }
    atomic_store(&resolve_state, RESOLVE_DONE);
}

/* True when the real allocator is not usable yet: resolve it, or tell the
 * caller (the resolving thread itself) to use the bootstrap pool. */
static inline int early(void)
{
    if (MW_LIKELY(atomic_load_explicit(&resolve_state, memory_order_acquire) == RESOLVE_DONE))
        return 0;
    if (resolving)
        return 1;
    resolve();
    return 0;
}

/* Should this call be recorded?  Not before start, not after the exit
 * snapshot, not from inside memwatch. */
static inline int hookable(void)
{
    return MW_LIKELY(atomic_load_explicit(&mw_g.active, memory_order_relaxed)) && mw_tls == 0;
}

static inline void push(uint32_t kind, void *ptr, size_t size, struct mw_stack *s, void *old)
{
    unsigned saved = mw_tls;
    if (MW_UNLIKELY(saved & MW_TLS_PUSH)) {
        /* A signal handler allocating in the middle of our own push (not
         * async-signal-safe, but it happens): the thread's ring is busy. */
        atomic_fetch_add_explicit(&mw_g.rings.nested, 1, memory_order_relaxed);
        return;
    }
    mw_tls = saved | MW_TLS_PUSH;
    struct mw_event *e = mw_ring_begin(&mw_g.rings, (uint64_t)(uintptr_t)(ptr ? ptr : old));
    if (MW_LIKELY(e != NULL)) {
        e->kind = kind;
        e->ptr = (uint64_t)(uintptr_t)ptr;
        e->size = size;
        e->stack = s;
        e->old_ptr = (uint64_t)(uintptr_t)old;
        mw_ring_commit(&mw_g.rings, e);
    }
    mw_tls = saved;
}

static __attribute__((noinline)) void record_alloc(void *p, size_t size)
{
    mw_tls = MW_TLS_HOOK;
    push(MW_EV_ALLOC, p, size, mw_stack_capture(), NULL);
    mw_tls = 0;
}

/* The free side: runs for every free while recording, also when nested in
 * our own code (internal blocks simply count as unknown frees), but never
 * from the recorder, which must not wait on a ring itself. */
static inline void record_free(void *p)
{
    if (!atomic_load_explicit(&mw_g.active, memory_order_relaxed) ||
        (mw_tls & MW_TLS_RECORDER))
        return;
    /* A CPython code object is going away: its address may come back as
     * another code object, so its frames must stop matching (python.c).
     * The type word is read from a block that is still ours to read. */
    if (mw_py_code_type && ((void *const *)p)[1] == mw_py_code_type)
        mw_py_code_freed(p);
    push(MW_EV_FREE, p, 0, NULL, NULL);
}

MW_EXPORT void *malloc(size_t size)
{
    if (MW_UNLIKELY(early()))
        return mw_boot_alloc(size, 16);
    void *p = real.malloc(size);
    if (p && hookable())
        record_alloc(p, size);
    return p;
}

MW_EXPORT void *calloc(size_t n, size_t size)
{
    if (MW_UNLIKELY(early())) {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total))
            return NULL;
        return mw_boot_alloc(total, 16);
    }
    void *p = real.calloc(n, size);
    if (p && hookable())
        record_alloc(p, n * size);
    return p;
}

MW_EXPORT void free(void *p)
{
    if (!p || MW_UNLIKELY(mw_boot_owns(p)))
        return;
    if (MW_UNLIKELY(early()))
        return; /* cannot happen: p came from an allocator */
    record_free(p);
    real.free(p);
}

static void *do_realloc(void *p, size_t size)
{
    if (MW_UNLIKELY(early())) {
        void *q = mw_boot_alloc(size, 16);
        if (q && p)
            memcpy(q, p, mw_boot_size(p) < size ? mw_boot_size(p) : size);
        return q;
    }
    if (MW_UNLIKELY(p && mw_boot_owns(p))) {
        /* A bootstrap block grows into a real one. */
        void *q = malloc(size);
        if (q)
            memcpy(q, p, mw_boot_size(p) < size ? mw_boot_size(p) : size);
        return q;
    }
    if (!p)
        return malloc(size);
    if (!hookable()) {
        /* Not recorded (memwatch's own work, say): the block leaves the
         * live table now, as it would if freed here, and what comes back
         * is not the program's. */
        record_free(p);
        return real.realloc(p, size);
    }
    mw_tls = MW_TLS_HOOK;
    push(MW_EV_REALLOC_BEGIN, p, 0, NULL, NULL);
    void *q = real.realloc(p, size);
    push(MW_EV_REALLOC_END, q, size, q ? mw_stack_capture() : NULL, p);
    mw_tls = 0;
    return q;
}

MW_EXPORT void *realloc(void *p, size_t size)
{
    return do_realloc(p, size);
}

MW_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return do_realloc(p, total);
}

MW_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (MW_UNLIKELY(early())) {
        void *p = mw_boot_alloc(size, align);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    int r = real.posix_memalign(out, align, size);
    if (r == 0 && *out && hookable())
        record_alloc(*out, size);
    return r;
}

MW_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (MW_UNLIKELY(early()))
        return mw_boot_alloc(size, align);
    void *p = real.aligned_alloc(align, size);
    if (p && hookable())
        record_alloc(p, size);
    return p;
}

MW_EXPORT void *memalign(size_t align, size_t size)
{
    if (MW_UNLIKELY(early()))
        return mw_boot_alloc(size, align);
    void *p = real.memalign(align, size);
    if (p && hookable())
        record_alloc(p, size);
    return p;
}

MW_EXPORT void *valloc(size_t size)
{
    if (MW_UNLIKELY(early()))
        return mw_boot_alloc(size, 4096);
    void *p = real.valloc(size);
    if (p && hookable())
        record_alloc(p, size);
    return p;
}

MW_EXPORT void *pvalloc(size_t size)
{
    if (MW_UNLIKELY(early()))
        return mw_boot_alloc(size, 4096);
    void *p = real.pvalloc(size);
    if (p && hookable())
        record_alloc(p, size);
    return p;
}

MW_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (mw_boot_owns(p))
        return mw_boot_size(p);
    if (MW_UNLIKELY(early()))
        return 0;
    return real.malloc_usable_size ? real.malloc_usable_size(p) : 0;
}

/* ---- start and end ---- */

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t me = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        lo = s < lo ? s : lo;
        hi = s + ph->p_memsz > hi ? s + ph->p_memsz : hi;
    }
    if (me < lo || me >= hi)
        return 0;
    mw_g.self_lo = lo;
    mw_g.self_hi = hi;
    return 1;
}

static void on_snapshot_signal(int sig)
{
    (void)sig;
    mw_recorder_signal();
}

__attribute__((constructor)) static void mw_start(void)
{
    if (early())
        return;
    mw_tls |= MW_TLS_HOOK; /* our own set-up is not the program's memory */
    mw_config_load();
    if (mw_cfg.disabled) {
        if (mw_cfg.verbose)
            mw_os_warn("recording nothing in this process: %s", mw_cfg.disabled_why);
        goto out;
    }
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&mw_start);
    mw_g.start_ns = mw_os_realtime_ns();
    mw_g.pid = mw_os_getpid();
    if (mw_arena_init(&mw_g.arena, (size_t)8 << 30) || mw_stacks_init() ||
        mw_recorder_init_rings()) {
        mw_os_warn("not enough memory to record; the program runs unobserved");
        goto out;
    }
    mw_py_init();
    if (mw_cfg.signal) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_snapshot_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(mw_cfg.signal, &sa, NULL);
    }
    pthread_atfork(mw_recorder_fork_prepare, mw_recorder_fork_parent, mw_recorder_fork_child);
    atomic_store(&mw_g.active, 1);
    if (mw_recorder_start() != 0) {
        atomic_store(&mw_g.active, 0);
        mw_os_warn("cannot start the recorder thread; the program runs unobserved");
    }
out:
    mw_tls &= ~(unsigned)MW_TLS_HOOK;
}

__attribute__((destructor)) static void mw_stop(void)
{
    if (atomic_load(&mw_g.active))
        mw_recorder_exit(1);
}

/* Programs that end with _exit() (dash, forked children, os._exit) skip
 * destructors: take the exit snapshot here too. */
MW_EXPORT void _exit(int status)
{
    if (atomic_load(&mw_g.active))
        mw_recorder_exit(0);
    if (real.exit_now)
        real.exit_now(status);
    mw_os_exit_group(status);
}

MW_EXPORT void _Exit(int status)
{
    _exit(status);
}

/* ---- public control API (include/memwatch/memwatch.h) ---- */

MW_EXPORT int memwatch_snapshot_to(const char *path, char *written, size_t written_size)
{
    return mw_recorder_snapshot(MW_TRIGGER_API, path, written, written_size);
}

MW_EXPORT int memwatch_snapshot(const char *path)
{
    return memwatch_snapshot_to(path, NULL, 0);
}

MW_EXPORT int memwatch_get_traced_memory(size_t *current, size_t *peak)
{
    uint64_t live = 0, top = 0;
    int r = mw_recorder_memory(&live, &top);
    if (current)
        *current = r ? 0 : (size_t)live;
    if (peak)
        *peak = r ? 0 : (size_t)top;
    return r;
}

MW_EXPORT int memwatch_is_tracing(void)
{
    return atomic_load(&mw_g.active) != 0;
}

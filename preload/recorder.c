/* The recorder: the one thread that drains the event rings, keeps the live
 * table (address -> size, stack) and the per-stack totals, and writes
 * snapshots when asked (exit, signal, interval, API).  A snapshot costs
 * O(distinct stacks), not O(events).
 *
 * Its memory comes from mmap (mw_os_remap), never from the allocator it
 * observes, and it never pushes events: MW_TLS_RECORDER is set for its
 * whole life, so nothing it does is recorded. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "mw.h"
#include "platform.h"

/* ---- the live table: open addressing, linear probing ---- */

struct entry {
    uint64_t ptr; /* 0: empty */
    uint64_t size;
    struct mw_stack *stack;
};

struct ptrmap {
    struct entry *slots;
    size_t cap; /* power of two */
    size_t count;
};

static size_t slot_of(uint64_t ptr, size_t cap)
{
    return (size_t)(((ptr >> 4) * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
}

static int map_grow(struct ptrmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1u << 14;
    struct entry *fresh = mw_os_map(ncap * sizeof *fresh, 0);
    if (!fresh)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].ptr)
            continue;
        size_t j = slot_of(m->slots[i].ptr, ncap);
        while (fresh[j].ptr)
            j = (j + 1) & (ncap - 1);
        fresh[j] = m->slots[i];
    }
    mw_os_unmap(m->slots, m->cap * sizeof *m->slots);
    m->slots = fresh;
    m->cap = ncap;
    return 0;
}

static struct entry *map_find(struct ptrmap *m, uint64_t ptr)
{
    if (!m->count)
        return NULL;
    for (size_t i = slot_of(ptr, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].ptr == ptr)
            return &m->slots[i];
        if (!m->slots[i].ptr)
            return NULL;
    }
}

/* Insert a pointer known to be absent.  Returns -ENOMEM when the table
 * cannot grow (the block is then not tracked). */
static int map_insert(struct ptrmap *m, uint64_t ptr, uint64_t size, struct mw_stack *s)
{
    if ((m->count + 1) * 10 > m->cap * 7 && map_grow(m))
        return -ENOMEM;
    size_t i = slot_of(ptr, m->cap);
    while (m->slots[i].ptr)
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = (struct entry){ ptr, size, s };
    m->count++;
    return 0;
}

/* Remove by backward shifting, so no tombstones slow later probes. */
static void map_remove(struct ptrmap *m, struct entry *e)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)(e - m->slots);
    for (size_t j = (i + 1) & mask; m->slots[j].ptr; j = (j + 1) & mask) {
        size_t home = slot_of(m->slots[j].ptr, m->cap);
        /* Move j into the hole at i when its home is not in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].ptr = 0;
    m->count--;
}

/* ---- recorder state ---- */

enum { REQ_IDLE, REQ_PENDING, REQ_DONE };

static struct {
    struct ptrmap live;
    struct ptrmap pending; /* blocks inside realloc */
    struct mw_stack **sites;
    size_t nsites, sites_cap;

    uint64_t live_bytes, live_blocks, peak_bytes;
    uint64_t total_bytes, total_allocs, total_frees, unknown_frees, events;
    uint64_t untracked; /* live table out of memory */
    uint64_t seq;
    uint64_t next_interval_ns;
    int finished;   /* the exit snapshot is written */
    int warned;     /* one warning about unwritable snapshots */

    pthread_t thread;
    int running;
    uint32_t wake; /* futex word, bumped to wake the recorder */

    pthread_mutex_t req_lock; /* one requester at a time */
    struct {
        _Atomic uint32_t state;
        enum mw_trigger trigger;
        int memory_only;
        int final;
        const char *path;
        char *written;
        size_t written_size;
        uint32_t nmarks; /* events to include: below marks[i] in ring i */
        int result;
        uint64_t live, peak;
    } req;

    _Atomic int signal_pending;
    _Atomic uint32_t pause_req, paused;
    uint64_t next_reclaim_ns;
    uint64_t next_alone_check_ns;
    uint64_t marks[MW_RING_MAX]; /* the pending request's ring positions */
    uint64_t own_marks[MW_RING_MAX]; /* the recorder's own drains */
    /* The recorder writes these fields constantly: keep them off the cache
     * lines of the read-mostly globals the hooks load on every call. */
    char pad[128];
} rec __attribute__((aligned(128))) = { .req_lock = PTHREAD_MUTEX_INITIALIZER };

static void wake_recorder(void)
{
    __atomic_fetch_add(&rec.wake, 1, __ATOMIC_RELEASE);
    mw_os_futex_wake(&rec.wake);
}

static void add_site(struct mw_stack *s, struct mw_totals *t)
{
    if (rec.nsites == rec.sites_cap) {
        size_t ncap = rec.sites_cap ? rec.sites_cap * 2 : 4096;
        void *p = mw_os_remap(rec.sites, rec.sites_cap * sizeof *rec.sites,
                              ncap * sizeof *rec.sites);
        if (!p)
            return; /* counted in totals, but not listed in snapshots */
        rec.sites = p;
        rec.sites_cap = ncap;
    }
    rec.sites[rec.nsites++] = s;
    t->site_index = (uint32_t)rec.nsites;
}

static void account_alloc(uint64_t ptr, uint64_t size, struct mw_stack *s)
{
    struct entry *old = map_find(&rec.live, ptr);
    if (old) {
        /* A free we never saw (released behind our back): forget it. */
        mw_totals(old->stack)->live_bytes -= old->size;
        mw_totals(old->stack)->live_count--;
        rec.live_bytes -= old->size;
        rec.live_blocks--;
        map_remove(&rec.live, old);
    }
    struct mw_totals *t = mw_totals(s);
    rec.total_bytes += size;
    rec.total_allocs++;
    t->total_bytes += size;
    t->total_count++;
    if (map_insert(&rec.live, ptr, size, s)) {
        rec.untracked++;
        return;
    }
    t->live_bytes += size;
    t->live_count++;
    if (!t->site_index)
        add_site(s, t);
    rec.live_bytes += size;
    rec.live_blocks++;
    if (rec.live_bytes > rec.peak_bytes)
        rec.peak_bytes = rec.live_bytes;
}

/* Take a block out of the live table; returns 0 when it was not there. */
static int account_free(struct ptrmap *from, uint64_t ptr, struct entry *out)
{
    struct entry *e = map_find(from, ptr);
    if (!e)
        return 0;
    *out = *e;
    map_remove(from, e);
    if (from == &rec.live) {
        e = out;
        mw_totals(e->stack)->live_bytes -= e->size;
        mw_totals(e->stack)->live_count--;
        rec.live_bytes -= e->size;
        rec.live_blocks--;
    }
    return 1;
}

static void process(const struct mw_event *ev, void *ctx)
{
    struct entry e;
    (void)ctx;
    rec.events++;
    switch (ev->kind) {
    case MW_EV_ALLOC:
        account_alloc(ev->ptr, ev->size, ev->stack);
        break;
    case MW_EV_FREE:
        if (account_free(&rec.live, ev->ptr, &e))
            rec.total_frees++;
        else
            rec.unknown_frees++;
        break;
    case MW_EV_REALLOC_BEGIN:
        /* The block is in flight until REALLOC_END: park it, so that if
         * realloc fails it comes back with its size and stack. */
        if (account_free(&rec.live, ev->ptr, &e))
            map_insert(&rec.pending, e.ptr, e.size, e.stack);
        break;
    case MW_EV_REALLOC_END: {
        int known = account_free(&rec.pending, ev->old_ptr, &e);
        if (ev->ptr) {
            if (known)
                rec.total_frees++;
            account_alloc(ev->ptr, ev->size, ev->stack);
        } else if (ev->size == 0) {
            if (known)
                rec.total_frees++; /* realloc(p, 0) freed p */
        } else if (known) {
            /* Failed: the old block is still there, unchanged. */
            map_insert(&rec.live, e.ptr, e.size, e.stack);
            mw_totals(e.stack)->live_bytes += e.size;
            mw_totals(e.stack)->live_count++;
            rec.live_bytes += e.size;
            rec.live_blocks++;
        }
        break;
    }
    default:
        break;
    }
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static size_t drain(size_t max)
{
    size_t n = mw_rings_drain(&mw_g.rings, max, process, NULL);
    /* Producers sleeping on a full ring go once the batch is done: waking
     * them for every slot would spend the recorder's time in system calls
     * and hand the CPU back to them before the rings have emptied. */
    mw_rings_wake_producers(&mw_g.rings);
    return n;
}

/* Process every event published before marks were taken, waiting for
 * events whose turn comes after one not yet published. */
static void drain_until(const uint64_t *marks, uint32_t n)
{
    unsigned spins = 0;
    while (!mw_rings_reached(&mw_g.rings, marks, n)) {
        if (drain(4096))
            spins = 0;
        else if (++spins < 256)
            cpu_relax();
        else
            mw_os_yield();
    }
}

/* Everything published so far. */
static void drain_all(void)
{
    uint32_t n = mw_rings_mark(&mw_g.rings, rec.own_marks);
    drain_until(rec.own_marks, n);
}

static const char *trigger_name(enum mw_trigger t)
{
    static const char *const names[] = { "exit", "python-exit", "signal", "interval", "api" };
    return names[t];
}

static int write_snapshot(enum mw_trigger trigger, const char *path, char *written,
                          size_t written_size)
{
    struct mw_snapshot_view v = {
        .trigger = trigger,
        .seq = rec.seq,
        .live_bytes = rec.live_bytes,
        .live_blocks = rec.live_blocks,
        .peak_bytes = rec.peak_bytes,
        .total_bytes = rec.total_bytes,
        .total_allocs = rec.total_allocs,
        .total_frees = rec.total_frees,
        .unknown_frees = rec.unknown_frees,
        .events = rec.events,
        .ring_waits = atomic_load(&mw_g.rings.waits),
        .ring_wait_ns = atomic_load(&mw_g.rings.wait_ns),
        .sites = rec.sites,
        .nsites = rec.nsites,
    };
    char name[MW_PATH_MAX], final[MW_PATH_MAX];
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;

    if (path)
        mw_fmt(name, sizeof name, "%s", path);
    else
        mw_snapshot_path(rec.seq, name, sizeof name);
    rec.seq++;

    int r = mw_snapshot_encode(&v, &data, &len, &cap);
    if (r == 0)
        r = mw_snapshot_store(name, data, len, final, sizeof final);
    mw_snapshot_free(data, cap);
    if (r) {
        if (!rec.warned || mw_cfg.verbose)
            mw_os_warn("cannot write snapshot %s: %s", name, strerror(-r));
        rec.warned = 1;
        return r;
    }
    if (written && written_size)
        mw_fmt(written, written_size, "%s", final);
    if (mw_cfg.manifest[0]) {
        char line[MW_PATH_MAX + 32];
        size_t n = mw_fmt(line, sizeof line, "%s\t%s\n", final, trigger_name(trigger));
        mw_os_append_line(mw_cfg.manifest, line, n);
    }
    if (mw_cfg.verbose)
        mw_os_warn("wrote %s (%s)", final, trigger_name(trigger));
    return 0;
}

static void serve_request(void)
{
    drain_until(rec.marks, rec.req.nmarks);
    if (rec.req.memory_only) {
        rec.req.live = rec.live_bytes;
        rec.req.peak = rec.peak_bytes;
        rec.req.result = 0;
    } else if (rec.finished) {
        rec.req.result = -EPERM; /* nothing after the exit snapshot */
    } else {
        rec.req.result = write_snapshot(rec.req.trigger, rec.req.path, rec.req.written,
                                        rec.req.written_size);
        if (rec.req.final) {
            rec.finished = 1;
            atomic_store(&mw_g.active, 0);
        }
    }
    atomic_store_explicit(&rec.req.state, REQ_DONE, memory_order_release);
    mw_os_futex_wake((uint32_t *)&rec.req.state);
}

/* Every thread of the program has ended (the last one with
 * pthread_exit): the process would have exited with status 0, as if the
 * last thread had called exit(0), had memwatch's thread not been there.
 * Write the exit snapshot and do exactly that. */
static void last_thread_standing(void)
{
    if (!rec.finished) {
        drain_all();
        write_snapshot(MW_TRIGGER_EXIT, NULL, NULL, 0);
        rec.finished = 1;
    }
    atomic_store(&mw_g.active, 0);
    exit(0);
}

static void *recorder_main(void *arg)
{
    (void)arg;
    mw_tls |= MW_TLS_RECORDER;
    uint64_t idle_ns = 50000;
    for (;;) {
        uint32_t seen = __atomic_load_n(&rec.wake, __ATOMIC_ACQUIRE);
        size_t n = drain(8192);

        if (atomic_load_explicit(&rec.req.state, memory_order_acquire) == REQ_PENDING)
            serve_request();
        if (atomic_exchange(&rec.signal_pending, 0) && !rec.finished) {
            drain_all();
            write_snapshot(MW_TRIGGER_SIGNAL, NULL, NULL, 0);
        }
        if (mw_cfg.interval_ns && !rec.finished && mw_os_now_ns() >= rec.next_interval_ns) {
            drain_all();
            write_snapshot(MW_TRIGGER_INTERVAL, NULL, NULL, 0);
            rec.next_interval_ns = mw_os_now_ns() + mw_cfg.interval_ns;
        }
        if (atomic_load(&rec.pause_req)) {
            /* fork() in progress: stay still between two events so the
             * child inherits consistent tables. */
            atomic_store(&rec.paused, 1);
            mw_os_futex_wake((uint32_t *)&rec.paused);
            while (atomic_load(&rec.pause_req))
                mw_os_futex_wait((uint32_t *)&rec.pause_req, 1, 0);
            atomic_store(&rec.paused, 0);
        }
        if (mw_py_code_type)
            mw_py_poll();
        uint64_t now = mw_os_now_ns();
        if (now >= rec.next_reclaim_ns) {
            mw_rings_reclaim(&mw_g.rings);
            rec.next_reclaim_ns = now + 100000000;
        }
        if (now >= rec.next_alone_check_ns) {
            rec.next_alone_check_ns = now + 50000000;
            if (mw_os_alone())
                last_thread_standing();
        }

        if (n) {
            idle_ns = 50000;
            continue;
        }
        /* Idle: sleep, longer and longer up to 10 ms, unless woken by a
         * request, a signal or a fork.  Producers never wake us (that would
         * be a system call on the allocation path); a full ring does. */
        mw_os_futex_wait(&rec.wake, seen, idle_ns);
        if (idle_ns < 10000000)
            idle_ns *= 2;
        if (mw_py_waiting() && idle_ns > 200000 &&
            mw_os_realtime_ns() - mw_g.start_ns < 5000000000ULL)
            idle_ns = 200000; /* see Python's start promptly */
    }
    return NULL;
}

static int spawn_thread(void)
{
    sigset_t all, old;
    pthread_attr_t attr;

    /* Block every signal in the recorder, so process-directed signals are
     * always delivered to the program's own threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int r = pthread_create(&rec.thread, &attr, recorder_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    rec.running = r == 0;
    return -r;
}

int mw_recorder_init_rings(void)
{
    return mw_rings_init(&mw_g.rings, mw_cfg.ring_slots, &rec.wake);
}

int mw_recorder_start(void)
{
    rec.next_interval_ns = mw_os_now_ns() + mw_cfg.interval_ns;
    return spawn_thread();
}

static int request(enum mw_trigger trigger, int memory_only, int final, int may_block,
                   const char *path, char *written, size_t written_size, uint64_t *live,
                   uint64_t *peak)
{
    if (!rec.running || !atomic_load(&mw_g.active))
        return -EPERM;
    /* A thread interrupted inside a ring push cannot wait for the recorder:
     * the recorder would wait for that very push. */
    if (mw_tls & (MW_TLS_PUSH | MW_TLS_RECORDER))
        return -EDEADLK;
    unsigned saved = mw_tls;
    mw_tls |= MW_TLS_HOOK; /* our own waiting is not the program's memory */
    if (may_block) {
        pthread_mutex_lock(&rec.req_lock);
    } else if (pthread_mutex_trylock(&rec.req_lock) != 0) {
        /* _exit() from a signal handler that interrupted a request of
         * this very thread: give up rather than deadlock. */
        mw_tls = saved;
        return -EDEADLK;
    }
    rec.req.trigger = trigger;
    rec.req.memory_only = memory_only;
    rec.req.final = final;
    rec.req.path = path;
    rec.req.written = written;
    rec.req.written_size = written_size;
    rec.req.nmarks = mw_rings_mark(&mw_g.rings, rec.marks);
    atomic_store_explicit(&rec.req.state, REQ_PENDING, memory_order_release);
    wake_recorder();
    while (atomic_load_explicit(&rec.req.state, memory_order_acquire) != REQ_DONE)
        mw_os_futex_wait((uint32_t *)&rec.req.state, REQ_PENDING, 0);
    int r = rec.req.result;
    if (live)
        *live = rec.req.live;
    if (peak)
        *peak = rec.req.peak;
    atomic_store(&rec.req.state, REQ_IDLE);
    pthread_mutex_unlock(&rec.req_lock);
    mw_tls = saved;
    return r;
}

int mw_recorder_snapshot(enum mw_trigger trigger, const char *path, char *written,
                         size_t written_size)
{
    return request(trigger, 0, trigger == MW_TRIGGER_PYTHON_EXIT, 1, path, written,
                   written_size, NULL, NULL);
}

int mw_recorder_memory(uint64_t *live, uint64_t *peak)
{
    return request(MW_TRIGGER_API, 1, 0, 1, NULL, NULL, 0, live, peak);
}

void mw_recorder_signal(void)
{
    atomic_store(&rec.signal_pending, 1);
    wake_recorder();
}

void mw_recorder_exit(int may_block)
{
    /* Not in a vfork()ed child (or a raw clone): it shares our memory but
     * is not the process the recorder belongs to. */
    if (mw_os_getpid() != mw_g.pid)
        return;
    request(MW_TRIGGER_EXIT, 0, 1, may_block, NULL, NULL, 0, NULL, NULL);
}

void mw_recorder_fork_prepare(void)
{
    if (!rec.running)
        return;
    pthread_mutex_lock(&rec.req_lock);
    atomic_store(&rec.pause_req, 1);
    wake_recorder();
    while (!atomic_load(&rec.paused))
        mw_os_futex_wait((uint32_t *)&rec.paused, 0, 1000000);
}

void mw_recorder_fork_parent(void)
{
    if (!rec.running)
        return;
    atomic_store(&rec.pause_req, 0);
    mw_os_futex_wake((uint32_t *)&rec.pause_req);
    pthread_mutex_unlock(&rec.req_lock);
}

void mw_recorder_fork_child(void)
{
    if (!rec.running)
        return;
    /* Only this thread exists now.  Finish what the parent's threads
     * published, forget what they had only claimed, and start afresh. */
    mw_rings_after_fork(&mw_g.rings, process, NULL);
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    rec.req_lock = fresh;
    atomic_store(&rec.req.state, REQ_IDLE);
    atomic_store(&rec.pause_req, 0);
    atomic_store(&rec.paused, 0);
    atomic_store(&rec.signal_pending, 0);
    rec.seq = 0;
    mw_g.pid = mw_os_getpid();
    rec.peak_bytes = rec.live_bytes;
    mw_g.start_ns = mw_os_realtime_ns();
    rec.next_interval_ns = mw_os_now_ns() + mw_cfg.interval_ns;
    if (spawn_thread() != 0)
        atomic_store(&mw_g.active, 0);
}

/* Per-thread event rings and address-bucket tickets; see ring.h.
 *
 * Each thread writes only its own ring (single producer), so recording an
 * event costs no shared write except one ticket.  The recorder reads every
 * ring; within a ring it takes events in order (program order).  Across
 * threads only one order matters: for one address, the free that released
 * it before the allocation that reused it.  A hook records a free before
 * calling the real free and an allocation after the real one returns, and
 * the allocator synchronises the reuse, so the free's ticket operation
 * happens before the allocation's.  Both are read-modify-writes of the same
 * counter (the address's bucket), and coherence orders them as
 * happens-before does: the free gets the lower ticket.  The recorder takes
 * an event only when its ticket is the next one of its bucket.
 *
 * This never deadlocks: take the unprocessed event E whose ticket
 * operation comes first in the single total order of these (seq_cst)
 * operations.  Every event before E in its ring came earlier in program
 * order, so earlier in that total order, so it is processed: E is its
 * ring's head.  Every lower ticket of E's bucket came earlier too: E is
 * next in its bucket.  So E can always be taken, once published.
 *
 * Slot protocol: the owner writes the event, then stores seq = pos + 1
 * (release) and tail; the recorder loads seq (acquire), processes, and
 * stores head (seq_cst: see mw_rings_wake_producers) after a batch.  The owner reloads head (acquire)
 * only when its last view says the ring is full. */
#define _GNU_SOURCE
#include "ring.h"

#include <errno.h>
#include <pthread.h>

#include "platform.h"

enum { RING_FREE = 0, RING_OWNED = 1 };

static __thread struct mw_ring *my_ring __attribute__((tls_model("initial-exec")));
static pthread_key_t exit_key;

/* Consumer-private: the next ticket expected in each bucket, on lines of
 * its own (the consumer writes it for every event). */
static struct {
    char before[64];
    uint64_t next[MW_RING_BUCKETS];
    char after[64];
} consumer __attribute__((aligned(64)));
#define expected consumer.next

int mw_rings_init(struct mw_rings *rs, uint64_t slots_per_ring, uint32_t *consumer_wake)
{
    if (slots_per_ring < 2 || (slots_per_ring & (slots_per_ring - 1)))
        return -EINVAL;
    atomic_init(&rs->count, 0);
    rs->slots_per_ring = slots_per_ring;
    rs->consumer_wake = consumer_wake;
    for (int b = 0; b < MW_RING_BUCKETS; b++) {
        atomic_init(&rs->tickets[b].next, 0);
        expected[b] = 0;
    }
    atomic_init(&rs->waits, 0);
    atomic_init(&rs->wait_ns, 0);
    atomic_init(&rs->nested, 0);
    atomic_init(&rs->sleepers, 0);
    atomic_init(&rs->progress, 0);
    return -pthread_key_create(&exit_key, mw_ring_thread_exit);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline unsigned bucket_of(uint64_t addr)
{
    /* 64 KiB granules, mixed: a thread's neighbouring blocks share a
     * bucket (its ticket line stays in its cache) while the heaps of
     * different threads, 64 MiB aligned, spread over all buckets. */
    return (unsigned)(((addr >> 16) * 0x9e3779b97f4a7c15ULL) >> (64 - 10));
}

/* A ring for the calling thread: a free one (its owner exited), or a new
 * mapping.  Once per thread. */
static struct mw_ring *attach(struct mw_rings *rs)
{
    uint32_t n = atomic_load_explicit(&rs->count, memory_order_acquire);
    struct mw_ring *r = NULL;
    for (uint32_t i = 0; i < n && !r; i++) {
        struct mw_ring *c = __atomic_load_n(&rs->all[i], __ATOMIC_ACQUIRE);
        uint32_t expect = RING_FREE;
        if (c && atomic_compare_exchange_strong(&c->state, &expect, RING_OWNED))
            r = c;
    }
    if (!r) {
        size_t bytes = sizeof *r + 64 + rs->slots_per_ring * sizeof(struct mw_event);
        uint8_t *mem = mw_os_map(bytes, 1);
        if (!mem)
            return NULL;
        r = (struct mw_ring *)(void *)mem;
        r->slots = (struct mw_event *)(void *)(((uintptr_t)(mem + sizeof *r) + 63) & ~(uintptr_t)63);
        r->mask = rs->slots_per_ring - 1;
        atomic_init(&r->state, RING_OWNED);
        uint32_t id = atomic_fetch_add(&rs->count, 1);
        if (id >= MW_RING_MAX) {
            atomic_fetch_sub(&rs->count, 1);
            mw_os_unmap(mem, bytes);
            return NULL;
        }
        r->id = id;
        /* Published after it is complete: the consumer loads count with
         * acquire, then the pointer. */
        __atomic_store_n(&rs->all[id], r, __ATOMIC_RELEASE);
    }
    atomic_store(&r->owner, (int32_t)mw_os_gettid());
    atomic_store(&r->exiting, 0);
    r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
    my_ring = r;
    pthread_setspecific(exit_key, r);
    return r;
}

void mw_ring_thread_exit(void *ring)
{
    /* The thread may still allocate in later destructors: it keeps its
     * ring; the recorder reclaims it once the thread is really gone. */
    struct mw_ring *r = ring;
    atomic_store_explicit(&r->exiting, 1, memory_order_release);
}

/* The ring is full: wake the consumer, spin briefly, then sleep until it
 * reports progress.  Counted. */
static void wait_for_room(struct mw_rings *rs, struct mw_ring *r, uint64_t pos)
{
    uint64_t start = mw_os_now_ns();
    atomic_fetch_add_explicit(&rs->waits, 1, memory_order_relaxed);
    __atomic_fetch_add(rs->consumer_wake, 1, __ATOMIC_RELEASE);
    mw_os_futex_wake(rs->consumer_wake);
    for (unsigned spins = 0;; spins++) {
        r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
        if (pos - r->head_seen <= r->mask)
            break;
        if (spins < 16) {
            cpu_relax();
            continue;
        }
        /* seq_cst: the sleeper count is visible before we look at head
         * again, pairing with the fence in mw_rings_wake_producers. */
        atomic_fetch_add_explicit(&rs->sleepers, 1, memory_order_seq_cst);
        uint32_t seen = atomic_load_explicit(&rs->progress, memory_order_acquire);
        r->head_seen = atomic_load_explicit(&r->head, memory_order_seq_cst);
        if (pos - r->head_seen > r->mask)
            mw_os_futex_wait((const uint32_t *)&rs->progress, seen, 2000000);
        atomic_fetch_sub_explicit(&rs->sleepers, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&rs->wait_ns, mw_os_now_ns() - start, memory_order_relaxed);
}

struct mw_event *mw_ring_begin(struct mw_rings *rs, uint64_t addr)
{
    struct mw_ring *r = my_ring;
    if (__builtin_expect(!r, 0) && !(r = attach(rs)))
        return NULL;
    uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (__builtin_expect(pos - r->head_seen > r->mask, 0))
        wait_for_room(rs, r, pos);
    struct mw_event *e = &r->slots[pos & r->mask];
    unsigned b = bucket_of(addr);
    e->bucket = (uint16_t)b;
    /* The ticket is taken before the event's own stores: a locked
     * instruction waits for every pending store, and the slot's line may
     * still be on its way.  seq_cst: the argument in the file comment needs
     * one total order of ticket operations that agrees with each thread's
     * program order. */
    e->ticket = atomic_fetch_add_explicit(&rs->tickets[b].next, 1, memory_order_seq_cst);
    return e;
}

void mw_ring_commit(struct mw_rings *rs, struct mw_event *e)
{
    struct mw_ring *r = my_ring;
    uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    (void)rs;
    atomic_store_explicit(&e->seq, pos + 1, memory_order_release);
    atomic_store_explicit(&r->tail, pos + 1, memory_order_release);
    /* The next event goes to the next slot: fetch its line for writing
     * now, while the program runs, rather than stall on it then. */
    __builtin_prefetch(&r->slots[(pos + 1) & r->mask], 1, 3);
}

size_t mw_rings_drain(struct mw_rings *rs, size_t max,
                      void (*fn)(const struct mw_event *e, void *ctx), void *ctx)
{
    size_t done = 0;
    int progress = 1;
    uint32_t n = atomic_load_explicit(&rs->count, memory_order_acquire);
    /* Sweep the rings until nothing more can be taken: an event whose
     * bucket waits for another ring's event is left for a later sweep. */
    while (progress && done < max) {
        progress = 0;
        for (uint32_t i = 0; i < n && done < max; i++) {
            struct mw_ring *r = __atomic_load_n(&rs->all[i], __ATOMIC_ACQUIRE);
            if (!r)
                continue;
            uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
            uint64_t start = h;
            while (done < max) {
                struct mw_event *e = &r->slots[h & r->mask];
                if (atomic_load_explicit(&e->seq, memory_order_acquire) != h + 1)
                    break; /* not published yet */
                if (e->ticket != expected[e->bucket])
                    break; /* another thread's event on this address first */
                fn(e, ctx);
                expected[e->bucket]++;
                h++;
                done++;
            }
            if (h != start) {
                atomic_store_explicit(&r->head, h, memory_order_seq_cst);
                progress = 1;
            }
        }
    }
    return done;
}

uint32_t mw_rings_mark(struct mw_rings *rs, uint64_t *marks)
{
    uint32_t n = atomic_load_explicit(&rs->count, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        struct mw_ring *r = __atomic_load_n(&rs->all[i], __ATOMIC_ACQUIRE);
        marks[i] = r ? atomic_load_explicit(&r->tail, memory_order_acquire) : 0;
    }
    return n;
}

int mw_rings_reached(struct mw_rings *rs, const uint64_t *marks, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct mw_ring *r = __atomic_load_n(&rs->all[i], __ATOMIC_ACQUIRE);
        if (r && (int64_t)(marks[i] - atomic_load_explicit(&r->head, memory_order_acquire)) > 0)
            return 0;
    }
    return 1;
}

void mw_rings_wake_producers(struct mw_rings *rs)
{
    /* seq_cst, like the head stores before it and the producer's sleeper
     * count and head load: either the producer sees the new head, or we
     * see it asleep. */
    if (atomic_load_explicit(&rs->sleepers, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&rs->progress, 1, memory_order_release);
        mw_os_futex_wake((uint32_t *)&rs->progress);
    }
}

void mw_rings_reclaim(struct mw_rings *rs)
{
    uint32_t n = atomic_load_explicit(&rs->count, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        struct mw_ring *r = __atomic_load_n(&rs->all[i], __ATOMIC_ACQUIRE);
        if (!r || atomic_load(&r->state) != RING_OWNED || !atomic_load(&r->exiting))
            continue;
        if (atomic_load(&r->head) != atomic_load(&r->tail))
            continue; /* drain it first */
        /* The destructor ran, but the thread may still be finishing: only
         * a thread id the kernel no longer knows proves it is gone. */
        if (mw_os_thread_alive(atomic_load(&r->owner)))
            continue;
        if (atomic_load(&r->head) == atomic_load(&r->tail))
            atomic_store_explicit(&r->state, RING_FREE, memory_order_release);
    }
}

uint64_t mw_rings_after_fork(struct mw_rings *rs,
                             void (*fn)(const struct mw_event *e, void *ctx), void *ctx)
{
    /* First everything that can go in order... */
    while (mw_rings_drain(rs, SIZE_MAX, fn, ctx))
        ;
    /* ...then what is left is blocked behind tickets that threads which
     * no longer exist took but never published: take it as it comes. */
    uint32_t n = atomic_load_explicit(&rs->count, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        struct mw_ring *r = __atomic_load_n(&rs->all[i], __ATOMIC_ACQUIRE);
        if (!r)
            continue;
        uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        for (;; h++) {
            struct mw_event *e = &r->slots[h & r->mask];
            if (atomic_load_explicit(&e->seq, memory_order_acquire) != h + 1)
                break;
            fn(e, ctx);
        }
        atomic_store_explicit(&r->head, h, memory_order_relaxed);
        atomic_store_explicit(&r->tail, h, memory_order_relaxed);
        r->head_seen = h;
        if (r != my_ring) {
            /* Its owner does not exist in this process. */
            atomic_store(&r->exiting, 0);
            atomic_store(&r->state, RING_FREE);
        } else {
            atomic_store(&r->owner, (int32_t)mw_os_gettid());
        }
    }
    uint64_t skipped = 0;
    for (int b = 0; b < MW_RING_BUCKETS; b++) {
        uint64_t next = atomic_load(&rs->tickets[b].next);
        skipped += next - expected[b];
        expected[b] = next;
    }
    atomic_store(&rs->sleepers, 0);
    return skipped;
}

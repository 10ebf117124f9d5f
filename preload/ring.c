/* The event ring: a bounded multi-producer, single-consumer queue in the
 * style of Dmitry Vyukov's bounded queue, with a sequence word per slot.
 *
 * Slot protocol, for the event of position pos in slot i = pos & mask:
 *   seq == pos             the slot is free for the producer of pos
 *   seq == pos + 1         the producer of pos has published its event
 *   seq == pos + capacity  the consumer is done; free for pos + capacity
 *
 * Why this order is enough for memwatch: a hook records a free() before
 * calling the real free and an allocation after the real allocation
 * returns.  If thread A frees a block and thread B is then handed the same
 * address, A's claim happened before A's free, which happened before B's
 * malloc returned (the allocator synchronises the reuse), which happened
 * before B's claim.  Claims are read-modify-writes of one atomic counter,
 * and coherence orders them as happens-before does: A's position is lower,
 * and the consumer, which takes positions in order, sees the free first.
 * Relaxed order on the counter is therefore sufficient. */
#include "ring.h"

#include <errno.h>

#include "platform.h"

int mw_ring_init(struct mw_ring *r, uint64_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1)))
        return -EINVAL;
    struct mw_event *s = mw_os_map(capacity * sizeof *s, 1);
    if (!s)
        return -ENOMEM;
    for (uint64_t i = 0; i < capacity; i++)
        atomic_init(&s[i].seq, i);
    r->slots = s;
    r->mask = capacity - 1;
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    atomic_init(&r->waits, 0);
    atomic_init(&r->wait_ns, 0);
    atomic_init(&r->sleepers, 0);
    atomic_init(&r->progress, 0);
    return 0;
}

void mw_ring_destroy(struct mw_ring *r)
{
    mw_os_unmap(r->slots, (r->mask + 1) * sizeof *r->slots);
    r->slots = NULL;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The ring is full: the consumer has not yet released this slot from its
 * previous lap.  Spin briefly, then sleep on a futex until the consumer
 * reports progress: spinning or yielding producers would take the CPU the
 * consumer needs to empty the ring.  The episode is counted. */
static void wait_for_slot(struct mw_ring *r, struct mw_event *e, uint64_t pos)
{
    uint64_t start = mw_os_now_ns();
    atomic_fetch_add_explicit(&r->waits, 1, memory_order_relaxed);
    for (unsigned spins = 0; spins < 16; spins++) {
        if (atomic_load_explicit(&e->seq, memory_order_acquire) == pos)
            goto done;
        cpu_relax();
    }
    /* seq_cst: our sleeper count must be visible before we look at the
     * slot again, pairing with the consumer's fence in
     * mw_ring_wake_producers (release slot, fence, read sleepers). */
    atomic_fetch_add_explicit(&r->sleepers, 1, memory_order_seq_cst);
    for (;;) {
        uint32_t seen = atomic_load_explicit(&r->progress, memory_order_acquire);
        if (atomic_load_explicit(&e->seq, memory_order_acquire) == pos)
            break;
        /* The timeout is only a safety net. */
        mw_os_futex_wait((const uint32_t *)&r->progress, seen, 2000000);
    }
    atomic_fetch_sub_explicit(&r->sleepers, 1, memory_order_relaxed);
done:
    atomic_fetch_add_explicit(&r->wait_ns, mw_os_now_ns() - start,
                              memory_order_relaxed);
}

void mw_ring_wake_producers(struct mw_ring *r)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->sleepers, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&r->progress, 1, memory_order_release);
        mw_os_futex_wake((uint32_t *)&r->progress);
    }
}

struct mw_event *mw_ring_claim(struct mw_ring *r, uint64_t *pos)
{
    /* Relaxed: the claim only needs atomicity; see the file comment for why
     * positions still follow happens-before between threads. */
    uint64_t p = atomic_fetch_add_explicit(&r->tail, 1, memory_order_relaxed);
    struct mw_event *e = &r->slots[p & r->mask];
    /* Acquire pairs with the consumer's release in mw_ring_release, so its
     * reads of the previous lap's event finish before we overwrite it. */
    if (__builtin_expect(atomic_load_explicit(&e->seq, memory_order_acquire) != p, 0))
        wait_for_slot(r, e, p);
    *pos = p;
    return e;
}

void mw_ring_publish(struct mw_event *e, uint64_t pos)
{
    /* Release: the payload written by the producer becomes visible to the
     * consumer that acquires this sequence value. */
    atomic_store_explicit(&e->seq, pos + 1, memory_order_release);
}

struct mw_event *mw_ring_peek(struct mw_ring *r)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    struct mw_event *e = &r->slots[h & r->mask];
    /* Acquire pairs with mw_ring_publish's release. */
    if (atomic_load_explicit(&e->seq, memory_order_acquire) != h + 1)
        return NULL;
    return e;
}

void mw_ring_release(struct mw_ring *r, struct mw_event *e)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    /* Release: our reads of the event happen before the next producer of
     * this slot (which acquires the value) writes it. */
    atomic_store_explicit(&e->seq, h + r->mask + 1, memory_order_release);
    /* Release on head: whoever reads head (snapshot requests waiting for the
     * consumer to pass a position) also sees the effects of processing. */
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

uint64_t mw_ring_claimed(struct mw_ring *r)
{
    return atomic_load_explicit(&r->tail, memory_order_acquire);
}

uint64_t mw_ring_head(struct mw_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire);
}

uint64_t mw_ring_recover_after_fork(struct mw_ring *r,
                                    void (*consume)(const struct mw_event *e, void *ctx),
                                    void *ctx)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t skipped = 0;
    /* Only the slots in flight are touched: rewriting the whole ring would
     * copy every page of it in each forked child. */
    for (uint64_t p = head; p != tail; p++) {
        struct mw_event *e = &r->slots[p & r->mask];
        if (atomic_load_explicit(&e->seq, memory_order_acquire) == p + 1)
            consume(e, ctx);
        else
            skipped++; /* claimed by a thread that does not exist here */
        atomic_store_explicit(&e->seq, p + r->mask + 1, memory_order_relaxed);
    }
    atomic_store_explicit(&r->head, tail, memory_order_release);
    return skipped;
}

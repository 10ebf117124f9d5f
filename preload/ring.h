/* The lock-free multi-producer, single-consumer event ring between the
 * allocation hooks (producers, any thread) and the recorder (the one
 * consumer).  Events are fixed-size, one cache line each, consumed in the
 * order their slots were claimed.  Nothing is ever dropped: a producer that
 * finds its slot still occupied waits, and the wait is counted. */
#ifndef MEMWATCH_RING_H
#define MEMWATCH_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum mw_event_kind {
    MW_EV_ALLOC = 1,         /* ptr, size, stack */
    MW_EV_FREE = 2,          /* ptr */
    MW_EV_REALLOC_BEGIN = 3, /* ptr: the block handed to realloc */
    MW_EV_REALLOC_END = 4,   /* old_ptr, ptr (NULL on failure), size, stack */
};

struct mw_stack;

struct mw_event {
    /* Slot state, see ring.c: pos+1 when the event of position pos is
     * published, pos+capacity once the consumer is done with it. */
    _Atomic uint64_t seq;
    uint32_t kind;
    uint32_t reserved;
    uint64_t ptr;
    uint64_t size;
    struct mw_stack *stack;
    uint64_t old_ptr;
    uint64_t pad[2];
};

_Static_assert(sizeof(struct mw_event) == 64, "one event per cache line");

struct mw_ring {
    struct mw_event *slots;
    uint64_t mask;
    /* Producers' claim counter and the consumer's position on their own
     * cache lines, so claiming never invalidates the consumer's line. */
    alignas(64) _Atomic uint64_t tail;
    alignas(64) _Atomic uint64_t head;
    alignas(64) _Atomic uint64_t waits;
    _Atomic uint64_t wait_ns;
    /* Producers asleep on a full ring, and the futex word they sleep on,
     * which the consumer bumps when it frees slots while someone waits. */
    alignas(64) _Atomic uint32_t sleepers;
    _Atomic uint32_t progress;
};

/* Map a ring of `capacity` slots (a power of two).  Returns 0 or -ENOMEM.
 * Not thread-safe; called once before any producer runs. */
int mw_ring_init(struct mw_ring *r, uint64_t capacity);
void mw_ring_destroy(struct mw_ring *r);

/* Claim the next slot and wait until it is free.  Returns the slot for the
 * caller to fill, then hand back with mw_ring_publish().  Lock-free and
 * allocation-free; makes system calls only while the ring is full. */
struct mw_event *mw_ring_claim(struct mw_ring *r, uint64_t *pos);
void mw_ring_publish(struct mw_event *e, uint64_t pos);

/* Consumer side (one thread at a time).  mw_ring_peek returns the event at
 * the head when it is published, else NULL; mw_ring_release frees it for
 * producers and advances the head. */
struct mw_event *mw_ring_peek(struct mw_ring *r);
void mw_ring_release(struct mw_ring *r, struct mw_event *e);
/* Consumer: wake producers sleeping on a full ring, if any.  Call after
 * releasing events; costs one load when nobody sleeps. */
void mw_ring_wake_producers(struct mw_ring *r);

/* Claims handed out so far: every event claimed before this call has a
 * position below the value returned. */
uint64_t mw_ring_claimed(struct mw_ring *r);
uint64_t mw_ring_head(struct mw_ring *r);

/* After fork(), in the child, when only the calling thread exists and no
 * consumer runs: hand every published event between head and tail to
 * `consume` in order, skip the slots whose producers vanished with the
 * parent's other threads, and reset the ring to empty.  Returns the number
 * of skipped slots. */
uint64_t mw_ring_recover_after_fork(struct mw_ring *r,
                                    void (*consume)(const struct mw_event *e, void *ctx),
                                    void *ctx);

#endif /* MEMWATCH_RING_H */

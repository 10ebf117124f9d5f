/* The event rings between the allocation hooks and the recorder: one
 * single-producer ring per thread, so a hook touches only memory of its
 * own thread, plus per-address-bucket tickets that give the recorder the
 * one order it needs across threads.
 *
 * Events are fixed-size, one cache line each.  Nothing is ever dropped: a
 * thread whose ring is full waits (and the wait is counted) until the
 * recorder has made room.  See ring.c for the ordering argument. */
#ifndef MEMWATCH_RING_H
#define MEMWATCH_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mw_event_kind {
    MW_EV_ALLOC = 1,         /* ptr, size, stack */
    MW_EV_FREE = 2,          /* ptr */
    MW_EV_REALLOC_BEGIN = 3, /* ptr: the block handed to realloc */
    MW_EV_REALLOC_END = 4,   /* old_ptr, ptr (NULL on failure), size, stack */
};

struct mw_stack;

struct mw_event {
    /* pos + 1 once the event of position pos is published. */
    _Atomic uint64_t seq;
    uint32_t kind;
    uint16_t bucket; /* bucket of the address the event is ordered by */
    uint16_t reserved;
    uint64_t ticket; /* this event's turn in its bucket */
    uint64_t ptr;
    uint64_t size;
    struct mw_stack *stack;
    uint64_t old_ptr;
    uint64_t pad;
};

_Static_assert(sizeof(struct mw_event) == 64, "one event per cache line");

#define MW_RING_BUCKETS 1024
#define MW_RING_MAX 65536 /* rings (threads alive at once) */

/* One thread's ring.  The owner writes slots and tail; the recorder reads
 * them and writes head. */
struct mw_ring {
    struct mw_event *slots;
    uint64_t mask;
    uint32_t id;
    _Atomic uint32_t state;   /* RING_FREE, RING_OWNED */
    _Atomic int32_t owner;    /* thread id of the owner */
    _Atomic uint32_t exiting; /* the owner's thread-exit destructor ran */
    alignas(64) _Atomic uint64_t tail; /* owner: next position to publish */
    uint64_t head_seen;                /* owner: last head it read */
    alignas(64) _Atomic uint64_t head; /* recorder: next position to take */
};

struct mw_rings {
    struct mw_ring *all[MW_RING_MAX];
    _Atomic uint32_t count;
    uint64_t slots_per_ring;
    uint32_t *consumer_wake; /* futex word the consumer sleeps on */
    struct {
        alignas(64) _Atomic uint64_t next;
    } tickets[MW_RING_BUCKETS];
    alignas(64) _Atomic uint64_t waits;
    _Atomic uint64_t wait_ns;
    _Atomic uint64_t nested; /* events skipped: hook re-entered mid-push */
    /* Producers asleep on a full ring, and the futex word they sleep on,
     * which the consumer bumps when it frees slots while someone waits. */
    alignas(64) _Atomic uint32_t sleepers;
    _Atomic uint32_t progress;
};

/* Set up the registry (no ring yet).  consumer_wake is bumped and woken
 * when a producer finds its ring full.  Called once, before any producer. */
int mw_rings_init(struct mw_rings *rs, uint64_t slots_per_ring, uint32_t *consumer_wake);

/* ---- producer side: the calling thread's own ring ---- */

/* A slot of the calling thread's ring to fill, waiting while the ring is
 * full, with its ticket for address addr already taken.  NULL when no ring
 * could be mapped for this thread.  The ticket fixes the event's place
 * among other threads' events on the same address, so begin must be called
 * at the moment the event describes: before the real free, after the real
 * allocation returned.  Lock-free and allocation-free; system calls only on
 * a thread's first event (mapping its ring) and while its ring is full. */
struct mw_event *mw_ring_begin(struct mw_rings *rs, uint64_t addr);
/* Publish the event: the caller filled kind, ptr, size, stack, old_ptr. */
void mw_ring_commit(struct mw_rings *rs, struct mw_event *e);
/* The calling thread is exiting (its thread-specific data destructor). */
void mw_ring_thread_exit(void *ring);

/* ---- consumer side: one thread at a time ---- */

/* Hand up to max published events to fn, in an order that respects each
 * thread's order and each address's order across threads.  Returns the
 * number handed over. */
size_t mw_rings_drain(struct mw_rings *rs, size_t max,
                      void (*fn)(const struct mw_event *e, void *ctx), void *ctx);
/* Record every ring's published position into marks (MW_RING_MAX long);
 * returns the number of rings.  Every event published before the call is
 * below its ring's mark. */
uint32_t mw_rings_mark(struct mw_rings *rs, uint64_t *marks);
/* 1 when every ring's consumer position reached its mark. */
int mw_rings_reached(struct mw_rings *rs, const uint64_t *marks, uint32_t n);
/* Wake producers sleeping on a full ring, if any (one load otherwise). */
void mw_rings_wake_producers(struct mw_rings *rs);
/* Give rings of threads that have exited back for reuse.  Makes one
 * system call per ring whose owner ran its exit destructor. */
void mw_rings_reclaim(struct mw_rings *rs);

/* After fork(), in the child, when only the calling thread exists: hand
 * every published event to fn (order kept where it can be), forget what
 * the vanished threads had not published, and make the other threads'
 * rings reusable.  Returns the number of tickets skipped. */
uint64_t mw_rings_after_fork(struct mw_rings *rs,
                             void (*fn)(const struct mw_event *e, void *ctx), void *ctx);

#endif /* MEMWATCH_RING_H */

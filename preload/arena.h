/* Append-only memory for records that live as long as the process (call
 * stacks, Python code descriptions), and the lock-free interning table that
 * finds them again.  Both are shared by every thread: allocation is one
 * atomic add, lookups are plain loads.  Nothing here calls malloc. */
#ifndef MEMWATCH_ARENA_H
#define MEMWATCH_ARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct mw_arena {
    uint8_t *base;
    size_t size;
    _Atomic size_t used;
};

/* Reserve up to `max` bytes of address space (lazily backed; halved until
 * the kernel accepts).  Returns 0 or -ENOMEM. */
int mw_arena_init(struct mw_arena *a, size_t max);
/* 16-byte aligned, zeroed memory, or NULL once the reservation is spent.
 * Lock-free, async-signal-safe. */
void *mw_arena_alloc(struct mw_arena *a, size_t n);

/* Interning table: record pointers keyed by a 64-bit hash stored as the
 * first field of every record, with an equality callback for records whose
 * hash matches.  Records are never removed.  The table grows by adding
 * levels of doubling size; lookups search every level, inserts go to the
 * newest.  Two threads interning the same key at once may both succeed (one
 * key, two records); callers must tolerate such duplicates. */
#define MW_ITABLE_LEVELS 24

struct mw_itable {
    _Atomic(_Atomic uint64_t *) levels[MW_ITABLE_LEVELS];
    _Atomic uint64_t counts[MW_ITABLE_LEVELS];
    _Atomic unsigned nlevels;
    unsigned first_bits;
};

typedef int (*mw_itable_eq)(const void *record, const void *key);

int mw_itable_init(struct mw_itable *t, unsigned first_bits);
/* The record whose first 8 bytes equal hash and for which eq(record, key)
 * holds, or NULL. */
void *mw_itable_find(struct mw_itable *t, uint64_t hash, mw_itable_eq eq,
                     const void *key);
/* Insert a fully written record (its first 8 bytes hold hash).  Returns the
 * record now in the table for that key: `record`, or an equal one another
 * thread inserted first.  NULL when no memory is left. */
void *mw_itable_insert(struct mw_itable *t, uint64_t hash, void *record,
                       mw_itable_eq eq, const void *key);
/* Records in the table (duplicates included). */
uint64_t mw_itable_count(struct mw_itable *t);

#endif /* MEMWATCH_ARENA_H */

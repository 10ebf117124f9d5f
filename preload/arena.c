/* Arena and interning table; see arena.h.
 *
 * Memory ordering: a record is written completely, then its pointer is
 * stored into a slot with a release CAS; readers load slots with acquire,
 * so they always see a complete record.  A new level is published the same
 * way (release CAS on levels[k], then on nlevels). */
#include "arena.h"

#include <errno.h>

#include "platform.h"

int mw_arena_init(struct mw_arena *a, size_t max)
{
    for (size_t size = max; size >= (16u << 20); size /= 2) {
        void *p = mw_os_map(size, 1);
        if (p) {
            a->base = p;
            a->size = size;
            atomic_init(&a->used, 0);
            return 0;
        }
    }
    return -ENOMEM;
}

void *mw_arena_alloc(struct mw_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    size_t at = atomic_load_explicit(&a->used, memory_order_relaxed);
    /* A compare-and-swap rather than an add: a request that does not fit
     * must leave the arena untouched for the smaller ones after it. */
    do {
        if (n > a->size || at > a->size - n)
            return NULL;
    } while (!atomic_compare_exchange_weak_explicit(&a->used, &at, at + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    return a->base + at; /* fresh anonymous pages are already zero */
}

static size_t level_slots(const struct mw_itable *t, unsigned k)
{
    return (size_t)1 << (t->first_bits + k);
}

static _Atomic uint64_t *add_level(struct mw_itable *t, unsigned k)
{
    _Atomic uint64_t *lv = atomic_load_explicit(&t->levels[k], memory_order_acquire);
    if (!lv) {
        size_t bytes = level_slots(t, k) * sizeof(uint64_t);
        _Atomic uint64_t *fresh = mw_os_map(bytes, 1);
        if (!fresh)
            return NULL;
        _Atomic uint64_t *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&t->levels[k], &expected, fresh,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire)) {
            lv = fresh;
        } else {
            mw_os_unmap(fresh, bytes); /* another thread won */
            lv = expected;
        }
    }
    unsigned n = k;
    atomic_compare_exchange_strong_explicit(&t->nlevels, &n, k + 1,
                                            memory_order_acq_rel,
                                            memory_order_acquire);
    return lv;
}

int mw_itable_init(struct mw_itable *t, unsigned first_bits)
{
    for (unsigned k = 0; k < MW_ITABLE_LEVELS; k++) {
        atomic_init(&t->levels[k], NULL);
        atomic_init(&t->counts[k], 0);
    }
    atomic_init(&t->nlevels, 0);
    t->first_bits = first_bits;
    return add_level(t, 0) ? 0 : -ENOMEM;
}

static void *probe(struct mw_itable *t, unsigned k, uint64_t hash, mw_itable_eq eq,
                   const void *key)
{
    _Atomic uint64_t *lv = atomic_load_explicit(&t->levels[k], memory_order_acquire);
    size_t mask = level_slots(t, k) - 1;
    for (size_t i = hash & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
        uint64_t v = atomic_load_explicit(&lv[i], memory_order_acquire);
        if (!v)
            return NULL;
        const void *rec = (const void *)(uintptr_t)v;
        if (*(const uint64_t *)rec == hash && eq(rec, key))
            return (void *)(uintptr_t)v;
    }
    return NULL;
}

void *mw_itable_find(struct mw_itable *t, uint64_t hash, mw_itable_eq eq,
                     const void *key)
{
    unsigned n = atomic_load_explicit(&t->nlevels, memory_order_acquire);
    for (unsigned k = 0; k < n; k++) {
        void *r = probe(t, k, hash, eq, key);
        if (r)
            return r;
    }
    return NULL;
}

void *mw_itable_insert(struct mw_itable *t, uint64_t hash, void *record,
                       mw_itable_eq eq, const void *key)
{
    for (;;) {
        unsigned k = atomic_load_explicit(&t->nlevels, memory_order_acquire) - 1;
        _Atomic uint64_t *lv = atomic_load_explicit(&t->levels[k], memory_order_acquire);
        size_t mask = level_slots(t, k) - 1;
        /* Keep every level at most half full, so probes stay short. */
        if (atomic_load_explicit(&t->counts[k], memory_order_relaxed) >= (mask + 1) / 2) {
            if (k + 1 >= MW_ITABLE_LEVELS || !add_level(t, k + 1))
                return NULL;
            continue;
        }
        for (size_t i = hash & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
            uint64_t v = atomic_load_explicit(&lv[i], memory_order_acquire);
            if (!v) {
                uint64_t mine = (uint64_t)(uintptr_t)record;
                if (atomic_compare_exchange_strong_explicit(&lv[i], &v, mine,
                                                            memory_order_acq_rel,
                                                            memory_order_acquire)) {
                    atomic_fetch_add_explicit(&t->counts[k], 1, memory_order_relaxed);
                    return record;
                }
                /* Lost the slot: v now holds the winner; compare it. */
            }
            const void *rec = (const void *)(uintptr_t)v;
            if (*(const uint64_t *)rec == hash && eq(rec, key))
                return (void *)(uintptr_t)v;
        }
        /* The level filled up under us: grow and retry. */
        if (k + 1 >= MW_ITABLE_LEVELS || !add_level(t, k + 1))
            return NULL;
    }
}

uint64_t mw_itable_count(struct mw_itable *t)
{
    uint64_t sum = 0;
    for (unsigned k = 0; k < MW_ITABLE_LEVELS; k++)
        sum += atomic_load_explicit(&t->counts[k], memory_order_relaxed);
    return sum;
}

/* The arena and the lock-free interning table (preload/arena.c). */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "codec.h"
#include "unit.h"

struct rec {
    uint64_t hash;
    uint64_t key;
};

static int rec_eq(const void *record, const void *key)
{
    return ((const struct rec *)record)->key == *(const uint64_t *)key;
}

static struct mw_arena arena;
static struct mw_itable table;

static struct rec *intern(uint64_t key)
{
    uint64_t h = mw_hash64(&key, 8, 0);
    struct rec *r = mw_itable_find(&table, h, rec_eq, &key);
    if (r)
        return r;
    r = mw_arena_alloc(&arena, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->hash = h;
    r->key = key;
    return mw_itable_insert(&table, h, r, rec_eq, &key);
}

START_TEST(arena_alignment_zero_and_exhaustion)
{
    struct mw_arena a;
    ck_assert_int_eq(mw_arena_init(&a, 16u << 20), 0);
    uint8_t *p = mw_arena_alloc(&a, 3);
    uint8_t *q = mw_arena_alloc(&a, 17);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    ck_assert_uint_eq((uintptr_t)q % 16, 0);
    ck_assert_ptr_eq(q, p + 16);
    for (int i = 0; i < 17; i++)
        ck_assert_uint_eq(q[i], 0);
    ck_assert_ptr_null(mw_arena_alloc(&a, 16u << 20)); /* past the reservation */
    ck_assert_ptr_nonnull(mw_arena_alloc(&a, 16));      /* smaller still fits */
}
END_TEST

START_TEST(table_finds_what_it_holds_across_levels)
{
    ck_assert_int_eq(mw_arena_init(&arena, 64u << 20), 0);
    ck_assert_int_eq(mw_itable_init(&table, 4), 0);
    struct rec *first = intern(42);
    ck_assert_ptr_eq(intern(42), first);
    for (uint64_t k = 0; k < 200000; k++)
        ck_assert_uint_eq(intern(k * 7 + 1)->key, k * 7 + 1);
    ck_assert_uint_gt(atomic_load(&table.nlevels), 10); /* it had to grow */
    for (uint64_t k = 0; k < 200000; k++) {
        uint64_t key = k * 7 + 1, h = mw_hash64(&key, 8, 0);
        struct rec *r = mw_itable_find(&table, h, rec_eq, &key);
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->key, key);
    }
    uint64_t absent = 2, h = mw_hash64(&absent, 8, 0);
    ck_assert_ptr_null(mw_itable_find(&table, h, rec_eq, &absent));
    ck_assert_ptr_eq(intern(42), first);
    ck_assert_uint_eq(mw_itable_count(&table), 200001);
}
END_TEST

static void *inserter(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg;
    for (uint64_t k = 0; k < 50000; k++)
        intern((k + base * 25000) % 100000); /* half of the keys overlap */
    return NULL;
}

START_TEST(concurrent_inserts)
{
    ck_assert_int_eq(mw_arena_init(&arena, 64u << 20), 0);
    ck_assert_int_eq(mw_itable_init(&table, 4), 0);
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, inserter, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (uint64_t key = 0; key < 100000; key++) {
        uint64_t h = mw_hash64(&key, 8, 0);
        struct rec *r = mw_itable_find(&table, h, rec_eq, &key);
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->key, key);
    }
    /* Duplicates are allowed when two threads race on one key, but every
     * key is there at least once and records are never lost. */
    ck_assert_uint_ge(mw_itable_count(&table), 100000);
    ck_assert_uint_le(mw_itable_count(&table), 200000);
}
END_TEST

int main(void)
{
    TCase *t = tcase_create("arena");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, arena_alignment_zero_and_exhaustion);
    tcase_add_test(t, table_finds_what_it_holds_across_levels);
    tcase_add_test(t, concurrent_inserts);
    return mw_unit_run("arena", t);
}

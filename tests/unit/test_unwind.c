/* The cached CFI unwinder (preload/unwind.c) against the reference,
 * libunwind's unw_backtrace: the same return addresses, frame for frame,
 * from several depths, from a thread, and twice (cold and cached). */
#define UNW_LOCAL_ONLY
#include <check.h>
#include <libunwind.h>
#include <pthread.h>
#include <stdint.h>

#include "mw.h"
#include "unit.h"

struct pair {
    uint64_t ours[128];
    void *ref[128];
    int n_ours, n_ref;
};

static __attribute__((noinline)) void capture(struct pair *p)
{
    p->n_ours = mw_unwind(p->ours, 128, 0);
    p->n_ref = unw_backtrace(p->ref, 128);
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void recurse(struct pair *p, int depth)
{
    if (depth == 0)
        capture(p);
    else
        recurse(p, depth - 1);
    __asm__ volatile("" ::: "memory");
}

/* A frame that keeps a big buffer, so its CFA offset is large. */
static __attribute__((noinline)) void big_frame(struct pair *p, int depth)
{
    volatile char buf[20000];
    buf[depth] = 1;
    recurse(p, depth);
    buf[0] = buf[depth];
}

static void compare(const struct pair *p, int min_frames)
{
    /* The first entries are two different calls inside capture(). */
    ck_assert_int_ge(p->n_ours, min_frames);
    ck_assert_int_eq(p->n_ours, p->n_ref);
    for (int i = 1; i < p->n_ours; i++)
        ck_assert_msg(p->ours[i] == (uint64_t)(uintptr_t)p->ref[i],
                      "frame %d: %#llx vs %p", i, (unsigned long long)p->ours[i], p->ref[i]);
}

START_TEST(same_frames_as_libunwind)
{
    for (int depth = 0; depth < 40; depth += 13) {
        for (int round = 0; round < 2; round++) { /* cold cache, then warm */
            struct pair p;
            recurse(&p, depth);
            compare(&p, depth + 3);
        }
    }
    struct pair p;
    big_frame(&p, 5);
    compare(&p, 9);
}
END_TEST

#if defined(__SANITIZE_THREAD__)
static __attribute__((noinline)) void capture_ours(struct pair *p)
{
    p->n_ours = mw_unwind(p->ours, 128, 0);
    __asm__ volatile("" ::: "memory");
}
#endif

static void *thread_main(void *arg)
{
    struct pair *p = arg;
#if defined(__SANITIZE_THREAD__)
    /* libunwind's thread-exit destructor does not survive ThreadSanitizer:
     * here only this unwinder runs, and must reach past the thread's start. */
    capture_ours(p);
#else
    recurse(p, 7);
#endif
    return NULL;
}

START_TEST(from_a_thread)
{
    struct pair p;
    pthread_t t;
    pthread_create(&t, NULL, thread_main, &p);
    pthread_join(t, NULL);
#if defined(__SANITIZE_THREAD__)
    ck_assert_int_ge(p.n_ours, 3); /* thread_main, its start, clone */
#else
    compare(&p, 9);
#endif
}
END_TEST

START_TEST(max_is_respected)
{
    uint64_t ips[3];
    ck_assert_int_eq(mw_unwind(ips, 3, 0), 3);
    uint64_t all[128], skipped[128];
    int n = mw_unwind(all, 128, 0);
    int m = mw_unwind(skipped, 128, 2);
    ck_assert_int_eq(m, n - 2);
    for (int i = 1; i < m; i++) /* the first ones differ: two call sites */
        ck_assert_uint_eq(skipped[i], all[i + 2]);
}
END_TEST

int main(void)
{
    /* One cache for the reference: its per-thread cache's destructor does
     * not survive thread exit under ThreadSanitizer. */
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_GLOBAL);
    TCase *t = tcase_create("unwind");
    tcase_add_test(t, same_frames_as_libunwind);
    tcase_add_test(t, from_a_thread);
    tcase_add_test(t, max_is_respected);
    return mw_unit_run("unwind", t);
}

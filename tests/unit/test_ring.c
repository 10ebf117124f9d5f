/* The per-thread event rings (preload/ring.c): order within a thread,
 * order across threads for one address, nothing lost, waiting when full,
 * and recovery after fork.  Also run under TSan (scripts/sanitize). */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ring.h"
#include "unit.h"

#define THREADS 8
#define TOKENS 64
#define ITER 20000

static struct mw_rings rs;
static uint32_t wake_word;

/* ---- consumer-side checking ---- */

struct seen {
    uint64_t events;
    uint64_t next_seq[THREADS]; /* per producer: the counter expected next */
    int live[TOKENS];           /* per address: allocated and not yet freed */
    int errors;
};

static void check_event(const struct mw_event *e, void *ctx)
{
    struct seen *s = ctx;
    unsigned thread = (unsigned)(e->size >> 32);
    uint64_t seq = e->size & 0xffffffffu;
    unsigned token = (unsigned)((e->ptr - 0x100000) / 16);
    s->events++;
    if (thread >= THREADS || token >= TOKENS) {
        s->errors++;
        return;
    }
    /* Program order of each thread: its counter, without gaps. */
    if (seq != s->next_seq[thread])
        s->errors++;
    s->next_seq[thread] = seq + 1;
    /* For one address: allocate, free, allocate... whoever does it. */
    if (e->kind == MW_EV_ALLOC) {
        if (s->live[token])
            s->errors++;
        s->live[token] = 1;
    } else if (e->kind == MW_EV_FREE) {
        if (!s->live[token])
            s->errors++;
        s->live[token] = 0;
    } else {
        s->errors++;
    }
}

static _Atomic int owner[TOKENS]; /* 0 free, else thread + 1 */
static _Atomic int producers_done;

static void push(uint32_t kind, uint64_t addr, unsigned thread, uint64_t seq)
{
    struct mw_event *e = mw_ring_begin(&rs, addr);
    ck_assert_ptr_nonnull(e);
    e->kind = kind;
    e->ptr = addr;
    e->size = (uint64_t)thread << 32 | seq;
    e->stack = NULL;
    e->old_ptr = 0;
    mw_ring_commit(&rs, e);
}

static void *producer(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    unsigned x = 12345u + me * 7919u;
    uint64_t seq = 0;
    for (int i = 0; i < ITER; i++) {
        x = x * 1103515245u + 12345u;
        unsigned t = (x >> 8) % TOKENS;
        int free_slot = 0;
        /* Take the address (acquire), as an allocator hands a block over. */
        if (!atomic_compare_exchange_strong_explicit(&owner[t], &free_slot, (int)me + 1,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        uint64_t addr = 0x100000 + (uint64_t)t * 16;
        push(MW_EV_ALLOC, addr, me, seq++); /* after the "allocation" */
        push(MW_EV_FREE, addr, me, seq++);  /* before the "free" */
        atomic_store_explicit(&owner[t], 0, memory_order_release);
    }
    atomic_fetch_add(&producers_done, 1);
    return (void *)(uintptr_t)seq;
}

START_TEST(order_and_totals_across_threads)
{
    ck_assert_int_eq(mw_rings_init(&rs, 64, &wake_word), 0);
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, producer, (void *)i), 0);
    struct seen s;
    memset(&s, 0, sizeof s);
    while (atomic_load(&producers_done) < THREADS || mw_rings_drain(&rs, SIZE_MAX, check_event, &s)) {
        if (!mw_rings_drain(&rs, 4096, check_event, &s))
            sched_yield();
        mw_rings_wake_producers(&rs);
    }
    uint64_t total = 0;
    for (int i = 0; i < THREADS; i++) {
        void *n;
        pthread_join(t[i], &n);
        total += (uint64_t)(uintptr_t)n;
    }
    while (mw_rings_drain(&rs, SIZE_MAX, check_event, &s))
        ;
    ck_assert_int_eq(s.errors, 0);
    ck_assert_uint_eq(s.events, total);
    ck_assert_uint_gt(total, 0);
    for (int i = 0; i < TOKENS; i++)
        ck_assert_int_eq(s.live[i], 0);
    ck_assert_uint_eq(atomic_load(&rs.count), THREADS);
}
END_TEST

START_TEST(full_ring_waits_and_loses_nothing)
{
    ck_assert_int_eq(mw_rings_init(&rs, 16, &wake_word), 0);
    pthread_t t;
    atomic_store(&producers_done, 0);
    ck_assert_int_eq(pthread_create(&t, NULL, producer, (void *)(uintptr_t)0), 0);
    /* Let the producer fill its 16 slots and wait before consuming. */
    while (atomic_load(&rs.waits) == 0)
        sched_yield();
    struct seen s;
    memset(&s, 0, sizeof s);
    while (atomic_load(&producers_done) < 1) {
        if (!mw_rings_drain(&rs, 8, check_event, &s))
            sched_yield();
        mw_rings_wake_producers(&rs);
    }
    void *n;
    pthread_join(t, &n);
    while (mw_rings_drain(&rs, SIZE_MAX, check_event, &s))
        ;
    ck_assert_int_eq(s.errors, 0);
    ck_assert_uint_eq(s.events, (uint64_t)(uintptr_t)n);
    ck_assert_uint_eq(s.events, 2 * ITER); /* alone, it always gets its token */
    ck_assert_uint_ge(atomic_load(&rs.waits), 1);
}
END_TEST

START_TEST(marks_cover_what_was_published)
{
    ck_assert_int_eq(mw_rings_init(&rs, 1024, &wake_word), 0);
    for (unsigned i = 0; i < 10; i++)
        push(MW_EV_ALLOC, 0x100000 + 16 * i, 0, i);
    static uint64_t marks[MW_RING_MAX];
    uint32_t n = mw_rings_mark(&rs, marks);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(marks[0], 10);
    ck_assert_int_eq(mw_rings_reached(&rs, marks, n), 0);
    struct seen s;
    memset(&s, 0, sizeof s);
    ck_assert_uint_eq(mw_rings_drain(&rs, 4, check_event, &s), 4);
    ck_assert_int_eq(mw_rings_reached(&rs, marks, n), 0);
    ck_assert_uint_eq(mw_rings_drain(&rs, SIZE_MAX, check_event, &s), 6);
    ck_assert_int_eq(mw_rings_reached(&rs, marks, n), 1);
    ck_assert_int_eq(s.errors, 0);
}
END_TEST

/* A thread that takes a ticket and never publishes it (it "vanishes" in
 * fork): the other events of that bucket wait; after fork the child
 * recovers them and new events flow. */
static _Atomic int stuck_ready;

static void *stuck_thread(void *arg)
{
    (void)arg;
    struct mw_event *e = mw_ring_begin(&rs, 0x100000); /* ticket 0 of that bucket */
    (void)e;
    atomic_store(&stuck_ready, 1);
    for (;;)
        pause();
    return NULL;
}

static uint64_t recovered;

static void count_event(const struct mw_event *e, void *ctx)
{
    (void)e;
    (void)ctx;
    recovered++;
}

START_TEST(recovery_after_fork)
{
    ck_assert_int_eq(mw_rings_init(&rs, 1024, &wake_word), 0);
    pthread_t t;
    pthread_create(&t, NULL, stuck_thread, NULL);
    while (!atomic_load(&stuck_ready))
        sched_yield();
    push(MW_EV_ALLOC, 0x100000, 0, 0);          /* same bucket: blocked */
    push(MW_EV_ALLOC, 0x100000 + (1 << 30), 0, 1); /* behind it in this ring */
    ck_assert_uint_eq(mw_rings_drain(&rs, SIZE_MAX, count_event, NULL), 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t skipped = mw_rings_after_fork(&rs, count_event, NULL);
        int ok = recovered == 2 && skipped >= 1;
        push(MW_EV_FREE, 0x100000, 0, 2);
        recovered = 0;
        ok = ok && mw_rings_drain(&rs, SIZE_MAX, count_event, NULL) == 1 && recovered == 1;
        _exit(ok ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

int main(void)
{
    TCase *t = tcase_create("ring");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, order_and_totals_across_threads);
    tcase_add_test(t, full_ring_waits_and_loses_nothing);
    tcase_add_test(t, marks_cover_what_was_published);
    tcase_add_test(t, recovery_after_fork);
    return mw_unit_run("ring", t);
}

/* 8 threads churning allocations with cross-thread frees, then a known
 * remainder: the exit snapshot must show exactly the remainder.
 *
 *   churn [ITERATIONS]   (default 250000 per thread: 2 million allocations)
 *
 * Thread i allocates blocks of varied sizes and hands every other one to
 * thread (i+1) % 8 through a lock-free mailbox, which frees it; the rest it
 * frees itself.  At the end each thread keeps KEEP blocks of KEEP_SIZE. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 8
#define MAILBOX 256
#define KEEP 25
#define KEEP_SIZE 4321

static _Atomic(void *) mailbox[THREADS][MAILBOX];
static void *kept[THREADS][KEEP];
static long iterations = 250000;
static pthread_barrier_t start;

static void drain_mailbox(int me)
{
    for (int s = 0; s < MAILBOX; s++) {
        void *p = atomic_exchange(&mailbox[me][s], NULL);
        free(p);
    }
}

static void *worker(void *arg)
{
    int me = (int)(long)arg, next = (me + 1) % THREADS;
    unsigned x = 2463534242u ^ (unsigned)me;
    pthread_barrier_wait(&start);
    for (long i = 0; i < iterations; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t size = 8 + (x % 2048);
        void *p = malloc(size);
        ((volatile char *)p)[0] = 1;
        if (i & 1) {
            /* Hand it over; whatever was in the slot is freed here. */
            void *old = atomic_exchange(&mailbox[next][x % MAILBOX], p);
            free(old);
        } else {
            free(p);
        }
        if ((i & 1023) == 0)
            drain_mailbox(me);
    }
    pthread_barrier_wait(&start);
    drain_mailbox(me);
    for (int k = 0; k < KEEP; k++)
        kept[me][k] = malloc(KEEP_SIZE); /* LEAK:keep */
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t t[THREADS];
    if (argc > 1)
        iterations = atol(argv[1]);
    pthread_barrier_init(&start, NULL, THREADS);
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i); /* HELD:pthread */
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("churned %ld allocations in %d threads\n", iterations * THREADS, THREADS); /* HELD:stdio */
    return 0;
}

/* Allocation-heavy multi-threaded workload for scripts/bench: THREADS
 * threads each make ITER allocations of mixed sizes from call stacks about
 * 12-20 frames deep, free most of them (some from another thread), and
 * realloc some.  Prints the number of allocation calls made. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static long iterations = 400000;
static int threads = 4;
static _Atomic(void *) mailbox[64][128];

static __attribute__((noinline)) void *leaf(size_t n)
{
    void *p = malloc(n);
    __asm__ volatile("" ::: "memory");
    return p;
}

static __attribute__((noinline)) void *descend(size_t n, int depth)
{
    void *p = depth ? descend(n, depth - 1) : leaf(n);
    __asm__ volatile("" ::: "memory");
    return p;
}

static void *worker(void *arg)
{
    long me = (long)arg;
    unsigned x = 88172645u ^ (unsigned)me;
    void *slots[256] = { 0 };
    for (long i = 0; i < iterations; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        unsigned s = x & 255;
        free(slots[s]);
        slots[s] = descend(16 + (x >> 8) % 1024, 8 + (int)((x >> 20) % 8));
        if ((x & 7) == 0)
            slots[s] = realloc(slots[s], 64 + (x >> 12) % 4096);
        if ((x & 15) == 1) { /* hand one over: freed by the next thread */
            void *old = atomic_exchange(&mailbox[(me + 1) % threads][x % 128], slots[s]);
            slots[s] = NULL;
            free(old);
        }
    }
    for (int s = 0; s < 256; s++)
        free(slots[s]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        threads = atoi(argv[1]);
    if (argc > 2)
        iterations = atol(argv[2]);
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    for (int b = 0; b < 64; b++)
        for (int k = 0; k < 128; k++)
            free(atomic_load(&mailbox[b][k]));
    /* malloc calls: one per iteration, plus the reallocs (1 in 8). */
    printf("%ld\n", threads * iterations + threads * iterations / 8);
    return 0;
}

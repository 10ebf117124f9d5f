/* The free path alone: allocate K blocks (untimed), time freeing them;
 * best of many rounds, in nanoseconds per free. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define K 4096

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void)
{
    static void *p[K];
    double best = 1e9;
    for (int round = 0; round < 500; round++) {
        for (int i = 0; i < K; i++)
            p[i] = malloc(32 + (i & 63));
        double t0 = now();
        for (int i = 0; i < K; i++)
            free(p[i]);
        double t = now() - t0;
        if (t < best)
            best = t;
    }
    printf("%.2f\n", best / K * 1e9);
    return 0;
}

/* A long-running loop whose memory grows in two ways: a cache that fills
 * during the first iterations and then stops, and a small leak every
 * iteration.  A snapshot is taken after each iteration (the API), so
 * `memwatch growth` sees the series.
 *
 *   server [ITERATIONS]   (default 12) */
#include <memwatch/memwatch.h>
#include <stdio.h>
#include <stdlib.h>

#define CACHE_SLOTS 300

static char *cache[CACHE_SLOTS];

static void __attribute__((noinline)) fill_cache(int it)
{
    /* 100 new entries per iteration until the cache is full. */
    for (int k = it * 100; k < (it + 1) * 100 && k < CACHE_SLOTS; k++)
        cache[k] = malloc(2000); /* LINE:cache */
}

static void __attribute__((noinline)) serve(int it)
{
    void *session = malloc(300); /* LINE:leak */
    (void)session;
    (void)it;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 12;
    for (int it = 0; it < n; it++) {
        fill_cache(it);
        serve(it);
        memwatch_snapshot_if_loaded(NULL);
    }
    printf("served %d\n", n);
    return 0;
}

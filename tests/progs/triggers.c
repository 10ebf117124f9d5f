/* Snapshot triggers and the control API.
 *
 *   triggers signal     raise(MEMWATCH_SIGNAL's signal) between two leaks
 *   triggers interval   run for ~1.2 s, leaking a little every 50 ms
 *   triggers api PATH   memwatch_snapshot_if_loaded(PATH), then
 *                       memwatch_snapshot (weak reference) with NULL;
 *                       prints both return values
 *   triggers memory     prints memwatch_get_traced_memory's numbers around
 *                       a known allocation
 */
#define MEMWATCH_WEAK
#include <memwatch/memwatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *keep[1000];

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (strcmp(argv[1], "signal") == 0) {
        keep[0] = malloc(1000); /* LEAK:before */
        raise(SIGUSR2);
        /* The snapshot is written by another thread, soon after the signal:
         * let it happen before the next allocation. */
        struct timespec ts = { 0, 300000000 };
        nanosleep(&ts, NULL);
        keep[1] = malloc(2000); /* LEAK:after */
        puts("signal done");
    } else if (strcmp(argv[1], "interval") == 0) {
        for (int i = 0; i < 24; i++) {
            keep[i] = malloc(100); /* LEAK:tick */
            struct timespec ts = { 0, 50000000 };
            nanosleep(&ts, NULL);
        }
        puts("interval done");
    } else if (strcmp(argv[1], "api") == 0 && argc > 2) {
        keep[0] = malloc(3000); /* LEAK:api */
        int a = memwatch_snapshot_if_loaded(argv[2]);
        int b = memwatch_snapshot ? memwatch_snapshot(NULL) : -1000;
        char written[4096] = "";
        int c = memwatch_snapshot_to ? memwatch_snapshot_to(NULL, written, sizeof written) : -1000;
        printf("dlsym=%d weak=%d to=%d written=%s tracing=%d\n", a, b, c, written,
               memwatch_is_tracing ? memwatch_is_tracing() : -1000);
    } else if (strcmp(argv[1], "memory") == 0) {
        size_t cur0 = 0, peak0 = 0, cur1 = 0, peak1 = 0, cur2 = 0, peak2 = 0;
        int r0 = memwatch_get_traced_memory ? memwatch_get_traced_memory(&cur0, &peak0) : -1000;
        char *p = malloc(1 << 20);
        memset(p, 1, 1 << 20);
        memwatch_get_traced_memory(&cur1, &peak1);
        free(p);
        memwatch_get_traced_memory(&cur2, &peak2);
        printf("r=%d grew=%zu peakgrew=%d back=%d\n", r0, cur1 - cur0, peak1 >= cur0 + (1 << 20),
               cur2 == cur0);
    } else {
        return 2;
    }
    return 0;
}

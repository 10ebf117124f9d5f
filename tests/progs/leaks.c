/* Known leak sites for the exact-numbers test (tests/integration/test_leaks.py).
 * Each leaking line carries a LEAK:name marker; the driver reads the line
 * numbers from here and the sizes from the constants below (mirrored in the
 * driver).  Everything not marked is freed before exit. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cpp_leaks(void); /* leaks_new.cpp */

static void *keep[4096];
static int nkeep;

static void hold(void *p)
{
    if (!p)
        abort();
    keep[nkeep++] = p;
}

static void __attribute__((noinline)) leak_malloc(void)
{
    for (int i = 0; i < 100; i++)
        hold(malloc(1000)); /* LEAK:malloc */
}

static void __attribute__((noinline)) leak_calloc(void)
{
    for (int i = 0; i < 30; i++)
        hold(calloc(12, 10)); /* LEAK:calloc */
}

static void __attribute__((noinline)) leak_realloc(void)
{
    for (int i = 0; i < 20; i++) {
        char *p = malloc(16); /* moved: counted at the realloc below */
        memset(p, 1, 16);
        p = realloc(p, 4000); /* LEAK:realloc */
        hold(p);
    }
}

static void __attribute__((noinline)) leak_reallocarray(void)
{
    for (int i = 0; i < 5; i++) {
        int *p = malloc(8);
        hold(reallocarray(p, 50, sizeof(int))); /* LEAK:reallocarray */
    }
}

static void __attribute__((noinline)) leak_aligned(void)
{
    for (int i = 0; i < 7; i++) {
        void *p;
        if (posix_memalign(&p, 64, 333)) /* LEAK:posix_memalign */
            abort();
        hold(p);
    }
    for (int i = 0; i < 9; i++)
        hold(aligned_alloc(128, 256)); /* LEAK:aligned_alloc */
    for (int i = 0; i < 11; i++)
        hold(memalign(32, 100)); /* LEAK:memalign */
    for (int i = 0; i < 3; i++)
        hold(valloc(5000)); /* LEAK:valloc */
}

static void __attribute__((noinline)) freed_everything(void)
{
    for (int i = 0; i < 1000; i++) {
        void *p = malloc(77); /* FREED:malloc */
        free(p);
    }
    void *q = calloc(3, 3); /* FREED:calloc */
    q = realloc(q, 99999);  /* FREED:realloc */
    free(q);
    void *r = malloc(50);   /* FREED:zero */
    if (realloc(r, 0) != NULL) /* glibc frees and returns NULL */
        abort();
}

static void __attribute__((noinline)) failed_realloc(void)
{
    char *p = malloc(222); /* LEAK:failed */
    void *q = realloc(p, SIZE_MAX / 2); /* fails: p keeps its size and site */
    if (q)
        abort();
    hold(p);
}

static void *thread_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 40; i++)
        hold(malloc(500)); /* LEAK:thread */
    return NULL;
}

int main(void)
{
    leak_malloc();
    leak_calloc();
    leak_realloc();
    leak_reallocarray();
    leak_aligned();
    freed_everything();
    failed_realloc();
    cpp_leaks();
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL); /* HELD:pthread */
    pthread_join(t, NULL);
    printf("leaks: %d blocks kept\n", nkeep); /* HELD:stdio */
    fflush(stdout);
    return 0;
}

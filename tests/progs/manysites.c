/* 10 million allocations from 1,000 distinct call stacks: the snapshot
 * must stay small (its size grows with sites, not allocations).
 *
 * site(n, depth) recurses with a path that encodes n in binary: each n in
 * 0..999 gives a different stack of return addresses. */
#include <stdio.h>
#include <stdlib.h>

#define SITES 1000
#define PER_SITE 10000

static void *keep[SITES];

static void __attribute__((noinline)) leaf(int n, int last)
{
    void *p = malloc(16 + (n & 7));
    if (last) {
        free(keep[n]);
        keep[n] = p; /* one live block per site */
    } else {
        free(p);
    }
}

static void __attribute__((noinline)) zero(int n, int bit, int last);
static void __attribute__((noinline)) one(int n, int bit, int last);

static void __attribute__((noinline)) step(int n, int bit, int last)
{
    if (bit < 0)
        leaf(n, last);
    else if ((n >> bit) & 1)
        one(n, bit - 1, last);
    else
        zero(n, bit - 1, last);
}

static void __attribute__((noinline)) zero(int n, int bit, int last)
{
    step(n, bit, last);
    __asm__ volatile("");
}

static void __attribute__((noinline)) one(int n, int bit, int last)
{
    step(n, bit, last);
    __asm__ volatile("");
}

int main(void)
{
    for (int r = 0; r < PER_SITE; r++)
        for (int n = 0; n < SITES; n++)
            step(n, 9, r == PER_SITE - 1);
    printf("%d allocations from %d sites\n", SITES * PER_SITE, SITES);
    return 0;
}

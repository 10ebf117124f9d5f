/* A program with two known leaks, and (built with -DFIXED) the same
 * program with them fixed: the leak check must fail the first and pass
 * the second.
 *
 *   leaky [REQUESTS]   (default 200) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct request {
    char *body;
    char *header;
};

static void __attribute__((noinline)) handle(struct request *r, int i)
{
    r->body = malloc(512);    /* LEAK:body */
    r->header = calloc(1, 64); /* LEAK:header */
    snprintf(r->header, 64, "request %d", i);
    memset(r->body, 'b', 512);
}

static void __attribute__((noinline)) release(struct request *r)
{
#ifdef FIXED
    free(r->body);
    free(r->header);
#else
    (void)r; /* forgets to free: the leak */
#endif
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    struct request r;
    for (int i = 0; i < n; i++) {
        handle(&r, i);
        release(&r);
    }
    printf("handled %d\n", n);
    return 0;
}

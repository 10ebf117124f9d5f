/* A C library called from Python through ctypes (which releases the GIL
 * around the call): its allocations must be attributed to the calling
 * Python line, and with MEMWATCH_NATIVE=1 show this function too. */
#include <stdlib.h>
#include <string.h>

void *leaky_alloc(size_t n);

void *leaky_alloc(size_t n)
{
    char *p = malloc(n); /* LEAK:cext */
    if (p)
        memset(p, 7, n);
    return p;
}

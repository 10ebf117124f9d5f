/* The bootstrap pool; see bootstrap.h. */
#include "bootstrap.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define POOL_SIZE (256 * 1024)
#define HEADER 16 /* the block's size, kept just before it */

static alignas(4096) uint8_t pool[POOL_SIZE];
static _Atomic size_t used;

void *mw_boot_alloc(size_t size, size_t align)
{
    if (align < HEADER)
        align = HEADER;
    if (align > 4096 || size > POOL_SIZE)
        return NULL;
    for (;;) {
        size_t at = atomic_load_explicit(&used, memory_order_relaxed);
        size_t start = (at + HEADER + align - 1) & ~(align - 1);
        size_t end = start + size;
        if (end > POOL_SIZE)
            return NULL;
        if (atomic_compare_exchange_weak_explicit(&used, &at, end, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *(size_t *)(pool + start - HEADER) = size;
            return pool + start;
        }
    }
}

int mw_boot_owns(const void *p)
{
    return (const uint8_t *)p >= pool && (const uint8_t *)p < pool + POOL_SIZE;
}

size_t mw_boot_size(const void *p)
{
    return *(const size_t *)((const uint8_t *)p - HEADER);
}

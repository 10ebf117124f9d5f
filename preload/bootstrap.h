/* Memory for the allocations made before the real allocator is known:
 * dlsym(RTLD_NEXT, ...) itself calls calloc while the shim looks up the
 * real functions.  A small static pool, bump-allocated and never reused;
 * free() recognises its blocks and ignores them. */
#ifndef MEMWATCH_BOOTSTRAP_H
#define MEMWATCH_BOOTSTRAP_H

#include <stddef.h>

/* Zeroed memory aligned to `align` (a power of two up to 4096), or NULL
 * when the pool is spent.  Lock-free. */
void *mw_boot_alloc(size_t size, size_t align) __attribute__((visibility("hidden")));
int mw_boot_owns(const void *p) __attribute__((visibility("hidden")));
/* The size asked for when p was allocated (p must be owned). */
size_t mw_boot_size(const void *p) __attribute__((visibility("hidden")));

#endif /* MEMWATCH_BOOTSTRAP_H */

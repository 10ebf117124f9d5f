/* memwatch control API: what a profiled program may call to take snapshots
 * and read the tracer's counters.  The functions are defined by
 * libmemwatch.so, so they exist only when the program runs under memwatch
 * (`memwatch run -- prog` or LD_PRELOAD=libmemwatch.so prog).
 *
 * A program that must also run without memwatch calls them in one of two ways:
 *
 *  1. Through dlsym, which works for every kind of executable:
 *
 *         #include <memwatch/memwatch.h>
 *         memwatch_snapshot_if_loaded("before.mws");   // 0, or -ENOSYS
 *
 *     (link with -ldl on glibc older than 2.34).
 *
 *  2. Through weak references, for position-independent executables and
 *     shared libraries (the default on Debian):
 *
 *         #define MEMWATCH_WEAK
 *         #include <memwatch/memwatch.h>
 *         if (memwatch_snapshot) memwatch_snapshot("before.mws");
 *
 * All functions are thread-safe.  None may be called from a signal handler.
 */
#ifndef MEMWATCH_MEMWATCH_H
#define MEMWATCH_MEMWATCH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef MEMWATCH_WEAK
#define MEMWATCH_API_DECL __attribute__((weak))
#else
#define MEMWATCH_API_DECL
#endif

/* Write a snapshot of the live allocations now and wait until it is on
 * disk.  path is the file to write; NULL means the next name from
 * MEMWATCH_OUTPUT.  Every allocation and free made by the calling thread
 * before the call is included.  Returns 0, or a negative errno value
 * (-EPERM when memwatch records nothing in this process, for example
 * under MEMWATCH_DISABLE=1). */
MEMWATCH_API_DECL int memwatch_snapshot(const char *path);

/* Like memwatch_snapshot(), and copies the name of the file written (NUL
 * terminated, truncated to written_size) into written when it is not NULL. */
MEMWATCH_API_DECL int memwatch_snapshot_to(const char *path, char *written,
                                           size_t written_size);

/* Current and peak live bytes of the traced allocations, exact as of the
 * call (like tracemalloc.get_traced_memory()).  Returns 0 or -EPERM. */
MEMWATCH_API_DECL int memwatch_get_traced_memory(size_t *current, size_t *peak);

/* 1 when allocations of this process are being recorded, else 0. */
MEMWATCH_API_DECL int memwatch_is_tracing(void);

#undef MEMWATCH_API_DECL

#if defined(__GNUC__) && !defined(MEMWATCH_NO_DLSYM_HELPERS)
#include <dlfcn.h>
#include <errno.h>

/* memwatch_snapshot() when libmemwatch.so is loaded, else -ENOSYS. */
static inline int memwatch_snapshot_if_loaded(const char *path)
{
    int (*fn)(const char *) =
        (int (*)(const char *))dlsym(RTLD_DEFAULT, "memwatch_snapshot");
    return fn ? fn(path) : -ENOSYS;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* MEMWATCH_MEMWATCH_H */

/* The only door to the operating system for the preloaded library (after
 * mimalloc's prim.h): memory mappings, files, clocks, futexes, threads'
 * identities.  Everything else in preload/ is plain logic over memory.
 *
 * None of these functions calls malloc or takes a lock; all but
 * mw_os_warn's formatting are thin wrappers over one system call. */
#ifndef MEMWATCH_PLATFORM_H
#define MEMWATCH_PLATFORM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Anonymous private read-write mapping; NULL on failure.  reserve_only
 * asks for MAP_NORESERVE, for large regions touched lazily. */
void *mw_os_map(size_t size, int reserve_only);
void mw_os_unmap(void *p, size_t size);
/* Grow (or create, when old is NULL) an anonymous mapping, moving it if
 * needed; contents are kept.  NULL on failure (the old mapping stays). */
void *mw_os_remap(void *old, size_t old_size, size_t new_size);
size_t mw_os_page_size(void);

uint64_t mw_os_now_ns(void);      /* CLOCK_MONOTONIC */
uint64_t mw_os_realtime_ns(void); /* CLOCK_REALTIME */
void mw_os_sleep_ns(uint64_t ns);
void mw_os_yield(void);
pid_t mw_os_getpid(void);
pid_t mw_os_getppid(void);
pid_t mw_os_gettid(void);
/* 1 when no thread of this process but the caller is alive (the others,
 * if any, are zombies: a main thread that called pthread_exit stays one
 * until the process ends).  Cheap when the process has many threads. */
int mw_os_alone(void);
/* 1 while the thread tid of this process exists (tgkill with signal 0). */
int mw_os_thread_alive(pid_t tid);
/* End the process now (the exit_group system call). */
void mw_os_exit_group(int status) __attribute__((noreturn));

/* Futex on a 32-bit word: wait while *word == expected, at most timeout_ns
 * (0: no limit).  Spurious wake-ups are allowed. */
void mw_os_futex_wait(const uint32_t *word, uint32_t expected,
                      uint64_t timeout_ns);
void mw_os_futex_wake(uint32_t *word);

/* Create `path` exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) and write
 * all of data to it.  Returns 0 or -errno; a partial file is removed. */
int mw_os_write_new_file(const char *path, const void *data, size_t len);
/* Rename without ever replacing an existing file: -EEXIST if `to` exists. */
int mw_os_rename_noreplace(const char *from, const char *to);
int mw_os_unlink(const char *path);
/* Append one record to a file with O_APPEND (a single write(2), so lines
 * from several processes never interleave). */
int mw_os_append_line(const char *path, const char *line, size_t len);
/* Read up to size-1 bytes of a file into buf; returns bytes read or -errno.
 * buf is NUL terminated. */
ssize_t mw_os_read_file(const char *path, char *buf, size_t size);
ssize_t mw_os_readlink(const char *path, char *buf, size_t size);
int mw_os_getcwd(char *buf, size_t size);
int mw_os_is_secure(void); /* getauxval(AT_SECURE) */

/* Write a whole buffer to a file descriptor, retrying on EINTR. */
void mw_os_write_fd(int fd, const char *s, size_t len);

/* Small allocation-free formatter: supports %s %d %u %ld %lu %llu %zu %x
 * %lx %llx %p %c %% (no widths).  Always NUL terminates; returns the length
 * written.  Async-signal-safe. */
size_t mw_fmt(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t mw_vfmt(char *buf, size_t size, const char *fmt, va_list ap);

/* "memwatch: <message>\n" on stderr in one write(2). */
void mw_os_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* MEMWATCH_PLATFORM_H */

/* System calls of the preloaded library, in one place; see platform.h. */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void *mw_os_map(size_t size, int reserve_only)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (reserve_only ? MAP_NORESERVE : 0);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void mw_os_unmap(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

void *mw_os_remap(void *old, size_t old_size, size_t new_size)
{
    if (!old)
        return mw_os_map(new_size, 0);
    void *p = mremap(old, old_size, new_size, MREMAP_MAYMOVE);
    return p == MAP_FAILED ? NULL : p;
}

size_t mw_os_page_size(void)
{
    static size_t page;
    if (!page)
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t mw_os_now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t mw_os_realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

void mw_os_sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

void mw_os_yield(void)
{
    sched_yield();
}

pid_t mw_os_getpid(void)
{
    return getpid();
}

pid_t mw_os_getppid(void)
{
    return getppid();
}

pid_t mw_os_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* The state letter of /proc/self/task/<tid>/stat, or 0. */
static char task_state(const char *tid)
{
    char path[64], buf[512];
    mw_fmt(path, sizeof path, "/proc/self/task/%s/stat", tid);
    if (mw_os_read_file(path, buf, sizeof buf) <= 0)
        return 0;
    /* The name may hold spaces and parentheses: the state follows the
     * last ')'. */
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

int mw_os_alone(void)
{
    char buf[1024];
    if (mw_os_read_file("/proc/self/stat", buf, sizeof buf) <= 0)
        return 0;
    char *p = strrchr(buf, ')');
    int field = 2;
    for (; p && *p && field < 20; p++)
        if (*p == ' ')
            field++;
    /* num_threads (field 20) counts a zombie main thread too. */
    if (!p || field != 20 || atoi(p) > 2)
        return 0;
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char me[24];
    mw_fmt(me, sizeof me, "%d", (int)mw_os_gettid());
    int others = 0;
    char dents[2048];
    long n;
    while ((n = syscall(SYS_getdents64, fd, dents, sizeof dents)) > 0) {
        for (long at = 0; at < n;) {
            const char *name = dents + at + 19; /* d_name in linux_dirent64 */
            unsigned short reclen = *(unsigned short *)(void *)(dents + at + 16);
            if (name[0] != '.' && strcmp(name, me) != 0) {
                char st = task_state(name);
                if (st && st != 'Z' && st != 'X')
                    others++;
            }
            at += reclen;
        }
    }
    close(fd);
    return n == 0 && others == 0;
}

int mw_os_thread_alive(pid_t tid)
{
    int saved = errno;
    long r = syscall(SYS_tgkill, getpid(), tid, 0);
    int alive = r == 0 || errno != ESRCH;
    errno = saved;
    return alive;
}

void mw_os_exit_group(int status)
{
    for (;;)
        syscall(SYS_exit_group, status);
}

void mw_os_futex_wait(const uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ns) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
        ts.tv_nsec = (long)(timeout_ns % 1000000000u);
        tp = &ts;
    }
    int saved = errno;
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, tp, NULL, 0);
    errno = saved;
}

void mw_os_futex_wake(uint32_t *word)
{
    int saved = errno;
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
    errno = saved;
}

int mw_os_write_new_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    const char *p = data;
    int r = 0;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) != 0 && r == 0)
        r = -errno;
    if (r)
        unlink(path);
    return r;
}

int mw_os_rename_noreplace(const char *from, const char *to)
{
#ifdef SYS_renameat2
    if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
#endif
    /* File systems without renameat2 flags: link() never replaces either. */
    if (link(from, to) != 0)
        return -errno;
    unlink(from);
    return 0;
}

int mw_os_unlink(const char *path)
{
    return unlink(path) == 0 ? 0 : -errno;
}

int mw_os_append_line(const char *path, const char *line, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, line, len);
    int r = n == (ssize_t)len ? 0 : -EIO;
    close(fd);
    return r;
}

ssize_t mw_os_read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    return (ssize_t)got;
}

ssize_t mw_os_readlink(const char *path, char *buf, size_t size)
{
    ssize_t n = readlink(path, buf, size - 1);
    if (n < 0)
        return -errno;
    buf[n] = 0;
    return n;
}

int mw_os_getcwd(char *buf, size_t size)
{
    /* The raw system call: glibc's getcwd(NULL, 0) would allocate. */
    long n = syscall(SYS_getcwd, buf, size);
    return n < 0 ? -errno : 0;
}

int mw_os_is_secure(void)
{
    return getauxval(AT_SECURE) != 0;
}

void mw_os_write_fd(int fd, const char *s, size_t len)
{
    int saved = errno;
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        s += n;
        len -= (size_t)n;
    }
    errno = saved;
}

static size_t put_str(char *buf, size_t size, size_t at, const char *s)
{
    if (!s)
        s = "(null)";
    while (*s) {
        if (at + 1 < size)
            buf[at] = *s;
        at++;
        s++;
    }
    return at;
}

static size_t put_num(char *buf, size_t size, size_t at, unsigned long long v,
                      unsigned base, int negative)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (negative)
        tmp[n++] = '-';
    while (n > 0) {
        if (at + 1 < size)
            buf[at] = tmp[n - 1];
        at++;
        n--;
    }
    return at;
}

size_t mw_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
    size_t at = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (at + 1 < size)
                buf[at] = *f;
            at++;
            continue;
        }
        f++;
        int longs = 0, is_size = 0;
        while (*f == 'l') {
            longs++;
            f++;
        }
        if (*f == 'z') {
            is_size = 1;
            f++;
        }
        switch (*f) {
        case 's':
            at = put_str(buf, size, at, va_arg(ap, const char *));
            break;
        case 'c': {
            char c[2] = { (char)va_arg(ap, int), 0 };
            at = put_str(buf, size, at, c);
            break;
        }
        case 'd': {
            long long v = longs >= 2 ? va_arg(ap, long long)
                        : longs == 1 ? va_arg(ap, long)
                        : is_size    ? (long long)va_arg(ap, ssize_t)
                                     : va_arg(ap, int);
            at = put_num(buf, size, at, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v,
                         10, v < 0);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = longs >= 2 ? va_arg(ap, unsigned long long)
                                 : longs == 1 ? va_arg(ap, unsigned long)
                                 : is_size    ? va_arg(ap, size_t)
                                              : va_arg(ap, unsigned);
            at = put_num(buf, size, at, v, *f == 'x' ? 16 : 10, 0);
            break;
        }
        case 'p':
            at = put_str(buf, size, at, "0x");
            at = put_num(buf, size, at, (uintptr_t)va_arg(ap, void *), 16, 0);
            break;
        case '%':
            at = put_str(buf, size, at, "%");
            break;
        default:
            return at < size ? (buf[at] = 0, at) : (size ? (buf[size - 1] = 0, size - 1) : 0);
        }
    }
    if (size)
        buf[at < size ? at : size - 1] = 0;
    return at < size ? at : (size ? size - 1 : 0);
}

size_t mw_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = mw_vfmt(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void mw_os_warn(const char *fmt, ...)
{
    char line[1024];
    size_t n = mw_fmt(line, sizeof line, "memwatch: ");
    va_list ap;
    va_start(ap, fmt);
    n += mw_vfmt(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    mw_os_write_fd(2, line, n);
}

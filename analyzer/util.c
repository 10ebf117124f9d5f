/* The analyzer's small containers; see util.h. */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void out_of_memory(void)
{
    fputs("memwatch: out of memory\n", stderr);
    exit(2);
}

void *mw_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *mw_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *mw_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        out_of_memory();
    return p;
}

char *mw_xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        out_of_memory();
    return d;
}

static size_t slot_for(uint64_t key, size_t cap)
{
    /* A full avalanche: keys are often addresses, multiples of 16. */
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return (size_t)key & (cap - 1);
}

void *mw_hmap_get(const struct mw_hmap *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = slot_for(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->e[i].val)
            return NULL;
        if (m->e[i].key == key)
            return m->e[i].val;
    }
}

static void grow(struct mw_hmap *m)
{
    struct mw_hmap n = { 0 };
    n.cap = m->cap ? m->cap * 2 : 64;
    n.e = mw_xcalloc(n.cap, sizeof *n.e);
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].val)
            mw_hmap_put(&n, m->e[i].key, m->e[i].val);
    free(m->e);
    *m = n;
}

void mw_hmap_put(struct mw_hmap *m, uint64_t key, void *val)
{
    if ((m->count + 1) * 2 > m->cap) /* at most half full: short probes */
        grow(m);
    size_t i = slot_for(key, m->cap);
    while (m->e[i].val && m->e[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->e[i].val)
        m->count++;
    m->e[i].key = key;
    m->e[i].val = val;
}

void mw_hmap_free(struct mw_hmap *m)
{
    free(m->e);
    memset(m, 0, sizeof *m);
}

struct mw_pool_chunk {
    struct mw_pool_chunk *next;
    size_t size; /* of the whole mapping */
    char data[];
};

#define POOL_CHUNK (8u << 20)

/* Chunks are mappings of their own, with transparent huge pages asked for:
 * a million-site snapshot touches hundreds of megabytes, and page faults
 * were a third of the analyzer's time. */
void *mw_pool_alloc_raw(struct mw_pool *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if ((size_t)(p->end - p->cur) < n) {
        size_t size = n + 64 > POOL_CHUNK ? ((n + 64 + 4095) & ~(size_t)4095) : POOL_CHUNK;
        void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            out_of_memory();
#ifdef MADV_HUGEPAGE
        madvise(m, size, MADV_HUGEPAGE);
#endif
        struct mw_pool_chunk *c = m;
        c->next = p->chunks;
        c->size = size;
        p->chunks = c;
        p->cur = (char *)(((uintptr_t)c->data + 15) & ~(uintptr_t)15);
        p->end = (char *)m + size;
    }
    void *out = p->cur;
    p->cur += n;
    return out;
}

void *mw_pool_alloc(struct mw_pool *p, size_t n)
{
    return mw_pool_alloc_raw(p, n); /* fresh anonymous memory is zero */
}

char *mw_pool_strdup(struct mw_pool *p, const char *s, size_t len)
{
    char *d = mw_pool_alloc(p, len + 1);
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

void mw_pool_free(struct mw_pool *p)
{
    while (p->chunks) {
        struct mw_pool_chunk *next = p->chunks->next;
        munmap(p->chunks, p->chunks->size);
        p->chunks = next;
    }
    p->cur = p->end = NULL;
}

void mw_path_normalize(char *path)
{
    int absolute = path[0] == '/';
    char *copy = mw_xstrdup(path);
    const char **parts = mw_xcalloc(strlen(path) / 2 + 2, sizeof *parts);
    size_t n = 0, ups = 0; /* ups: leading ".." kept in a relative path */

    for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            if (n > ups)
                n--;
            else if (!absolute)
                parts[n++] = c, ups++;
            continue; /* "/.." is "/" */
        }
        parts[n++] = c;
    }
    char *out = path;
    if (absolute)
        *out++ = '/';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(parts[i]);
        if (i)
            *out++ = '/';
        memcpy(out, parts[i], len);
        out += len;
    }
    if (out == path)
        *out++ = '.';
    *out = 0;
    free(parts);
    free(copy);
}

const char *mw_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

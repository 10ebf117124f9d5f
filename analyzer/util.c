/* The analyzer's small containers; see util.h. */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void *mw_hmap_get(const struct mw_hmap *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = slot_for(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i])
            return NULL;
        if (m->keys[i] == key)
            return m->vals[i];
    }
}

static void grow(struct mw_hmap *m)
{
    struct mw_hmap n = { 0 };
    n.cap = m->cap ? m->cap * 2 : 64;
    n.keys = mw_xcalloc(n.cap, sizeof *n.keys);
    n.vals = mw_xcalloc(n.cap, sizeof *n.vals);
    n.used = mw_xcalloc(n.cap, 1);
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i])
            mw_hmap_put(&n, m->keys[i], m->vals[i]);
    mw_hmap_free(m);
    *m = n;
}

void mw_hmap_put(struct mw_hmap *m, uint64_t key, void *val)
{
    if ((m->count + 1) * 4 > m->cap * 3)
        grow(m);
    size_t i = slot_for(key, m->cap);
    while (m->used[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->used[i]) {
        m->used[i] = 1;
        m->keys[i] = key;
        m->count++;
    }
    m->vals[i] = val;
}

void mw_hmap_free(struct mw_hmap *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
    memset(m, 0, sizeof *m);
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

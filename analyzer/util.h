/* Small containers of the analyzer: a hash map from 64-bit keys to
 * pointers, and checked allocation.  The analyzer is an ordinary program:
 * it allocates with malloc and exits with a message when memory runs out. */
#ifndef MEMWATCH_ANALYZER_UTIL_H
#define MEMWATCH_ANALYZER_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* malloc/calloc/realloc/strdup that print "memwatch: out of memory" and
 * exit with status 2 instead of returning NULL. */
void *mw_xmalloc(size_t n);
void *mw_xcalloc(size_t n, size_t size);
void *mw_xrealloc(void *p, size_t n);
char *mw_xstrdup(const char *s);

/* Open-addressing map from 64-bit keys to non-NULL pointers (key 0 is
 * allowed).  Entries hold key and value together: one cache line per probe. */
struct mw_hmap_entry {
    uint64_t key;
    void *val; /* NULL: empty */
};

struct mw_hmap {
    struct mw_hmap_entry *e;
    size_t cap, count;
};

void *mw_hmap_get(const struct mw_hmap *m, uint64_t key);
void mw_hmap_put(struct mw_hmap *m, uint64_t key, void *val);
/* The value in slot i (0 <= i < m->cap), or NULL: to visit every entry. */
static inline void *mw_hmap_at(const struct mw_hmap *m, size_t i)
{
    return m->e[i].val;
}
void mw_hmap_free(struct mw_hmap *m);

/* Bump allocation for many small objects freed all at once. */
struct mw_pool {
    struct mw_pool_chunk *chunks;
    char *cur, *end;
};

/* 16-byte aligned memory, zeroed (pool memory is never reused); exits on
 * out-of-memory like mw_xmalloc. */
void *mw_pool_alloc(struct mw_pool *p, size_t n);
void *mw_pool_alloc_raw(struct mw_pool *p, size_t n);
char *mw_pool_strdup(struct mw_pool *p, const char *s, size_t len);
void mw_pool_free(struct mw_pool *p);

/* Lexically normalise a path in place ("a/./b/../c" -> "a/c"). */
void mw_path_normalize(char *path);
/* The last component of a path. */
const char *mw_basename(const char *path);

#endif /* MEMWATCH_ANALYZER_UTIL_H */

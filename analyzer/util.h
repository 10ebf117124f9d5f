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

/* Open-addressing map; key 0 is allowed. */
struct mw_hmap {
    uint64_t *keys;
    void **vals;
    uint8_t *used;
    size_t cap, count;
};

void *mw_hmap_get(const struct mw_hmap *m, uint64_t key);
void mw_hmap_put(struct mw_hmap *m, uint64_t key, void *val);
void mw_hmap_free(struct mw_hmap *m);

/* Lexically normalise a path in place ("a/./b/../c" -> "a/c"). */
void mw_path_normalize(char *path);
/* The last component of a path. */
const char *mw_basename(const char *path);

#endif /* MEMWATCH_ANALYZER_UTIL_H */

/* Grouping and ordering, exactly as tracemalloc's Snapshot.statistics()
 * and Snapshot.compare_to() do it (Lib/tracemalloc.py), applied to the
 * per-stack totals of a snapshot: a site contributes its live bytes and
 * block count to the group of its key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "codec.h"

struct group_map {
    struct mw_hmap index; /* hash of key frames -> chain of stat indexes */
    struct mw_pool chains;
    struct mw_stats *st;
    size_t cap;
};

struct chain {
    struct chain *next;
    size_t at;
};

static uint64_t key_hash(const struct mw_frame *const *frames, uint32_t n)
{
    return mw_hash64(frames, n * sizeof *frames, 4);
}

static int key_equal(const struct mw_stat *st, const struct mw_frame *const *frames, uint32_t n)
{
    return st->nframes == n && memcmp(st->frames, frames, n * sizeof *frames) == 0;
}

/* Find or add the statistic for a key; returns its index. */
static size_t find_or_add(struct group_map *g, const struct mw_frame *const *frames, uint32_t n)
{
    uint64_t h = key_hash(frames, n);
    struct chain *head = mw_hmap_get(&g->index, h);
    for (struct chain *c = head; c; c = c->next)
        if (key_equal(&g->st->v[c->at], frames, n))
            return c->at;
    if (g->st->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->st->v = mw_xrealloc(g->st->v, g->cap * sizeof *g->st->v);
    }
    struct mw_stat *st = &g->st->v[g->st->n];
    memset(st, 0, sizeof *st);
    st->frames = mw_pool_alloc(&g->st->pool, (n ? n : 1) * sizeof *st->frames);
    memcpy(st->frames, frames, n * sizeof *frames);
    st->nframes = n;
    struct chain *c = mw_pool_alloc(&g->chains, sizeof *c);
    c->at = g->st->n;
    c->next = head;
    mw_hmap_put(&g->index, h, c);
    return g->st->n++;
}

static void free_index(struct group_map *g)
{
    mw_hmap_free(&g->index);
    mw_pool_free(&g->chains);
}

/* tracemalloc's frames are (filename, lineno): a line is one key whatever
 * function it is in (a generator expression and its enclosing code share
 * their line).  Native frames without a line keep their symbol, which is
 * then all that tells them apart. */
static const struct mw_frame *line_frame(struct mw_resolver *r, const struct mw_frame *f)
{
    if (f->line == 0 || !f->function[0])
        return f;
    struct mw_frame k = { .file = f->file, .line = f->line, .function = "",
                          .module = f->module, .flags = f->flags & MW_FRAME_PYTHON };
    return mw_frame_intern(r, &k);
}

/* The file-only frame tracemalloc uses for key 'filename': (file, 0). */
static const struct mw_frame *file_frame(struct mw_resolver *r, const struct mw_frame *f)
{
    struct mw_frame k = { .file = f->file, .line = 0, .function = "",
                          .module = f->module, .flags = f->flags & MW_FRAME_PYTHON };
    return mw_frame_intern(r, &k);
}

static const struct mw_frame *function_frame(struct mw_resolver *r, const struct mw_frame *f)
{
    struct mw_frame k = { .file = f->file, .line = 0, .function = f->function,
                          .module = f->module, .flags = f->flags & MW_FRAME_PYTHON };
    if (f->line == 0 && f->module[0] && strcmp(f->file, f->module) == 0) {
        /* No debug information: "symbol+0x1f" names an address; group by
         * the symbol alone. */
        char name[1024];
        snprintf(name, sizeof name, "%s", f->function);
        char *plus = strrchr(name, '+');
        if (plus && plus != name)
            *plus = 0;
        k.function = mw_intern(r, name);
    }
    return mw_frame_intern(r, &k);
}

static const struct mw_frame *key_frame(struct mw_resolver *r, const struct mw_frame *f,
                                        enum mw_key key)
{
    return key == MW_KEY_FILENAME   ? file_frame(r, f)
         : key == MW_KEY_FUNCTION   ? function_frame(r, f)
                                    : line_frame(r, f);
}

static void add(struct group_map *g, const struct mw_frame *const *frames, uint32_t n,
                const struct mw_site *site, const struct mw_trace *t)
{
    size_t at = find_or_add(g, frames, n); /* may move g->st->v */
    struct mw_stat *st = &g->st->v[at];
    st->size += site->live_bytes;
    st->count += site->live_count;
    if (!st->example || site->live_bytes > st->example_bytes) {
        st->example = t;
        st->example_bytes = site->live_bytes;
    }
}

/* Frames compare as tracemalloc's Frame: (filename, lineno); the function
 * only breaks ties between frames tracemalloc could not tell apart. */
static int frame_cmp(const struct mw_frame *a, const struct mw_frame *b)
{
    if (a == b)
        return 0;
    int c = strcmp(a->file, b->file);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return strcmp(a->function, b->function);
}

/* Traceback comparison: tuples of frames, oldest first. */
static int key_cmp(const struct mw_stat *a, const struct mw_stat *b)
{
    uint32_t n = a->nframes < b->nframes ? a->nframes : b->nframes;
    for (uint32_t i = 1; i <= n; i++) {
        int c = frame_cmp(a->frames[a->nframes - i], b->frames[b->nframes - i]);
        if (c)
            return c;
    }
    return a->nframes < b->nframes ? -1 : a->nframes > b->nframes;
}

#define CMP3(x, y) ((x) < (y) ? -1 : (x) > (y))

/* Statistic._sort_key = (size, count, traceback), reverse=True. */
static int stat_order(const void *pa, const void *pb)
{
    const struct mw_stat *a = pa, *b = pb;
    int c = CMP3(b->size, a->size);
    if (!c)
        c = CMP3(b->count, a->count);
    return c ? c : key_cmp(b, a);
}

static uint64_t abs64(int64_t v)
{
    return v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
}

/* StatisticDiff._sort_key = (|size_diff|, size, |count_diff|, count,
 * traceback), reverse=True. */
static int diff_order(const void *pa, const void *pb)
{
    const struct mw_stat *a = pa, *b = pb;
    int c = CMP3(abs64(b->size_diff), abs64(a->size_diff));
    if (!c)
        c = CMP3(b->size, a->size);
    if (!c)
        c = CMP3(abs64(b->count_diff), abs64(a->count_diff));
    if (!c)
        c = CMP3(b->count, a->count);
    return c ? c : key_cmp(b, a);
}

int mw_group(struct mw_resolver *r, const struct mw_snap *s, const struct mw_trace *traces,
             enum mw_key key, int cumulative, const struct mw_filter *filter,
             struct mw_stats *out)
{
    struct group_map g = { .st = out };
    const struct mw_frame *one[1];
    const struct mw_frame **scratch = NULL;
    uint32_t scratch_cap = 0;
    memset(out, 0, sizeof *out);

    for (size_t i = 0; i < s->nsites; i++) {
        const struct mw_site *site = &s->sites[i];
        const struct mw_trace *t = &traces[i];
        if (!mw_filter_keep(filter, t)) {
            out->filtered_bytes += site->live_bytes;
            out->filtered_blocks += site->live_count;
            out->filtered_sites++;
            continue;
        }
        out->total_bytes += site->live_bytes;
        out->total_blocks += site->live_count;
        out->total_sites++;
        /* The frames from the reported site outwards; the allocation
         * machinery below it is not part of any key. */
        const struct mw_frame *const *frames = t->frames + t->site;
        uint32_t n = t->nframes - t->site;
        if (key == MW_KEY_TRACEBACK) {
            if (n > scratch_cap) {
                scratch_cap = n;
                scratch = mw_xrealloc(scratch, n * sizeof *scratch);
            }
            for (uint32_t k = 0; k < n; k++)
                scratch[k] = line_frame(r, frames[k]);
            add(&g, scratch, n, site, t);
        } else if (!cumulative) {
            one[0] = key_frame(r, frames[0], key);
            add(&g, one, 1, site, t);
        } else {
            for (uint32_t k = 0; k < n; k++) {
                one[0] = key_frame(r, frames[k], key);
                add(&g, one, 1, site, t);
            }
        }
    }
    free(scratch);
    free_index(&g);
    qsort(out->v, out->n, sizeof *out->v, stat_order);
    return 0;
}

int mw_compare(const struct mw_stats *old_stats, const struct mw_stats *new_stats,
               struct mw_stats *out)
{
    struct group_map old_index = { .st = (struct mw_stats *)old_stats };
    uint8_t *matched = mw_xcalloc(old_stats->n ? old_stats->n : 1, 1);
    struct mw_hmap *idx = &old_index.index;

    for (size_t i = 0; i < old_stats->n; i++) {
        const struct mw_stat *st = &old_stats->v[i];
        uint64_t h = key_hash(st->frames, st->nframes);
        struct chain *c = mw_pool_alloc(&old_index.chains, sizeof *c);
        c->at = i;
        c->next = mw_hmap_get(idx, h);
        mw_hmap_put(idx, h, c);
    }
    memset(out, 0, sizeof *out);
    out->v = mw_xcalloc(old_stats->n + new_stats->n + 1, sizeof *out->v);
    for (size_t i = 0; i < new_stats->n; i++) {
        const struct mw_stat *st = &new_stats->v[i];
        struct mw_stat *d = &out->v[out->n++];
        *d = *st;
        d->frames = mw_pool_alloc(&out->pool, (st->nframes ? st->nframes : 1) * sizeof *d->frames);
        memcpy(d->frames, st->frames, st->nframes * sizeof *d->frames);
        d->size_diff = (int64_t)st->size;
        d->count_diff = (int64_t)st->count;
        for (struct chain *c = mw_hmap_get(idx, key_hash(st->frames, st->nframes)); c; c = c->next) {
            const struct mw_stat *o = &old_stats->v[c->at];
            if (!matched[c->at] && key_equal(o, st->frames, st->nframes)) {
                matched[c->at] = 1;
                d->size_diff = (int64_t)(st->size - o->size);
                d->count_diff = (int64_t)(st->count - o->count);
                break;
            }
        }
    }
    for (size_t i = 0; i < old_stats->n; i++) {
        if (matched[i])
            continue;
        const struct mw_stat *o = &old_stats->v[i];
        struct mw_stat *d = &out->v[out->n++];
        *d = *o;
        d->frames = mw_pool_alloc(&out->pool, (o->nframes ? o->nframes : 1) * sizeof *d->frames);
        memcpy(d->frames, o->frames, o->nframes * sizeof *d->frames);
        d->size = 0;
        d->count = 0;
        d->size_diff = -(int64_t)o->size;
        d->count_diff = -(int64_t)o->count;
    }
    free(matched);
    free_index(&old_index);
    out->total_bytes = new_stats->total_bytes;
    out->total_blocks = new_stats->total_blocks;
    out->total_sites = new_stats->total_sites;
    out->filtered_bytes = new_stats->filtered_bytes;
    out->filtered_blocks = new_stats->filtered_blocks;
    out->filtered_sites = new_stats->filtered_sites;
    qsort(out->v, out->n, sizeof *out->v, diff_order);
    return 0;
}

void mw_stats_free(struct mw_stats *st)
{
    mw_pool_free(&st->pool);
    free(st->v);
    memset(st, 0, sizeof *st);
}

int mw_key_parse(const char *name, enum mw_key *key)
{
    static const char *const names[] = { "lineno", "filename", "traceback", "function" };
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return *key = (enum mw_key)i, 0;
    return -EINVAL;
}

const char *mw_key_name(enum mw_key key)
{
    static const char *const names[] = { "lineno", "filename", "traceback", "function" };
    return names[key];
}

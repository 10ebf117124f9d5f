/* `memwatch growth SNAP1 SNAP2 ...`: in periodic snapshots of one process
 * (time order), rank the sites whose live memory grew, by how steadily and
 * how fast.  A single diff mixes leaks with caches warming up; over a
 * series, a cache stops growing while a leak keeps going.
 *
 * For each site: its size in every snapshot (0 where absent), the
 * intervals in which it grew, and its growth per snapshot (least-squares
 * slope).  A site is "steady" when it grew in at least three quarters of
 * the intervals and in the later half of the series; steady sites rank
 * first, then by slope x fraction of intervals grown. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "codec.h"
#include "util.h"

struct series {
    const struct mw_stat *last; /* the key and traceback, from the latest snapshot holding it */
    uint64_t *size, *count;     /* one per snapshot */
    unsigned grew, intervals;
    double slope, score;
    int steady;
};

static void help(FILE *out)
{
    fprintf(out,
            "usage: memwatch growth SNAP1 SNAP2 [SNAP3...] [-n N] [--key KEY]\n"
            "                       [--format text|json] [filters]\n"
            "\n"
            "Rank the sites whose live memory grew across periodic snapshots of one\n"
            "process (MEMWATCH_INTERVAL), given in time order: the shape of a leak in a\n"
            "long-running program, which a single diff confuses with caches warming up.\n"
            "Each line: the site in tracemalloc's StatisticDiff format (last against\n"
            "first snapshot), then in how many intervals it grew and its growth per\n"
            "snapshot (least-squares slope).  A site that grew in at least 3/4 of the\n"
            "intervals and still grows in the later half is steady: steady sites come\n"
            "first, then by slope x share of intervals grown.\n"
            "\n"
            "  -n, --limit N     how many sites (default 10; 0 = all)\n"
            "  --key KEY         lineno (default), filename, traceback or function\n"
            "  --format FORMAT   text (default) or json\n"
            "%s"
            "  --no-default-suppressions  do not apply memwatch's default suppressions\n"
            "\n"
            "Exit status: 0, or 2 for a usage error, an unreadable snapshot, or snapshots\n"
            "of different processes or out of time order.\n",
            mw_report_filter_help);
}

static int by_rank(const void *pa, const void *pb)
{
    const struct series *a = *(const struct series *const *)pa, *b = *(const struct series *const *)pb;
    if (a->steady != b->steady)
        return b->steady - a->steady;
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    return a->last->size < b->last->size ? 1 : a->last->size > b->last->size ? -1 : 0;
}

static void fit(struct series *s, size_t n)
{
    double mx = (double)(n - 1) / 2, my = 0, sxy = 0, sxx = 0;
    for (size_t i = 0; i < n; i++)
        my += (double)s->size[i];
    my /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sxy += ((double)i - mx) * ((double)s->size[i] - my);
        sxx += ((double)i - mx) * ((double)i - mx);
    }
    s->slope = sxx > 0 ? sxy / sxx : 0;
    s->intervals = (unsigned)(n - 1);
    for (size_t i = 1; i < n; i++)
        s->grew += s->size[i] > s->size[i - 1];
    double share = s->intervals ? (double)s->grew / s->intervals : 0;
    size_t half = (n - 1) / 2;
    s->steady = share >= 0.75 && s->size[n - 1] > s->size[half];
    s->score = s->slope > 0 ? s->slope * share : 0;
}

int mw_cmd_growth(int argc, char **argv)
{
    static const struct option longopts[] = { MW_REPORT_LONGOPTS,
                                              { "format", 1, NULL, MW_OPT_FIRST_FREE },
                                              { 0 } };
    struct mw_report opt;
    int c, rc = MW_EXIT_USAGE;
    mw_report_init(&opt);
    optind = 1;
    while ((c = getopt_long(argc, argv, MW_REPORT_SHORTOPTS "h", longopts, NULL)) != -1) {
        if (c == 'h' || c == MW_OPT_HELP) {
            help(stdout);
            mw_report_free(&opt);
            return MW_EXIT_OK;
        }
        if (c == MW_OPT_FIRST_FREE) {
            if (strcmp(optarg, "json") == 0)
                opt.json = 1;
            else if (strcmp(optarg, "text") != 0) {
                mw_error("--format expects text or json, not '%s'", optarg);
                goto out;
            }
            continue;
        }
        int r = mw_report_option(&opt, c, optarg);
        if (r < 0)
            goto out;
        if (r == 0) {
            mw_option_error("growth", c, argv);
            goto out;
        }
    }
    size_t n = (size_t)(argc - optind);
    if (n < 2) {
        mw_error("growth needs at least two snapshots, in time order; see 'memwatch growth "
                 "--help'");
        goto out;
    }
    if (opt.cumulative) {
        mw_error("growth does not take --cumulative");
        goto out;
    }
    if (mw_report_finish(&opt, 1))
        goto out;

    struct mw_snap **snaps = mw_xcalloc(n, sizeof *snaps);
    struct mw_stats *stats = mw_xcalloc(n, sizeof *stats);
    struct mw_resolver *res = mw_resolver_new();
    struct mw_hmap index = { 0 }; /* key hash -> chain of series */
    struct mw_pool pool = { 0 };
    struct chain {
        struct chain *next;
        struct series s;
    };
    size_t nseries = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(snaps[i] = mw_load_or_complain(argv[optind + i])))
            goto free_all;
        if (i && mw_snap_uint(snaps[i], "pid", 0) != mw_snap_uint(snaps[0], "pid", 0)) {
            mw_error("%s is of pid %" PRIu64 " and %s of pid %" PRIu64
                     ": growth compares snapshots of one process",
                     snaps[0]->path, mw_snap_uint(snaps[0], "pid", 0), snaps[i]->path,
                     mw_snap_uint(snaps[i], "pid", 0));
            goto free_all;
        }
        if (i && mw_snap_uint(snaps[i], "time_ns", 0) < mw_snap_uint(snaps[i - 1], "time_ns", 0)) {
            mw_error("%s was taken before %s: give the snapshots in time order",
                     snaps[i]->path, snaps[i - 1]->path);
            goto free_all;
        }
        struct mw_trace *traces = mw_resolve(res, snaps[i]);
        mw_group(res, snaps[i], traces, opt.key, 0, opt.filter, &stats[i]);
        for (size_t k = 0; k < stats[i].n; k++) {
            const struct mw_stat *st = &stats[i].v[k];
            uint64_t h = mw_hash64(st->frames, st->nframes * sizeof *st->frames, 6);
            struct chain *ch = mw_hmap_get(&index, h), *head = ch;
            while (ch && (ch->s.last->nframes != st->nframes ||
                          memcmp(ch->s.last->frames, st->frames,
                                 st->nframes * sizeof *st->frames) != 0))
                ch = ch->next;
            if (!ch) {
                ch = mw_pool_alloc(&pool, sizeof *ch);
                ch->s.size = mw_pool_alloc(&pool, n * sizeof *ch->s.size);
                ch->s.count = mw_pool_alloc(&pool, n * sizeof *ch->s.count);
                ch->next = head;
                mw_hmap_put(&index, h, ch);
                nseries++;
            }
            ch->s.last = st;
            ch->s.size[i] = st->size;
            ch->s.count[i] = st->count;
        }
    }

    /* Rank the sites that grew from the first snapshot to the last. */
    struct series **ranked = mw_xcalloc(nseries + 1, sizeof *ranked);
    size_t nranked = 0;
    for (size_t b = 0; b < index.cap; b++)
        for (struct chain *ch = mw_hmap_at(&index, b); ch; ch = ch->next) {
            if (ch->s.size[n - 1] <= ch->s.size[0])
                continue;
            fit(&ch->s, n);
            ranked[nranked++] = &ch->s;
        }
    qsort(ranked, nranked, sizeof *ranked, by_rank);
    size_t show = opt.limit && (size_t)opt.limit < nranked ? (size_t)opt.limit : nranked;

    if (opt.json) {
        struct mw_json j = { .out = stdout };
        mw_json_begin_object(&j, NULL);
        mw_json_str(&j, "command", "growth");
        mw_json_begin_array(&j, "snapshots");
        for (size_t i = 0; i < n; i++)
            mw_json_str(&j, NULL, snaps[i]->path);
        mw_json_end_array(&j);
        mw_json_str(&j, "key", mw_key_name(opt.key));
        mw_json_uint(&j, "entries", nranked);
        mw_json_begin_array(&j, "stats");
        for (size_t k = 0; k < show; k++) {
            struct series *s = ranked[k];
            struct mw_stat st = *s->last;
            st.size_diff = (int64_t)s->size[n - 1] - (int64_t)s->size[0];
            st.count_diff = (int64_t)s->count[n - 1] - (int64_t)s->count[0];
            st.size = s->size[n - 1];
            st.count = s->count[n - 1];
            mw_json_begin_object(&j, NULL);
            mw_json_stat_fields(&j, &st, opt.key, 1);
            mw_json_begin_array(&j, "sizes");
            for (size_t i = 0; i < n; i++)
                mw_json_uint(&j, NULL, s->size[i]);
            mw_json_end_array(&j);
            mw_json_uint(&j, "intervals", s->intervals);
            mw_json_uint(&j, "intervals_grown", s->grew);
            mw_json_int(&j, "growth_per_snapshot", (int64_t)llround(s->slope));
            mw_json_bool(&j, "steady", s->steady);
            mw_json_end_object(&j);
        }
        mw_json_end_array(&j);
        mw_json_end_object(&j);
    } else {
        char when[64];
        uint64_t t0 = mw_snap_uint(snaps[0], "time_ns", 0),
                 t1 = mw_snap_uint(snaps[n - 1], "time_ns", 0);
        snprintf(when, sizeof when, "%.1f s", (double)(t1 - t0) / 1e9);
        printf("memwatch growth: %zu snapshots of pid %" PRIu64 " over %s, %zu sites grew\n", n,
               mw_snap_uint(snaps[0], "pid", 0), when, nranked);
        for (size_t k = 0; k < show; k++) {
            struct series *s = ranked[k];
            struct mw_stat st = *s->last;
            char key[8192], size[64], diff[64], slope[64];
            st.size = s->size[n - 1];
            st.count = s->count[n - 1];
            st.size_diff = (int64_t)s->size[n - 1] - (int64_t)s->size[0];
            st.count_diff = (int64_t)s->count[n - 1] - (int64_t)s->count[0];
            mw_format_key(key, sizeof key, &st, opt.key);
            mw_format_size(size, sizeof size, (int64_t)st.size, 0);
            mw_format_size(diff, sizeof diff, st.size_diff, 1);
            mw_format_size(slope, sizeof slope, (int64_t)llround(s->slope), 1);
            printf("%s: size=%s (%s), count=%" PRIu64 " (%+" PRId64
                   "), grew in %u of %u intervals, %s per snapshot%s\n",
                   key, size, diff, st.count, st.count_diff, s->grew, s->intervals, slope,
                   s->steady ? ", steady" : "");
        }
        mw_print_filtered(stdout, &stats[n - 1]);
    }
    rc = MW_EXIT_OK;
    free(ranked);
free_all:
    mw_pool_free(&pool);
    mw_hmap_free(&index);
    for (size_t i = 0; i < n; i++) {
        mw_stats_free(&stats[i]);
        mw_snap_free(snaps[i]);
    }
    free(stats);
    free(snaps);
    mw_resolver_free(res);
out:
    mw_report_free(&opt);
    return rc;
}

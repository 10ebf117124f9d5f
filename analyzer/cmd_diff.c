/* `memwatch diff OLD NEW`: what grew or shrank between two snapshots, as
 * tracemalloc's Snapshot.compare_to() prints it.  Sites are matched by
 * resolved frames (function, file, line), not addresses, so snapshots of
 * two different runs compare correctly. */
#include <getopt.h>
#include <inttypes.h>

#include "analyzer.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: memwatch diff OLD NEW [-n N] [--key KEY] [--cumulative] [--json]\n"
            "\n"
            "Print the N sites whose live memory changed most from snapshot OLD to\n"
            "snapshot NEW, in tracemalloc's StatisticDiff format:\n"
            "  file:line: size=NEW (+CHANGE), count=NEW (+CHANGE), average=...\n"
            "OLD and NEW may come from two runs of the same program.\n"
            "\n"
            "  -n, --limit N     how many entries (default 10; 0 = all)\n"
            "  --key KEY         lineno (default), filename, traceback or function\n"
            "  --cumulative      count every frame of each stack\n"
            "  --json            machine-readable output (described in README.md)\n"
            "\n"
            "Exit status: 0, or 2 for a usage error or an unreadable snapshot.\n");
}

static void print_json(const struct mw_snap *old_snap, const struct mw_snap *new_snap,
                       const struct mw_stats *st, const struct mw_report *opt)
{
    struct mw_json j = { .out = stdout };
    size_t n = opt->limit && (size_t)opt->limit < st->n ? (size_t)opt->limit : st->n;
    int64_t old_live = (int64_t)mw_snap_uint(old_snap, "live_bytes", 0);
    int64_t new_live = (int64_t)mw_snap_uint(new_snap, "live_bytes", 0);
    mw_json_begin_object(&j, NULL);
    mw_json_str(&j, "command", "diff");
    mw_json_snapshot(&j, "old", old_snap);
    mw_json_snapshot(&j, "new", new_snap);
    mw_json_str(&j, "key", mw_key_name(opt->key));
    mw_json_bool(&j, "cumulative", opt->cumulative);
    mw_json_begin_object(&j, "total");
    mw_json_uint(&j, "size", (uint64_t)new_live);
    mw_json_int(&j, "size_diff", new_live - old_live);
    mw_json_end_object(&j);
    mw_json_uint(&j, "entries", st->n);
    mw_json_begin_array(&j, "stats");
    for (size_t i = 0; i < n; i++)
        mw_json_stat(&j, &st->v[i], opt->key, 1);
    mw_json_end_array(&j);
    mw_json_end_object(&j);
}

int mw_cmd_diff(int argc, char **argv)
{
    struct mw_report opt;
    int parsed = mw_report_parse(&opt, "diff", argc, argv, help);
    if (parsed)
        return parsed > 0 ? MW_EXIT_OK : MW_EXIT_USAGE;
    if (argc - optind != 2) {
        mw_error("diff needs two snapshot files, OLD and NEW; see 'memwatch diff --help'");
        mw_report_free(&opt);
        return MW_EXIT_USAGE;
    }
    struct mw_snap *old_snap = mw_load_or_complain(argv[optind]);
    struct mw_snap *new_snap = old_snap ? mw_load_or_complain(argv[optind + 1]) : NULL;
    if (!new_snap) {
        mw_snap_free(old_snap);
        mw_report_free(&opt);
        return MW_EXIT_USAGE;
    }
    struct mw_resolver *r = mw_resolver_new();
    struct mw_trace *old_traces = mw_resolve(r, old_snap);
    struct mw_trace *new_traces = mw_resolve(r, new_snap);
    struct mw_stats old_st, new_st, diff;
    mw_group(r, old_snap, old_traces, opt.key, opt.cumulative, opt.filter, &old_st);
    mw_group(r, new_snap, new_traces, opt.key, opt.cumulative, opt.filter, &new_st);
    mw_compare(&old_st, &new_st, &diff);

    if (opt.json) {
        print_json(old_snap, new_snap, &diff, &opt);
    } else {
        char live[64], change[64];
        int64_t old_live = (int64_t)mw_snap_uint(old_snap, "live_bytes", 0);
        int64_t new_live = (int64_t)mw_snap_uint(new_snap, "live_bytes", 0);
        mw_format_size(live, sizeof live, new_live, 0);
        mw_format_size(change, sizeof change, new_live - old_live, 1);
        printf("%s -> %s: %s live (%s), %" PRIu64 " blocks (%+" PRId64 ")\n", old_snap->path,
               new_snap->path, live, change, mw_snap_uint(new_snap, "live_blocks", 0),
               (int64_t)(mw_snap_uint(new_snap, "live_blocks", 0) -
                         mw_snap_uint(old_snap, "live_blocks", 0)));
        size_t n = opt.limit && (size_t)opt.limit < diff.n ? (size_t)opt.limit : diff.n;
        for (size_t i = 0; i < n; i++) {
            mw_print_stat_diff(stdout, &diff.v[i], opt.key);
            if (opt.key == MW_KEY_TRACEBACK)
                mw_print_stat_traceback(stdout, &diff.v[i]);
        }
    }
    mw_stats_free(&diff);
    mw_stats_free(&old_st);
    mw_stats_free(&new_st);
    mw_resolver_free(r);
    mw_snap_free(old_snap);
    mw_snap_free(new_snap);
    mw_report_free(&opt);
    return MW_EXIT_OK;
}

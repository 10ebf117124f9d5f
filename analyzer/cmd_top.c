/* `memwatch top SNAP`: the sites holding the most live memory, printed as
 * tracemalloc's Snapshot.statistics() entries, after one summary line. */
#include <getopt.h>
#include <string.h>

#include "analyzer.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: memwatch top SNAPSHOT [-n N] [--key KEY] [--cumulative] [--json]\n"
            "\n"
            "Print the N sites holding the most live memory, largest first, in\n"
            "tracemalloc's format (file:line: size=..., count=..., average=...),\n"
            "after one summary line.\n"
            "\n"
            "  -n, --limit N     how many entries (default 10; 0 = all)\n"
            "  --key KEY         lineno (default): by allocating line\n"
            "                    filename: by file\n"
            "                    traceback: by whole call stack, printed under each entry\n"
            "                    function: by function\n"
            "  --cumulative      count every frame of each stack, not only the site\n"
            "                    (lineno, filename and function keys)\n"
            "  --json            machine-readable output (described in README.md)\n"
            "\n"
            "Exit status: 0, or 2 for a usage error or an unreadable snapshot.\n");
}

/* The first N statistics, with their tracebacks for --key traceback. */
static void print_text(const struct mw_stats *st, const struct mw_report *opt)
{
    size_t n = opt->limit && (size_t)opt->limit < st->n ? (size_t)opt->limit : st->n;
    for (size_t i = 0; i < n; i++) {
        mw_print_stat(stdout, &st->v[i], opt->key);
        if (opt->key == MW_KEY_TRACEBACK)
            mw_print_stat_traceback(stdout, &st->v[i]);
    }
}

static void print_json(const struct mw_snap *s, const struct mw_stats *st,
                       const struct mw_report *opt)
{
    struct mw_json j = { .out = stdout };
    size_t n = opt->limit && (size_t)opt->limit < st->n ? (size_t)opt->limit : st->n;
    mw_json_begin_object(&j, NULL);
    mw_json_str(&j, "command", "top");
    mw_json_snapshot(&j, "snapshot", s);
    mw_json_str(&j, "key", mw_key_name(opt->key));
    mw_json_bool(&j, "cumulative", opt->cumulative);
    mw_json_begin_object(&j, "total");
    mw_json_uint(&j, "size", st->total_bytes);
    mw_json_uint(&j, "count", st->total_blocks);
    mw_json_uint(&j, "sites", st->total_sites);
    mw_json_end_object(&j);
    mw_json_begin_object(&j, "filtered");
    mw_json_uint(&j, "size", st->filtered_bytes);
    mw_json_uint(&j, "count", st->filtered_blocks);
    mw_json_uint(&j, "sites", st->filtered_sites);
    mw_json_end_object(&j);
    mw_json_uint(&j, "entries", st->n);
    mw_json_begin_array(&j, "stats");
    for (size_t i = 0; i < n; i++)
        mw_json_stat(&j, &st->v[i], opt->key, 0);
    mw_json_end_array(&j);
    mw_json_end_object(&j);
}

int mw_cmd_top(int argc, char **argv)
{
    struct mw_report opt;
    int parsed = mw_report_parse(&opt, "top", argc, argv, help);
    if (parsed)
        return parsed > 0 ? MW_EXIT_OK : MW_EXIT_USAGE;
    if (argc - optind != 1) {
        mw_error(argc - optind ? "top takes one snapshot file; see 'memwatch top --help'"
                               : "top needs a snapshot file; see 'memwatch top --help'");
        mw_report_free(&opt);
        return MW_EXIT_USAGE;
    }
    struct mw_snap *s = mw_load_or_complain(argv[optind]);
    if (!s) {
        mw_report_free(&opt);
        return MW_EXIT_USAGE;
    }
    struct mw_resolver *r = mw_resolver_new();
    struct mw_trace *traces = mw_resolve(r, s);
    struct mw_stats st;
    mw_group(r, s, traces, opt.key, opt.cumulative, opt.filter, &st);
    if (opt.json) {
        print_json(s, &st, &opt);
    } else {
        mw_print_summary(stdout, s);
        print_text(&st, &opt);
    }
    mw_stats_free(&st);
    mw_resolver_free(r);
    mw_snap_free(s);
    mw_report_free(&opt);
    return MW_EXIT_OK;
}

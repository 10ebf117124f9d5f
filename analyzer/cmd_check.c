/* `memwatch check`: a leak check for CI.  Exit status 0 when a snapshot is
 * within the limits given, 1 when it is not (the offending sites printed in
 * tracemalloc's format with their tracebacks), 2 on a usage error or an
 * unreadable file.  Limits:
 *   --max-leaked SIZE   live memory after filters and suppressions
 *   --max-site SIZE     live memory of any one site
 *   --baseline OLD --max-growth SIZE [--per-site]
 *                       growth from OLD (another run of the same program)
 * With no limit at all, --max-leaked 0 applies: any live memory fails, as
 * LeakSanitizer does.  Default suppressions apply unless
 * --no-default-suppressions. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer.h"
#include "util.h"

enum format { FORMAT_TEXT, FORMAT_JSON, FORMAT_JUNIT };

struct limit {
    const char *name; /* max-leaked, max-site, max-growth */
    uint64_t limit;
    int64_t value;    /* the measure compared with the limit */
    int diff;         /* offenders are StatisticDiffs */
    const struct mw_stat **offenders;
    size_t noffenders;
};

struct check {
    struct mw_report opt;
    enum format format;
    int have_leaked, have_site, have_growth, per_site;
    uint64_t max_leaked, max_site, max_growth;
    const char *baseline;
    const char *report; /* --report FILE: the report there, not on stdout */
};

static void help(FILE *out)
{
    fprintf(out,
            "usage: memwatch check SNAPSHOT [--max-leaked SIZE] [--max-site SIZE]\n"
            "                      [--baseline OLD --max-growth SIZE [--per-site]]\n"
            "                      [--format text|json|junit] [-n N] [--key KEY] [filters]\n"
            "\n"
            "Fail (exit status 1) when SNAPSHOT holds more memory than allowed, printing the\n"
            "offending sites in tracemalloc's format with their tracebacks; 0 when within\n"
            "the limits; 2 for a usage error or an unreadable snapshot.\n"
            "\n"
            "  --max-leaked SIZE   live memory in all (after filters and suppressions)\n"
            "  --max-site SIZE     live memory of any one site (per --key, default lineno)\n"
            "  --baseline OLD      a snapshot to compare with (last night's run, say):\n"
            "  --max-growth SIZE     allowed growth from OLD to SNAPSHOT, in all or,\n"
            "  --per-site            with --per-site, at any one site\n"
            "  With no limit given, --max-leaked 0 applies: any live memory fails.\n"
            "  SIZE: 512, 64KiB, 10MB, 1.5GiB (KiB/MiB/GiB and K/M/G are powers of 1024,\n"
            "  KB/MB/GB powers of 1000).\n"
            "\n"
            "  --format FORMAT     text (default), json, or junit (JUnit XML: a test case\n"
            "                      per limit, a failure per offending site)\n"
            "  --report FILE       write the report to FILE instead of standard output\n"
            "  -n, --limit N       offending sites shown per limit (default 10; 0 = all)\n"
            "  --key KEY           lineno (default), filename, traceback or function\n"
            "%s"
            "  --no-default-suppressions  do not apply memwatch's default suppressions\n"
            "                      (start-up caches of the C library, the dynamic loader and\n"
            "                      the Python interpreter)\n",
            mw_report_filter_help);
}

enum {
    OPT_MAX_LEAKED = MW_OPT_FIRST_FREE,
    OPT_MAX_SITE,
    OPT_BASELINE,
    OPT_MAX_GROWTH,
    OPT_PER_SITE,
    OPT_FORMAT,
    OPT_REPORT,
};

static const struct option longopts[] = {
    MW_REPORT_LONGOPTS,
    { "max-leaked", 1, NULL, OPT_MAX_LEAKED },
    { "max-site", 1, NULL, OPT_MAX_SITE },
    { "baseline", 1, NULL, OPT_BASELINE },
    { "max-growth", 1, NULL, OPT_MAX_GROWTH },
    { "per-site", 0, NULL, OPT_PER_SITE },
    { "format", 1, NULL, OPT_FORMAT },
    { "report", 1, NULL, OPT_REPORT },
    { 0 },
};

static int size_option(const char *opt, const char *arg, uint64_t *out)
{
    int r = mw_parse_size(arg, out);
    if (r == -ENOENT)
        mw_error("%s %s: unknown size unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", opt,
                 arg);
    else if (r)
        mw_error("%s expects a size such as 512, 64KiB or 1.5GiB, not '%s'", opt, arg);
    return r;
}

/* Parse check's own and the shared options; returns the index of the first
 * operand, or -1 (message printed), or -2 for --help. */
static int parse(struct check *c, int argc, char **argv, const char *cmd)
{
    int ch;
    memset(c, 0, sizeof *c);
    mw_report_init(&c->opt);
    optind = 1;
    while ((ch = getopt_long(argc, argv, MW_REPORT_SHORTOPTS "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
        case MW_OPT_HELP:
            return -2;
        case OPT_MAX_LEAKED:
            if (size_option("--max-leaked", optarg, &c->max_leaked))
                return -1;
            c->have_leaked = 1;
            break;
        case OPT_MAX_SITE:
            if (size_option("--max-site", optarg, &c->max_site))
                return -1;
            c->have_site = 1;
            break;
        case OPT_MAX_GROWTH:
            if (size_option("--max-growth", optarg, &c->max_growth))
                return -1;
            c->have_growth = 1;
            break;
        case OPT_BASELINE:
            c->baseline = optarg;
            break;
        case OPT_PER_SITE:
            c->per_site = 1;
            break;
        case OPT_REPORT:
            c->report = optarg;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "text") == 0)
                c->format = FORMAT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                c->format = FORMAT_JSON;
            else if (strcmp(optarg, "junit") == 0)
                c->format = FORMAT_JUNIT;
            else {
                mw_error("--format expects text, json or junit, not '%s'", optarg);
                return -1;
            }
            break;
        default: {
            int r = mw_report_option(&c->opt, ch, optarg);
            if (r < 0)
                return -1;
            if (r == 0) {
                mw_option_error(cmd, ch, argv);
                return -1;
            }
        }
        }
    }
    if (c->opt.json)
        c->format = FORMAT_JSON;
    if (c->have_growth != (c->baseline != NULL)) {
        mw_error("--max-growth and --baseline go together; see 'memwatch check --help'");
        return -1;
    }
    if (c->per_site && !c->have_growth) {
        mw_error("--per-site applies to --max-growth; see 'memwatch check --help'");
        return -1;
    }
    if (c->opt.cumulative) {
        mw_error("check does not take --cumulative: every byte would count several times");
        return -1;
    }
    if (!c->have_leaked && !c->have_site && !c->have_growth)
        c->have_leaked = 1; /* max_leaked stays 0 */
    if (mw_report_finish(&c->opt, 1))
        return -1;
    return optind;
}

/* Who a snapshot is of: the executable, and for an interpreter the script
 * or module it ran.  Used to refuse a baseline of another program. */
static void program_of(const struct mw_snap *s, char *out, size_t size)
{
    const char *exe = mw_basename(mw_snap_str(s, "exe", "?"));
    const struct mw_meta *m = mw_snap_meta(s, "cmdline");
    const char *script = "";
    if (strncmp(exe, "python", 6) == 0 && m && m->type == MW_META_BYTES) {
        int take_next = 0;
        for (size_t at = strnlen(m->s, m->len) + 1; at < m->len; at += strnlen(m->s + at, m->len - at) + 1) {
            const char *arg = m->s + at;
            if (take_next || arg[0] != '-') {
                script = take_next ? arg : mw_basename(arg);
                break;
            }
            if (strcmp(arg, "-m") == 0)
                take_next = 1;
            else if (strcmp(arg, "-c") == 0) {
                script = "-c";
                break;
            }
        }
    }
    snprintf(out, size, "%s%s%s", exe, script[0] ? " " : "", script);
}

static void add_offender(struct limit *l, const struct mw_stat *st)
{
    l->offenders = mw_xrealloc(l->offenders, (l->noffenders + 1) * sizeof *l->offenders);
    l->offenders[l->noffenders++] = st;
}

static int passed(const struct limit *l)
{
    return l->value <= (int64_t)l->limit;
}

static void describe(char *buf, size_t size, const struct limit *l)
{
    char lim[64], val[64];
    int growth = strncmp(l->name, "max-growth", 10) == 0;
    mw_format_size(lim, sizeof lim, (int64_t)l->limit, 0);
    mw_format_size(val, sizeof val, l->value, growth);
    if (strcmp(l->name, "max-leaked") == 0)
        snprintf(buf, size, "leaked %s, limit %s", val, lim);
    else if (strcmp(l->name, "max-site") == 0)
        snprintf(buf, size, "largest site %s, limit %s", val, lim);
    else if (strcmp(l->name, "max-growth") == 0)
        snprintf(buf, size, "grew %s since the baseline, limit %s", val, lim);
    else
        snprintf(buf, size, "largest growth of a site %s since the baseline, limit %s", val, lim);
}

static void xml_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc('?', out);
            else
                fputc(*s, out);
        }
    }
}

/* A statistic as text (tracemalloc format, then its traceback), into a
 * memory buffer, for the JUnit failure bodies. */
static char *stat_text(const struct mw_stat *st, enum mw_key key, int diff, int with_traceback)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return mw_xstrdup("");
    if (diff)
        mw_print_stat_diff(mem, st, key);
    else
        mw_print_stat(mem, st, key);
    if (with_traceback)
        mw_print_stat_traceback(mem, st);
    fclose(mem);
    if (len && buf[len - 1] == '\n')
        buf[len - 1] = 0;
    return buf;
}

static void print_junit(const struct check *c, const struct mw_snap *s, struct limit *limits,
                        size_t nlimits, int failures)
{
    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    printf("<testsuites name=\"memwatch\" tests=\"%zu\" failures=\"%d\">\n", nlimits, failures);
    printf("  <testsuite name=\"memwatch check ");
    xml_escaped(stdout, s->path);
    printf("\" tests=\"%zu\" failures=\"%d\">\n", nlimits, failures);
    for (size_t i = 0; i < nlimits; i++) {
        struct limit *l = &limits[i];
        char what[256], lim[64];
        mw_format_size(lim, sizeof lim, (int64_t)l->limit, 0);
        describe(what, sizeof what, l);
        printf("    <testcase classname=\"memwatch.check\" name=\"%s %s\">\n", l->name, lim);
        for (size_t k = 0; k < l->noffenders; k++) {
            char *head = stat_text(l->offenders[k], c->opt.key, l->diff, 0);
            char *body = stat_text(l->offenders[k], c->opt.key, l->diff, 1);
            printf("      <failure type=\"memwatch.%s\" message=\"", l->name);
            xml_escaped(stdout, head);
            printf("\">");
            xml_escaped(stdout, body);
            printf("</failure>\n");
            free(head);
            free(body);
        }
        if (!passed(l) && l->noffenders == 0) {
            printf("      <failure type=\"memwatch.%s\" message=\"", l->name);
            xml_escaped(stdout, what);
            printf("\"/>\n");
        }
        printf("      <system-out>");
        xml_escaped(stdout, what);
        printf("</system-out>\n    </testcase>\n");
    }
    printf("  </testsuite>\n</testsuites>\n");
}

static void print_json(const struct check *c, const struct mw_snap *s, const struct mw_snap *base,
                       const struct mw_stats *st, struct limit *limits, size_t nlimits,
                       int failures)
{
    struct mw_json j = { .out = stdout };
    mw_json_begin_object(&j, NULL);
    mw_json_str(&j, "command", "check");
    mw_json_bool(&j, "passed", failures == 0);
    mw_json_snapshot(&j, "snapshot", s);
    if (base)
        mw_json_snapshot(&j, "baseline", base);
    else
        mw_json_null(&j, "baseline");
    mw_json_str(&j, "key", mw_key_name(c->opt.key));
    mw_json_begin_object(&j, "filtered");
    mw_json_uint(&j, "size", st->filtered_bytes);
    mw_json_uint(&j, "count", st->filtered_blocks);
    mw_json_uint(&j, "sites", st->filtered_sites);
    mw_json_end_object(&j);
    mw_json_begin_array(&j, "limits");
    for (size_t i = 0; i < nlimits; i++) {
        struct limit *l = &limits[i];
        mw_json_begin_object(&j, NULL);
        mw_json_str(&j, "name", l->name);
        mw_json_uint(&j, "limit", l->limit);
        mw_json_int(&j, "value", l->value);
        mw_json_bool(&j, "passed", passed(l));
        mw_json_begin_array(&j, "offenders");
        for (size_t k = 0; k < l->noffenders; k++)
            mw_json_stat(&j, l->offenders[k], c->opt.key, l->diff);
        mw_json_end_array(&j);
        mw_json_end_object(&j);
    }
    mw_json_end_array(&j);
    mw_json_end_object(&j);
}

static void print_text(const struct check *c, const struct mw_snap *s, const struct mw_stats *st,
                       struct limit *limits, size_t nlimits, int failures)
{
    for (size_t i = 0; i < nlimits; i++) {
        struct limit *l = &limits[i];
        char what[256];
        describe(what, sizeof what, l);
        printf("memwatch check: %s: %s: %s\n", s->path, what, passed(l) ? "passed" : "FAILED");
        for (size_t k = 0; k < l->noffenders; k++) {
            if (l->diff)
                mw_print_stat_diff(stdout, l->offenders[k], c->opt.key);
            else
                mw_print_stat(stdout, l->offenders[k], c->opt.key);
            mw_print_stat_traceback(stdout, l->offenders[k]);
        }
    }
    mw_print_filtered(stdout, st);
    if (failures)
        printf("memwatch check: FAILED (%d of %zu limits exceeded)\n", failures, nlimits);
    else
        printf("memwatch check: passed (%zu limits)\n", nlimits);
}

static int run_check(struct check *c, const char *path)
{
    struct mw_snap *s = mw_load_or_complain(path), *base = NULL;
    if (!s)
        return MW_EXIT_USAGE;
    if (c->baseline && !(base = mw_load_or_complain(c->baseline))) {
        mw_snap_free(s);
        return MW_EXIT_USAGE;
    }
    if (base) {
        char a[512], b[512];
        program_of(base, a, sizeof a);
        program_of(s, b, sizeof b);
        if (strcmp(a, b) != 0) {
            mw_error("%s is a snapshot of %s, %s of %s: a baseline must come from the same "
                     "program",
                     base->path, a, s->path, b);
            mw_snap_free(s);
            mw_snap_free(base);
            return MW_EXIT_USAGE;
        }
    }
    struct mw_resolver *r = mw_resolver_new();
    struct mw_trace *traces = mw_resolve(r, s);
    struct mw_stats st, old_st = { 0 }, diff = { 0 };
    mw_group(r, s, traces, c->opt.key, 0, c->opt.filter, &st);
    if (base) {
        struct mw_trace *old_traces = mw_resolve(r, base);
        mw_group(r, base, old_traces, c->opt.key, 0, c->opt.filter, &old_st);
        mw_compare(&old_st, &st, &diff);
    }

    struct limit limits[3];
    size_t nlimits = 0;
    size_t show = c->opt.limit ? (size_t)c->opt.limit : SIZE_MAX;
    memset(limits, 0, sizeof limits);
    if (c->have_leaked) {
        struct limit *l = &limits[nlimits++];
        l->name = "max-leaked";
        l->limit = c->max_leaked;
        l->value = (int64_t)st.total_bytes;
        if (!passed(l))
            for (size_t i = 0; i < st.n && i < show; i++)
                add_offender(l, &st.v[i]);
    }
    if (c->have_site) {
        struct limit *l = &limits[nlimits++];
        l->name = "max-site";
        l->limit = c->max_site;
        l->value = st.n ? (int64_t)st.v[0].size : 0;
        for (size_t i = 0; i < st.n && l->noffenders < show; i++)
            if (st.v[i].size > c->max_site)
                add_offender(l, &st.v[i]);
    }
    if (c->have_growth) {
        struct limit *l = &limits[nlimits++];
        l->name = c->per_site ? "max-growth-per-site" : "max-growth";
        l->limit = c->max_growth;
        l->diff = 1;
        if (c->per_site) {
            /* diff is sorted by |growth|: find the largest growth itself. */
            for (size_t i = 0; i < diff.n; i++)
                if (diff.v[i].size_diff > l->value)
                    l->value = diff.v[i].size_diff;
            for (size_t i = 0; i < diff.n && l->noffenders < show; i++)
                if (diff.v[i].size_diff > (int64_t)c->max_growth)
                    add_offender(l, &diff.v[i]);
        } else {
            l->value = (int64_t)st.total_bytes - (int64_t)old_st.total_bytes;
            if (l->value > (int64_t)l->limit)
                for (size_t i = 0; i < diff.n && l->noffenders < show; i++)
                    if (diff.v[i].size_diff > 0)
                        add_offender(l, &diff.v[i]);
        }
    }
    int failures = 0;
    for (size_t i = 0; i < nlimits; i++)
        failures += !passed(&limits[i]);

    int saved_stdout = -1, rc = failures ? MW_EXIT_FAIL : MW_EXIT_OK;
    if (c->report) {
        fflush(stdout);
        int fd = open(c->report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            mw_error("cannot write the report to %s: %s", c->report, strerror(errno));
            rc = MW_EXIT_USAGE;
            goto done;
        }
        saved_stdout = dup(1);
        dup2(fd, 1);
        close(fd);
    }
    if (c->format == FORMAT_JSON)
        print_json(c, s, base, &st, limits, nlimits, failures);
    else if (c->format == FORMAT_JUNIT)
        print_junit(c, s, limits, nlimits, failures);
    else
        print_text(c, s, &st, limits, nlimits, failures);
    if (saved_stdout >= 0) {
        fflush(stdout);
        dup2(saved_stdout, 1);
        close(saved_stdout);
    }
done:

    for (size_t i = 0; i < nlimits; i++)
        free(limits[i].offenders);
    mw_stats_free(&st);
    mw_stats_free(&old_st);
    mw_stats_free(&diff);
    mw_resolver_free(r);
    mw_snap_free(s);
    mw_snap_free(base);
    return rc;
}

int mw_check_validate(int argc, char **argv)
{
    struct check c;
    int first = parse(&c, argc, argv, "run --check");
    mw_report_free(&c.opt);
    if (first == -2) {
        mw_error("run --check: see 'memwatch check --help' for the check options");
        return -1;
    }
    if (first >= 0 && first != argc) {
        mw_error("run --check: '%s' is not a check option; put the command after --",
                 argv[first]);
        return -1;
    }
    return first < 0 ? -1 : 0;
}

int mw_check_snapshot(const char *snap_path, int argc, char **argv)
{
    struct check c;
    int first = parse(&c, argc, argv, "run --check");
    if (first == -2) {
        help(stdout);
        mw_report_free(&c.opt);
        return MW_EXIT_OK;
    }
    int r = first < 0 ? MW_EXIT_USAGE : run_check(&c, snap_path);
    mw_report_free(&c.opt);
    return r;
}

int mw_cmd_check(int argc, char **argv)
{
    struct check c;
    int first = parse(&c, argc, argv, "check");
    int r;
    if (first == -2) {
        help(stdout);
        r = MW_EXIT_OK;
    } else if (first < 0) {
        r = MW_EXIT_USAGE;
    } else if (argc - first != 1) {
        mw_error(argc - first ? "check takes one snapshot file; see 'memwatch check --help'"
                              : "check needs a snapshot file; see 'memwatch check --help'");
        r = MW_EXIT_USAGE;
    } else {
        r = run_check(&c, argv[first]);
    }
    mw_report_free(&c.opt);
    return r;
}

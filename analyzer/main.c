/* The `memwatch` command: dispatch to subcommands, and the helpers they
 * share (errors, counts, the reporting options). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer.h"
#include "memwatch/version.h"

#ifndef MEMWATCH_INSTALLED_SUPPRESSIONS
#define MEMWATCH_INSTALLED_SUPPRESSIONS "/usr/local/share/memwatch/default.supp"
#endif

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    { "run", mw_cmd_run, "run a program with memwatch and write snapshots" },
    { "top", mw_cmd_top, "the sites holding the most memory in a snapshot" },
    { "diff", mw_cmd_diff, "what grew or shrank between two snapshots" },
    { "info", mw_cmd_info, "a snapshot's metadata" },
    { "check", mw_cmd_check, "fail when a snapshot leaks more than a limit (for CI)" },
    { "growth", mw_cmd_growth, "sites that grow steadily across periodic snapshots" },
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: memwatch <command> [options] [arguments]\n"
            "\n"
            "A memory profiler for Linux processes, Python programs first.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-6s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "`memwatch <command> --help` describes a command.\n"
            "  memwatch run -- python app.py\n"
            "  memwatch top memwatch.1234.0.mws\n"
            "  memwatch diff memwatch.1234.0.mws memwatch.1234.1.mws\n"
            "  memwatch check --max-leaked 1MiB memwatch.1234.1.mws\n");
}

void mw_error(const char *fmt, ...)
{
    va_list ap;
    fputs("memwatch: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

long mw_parse_count(const char *opt, const char *value)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < 0) {
        mw_error("%s expects a whole number of 0 or more, not '%s'", opt, value);
        return -1;
    }
    return v;
}

void mw_option_error(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (optopt >= 128 || (optopt && arg[0] == '-' && arg[1] == '-'))
        optopt = 0; /* a long option: name it from argv */
    if (c == ':') {
        if (optopt)
            mw_error("%s: option -%c needs a value; see 'memwatch %s --help'", cmd, optopt, cmd);
        else
            mw_error("%s: option %s needs a value; see 'memwatch %s --help'", cmd, arg, cmd);
    } else if (optopt) {
        mw_error("%s: unknown option -%c; see 'memwatch %s --help'", cmd, optopt, cmd);
    } else {
        mw_error("%s: unknown option %s; see 'memwatch %s --help'", cmd, arg, cmd);
    }
}

void mw_report_init(struct mw_report *r)
{
    memset(r, 0, sizeof *r);
    r->limit = 10;
    r->key = MW_KEY_LINENO;
}

int mw_report_option(struct mw_report *r, int opt, const char *arg)
{
    switch (opt) {
    case 'n':
        r->limit = mw_parse_count("-n", arg);
        return r->limit < 0 ? -1 : 1;
    case MW_OPT_KEY:
        if (mw_key_parse(arg, &r->key)) {
            mw_error("--key expects lineno, filename, traceback or function, not '%s'", arg);
            return -1;
        }
        return 1;
    case MW_OPT_CUMULATIVE:
        r->cumulative = 1;
        return 1;
    case MW_OPT_JSON:
        r->json = 1;
        return 1;
    case MW_OPT_INCLUDE:
    case MW_OPT_EXCLUDE:
        if (!r->filter)
            r->filter = mw_filter_new();
        mw_filter_add(r->filter, opt == MW_OPT_INCLUDE, arg);
        return 1;
    case MW_OPT_ALL_FRAMES:
        if (!r->filter)
            r->filter = mw_filter_new();
        mw_filter_set_all_frames(r->filter, 1);
        return 1;
    case MW_OPT_SUPPRESSIONS: {
        char err[MW_ERR_SIZE];
        if (!r->filter)
            r->filter = mw_filter_new();
        if (mw_filter_load_suppressions(r->filter, arg, err, sizeof err)) {
            mw_error("%s", err);
            return -1;
        }
        return 1;
    }
    case MW_OPT_NO_DEFAULT_SUPPRESSIONS:
        r->no_default_suppressions = 1;
        return 1;
    default:
        return 0;
    }
}

int mw_report_parse(struct mw_report *r, const char *cmd, int argc, char **argv,
                    void (*help)(FILE *))
{
    static const struct option longopts[] = { MW_REPORT_LONGOPTS, { 0 } };
    int c, rc = 0;
    mw_report_init(r);
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, MW_REPORT_SHORTOPTS "h", longopts, NULL)) != -1) {
        if (c == 'h' || c == MW_OPT_HELP) {
            help(stdout);
            rc = 1;
            break;
        }
        int handled = mw_report_option(r, c, optarg);
        if (handled == 0)
            mw_option_error(cmd, c, argv);
        if (handled <= 0)
            rc = -1;
    }
    if (rc == 0 && r->cumulative && r->key == MW_KEY_TRACEBACK) {
        mw_error("--cumulative cannot be used with --key traceback");
        rc = -1;
    }
    if (rc)
        mw_report_free(r);
    return rc;
}

const char mw_report_filter_help[] =
    "  --include PATTERN[:LINE]   keep only sites whose file matches PATTERN\n"
    "                             (fnmatch; '*' also matches '/'), at LINE if given\n"
    "  --exclude PATTERN[:LINE]   drop the sites whose file matches (repeatable)\n"
    "  --all-frames               match any frame of the stack, not only the site\n"
    "  --suppressions FILE        drop stacks matching a rule of FILE: one\n"
    "                             leak:PATTERN a line (function, file or module;\n"
    "                             '*' wildcard, '^' '$' anchors), '#' comments\n";

/* The suppressions shipped with memwatch: in the build tree next to this
 * program, or where meson installed them. */
static int default_suppressions_path(char *out, size_t size)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 32);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            strcpy(slash, "/default.supp");
            if (access(exe, R_OK) == 0) {
                snprintf(out, size, "%s", exe);
                return 0;
            }
        }
    }
    snprintf(out, size, "%s", MEMWATCH_INSTALLED_SUPPRESSIONS);
    return access(out, R_OK) == 0 ? 0 : -1;
}

int mw_report_finish(struct mw_report *r, int default_suppressions)
{
    if (!default_suppressions || r->no_default_suppressions)
        return 0;
    char path[4096], err[MW_ERR_SIZE];
    if (default_suppressions_path(path, sizeof path)) {
        mw_error("the default suppressions (%s) are missing; give --no-default-suppressions "
                 "to go without them",
                 path);
        return -1;
    }
    if (!r->filter)
        r->filter = mw_filter_new();
    if (mw_filter_load_suppressions(r->filter, path, err, sizeof err)) {
        mw_error("%s", err);
        return -1;
    }
    return 0;
}

void mw_report_free(struct mw_report *r)
{
    mw_filter_free(r->filter);
    r->filter = NULL;
}

void mw_print_filtered(FILE *out, const struct mw_stats *st)
{
    if (!st->filtered_sites)
        return;
    char size[64];
    mw_format_size(size, sizeof size, (int64_t)st->filtered_bytes, 0);
    fprintf(out, "filtered out: %s in %llu blocks at %llu sites (filters and suppressions)\n",
            size, (unsigned long long)st->filtered_blocks,
            (unsigned long long)st->filtered_sites);
}

struct mw_snap *mw_load_or_complain(const char *path)
{
    char err[MW_ERR_SIZE];
    struct mw_snap *s;
    if (mw_snap_load(path, &s, err, sizeof err) != 0) {
        mw_error("%s", err);
        return NULL;
    }
    return s;
}

int main(int argc, char **argv)
{
    opterr = 0; /* subcommands print their own one-line errors */
    if (argc < 2) {
        usage(stderr);
        return MW_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            char *sub[] = { argv[2], "--help", NULL };
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(argv[2], commands[i].name) == 0)
                    return commands[i].fn(2, sub);
        }
        usage(stdout);
        return MW_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("memwatch %s\n", MEMWATCH_VERSION);
        return MW_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    mw_error("'%s' is not a memwatch command; see 'memwatch --help'", cmd);
    return MW_EXIT_USAGE;
}

/* The `memwatch` command: dispatch to subcommands, and the helpers they
 * share (errors, counts, the reporting options). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "memwatch/version.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    { "run", mw_cmd_run, "run a program with memwatch and write snapshots" },
    { "top", mw_cmd_top, "the sites holding the most memory in a snapshot" },
    { "diff", mw_cmd_diff, "what grew or shrank between two snapshots" },
    { "info", mw_cmd_info, "a snapshot's metadata" },
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
            "  memwatch diff memwatch.1234.0.mws memwatch.1234.1.mws\n");
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
    default:
        return 0;
    }
}

void mw_report_free(struct mw_report *r)
{
    (void)r;
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

/* `memwatch info SNAP`: everything a snapshot says about itself, the
 * process and the recording, for people (text) or programs (--json). */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "analyzer.h"
#include "memwatch/format.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: memwatch info SNAPSHOT [--json]\n"
            "\n"
            "Print a snapshot's metadata: what triggered it, the process (pid,\n"
            "command line), when, live and peak memory, totals, how often the\n"
            "program waited on memwatch's full event ring, and Python support.\n"
            "\n"
            "  --json    machine-readable output (described in README.md)\n"
            "\n"
            "Exit status: 0, or 2 for a usage error or an unreadable snapshot.\n");
}

static void size_line(const char *label, const char *what, uint64_t bytes)
{
    char s[64];
    mw_format_size(s, sizeof s, (int64_t)bytes, 0);
    printf("%-15s %s%s\n", label, s, what);
}

static void print_text(const struct mw_snap *s)
{
    char buf[4096], size[64];
    const struct mw_meta *m;

    printf("%-15s %s (format %u, %" PRIu64 " bytes)\n", "snapshot:", s->path, s->version,
           s->file_size);
    printf("%-15s %s (number %" PRIu64 " of its process)\n", "trigger:",
           mw_snap_str(s, "trigger", "?"), mw_snap_uint(s, "seq", 0));
    printf("%-15s %" PRIu64 " (parent %" PRIu64 ")\n", "pid:", mw_snap_uint(s, "pid", 0),
           mw_snap_uint(s, "ppid", 0));
    if ((m = mw_snap_meta(s, "cmdline")) && m->type == MW_META_BYTES) {
        size_t n = 0;
        for (size_t i = 0; i < m->len && n + 1 < sizeof buf; i++)
            buf[n++] = m->s[i] ? m->s[i] : ' ';
        buf[n] = 0;
        printf("%-15s %s\n", "command:", buf);
    }
    printf("%-15s %s\n", "executable:", mw_snap_str(s, "exe", ""));
    printf("%-15s %s\n", "directory:", mw_snap_str(s, "cwd", ""));
    uint64_t t = mw_snap_uint(s, "time_ns", 0), start = mw_snap_uint(s, "start_ns", 0);
    time_t secs = (time_t)(t / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("%-15s %s (%.3f s after recording started)\n", "time:", buf,
           t >= start ? (double)(t - start) / 1e9 : 0.0);
    mw_format_size(size, sizeof size, (int64_t)mw_snap_uint(s, "live_bytes", 0), 0);
    printf("%-15s %s in %" PRIu64 " blocks at %zu sites\n", "live:", size,
           mw_snap_uint(s, "live_blocks", 0), s->nsites);
    size_line("peak:", "", mw_snap_uint(s, "peak_bytes", 0));
    mw_format_size(size, sizeof size, (int64_t)mw_snap_uint(s, "total_bytes", 0), 0);
    printf("%-15s %s in %" PRIu64 " allocations; %" PRIu64 " frees", "allocated:", size,
           mw_snap_uint(s, "total_allocs", 0), mw_snap_uint(s, "total_frees", 0));
    uint64_t unknown = mw_snap_uint(s, "unknown_frees", 0);
    if (unknown)
        printf(" (and %" PRIu64 " of blocks allocated before recording)", unknown);
    putchar('\n');
    printf("%-15s %" PRIu64 " (%.3f ms waited in all)\n", "ring waits:",
           mw_snap_uint(s, "ring_waits", 0), (double)mw_snap_uint(s, "ring_wait_ns", 0) / 1e6);
    printf("%-15s %" PRIu64 "\n", "events:", mw_snap_uint(s, "events", 0));
    printf("%-15s %" PRIu64 " native, %" PRIu64 " Python frames\n", "stack depth:",
           mw_snap_uint(s, "native_depth", 0), mw_snap_uint(s, "python_depth", 0));
    printf("%-15s %s\n", "python:", mw_snap_str(s, "python", "?"));
    const char *objects = mw_snap_str(s, "python_objects", "");
    if (objects[0])
        printf("%-15s %s\n", "python objects:", objects);
    printf("%-15s %zu loaded, %zu Python code objects described\n", "modules:", s->nmodules,
           s->ncodes);
}

int mw_cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", 0, NULL, 'j' },
        { "help", 0, NULL, 'h' },
        { 0 },
    };
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            help(stdout);
            return MW_EXIT_OK;
        }
        if (c != 'j') {
            mw_option_error("info", c, argv);
            return MW_EXIT_USAGE;
        }
        json = 1;
    }
    if (argc - optind != 1) {
        mw_error("info takes one snapshot file; see 'memwatch info --help'");
        return MW_EXIT_USAGE;
    }
    struct mw_snap *s = mw_load_or_complain(argv[optind]);
    if (!s)
        return MW_EXIT_USAGE;
    if (json) {
        struct mw_json j = { .out = stdout };
        mw_json_begin_object(&j, NULL);
        mw_json_str(&j, "command", "info");
        mw_json_snapshot(&j, "snapshot", s);
        mw_json_begin_array(&j, "modules");
        for (size_t i = 0; i < s->nmodules; i++) {
            const struct mw_module *m = &s->modules[i];
            char id[129];
            size_t n = 0;
            for (size_t k = 0; k < m->build_id_len && n + 2 < sizeof id; k++)
                n += (size_t)snprintf(id + n, sizeof id - n, "%02x", m->build_id[k]);
            id[n] = 0;
            mw_json_begin_object(&j, NULL);
            mw_json_str(&j, "path", m->path);
            mw_json_uint(&j, "base", m->bias);
            mw_json_str(&j, "build_id", id);
            mw_json_bool(&j, "main", (m->flags & MEMWATCH_MODULE_MAIN) != 0);
            mw_json_bool(&j, "interpreter", (m->flags & MEMWATCH_MODULE_INTERPRETER) != 0);
            mw_json_end_object(&j);
        }
        mw_json_end_array(&j);
        mw_json_end_object(&j);
    } else {
        print_text(s);
    }
    mw_snap_free(s);
    return MW_EXIT_OK;
}

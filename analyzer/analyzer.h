/* Internal contract of the `memwatch` command: loaded snapshots, resolved
 * frames, grouped statistics, and the output helpers each subcommand uses.
 * Errors are returned as 0 / negative errno plus one sentence for the user;
 * the subcommands turn them into "memwatch: <sentence>" and exit status 2. */
#ifndef MEMWATCH_ANALYZER_H
#define MEMWATCH_ANALYZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define MW_ERR_SIZE 512

/* Exit statuses of every subcommand. */
enum { MW_EXIT_OK = 0, MW_EXIT_FAIL = 1, MW_EXIT_USAGE = 2 };

/* ---- snapshot_read.c: a snapshot file in memory ---- */

enum { MW_META_UINT = 0, MW_META_INT = 1, MW_META_BYTES = 2 };

struct mw_meta {
    char *key;
    int type;
    uint64_t u;
    int64_t i;
    char *s; /* NUL terminated copy (may contain NULs: see len) */
    size_t len;
};

struct mw_module {
    uint64_t id, bias, start, end, flags; /* flags: MEMWATCH_MODULE_* */
    char *path;
    uint8_t *build_id;
    size_t build_id_len;
};

struct mw_pycode {
    uint64_t id;
    int py_version; /* major*100+minor */
    int64_t firstlineno;
    char *filename, *name, *qualname;
    uint8_t *linetable;
    size_t linetable_len;
};

/* 16 bytes: a snapshot of a million stacks holds several million. */
struct mw_rawframe {
    union {
        uint64_t addr;    /* native */
        uint64_t code_id; /* python */
    };
    uint32_t offset; /* python: instruction byte offset (0xffffffff: not started) */
    uint8_t kind;    /* MEMWATCH_FRAME_NATIVE or MEMWATCH_FRAME_PYTHON */
};

struct mw_site {
    uint64_t live_bytes, live_count, total_bytes, total_count;
    uint32_t nframes;
    struct mw_rawframe *frames; /* most recent first */
};

struct mw_snap {
    struct mw_pool pool; /* frames */
    char *path;
    uint32_t version;
    uint64_t file_size;
    struct mw_meta *meta;
    size_t nmeta;
    struct mw_module *modules;
    size_t nmodules;
    struct mw_pycode *codes; /* sorted by id */
    size_t ncodes;
    struct mw_site *sites; /* in pool */
    size_t nsites;
    int have_sites;
};

/* Load and verify a snapshot.  On failure returns -errno (or -EBADMSG for
 * a damaged file) and writes one sentence, naming the file, into err. */
int mw_snap_load(const char *path, struct mw_snap **out, char *err, size_t errlen);
/* Same, from bytes in memory (used by the fuzzer and the tests). */
int mw_snap_parse(const char *name, const uint8_t *data, size_t len, struct mw_snap **out,
                  char *err, size_t errlen);
void mw_snap_free(struct mw_snap *s);
const struct mw_meta *mw_snap_meta(const struct mw_snap *s, const char *key);
uint64_t mw_snap_uint(const struct mw_snap *s, const char *key, uint64_t fallback);
/* The string value of key, or fallback. */
const char *mw_snap_str(const struct mw_snap *s, const char *key, const char *fallback);
const struct mw_pycode *mw_snap_code(const struct mw_snap *s, uint64_t id);
const struct mw_module *mw_snap_module_at(const struct mw_snap *s, uint64_t addr);

/* ---- pyline.c: CPython line tables, decoded offline ---- */

/* Line number of the instruction at byte offset `offset` of a code object
 * of CPython py_version (major*100+minor), from its raw co_lnotab (3.8,
 * 3.9) or co_linetable (3.10+).  Returns the line, or -1 when the
 * instruction has no line (tracemalloc then prints the first line). */
int mw_pyline(int py_version, const uint8_t *table, size_t len, int64_t firstlineno,
              uint64_t offset);

/* ---- symbolize.c: raw frames to (function, file, line) ---- */

enum mw_frame_flags {
    MW_FRAME_MACHINERY = 1,   /* memwatch, libc's malloc family, operator new */
    MW_FRAME_INTERPRETER = 2, /* native frame inside the Python interpreter */
    MW_FRAME_PYTHON = 4,      /* a Python frame */
};

/* A resolved frame.  Frames are interned by the resolver: two frames with
 * the same fields are the same pointer, also across snapshots, so they
 * compare by address. */
struct mw_frame {
    const char *file;     /* source file; for native frames without debug
                             information the module path */
    int line;             /* 0 when unknown */
    const char *function; /* function or Python qualified name; may be "" */
    const char *module;   /* module path for native frames, "" for Python */
    unsigned flags;
};

struct mw_trace {
    uint32_t nframes;
    const struct mw_frame **frames; /* most recent first */
    uint32_t site;                  /* index of the reported site frame */
};

struct mw_resolver;

struct mw_resolver *mw_resolver_new(void);
void mw_resolver_free(struct mw_resolver *r);
/* Resolve every site of s: returns an array of s->nsites traces (freed by
 * the resolver), or NULL on out-of-memory. */
struct mw_trace *mw_resolve(struct mw_resolver *r, const struct mw_snap *s);
/* An interned string / frame owned by the resolver. */
const char *mw_intern(struct mw_resolver *r, const char *s);
const struct mw_frame *mw_frame_intern(struct mw_resolver *r, const struct mw_frame *f);

/* ---- group.c: tracemalloc's Snapshot.statistics and compare_to ---- */

enum mw_key { MW_KEY_LINENO, MW_KEY_FILENAME, MW_KEY_TRACEBACK, MW_KEY_FUNCTION };

struct mw_stat {
    const struct mw_frame **frames; /* the key: 1 frame, or the whole trace */
    uint32_t nframes;
    uint64_t size, count;
    int64_t size_diff, count_diff;
    const struct mw_trace *example; /* largest trace in the group */
    uint64_t example_bytes;
};

/* ---- filter.c: --include/--exclude/--suppressions, sizes ---- */

struct mw_filter;

struct mw_filter *mw_filter_new(void);
void mw_filter_free(struct mw_filter *f);
/* tracemalloc Filter: "PATTERN" or "PATTERN:LINE" on the file name. */
void mw_filter_add(struct mw_filter *f, int inclusive, const char *spec);
void mw_filter_set_all_frames(struct mw_filter *f, int on);
/* Add the rules of a suppressions file; on error one sentence in err. */
int mw_filter_load_suppressions(struct mw_filter *f, const char *path, char *err, size_t errlen);
int mw_filter_empty(const struct mw_filter *f);
/* 1 when the trace is kept by the filter (NULL keeps everything). */
int mw_filter_keep(const struct mw_filter *f, const struct mw_trace *t);
/* 1 when a suppression rule matches a frame of the trace. */
int mw_filter_suppressed(const struct mw_filter *f, const struct mw_trace *t);
/* "512", "64KiB", "10MB", "1.5GiB": KiB, MiB, GiB, TiB (and K, M, G, T)
 * are powers of 1024, KB, MB, GB, TB powers of 1000; case does not
 * matter.  0, or -EINVAL (not a number) / -ENOENT (unknown unit). */
int mw_parse_size(const char *text, uint64_t *out);

struct mw_stats {
    struct mw_stat *v;
    size_t n;
    struct mw_pool pool; /* the statistics' frame arrays */
    uint64_t total_bytes, total_blocks, total_sites;          /* kept */
    uint64_t filtered_bytes, filtered_blocks, filtered_sites; /* removed */
};

/* Group the traces of a snapshot by key (tracemalloc's semantics, including
 * cumulative), after filtering (filter may be NULL).  Sorted like
 * Snapshot.statistics.  Frames made for keys (file-only, function-only) are
 * interned in r.  Returns 0. */
int mw_group(struct mw_resolver *r, const struct mw_snap *s, const struct mw_trace *traces,
             enum mw_key key, int cumulative, const struct mw_filter *filter,
             struct mw_stats *out);
/* StatisticDiff list of new against old, sorted like compare_to. */
int mw_compare(const struct mw_stats *old_stats, const struct mw_stats *new_stats,
               struct mw_stats *out);
void mw_stats_free(struct mw_stats *st);
int mw_key_parse(const char *name, enum mw_key *key);
const char *mw_key_name(enum mw_key key);

/* ---- format.c: tracemalloc's text and memwatch's JSON ---- */

/* tracemalloc's _format_size: "10.0 KiB", with sign "+121 KiB".  The _f
 * variant takes a fractional size (averages). */
void mw_format_size(char *buf, size_t size, int64_t bytes, int sign);
void mw_format_size_f(char *buf, size_t size, double bytes, int sign);
/* The key of a statistic as tracemalloc prints it ("file:line"). */
void mw_format_key(char *buf, size_t size, const struct mw_stat *st, enum mw_key key);
void mw_print_stat(FILE *out, const struct mw_stat *st, enum mw_key key);
void mw_print_stat_diff(FILE *out, const struct mw_stat *st, enum mw_key key);
/* Traceback.format(): oldest frame first, with source lines when readable. */
void mw_print_traceback(FILE *out, const struct mw_frame *const *frames, uint32_t n);
/* The traceback of a statistic's largest site, from the site outwards. */
void mw_print_stat_traceback(FILE *out, const struct mw_stat *st);
/* One summary line of a snapshot's totals. */
void mw_print_summary(FILE *out, const struct mw_snap *s);

/* Minimal JSON writer (keys and strings escaped). */
struct mw_json {
    FILE *out;
    int depth;
    int need_comma[64];
};
void mw_json_begin_object(struct mw_json *j, const char *key);
void mw_json_end_object(struct mw_json *j);
void mw_json_begin_array(struct mw_json *j, const char *key);
void mw_json_end_array(struct mw_json *j);
void mw_json_str(struct mw_json *j, const char *key, const char *v);
void mw_json_strn(struct mw_json *j, const char *key, const char *v, size_t n);
void mw_json_uint(struct mw_json *j, const char *key, uint64_t v);
void mw_json_int(struct mw_json *j, const char *key, int64_t v);
void mw_json_bool(struct mw_json *j, const char *key, int v);
void mw_json_null(struct mw_json *j, const char *key);
/* The "snapshot" object: path and every metadata entry. */
void mw_json_snapshot(struct mw_json *j, const char *key, const struct mw_snap *s);
/* One statistic: file, line, function, module, size, count (+ diffs when
 * with_diff), traceback. */
void mw_json_stat(struct mw_json *j, const struct mw_stat *st, enum mw_key key, int with_diff);
/* The same fields, into an object the caller opened (to add its own). */
void mw_json_stat_fields(struct mw_json *j, const struct mw_stat *st, enum mw_key key,
                         int with_diff);

/* ---- main.c: shared command-line helpers ---- */

/* Print "memwatch: <message>" on stderr. */
void mw_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse a non-negative count for an option; prints an error and returns -1
 * when invalid. */
long mw_parse_count(const char *opt, const char *value);

/* One line for a getopt failure: c is ':' (missing value) or '?'.  Option
 * strings must start with ':' (after any '+'). */
void mw_option_error(const char *cmd, int c, char **argv);

/* Options shared by the reporting subcommands (top, diff, check, growth). */
struct mw_report {
    long limit;   /* -n; 0 = all */
    enum mw_key key;
    int cumulative;
    int json;
    int no_default_suppressions;
    struct mw_filter *filter; /* NULL: keep everything */
};

/* getopt_long entries for the shared options, ending with a zero entry;
 * subcommands append their own. */
#define MW_REPORT_SHORTOPTS ":n:"
enum {
    MW_OPT_KEY = 0x100,
    MW_OPT_CUMULATIVE,
    MW_OPT_JSON,
    MW_OPT_HELP,
    MW_OPT_INCLUDE,
    MW_OPT_EXCLUDE,
    MW_OPT_ALL_FRAMES,
    MW_OPT_SUPPRESSIONS,
    MW_OPT_NO_DEFAULT_SUPPRESSIONS,
    MW_OPT_FIRST_FREE = 0x200, /* subcommands number their options from here */
};
/* clang-format off */
#define MW_REPORT_LONGOPTS \
    { "key", 1, NULL, MW_OPT_KEY }, \
    { "cumulative", 0, NULL, MW_OPT_CUMULATIVE }, \
    { "json", 0, NULL, MW_OPT_JSON }, \
    { "help", 0, NULL, MW_OPT_HELP }, \
    { "limit", 1, NULL, 'n' }, \
    { "include", 1, NULL, MW_OPT_INCLUDE }, \
    { "exclude", 1, NULL, MW_OPT_EXCLUDE }, \
    { "all-frames", 0, NULL, MW_OPT_ALL_FRAMES }, \
    { "suppressions", 1, NULL, MW_OPT_SUPPRESSIONS }, \
    { "no-default-suppressions", 0, NULL, MW_OPT_NO_DEFAULT_SUPPRESSIONS }
/* clang-format on */
void mw_report_init(struct mw_report *r);
/* Handle one shared option: 1 handled, 0 not a shared option, -1 invalid
 * (message printed). */
int mw_report_option(struct mw_report *r, int opt, const char *arg);
void mw_report_free(struct mw_report *r);
/* The whole option loop of a command that takes only the shared options
 * (top, diff): 0 go on, 1 --help was printed, -1 invalid (message printed).
 * r is initialized here and, unless 0 is returned, freed. */
int mw_report_parse(struct mw_report *r, const char *cmd, int argc, char **argv,
                    void (*help)(FILE *));
/* After option parsing: add the default suppressions when the command
 * uses them (check, growth) and --no-default-suppressions was not given.
 * Returns 0, or -1 with the error printed. */
int mw_report_finish(struct mw_report *r, int default_suppressions);
/* The lines every reporting command's --help shows for these options. */
extern const char mw_report_filter_help[];
/* Print how much the filters removed, when they removed anything. */
void mw_print_filtered(FILE *out, const struct mw_stats *st);
/* Load a snapshot or print its one-sentence error; NULL on failure. */
struct mw_snap *mw_load_or_complain(const char *path);

/* Subcommands: argc/argv start at the subcommand's name. */
int mw_cmd_run(int argc, char **argv);
int mw_cmd_top(int argc, char **argv);
int mw_cmd_diff(int argc, char **argv);
int mw_cmd_info(int argc, char **argv);
int mw_cmd_check(int argc, char **argv);
int mw_cmd_growth(int argc, char **argv);
/* check's work on loaded snapshots, also used by `memwatch run --check`:
 * argv holds check options only (no snapshot names). */
int mw_check_snapshot(const char *snap_path, int argc, char **argv);
/* 0 when argv (argv[0] a name) holds valid check options only. */
int mw_check_validate(int argc, char **argv);

#endif /* MEMWATCH_ANALYZER_H */

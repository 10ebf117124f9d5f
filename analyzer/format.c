/* Output: tracemalloc's exact text formats (Lib/tracemalloc.py:
 * _format_size, Statistic, StatisticDiff, Traceback.format) and memwatch's
 * JSON, whose shape is documented in README.md. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "util.h"

void mw_format_size_f(char *buf, size_t size, double v, int sign)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    /* Same steps and the same double arithmetic as _format_size, so the
     * rounding (printf's, like Python's %-formatting) agrees too. */
    for (int u = 0; u < 5; u++) {
        double a = v < 0 ? -v : v;
        if (a < 100 && u != 0) {
            snprintf(buf, size, sign ? "%+.1f %s" : "%.1f %s", v, units[u]);
            return;
        }
        if (a < 10 * 1024 || u == 4) {
            snprintf(buf, size, sign ? "%+.0f %s" : "%.0f %s", v, units[u]);
            return;
        }
        v /= 1024;
    }
}

void mw_format_size(char *buf, size_t size, int64_t bytes, int sign)
{
    mw_format_size_f(buf, size, (double)bytes, sign);
}

/* Frame.__str__: "file:line".  Native frames without a line print their
 * symbol instead of tracemalloc's meaningless 0. */
static void format_frame(char *buf, size_t size, const struct mw_frame *f)
{
    if (f->line == 0 && !(f->flags & MW_FRAME_PYTHON) && f->function[0])
        snprintf(buf, size, "%s:%s", f->file, f->function);
    else
        snprintf(buf, size, "%s:%d", f->file, f->line);
}

void mw_format_key(char *buf, size_t size, const struct mw_stat *st, enum mw_key key)
{
    if (st->nframes == 0) {
        snprintf(buf, size, "<unknown>:0");
        return;
    }
    if (key == MW_KEY_FUNCTION) {
        const struct mw_frame *f = st->frames[0];
        snprintf(buf, size, "%s (%s)", f->function[0] ? f->function : "<unknown>", f->file);
        return;
    }
    /* Traceback.__str__ shows the oldest frame. */
    format_frame(buf, size, st->frames[st->nframes - 1]);
}

static void print_average(FILE *out, const struct mw_stat *st)
{
    if (st->count) {
        char avg[64];
        mw_format_size_f(avg, sizeof avg, (double)st->size / (double)st->count, 0);
        fprintf(out, ", average=%s", avg);
    }
}

void mw_print_stat(FILE *out, const struct mw_stat *st, enum mw_key key)
{
    char k[8192], size[64];
    mw_format_key(k, sizeof k, st, key);
    mw_format_size(size, sizeof size, (int64_t)st->size, 0);
    fprintf(out, "%s: size=%s, count=%" PRIu64, k, size, st->count);
    print_average(out, st);
    fputc('\n', out);
}

void mw_print_stat_diff(FILE *out, const struct mw_stat *st, enum mw_key key)
{
    char k[8192], size[64], diff[64];
    mw_format_key(k, sizeof k, st, key);
    mw_format_size(size, sizeof size, (int64_t)st->size, 0);
    mw_format_size(diff, sizeof diff, st->size_diff, 1);
    fprintf(out, "%s: size=%s (%s), count=%" PRIu64 " (%+" PRId64 ")", k, size, diff, st->count,
            st->count_diff);
    print_average(out, st);
    fputc('\n', out);
}

/* ---- source lines, like linecache.getline ---- */

struct source {
    struct source *next;
    char *path;
    char *text;
    char **lines;
    size_t nlines;
};

static struct source *sources;

static const struct source *load_source(const char *path)
{
    for (struct source *s = sources; s; s = s->next)
        if (strcmp(s->path, path) == 0)
            return s;
    struct source *s = mw_xcalloc(1, sizeof *s);
    s->path = mw_xstrdup(path);
    s->next = sources;
    sources = s;
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    if (!f)
        return s;
    size_t cap = 0, len = 0;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && len < (64u << 20)) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            s->text = mw_xrealloc(s->text, cap);
        }
        memcpy(s->text + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!s->text)
        return s;
    s->text[len] = 0;
    if (memchr(s->text, 0, len)) /* binary: no lines */
        return s;
    size_t lcap = 0;
    for (char *p = s->text; *p;) {
        if (s->nlines == lcap) {
            lcap = lcap ? lcap * 2 : 256;
            s->lines = mw_xrealloc(s->lines, lcap * sizeof *s->lines);
        }
        s->lines[s->nlines++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    return s;
}

/* The source line, stripped of surrounding white space, or NULL. */
static const char *source_line(const char *path, int line, char *buf, size_t size)
{
    if (line <= 0)
        return NULL;
    const struct source *s = load_source(path);
    if ((size_t)line > s->nlines)
        return NULL;
    const char *p = s->lines[line - 1];
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' || *p == '\v')
        p++;
    snprintf(buf, size, "%s", p);
    size_t n = strlen(buf);
    while (n && strchr(" \t\r\f\v", buf[n - 1]))
        buf[--n] = 0;
    return n ? buf : NULL;
}

void mw_print_traceback(FILE *out, const struct mw_frame *const *frames, uint32_t n)
{
    char text[4096];
    for (uint32_t i = n; i-- > 0;) {
        const struct mw_frame *f = frames[i];
        fprintf(out, "  File \"%s\", line %d", f->file, f->line);
        if (!(f->flags & MW_FRAME_PYTHON) && f->function[0])
            fprintf(out, ", in %s", f->function);
        fputc('\n', out);
        if (source_line(f->file, f->line, text, sizeof text))
            fprintf(out, "    %s\n", text);
    }
}

/* "./leaks a b": the command line with NULs turned into spaces. */
static void format_cmdline(char *buf, size_t size, const struct mw_snap *s)
{
    const struct mw_meta *m = mw_snap_meta(s, "cmdline");
    size_t n = 0;
    buf[0] = 0;
    if (!m || m->type != MW_META_BYTES)
        return;
    for (size_t i = 0; i < m->len && n + 1 < size; i++)
        buf[n++] = m->s[i] ? m->s[i] : ' ';
    buf[n] = 0;
}

void mw_print_summary(FILE *out, const struct mw_snap *s)
{
    char cmd[256], live[64], peak[64], total[64];
    format_cmdline(cmd, sizeof cmd, s);
    mw_format_size(live, sizeof live, (int64_t)mw_snap_uint(s, "live_bytes", 0), 0);
    mw_format_size(peak, sizeof peak, (int64_t)mw_snap_uint(s, "peak_bytes", 0), 0);
    mw_format_size(total, sizeof total, (int64_t)mw_snap_uint(s, "total_bytes", 0), 0);
    fprintf(out,
            "%s: %s snapshot of pid %" PRIu64 " (%s): %s live in %" PRIu64
            " blocks at %zu sites, peak %s, %" PRIu64 " allocations (%s) in total\n",
            s->path, mw_snap_str(s, "trigger", "?"), mw_snap_uint(s, "pid", 0), cmd, live,
            mw_snap_uint(s, "live_blocks", 0), s->nsites, peak, mw_snap_uint(s, "total_allocs", 0),
            total);
}

/* ---- JSON ---- */

static void json_escaped(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

static void json_key(struct mw_json *j, const char *key)
{
    if (j->need_comma[j->depth])
        fputc(',', j->out);
    j->need_comma[j->depth] = 1;
    if (j->depth > 0) {
        fputc('\n', j->out);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->out);
    }
    if (key) {
        json_escaped(j->out, key, strlen(key));
        fputs(": ", j->out);
    }
}

static void json_open(struct mw_json *j, const char *key, char c)
{
    json_key(j, key);
    fputc(c, j->out);
    j->depth++;
    j->need_comma[j->depth] = 0;
}

static void json_close(struct mw_json *j, char c)
{
    int had = j->need_comma[j->depth];
    j->depth--;
    if (had) {
        fputc('\n', j->out);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->out);
    }
    fputc(c, j->out);
    if (j->depth == 0)
        fputc('\n', j->out);
}

void mw_json_begin_object(struct mw_json *j, const char *key)
{
    json_open(j, key, '{');
}

void mw_json_end_object(struct mw_json *j)
{
    json_close(j, '}');
}

void mw_json_begin_array(struct mw_json *j, const char *key)
{
    json_open(j, key, '[');
}

void mw_json_end_array(struct mw_json *j)
{
    json_close(j, ']');
}

void mw_json_strn(struct mw_json *j, const char *key, const char *v, size_t n)
{
    json_key(j, key);
    json_escaped(j->out, v, n);
}

void mw_json_str(struct mw_json *j, const char *key, const char *v)
{
    mw_json_strn(j, key, v ? v : "", v ? strlen(v) : 0);
}

void mw_json_uint(struct mw_json *j, const char *key, uint64_t v)
{
    json_key(j, key);
    fprintf(j->out, "%" PRIu64, v);
}

void mw_json_int(struct mw_json *j, const char *key, int64_t v)
{
    json_key(j, key);
    fprintf(j->out, "%" PRId64, v);
}

void mw_json_bool(struct mw_json *j, const char *key, int v)
{
    json_key(j, key);
    fputs(v ? "true" : "false", j->out);
}

void mw_json_null(struct mw_json *j, const char *key)
{
    json_key(j, key);
    fputs("null", j->out);
}

void mw_json_snapshot(struct mw_json *j, const char *key, const struct mw_snap *s)
{
    mw_json_begin_object(j, key);
    mw_json_str(j, "path", s->path);
    mw_json_uint(j, "format_version", s->version);
    mw_json_uint(j, "sites", s->nsites);
    mw_json_begin_object(j, "meta");
    for (size_t i = 0; i < s->nmeta; i++) {
        const struct mw_meta *m = &s->meta[i];
        if (strcmp(m->key, "cmdline") == 0 && m->type == MW_META_BYTES) {
            /* The argument vector, as a list. */
            mw_json_begin_array(j, m->key);
            for (size_t at = 0; at < m->len;) {
                size_t n = strnlen(m->s + at, m->len - at);
                mw_json_strn(j, NULL, m->s + at, n);
                at += n + 1;
            }
            mw_json_end_array(j);
        } else if (m->type == MW_META_UINT) {
            mw_json_uint(j, m->key, m->u);
        } else if (m->type == MW_META_INT) {
            mw_json_int(j, m->key, m->i);
        } else {
            mw_json_strn(j, m->key, m->s ? m->s : "", m->len);
        }
    }
    mw_json_end_object(j);
    mw_json_end_object(j);
}

static void json_frame(struct mw_json *j, const char *key, const struct mw_frame *f)
{
    mw_json_begin_object(j, key);
    mw_json_str(j, "file", f->file);
    mw_json_int(j, "line", f->line);
    mw_json_str(j, "function", f->function);
    mw_json_str(j, "module", f->module);
    mw_json_end_object(j);
}

/* The frame that names a statistic: its key frame, completed with the
 * function and module of the group's largest site where the key leaves
 * them out (lineno keys group by file and line only). */
static struct mw_frame stat_frame(const struct mw_stat *st, enum mw_key key)
{
    struct mw_frame f = { .file = "<unknown>", .line = 0, .function = "", .module = "" };
    if (st->nframes)
        f = *st->frames[0];
    const struct mw_trace *t = st->example;
    if (key != MW_KEY_FILENAME && !f.function[0] && t && t->nframes) {
        f.function = t->frames[t->site]->function;
        f.module = t->frames[t->site]->module;
    }
    return f;
}

void mw_json_stat(struct mw_json *j, const struct mw_stat *st, enum mw_key key, int with_diff)
{
    mw_json_begin_object(j, NULL);
    mw_json_stat_fields(j, st, key, with_diff);
    mw_json_end_object(j);
}

void mw_json_stat_fields(struct mw_json *j, const struct mw_stat *st, enum mw_key key,
                         int with_diff)
{
    struct mw_frame f = stat_frame(st, key);
    mw_json_str(j, "file", f.file);
    mw_json_int(j, "line", f.line);
    mw_json_str(j, "function", f.function);
    mw_json_str(j, "module", f.module);
    mw_json_uint(j, "size", st->size);
    mw_json_uint(j, "count", st->count);
    mw_json_uint(j, "average", st->count ? (st->size + st->count / 2) / st->count : 0);
    if (with_diff) {
        mw_json_int(j, "size_diff", st->size_diff);
        mw_json_int(j, "count_diff", st->count_diff);
    }
    /* The whole stack of the group's largest site, oldest frame first. */
    mw_json_begin_array(j, "traceback");
    const struct mw_trace *t = st->example;
    if (t) {
        for (uint32_t i = t->nframes; i-- > t->site;)
            json_frame(j, NULL, t->frames[i]);
    } else {
        for (uint32_t i = st->nframes; i-- > 0;)
            json_frame(j, NULL, st->frames[i]);
    }
    mw_json_end_array(j);
}

void mw_print_stat_traceback(FILE *out, const struct mw_stat *st)
{
    const struct mw_trace *t = st->example;
    if (t)
        mw_print_traceback(out, t->frames + t->site, t->nframes - t->site);
    else
        mw_print_traceback(out, st->frames, st->nframes);
}

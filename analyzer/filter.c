/* Which traces a report keeps: tracemalloc's Filter semantics for
 * --include/--exclude, LeakSanitizer-style suppression files, and the
 * size arguments of the leak checks.
 *
 * --include PATTERN[:LINE] / --exclude PATTERN[:LINE]: fnmatch on the file
 *   name of the reported site (the most recent frame), or of any frame with
 *   --all-frames; a trace is kept when it matches an include filter (or
 *   there is none) and no exclude filter.  As in tracemalloc, '*' also
 *   matches '/'.
 * Suppression files: one rule a line, "leak:PATTERN", '#' comments; a rule
 *   removes every trace with a frame whose function, file or module matches
 *   PATTERN, LeakSanitizer's way: a substring, '*' a wildcard, '^' and '$'
 *   anchors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyzer.h"
#include "util.h"

struct pattern {
    char *text;
    int line; /* 0: any line */
};

struct mw_filter {
    struct pattern *include, *exclude;
    size_t ninclude, nexclude;
    int all_frames;
    char **suppressions;
    size_t nsuppressions;
};

struct mw_filter *mw_filter_new(void)
{
    return mw_xcalloc(1, sizeof(struct mw_filter));
}

void mw_filter_free(struct mw_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->ninclude; i++)
        free(f->include[i].text);
    for (size_t i = 0; i < f->nexclude; i++)
        free(f->exclude[i].text);
    for (size_t i = 0; i < f->nsuppressions; i++)
        free(f->suppressions[i]);
    free(f->include);
    free(f->exclude);
    free(f->suppressions);
    free(f);
}

int mw_filter_empty(const struct mw_filter *f)
{
    return !f || (!f->ninclude && !f->nexclude && !f->nsuppressions);
}

void mw_filter_add(struct mw_filter *f, int inclusive, const char *spec)
{
    struct pattern p = { mw_xstrdup(spec), 0 };
    /* "file.py:42": a line number after the last colon. */
    char *colon = strrchr(p.text, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
        p.line = atoi(colon + 1);
        *colon = 0;
    }
    /* tracemalloc's _normalize_filename: compiled files stand for sources. */
    size_t n = strlen(p.text);
    if (n > 4 && strcmp(p.text + n - 4, ".pyc") == 0)
        p.text[n - 1] = 0;
    struct pattern **v = inclusive ? &f->include : &f->exclude;
    size_t *count = inclusive ? &f->ninclude : &f->nexclude;
    *v = mw_xrealloc(*v, (*count + 1) * sizeof **v);
    (*v)[(*count)++] = p;
}

void mw_filter_set_all_frames(struct mw_filter *f, int on)
{
    f->all_frames = on;
}

/* LeakSanitizer's template match: a substring, '*' any run, '^' anchors
 * at the start and '$' at the end. */
static int template_match(const char *t, const char *s)
{
    if (!s || !*s)
        return 0;
    int anchored = *t == '^';
    if (anchored)
        t++;
    while (*t) {
        if (*t == '*') {
            t++;
            anchored = 0;
            continue;
        }
        if (*t == '$')
            return *s == 0;
        size_t len = strcspn(t, "*$");
        if (t[len] == '$') {
            /* The last literal: it must end the string. */
            size_t sl = strlen(s);
            return sl >= len && memcmp(s + sl - len, t, len) == 0 && (!anchored || sl == len);
        }
        const char *hit = memmem(s, strlen(s), t, len);
        if (!hit || (anchored && hit != s))
            return 0;
        s = hit + len;
        t += len;
        anchored = 0;
    }
    return 1;
}

int mw_filter_load_suppressions(struct mw_filter *f, const char *path, char *err, size_t errlen)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        snprintf(err, errlen, "%s: cannot read the suppressions: %s", path, strerror(errno));
        return -errno;
    }
    char line[4096];
    int n = 0, r = 0;
    while (fgets(line, sizeof line, in)) {
        n++;
        char *s = line;
        s[strcspn(s, "\r\n")] = 0;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t len = strlen(s);
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            s[--len] = 0;
        if (!*s || *s == '#')
            continue;
        if (strncmp(s, "leak:", 5) != 0 || !s[5]) {
            snprintf(err, errlen,
                     "%s line %d: '%s' is not a suppression (expected leak:PATTERN)", path, n, s);
            r = -EINVAL;
            break;
        }
        f->suppressions = mw_xrealloc(f->suppressions,
                                      (f->nsuppressions + 1) * sizeof *f->suppressions);
        f->suppressions[f->nsuppressions++] = mw_xstrdup(s + 5);
    }
    fclose(in);
    return r;
}

static int frame_matches(const struct pattern *p, const struct mw_frame *fr)
{
    return fnmatch(p->text, fr->file, 0) == 0 && (p->line == 0 || p->line == fr->line);
}

/* tracemalloc's Filter._match_traceback for one filter. */
static int matches(const struct mw_filter *f, const struct pattern *p, const struct mw_trace *t)
{
    if (!f->all_frames)
        return frame_matches(p, t->frames[t->site]);
    for (uint32_t i = t->site; i < t->nframes; i++)
        if (frame_matches(p, t->frames[i]))
            return 1;
    return 0;
}

int mw_filter_suppressed(const struct mw_filter *f, const struct mw_trace *t)
{
    for (size_t k = 0; f && k < f->nsuppressions; k++)
        for (uint32_t i = 0; i < t->nframes; i++) {
            const struct mw_frame *fr = t->frames[i];
            if (template_match(f->suppressions[k], fr->function) ||
                template_match(f->suppressions[k], fr->file) ||
                template_match(f->suppressions[k], fr->module))
                return 1;
        }
    return 0;
}

int mw_filter_keep(const struct mw_filter *f, const struct mw_trace *t)
{
    if (!f)
        return 1;
    if (f->ninclude) {
        int any = 0;
        for (size_t i = 0; i < f->ninclude && !any; i++)
            any = matches(f, &f->include[i], t);
        if (!any)
            return 0;
    }
    for (size_t i = 0; i < f->nexclude; i++)
        if (matches(f, &f->exclude[i], t))
            return 0;
    return !mw_filter_suppressed(f, t);
}

int mw_parse_size(const char *text, uint64_t *out)
{
    static const struct {
        const char *unit;
        double factor;
    } units[] = {
        { "", 1 },           { "b", 1 },
        { "k", 1024.0 },     { "kib", 1024.0 },     { "kb", 1e3 },
        { "m", 1048576.0 },  { "mib", 1048576.0 },  { "mb", 1e6 },
        { "g", 1073741824.0 }, { "gib", 1073741824.0 }, { "gb", 1e9 },
        { "t", 1099511627776.0 }, { "tib", 1099511627776.0 }, { "tb", 1e12 },
    };
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !(v >= 0) || isinf(v))
        return -EINVAL;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].unit) == 0) {
            double bytes = v * units[i].factor;
            if (bytes > 1.8e19)
                return -ERANGE;
            *out = (uint64_t)(bytes + 0.5);
            return 0;
        }
    }
    return -ENOENT; /* unknown unit */
}

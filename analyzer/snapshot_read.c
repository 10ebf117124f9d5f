/* Reading snapshot files: verify the header, size and checksum before
 * trusting anything, then decode each known section with bounds-checked
 * reads.  Every failure becomes one sentence that names the file and says
 * what is wrong with it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer.h"
#include "codec.h"
#include "memwatch/format.h"

/* Counts read from a file are checked against the bytes left before any
 * allocation, so a corrupt count cannot ask for gigabytes. */
#define MIN_META_BYTES 3
#define MIN_MODULE_BYTES 7
#define MIN_CODE_BYTES 7
#define MIN_SITE_BYTES 5
#define MIN_FRAME_BYTES 2

static int fail(char *err, size_t errlen, int code, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, int code, const char *name, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s: ", name);
    if (n < 0 || (size_t)n >= errlen)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = 0;
    return s;
}

void mw_snap_free(struct mw_snap *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nmeta; i++) {
        free(s->meta[i].key);
        free(s->meta[i].s);
    }
    for (size_t i = 0; i < s->nmodules; i++) {
        free(s->modules[i].path);
        free(s->modules[i].build_id);
    }
    for (size_t i = 0; i < s->ncodes; i++) {
        free(s->codes[i].filename);
        free(s->codes[i].name);
        free(s->codes[i].qualname);
        free(s->codes[i].linetable);
    }
    mw_pool_free(&s->pool);
    free(s->meta);
    free(s->modules);
    free(s->codes);
    free(s->path);
    free(s);
}

/* Read a count of items each at least min_bytes long. */
static uint64_t get_count(struct mw_rbuf *r, size_t min_bytes)
{
    uint64_t n = mw_get_varint(r);
    if (!r->err && n > (uint64_t)(r->end - r->pos) / min_bytes)
        r->err = -EBADMSG;
    return r->err ? 0 : n;
}

static char *get_string(struct mw_rbuf *r, size_t *len_out)
{
    size_t len;
    const uint8_t *p = mw_get_str(r, &len);
    if (r->err)
        return NULL;
    char *s = dup_bytes(p, len);
    if (!s)
        r->err = -ENOMEM;
    if (len_out)
        *len_out = len;
    return s;
}

static int read_meta(struct mw_rbuf *r, struct mw_snap *s)
{
    uint64_t n = get_count(r, MIN_META_BYTES);
    if (r->err)
        return r->err;
    s->meta = calloc(n ? n : 1, sizeof *s->meta);
    if (!s->meta)
        return -ENOMEM;
    for (uint64_t i = 0; i < n && !r->err; i++) {
        struct mw_meta *m = &s->meta[s->nmeta++];
        m->key = get_string(r, NULL);
        m->type = mw_get_u8(r);
        switch (m->type) {
        case MEMWATCH_META_UINT:
            m->u = mw_get_varint(r);
            break;
        case MEMWATCH_META_INT:
            m->i = mw_get_svarint(r);
            break;
        case MEMWATCH_META_BYTES:
            m->s = get_string(r, &m->len);
            break;
        default:
            if (!r->err)
                r->err = -EBADMSG;
        }
    }
    return r->err;
}

static int read_modules(struct mw_rbuf *r, struct mw_snap *s)
{
    uint64_t n = get_count(r, MIN_MODULE_BYTES);
    if (r->err)
        return r->err;
    s->modules = calloc(n ? n : 1, sizeof *s->modules);
    if (!s->modules)
        return -ENOMEM;
    for (uint64_t i = 0; i < n && !r->err; i++) {
        struct mw_module *m = &s->modules[s->nmodules++];
        m->id = mw_get_varint(r);
        m->bias = mw_get_varint(r);
        m->start = mw_get_varint(r);
        m->end = mw_get_varint(r);
        m->path = get_string(r, NULL);
        m->build_id = (uint8_t *)get_string(r, &m->build_id_len);
        m->flags = mw_get_varint(r);
        if (!r->err && m->end < m->start)
            r->err = -EBADMSG;
    }
    return r->err;
}

static int cmp_code(const void *a, const void *b)
{
    const struct mw_pycode *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int read_codes(struct mw_rbuf *r, struct mw_snap *s)
{
    uint64_t n = get_count(r, MIN_CODE_BYTES);
    if (r->err)
        return r->err;
    s->codes = calloc(n ? n : 1, sizeof *s->codes);
    if (!s->codes)
        return -ENOMEM;
    for (uint64_t i = 0; i < n && !r->err; i++) {
        struct mw_pycode *c = &s->codes[s->ncodes++];
        c->id = mw_get_varint(r);
        c->py_version = (int)(mw_get_varint(r) & 0xffff);
        c->firstlineno = mw_get_svarint(r);
        c->filename = get_string(r, NULL);
        c->name = get_string(r, NULL);
        c->qualname = get_string(r, NULL);
        c->linetable = (uint8_t *)get_string(r, &c->linetable_len);
    }
    if (!r->err)
        qsort(s->codes, s->ncodes, sizeof *s->codes, cmp_code);
    return r->err;
}

static int read_sites(struct mw_rbuf *r, struct mw_snap *s)
{
    uint64_t n = get_count(r, MIN_SITE_BYTES);
    if (r->err)
        return r->err;
    s->sites = mw_pool_alloc(&s->pool, (n ? n : 1) * sizeof *s->sites);
    for (uint64_t i = 0; i < n && !r->err; i++) {
        struct mw_site *site = &s->sites[s->nsites++];
        site->live_bytes = mw_get_varint(r);
        site->live_count = mw_get_varint(r);
        site->total_bytes = mw_get_varint(r);
        site->total_count = mw_get_varint(r);
        uint64_t nf = get_count(r, MIN_FRAME_BYTES);
        if (r->err)
            break;
        site->frames = mw_pool_alloc_raw(&s->pool, (nf ? nf : 1) * sizeof *site->frames);
        site->nframes = (uint32_t)nf;
        for (uint64_t k = 0; k < nf && !r->err; k++) {
            struct mw_rawframe *f = &site->frames[k];
            f->kind = mw_get_u8(r);
            if (f->kind == MEMWATCH_FRAME_NATIVE) {
                f->addr = mw_get_varint(r);
            } else if (f->kind == MEMWATCH_FRAME_PYTHON) {
                f->code_id = mw_get_varint(r);
                uint64_t off = mw_get_varint(r);
                f->offset = off > 0xffffffffu ? 0xffffffffu : (uint32_t)off;
            } else if (!r->err) {
                r->err = -EBADMSG;
            }
        }
    }
    return r->err;
}

static const char *section_name(uint32_t type)
{
    switch (type) {
    case MEMWATCH_SECTION_META: return "metadata";
    case MEMWATCH_SECTION_MODULES: return "module";
    case MEMWATCH_SECTION_CODES: return "Python code";
    case MEMWATCH_SECTION_SITES: return "allocation site";
    default: return "unknown";
    }
}

int mw_snap_parse(const char *name, const uint8_t *data, size_t len, struct mw_snap **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    if (len == 0)
        return fail(err, errlen, -EBADMSG, name, "the file is empty: not a memwatch snapshot");
    if (len < MEMWATCH_MAGIC_SIZE && memcmp(data, MEMWATCH_MAGIC, len) == 0)
        return fail(err, errlen, -EBADMSG, name,
                    "truncated at byte %zu (a snapshot has at least %d): the file was cut short",
                    len, MEMWATCH_HEADER_SIZE + MEMWATCH_TRAILER_SIZE);
    if (len < MEMWATCH_MAGIC_SIZE || memcmp(data, MEMWATCH_MAGIC, MEMWATCH_MAGIC_SIZE) != 0)
        return fail(err, errlen, -EBADMSG, name, "not a memwatch snapshot (no MEMWATCH signature)");
    if (len < MEMWATCH_HEADER_SIZE + MEMWATCH_TRAILER_SIZE)
        return fail(err, errlen, -EBADMSG, name,
                    "truncated at byte %zu (a snapshot has at least %d): the file was cut short",
                    len, MEMWATCH_HEADER_SIZE + MEMWATCH_TRAILER_SIZE);
    uint32_t version = mw_get_u32le(data + 8);
    uint32_t header_size = mw_get_u32le(data + 12);
    uint64_t file_size = mw_get_u64le(data + 16);
    uint32_t nsections = mw_get_u32le(data + 24);
    uint32_t flags = mw_get_u32le(data + 28);

    if (file_size > len)
        return fail(err, errlen, -EBADMSG, name,
                    "truncated at byte %zu (expected %llu): the file was cut short", len,
                    (unsigned long long)file_size);
    if (file_size < len)
        return fail(err, errlen, -EBADMSG, name,
                    "%zu bytes where the header says %llu: extra data after the snapshot", len,
                    (unsigned long long)file_size);
    uint64_t want = mw_get_u64le(data + len - MEMWATCH_TRAILER_SIZE);
    uint64_t got = mw_hash64(data, len - MEMWATCH_TRAILER_SIZE, 0);
    if (want != got)
        return fail(err, errlen, -EBADMSG, name,
                    "checksum mismatch (stored %016llx, computed %016llx): the file is damaged",
                    (unsigned long long)want, (unsigned long long)got);
    /* Only now is the version trustworthy enough to report. */
    if (version > MEMWATCH_FORMAT_VERSION)
        return fail(err, errlen, -EPROTONOSUPPORT, name,
                    "format version %u is newer than this memwatch reads (up to %d): upgrade "
                    "memwatch",
                    version, MEMWATCH_FORMAT_VERSION);
    if (version == 0 || header_size < MEMWATCH_HEADER_SIZE || header_size > len - 8 || flags)
        return fail(err, errlen, -EBADMSG, name, "invalid header (version %u, size %u, flags %u)",
                    version, header_size, flags);

    struct mw_snap *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(name))) {
        free(s);
        return fail(err, errlen, -ENOMEM, name, "out of memory");
    }
    s->version = version;
    s->file_size = file_size;

    const uint8_t *p = data + header_size, *end = data + len - MEMWATCH_TRAILER_SIZE;
    int r = 0;
    for (uint32_t i = 0; i < nsections && r == 0; i++) {
        if ((size_t)(end - p) < MEMWATCH_SECTION_HEADER_SIZE) {
            r = fail(err, errlen, -EBADMSG, name, "section %u of %u is missing at byte %zu", i + 1,
                     nsections, (size_t)(p - data));
            break;
        }
        uint32_t type = mw_get_u32le(p);
        uint64_t slen = mw_get_u64le(p + 8);
        p += MEMWATCH_SECTION_HEADER_SIZE;
        if (slen > (uint64_t)(end - p)) {
            r = fail(err, errlen, -EBADMSG, name,
                     "the %s section at byte %zu claims %llu bytes, past the end of the file",
                     section_name(type), (size_t)(p - data) - MEMWATCH_SECTION_HEADER_SIZE,
                     (unsigned long long)slen);
            break;
        }
        struct mw_rbuf rb = { data, p, p + slen, 0 };
        int known = 1;
        switch (type) {
        case MEMWATCH_SECTION_META: r = s->meta ? -EBADMSG : read_meta(&rb, s); break;
        case MEMWATCH_SECTION_MODULES: r = s->modules ? -EBADMSG : read_modules(&rb, s); break;
        case MEMWATCH_SECTION_CODES: r = s->codes ? -EBADMSG : read_codes(&rb, s); break;
        case MEMWATCH_SECTION_SITES: r = s->have_sites++ ? -EBADMSG : read_sites(&rb, s); break;
        default: known = 0; break; /* newer sections are skipped */
        }
        if (r == -ENOMEM)
            r = fail(err, errlen, r, name, "out of memory");
        else if (r)
            r = fail(err, errlen, -EBADMSG, name, "the %s section is malformed near byte %zu",
                     section_name(type), mw_rbuf_offset(&rb));
        else if (known && rb.pos != rb.end)
            r = fail(err, errlen, -EBADMSG, name,
                     "the %s section has %zu unexpected bytes at its end", section_name(type),
                     (size_t)(rb.end - rb.pos));
        p += slen;
    }
    if (r == 0 && p != end)
        r = fail(err, errlen, -EBADMSG, name, "%zu unexpected bytes after the last section",
                 (size_t)(end - p));
    if (r == 0 && (!s->meta || !s->have_sites))
        r = fail(err, errlen, -EBADMSG, name, "the snapshot has no %s section",
                 !s->meta ? "metadata" : "allocation site");
    for (size_t i = 0; r == 0 && i < s->nsites; i++)
        for (uint32_t k = 0; k < s->sites[i].nframes; k++) {
            const struct mw_rawframe *f = &s->sites[i].frames[k];
            if (f->kind == MEMWATCH_FRAME_PYTHON && f->code_id && !mw_snap_code(s, f->code_id)) {
                r = fail(err, errlen, -EBADMSG, name,
                         "a stack refers to Python code %llu, which the file does not describe",
                         (unsigned long long)f->code_id);
                break;
            }
        }
    if (r) {
        mw_snap_free(s);
        return r;
    }
    /* Sections are optional for old writers: keep empty arrays valid. */
    if (!s->modules)
        s->modules = calloc(1, sizeof *s->modules);
    if (!s->codes)
        s->codes = calloc(1, sizeof *s->codes);
    if (!s->sites)
        s->sites = mw_pool_alloc(&s->pool, sizeof *s->sites);
    *out = s;
    return 0;
}

int mw_snap_load(const char *path, struct mw_snap **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, -errno, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        close(fd);
        return fail(err, errlen, -e, path, "%s",
                    e == EISDIR ? "is a directory, not a snapshot file" : "not a regular file");
    }
    size_t len = (size_t)st.st_size;
    if (len == 0) {
        close(fd);
        return mw_snap_parse(path, (const uint8_t *)"", 0, out, err, errlen);
    }
    /* Mapped, not read: no copy of what may be tens of megabytes. */
    void *data = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    int e = errno;
    close(fd);
    if (data == MAP_FAILED)
        return fail(err, errlen, -e, path, "cannot read: %s", strerror(e));
    int r = mw_snap_parse(path, data, len, out, err, errlen);
    munmap(data, len);
    return r;
}

const struct mw_meta *mw_snap_meta(const struct mw_snap *s, const char *key)
{
    for (size_t i = 0; i < s->nmeta; i++)
        if (s->meta[i].key && strcmp(s->meta[i].key, key) == 0)
            return &s->meta[i];
    return NULL;
}

uint64_t mw_snap_uint(const struct mw_snap *s, const char *key, uint64_t fallback)
{
    const struct mw_meta *m = mw_snap_meta(s, key);
    return m && m->type == MW_META_UINT ? m->u : fallback;
}

const char *mw_snap_str(const struct mw_snap *s, const char *key, const char *fallback)
{
    const struct mw_meta *m = mw_snap_meta(s, key);
    return m && m->type == MW_META_BYTES && m->s ? m->s : fallback;
}

const struct mw_pycode *mw_snap_code(const struct mw_snap *s, uint64_t id)
{
    size_t lo = 0, hi = s->ncodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->codes[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->ncodes && s->codes[lo].id == id ? &s->codes[lo] : NULL;
}

const struct mw_module *mw_snap_module_at(const struct mw_snap *s, uint64_t addr)
{
    const struct mw_module *best = NULL;
    for (size_t i = 0; i < s->nmodules; i++) {
        const struct mw_module *m = &s->modules[i];
        if (addr >= m->start && addr < m->end &&
            (!best || m->end - m->start < best->end - best->start))
            best = m;
    }
    return best;
}

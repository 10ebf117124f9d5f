/* Snapshot files: encoding what the recorder knows into the format of
 * include/memwatch/format.h, and storing it safely: a temporary file created
 * with O_EXCL|O_NOFOLLOW and mode 0600, renamed without ever replacing an
 * existing file, so a crash never leaves a half file under the final name
 * and a planted symlink is never followed.  Runs on the recorder thread. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <string.h>

#include "memwatch/format.h"
#include "mw.h"
#include "platform.h"

static int grow(struct mw_wbuf *b, size_t need)
{
    size_t ncap = b->cap ? b->cap : 1u << 16;
    while (ncap - b->len < need)
        ncap *= 2;
    void *p = mw_os_remap(b->data, b->cap, ncap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

static void meta_str(struct mw_wbuf *b, const char *key, const void *s, size_t n)
{
    mw_put_str(b, key, strlen(key));
    mw_put_u8(b, MEMWATCH_META_BYTES);
    mw_put_str(b, s, n);
}

static void meta_cstr(struct mw_wbuf *b, const char *key, const char *s)
{
    meta_str(b, key, s, strlen(s));
}

static void meta_uint(struct mw_wbuf *b, const char *key, uint64_t v)
{
    mw_put_str(b, key, strlen(key));
    mw_put_u8(b, MEMWATCH_META_UINT);
    mw_put_varint(b, v);
}

/* Start a section; returns the offset of its length field. */
static size_t section_begin(struct mw_wbuf *b, uint32_t type)
{
    mw_put_u32le(b, type);
    mw_put_u32le(b, 0);
    size_t at = b->len;
    mw_put_u64le(b, 0);
    return at;
}

static void section_end(struct mw_wbuf *b, size_t at)
{
    mw_patch_u64le(b, at, b->len - at - 8);
}

static const char *trigger_names[] = { "exit", "python-exit", "signal", "interval", "api" };

static void put_meta(struct mw_wbuf *b, const struct mw_snapshot_view *v)
{
    /* The recorder is one thread: static buffers are enough. */
    static char cmdline[32768], exe[MW_PATH_MAX], cwd[MW_PATH_MAX];
    ssize_t cl = mw_os_read_file("/proc/self/cmdline", cmdline, sizeof cmdline);
    if (cl > 0 && cmdline[cl - 1] == 0)
        cl--; /* drop the final NUL: arguments are NUL-separated */
    if (mw_os_readlink("/proc/self/exe", exe, sizeof exe) < 0)
        exe[0] = 0;
    if (mw_os_getcwd(cwd, sizeof cwd) < 0)
        cwd[0] = 0;

    size_t at = section_begin(b, MEMWATCH_SECTION_META);
    mw_put_varint(b, 24);
    meta_cstr(b, "trigger", trigger_names[v->trigger]);
    meta_uint(b, "pid", (uint64_t)mw_os_getpid());
    meta_uint(b, "ppid", (uint64_t)mw_os_getppid());
    meta_uint(b, "seq", v->seq);
    meta_uint(b, "time_ns", mw_os_realtime_ns());
    meta_uint(b, "start_ns", mw_g.start_ns);
    meta_str(b, "cmdline", cmdline, cl > 0 ? (size_t)cl : 0);
    meta_cstr(b, "exe", exe);
    meta_cstr(b, "cwd", cwd);
    meta_uint(b, "live_bytes", v->live_bytes);
    meta_uint(b, "live_blocks", v->live_blocks);
    meta_uint(b, "peak_bytes", v->peak_bytes);
    meta_uint(b, "total_bytes", v->total_bytes);
    meta_uint(b, "total_allocs", v->total_allocs);
    meta_uint(b, "total_frees", v->total_frees);
    meta_uint(b, "unknown_frees", v->unknown_frees);
    meta_uint(b, "ring_waits", v->ring_waits);
    meta_uint(b, "ring_wait_ns", v->ring_wait_ns);
    meta_uint(b, "events", v->events);
    meta_uint(b, "native_depth", (uint64_t)mw_cfg.native_depth);
    meta_uint(b, "python_depth", (uint64_t)mw_cfg.python_depth);
    meta_cstr(b, "python", mw_py_state());
    meta_cstr(b, "python_version", mw_py_version());
    meta_cstr(b, "python_objects", mw_py_objects());
    section_end(b, at);
}

struct modules_ctx {
    struct mw_wbuf *b;
    uint64_t count;
    uintptr_t self_addr;
};

static const uint8_t *find_build_id(const struct dl_phdr_info *info, size_t *len)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof *nh;
            const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0) {
                *len = nh->n_descsz;
                return desc;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    *len = 0;
    return NULL;
}

static int put_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct modules_ctx *c = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        if (s < lo)
            lo = s;
        if (s + ph->p_memsz > hi)
            hi = s + ph->p_memsz;
    }
    if (hi == 0)
        return 0;

    static char exe[MW_PATH_MAX];
    const char *path = info->dlpi_name;
    uint64_t flags = 0;
    if (c->count == 0) {
        flags |= MEMWATCH_MODULE_MAIN;
        if (!path || !*path)
            path = mw_os_readlink("/proc/self/exe", exe, sizeof exe) > 0 ? exe : "";
    }
    if (!path)
        path = "";
    if (c->self_addr >= lo && c->self_addr < hi)
        flags |= MEMWATCH_MODULE_MEMWATCH;
    if (mw_py_interp_addr >= lo && mw_py_interp_addr < hi)
        flags |= MEMWATCH_MODULE_INTERPRETER;
    size_t idlen;
    const uint8_t *id = find_build_id(info, &idlen);

    mw_put_varint(c->b, c->count);
    mw_put_varint(c->b, info->dlpi_addr);
    mw_put_varint(c->b, lo);
    mw_put_varint(c->b, hi);
    mw_put_str(c->b, path, strlen(path));
    mw_put_str(c->b, id, idlen);
    mw_put_varint(c->b, flags);
    c->count++;
    return 0;
}

static void put_modules(struct mw_wbuf *b)
{
    /* The count comes first but is known last: gather the entries aside. */
    struct mw_wbuf entries = { .grow = grow };
    struct modules_ctx c = { &entries, 0, (uintptr_t)&put_modules };
    dl_iterate_phdr(put_module, &c);
    if (entries.err && !b->err)
        b->err = entries.err;
    size_t at = section_begin(b, MEMWATCH_SECTION_MODULES);
    mw_put_varint(b, c.count);
    mw_put_bytes(b, entries.data, entries.len);
    section_end(b, at);
    mw_os_unmap(entries.data, entries.cap);
}

static void put_codes(struct mw_wbuf *b, const struct mw_snapshot_view *v)
{
    uint64_t count = 0, mark = v->seq + 1;
    for (size_t i = 0; i < v->nsites; i++) {
        struct mw_stack *s = v->sites[i];
        if (!mw_totals(s)->live_count)
            continue;
        for (uint32_t j = 0; j < s->npy; j++) {
            struct mw_code *c = (struct mw_code *)(uintptr_t)s->words[s->nwords + j];
            if (c && c->mark != mark) {
                c->mark = mark;
                count++;
            }
        }
    }
    size_t at = section_begin(b, MEMWATCH_SECTION_CODES);
    mw_put_varint(b, count);
    mark += 1u << 31; /* a second pass over the same records, another mark */
    for (size_t i = 0; i < v->nsites; i++) {
        struct mw_stack *s = v->sites[i];
        if (!mw_totals(s)->live_count)
            continue;
        for (uint32_t j = 0; j < s->npy; j++) {
            struct mw_code *c = (struct mw_code *)(uintptr_t)s->words[s->nwords + j];
            if (!c || c->mark == mark)
                continue;
            c->mark = mark;
            const uint8_t *d = c->data;
            mw_put_varint(b, c->id);
            mw_put_varint(b, c->py_version);
            mw_put_svarint(b, c->firstlineno);
            mw_put_str(b, d, c->filename_len);
            d += c->filename_len;
            mw_put_str(b, d, c->name_len);
            d += c->name_len;
            mw_put_str(b, d, c->qualname_len);
            d += c->qualname_len;
            mw_put_str(b, d, c->linetable_len);
        }
    }
    section_end(b, at);
}

static void put_sites(struct mw_wbuf *b, const struct mw_snapshot_view *v)
{
    uint64_t count = 0;
    for (size_t i = 0; i < v->nsites; i++)
        count += mw_totals(v->sites[i])->live_count != 0;
    size_t at = section_begin(b, MEMWATCH_SECTION_SITES);
    mw_put_varint(b, count);
    for (size_t i = 0; i < v->nsites; i++) {
        struct mw_stack *s = v->sites[i];
        if (!mw_totals(s)->live_count)
            continue;
        const struct mw_totals *t = mw_totals(s);
        mw_put_varint(b, t->live_bytes);
        mw_put_varint(b, t->live_count);
        mw_put_varint(b, t->total_bytes);
        mw_put_varint(b, t->total_count);
        uint32_t nframes = s->nwords - s->npy;
        mw_put_varint(b, nframes);
        for (uint32_t w = 0, j = 0; w < s->nwords; w++) {
            if (s->words[w] & MW_PYTAG) {
                struct mw_code *c = (struct mw_code *)(uintptr_t)s->words[s->nwords + j++];
                mw_put_u8(b, MEMWATCH_FRAME_PYTHON);
                mw_put_varint(b, c ? c->id : 0);
                mw_put_varint(b, s->words[w + 1] & 0xffffffffu);
                w++;
            } else {
                mw_put_u8(b, MEMWATCH_FRAME_NATIVE);
                mw_put_varint(b, s->words[w]);
            }
        }
    }
    section_end(b, at);
}

int mw_snapshot_encode(const struct mw_snapshot_view *v, uint8_t **out, size_t *len,
                       size_t *cap)
{
    struct mw_wbuf b = { .grow = grow };
    mw_put_bytes(&b, MEMWATCH_MAGIC, MEMWATCH_MAGIC_SIZE);
    mw_put_u32le(&b, MEMWATCH_FORMAT_VERSION);
    mw_put_u32le(&b, MEMWATCH_HEADER_SIZE);
    mw_put_u64le(&b, 0); /* file size, patched below */
    mw_put_u32le(&b, 4);
    mw_put_u32le(&b, 0);
    put_meta(&b, v);
    put_modules(&b);
    put_codes(&b, v);
    put_sites(&b, v);
    mw_patch_u64le(&b, 16, b.len + MEMWATCH_TRAILER_SIZE);
    if (!b.err)
        mw_put_u64le(&b, mw_hash64(b.data, b.len, 0));
    *out = b.data;
    *len = b.len;
    *cap = b.cap;
    return b.err;
}

void mw_snapshot_free(uint8_t *data, size_t cap)
{
    mw_os_unmap(data, cap);
}

void mw_snapshot_path(uint64_t seq, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = mw_cfg.output; *p && n + 1 < size; p++) {
        if (p[0] == '%' && p[1] == 'p') {
            n += mw_fmt(out + n, size - n, "%d", (int)mw_os_getpid());
            p++;
        } else if (p[0] == '%' && p[1] == 'n') {
            n += mw_fmt(out + n, size - n, "%llu", (unsigned long long)seq);
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            out[n++] = '%';
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = 0;
}

/* "dir/name.mws" -> "dir/name-<k>.mws" (or "name-<k>" without extension). */
static void alternative_name(const char *path, unsigned k, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash))
        dot = path + strlen(path);
    size_t stem = (size_t)(dot - path);
    if (stem >= size)
        stem = size - 1;
    memcpy(out, path, stem);
    mw_fmt(out + stem, size - stem, "-%u%s", k, dot);
}

int mw_snapshot_store(const char *path, const uint8_t *data, size_t len, char *final_path,
                      size_t final_size)
{
    char tmp[MW_PATH_MAX + 64];
    static unsigned counter;
    mw_fmt(tmp, sizeof tmp, "%s.%d-%u.tmp", path, (int)mw_os_getpid(), counter++);
    int r = mw_os_write_new_file(tmp, data, len);
    if (r)
        return r;
    mw_fmt(final_path, final_size, "%s", path);
    for (unsigned k = 1; k < 1000; k++) {
        r = mw_os_rename_noreplace(tmp, final_path);
        if (r != -EEXIST)
            break;
        alternative_name(path, k, final_path, final_size);
    }
    if (r)
        mw_os_unlink(tmp);
    return r;
}

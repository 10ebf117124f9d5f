/* Symbolisation, offline: native addresses become (function, file, line)
 * through elfutils' libdwfl, using the module map stored in the snapshot
 * (path, load bias, build-id); Python frames become (qualname, co_filename,
 * line) by decoding the recorded line table.  Resolved frames are interned,
 * so snapshots from two different runs (other load addresses) give the same
 * frame pointers for the same code, which is what diff matches on. */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer.h"
#include "codec.h"
#include "memwatch/format.h"
#include "util.h"

/* One ELF file opened for lookups at file-relative addresses (the snapshot
 * bias is subtracted first), shared by every snapshot naming it. */
struct elf_file {
    char *path;
    Dwfl *dwfl;
    int ok;
};

struct mw_resolver {
    struct mw_hmap strings; /* hash -> chain of interned strings */
    struct mw_hmap frames;  /* hash -> chain of interned frames */
    struct mw_hmap elves;   /* hash(path) -> struct elf_file */
    struct batch {
        struct mw_trace *v;
        size_t n;
    } *batches; /* the traces handed out, one batch per snapshot */
    size_t nbatches;
    struct mw_pool pool; /* interned strings and frames, trace frames */
};

struct str_node {
    struct str_node *next;
    char s[];
};

struct frame_node {
    struct frame_node *next;
    struct mw_frame f;
};

char *__cxa_demangle(const char *name, char *buf, size_t *len, int *status);

struct mw_resolver *mw_resolver_new(void)
{
    return mw_xcalloc(1, sizeof(struct mw_resolver));
}

void mw_resolver_free(struct mw_resolver *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elves.cap; i++) {
        struct elf_file *e = mw_hmap_at(&r->elves, i);
        if (e) {
            if (e->dwfl)
                dwfl_end(e->dwfl);
            free(e->path);
            free(e);
        }
    }
    free(r->batches);
    mw_hmap_free(&r->strings);
    mw_hmap_free(&r->frames);
    mw_hmap_free(&r->elves);
    mw_pool_free(&r->pool);
    free(r);
}

const char *mw_intern(struct mw_resolver *r, const char *s)
{
    size_t len = strlen(s);
    uint64_t h = mw_hash64(s, len, 1);
    struct str_node *head = mw_hmap_get(&r->strings, h);
    for (struct str_node *n = head; n; n = n->next)
        if (strcmp(n->s, s) == 0)
            return n->s;
    struct str_node *n = mw_pool_alloc(&r->pool, sizeof *n + len + 1);
    memcpy(n->s, s, len + 1);
    n->next = head;
    mw_hmap_put(&r->strings, h, n);
    return n->s;
}

const struct mw_frame *mw_frame_intern(struct mw_resolver *r, const struct mw_frame *f)
{
    struct mw_frame k = {
        .file = mw_intern(r, f->file ? f->file : ""),
        .line = f->line,
        .function = mw_intern(r, f->function ? f->function : ""),
        .module = mw_intern(r, f->module ? f->module : ""),
        .flags = f->flags,
    };
    uint64_t words[5] = { (uintptr_t)k.file, (uint64_t)(int64_t)k.line, (uintptr_t)k.function,
                          (uintptr_t)k.module, k.flags };
    uint64_t h = mw_hash64(words, sizeof words, 2);
    struct frame_node *head = mw_hmap_get(&r->frames, h);
    for (struct frame_node *n = head; n; n = n->next)
        if (n->f.file == k.file && n->f.line == k.line && n->f.function == k.function &&
            n->f.module == k.module && n->f.flags == k.flags)
            return &n->f;
    struct frame_node *n = mw_pool_alloc(&r->pool, sizeof *n);
    n->f = k;
    n->next = head;
    mw_hmap_put(&r->frames, h, n);
    return &n->f;
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

static struct elf_file *open_elf(struct mw_resolver *r, const char *path)
{
    uint64_t h = mw_hash64(path, strlen(path), 3);
    struct elf_file *e = mw_hmap_get(&r->elves, h);
    if (e && strcmp(e->path, path) == 0)
        return e;
    e = mw_xcalloc(1, sizeof *e);
    e->path = mw_xstrdup(path);
    mw_hmap_put(&r->elves, h, e);
    if (!path[0] || path[0] != '/')
        return e; /* [vdso] and the like: nothing on disk */
    e->dwfl = dwfl_begin(&callbacks);
    if (!e->dwfl)
        return e;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return e;
    /* Report at base 0: lookups use file-relative addresses, so one session
     * serves every process that mapped this file, wherever it was loaded. */
    if (dwfl_report_elf(e->dwfl, mw_basename(path), path, fd, 0, false)) {
        dwfl_report_end(e->dwfl, NULL, NULL);
        e->ok = 1;
    } else {
        close(fd);
    }
    return e;
}

static int is_machinery_module(const struct mw_module *m)
{
    if (m->flags & MEMWATCH_MODULE_MEMWATCH)
        return 1;
    static const char *const prefixes[] = { "libc.so", "libc-", "libstdc++.so", "libjemalloc.so",
                                            "libtcmalloc", "ld-linux", "libmemwatch.so" };
    const char *base = mw_basename(m->path);
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

static const struct mw_frame *resolve_native(struct mw_resolver *r, const struct mw_snap *s,
                                             uint64_t addr)
{
    struct mw_frame f = { .file = "", .line = 0, .function = "", .module = "" };
    char fn[4096];
    const struct mw_module *m = mw_snap_module_at(s, addr);
    if (!m) {
        snprintf(fn, sizeof fn, "0x%llx", (unsigned long long)addr);
        f.file = "<unknown>";
        f.function = fn;
        return mw_frame_intern(r, &f);
    }
    f.module = m->path;
    f.file = m->path;
    if (is_machinery_module(m))
        f.flags |= MW_FRAME_MACHINERY;
    if (m->flags & MEMWATCH_MODULE_INTERPRETER)
        f.flags |= MW_FRAME_INTERPRETER;

    /* Return addresses point after the call: look up the call itself. */
    uint64_t rel = addr - m->bias - 1;
    struct elf_file *e = open_elf(r, m->path);
    const char *sym = NULL;
    GElf_Off off = 0;
    char *demangled = NULL;
    char path[4096];
    if (e->ok) {
        Dwfl_Module *dm = dwfl_addrmodule(e->dwfl, rel);
        if (dm) {
            GElf_Sym esym;
            sym = dwfl_module_addrinfo(dm, rel, &off, &esym, NULL, NULL, NULL);
            Dwfl_Line *line = dwfl_module_getsrc(dm, rel);
            int lineno = 0;
            const char *src = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
            if (src && lineno > 0) {
                /* Relative names are relative to the compilation directory. */
                Dwarf_Addr cu_bias;
                Dwarf_Die *cu = src[0] == '/' ? NULL : dwfl_module_addrdie(dm, rel, &cu_bias);
                Dwarf_Attribute attr;
                const char *dir = cu ? dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr))
                                     : NULL;
                if (dir)
                    snprintf(path, sizeof path, "%s/%s", dir, src);
                else
                    snprintf(path, sizeof path, "%s", src);
                mw_path_normalize(path);
                f.file = path;
                f.line = lineno;
            }
        }
    }
    char plain[1024];
    if (sym) {
        /* "__libc_start_main@@GLIBC_2.34": drop the symbol version. */
        const char *at = strchr(sym, '@');
        if (at && (size_t)(at - sym) < sizeof plain) {
            memcpy(plain, sym, (size_t)(at - sym));
            plain[at - sym] = 0;
            sym = plain;
        }
        int status = 0;
        if (sym[0] == '_' && sym[1] == 'Z')
            demangled = __cxa_demangle(sym, NULL, NULL, &status);
        const char *name = demangled && status == 0 ? demangled : sym;
        if (f.line)
            snprintf(fn, sizeof fn, "%s", name);
        else
            snprintf(fn, sizeof fn, "%s+0x%llx", name, (unsigned long long)off + 1);
    } else {
        snprintf(fn, sizeof fn, "0x%llx", (unsigned long long)rel + 1);
    }
    f.function = fn;
    const struct mw_frame *out = mw_frame_intern(r, &f);
    free(demangled);
    return out;
}

static const struct mw_frame *resolve_python(struct mw_resolver *r, const struct mw_snap *s,
                                             const struct mw_rawframe *raw)
{
    struct mw_frame f = { .file = "<unknown>", .line = 0, .function = "", .module = "",
                          .flags = MW_FRAME_PYTHON };
    const struct mw_pycode *c = mw_snap_code(s, raw->code_id);
    if (c) {
        int line = mw_pyline(c->py_version, c->linetable, c->linetable_len, c->firstlineno,
                             raw->offset);
        f.file = c->filename;
        /* As tracemalloc: an instruction without a line reports 0. */
        f.line = line < 0 ? 0 : line;
        f.function = c->qualname && c->qualname[0] ? c->qualname : c->name;
    }
    return mw_frame_intern(r, &f);
}

/* The reported site: the first frame that is the program's own code, not
 * the allocation machinery, nor (when the stack has Python frames) the
 * interpreter's C code below the first Python frame. */
static uint32_t pick_site(const struct mw_trace *t)
{
    int has_python = 0;
    for (uint32_t i = 0; i < t->nframes; i++)
        has_python |= (t->frames[i]->flags & MW_FRAME_PYTHON) != 0;
    unsigned skip = MW_FRAME_MACHINERY | (has_python ? MW_FRAME_INTERPRETER : 0);
    for (uint32_t i = 0; i < t->nframes; i++)
        if (!(t->frames[i]->flags & skip))
            return i;
    return 0;
}

/* Drop the process and thread start-up frames at the old end of a native
 * stack (_start, __libc_start_main, start_thread, clone3: all in the C
 * library or named _start), so the oldest frame is the program's main or
 * thread function, as tracemalloc's oldest frame is the script's line. */
static void trim_startup(struct mw_trace *t)
{
    while (t->nframes > t->site + 1) {
        const struct mw_frame *f = t->frames[t->nframes - 1];
        if (!(f->flags & MW_FRAME_MACHINERY) && strncmp(f->function, "_start", 6) != 0)
            break;
        t->nframes--;
    }
}

struct mw_trace *mw_resolve(struct mw_resolver *r, const struct mw_snap *s)
{
    struct mw_hmap cache = { 0 }; /* native address -> frame, per snapshot */
    struct mw_trace *traces = mw_pool_alloc(&r->pool, (s->nsites + 1) * sizeof *traces);
    r->batches = mw_xrealloc(r->batches, (r->nbatches + 1) * sizeof *r->batches);
    r->batches[r->nbatches++] = (struct batch){ traces, s->nsites };

    for (size_t i = 0; i < s->nsites; i++) {
        const struct mw_site *site = &s->sites[i];
        struct mw_trace *t = &traces[i];
        t->frames = mw_pool_alloc_raw(&r->pool, (site->nframes + 1) * sizeof *t->frames);
        for (uint32_t k = 0; k < site->nframes; k++) {
            const struct mw_rawframe *raw = &site->frames[k];
            const struct mw_frame *f;
            /* Frames repeat across stacks: resolve each (address, or code
             * and offset) once per snapshot. */
            uint64_t key = raw->kind == MEMWATCH_FRAME_PYTHON
                               ? 1ULL << 63 | raw->code_id << 32 | raw->offset
                               : raw->addr;
            if (!(f = mw_hmap_get(&cache, key))) {
                f = raw->kind == MEMWATCH_FRAME_PYTHON ? resolve_python(r, s, raw)
                                                       : resolve_native(r, s, raw->addr);
                mw_hmap_put(&cache, key, (void *)f);
            }
            t->frames[t->nframes++] = f;
        }
        if (t->nframes == 0) {
            /* A stack that could not be stored: still one (unknown) frame,
             * so every trace has a site. */
            struct mw_frame unknown = { .file = "<unknown>", .line = 0 };
            t->frames[t->nframes++] = mw_frame_intern(r, &unknown);
        }
        t->site = pick_site(t);
        trim_startup(t);
    }
    mw_hmap_free(&cache);
    return traces;
}

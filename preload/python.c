/* CPython frames on the allocation path: the calling thread's Python stack
 * read straight from interpreter memory, per-version layouts, and the code
 * object descriptions that let the analyzer name files and lines offline.
 *
 * Nothing here calls the Python C-API while recording, except
 * PyGILState_GetThisThreadState, which only reads thread-specific storage
 * and is valid also while the thread has released the GIL.  Line tables are
 * copied, never decoded: the analyzer does that (analyzer/pyline.c).
 *
 * The interpreter-facing work that needs the C-API (atexit, the `memwatch`
 * module, PYTHONMALLOC) lives in python_api.c and runs at safe points. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "mw.h"
#include "platform.h"
#include "python.h"

struct mw_py mw_py;
void *mw_py_code_type;
uintptr_t mw_py_interp_addr;
_Atomic int mw_py_exit_snapshot_taken;

/* Bumped when a code object at an address of that bucket is freed, so a
 * new code object at the same address never matches the old one's frames
 * or description.  Indexed by address / 16 (objects are 16-byte aligned). */
static _Atomic uint32_t generation[1u << 16];
static struct mw_itable codes;
static _Atomic uint32_t next_code_id = 1;

#define GEN_INDEX(addr) (((uintptr_t)(addr) >> 4) & 0xffff)

/* Frame owners (3.11+). */
enum { OWNED_BY_THREAD = 0, OWNED_BY_GENERATOR = 1, OWNED_BY_CSTACK = 3 };

/* ---- layouts, from the headers of each version (x86-64 and other LP64
 * targets), checked by tests/python/test_layout.py ---- */

static const struct mw_py_layout layouts[] = {
    /* version, ts_frame, cframe_current, f_back, f_code, f_instr, owner,
     * is_entry, code_start, firsttraceable, co_filename, co_name,
     * co_qualname, co_firstlineno, co_linetable, ascii_size, compact_size */
    { 308, 24, 0, 24, 32, 104, 0, 0, 0, 0, 104, 112, 0, 40, 120, 48, 72 },
    { 309, 24, 0, 24, 32, 104, 0, 0, 0, 0, 104, 112, 0, 40, 120, 48, 72 },
    { 310, 24, 0, 24, 32, 96, 0, 0, 0, 0, 104, 112, 0, 40, 120, 48, 72 },
    { 311, 56, 8, 48, 32, 56, 69, 68, 184, 168, 112, 120, 128, 72, 136, 48, 72 },
    { 312, 56, 0, 8, 0, 56, 70, 0, 192, 176, 112, 120, 128, 68, 136, 40, 56 },
    { 313, 72, 0, 8, 0, 56, 70, 0, 200, 184, 112, 120, 128, 68, 136, 40, 56 },
};

static const char *state_text = "not a Python process";
static char state_buf[256];
static char version_buf[16];

static void set_state(const char *fmt, const char *a, const char *b)
{
    mw_fmt(state_buf, sizeof state_buf, fmt, a, b);
    state_text = state_buf;
}

/* Read-only checks of a pointer that should be a code object. */
static inline int is_code(const void *p)
{
    return p && ((void *const *)p)[1] == mw_py_code_type;
}

/* 3.13's _PyRuntime begins with _Py_DebugOffsets: use it to confirm our
 * table (and to notice a free-threaded build). Returns 0 when consistent. */
static int check_debug_offsets(const struct mw_py_layout *l, int *free_threaded)
{
    const uint64_t *d = dlsym(RTLD_DEFAULT, "_PyRuntime");
    if (!d || memcmp(d, "xdebugpy", 8) != 0)
        return l->version >= 313 ? -1 : 0;
    *free_threaded = d[2] != 0;
    /* Word indexes of the fields in struct _Py_DebugOffsets (3.13). */
    if (d[23] != l->ts_frame || d[29] != l->f_back || d[30] != l->f_code ||
        d[31] != l->f_instr || d[33] != l->owner || d[35] != l->co_filename ||
        d[36] != l->co_name || d[37] != l->co_qualname || d[38] != l->co_linetable ||
        d[39] != l->co_firstlineno || d[43] != l->code_start)
        return -1;
    return 0;
}

static int code_eq(const void *record, const void *key)
{
    const struct mw_code *c = record;
    const uint64_t *k = key;
    return c->addr == k[0] && c->gen == k[1];
}

void mw_py_init(void)
{
    const char *(*get_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
    if (!get_version)
        return; /* not Python: state stays "not a Python process" */

    Dl_info info;
    if (dladdr((void *)get_version, &info))
        mw_py_interp_addr = (uintptr_t)get_version;
    const char *v = get_version();
    int major = 0, minor = 0;
    while (*v >= '0' && *v <= '9')
        major = major * 10 + (*v++ - '0');
    if (*v == '.')
        v++;
    while (*v >= '0' && *v <= '9')
        minor = minor * 10 + (*v++ - '0');
    mw_fmt(version_buf, sizeof version_buf, "%d.%d", major, minor);
    int version = major * 100 + minor;

    const struct mw_py_layout *l = NULL;
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (layouts[i].version == version)
            l = &layouts[i];
    if (!l) {
        set_state("Python %s: not supported (3.8-3.13 are); native frames only", version_buf, "");
        goto out;
    }
    int free_threaded = 0;
    int layout_bad = check_debug_offsets(l, &free_threaded);
    if (free_threaded) {
        /* Its objects and frames differ (and PYTHONMALLOC=malloc is fatal
         * there): leave it alone, say so, record native frames. */
        mw_py.free_threaded = 1;
        set_state("Python %s (free-threaded): native frames only", version_buf, "");
        mw_py_api_init(version, 0);
        goto out;
    }
    if (layout_bad) {
        set_state("Python %s: the interpreter's layout is not the one memwatch knows; "
                  "native frames only",
                  version_buf, "");
        goto out;
    }
    mw_py.layout = *l;
    mw_py.get_tstate = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
    mw_py.is_initialized = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    void *code_type = dlsym(RTLD_DEFAULT, "PyCode_Type");
    if (!mw_py.get_tstate || !mw_py.is_initialized || !code_type ||
        !dlsym(RTLD_DEFAULT, "Py_AddPendingCall")) {
        set_state("Python %s: interpreter symbols not found; native frames only", version_buf, "");
        goto out;
    }
    /* Code objects are not garbage-collected objects in 3.8-3.13, so their
     * type is the second word of the block free() receives; a type with
     * Py_TPFLAGS_HAVE_GC (bit 14, tp_flags at 168) would break that. */
    if ((*(const unsigned long *)((const char *)code_type + 168) >> 14) & 1) {
        set_state("Python %s: unexpected code object layout; native frames only", version_buf, "");
        goto out;
    }
    if (mw_itable_init(&codes, 10))
        goto out;
    if (!mw_cfg.python) {
        set_state("Python %s: Python frames off (MEMWATCH_PYTHON=off)", version_buf, "");
        mw_py_api_init(version, 0);
        goto out;
    }
    /* Resolve the evaluation loop's extent for mixed stacks. */
    void *eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    const ElfW(Sym) *sym = NULL;
    if (eval && dladdr1(eval, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) {
        mw_py.eval_lo = (uintptr_t)eval;
        mw_py.eval_hi = (uintptr_t)eval + sym->st_size;
    }
    if (mw_cfg.native_mixed)
        set_state("Python %s: mixed native and Python frames", version_buf, "");
    else
        set_state("Python %s: Python frames", version_buf, "");
    mw_py_api_init(version, 1);
    if (!mw_py_poll_possible()) {
        set_state("Python %s: interpreter symbols not found; native frames only", version_buf, "");
        goto out;
    }
    mw_py_code_type = code_type; /* last: turns Python frames on */
out:
    /* Said once, and only when asked; memwatch info always shows it. */
    if (mw_cfg.verbose)
        mw_os_warn("%s", state_text);
}

/* The first frame of the calling thread, or NULL before the interpreter
 * runs and in threads it never saw. */
static inline const char *top_frame(void)
{
    if (!atomic_load_explicit(&mw_py.ready, memory_order_acquire))
        return NULL;
    const char *ts = mw_py.get_tstate();
    if (!ts)
        return NULL;
    const struct mw_py_layout *l = &mw_py.layout;
    if (l->version < 311)
        return *(const char *const *)(ts + l->ts_frame);
    if (l->version < 313) {
        const char *cframe = *(const char *const *)(ts + l->ts_frame);
        return cframe ? *(const char *const *)(cframe + l->cframe_current) : NULL;
    }
    return *(const char *const *)(ts + l->ts_frame);
}

/* One step of the walk (3.11+): is this frame real Python code? Sets
 * *boundary when it marks the start of a C-level evaluation call. */
static inline int frame_usable(const struct mw_py_layout *l, const char *f, const char *code,
                               int *boundary)
{
    uint8_t owner = *(const uint8_t *)(f + l->owner);
    *boundary = 0;
    if (owner == OWNED_BY_CSTACK) { /* 3.12+: the shim frame of an entry */
        *boundary = 1;
        return 0;
    }
    if (!is_code(code))
        return -1;
    if (owner != OWNED_BY_GENERATOR) {
        /* Incomplete frame: not yet past its prologue. */
        const char *instr = *(const char *const *)(f + l->f_instr);
        int32_t first = *(const int32_t *)(code + l->firsttraceable);
        if (instr < code + l->code_start + 2 * (ptrdiff_t)first)
            return 0;
    }
    if (l->is_entry && *(const uint8_t *)(f + l->is_entry))
        *boundary = 2; /* 3.11: this frame is the last of its C call */
    return 1;
}

/* Byte offset of the current instruction, as PyCode_Addr2Line expects. */
static inline uint32_t instr_offset(const struct mw_py_layout *l, const char *f, const char *code)
{
    if (l->version < 311) {
        int lasti = *(const int *)(f + l->f_instr);
        if (lasti < 0)
            return UINT32_MAX; /* not started: the first line */
        return (uint32_t)(l->version == 310 ? 2 * lasti : lasti);
    }
    const char *instr = *(const char *const *)(f + l->f_instr);
    ptrdiff_t off = instr - (code + l->code_start);
    return off < 0 ? UINT32_MAX : (uint32_t)off;
}

static inline int emit(uint64_t *w, int n, const char *code, uint32_t off)
{
    w[n] = MW_PYTAG | (uint64_t)(uintptr_t)code;
    w[n + 1] = (uint64_t)atomic_load_explicit(&generation[GEN_INDEX(code)], memory_order_relaxed)
                   << 32 |
               off;
    return n + 2;
}

int mw_py_capture(uint64_t *w, int max_words)
{
    const struct mw_py_layout *l = &mw_py.layout;
    const char *f = top_frame();
    int n = 0, frames = 0, boundary;
    if (max_words > 2 * mw_cfg.python_depth)
        max_words = 2 * mw_cfg.python_depth;
    for (int guard = 0; f && n + 2 <= max_words && guard < 4096; guard++) {
        const char *code = *(const char *const *)(f + l->f_code);
        if (l->version < 311) {
            if (!is_code(code))
                break;
            n = emit(w, n, code, instr_offset(l, f, code));
        } else {
            int ok = frame_usable(l, f, code, &boundary);
            if (ok < 0)
                break;
            if (ok)
                n = emit(w, n, code, instr_offset(l, f, code));
        }
        frames++;
        f = *(const char *const *)(f + l->f_back);
    }
    (void)frames;
    return n;
}

int mw_py_capture_mixed(uint64_t *w, int max_words)
{
    const struct mw_py_layout *l = &mw_py.layout;
    uint64_t ips[MW_MAX_NATIVE_DEPTH];
    int nips = mw_native_capture(ips, mw_cfg.native_depth);
    const char *f = top_frame();
    int n = 0, py = 0, boundary;

    for (int i = 0; i < nips && n < max_words; i++) {
        if (ips[i] - 1 < mw_py.eval_lo || ips[i] - 1 >= mw_py.eval_hi || !f) {
            w[n++] = ips[i];
            continue;
        }
        /* An evaluation loop call: its Python frames replace it. */
        while (f && n + 2 <= max_words && py < mw_cfg.python_depth) {
            const char *code = *(const char *const *)(f + l->f_code);
            const char *back = *(const char *const *)(f + l->f_back);
            if (l->version < 311) {
                if (!is_code(code)) {
                    f = NULL;
                    break;
                }
                n = emit(w, n, code, instr_offset(l, f, code));
                py++;
                f = back;
                break; /* one frame per C call before 3.11 */
            }
            int ok = frame_usable(l, f, code, &boundary);
            if (ok < 0) {
                f = NULL;
                break;
            }
            if (ok) {
                n = emit(w, n, code, instr_offset(l, f, code));
                py++;
            }
            f = back;
            if (boundary)
                break; /* the end of this C call's frames */
        }
    }
    return n;
}

/* Copy a str object as UTF-8 into out (at most cap bytes); returns the
 * length.  Handles compact strings of every kind, and legacy ones. */
static uint32_t copy_str(const char *s, uint8_t *out, uint32_t cap)
{
    const struct mw_py_layout *l = &mw_py.layout;
    if (!s)
        return 0;
    int64_t len = *(const int64_t *)(s + 16);
    uint32_t state = *(const uint32_t *)(s + 32);
    unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    const uint8_t *data;
    if (compact)
        data = (const uint8_t *)s + (ascii ? l->ascii_size : l->compact_size);
    else
        data = *(const uint8_t *const *)(s + l->compact_size);
    if (!data || len < 0 || (kind != 1 && kind != 2 && kind != 4))
        return 0;
    uint32_t n = 0;
    for (int64_t i = 0; i < len; i++) {
        uint32_t c = kind == 1 ? data[i]
                   : kind == 2 ? ((const uint16_t *)(const void *)data)[i]
                               : ((const uint32_t *)(const void *)data)[i];
        uint8_t buf[4];
        uint32_t k;
        if (c < 0x80) {
            buf[0] = (uint8_t)c;
            k = 1;
        } else if (c < 0x800) {
            buf[0] = (uint8_t)(0xc0 | c >> 6);
            buf[1] = (uint8_t)(0x80 | (c & 0x3f));
            k = 2;
        } else if (c < 0x10000) {
            buf[0] = (uint8_t)(0xe0 | c >> 12);
            buf[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            buf[2] = (uint8_t)(0x80 | (c & 0x3f));
            k = 3;
        } else {
            buf[0] = (uint8_t)(0xf0 | c >> 18);
            buf[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
            buf[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            buf[3] = (uint8_t)(0x80 | (c & 0x3f));
            k = 4;
        }
        if (n + k > cap)
            break;
        memcpy(out + n, buf, k);
        n += k;
    }
    return n;
}

#define MAX_NAME 4096
#define MAX_LINETABLE (1u << 20)

struct mw_code *mw_py_code(const uint64_t *pair)
{
    const struct mw_py_layout *l = &mw_py.layout;
    const char *code = (const char *)(uintptr_t)(pair[0] & ~MW_PYTAG);
    uint64_t key[2] = { (uint64_t)(uintptr_t)code, pair[1] >> 32 };
    uint64_t hash = mw_hash64(key, sizeof key, 5);
    struct mw_code *c = mw_itable_find(&codes, hash, code_eq, key);
    if (c)
        return c;
    if (!is_code(code))
        return NULL;

    const char *filename = *(const char *const *)(code + l->co_filename);
    const char *name = *(const char *const *)(code + l->co_name);
    const char *qualname = l->co_qualname ? *(const char *const *)(code + l->co_qualname) : name;
    const char *table = *(const char *const *)(code + l->co_linetable);
    int64_t table_len = table ? *(const int64_t *)(table + 16) : 0;
    if (table_len < 0 || table_len > MAX_LINETABLE)
        table_len = 0;

    /* Strings are copied into a scratch area first to learn their sizes. */
    uint8_t scratch[3 * MAX_NAME];
    uint32_t fl = copy_str(filename, scratch, MAX_NAME);
    uint32_t nl = copy_str(name, scratch + fl, MAX_NAME);
    uint32_t ql = copy_str(qualname, scratch + fl + nl, MAX_NAME);
    c = mw_arena_alloc(&mw_g.arena, sizeof *c + fl + nl + ql + (size_t)table_len);
    if (!c)
        return NULL;
    c->hash = hash;
    c->addr = key[0];
    c->gen = key[1];
    c->id = atomic_fetch_add_explicit(&next_code_id, 1, memory_order_relaxed);
    c->firstlineno = *(const int32_t *)(code + l->co_firstlineno);
    c->py_version = (uint16_t)l->version;
    c->filename_len = fl;
    c->name_len = nl;
    c->qualname_len = ql;
    c->linetable_len = (uint32_t)table_len;
    memcpy(c->data, scratch, fl + nl + ql);
    if (table_len)
        memcpy(c->data + fl + nl + ql, table + 32, (size_t)table_len);
    struct mw_code *in = mw_itable_insert(&codes, hash, c, code_eq, key);
    return in ? in : c;
}

int mw_py_importing(void)
{
    const struct mw_py_layout *l = &mw_py.layout;
    const char *f = top_frame();
    int boundary;
    for (int guard = 0; f && guard < 4096; guard++) {
        const char *code = *(const char *const *)(f + l->f_code);
        int ok = l->version < 311 ? is_code(code) : frame_usable(l, f, code, &boundary);
        if (ok < 0 || (l->version < 311 && !ok))
            break;
        if (ok) {
            uint8_t name[32];
            uint32_t n = copy_str(*(const char *const *)(code + l->co_filename), name, sizeof name);
            if (n >= 17 && memcmp(name, "<frozen importlib", 17) == 0)
                return 1;
        }
        f = *(const char *const *)(f + l->f_back);
    }
    return 0;
}

void mw_py_code_freed(void *code)
{
    atomic_fetch_add_explicit(&generation[GEN_INDEX(code)], 1, memory_order_relaxed);
}

const char *mw_py_state(void)
{
    return state_text;
}

const char *mw_py_version(void)
{
    return version_buf;
}

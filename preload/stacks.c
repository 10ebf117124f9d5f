/* Call stacks: capture on the allocation path and intern into process-wide
 * records, so an event carries one pointer instead of a frame array.
 *
 * Native frames come from the cached CFI unwinder (unwind.c), a few loads
 * a frame once warm.  In a CPython process the Python frames are read
 * instead (python.c).  The capture buffer is on the C stack; the record is
 * found again through a lock-free table keyed by the hash of the frames. */
#include <string.h>

#include "mw.h"

static struct {
    struct mw_totals totals;
    struct mw_stack stack;
} lost __attribute__((aligned(64)));
struct mw_stack *const mw_stack_lost = &lost.stack;

/* The calling thread's previous stack (records are immutable, so a stale
 * pointer is still a valid record to compare with). */
static __thread struct mw_stack *last_stack __attribute__((tls_model("initial-exec")));

struct key {
    const uint64_t *words;
    uint32_t n;
};

static int stack_eq(const void *record, const void *k)
{
    const struct mw_stack *s = record;
    const struct key *key = k;
    return s->nwords == key->n && memcmp(s->words, key->words, key->n * 8) == 0;
}

int mw_stacks_init(void)
{
    return mw_itable_init(&mw_g.stacks, 12);
}

/* Inlined into mw_stack_capture: every frame of ours costs an unwinding
 * step on each allocation. */
static inline __attribute__((always_inline)) int native_capture(uint64_t *ips, int max)
{
    uint64_t buf[MW_MAX_NATIVE_DEPTH + 8];
    if (max > MW_MAX_NATIVE_DEPTH)
        max = MW_MAX_NATIVE_DEPTH;
    /* A few more than max: our own frames come first and are dropped
     * (the hook, the exported entry point). */
    int n = mw_unwind(buf, max + 8, 0);
    int out = 0;
    for (int i = 0; i < n && out < max; i++) {
        if (out == 0 && buf[i] >= mw_g.self_lo && buf[i] < mw_g.self_hi)
            continue;
        ips[out++] = buf[i];
    }
    return out;
}

int mw_native_capture(uint64_t *ips, int max)
{
    return native_capture(ips, max);
}

/* Store a stack seen for the first time.  Python frames get their code
 * records now, while the code objects are certainly alive (they are on the
 * calling thread's stack). */
static struct mw_stack *intern_new(const uint64_t *w, uint32_t n, uint64_t hash)
{
    uint32_t npy = 0;
    for (uint32_t i = 0; i < n; i++)
        if (w[i] & MW_PYTAG)
            npy++, i++;

    /* Totals line first, then the record (see struct mw_totals). */
    uint8_t *mem = mw_arena_alloc(&mw_g.arena, sizeof(struct mw_totals) + 64 +
                                                   sizeof(struct mw_stack) + (size_t)(n + npy) * 8);
    if (!mem)
        return mw_stack_lost;
    mem = (uint8_t *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    struct mw_stack *s = (struct mw_stack *)(void *)(mem + sizeof(struct mw_totals));
    s->hash = hash;
    s->nwords = n;
    s->npy = (uint16_t)npy;
    memcpy(s->words, w, (size_t)n * 8);
    for (uint32_t i = 0, j = 0; i < n; i++) {
        if (w[i] & MW_PYTAG) {
            s->words[n + j++] = (uint64_t)(uintptr_t)mw_py_code(&w[i]);
            i++;
        }
    }
    struct key key = { w, n };
    struct mw_stack *in = mw_itable_insert(&mw_g.stacks, hash, s, stack_eq, &key);
    return in ? in : mw_stack_lost;
}

struct mw_stack *mw_stack_capture(void)
{
    uint64_t w[MW_MAX_WORDS];
    int n = 0;

    if (mw_py_code_type)
        n = mw_cfg.native_mixed ? mw_py_capture_mixed(w, MW_MAX_WORDS)
                                : mw_py_capture(w, MW_MAX_WORDS);
    /* Threads Python never saw, and the interpreter's start, have no
     * Python frames: fall back to native ones. */
    if (n == 0)
        n = native_capture(w, mw_cfg.native_depth);

    /* Loops allocate from one stack many times in a row: compare with this
     * thread's previous stack before hashing and probing the table. */
    struct key key = { w, (uint32_t)n };
    struct mw_stack *s = last_stack;
    if (s && stack_eq(s, &key))
        return s;
    uint64_t hash = mw_hash64(w, (size_t)n * 8, 0);
    s = mw_itable_find(&mw_g.stacks, hash, stack_eq, &key);
    if (MW_UNLIKELY(!s))
        s = intern_new(w, (uint32_t)n, hash);
    last_stack = s;
    return s;
}

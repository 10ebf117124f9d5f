/* Native stack capture on the allocation path: a small DWARF CFI unwinder
 * for x86-64 with a process-wide cache of per-address rules.
 *
 * Why not libunwind on the hot path: it opens a pipe (two file descriptors,
 * the lowest free ones) the first time it unwinds, which programs see
 * (CPython's test_subprocess counts its descriptors), and its per-frame
 * cost dominated an allocation.  libunwind stays the reference: the unit
 * test compares this unwinder's stacks with unw_backtrace's.
 *
 * For each return address the rule to find the caller's frame is, on
 * x86-64 code at a call site: CFA = RSP or RBP + offset; the return
 * address is at CFA - 8; RBP is unchanged or saved at CFA + offset.  Rules
 * are computed once from .eh_frame (found through _dl_find_object, which
 * takes no lock, or dl_iterate_phdr) and cached; a cached walk costs a few
 * loads per frame.  Anything else (signal frames, CFA expressions, code
 * without unwind information) ends the stack there: it is cut, never
 * wrong.  No allocation, no system call, no lock on a cache hit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "mw.h"

#if defined(__x86_64__)

enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* A rule, packed in 64 bits: bits 0-1 CFA register (1 RSP, 2 RBP), bit 2
 * outermost frame, bits 16-47 CFA offset (signed), bits 48-63 offset of the
 * saved RBP from the CFA (signed; 0 = RBP unchanged). */
#define RULE_RSP 1u
#define RULE_RBP 2u
#define RULE_END 4u

static inline uint64_t make_rule(unsigned reg, int32_t cfa_off, int16_t rbp_off, int end)
{
    return (uint64_t)reg | (end ? RULE_END : 0) | (uint64_t)(uint32_t)cfa_off << 16 |
           (uint64_t)(uint16_t)rbp_off << 48;
}

/* The cache: a seqlock per slot, the address being the sequence.  A writer
 * clears the address, stores the rule (release), then the address
 * (release).  A reader loads the address (acquire), the rule (acquire),
 * and the address again: had it read a newer writer's rule, that acquire
 * makes the newer writer's clearing of the address visible to the second
 * load, which then cannot match.  (No fences: ThreadSanitizer checks this
 * code, and does not model them.) */
#define CACHE_BITS 14
static struct slot {
    _Atomic uint64_t ip;
    _Atomic uint64_t rule;
} cache[1u << CACHE_BITS];

static inline struct slot *slot_of(uint64_t ip)
{
    return &cache[(ip * 0x9e3779b97f4a7c15ULL) >> (64 - CACHE_BITS)];
}

static inline int cache_get(uint64_t ip, uint64_t *rule)
{
    struct slot *s = slot_of(ip);
    if (atomic_load_explicit(&s->ip, memory_order_acquire) != ip)
        return 0;
    uint64_t r = atomic_load_explicit(&s->rule, memory_order_acquire);
    if (atomic_load_explicit(&s->ip, memory_order_relaxed) != ip)
        return 0;
    *rule = r;
    return 1;
}

static void cache_put(uint64_t ip, uint64_t rule)
{
    struct slot *s = slot_of(ip);
    atomic_store_explicit(&s->ip, 0, memory_order_relaxed);
    atomic_store_explicit(&s->rule, rule, memory_order_release);
    atomic_store_explicit(&s->ip, ip, memory_order_release);
}

/* ---- reading .eh_frame ---- */

struct cursor {
    const uint8_t *p, *end;
    int bad;
};

static uint8_t u8(struct cursor *c)
{
    if (c->p >= c->end) {
        c->bad = 1;
        return 0;
    }
    return *c->p++;
}

static uint64_t uleb(struct cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b = u8(c);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->bad = 1;
    return 0;
}

static int64_t sleb(struct cursor *c)
{
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        b = u8(c);
        v |= (int64_t)(b & 0x7f) << shift;
        shift += 7;
    } while ((b & 0x80) && shift < 64);
    if (shift < 64 && (b & 0x40))
        v |= -((int64_t)1 << shift);
    return v;
}

static uint64_t fixed(struct cursor *c, unsigned n)
{
    uint64_t v = 0;
    if ((size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return 0;
    }
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    return v;
}

/* A pointer in DW_EH_PE encoding; datarel is relative to `data`. */
static uint64_t encoded(struct cursor *c, uint8_t enc, uint64_t data)
{
    if (enc == 0xff) /* omit */
        return 0;
    uint64_t at = (uint64_t)(uintptr_t)c->p, v;
    switch (enc & 0x0f) {
    case 0x00: v = fixed(c, 8); break;                       /* absptr */
    case 0x01: v = uleb(c); break;                           /* uleb128 */
    case 0x02: v = fixed(c, 2); break;                       /* udata2 */
    case 0x03: v = fixed(c, 4); break;                       /* udata4 */
    case 0x04: v = fixed(c, 8); break;                       /* udata8 */
    case 0x09: v = (uint64_t)sleb(c); break;                 /* sleb128 */
    case 0x0a: v = (uint64_t)(int64_t)(int16_t)fixed(c, 2); break;
    case 0x0b: v = (uint64_t)(int64_t)(int32_t)fixed(c, 4); break;
    case 0x0c: v = fixed(c, 8); break;
    default: c->bad = 1; return 0;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += at; break;   /* pcrel */
    case 0x30: v += data; break; /* datarel */
    default: c->bad = 1; return 0;
    }
    return v;
}

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint64_t ra_reg;
    uint8_t fde_enc;
    int has_aug_data;
    int signal_frame;
    const uint8_t *insns, *insns_end;
};

static int parse_cie(const uint8_t *at, struct cie *cie)
{
    struct cursor c = { at, at + 16, 0 };
    uint64_t len = fixed(&c, 4);
    if (len == 0xffffffffu)
        return -1; /* 64-bit DWARF: not used by x86-64 toolchains */
    c.end = at + 4 + len;
    if (fixed(&c, 4) != 0)
        return -1; /* not a CIE */
    uint8_t version = u8(&c);
    const char *aug = (const char *)c.p;
    while (u8(&c) && !c.bad)
        ;
    if (aug[0] == 'e' && aug[1] == 'h')
        fixed(&c, 8);
    cie->code_align = uleb(&c);
    cie->data_align = sleb(&c);
    cie->ra_reg = version == 1 ? u8(&c) : uleb(&c);
    cie->fde_enc = 0; /* absptr */
    cie->has_aug_data = aug[0] == 'z';
    cie->signal_frame = 0;
    if (cie->has_aug_data) {
        uint64_t n = uleb(&c);
        const uint8_t *next = c.p + n;
        for (const char *a = aug + 1; *a && !c.bad; a++) {
            if (*a == 'R')
                cie->fde_enc = u8(&c);
            else if (*a == 'P')
                encoded(&c, u8(&c), 0);
            else if (*a == 'L')
                u8(&c);
            else if (*a == 'S')
                cie->signal_frame = 1;
            else
                break; /* unknown: the length lets us skip the rest */
        }
        c.p = next;
    }
    cie->insns = c.p;
    cie->insns_end = c.end;
    return c.bad || c.p > c.end ? -1 : 0;
}

/* The state the CFA program computes, for the registers that matter. */
struct state {
    int cfa_reg;
    int64_t cfa_off;
    int rbp_how; /* 0 same value, 1 at CFA + rbp_off, 2 unsupported */
    int64_t rbp_off;
    int ra_how;  /* 0 unknown, 1 at CFA + ra_off, 2 undefined (outermost), 3 unsupported */
    int64_t ra_off;
    int cfa_bad;
};

#define MAX_REMEMBER 8

/* Run CFA instructions up to (not past) pc.  initial is the state after
 * the CIE's instructions, for DW_CFA_restore. */
static void run_cfa(struct cursor *c, const struct cie *cie, uint64_t loc, uint64_t pc,
                    struct state *st, const struct state *initial)
{
    struct state saved[MAX_REMEMBER];
    int nsaved = 0;
    while (c->p < c->end && !c->bad) {
        uint8_t op = u8(c);
        uint64_t reg, delta = 0;
        int64_t off;
        switch (op >> 6) {
        case 1:
            delta = (op & 0x3f) * cie->code_align;
            goto advance;
        case 2:
            reg = op & 0x3f;
            off = (int64_t)uleb(c) * cie->data_align;
            goto set_offset;
        case 3:
            reg = op & 0x3f;
            goto restore;
        }
        switch (op) {
        case 0x00: break;
        case 0x01: loc = encoded(c, cie->fde_enc, 0); if (loc > pc) return; break;
        case 0x02: delta = u8(c) * cie->code_align; goto advance;
        case 0x03: delta = fixed(c, 2) * cie->code_align; goto advance;
        case 0x04: delta = fixed(c, 4) * cie->code_align; goto advance;
        case 0x05: reg = uleb(c); off = (int64_t)uleb(c) * cie->data_align; goto set_offset;
        case 0x06: reg = uleb(c); goto restore;
        case 0x07: /* undefined */
            reg = uleb(c);
            if (reg == REG_RA)
                st->ra_how = 2;
            else if (reg == REG_RBP)
                st->rbp_how = 0;
            break;
        case 0x08: /* same value */
            reg = uleb(c);
            if (reg == REG_RBP)
                st->rbp_how = 0;
            break;
        case 0x09: /* register */
            reg = uleb(c);
            uleb(c);
            if (reg == REG_RBP)
                st->rbp_how = 2;
            else if (reg == REG_RA)
                st->ra_how = 3;
            break;
        case 0x0a:
            if (nsaved < MAX_REMEMBER)
                saved[nsaved++] = *st;
            else
                c->bad = 1;
            break;
        case 0x0b:
            if (nsaved > 0)
                *st = saved[--nsaved];
            else
                c->bad = 1;
            break;
        case 0x0c: st->cfa_reg = (int)uleb(c); st->cfa_off = (int64_t)uleb(c); st->cfa_bad = 0; break;
        case 0x0d: st->cfa_reg = (int)uleb(c); break;
        case 0x0e: st->cfa_off = (int64_t)uleb(c); break;
        case 0x0f: /* def_cfa_expression */
            c->p += uleb(c);
            st->cfa_bad = 1;
            break;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = uleb(c);
            c->p += uleb(c);
            if (reg == REG_RBP)
                st->rbp_how = 2;
            else if (reg == REG_RA)
                st->ra_how = 3;
            break;
        case 0x11: reg = uleb(c); off = sleb(c) * cie->data_align; goto set_offset;
        case 0x12:
            st->cfa_reg = (int)uleb(c);
            st->cfa_off = sleb(c) * cie->data_align;
            st->cfa_bad = 0;
            break;
        case 0x13: st->cfa_off = sleb(c) * cie->data_align; break;
        case 0x14: /* val_offset */
        case 0x15:
            reg = uleb(c);
            if (op == 0x14)
                uleb(c);
            else
                sleb(c);
            if (reg == REG_RBP)
                st->rbp_how = 2;
            else if (reg == REG_RA)
                st->ra_how = 3;
            break;
        case 0x2e: uleb(c); break; /* GNU_args_size */
        case 0x2f: reg = uleb(c); off = -(int64_t)uleb(c) * cie->data_align; goto set_offset;
        default: c->bad = 1; return;
        }
        continue;
    advance:
        if (loc + delta > pc)
            return;
        loc += delta;
        continue;
    set_offset:
        if (reg == REG_RBP) {
            st->rbp_how = 1;
            st->rbp_off = off;
        } else if (reg == REG_RA) {
            st->ra_how = 1;
            st->ra_off = off;
        }
        continue;
    restore:
        if (reg == REG_RBP) {
            st->rbp_how = initial->rbp_how;
            st->rbp_off = initial->rbp_off;
        } else if (reg == REG_RA) {
            st->ra_how = initial->ra_how;
            st->ra_off = initial->ra_off;
        }
        continue;
    }
}

/* Find the FDE for pc through a binary-search table .eh_frame_hdr. */
static const uint8_t *find_fde(const uint8_t *hdr, uint64_t pc)
{
    struct cursor c = { hdr, hdr + 4096, 0 };
    if (u8(&c) != 1)
        return NULL;
    uint8_t ptr_enc = u8(&c), count_enc = u8(&c), table_enc = u8(&c);
    uint64_t base = (uint64_t)(uintptr_t)hdr;
    encoded(&c, ptr_enc, base);
    uint64_t count = encoded(&c, count_enc, base);
    if (c.bad || table_enc != 0x3b || count == 0) /* datarel sdata4: what ld writes */
        return NULL;
    const int32_t *table = (const int32_t *)(const void *)c.p;
    uint64_t lo = 0, hi = count;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (base + (int64_t)table[2 * mid] <= pc)
            lo = mid;
        else
            hi = mid;
    }
    if (base + (int64_t)table[2 * lo] > pc)
        return NULL;
    return (const uint8_t *)(uintptr_t)(base + (int64_t)table[2 * lo + 1]);
}

#ifndef HAVE_DL_FIND_OBJECT
struct find_ctx {
    uint64_t pc;
    const uint8_t *hdr;
};

static int find_hdr(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct find_ctx *f = arg;
    const uint8_t *hdr = NULL;
    int inside = 0;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint64_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && f->pc >= start && f->pc < start + ph->p_memsz)
            inside = 1;
        else if (ph->p_type == PT_GNU_EH_FRAME)
            hdr = (const uint8_t *)(uintptr_t)start;
    }
    if (!inside)
        return 0;
    f->hdr = hdr;
    return 1;
}
#endif

static const uint8_t *eh_frame_hdr(uint64_t pc)
{
#ifdef HAVE_DL_FIND_OBJECT
    struct dl_find_object obj;
    if (_dl_find_object((void *)(uintptr_t)pc, &obj) == 0)
        return obj.dlfo_eh_frame;
    return NULL;
#else
    struct find_ctx f = { pc, NULL };
    dl_iterate_phdr(find_hdr, &f);
    return f.hdr;
#endif
}

/* The rule for the frame whose code is at pc, from .eh_frame; 0 when there
 * is none memwatch can follow. */
static uint64_t compute_rule(uint64_t pc)
{
    const uint8_t *hdr = eh_frame_hdr(pc);
    const uint8_t *fde = hdr ? find_fde(hdr, pc) : NULL;
    if (!fde)
        return 0;
    struct cursor c = { fde, fde + 8, 0 };
    uint64_t len = fixed(&c, 4);
    if (len == 0 || len == 0xffffffffu)
        return 0;
    c.end = fde + 4 + len;
    const uint8_t *field = c.p;
    uint32_t back = (uint32_t)fixed(&c, 4); /* from this field back to the CIE */
    const uint8_t *cie_at = field - back;
    struct cie cie;
    if (parse_cie(cie_at, &cie) || cie.signal_frame || cie.ra_reg != REG_RA)
        return 0;
    uint64_t pc_begin = encoded(&c, cie.fde_enc, 0);
    uint64_t pc_range = encoded(&c, cie.fde_enc & 0x0f, 0);
    if (c.bad || pc < pc_begin || pc >= pc_begin + pc_range)
        return 0;
    if (cie.has_aug_data)
        c.p += uleb(&c);

    struct state st = { .cfa_reg = REG_RSP, .cfa_off = 8 }, initial;
    struct cursor ci = { cie.insns, cie.insns_end, 0 };
    run_cfa(&ci, &cie, 0, UINT64_MAX, &st, &st);
    initial = st;
    run_cfa(&c, &cie, pc_begin, pc, &st, &initial);
    if (c.bad || ci.bad || st.cfa_bad)
        return 0;
    if (st.ra_how == 2)
        return make_rule(RULE_RSP, 0, 0, 1); /* outermost: _start, clone */
    if (st.ra_how != 1 || st.ra_off != -8 || st.rbp_how == 2)
        return 0;
    if ((st.cfa_reg != REG_RSP && st.cfa_reg != REG_RBP) || st.cfa_off < 0 ||
        st.cfa_off > INT32_MAX || st.rbp_off < INT16_MIN || st.rbp_off > INT16_MAX)
        return 0;
    return make_rule(st.cfa_reg == REG_RSP ? RULE_RSP : RULE_RBP, (int32_t)st.cfa_off,
                     st.rbp_how == 1 ? (int16_t)st.rbp_off : 0, 0);
}

__attribute__((noinline)) int mw_unwind(uint64_t *ips, int max, int skip)
{
    uint64_t pc, sp, fp;
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
                     : "=r"(pc), "=r"(sp), "=r"(fp));
    int n = 0;
    /* The first lookup is this very function, at an exact address; the
     * others are return addresses, looked up at the call (address - 1). */
    uint64_t lookup = pc;
    for (int guard = 0; guard < max + skip + 64 && n < max; guard++) {
        uint64_t rule;
        if (!cache_get(lookup, &rule)) {
            rule = compute_rule(lookup);
            cache_put(lookup, rule);
        }
        if (!rule || (rule & RULE_END))
            break;
        int32_t cfa_off = (int32_t)(uint32_t)(rule >> 16);
        int16_t rbp_off = (int16_t)(uint16_t)(rule >> 48);
        uint64_t cfa = ((rule & 3) == RULE_RSP ? sp : fp) + (uint64_t)(int64_t)cfa_off;
        /* The caller's frame is above ours; anything else is not a stack. */
        if (cfa <= sp || (cfa & 7) || cfa - sp > (64u << 20))
            break;
        uint64_t ra = *(const uint64_t *)(uintptr_t)(cfa - 8);
        if (rbp_off)
            fp = *(const uint64_t *)(uintptr_t)(cfa + (int64_t)rbp_off);
        sp = cfa;
        if (ra < 4096)
            break;
        if (skip > 0)
            skip--;
        else
            ips[n++] = ra;
        lookup = ra - 1;
    }
    return n;
}

#else /* not x86-64: no native frames (the recorder still counts sites) */

int mw_unwind(uint64_t *ips, int max, int skip)
{
    (void)ips;
    (void)max;
    (void)skip;
    return 0;
}

#endif

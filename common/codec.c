/* The snapshot codec's primitives and the hash; see codec.h. */
#include "codec.h"

#include <errno.h>
#include <string.h>

#define HASH_K1 0xbf58476d1ce4e5b9ULL
#define HASH_K2 0x94d049bb133111ebULL

uint32_t mw_get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint64_t mw_get_u64le(const uint8_t *p)
{
    return (uint64_t)mw_get_u32le(p) | (uint64_t)mw_get_u32le(p + 4) << 32;
}

uint64_t mw_hash64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL ^ (uint64_t)len;
    size_t i = 0;

    /* One multiply per word keeps the per-frame cost of hashing a call
     * stack at a few cycles; the final avalanche makes up for the weak
     * per-word mixing. */
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8); /* x86-64 and aarch64 Linux are little-endian */
        h = (h ^ w) * HASH_K1;
        h ^= h >> 31;
    }
    if (i < len) {
        uint64_t w = 0;
        for (size_t k = 0; i + k < len; k++)
            w |= (uint64_t)p[i + k] << (8 * k);
        h = (h ^ w) * HASH_K1;
        h ^= h >> 31;
    }
    h ^= h >> 30;
    h *= HASH_K1;
    h ^= h >> 27;
    h *= HASH_K2;
    h ^= h >> 31;
    return h;
}

static int reserve(struct mw_wbuf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (b->cap - b->len >= n)
        return 0;
    int r = b->grow ? b->grow(b, n) : -ENOSPC;
    if (r == 0 && b->cap - b->len < n)
        r = -ENOSPC;
    if (r)
        b->err = r;
    return r;
}

void mw_put_bytes(struct mw_wbuf *b, const void *p, size_t n)
{
    if (n == 0 || reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void mw_put_u8(struct mw_wbuf *b, uint8_t v)
{
    mw_put_bytes(b, &v, 1);
}

void mw_put_u32le(struct mw_wbuf *b, uint32_t v)
{
    uint8_t t[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24) };
    mw_put_bytes(b, t, 4);
}

void mw_put_u64le(struct mw_wbuf *b, uint64_t v)
{
    mw_put_u32le(b, (uint32_t)v);
    mw_put_u32le(b, (uint32_t)(v >> 32));
}

void mw_put_varint(struct mw_wbuf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        t[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    mw_put_bytes(b, t, n);
}

void mw_put_svarint(struct mw_wbuf *b, int64_t v)
{
    mw_put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void mw_put_str(struct mw_wbuf *b, const void *p, size_t n)
{
    mw_put_varint(b, n);
    mw_put_bytes(b, p, n);
}

void mw_patch_u32le(struct mw_wbuf *b, size_t at, uint32_t v)
{
    if (b->err || at + 4 > b->len)
        return;
    for (int i = 0; i < 4; i++)
        b->data[at + i] = (uint8_t)(v >> (8 * i));
}

void mw_patch_u64le(struct mw_wbuf *b, size_t at, uint64_t v)
{
    mw_patch_u32le(b, at, (uint32_t)v);
    mw_patch_u32le(b, at + 4, (uint32_t)(v >> 32));
}

static void fail(struct mw_rbuf *r, int err)
{
    if (!r->err)
        r->err = err;
}

uint8_t mw_get_u8(struct mw_rbuf *r)
{
    if (r->err)
        return 0;
    if (r->pos >= r->end) {
        fail(r, -ENODATA);
        return 0;
    }
    return *r->pos++;
}

uint64_t mw_get_varint(struct mw_rbuf *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->err)
            return 0;
        if (r->pos >= r->end) {
            fail(r, -ENODATA);
            return 0;
        }
        uint8_t byte = *r->pos++;
        if (shift == 63 && byte > 1) {
            fail(r, -EBADMSG); /* more than 64 bits */
            return 0;
        }
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    fail(r, -EBADMSG);
    return 0;
}

int64_t mw_get_svarint(struct mw_rbuf *r)
{
    uint64_t u = mw_get_varint(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

const uint8_t *mw_get_str(struct mw_rbuf *r, size_t *len)
{
    uint64_t n = mw_get_varint(r);
    *len = 0;
    if (r->err)
        return NULL;
    if (n > (uint64_t)(r->end - r->pos)) {
        fail(r, -ENODATA);
        return NULL;
    }
    const uint8_t *p = r->pos;
    r->pos += n;
    *len = (size_t)n;
    return p;
}

size_t mw_rbuf_offset(const struct mw_rbuf *r)
{
    return (size_t)(r->pos - r->base);
}

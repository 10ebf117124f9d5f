/* Shared by the recorder and the analyzer: the snapshot codec's building
 * blocks (little-endian integers, LEB128 varints, byte strings), the
 * 64-bit hash used both for checksums and for keying call stacks, and
 * bounds-checked reading.  Nothing here allocates on its own: writers grow
 * through a callback their owner supplies (mmap in the recorder, realloc in
 * the analyzer), so the same code serves both sides. */
#ifndef MEMWATCH_COMMON_CODEC_H
#define MEMWATCH_COMMON_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* The hash defined in include/memwatch/format.h.  Pure function,
 * allocation-free, async-signal-safe. */
uint64_t mw_hash64(const void *data, size_t len, uint64_t seed);

/* Append-only byte buffer.  grow() must make room for at least `need` more
 * bytes and return 0, or return a negative errno; after a failure every
 * later put is ignored and err holds the first error. */
struct mw_wbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err;
    int (*grow)(struct mw_wbuf *b, size_t need);
    void *owner;
};

void mw_put_bytes(struct mw_wbuf *b, const void *p, size_t n);
void mw_put_u8(struct mw_wbuf *b, uint8_t v);
void mw_put_u32le(struct mw_wbuf *b, uint32_t v);
void mw_put_u64le(struct mw_wbuf *b, uint64_t v);
void mw_put_varint(struct mw_wbuf *b, uint64_t v);
void mw_put_svarint(struct mw_wbuf *b, int64_t v);
/* A byte string: varint length, then the bytes. */
void mw_put_str(struct mw_wbuf *b, const void *p, size_t n);
/* Overwrite 4 or 8 bytes at an offset already written (for lengths known
 * only after their payload). */
void mw_patch_u32le(struct mw_wbuf *b, size_t at, uint32_t v);
void mw_patch_u64le(struct mw_wbuf *b, size_t at, uint64_t v);

uint32_t mw_get_u32le(const uint8_t *p);
uint64_t mw_get_u64le(const uint8_t *p);

/* Bounds-checked reader over [pos, end).  The first failure sets err
 * (-EBADMSG for a malformed varint, -ENODATA for reading past the end) and
 * every later get returns 0; callers check err once at the end. */
struct mw_rbuf {
    const uint8_t *base; /* start of the file, for error offsets */
    const uint8_t *pos;
    const uint8_t *end;
    int err;
};

uint8_t mw_get_u8(struct mw_rbuf *r);
uint64_t mw_get_varint(struct mw_rbuf *r);
int64_t mw_get_svarint(struct mw_rbuf *r);
/* Returns a pointer into the buffer and its length; not NUL terminated. */
const uint8_t *mw_get_str(struct mw_rbuf *r, size_t *len);
/* Offset of the read position from base. */
size_t mw_rbuf_offset(const struct mw_rbuf *r);

#endif /* MEMWATCH_COMMON_CODEC_H */

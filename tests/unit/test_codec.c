/* The snapshot codec's primitives and the hash (common/codec.c). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "unit.h"

static int grow_heap(struct mw_wbuf *b, size_t need)
{
    size_t cap = b->cap ? b->cap * 2 : 16;
    while (cap - b->len < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int grow_never(struct mw_wbuf *b, size_t need)
{
    (void)b;
    (void)need;
    return -ENOSPC;
}

START_TEST(varint_round_trips)
{
    static const uint64_t values[] = { 0, 1, 127, 128, 255, 16383, 16384, UINT32_MAX,
                                       (uint64_t)1 << 63, UINT64_MAX };
    static const int64_t svalues[] = { 0, 1, -1, 63, -64, 64, INT32_MIN, INT64_MAX, INT64_MIN };
    struct mw_wbuf b = { .grow = grow_heap };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        mw_put_varint(&b, values[i]);
    for (size_t i = 0; i < sizeof svalues / sizeof svalues[0]; i++)
        mw_put_svarint(&b, svalues[i]);
    ck_assert_int_eq(b.err, 0);
    struct mw_rbuf r = { b.data, b.data, b.data + b.len, 0 };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        ck_assert_uint_eq(mw_get_varint(&r), values[i]);
    for (size_t i = 0; i < sizeof svalues / sizeof svalues[0]; i++)
        ck_assert_int_eq(mw_get_svarint(&r), svalues[i]);
    ck_assert_int_eq(r.err, 0);
    ck_assert_ptr_eq(r.pos, r.end);
    free(b.data);
}
END_TEST

START_TEST(varint_sizes)
{
    struct mw_wbuf b = { .grow = grow_heap };
    mw_put_varint(&b, 127);
    ck_assert_uint_eq(b.len, 1);
    mw_put_varint(&b, 128);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_uint_eq(b.data[1], 0x80);
    ck_assert_uint_eq(b.data[2], 0x01);
    mw_put_varint(&b, UINT64_MAX);
    ck_assert_uint_eq(b.len, 13);
    free(b.data);
}
END_TEST

START_TEST(malformed_varints)
{
    /* 11 continuation bytes: longer than any 64-bit value. */
    uint8_t eleven[11];
    memset(eleven, 0x80, sizeof eleven);
    struct mw_rbuf r = { eleven, eleven, eleven + 11, 0 };
    ck_assert_uint_eq(mw_get_varint(&r), 0);
    ck_assert_int_eq(r.err, -EBADMSG);
    /* A 10th byte carrying more than the 64th bit. */
    uint8_t over[10] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
    struct mw_rbuf o = { over, over, over + 10, 0 };
    mw_get_varint(&o);
    ck_assert_int_eq(o.err, -EBADMSG);
    /* Cut in the middle. */
    uint8_t cut[2] = { 0x80, 0x80 };
    struct mw_rbuf c = { cut, cut, cut + 2, 0 };
    mw_get_varint(&c);
    ck_assert_int_eq(c.err, -ENODATA);
    /* After an error every read returns 0 and the error stays the first. */
    ck_assert_uint_eq(mw_get_u8(&c), 0);
    ck_assert_int_eq(c.err, -ENODATA);
}
END_TEST

START_TEST(strings_are_bounded)
{
    struct mw_wbuf b = { .grow = grow_heap };
    mw_put_str(&b, "hello", 5);
    mw_put_varint(&b, 1000); /* a length far past the end */
    mw_put_bytes(&b, "xy", 2);
    struct mw_rbuf r = { b.data, b.data, b.data + b.len, 0 };
    size_t len;
    const uint8_t *s = mw_get_str(&r, &len);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(s, "hello", 5) == 0);
    ck_assert_ptr_null(mw_get_str(&r, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(r.err, -ENODATA);
    ck_assert_uint_eq(mw_rbuf_offset(&r), 8);
    free(b.data);
}
END_TEST

START_TEST(little_endian_and_patches)
{
    struct mw_wbuf b = { .grow = grow_heap };
    mw_put_u32le(&b, 0x11223344);
    mw_put_u64le(&b, 0x0102030405060708ULL);
    ck_assert_uint_eq(b.data[0], 0x44);
    ck_assert_uint_eq(b.data[4], 0x08);
    mw_patch_u32le(&b, 0, 0xaabbccdd);
    ck_assert_uint_eq(mw_get_u32le(b.data), 0xaabbccdd);
    ck_assert_uint_eq(mw_get_u64le(b.data + 4), 0x0102030405060708ULL);
    mw_patch_u64le(&b, 100, 1); /* outside what was written: ignored */
    ck_assert_uint_eq(b.len, 12);
    free(b.data);
}
END_TEST

START_TEST(errors_stick)
{
    uint8_t small[4];
    struct mw_wbuf b = { .data = small, .cap = sizeof small, .grow = grow_never };
    mw_put_u32le(&b, 1);
    ck_assert_int_eq(b.err, 0);
    mw_put_u8(&b, 2);
    ck_assert_int_eq(b.err, -ENOSPC);
    ck_assert_uint_eq(b.len, 4);
    mw_put_varint(&b, 0);
    ck_assert_uint_eq(b.len, 4);
}
END_TEST

/* Values computed from the definition in include/memwatch/format.h by an
 * independent implementation (tests/lib/mwsnap.py). */
START_TEST(hash_matches_the_format_definition)
{
    uint8_t bytes64[64];
    for (int i = 0; i < 64; i++)
        bytes64[i] = (uint8_t)i;
    ck_assert_uint_eq(mw_hash64("", 0, 0), 0xe220a8397b1dcdafULL);
    ck_assert_uint_eq(mw_hash64("", 0, 7), 0xf75f04cbb5a1a1ddULL);
    ck_assert_uint_eq(mw_hash64("a", 1, 0), 0xfdf2fce8e4ca56b0ULL);
    ck_assert_uint_eq(mw_hash64("abcdefgh", 8, 0), 0x3a39637bacbd0db7ULL);
    ck_assert_uint_eq(mw_hash64("abcdefghi", 9, 7), 0xf6e7cae17419dceaULL);
    ck_assert_uint_eq(mw_hash64(bytes64, 64, 0), 0x94ea9b6d436ca8b6ULL);
    ck_assert_uint_eq(mw_hash64(bytes64, 64, 7), 0x7b06e549bbcbfcc8ULL);
}
END_TEST

int main(void)
{
    TCase *t = tcase_create("codec");
    tcase_add_test(t, varint_round_trips);
    tcase_add_test(t, varint_sizes);
    tcase_add_test(t, malformed_varints);
    tcase_add_test(t, strings_are_bounded);
    tcase_add_test(t, little_endian_and_patches);
    tcase_add_test(t, errors_stick);
    tcase_add_test(t, hash_matches_the_format_definition);
    return mw_unit_run("codec", t);
}

/* The allocation-free formatter of the preloaded library (platform.c). */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "platform.h"
#include "unit.h"

START_TEST(conversions)
{
    char b[128];
    ck_assert_uint_eq(mw_fmt(b, sizeof b, "%s=%d %u %ld %lu %llu %zu %x %lx %c%%", "k", -42, 42u,
                             -7L, 7UL, 123456789012345ULL, (size_t)99, 255u, 0xabcUL, 'z'),
                      strlen("k=-42 42 -7 7 123456789012345 99 ff abc z%"));
    ck_assert_str_eq(b, "k=-42 42 -7 7 123456789012345 99 ff abc z%");
    mw_fmt(b, sizeof b, "%d %d", INT_MIN, 0);
    ck_assert_str_eq(b, "-2147483648 0");
    mw_fmt(b, sizeof b, "%p", (void *)0x1234);
    ck_assert_str_eq(b, "0x1234");
    mw_fmt(b, sizeof b, "%lld", (long long)INT64_MIN);
    ck_assert_str_eq(b, "-9223372036854775808");
}
END_TEST

START_TEST(truncation_always_terminates)
{
    char b[8];
    memset(b, 'x', sizeof b);
    size_t n = mw_fmt(b, sizeof b, "%s", "0123456789");
    ck_assert_str_eq(b, "0123456");
    ck_assert_uint_eq(n, 7);
    mw_fmt(b, sizeof b, "ab%dcd", 123456);
    ck_assert_str_eq(b, "ab12345");
    char one[1] = { 'x' };
    mw_fmt(one, 1, "hello");
    ck_assert_int_eq(one[0], 0);
}
END_TEST

int main(void)
{
    TCase *t = tcase_create("fmt");
    tcase_add_test(t, conversions);
    tcase_add_test(t, truncation_always_terminates);
    return mw_unit_run("fmt", t);
}

/* libFuzzer target for the snapshot reader and everything the analyzer
 * does with what it reads: parse, resolve (line tables included), group,
 * compare.  Built and run by scripts/fuzz (clang -fsanitize=fuzzer,address). */
#include <stddef.h>
#include <stdint.h>

#include "analyzer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[MW_ERR_SIZE];
    struct mw_snap *s;
    if (mw_snap_parse("fuzz.mws", data, size, &s, err, sizeof err) != 0)
        return 0;
    struct mw_resolver *r = mw_resolver_new();
    struct mw_trace *t = mw_resolve(r, s);
    struct mw_stats a, b, d;
    mw_group(r, s, t, MW_KEY_LINENO, 0, NULL, &a);
    mw_group(r, s, t, MW_KEY_TRACEBACK, 0, NULL, &b);
    mw_compare(&a, &a, &d);
    mw_stats_free(&a);
    mw_stats_free(&b);
    mw_stats_free(&d);
    mw_resolver_free(r);
    mw_snap_free(s);
    return 0;
}

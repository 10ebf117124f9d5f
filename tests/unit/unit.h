/* What every unit test binary ends with: run one test case of Check tests
 * as its own suite; the exit status is 1 when any test failed. */
#ifndef MW_TESTS_UNIT_H
#define MW_TESTS_UNIT_H

#include <check.h>

static inline int mw_unit_run(const char *name, TCase *t)
{
    Suite *s = suite_create(name);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif

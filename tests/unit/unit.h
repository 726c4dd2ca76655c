/* Shared by the unit test programs: run one Check suite, exit non-zero on failure. */
#ifndef IGNITION_TEST_UNIT_H
#define IGNITION_TEST_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int run_suite(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif

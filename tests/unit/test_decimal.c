/* Unit tests of util/decimal: only plain decimals pass, within the bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/decimal.h"

static void plain_decimals_parse(void **state)
{
    (void)state;
    double value = -1;
    assert_true(decimal_parse("0", 60, &value));
    assert_float_equal(value, 0, 0);
    assert_true(decimal_parse("30", 60, &value));
    assert_float_equal(value, 30, 0);
    assert_true(decimal_parse("2.5", 60, &value));
    assert_float_equal(value, 2.5, 1e-12);
    assert_true(decimal_parse("060", 60, &value));
    assert_float_equal(value, 60, 0);
    assert_true(decimal_parse("60.000", 60, &value));
}

static void everything_strtod_also_takes_is_refused(void **state)
{
    (void)state;
    static const char *refused[] = {"0x10", "0x1p3", " 5", "5 ", "+5", "-0", "1e1", "1E1",
                                    "inf", "nan", "INF", ".5", "5.", "", "5..0", "1,5",
                                    "\t5", "5\n", "٣", "00000000000000005"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        double value = 42;
        assert_false(decimal_parse(refused[i], 60, &value));
        assert_float_equal(value, 42, 0); /* untouched */
    }
    assert_false(decimal_parse(NULL, 60, &(double){0}));
}

static void values_over_the_bound_are_refused(void **state)
{
    (void)state;
    double value = 0;
    assert_false(decimal_parse("60.0001", 60, &value));
    assert_false(decimal_parse("61", 60, &value));
    assert_false(decimal_parse("9999999999999999", 60, &value));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_decimals_parse),
        cmocka_unit_test(everything_strtod_also_takes_is_refused),
        cmocka_unit_test(values_over_the_bound_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

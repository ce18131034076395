/* Unit tests of util/number_text: byte for byte what printf prints. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/number_text.h"

static void integers_print_as_printf_does(void **state)
{
    (void)state;
    static const long long values[] = {0, 1, -1, 9, 10, 99, 100, 12345, -12345, 200, 404,
                                       1000000007, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        char expected[64], got[NUMBER_TEXT_INTEGER_SIZE];
        snprintf(expected, sizeof expected, "%lld", values[i]);
        assert_int_equal(number_text_signed(got, values[i]), strlen(expected));
        assert_string_equal(got, expected);
        snprintf(expected, sizeof expected, "%llu", (unsigned long long)values[i]);
        assert_int_equal(number_text_unsigned(got, (unsigned long long)values[i]),
                         strlen(expected));
        assert_string_equal(got, expected);
    }
}

/* A deterministic generator, so that a failure can be replayed. */
static uint64_t next_random(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return *seed >> 11;
}

static void assert_real_as_printf(double value)
{
    char expected[64], got[40];
    snprintf(expected, sizeof expected, "%.17g", value);
    size_t length = number_text_real17(got, sizeof got, value);
    if (length == 0) { /* refused: only outside its range, or a carry to 10^17 */
        assert_true(!isfinite(value) || fabs(value) < 1 || fabs(value) >= 0x1p53 ||
                    strchr(expected, '.') == NULL || strlen(expected) > 18);
        return;
    }
    if (strcmp(got, expected) != 0)
        fail_msg("%a: printf says %s, number_text_real17 %s", value, expected, got);
    assert_int_equal(length, strlen(expected));
}

static void reals_print_as_printf_does(void **state)
{
    (void)state;
    static const double values[] = {
        1, 1.5, 2, 10, 0.999999999999, 1796284800.0, 1796284800.123456, 1796284800.5,
        1234567890123456.75, /* a tie at the 17th digit: to even, .8 */
        1234567890123456.25, /* a tie: to even, .2 */
        4503599627370496.5, 9007199254740992.0, 9007199254740991.0, 99999999999999.999,
        9.9999999999999998, 9.99999999999999982236431605997495353221893310546875,
        -1796284800.25, -1, 123.456, 0.5, 0, -0.0, 1e300, 1e-300, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        assert_real_as_printf(values[i]);
    uint64_t seed = 16;
    for (int i = 0; i < 200000; i++) {
        /* Times near now with sub-microsecond parts, and doubles of any
         * exponent from 2^0 to 2^53 with random mantissas. */
        assert_real_as_printf(1.7e9 + (double)(next_random(&seed) % 400000000000ULL) / 1e3 +
                              (double)(next_random(&seed) % 1000) / 1e7);
        double mantissa = 1 + (double)next_random(&seed) / 0x1p53;
        assert_real_as_printf(ldexp(mantissa, (int)(next_random(&seed) % 53)));
        assert_real_as_printf(-ldexp(mantissa, (int)(next_random(&seed) % 53)));
    }
}

static void a_small_buffer_is_refused(void **state)
{
    (void)state;
    char small[39];
    assert_int_equal(number_text_real17(small, sizeof small, 1.5), 0);
}

static void assert_fixed3_as_printf(double value)
{
    char expected[400], got[NUMBER_TEXT_FIXED3_SIZE];
    snprintf(expected, sizeof expected, "%.3f", value);
    size_t length = number_text_fixed3(got, value);
    if (length == 0) { /* refused: only outside its range */
        assert_true(!isfinite(value) || fabs(value) >= 0x1p53);
        return;
    }
    if (strcmp(got, expected) != 0)
        fail_msg("%a: printf says %s, number_text_fixed3 %s", value, expected, got);
    assert_int_equal(length, strlen(expected));
}

/* The access log's duration_ms: milliseconds as seconds * 1000.0. */
static void fixed3_prints_as_printf_does(void **state)
{
    (void)state;
    static const double values[] = {0,
                                    -0.0,
                                    0.0005,
                                    0.0015,
                                    0.0025,
                                    0.0625, /* ties in binary: to even, 0.062 */
                                    0.1875,
                                    1.0005,
                                    2.5,
                                    0.000499999,
                                    0.9995,
                                    0.9994999,
                                    999.9995,
                                    123.456,
                                    1e-300,
                                    -1e-300,
                                    5e-324,
                                    -0.0004,
                                    -1.5,
                                    1e15,
                                    9007199254740991.0,
                                    9007199254740992.0,
                                    4503599627370495.5,
                                    1e300,
                                    INFINITY,
                                    -INFINITY,
                                    NAN};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        assert_fixed3_as_printf(values[i]);
    uint64_t seed = 3;
    for (int i = 0; i < 200000; i++) {
        /* Durations as the log makes them, halves of thousandths (ties
         * and near-ties), and doubles of any exponent from 2^-60 to 2^53. */
        double seconds = (double)(next_random(&seed) % 100000000) / 1e9;
        assert_fixed3_as_printf(seconds * 1000.0);
        assert_fixed3_as_printf((double)(next_random(&seed) % 2000000) / 2000 + 0.0005);
        assert_fixed3_as_printf((double)(next_random(&seed) % 2000000 * 2 + 1) / 2000);
        double mantissa = 1 + (double)next_random(&seed) / 0x1p53;
        assert_fixed3_as_printf(ldexp(mantissa, (int)(next_random(&seed) % 114) - 60));
        assert_fixed3_as_printf(-ldexp(mantissa, (int)(next_random(&seed) % 114) - 60));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers_print_as_printf_does),
        cmocka_unit_test(reals_print_as_printf_does),
        cmocka_unit_test(a_small_buffer_is_refused),
        cmocka_unit_test(fixed3_prints_as_printf_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

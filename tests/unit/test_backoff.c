/* Unit tests of bus/backoff: the retry delay base * 2^attempts + jitter,
 * its clamping of the exponent, and the range of the random jitter. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/backoff.h"

static void delay_with_zero_attempts_is_base(void **state)
{
    (void)state;
    assert_float_equal(backoff_delay(5.0, 0, 0.0), 5.0, 1e-12);
}

static void delay_doubles_per_attempt(void **state)
{
    (void)state;
    assert_float_equal(backoff_delay(5.0, 1, 0.0), 10.0, 1e-12);
    assert_float_equal(backoff_delay(5.0, 2, 0.0), 20.0, 1e-12);
    assert_float_equal(backoff_delay(1.0, 10, 0.0), 1024.0, 1e-12);
}

static void delay_adds_jitter(void **state)
{
    (void)state;
    assert_float_equal(backoff_delay(5.0, 3, 1.5), 41.5, 1e-12);
    assert_float_equal(backoff_delay(2.5, 0, 1.999), 4.499, 1e-12);
}

static void negative_attempts_count_as_zero(void **state)
{
    (void)state;
    assert_float_equal(backoff_delay(5.0, -1, 0.0), 5.0, 1e-12);
    assert_float_equal(backoff_delay(5.0, -1000, 0.5), 5.5, 1e-12);
}

static void exponent_is_capped(void **state)
{
    (void)state;
    double capped = 5.0 * (double)(1L << BACKOFF_MAX_EXPONENT);
    assert_float_equal(backoff_delay(5.0, BACKOFF_MAX_EXPONENT, 0.0), capped, 1e-6);
    assert_float_equal(backoff_delay(5.0, BACKOFF_MAX_EXPONENT + 1, 0.0), capped, 1e-6);
    assert_float_equal(backoff_delay(5.0, 1000, 0.0), capped, 1e-6);
}

static void huge_attempts_stay_finite(void **state)
{
    (void)state;
    double delay = backoff_delay(3600.0, 1000, 1.0);
    assert_true(isfinite(delay));
    delay = backoff_delay(3600.0, 2147483647, 1.0);
    assert_true(isfinite(delay));
    assert_float_equal(delay, 3600.0 * (double)(1L << BACKOFF_MAX_EXPONENT) + 1.0, 1e-6);
}

static void random_jitter_is_in_range(void **state)
{
    (void)state;
    for (int i = 0; i < 10000; i++) {
        double jitter = backoff_random_jitter();
        assert_true(jitter >= 0.0);
        assert_true(jitter < 2.0);
    }
}

static void random_jitter_varies_and_spreads(void **state)
{
    (void)state;
    double first = backoff_random_jitter();
    bool varied = false;
    int low = 0, high = 0;
    for (int i = 0; i < 1000; i++) {
        double jitter = backoff_random_jitter();
        if (jitter != first)
            varied = true;
        if (jitter < 1.0)
            low++;
        else
            high++;
    }
    assert_true(varied);
    /* Uniform on [0, 2): both halves get a fair share (p of failing ~ 1e-50). */
    assert_true(low > 300);
    assert_true(high > 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delay_with_zero_attempts_is_base),
        cmocka_unit_test(delay_doubles_per_attempt),
        cmocka_unit_test(delay_adds_jitter),
        cmocka_unit_test(negative_attempts_count_as_zero),
        cmocka_unit_test(exponent_is_capped),
        cmocka_unit_test(huge_attempts_stay_finite),
        cmocka_unit_test(random_jitter_is_in_range),
        cmocka_unit_test(random_jitter_varies_and_spreads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

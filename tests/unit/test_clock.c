/* Unit tests of util/clock: the deadline of a timed wait on the monotonic
 * clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/clock.h"

static double seconds_of(struct timespec t)
{
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The deadline is the monotonic reading plus the interval, with its
 * nanoseconds carried into seconds (pthread_cond_timedwait refuses a
 * tv_nsec of a second or more). */
static void deadline_is_now_plus_the_interval(void **state)
{
    (void)state;
    const double intervals[] = {0, 0.000250, 0.9999999, 1.5, 59.75};
    for (size_t i = 0; i < sizeof intervals / sizeof intervals[0]; i++) {
        double before = clock_monotonic();
        struct timespec until = clock_monotonic_deadline(intervals[i]);
        double after = clock_monotonic();
        assert_in_range(until.tv_nsec, 0, 999999999);
        assert_true(seconds_of(until) >= before + intervals[i] - 1e-6);
        assert_true(seconds_of(until) <= after + intervals[i] + 1e-6);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deadline_is_now_plus_the_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of bus/housekeeping: when the lease sweep and the cleanup pass
 * fall due, that each is handed out once, and the retry timing after a pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bus/housekeeping.h"

#define START 1000.0
#define INTERVAL 300.0

static int setup(void **state)
{
    static struct housekeeping keeping;
    housekeeping_init(&keeping, INTERVAL, START);
    *state = &keeping;
    return 0;
}

static int teardown(void **state)
{
    housekeeping_destroy(*state);
    return 0;
}

static void first_take_runs_both(void **state)
{
    struct housekeeping *keeping = *state;
    struct housekeeping_due due = housekeeping_take(keeping, START);
    assert_true(due.sweep);
    assert_true(due.cleanup);
}

static void sweep_is_due_again_only_after_one_second(void **state)
{
    struct housekeeping *keeping = *state;
    assert_true(housekeeping_take(keeping, START).sweep);
    housekeeping_sweep_done(keeping);
    assert_false(housekeeping_take(keeping, START).sweep);
    assert_false(housekeeping_take(keeping, START + 0.5).sweep);
    assert_false(housekeeping_take(keeping, START + 0.999).sweep);
    assert_true(housekeeping_take(keeping, START + 1.0).sweep);
    housekeeping_sweep_done(keeping);
    assert_false(housekeeping_take(keeping, START + 1.5).sweep);
    assert_true(housekeeping_take(keeping, START + 2.5).sweep);
}

/* A sweep queued behind a slow writer: no second one joins it, however
 * overdue, until it reports back. */
static void sweep_not_handed_out_twice_while_running(void **state)
{
    struct housekeeping *keeping = *state;
    assert_true(housekeeping_take(keeping, START).sweep);
    assert_false(housekeeping_take(keeping, START + 5.0).sweep);
    housekeeping_sweep_done(keeping);
    assert_true(housekeeping_take(keeping, START + 5.0).sweep);
}

static void *finish_duties(void *arg)
{
    struct housekeeping *keeping = arg;
    housekeeping_sweep_done(keeping);
    housekeeping_cleanup_done(keeping, true, START);
    return NULL;
}

/* wait_idle returns once both running duties have reported back. */
static void wait_idle_waits_for_running_duties(void **state)
{
    struct housekeeping *keeping = *state;
    struct housekeeping_due due = housekeeping_take(keeping, START);
    assert_true(due.sweep && due.cleanup);
    pthread_t finisher;
    assert_int_equal(pthread_create(&finisher, NULL, finish_duties, keeping), 0);
    housekeeping_wait_idle(keeping);
    assert_false(keeping->sweep_running || keeping->cleanup_running);
    pthread_join(finisher, NULL);
    housekeeping_wait_idle(keeping); /* nothing running: returns at once */
}

static void sweep_is_handed_to_one_caller(void **state)
{
    struct housekeeping *keeping = *state;
    int sweeps = 0;
    for (int i = 0; i < 10; i++)
        sweeps += housekeeping_take(keeping, START + 5.0).sweep;
    assert_int_equal(sweeps, 1);
}

static void cleanup_not_handed_out_twice_while_running(void **state)
{
    struct housekeeping *keeping = *state;
    assert_true(housekeeping_take(keeping, START).cleanup);
    assert_false(housekeeping_take(keeping, START).cleanup);
    /* Long overdue, but the first pass has not reported back yet. */
    assert_false(housekeeping_take(keeping, START + 10 * INTERVAL).cleanup);
}

static void cleanup_after_success_waits_the_interval(void **state)
{
    struct housekeeping *keeping = *state;
    assert_true(housekeeping_take(keeping, START).cleanup);
    housekeeping_cleanup_done(keeping, true, START + 2.0);
    assert_false(housekeeping_take(keeping, START + 3.0).cleanup);
    assert_false(housekeeping_take(keeping, START + 2.0 + HOUSEKEEPING_RETRY_AFTER_FAILURE).cleanup);
    assert_false(housekeeping_take(keeping, START + 2.0 + INTERVAL - 0.01).cleanup);
    assert_true(housekeeping_take(keeping, START + 2.0 + INTERVAL).cleanup);
    assert_false(housekeeping_take(keeping, START + 2.0 + INTERVAL).cleanup);
}

static void cleanup_after_failure_retries_after_sixty_seconds(void **state)
{
    struct housekeeping *keeping = *state;
    assert_true(housekeeping_take(keeping, START).cleanup);
    housekeeping_cleanup_done(keeping, false, START + 1.0);
    assert_false(housekeeping_take(keeping, START + 1.0).cleanup);
    assert_false(housekeeping_take(keeping, START + 60.99).cleanup);
    assert_true(housekeeping_take(keeping, START + 61.0).cleanup);
}

static void cleanup_done_does_not_affect_sweep(void **state)
{
    struct housekeeping *keeping = *state;
    struct housekeeping_due due = housekeeping_take(keeping, START);
    assert_true(due.sweep && due.cleanup);
    housekeeping_cleanup_done(keeping, true, START + 0.2);
    housekeeping_sweep_done(keeping);
    due = housekeeping_take(keeping, START + 1.0);
    assert_true(due.sweep);
    assert_false(due.cleanup);
}

static void nothing_due_before_start_time_passes(void **state)
{
    struct housekeeping *keeping = *state;
    struct housekeeping_due due = housekeeping_take(keeping, START - 1.0);
    assert_false(due.sweep);
    assert_false(due.cleanup);
}

struct racer {
    struct housekeeping *keeping;
    int cleanups;
    int sweeps;
};

static void *race_take(void *arg)
{
    struct racer *racer = arg;
    for (int i = 0; i < 1000; i++) {
        struct housekeeping_due due = housekeeping_take(racer->keeping, START + 0.5);
        racer->cleanups += due.cleanup;
        racer->sweeps += due.sweep;
    }
    return NULL;
}

static void concurrent_takers_get_each_duty_once(void **state)
{
    struct housekeeping *keeping = *state;
    struct racer racers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        racers[i] = (struct racer){keeping, 0, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, race_take, &racers[i]), 0);
    }
    int cleanups = 0, sweeps = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        cleanups += racers[i].cleanups;
        sweeps += racers[i].sweeps;
    }
    assert_int_equal(cleanups, 1);
    assert_int_equal(sweeps, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(first_take_runs_both, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_is_due_again_only_after_one_second, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_is_handed_to_one_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_not_handed_out_twice_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_idle_waits_for_running_duties, setup, teardown),
        cmocka_unit_test_setup_teardown(cleanup_not_handed_out_twice_while_running, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cleanup_after_success_waits_the_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(cleanup_after_failure_retries_after_sixty_seconds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cleanup_done_does_not_affect_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(nothing_due_before_start_time_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_takers_get_each_duty_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of serve/edge: the request-target check (and how it empties
 * an over-long query) and the per-address counts behind a proxy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "serve/edge.h"

static void ordinary_targets_pass_untouched(void **state)
{
    (void)state;
    char target[] = "/claim?goal=a&namespace=b&wait=30";
    assert_int_equal(edge_check_uri(target), EDGE_URI_OK);
    assert_string_equal(target, "/claim?goal=a&namespace=b&wait=30");
    char bare[] = "/health";
    assert_int_equal(edge_check_uri(bare), EDGE_URI_OK);
}

static void too_many_parameters_empty_the_query(void **state)
{
    (void)state;
    char target[1024] = "/health?";
    for (int i = 0; i < EDGE_QUERY_PARAMS_MAX; i++)
        strcat(target, i ? "&a" : "a");
    assert_int_equal(edge_check_uri(target), EDGE_URI_OK);
    strcat(target, "&a");
    assert_int_equal(edge_check_uri(target), EDGE_URI_TOO_MANY_PARAMS);
    assert_string_equal(target, "/health?");
}

static void long_targets_are_refused(void **state)
{
    (void)state;
    char target[EDGE_URI_MAX + 2];
    memset(target, 'a', sizeof target - 1);
    target[0] = '/';
    target[sizeof target - 1] = '\0';
    assert_int_equal(edge_check_uri(target), EDGE_URI_TOO_LONG);
    target[EDGE_URI_MAX] = '\0';
    assert_int_equal(edge_check_uri(target), EDGE_URI_OK);
}

static void addresses_are_capped_one_by_one(void **state)
{
    (void)state;
    struct edge *edge = edge_start();
    assert_non_null(edge);
    assert_true(edge_address_enter(edge, "10.0.0.1", 2));
    assert_true(edge_address_enter(edge, "10.0.0.1", 2));
    assert_false(edge_address_enter(edge, "10.0.0.1", 2));
    assert_true(edge_address_enter(edge, "10.0.0.2", 2)); /* another client */
    edge_address_leave(edge, "10.0.0.1");
    assert_true(edge_address_enter(edge, "10.0.0.1", 2));
    edge_address_leave(edge, "10.0.0.9"); /* never counted: no effect */
    edge_stop(edge);                      /* frees what is still counted */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ordinary_targets_pass_untouched),
        cmocka_unit_test(too_many_parameters_empty_the_query),
        cmocka_unit_test(long_targets_are_refused),
        cmocka_unit_test(addresses_are_capped_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

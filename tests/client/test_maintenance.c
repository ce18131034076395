/* libintentbus against a server in maintenance mode
 * (BUS_MAINTENANCE_MODE=true): keyed calls get IB_ERR_MAINTENANCE with a
 * Retry-After; /health still answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

static void test_maintenance(void **state)
{
    (void)state;
    struct ib_client *client = helper_client(NULL, NULL, true);
    char id[IB_ID_MAX + 1];
    struct ib_publish intent = {.goal = "g", .payload = "{}"};
    assert_ib(client, ib_publish(client, &intent, id), IB_ERR_MAINTENANCE);
    assert_int_equal(ib_last_status(client), 503);
    assert_string_equal(ib_last_error_code(client), "maintenance");
    assert_int_equal(ib_last_retry_after(client), 60);
    struct ib_job *job = NULL;
    assert_ib(client, ib_claim(client, NULL, &job), IB_ERR_MAINTENANCE);
    long status = 0;
    assert_ib(client, ib_request(client, "GET", "/health", NULL, &status, NULL), IB_OK);
    assert_int_equal(status, 200);
    assert_int_equal(ib_last_retry_after(client), 0);
    ib_client_free(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maintenance),
    };
    return cmocka_run_group_tests_name("libintentbus maintenance", tests, NULL, NULL);
}

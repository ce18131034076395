/* libintentbus against a server whose leases last one second
 * (BUS_CLAIM_TIMEOUT_SECONDS=1): a lease that runs out is lost for good,
 * and every mutation with its token is IB_ERR_NOT_FOUND (spec 6.5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "helpers.h"

static void test_expired_lease_is_lost(void **state)
{
    (void)state;
    struct ib_client *client = helper_client(NULL, NULL, true);
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "expiry");
    helper_publish(client, ns, "slow", id);
    struct ib_job *first = helper_claim(client, ns);
    assert_int_equal(first->claim_timeout, 1);
    usleep(1500 * 1000);
    /* Expired: extending is refused even before anyone reclaims it. */
    assert_ib(client, ib_extend(client, id, first->claim_token, 60, NULL), IB_ERR_NOT_FOUND);
    struct ib_job *second = helper_claim(client, ns);
    assert_string_equal(second->id, id);
    assert_int_equal(second->claim_attempts, 2);
    assert_string_not_equal(second->claim_token, first->claim_token);
    assert_ib(client, ib_fulfill(client, id, first->claim_token, NULL, NULL), IB_ERR_NOT_FOUND);
    assert_ib(client, ib_fail(client, id, first->claim_token, NULL, NULL), IB_ERR_NOT_FOUND);
    assert_ib(client, ib_fulfill(client, id, second->claim_token, "true", NULL), IB_OK);
    ib_job_free(first);
    ib_job_free(second);
    ib_client_free(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expired_lease_is_lost),
    };
    return cmocka_run_group_tests_name("libintentbus lease expiry", tests, NULL, NULL);
}

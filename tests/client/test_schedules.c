/* libintentbus' ib_schedule_*() against a real server started by
 * run_with_server.sh: create, fire, list, show, pause, resume, delete, and
 * the errors (a refused field, an unknown name, missing arguments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static struct ib_client *client;

static int open_client(void **state)
{
    (void)state;
    client = helper_client(NULL, NULL, true);
    return 0;
}

static int close_client(void **state)
{
    (void)state;
    ib_client_free(client);
    client = NULL;
    return 0;
}

/* The integer member name of the JSON object text. */
static long long member_integer(const char *text, const char *name)
{
    json_t *value = helper_json(text);
    long long number = json_integer_value(json_object_get(value, name));
    json_decref(value);
    return number;
}

static void test_schedule_round_trip(void **state)
{
    (void)state;
    char name[96], ns[96], definition[512];
    helper_unique(name, sizeof name, "c-sched");
    helper_unique(ns, sizeof ns, "c-sched-ns");
    snprintf(definition, sizeof definition,
             "{\"name\":\"%s\",\"every\":1,\"intent\":{\"goal\":\"tick\",\"namespace\":\"%s\","
             "\"payload\":{\"n\":1}}}",
             name, ns);
    char *response = NULL;
    assert_ib(client, ib_schedule_put(client, definition, &response), IB_OK);
    assert_int_equal(ib_last_status(client), 201);
    assert_int_equal(member_integer(response, "every"), 1);
    ib_free(response);

    long long fires = 0;
    for (int i = 0; i < 60 && fires < 1; i++) {
        usleep(100000);
        assert_ib(client, ib_schedule_get(client, name, &response), IB_OK);
        fires = member_integer(response, "fires");
        ib_free(response);
    }
    assert_true(fires >= 1);
    struct ib_job *job = helper_claim(client, ns);
    assert_string_equal(job->goal, "tick");
    ib_job_free(job);

    assert_ib(client, ib_schedule_list(client, &response), IB_OK);
    assert_non_null(strstr(response, name));
    ib_free(response);
    assert_ib(client, ib_schedule_pause(client, name, true, &response), IB_OK);
    assert_non_null(strstr(response, "\"paused\":true"));
    ib_free(response);
    assert_ib(client, ib_schedule_pause(client, name, false, NULL), IB_OK);
    assert_ib(client, ib_schedule_delete(client, name), IB_OK);
    assert_ib(client, ib_schedule_get(client, name, &response), IB_ERR_NOT_FOUND);
    assert_null(response);
    assert_ib(client, ib_schedule_delete(client, name), IB_ERR_NOT_FOUND);
}

static void test_schedule_errors(void **state)
{
    (void)state;
    char *response = (char *)"untouched";
    assert_ib(client,
              ib_schedule_put(client,
                              "{\"name\":\"c-bad\",\"cron\":\"61 * * * *\","
                              "\"intent\":{\"goal\":\"g\",\"payload\":{}}}",
                              &response),
              IB_ERR_INVALID_FIELD);
    assert_null(response);
    assert_string_equal(ib_last_error_code(client), "invalid_cron");
    assert_ib(client, ib_schedule_put(client, NULL, NULL), IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_schedule_get(client, "", NULL), IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_schedule_pause(client, NULL, true, NULL), IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_schedule_pause(client, "never-made", true, NULL), IB_ERR_NOT_FOUND);
    assert_int_equal(ib_schedule_list(NULL, NULL), IB_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_round_trip),
        cmocka_unit_test(test_schedule_errors),
    };
    return cmocka_run_group_tests(tests, open_client, close_client);
}

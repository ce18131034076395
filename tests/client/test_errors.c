/* src/client/errors.c without a server: every error code of the protocol,
 * and the answers a proxy or a future server might give instead, map to the
 * right enum ib_err, with the code and message kept for ib_last_*(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "client/errors.h"

struct mapping {
    long status;
    const char *code;
    enum ib_err expected;
};

static enum ib_err map(struct ib_client *client, long status, const char *code)
{
    char body[256];
    snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"because %s\"}}", code,
             code);
    memset(&client->last, 0, sizeof client->last);
    return errors_from_response(client, status, body, strlen(body));
}

static void test_every_protocol_code(void **state)
{
    (void)state;
    static const struct mapping mappings[] = {
        {401, "unauthorized", IB_ERR_UNAUTHORIZED},
        {403, "forbidden", IB_ERR_FORBIDDEN},
        {404, "not_found", IB_ERR_NOT_FOUND},
        {405, "method_not_allowed", IB_ERR_METHOD_NOT_ALLOWED},
        {400, "invalid_request", IB_ERR_INVALID_REQUEST},
        {400, "invalid_json", IB_ERR_INVALID_JSON},
        {400, "invalid_goal", IB_ERR_INVALID_FIELD},
        {400, "invalid_payload", IB_ERR_INVALID_FIELD},
        {400, "invalid_idempotency_key", IB_ERR_INVALID_FIELD},
        {413, "payload_too_large", IB_ERR_PAYLOAD_TOO_LARGE},
        {422, "idempotency_conflict", IB_ERR_IDEMPOTENCY_CONFLICT},
        {429, "rate_limited", IB_ERR_RATE_LIMITED},
        {429, "limit_exceeded", IB_ERR_LIMIT_EXCEEDED},
        {503, "database_busy", IB_ERR_DATABASE_BUSY},
        {507, "insufficient_storage", IB_ERR_DATABASE_BUSY},
        {503, "storage_read_only", IB_ERR_DATABASE_BUSY},
        {503, "storage_io_error", IB_ERR_DATABASE_BUSY},
        {503, "maintenance", IB_ERR_MAINTENANCE},
        {500, "internal_error", IB_ERR_SERVER},
    };
    struct ib_client client;
    memset(&client, 0, sizeof client);
    for (size_t i = 0; i < sizeof mappings / sizeof mappings[0]; i++) {
        enum ib_err err = map(&client, mappings[i].status, mappings[i].code);
        if (err != mappings[i].expected)
            fail_msg("%ld %s: expected %s, got %s", mappings[i].status, mappings[i].code,
                     ib_strerror(mappings[i].expected), ib_strerror(err));
        assert_string_equal(client.last.code, mappings[i].code);
        assert_non_null(strstr(client.last.message, mappings[i].code));
    }
}

/* Codes this library does not know fall back on the status. */
static void test_unknown_codes_use_the_status(void **state)
{
    (void)state;
    static const struct mapping mappings[] = {
        {400, "something_new", IB_ERR_INVALID_REQUEST},
        {404, "gone_fishing", IB_ERR_NOT_FOUND},
        {429, "slow_down", IB_ERR_RATE_LIMITED},
        {502, "bad_gateway", IB_ERR_SERVER},
        {503, "overloaded", IB_ERR_SERVER},
        {418, "teapot", IB_ERR_PROTOCOL},
        {404, "invalid_thing", IB_ERR_NOT_FOUND}, /* invalid_* is a field only on 400 */
    };
    struct ib_client client;
    memset(&client, 0, sizeof client);
    for (size_t i = 0; i < sizeof mappings / sizeof mappings[0]; i++) {
        enum ib_err err = map(&client, mappings[i].status, mappings[i].code);
        if (err != mappings[i].expected)
            fail_msg("%ld %s: expected %s, got %s", mappings[i].status, mappings[i].code,
                     ib_strerror(mappings[i].expected), ib_strerror(err));
        assert_string_equal(client.last.code, mappings[i].code);
    }
}

/* A body that is not the protocol's error shape: the status decides, and
 * the message says what came. */
static void test_bodies_without_an_error(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "",
        "<html>502 Bad Gateway</html>",
        "{}",
        "{\"error\":\"flat\"}",
        "{\"error\":{\"code\":5}}",
        "[1,2]",
    };
    struct ib_client client;
    memset(&client, 0, sizeof client);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        memset(&client.last, 0, sizeof client.last);
        assert_int_equal(errors_from_response(&client, 502, bodies[i], strlen(bodies[i])),
                         IB_ERR_SERVER);
        assert_string_equal(client.last.code, "");
        assert_non_null(strstr(client.last.message, "HTTP 502"));
    }
    memset(&client.last, 0, sizeof client.last);
    assert_int_equal(errors_from_response(&client, 401, "", 0), IB_ERR_UNAUTHORIZED);
    assert_int_equal(errors_from_response(&client, 302, "", 0), IB_ERR_PROTOCOL);
}

/* Long codes and messages are cut to the buffers, never overflow them. */
static void test_long_fields_are_truncated(void **state)
{
    (void)state;
    char body[4096];
    char long_text[2000];
    memset(long_text, 'm', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    snprintf(body, sizeof body, "{\"error\":{\"code\":\"invalid_%.100s\",\"message\":\"%s\"}}",
             long_text, long_text);
    struct ib_client client;
    memset(&client, 0, sizeof client);
    assert_int_equal(errors_from_response(&client, 400, body, strlen(body)), IB_ERR_INVALID_FIELD);
    assert_int_equal(strlen(client.last.code), CLIENT_CODE_SIZE - 1);
    assert_int_equal(strlen(client.last.message), CLIENT_MESSAGE_SIZE - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_protocol_code),
        cmocka_unit_test(test_unknown_codes_use_the_status),
        cmocka_unit_test(test_bodies_without_an_error),
        cmocka_unit_test(test_long_fields_are_truncated),
    };
    return cmocka_run_group_tests_name("libintentbus errors", tests, NULL, NULL);
}

/* Unit tests of bus/replies and bus/json_text: the hot replies (publish,
 * claim, fulfil), written without a jansson tree, must be byte for byte
 * what json_pack + json_dumps(JSON_COMPACT) printed before, for plain and
 * awkward strings (quotes, backslashes, control bytes, UTF-8, invalid
 * UTF-8) and for reals of every shape. The oracles below are the former
 * implementations. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bus/json_text.h"
#include "bus/replies.h"

static const char *const STRINGS[] = {
    "plain",
    "",
    "with \"quotes\"",
    "back\\slash",
    "slash/ed",
    "tab\there",
    "new\nline",
    "\x01\x1f control",
    "del \x7f byte",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    "invalid \xc3 utf-8",
    "lone \x80 continuation",
};
enum { STRING_COUNT = sizeof STRINGS / sizeof STRINGS[0] };

static const double REALS[] = {
    0.0,  -0.0,     1.0,  1764709123.0, 1764709123.25, 1764709123.123456,    0.1,
    -2.5, 1e21,     1e-7, 1.5e300,      -3e-300,       123456789012345678.0, 1e16,
    1e17, 4.9e-324,
};
enum { REAL_COUNT = sizeof REALS / sizeof REALS[0] };

/* NULL stays NULL (a refused value), else compared as text. */
static void assert_same(char *expected, char *actual)
{
    if (expected == NULL || actual == NULL) {
        assert_ptr_equal(expected, actual);
    } else {
        assert_string_equal(expected, actual);
    }
    free(expected);
    free(actual);
}

static char *oracle_finish(json_t *object)
{
    char *text = object ? json_dumps(object, JSON_COMPACT) : NULL;
    json_decref(object);
    return text;
}

static json_t *oracle_string_or_null(const char *text)
{
    return text && text[0] ? json_string(text) : json_null();
}

static char *oracle_published(const char *id, const char *namespace_)
{
    return oracle_finish(
        json_pack("{s:s, s:s, s:s}", "id", id, "status", "published", "namespace", namespace_));
}

static char *oracle_fulfilled(const char *id, double completed_at)
{
    return oracle_finish(json_pack("{s:b, s:s, s:s, s:f}", "ok", 1, "id", id, "status", "fulfilled",
                                   "completed_at", completed_at));
}

/* The former claim reply: packed with a null payload, the stored text then
 * spliced over the first ,"payload":null, of the compact output. */
static char *oracle_claimed(const struct claimed_intent *claimed, double claim_timeout)
{
    char *reply = oracle_finish(json_pack(
        "{s:s, s:s, s:s, s:n, s:i, s:i, s:o, s:o, s:s, s:I, s:f}", "id", claimed->id, "namespace",
        claimed->namespace_, "goal", claimed->goal, "payload", "claim_attempts",
        claimed->claim_attempts, "priority", claimed->priority, "target_worker",
        oracle_string_or_null(claimed->target_worker), "required_capability",
        oracle_string_or_null(claimed->required_capability), "claim_token", claimed->token,
        "claim_timeout", (json_int_t)claim_timeout, "claim_expires_at", claimed->claim_expires_at));
    const char *payload = claimed->payload_json;
    if (reply == NULL || payload == NULL || payload[0] == '\0')
        return reply;
    static const char slot[] = ",\"payload\":null,";
    char *at = strstr(reply, slot);
    assert_non_null(at);
    size_t before = (size_t)(at - reply) + strlen(",\"payload\":");
    const char *after = at + strlen(",\"payload\":null");
    size_t size = before + strlen(payload) + strlen(after) + 1;
    char *text = malloc(size);
    assert_non_null(text);
    snprintf(text, size, "%.*s%s%s", (int)before, reply, payload, after);
    free(reply);
    return text;
}

static void test_published_matches_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < STRING_COUNT; i++) {
        assert_same(oracle_published(STRINGS[i], "ns"), reply_published(STRINGS[i], "ns"));
        assert_same(oracle_published("id", STRINGS[i]), reply_published("id", STRINGS[i]));
    }
    assert_same(oracle_published(NULL, "ns"), reply_published(NULL, "ns"));
}

static void test_fulfilled_matches_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < REAL_COUNT; i++) {
        assert_same(oracle_fulfilled("id", REALS[i]), reply_fulfilled("id", REALS[i]));
        assert_same(oracle_fulfilled("id", -REALS[i]), reply_fulfilled("id", -REALS[i]));
    }
    for (size_t i = 0; i < STRING_COUNT; i++)
        assert_same(oracle_fulfilled(STRINGS[i], 1.5), reply_fulfilled(STRINGS[i], 1.5));
    assert_same(oracle_fulfilled("id", NAN), reply_fulfilled("id", NAN));
    assert_same(oracle_fulfilled("id", INFINITY), reply_fulfilled("id", INFINITY));
}

static void fill_claimed(struct claimed_intent *claimed, const char *text, const char *payload)
{
    *claimed = (struct claimed_intent){
        .claim_attempts = 2, .priority = -7, .claim_expires_at = 1764709123.456789};
    snprintf(claimed->id, sizeof claimed->id, "%s", "0194f3b2-aaaa");
    snprintf(claimed->namespace_, sizeof claimed->namespace_, "%s", text);
    snprintf(claimed->goal, sizeof claimed->goal, "%s", text);
    snprintf(claimed->target_worker, sizeof claimed->target_worker, "%s", text);
    snprintf(claimed->required_capability, sizeof claimed->required_capability, "%s", text);
    snprintf(claimed->token, sizeof claimed->token, "%s", "tok");
    claimed->payload_json = (char *)payload;
}

static void test_claimed_matches_jansson(void **state)
{
    (void)state;
    static const char *const payloads[] = {NULL,   "",           "{}", "{\"a\":[1,2.5,\"x\\\"y\"]}",
                                           "null", "\"payload\""};
    struct claimed_intent claimed;
    for (size_t i = 0; i < STRING_COUNT; i++) {
        for (size_t p = 0; p < sizeof payloads / sizeof payloads[0]; p++) {
            fill_claimed(&claimed, STRINGS[i], payloads[p]);
            assert_same(oracle_claimed(&claimed, 600), reply_claimed(&claimed, 600));
        }
    }
    fill_claimed(&claimed, "ns", "{}");
    for (size_t i = 0; i < REAL_COUNT; i++) {
        claimed.claim_expires_at = REALS[i];
        assert_same(oracle_claimed(&claimed, 30.9), reply_claimed(&claimed, 30.9));
    }
}

/* Past the first allocation the buffer grows and keeps what it had. */
static void test_json_text_grows(void **state)
{
    (void)state;
    char long_value[5000];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    struct json_text out;
    json_text_open(&out);
    json_text_integer(&out, "n", 42);
    json_text_string(&out, "long", long_value);
    json_text_true(&out, "ok");
    char *text = json_text_close_take(&out);
    assert_non_null(text);
    json_t *expected = json_pack("{s:i, s:s, s:b}", "n", 42, "long", long_value, "ok", 1);
    char *expected_text = json_dumps(expected, JSON_COMPACT);
    json_decref(expected);
    assert_same(expected_text, text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_matches_jansson),
        cmocka_unit_test(test_fulfilled_matches_jansson),
        cmocka_unit_test(test_claimed_matches_jansson),
        cmocka_unit_test(test_json_text_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

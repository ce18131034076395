/* Unit tests of bus/validate: every publish field at and just past its
 * bounds with the exact error code, and the lease, result, KV and key rules. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bus/validate.h"

#define E_ACUTE "\xc3\xa9"          /* é: 2 bytes */
#define EURO "\xe2\x82\xac"         /* €: 3 bytes */
#define GRIN "\xf0\x9f\x98\x80"     /* U+1F600: 4 bytes */

/* ---- helpers ------------------------------------------------------------ */

/* A malloc'd string of `unit` repeated count times. */
static char *repeat(const char *unit, size_t count)
{
    size_t len = strlen(unit);
    char *s = malloc(len * count + 1);
    assert_non_null(s);
    for (size_t i = 0; i < count; i++)
        memcpy(s + i * len, unit, len);
    s[len * count] = '\0';
    return s;
}

static json_t *parse(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
    assert_non_null(value);
    return value;
}

/* {"goal":"g","payload":{}} plus field = value (value stolen; NULL = none). */
static json_t *body_with(const char *field, json_t *value)
{
    json_t *body = parse("{\"goal\":\"g\",\"payload\":{}}");
    if (field != NULL)
        assert_int_equal(json_object_set_new(body, field, value), 0);
    return body;
}

/* Validates a publish body; frees it. */
static enum bus_err publish_body(json_t *body, struct intent_new *out, struct bus_error *error)
{
    enum bus_err err = validate_publish(body, out, error);
    json_decref(body);
    return err;
}

static void expect_publish_ok(json_t *body)
{
    struct intent_new intent;
    struct bus_error error = {0};
    enum bus_err err = publish_body(body, &intent, &error);
    if (err != BUS_OK)
        fail_msg("expected OK, got %d %s: %s", err, error.code, error.message);
    assert_non_null(intent.payload_json);
    intent_new_clear(&intent);
}

static void expect_publish_error(json_t *body, enum bus_err want, const char *code)
{
    struct intent_new intent;
    struct bus_error error = {0};
    enum bus_err err = publish_body(body, &intent, &error);
    assert_int_equal(err, want);
    assert_int_equal(error.err, want);
    assert_string_equal(error.code, code);
    assert_null(intent.payload_json); /* nothing left owned */
    intent_new_clear(&intent);
}

static void expect_field_ok(const char *field, json_t *value)
{
    expect_publish_ok(body_with(field, value));
}

static void expect_field_refused(const char *field, json_t *value, const char *code)
{
    expect_publish_error(body_with(field, value), BUS_ERR_INVALID_FIELD, code);
}

/* Validates a publish body whose field is a string of `unit` x count. */
static void expect_string_field(const char *field, const char *unit, size_t count, bool ok,
                                const char *code)
{
    char *text = repeat(unit, count);
    if (ok)
        expect_field_ok(field, json_string(text));
    else
        expect_field_refused(field, json_string(text), code);
    free(text);
}

/* ---- validate_publish: valid bodies and defaults ------------------------ */

static void publish_minimal_body_gets_defaults(void **state)
{
    (void)state;
    struct intent_new intent;
    struct bus_error error = {0};
    json_t *body = parse("{\"goal\":\"resize\",\"payload\":{\"w\": 1, \"h\": [2, 3]}}");
    assert_int_equal(publish_body(body, &intent, &error), BUS_OK);
    assert_string_equal(intent.goal, "resize");
    assert_string_equal(intent.namespace_, "default");
    assert_int_equal(intent.priority, 100);
    assert_int_equal(intent.max_attempts, 3);
    assert_float_equal(intent.backoff_base, 5.0, 0.0);
    assert_float_equal(intent.delay, 0.0, 0.0);
    assert_false(intent.is_public);
    assert_string_equal(intent.target_worker, "");
    assert_string_equal(intent.required_capability, "");
    assert_string_equal(intent.payload_json, "{\"w\":1,\"h\":[2,3]}");
    intent_new_clear(&intent);
    assert_null(intent.payload_json);
}

static void publish_reads_every_field(void **state)
{
    (void)state;
    struct intent_new intent;
    struct bus_error error = {0};
    json_t *body = parse("{\"goal\":\"transcribe\",\"payload\":\"audio.mp3\",\"namespace\":\"media.v2\","
                         "\"visibility\":\"public\",\"priority\":7,\"delay\":12.5,"
                         "\"max_attempts\":9,\"backoff_base\":2.5,\"target_worker\":\"w-1\","
                         "\"required_capability\":\"whisper\",\"unknown\":true}");
    assert_int_equal(publish_body(body, &intent, &error), BUS_OK);
    assert_string_equal(intent.goal, "transcribe");
    assert_string_equal(intent.payload_json, "\"audio.mp3\"");
    assert_string_equal(intent.namespace_, "media.v2");
    assert_true(intent.is_public);
    assert_int_equal(intent.priority, 7);
    assert_float_equal(intent.delay, 12.5, 0.0);
    assert_int_equal(intent.max_attempts, 9);
    assert_float_equal(intent.backoff_base, 2.5, 0.0);
    assert_string_equal(intent.target_worker, "w-1");
    assert_string_equal(intent.required_capability, "whisper");
    intent_new_clear(&intent);
}

static void publish_null_optionals_mean_defaults(void **state)
{
    (void)state;
    struct intent_new intent;
    struct bus_error error = {0};
    json_t *body = parse("{\"goal\":\"g\",\"payload\":1,\"namespace\":null,\"visibility\":null,"
                         "\"priority\":null,\"delay\":null,\"max_attempts\":null,"
                         "\"backoff_base\":null,\"target_worker\":null,"
                         "\"required_capability\":null}");
    assert_int_equal(publish_body(body, &intent, &error), BUS_OK);
    assert_string_equal(intent.namespace_, "default");
    assert_false(intent.is_public);
    assert_int_equal(intent.priority, 100);
    assert_float_equal(intent.delay, 0.0, 0.0);
    assert_int_equal(intent.max_attempts, 3);
    assert_float_equal(intent.backoff_base, 5.0, 0.0);
    assert_string_equal(intent.target_worker, "");
    assert_string_equal(intent.required_capability, "");
    intent_new_clear(&intent);
}

static void publish_accepts_null_and_scalar_payloads(void **state)
{
    (void)state;
    const char *bodies[] = {"{\"goal\":\"g\",\"payload\":null}", "{\"goal\":\"g\",\"payload\":0}",
                            "{\"goal\":\"g\",\"payload\":[]}", "{\"goal\":\"g\",\"payload\":\"\"}"};
    const char *payloads[] = {"null", "0", "[]", "\"\""};
    for (size_t i = 0; i < 4; i++) {
        struct intent_new intent;
        struct bus_error error = {0};
        assert_int_equal(publish_body(parse(bodies[i]), &intent, &error), BUS_OK);
        assert_string_equal(intent.payload_json, payloads[i]);
        intent_new_clear(&intent);
    }
}

/* ---- validate_publish: required fields and body shape ------------------- */

static void publish_missing_goal_is_invalid_request(void **state)
{
    (void)state;
    expect_publish_error(parse("{\"payload\":{}}"), BUS_ERR_INVALID_REQUEST, "invalid_request");
    expect_publish_error(parse("{\"goal\":null,\"payload\":{}}"), BUS_ERR_INVALID_REQUEST,
                         "invalid_request");
}

static void publish_missing_payload_is_invalid_request(void **state)
{
    (void)state;
    expect_publish_error(parse("{\"goal\":\"g\"}"), BUS_ERR_INVALID_REQUEST, "invalid_request");
}

static void publish_non_object_body_is_invalid_request(void **state)
{
    (void)state;
    const char *bodies[] = {"[]", "[{\"goal\":\"g\",\"payload\":{}}]", "\"text\"", "42", "null",
                            "true"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        expect_publish_error(parse(bodies[i]), BUS_ERR_INVALID_REQUEST, "invalid_request");
    struct intent_new intent;
    struct bus_error error = {0};
    assert_int_equal(validate_publish(NULL, &intent, &error), BUS_ERR_INVALID_REQUEST);
    assert_string_equal(error.code, "invalid_request");
}

/* ---- validate_publish: goal --------------------------------------------- */

static void goal_of_1_to_256_ascii_characters_is_valid(void **state)
{
    (void)state;
    expect_string_field("goal", "a", 1, true, NULL);
    expect_string_field("goal", "a", 256, true, NULL);
}

static void goal_empty_or_over_256_characters_is_refused(void **state)
{
    (void)state;
    expect_string_field("goal", "a", 0, false, "invalid_goal");
    expect_string_field("goal", "a", 257, false, "invalid_goal");
}

static void goal_counts_code_points_not_bytes(void **state)
{
    (void)state;
    expect_string_field("goal", E_ACUTE, 256, true, NULL);
    expect_string_field("goal", E_ACUTE, 257, false, "invalid_goal");
    expect_string_field("goal", GRIN, 256, true, NULL);
    expect_string_field("goal", GRIN, 257, false, "invalid_goal");
}

static void goal_of_256_multibyte_characters_is_copied_whole(void **state)
{
    (void)state;
    char *goal = repeat(GRIN, 256);
    struct intent_new intent;
    struct bus_error error = {0};
    assert_int_equal(publish_body(body_with("goal", json_string(goal)), &intent, &error), BUS_OK);
    assert_string_equal(intent.goal, goal);
    intent_new_clear(&intent);
    free(goal);
}

static void goal_that_is_not_a_string_is_refused(void **state)
{
    (void)state;
    expect_field_refused("goal", json_integer(5), "invalid_goal");
    expect_field_refused("goal", json_true(), "invalid_goal");
    expect_field_refused("goal", json_object(), "invalid_goal");
}

static void validate_goal_direct(void **state)
{
    (void)state;
    assert_true(validate_goal("x"));
    assert_true(validate_goal(E_ACUTE));
    assert_false(validate_goal(""));
}

/* ---- validate_publish: priority ----------------------------------------- */

static void priority_bounds(void **state)
{
    (void)state;
    expect_field_ok("priority", json_integer(0));
    expect_field_ok("priority", json_integer(1000));
    expect_field_refused("priority", json_integer(-1), "invalid_priority");
    expect_field_refused("priority", json_integer(1001), "invalid_priority");
    expect_field_refused("priority", json_integer(4294967296LL), "invalid_priority");
}

static void priority_must_be_a_json_integer(void **state)
{
    (void)state;
    expect_field_refused("priority", json_true(), "invalid_priority");
    expect_field_refused("priority", json_false(), "invalid_priority");
    expect_field_refused("priority", json_real(1.5), "invalid_priority");
    expect_field_refused("priority", json_string("5"), "invalid_priority");
    expect_field_refused("priority", json_array(), "invalid_priority");
}

/* ---- validate_publish: max_attempts ------------------------------------- */

static void max_attempts_bounds(void **state)
{
    (void)state;
    expect_field_ok("max_attempts", json_integer(1));
    expect_field_ok("max_attempts", json_integer(20));
    expect_field_refused("max_attempts", json_integer(0), "invalid_max_attempts");
    expect_field_refused("max_attempts", json_integer(21), "invalid_max_attempts");
    expect_field_refused("max_attempts", json_real(2.5), "invalid_max_attempts");
    expect_field_refused("max_attempts", json_string("3"), "invalid_max_attempts");
}

/* ---- validate_publish: backoff_base ------------------------------------- */

static void backoff_base_bounds(void **state)
{
    (void)state;
    expect_field_ok("backoff_base", json_real(1.0));
    expect_field_ok("backoff_base", json_real(3600.0));
    expect_field_ok("backoff_base", json_integer(60));
    expect_field_refused("backoff_base", json_real(0.999), "invalid_backoff_base");
    expect_field_refused("backoff_base", json_real(3600.001), "invalid_backoff_base");
    expect_field_refused("backoff_base", json_integer(0), "invalid_backoff_base");
    expect_field_refused("backoff_base", json_string("5"), "invalid_backoff_base");
    expect_field_refused("backoff_base", json_true(), "invalid_backoff_base");
}

static void backoff_base_integer_is_read_as_number(void **state)
{
    (void)state;
    struct intent_new intent;
    struct bus_error error = {0};
    assert_int_equal(publish_body(body_with("backoff_base", json_integer(60)), &intent, &error),
                     BUS_OK);
    assert_float_equal(intent.backoff_base, 60.0, 0.0);
    intent_new_clear(&intent);
}

/* ---- validate_publish: delay -------------------------------------------- */

static void delay_bounds(void **state)
{
    (void)state;
    expect_field_ok("delay", json_integer(0));
    expect_field_ok("delay", json_real(0.5));
    expect_field_ok("delay", json_integer(2592000));
    expect_field_refused("delay", json_real(-0.001), "invalid_delay");
    expect_field_refused("delay", json_real(2592000.001), "invalid_delay");
    expect_field_refused("delay", json_integer(2592001), "invalid_delay");
    expect_field_refused("delay", json_string("10"), "invalid_delay");
    expect_field_refused("delay", json_false(), "invalid_delay");
}

/* ---- validate_publish: namespace ---------------------------------------- */

static void namespace_charset_and_length(void **state)
{
    (void)state;
    expect_field_ok("namespace", json_string("a"));
    expect_field_ok("namespace", json_string("Az09.-_"));
    expect_string_field("namespace", "n", 64, true, NULL);
    expect_string_field("namespace", "n", 65, false, "invalid_namespace");
    expect_field_refused("namespace", json_string(""), "invalid_namespace");
    expect_field_refused("namespace", json_string("a b"), "invalid_namespace");
    expect_field_refused("namespace", json_string("a/b"), "invalid_namespace");
    expect_field_refused("namespace", json_string("a:b"), "invalid_namespace");
    expect_field_refused("namespace", json_string("caf" E_ACUTE), "invalid_namespace");
    expect_field_refused("namespace", json_integer(1), "invalid_namespace");
}

static void namespace_is_copied(void **state)
{
    (void)state;
    char *name = repeat("Z", 64);
    struct intent_new intent;
    struct bus_error error = {0};
    assert_int_equal(publish_body(body_with("namespace", json_string(name)), &intent, &error),
                     BUS_OK);
    assert_string_equal(intent.namespace_, name);
    intent_new_clear(&intent);
    free(name);
}

static void validate_namespace_direct(void **state)
{
    (void)state;
    assert_true(validate_namespace("default"));
    assert_false(validate_namespace(""));
    assert_false(validate_namespace("tab\there"));
}

/* ---- validate_publish: visibility --------------------------------------- */

static void visibility_values(void **state)
{
    (void)state;
    struct intent_new intent;
    struct bus_error error = {0};
    assert_int_equal(publish_body(body_with("visibility", json_string("public")), &intent, &error),
                     BUS_OK);
    assert_true(intent.is_public);
    intent_new_clear(&intent);
    assert_int_equal(publish_body(body_with("visibility", json_string("private")), &intent, &error),
                     BUS_OK);
    assert_false(intent.is_public);
    intent_new_clear(&intent);

    expect_field_refused("visibility", json_string("PUBLIC"), "invalid_visibility");
    expect_field_refused("visibility", json_string(""), "invalid_visibility");
    expect_field_refused("visibility", json_string("shared"), "invalid_visibility");
    expect_field_refused("visibility", json_true(), "invalid_visibility");
}

/* ---- validate_publish: target_worker ------------------------------------ */

static void target_worker_bounds(void **state)
{
    (void)state;
    expect_string_field("target_worker", "w", 1, true, NULL);
    expect_string_field("target_worker", "w", 128, true, NULL);
    expect_string_field("target_worker", GRIN, 128, true, NULL);
    expect_string_field("target_worker", "w", 129, false, "invalid_target_worker");
    expect_string_field("target_worker", E_ACUTE, 129, false, "invalid_target_worker");
    expect_field_refused("target_worker", json_string(""), "invalid_target_worker");
    expect_field_refused("target_worker", json_string("a\nb"), "invalid_target_worker");
    expect_field_refused("target_worker", json_integer(7), "invalid_target_worker");
}

static void target_worker_is_copied(void **state)
{
    (void)state;
    char *name = repeat(GRIN, 128);
    struct intent_new intent;
    struct bus_error error = {0};
    assert_int_equal(publish_body(body_with("target_worker", json_string(name)), &intent, &error),
                     BUS_OK);
    assert_string_equal(intent.target_worker, name);
    intent_new_clear(&intent);
    free(name);
}

/* ---- validate_publish: required_capability ------------------------------ */

static void required_capability_bounds(void **state)
{
    (void)state;
    expect_string_field("required_capability", "c", 1, true, NULL);
    expect_string_field("required_capability", "c", 128, true, NULL);
    expect_string_field("required_capability", "c", 129, false, "invalid_required_capability");
    expect_field_ok("required_capability", json_string("gpu large"));
    expect_field_refused("required_capability", json_string(""), "invalid_required_capability");
    expect_field_refused("required_capability", json_integer(1), "invalid_required_capability");
}

static void required_capability_refuses_comma_and_outer_spaces(void **state)
{
    (void)state;
    expect_field_refused("required_capability", json_string("gpu,whisper"),
                         "invalid_required_capability");
    expect_field_refused("required_capability", json_string(","), "invalid_required_capability");
    expect_field_refused("required_capability", json_string(" gpu"), "invalid_required_capability");
    expect_field_refused("required_capability", json_string("gpu "), "invalid_required_capability");
    expect_field_refused("required_capability", json_string(" "), "invalid_required_capability");
}

/* ---- validate_publish: payload size ------------------------------------- */

static void payload_of_7168_compact_bytes_is_accepted(void **state)
{
    (void)state;
    char *text = repeat("a", 7166); /* plus two quotes = 7168 */
    struct intent_new intent;
    struct bus_error error = {0};
    assert_int_equal(publish_body(body_with("payload", json_string(text)), &intent, &error),
                     BUS_OK);
    assert_int_equal(strlen(intent.payload_json), 7168);
    intent_new_clear(&intent);
    free(text);
}

static void payload_of_7169_compact_bytes_is_too_large(void **state)
{
    (void)state;
    char *text = repeat("a", 7167);
    expect_publish_error(body_with("payload", json_string(text)), BUS_ERR_PAYLOAD_TOO_LARGE,
                         "payload_too_large");
    free(text);
}

static void payload_size_is_measured_compact(void **state)
{
    (void)state;
    /* {"k":"<7160 a>"} is 7168 bytes compact, more with any spacing. */
    char *text = repeat("a", 7160);
    json_t *payload = json_object();
    json_object_set_new(payload, "k", json_string(text));
    expect_field_ok("payload", payload);
    payload = json_object();
    json_object_set_new(payload, "k", json_string(text));
    json_object_set_new(payload, "", json_null()); /* ,"":null = 8 more bytes */
    expect_publish_error(body_with("payload", payload), BUS_ERR_PAYLOAD_TOO_LARGE,
                         "payload_too_large");
    free(text);
}

static void payload_size_counts_utf8_bytes(void **state)
{
    (void)state;
    char *ok = repeat(E_ACUTE, 3583); /* 7166 bytes + quotes = 7168 */
    char *big = repeat(E_ACUTE, 3584);
    expect_field_ok("payload", json_string(ok));
    expect_publish_error(body_with("payload", json_string(big)), BUS_ERR_PAYLOAD_TOO_LARGE,
                         "payload_too_large");
    free(ok);
    free(big);
}

/* ---- validate_worker_id ------------------------------------------------- */

static void worker_id_rules(void **state)
{
    (void)state;
    char *max = repeat(E_ACUTE, 128);
    char *over = repeat("w", 129);
    assert_true(validate_worker_id("worker-1"));
    assert_true(validate_worker_id(max));
    assert_false(validate_worker_id(over));
    assert_false(validate_worker_id(""));
    assert_false(validate_worker_id("a\x01" "b"));
    assert_false(validate_worker_id("a\x7f"));
    free(max);
    free(over);
}

/* ---- validate_capabilities ---------------------------------------------- */

static void expect_capabilities(const char *list, const char *want)
{
    char *json = NULL;
    struct bus_error error = {0};
    assert_int_equal(validate_capabilities(list, &json, &error), BUS_OK);
    assert_non_null(json);
    assert_string_equal(json, want);
    free(json);
}

static void capabilities_are_split_trimmed_and_emptied(void **state)
{
    (void)state;
    expect_capabilities("a, b,,c ", "[\"a\",\"b\",\"c\"]");
    expect_capabilities("gpu", "[\"gpu\"]");
    expect_capabilities("  gpu  ,  whisper", "[\"gpu\",\"whisper\"]");
    expect_capabilities("GPU,gpu", "[\"GPU\",\"gpu\"]");
}

/* No capability at all: no array (NULL), which the stores read as []. */
static void capabilities_empty_or_null_give_no_array(void **state)
{
    (void)state;
    const char *lists[] = {NULL, "", " , ,, ", " "};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        char *json = (char *)"sentinel";
        struct bus_error error = {0};
        assert_int_equal(validate_capabilities(lists[i], &json, &error), BUS_OK);
        assert_null(json);
    }
}

static void capability_over_128_characters_is_refused(void **state)
{
    (void)state;
    char *long_one = repeat("c", 129);
    char *list = malloc(strlen(long_one) + 8);
    assert_non_null(list);
    sprintf(list, "gpu,%s", long_one);
    char *json = (char *)"sentinel";
    struct bus_error error = {0};
    assert_int_equal(validate_capabilities(list, &json, &error), BUS_ERR_INVALID_FIELD);
    assert_string_equal(error.code, "invalid_capabilities");
    assert_null(json);
    free(list);
    free(long_one);
    char *max = repeat("c", 128);
    char want[160];
    snprintf(want, sizeof want, "[\"%s\"]", max);
    expect_capabilities(max, want);
    free(max);
}

static void capability_with_control_character_is_refused(void **state)
{
    (void)state;
    char *json = NULL;
    struct bus_error error = {0};
    assert_int_equal(validate_capabilities("gpu,a\x01" "b", &json, &error), BUS_ERR_INVALID_FIELD);
    assert_string_equal(error.code, "invalid_capabilities");
    assert_null(json);
}

/* Capabilities come from a header or a URL-decoded query string, so any
 * bytes can arrive; bad input must be a 400, never an internal error. */
static void capability_of_invalid_utf8_is_refused_not_internal(void **state)
{
    (void)state;
    const char *lists[] = {"gpu,\xff", "caf\xc3", "\xc3\x28"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        char *json = NULL;
        struct bus_error error = {0};
        enum bus_err err = validate_capabilities(lists[i], &json, &error);
        assert_null(json);
        assert_int_equal(err, BUS_ERR_INVALID_FIELD);
        assert_string_equal(error.code, "invalid_capabilities");
    }
}

/* ---- validate_claim_token ----------------------------------------------- */

static enum bus_err claim_token_of(const char *body_text, char out[CLAIM_TOKEN_LEN + 1],
                                   struct bus_error *error)
{
    json_t *body = parse(body_text);
    enum bus_err err = validate_claim_token(body, out, error);
    json_decref(body);
    return err;
}

static void claim_token_missing_is_invalid_request(void **state)
{
    (void)state;
    char token[CLAIM_TOKEN_LEN + 1];
    struct bus_error error = {0};
    assert_int_equal(claim_token_of("{}", token, &error), BUS_ERR_INVALID_REQUEST);
    assert_string_equal(error.code, "invalid_request");
    assert_int_equal(claim_token_of("{\"claim_token\":null}", token, &error),
                     BUS_ERR_INVALID_REQUEST);
    assert_int_equal(claim_token_of("{\"claim_token\":123}", token, &error),
                     BUS_ERR_INVALID_REQUEST);
    assert_string_equal(error.code, "invalid_request");
}

static void claim_token_of_wrong_shape_is_not_found(void **state)
{
    (void)state;
    const char *bodies[] = {
        "{\"claim_token\":\"0123456789ABCDEF0123456789abcdef\"}", /* uppercase */
        "{\"claim_token\":\"0123456789abcdef0123456789abcde\"}",  /* 31 */
        "{\"claim_token\":\"0123456789abcdef0123456789abcdef0\"}",/* 33 */
        "{\"claim_token\":\"0123456789abcdef0123456789abcdeg\"}", /* g */
        "{\"claim_token\":\"\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char token[CLAIM_TOKEN_LEN + 1];
        struct bus_error error = {0};
        assert_int_equal(claim_token_of(bodies[i], token, &error), BUS_ERR_NOT_FOUND);
        assert_string_equal(error.code, "not_found");
    }
}

static void claim_token_of_32_lowercase_hex_is_read(void **state)
{
    (void)state;
    char token[CLAIM_TOKEN_LEN + 1];
    struct bus_error error = {0};
    assert_int_equal(claim_token_of("{\"claim_token\":\"0123456789abcdef0123456789abcdef\"}", token,
                                    &error),
                     BUS_OK);
    assert_string_equal(token, "0123456789abcdef0123456789abcdef");
}

/* ---- validate_extend_seconds -------------------------------------------- */

static enum bus_err extend_seconds_of(const char *body_text, double *seconds,
                                      struct bus_error *error)
{
    json_t *body = parse(body_text);
    enum bus_err err = validate_extend_seconds(body, seconds, error);
    json_decref(body);
    return err;
}

static void extend_seconds_default_is_60(void **state)
{
    (void)state;
    double seconds = 0;
    struct bus_error error = {0};
    assert_int_equal(extend_seconds_of("{}", &seconds, &error), BUS_OK);
    assert_float_equal(seconds, 60.0, 0.0);
    seconds = 0;
    assert_int_equal(extend_seconds_of("{\"seconds\":null}", &seconds, &error), BUS_OK);
    assert_float_equal(seconds, 60.0, 0.0);
}

static void extend_seconds_bounds(void **state)
{
    (void)state;
    double seconds = 0;
    struct bus_error error = {0};
    assert_int_equal(extend_seconds_of("{\"seconds\":10}", &seconds, &error), BUS_OK);
    assert_float_equal(seconds, 10.0, 0.0);
    assert_int_equal(extend_seconds_of("{\"seconds\":3600}", &seconds, &error), BUS_OK);
    assert_float_equal(seconds, 3600.0, 0.0);
    assert_int_equal(extend_seconds_of("{\"seconds\":12.5}", &seconds, &error), BUS_OK);
    assert_float_equal(seconds, 12.5, 0.0);

    const char *refused[] = {"{\"seconds\":9.99}", "{\"seconds\":3601}", "{\"seconds\":3600.5}",
                             "{\"seconds\":0}", "{\"seconds\":-60}", "{\"seconds\":\"60\"}",
                             "{\"seconds\":true}"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        memset(&error, 0, sizeof error);
        assert_int_equal(extend_seconds_of(refused[i], &seconds, &error), BUS_ERR_INVALID_FIELD);
        assert_string_equal(error.code, "invalid_seconds");
    }
}

/* ---- validate_fulfill --------------------------------------------------- */

static enum bus_err fulfill_of(const char *body_text, char **result, char type[8],
                               struct bus_error *error)
{
    json_t *body = parse(body_text);
    enum bus_err err = validate_fulfill(body, result, type, error);
    json_decref(body);
    return err;
}

static void fulfill_without_result_gives_null(void **state)
{
    (void)state;
    char *result = (char *)"sentinel";
    char type[8];
    struct bus_error error = {0};
    assert_int_equal(fulfill_of("{}", &result, type, &error), BUS_OK);
    assert_null(result);
    assert_string_equal(type, "");
    result = (char *)"sentinel";
    assert_int_equal(fulfill_of("{\"result_type\":\"text\"}", &result, type, &error), BUS_OK);
    assert_null(result);
}

static void fulfill_json_result_is_compact(void **state)
{
    (void)state;
    char *result = NULL;
    char type[8];
    struct bus_error error = {0};
    assert_int_equal(fulfill_of("{\"result\": {\"a\": [1, 2]}}", &result, type, &error), BUS_OK);
    assert_string_equal(result, "{\"a\":[1,2]}");
    assert_string_equal(type, "json");
    free(result);
    assert_int_equal(fulfill_of("{\"result\":null,\"result_type\":\"json\"}", &result, type,
                                &error),
                     BUS_OK);
    assert_string_equal(result, "null");
    assert_string_equal(type, "json");
    free(result);
}

static void fulfill_text_result_needs_a_string(void **state)
{
    (void)state;
    char *result = NULL;
    char type[8];
    struct bus_error error = {0};
    assert_int_equal(fulfill_of("{\"result\":\"done\",\"result_type\":\"text\"}", &result, type,
                                &error),
                     BUS_OK);
    assert_string_equal(result, "\"done\"");
    assert_string_equal(type, "text");
    free(result);

    result = NULL;
    assert_int_equal(fulfill_of("{\"result\":{\"a\":1},\"result_type\":\"text\"}", &result, type,
                                &error),
                     BUS_ERR_INVALID_FIELD);
    assert_string_equal(error.code, "invalid_result");
    assert_null(result);
}

static void fulfill_unknown_result_type_is_refused(void **state)
{
    (void)state;
    const char *bodies[] = {"{\"result\":1,\"result_type\":\"xml\"}",
                            "{\"result\":1,\"result_type\":\"JSON\"}",
                            "{\"result\":1,\"result_type\":5}"};
    for (size_t i = 0; i < 3; i++) {
        char *result = NULL;
        char type[8];
        struct bus_error error = {0};
        assert_int_equal(fulfill_of(bodies[i], &result, type, &error), BUS_ERR_INVALID_FIELD);
        assert_string_equal(error.code, "invalid_result_type");
        assert_null(result);
    }
}

/* ---- validate_fail_error ------------------------------------------------ */

static char *fail_text_of(json_t *body, enum bus_err want, struct bus_error *error)
{
    char *text = (char *)"sentinel";
    assert_int_equal(validate_fail_error(body, &text, error), want);
    json_decref(body);
    return text;
}

static json_t *error_body(const char *text)
{
    json_t *body = json_object();
    json_object_set_new(body, "error", json_string(text));
    return body;
}

/* The error text of a body whose error is prefix + unit x count, checked
 * to be a valid UTF-8 prefix of it, at most 2000 bytes and cut no more than
 * one character early. */
static void expect_truncated(const char *prefix, const char *unit, size_t count, size_t want_len)
{
    char *tail = repeat(unit, count);
    char *full = malloc(strlen(prefix) + strlen(tail) + 1);
    assert_non_null(full);
    strcpy(full, prefix);
    strcat(full, tail);
    struct bus_error error = {0};
    char *text = fail_text_of(error_body(full), BUS_OK, &error);
    assert_non_null(text);
    assert_int_equal(strlen(text), want_len);
    assert_true(strlen(text) <= ERROR_TEXT_MAX_BYTES);
    assert_memory_equal(text, full, strlen(text));
    json_t *valid = json_string(text); /* NULL when not valid UTF-8 */
    assert_non_null(valid);
    json_decref(valid);
    free(text);
    free(full);
    free(tail);
}

static void fail_error_absent_or_null_gives_null(void **state)
{
    (void)state;
    struct bus_error error = {0};
    assert_null(fail_text_of(parse("{}"), BUS_OK, &error));
    assert_null(fail_text_of(parse("{\"error\":null}"), BUS_OK, &error));
}

static void fail_error_must_be_a_string(void **state)
{
    (void)state;
    struct bus_error error = {0};
    fail_text_of(parse("{\"error\":{\"msg\":\"x\"}}"), BUS_ERR_INVALID_FIELD, &error);
    assert_string_equal(error.code, "invalid_error");
    fail_text_of(parse("{\"error\":5}"), BUS_ERR_INVALID_FIELD, &error);
    assert_string_equal(error.code, "invalid_error");
}

static void fail_error_short_text_is_kept(void **state)
{
    (void)state;
    struct bus_error error = {0};
    char *text = fail_text_of(error_body("disk full"), BUS_OK, &error);
    assert_string_equal(text, "disk full");
    free(text);
    expect_truncated("", "x", ERROR_TEXT_MAX_BYTES, ERROR_TEXT_MAX_BYTES);
}

static void fail_error_is_truncated_to_2000_bytes(void **state)
{
    (void)state;
    assert_int_equal(ERROR_TEXT_MAX_BYTES, 2000);
    expect_truncated("", "x", 2001, 2000);
    expect_truncated("", "x", 100000, 2000);
    expect_truncated("", E_ACUTE, 1000, 2000); /* ends on a boundary */
}

static void fail_error_truncation_never_splits_utf8(void **state)
{
    (void)state;
    expect_truncated("a", E_ACUTE, 1000, 1999); /* é straddles byte 2000 */
    expect_truncated("", EURO, 667, 1998);      /* byte 2000 is the 3rd of a € */
    expect_truncated("a", EURO, 667, 1999);     /* byte 2000 is the 2nd of a € */
    expect_truncated("ab", EURO, 667, 2000);    /* a € starts at byte 2000 */
    expect_truncated("a", GRIN, 500, 1997);     /* byte 2000 is the 4th of 4 */
    expect_truncated("", GRIN, 501, 2000);      /* 4-byte starts at byte 2000 */
}

/* ---- validate_kv_key ---------------------------------------------------- */

static void kv_key_rules(void **state)
{
    (void)state;
    char *max = repeat("k", 256);
    char *over = repeat("k", 257);
    char *max_utf8 = repeat(E_ACUTE, 128);
    char *over_utf8 = repeat(E_ACUTE, 129);
    assert_true(validate_kv_key("k"));
    assert_true(validate_kv_key("a/b c?d"));
    assert_true(validate_kv_key(max));
    assert_true(validate_kv_key(max_utf8));
    assert_false(validate_kv_key(""));
    assert_false(validate_kv_key(over));
    assert_false(validate_kv_key(over_utf8)); /* 258 bytes */
    assert_false(validate_kv_key("a\nb"));
    assert_false(validate_kv_key("a\tb"));
    assert_false(validate_kv_key("a\x7f"));
    free(max);
    free(over);
    free(max_utf8);
    free(over_utf8);
}

/* The key comes URL-decoded from the path (so "%FF" arrives as a raw byte)
 * and is echoed in the JSON reply; validate.h promises "bytes of UTF-8". */
static void kv_key_of_invalid_utf8_is_refused(void **state)
{
    (void)state;
    assert_false(validate_kv_key("\xff"));
    assert_false(validate_kv_key("caf\xc3"));
    assert_false(validate_kv_key("\xc3\x28"));
    assert_false(validate_kv_key("\x80"));
}

/* ---- validate_kv_set ---------------------------------------------------- */

static enum bus_err kv_set_of(const char *body_text, char **value, double *ttl,
                              struct bus_error *error)
{
    json_t *body = parse(body_text);
    enum bus_err err = validate_kv_set(body, value, ttl, error);
    json_decref(body);
    return err;
}

static void kv_set_value_and_default_ttl(void **state)
{
    (void)state;
    char *value = NULL;
    double ttl = 0;
    struct bus_error error = {0};
    assert_int_equal(kv_set_of("{\"value\": {\"n\": 1}}", &value, &ttl, &error), BUS_OK);
    assert_string_equal(value, "{\"n\":1}");
    assert_float_equal(ttl, 600.0, 0.0);
    free(value);
    assert_int_equal(kv_set_of("{\"value\":null,\"ttl\":null}", &value, &ttl, &error), BUS_OK);
    assert_string_equal(value, "null");
    assert_float_equal(ttl, 600.0, 0.0);
    free(value);
}

static void kv_set_requires_object_with_value(void **state)
{
    (void)state;
    const char *bodies[] = {"{}", "{\"ttl\":60}", "[1]", "\"v\"", "null"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char *value = (char *)"sentinel";
        double ttl = 0;
        struct bus_error error = {0};
        assert_int_equal(kv_set_of(bodies[i], &value, &ttl, &error), BUS_ERR_INVALID_REQUEST);
        assert_string_equal(error.code, "invalid_request");
        assert_null(value);
    }
}

static void kv_set_ttl_bounds(void **state)
{
    (void)state;
    char *value = NULL;
    double ttl = 0;
    struct bus_error error = {0};
    assert_int_equal(kv_set_of("{\"value\":1,\"ttl\":1}", &value, &ttl, &error), BUS_OK);
    assert_float_equal(ttl, 1.0, 0.0);
    free(value);
    assert_int_equal(kv_set_of("{\"value\":1,\"ttl\":86400}", &value, &ttl, &error), BUS_OK);
    assert_float_equal(ttl, 86400.0, 0.0);
    free(value);

    const char *refused[] = {"{\"value\":1,\"ttl\":0.999}", "{\"value\":1,\"ttl\":0}",
                             "{\"value\":1,\"ttl\":86400.5}", "{\"value\":1,\"ttl\":-5}",
                             "{\"value\":1,\"ttl\":\"60\"}"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        value = (char *)"sentinel";
        memset(&error, 0, sizeof error);
        assert_int_equal(kv_set_of(refused[i], &value, &ttl, &error), BUS_ERR_INVALID_FIELD);
        assert_string_equal(error.code, "invalid_ttl");
        assert_null(value);
    }
}

/* ---- validate_idempotency_key ------------------------------------------- */

static void idempotency_key_rules(void **state)
{
    (void)state;
    char *max = repeat("k", 255);
    char *over = repeat("k", 256);
    assert_true(validate_idempotency_key("k"));
    assert_true(validate_idempotency_key("order 42 ~!@#$%^&*()"));
    assert_true(validate_idempotency_key(max));
    assert_false(validate_idempotency_key(over));
    assert_false(validate_idempotency_key(""));
    assert_false(validate_idempotency_key("a\tb"));
    assert_false(validate_idempotency_key("a\x7f"));
    assert_false(validate_idempotency_key("caf" E_ACUTE));
    free(max);
    free(over);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(publish_minimal_body_gets_defaults),
        cmocka_unit_test(publish_reads_every_field),
        cmocka_unit_test(publish_null_optionals_mean_defaults),
        cmocka_unit_test(publish_accepts_null_and_scalar_payloads),
        cmocka_unit_test(publish_missing_goal_is_invalid_request),
        cmocka_unit_test(publish_missing_payload_is_invalid_request),
        cmocka_unit_test(publish_non_object_body_is_invalid_request),
        cmocka_unit_test(goal_of_1_to_256_ascii_characters_is_valid),
        cmocka_unit_test(goal_empty_or_over_256_characters_is_refused),
        cmocka_unit_test(goal_counts_code_points_not_bytes),
        cmocka_unit_test(goal_of_256_multibyte_characters_is_copied_whole),
        cmocka_unit_test(goal_that_is_not_a_string_is_refused),
        cmocka_unit_test(validate_goal_direct),
        cmocka_unit_test(priority_bounds),
        cmocka_unit_test(priority_must_be_a_json_integer),
        cmocka_unit_test(max_attempts_bounds),
        cmocka_unit_test(backoff_base_bounds),
        cmocka_unit_test(backoff_base_integer_is_read_as_number),
        cmocka_unit_test(delay_bounds),
        cmocka_unit_test(namespace_charset_and_length),
        cmocka_unit_test(namespace_is_copied),
        cmocka_unit_test(validate_namespace_direct),
        cmocka_unit_test(visibility_values),
        cmocka_unit_test(target_worker_bounds),
        cmocka_unit_test(target_worker_is_copied),
        cmocka_unit_test(required_capability_bounds),
        cmocka_unit_test(required_capability_refuses_comma_and_outer_spaces),
        cmocka_unit_test(payload_of_7168_compact_bytes_is_accepted),
        cmocka_unit_test(payload_of_7169_compact_bytes_is_too_large),
        cmocka_unit_test(payload_size_is_measured_compact),
        cmocka_unit_test(payload_size_counts_utf8_bytes),
        cmocka_unit_test(worker_id_rules),
        cmocka_unit_test(capabilities_are_split_trimmed_and_emptied),
        cmocka_unit_test(capabilities_empty_or_null_give_no_array),
        cmocka_unit_test(capability_over_128_characters_is_refused),
        cmocka_unit_test(capability_with_control_character_is_refused),
        cmocka_unit_test(capability_of_invalid_utf8_is_refused_not_internal),
        cmocka_unit_test(claim_token_missing_is_invalid_request),
        cmocka_unit_test(claim_token_of_wrong_shape_is_not_found),
        cmocka_unit_test(claim_token_of_32_lowercase_hex_is_read),
        cmocka_unit_test(extend_seconds_default_is_60),
        cmocka_unit_test(extend_seconds_bounds),
        cmocka_unit_test(fulfill_without_result_gives_null),
        cmocka_unit_test(fulfill_json_result_is_compact),
        cmocka_unit_test(fulfill_text_result_needs_a_string),
        cmocka_unit_test(fulfill_unknown_result_type_is_refused),
        cmocka_unit_test(fail_error_absent_or_null_gives_null),
        cmocka_unit_test(fail_error_must_be_a_string),
        cmocka_unit_test(fail_error_short_text_is_kept),
        cmocka_unit_test(fail_error_is_truncated_to_2000_bytes),
        cmocka_unit_test(fail_error_truncation_never_splits_utf8),
        cmocka_unit_test(kv_key_rules),
        cmocka_unit_test(kv_key_of_invalid_utf8_is_refused),
        cmocka_unit_test(kv_set_value_and_default_ttl),
        cmocka_unit_test(kv_set_requires_object_with_value),
        cmocka_unit_test(kv_set_ttl_bounds),
        cmocka_unit_test(idempotency_key_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

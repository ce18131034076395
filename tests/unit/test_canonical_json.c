/* Unit tests of bus/canonical_json: one compact, key-sorted text per JSON
 * meaning, and the scoped SHA-256 fingerprint built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bus/canonical_json.h"
#include "util/token.h"

static json_t *parse(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
    assert_non_null(value);
    return value;
}

/* The canonical text of a JSON document given as text. */
static char *canonical_of(const char *text)
{
    json_t *value = parse(text);
    char *canonical = canonical_json_dump(value);
    json_decref(value);
    assert_non_null(canonical);
    return canonical;
}

static void fingerprint_of(const char *scope, const char *text, char out[65])
{
    json_t *value = parse(text);
    assert_int_equal(canonical_json_fingerprint(scope, value, out), 0);
    json_decref(value);
}

static void key_order_and_whitespace_do_not_matter(void **state)
{
    (void)state;
    char *a = canonical_of("{\"goal\":\"x\",\"priority\":5,\"payload\":{}}");
    char *b = canonical_of("{ \"priority\" : 5,\n\t\"payload\" : { },  \"goal\" : \"x\" }");
    assert_string_equal(a, b);
    assert_string_equal(a, "{\"goal\":\"x\",\"payload\":{},\"priority\":5}");
    free(a);
    free(b);
}

static void same_meaning_gives_same_fingerprint(void **state)
{
    (void)state;
    char a[65], b[65];
    fingerprint_of("POST /intent", "{\"b\":1,\"a\":[1,2],\"c\":null}", a);
    fingerprint_of("POST /intent", "{\"c\" : null , \"a\" : [ 1 , 2 ] , \"b\" : 1}", b);
    assert_string_equal(a, b);
    assert_true(token_is_hex(a, 64));
}

static void nested_objects_are_sorted(void **state)
{
    (void)state;
    char *text = canonical_of("{\"z\":{\"y\":{\"b\":2,\"a\":1},\"x\":[{\"d\":4,\"c\":3}]},\"a\":0}");
    assert_string_equal(text, "{\"a\":0,\"z\":{\"x\":[{\"c\":3,\"d\":4}],\"y\":{\"a\":1,\"b\":2}}}");
    free(text);
}

static void arrays_keep_their_order(void **state)
{
    (void)state;
    char *a = canonical_of("[3,1,2]");
    char *b = canonical_of("[1,2,3]");
    assert_string_equal(a, "[3,1,2]");
    assert_string_not_equal(a, b);
    free(a);
    free(b);

    char fa[65], fb[65];
    fingerprint_of("POST /intent", "{\"list\":[\"a\",\"b\"]}", fa);
    fingerprint_of("POST /intent", "{\"list\":[\"b\",\"a\"]}", fb);
    assert_string_not_equal(fa, fb);
}

static void scalars_are_canonical_too(void **state)
{
    (void)state;
    char *text = canonical_of("  \"hi\"  ");
    assert_string_equal(text, "\"hi\"");
    free(text);
    text = canonical_of("null");
    assert_string_equal(text, "null");
    free(text);
}

static void escaped_and_literal_strings_agree(void **state)
{
    (void)state;
    char *a = canonical_of("{\"k\":\"\\u00e9\"}");
    char *b = canonical_of("{\"k\":\"\xc3\xa9\"}");
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void different_values_give_different_fingerprints(void **state)
{
    (void)state;
    char a[65], b[65], c[65];
    fingerprint_of("POST /intent", "{\"goal\":\"x\",\"priority\":5}", a);
    fingerprint_of("POST /intent", "{\"goal\":\"x\",\"priority\":6}", b);
    fingerprint_of("POST /intent", "{\"goal\":\"x\",\"priority\":\"5\"}", c);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, c);
}

static void different_scopes_give_different_fingerprints(void **state)
{
    (void)state;
    char a[65], b[65];
    fingerprint_of("POST /intent", "{\"value\":1}", a);
    fingerprint_of("POST /set/k", "{\"value\":1}", b);
    assert_string_not_equal(a, b);
}

static void fingerprint_is_sha256_of_scope_newline_canonical(void **state)
{
    (void)state;
    char got[65], want[65];
    fingerprint_of("POST /intent", "{ \"b\": 2, \"a\": 1 }", got);
    const char joined[] = "POST /intent\n{\"a\":1,\"b\":2}";
    token_sha256_hex(joined, strlen(joined), want);
    assert_string_equal(got, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_order_and_whitespace_do_not_matter),
        cmocka_unit_test(same_meaning_gives_same_fingerprint),
        cmocka_unit_test(nested_objects_are_sorted),
        cmocka_unit_test(arrays_keep_their_order),
        cmocka_unit_test(scalars_are_canonical_too),
        cmocka_unit_test(escaped_and_literal_strings_agree),
        cmocka_unit_test(different_values_give_different_fingerprints),
        cmocka_unit_test(different_scopes_give_different_fingerprints),
        cmocka_unit_test(fingerprint_is_sha256_of_scope_newline_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

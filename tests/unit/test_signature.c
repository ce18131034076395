/* Unit tests of auth/signature: percent-encoding, the canonical path and
 * query, the string to sign, the HMAC (RFC 4231 vectors and digests made
 * independently with `openssl dgst -sha256 -hmac`), and signature_verify(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/signature.h"

/* The worked example of docs/SIGNING.md. The digest comes from:
 *   printf '%s\n%s\n%s\n%s\n%s' POST '/claim?goal=send_notification&namespace=default' \
 *     1795424655 c5a1e0b94d2f4a7e8b3c6d9f01a2b3c4 '{}' \
 *     | openssl dgst -sha256 -hmac tk_example_key_7f3a -r | cut -d' ' -f1 */
#define EXAMPLE_KEY "tk_example_key_7f3a"
#define EXAMPLE_URL "/claim?goal=send_notification&namespace=default"
#define EXAMPLE_TIME 1795424655.0
#define EXAMPLE_TIMESTAMP "1795424655"
#define EXAMPLE_NONCE "c5a1e0b94d2f4a7e8b3c6d9f01a2b3c4"
#define EXAMPLE_DIGEST "c3d5e1245b3e34bab697a9a9de8ec5af177633f95da3891d340fea4bf4f33035"

static struct signature_request example_request(void)
{
    return (struct signature_request){
        .method = "POST",
        .canonical_path = EXAMPLE_URL,
        .timestamp = EXAMPLE_TIMESTAMP,
        .nonce = EXAMPLE_NONCE,
        .body = "{}",
        .body_len = 2,
    };
}

static struct signature_param param(const char *key, const char *value)
{
    return (struct signature_param){key, strlen(key), value, value ? strlen(value) : 0};
}

static void assert_encodes(const char *text, size_t len, const char *expected)
{
    char *encoded = signature_percent_encode(text, len);
    assert_non_null(encoded);
    assert_string_equal(encoded, expected);
    free(encoded);
}

static void assert_query(const struct signature_param *params, size_t count, const char *expected)
{
    char *query = signature_canonical_query(params, count);
    assert_non_null(query);
    assert_string_equal(query, expected);
    free(query);
}

static void assert_path_from_url(const char *url, const char *expected)
{
    char *path = signature_canonical_path_from_url(url);
    assert_non_null(path);
    assert_string_equal(path, expected);
    free(path);
}

/* HMAC-SHA256 */

static void hmac_matches_rfc4231_case_2(void **state)
{
    (void)state;
    static const char data[] = "what do ya want for nothing?";
    char out[SIGNATURE_HEX_LEN + 1];
    signature_hmac_hex("Jefe", 4, data, sizeof data - 1, out);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void hmac_matches_rfc4231_case_6_with_a_key_longer_than_a_block(void **state)
{
    (void)state;
    static const char data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    unsigned char key[131];
    memset(key, 0xaa, sizeof key);
    char out[SIGNATURE_HEX_LEN + 1];
    signature_hmac_hex(key, sizeof key, data, sizeof data - 1, out);
    assert_string_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void hmac_accepts_an_empty_key(void **state)
{
    (void)state;
    /* python3: hmac.new(b'', b'GET\n/\n1\nn\n', hashlib.sha256).hexdigest() */
    struct signature_request request = {"GET", "/", "1", "n", NULL, 0};
    char out[SIGNATURE_HEX_LEN + 1];
    assert_true(signature_compute_hex("", 0, &request, out));
    assert_string_equal(out, "56ba270fed7376f2819a0a2bce8ab8cbc779e00b2d5d671c68cf5b27150af545");
}

/* Percent-encoding */

static void percent_encode_keeps_unreserved(void **state)
{
    (void)state;
    static const char unreserved[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    assert_encodes(unreserved, sizeof unreserved - 1, unreserved);
    assert_encodes("", 0, "");
}

static void percent_encode_table(void **state)
{
    (void)state;
    assert_encodes(" ", 1, "%20");
    assert_encodes("/", 1, "%2F");
    assert_encodes("~", 1, "~");
    assert_encodes("\xc3\xa9", 2, "%C3%A9"); /* é in UTF-8 */
    assert_encodes("%", 1, "%25");
    assert_encodes("+", 1, "%2B");
    assert_encodes("&=?#", 4, "%26%3D%3F%23");
    assert_encodes("a\0b", 3, "a%00b");
    assert_encodes("\xff\n", 2, "%FF%0A");
}

/* Canonical query */

static void query_sorts_by_key(void **state)
{
    (void)state;
    struct signature_param params[] = {param("namespace", "default"), param("goal", "x"),
                                       param("b", "2"), param("a", "1")};
    assert_query(params, 4, "a=1&b=2&goal=x&namespace=default");
}

/* A stable sort by key, as the original server's: repeated keys keep the
 * order they were sent in. */
static void query_keeps_repeated_keys_in_sent_order(void **state)
{
    (void)state;
    struct signature_param params[] = {param("tag", "b"), param("x", "1"), param("tag", "a"),
                                       param("tag", "b")};
    assert_query(params, 4, "tag=b&tag=a&tag=b&x=1");
}

/* Keys compare by their decoded bytes, not their encoding: "~" (0x7E) stays
 * as it is and "\xc3\xa9" becomes "%C3%A9", yet the decoded 0xC3 sorts
 * after 0x7E, as Python's code point order puts "é" after "~". */
static void query_sorts_by_decoded_key(void **state)
{
    (void)state;
    struct signature_param params[] = {param("\xc3\xa9", "1"), param("~", "2")};
    assert_query(params, 2, "~=2&%C3%A9=1");
}

static void query_keeps_blank_values_and_signs_no_equals_as_blank(void **state)
{
    (void)state;
    struct signature_param params[] = {param("c", NULL), param("b", "2"), param("a", ""),
                                       param("a", "1")};
    assert_query(params, 4, "a=&a=1&b=2&c=");
}

static void query_sorts_by_key_alone(void **state)
{
    (void)state;
    /* By key first: "a" before "a-b" although "a-b=1" < "a=2" as whole pairs. */
    struct signature_param params[] = {param("a-b", "1"), param("a", "2"), param("a b", "/")};
    assert_query(params, 3, "a=2&a%20b=%2F&a-b=1");
}

static void query_leaves_out_empty_parts_only(void **state)
{
    (void)state;
    struct signature_param params[] = {param("", NULL), param("k", "v"), param("", "v"),
                                       param("", "")};
    assert_query(params, 4, "=v&=&k=v"); /* the two empty keys as sent */
}

static void query_of_nothing_is_empty(void **state)
{
    (void)state;
    assert_query(NULL, 0, "");
    struct signature_param empty_part = param("", NULL);
    assert_query(&empty_part, 1, "");
}

static void query_encodes_bytes_after_a_nul(void **state)
{
    (void)state;
    struct signature_param with_nul = {"k", 1, "a\0b", 3};
    assert_query(&with_nul, 1, "k=a%00b");
}

/* Canonical path */

static void path_encodes_segments_and_keeps_slashes(void **state)
{
    (void)state;
    char *path = signature_canonical_path("/set/a b", NULL, 0);
    assert_string_equal(path, "/set/a%20b");
    free(path);
    path = signature_canonical_path("/claim", NULL, 0);
    assert_string_equal(path, "/claim");
    free(path);
    path = signature_canonical_path("/get/caf\xc3\xa9+x~", NULL, 0);
    assert_string_equal(path, "/get/caf%C3%A9%2Bx~");
    free(path);
}

static void path_adds_the_query_only_when_there_is_one(void **state)
{
    (void)state;
    struct signature_param params[] = {param("namespace", "default"),
                                       param("goal", "send_notification")};
    char *path = signature_canonical_path("/claim", params, 2);
    assert_string_equal(path, EXAMPLE_URL);
    free(path);
    struct signature_param empty_part = param("", NULL);
    path = signature_canonical_path("/claim", &empty_part, 1);
    assert_string_equal(path, "/claim");
    free(path);
}

/* Parsing a raw query */

static void parse_splits_and_decodes(void **state)
{
    (void)state;
    static const char raw[] = "b=2&a=1&a=&c&k%3Dx=v%26w&sp=a+b%2B&x+y";
    struct signature_query query;
    assert_true(signature_query_parse(raw, sizeof raw - 1, &query));
    assert_int_equal(query.count, 7);
    assert_string_equal(query.params[0].key, "b");
    assert_string_equal(query.params[0].value, "2");
    assert_string_equal(query.params[1].key, "a");
    assert_string_equal(query.params[1].value, "1");
    assert_string_equal(query.params[2].key, "a");
    assert_string_equal(query.params[2].value, "");
    assert_int_equal(query.params[2].value_len, 0);
    assert_string_equal(query.params[3].key, "c");
    assert_null(query.params[3].value);
    assert_string_equal(query.params[4].key, "k=x");
    assert_string_equal(query.params[4].value, "v&w");
    assert_string_equal(query.params[5].value, "a b+");
    assert_int_equal(query.params[5].value_len, 4);
    assert_string_equal(query.params[6].key, "x y");
    assert_null(query.params[6].value);
    signature_query_free(&query);
}

static void parse_skips_empty_parts_and_splits_on_the_first_equals(void **state)
{
    (void)state;
    static const char raw[] = "&&a=b=c&&=v&";
    struct signature_query query;
    assert_true(signature_query_parse(raw, sizeof raw - 1, &query));
    assert_int_equal(query.count, 2);
    assert_string_equal(query.params[0].key, "a");
    assert_string_equal(query.params[0].value, "b=c");
    assert_int_equal(query.params[1].key_len, 0);
    assert_string_equal(query.params[1].value, "v");
    signature_query_free(&query);

    assert_true(signature_query_parse("", 0, &query));
    assert_int_equal(query.count, 0);
    signature_query_free(&query);
}

static void parse_keeps_malformed_escapes_and_decoded_nuls(void **state)
{
    (void)state;
    static const char raw[] = "%zz=%2&p=%&n=a%00b&h=%4a%4A";
    struct signature_query query;
    assert_true(signature_query_parse(raw, sizeof raw - 1, &query));
    assert_int_equal(query.count, 4);
    assert_string_equal(query.params[0].key, "%zz");
    assert_string_equal(query.params[0].value, "%2");
    assert_string_equal(query.params[1].value, "%");
    assert_int_equal(query.params[2].value_len, 3);
    assert_memory_equal(query.params[2].value, "a\0b", 3);
    assert_string_equal(query.params[3].value, "JJ");
    signature_query_free(&query);

    /* Only len bytes are read: an escape cut short by the end stays literal. */
    assert_true(signature_query_parse("a=%41", 4, &query));
    assert_int_equal(query.params[0].value_len, 2);
    assert_memory_equal(query.params[0].value, "%4", 2);
    signature_query_free(&query);
}

/* Canonical path from a URL */

static void url_is_canonicalized(void **state)
{
    (void)state;
    assert_path_from_url("/claim?namespace=default&goal=send_notification", EXAMPLE_URL);
    assert_path_from_url(EXAMPLE_URL, EXAMPLE_URL);
    assert_path_from_url("/claim", "/claim");
    assert_path_from_url("/claim?", "/claim");
    assert_path_from_url("/claim?&", "/claim");
    assert_path_from_url("/x?b=2&a=1&a=&c", "/x?a=1&a=&b=2&c=");
    assert_path_from_url("/x?q=hello%20world&q=a+b&r=%2f%7e", "/x?q=hello%20world&q=a%20b&r=%2F~");
}

/* The original server signs the decoded path as it is, the query as usual. */
static void original_path_leaves_the_path_unencoded(void **state)
{
    (void)state;
    struct signature_param params[] = {param("b", "x y"), param("a", "1")};
    char *path = signature_original_path("/set/caf\xc3\xa9 a+b", params, 2);
    assert_non_null(path);
    assert_string_equal(path, "/set/caf\xc3\xa9 a+b?a=1&b=x%20y");
    free(path);
    assert_true(signature_path_needs_encoding("/set/a b"));
    assert_true(signature_path_needs_encoding("/set/x+y"));
    assert_false(signature_path_needs_encoding("/claim"));
    assert_false(signature_path_needs_encoding("/set/a-b_c.d~e/f"));
}

static void url_path_is_decoded_then_encoded(void **state)
{
    (void)state;
    assert_path_from_url("/set/a%20b", "/set/a%20b");
    assert_path_from_url("/set/a b", "/set/a%20b");
    assert_path_from_url("/set/a+b", "/set/a%2Bb"); /* "+" is a plus in a path */
    assert_path_from_url("/get/a%2fb", "/get/a/b"); /* the server sees "/get/a/b" too */
    assert_path_from_url("/get/caf%c3%a9", "/get/caf%C3%A9");
    assert_path_from_url("/get/100%", "/get/100%25");
    assert_path_from_url("/claim?goal=x#fragment", "/claim?goal=x");
    assert_path_from_url("/claim#?goal=x", "/claim");
    assert_path_from_url("", "");
}

/* The string to sign */

static void string_to_sign_joins_the_five_fields(void **state)
{
    (void)state;
    struct signature_request request = example_request();
    request.method = "post";
    size_t len = 0;
    char *text = signature_string_to_sign(&request, &len);
    static const char expected[] =
        "POST\n" EXAMPLE_URL "\n" EXAMPLE_TIMESTAMP "\n" EXAMPLE_NONCE "\n{}";
    assert_int_equal(len, sizeof expected - 1);
    assert_memory_equal(text, expected, len);
    assert_int_equal(text[len], '\0');
    free(text);
}

static void string_to_sign_keeps_body_bytes_after_a_nul(void **state)
{
    (void)state;
    struct signature_request request = {"PUT", "/set/a%20b", "1795424655", "nonce", "a\0b", 3};
    size_t len = 0;
    char *text = signature_string_to_sign(&request, &len);
    static const char expected[] = "PUT\n/set/a%20b\n1795424655\nnonce\na\0b";
    assert_int_equal(len, sizeof expected - 1);
    assert_memory_equal(text, expected, len);
    free(text);

    /* python3: hmac.new(b'k', b'PUT\n/set/a%20b\n1795424655\nnonce\na\x00b', sha256) */
    char out[SIGNATURE_HEX_LEN + 1];
    assert_true(signature_compute_hex("k", 1, &request, out));
    assert_string_equal(out, "fb16c7911005a1eeb10e5afe90109206696e890757069b820f79a7d66351bedd");
}

static void string_to_sign_of_an_empty_body_ends_with_a_newline(void **state)
{
    (void)state;
    struct signature_request request = {"GET", "/health", "1", "n", NULL, 0};
    size_t len = 0;
    char *text = signature_string_to_sign(&request, &len);
    assert_int_equal(len, strlen("GET\n/health\n1\nn\n"));
    assert_string_equal(text, "GET\n/health\n1\nn\n");
    free(text);
}

/* The worked example and a second one from openssl */

static void worked_example_digest(void **state)
{
    (void)state;
    char *canonical =
        signature_canonical_path_from_url("/claim?namespace=default&goal=send_notification");
    struct signature_request request = example_request();
    request.canonical_path = canonical;
    char out[SIGNATURE_HEX_LEN + 1];
    assert_true(signature_compute_hex(EXAMPLE_KEY, strlen(EXAMPLE_KEY), &request, out));
    assert_string_equal(out, EXAMPLE_DIGEST);
    free(canonical);
}

static void empty_body_digest(void **state)
{
    (void)state;
    /* printf '%s\n%s\n%s\n%s\n%s' GET /result/0123456789abcdef0123456789abcdef \
     *   1795424655.25 n-0001 '' | openssl dgst -sha256 -hmac tk_example_key_7f3a -r */
    struct signature_request request = {
        "GET", "/result/0123456789abcdef0123456789abcdef", "1795424655.25", "n-0001", "", 0};
    char out[SIGNATURE_HEX_LEN + 1];
    assert_true(signature_compute_hex(EXAMPLE_KEY, strlen(EXAMPLE_KEY), &request, out));
    assert_string_equal(out, "a2a06abd707aec453b31e5bfea0491d04b1e56fd0c4060e0c30d4c62c282f5eb");
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, out, 1795424655.0), SIGNATURE_OK);
}

/* signature_verify */

static void verify_accepts_the_worked_example(void **state)
{
    (void)state;
    struct signature_request request = example_request();
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_OK);
    request.method = "post"; /* the method is signed uppercase */
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_OK);
}

static void verify_refuses_tampering(void **state)
{
    (void)state;
    struct signature_request request = example_request();
    request.body = "{ }";
    request.body_len = 3;
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);

    request = example_request();
    request.body_len = 0;
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);

    request = example_request();
    request.canonical_path = "/claim?goal=send_notification&namespace=other";
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);

    request = example_request();
    request.method = "PUT";
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);

    request = example_request();
    request.nonce = "c5a1e0b94d2f4a7e8b3c6d9f01a2b3c5";
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);

    request = example_request();
    request.timestamp = "1795424656";
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);
}

static void verify_refuses_a_wrong_key(void **state)
{
    (void)state;
    struct signature_request request = example_request();
    assert_int_equal(
        signature_verify("tk_example_key_7f3b", &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
        SIGNATURE_MISMATCH);
    assert_int_equal(signature_verify("", &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);
}

static void verify_refuses_malformed_digests(void **state)
{
    (void)state;
    struct signature_request request = example_request();
    static const char upper[] = "C3D5E1245B3E34BAB697A9A9DE8EC5AF177633F95DA3891D340FEA4BF4F33035";
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, upper, EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, "", EXAMPLE_TIME), SIGNATURE_MISMATCH);
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST "0", EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);
    char truncated[SIGNATURE_HEX_LEN];
    memcpy(truncated, EXAMPLE_DIGEST, SIGNATURE_HEX_LEN - 1);
    truncated[SIGNATURE_HEX_LEN - 1] = '\0';
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, truncated, EXAMPLE_TIME),
                     SIGNATURE_MISMATCH);
}

static void verify_needs_every_header(void **state)
{
    (void)state;
    struct signature_request request = example_request();
    request.timestamp = NULL;
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISSING_HEADERS);
    request = example_request();
    request.nonce = NULL;
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISSING_HEADERS);
    request = example_request();
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, NULL, EXAMPLE_TIME),
                     SIGNATURE_MISSING_HEADERS);
    assert_int_equal(signature_verify(NULL, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_MISSING_HEADERS);
    request.timestamp = NULL;
    request.nonce = NULL;
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, NULL, EXAMPLE_TIME),
                     SIGNATURE_MISSING_HEADERS);
}

static void verify_window_is_300_seconds_either_way(void **state)
{
    (void)state;
    struct signature_request request = example_request();
    const char *key = EXAMPLE_KEY;
    assert_int_equal(signature_verify(key, &request, EXAMPLE_DIGEST, EXAMPLE_TIME + 301),
                     SIGNATURE_STALE_TIMESTAMP); /* 301 s old */
    assert_int_equal(signature_verify(key, &request, EXAMPLE_DIGEST, EXAMPLE_TIME - 301),
                     SIGNATURE_STALE_TIMESTAMP); /* 301 s ahead */
    assert_int_equal(signature_verify(key, &request, EXAMPLE_DIGEST, EXAMPLE_TIME + 300.5),
                     SIGNATURE_STALE_TIMESTAMP);
    assert_int_equal(signature_verify(key, &request, EXAMPLE_DIGEST, EXAMPLE_TIME + 299),
                     SIGNATURE_OK);
    assert_int_equal(signature_verify(key, &request, EXAMPLE_DIGEST, EXAMPLE_TIME - 299),
                     SIGNATURE_OK);
    assert_int_equal(signature_verify(key, &request, EXAMPLE_DIGEST, EXAMPLE_TIME + 300),
                     SIGNATURE_OK);
    assert_int_equal(signature_verify(key, &request, EXAMPLE_DIGEST, EXAMPLE_TIME - 300),
                     SIGNATURE_OK);
}

static void verify_checks_the_timestamp_before_the_digest(void **state)
{
    (void)state;
    struct signature_request request = example_request();
    request.timestamp = "soon";
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_BAD_TIMESTAMP);
    request.timestamp = "";
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_BAD_TIMESTAMP);
}

static void timestamp_accepts_integer_and_fractional_seconds(void **state)
{
    (void)state;
    double seconds = 0;
    assert_true(signature_parse_timestamp("1795424655", &seconds));
    assert_true(seconds == 1795424655.0);
    assert_true(signature_parse_timestamp("1795424655.25", &seconds));
    assert_true(seconds == 1795424655.25);
    assert_true(signature_parse_timestamp("0", &seconds));
    assert_true(seconds == 0.0);
    assert_true(signature_parse_timestamp("01795424655.2512345", &seconds));
    assert_true(seconds > 1795424655.25 && seconds < 1795424655.26);
}

static void timestamp_refuses_garbage(void **state)
{
    (void)state;
    static const char *const garbage[] = {"",
                                          "abc",
                                          "-1795424655",
                                          "+1795424655",
                                          "1.795424655e9",
                                          " 1795424655",
                                          "1795424655 ",
                                          "1795424655.",
                                          ".25",
                                          "0x6b040e8f",
                                          "1795424655.2.5",
                                          "1795424655,25",
                                          "inf",
                                          "nan",
                                          "1795424655\n",
                                          "1234567890123456",
                                          "1795424655.123456789012345678901234"};
    double seconds = 0;
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        if (signature_parse_timestamp(garbage[i], &seconds))
            fail_msg("accepted timestamp \"%s\"", garbage[i]);
    }
    assert_false(signature_parse_timestamp(NULL, &seconds));
}

static void nonce_rules(void **state)
{
    (void)state;
    char nonce[SIGNATURE_NONCE_MAX_LEN + 2];
    memset(nonce, 'n', sizeof nonce);
    nonce[SIGNATURE_NONCE_MAX_LEN] = '\0';
    assert_true(signature_nonce_is_valid(nonce)); /* 128 bytes */
    nonce[SIGNATURE_NONCE_MAX_LEN] = 'n';
    nonce[SIGNATURE_NONCE_MAX_LEN + 1] = '\0';
    assert_false(signature_nonce_is_valid(nonce)); /* 129 bytes */

    assert_true(signature_nonce_is_valid("x"));
    assert_true(signature_nonce_is_valid("!~AZaz09-_.:/+=\"{}"));
    assert_false(signature_nonce_is_valid(""));
    assert_false(signature_nonce_is_valid(NULL));
    assert_false(signature_nonce_is_valid("a b"));
    assert_false(signature_nonce_is_valid("a\tb"));
    assert_false(signature_nonce_is_valid("a\nb"));
    assert_false(signature_nonce_is_valid("a\x7f"));
    assert_false(signature_nonce_is_valid("caf\xc3\xa9"));
}

static void verify_reports_bad_nonces(void **state)
{
    (void)state;
    struct signature_request request = example_request();
    request.nonce = "";
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_BAD_NONCE);
    request.nonce = "two words";
    assert_int_equal(signature_verify(EXAMPLE_KEY, &request, EXAMPLE_DIGEST, EXAMPLE_TIME),
                     SIGNATURE_BAD_NONCE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hmac_matches_rfc4231_case_2),
        cmocka_unit_test(hmac_matches_rfc4231_case_6_with_a_key_longer_than_a_block),
        cmocka_unit_test(hmac_accepts_an_empty_key),
        cmocka_unit_test(percent_encode_keeps_unreserved),
        cmocka_unit_test(percent_encode_table),
        cmocka_unit_test(query_sorts_by_key),
        cmocka_unit_test(query_keeps_repeated_keys_in_sent_order),
        cmocka_unit_test(query_sorts_by_decoded_key),
        cmocka_unit_test(query_keeps_blank_values_and_signs_no_equals_as_blank),
        cmocka_unit_test(query_sorts_by_key_alone),
        cmocka_unit_test(query_leaves_out_empty_parts_only),
        cmocka_unit_test(query_of_nothing_is_empty),
        cmocka_unit_test(query_encodes_bytes_after_a_nul),
        cmocka_unit_test(path_encodes_segments_and_keeps_slashes),
        cmocka_unit_test(path_adds_the_query_only_when_there_is_one),
        cmocka_unit_test(parse_splits_and_decodes),
        cmocka_unit_test(parse_skips_empty_parts_and_splits_on_the_first_equals),
        cmocka_unit_test(parse_keeps_malformed_escapes_and_decoded_nuls),
        cmocka_unit_test(url_is_canonicalized),
        cmocka_unit_test(original_path_leaves_the_path_unencoded),
        cmocka_unit_test(url_path_is_decoded_then_encoded),
        cmocka_unit_test(string_to_sign_joins_the_five_fields),
        cmocka_unit_test(string_to_sign_keeps_body_bytes_after_a_nul),
        cmocka_unit_test(string_to_sign_of_an_empty_body_ends_with_a_newline),
        cmocka_unit_test(worked_example_digest),
        cmocka_unit_test(empty_body_digest),
        cmocka_unit_test(verify_accepts_the_worked_example),
        cmocka_unit_test(verify_refuses_tampering),
        cmocka_unit_test(verify_refuses_a_wrong_key),
        cmocka_unit_test(verify_refuses_malformed_digests),
        cmocka_unit_test(verify_needs_every_header),
        cmocka_unit_test(verify_window_is_300_seconds_either_way),
        cmocka_unit_test(verify_checks_the_timestamp_before_the_digest),
        cmocka_unit_test(timestamp_accepts_integer_and_fractional_seconds),
        cmocka_unit_test(timestamp_refuses_garbage),
        cmocka_unit_test(nonce_rules),
        cmocka_unit_test(verify_reports_bad_nonces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

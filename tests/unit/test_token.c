/* Unit tests of bus/token: random hex identifiers, the constant-time string
 * compare, the lowercase-hex shape check and the SHA-256 hex digest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/token.h"

static bool all_lowercase_hex(const char *s)
{
    for (; *s; s++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    }
    return true;
}

static void random_hex_has_two_chars_per_byte(void **state)
{
    (void)state;
    char out[65];
    memset(out, 'X', sizeof out);
    assert_true(token_random_hex(out, 16));
    assert_int_equal(strlen(out), 32);
    assert_true(all_lowercase_hex(out));

    assert_true(token_random_hex(out, 32));
    assert_int_equal(strlen(out), 64);
    assert_true(all_lowercase_hex(out));

    assert_true(token_random_hex(out, 1));
    assert_int_equal(strlen(out), 2);
    assert_true(all_lowercase_hex(out));
}

static void time_ordered_hex_starts_with_the_milliseconds(void **state)
{
    (void)state;
    char out[33];
    /* 1795392000.123 s = 1795392000123 ms = 0x01a205b3d07b */
    assert_true(token_time_ordered_hex(out, 16, 1795392000.123));
    assert_int_equal(strlen(out), 32);
    assert_true(all_lowercase_hex(out));
    assert_memory_equal(out, "01a205b3d07b", 12);
}

static void time_ordered_hex_sorts_by_time_and_differs_within_a_millisecond(void **state)
{
    (void)state;
    char first[33], second[33], later[33];
    assert_true(token_time_ordered_hex(first, 16, 1795392000.0));
    assert_true(token_time_ordered_hex(second, 16, 1795392000.0));
    assert_true(token_time_ordered_hex(later, 16, 1795392000.002));
    assert_string_not_equal(first, second);
    assert_true(strcmp(first, later) < 0 && strcmp(second, later) < 0);
}

static void time_ordered_hex_refuses_too_few_bytes(void **state)
{
    (void)state;
    char out[33] = "unchanged";
    assert_false(token_time_ordered_hex(out, TOKEN_TIME_BYTES - 1, 1.0));
    assert_string_equal(out, "");
}

static void random_hex_calls_differ(void **state)
{
    (void)state;
    char a[33], b[33];
    assert_true(token_random_hex(a, 16));
    assert_true(token_random_hex(b, 16));
    assert_string_not_equal(a, b);
}

static void random_hex_uses_every_digit(void **state)
{
    (void)state;
    /* 200 tokens of 32 digits: every one of the 16 digits must show up. */
    bool seen[16] = {false};
    char out[33];
    for (int i = 0; i < 200; i++) {
        assert_true(token_random_hex(out, 16));
        for (const char *c = out; *c; c++)
            seen[*c <= '9' ? *c - '0' : *c - 'a' + 10] = true;
    }
    for (int i = 0; i < 16; i++)
        assert_true(seen[i]);
}

static void equal_strings_compare_equal(void **state)
{
    (void)state;
    assert_true(token_equal("0123456789abcdef", "0123456789abcdef"));
    assert_true(token_equal("", ""));
}

static void different_strings_compare_different(void **state)
{
    (void)state;
    assert_false(token_equal("0123456789abcdef", "0123456789abcdee"));
    assert_false(token_equal("1123456789abcdef", "0123456789abcdef"));
    assert_false(token_equal("abc", "ABC"));
}

static void different_lengths_compare_different(void **state)
{
    (void)state;
    assert_false(token_equal("abc", "abcd"));
    assert_false(token_equal("abcd", "abc"));
    assert_false(token_equal("", "a"));
}

static void is_hex_accepts_lowercase_hex_of_exact_length(void **state)
{
    (void)state;
    assert_true(token_is_hex("0123456789abcdef", 16));
    assert_true(token_is_hex("00000000000000000000000000000000", 32));
    assert_true(token_is_hex("", 0));
}

static void is_hex_refuses_wrong_length(void **state)
{
    (void)state;
    assert_false(token_is_hex("0123456789abcdef", 15));
    assert_false(token_is_hex("0123456789abcdef", 17));
    assert_false(token_is_hex("", 32));
}

static void is_hex_refuses_non_hex(void **state)
{
    (void)state;
    assert_false(token_is_hex("0123456789ABCDEF", 16));
    assert_false(token_is_hex("0123456789abcdeg", 16));
    assert_false(token_is_hex("0123456789abcde ", 16));
    assert_false(token_is_hex("g", 1));
}

static void sha256_of_abc(void **state)
{
    (void)state;
    char out[65];
    token_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void sha256_of_empty_input(void **state)
{
    (void)state;
    char out[65];
    token_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void sha256_covers_bytes_after_a_nul(void **state)
{
    (void)state;
    char a[65], b[65];
    token_sha256_hex("a\0b", 3, a);
    token_sha256_hex("a\0c", 3, b);
    assert_string_not_equal(a, b);
    assert_true(token_is_hex(a, 64));
}

/* Every single-bit difference, at every place (whole words and the tail
 * past them), is seen; equal bytes are equal. */
static void bytes_equal_sees_every_bit(void **state)
{
    (void)state;
    unsigned char a[29], b[29];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = b[i] = (unsigned char)(i * 37 + 1);
    for (size_t size = 0; size <= sizeof a; size++)
        assert_true(token_bytes_equal(a, b, size));
    for (size_t i = 0; i < sizeof a; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            assert_false(token_bytes_equal(a, b, sizeof a));
            assert_true(token_bytes_equal(a, b, i)); /* the bytes before it */
            b[i] ^= (unsigned char)(1u << bit);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_equal_sees_every_bit),
        cmocka_unit_test(random_hex_has_two_chars_per_byte),
        cmocka_unit_test(random_hex_calls_differ),
        cmocka_unit_test(time_ordered_hex_starts_with_the_milliseconds),
        cmocka_unit_test(time_ordered_hex_sorts_by_time_and_differs_within_a_millisecond),
        cmocka_unit_test(time_ordered_hex_refuses_too_few_bytes),
        cmocka_unit_test(random_hex_uses_every_digit),
        cmocka_unit_test(equal_strings_compare_equal),
        cmocka_unit_test(different_strings_compare_different),
        cmocka_unit_test(different_lengths_compare_different),
        cmocka_unit_test(is_hex_accepts_lowercase_hex_of_exact_length),
        cmocka_unit_test(is_hex_refuses_wrong_length),
        cmocka_unit_test(is_hex_refuses_non_hex),
        cmocka_unit_test(sha256_of_abc),
        cmocka_unit_test(sha256_of_empty_input),
        cmocka_unit_test(sha256_covers_bytes_after_a_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

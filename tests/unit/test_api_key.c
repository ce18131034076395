/* Unit tests of auth/api_key with the main key (no store needed): the
 * digest cache (a key's second use) answers exactly as the first use, and
 * never lets a near miss through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/api_key.h"
#include "util/token.h"

static const char main_key[] = "main-key-of-the-test-0123456789";

static enum bus_err authenticate(const struct auth *auth, const char *key,
                                 struct principal *caller)
{
    struct bus_error error = {0};
    memset(caller, 0, sizeof *caller);
    return auth_authenticate(auth, key, caller, &error);
}

static void the_main_key_passes_every_time(void **state)
{
    (void)state;
    struct auth auth;
    auth_init(&auth, main_key, NULL);
    char digest[PRINCIPAL_LEN + 1];
    token_sha256_hex(main_key, strlen(main_key), digest);
    for (int i = 0; i < 10; i++) { /* the first misses the cache, the rest hit */
        struct principal caller;
        assert_int_equal(authenticate(&auth, main_key, &caller), BUS_OK);
        assert_string_equal(caller.id, digest);
        assert_string_equal(caller.label, "main");
        assert_false(caller.is_tester);
    }
}

static void near_misses_are_refused_after_a_hit(void **state)
{
    (void)state;
    struct auth auth;
    auth_init(&auth, main_key, NULL);
    struct principal caller;
    assert_int_equal(authenticate(&auth, main_key, &caller), BUS_OK);
    char wrong[sizeof main_key];
    memcpy(wrong, main_key, sizeof main_key);
    wrong[sizeof main_key - 2] ^= 1; /* the last character */
    static const char *others[] = {"main-key-of-the-test-012345678", /* a prefix */
                                   "main-key-of-the-test-01234567890", "m", "x"};
    for (int round = 0; round < 3; round++) { /* each also cached after its first try */
        assert_int_equal(authenticate(&auth, wrong, &caller), BUS_ERR_UNAUTHORIZED);
        for (size_t i = 0; i < sizeof others / sizeof *others; i++)
            assert_int_equal(authenticate(&auth, others[i], &caller), BUS_ERR_UNAUTHORIZED);
        assert_int_equal(authenticate(&auth, main_key, &caller), BUS_OK);
    }
    assert_int_equal(authenticate(&auth, "", &caller), BUS_ERR_UNAUTHORIZED);
    assert_int_equal(authenticate(&auth, NULL, &caller), BUS_ERR_UNAUTHORIZED);
}

static void a_long_key_is_hashed_not_cached(void **state)
{
    (void)state;
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    struct auth auth;
    auth_init(&auth, long_key, NULL);
    struct principal caller;
    for (int i = 0; i < 3; i++)
        assert_int_equal(authenticate(&auth, long_key, &caller), BUS_OK);
    long_key[200] = 'j'; /* beyond the cache's bytes: must still differ */
    assert_int_equal(authenticate(&auth, long_key, &caller), BUS_ERR_UNAUTHORIZED);
}

static void another_main_key_is_not_answered_from_the_cache(void **state)
{
    (void)state;
    struct auth first, second;
    auth_init(&first, main_key, NULL);
    auth_init(&second, "another-main-key", NULL);
    struct principal caller;
    assert_int_equal(authenticate(&first, main_key, &caller), BUS_OK);
    /* The cache holds digests, not verdicts: the same key, cached, is
     * still checked against this auth's own main key. */
    assert_int_equal(authenticate(&second, main_key, &caller), BUS_ERR_UNAUTHORIZED);
    assert_int_equal(authenticate(&second, "another-main-key", &caller), BUS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_main_key_passes_every_time),
        cmocka_unit_test(near_misses_are_refused_after_a_hit),
        cmocka_unit_test(a_long_key_is_hashed_not_cached),
        cmocka_unit_test(another_main_key_is_not_answered_from_the_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of bus/webhook_target: notify_url parsing, the allow-list
 * patterns, the private-address rule, and of bus/webhook_send's
 * signature (checked against a known HMAC-SHA256). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "bus/webhook_send.h"
#include "bus/webhook_target.h"

static struct webhook_policy *policy_of(const char *allow, bool allow_private)
{
    char why[256];
    struct webhook_policy *policy = webhook_policy_new(allow, allow_private, why, sizeof why);
    assert_non_null(policy);
    return policy;
}

static const char *check(const struct webhook_policy *policy, const char *url)
{
    static struct bus_error error;
    struct webhook_url parsed;
    return webhook_policy_check(policy, url, &parsed, &error) == BUS_OK ? "ok" : error.code;
}

static void urls_parse(void **state)
{
    (void)state;
    struct webhook_url url;
    const char *why = NULL;
    assert_true(webhook_url_parse("https://Hooks.Example.com/a?b=c", &url, &why));
    assert_string_equal(url.host, "hooks.example.com");
    assert_int_equal(url.port, 443);
    assert_true(url.https);
    assert_false(url.host_is_ip);
    assert_true(webhook_url_parse("http://[2001:db8::1]:8080", &url, &why));
    assert_string_equal(url.host, "2001:db8::1");
    assert_int_equal(url.port, 8080);
    assert_true(url.host_is_ip);
    static const char *bad[] = {"ftp://x/",        "http://",      "http:///x",   "http://a:0/",
                                "http://a:65536/", "http://u@a/",  "http://a b/", "http://[::1/",
                                "http://a:b/",     "http://a::1/", "HTTP://a/",   "//a/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(webhook_url_parse(bad[i], &url, &why));
}

static void patterns_match_host_and_port(void **state)
{
    (void)state;
    struct webhook_policy *policy =
        policy_of(" hooks.example.com , *.example.org:*, api.example.net:8443", false);
    assert_string_equal(check(policy, "https://hooks.example.com/x"), "ok");
    assert_string_equal(check(policy, "http://hooks.example.com/x"), "ok");
    assert_string_equal(check(policy, "https://hooks.example.com:8443/x"), "webhook_not_allowed");
    assert_string_equal(check(policy, "https://a.b.example.org:1234/x"), "ok");
    assert_string_equal(check(policy, "https://example.org/x"), "webhook_not_allowed");
    assert_string_equal(check(policy, "https://api.example.net:8443/x"), "ok");
    assert_string_equal(check(policy, "https://api.example.net/x"), "webhook_not_allowed");
    assert_string_equal(check(policy, "https://evil.com/x"), "webhook_not_allowed");
    assert_string_equal(check(policy, "https://hooks.example.com.evil.com/x"),
                        "webhook_not_allowed");
    assert_string_equal(check(policy, "gopher://hooks.example.com/x"), "invalid_notify_url");
    assert_string_equal(check(NULL, "https://hooks.example.com/x"), "webhook_not_allowed");
    webhook_policy_free(policy);
    char why[256];
    assert_null(webhook_policy_new("a.com:x", false, why, sizeof why));
    assert_null(webhook_policy_new("a.com:99999", false, why, sizeof why));
    assert_null(webhook_policy_new("a/b", false, why, sizeof why));
}

static void private_literals_need_an_explicit_pattern(void **state)
{
    (void)state;
    struct webhook_policy *wild = policy_of("*:*", false);
    static const char *refused[] = {"http://127.0.0.1/",
                                    "http://127.8.9.10/",
                                    "http://10.0.0.1/",
                                    "http://172.16.0.1/",
                                    "http://172.31.255.255/",
                                    "http://192.168.1.1/",
                                    "http://169.254.169.254/",
                                    "http://100.64.0.1/",
                                    "http://0.0.0.0/",
                                    "http://224.0.0.1/",
                                    "http://255.255.255.255/",
                                    "http://198.19.1.1/",
                                    "http://192.0.0.8/",
                                    "http://240.0.0.1/",
                                    "http://[::1]/",
                                    "http://[::]/",
                                    "http://[fe80::1]/",
                                    "http://[fc00::1]/",
                                    "http://[fd12:3456::1]/",
                                    "http://[ff02::1]/",
                                    "http://[::ffff:10.0.0.1]/",
                                    "http://localhost/",
                                    "http://api.localhost/"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        assert_string_equal(check(wild, refused[i]), "webhook_not_allowed");
    static const char *public_ones[] = {"http://8.8.8.8/",           "http://172.32.0.1/",
                                        "http://[2001:4860::8888]/", "http://100.128.0.1/",
                                        "http://[::ffff:8.8.8.8]/",  "http://198.20.0.1/",
                                        "http://223.255.255.255/"};
    for (size_t i = 0; i < sizeof public_ones / sizeof *public_ones; i++)
        assert_string_equal(check(wild, public_ones[i]), "ok");
    webhook_policy_free(wild);

    struct webhook_policy *literal = policy_of("127.0.0.1:*, [::1]:8080", false);
    assert_string_equal(check(literal, "http://127.0.0.1:9999/"), "ok");
    assert_string_equal(check(literal, "http://[0:0::1]:8080/"), "ok");
    assert_string_equal(check(literal, "http://127.0.0.2:9999/"), "webhook_not_allowed");
    webhook_policy_free(literal);

    struct webhook_policy *open = policy_of("*:*", true);
    assert_string_equal(check(open, "http://10.0.0.1/"), "ok");
    webhook_policy_free(open);
}

static void resolved_addresses_are_checked(void **state)
{
    (void)state;
    struct webhook_policy *policy = policy_of("*:*", false);
    struct webhook_url target;
    struct bus_error error;
    assert_int_equal(webhook_policy_check(policy, "http://hooks.example.com/", &target, &error),
                     BUS_OK);
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
    assert_false(webhook_policy_address_ok(policy, &target, (struct sockaddr *)&v4));
    inet_pton(AF_INET, "93.184.216.34", &v4.sin_addr);
    assert_true(webhook_policy_address_ok(policy, &target, (struct sockaddr *)&v4));
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:169.254.169.254", &v6.sin6_addr);
    assert_false(webhook_policy_address_ok(policy, &target, (struct sockaddr *)&v6));
    webhook_policy_free(policy);
}

static void signatures_are_stripe_style(void **state)
{
    (void)state;
    char header[WEBHOOK_SIGNATURE_MAX];
    /* python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec",b"1700000000.{\"a\":1}",
     *            hashlib.sha256).hexdigest())' */
    webhook_sign("whsec", 1700000000, "{\"a\":1}", header);
    assert_string_equal(
        header, "t=1700000000,v1=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(urls_parse),
        cmocka_unit_test(patterns_match_host_and_port),
        cmocka_unit_test(private_literals_need_an_explicit_pattern),
        cmocka_unit_test(resolved_addresses_are_checked),
        cmocka_unit_test(signatures_are_stripe_style),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

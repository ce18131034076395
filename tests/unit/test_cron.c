/* Unit tests of bus/cron: parsing (every field form, names, shorthands, and
 * the errors), and fire times against a table of known answers, including
 * the 2026 DST changes of Europe/Berlin (29 March 02:00 CET -> 03:00 CEST,
 * 25 October 03:00 CEST -> 02:00 CET) and the day-of-month/day-of-week OR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/cron.h"
#include "util/zone.h"

/* "2026-03-29T01:30:00Z" -> Unix seconds. */
static int64_t utc(const char *iso)
{
    struct tm tm = {0};
    int matched = sscanf(iso, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                         &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
    assert_int_equal(matched, 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static void iso(int64_t instant, char out[32])
{
    time_t when = (time_t)instant;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct case_row {
    const char *expression;
    const char *zone;
    const char *after;
    const char *expected[4]; /* successive fire times; NULL ends */
};

static const struct case_row cases[] = {
    {"*/5 * * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", NULL}},
    {"*/5 * * * *", "UTC", "2026-01-01T00:02:30Z", {"2026-01-01T00:05:00Z", NULL}},
    {"* * * * *", "UTC", "2026-01-01T00:00:59Z", {"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}},
    {"0 9 * * mon-fri",
     "UTC",
     "2026-01-02T09:00:00Z", /* a Friday */
     {"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z", NULL}},
    {"0 0 1,15 * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z", NULL}},
    /* both day fields restricted: either matches */
    {"0 0 13 * fri",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", NULL}},
    /* day-of-month starts with '*': both must match (odd days that are Fridays) */
    {"0 0 */2 * fri",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-09T00:00:00Z", "2026-01-23T00:00:00Z", NULL}},
    {"0 12 1 jan,JUL *",
     "UTC",
     "2026-02-01T00:00:00Z",
     {"2026-07-01T12:00:00Z", "2027-01-01T12:00:00Z", NULL}},
    {"0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", NULL}},
    {"0 0 * * sun", "UTC", "2026-01-04T00:00:00Z", {"2026-01-11T00:00:00Z", NULL}},
    {"10-20/5 * * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z", "2026-01-01T00:20:00Z",
      "2026-01-01T01:10:00Z"}},
    {"5/20 * * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z",
      "2026-01-01T01:05:00Z"}},
    {"0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", {"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
    {"0 0 31 * *", "UTC", "2026-04-01T00:00:00Z", {"2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"}},
    {"59 23 31 12 *",
     "UTC",
     "2026-06-01T00:00:00Z",
     {"2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"}},
    {"@hourly", "UTC", "2026-01-01T00:30:00Z", {"2026-01-01T01:00:00Z", NULL}},
    {"@daily", "America/New_York", "2026-01-01T00:00:00Z", {"2026-01-01T05:00:00Z", NULL}},
    {"@weekly", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", NULL}},
    {"@monthly", "UTC", "2026-01-01T00:00:00Z", {"2026-02-01T00:00:00Z", NULL}},
    {"@yearly", "UTC", "2026-01-01T00:00:00Z", {"2027-01-01T00:00:00Z", NULL}},
    {"0 8 * * *",
     "Asia/Kolkata",
     "2026-01-01T00:00:00Z", /* +05:30 */
     {"2026-01-01T02:30:00Z", "2026-01-02T02:30:00Z", NULL}},
    /* Berlin, winter and summer time */
    {"0 9 * * *", "Europe/Berlin", "2026-01-10T00:00:00Z", {"2026-01-10T08:00:00Z", NULL}},
    {"0 9 * * *", "Europe/Berlin", "2026-06-10T00:00:00Z", {"2026-06-10T07:00:00Z", NULL}},
    /* spring forward: 02:30 does not exist on 29 March and is not run */
    {"30 2 * * *",
     "Europe/Berlin",
     "2026-03-28T00:00:00Z",
     {"2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z", NULL}},
    /* a wildcard job goes from 01:30 CET straight to 03:00 CEST */
    {"*/30 * * * *",
     "Europe/Berlin",
     "2026-03-29T00:15:00Z",
     {"2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z", NULL}},
    {"0 * * * *",
     "Europe/Berlin",
     "2026-03-29T00:00:00Z",
     {"2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z", NULL}},
    /* fall back: a fixed 02:30 runs once, at its first (summer-time) pass */
    {"30 2 * * *",
     "Europe/Berlin",
     "2026-10-24T12:00:00Z",
     {"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", NULL}},
    /* ... even when asked from inside the first pass */
    {"45 2 * * *", "Europe/Berlin", "2026-10-25T00:50:00Z", {"2026-10-26T01:45:00Z", NULL}},
    /* wildcard jobs run in both passes of the repeated hour */
    {"*/30 * * * *",
     "Europe/Berlin",
     "2026-10-25T00:00:00Z",
     {"2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z",
      "2026-10-25T02:00:00Z"}},
    {"0 * * * *",
     "Europe/Berlin",
     "2026-10-24T23:30:00Z",
     {"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z", NULL}},
    {"15 2 * * *",
     "Europe/Berlin",
     "2026-10-25T01:20:00Z", /* in the second pass */
     {"2026-10-26T01:15:00Z", NULL}},
    /* New York: spring forward at 02:00 -> 03:00, fall back 02:00 -> 01:00 */
    {"30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", {"2026-03-09T06:30:00Z", NULL}},
    {"30 1 * * *",
     "America/New_York",
     "2026-10-31T12:00:00Z",
     {"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", NULL}},
};

static void fire_times_match_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cron_spec spec;
        char why[160];
        if (!cron_parse(cases[i].expression, &spec, why, sizeof why))
            fail_msg("%s: %s", cases[i].expression, why);
        int64_t at = utc(cases[i].after);
        for (int k = 0; k < 4 && cases[i].expected[k] != NULL; k++) {
            int64_t next = 0;
            char got[32];
            assert_true(cron_next(&spec, cases[i].zone, at, &next));
            iso(next, got);
            if (strcmp(got, cases[i].expected[k]) != 0)
                fail_msg("'%s' in %s after %s: got %s, expected %s (#%d)", cases[i].expression,
                         cases[i].zone, cases[i].after, got, cases[i].expected[k], k);
            at = next;
        }
    }
}

static void impossible_dates_never_fire(void **state)
{
    (void)state;
    struct cron_spec spec;
    char why[160];
    int64_t next;
    assert_true(cron_parse("0 0 30 2 *", &spec, why, sizeof why));
    assert_false(cron_next(&spec, "UTC", utc("2026-01-01T00:00:00Z"), &next));
    assert_true(cron_parse("0 0 31 4,6,9,11 *", &spec, why, sizeof why));
    assert_false(cron_next(&spec, "UTC", utc("2026-01-01T00:00:00Z"), &next));
}

static void next_is_strictly_after(void **state)
{
    (void)state;
    struct cron_spec spec;
    char why[160];
    int64_t next;
    assert_true(cron_parse("* * * * *", &spec, why, sizeof why));
    for (int64_t at = utc("2026-10-25T00:00:00Z"); at < utc("2026-10-25T02:30:00Z"); at += 37) {
        assert_true(cron_next(&spec, "Europe/Berlin", at, &next));
        assert_true(next > at);
        assert_true(next - at <= 60);
        assert_int_equal(next % 60, 0);
    }
}

static void fields_parse_into_sets(void **state)
{
    (void)state;
    struct cron_spec spec;
    char why[160];
    assert_true(cron_parse("1,2,59 0-3/2 1 jan-mar mon,WED,fri", &spec, why, sizeof why));
    assert_true(spec.minutes == ((1ULL << 1) | (1ULL << 2) | (1ULL << 59)));
    assert_int_equal(spec.hours, (1u << 0) | (1u << 2));
    assert_int_equal(spec.days, 1u << 1);
    assert_int_equal(spec.months, (1u << 1) | (1u << 2) | (1u << 3));
    assert_int_equal(spec.weekdays, (1u << 1) | (1u << 3) | (1u << 5));
    assert_false(spec.days_star);
    assert_false(spec.wildcard_time);
    assert_true(cron_parse("0 *\t* * 0,7", &spec, why, sizeof why));
    assert_int_equal(spec.weekdays, 1u);
    assert_true(spec.days_star);
    assert_true(spec.wildcard_time);
    assert_true(cron_parse("  @Daily ", &spec, why, sizeof why) == false); /* no padding */
    assert_true(cron_parse("@daily", &spec, why, sizeof why));
    assert_int_equal(spec.hours, 1u);
}

static void bad_expressions_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * 0 *",
        "* * * * 8",
        "*/0 * * * *",
        "5-1 * * * *",
        "foo * * * *",
        "* * * jan-foo *",
        "1,,2 * * * *",
        ",1 * * * *",
        "1, * * * *",
        "@reboot",
        "*/ * * * *",
        "1-2-3 * * * *",
        "* * * * monday",
        "-1 * * * *",
        "1- * * * *",
        "*/100 * * * *",
        "99999999999 * * * *",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cron_spec spec;
        char why[160] = "";
        if (cron_parse(bad[i], &spec, why, sizeof why))
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(why[0] != '\0');
    }
    char long_text[CRON_EXPRESSION_MAX + 10];
    memset(long_text, '1', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    struct cron_spec spec;
    char why[160];
    assert_false(cron_parse(long_text, &spec, why, sizeof why));
}

static void zones_are_checked_against_tzdata(void **state)
{
    (void)state;
    assert_true(zone_valid("UTC"));
    assert_true(zone_valid("Europe/Berlin"));
    assert_true(zone_valid("America/Argentina/Buenos_Aires"));
    assert_false(zone_valid("Europe/Nowhere"));
    assert_false(zone_valid("../../etc/passwd"));
    assert_false(zone_valid("/etc/localtime"));
    assert_false(zone_valid(""));
    assert_false(zone_valid("Europe"));
    long offset;
    assert_true(zone_offset("Europe/Berlin", utc("2026-01-01T00:00:00Z"), &offset));
    assert_int_equal(offset, 3600);
    assert_true(zone_offset("Europe/Berlin", utc("2026-07-01T00:00:00Z"), &offset));
    assert_int_equal(offset, 7200);
}

int main(void)
{
    zone_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fire_times_match_the_table),
        cmocka_unit_test(impossible_dates_never_fire),
        cmocka_unit_test(next_is_strictly_after),
        cmocka_unit_test(fields_parse_into_sets),
        cmocka_unit_test(bad_expressions_are_refused),
        cmocka_unit_test(zones_are_checked_against_tzdata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

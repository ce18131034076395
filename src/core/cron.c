/* Cron expressions: parsing into bit sets, then the next fire time found by
 * walking wall-clock time (pure calendar arithmetic) and mapping each
 * matching wall time to the real instants that show it in the zone: none in
 * a spring-forward gap, two in a fall-back fold. See cron.h for the rules. */
#include "core/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/zone.h"

#define SECONDS_PER_DAY 86400
#define SEARCH_YEARS 30
/* Zones move their clocks by at most 2 hours at once (Troll, Antarctica);
 * a fold is looked for that far ahead. */
#define FOLD_LOOKAHEAD (3 * 3600)

struct field {
    const char *label;
    int min;
    int max;
    const char *const *names; /* names[i] is value min + i; NULL = numbers only */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const weekday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, weekday_names}, /* 7 is Sunday too */
};

static const struct {
    const char *name;
    const char *expression;
} shorthands[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static bool fail(char *why, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *why, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(why, size, format, args);
    va_end(args);
    return false;
}

/* A number or (where the field has them) a three-letter name; advances *text. */
static bool parse_value(const struct field *field, const char **text, int *value)
{
    const char *s = *text;
    if (isdigit((unsigned char)*s)) {
        long number = 0;
        while (isdigit((unsigned char)*s) && number < 1000)
            number = number * 10 + (*s++ - '0');
        *value = (int)number;
        *text = s;
        return !isdigit((unsigned char)*s);
    }
    for (int i = 0; field->names != NULL && field->names[i] != NULL; i++) {
        if (strncasecmp(s, field->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
            *value = field->min + i;
            *text = s + 3;
            return true;
        }
    }
    return false;
}

/* One list item: "*", "a", "a-b", each optionally followed by "/step"
 * ("a/step" runs from a to the field's maximum). */
static bool parse_item(const struct field *field, const char *item, uint64_t *bits, char *why,
                       size_t size)
{
    int low = field->min, high = field->max, step = 1;
    const char *s = item;
    if (*s == '*') {
        s++;
    } else {
        if (!parse_value(field, &s, &low))
            return fail(why, size, "%s field: '%s' is not a value", field->label, item);
        high = low;
        if (*s == '-' && (s++, !parse_value(field, &s, &high)))
            return fail(why, size, "%s field: '%s' is not a range", field->label, item);
        if (*s == '/' && high == low && strchr(item, '-') == NULL)
            high = field->max;
    }
    if (*s == '/') {
        s++;
        if (!isdigit((unsigned char)*s) || !parse_value(&fields[0], &s, &step) || step < 1 ||
            step > field->max)
            return fail(why, size, "%s field: '%s' has no valid step", field->label, item);
    }
    if (*s != '\0')
        return fail(why, size, "%s field: '%s' is not understood", field->label, item);
    if (low < field->min || high > field->max)
        return fail(why, size, "%s field: '%s' is outside %d-%d", field->label, item, field->min,
                    field->max);
    if (low > high)
        return fail(why, size, "%s field: range '%s' runs backwards", field->label, item);
    for (int value = low; value <= high; value += step)
        *bits |= 1ULL << value;
    return true;
}

static bool parse_field(const struct field *field, const char *text, uint64_t *bits, char *why,
                        size_t size)
{
    char copy[CRON_EXPRESSION_MAX + 1];
    snprintf(copy, sizeof copy, "%s", text);
    *bits = 0;
    char *saveptr = NULL;
    for (char *item = strtok_r(copy, ",", &saveptr); item; item = strtok_r(NULL, ",", &saveptr))
        if (!parse_item(field, item, bits, why, size))
            return false;
    if (*bits == 0 || text[strlen(text) - 1] == ',' || text[0] == ',' || strstr(text, ",,"))
        return fail(why, size, "%s field: '%s' is not a list", field->label, text);
    return true;
}

static const char *expand_shorthand(const char *expression)
{
    for (size_t i = 0; i < sizeof shorthands / sizeof shorthands[0]; i++)
        if (strcasecmp(expression, shorthands[i].name) == 0)
            return shorthands[i].expression;
    return expression;
}

/* Splits on spaces and tabs into at most five fields; returns how many
 * there are (6 when there are more). */
static int split_fields(char *text, char *parts[5])
{
    int count = 0;
    char *saveptr = NULL;
    for (char *part = strtok_r(text, " \t", &saveptr); part;
         part = strtok_r(NULL, " \t", &saveptr)) {
        if (count == 5)
            return 6;
        parts[count++] = part;
    }
    return count;
}

bool cron_parse(const char *expression, struct cron_spec *out, char *why, size_t size)
{
    memset(out, 0, sizeof *out);
    if (expression == NULL || strlen(expression) > CRON_EXPRESSION_MAX)
        return fail(why, size, "cron must be at most %d characters", CRON_EXPRESSION_MAX);
    if (expression[0] == '@' && expand_shorthand(expression) == expression)
        return fail(why, size, "'%s' is not a known shorthand", expression);
    char text[CRON_EXPRESSION_MAX + 1];
    snprintf(text, sizeof text, "%s", expand_shorthand(expression));
    char *parts[5] = {NULL};
    int count = split_fields(text, parts);
    if (count > 5)
        return fail(why, size, "a cron expression has 5 fields, this has more");
    if (count < 5)
        return fail(why, size, "a cron expression has 5 fields, this has %d", count);
    uint64_t bits[5];
    for (int i = 0; i < 5; i++)
        if (!parse_field(&fields[i], parts[i], &bits[i], why, size))
            return false;
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->days = (uint32_t)bits[2];
    out->months = (uint32_t)bits[3];
    out->weekdays = (uint32_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 -> Sunday */
    out->days_star = parts[2][0] == '*';
    out->weekdays_star = parts[4][0] == '*';
    out->wildcard_time = parts[0][0] == '*' || parts[1][0] == '*';
    return true;
}

/* ---- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = floor_div(year, 400);
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = floor_div(days, 146097);
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

static int weekday_of(int64_t days)
{
    return (int)(((days % 7) + 11) % 7);
} /* 1970-01-01: Thu */

static bool day_matches(const struct cron_spec *spec, int64_t days, int day)
{
    bool by_date = spec->days >> day & 1;
    bool by_weekday = spec->weekdays >> weekday_of(days) & 1;
    if (spec->days_star || spec->weekdays_star)
        return by_date && by_weekday;
    return by_date || by_weekday;
}

/* The first wall-clock minute at or after `wall` (local seconds, as if the
 * zone were UTC) that the spec matches, no later than limit. */
static bool next_wall_match(const struct cron_spec *spec, int64_t wall, int64_t limit, int64_t *out)
{
    wall = floor_div(wall + 59, 60) * 60;
    while (wall <= limit) {
        int64_t days = floor_div(wall, SECONDS_PER_DAY);
        int64_t second_of_day = wall - days * SECONDS_PER_DAY;
        int64_t year;
        int month, day;
        civil_from_days(days, &year, &month, &day);
        int hour = (int)(second_of_day / 3600), minute = (int)(second_of_day % 3600 / 60);
        if (!(spec->months >> month & 1))
            wall =
                days_from_civil(month == 12 ? year + 1 : year, month % 12 + 1, 1) * SECONDS_PER_DAY;
        else if (!day_matches(spec, days, day))
            wall = (days + 1) * SECONDS_PER_DAY;
        else if (!(spec->hours >> hour & 1))
            wall = days * SECONDS_PER_DAY + (hour + 1) * 3600;
        else if (!(spec->minutes >> minute & 1))
            wall += 60;
        else {
            *out = wall;
            return true;
        }
    }
    return false;
}

/* The real instants whose local time in zone is `wall`, earliest first:
 * none (a gap), one, or two (a fold). Real zones change offset at most
 * once within a day, so the offsets a day either side are the only ones. */
static int wall_instants(const char *zone, int64_t wall, int64_t instants[2], bool *failed)
{
    long offsets[2];
    if (!zone_offset(zone, wall - SECONDS_PER_DAY, &offsets[0]) ||
        !zone_offset(zone, wall + SECONDS_PER_DAY, &offsets[1])) {
        *failed = true;
        return 0;
    }
    if (offsets[0] < offsets[1]) { /* the larger offset gives the earlier instant */
        long swap = offsets[0];
        offsets[0] = offsets[1];
        offsets[1] = swap;
    }
    int count = 0;
    for (int i = 0; i < (offsets[0] == offsets[1] ? 1 : 2); i++) {
        long actual;
        int64_t instant = wall - offsets[i];
        if (!zone_offset(zone, instant, &actual)) {
            *failed = true;
            return 0;
        }
        if (actual == offsets[i])
            instants[count++] = instant;
    }
    return count;
}

bool cron_next(const struct cron_spec *spec, const char *zone, int64_t after, int64_t *next)
{
    long offset_now, offset_ahead;
    if (!zone_offset(zone, after, &offset_now) ||
        !zone_offset(zone, after + FOLD_LOOKAHEAD, &offset_ahead))
        return false;
    /* In the first pass of a fold, the second pass's wall times lie before
     * the current one: start the walk that much earlier. */
    int64_t fold = offset_now > offset_ahead ? offset_now - offset_ahead : 0;
    int64_t wall = floor_div(after + offset_now, 60) * 60 + 60 - fold;
    int64_t limit = wall + (int64_t)SEARCH_YEARS * 366 * SECONDS_PER_DAY;
    int64_t best = 0, best_wall = 0;
    bool found = false, failed = false;
    while (!failed && next_wall_match(spec, wall, limit, &wall)) {
        if (found && wall > best_wall + fold)
            break; /* later wall times cannot give an earlier instant */
        int64_t instants[2];
        int count = wall_instants(zone, wall, instants, &failed);
        for (int i = 0; i < count; i++) {
            bool repeat = i == 1; /* the second pass of a fold */
            if (instants[i] <= after || (repeat && !spec->wildcard_time))
                continue;
            if (!found || instants[i] < best) {
                if (!found)
                    best_wall = wall;
                best = instants[i];
                found = true;
            }
        }
        wall += 60;
    }
    if (found)
        *next = best;
    return found && !failed;
}

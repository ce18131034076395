/* Cron expressions: the five fields of crontab(5) (minute hour
 * day-of-month month day-of-week), with ranges, steps, lists, month and
 * weekday names and the @hourly ... @yearly shorthands, and the fire times
 * they give in a named time zone.
 *
 * Semantics, as Vixie cron's:
 * - When day-of-month and day-of-week are both restricted (neither field
 *   starts with '*'), a day matches if either does; otherwise both must.
 * - A wall-clock time skipped by a spring-forward does not exist and is
 *   not run (a 02:30 job does not run on that day in Europe/Berlin).
 * - A wall-clock time repeated by a fall-back runs once, at its first
 *   occurrence, unless the minute or hour field starts with '*' (as
 *   Debian's cron tells "wildcard" jobs from fixed-time ones): those run at
 *   every real minute that matches, in both passes. */
#ifndef CORE_CRON_H
#define CORE_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_EXPRESSION_MAX 256

struct cron_spec {
    uint64_t minutes;  /* bit m: minute m, 0-59 */
    uint32_t hours;    /* bit h: 0-23 */
    uint32_t days;     /* bit d: day of month 1-31 */
    uint32_t months;   /* bit m: 1-12 */
    uint32_t weekdays; /* bit d: 0-6, Sunday = 0 */
    bool days_star;    /* day-of-month field starts with '*' */
    bool weekdays_star;
    bool wildcard_time; /* minute or hour field starts with '*' */
};

/* Parses expression into *out. false with a message in why (for an
 * invalid_cron error) when it is not a valid expression. */
bool cron_parse(const char *expression, struct cron_spec *out, char *why, size_t why_size);

/* The first fire time strictly after `after` (Unix seconds), in zone (an
 * IANA name valid by zone_valid()). false when there is none within 30
 * years (e.g. "0 0 30 2 *") or the zone cannot be read. */
bool cron_next(const struct cron_spec *spec, const char *zone, int64_t after, int64_t *next);

#endif

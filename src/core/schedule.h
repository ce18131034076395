/* The schedule model: a named, recurring publish of one intent template,
 * owned by the API key that made it. Shared by the bus and every store. */
#ifndef CORE_SCHEDULE_H
#define CORE_SCHEDULE_H

#include <stdbool.h>

#include "core/cron.h"
#include "core/intent.h"
#include "util/zone.h"

#define SCHEDULE_ID_LEN 32    /* hex */
#define SCHEDULE_NAME_MAX 128 /* A-Z a-z 0-9 . - _ : */
#define SCHEDULE_EVERY_MAX (366.0 * 86400.0)
#define SCHEDULE_NEXT_RUNS 5     /* fire times shown by GET /schedules */
#define SCHEDULE_RECENT_FIRES 20 /* fire records shown by GET /schedules/<name> */
/* Fire records are kept this long: they only need to outlive any node's
 * view of the occurrence they make unique. */
#define SCHEDULE_FIRE_RETENTION 86400.0

struct schedule {
    char id[SCHEDULE_ID_LEN + 1];
    char name[SCHEDULE_NAME_MAX + 1];
    char owner[PRINCIPAL_LEN + 1];
    char cron[CRON_EXPRESSION_MAX + 1]; /* "" when `every` is used */
    double every;                       /* seconds; 0 when `cron` is used */
    char timezone[ZONE_NAME_MAX + 1];
    char *intent_json; /* owned: the intent template as given */
    bool overlap_skip; /* else "allow" */
    bool catch_up_one; /* else "none" */
    bool paused;
    long open_limit; /* the owner's open-intent cap; 0 = none (main key) */
    long revision;   /* bumped by every change of definition or state */
    double next_at;  /* first occurrence not handled yet; NAN = never */
    double created_at;
    double updated_at;
    long fires;
    long skips;
    double last_fire_at; /* NAN = never fired */
    char last_intent_id[INTENT_ID_LEN + 1];
};

void schedule_clear(struct schedule *schedule);

/* What became of one occurrence. */
enum schedule_outcome {
    SCHEDULE_FIRED,           /* its intent was published */
    SCHEDULE_SKIPPED_OVERLAP, /* overlap "skip" and the previous intent still open or claimed */
    SCHEDULE_SKIPPED_LIMIT,   /* the owner is at its open-intent cap */
    SCHEDULE_SKIPPED_REVOKED, /* the owner is a tester key that was revoked */
    SCHEDULE_ALREADY_HANDLED, /* another node or an earlier tick took it, or the schedule changed */
};

const char *schedule_outcome_name(enum schedule_outcome outcome);

/* One record of schedule_fires: an occurrence and what became of it. */
struct schedule_fire_record {
    double fire_at;
    char outcome[24];
    char intent_id[INTENT_ID_LEN + 1]; /* "" when nothing was published */
    double recorded_at;
};

#endif

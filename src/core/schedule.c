/* The schedule model's helpers. */
#include "core/schedule.h"

#include <stdlib.h>

void schedule_clear(struct schedule *schedule)
{
    free(schedule->intent_json);
    schedule->intent_json = NULL;
}

const char *schedule_outcome_name(enum schedule_outcome outcome)
{
    switch (outcome) {
    case SCHEDULE_FIRED:
        return "fired";
    case SCHEDULE_SKIPPED_OVERLAP:
        return "skipped_overlap";
    case SCHEDULE_SKIPPED_LIMIT:
        return "skipped_limit";
    case SCHEDULE_SKIPPED_REVOKED:
        return "skipped_revoked";
    case SCHEDULE_ALREADY_HANDLED:
        break;
    }
    return "already_handled";
}

/* Recurring schedules (docs/PROTOCOL-EXTENSIONS.md): their API operations
 * and the tick that publishes due occurrences. A schedule belongs to the
 * key that made it; callers that may see every schedule (the main key,
 * admin credentials) pass all = true.
 *
 * Occurrences: each one that falls due while a bus is running is
 * published (or skipped by overlap "skip" or the owner's open-intent cap)
 * exactly once. Occurrences that fell due before this bus started watching
 * (it was down), by more than SCHEDULE_MISSED_GRACE, are "missed": catch_up "one" publishes the latest of them
 * once, "none" skips them all. A paused schedule's occurrences are not
 * published, and resuming does not catch them up. */
#ifndef BUS_SCHEDULES_H
#define BUS_SCHEDULES_H

#include <jansson.h>

#include "bus/bus.h"
#include "core/schedule.h"

/* POST /schedules: 201 created, or 200 replacing the caller's schedule of
 * that name. Body fields and their invalid_<field> errors as documented. */
enum bus_err bus_schedule_put(struct bus *bus, const struct principal *caller, const json_t *body,
                              struct bus_reply *reply, struct bus_error *error);

/* GET /schedules: {"schedules": [...]}, each with next_runs. */
enum bus_err bus_schedule_list(struct bus *bus, const struct principal *caller, bool all,
                               struct bus_reply *reply, struct bus_error *error);

/* GET /schedules/<name>: the schedule with next_runs and recent_fires. */
enum bus_err bus_schedule_show(struct bus *bus, const struct principal *caller, bool all,
                               const char *name, struct bus_reply *reply, struct bus_error *error);

/* POST /schedules/<name>/pause and /resume. */
enum bus_err bus_schedule_pause(struct bus *bus, const struct principal *caller, bool all,
                                const char *name, bool paused, struct bus_reply *reply,
                                struct bus_error *error);

/* A schedule as the API shows it, with next_runs (new reference). */
json_t *bus_schedule_json(const struct schedule *schedule);

/* DELETE /schedules/<name>. */
enum bus_err bus_schedule_delete(struct bus *bus, const struct principal *caller, bool all,
                                 const char *name, struct bus_reply *reply,
                                 struct bus_error *error);

/* Occurrences less than this many seconds older than watching_since are
 * still on time: another node that was running already had them in hand
 * (it ticks every second), and a bus restarted within that is not "down". */
#define SCHEDULE_MISSED_GRACE 2.0

/* Publishes every due occurrence at `now`; watching_since is when this bus
 * started watching schedules (what fell due more than SCHEDULE_MISSED_GRACE
 * earlier is missed). Returns BUS_OK, or the first store error (the rest is
 * tried at the next tick). */
enum bus_err bus_schedules_tick(struct bus *bus, double now, double watching_since);

#endif

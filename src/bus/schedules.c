/* Recurring schedules: validation of a definition (the intent template by
 * validate_publish(), the same rules as POST /intent), the replies, and the
 * tick that turns due occurrences into store steps. See schedules.h. */
#include "bus/schedules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/token.h"
#include "bus/validate.h"
#include "util/clock.h"

/* A missed stretch longer than this many occurrences is counted as this
 * many (an `every: 1` schedule down for a year). */
#define MISSED_COUNT_MAX 100000
/* On-time occurrences published per schedule and tick, so one schedule
 * cannot hold the tick; the rest follow at the next tick. */
#define STEPS_PER_TICK 100

/* ---- fire times ------------------------------------------------------------ */

/* The first occurrence strictly after `after`; NAN when there is none. */
static double next_occurrence(const struct schedule *schedule, double after)
{
    if (schedule->every > 0)
        return (floor(after / schedule->every) + 1) * schedule->every;
    struct cron_spec spec;
    char why[8];
    int64_t next;
    if (!cron_parse(schedule->cron, &spec, why, sizeof why) ||
        !cron_next(&spec, schedule->timezone, (int64_t)floor(after), &next))
        return NAN;
    return (double)next;
}

static json_t *next_runs(const struct schedule *schedule)
{
    json_t *runs = json_array();
    double at = schedule->next_at;
    for (int i = 0; runs && !schedule->paused && !isnan(at) && i < SCHEDULE_NEXT_RUNS; i++) {
        json_array_append_new(runs, json_real(at));
        at = next_occurrence(schedule, at);
    }
    return runs;
}

/* ---- validation ------------------------------------------------------------ */

static bool valid_name(const char *name)
{
    size_t length = name ? strlen(name) : 0;
    if (length == 0 || length > SCHEDULE_NAME_MAX)
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") ==
           length;
}

static enum bus_err read_timing(const json_t *body, struct schedule *out, struct bus_error *error)
{
    const json_t *cron = json_object_get(body, "cron");
    const json_t *every = json_object_get(body, "every");
    if ((cron == NULL) == (every == NULL) || json_is_null(cron) || json_is_null(every))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_cron",
                             "give either cron (a 5-field expression) or every (seconds)");
    if (every != NULL) {
        double seconds = json_number_value(every);
        if (!json_is_number(every) || seconds != floor(seconds) || seconds < 1 ||
            seconds > SCHEDULE_EVERY_MAX)
            return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_every",
                                 "every must be a whole number of seconds from 1 to %.0f",
                                 SCHEDULE_EVERY_MAX);
        out->every = seconds;
        return BUS_OK;
    }
    struct cron_spec spec;
    char why[120];
    const char *text = validate_plain_string(cron);
    if (text == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_cron", "cron must be a string");
    if (!cron_parse(text, &spec, why, sizeof why))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_cron", "%s", why);
    snprintf(out->cron, sizeof out->cron, "%s", text);
    return BUS_OK;
}

/* A string field with a fixed set of values; *index gets the value's place. */
static enum bus_err read_choice(const json_t *body, const char *field, const char *const choices[2],
                                int *index, struct bus_error *error)
{
    const json_t *value = json_object_get(body, field);
    *index = 0;
    if (value == NULL)
        return BUS_OK;
    const char *text = json_string_value(value);
    for (int i = 0; text != NULL && i < 2; i++)
        if (strcmp(text, choices[i]) == 0) {
            *index = i;
            return BUS_OK;
        }
    return bus_error_set(error, BUS_ERR_INVALID_FIELD,
                         field[0] == 'o' ? "invalid_overlap" : "invalid_catch_up",
                         "%s must be \"%s\" or \"%s\"", field, choices[0], choices[1]);
}

static enum bus_err read_options(const json_t *body, struct schedule *out, struct bus_error *error)
{
    static const char *const overlaps[2] = {"allow", "skip"};
    static const char *const catch_ups[2] = {"none", "one"};
    const json_t *zone = json_object_get(body, "timezone");
    const char *zone_name = zone ? json_string_value(zone) : "UTC";
    if (!zone_valid(zone_name))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_timezone",
                             "timezone must be an IANA time zone name such as Europe/Berlin");
    snprintf(out->timezone, sizeof out->timezone, "%s", zone_name);
    int overlap = 0, catch_up = 0;
    enum bus_err err = read_choice(body, "overlap", overlaps, &overlap, error);
    if (err == BUS_OK)
        err = read_choice(body, "catch_up", catch_ups, &catch_up, error);
    out->overlap_skip = overlap == 1;
    out->catch_up_one = catch_up == 1;
    return err;
}

/* The template must be a valid POST /intent body; it is stored as given. */
static enum bus_err read_template(const json_t *body, struct schedule *out, struct bus_error *error)
{
    const json_t *template = json_object_get(body, "intent");
    if (!json_is_object(template))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_intent",
                             "intent must be an object: the body of a POST /intent");
    const json_t *notify_url = json_object_get(template, "notify_url");
    if (notify_url != NULL && !json_is_null(notify_url))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_intent",
                             "a schedule's intent cannot carry notify_url (completion webhooks "
                             "belong to intents published by POST /intent)");
    struct intent_new probe;
    enum bus_err err = validate_publish(template, &probe, error);
    intent_new_clear(&probe);
    if (err != BUS_OK)
        return err;
    out->intent_json = json_dumps(template, JSON_COMPACT | JSON_SORT_KEYS);
    if (out->intent_json == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    return BUS_OK;
}

static enum bus_err read_definition(const json_t *body, struct schedule *out,
                                    struct bus_error *error)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(body))
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL, "body must be a JSON object");
    const char *name = validate_plain_string(json_object_get(body, "name"));
    if (!valid_name(name))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_name",
                             "name must be 1 to %d of A-Z a-z 0-9 . _ : -", SCHEDULE_NAME_MAX);
    snprintf(out->name, sizeof out->name, "%s", name);
    enum bus_err err = read_timing(body, out, error);
    if (err == BUS_OK)
        err = read_options(body, out, error);
    if (err == BUS_OK)
        err = read_template(body, out, error);
    return err;
}

/* ---- replies --------------------------------------------------------------- */

static json_t *time_or_null(double seconds)
{
    return isnan(seconds) ? json_null() : json_real(seconds);
}

json_t *bus_schedule_json(const struct schedule *s)
{
    json_t *template = json_loads(s->intent_json ? s->intent_json : "null", JSON_DECODE_ANY, NULL);
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:s, s:o, s:s, s:s, s:b, s:o, s:o, s:I, s:I, s:o, s:o,"
        " s:f, s:f}",
        "name", s->name, "owner", s->owner, "cron", s->cron[0] ? json_string(s->cron) : json_null(),
        "every", s->every > 0 ? json_integer((json_int_t)s->every) : json_null(), "timezone",
        s->timezone, "intent", template ? template : json_null(), "overlap",
        s->overlap_skip ? "skip" : "allow", "catch_up", s->catch_up_one ? "one" : "none", "paused",
        s->paused, "next_at", s->paused ? json_null() : time_or_null(s->next_at), "next_runs",
        next_runs(s), "fires", (json_int_t)s->fires, "skips", (json_int_t)s->skips, "last_fire_at",
        time_or_null(s->last_fire_at), "last_intent_id",
        s->last_intent_id[0] ? json_string(s->last_intent_id) : json_null(), "created_at",
        s->created_at, "updated_at", s->updated_at);
}

static enum bus_err store_failure(enum bus_err err, const char *name, struct bus_error *error)
{
    if (err == BUS_ERR_NOT_FOUND)
        return bus_error_set(error, err, NULL, "no schedule named '%s'", name);
    return bus_error_set(error, err, NULL, "the database could not answer");
}

/* ---- the API --------------------------------------------------------------- */

/* Stores a validated definition; BUS_OK with *created. */
static enum bus_err store_definition(struct bus *bus, struct schedule *schedule, bool *created,
                                     struct bus_error *error)
{
    enum bus_err err = bus->store->ops->schedule_put(bus->store->backend, schedule, created);
    if (err == BUS_ERR_FORBIDDEN)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_name",
                             "the name '%s' is taken by another API key's schedule",
                             schedule->name);
    return err == BUS_OK ? BUS_OK : store_failure(err, schedule->name, error);
}

/* The stored schedule as a reply. */
static enum bus_err reply_schedule(struct bus *bus, const char *name, const char *owner,
                                   unsigned status, struct bus_reply *reply,
                                   struct bus_error *error)
{
    struct schedule schedule;
    enum bus_err err = bus->store->ops->schedule_get(bus->store->backend, name, owner, &schedule);
    if (err != BUS_OK)
        return store_failure(err, name, error);
    err = bus_reply_json(reply, status, bus_schedule_json(&schedule), error);
    schedule_clear(&schedule);
    return err;
}

enum bus_err bus_schedule_put(struct bus *bus, const struct principal *caller, const json_t *body,
                              struct bus_reply *reply, struct bus_error *error)
{
    struct schedule schedule;
    enum bus_err err = read_definition(body, &schedule, error);
    double now = clock_now();
    if (err == BUS_OK && !token_random_hex(schedule.id, SCHEDULE_ID_LEN / 2))
        err = bus_error_set(error, BUS_ERR_INTERNAL, NULL, "no randomness available");
    if (err == BUS_OK) {
        strcpy(schedule.owner, caller->id);
        schedule.open_limit = caller->is_tester ? TESTER_OPEN_INTENT_LIMIT : 0;
        schedule.created_at = schedule.updated_at = now;
        schedule.next_at = next_occurrence(&schedule, now);
        if (isnan(schedule.next_at))
            err = bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_cron",
                                "this cron expression never fires (within 30 years)");
    }
    bool created = false;
    if (err == BUS_OK)
        err = store_definition(bus, &schedule, &created, error);
    schedule_clear(&schedule);
    if (err != BUS_OK)
        return err;
    return reply_schedule(bus, schedule.name, caller->id, created ? 201 : 200, reply, error);
}

static void append_schedule(void *context, const struct schedule *schedule)
{
    json_array_append_new(context, bus_schedule_json(schedule));
}

enum bus_err bus_schedule_list(struct bus *bus, const struct principal *caller, bool all,
                               struct bus_reply *reply, struct bus_error *error)
{
    json_t *list = json_array();
    if (list == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    enum bus_err err = bus->store->ops->schedule_list(bus->store->backend, all ? NULL : caller->id,
                                                      append_schedule, list);
    if (err != BUS_OK) {
        json_decref(list);
        return store_failure(err, "", error);
    }
    return bus_reply_json(reply, 200, json_pack("{s:o}", "schedules", list), error);
}

static void append_fire(void *context, const struct schedule_fire_record *fire)
{
    json_array_append_new(context,
                          json_pack("{s:f, s:s, s:o, s:f}", "fire_at", fire->fire_at, "outcome",
                                    fire->outcome, "intent_id",
                                    fire->intent_id[0] ? json_string(fire->intent_id) : json_null(),
                                    "recorded_at", fire->recorded_at));
}

enum bus_err bus_schedule_show(struct bus *bus, const struct principal *caller, bool all,
                               const char *name, struct bus_reply *reply, struct bus_error *error)
{
    struct schedule schedule;
    enum bus_err err = bus->store->ops->schedule_get(bus->store->backend, name,
                                                     all ? NULL : caller->id, &schedule);
    if (err != BUS_OK)
        return store_failure(err, name, error);
    json_t *fires = json_array();
    json_t *value = bus_schedule_json(&schedule);
    if (fires != NULL)
        err = bus->store->ops->schedule_fires(bus->store->backend, schedule.id,
                                              SCHEDULE_RECENT_FIRES, append_fire, fires);
    schedule_clear(&schedule);
    if (err != BUS_OK) {
        json_decref(fires);
        json_decref(value);
        return store_failure(err, name, error);
    }
    if (value != NULL && fires != NULL)
        json_object_set_new(value, "recent_fires", fires);
    else
        json_decref(fires);
    return bus_reply_json(reply, 200, value, error);
}

enum bus_err bus_schedule_pause(struct bus *bus, const struct principal *caller, bool all,
                                const char *name, bool paused, struct bus_reply *reply,
                                struct bus_error *error)
{
    const char *owner = all ? NULL : caller->id;
    struct schedule schedule;
    enum bus_err err = bus->store->ops->schedule_get(bus->store->backend, name, owner, &schedule);
    if (err != BUS_OK)
        return store_failure(err, name, error);
    double now = clock_now();
    /* Resuming starts from now: what fell due while paused is not caught up. */
    double next_at = next_occurrence(&schedule, now);
    schedule_clear(&schedule);
    err = bus->store->ops->schedule_set_paused(bus->store->backend, name, owner, paused, next_at,
                                               now);
    if (err != BUS_OK)
        return store_failure(err, name, error);
    return reply_schedule(bus, name, owner, 200, reply, error);
}

enum bus_err bus_schedule_delete(struct bus *bus, const struct principal *caller, bool all,
                                 const char *name, struct bus_reply *reply, struct bus_error *error)
{
    enum bus_err err =
        bus->store->ops->schedule_delete(bus->store->backend, name, all ? NULL : caller->id);
    if (err != BUS_OK)
        return store_failure(err, name, error);
    return bus_reply_json(reply, 200, json_pack("{s:s, s:s}", "name", name, "status", "deleted"),
                          error);
}

/* ---- the tick ------------------------------------------------------------- */

/* The intent of one occurrence, from the stored template. */
static bool build_intent(const struct schedule *schedule, double now, struct intent_new *out)
{
    json_t *template = json_loads(schedule->intent_json, 0, NULL);
    struct bus_error error;
    bool built = template != NULL && validate_publish(template, out, &error) == BUS_OK;
    json_decref(template);
    if (!built)
        return false;
    if (!token_time_ordered_hex(out->id, INTENT_ID_LEN / 2, now)) {
        intent_new_clear(out);
        return false;
    }
    strcpy(out->publisher, schedule->owner);
    out->created_at = now;
    out->run_at = now + out->delay;
    out->expires_at = out->run_at + DEFAULT_TTL_SECONDS;
    return true;
}

static void count_outcome(struct bus *bus, const struct store_schedule_step *step,
                          const struct intent_new *intent)
{
    atomic_fetch_add(&bus->counters.schedule_skips, (unsigned long)step->missed);
    if (isnan(step->fire_at) || step->outcome == SCHEDULE_ALREADY_HANDLED)
        return;
    if (step->outcome == SCHEDULE_FIRED) {
        atomic_fetch_add(&bus->counters.schedule_fires, 1);
        atomic_fetch_add(&bus->counters.published, 1);
        bus_notify_published(bus, intent);
    } else {
        atomic_fetch_add(&bus->counters.schedule_skips, 1);
    }
}

/* Runs one step: publish the occurrence at fire_at (NAN: none), count
 * `missed`, move next_at to next_at. false when the schedule changed under
 * us or the store failed (*err). */
static bool run_step(struct bus *bus, const struct schedule *schedule, double *expected,
                     double fire_at, long missed, double next_at, double now, enum bus_err *err)
{
    struct intent_new intent;
    memset(&intent, 0, sizeof intent);
    if (!isnan(fire_at) && !build_intent(schedule, now, &intent)) {
        *err = BUS_ERR_INTERNAL;
        return false;
    }
    struct store_schedule_step step = {.name = schedule->name,
                                       .revision = schedule->revision,
                                       .expected_next_at = *expected,
                                       .fire_at = fire_at,
                                       .intent = isnan(fire_at) ? NULL : &intent,
                                       .overlap_skip = schedule->overlap_skip,
                                       .open_limit = schedule->open_limit,
                                       .missed = missed,
                                       .next_at = next_at,
                                       .now = now};
    *err = bus->store->ops->schedule_step(bus->store->backend, &step);
    if (*err == BUS_OK)
        count_outcome(bus, &step, &intent);
    intent_new_clear(&intent);
    *expected = next_at;
    return *err == BUS_OK && step.outcome != SCHEDULE_ALREADY_HANDLED;
}

/* Occurrences that fell due before missed_before were missed: catch_up
 * "one" publishes the latest of them, "none" only counts them. */
static bool settle_missed(struct bus *bus, const struct schedule *schedule, double *expected,
                          double missed_before, double now, enum bus_err *err)
{
    double latest = *expected, at = *expected;
    long count = 0;
    if (schedule->every > 0) { /* occurrences are whole multiples of every */
        count = (long)ceil((missed_before - at) / schedule->every);
        latest = at + (double)(count - 1) * schedule->every;
        at += (double)count * schedule->every;
    }
    while (!isnan(at) && at < missed_before && count < MISSED_COUNT_MAX) {
        latest = at;
        count++;
        at = next_occurrence(schedule, at);
    }
    if (!isnan(at) && at < missed_before) /* more than MISSED_COUNT_MAX: count that many */
        at = next_occurrence(schedule, missed_before - 1);
    if (schedule->catch_up_one)
        return run_step(bus, schedule, expected, latest, count - 1, at, now, err);
    return run_step(bus, schedule, expected, NAN, count, at, now, err);
}

struct tick {
    struct bus *bus;
    double now;
    double missed_before; /* occurrences earlier than this were missed */
    enum bus_err err;     /* the first store error */
};

static void step_schedule(struct tick *tick, const struct schedule *schedule)
{
    double expected = schedule->next_at;
    enum bus_err err = BUS_OK;
    bool going = true;
    if (expected < tick->missed_before)
        going = settle_missed(tick->bus, schedule, &expected, tick->missed_before, tick->now, &err);
    for (int i = 0; going && i < STEPS_PER_TICK && !isnan(expected) && expected <= tick->now; i++)
        going = run_step(tick->bus, schedule, &expected, expected, 0,
                         next_occurrence(schedule, expected), tick->now, &err);
    if (err != BUS_OK && tick->err == BUS_OK)
        tick->err = err;
}

/* The due schedules are read first, then stepped: a step is a write, and
 * the read connection is not held across writes. */
struct due_list {
    struct schedule *items;
    size_t count;
    size_t capacity;
};

static void collect_due(void *context, const struct schedule *schedule)
{
    struct due_list *list = context;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        struct schedule *items = realloc(list->items, capacity * sizeof *items);
        if (items == NULL)
            return; /* the rest waits for the next tick */
        list->items = items;
        list->capacity = capacity;
    }
    struct schedule *copy = &list->items[list->count];
    *copy = *schedule;
    copy->intent_json = schedule->intent_json ? strdup(schedule->intent_json) : NULL;
    if (copy->intent_json != NULL)
        list->count++;
}

enum bus_err bus_schedules_tick(struct bus *bus, double now, double watching_since)
{
    struct due_list due = {NULL, 0, 0};
    enum bus_err err = bus->store->ops->schedule_due(bus->store->backend, now, collect_due, &due);
    struct tick tick = {bus, now, watching_since - SCHEDULE_MISSED_GRACE, BUS_OK};
    for (size_t i = 0; i < due.count; i++) {
        if (err == BUS_OK)
            step_schedule(&tick, &due.items[i]);
        schedule_clear(&due.items[i]);
    }
    free(due.items);
    return err != BUS_OK ? err : tick.err;
}

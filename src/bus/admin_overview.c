/* The dashboard overview's views, GET /admin/history and /admin/goals;
 * see admin.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/admin.h"
#include "bus/admin_json.h"
#include "util/clock.h"

static json_t *series(const unsigned long *counts, int minutes)
{
    json_t *list = json_array();
    for (int i = 0; i < minutes; i++)
        json_array_append_new(list, json_integer((json_int_t)counts[i]));
    return list;
}

enum bus_err bus_admin_history(struct bus *bus, const char *minutes_text, struct bus_reply *reply,
                               struct bus_error *error)
{
    char *end = NULL;
    long minutes = minutes_text && minutes_text[0] ? strtol(minutes_text, &end, 10) : 60;
    if ((end != NULL && (end == minutes_text || *end != '\0')) || minutes < 1 ||
        minutes > MINUTE_RING_SLOTS)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_minutes",
                             "minutes must be 1 to %d", MINUTE_RING_SLOTS);
    if (bus->minutes == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "no history kept");
    unsigned long(*counts)[MINUTE_RING_SLOTS] = /* 46 KB: not on a stack */
        malloc(sizeof(unsigned long[MINUTE_COUNTER_COUNT][MINUTE_RING_SLOTS]));
    if (counts == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    double now = clock_now();
    minute_ring_read(bus->minutes, now, (int)minutes, counts);
    json_t *body =
        json_pack("{s:I, s:i, s:o, s:o, s:o, s:o}", "first_minute",
                  (json_int_t)((long)(now / 60.0) - minutes + 1) * 60, "minutes", (int)minutes,
                  "published", series(counts[MINUTE_PUBLISHED], (int)minutes), "claimed",
                  series(counts[MINUTE_CLAIMED], (int)minutes), "fulfilled",
                  series(counts[MINUTE_FULFILLED], (int)minutes), "failed",
                  series(counts[MINUTE_FAILED], (int)minutes));
    free(counts);
    return bus_reply_json(reply, 200, body, error);
}

#define GOAL_ROWS_MAX 2000 /* namespace/goal/state rows read for one answer */

struct goal_rows {
    json_t *goals; /* "namespace\ngoal" -> counts */
    json_t *order; /* the keys in the order met */
    double now;
    long rows;
};

/* The goal's item, made (all counts zero, no controls) when first met;
 * NULL when out of memory. */
static json_t *goal_item(struct goal_rows *rows, const char *namespace_, const char *goal)
{
    size_t size = strlen(namespace_) + strlen(goal) + 2;
    char *key = malloc(size);
    if (key == NULL)
        return NULL;
    snprintf(key, size, "%s\n%s", namespace_, goal);
    json_t *item = json_object_get(rows->goals, key);
    if (item == NULL) {
        item =
            json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:n, s:b, s:n}", "namespace",
                      namespace_, "goal", goal, "open", 0, "scheduled", 0, "claimed", 0, "expired",
                      0, "fulfilled", 0, "dead", 0, "oldest_open_age", "paused", 0, "max_claimed");
        json_object_set_new(rows->goals, key, item);
        json_array_append(rows->order, item);
    }
    free(key);
    return item;
}

static void add_goal_count(void *context, const char *namespace_, const char *goal,
                           const char *state, long count, double oldest_open)
{
    struct goal_rows *rows = context;
    rows->rows++;
    json_t *item = goal_item(rows, namespace_, goal);
    if (item == NULL)
        return;
    json_object_set_new(item, state, json_integer(count));
    if (!isnan(oldest_open))
        json_object_set_new(item, "oldest_open_age", json_real(fmax(0, rows->now - oldest_open)));
}

static void add_goal_control(void *context, const struct goal_control *control)
{
    json_t *item = goal_item(context, control->namespace_, control->goal);
    if (item == NULL)
        return;
    json_object_set_new(item, "paused", json_boolean(control->paused));
    json_object_set_new(item, "max_claimed",
                        control->max_claimed > 0 ? json_integer(control->max_claimed)
                                                 : json_null());
}

enum bus_err bus_admin_goals(struct bus *bus, struct bus_reply *reply, struct bus_error *error)
{
    struct goal_rows rows = {json_object(), json_array(), clock_now(), 0};
    enum bus_err err = bus->store->ops->goal_counts(bus->store->backend, rows.now, GOAL_ROWS_MAX,
                                                    add_goal_count, &rows);
    long counted = rows.rows;
    if (err == BUS_OK)
        err = bus->store->ops->goal_control_list(bus->store->backend, add_goal_control, &rows);
    json_decref(rows.goals);
    if (err != BUS_OK) {
        json_decref(rows.order);
        return bus_error_set(error, err, NULL, "the database could not answer");
    }
    json_t *body =
        json_pack("{s:o, s:b}", "goals", rows.order, "truncated", counted >= GOAL_ROWS_MAX);
    return bus_reply_json(reply, 200, body, error);
}

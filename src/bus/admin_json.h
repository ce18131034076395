/* JSON helpers shared by the admin views (bus/admin*.c, bus/audit.c). */
#ifndef BUS_ADMIN_JSON_H
#define BUS_ADMIN_JSON_H

#include <jansson.h>

#include "bus/bus.h"

/* null for NaN (never happened) or "" (none). */
json_t *admin_time_or_null(double seconds);
json_t *admin_text_or_null(const char *text);

/* A stored JSON text parsed back into a value, null if it cannot be. */
json_t *admin_stored_json(const char *text);

/* Whether a query value was given (NULL and "" are not). */
bool admin_given(const char *value);

/* The filters the intent and dead-letter listings share, checked and
 * copied ("" when not given): namespace, goal, and text in the error. */
enum bus_err admin_read_names(const char *namespace_, const char *goal, const char *error_text,
                              char namespace_out[NAMESPACE_MAX + 1],
                              char goal_out[GOAL_MAX_BYTES + 1],
                              char error_out[ERROR_TEXT_MAX_BYTES + 1], struct bus_error *error);

/* The error of a store failure: not found, or the database. */
enum bus_err admin_store_failure(enum bus_err err, struct bus_error *error);

#endif

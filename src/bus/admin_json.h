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

/* Serializes and releases value into the reply. */
enum bus_err admin_reply_json(struct bus_reply *reply, unsigned status, json_t *value,
                              struct bus_error *error);

/* The error of a store failure: not found, or the database. */
enum bus_err admin_store_failure(enum bus_err err, struct bus_error *error);

#endif

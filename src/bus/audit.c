/* The audit log; see audit.h. */
#include "bus/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/admin_json.h"
#include "util/clock.h"

void bus_audit_record(struct bus *bus, const char *who, const char *address, const char *action,
                      const char *target, json_t *detail)
{
    struct audit_entry entry = {.at = clock_now()};
    snprintf(entry.who, sizeof entry.who, "%s", who);
    snprintf(entry.address, sizeof entry.address, "%s", address);
    snprintf(entry.action, sizeof entry.action, "%s", action);
    snprintf(entry.target, sizeof entry.target, "%s", target ? target : "");
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    entry.detail_json = text;
    if (bus->store->ops->audit_add(bus->store->backend, &entry) != BUS_OK)
        fprintf(stderr, "intent-bus: could not record admin action %s in the audit log\n", action);
    free(text);
}

/* A whole number from min to max, or the default when not given. */
static bool read_number(const char *text, long min, long max, long fallback, long *out)
{
    char *end = NULL;
    *out = fallback;
    if (text == NULL || text[0] == '\0')
        return true;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < min || value > max)
        return false;
    *out = value;
    return true;
}

static void add_entry(void *context, const struct audit_entry *entry)
{
    json_t *detail = entry->detail_json ? json_loads(entry->detail_json, 0, NULL) : NULL;
    json_array_append_new(
        context, json_pack("{s:I, s:f, s:s, s:s, s:s, s:s?, s:o}", "id", (json_int_t)entry->id,
                           "at", entry->at, "who", entry->who, "address", entry->address, "action",
                           entry->action, "target", entry->target[0] ? entry->target : NULL,
                           "detail", detail ? detail : json_null()));
}

enum bus_err bus_audit_list(struct bus *bus, const char *limit, const char *before,
                            struct bus_reply *reply, struct bus_error *error)
{
    long count, below;
    if (!read_number(limit, 1, AUDIT_LIST_MAX, AUDIT_LIST_DEFAULT, &count))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_limit", "limit must be 1 to %d",
                             AUDIT_LIST_MAX);
    if (!read_number(before, 1, 1L << 53, 0, &below))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_before",
                             "before must be an entry id");
    json_t *entries = json_array();
    enum bus_err err =
        bus->store->ops->audit_list(bus->store->backend, (int)count, below, add_entry, entries);
    if (err != BUS_OK) {
        json_decref(entries);
        return bus_error_set(error, err, NULL, "the database could not answer");
    }
    size_t size = json_array_size(entries);
    json_t *next = size == (size_t)count
                       ? json_deep_copy(json_object_get(json_array_get(entries, size - 1), "id"))
                       : json_null();
    json_t *body = json_pack("{s:o, s:o}", "entries", entries, "next", next);
    return bus_reply_json(reply, 200, body, error);
}

/* GET /admin/workers; see admin.h. Joins the bus's memory of the workers
 * it has seen with the leases the store says they hold now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/admin.h"
#include "bus/admin_json.h"
#include "util/clock.h"

#define WORKERS_SINCE_DEFAULT 3600
#define WORKERS_SINCE_MAX (7 * 86400)

/* "worker id\nprincipal": one worker of one key. */
static char *worker_key(const char *worker_id, const char *principal)
{
    size_t size = strlen(worker_id) + strlen(principal) + 2;
    char *key = malloc(size);
    if (key != NULL)
        snprintf(key, size, "%s\n%s", worker_id, principal);
    return key;
}

static void add_owner(void *context, const struct api_key_record *key)
{
    json_object_set_new(context, key->key_hash, json_string(key->owner));
}

static json_t *worker_json(json_t *owners, const char *worker_id, const char *principal)
{
    char key_id[13];
    snprintf(key_id, sizeof key_id, "%.12s", principal);
    json_t *owner = json_object_get(owners, principal);
    return json_pack("{s:o, s:s, s:O, s:i, s:i}", "worker_id", admin_text_or_null(worker_id),
                     "key_id", key_id, "owner", owner ? owner : json_null(), "held", 0,
                     "held_expired", 0);
}

struct lease_join {
    json_t *by_key; /* worker_key -> item */
    json_t *list;
    json_t *owners;
};

static void add_leases(void *context, const char *worker_id, const char *claimer, long live,
                       long lapsed)
{
    struct lease_join *join = context;
    char *key = worker_key(worker_id, claimer);
    if (key == NULL)
        return;
    json_t *item = json_object_get(join->by_key, key);
    if (item == NULL) { /* holds jobs, but not seen since the bus started */
        item = worker_json(join->owners, worker_id, claimer);
        json_object_set(join->by_key, key, item);
        json_array_append_new(join->list, item);
    }
    free(key);
    json_object_set_new(item, "held", json_integer(live));
    json_object_set_new(item, "held_expired", json_integer(lapsed));
}

static json_t *seen_json(json_t *owners, const struct worker_seen *seen)
{
    json_t *item = worker_json(owners, seen->worker_id, seen->principal);
    json_t *capabilities = json_loads(seen->capabilities_json, 0, NULL);
    json_object_set_new(item, "capabilities", capabilities ? capabilities : json_array());
    json_object_set_new(item, "namespace", json_string(seen->namespace_));
    json_object_set_new(item, "first_seen", json_real(seen->first_seen));
    json_object_set_new(item, "last_seen", json_real(seen->last_seen));
    json_object_set_new(item, "last_claim",
                        seen->last_claim > 0 ? json_real(seen->last_claim) : json_null());
    json_object_set_new(item, "claims", json_integer((json_int_t)seen->claims));
    json_object_set_new(item, "empty_claims", json_integer((json_int_t)seen->empty_claims));
    return item;
}

enum bus_err bus_admin_workers(struct bus *bus, const char *since_text, const char *main_principal,
                               struct bus_reply *reply, struct bus_error *error)
{
    char *end = NULL;
    long since = since_text && since_text[0] ? strtol(since_text, &end, 10) : WORKERS_SINCE_DEFAULT;
    if ((end != NULL && (end == since_text || *end != '\0')) || since < 1 ||
        since > WORKERS_SINCE_MAX)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_since",
                             "since must be 1 to %d seconds", WORKERS_SINCE_MAX);
    double now = clock_now();
    struct worker_seen *seen = NULL;
    int count = 0;
    if (!workers_since(bus->workers, now - (double)since, &seen, &count))
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    struct lease_join join = {json_object(), json_array(), json_object()};
    json_object_set_new(join.owners, main_principal, json_string("main"));
    enum bus_err err = bus->store->ops->key_list(bus->store->backend, add_owner, join.owners);
    for (int i = 0; i < count && err == BUS_OK; i++) {
        char *key = worker_key(seen[i].worker_id, seen[i].principal);
        json_t *item = seen_json(join.owners, &seen[i]);
        if (key != NULL && item != NULL)
            json_object_set(join.by_key, key, item);
        json_array_append_new(join.list, item);
        free(key);
    }
    free(seen);
    if (err == BUS_OK)
        err = bus->store->ops->worker_leases(bus->store->backend, now, add_leases, &join);
    json_decref(join.by_key);
    json_decref(join.owners);
    if (err != BUS_OK) {
        json_decref(join.list);
        return admin_store_failure(err, error);
    }
    return bus_reply_json(
        reply, 200, json_pack("{s:o, s:i}", "workers", join.list, "since", (int)since), error);
}

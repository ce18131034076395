/* GET /admin/schedules and POST /admin/schedules/<name>/pause, /resume;
 * see admin.h. A schedule's name is unique across keys (the store keeps it
 * UNIQUE), so the name alone says which schedule an admin means. The
 * listing joins each schedule with its owner key and its last fire record. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/admin.h"
#include "bus/admin_json.h"
#include "bus/schedules.h"

/* A schedule of the listing, and the id its fire records go by. */
struct listed_schedule {
    char id[SCHEDULE_ID_LEN + 1];
    json_t *item;
};

struct schedule_listing {
    struct listed_schedule *items;
    size_t count;
    bool truncated;
    json_t *keys; /* key digest -> {"owner", "revoked"} */
};

static void add_key(void *context, const struct api_key_record *key)
{
    json_object_set_new(context, key->key_hash,
                        json_pack("{s:s, s:b}", "owner", key->owner, "revoked",
                                  !isnan(key->revoked_at)));
}

/* key_id, key_owner ("main", a tester key's owner, or null when the key
 * is gone) and key_revoked. */
static void add_owner(json_t *item, const json_t *keys, const char *principal)
{
    char key_id[13];
    snprintf(key_id, sizeof key_id, "%.12s", principal);
    const json_t *key = json_object_get(keys, principal);
    json_object_set_new(item, "key_id", json_string(key_id));
    json_object_set(item, "key_owner", key ? json_object_get(key, "owner") : json_null());
    json_object_set_new(item, "key_revoked",
                        json_boolean(key && json_is_true(json_object_get(key, "revoked"))));
}

/* The goal and namespace its intents are published to, from the template. */
static void add_target(json_t *item)
{
    const json_t *template = json_object_get(item, "intent");
    const json_t *namespace_ = json_object_get(template, "namespace");
    json_object_set(item, "goal", json_object_get(template, "goal"));
    json_object_set_new(item, "namespace", json_is_string(namespace_)
                                               ? json_string(json_string_value(namespace_))
                                               : json_string(DEFAULT_NAMESPACE));
}

static void collect(void *context, const struct schedule *schedule)
{
    struct schedule_listing *listing = context;
    if (listing->count == ADMIN_SCHEDULE_LIST_MAX) {
        listing->truncated = true;
        return;
    }
    json_t *item = bus_schedule_json(schedule);
    if (item == NULL)
        return;
    add_owner(item, listing->keys, schedule->owner);
    add_target(item);
    struct listed_schedule *slot = &listing->items[listing->count++];
    snprintf(slot->id, sizeof slot->id, "%s", schedule->id);
    slot->item = item;
}

static void keep_fire(void *context, const struct schedule_fire_record *fire)
{
    json_t **last = context;
    json_decref(*last);
    *last = json_pack("{s:f, s:s, s:o}", "fire_at", fire->fire_at, "outcome", fire->outcome,
                      "intent_id", admin_text_or_null(fire->intent_id));
}

/* last_fire: the most recent fire record (kept SCHEDULE_FIRE_RETENTION),
 * what became of it; null when none is kept. Read after the listing: a
 * read connection is not held across another read. */
static enum bus_err add_last_fires(struct bus *bus, struct schedule_listing *listing)
{
    for (size_t i = 0; i < listing->count; i++) {
        json_t *last = NULL;
        enum bus_err err = bus->store->ops->schedule_fires(bus->store->backend,
                                                           listing->items[i].id, 1, keep_fire,
                                                           &last);
        if (err != BUS_OK) {
            json_decref(last);
            return err;
        }
        json_object_set_new(listing->items[i].item, "last_fire", last ? last : json_null());
    }
    return BUS_OK;
}

enum bus_err bus_admin_schedules(struct bus *bus, const char *main_principal,
                                 struct bus_reply *reply, struct bus_error *error)
{
    struct schedule_listing listing = {
        calloc(ADMIN_SCHEDULE_LIST_MAX, sizeof *listing.items), 0, false, json_object()};
    if (listing.items == NULL || listing.keys == NULL) {
        free(listing.items);
        json_decref(listing.keys);
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    }
    json_object_set_new(listing.keys, main_principal, json_pack("{s:s, s:b}", "owner", "main",
                                                                "revoked", 0));
    enum bus_err err = bus->store->ops->key_list(bus->store->backend, add_key, listing.keys);
    if (err == BUS_OK)
        err = bus->store->ops->schedule_list(bus->store->backend, NULL, collect, &listing);
    if (err == BUS_OK)
        err = add_last_fires(bus, &listing);
    json_t *list = json_array();
    for (size_t i = 0; i < listing.count; i++)
        json_array_append_new(list, listing.items[i].item);
    free(listing.items);
    json_decref(listing.keys);
    if (err != BUS_OK) {
        json_decref(list);
        return admin_store_failure(err, error);
    }
    return bus_reply_json(reply, 200,
                          json_pack("{s:o, s:b}", "schedules", list, "truncated",
                                    listing.truncated),
                          error);
}

enum bus_err bus_admin_schedule_pause(struct bus *bus, const char *name, bool paused,
                                      struct bus_reply *reply, struct bus_error *error)
{
    /* Every schedule: an admin acts for whichever key owns it. */
    struct principal nobody;
    memset(&nobody, 0, sizeof nobody);
    if (strlen(name) > SCHEDULE_NAME_MAX) /* never truncate to another's name */
        return bus_error_set(error, BUS_ERR_NOT_FOUND, NULL, "no schedule named that");
    return bus_schedule_pause(bus, &nobody, true, name, paused, reply, error);
}

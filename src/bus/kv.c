/* The per-key store of spec 7.5: POST /set/<key>, a write made as a call
 * (bus.h) so that no request thread waits for its commit, and
 * GET /get/<key>, a read. Keys are scoped to the caller's API key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus_internal.h"
#include "bus/replies.h"
#include "bus/validate.h"
#include "util/clock.h"

static enum bus_err invalid_key(struct bus_error *error)
{
    return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_key",
                         "key must be 1 to %d bytes without control characters", KV_KEY_MAX_BYTES);
}

enum bus_err bus_kv_prepare(const struct principal *caller, const char *key, const json_t *body,
                            const char *idempotency_key, struct kv_set_call *kv,
                            struct bus_error *error)
{
    if (!validate_kv_key(key))
        return invalid_key(error);
    double ttl = 0;
    enum bus_err err = validate_kv_set(body, &kv->value_json, &ttl, error);
    if (err != BUS_OK)
        return err;
    char scope[KV_KEY_MAX_BYTES + 16];
    snprintf(scope, sizeof scope, "POST /set/%s", key);
    const struct idempotency *use_idem = NULL;
    err =
        bus_prepare_idempotency(caller, idempotency_key, scope, body, &kv->idem, &use_idem, error);
    if (err != BUS_OK)
        return err;
    kv->key = strdup(key);
    kv->write = (struct kv_write){.key = kv->key, .value_json = kv->value_json, .now = clock_now()};
    strcpy(kv->write.principal, caller->id);
    kv->write.expires_at = kv->write.now + ttl;
    kv->response = kv->key ? reply_kv_set(key, kv->write.expires_at) : NULL;
    if (kv->response == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    kv->store = (struct store_kv_set_call){.write = &kv->write,
                                           .idem = use_idem,
                                           .response_status = 200,
                                           .response_body = kv->response,
                                           .replay = &kv->replay};
    return BUS_OK;
}

void bus_kv_clear(struct kv_set_call *kv)
{
    free(kv->key);
    free(kv->value_json);
    free(kv->response);
    stored_response_clear(&kv->replay);
    kv->key = kv->value_json = kv->response = NULL;
}

enum bus_err bus_kv_finish(struct kv_set_call *kv, enum bus_err err, struct bus_reply *reply,
                           struct bus_error *error)
{
    char *response = kv->response;
    kv->response = NULL; /* bus_finish_idempotent takes it */
    return bus_finish_idempotent(err, &kv->replay, 200, response, reply, error);
}

enum bus_err bus_kv_get(struct bus *bus, const struct principal *caller, const char *key,
                        struct bus_reply *reply, struct bus_error *error)
{
    if (!validate_kv_key(key))
        return invalid_key(error);
    char *value_json = NULL;
    enum bus_err err =
        bus->store->ops->kv_get(bus->store->backend, caller->id, key, clock_now(), &value_json);
    if (err == BUS_ERR_NOT_FOUND)
        return bus_error_set(error, err, NULL, "Key not found.");
    if (err != BUS_OK)
        return bus_error_set(error, err, NULL, "the key could not be read");
    reply->status = 200;
    reply->body = reply_kv_value(value_json);
    free(value_json);
    if (reply->body == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    return BUS_OK;
}

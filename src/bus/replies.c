/* Response bodies of spec section 7. Stored JSON texts (payloads, results,
 * values) are embedded as JSON, not as strings: parsed back, except the
 * claim's payload, which goes in as stored. */
#include "bus/replies.h"

#include "bus/json_text.h"

#include <math.h>

#include <jansson.h>

static json_t *string_or_null(const char *text)
{
    return text && text[0] ? json_string(text) : json_null();
}

static json_t *time_or_null(double seconds)
{
    return isnan(seconds) ? json_null() : json_real(seconds);
}

/* Parses a stored JSON text; stored texts were produced by jansson, so a
 * failure means corruption, shown as null rather than a crash. */
static json_t *stored_json(const char *text)
{
    if (text == NULL)
        return json_null();
    json_t *value = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    return value ? value : json_null();
}

/* Serializes and releases object. */
static char *finish(json_t *object)
{
    char *text = object ? json_dumps(object, JSON_COMPACT) : NULL;
    json_decref(object);
    return text;
}

/* The replies of the hot endpoints below (publish, claim, fulfil) are
 * written with json_text, not built as a jansson tree and dumped: the same
 * bytes at a fraction of the cost (docs/BENCHMARKS.md, issue 16). */
char *reply_published(const char *id, const char *namespace_)
{
    struct json_text out;
    json_text_open(&out);
    json_text_string(&out, "id", id);
    json_text_raw(&out, "status", "\"published\"");
    json_text_string(&out, "namespace", namespace_);
    return json_text_close_take(&out);
}

/* The stored payload text goes in as it is, not parsed back and printed
 * again: stored payloads are jansson's compact output (validate_publish) on
 * both backends, so they are valid JSON; NULL or "" becomes null. */
char *reply_claimed(const struct claimed_intent *claimed, double claim_timeout)
{
    const char *payload = claimed->payload_json;
    struct json_text out;
    json_text_open(&out);
    json_text_string(&out, "id", claimed->id);
    json_text_string(&out, "namespace", claimed->namespace_);
    json_text_string(&out, "goal", claimed->goal);
    json_text_raw(&out, "payload", payload && payload[0] ? payload : "null");
    json_text_integer(&out, "claim_attempts", claimed->claim_attempts);
    json_text_integer(&out, "priority", claimed->priority);
    json_text_string_or_null(&out, "target_worker", claimed->target_worker);
    json_text_string_or_null(&out, "required_capability", claimed->required_capability);
    json_text_string(&out, "claim_token", claimed->token);
    json_text_integer(&out, "claim_timeout", (json_int_t)claim_timeout);
    json_text_real(&out, "claim_expires_at", claimed->claim_expires_at);
    return json_text_close_take(&out);
}

/* "ok" and "id" (and extend's "extended_by") are the original server's
 * fields, which its clients read; the rest are ours. */
char *reply_extended(const char *id, double seconds, double claim_expires_at)
{
    /* Whole seconds as an integer, as the original (which takes only those)
     * writes them; 600.5 stays 600.5. */
    json_t *by = seconds == floor(seconds) ? json_integer((json_int_t)seconds) : json_real(seconds);
    return finish(json_pack("{s:b, s:s, s:o, s:s, s:f}", "ok", 1, "id", id, "extended_by", by,
                            "status", "claimed", "claim_expires_at", claim_expires_at));
}

char *reply_fulfilled(const char *id, double completed_at)
{
    struct json_text out;
    json_text_open(&out);
    json_text_true(&out, "ok");
    json_text_string(&out, "id", id);
    json_text_raw(&out, "status", "\"fulfilled\"");
    json_text_real(&out, "completed_at", completed_at);
    return json_text_close_take(&out);
}

char *reply_failed(const char *id, const struct fail_outcome *outcome)
{
    return finish(json_pack("{s:b, s:s, s:s, s:i, s:o}", "ok", 1, "id", id, "status",
                            intent_status_name(outcome->status), "claim_attempts",
                            outcome->claim_attempts, "run_at", time_or_null(outcome->run_at)));
}

static json_t *intent_json(const struct intent_record *record, bool with_result)
{
    json_t *object = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
        record->id, "namespace", record->namespace_, "goal", record->goal, "status",
        intent_status_name(record->status), "priority", record->priority, "visibility",
        record->is_public ? "public" : "private", "claim_attempts", record->claim_attempts,
        "max_attempts", record->max_attempts, "run_at", time_or_null(record->run_at),
        "claim_expires_at", time_or_null(record->claim_expires_at), "target_worker",
        string_or_null(record->target_worker), "required_capability",
        string_or_null(record->required_capability), "created_at", time_or_null(record->created_at),
        "expires_at", time_or_null(record->expires_at), "completed_at",
        time_or_null(record->completed_at));
    if (object && with_result) {
        json_object_set_new(object, "result_type", string_or_null(record->result_type));
        json_object_set_new(object, "result", stored_json(record->result_json));
    }
    if (object && record->last_error)
        json_object_set_new(object, "error", json_string(record->last_error));
    /* The original server's name for it, always present (null when none):
     * its clients read either. */
    if (object)
        json_object_set_new(object, "last_error", string_or_null(record->last_error));
    return object;
}

char *reply_intent(const struct intent_record *record, bool with_result)
{
    return finish(intent_json(record, with_result));
}

char *reply_intent_webhook(const struct intent_record *record, bool with_result, json_t *webhook)
{
    json_t *object = intent_json(record, with_result);
    if (object && webhook)
        json_object_set(object, "webhook", webhook);
    json_decref(webhook);
    return finish(object);
}

char *reply_kv_set(const char *key, double expires_at)
{
    return finish(json_pack("{s:s, s:b, s:f}", "key", key, "ok", 1, "expires_at", expires_at));
}

char *reply_kv_value(const char *value_json)
{
    return finish(json_pack("{s:o}", "value", stored_json(value_json)));
}

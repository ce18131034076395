/* Field-by-field validation of the protocol's requests (spec section 4 and
 * docs/PROTOCOL.md). Each rule returns the invalid_<field> code named after
 * the field, so a client knows exactly what to fix. */
#include "bus/validate.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/token.h"

static size_t utf8_char_count(const char *s)
{
    size_t count = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80)
            count++;
    }
    return count;
}

/* Text from headers and URLs can hold any bytes; jansson's own check
 * decides what is UTF-8, so what passes here can always be put in a reply. */
static bool is_utf8(const char *s)
{
    json_t *probe = json_string(s);
    json_decref(probe);
    return probe != NULL;
}

/* C0 controls, DEL, and the C1 controls U+0080-U+009F (0xC2 0x80-0x9F). */
static bool has_control_char(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            return true;
        if (c == 0xC2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9F)
            return true;
    }
    return false;
}

const char *validate_plain_string(const json_t *value)
{
    const char *text = json_string_value(value);
    if (text == NULL || strlen(text) != json_string_length(value))
        return NULL; /* not a string, or one with a NUL a C string would cut at */
    return text;
}

/* True when text holds something besides ASCII whitespace. */
static bool has_visible_char(const char *text)
{
    return text[strspn(text, " \t\n\r\f\v")] != '\0';
}

/* A goal of only whitespace is refused, as the original server (which
 * strips goals) refuses it. */
bool validate_goal(const char *goal)
{
    size_t chars = utf8_char_count(goal);
    return chars >= 1 && chars <= GOAL_MAX_CHARS && strlen(goal) <= GOAL_MAX_BYTES &&
           is_utf8(goal) && has_visible_char(goal);
}

bool validate_namespace(const char *namespace_)
{
    size_t len = strlen(namespace_);
    if (len < 1 || len > NAMESPACE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)namespace_[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_')
            return false;
    }
    return true;
}

bool validate_worker_id(const char *worker_id)
{
    size_t chars = utf8_char_count(worker_id);
    return chars >= 1 && chars <= WORKER_NAME_MAX_CHARS && !has_control_char(worker_id) &&
           is_utf8(worker_id);
}

bool validate_owner(const char *owner)
{
    size_t chars = utf8_char_count(owner);
    return chars >= 1 && chars <= OWNER_MAX_CHARS && !has_control_char(owner) && is_utf8(owner);
}

static bool validate_capability(const char *capability)
{
    size_t len = strlen(capability);
    return validate_worker_id(capability) && strchr(capability, ',') == NULL &&
           !isspace((unsigned char)capability[0]) && !isspace((unsigned char)capability[len - 1]);
}

/* Reads an optional string field; "" in out means absent or null. */
static enum bus_err optional_string(const json_t *body, const char *field, bool (*valid)(const char *),
                                    char *out, size_t out_size, struct bus_error *error)
{
    const json_t *value = json_object_get(body, field);
    out[0] = '\0';
    if (value == NULL || json_is_null(value))
        return BUS_OK;
    const char *text = validate_plain_string(value);
    if (text == NULL || !valid(text) || strlen(text) >= out_size)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, NULL, "%s has an invalid value", field);
    strcpy(out, text);
    return BUS_OK;
}

static enum bus_err optional_integer(const json_t *body, const char *field, long long min,
                                     long long max, int fallback, int *out, struct bus_error *error)
{
    const json_t *value = json_object_get(body, field);
    *out = fallback;
    if (value == NULL || json_is_null(value))
        return BUS_OK;
    if (!json_is_integer(value) || json_integer_value(value) < min || json_integer_value(value) > max)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, NULL,
                             "%s must be an integer from %lld to %lld", field, min, max);
    *out = (int)json_integer_value(value);
    return BUS_OK;
}

static enum bus_err optional_number(const json_t *body, const char *field, double min, double max,
                                    double fallback, double *out, struct bus_error *error)
{
    const json_t *value = json_object_get(body, field);
    *out = fallback;
    if (value == NULL || json_is_null(value))
        return BUS_OK;
    if (!json_is_number(value) || !isfinite(json_number_value(value)) ||
        json_number_value(value) < min || json_number_value(value) > max)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, NULL,
                             "%s must be a number from %g to %g", field, min, max);
    *out = json_number_value(value);
    return BUS_OK;
}

/* Sets the field-specific code "invalid_<field>" on an error just filled. */
static enum bus_err name_field(enum bus_err err, const char *field, struct bus_error *error)
{
    if (err == BUS_ERR_INVALID_FIELD && error != NULL)
        snprintf(error->code, sizeof error->code, "invalid_%s", field);
    return err;
}

static enum bus_err validate_visibility(const json_t *body, bool *is_public, struct bus_error *error)
{
    const json_t *value = json_object_get(body, "visibility");
    *is_public = false;
    if (value == NULL || json_is_null(value))
        return BUS_OK;
    const char *text = validate_plain_string(value);
    if (text != NULL && strcmp(text, "private") == 0)
        return BUS_OK;
    if (text != NULL && strcmp(text, "public") == 0) {
        *is_public = true;
        return BUS_OK;
    }
    return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_visibility",
                         "visibility must be \"private\" or \"public\"");
}

static enum bus_err validate_required_fields(const json_t *body, struct intent_new *out,
                                             struct bus_error *error)
{
    const json_t *goal = json_object_get(body, "goal");
    const json_t *payload = json_object_get(body, "payload");
    if (goal == NULL || json_is_null(goal))
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL, "goal is required");
    if (payload == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL, "payload is required");
    const char *goal_text = validate_plain_string(goal);
    if (goal_text == NULL || !validate_goal(goal_text))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_goal",
                             "goal must be a string of 1 to %d characters", GOAL_MAX_CHARS);
    strcpy(out->goal, goal_text);
    out->payload_json = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (out->payload_json == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    if (strlen(out->payload_json) > PAYLOAD_MAX_BYTES) {
        intent_new_clear(out);
        return bus_error_set(error, BUS_ERR_PAYLOAD_TOO_LARGE, NULL,
                             "payload exceeds %d bytes serialized", PAYLOAD_MAX_BYTES);
    }
    return BUS_OK;
}

static enum bus_err validate_optional_fields(const json_t *body, struct intent_new *out,
                                             struct bus_error *error)
{
    enum bus_err err;
    char namespace_[NAMESPACE_MAX + 1];
    if ((err = name_field(optional_string(body, "namespace", validate_namespace, namespace_,
                                          sizeof namespace_, error),
                          "namespace", error)))
        return err;
    strcpy(out->namespace_, namespace_[0] ? namespace_ : DEFAULT_NAMESPACE);
    if ((err = validate_visibility(body, &out->is_public, error)))
        return err;
    if ((err = name_field(optional_integer(body, "priority", 0, 1000, DEFAULT_PRIORITY,
                                           &out->priority, error),
                          "priority", error)))
        return err;
    if ((err = name_field(optional_number(body, "delay", 0.0, DELAY_MAX_SECONDS, 0.0,
                                          &out->delay, error),
                          "delay", error)))
        return err;
    if ((err = name_field(optional_integer(body, "max_attempts", 1, 20, DEFAULT_MAX_ATTEMPTS,
                                           &out->max_attempts, error),
                          "max_attempts", error)))
        return err;
    if ((err = name_field(optional_number(body, "backoff_base", 1.0, 3600.0, DEFAULT_BACKOFF_BASE,
                                          &out->backoff_base, error),
                          "backoff_base", error)))
        return err;
    if ((err = name_field(optional_string(body, "target_worker", validate_worker_id,
                                          out->target_worker, sizeof out->target_worker, error),
                          "target_worker", error)))
        return err;
    return name_field(optional_string(body, "required_capability", validate_capability,
                                      out->required_capability, sizeof out->required_capability,
                                      error),
                      "required_capability", error);
}

enum bus_err validate_publish(const json_t *body, struct intent_new *out, struct bus_error *error)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(body))
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL, "body must be a JSON object");
    enum bus_err err = validate_optional_fields(body, out, error);
    if (err == BUS_OK)
        err = validate_required_fields(body, out, error);
    if (err != BUS_OK)
        intent_new_clear(out);
    return err;
}

static char *trim_spaces(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static enum bus_err append_capabilities(json_t *array, char *list, struct bus_error *error)
{
    char *saveptr = NULL;
    for (char *token = strtok_r(list, ",", &saveptr); token; token = strtok_r(NULL, ",", &saveptr)) {
        char *capability = trim_spaces(token);
        if (capability[0] == '\0')
            continue;
        if (!validate_worker_id(capability))
            return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_capabilities",
                                 "each capability must be 1 to %d characters", WORKER_NAME_MAX_CHARS);
        if (json_array_append_new(array, json_string(capability)) != 0)
            return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    }
    return BUS_OK;
}

enum bus_err validate_capabilities(const char *list, char **json_out, struct bus_error *error)
{
    *json_out = NULL;
    /* Most claims name no capability: no array to build. */
    if (list == NULL || list[0] == '\0')
        return BUS_OK;
    json_t *array = json_array();
    char *copy = strdup(list);
    enum bus_err err = BUS_ERR_INTERNAL;
    if (array == NULL || copy == NULL)
        bus_error_set(error, err, NULL, "out of memory");
    else if ((err = append_capabilities(array, copy, error)) == BUS_OK &&
             json_array_size(array) > 0) {
        *json_out = json_dumps(array, JSON_COMPACT);
        if (*json_out == NULL)
            err = bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    }
    free(copy);
    json_decref(array);
    return err;
}

enum bus_err validate_claim_token(const json_t *body, char out[CLAIM_TOKEN_LEN + 1],
                                  struct bus_error *error)
{
    const json_t *token = json_object_get(body, "claim_token");
    out[0] = '\0';
    if (!json_is_string(token))
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL, "Missing claim_token.");
    const char *text = validate_plain_string(token);
    if (text == NULL || !token_is_hex(text, CLAIM_TOKEN_LEN))
        return bus_error_set(error, BUS_ERR_NOT_FOUND, NULL,
                             "Intent not found, not owned by you, or invalid claim_token.");
    strcpy(out, text);
    return BUS_OK;
}

enum bus_err validate_extend_seconds(const json_t *body, double *seconds, struct bus_error *error)
{
    return name_field(optional_number(body, "seconds", EXTEND_MIN_SECONDS, EXTEND_MAX_SECONDS,
                                      EXTEND_DEFAULT_SECONDS, seconds, error),
                      "seconds", error);
}

static enum bus_err read_result_type(const json_t *body, char result_type[8], struct bus_error *error)
{
    const json_t *type = json_object_get(body, "result_type");
    strcpy(result_type, "json");
    if (type == NULL || json_is_null(type))
        return BUS_OK;
    const char *text = validate_plain_string(type);
    if (text == NULL || (strcmp(text, "json") != 0 && strcmp(text, "text") != 0))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_result_type",
                             "result_type must be \"json\" or \"text\"");
    strcpy(result_type, text);
    return BUS_OK;
}

enum bus_err validate_fulfill(const json_t *body, char **result_json, char result_type[8],
                              struct bus_error *error)
{
    *result_json = NULL;
    enum bus_err err = read_result_type(body, result_type, error);
    if (err != BUS_OK)
        return err;
    const json_t *result = json_object_get(body, "result");
    if (result == NULL) {
        result_type[0] = '\0';
        return BUS_OK;
    }
    if (strcmp(result_type, "text") == 0 && !json_is_string(result))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_result",
                             "a text result must be a JSON string");
    *result_json = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*result_json == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    return BUS_OK;
}

enum bus_err validate_fail_error(const json_t *body, char **text, struct bus_error *error)
{
    const json_t *value = json_object_get(body, "error");
    *text = NULL;
    if (value == NULL || json_is_null(value))
        return BUS_OK;
    const char *given = validate_plain_string(value);
    if (given == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_error",
                             "error must be a string without NUL characters");
    size_t len = strlen(given);
    if (len > ERROR_TEXT_MAX_BYTES) {
        len = ERROR_TEXT_MAX_BYTES;
        while (len > 0 && ((unsigned char)given[len] & 0xC0) == 0x80)
            len--; /* never cut a UTF-8 sequence in half */
    }
    *text = strndup(given, len);
    if (*text == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    return BUS_OK;
}

bool validate_kv_key(const char *key)
{
    size_t len = strlen(key);
    return len >= 1 && len <= KV_KEY_MAX_BYTES && !has_control_char(key) && is_utf8(key);
}

enum bus_err validate_kv_set(const json_t *body, char **value_json, double *ttl,
                             struct bus_error *error)
{
    *value_json = NULL;
    if (!json_is_object(body))
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL, "body must be a JSON object");
    const json_t *value = json_object_get(body, "value");
    if (value == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL, "Missing value.");
    enum bus_err err = name_field(optional_number(body, "ttl", 1.0, KV_TTL_MAX, KV_TTL_DEFAULT,
                                                  ttl, error),
                                  "ttl", error);
    if (err != BUS_OK)
        return err;
    *value_json = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*value_json == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    return BUS_OK;
}

bool validate_idempotency_key(const char *key)
{
    size_t len = strlen(key);
    if (len < 1 || len > IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (key[i] < 0x20 || key[i] > 0x7e)
            return false;
    }
    return true;
}

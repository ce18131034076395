/* Fuzzes the JSON body validation of every endpoint (bus/validate.c) with
 * the body parsed as the router parses it, and the string validators of
 * path segments, headers and query values with the raw input. */
#include "fuzz_input.h"

#include <jansson.h>

#include "core/intent.h"
#include "bus/validate.h"

static void validate_bodies(const json_t *body)
{
    struct bus_error error;
    struct intent_new intent;
    memset(&intent, 0, sizeof intent);
    validate_publish(body, &intent, &error);
    intent_new_clear(&intent);

    char token[CLAIM_TOKEN_LEN + 1];
    validate_claim_token(body, token, &error);
    double seconds = 0;
    validate_extend_seconds(body, &seconds, &error);

    char *result = NULL;
    char result_type[8];
    validate_fulfill(body, &result, result_type, &error);
    free(result);

    char *text = NULL;
    validate_fail_error(body, &text, &error);
    free(text);

    char *value = NULL;
    double ttl = 0;
    validate_kv_set(body, &value, &ttl, &error);
    free(value);
}

static void validate_strings(const char *text)
{
    struct bus_error error;
    char *capabilities = NULL;
    validate_goal(text);
    validate_namespace(text);
    validate_worker_id(text);
    validate_owner(text);
    validate_kv_key(text);
    validate_idempotency_key(text);
    validate_capabilities(text, &capabilities, &error);
    free(capabilities);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (body != NULL)
        validate_bodies(body);
    json_decref(body);
    char *text = fuzz_string(data, size);
    if (text != NULL)
        validate_strings(text);
    free(text);
    return 0;
}

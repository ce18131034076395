/* Life-cycle helpers of the intent model's structs. */
#include "core/intent.h"

#include <stdlib.h>
#include <string.h>

#include "util/token.h"

static const char *const status_names[] = {
    [INTENT_OPEN] = "open",
    [INTENT_CLAIMED] = "claimed",
    [INTENT_FULFILLED] = "fulfilled",
    [INTENT_DEAD] = "dead",
};

const char *intent_status_name(enum intent_status status)
{
    return status_names[status];
}

bool intent_status_parse(const char *name, enum intent_status *out)
{
    for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (enum intent_status)i;
            return true;
        }
    }
    return false;
}

void intent_new_clear(struct intent_new *intent)
{
    free(intent->payload_json);
    intent->payload_json = NULL;
}

void claim_request_clear(struct claim_request *request)
{
    free(request->capabilities_json);
    request->capabilities_json = NULL;
}

void claimed_intent_clear(struct claimed_intent *claimed)
{
    free(claimed->payload_json);
    claimed->payload_json = NULL;
}

void intent_record_clear(struct intent_record *record)
{
    free(record->payload_json);
    free(record->result_json);
    free(record->last_error);
    record->payload_json = NULL;
    record->result_json = NULL;
    record->last_error = NULL;
}

bool lease_is_held(const struct lease_ref *ref, const char *status, const char *token,
                   const char *claimer, double expires_at)
{
    return status != NULL && strcmp(status, "claimed") == 0 && token != NULL && claimer != NULL &&
           token_equal(token, ref->token) && token_equal(claimer, ref->claimer) &&
           expires_at > ref->now;
}

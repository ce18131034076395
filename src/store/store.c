/* Backend-neutral parts of the store interface. */
#include "store/store.h"

#include <stdlib.h>

void stored_response_clear(struct stored_response *response)
{
    free(response->body);
    response->body = NULL;
}

void store_close(struct store *store)
{
    if (store != NULL)
        store->ops->close(store->backend);
}

void dead_letter_clear(struct dead_letter *letter)
{
    free(letter->last_error);
    free(letter->payload_json);
    letter->last_error = NULL;
    letter->payload_json = NULL;
}

/* Backend-neutral parts of the store interface. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void intent_attempt_clear(struct intent_attempt *attempt)
{
    free(attempt->error_text);
    attempt->error_text = NULL;
}

static struct goal_tally *tally_of(struct goal_tallies *tallies, const char *namespace_,
                                   const char *goal)
{
    for (size_t i = 0; i < tallies->count; i++) {
        struct goal_tally *row = &tallies->rows[i];
        if (strcmp(row->namespace_, namespace_) == 0 && strcmp(row->goal, goal) == 0)
            return row;
    }
    if (tallies->count == tallies->capacity) {
        size_t capacity = tallies->capacity ? tallies->capacity * 2 : 8;
        struct goal_tally *rows = realloc(tallies->rows, capacity * sizeof *rows);
        if (rows == NULL)
            return NULL;
        tallies->rows = rows;
        tallies->capacity = capacity;
    }
    struct goal_tally *row = &tallies->rows[tallies->count++];
    memset(row, 0, sizeof *row);
    snprintf(row->namespace_, sizeof row->namespace_, "%s", namespace_);
    snprintf(row->goal, sizeof row->goal, "%s", goal);
    return row;
}

enum bus_err goal_tallies_add(struct goal_tallies *tallies, const char *namespace_,
                              const char *goal, enum goal_tally_kind kind)
{
    struct goal_tally *row = tally_of(tallies, namespace_, goal);
    if (row == NULL)
        return BUS_ERR_INTERNAL;
    switch (kind) {
    case TALLY_LEASE_REQUEUED:
        row->lease_requeued++;
        break;
    case TALLY_LEASE_DEAD:
        row->lease_dead++;
        break;
    case TALLY_CANCELLED:
        row->cancelled++;
        break;
    }
    return BUS_OK;
}

void goal_tallies_reset(struct goal_tallies *tallies)
{
    tallies->count = 0;
}

void goal_tallies_clear(struct goal_tallies *tallies)
{
    free(tallies->rows);
    memset(tallies, 0, sizeof *tallies);
}

/* The edge's bookkeeping; see edge.h. The deadlines themselves are kept
 * by the HTTP layer (net/loop.c), which closes a connection past its
 * phase's deadline. */
#include "serve/edge.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDRESS_BUCKETS 256

/* Requests in flight from one forwarded address. */
struct address_count {
    struct address_count *next;
    unsigned count;
    char address[64];
};

struct edge {
    pthread_mutex_t lock; /* guards the table */
    struct address_count *addresses[ADDRESS_BUCKETS];
};

struct edge *edge_start(void)
{
    struct edge *edge = calloc(1, sizeof *edge);
    if (edge != NULL)
        pthread_mutex_init(&edge->lock, NULL);
    return edge;
}

void edge_stop(struct edge *edge)
{
    if (edge == NULL)
        return;
    for (size_t bucket = 0; bucket < ADDRESS_BUCKETS; bucket++) {
        while (edge->addresses[bucket] != NULL) {
            struct address_count *next = edge->addresses[bucket]->next;
            free(edge->addresses[bucket]);
            edge->addresses[bucket] = next;
        }
    }
    pthread_mutex_destroy(&edge->lock);
    free(edge);
}

enum edge_uri_verdict edge_check_uri(char *uri)
{
    enum edge_uri_verdict verdict = EDGE_URI_OK;
    char *query = strchr(uri, '?');
    size_t params = 0;
    if (strlen(uri) > EDGE_URI_MAX)
        verdict = EDGE_URI_TOO_LONG;
    for (const char *at = query; at != NULL && verdict == EDGE_URI_OK; at = strchr(at + 1, '&'))
        if (++params > EDGE_QUERY_PARAMS_MAX)
            verdict = EDGE_URI_TOO_MANY_PARAMS;
    if (verdict != EDGE_URI_OK && query != NULL)
        query[1] = '\0'; /* the query is parsed from what follows the '?' */
    return verdict;
}

/* FNV-1a: a spread good enough for a table of addresses. */
static size_t address_bucket(const char *address)
{
    uint32_t hash = 2166136261u;
    for (const unsigned char *at = (const unsigned char *)address; *at; at++)
        hash = (hash ^ *at) * 16777619u;
    return hash % ADDRESS_BUCKETS;
}

static struct address_count **find_address(struct edge *edge, const char *address)
{
    struct address_count **slot = &edge->addresses[address_bucket(address)];
    while (*slot != NULL && strcmp((*slot)->address, address) != 0)
        slot = &(*slot)->next;
    return slot;
}

bool edge_address_enter(struct edge *edge, const char *address, unsigned cap)
{
    bool admitted = false;
    pthread_mutex_lock(&edge->lock);
    struct address_count **slot = find_address(edge, address);
    if (*slot == NULL && (*slot = calloc(1, sizeof **slot)) != NULL)
        snprintf((*slot)->address, sizeof((*slot)->address), "%s", address);
    /* Out of memory: admit uncounted rather than refuse everyone. */
    admitted = *slot == NULL || (*slot)->count < cap;
    if (*slot != NULL && admitted)
        (*slot)->count++;
    pthread_mutex_unlock(&edge->lock);
    return admitted;
}

void edge_address_leave(struct edge *edge, const char *address)
{
    pthread_mutex_lock(&edge->lock);
    struct address_count **slot = find_address(edge, address);
    struct address_count *entry = *slot;
    if (entry != NULL && entry->count > 0 && --entry->count == 0) {
        *slot = entry->next;
        free(entry);
    }
    pthread_mutex_unlock(&edge->lock);
}

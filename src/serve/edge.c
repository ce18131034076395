/* The edge's bookkeeping; see edge.h. libmicrohttpd's own timeout is an
 * idle timeout, restarted by every byte, so a client sending one byte a
 * second holds its connection forever. Here each phase of a request has a
 * fixed deadline instead; a watcher thread shuts down the socket of a
 * connection past its deadline, and the library, seeing the socket end,
 * closes the connection as if the client had gone. */
#include "serve/edge.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "util/clock.h"

#define ADDRESS_BUCKETS 256

struct edge_connection {
    struct edge_connection *previous, *next;
    int fd;
    enum edge_phase phase;
    double deadline; /* monotonic seconds; 0 = none */
};

/* Requests in flight from one forwarded address. */
struct address_count {
    struct address_count *next;
    unsigned count;
    char address[64];
};

struct edge {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    pthread_t watcher;
    bool stopping;
    double head_seconds, body_seconds;
    struct edge_connection *connections;
    struct address_count *addresses[ADDRESS_BUCKETS];
};

static double phase_deadline(const struct edge *edge, enum edge_phase phase, double now)
{
    switch (phase) {
    case EDGE_IDLE:
        return now + EDGE_IDLE_SECONDS;
    case EDGE_HEAD:
        return now + edge->head_seconds;
    case EDGE_BODY:
        return now + edge->body_seconds;
    case EDGE_LINGER:
        return now + EDGE_LINGER_SECONDS;
    case EDGE_BUSY:
        break;
    }
    return 0;
}

/* Shuts down every socket past its deadline, once. Called with the lock
 * held, which also keeps each socket open: the library forgets a
 * connection here (edge_untrack) before it closes its socket. */
static void cut_late_connections(struct edge *edge, double now)
{
    for (struct edge_connection *each = edge->connections; each; each = each->next) {
        if (each->deadline > 0 && each->deadline <= now) {
            shutdown(each->fd, SHUT_RDWR);
            each->deadline = 0;
        }
    }
}

static void *watch(void *context)
{
    struct edge *edge = context;
    pthread_mutex_lock(&edge->lock);
    while (!edge->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&edge->wake, &edge->lock, &until);
        cut_late_connections(edge, clock_monotonic());
    }
    pthread_mutex_unlock(&edge->lock);
    return NULL;
}

struct edge *edge_start(double head_seconds, double body_seconds)
{
    struct edge *edge = calloc(1, sizeof *edge);
    pthread_condattr_t attributes;
    if (edge == NULL)
        return NULL;
    edge->head_seconds = head_seconds;
    edge->body_seconds = body_seconds;
    pthread_mutex_init(&edge->lock, NULL);
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&edge->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    if (pthread_create(&edge->watcher, NULL, watch, edge) != 0) {
        pthread_cond_destroy(&edge->wake);
        pthread_mutex_destroy(&edge->lock);
        free(edge);
        return NULL;
    }
    return edge;
}

void edge_stop(struct edge *edge)
{
    if (edge == NULL)
        return;
    pthread_mutex_lock(&edge->lock);
    edge->stopping = true;
    pthread_cond_signal(&edge->wake);
    pthread_mutex_unlock(&edge->lock);
    pthread_join(edge->watcher, NULL);
    while (edge->connections != NULL) {
        struct edge_connection *next = edge->connections->next;
        free(edge->connections);
        edge->connections = next;
    }
    for (size_t bucket = 0; bucket < ADDRESS_BUCKETS; bucket++) {
        while (edge->addresses[bucket] != NULL) {
            struct address_count *next = edge->addresses[bucket]->next;
            free(edge->addresses[bucket]);
            edge->addresses[bucket] = next;
        }
    }
    pthread_cond_destroy(&edge->wake);
    pthread_mutex_destroy(&edge->lock);
    free(edge);
}

struct edge_connection *edge_track(struct edge *edge, int fd)
{
    struct edge_connection *connection = calloc(1, sizeof *connection);
    if (connection == NULL)
        return NULL;
    connection->fd = fd;
    connection->phase = EDGE_IDLE;
    connection->deadline = phase_deadline(edge, EDGE_IDLE, clock_monotonic());
    pthread_mutex_lock(&edge->lock);
    connection->next = edge->connections;
    if (edge->connections != NULL)
        edge->connections->previous = connection;
    edge->connections = connection;
    pthread_mutex_unlock(&edge->lock);
    return connection;
}

void edge_untrack(struct edge *edge, struct edge_connection *connection)
{
    if (connection == NULL)
        return;
    pthread_mutex_lock(&edge->lock);
    if (connection->previous != NULL)
        connection->previous->next = connection->next;
    else
        edge->connections = connection->next;
    if (connection->next != NULL)
        connection->next->previous = connection->previous;
    pthread_mutex_unlock(&edge->lock);
    free(connection);
}

void edge_enter(struct edge *edge, struct edge_connection *connection, enum edge_phase phase)
{
    if (connection == NULL)
        return;
    double deadline = phase_deadline(edge, phase, clock_monotonic());
    pthread_mutex_lock(&edge->lock);
    connection->phase = phase;
    connection->deadline = deadline;
    pthread_mutex_unlock(&edge->lock);
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
        query[1] = '\0'; /* the library parses what follows the '?' */
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
        snprintf((*slot)->address, sizeof ((*slot)->address), "%s", address);
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

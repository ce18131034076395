/* Events between the nodes of one PostgreSQL database (postgres_notify.h).
 *
 * One thread, one connection: it LISTENs, sends what the node queued with
 * pg_notify() (up to SEND_BATCH per statement), and waits in poll() on the
 * connection's socket and an eventfd that announce() writes, so a queued
 * event goes out at once and a notification is read as soon as it comes. */
#include "store/postgres_notify.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "store/event_wire.h"
#include "store/postgres_libpq.h"
#include "util/clock.h"
#include "util/thread_name.h"
#include "util/token.h"

#define QUEUE_MAX 4096      /* events waiting to be sent; more are dropped */
#define SEND_BATCH 64       /* pg_notify() calls per statement */
#define RECONNECT_MS 1000   /* between attempts while the database is away */
#define WAIT_MS 1000        /* the longest poll(): a stop or a reconnect is due this often */

struct pg_notifier {
    char *conninfo;
    char node[EVENT_NODE_LEN + 1];
    PGconn *conn; /* the thread's alone */
    pthread_t thread;
    int wake_fd;

    pthread_mutex_t lock; /* queue and stopping */
    char *queue[QUEUE_MAX];
    size_t queued;
    bool stopping;
    bool lost_logged; /* the thread's: "cannot reach" said once per outage */
    double next_connect; /* the thread's: no attempt before (clock_now) */

    pthread_mutex_t deliver_lock; /* held while heard runs */
    store_heard_fn heard;
    void *context;
};

static void wake(struct pg_notifier *notifier)
{
    uint64_t one = 1;
    ssize_t written = write(notifier->wake_fd, &one, sizeof one);
    (void)written; /* a full counter already means "wake up" */
}

static void drain_wake(struct pg_notifier *notifier)
{
    uint64_t count;
    ssize_t got = read(notifier->wake_fd, &count, sizeof count);
    (void)got; /* EAGAIN: nothing was pending */
}

static void deliver(struct pg_notifier *notifier, const struct intent_event *event)
{
    pthread_mutex_lock(&notifier->deliver_lock);
    if (notifier->heard != NULL)
        notifier->heard(notifier->context, event);
    pthread_mutex_unlock(&notifier->deliver_lock);
}

/* After a (re)connect, events may have been missed: every claim waiter
 * tries again. Result waiters have their own periodic re-check. */
static void deliver_unknown(struct pg_notifier *notifier)
{
    struct intent_event event = {.kind = INTENT_EVENT_CLAIMABLE, .id = "", .due = 0};
    deliver(notifier, &event);
}

static void disconnect(struct pg_notifier *notifier)
{
    PQfinish(notifier->conn);
    notifier->conn = NULL;
}

/* Connects as the backend's other connections do (pg_connect), but quietly:
 * an outage is said once, not once a second. */
static PGconn *connect_quietly(const char *conninfo)
{
    const char *const keywords[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *const values[] = {"intent-bus events", "10", conninfo, NULL};
    return PQconnectdbParams(keywords, values, 1);
}

static bool connect_and_listen(struct pg_notifier *notifier)
{
    notifier->conn = connect_quietly(notifier->conninfo);
    if (notifier->conn != NULL && PQstatus(notifier->conn) == CONNECTION_OK) {
        PGresult *res = PQexec(notifier->conn, "LISTEN " PG_NOTIFY_CHANNEL);
        bool listening = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (listening) {
            if (notifier->lost_logged)
                fprintf(stderr, "intent-bus: events between nodes flow again\n");
            notifier->lost_logged = false;
            return true;
        }
    }
    if (!notifier->lost_logged)
        fprintf(stderr, "intent-bus: cannot reach PostgreSQL for events between nodes: %s",
                notifier->conn ? PQerrorMessage(notifier->conn) : "out of memory\n");
    notifier->lost_logged = true;
    disconnect(notifier);
    return false;
}

/* Takes up to SEND_BATCH queued events; the caller frees them. */
static size_t take_queued(struct pg_notifier *notifier, char **batch)
{
    pthread_mutex_lock(&notifier->lock);
    size_t count = notifier->queued < SEND_BATCH ? notifier->queued : SEND_BATCH;
    memcpy(batch, notifier->queue, count * sizeof *batch);
    memmove(notifier->queue, notifier->queue + count,
            (notifier->queued - count) * sizeof *notifier->queue);
    notifier->queued -= count;
    pthread_mutex_unlock(&notifier->lock);
    return count;
}

/* "SELECT pg_notify('channel', $1), pg_notify('channel', $2), ..." */
static void send_batch(struct pg_notifier *notifier, char **batch, size_t count)
{
    char sql[SEND_BATCH * 48 + 16] = "SELECT ";
    size_t used = strlen(sql);
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(sql + used, sizeof sql - used, "%spg_notify('%s', $%zu)",
                                 i ? ", " : "", PG_NOTIFY_CHANNEL, i + 1);
    PGresult *res = PQexecParams(notifier->conn, sql, (int)count, NULL,
                                 (const char *const *)batch, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        disconnect(notifier); /* lost: these events are the re-check's now */
    PQclear(res);
}

static void send_queued(struct pg_notifier *notifier)
{
    char *batch[SEND_BATCH];
    size_t count;
    while (notifier->conn != NULL && (count = take_queued(notifier, batch)) > 0) {
        send_batch(notifier, batch, count);
        for (size_t i = 0; i < count; i++)
            free(batch[i]);
    }
}

static void read_notifications(struct pg_notifier *notifier)
{
    if (PQconsumeInput(notifier->conn) == 0) {
        disconnect(notifier);
        return;
    }
    PGnotify *notify;
    while ((notify = PQnotifies(notifier->conn)) != NULL) {
        struct event_wire wire;
        if (event_wire_decode(notify->extra, &wire)) {
            if (strcmp(wire.node, notifier->node) != 0)
                deliver(notifier, &wire.event);
            event_wire_clear(&wire);
        }
        PQfreemem(notify);
    }
}

static bool stopping(struct pg_notifier *notifier)
{
    pthread_mutex_lock(&notifier->lock);
    bool stop = notifier->stopping;
    pthread_mutex_unlock(&notifier->lock);
    return stop;
}

/* Waits for a notification, a queued event or the timeout. */
static void wait_for_work(struct pg_notifier *notifier)
{
    struct pollfd fds[2] = {{.fd = notifier->wake_fd, .events = POLLIN},
                            {.fd = notifier->conn ? PQsocket(notifier->conn) : -1,
                             .events = POLLIN}};
    if (poll(fds, 2, WAIT_MS) < 0 && errno != EINTR)
        return;
    if (fds[0].revents & POLLIN)
        drain_wake(notifier);
}

static void *notifier_main(void *arg)
{
    struct pg_notifier *notifier = arg;
    thread_name_set("bus-pg-notify", -1);
    while (!stopping(notifier)) {
        if (notifier->conn == NULL && clock_now() >= notifier->next_connect) {
            notifier->next_connect = clock_now() + RECONNECT_MS / 1000.0;
            if (connect_and_listen(notifier))
                deliver_unknown(notifier);
        }
        if (notifier->conn != NULL)
            send_queued(notifier);
        if (notifier->conn != NULL)
            read_notifications(notifier);
        wait_for_work(notifier);
    }
    send_queued(notifier); /* what this node did last still reaches the others */
    disconnect(notifier);
    return NULL;
}

struct pg_notifier *pg_notifier_start(const char *conninfo)
{
    struct pg_notifier *notifier = calloc(1, sizeof *notifier);
    if (notifier == NULL)
        return NULL;
    notifier->conninfo = strdup(conninfo);
    notifier->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (notifier->conninfo == NULL || notifier->wake_fd < 0 ||
        !token_random_hex(notifier->node, EVENT_NODE_LEN / 2)) {
        if (notifier->wake_fd >= 0)
            close(notifier->wake_fd);
        free(notifier->conninfo);
        free(notifier);
        return NULL;
    }
    pthread_mutex_init(&notifier->lock, NULL);
    pthread_mutex_init(&notifier->deliver_lock, NULL);
    if (pthread_create(&notifier->thread, NULL, notifier_main, notifier) != 0) {
        pthread_mutex_destroy(&notifier->lock);
        pthread_mutex_destroy(&notifier->deliver_lock);
        close(notifier->wake_fd);
        free(notifier->conninfo);
        free(notifier);
        return NULL;
    }
    return notifier;
}

void pg_notifier_announce(struct pg_notifier *notifier, const struct intent_event *event)
{
    char *text = event_wire_encode(notifier->node, event);
    if (text == NULL)
        return;
    pthread_mutex_lock(&notifier->lock);
    bool kept = notifier->queued < QUEUE_MAX && !notifier->stopping;
    if (kept)
        notifier->queue[notifier->queued++] = text;
    pthread_mutex_unlock(&notifier->lock);
    if (kept)
        wake(notifier);
    else
        free(text);
}

void pg_notifier_listen(struct pg_notifier *notifier, store_heard_fn heard, void *context)
{
    pthread_mutex_lock(&notifier->deliver_lock);
    notifier->heard = heard;
    notifier->context = context;
    pthread_mutex_unlock(&notifier->deliver_lock);
}

void pg_notifier_stop(struct pg_notifier *notifier)
{
    if (notifier == NULL)
        return;
    pthread_mutex_lock(&notifier->lock);
    notifier->stopping = true;
    pthread_mutex_unlock(&notifier->lock);
    wake(notifier);
    pthread_join(notifier->thread, NULL);
    for (size_t i = 0; i < notifier->queued; i++)
        free(notifier->queue[i]);
    pthread_mutex_destroy(&notifier->lock);
    pthread_mutex_destroy(&notifier->deliver_lock);
    close(notifier->wake_fd);
    free(notifier->conninfo);
    free(notifier);
}

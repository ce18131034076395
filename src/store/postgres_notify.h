/* Events between the bus nodes that share one PostgreSQL database
 * (store_ops.announce and .listen): a thread of each node holds a
 * connection of its own that LISTENs on one channel and sends the node's
 * events with pg_notify(). Each event is tagged with the node it came
 * from, so a node never hears itself. Best effort by design: a node that
 * reconnects tells its listener "something may be claimable" once, and
 * the long-poll's periodic re-check covers notifications lost in between
 * (or never delivered, behind a transaction-pooling proxy). */
#ifndef STORE_POSTGRES_NOTIFY_H
#define STORE_POSTGRES_NOTIFY_H

#include "core/errors.h"
#include "core/event.h"
#include "store/store.h"

#define PG_NOTIFY_CHANNEL "intent_bus_events"

struct pg_notifier;

/* Starts the thread; it connects (and reconnects) by itself. NULL when out
 * of memory or the thread cannot start. */
struct pg_notifier *pg_notifier_start(const char *conninfo);

/* Queues event for the other nodes and returns at once (dropped when the
 * queue is full: the re-check covers it). */
void pg_notifier_announce(struct pg_notifier *notifier, const struct intent_event *event);

/* Sets who hears the other nodes' events; heard NULL stops, waiting for a
 * call in progress to return. */
void pg_notifier_listen(struct pg_notifier *notifier, store_heard_fn heard, void *context);

/* Stops the thread and closes its connection. NULL is a no-op. */
void pg_notifier_stop(struct pg_notifier *notifier);

#endif

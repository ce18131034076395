/* The queue's shape for /metrics: the bus's read-only views of what the
 * store holds, so that the HTTP layer never calls the store itself. */
#ifndef BUS_QUEUE_VIEW_H
#define BUS_QUEUE_VIEW_H

#include "bus/bus.h"

/* Intents per namespace and status (an expired lease counted as
 * "expired"), then the totals of dead letters and active keys. */
enum bus_err bus_queue_counts(struct bus *bus, double now, store_each_count each, void *context,
                              struct queue_totals *totals);

/* Per namespace and goal, since when the longest-waiting claimable open
 * intent has waited; at most limit rows, longest waits first. */
enum bus_err bus_oldest_open(struct bus *bus, double now, int limit, store_each_oldest each,
                             void *context);

/* Every goal that is paused or has a concurrency limit, by namespace and goal. */
enum bus_err bus_goal_controls(struct bus *bus, store_each_goal_control each, void *context);

/* The store's read pool: connections it holds, and in use now. */
void bus_pool_usage(const struct bus *bus, long *size, long *in_use);

/* How the database's commits are going. */
const struct store_write_stats *bus_write_stats(const struct bus *bus);

#endif

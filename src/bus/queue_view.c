/* The queue's shape for /metrics (queue_view.h). */
#include "bus/queue_view.h"

enum bus_err bus_queue_counts(struct bus *bus, double now, store_each_count each, void *context,
                              struct queue_totals *totals)
{
    return bus->store->ops->queue_counts(bus->store->backend, now, each, context, totals);
}

enum bus_err bus_oldest_open(struct bus *bus, double now, int limit, store_each_oldest each,
                             void *context)
{
    return bus->store->ops->oldest_open(bus->store->backend, now, limit, each, context);
}

const struct store_write_stats *bus_write_stats(const struct bus *bus)
{
    return bus->store->ops->write_stats(bus->store->backend);
}

enum bus_err bus_goal_controls(struct bus *bus, store_each_goal_control each, void *context)
{
    return bus->store->ops->goal_control_list(bus->store->backend, each, context);
}

void bus_pool_usage(const struct bus *bus, long *size, long *in_use)
{
    bus->store->ops->pool_usage(bus->store->backend, size, in_use);
}

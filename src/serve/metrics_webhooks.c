/* The completion webhooks' family of /metrics (bus/webhooks.h): attempts
 * that succeeded or failed, deliveries given up, and deliveries pending
 * in the database. Written only while webhooks are on. */
#include <stdatomic.h>
#include <stdio.h>

#include "bus/webhooks.h"
#include "serve/metrics_parts.h"
#include "serve/server.h"

void metrics_write_webhooks(FILE *out, struct server *server)
{
    struct bus *bus = &server->bus;
    if (bus->webhooks == NULL)
        return;
    const struct webhook_counters *counters = webhooks_counters(bus->webhooks);
    fprintf(out,
            "# HELP intent_bus_webhook_deliveries_total Webhook attempts by outcome: succeeded "
            "(2xx), failed (to be retried), given_up (abandoned deliveries)\n"
            "# TYPE intent_bus_webhook_deliveries_total counter\n"
            "intent_bus_webhook_deliveries_total{outcome=\"succeeded\"} %lu\n"
            "intent_bus_webhook_deliveries_total{outcome=\"failed\"} %lu\n"
            "intent_bus_webhook_deliveries_total{outcome=\"given_up\"} %lu\n",
            atomic_load(&counters->succeeded), atomic_load(&counters->failed),
            atomic_load(&counters->given_up));
    long pending = 0;
    if (webhooks_pending(bus, &pending) == BUS_OK)
        fprintf(out,
                "# HELP intent_bus_webhook_pending Webhook deliveries waiting for an attempt "
                "(all nodes)\n# TYPE intent_bus_webhook_pending gauge\n"
                "intent_bus_webhook_pending %ld\n",
                pending);
}

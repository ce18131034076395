/* The server context: everything one running `intent-bus serve` owns. It
 * is the only mutable state shared between request threads. */
#ifndef SERVE_SERVER_H
#define SERVE_SERVER_H

#include <stdatomic.h>

#include "auth/admin.h"
#include "auth/api_key.h"
#include "auth/rate_limit.h"
#include "bus/bus.h"
#include "serve/config.h"
#include "serve/metrics.h"
#include "store/store.h"

struct net_server;
struct edge;
struct long_poll;
struct scheduler;

struct server {
    struct config config;
    struct store *store;
    struct bus bus;
    struct auth auth;
    struct admin_auth admin;
    struct rate_limiter rate_limits; /* tester keys' requests per minute */
    struct http_metrics metrics;
    char metrics_token_hash[65];     /* SHA-256 of BUS_METRICS_TOKEN, "" = none */
    struct net_server *net; /* the HTTP layer */
    struct long_poll *long_poll;
    struct scheduler *scheduler; /* publishes due schedules */
    struct edge *edge; /* per-address counts of the HTTP edge */
    struct offload *offload;    /* runs the admin, schedule and metrics requests */
    atomic_int parked_requests; /* long-polls and writes pending or resumed, not completed */
    atomic_bool draining;       /* shutting down: writes are no longer left pending */
    char *tls_cert_pem; /* owned while the server serves HTTPS */
    char *tls_key_pem;
};

/* `intent-bus serve`: parses argv, runs until SIGINT or SIGTERM, returns
 * the process exit code. */
int server_main(int argc, char **argv);

#endif

/* `intent-bus serve`: wires configuration, store, bus, auth and HTTP
 * together, then waits for a signal to shut down in order: stop taking
 * requests, let the writer commit what it was given, close the database. */
#include "serve/server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bus/webhooks.h"
#include "core/signature.h"
#include "util/token.h"
#include "serve/http.h"
#include "serve/long_poll.h"
#include "serve/scheduler.h"
#include "serve/secret_file.h"
#include "util/clock.h"
#include "util/zone.h"
#include "version.h"

/* Blocks SIGINT and SIGTERM in every thread (threads inherit the mask), so
 * the main thread alone receives them through sigwait. */
static void block_shutdown_signals(sigset_t *signals)
{
    sigemptyset(signals);
    sigaddset(signals, SIGINT);
    sigaddset(signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, signals, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Starts the completion webhooks when the operator allows them
 * (BUS_WEBHOOK_ALLOW). Their base secret is BUS_WEBHOOK_SECRET, else
 * derived from the API key: the hex HMAC-SHA256 under BUS_SECRET of
 * "intent-bus webhook secret"; each key's signing secret is made from it
 * (webhooks_key_secret, docs/PROTOCOL-EXTENSIONS.md). 0, or -1 after
 * saying why. */
static int start_webhooks(struct server *server)
{
    const struct config *config = &server->config;
    if (config->webhook_allow[0] == '\0')
        return 0;
    char derived[SIGNATURE_HEX_LEN + 1];
    static const char label[] = "intent-bus webhook secret";
    signature_hmac_hex(config->secret, strlen(config->secret), label, sizeof label - 1, derived);
    struct webhook_settings settings = {
        .allow = config->webhook_allow,
        .allow_private = config->webhook_allow_private,
        .secret = config->webhook_secret[0] ? config->webhook_secret : derived,
        .retry_base = config->webhook_retry_base,
    };
    char why[256];
    server->bus.webhooks = webhooks_start(&server->bus, &settings, why, sizeof why);
    if (server->bus.webhooks == NULL) {
        fprintf(stderr, "intent-bus: webhooks: %s\n", why);
        return -1;
    }
    return 0;
}

/* After the HTTP threads are gone: nothing pokes the webhooks any more. */
static void stop_webhooks(struct server *server)
{
    struct webhooks *webhooks = server->bus.webhooks;
    server->bus.webhooks = NULL;
    webhooks_stop(webhooks);
}

static int open_server(struct server *server)
{
    const struct config *config = &server->config;
    server->store = config->database_url[0]
                        ? store_postgres_open(config->database_url,
                                              config_read_connections(config), config->pg_writers)
                        : store_sqlite_open(config->db_path, config_read_connections(config),
                                            config->sync_full);
    if (server->store == NULL)
        return -1;
    struct bus_settings settings = {.lease_seconds = server->config.lease_seconds,
                                    .cleanup_interval = server->config.cleanup_interval,
                                    .retention_seconds = server->config.retention_seconds};
    auth_init(&server->auth, server->config.secret, server->store);
    bus_init(&server->bus, server->store, &settings, clock_now());
    admin_auth_init(&server->admin, server->config.admin_token, server->config.dashboard_password,
                    server->config.viewer_password);
    rate_limiter_init(&server->rate_limits, server->config.tester_rate_limit, 60.0,
                      server->store);
    http_metrics_init(&server->metrics, clock_now());
    if (server->config.metrics_token[0])
        token_sha256_hex(server->config.metrics_token, strlen(server->config.metrics_token),
                         server->metrics_token_hash);
    server->long_poll = long_poll_start(server);
    /* In maintenance mode nothing is published, by clients or schedules. */
    bool scheduling = !server->config.maintenance;
    server->scheduler = server->long_poll && scheduling ? scheduler_start(&server->bus) : NULL;
    if (server->long_poll == NULL || (scheduling && server->scheduler == NULL) ||
        start_webhooks(server) != 0 || http_start(server) != 0) {
        scheduler_stop(server->scheduler);
        long_poll_stop(server->long_poll);
        http_stop(server);
        long_poll_free(server->long_poll);
        stop_webhooks(server);
        rate_limiter_destroy(&server->rate_limits);
        bus_destroy(&server->bus);
        store_close(server->store);
        return -1;
    }
    return 0;
}

static void close_server(struct server *server)
{
    scheduler_stop(server->scheduler);
    long_poll_stop(server->long_poll); /* parked requests answered first */
    http_drain_parked(server, 5.0);
    http_stop(server);
    long_poll_free(server->long_poll);
    stop_webhooks(server);
    rate_limiter_destroy(&server->rate_limits);
    bus_destroy(&server->bus);
    store_close(server->store);
}

int server_main(int argc, char **argv)
{
    struct server server;
    memset(&server, 0, sizeof server);
    int rc = config_load(&server.config, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (secret_resolve(&server.config) != 0)
        return 2;
    sigset_t signals;
    block_shutdown_signals(&signals);
    zone_init(); /* before any thread: schedules switch TZ later */
    if (open_server(&server) != 0)
        return 1;
    char database[sizeof server.config.database_url + 32];
    config_database_label(&server.config, database, sizeof database);
    fprintf(stderr, "intent-bus %s listening on %s://%s:%u (database %s, protocol %s)\n",
            INTENT_BUS_VERSION, server.config.tls_cert[0] ? "https" : "http",
            server.config.bind, http_bound_port(&server), database, INTENT_PROTOCOL_VERSION);
    if (!server.config.admin_token[0] && !server.config.dashboard_password[0])
        fprintf(stderr, "intent-bus: the admin API and dashboard are off; set BUS_ADMIN_SECRET "
                        "(sent as X-Admin-Token) or DASHBOARD_PASSWORD (Basic auth, user admin) "
                        "to turn them on\n");
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    fprintf(stderr, "intent-bus: %s received, shutting down\n",
            signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    close_server(&server);
    return 0;
}

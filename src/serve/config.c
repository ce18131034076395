/* Configuration parsing; see config.h. Every value is checked here, so the
 * rest of the server can trust it. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "serve/config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/rate_limit.h"
#include "core/intent.h"
#include "serve/access_log.h"
#include "serve/edge.h"

void config_print_usage(FILE *out)
{
    /* The man page intent-bus-serve(8) is generated from this text. */
    fputs("usage: intent-bus serve [--bind ADDR] [--port N] [--db PATH | --database URL]\n"
          "                        [--threads N] [--tls-cert PEM --tls-key PEM]\n"
          "\n"
          "Runs the bus until SIGTERM or SIGINT, which drain it: no new requests,\n"
          "every acknowledged write committed, then exit 0. Flags win over the\n"
          "environment.\n"
          "\n"
          "options:\n"
          "  --bind ADDR    IPv4 address to listen on (default 127.0.0.1; 0.0.0.0: all)\n"
          "  --port N       TCP port (default 8080; 0 picks a free one)\n"
          "  --db PATH      SQLite database file (default $BUS_DB_PATH or infrastructure.db)\n"
          "  --database URL PostgreSQL instead of SQLite: a libpq URI such as\n"
          "                 postgresql://bus@db.example/bus (default $BUS_DATABASE_URL);\n"
          "                 any number of nodes may share one database. Not with --db\n"
          "  --threads N    HTTP worker threads (default: one fewer than the CPUs, at least 1)\n"
          "  --tls-cert PEM, --tls-key PEM   serve HTTPS with this certificate and key\n"
          "  --help         this help\n"
          "\n"
          "environment:\n"
          "  BUS_SECRET     the API key; unset, a random one is made on first start and\n"
          "                 kept in PATH.secret (mode 0600)\n"
          "  BUS_DB_PATH    the database file, as --db\n"
          "  BUS_DATABASE_URL\n"
          "                 the PostgreSQL database, as --database; wins over BUS_DB_PATH.\n"
          "                 BUS_SECRET is then required (every node uses the same key)\n"
          "  BUS_CLEANUP_INTERVAL_SECONDS\n"
          "                 seconds between cleanup passes, 300-86400 (default 21600)\n"
          "  BUS_RETENTION_SECONDS\n"
          "                 how long fulfilled and dead intents and dead letters are\n"
          "                 kept, 60-604800 (default 604800, 7 days)\n"
          "  BUS_CLAIM_TIMEOUT_SECONDS\n"
          "                 lease given by /claim, 1-3600 (default 60)\n"
          "  BUS_ADMIN_SECRET\n"
          "                 admin token (X-Admin-Token); unset, with no\n"
          "                 DASHBOARD_PASSWORD, the admin API refuses everyone\n"
          "  DASHBOARD_PASSWORD\n"
          "                 admin password for HTTP Basic (user admin)\n"
          "  BUS_ADMIN_READONLY_PASSWORD\n"
          "                 password for HTTP Basic user viewer: sees every admin\n"
          "                 view, may not act (403)\n"
          "  BUS_METRICS_TOKEN\n"
          "                 bearer token for GET /metrics\n"
          "  BUS_MAINTENANCE_MODE\n"
          "                 true: client endpoints answer 503 maintenance\n"
          "  BUS_TESTER_RATE_LIMIT\n"
          "                 requests per minute per tester key (default 60)\n"
          "  BUS_REQUIRE_SIGNATURES\n"
          "                 true: every client request must be HMAC-signed\n"
          "  BUS_ENFORCE_HTTPS\n"
          "                 true: requests over plain HTTP get 403 (not /health)\n"
          "  BUS_TRUST_PROXY\n"
          "                 true: believe X-Forwarded-Proto and X-Forwarded-For\n"
          "                 (only behind your own reverse proxy)\n"
          "  BUS_SYNC       normal (default): a commit survives a killed process;\n"
          "                 full: it also survives power loss (slower)\n"
          "  BUS_PG_WRITERS PostgreSQL: writer connections of this node, 1-16\n"
          "                 (default 2); SQLite always has one writer\n"
          "  BUS_LOG_LEVEL  debug, info (default; a line per request), warn, error, off\n"
          "  BUS_MAX_CONNECTIONS_PER_IP\n"
          "                 connections one client address may hold, 1-4096 (default\n"
          "                 256); behind BUS_TRUST_PROXY, requests in flight per\n"
          "                 forwarded address (docs/SECURITY.md)\n"
          "  BUS_HEAD_TIMEOUT_SECONDS\n"
          "                 seconds from a request line to the end of its headers,\n"
          "                 1-300 (default 10)\n"
          "  BUS_BODY_TIMEOUT_SECONDS\n"
          "                 seconds for a request body, 1-3600 (default 30)\n"
          "  BUS_WEBHOOK_ALLOW\n"
          "                 completion webhooks: comma-separated host[:port]\n"
          "                 patterns (* a wildcard) notify_url may name; unset: off\n"
          "  BUS_WEBHOOK_ALLOW_PRIVATE\n"
          "                 true: webhooks may reach loopback and private addresses\n"
          "  BUS_WEBHOOK_SECRET\n"
          "                 the webhooks' signing key (default: derived from\n"
          "                 BUS_SECRET, docs/PROTOCOL-EXTENSIONS.md)\n"
          "  BUS_WEBHOOK_RETRY_BASE_MS\n"
          "                 first retry of a failed webhook, then doubling\n"
          "                 (default 5000)\n"
          "\n"
          "Admin secrets must differ from the API key.\n",
          out);
}

static int parse_number(const char *text, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(value) || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

static int copy_option(char *out, size_t size, const char *value, const char *name)
{
    if (strlen(value) >= size || value[0] == '\0') {
        fprintf(stderr, "intent-bus: %s is empty or too long\n", name);
        return -1;
    }
    strcpy(out, value);
    return 0;
}

static bool env_is_true(const char *name)
{
    const char *value = getenv(name);
    return value && (strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
                     strcasecmp(value, "yes") == 0);
}

/* One of the HTTP edge's limits (serve/edge.h): whole seconds or a count,
 * 1 to max; 0, or -1 after saying what is wrong. */
static int load_edge_limit(const char *name, double max, double *out)
{
    const char *value = getenv(name);
    if (!value || !value[0])
        return 0;
    if (parse_number(value, 1, max, out) == 0 && *out == floor(*out))
        return 0;
    fprintf(stderr, "intent-bus: %s must be a whole number, 1 to %g\n", name, max);
    return -1;
}

static int load_edge_limits(struct config *config)
{
    double cap = EDGE_DEFAULT_CONNECTIONS_PER_IP;
    config->head_timeout = EDGE_DEFAULT_HEAD_SECONDS;
    config->body_timeout = EDGE_DEFAULT_BODY_SECONDS;
    if (load_edge_limit("BUS_MAX_CONNECTIONS_PER_IP", 4096, &cap) != 0 ||
        load_edge_limit("BUS_HEAD_TIMEOUT_SECONDS", 300, &config->head_timeout) != 0 ||
        load_edge_limit("BUS_BODY_TIMEOUT_SECONDS", 3600, &config->body_timeout) != 0)
        return -1;
    config->max_connections_per_ip = (int)cap;
    return 0;
}

/* Completion webhooks (bus/webhooks.h): off unless BUS_WEBHOOK_ALLOW is
 * set. 0, or -1 after saying what is wrong. */
static int load_webhook_settings(struct config *config)
{
    const char *value;
    if ((value = getenv("BUS_WEBHOOK_ALLOW")) && value[0] &&
        copy_option(config->webhook_allow, sizeof config->webhook_allow, value,
                    "BUS_WEBHOOK_ALLOW") != 0)
        return -1;
    if ((value = getenv("BUS_WEBHOOK_SECRET")) && value[0] &&
        copy_option(config->webhook_secret, sizeof config->webhook_secret, value,
                    "BUS_WEBHOOK_SECRET") != 0)
        return -1;
    config->webhook_allow_private = env_is_true("BUS_WEBHOOK_ALLOW_PRIVATE");
    config->webhook_retry_base = 0; /* the default */
    double milliseconds = 0;
    if ((value = getenv("BUS_WEBHOOK_RETRY_BASE_MS")) && value[0]) {
        if (parse_number(value, 10, 3600000, &milliseconds) != 0) {
            fprintf(stderr, "intent-bus: BUS_WEBHOOK_RETRY_BASE_MS must be 10 to 3600000\n");
            return -1;
        }
        config->webhook_retry_base = milliseconds / 1000.0;
    }
    return 0;
}

static int load_environment(struct config *config)
{
    const char *value;
    if ((value = getenv("BUS_SECRET")) && value[0] &&
        copy_option(config->secret, sizeof config->secret, value, "BUS_SECRET") != 0)
        return -1;
    if ((value = getenv("BUS_DB_PATH")) && value[0] &&
        copy_option(config->db_path, sizeof config->db_path, value, "BUS_DB_PATH") != 0)
        return -1;
    if ((value = getenv("BUS_DATABASE_URL")) && value[0] &&
        copy_option(config->database_url, sizeof config->database_url, value,
                    "BUS_DATABASE_URL") != 0)
        return -1;
    if ((value = getenv("BUS_CLEANUP_INTERVAL_SECONDS")) && value[0] &&
        parse_number(value, CONFIG_CLEANUP_MIN, CONFIG_CLEANUP_MAX, &config->cleanup_interval)) {
        fprintf(stderr, "intent-bus: BUS_CLEANUP_INTERVAL_SECONDS must be %g to %g\n",
                CONFIG_CLEANUP_MIN, CONFIG_CLEANUP_MAX);
        return -1;
    }
    if ((value = getenv("BUS_RETENTION_SECONDS")) && value[0] &&
        parse_number(value, CONFIG_RETENTION_MIN, RETENTION_SECONDS, &config->retention_seconds)) {
        fprintf(stderr, "intent-bus: BUS_RETENTION_SECONDS must be %g to %g\n",
                CONFIG_RETENTION_MIN, RETENTION_SECONDS);
        return -1;
    }
    if ((value = getenv("BUS_CLAIM_TIMEOUT_SECONDS")) && value[0] &&
        (parse_number(value, 1, 3600, &config->lease_seconds) ||
         config->lease_seconds != floor(config->lease_seconds))) {
        fprintf(stderr, "intent-bus: BUS_CLAIM_TIMEOUT_SECONDS must be a whole number, 1 to 3600\n");
        return -1;
    }
    if ((value = getenv("BUS_ADMIN_SECRET")) && value[0] &&
        copy_option(config->admin_token, sizeof config->admin_token, value,
                    "BUS_ADMIN_SECRET") != 0)
        return -1;
    if ((value = getenv("DASHBOARD_PASSWORD")) && value[0] &&
        copy_option(config->dashboard_password, sizeof config->dashboard_password, value,
                    "DASHBOARD_PASSWORD") != 0)
        return -1;
    if ((value = getenv("BUS_ADMIN_READONLY_PASSWORD")) && value[0] &&
        copy_option(config->viewer_password, sizeof config->viewer_password, value,
                    "BUS_ADMIN_READONLY_PASSWORD") != 0)
        return -1;
    if ((value = getenv("BUS_METRICS_TOKEN")) && value[0] &&
        copy_option(config->metrics_token, sizeof config->metrics_token, value,
                    "BUS_METRICS_TOKEN") != 0)
        return -1;
    enum log_level level = LOG_INFO;
    if ((value = getenv("BUS_LOG_LEVEL")) && value[0] && !log_level_parse(value, &level)) {
        fprintf(stderr, "intent-bus: BUS_LOG_LEVEL must be debug, info, warn, error or off\n");
        return -1;
    }
    config->log_level = (int)level;
    config->maintenance = env_is_true("BUS_MAINTENANCE_MODE");
    config->require_signatures = env_is_true("BUS_REQUIRE_SIGNATURES");
    if ((value = getenv("BUS_SYNC")) && value[0]) {
        if (strcmp(value, "full") != 0 && strcmp(value, "normal") != 0) {
            fprintf(stderr, "intent-bus: BUS_SYNC must be normal or full\n");
            return -1;
        }
        config->sync_full = strcmp(value, "full") == 0;
    }
    double writers = 0;
    if ((value = getenv("BUS_PG_WRITERS")) && value[0]) {
        if (parse_number(value, 1, 16, &writers) != 0 || writers != floor(writers)) {
            fprintf(stderr, "intent-bus: BUS_PG_WRITERS must be a whole number, 1 to 16\n");
            return -1;
        }
        config->pg_writers = (int)writers;
    }
    config->enforce_https = env_is_true("BUS_ENFORCE_HTTPS");
    config->trust_proxy = env_is_true("BUS_TRUST_PROXY");
    double rate = 0;
    if ((value = getenv("BUS_TESTER_RATE_LIMIT")) && value[0]) {
        if (parse_number(value, 1, 1000000, &rate) != 0 || rate != floor(rate)) {
            fprintf(stderr, "intent-bus: BUS_TESTER_RATE_LIMIT must be a whole number, 1 to 1000000\n");
            return -1;
        }
        config->tester_rate_limit = (int)rate;
    }
    return load_edge_limits(config) == 0 ? load_webhook_settings(config) : -1;
}

static int apply_flag(struct config *config, int option, const char *value)
{
    double number = 0;
    switch (option) {
    case 'b':
        return copy_option(config->bind, sizeof config->bind, value, "--bind");
    case 'p':
        if (parse_number(value, 0, 65535, &number) != 0 || number != floor(number))
            break;
        config->port = (int)number;
        return 0;
    case 'd':
        /* A file named on the command line wins over $BUS_DATABASE_URL. */
        config->database_url[0] = '\0';
        return copy_option(config->db_path, sizeof config->db_path, value, "--db");
    case 'D':
        return copy_option(config->database_url, sizeof config->database_url, value,
                           "--database");
    case 't':
        if (parse_number(value, 1, 1024, &number) != 0 || number != floor(number))
            break;
        config->threads = (int)number;
        return 0;
    case 'c':
        return copy_option(config->tls_cert, sizeof config->tls_cert, value, "--tls-cert");
    case 'k':
        return copy_option(config->tls_key, sizeof config->tls_key, value, "--tls-key");
    }
    fprintf(stderr, "intent-bus: invalid value '%s'\n", value);
    return -1;
}

/* The CPUs this process may run on (a cpuset or taskset counts), or those
 * online when the affinity cannot be read. */
static int usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

/* The default --threads for cpus usable CPUs (config.h). */
static int default_threads(int cpus)
{
    if (cpus - 1 > CONFIG_DEFAULT_THREADS_MAX)
        return CONFIG_DEFAULT_THREADS_MAX;
    return cpus > 1 ? cpus - 1 : 1;
}

int config_read_connections(const struct config *config)
{
    return config->threads > CONFIG_READ_CONNECTIONS_MIN ? config->threads
                                                          : CONFIG_READ_CONNECTIONS_MIN;
}

int config_load(struct config *config, int argc, char **argv)
{
    static const struct option options[] = {
        {"bind", required_argument, NULL, 'b'}, {"port", required_argument, NULL, 'p'},
        {"db", required_argument, NULL, 'd'},   {"threads", required_argument, NULL, 't'},
        {"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
        {"database", required_argument, NULL, 'D'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool db_flag = false;
    bool database_flag = false;
    memset(config, 0, sizeof *config);
    strcpy(config->bind, "127.0.0.1");
    config->port = CONFIG_DEFAULT_PORT;
    strcpy(config->db_path, CONFIG_DEFAULT_DB);
    config->threads = default_threads(usable_cpus());
    config->cleanup_interval = CONFIG_CLEANUP_DEFAULT;
    config->lease_seconds = CONFIG_LEASE_DEFAULT;
    config->retention_seconds = RETENTION_SECONDS;
    config->tester_rate_limit = TESTER_REQUESTS_PER_MINUTE;
    if (load_environment(config) != 0)
        return -1;
    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (option == 'h') {
            config_print_usage(stdout);
            return 1;
        }
        if (option == '?' || apply_flag(config, option, optarg) != 0) {
            config_print_usage(stderr);
            return -1;
        }
        db_flag |= option == 'd';
        database_flag |= option == 'D';
    }
    if (db_flag && database_flag) {
        fprintf(stderr, "intent-bus: --db (SQLite) and --database (PostgreSQL) exclude each other\n");
        return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "intent-bus: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if ((config->tls_cert[0] == '\0') != (config->tls_key[0] == '\0')) {
        fprintf(stderr, "intent-bus: --tls-cert and --tls-key go together\n");
        return -1;
    }
    /* A generated key lives in a file beside the SQLite database; nodes
     * sharing a PostgreSQL database must share a key they are given. */
    if (config->database_url[0] && !config->secret[0]) {
        fprintf(stderr, "intent-bus: with a PostgreSQL database, set BUS_SECRET (the same on "
                        "every node)\n");
        return -1;
    }
    return 0;
}

bool config_is_database_url(const char *text)
{
    return strncmp(text, "postgres://", 11) == 0 || strncmp(text, "postgresql://", 13) == 0;
}

/* Masks the password of a URI's user:password@ and of a password=
 * keyword; the rest is shown as given. */
void config_database_label(const struct config *config, char *out, size_t size)
{
    if (!config->database_url[0]) {
        snprintf(out, size, "%s", config->db_path);
        return;
    }
    const char *url = config->database_url;
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (colon != NULL)
        snprintf(out, size, "PostgreSQL %.*s:***%s", (int)(colon - url), url, at);
    else if (strstr(url, "password=") != NULL)
        snprintf(out, size, "PostgreSQL (connection string with a password)");
    else
        snprintf(out, size, "PostgreSQL %s", url);
}

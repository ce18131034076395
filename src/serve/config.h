/* Server configuration: the spec's environment variables (section 12) and
 * the command-line flags of `intent-bus serve`. Flags win over the
 * environment. */
#ifndef SERVE_CONFIG_H
#define SERVE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#define CONFIG_DEFAULT_PORT 8080
/* HTTP threads by default: one fewer than the CPUs this process may run
 * on (the writer keeps one busy under load), at least 1, at most
 * CONFIG_DEFAULT_THREADS_MAX (docs/BENCHMARKS.md, "The default follows the
 * cores"). */
#define CONFIG_DEFAULT_THREADS_MAX 16
/* Read connections: one per HTTP thread, and never fewer than this, for the
 * threads beside them that read too (scheduler, webhooks, long-poll). */
#define CONFIG_READ_CONNECTIONS_MIN 4
#define CONFIG_DEFAULT_DB "infrastructure.db"
#define CONFIG_CLEANUP_DEFAULT 21600.0
#define CONFIG_CLEANUP_MIN 300.0
#define CONFIG_CLEANUP_MAX 86400.0
/* Retention may be shortened (a busy bus on a small disk), never made longer
 * than the spec's 7 days. */
#define CONFIG_RETENTION_MIN 60.0
#define CONFIG_LEASE_DEFAULT 60.0

struct config {
    char bind[64];
    int port;
    char db_path[PATH_MAX];
    /* --database or BUS_DATABASE_URL: a libpq URI; "" = SQLite at db_path */
    char database_url[1024];
    int threads;
    int pg_writers;            /* BUS_PG_WRITERS: PostgreSQL writer connections, 0 = default */
    char secret[512];          /* BUS_SECRET, or the generated key */
    char secret_path[PATH_MAX + 8]; /* where a generated key is kept, "" if none */
    double cleanup_interval;
    double lease_seconds;
    double retention_seconds;
    char admin_token[512];        /* BUS_ADMIN_SECRET, "" = none */
    char dashboard_password[512]; /* DASHBOARD_PASSWORD, "" = none */
    char viewer_password[512];    /* BUS_ADMIN_READONLY_PASSWORD, "" = none */
    bool maintenance;             /* BUS_MAINTENANCE_MODE */
    bool require_signatures;      /* BUS_REQUIRE_SIGNATURES */
    bool sync_full;               /* BUS_SYNC=full: fsync every commit batch */
    bool enforce_https;           /* BUS_ENFORCE_HTTPS */
    bool trust_proxy;             /* BUS_TRUST_PROXY: believe X-Forwarded-For/-Proto */
    char tls_cert[PATH_MAX];      /* --tls-cert: PEM certificate chain, "" = plain HTTP */
    char tls_key[PATH_MAX];       /* --tls-key: PEM private key */
    char metrics_token[512];      /* BUS_METRICS_TOKEN, "" = none */
    int log_level;                /* BUS_LOG_LEVEL, an enum log_level */
    int tester_rate_limit;        /* BUS_TESTER_RATE_LIMIT: requests/minute per tester key */
    int max_connections_per_ip;   /* BUS_MAX_CONNECTIONS_PER_IP (edge.h) */
    double head_timeout;          /* BUS_HEAD_TIMEOUT_SECONDS (edge.h) */
    double body_timeout;          /* BUS_BODY_TIMEOUT_SECONDS (edge.h) */
    char webhook_allow[4096];     /* BUS_WEBHOOK_ALLOW, "" = webhooks off */
    bool webhook_allow_private;   /* BUS_WEBHOOK_ALLOW_PRIVATE */
    char webhook_secret[512];     /* BUS_WEBHOOK_SECRET, "" = derived from secret */
    double webhook_retry_base;    /* BUS_WEBHOOK_RETRY_BASE_MS in seconds, 0 = default */
};

/* Reads the environment and argv (after "serve"). Returns 0, 1 when --help
 * was printed, or -1 after printing what is wrong on stderr. */
int config_load(struct config *config, int argc, char **argv);

/* The read connections the store opens for config. */
int config_read_connections(const struct config *config);

/* The database, for the start-up line: the SQLite path, or the URL with
 * any password masked. */
void config_database_label(const struct config *config, char *out, size_t size);

/* Whether text names a PostgreSQL database (a postgres:// or postgresql://
 * URI) rather than a file. */
bool config_is_database_url(const char *text);

/* --help prints it on stdout, a usage error on stderr. */
void config_print_usage(FILE *out);

#endif

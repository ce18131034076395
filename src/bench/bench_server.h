/* A bus `intent-bus bench` starts for itself when no --url is given: this
 * same binary, `serve` on a free loopback port, on a temporary SQLite
 * database or on the PostgreSQL database it was given. */
#ifndef BENCH_SERVER_H
#define BENCH_SERVER_H

#include <sys/types.h>

/* What every server of one run shares. */
struct bench_server_setup {
    const char *api_key;   /* BUS_SECRET: the same key on every node */
    const char *database;  /* a libpq URI (--database), or NULL: SQLite */
    const char *extra_env; /* NULL or "NAME=value", e.g. BUS_SYNC=full */
};

struct bench_server {
    pid_t pid;
    char url[64];
    char directory[64]; /* SQLite: the temporary directory holding the database */
};

/* A loopback port nobody listens on right now (the kernel's choice for
 * port 0), or -1. Two calls may give the same port: the caller checks. */
int bench_server_free_port(void);

/* Starts the server on port without waiting for it. Returns 0, or -1 after
 * printing why; either way bench_server_stop cleans up. */
int bench_server_spawn(struct bench_server *server, const struct bench_server_setup *setup,
                       int port);

/* Waits until the spawned server's /health answers. Returns 0, or -1 after
 * printing why (it exited, or did not answer within 10 s). */
int bench_server_wait(struct bench_server *server);

/* Asks it to stop (SIGTERM) without waiting: stopping several servers
 * overlaps their drains. */
void bench_server_signal(struct bench_server *server);

/* Stops it (SIGTERM, then waits) and removes its temporary files. */
void bench_server_stop(struct bench_server *server);

#endif

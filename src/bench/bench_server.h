/* The bus `intent-bus bench` starts for itself when no --url is given: this
 * same binary, `serve` on a free loopback port and a temporary database. */
#ifndef BENCH_BENCH_SERVER_H
#define BENCH_BENCH_SERVER_H

#include <sys/types.h>

struct bench_server {
    pid_t pid;
    char url[64];
    char api_key[65];
    char directory[64]; /* the temporary directory holding the database */
};

/* Starts the server and waits until /health answers. extra_env is NULL or
 * "NAME=value" (e.g. BUS_SYNC=full). Returns 0, or -1 after printing why. */
int bench_server_start(struct bench_server *server, const char *extra_env);

/* Stops it (SIGTERM, then waits) and removes its temporary files. */
void bench_server_stop(struct bench_server *server);

#endif

/* The server context: everything one running `intent-bus serve` owns. It
 * is the only mutable state shared between request threads. */
#ifndef SERVE_SERVER_H
#define SERVE_SERVER_H

#include "auth/api_key.h"
#include "bus/bus.h"
#include "serve/config.h"
#include "store/store.h"

struct MHD_Daemon;

struct server {
    struct config config;
    struct store *store;
    struct bus bus;
    struct auth auth;
    struct MHD_Daemon *daemon;
};

/* `intent-bus serve`: parses argv, runs until SIGINT or SIGTERM, returns
 * the process exit code. */
int server_main(int argc, char **argv);

#endif

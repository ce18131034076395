/* The buses a bench run talks to: the nodes given with --url (a comma-
 * separated list), or the ones the bench starts itself, one on a temporary
 * SQLite database or --nodes N on one PostgreSQL database. Agents are
 * spread over them round-robin (bench_engine.h). */
#ifndef BENCH_NODES_H
#define BENCH_NODES_H

#include <stdbool.h>

#include "bench/bench_server.h"

#define BENCH_MOST_NODES 16

struct bench_nodes {
    int count;
    const char *urls[BENCH_MOST_NODES]; /* into list or into servers[i].url */
    bool own;                           /* started here: servers[] hold them */
    struct bench_server servers[BENCH_MOST_NODES];
    char api_key[65]; /* own nodes' BUS_SECRET */
    char *list;       /* --url's copy, split in place; owned */
    double cpu_at_start;
};

/* Takes --url's comma-separated list (at most BENCH_MOST_NODES, none
 * empty). Returns 0, or -1 after printing why. */
int bench_nodes_parse(struct bench_nodes *nodes, const char *url_list);

/* Starts count servers (count > 1 needs database) with one fresh key and
 * waits until each answers /health. Returns 0, or -1 after printing why;
 * either way bench_nodes_stop cleans up. */
int bench_nodes_start(struct bench_nodes *nodes, int count, const struct bench_server_setup *setup);

/* Marks the start of the measured part: the servers' CPU time so far. */
void bench_nodes_cpu_mark(struct bench_nodes *nodes);

/* CPU seconds the own servers used since bench_nodes_cpu_mark, summed over
 * every node; -1 when not known (nodes given with --url). */
double bench_nodes_cpu_since_mark(const struct bench_nodes *nodes);

/* Stops own servers (all at once) and frees the list. */
void bench_nodes_stop(struct bench_nodes *nodes);

#endif

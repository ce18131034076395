/* The bench's nodes; see bench_nodes.h. */
#include "bench/bench_nodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_cpu.h"
#include "util/token.h"

int bench_nodes_parse(struct bench_nodes *nodes, const char *url_list)
{
    memset(nodes, 0, sizeof *nodes);
    nodes->list = strdup(url_list);
    if (nodes->list == NULL) {
        fprintf(stderr, "intent-bus bench: out of memory\n");
        return -1;
    }
    /* strsep, not strtok: an empty entry ("a,,b", a trailing comma) is an
     * error to report, not something to skip. */
    char *rest = nodes->list;
    char *url;
    while ((url = strsep(&rest, ",")) != NULL) {
        if (*url == '\0' || nodes->count == BENCH_MOST_NODES) {
            fprintf(stderr, "intent-bus bench: --url takes 1 to %d URLs, comma-separated\n",
                    BENCH_MOST_NODES);
            return -1;
        }
        nodes->urls[nodes->count++] = url;
    }
    return 0;
}

static bool port_taken(const struct bench_nodes *nodes, int before, int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    for (int i = 0; i < before; i++) {
        if (strcmp(nodes->servers[i].url, url) == 0)
            return true;
    }
    return false;
}

/* A free port that no node started before this one was given: the kernel
 * may hand out a port again once the probe socket is closed. */
static int distinct_port(const struct bench_nodes *nodes, int before)
{
    for (int tries = 0; tries < 20; tries++) {
        int port = bench_server_free_port();
        if (port < 0 || !port_taken(nodes, before, port))
            return port;
    }
    return -1;
}

int bench_nodes_start(struct bench_nodes *nodes, int count, const struct bench_server_setup *setup)
{
    memset(nodes, 0, sizeof *nodes);
    nodes->own = true;
    if (count < 1 || count > BENCH_MOST_NODES || (count > 1 && setup->database == NULL) ||
        !token_random_hex(nodes->api_key, 32)) {
        fprintf(stderr, "intent-bus bench: cannot prepare %d servers\n", count);
        return -1;
    }
    struct bench_server_setup mine = *setup;
    mine.api_key = nodes->api_key;
    /* All spawned first, then waited for: their start-ups overlap (on
     * PostgreSQL the migrations' advisory lock lets one node migrate). */
    for (int i = 0; i < count; i++) {
        nodes->count = i + 1; /* counted before it starts: stop cleans up after a failure */
        if (bench_server_spawn(&nodes->servers[i], &mine, distinct_port(nodes, i)) != 0)
            return -1;
        nodes->urls[i] = nodes->servers[i].url;
    }
    for (int i = 0; i < count; i++) {
        if (bench_server_wait(&nodes->servers[i]) != 0)
            return -1;
    }
    return 0;
}

static double cpu_total(const struct bench_nodes *nodes)
{
    double total = 0;
    for (int i = 0; nodes->own && i < nodes->count; i++) {
        double seconds = bench_cpu_seconds(nodes->servers[i].pid);
        if (seconds < 0)
            return -1;
        total += seconds;
    }
    return nodes->own ? total : -1;
}

void bench_nodes_cpu_mark(struct bench_nodes *nodes)
{
    nodes->cpu_at_start = cpu_total(nodes);
}

double bench_nodes_cpu_since_mark(const struct bench_nodes *nodes)
{
    double now = cpu_total(nodes);
    return now < 0 || nodes->cpu_at_start < 0 ? -1 : now - nodes->cpu_at_start;
}

void bench_nodes_stop(struct bench_nodes *nodes)
{
    for (int i = 0; nodes->own && i < nodes->count; i++)
        bench_server_signal(&nodes->servers[i]);
    for (int i = 0; nodes->own && i < nodes->count; i++)
        bench_server_stop(&nodes->servers[i]);
    free(nodes->list);
    nodes->list = NULL;
    nodes->count = 0;
}

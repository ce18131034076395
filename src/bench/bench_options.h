/* The command line of `intent-bus bench`: a profile (light, medium, heavy,
 * extreme: the seed's sizes) and the options that adjust it. */
#ifndef BENCH_BENCH_OPTIONS_H
#define BENCH_BENCH_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

struct bench_options {
    const char *profile;
    int workers;
    int jobs;
    int publishers;
    int loops;          /* event-loop threads driving the clients */
    int health_seconds; /* > 0: measure GET /health instead */
    int nodes;            /* own servers: 1, or more on one --database */
    const char *url;      /* running nodes, comma-separated */
    const char *database; /* own servers on this PostgreSQL database */
    const char *api_key;
    const char *server_env;
    bool long_poll;
    int batch; /* intents per publish and jobs per claim: 1, or POST /intents and claim?max= */
    bool sign;
    bool json;
    double timeout;
};

/* Parses argv after "bench" into options. Returns 0, 1 when --help was
 * asked for, or -1 on bad usage (then print bench_options_usage()):
 * --nodes above 1 without --database, --database or --nodes with --url. */
int bench_options_parse(struct bench_options *options, int argc, char **argv);

/* On stdout for --help, on stderr after a usage error. */
void bench_options_usage(FILE *out);

#endif

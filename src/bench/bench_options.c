/* Options of `intent-bus bench`; see bench_options.h. */
#include "bench/bench_options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_nodes.h"

#define MOST_LOOPS 64
/* Two loops beat one on the 2-core bench box at about the same bench CPU
 * per job: heavy 4,060 vs 3,080 jobs/s with 16 publishers, 3,160 vs 2,440
 * with --long-poll, extreme 2,020 vs 1,790 (medians of 6 runs each). One
 * loop serialises every client's turnaround, two halve that wait. */
#define DEFAULT_LOOPS 2

struct profile {
    const char *name;
    int workers;
    int jobs;
};

/* The seed's table: light, medium, heavy, extreme. */
static const struct profile profiles[] = {
    {"light", 5, 50}, {"medium", 15, 500}, {"heavy", 40, 2000}, {"extreme", 100, 5000}};

void bench_options_usage(FILE *out)
{
    fprintf(
        out,
        "usage: intent-bus bench [light|medium|heavy|extreme] [options]\n"
        "  --workers N       workers looping claim -> fulfil (profile's, or 10)\n"
        "  --jobs N          intents to publish and fulfil (profile's, or 1000)\n"
        "  --publishers N    publishers, each posting one intent after another (default 4)\n"
        "  --long-poll       claim with wait= instead of polling (10 ms pause after a 204)\n"
        "  --batch K         publish K intents per request (POST /intents), claim up to K\n"
        "                    jobs per request (POST /claim?max=K) and fulfil a claim's jobs\n"
        "                    in one request (POST /fulfill), 1-100 (default 1: one each)\n"
        "  --sign            sign every request (HMAC, docs/SIGNING.md), as the CLI does\n"
        "  --loops N         event-loop threads driving all of them (default %d, at most %d)\n"
        "  --url URL[,URL..] a running bus: one node, or several of one bus (the clients\n"
        "                    of each role are spread over them round-robin). Default: start\n"
        "                    one on a temporary SQLite database; then --server-env NAME=value\n"
        "                    is passed to it, e.g. BUS_SYNC=full\n"
        "  --api-key KEY     key for --url (default $INTENT_API_KEY)\n"
        "  --database URL    start the bus on this PostgreSQL database (a libpq URI, e.g.\n"
        "                    postgresql:///bench?host=/tmp/pg) instead: `serve --database`\n"
        "  --nodes N         with --database: start N nodes on it (default 1, at most %d),\n"
        "                    the clients spread over them round-robin; the report sums\n"
        "                    their CPU\n"
        "  --health SECONDS  measure the bench's own ceiling: GET /health for SECONDS\n"
        "  --timeout SECONDS give up after this long (default 300)\n"
        "  --json            print the results as JSON\n",
        DEFAULT_LOOPS, MOST_LOOPS, BENCH_MOST_NODES);
}

static const struct profile *find_profile(const char *name)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    }
    return NULL;
}

static int positive(const char *text, int *out, long most)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < 1 || value > most)
        return -1;
    *out = (int)value;
    return 0;
}

static int parse_flag(struct bench_options *options, int flag, const char *value)
{
    switch (flag) {
    case 'w':
        return positive(value, &options->workers, 1000000);
    case 'j':
        return positive(value, &options->jobs, 1000000);
    case 'p':
        return positive(value, &options->publishers, 1000000);
    case 'L':
        return positive(value, &options->loops, MOST_LOOPS);
    case 'H':
        return positive(value, &options->health_seconds, 1000000);
    case 'N':
        return positive(value, &options->nodes, BENCH_MOST_NODES);
    case 'u':
        options->url = value;
        return 0;
    case 'D':
        options->database = value;
        return 0;
    case 'k':
        options->api_key = value;
        return 0;
    case 'e':
        options->server_env = value;
        return 0;
    case 'l':
        options->long_poll = true;
        return 0;
    case 'B':
        return positive(value, &options->batch, 100);
    case 's':
        options->sign = true;
        return 0;
    case 'J':
        options->json = true;
        return 0;
    case 't': {
        int seconds = 0;
        int rc = positive(value, &seconds, 1000000);
        options->timeout = seconds;
        return rc;
    }
    }
    return -1;
}

static void set_defaults(struct bench_options *options, const struct profile *profile)
{
    *options = (struct bench_options){.profile = "custom",
                                      .workers = 10,
                                      .jobs = 1000,
                                      .publishers = 4,
                                      .loops = DEFAULT_LOOPS,
                                      .nodes = 1,
                                      .batch = 1,
                                      .timeout = 300,
                                      .api_key = getenv("INTENT_API_KEY")};
    if (profile != NULL) {
        options->profile = profile->name;
        options->workers = profile->workers;
        options->jobs = profile->jobs;
    }
}

int bench_options_parse(struct bench_options *options, int argc, char **argv)
{
    static const struct option flags[] = {{"workers", required_argument, NULL, 'w'},
                                          {"jobs", required_argument, NULL, 'j'},
                                          {"publishers", required_argument, NULL, 'p'},
                                          {"loops", required_argument, NULL, 'L'},
                                          {"health", required_argument, NULL, 'H'},
                                          {"url", required_argument, NULL, 'u'},
                                          {"database", required_argument, NULL, 'D'},
                                          {"nodes", required_argument, NULL, 'N'},
                                          {"api-key", required_argument, NULL, 'k'},
                                          {"server-env", required_argument, NULL, 'e'},
                                          {"long-poll", no_argument, NULL, 'l'},
                                          {"batch", required_argument, NULL, 'B'},
                                          {"sign", no_argument, NULL, 's'},
                                          {"json", no_argument, NULL, 'J'},
                                          {"timeout", required_argument, NULL, 't'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    set_defaults(options, NULL);
    if (argc > 1 && argv[1][0] != '-') {
        const struct profile *profile = find_profile(argv[1]);
        if (profile == NULL)
            return -1;
        set_defaults(options, profile);
        argv++;
        argc--;
    }
    optind = 1;
    int flag;
    while ((flag = getopt_long(argc, argv, "", flags, NULL)) != -1) {
        if (flag == 'h')
            return 1;
        if (flag == '?' || parse_flag(options, flag, optarg) != 0)
            return -1;
    }
    if (optind != argc)
        return -1;
    if (options->nodes > 1 && options->database == NULL) {
        /* Several SQLite files would be several buses, not nodes of one. */
        fprintf(stderr, "intent-bus bench: --nodes needs --database\n");
        return -1;
    }
    if (options->url != NULL && (options->nodes > 1 || options->database != NULL)) {
        fprintf(stderr, "intent-bus bench: --url names running nodes: not with --database "
                        "or --nodes\n");
        return -1;
    }
    return 0;
}

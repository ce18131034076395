/* `intent-bus publish GOAL JSON`: publish an intent and print its id; with
 * --wait, wait until a worker settles it and print its result instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/credentials.h"
#include "cli/publish_batch.h"
#include "cli/wait_result.h"

enum {
    OPT_PRIORITY = CLI_OPT_FIRST_FREE,
    OPT_DELAY,
    OPT_MAX_ATTEMPTS,
    OPT_BACKOFF_BASE,
    OPT_TARGET_WORKER,
    OPT_CAPABILITY,
    OPT_PUBLIC,
    OPT_IDEMPOTENCY_KEY,
    OPT_WAIT,
    OPT_BATCH,
    OPT_NOTIFY_URL,
};

static const struct option options[] = {
    {"namespace", required_argument, NULL, 'n'},
    {"priority", required_argument, NULL, OPT_PRIORITY},
    {"delay", required_argument, NULL, OPT_DELAY},
    {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
    {"backoff-base", required_argument, NULL, OPT_BACKOFF_BASE},
    {"target-worker", required_argument, NULL, OPT_TARGET_WORKER},
    {"capability", required_argument, NULL, OPT_CAPABILITY},
    {"public", no_argument, NULL, OPT_PUBLIC},
    {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY_KEY},
    {"wait", optional_argument, NULL, OPT_WAIT},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"notify-url", required_argument, NULL, OPT_NOTIFY_URL},
    CLI_COMMON_OPTIONS,
    {0},
};

static void print_usage(void)
{
    printf("usage: intent-bus publish GOAL JSON [options]\n"
           "       intent-bus publish --batch FILE [-n NS]\n"
           "\n"
           "Publishes an intent (a job) with goal GOAL and payload JSON (\"-\": read it from\n"
           "standard input) and prints its id.\n"
           "\n"
           "With --batch, publishes the intents of FILE (\"-\": standard input), one JSON\n"
           "object per line with the fields of POST /intent (goal, payload, namespace,\n"
           "priority, ..., idempotency_key), 100 per request, and prints one JSON line per\n"
           "input line: {\"line\":N,\"id\":...} or {\"line\":N,\"error\":{...}}. -n sets\n"
           "the namespace of lines without one; the other options do not apply. Exit 1\n"
           "when any line failed.\n"
           "\n"
           "options:\n"
           "  -n, --namespace NS       namespace (default \"default\")\n"
           "  --priority P             0-1000, higher is claimed first (default 100)\n"
           "  --delay S                seconds before it may be claimed\n"
           "  --max-attempts N         attempts before it is dead-lettered, 1-20 (default 3)\n"
           "  --backoff-base S         retry backoff base in seconds, 1-3600 (default 5)\n"
           "  --target-worker W        only the worker with this --worker-id may claim it\n"
           "  --capability C           only workers advertising capability C may claim it\n"
           "  --public                 workers of any key may claim it (default: yours only)\n"
           "  --idempotency-key K      publishing again with K replays the first answer\n"
           "  --notify-url URL         the bus POSTs a signed event to URL once the job is\n"
           "                           fulfilled or dead (if its operator allows URL)\n"
           "  --wait [SECONDS]         wait until the job is fulfilled or dead (at most SECONDS),\n"
           "                           print its result instead of the id (the id goes to\n"
           "                           stderr): JSON indented, text as is. Exit 0 when\n"
           "                           fulfilled, 1 when dead, 6 when SECONDS ran out\n"
           "%s"
           "\n"
           "example:\n"
           "  intent-bus publish send_notification '{\"instruction\":\"Hello\"}' -n default\n",
           CLI_COMMON_USAGE);
}

struct publish_options {
    struct ib_publish intent;
    bool wait;
    double wait_seconds; /* 0: no limit */
    const char *batch;   /* --batch FILE, "-" for stdin */
};

/* "--wait 30": getopt takes only "--wait=30" for an optional value, so a
 * number right after a bare --wait is taken as its value. */
static bool take_wait(struct cli_common *common, int argc, char **argv,
                      struct publish_options *publish)
{
    publish->wait = true;
    const char *value = optarg;
    if (value == NULL && optind < argc && argv[optind][0] >= '0' && argv[optind][0] <= '9')
        value = argv[optind++];
    if (value == NULL)
        return true;
    return cli_parse_seconds(common, "--wait", value, 0.001, 1e9, &publish->wait_seconds);
}

/* One option into *publish; false after printing a usage error. */
static bool take_option(struct cli_common *common, int flag, int argc, char **argv, void *context)
{
    struct publish_options *publish = context;
    struct ib_publish *intent = &publish->intent;
    long number = 0;
    switch (flag) {
    case 'n':
        intent->namespace_ = optarg;
        return true;
    case OPT_PRIORITY:
        intent->has_priority = true;
        if (!cli_parse_long(common, "--priority", optarg, -1000000, 1000000, &number))
            return false;
        intent->priority = (int)number;
        return true;
    case OPT_DELAY:
        return cli_parse_seconds(common, "--delay", optarg, 0, 1e9, &intent->delay);
    case OPT_MAX_ATTEMPTS:
        /* 0 would mean "the default" to the library: refuse it here. */
        if (!cli_parse_long(common, "--max-attempts", optarg, 1, 1000, &number))
            return false;
        intent->max_attempts = (int)number;
        return true;
    case OPT_BACKOFF_BASE:
        return cli_parse_seconds(common, "--backoff-base", optarg, 0.001, 1e9,
                                 &intent->backoff_base);
    case OPT_TARGET_WORKER:
        intent->target_worker = optarg;
        return true;
    case OPT_CAPABILITY:
        intent->required_capability = optarg;
        return true;
    case OPT_PUBLIC:
        intent->visibility = IB_VISIBILITY_PUBLIC;
        return true;
    case OPT_IDEMPOTENCY_KEY:
        intent->idempotency_key = optarg;
        return true;
    case OPT_NOTIFY_URL:
        intent->notify_url = optarg;
        return true;
    case OPT_WAIT:
        return take_wait(common, argc, argv, publish);
    case OPT_BATCH:
        publish->batch = optarg;
        return true;
    default:
        return false;
    }
}

/* The settled intent's result on stdout: text as is, JSON indented, nothing
 * for none. */
static int print_result(const char *response)
{
    json_t *reply = json_loads(response, JSON_ALLOW_NUL, NULL);
    const json_t *result = json_object_get(reply, "result");
    const char *type = json_string_value(json_object_get(reply, "result_type"));
    int code = CLI_EXIT_OK;
    if (json_is_string(result) && type != NULL && strcmp(type, "text") == 0) {
        size_t length = json_string_length(result);
        if (fwrite(json_string_value(result), 1, length, stdout) != length || putchar('\n') == EOF)
            code = CLI_EXIT_FAILED;
    } else if (result != NULL && !json_is_null(result)) {
        code = cli_print_json_take(json_incref((json_t *)result), true);
    }
    json_decref(reply);
    if (fflush(stdout) == EOF)
        code = CLI_EXIT_FAILED;
    return code;
}

/* The job is dead: one line saying so, with its last error. */
static int report_dead(const struct cli_common *common, const char *id, const char *response)
{
    json_t *reply = json_loads(response, JSON_ALLOW_NUL, NULL);
    const char *error = json_string_value(json_object_get(reply, "error"));
    json_int_t attempts = json_integer_value(json_object_get(reply, "claim_attempts"));
    cli_error(common, "%s is dead after %lld attempt%s%s%s", id, (long long)attempts,
              attempts == 1 ? "" : "s", error ? ": " : "", error ? error : "");
    json_decref(reply);
    return CLI_EXIT_FAILED;
}

static int wait_and_print(const struct cli_common *common, struct ib_client *client,
                          const char *url, const char *id, double timeout)
{
    fprintf(stderr, "intent-bus: publish: published %s, waiting for its result\n", id);
    char *response = NULL;
    enum ib_intent_status status = IB_STATUS_UNKNOWN;
    enum ib_err err = wait_result(common, client, id, timeout, &response, &status);
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    int code;
    if (status == IB_STATUS_FULFILLED)
        code = print_result(response);
    else if (status == IB_STATUS_DEAD)
        code = report_dead(common, id, response);
    else {
        cli_error(common, "%s is still %s after %gs", id, ib_intent_status_name(status), timeout);
        code = CLI_EXIT_NOTHING;
    }
    ib_free(response);
    return code;
}

static int publish_call(const struct cli_common *common, struct ib_client *client, const char *url,
                        void *context)
{
    const struct publish_options *publish = context;
    char id[IB_ID_MAX + 1];
    enum ib_err err = ib_publish(client, &publish->intent, id);
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    if (!publish->wait)
        return cli_print_line(id);
    return wait_and_print(common, client, url, id, publish->wait_seconds);
}

static int batch_call(const struct cli_common *common, struct ib_client *client, const char *url,
                      void *context)
{
    const struct publish_options *publish = context;
    bool from_stdin = strcmp(publish->batch, "-") == 0;
    FILE *input = from_stdin ? stdin : fopen(publish->batch, "r");
    if (input == NULL) {
        cli_error(common, "cannot open %s", publish->batch);
        return CLI_EXIT_USAGE;
    }
    int code = publish_batch(common, client, url, input, publish->intent.namespace_);
    if (!from_stdin)
        fclose(input);
    return code;
}

int cli_publish_main(int argc, char **argv)
{
    struct cli_common common = {.command = "publish"};
    struct publish_options publish_options = {0};
    static const struct cli_syntax syntax = {":hn:", options, take_option, print_usage, 0, 2};
    int code = cli_parse(&common, argc, argv, &syntax, &publish_options);
    if (code >= 0)
        return code;
    if (publish_options.batch != NULL) {
        if (argc - optind != 0 || publish_options.wait)
            return cli_usage_error(&common, "--batch takes no GOAL or JSON, and no --wait");
        return cli_with_client(&common, CLI_NEED_API_KEY, batch_call, &publish_options);
    }
    if (!cli_check_operands(&common, argc - optind, 2, 2))
        return CLI_EXIT_USAGE;
    char *payload = cli_read_json_operand(&common, "JSON", argv[optind + 1]);
    if (payload == NULL)
        return CLI_EXIT_USAGE;
    publish_options.intent.goal = argv[optind];
    publish_options.intent.payload = payload;
    code = cli_with_client(&common, CLI_NEED_API_KEY, publish_call, &publish_options);
    free(payload);
    return code;
}

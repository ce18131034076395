/* `intent-bus set KEY JSON` and `intent-bus get KEY`: the small per-key
 * store (POST /set/<key>, GET /get/<key>). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/credentials.h"

enum { OPT_TTL = CLI_OPT_FIRST_FREE, OPT_IDEMPOTENCY_KEY };

static const struct option set_options[] = {
    {"ttl", required_argument, NULL, OPT_TTL},
    {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY_KEY},
    CLI_COMMON_OPTIONS,
    {0},
};

static const struct option get_options[] = {
    CLI_COMMON_OPTIONS,
    {0},
};

static void set_usage(void)
{
    printf("usage: intent-bus set KEY JSON [--ttl S]\n"
           "\n"
           "Stores the JSON value (\"-\": read it from standard input) under KEY, in the\n"
           "store private to your API key, and prints {\"key\":...,\"ok\":true}.\n"
           "\n"
           "options:\n"
           "  --ttl S                  keep it S seconds, 1-86400 (default 600)\n"
           "  --idempotency-key K      setting again with K replays the first answer\n"
           "%s"
           "\n"
           "example:\n"
           "  intent-bus set node_01_status '\"active\"' --ttl 600\n",
           CLI_COMMON_USAGE);
}

static void get_usage(void)
{
    printf("usage: intent-bus get KEY\n"
           "\n"
           "Prints the JSON value stored under KEY. Exit 4 when there is none (never set,\n"
           "or expired).\n"
           "%s",
           CLI_COMMON_USAGE);
}

struct set_request {
    const char *key;
    char *value;
    unsigned ttl;
    const char *idempotency_key;
};

static bool take_set_option(struct cli_common *common, int flag, int argc, char **argv,
                            void *context)
{
    (void)argc;
    (void)argv;
    struct set_request *request = context;
    long ttl = 0;
    switch (flag) {
    case OPT_TTL:
        /* 0 would mean "the default" to the library; the bus checks the rest. */
        if (!cli_parse_long(common, "--ttl", optarg, 1, 100000000, &ttl))
            return false;
        request->ttl = (unsigned)ttl;
        return true;
    case OPT_IDEMPOTENCY_KEY:
        request->idempotency_key = optarg;
        return true;
    default:
        return false;
    }
}

static int set_call(const struct cli_common *common, struct ib_client *client, const char *url,
                    void *context)
{
    const struct set_request *request = context;
    enum ib_err err =
        ib_set(client, request->key, request->value, request->ttl, request->idempotency_key);
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    return cli_print_json_take(json_pack("{s:s, s:b}", "key", request->key, "ok", 1), false);
}

static int get_call(const struct cli_common *common, struct ib_client *client, const char *url,
                    void *context)
{
    char *value = NULL;
    enum ib_err err = ib_get(client, context, &value);
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    int code = cli_print_line(value);
    ib_free(value);
    return code;
}

int cli_set_main(int argc, char **argv)
{
    struct cli_common common = {.command = "set"};
    struct set_request request = {0};
    static const struct cli_syntax syntax = {":h", set_options, take_set_option, set_usage, 2, 2};
    int code = cli_parse(&common, argc, argv, &syntax, &request);
    if (code >= 0)
        return code;
    request.key = argv[optind];
    request.value = cli_read_json_operand(&common, "JSON", argv[optind + 1]);
    if (request.value == NULL)
        return CLI_EXIT_USAGE;
    code = cli_with_client(&common, CLI_NEED_API_KEY, set_call, &request);
    free(request.value);
    return code;
}

int cli_get_main(int argc, char **argv)
{
    struct cli_common common = {.command = "get"};
    static const struct cli_syntax syntax = {":h", get_options, NULL, get_usage, 1, 1};
    int code = cli_parse(&common, argc, argv, &syntax, NULL);
    if (code >= 0)
        return code;
    return cli_with_client(&common, CLI_NEED_API_KEY, get_call, argv[optind]);
}

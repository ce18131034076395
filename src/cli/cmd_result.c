/* `intent-bus result ID [--wait S]` and `intent-bus status ID`: print what
 * GET /result/<id> or /status/<id> answers, as the server sent it. */
#include <stdio.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/credentials.h"
#include "cli/wait_result.h"

enum { OPT_WAIT = CLI_OPT_FIRST_FREE };

static const struct option result_options[] = {
    {"wait", required_argument, NULL, OPT_WAIT},
    CLI_COMMON_OPTIONS,
    {0},
};

static const struct option status_options[] = {
    CLI_COMMON_OPTIONS,
    {0},
};

static void result_usage(void)
{
    printf("usage: intent-bus result ID [--wait S]\n"
           "\n"
           "Prints the intent ID with its result, as the bus's JSON. Exit 4 when there is\n"
           "no such intent (or it is not yours).\n"
           "\n"
           "options:\n"
           "  --wait S                 first wait up to S seconds for it to be fulfilled or\n"
           "                           dead; exit 6 when it is neither by then\n"
           "%s",
           CLI_COMMON_USAGE);
}

static void status_usage(void)
{
    printf("usage: intent-bus status ID\n"
           "\n"
           "Prints the state of the intent ID (no result), as the bus's JSON. Exit 4 when\n"
           "there is no such intent (or it is not yours).\n"
           "%s",
           CLI_COMMON_USAGE);
}

struct read_request {
    const char *id;
    bool wait;
    double wait_seconds;
};

static bool take_result_option(struct cli_common *common, int flag, int argc, char **argv,
                               void *context)
{
    (void)argc;
    (void)argv;
    struct read_request *request = context;
    if (flag != OPT_WAIT)
        return false;
    request->wait = true;
    return cli_parse_seconds(common, "--wait", optarg, 0.001, 1e9, &request->wait_seconds);
}

static int result_call(const struct cli_common *common, struct ib_client *client, const char *url,
                       void *context)
{
    const struct read_request *request = context;
    char *response = NULL;
    enum ib_intent_status status = IB_STATUS_UNKNOWN;
    enum ib_err err = request->wait ? wait_result(common, client, request->id,
                                                  request->wait_seconds, &response, &status)
                                    : ib_result(client, request->id, 0, &response, &status);
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    int code = cli_print_line(response);
    ib_free(response);
    bool settled = status == IB_STATUS_FULFILLED || status == IB_STATUS_DEAD;
    return code == CLI_EXIT_OK && request->wait && !settled ? CLI_EXIT_NOTHING : code;
}

static int status_call(const struct cli_common *common, struct ib_client *client, const char *url,
                       void *context)
{
    const struct read_request *request = context;
    char *response = NULL;
    enum ib_err err = ib_status(client, request->id, &response, NULL);
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    int code = cli_print_line(response);
    ib_free(response);
    return code;
}

int cli_result_main(int argc, char **argv)
{
    struct cli_common common = {.command = "result"};
    struct read_request request = {0};
    static const struct cli_syntax syntax = {
        ":h", result_options, take_result_option, result_usage, 1, 1};
    int code = cli_parse(&common, argc, argv, &syntax, &request);
    if (code >= 0)
        return code;
    request.id = argv[optind];
    return cli_with_client(&common, CLI_NEED_API_KEY, result_call, &request);
}

int cli_status_main(int argc, char **argv)
{
    struct cli_common common = {.command = "status"};
    struct read_request request = {0};
    static const struct cli_syntax syntax = {":h", status_options, NULL, status_usage, 1, 1};
    int code = cli_parse(&common, argc, argv, &syntax, &request);
    if (code >= 0)
        return code;
    request.id = argv[optind];
    return cli_with_client(&common, CLI_NEED_API_KEY, status_call, &request);
}

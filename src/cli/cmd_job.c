/* A worker's calls one at a time, for shell scripts: `claim`, `fulfill`,
 * `fail` and `extend`. Each prints one line of JSON with the reply's
 * fields, named as the server names them (docs/CLI.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/credentials.h"

/* ------------------------------------------------------------------ claim */

enum { OPT_WORKER_ID = CLI_OPT_FIRST_FREE, OPT_CAPABILITIES, OPT_PUBLISHER, OPT_WAIT };

static const struct option claim_options[] = {
    {"namespace", required_argument, NULL, 'n'},
    {"worker-id", required_argument, NULL, OPT_WORKER_ID},
    {"capabilities", required_argument, NULL, OPT_CAPABILITIES},
    {"publisher", required_argument, NULL, OPT_PUBLISHER},
    {"wait", required_argument, NULL, OPT_WAIT},
    CLI_COMMON_OPTIONS,
    {0},
};

static void claim_usage(void)
{
    printf("usage: intent-bus claim [GOAL] [options]\n"
           "\n"
           "Claims one intent (any goal when GOAL is left out) and prints it as JSON, with\n"
           "its claim_token. Exit 6 when there is nothing to claim.\n"
           "\n"
           "options:\n"
           "  -n, --namespace NS       namespace (default \"default\")\n"
           "  --worker-id W            this worker's id (matched against --target-worker)\n"
           "  --capabilities a,b       this worker's capabilities\n"
           "  --publisher KEY          only intents published with this API key (another\n"
           "                           key than yours needs --admin-token)\n"
           "  --wait S                 wait up to S seconds (0-60) for an intent to arrive\n"
           "%s"
           "\n"
           "example:\n"
           "  JOB=$(intent-bus claim resize --wait 30) && echo \"$JOB\"\n",
           CLI_COMMON_USAGE);
}

static bool take_claim_option(struct cli_common *common, int flag, int argc, char **argv,
                              void *context)
{
    (void)argc;
    (void)argv;
    struct ib_claim *claim = context;
    long seconds = 0;
    switch (flag) {
    case 'n':
        claim->namespace_ = optarg;
        return true;
    case OPT_WORKER_ID:
        claim->worker_id = optarg;
        return true;
    case OPT_CAPABILITIES:
        claim->capabilities = optarg;
        return true;
    case OPT_PUBLISHER:
        claim->publisher = optarg;
        return true;
    case OPT_WAIT:
        if (!cli_parse_long(common, "--wait", optarg, 0, 60, &seconds))
            return false;
        claim->wait_seconds = (unsigned)seconds;
        return true;
    default:
        return false;
    }
}

/* The job as the server sent it (the library hands over every field). */
static json_t *job_to_json(const struct ib_job *job)
{
    json_t *payload = json_loads(job->payload, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    return json_pack("{s:s, s:s, s:s, s:o, s:i, s:i, s:s?, s:s?, s:s, s:I, s:f}", "id", job->id,
                     "namespace", job->namespace_, "goal", job->goal, "payload",
                     payload ? payload : json_null(), "claim_attempts", job->claim_attempts,
                     "priority", job->priority, "target_worker", job->target_worker,
                     "required_capability", job->required_capability, "claim_token",
                     job->claim_token, "claim_timeout", (json_int_t)job->claim_timeout,
                     "claim_expires_at", job->claim_expires_at);
}

static int claim_call(const struct cli_common *common, struct ib_client *client, const char *url,
                      void *context)
{
    struct ib_job *job = NULL;
    enum ib_err err = ib_claim(client, context, &job);
    if (err == IB_ERR_EMPTY) {
        cli_error(common, "nothing to claim");
        return CLI_EXIT_NOTHING;
    }
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    int code = cli_print_json_take(job_to_json(job), false);
    ib_job_free(job);
    return code;
}

int cli_claim_main(int argc, char **argv)
{
    struct cli_common common = {.command = "claim"};
    struct ib_claim claim = {0};
    static const struct cli_syntax syntax = {
        ":hn:", claim_options, take_claim_option, claim_usage, 0, 1};
    int code = cli_parse(&common, argc, argv, &syntax, &claim);
    if (code >= 0)
        return code;
    claim.goal = optind < argc ? argv[optind] : NULL;
    /* Admin credentials open another publisher's private intents. */
    unsigned need = CLI_NEED_API_KEY | (claim.publisher ? CLI_WANT_ADMIN_TOKEN : 0);
    return cli_with_client(&common, need, claim_call, &claim);
}

/* ---------------------------------------------------------------- fulfill */

enum { OPT_TEXT = CLI_OPT_FIRST_FREE };

static const struct option fulfill_options[] = {
    {"text", no_argument, NULL, OPT_TEXT},
    CLI_COMMON_OPTIONS,
    {0},
};

static void fulfill_usage(void)
{
    printf("usage: intent-bus fulfill ID TOKEN [RESULT] [--text]\n"
           "\n"
           "Marks the claimed intent ID fulfilled, with RESULT as its result: JSON, or\n"
           "with --text any text (\"-\": read it from standard input). Exit 4 when the\n"
           "lease is lost (do not retry).\n"
           "\n"
           "options:\n"
           "  --text                   RESULT is text, stored with result_type \"text\"\n%s",
           CLI_COMMON_USAGE);
}

struct fulfill_request {
    const char *id;
    const char *token;
    char *result; /* JSON text or NULL */
    bool text;
};

static bool take_fulfill_option(struct cli_common *common, int flag, int argc, char **argv,
                                void *context)
{
    (void)common;
    (void)argc;
    (void)argv;
    struct fulfill_request *request = context;
    request->text = flag == OPT_TEXT;
    return request->text;
}

/* A text operand as the JSON string the library sends. */
static char *text_operand_as_json(const struct cli_common *common, const char *text)
{
    char *owned = NULL;
    if (strcmp(text, "-") == 0) {
        size_t capacity = 65536;
        owned = malloc(capacity);
        size_t length = owned ? fread(owned, 1, capacity - 1, stdin) : 0;
        if (owned == NULL)
            return NULL;
        owned[length] = '\0';
        text = owned;
    }
    json_t *string = json_string(text);
    free(owned);
    if (string == NULL) {
        cli_usage_error(common, "RESULT is not valid UTF-8 text");
        return NULL;
    }
    char *json = json_dumps(string, JSON_ENCODE_ANY);
    json_decref(string);
    return json;
}

static int fulfill_call(const struct cli_common *common, struct ib_client *client, const char *url,
                        void *context)
{
    const struct fulfill_request *request = context;
    enum ib_err err = ib_fulfill(client, request->id, request->token, request->result,
                                 request->result == NULL ? NULL
                                 : request->text         ? "text"
                                                         : "json");
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    return cli_print_json_take(json_pack("{s:s, s:s}", "id", request->id, "status", "fulfilled"),
                               false);
}

int cli_fulfill_main(int argc, char **argv)
{
    struct cli_common common = {.command = "fulfill"};
    struct fulfill_request request = {0};
    static const struct cli_syntax syntax = {
        ":h", fulfill_options, take_fulfill_option, fulfill_usage, 2, 3};
    int code = cli_parse(&common, argc, argv, &syntax, &request);
    if (code >= 0)
        return code;
    request.id = argv[optind];
    request.token = argv[optind + 1];
    const char *result = optind + 2 < argc ? argv[optind + 2] : NULL;
    if (request.text && result == NULL)
        return cli_usage_error(&common, "--text needs a RESULT");
    if (result != NULL) {
        request.result = request.text ? text_operand_as_json(&common, result)
                                      : cli_read_json_operand(&common, "RESULT", result);
        if (request.result == NULL)
            return CLI_EXIT_USAGE;
    }
    code = cli_with_client(&common, CLI_NEED_API_KEY, fulfill_call, &request);
    free(request.result);
    return code;
}

/* ------------------------------------------------------------------- fail */

static const struct option plain_options[] = {
    CLI_COMMON_OPTIONS,
    {0},
};

static void fail_usage(void)
{
    printf("usage: intent-bus fail ID TOKEN [ERROR]\n"
           "\n"
           "Fails the claimed intent ID with the text ERROR: the bus retries it after a\n"
           "backoff, or dead-letters it after its last attempt. Prints the new status.\n"
           "Exit 4 when the lease is lost (do not retry).\n"
           "%s",
           CLI_COMMON_USAGE);
}

static int fail_call(const struct cli_common *common, struct ib_client *client, const char *url,
                     void *context)
{
    char **operands = context; /* ID TOKEN [ERROR] */
    struct ib_fail_outcome outcome = {0};
    enum ib_err err = ib_fail(client, operands[0], operands[1], operands[2], &outcome);
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    json_t *run_at = outcome.status == IB_STATUS_DEAD ? json_null() : json_real(outcome.run_at);
    return cli_print_json_take(json_pack("{s:s, s:s, s:i, s:o}", "id", operands[0], "status",
                                         ib_intent_status_name(outcome.status), "claim_attempts",
                                         outcome.claim_attempts, "run_at", run_at),
                               false);
}

int cli_fail_main(int argc, char **argv)
{
    struct cli_common common = {.command = "fail"};
    static const struct cli_syntax syntax = {":h", plain_options, NULL, fail_usage, 2, 3};
    int code = cli_parse(&common, argc, argv, &syntax, NULL);
    if (code >= 0)
        return code;
    char *operands[3] = {argv[optind], argv[optind + 1],
                         optind + 2 < argc ? argv[optind + 2] : NULL};
    return cli_with_client(&common, CLI_NEED_API_KEY, fail_call, operands);
}

/* ----------------------------------------------------------------- extend */

static void extend_usage(void)
{
    printf("usage: intent-bus extend ID TOKEN [SECONDS]\n"
           "\n"
           "Extends the lease of the claimed intent ID to SECONDS from now (10-3600,\n"
           "default 60) and prints when it now ends. Exit 4 when the lease is lost.\n"
           "%s",
           CLI_COMMON_USAGE);
}

struct extend_request {
    const char *id;
    const char *token;
    unsigned seconds;
};

static int extend_call(const struct cli_common *common, struct ib_client *client, const char *url,
                       void *context)
{
    const struct extend_request *request = context;
    double expires_at = 0;
    enum ib_err err = ib_extend(client, request->id, request->token, request->seconds, &expires_at);
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    return cli_print_json_take(json_pack("{s:s, s:s, s:f}", "id", request->id, "status", "claimed",
                                         "claim_expires_at", expires_at),
                               false);
}

int cli_extend_main(int argc, char **argv)
{
    struct cli_common common = {.command = "extend"};
    static const struct cli_syntax syntax = {":h", plain_options, NULL, extend_usage, 2, 3};
    int code = cli_parse(&common, argc, argv, &syntax, NULL);
    if (code >= 0)
        return code;
    struct extend_request request = {argv[optind], argv[optind + 1], 0};
    long seconds = 0;
    if (optind + 2 < argc) {
        /* The bus says which values it takes (10-3600); 0 would mean "its
         * default" to the library, so it is refused here. */
        if (!cli_parse_long(&common, "SECONDS", argv[optind + 2], 1, 1000000, &seconds))
            return CLI_EXIT_USAGE;
        request.seconds = (unsigned)seconds;
    }
    return cli_with_client(&common, CLI_NEED_API_KEY, extend_call, &request);
}

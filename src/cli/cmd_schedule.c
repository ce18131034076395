/* `intent-bus schedule add|ls|show|pause|resume|rm`: recurring schedules
 * (docs/PROTOCOL-EXTENSIONS.md) through libintentbus' ib_schedule_*().
 * Each prints the server's JSON answer as is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/credentials.h"

enum {
    OPT_CRON = CLI_OPT_FIRST_FREE,
    OPT_EVERY,
    OPT_TIMEZONE,
    OPT_OVERLAP,
    OPT_CATCH_UP,
    OPT_PRIORITY,
    OPT_MAX_ATTEMPTS,
    OPT_BACKOFF_BASE,
    OPT_TARGET_WORKER,
    OPT_CAPABILITY,
    OPT_PUBLIC,
};

static const struct option add_options[] = {
    {"cron", required_argument, NULL, OPT_CRON},
    {"every", required_argument, NULL, OPT_EVERY},
    {"timezone", required_argument, NULL, OPT_TIMEZONE},
    {"overlap", required_argument, NULL, OPT_OVERLAP},
    {"catch-up", required_argument, NULL, OPT_CATCH_UP},
    {"namespace", required_argument, NULL, 'n'},
    {"priority", required_argument, NULL, OPT_PRIORITY},
    {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
    {"backoff-base", required_argument, NULL, OPT_BACKOFF_BASE},
    {"target-worker", required_argument, NULL, OPT_TARGET_WORKER},
    {"capability", required_argument, NULL, OPT_CAPABILITY},
    {"public", no_argument, NULL, OPT_PUBLIC},
    CLI_COMMON_OPTIONS,
    {0},
};

static const struct option plain_options[] = {
    CLI_COMMON_OPTIONS,
    {0},
};

static void print_schedule_usage(FILE *out)
{
    fprintf(out, "usage: intent-bus schedule <command> [options]\n"
                 "\n"
                 "Recurring schedules: publish a job on a cron expression or every N seconds.\n"
                 "A schedule belongs to your API key (the main key sees every schedule).\n"
                 "\n"
                 "commands:\n"
                 "  add NAME GOAL JSON (--cron EXPR | --every S)   create or replace a schedule\n"
                 "  ls                        list your schedules, each with its next 5 runs\n"
                 "  show NAME                 one schedule with its recent fires\n"
                 "  pause NAME                stop publishing (nothing is caught up on resume)\n"
                 "  resume NAME               publish again from the next occurrence\n"
                 "  rm NAME                   delete a schedule\n"
                 "\n"
                 "See intent-bus schedule add --help for the options of add.\n");
}

static void add_usage(void)
{
    printf("usage: intent-bus schedule add NAME GOAL JSON (--cron EXPR | --every S) [options]\n"
           "\n"
           "Creates the schedule NAME (or replaces yours of that name), publishing the job\n"
           "GOAL with payload JSON (\"-\": read it from standard input) at every occurrence.\n"
           "Prints the schedule, with its next 5 fire times (Unix seconds).\n"
           "\n"
           "options:\n"
           "  --cron EXPR              5-field cron: minute hour day month weekday\n"
           "  --every S                every S seconds (1-31622400), at multiples of S\n"
           "  --timezone ZONE          IANA zone of the cron times (default UTC)\n"
           "  --overlap allow|skip     skip an occurrence while the previous job is still\n"
           "                           open or claimed (default allow)\n"
           "  --catch-up none|one      after the bus was down, publish the latest missed\n"
           "                           occurrence once (one) or none (default none)\n"
           "  -n, --namespace NS       the job's namespace (default \"default\")\n"
           "  --priority P             0-1000 (default 100)\n"
           "  --max-attempts N         1-100 (default 3)\n"
           "  --backoff-base S         retry backoff base (default 5)\n"
           "  --target-worker W        only worker W may claim it\n"
           "  --capability C           only workers with capability C may claim it\n"
           "  --public                 any key may claim it (default: private)\n"
           "%s"
           "\n"
           "example:\n"
           "  intent-bus schedule add nightly build_report '{\"kind\":\"daily\"}' \\\n"
           "      --cron '30 2 * * *' --timezone Europe/Berlin --overlap skip\n",
           CLI_COMMON_USAGE);
}

static void plain_usage(void)
{
    print_schedule_usage(stdout);
}

/* The definition being built from add's options; body owns it. */
struct add_request {
    json_t *body;
    json_t *intent;
    bool failed; /* out of memory */
};

static void set_field(struct add_request *request, json_t *object, const char *name, json_t *value)
{
    if (value == NULL || json_object_set_new(object, name, value) != 0)
        request->failed = true;
}

static bool take_number(struct cli_common *common, const char *what, long min, long max,
                        struct add_request *request, json_t *object, const char *field)
{
    long value = 0;
    if (!cli_parse_long(common, what, optarg, min, max, &value))
        return false;
    set_field(request, object, field, json_integer(value));
    return true;
}

static bool take_add_option(struct cli_common *common, int flag, int argc, char **argv,
                            void *context)
{
    (void)argc, (void)argv;
    struct add_request *request = context;
    json_t *body = request->body, *intent = request->intent;
    switch (flag) {
    case OPT_CRON:
        set_field(request, body, "cron", json_string(optarg));
        return true;
    case OPT_EVERY:
        return take_number(common, "--every", 1, 31622400, request, body, "every");
    case OPT_TIMEZONE:
        set_field(request, body, "timezone", json_string(optarg));
        return true;
    case OPT_OVERLAP:
        set_field(request, body, "overlap", json_string(optarg));
        return true;
    case OPT_CATCH_UP:
        set_field(request, body, "catch_up", json_string(optarg));
        return true;
    case 'n':
        set_field(request, intent, "namespace", json_string(optarg));
        return true;
    case OPT_PRIORITY:
        return take_number(common, "--priority", 0, 1000, request, intent, "priority");
    case OPT_MAX_ATTEMPTS:
        return take_number(common, "--max-attempts", 1, 100, request, intent, "max_attempts");
    case OPT_BACKOFF_BASE: {
        double seconds = 0;
        if (!cli_parse_seconds(common, "--backoff-base", optarg, 0, 1e9, &seconds))
            return false;
        set_field(request, intent, "backoff_base", json_real(seconds));
        return true;
    }
    case OPT_TARGET_WORKER:
        set_field(request, intent, "target_worker", json_string(optarg));
        return true;
    case OPT_CAPABILITY:
        set_field(request, intent, "required_capability", json_string(optarg));
        return true;
    case OPT_PUBLIC:
        set_field(request, intent, "visibility", json_string("public"));
        return true;
    default:
        return false;
    }
}

/* What a call sends: add's definition, or a name. */
struct schedule_call {
    const char *action;
    const char *name;
    char *definition; /* add only */
};

static int run_call(const struct cli_common *common, struct ib_client *client, const char *url,
                    void *context)
{
    const struct schedule_call *call = context;
    char *response = NULL;
    enum ib_err err;
    if (strcmp(call->action, "add") == 0)
        err = ib_schedule_put(client, call->definition, &response);
    else if (strcmp(call->action, "ls") == 0)
        err = ib_schedule_list(client, &response);
    else if (strcmp(call->action, "show") == 0)
        err = ib_schedule_get(client, call->name, &response);
    else if (strcmp(call->action, "rm") == 0)
        err = ib_schedule_delete(client, call->name);
    else
        err = ib_schedule_pause(client, call->name, strcmp(call->action, "pause") == 0, &response);
    int code = err != IB_OK ? cli_report(common, client, url, err)
               : response
                   ? cli_print_line(response)
                   : cli_print_json_take(
                         json_pack("{s:s, s:s}", "name", call->name, "status", "deleted"), false);
    ib_free(response);
    return code;
}

/* The definition's JSON text from the operands NAME GOAL JSON; NULL after
 * a usage error. */
static char *build_definition(const struct cli_common *common, struct add_request *request,
                              char **operands)
{
    char *payload_text = cli_read_json_operand(common, "JSON", operands[2]);
    if (payload_text == NULL)
        return NULL;
    json_t *payload = json_loads(payload_text, JSON_DECODE_ANY, NULL);
    free(payload_text);
    set_field(request, request->intent, "goal", json_string(operands[1]));
    set_field(request, request->intent, "payload", payload);
    set_field(request, request->body, "name", json_string(operands[0]));
    if (json_object_set(request->body, "intent", request->intent) != 0)
        request->failed = true;
    char *text = request->failed ? NULL : json_dumps(request->body, JSON_COMPACT);
    if (text == NULL)
        cli_usage_error(common, "NAME and GOAL must be UTF-8 text");
    return text;
}

static int add_main(int argc, char **argv)
{
    struct cli_common common = {.command = "schedule add"};
    struct add_request request = {json_object(), json_object(), false};
    static const struct cli_syntax syntax = {":hn:", add_options, take_add_option, add_usage, 3, 3};
    int code = cli_parse(&common, argc, argv, &syntax, &request);
    struct schedule_call call = {"add", NULL, NULL};
    if (code < 0) {
        call.definition = build_definition(&common, &request, argv + optind);
        code = call.definition == NULL
                   ? CLI_EXIT_USAGE
                   : cli_with_client(&common, CLI_NEED_API_KEY, run_call, &call);
    }
    free(call.definition);
    json_decref(request.body);
    json_decref(request.intent);
    return code;
}

/* ls (no operand) and show, pause, resume, rm (NAME). */
static int named_main(const char *action, int argc, char **argv)
{
    char command[32];
    snprintf(command, sizeof command, "schedule %s", action);
    struct cli_common common = {.command = command};
    int operands = strcmp(action, "ls") == 0 ? 0 : 1;
    struct cli_syntax syntax = {":h", plain_options, NULL, plain_usage, operands, operands};
    int code = cli_parse(&common, argc, argv, &syntax, NULL);
    if (code >= 0)
        return code;
    struct schedule_call call = {action, operands ? argv[optind] : NULL, NULL};
    return cli_with_client(&common, CLI_NEED_API_KEY, run_call, &call);
}

int cli_schedule_main(int argc, char **argv)
{
    static const char *const actions[] = {"ls", "show", "pause", "resume", "rm"};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_schedule_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "add") == 0)
        return add_main(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(argv[1], actions[i]) == 0)
            return named_main(actions[i], argc - 1, argv + 1);
    fprintf(stderr, "intent-bus: schedule: unknown command '%s' (see intent-bus schedule --help)\n",
            argv[1]);
    return CLI_EXIT_USAGE;
}

/* `intent-bus admin ...`: the admin API (docs/ADMIN.md) through
 * ib_request(), authenticated with the admin token alone (X-Admin-Token;
 * no API key is sent). Each subcommand prints the server's JSON as is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/credentials.h"

/* The options an admin subcommand may take (bits). */
enum {
    TAKES_NAMESPACE = 1,
    TAKES_YES = 2,
    TAKES_STATUS = 4,
    TAKES_LIMIT = 8,
    TAKES_FILTERS = 16,      /* the intent listing's other filters */
    TAKES_DEAD_FILTERS = 32, /* --goal, --reason, --error of the dead letters */
    TAKES_BEFORE = 64,       /* --before alone (the audit log's pages) */
};

enum {
    OPT_YES = CLI_OPT_FIRST_FREE,
    OPT_STATUS,
    OPT_LIMIT,
    OPT_GOAL,
    OPT_STATE,
    OPT_ID,
    OPT_OWNER,
    OPT_WORKER,
    OPT_ERROR,
    OPT_BEFORE,
    OPT_REASON,
};

static const struct option options[] = {
    {"namespace", required_argument, NULL, 'n'},
    {"yes", no_argument, NULL, OPT_YES},
    {"status", required_argument, NULL, OPT_STATUS},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"goal", required_argument, NULL, OPT_GOAL},
    {"state", required_argument, NULL, OPT_STATE},
    {"id", required_argument, NULL, OPT_ID},
    {"owner", required_argument, NULL, OPT_OWNER},
    {"worker", required_argument, NULL, OPT_WORKER},
    {"error", required_argument, NULL, OPT_ERROR},
    {"before", required_argument, NULL, OPT_BEFORE},
    {"reason", required_argument, NULL, OPT_REASON},
    CLI_COMMON_OPTIONS,
    {0},
};

struct admin_flags {
    const char *namespace_;
    const char *status;
    const char *limit;
    const char *goal;
    const char *state;
    const char *id;
    const char *owner;
    const char *worker;
    const char *error;
    const char *before;
    const char *reason;
    bool yes;
};

/* One request to send; path and body are the caller's to free. */
struct admin_request {
    const char *method;
    char *path;
    char *body;
};

struct admin_command {
    const char *name;
    const char *synopsis;
    const char *brief; /* for the list of commands */
    const char *summary;
    int min_operands;
    int max_operands;
    unsigned takes;
    /* Fills *request from the operands and flags; false after printing a
     * usage error. */
    bool (*build)(const struct cli_common *common, char **operands, int count,
                  const struct admin_flags *flags, struct admin_request *request);
};

/* A path segment or query value percent-encoded (RFC 3986 unreserved bytes
 * kept); NULL when out of memory. */
static char *percent_encode(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    char *encoded = malloc(strlen(text) * 3 + 1);
    if (encoded == NULL)
        return NULL;
    char *out = encoded;
    for (const unsigned char *byte = (const unsigned char *)text; *byte; byte++) {
        if ((*byte >= 'A' && *byte <= 'Z') || (*byte >= 'a' && *byte <= 'z') ||
            (*byte >= '0' && *byte <= '9') || strchr("-._~", *byte) != NULL) {
            *out++ = (char)*byte;
        } else {
            *out++ = '%';
            *out++ = hex[*byte >> 4];
            *out++ = hex[*byte & 15];
        }
    }
    *out = '\0';
    return encoded;
}

/* prefix + encoded id + suffix, e.g. "/admin/intents/<id>/retry". */
static char *path_with_id(const char *prefix, const char *id, const char *suffix)
{
    char *encoded = percent_encode(id);
    if (encoded == NULL)
        return NULL;
    size_t size = strlen(prefix) + strlen(encoded) + strlen(suffix) + 1;
    char *path = malloc(size);
    if (path != NULL)
        snprintf(path, size, "%s%s%s", prefix, encoded, suffix);
    free(encoded);
    return path;
}

/* Appends "&name=value" (or "?name=value") to *path when value is set. */
static bool add_query(char **path, const char *name, const char *value)
{
    if (value == NULL || *path == NULL)
        return *path != NULL;
    char *encoded = percent_encode(value);
    size_t size = strlen(*path) + strlen(name) + (encoded ? strlen(encoded) : 0) + 3;
    char *grown = encoded ? malloc(size) : NULL;
    if (grown != NULL)
        snprintf(grown, size, "%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', name, encoded);
    free(encoded);
    free(*path);
    *path = grown;
    return grown != NULL;
}

/* request->body from object (taken), built from the operand what; false
 * after a usage error when it could not be built (text not UTF-8). */
static bool set_body(const struct cli_common *common, struct admin_request *request, json_t *object,
                     const char *what)
{
    request->body = object ? json_dumps(object, JSON_COMPACT) : NULL;
    json_decref(object);
    if (request->body == NULL)
        cli_usage_error(common, "%s is not valid UTF-8", what);
    return request->body != NULL;
}

static bool build_generate_key(const struct cli_common *common, char **operands, int count,
                               const struct admin_flags *flags, struct admin_request *request)
{
    (void)count, (void)flags;
    request->method = "POST";
    request->path = strdup("/admin/generate_key");
    return set_body(common, request, json_pack("{s:s}", "owner", operands[0]), "OWNER");
}

static bool build_revoke_key(const struct cli_common *common, char **operands, int count,
                             const struct admin_flags *flags, struct admin_request *request)
{
    (void)count, (void)flags;
    request->method = "POST";
    request->path = strdup("/admin/revoke_key");
    return set_body(common, request, json_pack("{s:s}", "api_key", operands[0]), "KEY");
}

static bool build_dead(const struct cli_common *common, char **operands, int count,
                       const struct admin_flags *flags, struct admin_request *request)
{
    (void)common;
    request->method = "GET";
    request->path = count ? path_with_id("/admin/dead/", operands[0], "") : strdup("/admin/dead");
    add_query(&request->path, "error", flags->error);
    add_query(&request->path, "goal", flags->goal);
    add_query(&request->path, "namespace", flags->namespace_);
    add_query(&request->path, "reason", flags->reason);
    return true;
}

/* The body of a bulk action: confirm and the filters given. */
static bool build_dead_bulk(const struct cli_common *common, const struct admin_flags *flags,
                            struct admin_request *request, const char *path)
{
    if (!flags->yes) {
        cli_usage_error(common, "this acts on every matching dead letter; add --yes to confirm");
        return false;
    }
    request->method = "POST";
    request->path = strdup(path);
    json_t *body = json_pack("{s:b}", "confirm", 1);
    const char *names[] = {"namespace", "goal", "reason", "error"};
    const char *values[] = {flags->namespace_, flags->goal, flags->reason, flags->error};
    for (size_t i = 0; body != NULL && i < sizeof names / sizeof names[0]; i++) {
        if (values[i] != NULL && json_object_set_new(body, names[i], json_string(values[i])) != 0) {
            json_decref(body);
            body = NULL;
        }
    }
    return set_body(common, request, body, "a filter");
}

static bool build_dead_retry(const struct cli_common *common, char **operands, int count,
                             const struct admin_flags *flags, struct admin_request *request)
{
    (void)operands, (void)count;
    return build_dead_bulk(common, flags, request, "/admin/dead/retry");
}

static bool build_dead_purge(const struct cli_common *common, char **operands, int count,
                             const struct admin_flags *flags, struct admin_request *request)
{
    (void)operands, (void)count;
    return build_dead_bulk(common, flags, request, "/admin/dead/purge");
}

/* A GET of a fixed path, with --limit and --before when the command takes them. */
static bool build_view(const struct admin_flags *flags, struct admin_request *request,
                       const char *path)
{
    request->method = "GET";
    request->path = strdup(path);
    add_query(&request->path, "before", flags->before);
    add_query(&request->path, "limit", flags->limit);
    return true;
}

static bool build_audit(const struct cli_common *common, char **operands, int count,
                        const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)operands, (void)count;
    return build_view(flags, request, "/admin/audit");
}

static bool build_workers(const struct cli_common *common, char **operands, int count,
                          const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)operands, (void)count;
    return build_view(flags, request, "/admin/workers");
}

static bool build_goals(const struct cli_common *common, char **operands, int count,
                        const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)operands, (void)count;
    return build_view(flags, request, "/admin/goals");
}

/* goal pause|resume NS GOAL, goal limit NS GOAL N|none. */
static bool build_goal(const struct cli_common *common, char **operands, int count,
                       const struct admin_flags *flags, struct admin_request *request)
{
    (void)flags;
    const char *action = operands[0];
    bool limit = strcmp(action, "limit") == 0;
    if (!limit && strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0) {
        cli_usage_error(common, "'%s' is not pause, resume or limit", action);
        return false;
    }
    if (limit != (count == 4)) {
        cli_usage_error(common, limit ? "limit needs N (or none)" : "%s takes NS GOAL only",
                        action);
        return false;
    }
    json_t *max_claimed = NULL;
    if (limit) {
        char *end = NULL;
        long long n = strtoll(operands[3], &end, 10);
        if (strcmp(operands[3], "none") == 0)
            max_claimed = json_null();
        else if (end != operands[3] && *end == '\0')
            max_claimed = json_integer(n); /* the server checks its range */
        else {
            cli_usage_error(common, "N must be a whole number or none, not '%s'", operands[3]);
            return false;
        }
    }
    char suffix[16];
    snprintf(suffix, sizeof suffix, "/%s", action);
    char *prefix = path_with_id("/admin/goals/", operands[1], "/");
    request->method = "POST";
    request->path = prefix ? path_with_id(prefix, operands[2], suffix) : NULL;
    free(prefix);
    if (!limit)
        return true;
    return set_body(common, request, json_pack("{s:o}", "max_claimed", max_claimed), "N");
}

static bool build_schedules(const struct cli_common *common, char **operands, int count,
                            const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)operands, (void)count;
    return build_view(flags, request, "/admin/schedules");
}

/* schedule pause|resume NAME: any key's schedule (names are unique). */
static bool build_schedule(const struct cli_common *common, char **operands, int count,
                           const struct admin_flags *flags, struct admin_request *request)
{
    (void)count, (void)flags;
    const char *action = operands[0];
    if (strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0) {
        cli_usage_error(common, "'%s' is not pause or resume", action);
        return false;
    }
    char suffix[16];
    snprintf(suffix, sizeof suffix, "/%s", action);
    request->method = "POST";
    request->path = path_with_id("/admin/schedules/", operands[1], suffix);
    return true;
}

static bool build_retry(const struct cli_common *common, char **operands, int count,
                        const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)count, (void)flags;
    request->method = "POST";
    request->path = path_with_id("/admin/intents/", operands[0], "/retry");
    return true;
}

static bool build_cancel(const struct cli_common *common, char **operands, int count,
                         const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)count, (void)flags;
    request->method = "POST";
    request->path = path_with_id("/admin/intents/", operands[0], "/cancel");
    return true;
}

static bool build_purge(const struct cli_common *common, char **operands, int count,
                        const struct admin_flags *flags, struct admin_request *request)
{
    (void)operands, (void)count;
    if (!flags->yes) {
        cli_usage_error(common, "purge deletes %s; add --yes to confirm",
                        flags->namespace_ ? "every intent and dead letter of the namespace"
                                          : "every intent, dead letter, KV entry and "
                                            "idempotency record");
        return false;
    }
    request->method = "POST";
    request->path = strdup("/admin/purge");
    json_t *body = json_pack("{s:b}", "confirm", 1);
    if (body != NULL && flags->namespace_ != NULL &&
        json_object_set_new(body, "namespace", json_string(flags->namespace_)) != 0) {
        json_decref(body);
        body = NULL;
    }
    return set_body(common, request, body, "NS");
}

static bool build_cleanup(const struct cli_common *common, char **operands, int count,
                          const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)operands, (void)count, (void)flags;
    request->method = "POST";
    request->path = strdup("/admin/cleanup");
    return true;
}

static bool build_stats(const struct cli_common *common, char **operands, int count,
                        const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)operands, (void)count, (void)flags;
    request->method = "GET";
    request->path = strdup("/admin/stats");
    return true;
}

static bool build_keys(const struct cli_common *common, char **operands, int count,
                       const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)operands, (void)count, (void)flags;
    request->method = "GET";
    request->path = strdup("/admin/keys");
    return true;
}

static bool build_intents(const struct cli_common *common, char **operands, int count,
                          const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)operands, (void)count;
    request->method = "GET";
    request->path = strdup("/admin/intents");
    /* Query parameters in key order: the request-target is then canonical. */
    add_query(&request->path, "before", flags->before);
    add_query(&request->path, "error", flags->error);
    add_query(&request->path, "goal", flags->goal);
    add_query(&request->path, "id", flags->id);
    add_query(&request->path, "limit", flags->limit);
    add_query(&request->path, "namespace", flags->namespace_);
    add_query(&request->path, "owner", flags->owner);
    add_query(&request->path, "state", flags->state);
    add_query(&request->path, "status", flags->status);
    add_query(&request->path, "worker", flags->worker);
    return true;
}

static bool build_intent(const struct cli_common *common, char **operands, int count,
                         const struct admin_flags *flags, struct admin_request *request)
{
    (void)common, (void)count, (void)flags;
    request->method = "GET";
    request->path = path_with_id("/admin/intents/", operands[0], "");
    return true;
}

static const struct admin_command commands[] = {
    {"generate-key", "OWNER", "make a tester key",
     "Makes a tester key for OWNER; the key is shown once.", 1, 1, 0, build_generate_key},
    {"revoke-key", "KEY", "revoke a tester key", "Revokes a tester key: from now on it gets 401.",
     1, 1, 0, build_revoke_key},
    {"dead", "[ID] [--goal G] [--reason R] [--error TEXT] [-n NS]", "list dead letters, or show one",
     "Lists the 100 most recent dead letters that match, or shows one with its payload.", 0, 1,
     TAKES_NAMESPACE | TAKES_DEAD_FILTERS, build_dead},
    {"dead-retry", "--yes [filters]", "retry every matching dead letter",
     "Puts every matching dead letter back in the queue (at most the 1,000 most recent).", 0, 0,
     TAKES_YES | TAKES_NAMESPACE | TAKES_DEAD_FILTERS, build_dead_retry},
    {"dead-purge", "--yes [filters]", "delete every matching dead letter",
     "Deletes every matching dead letter and its dead intent.", 0, 0,
     TAKES_YES | TAKES_NAMESPACE | TAKES_DEAD_FILTERS, build_dead_purge},
    {"audit", "[--limit N] [--before ID]", "the audit log of admin actions",
     "Lists admin actions, newest first; the reply's \"next\" continues with --before.", 0, 0,
     TAKES_LIMIT | TAKES_BEFORE, build_audit},
    {"workers", "", "the workers seen in the last hour",
     "Lists the workers that claimed in the last hour and the jobs they hold.", 0, 0, 0,
     build_workers},
    {"goals", "", "intents per namespace, goal and state",
     "Counts intents per namespace, goal and state, with each goal's oldest open job.", 0, 0, 0,
     build_goals},
    {"goal", "pause|resume NS GOAL, or limit NS GOAL N|none", "pause a goal or limit it",
     "pause: claims of goal GOAL in namespace NS get nothing until resume (publishes\n"
     "are still accepted). limit: at most N of its intents are claimed at once (a\n"
     "live lease each); none removes the limit.",
     3, 4, 0, build_goal},
    {"schedules", "", "every key's schedules",
     "Lists the schedules of every API key with their owner key, next runs and last fire.", 0,
     0, 0, build_schedules},
    {"schedule", "pause|resume NAME", "pause or resume any key's schedule",
     "pause: the schedule NAME (of whichever key made it) publishes nothing until\n"
     "resume, which continues from the next occurrence (nothing missed is caught up).",
     2, 2, 0, build_schedule},
    {"retry", "ID", "put an intent back in the queue",
     "Puts the intent ID back in the queue with its attempts reset.", 1, 1, 0, build_retry},
    {"cancel", "ID", "force an intent to dead",
     "Forces the intent ID to dead and archives it as a dead letter.", 1, 1, 0, build_cancel},
    {"purge", "--yes [--namespace NS]", "delete intents and dead letters",
     "Deletes every intent and dead letter (of namespace NS only, with --namespace;\n"
     "without it, the KV store and idempotency records too).",
     0, 0, TAKES_YES | TAKES_NAMESPACE, build_purge},
    {"cleanup", "", "run the cleanup pass now",
     "Runs the cleanup pass now and prints its counters.", 0, 0, 0, build_cleanup},
    {"stats", "", "counts per namespace and status",
     "Prints intents per namespace and status, dead letters and tester keys.", 0, 0, 0,
     build_stats},
    {"keys", "", "list the tester keys", "Lists the tester keys (fingerprints, never the keys).", 0,
     0, 0, build_keys},
    {"intents", "[--status S] [--namespace NS] [--limit N]", "list intents",
     "Lists intents, newest first (limit 1-500, default 50).", 0, 0,
     TAKES_STATUS | TAKES_NAMESPACE | TAKES_LIMIT | TAKES_FILTERS, build_intents},
    {"jobs", "[--goal G] [--state S] [filters]", "find intents",
     "Lists the intents that match every filter given, newest first (limit 1-500,\n"
     "default 50); the reply's \"next\" continues the listing with --before.",
     0, 0, TAKES_STATUS | TAKES_NAMESPACE | TAKES_LIMIT | TAKES_FILTERS, build_intents},
    {"intent", "ID", "show one intent",
     "Shows every field of the intent ID, and its attempts (worker id, claim time,\n"
     "lease expiry, outcome, error), oldest first.",
     1, 1, 0,
     build_intent},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

/* The subcommand being parsed, for its --help. */
static const struct admin_command *selected;

static void print_admin_usage(FILE *out)
{
    fprintf(out, "usage: intent-bus admin <command> [arguments] [options]\n"
                 "\n"
                 "The admin API, authenticated with --admin-token or $INTENT_ADMIN_TOKEN (the\n"
                 "server's BUS_ADMIN_SECRET). Each command prints the server's JSON.\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        char usage[80];
        snprintf(usage, sizeof usage, "%s %s", commands[i].name, commands[i].synopsis);
        fprintf(out, "  %-50s %s\n", usage, commands[i].brief);
    }
    fprintf(out, "\nintent-bus admin <command> --help says more about each.\n");
}

static void print_command_usage(void)
{
    printf("usage: intent-bus admin %s%s%s\n\n%s\n", selected->name,
           selected->synopsis[0] ? " " : "", selected->synopsis, selected->summary);
    if (selected->takes != 0)
        printf("\noptions:\n");
    if (selected->takes & TAKES_YES)
        printf("  --yes                    confirm: nothing is deleted without it\n");
    if (selected->takes & TAKES_NAMESPACE)
        printf("  -n, --namespace NS       only this namespace\n");
    if (selected->takes & TAKES_STATUS)
        printf("  --status S               only intents in status S (open, claimed, ...)\n");
    if (selected->takes & TAKES_LIMIT)
        printf("  --limit N                at most N intents\n");
    if (selected->takes & TAKES_DEAD_FILTERS)
        printf("  --goal G                 only goal G\n"
               "  --reason R               failed, lease_expired or cancelled\n"
               "  --error TEXT             whose error contains TEXT\n");
    if (selected->takes & TAKES_BEFORE)
        printf("  --before ID              the entries before ID (the previous reply's \"next\")\n");
    if (selected->takes & TAKES_FILTERS)
        printf("  --goal G                 only goal G\n"
               "  --state S                open, scheduled, claimed, expired, fulfilled or dead\n"
               "  --id ID                  an id, or the first hex digits of ids\n"
               "  --owner O                published by the main key (main) or O's tester keys\n"
               "  --worker W               last claimed by worker id W\n"
               "  --error TEXT             whose error contains TEXT\n"
               "  --before ID              the page after ID (the previous reply's \"next\")\n");
    printf("%s", CLI_COMMON_USAGE);
}

/* Where an option's value goes, and which commands take it. */
static const char **option_slot(struct admin_flags *flags, int flag, unsigned *needs)
{
    struct {
        int flag;
        unsigned needs;
        const char **slot;
    } const slots[] = {
        {'n', TAKES_NAMESPACE, &flags->namespace_}, {OPT_STATUS, TAKES_STATUS, &flags->status},
        {OPT_LIMIT, TAKES_LIMIT, &flags->limit},
        {OPT_GOAL, TAKES_FILTERS | TAKES_DEAD_FILTERS, &flags->goal},
        {OPT_STATE, TAKES_FILTERS, &flags->state},
        {OPT_ID, TAKES_FILTERS, &flags->id},
        {OPT_OWNER, TAKES_FILTERS, &flags->owner},
        {OPT_WORKER, TAKES_FILTERS, &flags->worker},
        {OPT_ERROR, TAKES_FILTERS | TAKES_DEAD_FILTERS, &flags->error},
        {OPT_BEFORE, TAKES_FILTERS | TAKES_BEFORE, &flags->before},
        {OPT_REASON, TAKES_DEAD_FILTERS, &flags->reason},
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        if (slots[i].flag == flag) {
            *needs = slots[i].needs;
            return slots[i].slot;
        }
    }
    *needs = flag == OPT_YES ? TAKES_YES : 0;
    return NULL;
}

static bool take_option(struct cli_common *common, int flag, int argc, char **argv, void *context)
{
    (void)argc, (void)argv;
    struct admin_flags *flags = context;
    unsigned needs = 0;
    const char **slot = option_slot(flags, flag, &needs);
    if (needs == 0 || !(selected->takes & needs)) {
        cli_usage_error(common, "option %s does not apply here", argv[optind - 1]);
        return false;
    }
    if (slot != NULL)
        *slot = optarg;
    else /* the one flag without a value; flags is the caller's, never NULL */
        flags->yes = true; // NOLINT(clang-analyzer-core.NullDereference): see above
    return true;
}

static int send_request(const struct cli_common *common, struct ib_client *client, const char *url,
                        void *context)
{
    const struct admin_request *request = context;
    char *response = NULL;
    enum ib_err err =
        ib_request(client, request->method, request->path, request->body, NULL, &response);
    int code = err == IB_OK ? cli_print_line(response) : cli_report(common, client, url, err);
    ib_free(response);
    return code;
}

static const struct admin_command *find_command(const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

/* argv[0] is the admin subcommand's name. */
static int run_command(const struct admin_command *command, int argc, char **argv)
{
    char name[64];
    snprintf(name, sizeof name, "admin %s", command->name);
    struct cli_common common = {.command = name};
    struct admin_flags flags = {0};
    struct cli_syntax syntax = {":hn:",
                                options,
                                take_option,
                                print_command_usage,
                                command->min_operands,
                                command->max_operands};
    selected = command;
    int code = cli_parse(&common, argc, argv, &syntax, &flags);
    if (code >= 0)
        return code;
    struct admin_request request = {0};
    if (!command->build(&common, argv + optind, argc - optind, &flags, &request))
        return CLI_EXIT_USAGE;
    if (request.path == NULL) {
        cli_error(&common, "out of memory");
        code = CLI_EXIT_FAILED;
    } else {
        code = cli_with_client(&common, CLI_NEED_ADMIN_TOKEN, send_request, &request);
    }
    free(request.path);
    free(request.body);
    return code;
}

int cli_admin_main(int argc, char **argv)
{
    if (argc < 2) {
        print_admin_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_admin_usage(stdout);
        return CLI_EXIT_OK;
    }
    const struct admin_command *command = find_command(argv[1]);
    if (command == NULL) {
        fprintf(stderr, "intent-bus: admin: unknown command '%s' (see intent-bus admin --help)\n",
                argv[1]);
        return CLI_EXIT_USAGE;
    }
    return run_command(command, argc - 1, argv + 1);
}

/* publish --batch; see publish_batch.h. Lines go to the bus as they are,
 * so every field a single publish takes works per line and the server's
 * validation is the only one. */
#include "cli/publish_batch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_SIZE IB_BATCH_MAX

/* The lines read since the last request, in order: those to send (their
 * intents in `intents`) and those refused here (their error item in
 * `local`), so the results come out in input order. */
struct pending {
    json_t *intents;
    long line_numbers[BATCH_SIZE];
    json_t *local[BATCH_SIZE]; /* owned; NULL for a line sent */
    size_t count;              /* lines */
    size_t sent;               /* of them in intents */
    bool any_failed;
};

/* Prints one result line: item with "line" first, "index" dropped. */
static bool print_result(long line, json_t *item)
{
    json_t *out = json_pack("{s:I}", "line", (json_int_t)line);
    if (out == NULL)
        return false;
    json_object_update(out, item);
    json_object_del(out, "index");
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    bool ok = text != NULL && cli_print_line(text) == CLI_EXIT_OK;
    free(text);
    return ok;
}

/* Sends the pending intents; *reply the bus's answer, NULL for none to send. */
static int send_pending(const struct cli_common *common, struct ib_client *client, const char *url,
                        struct pending *pending, json_t **reply)
{
    *reply = NULL;
    if (pending->sent == 0)
        return CLI_EXIT_OK;
    json_t *body = json_pack("{s:O}", "intents", pending->intents);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        cli_error(common, "out of memory");
        return CLI_EXIT_FAILED;
    }
    char *response = NULL;
    enum ib_err err = ib_request(client, "POST", "/intents", text, NULL, &response);
    free(text);
    *reply = err == IB_OK ? json_loads(response, 0, NULL) : NULL;
    ib_free(response);
    if (err != IB_OK)
        return cli_report(common, client, url, err);
    if (json_array_size(json_object_get(*reply, "results")) != pending->sent) {
        cli_error(common, "the bus did not answer one result per line");
        return CLI_EXIT_UNAVAILABLE;
    }
    return CLI_EXIT_OK;
}

static void pending_clear(struct pending *pending)
{
    for (size_t i = 0; i < pending->count; i++)
        json_decref(pending->local[i]);
    json_array_clear(pending->intents);
    pending->count = pending->sent = 0;
}

/* Sends the pending lines and prints every one's result; an exit code. */
static int flush(const struct cli_common *common, struct ib_client *client, const char *url,
                 struct pending *pending)
{
    json_t *reply = NULL;
    int code = send_pending(common, client, url, pending, &reply);
    json_t *results = json_object_get(reply, "results");
    for (size_t i = 0, sent = 0; code == CLI_EXIT_OK && i < pending->count; i++) {
        json_t *item = pending->local[i] ? pending->local[i] : json_array_get(results, sent++);
        pending->any_failed = pending->any_failed || json_object_get(item, "error") != NULL;
        if (!print_result(pending->line_numbers[i], item))
            code = CLI_EXIT_FAILED;
    }
    json_decref(reply);
    pending_clear(pending);
    return code;
}

static bool blank(const char *line)
{
    return line[strspn(line, " \t\r\n")] == '\0';
}

/* Adds one line to the batch, or prints why it cannot be sent. */
static bool add_line(struct pending *pending, long number, const char *line, const char *namespace_)
{
    json_error_t error;
    json_t *intent = json_loads(line, JSON_ALLOW_NUL, &error);
    size_t at = pending->count++;
    pending->line_numbers[at] = number;
    pending->local[at] = NULL;
    if (!json_is_object(intent)) {
        pending->local[at] = json_pack("{s:{s:s, s:s}}", "error", "code", "invalid_json", "message",
                                       intent ? "a line must be one JSON object" : error.text);
        json_decref(intent);
        return pending->local[at] != NULL;
    }
    if (namespace_ != NULL && json_object_get(intent, "namespace") == NULL)
        json_object_set_new(intent, "namespace", json_string(namespace_));
    pending->sent++;
    return json_array_append_new(pending->intents, intent) == 0;
}

int publish_batch(const struct cli_common *common, struct ib_client *client, const char *url,
                  FILE *input, const char *namespace_)
{
    struct pending pending = {.intents = json_array()};
    char *line = NULL;
    size_t capacity = 0;
    long number = 0;
    int code = pending.intents ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    while (code == CLI_EXIT_OK && getline(&line, &capacity, input) >= 0) {
        number++;
        if (blank(line))
            continue;
        if (!add_line(&pending, number, line, namespace_))
            code = CLI_EXIT_FAILED;
        else if (pending.count == BATCH_SIZE)
            code = flush(common, client, url, &pending);
    }
    if (code == CLI_EXIT_OK && ferror(input)) {
        cli_error(common, "cannot read the batch");
        code = CLI_EXIT_USAGE;
    }
    if (code == CLI_EXIT_OK)
        code = flush(common, client, url, &pending);
    free(line);
    pending_clear(&pending);
    json_decref(pending.intents);
    if (code == CLI_EXIT_OK && pending.any_failed)
        code = CLI_EXIT_FAILED;
    return code;
}

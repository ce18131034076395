/* One job of a listener, from the claim to its log line; see listen_job.h.
 *
 * What the command's exit means:
 *   0          fulfil; stdout is the result: JSON when it parses as JSON,
 *              else UTF-8 text (trailing newlines dropped, as $(...) does),
 *              none when it is empty or blank;
 *   otherwise  fail; the error is "exit status N: " and the end of stderr,
 *              at most 2000 bytes in all (what the bus keeps).
 * A 404 from the bus on fulfil or fail means the lease is lost: logged,
 * never retried. Errors the bus provably did not act on (no response,
 * 5xx, 429) are retried a few times. */
#include "cli/listen_job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>

#include "cli/common.h"
#include "cli/lease_keeper.h"
#include "cli/runner.h"
#include "util/clock.h"

#define MAX_ERROR_BYTES 2000 /* the bus keeps this much of an error */
#define SETTLE_TRIES 4

extern char **environ;

/* What became of the job, for its log line. */
struct outcome {
    char text[512];
};

/* ----------------------------------------------------------- environment */

static const char *const job_variables[] = {
    "INTENT_ID=", "INTENT_GOAL=", "INTENT_NAMESPACE=", "INTENT_ATTEMPT="};
#define JOB_VARIABLES (sizeof job_variables / sizeof job_variables[0])

static bool is_job_variable(const char *entry)
{
    for (size_t i = 0; i < JOB_VARIABLES; i++) {
        if (strncmp(entry, job_variables[i], strlen(job_variables[i])) == 0)
            return true;
    }
    return false;
}

static char *make_variable(const char *name, const char *value)
{
    size_t size = strlen(name) + strlen(value) + 1;
    char *entry = malloc(size);
    if (entry != NULL)
        snprintf(entry, size, "%s%s", name, value);
    return entry;
}

static void free_environment(char **env)
{
    if (env == NULL)
        return;
    /* Only the job's own variables, at the front, were allocated here. */
    for (size_t i = 0; i < JOB_VARIABLES; i++)
        free(env[i]);
    free(env);
}

/* The listener's environment with the job's four variables in front (and
 * any inherited ones of those names left out); NULL when out of memory. */
static char **job_environment(const struct ib_job *job)
{
    size_t count = 0;
    while (environ[count] != NULL)
        count++;
    char **env = calloc(count + JOB_VARIABLES + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    char attempt[24];
    snprintf(attempt, sizeof attempt, "%d", job->claim_attempts);
    const char *values[JOB_VARIABLES] = {job->id, job->goal, job->namespace_, attempt};
    bool failed = false;
    for (size_t i = 0; i < JOB_VARIABLES; i++)
        failed |= (env[i] = make_variable(job_variables[i], values[i])) == NULL;
    if (failed) {
        free_environment(env);
        return NULL;
    }
    size_t next = JOB_VARIABLES;
    for (size_t i = 0; i < count; i++) {
        if (!is_job_variable(environ[i]))
            env[next++] = environ[i];
    }
    return env;
}

/* ------------------------------------------------------------------ text */

/* Length of the valid UTF-8 sequence at text (1-4), or 0 when invalid
 * (overlong forms and surrogates included, as jansson refuses them). */
static size_t utf8_sequence(const unsigned char *text, size_t left)
{
    unsigned char lead = text[0];
    if (lead < 0x80)
        return 1;
    size_t length = lead >= 0xC2 && lead <= 0xDF   ? 2
                    : lead >= 0xE0 && lead <= 0xEF ? 3
                    : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                   : 0;
    if (length == 0 || length > left)
        return 0;
    unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
    unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
    if (text[1] < low || text[1] > high)
        return 0;
    for (size_t i = 2; i < length; i++) {
        if (text[i] < 0x80 || text[i] > 0xBF)
            return 0;
    }
    return length;
}

/* Makes text printable UTF-8 in place: invalid bytes and control
 * characters but tab, newline and carriage return become '?'. Each would
 * otherwise be refused, or cost six bytes of the 8 KB body as \u00XX. */
static void make_printable(char *text, size_t length)
{
    unsigned char *bytes = (unsigned char *)text;
    for (size_t i = 0; i < length;) {
        size_t step = utf8_sequence(bytes + i, length - i);
        if (step == 0 || (step == 1 && (bytes[i] < 0x20 || bytes[i] == 0x7F) && bytes[i] != '\t' &&
                          bytes[i] != '\n' && bytes[i] != '\r')) {
            bytes[i] = '?';
            step = 1;
        }
        i += step;
    }
}

static size_t trim_trailing_space(const char *text, size_t length)
{
    while (length > 0 && strchr(" \t\r\n", text[length - 1]) != NULL)
        length--;
    return length;
}

/* "exit status 1", "killed by signal 9". */
static void describe_exit(int wait_status, char *out, size_t size)
{
    if (WIFEXITED(wait_status))
        snprintf(out, size, "exit status %d", WEXITSTATUS(wait_status));
    else if (WIFSIGNALED(wait_status))
        snprintf(out, size, "killed by signal %d", WTERMSIG(wait_status));
    else
        snprintf(out, size, "wait status %d", wait_status);
}

/* The fail error: "exit status N: <end of stderr>", at most
 * MAX_ERROR_BYTES bytes, cut at a character boundary. */
static char *error_text(const struct runner_output *output)
{
    char status[64];
    describe_exit(output->wait_status, status, sizeof status);
    size_t room = MAX_ERROR_BYTES - strlen(status) - 2;
    const char *tail = output->err;
    size_t length = trim_trailing_space(tail, output->err_length);
    if (length > room) {
        tail += length - room;
        length = room;
    }
    while (length > 0 && ((unsigned char)*tail & 0xC0) == 0x80) { /* a character's middle */
        tail++;
        length--;
    }
    while (length > 0 && strchr(" \t\r\n", *tail) != NULL) {
        tail++;
        length--;
    }
    char *error = malloc(MAX_ERROR_BYTES + 1);
    if (error == NULL)
        return NULL;
    int prefix = snprintf(error, MAX_ERROR_BYTES + 1, "%s%s", status, length ? ": " : "");
    memcpy(error + prefix, tail, length);
    error[prefix + length] = '\0';
    make_printable(error + prefix, length);
    return error;
}

/* ------------------------------------------------------------- settling */

/* Calls fulfil or fail until it is answered, retrying only errors the bus
 * did not act on; a 404 is never retried. *retried says whether the
 * answer came to a repeated request. */
static enum ib_err settle(struct ib_client *client, const struct ib_job *job, const char *result,
                          const char *result_type, const char *error,
                          struct ib_fail_outcome *failed, bool *retried)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(size_t)job;
    enum ib_err err = IB_OK;
    *retried = false;
    for (unsigned attempt = 1; attempt <= SETTLE_TRIES; attempt++) {
        err = failed ? ib_fail(client, job->id, job->claim_token, error, failed)
                     : ib_fulfill(client, job->id, job->claim_token, result, result_type);
        if (!cli_is_transient(err) || attempt == SETTLE_TRIES)
            break;
        cli_sleep(cli_backoff(attempt, ib_last_retry_after(client), &seed));
        *retried = true;
    }
    return err;
}

/* After a repeated fulfil got 404: was it the first try that got through? */
static bool fulfilled_meanwhile(struct ib_client *client, const struct ib_job *job)
{
    char *response = NULL;
    enum ib_intent_status status = IB_STATUS_UNKNOWN;
    enum ib_err err = ib_status(client, job->id, &response, &status);
    ib_free(response);
    return err == IB_OK && status == IB_STATUS_FULFILLED;
}

static void describe_error(struct outcome *outcome, const char *what,
                           const struct ib_client *client, enum ib_err err)
{
    const char *code = ib_last_error_code(client);
    const char *message = ib_last_error_message(client);
    snprintf(outcome->text, sizeof outcome->text, "error (%s: %s%s%s)", what,
             code[0] ? code : ib_strerror(err), message[0] ? ": " : "", message);
}

/* Fails the job with error (may be NULL: out of memory); why is the short
 * reason for the log ("exit status 1"). */
static void fail_job(struct ib_client *client, const struct ib_job *job, const char *error,
                     const char *why, struct outcome *outcome)
{
    struct ib_fail_outcome failed = {0};
    bool retried = false;
    enum ib_err err = settle(client, job, NULL, NULL, error ? error : why, &failed, &retried);
    if (err == IB_ERR_NOT_FOUND)
        snprintf(outcome->text, sizeof outcome->text, "lease lost (%s)", why);
    else if (err != IB_OK)
        describe_error(outcome, "fail", client, err);
    else if (failed.status == IB_STATUS_DEAD)
        snprintf(outcome->text, sizeof outcome->text, "failed (%s; dead after %d attempt%s)", why,
                 failed.claim_attempts, failed.claim_attempts == 1 ? "" : "s");
    else
        snprintf(outcome->text, sizeof outcome->text, "failed (%s; will retry)", why);
}

/* The result of a command that exited 0, as JSON text and result type;
 * *result NULL for none. false (with *why set) when it cannot be one. */
static bool make_result(struct runner_output *output, char **result, const char **type,
                        const char **why)
{
    *result = NULL;
    *type = NULL;
    if (output->out_truncated) {
        *why = "stdout larger than 64 KiB (the bus takes results up to about 8 KB)";
        return false;
    }
    if (output->out == NULL || trim_trailing_space(output->out, output->out_length) == 0)
        return true; /* no output: no result */
    size_t length;
    json_t *value =
        json_loadb(output->out, output->out_length, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (value == NULL) {
        /* Trailing newlines go, as in $(...); other trailing spaces stay. */
        length = output->out_length;
        while (length > 0 && (output->out[length - 1] == '\n' || output->out[length - 1] == '\r'))
            length--;
        value = json_stringn(output->out, length);
        *type = "text";
    } else {
        *type = "json";
    }
    if (value == NULL) {
        *why = "stdout is neither JSON nor UTF-8 text";
        return false;
    }
    *result = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    if (*result == NULL) {
        *why = "out of memory";
        return false;
    }
    return true;
}

static void fulfil_job(struct ib_client *client, const struct ib_job *job,
                       struct runner_output *output, struct outcome *outcome)
{
    char *result = NULL;
    const char *type = NULL;
    const char *why = NULL;
    if (!make_result(output, &result, &type, &why)) {
        fail_job(client, job, why, why, outcome);
        return;
    }
    bool retried = false;
    enum ib_err err = settle(client, job, result, type, NULL, NULL, &retried);
    free(result);
    if (err == IB_OK || (err == IB_ERR_NOT_FOUND && retried && fulfilled_meanwhile(client, job))) {
        snprintf(outcome->text, sizeof outcome->text, "fulfilled");
    } else if (err == IB_ERR_NOT_FOUND) {
        snprintf(outcome->text, sizeof outcome->text, "lease lost");
    } else if (err == IB_ERR_PAYLOAD_TOO_LARGE || err == IB_ERR_INVALID_FIELD ||
               err == IB_ERR_INVALID_JSON || err == IB_ERR_INVALID_REQUEST ||
               err == IB_ERR_INVALID_ARGUMENT) {
        /* The bus will never take this result: say why, so the job is
         * retried or dead-lettered instead of held until its lease ends. */
        char error[512];
        snprintf(error, sizeof error, "the bus refused the result: %s: %s",
                 ib_last_error_code(client)[0] ? ib_last_error_code(client) : ib_strerror(err),
                 ib_last_error_message(client));
        fail_job(client, job, error, "result refused", outcome);
    } else {
        describe_error(outcome, "fulfil", client, err);
    }
}

/* ------------------------------------------------------------------- log */

static void log_job(const struct ib_job *job, const struct outcome *outcome, double seconds)
{
    char when[32];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
    fprintf(stderr, "%s %s %s %s %.2fs\n", when, job->id, job->goal, outcome->text, seconds);
}

/* The last lines of a failed command's stderr, indented under the job's
 * log line, so whoever watches the worker sees why without asking the bus
 * (which has them too, in the fail error). */
#define SHOWN_STDERR_LINES 10

static void show_stderr_tail(const struct runner_output *output)
{
    size_t length = trim_trailing_space(output->err, output->err_length);
    size_t start = length;
    for (int lines = 0; start > 0; start--) {
        if (output->err[start - 1] == '\n' && ++lines == SHOWN_STDERR_LINES)
            break;
    }
    while (start < length) {
        size_t end = start;
        while (end < length && output->err[end] != '\n')
            end++;
        fprintf(stderr, "  | %.*s\n", (int)(end - start), output->err + start);
        start = end + 1;
    }
}

/* ------------------------------------------------------------------- run */

/* The payload and a newline, so `read` in a shell script sees a line. */
static char *stdin_text(const struct ib_job *job, size_t *length)
{
    *length = strlen(job->payload) + 1;
    char *text = malloc(*length + 1);
    if (text != NULL)
        snprintf(text, *length + 1, "%s\n", job->payload);
    return text;
}

/* Runs the command; returns 0 or the errno value of starting it. */
static int run_command(const struct listen_config *config, const struct ib_job *job,
                       struct runner_output *output, listen_job_pid_fn *on_pid, void *context,
                       bool *abandoned)
{
    char **env = job_environment(job);
    size_t input_length = 0;
    char *input = stdin_text(job, &input_length);
    struct runner runner;
    int error = env && input ? runner_start(&runner, config->command, env) : ENOMEM;
    if (error == 0) {
        on_pid(context, runner.pid);
        runner_finish(&runner, input, input_length, output);
        *abandoned = !on_pid(context, 0);
    }
    free(input);
    free_environment(env);
    return error;
}

void listen_job_run(const struct listen_config *config, struct ib_client *client,
                    struct ib_client *lease_client, const struct ib_job *job, double claimed_at,
                    listen_job_pid_fn *on_pid, void *context)
{
    double started = clock_monotonic();
    struct lease_keeper keeper;
    bool keeping = lease_keeper_start(&keeper, lease_client, job, claimed_at) == 0;
    if (!keeping)
        fprintf(stderr, "intent-bus: listen: %s: cannot start the lease keeper\n", job->id);
    struct runner_output output = {0};
    bool abandoned = false;
    int start_error = run_command(config, job, &output, on_pid, context, &abandoned);
    bool lost = keeping && lease_keeper_stop(&keeper);
    bool exited_zero = WIFEXITED(output.wait_status) && WEXITSTATUS(output.wait_status) == 0;
    bool command_failed = !lost && start_error == 0 && !exited_zero;
    struct outcome outcome;
    if (lost) {
        snprintf(outcome.text, sizeof outcome.text, "lease lost");
    } else if (abandoned) { /* killed by a second signal: the bus redelivers it */
        snprintf(outcome.text, sizeof outcome.text, "left to the bus");
    } else if (start_error != 0) {
        char why[128];
        snprintf(why, sizeof why, "cannot run /bin/sh: %s", strerror(start_error));
        fail_job(client, job, why, why, &outcome);
    } else if (exited_zero) {
        fulfil_job(client, job, &output, &outcome);
    } else {
        char why[64];
        describe_exit(output.wait_status, why, sizeof why);
        char *error = error_text(&output);
        fail_job(client, job, error, why, &outcome);
        free(error);
    }
    log_job(job, &outcome, clock_monotonic() - started);
    if (command_failed)
        show_stderr_tail(&output);
    runner_output_free(&output);
}

/* The pieces every client subcommand shares; see common.h. */
#include "cli/common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STDIN_JSON ((size_t)1 << 20) /* far above what the bus accepts (8 KB) */
#define BACKOFF_FIRST_SECONDS 1.0
#define BACKOFF_MAX_SECONDS 30.0

void cli_error(const struct cli_common *common, const char *format, ...)
{
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fprintf(stderr, "intent-bus: %s: %s\n", common->command, message);
}

int cli_usage_error(const struct cli_common *common, const char *format, ...)
{
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fprintf(stderr, "intent-bus: %s: %s (see intent-bus %s --help)\n", common->command, message,
            common->command);
    return CLI_EXIT_USAGE;
}

/* The option getopt_long() stopped at, as the user wrote it. */
static void describe_bad_option(char **argv, char *out, size_t size)
{
    if (optopt > 0 && optopt < 128 && isgraph(optopt))
        snprintf(out, size, "-%c", optopt);
    else
        snprintf(out, size, "%s", optind > 0 ? argv[optind - 1] : "?");
}

/* Takes a common flag's value; false when flag is not a common one. */
static bool take_common_option(struct cli_common *common, int flag, const char *value)
{
    switch (flag) {
    case CLI_OPT_URL:
        common->url = value;
        return true;
    case CLI_OPT_API_KEY:
        common->api_key = value;
        return true;
    case CLI_OPT_ADMIN_TOKEN:
        common->admin_token = value;
        return true;
    case CLI_OPT_NO_SIGN:
        common->no_sign = true;
        return true;
    default:
        return false;
    }
}

#define GETOPT_ERROR '?' /* a bad option, whose message is printed already */

/* getopt_long() for a subcommand: takes the common flags itself, returns
 * 'h' for --help, GETOPT_ERROR after printing what is wrong with an
 * option, -1 at the end, else the subcommand's own option. */
static int cli_getopt(struct cli_common *common, int argc, char **argv, const char *short_options,
                      const struct option *long_options)
{
    opterr = 0; /* messages are ours: "intent-bus: publish: ..." */
    for (;;) {
        int flag = getopt_long(argc, argv, short_options, long_options, NULL);
        if (take_common_option(common, flag, optarg))
            continue;
        if (flag == '?' || flag == ':') {
            char option[64];
            describe_bad_option(argv, option, sizeof option);
            if (flag == ':')
                cli_usage_error(common, "option %s needs a value", option);
            else
                cli_usage_error(common, "unknown option %s", option);
            return GETOPT_ERROR;
        }
        return flag;
    }
}

bool cli_check_operands(const struct cli_common *common, int count, int min, int max)
{
    if (count < min) {
        cli_usage_error(common, "missing argument");
        return false;
    }
    if (max >= 0 && count > max) {
        cli_usage_error(common, "too many arguments");
        return false;
    }
    return true;
}

int cli_parse(struct cli_common *common, int argc, char **argv, const struct cli_syntax *syntax,
              void *context)
{
    optind = 0; /* 0, not 1: glibc then starts afresh (admin parses a second argv) */
    int flag;
    while ((flag = cli_getopt(common, argc, argv, syntax->short_options, syntax->long_options)) !=
           -1) {
        if (flag == 'h') {
            syntax->usage();
            return CLI_EXIT_OK;
        }
        if (flag == GETOPT_ERROR || syntax->take == NULL ||
            !syntax->take(common, flag, argc, argv, context))
            return CLI_EXIT_USAGE;
    }
    if (!cli_check_operands(common, argc - optind, syntax->min_operands, syntax->max_operands))
        return CLI_EXIT_USAGE;
    return -1;
}

bool cli_parse_long(const struct cli_common *common, const char *what, const char *text, long min,
                    long max, long *value)
{
    char *end = NULL;
    errno = 0;
    long number = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || number < min || number > max) {
        cli_usage_error(common, "%s must be a whole number from %ld to %ld, not '%s'", what, min,
                        max, text);
        return false;
    }
    *value = number;
    return true;
}

bool cli_parse_seconds(const struct cli_common *common, const char *what, const char *text,
                       double min, double max, double *value)
{
    char *end = NULL;
    errno = 0;
    double number = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(number) || number < min ||
        number > max) {
        cli_usage_error(common, "%s must be a number of seconds from %g to %g, not '%s'", what, min,
                        max, text);
        return false;
    }
    *value = number;
    return true;
}

/* All of standard input as a string, or NULL (too large, read error). */
static char *read_stdin(void)
{
    size_t size = 0;
    size_t capacity = 4096;
    char *data = malloc(capacity);
    while (data != NULL) {
        if (size + 1 >= capacity) {
            char *grown = capacity < MAX_STDIN_JSON ? realloc(data, capacity * 2) : NULL;
            if (grown == NULL)
                break;
            data = grown;
            capacity *= 2;
        }
        size_t got = fread(data + size, 1, capacity - size - 1, stdin);
        size += got;
        if (got == 0) {
            if (ferror(stdin))
                break;
            data[size] = '\0';
            return data;
        }
    }
    free(data);
    return NULL;
}

char *cli_read_json_operand(const struct cli_common *common, const char *what, const char *text)
{
    char *json = strcmp(text, "-") == 0 ? read_stdin() : strdup(text);
    if (json == NULL) {
        cli_usage_error(common, "cannot read %s%s", what,
                        strcmp(text, "-") == 0 ? " from standard input" : "");
        return NULL;
    }
    json_error_t error;
    json_t *value = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (value == NULL) {
        cli_usage_error(common, "%s is not valid JSON: %s (quote it for the shell: '{\"n\":1}')",
                        what, error.text);
        free(json);
        return NULL;
    }
    json_decref(value);
    return json;
}

int cli_exit_code(enum ib_err err)
{
    switch (err) {
    case IB_OK:
        return CLI_EXIT_OK;
    case IB_ERR_EMPTY:
        return CLI_EXIT_NOTHING;
    case IB_ERR_UNAUTHORIZED:
    case IB_ERR_FORBIDDEN:
        return CLI_EXIT_AUTH;
    case IB_ERR_NOT_FOUND:
        return CLI_EXIT_NOT_FOUND;
    case IB_ERR_TRANSPORT:
    case IB_ERR_SERVER:
    case IB_ERR_DATABASE_BUSY:
    case IB_ERR_MAINTENANCE:
        return CLI_EXIT_UNAVAILABLE;
    case IB_ERR_INVALID_ARGUMENT:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_FAILED;
    }
}

bool cli_is_transient(enum ib_err err)
{
    switch (err) {
    case IB_ERR_TRANSPORT:
    case IB_ERR_SERVER:
    case IB_ERR_DATABASE_BUSY:
    case IB_ERR_MAINTENANCE:
    case IB_ERR_RATE_LIMITED:
    case IB_ERR_PROTOCOL:
        return true;
    default:
        return false;
    }
}

double cli_backoff(unsigned failures, unsigned retry_after, unsigned *seed)
{
    double base = BACKOFF_FIRST_SECONDS;
    for (unsigned i = 1; i < failures && base < BACKOFF_MAX_SECONDS; i++)
        base *= 2;
    if (base > BACKOFF_MAX_SECONDS)
        base = BACKOFF_MAX_SECONDS;
    /* Jitter spreads the retries of many workers that failed together. */
    double pause = base * (0.5 + 0.5 * ((double)rand_r(seed) / RAND_MAX));
    return pause < retry_after ? (double)retry_after : pause;
}

int cli_report(const struct cli_common *common, const struct ib_client *client, const char *url,
               enum ib_err err)
{
    const char *code = client ? ib_last_error_code(client) : "";
    const char *message = client ? ib_last_error_message(client) : "";
    long status = client ? ib_last_status(client) : 0;
    if (err == IB_ERR_TRANSPORT)
        cli_error(common, "cannot reach %s: %s", url, message[0] ? message : ib_strerror(err));
    else if (status > 0 && code[0] != '\0')
        cli_error(common, "%ld %s%s%s", status, code, message[0] ? ": " : "", message);
    else if (status > 0)
        cli_error(common, "unexpected answer (HTTP %ld): %s", status,
                  message[0] ? message : ib_strerror(err));
    else
        cli_error(common, "%s", message[0] ? message : ib_strerror(err));
    return cli_exit_code(err);
}

int cli_print_line(const char *text)
{
    size_t length = strlen(text);
    while (length > 0 && (text[length - 1] == '\n' || text[length - 1] == '\r'))
        length--; /* the server ends its bodies with a newline */
    if (fwrite(text, 1, length, stdout) != length || putchar('\n') == EOF || fflush(stdout) == EOF)
        return CLI_EXIT_FAILED;
    return CLI_EXIT_OK;
}

int cli_print_json_take(json_t *value, bool pretty)
{
    if (value == NULL)
        return CLI_EXIT_FAILED;
    size_t flags = JSON_ENCODE_ANY | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
    char *text = json_dumps(value, flags);
    json_decref(value);
    if (text == NULL)
        return CLI_EXIT_FAILED;
    int code = cli_print_line(text);
    free(text);
    return code;
}

void cli_sleep(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec pause = {.tv_sec = (time_t)seconds,
                             .tv_nsec = (long)((seconds - floor(seconds)) * 1e9)};
    nanosleep(&pause, NULL);
}

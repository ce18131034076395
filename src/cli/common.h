/* What every client subcommand shares: the exit codes, the flags every
 * subcommand takes (--url, --api-key, --admin-token, --no-sign, --help),
 * argument parsing that reports its own errors, the one-line error report
 * of a failed call, and printing JSON. Nothing here speaks HTTP: that is
 * libintentbus (include/intentbus.h). */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include <intentbus.h>
#include <jansson.h>

/* The exit codes of every client subcommand (docs/CLI.md). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1,      /* the bus refused the request, or the job is dead */
    CLI_EXIT_USAGE = 2,       /* bad arguments */
    CLI_EXIT_AUTH = 3,        /* no usable credentials, 401 or 403 */
    CLI_EXIT_NOT_FOUND = 4,   /* 404: no such intent or key, or the lease is lost */
    CLI_EXIT_UNAVAILABLE = 5, /* no HTTP response, or the bus answered 5xx */
    CLI_EXIT_NOTHING = 6,     /* nothing to claim, or a --wait ran out first */
};

/* Option values of the common flags, above any short option character. */
enum {
    CLI_OPT_URL = 1000,
    CLI_OPT_API_KEY,
    CLI_OPT_ADMIN_TOKEN,
    CLI_OPT_NO_SIGN,
    CLI_OPT_FIRST_FREE, /* a subcommand's own long-only options start here */
};

/* Put at the end of a subcommand's option table, before {0}. */
// clang-format off
#define CLI_COMMON_OPTIONS                                                                         \
    {"url", required_argument, NULL, CLI_OPT_URL},                                                 \
    {"api-key", required_argument, NULL, CLI_OPT_API_KEY},                                         \
    {"admin-token", required_argument, NULL, CLI_OPT_ADMIN_TOKEN},                                 \
    {"no-sign", no_argument, NULL, CLI_OPT_NO_SIGN},                                               \
    {"help", no_argument, NULL, 'h'}
// clang-format on

/* The common flags' text for a usage message. */
#define CLI_COMMON_USAGE                                                                           \
    "\n"                                                                                           \
    "common options:\n"                                                                            \
    "  --url URL                the bus (default: $INTENT_BUS_URL, else http://127.0.0.1:8080)\n"  \
    "  --api-key KEY            API key (default: $INTENT_API_KEY, else ~/.apikey, mode 0600)\n"   \
    "  --admin-token TOKEN      admin token (default: $INTENT_ADMIN_TOKEN)\n"                      \
    "  --no-sign                do not HMAC-sign requests (signed by default)\n"                   \
    "  -h, --help               this help\n"

/* One subcommand's invocation: its name for messages and the common flags. */
struct cli_common {
    const char *command; /* "publish", "admin stats" */
    const char *url;
    const char *api_key;
    const char *admin_token;
    bool no_sign;
};

/* How a subcommand's command line is read by cli_parse(). */
struct cli_syntax {
    const char *short_options;         /* must start with ':' */
    const struct option *long_options; /* ending with CLI_COMMON_OPTIONS, {0} */
    /* Takes one of the subcommand's own options (optarg holds its value);
     * false after printing a usage error. NULL: there are none. */
    bool (*take)(struct cli_common *common, int flag, int argc, char **argv, void *context);
    void (*usage)(void); /* prints the help on stdout */
    int min_operands;
    int max_operands; /* < 0: any number */
};

/* Reads argv (the subcommand's name first) by syntax. Returns -1 when the
 * caller goes on, its operands being argv[optind] to argv[argc - 1]; else
 * the exit code to return at once: CLI_EXIT_OK after printing the help for
 * --help, CLI_EXIT_USAGE after printing what is wrong. */
int cli_parse(struct cli_common *common, int argc, char **argv, const struct cli_syntax *syntax,
              void *context);

/* Prints "intent-bus: <command>: <message> (see intent-bus <command> --help)"
 * on stderr and returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_common *common, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "intent-bus: <command>: <message>" on stderr. */
void cli_error(const struct cli_common *common, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Checks the operand count: between min and max (max < 0: any). Prints a
 * usage error and returns false when it is not. */
bool cli_check_operands(const struct cli_common *common, int count, int min, int max);

/* Strict number parsing for option values: the whole text must be the
 * number, within [min, max]. On failure prints a usage error naming what
 * and returns false. */
bool cli_parse_long(const struct cli_common *common, const char *what, const char *text, long min,
                    long max, long *value);
bool cli_parse_seconds(const struct cli_common *common, const char *what, const char *text,
                       double min, double max, double *value);

/* A JSON operand: the text itself, or standard input when it is "-". On
 * success *json is a new string the caller frees with free(); on failure a
 * usage error is printed and NULL returned. */
char *cli_read_json_operand(const struct cli_common *common, const char *what, const char *text);

/* The exit code of a library error. */
int cli_exit_code(enum ib_err err);

/* Reports a failed call on one line of stderr, "intent-bus: publish: 401
 * unauthorized: invalid API key", and returns its exit code. url is what
 * was called, for transport errors. */
int cli_report(const struct cli_common *common, const struct ib_client *client, const char *url,
               enum ib_err err);

/* Prints text (without its own trailing newlines) and a newline on stdout; returns CLI_EXIT_OK, or
 * CLI_EXIT_FAILED when stdout cannot be written. */
int cli_print_line(const char *text);

/* Prints a JSON value on stdout (compact, or indented by two when pretty)
 * and a newline; takes the reference to value. */
int cli_print_json_take(json_t *value, bool pretty);

/* Whether a call that failed with err may succeed if tried again later:
 * no response, 5xx, maintenance, database busy, rate limited, or an answer
 * that is not the bus's (a proxy's error page). */
bool cli_is_transient(enum ib_err err);

/* The pause before retry number failures (1, 2, ...) after a transient
 * error: 1 s doubling up to 30 s, with jitter (between half and all of
 * it), never less than the server's Retry-After. seed: the caller's
 * rand_r() state. */
double cli_backoff(unsigned failures, unsigned retry_after, unsigned *seed);

/* Sleeps up to seconds; a signal ends it early. */
void cli_sleep(double seconds);

#endif

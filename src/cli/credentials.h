/* Where the client subcommands find the bus and their secrets, in the order
 * the Python SDK uses (seed 002, "Automatic Credential Resolution"):
 *   API key:     --api-key, else $INTENT_API_KEY, else ~/.apikey, which is
 *                refused unless no other user may read or write it (mode
 *                0600 or stricter);
 *   URL:         --url, else $INTENT_BUS_URL, else http://127.0.0.1:8080;
 *   admin token: --admin-token, else $INTENT_ADMIN_TOKEN. */
#ifndef CLI_CREDENTIALS_H
#define CLI_CREDENTIALS_H

#include <stdbool.h>

#include "cli/common.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"

/* What a subcommand needs resolved (bits). */
enum cli_need {
    CLI_NEED_API_KEY = 1,     /* fail without one */
    CLI_NEED_ADMIN_TOKEN = 2, /* fail without one */
    CLI_WANT_ADMIN_TOKEN = 4, /* send it when one is given */
};

struct cli_credentials {
    char *url;
    char *api_key;     /* NULL unless asked for */
    char *admin_token; /* NULL unless asked for and given */
    bool sign;
};

/* Resolves what need asks for from common's flags and the environment.
 * Returns CLI_EXIT_OK, or prints one line saying what is missing or wrong
 * and returns CLI_EXIT_AUTH. Clear *credentials with cli_credentials_clear()
 * either way. */
int cli_credentials_resolve(const struct cli_common *common, unsigned need,
                            struct cli_credentials *credentials);

/* Overwrites the secrets and frees everything. */
void cli_credentials_clear(struct cli_credentials *credentials);

/* A client for these credentials, or NULL after printing why. */
struct ib_client *cli_client_new(const struct cli_common *common,
                                 const struct cli_credentials *credentials);

/* A subcommand's one call: uses client, reports its own errors (url is
 * the bus, for them) and returns the exit code. */
typedef int cli_call_fn(const struct cli_common *common, struct ib_client *client, const char *url,
                        void *context);

/* Resolves what need asks for, makes a client, runs call(common, client,
 * url, context), cleans up; returns the exit code. */
int cli_with_client(const struct cli_common *common, unsigned need, cli_call_fn *call,
                    void *context);

#endif

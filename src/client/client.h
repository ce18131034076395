/* The inside of struct ib_client, shared by the files of libintentbus: the
 * options as copied at creation, the one curl handle whose connection is
 * reused, and what the last call left for ib_last_*(). */
#ifndef CLIENT_CLIENT_H
#define CLIENT_CLIENT_H

#include <stdarg.h>
#include <stdatomic.h>

#include <curl/curl.h>

#include "intentbus.h"

#define CLIENT_CODE_SIZE 64     /* the longest error code kept, with the NUL */
#define CLIENT_MESSAGE_SIZE 512 /* the longest error message kept, with the NUL */

/* What the last call left behind, reset at the start of every call. */
struct last_call {
    long status;          /* HTTP status, 0 when no response arrived */
    unsigned retry_after; /* Retry-After seconds, 0 when absent */
    char code[CLIENT_CODE_SIZE];
    char message[CLIENT_MESSAGE_SIZE];
};

struct ib_client {
    CURL *curl;        /* one handle: its connection cache keeps the socket alive */
    char *base_url;    /* without a trailing "/" */
    char *api_key;     /* NULL: no X-API-KEY, no signature */
    char *admin_token; /* NULL: no X-Admin-Token */
    char *user_agent;
    long timeout_ms;
    bool sign;
    unsigned long connections; /* TCP connections opened so far */
    struct last_call last;
    /* Set by ib_client_abort() from any thread, read by the transfer's
     * progress callback: the one field shared between threads. */
    atomic_bool aborted;
};

/* Forgets what the previous call left; every public operation starts here. */
void client_begin_call(struct ib_client *client);

/* Records a failure found on the client's side (no server code) with a
 * printf-style message, and returns err, so callers can
 * `return client_fail(client, IB_ERR_INVALID_ARGUMENT, "goal is required")`. */
enum ib_err client_fail(struct ib_client *client, enum ib_err err, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#endif

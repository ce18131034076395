/* One attempt at a completion webhook: sign the event, resolve the host,
 * keep only addresses the policy allows, pin the connection to one of them
 * (so a DNS answer cannot change between the check and the connect), and
 * POST with libcurl under a short timeout. Blocking: called only on the
 * webhooks' own threads (bus/webhooks.c). */
#ifndef BUS_WEBHOOK_SEND_H
#define BUS_WEBHOOK_SEND_H

#include <stdatomic.h>
#include <stdbool.h>

#include "bus/webhook_target.h"
#include "core/signature.h"
#include "store/store.h"
#include "util/libcurl.h"

#define WEBHOOK_SIGNATURE_HEADER "X-Intent-Signature"
/* "t=<10+ digits>,v1=<64 hex>" and the NUL. */
#define WEBHOOK_SIGNATURE_MAX (2 + 20 + 4 + SIGNATURE_HEX_LEN + 1)

/* The header value for body sent at unix time t: "t=<t>,v1=<hex>", the
 * hex HMAC-SHA256 under secret of "<t>.<body>" (Stripe's scheme). */
void webhook_sign(const char *secret, long long t, const char *body,
                  char out[WEBHOOK_SIGNATURE_MAX]);

struct webhook_send_result {
    int http_status;                   /* 0 when no response came */
    char error[WEBHOOK_ERROR_MAX + 1]; /* why it failed, "" on a 2xx */
    bool delivered;                    /* a 2xx response */
    bool refused;                      /* the policy no longer allows the URL */
    bool interrupted;                  /* *cancel became true during the request */
};

/* POSTs body (JSON) to url, signed with secret, within timeout seconds;
 * gives up at once when *cancel becomes true (the server is stopping). */
void webhook_send(const struct libcurl *curl, const struct webhook_policy *policy, const char *url,
                  const char *body, const char *secret, double timeout, const atomic_bool *cancel,
                  struct webhook_send_result *out);

#endif

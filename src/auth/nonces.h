/* The nonces of signed requests (spec 5.2): a nonce is good once per
 * principal within the retention window, on every node that shares the
 * store. */
#ifndef AUTH_NONCES_H
#define AUTH_NONCES_H

#include <stdbool.h>

#include "auth/api_key.h"

/* Records principal's nonce at now; *fresh is false when the same nonce
 * was seen less than keep seconds ago (a replay). */
enum bus_err auth_nonce_use(const struct auth *auth, const char *principal, const char *nonce,
                            double now, double keep, bool *fresh);

#endif

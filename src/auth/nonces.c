/* The nonces of signed requests (nonces.h), kept in the store. */
#include "auth/nonces.h"

enum bus_err auth_nonce_use(const struct auth *auth, const char *principal, const char *nonce,
                            double now, double keep, bool *fresh)
{
    return auth->store->ops->nonce_use(auth->store->backend, principal, nonce, now, keep, fresh);
}

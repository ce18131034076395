/* Client authentication (spec 5.1): X-API-KEY against BUS_SECRET. The auth
 * layer sits between HTTP and the bus and turns a key into a principal;
 * tester keys and request signing will be added here. */
#ifndef AUTH_API_KEY_H
#define AUTH_API_KEY_H

#include "bus/errors.h"
#include "bus/intent.h"

struct auth {
    char main_key_hash[PRINCIPAL_LEN + 1]; /* SHA-256 of BUS_SECRET */
};

void auth_init(struct auth *auth, const char *main_key);

/* Fills *caller from the X-API-KEY value (NULL when absent). The check
 * compares digests in constant time, so it leaks neither the key's length
 * nor where a guess goes wrong. */
enum bus_err auth_authenticate(const struct auth *auth, const char *api_key,
                               struct principal *caller, struct bus_error *error);

#endif

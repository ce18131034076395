/* Client authentication (spec 5.1): X-API-KEY is either the main key
 * (BUS_SECRET) or an active tester key (tk_..., made by the admin API).
 * The auth layer sits between HTTP and the bus and turns a key into a
 * principal; keys themselves are never stored, only their SHA-256. */
#ifndef AUTH_API_KEY_H
#define AUTH_API_KEY_H

#include "core/errors.h"
#include "core/intent.h"
#include "store/store.h"

#define TESTER_KEY_PREFIX "tk_"
#define TESTER_KEY_LEN (3 + 64)

struct auth {
    char main_key_hash[PRINCIPAL_LEN + 1]; /* SHA-256 of BUS_SECRET */
    struct store *store;                   /* borrowed: where tester keys live */
};

void auth_init(struct auth *auth, const char *main_key, struct store *store);

/* Fills *caller from the X-API-KEY value (NULL when absent). Digests are
 * compared in constant time, so the check leaks neither the key's length
 * nor where a guess goes wrong. */
enum bus_err auth_authenticate(const struct auth *auth, const char *api_key,
                               struct principal *caller, struct bus_error *error);

/* Writes a new tester key ("tk_" + 64 hex from the CSPRNG) and its digest.
 * Returns false if the CSPRNG failed. */
bool auth_new_tester_key(char key[TESTER_KEY_LEN + 1], char key_hash[PRINCIPAL_LEN + 1]);

/* Makes and stores a tester key for owner; the key is shown once and only
 * its digest is kept. */
enum bus_err auth_generate_key(const struct auth *auth, const char *owner,
                               char key[TESTER_KEY_LEN + 1], struct bus_error *error);

/* The same by the key's id as GET /admin/keys shows it (the first 12 hex
 * characters of its digest, or more): what the dashboard has, which never
 * sees a key again after it was made. */
enum bus_err auth_revoke_key_id(const struct auth *auth, const char *key_id,
                                char owner[OWNER_MAX_BYTES + 1],
                                char principal[PRINCIPAL_LEN + 1], struct bus_error *error);

/* Revokes a tester key at once; fills its owner and principal so the
 * caller can drop what else it keeps for it (rate-limit window).
 * BUS_ERR_NOT_FOUND for an unknown or already revoked key. */
enum bus_err auth_revoke_key(const struct auth *auth, const char *key,
                             char owner[OWNER_MAX_BYTES + 1], char principal[PRINCIPAL_LEN + 1],
                             struct bus_error *error);

#endif

/* API-key authentication; see api_key.h. */
#include "auth/api_key.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/token.h"
#include "util/clock.h"

void auth_init(struct auth *auth, const char *main_key, struct store *store)
{
    token_sha256_hex(main_key, strlen(main_key), auth->main_key_hash);
    auth->store = store;
}

/* The keys this thread saw last, with their digests: a SHA-256 of the key
 * on every request was 3 % of the server's instructions per job
 * (docs/BENCHMARKS.md, "Server CPU per job, third step"), and a client
 * sends the same key on each of its requests. A hit needs the whole key
 * equal, compared in constant time over the fixed size with its length,
 * so timing tells a caller only whether the key it sent was one used
 * lately on this thread: whether it guessed a whole key. Only the digest
 * is cached, not the verdict: a revoked key is refused at once. */
enum { KEY_CACHE_SLOTS = 4, KEY_CACHE_MAX_BYTES = 128 };

struct cached_key {
    size_t length; /* 0: empty slot */
    unsigned char key[KEY_CACHE_MAX_BYTES];
    char digest[PRINCIPAL_LEN + 1];
};

static _Thread_local struct cached_key key_cache[KEY_CACHE_SLOTS];
static _Thread_local unsigned key_cache_next;

/* The SHA-256 (hex) of api_key into digest, from this thread's cache
 * when it holds the key. */
static void key_digest(const char *api_key, char digest[PRINCIPAL_LEN + 1])
{
    size_t length = strlen(api_key);
    if (length > KEY_CACHE_MAX_BYTES) {
        token_sha256_hex(api_key, length, digest);
        return;
    }
    unsigned char padded[KEY_CACHE_MAX_BYTES] = {0};
    memcpy(padded, api_key, length);
    for (int i = 0; i < KEY_CACHE_SLOTS; i++) {
        const struct cached_key *slot = &key_cache[i];
        bool same = token_bytes_equal(slot->key, padded, sizeof padded);
        if (same && slot->length == length) {
            memcpy(digest, slot->digest, PRINCIPAL_LEN + 1);
            return;
        }
    }
    token_sha256_hex(api_key, length, digest);
    struct cached_key *slot = &key_cache[key_cache_next++ % KEY_CACHE_SLOTS];
    slot->length = length;
    memcpy(slot->key, padded, sizeof padded);
    memcpy(slot->digest, digest, PRINCIPAL_LEN + 1);
}

static enum bus_err check_tester_key(const struct auth *auth, const char *digest,
                                     struct principal *caller, struct bus_error *error)
{
    char owner[OWNER_MAX_BYTES + 1];
    enum bus_err err = auth->store->ops->key_lookup(auth->store->backend, digest, owner);
    if (err == BUS_ERR_NOT_FOUND)
        return bus_error_set(error, BUS_ERR_UNAUTHORIZED, NULL, "Invalid API key.");
    if (err != BUS_OK)
        return bus_error_set(error, err, NULL, "the API key could not be checked");
    snprintf(caller->label, sizeof caller->label, "%.64s", owner); /* logs only */
    return BUS_OK;
}

enum bus_err auth_authenticate(const struct auth *auth, const char *api_key,
                               struct principal *caller, struct bus_error *error)
{
    if (api_key == NULL || api_key[0] == '\0')
        return bus_error_set(error, BUS_ERR_UNAUTHORIZED, NULL, "Missing API key.");
    char digest[PRINCIPAL_LEN + 1];
    key_digest(api_key, digest);
    caller->is_tester = false;
    if (token_equal(digest, auth->main_key_hash)) {
        strcpy(caller->label, "main"); /* logs only, and only once the key matched */
    } else {
        if (strncmp(api_key, TESTER_KEY_PREFIX, strlen(TESTER_KEY_PREFIX)) != 0)
            return bus_error_set(error, BUS_ERR_UNAUTHORIZED, NULL, "Invalid API key.");
        enum bus_err err = check_tester_key(auth, digest, caller, error);
        if (err != BUS_OK)
            return err;
        caller->is_tester = true;
    }
    strcpy(caller->id, digest);
    return BUS_OK;
}

bool auth_new_tester_key(char key[TESTER_KEY_LEN + 1], char key_hash[PRINCIPAL_LEN + 1])
{
    strcpy(key, TESTER_KEY_PREFIX);
    if (!token_random_hex(key + strlen(TESTER_KEY_PREFIX), 32))
        return false;
    token_sha256_hex(key, strlen(key), key_hash);
    return true;
}

enum bus_err auth_generate_key(const struct auth *auth, const char *owner,
                               char key[TESTER_KEY_LEN + 1], struct bus_error *error)
{
    char key_hash[PRINCIPAL_LEN + 1];
    if (!auth_new_tester_key(key, key_hash))
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "no randomness available");
    enum bus_err err = auth->store->ops->key_create(auth->store->backend, key_hash, owner,
                                                    clock_now());
    if (err != BUS_OK)
        return bus_error_set(error, err, NULL, "the key could not be stored");
    return BUS_OK;
}

/* What a store error while finding or revoking a key tells the admin. */
static enum bus_err revoke_error(enum bus_err err, struct bus_error *error)
{
    if (err == BUS_ERR_NOT_FOUND)
        return bus_error_set(error, err, NULL, "no such active key");
    if (err != BUS_OK)
        return bus_error_set(error, err, NULL, "the key could not be revoked");
    return BUS_OK;
}

static enum bus_err revoke_digest(const struct auth *auth, const char *principal,
                                  char owner[OWNER_MAX_BYTES + 1], struct bus_error *error)
{
    return revoke_error(
        auth->store->ops->key_revoke(auth->store->backend, principal, clock_now(), owner), error);
}

enum bus_err auth_revoke_key(const struct auth *auth, const char *key,
                             char owner[OWNER_MAX_BYTES + 1], char principal[PRINCIPAL_LEN + 1],
                             struct bus_error *error)
{
    token_sha256_hex(key, strlen(key), principal);
    return revoke_digest(auth, principal, owner, error);
}

enum bus_err auth_revoke_key_id(const struct auth *auth, const char *key_id,
                                char owner[OWNER_MAX_BYTES + 1],
                                char principal[PRINCIPAL_LEN + 1], struct bus_error *error)
{
    enum bus_err err =
        revoke_error(auth->store->ops->key_find(auth->store->backend, key_id, principal), error);
    return err != BUS_OK ? err : revoke_digest(auth, principal, owner, error);
}

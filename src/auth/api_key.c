/* API-key authentication; see api_key.h. */
#include "auth/api_key.h"

#include <string.h>

#include "bus/token.h"

void auth_init(struct auth *auth, const char *main_key)
{
    token_sha256_hex(main_key, strlen(main_key), auth->main_key_hash);
}

enum bus_err auth_authenticate(const struct auth *auth, const char *api_key,
                               struct principal *caller, struct bus_error *error)
{
    if (api_key == NULL || api_key[0] == '\0')
        return bus_error_set(error, BUS_ERR_UNAUTHORIZED, NULL, "X-API-KEY header is required");
    char presented[PRINCIPAL_LEN + 1];
    token_sha256_hex(api_key, strlen(api_key), presented);
    if (!token_equal(presented, auth->main_key_hash))
        return bus_error_set(error, BUS_ERR_UNAUTHORIZED, NULL, "invalid API key");
    strcpy(caller->id, presented);
    return BUS_OK;
}

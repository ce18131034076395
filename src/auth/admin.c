/* Admin credentials; see admin.h. Secrets are kept as digests and compared
 * in constant time, like API keys. */
#include "auth/admin.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nettle/base64.h>

#include "util/token.h"

#define BASIC_MAX_ENCODED 1024

/* Keeps secret's digest in hash; false when it is not configured. */
static bool keep_secret(const char *secret, char hash[65])
{
    if (secret == NULL || secret[0] == '\0')
        return false;
    token_sha256_hex(secret, strlen(secret), hash);
    return true;
}

void admin_auth_init(struct admin_auth *admin, const char *token, const char *password,
                     const char *viewer_password)
{
    memset(admin, 0, sizeof *admin);
    admin->has_token = keep_secret(token, admin->token_hash);
    admin->has_password = keep_secret(password, admin->password_hash);
    admin->has_viewer = keep_secret(viewer_password, admin->viewer_hash);
}

static bool secret_matches(const char *presented, const char *expected_hash)
{
    char digest[65];
    token_sha256_hex(presented, strlen(presented), digest);
    return token_equal(digest, expected_hash);
}

/* Decodes "Basic <base64(user:password)>": which known user and password
 * it carries, if any. */
static enum admin_proof basic_matches(const struct admin_auth *admin, const char *authorization)
{
    if (strncasecmp(authorization, "Basic ", 6) != 0)
        return ADMIN_NONE;
    const char *encoded = authorization + 6;
    while (*encoded == ' ')
        encoded++;
    size_t length = strlen(encoded);
    if (length == 0 || length > BASIC_MAX_ENCODED || length % 4 != 0)
        return ADMIN_NONE;
    struct base64_decode_ctx base64;
    unsigned char decoded[BASE64_DECODE_LENGTH(BASIC_MAX_ENCODED) + 1];
    size_t size = sizeof decoded - 1;
    base64_decode_init(&base64);
    if (!base64_decode_update(&base64, &size, decoded, length, encoded) ||
        !base64_decode_final(&base64))
        return ADMIN_NONE;
    decoded[size] = '\0';
    const char *text = (const char *)decoded;
    if (size != strlen(text))
        return ADMIN_NONE;
    if (admin->has_password && strncmp(text, "admin:", 6) == 0 &&
        secret_matches(text + 6, admin->password_hash))
        return ADMIN_BY_PASSWORD;
    if (admin->has_viewer && strncmp(text, "viewer:", 7) == 0 &&
        secret_matches(text + 7, admin->viewer_hash))
        return ADMIN_READ_ONLY;
    return ADMIN_NONE;
}

enum admin_proof admin_auth_check(const struct admin_auth *admin, const char *admin_token,
                                  const char *authorization)
{
    /* Spec 5.3's order of precedence: a presented token decides, so a
     * wrong one is never rescued by a right password. */
    if (admin->has_token && admin_token != NULL)
        return secret_matches(admin_token, admin->token_hash) ? ADMIN_BY_TOKEN : ADMIN_NONE;
    return authorization != NULL ? basic_matches(admin, authorization) : ADMIN_NONE;
}

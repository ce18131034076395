/* Admin credentials; see admin.h. Secrets are kept as digests and compared
 * in constant time, like API keys. */
#include "auth/admin.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nettle/base64.h>

#include "bus/token.h"

#define BASIC_MAX_ENCODED 1024

void admin_auth_init(struct admin_auth *admin, const char *token, const char *password)
{
    memset(admin, 0, sizeof *admin);
    admin->has_token = token != NULL && token[0] != '\0';
    admin->has_password = password != NULL && password[0] != '\0';
    if (admin->has_token)
        token_sha256_hex(token, strlen(token), admin->token_hash);
    if (admin->has_password)
        /* has_password implies a non-NULL password; the analyzer loses that. */
        /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
        token_sha256_hex(password, strlen(password), admin->password_hash);
}

static bool secret_matches(const char *presented, const char *expected_hash)
{
    char digest[65];
    token_sha256_hex(presented, strlen(presented), digest);
    return token_equal(digest, expected_hash);
}

/* Decodes "Basic <base64(user:password)>" and checks user "admin". */
static bool basic_matches(const char *authorization, const char *password_hash)
{
    if (strncasecmp(authorization, "Basic ", 6) != 0)
        return false;
    const char *encoded = authorization + 6;
    while (*encoded == ' ')
        encoded++;
    size_t length = strlen(encoded);
    if (length == 0 || length > BASIC_MAX_ENCODED || length % 4 != 0)
        return false;
    struct base64_decode_ctx base64;
    unsigned char decoded[BASE64_DECODE_LENGTH(BASIC_MAX_ENCODED) + 1];
    size_t size = sizeof decoded - 1;
    base64_decode_init(&base64);
    if (!base64_decode_update(&base64, &size, decoded, length, encoded) ||
        !base64_decode_final(&base64))
        return false;
    decoded[size] = '\0';
    if (size != strlen((char *)decoded) || strncmp((char *)decoded, "admin:", 6) != 0)
        return false;
    return secret_matches((char *)decoded + 6, password_hash);
}

enum admin_proof admin_auth_check(const struct admin_auth *admin, const char *admin_token,
                                  const char *authorization)
{
    /* Spec 5.3's order of precedence: a presented token decides, so a
     * wrong one is never rescued by a right password. */
    if (admin->has_token && admin_token != NULL)
        return secret_matches(admin_token, admin->token_hash) ? ADMIN_BY_TOKEN : ADMIN_NONE;
    if (admin->has_password && authorization != NULL &&
        basic_matches(authorization, admin->password_hash))
        return ADMIN_BY_PASSWORD;
    return ADMIN_NONE;
}

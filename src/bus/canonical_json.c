/* Canonical JSON via jansson's sorted compact dump. */
#include "bus/canonical_json.h"

#include <stdlib.h>
#include <string.h>

#include "util/token.h"

char *canonical_json_dump(const json_t *value)
{
    /* JSON_ENCODE_ANY: payloads and bodies may be scalars. Reals keep
     * jansson's shortest round-trip form, so 1.5 and 1.50 agree. */
    return json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

int canonical_json_fingerprint(const char *scope, const json_t *value, char out[65])
{
    char *text = canonical_json_dump(value);
    if (text == NULL)
        return -1;
    size_t scope_len = strlen(scope);
    size_t text_len = strlen(text);
    char *joined = malloc(scope_len + 1 + text_len);
    if (joined == NULL) {
        free(text);
        return -1;
    }
    memcpy(joined, scope, scope_len);
    joined[scope_len] = '\n';
    memcpy(joined + scope_len + 1, text, text_len);
    token_sha256_hex(joined, scope_len + 1 + text_len, out);
    free(joined);
    free(text);
    return 0;
}

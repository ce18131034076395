/* Fuzzes request signing (core/signature.c): the canonical path of a
 * request-target, the raw query split, and the signature headers. The
 * input is lines: target, X-Timestamp, X-Nonce, X-Signature, then the body. */
#include "fuzz_input.h"

#include "core/signature.h"

static void canonical_forms(const char *target)
{
    free(signature_canonical_path_from_url(target));
    struct signature_query query;
    const char *mark = strchr(target, '?');
    const char *raw = mark ? mark + 1 : target;
    if (signature_query_parse(raw, strlen(raw), &query)) {
        free(signature_canonical_path(target, query.params, query.count));
        signature_query_free(&query);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    char *field[5] = {"", NULL, NULL, NULL, ""};
    if (text == NULL)
        return 0;
    fuzz_fields(text, field, 5);
    canonical_forms(field[0]);
    double seconds = 0;
    if (field[1] != NULL)
        signature_parse_timestamp(field[1], &seconds);
    if (field[2] != NULL)
        signature_nonce_is_valid(field[2]);
    char *path = signature_canonical_path_from_url(field[0]);
    struct signature_request request = {"POST", path ? path : "/", field[1], field[2],
                                        field[4], strlen(field[4])};
    signature_verify("key", &request, field[3], 1795424655.0);
    free(path);
    free(text);
    return 0;
}

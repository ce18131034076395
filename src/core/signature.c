/* Request signing, spec 5.2: the canonical string of a request and its
 * HMAC-SHA256. Everything here is a pure function of its arguments; the
 * rules a client follows are written out in docs/SIGNING.md. */
#include "core/signature.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "util/hex.h"

/* Longer timestamps are refused: 15 integer digits are exact in a double and
 * far beyond any real clock, and the rest leaves room for a fraction. */
#define TIMESTAMP_MAX_LEN 32
#define TIMESTAMP_MAX_INTEGER_DIGITS 15

/* Encoding: RFC 3986 with nothing reserved kept. */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Writes the encoding of len bytes of text at out, which has room for
 * 3 * len bytes, keeping "/" when keep_slash; returns the end. */
static char *encode_into(char *out, const char *text, size_t len, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            *out++ = (char)c;
            continue;
        }
        *out++ = '%';
        *out++ = digits[c >> 4];
        *out++ = digits[c & 0x0f];
    }
    return out;
}

char *signature_percent_encode(const char *text, size_t len)
{
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(3 * len + 1);
    if (out == NULL)
        return NULL;
    *encode_into(out, text, len, false) = '\0';
    return out;
}

/* Decoding, as the server's HTTP library does it. */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* True when a well-formed %XX starts at text[i]; its byte goes to *byte. */
static bool escape_at(const char *text, size_t len, size_t i, char *byte)
{
    if (text[i] != '%' || len - i < 3)
        return false;
    int high = hex_value(text[i + 1]);
    int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0)
        return false;
    *byte = (char)(high << 4 | low);
    return true;
}

/* Decodes len bytes of text into out (room for len bytes) and returns the
 * decoded length. A malformed escape stays literal, as the server's HTTP
 * layer (net/request.c) leaves it, so both ends see the same bytes. */
static size_t percent_decode(const char *text, size_t len, bool plus_is_space, char *out)
{
    size_t written = 0;
    for (size_t i = 0; i < len; i++) {
        if (escape_at(text, len, i, &out[written]))
            i += 2;
        else if (plus_is_space && text[i] == '+')
            out[written] = ' ';
        else
            out[written] = text[i];
        written++;
    }
    return written;
}

/* The canonical query. */

struct encoded_pair {
    char *key;
    char *value;
    const struct signature_param *decoded; /* what the pair was encoded from */
    size_t position;                       /* among the parameters, for a stable sort */
};

/* "&&" gives the server an empty key without a value; a client-side parse
 * skips it. Leaving it out of the signature keeps both ends in agreement. */
static bool is_empty_part(const struct signature_param *param)
{
    return param->key_len == 0 && param->value == NULL;
}

static void free_pairs(struct encoded_pair *pairs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
}

/* Encodes every parameter but empty parts; *kept says how many. */
static struct encoded_pair *encode_pairs(const struct signature_param *params, size_t count,
                                         size_t *kept)
{
    struct encoded_pair *pairs = calloc(count > 0 ? count : 1, sizeof *pairs);
    *kept = 0;
    if (pairs == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        if (is_empty_part(&params[i]))
            continue;
        struct encoded_pair *pair = &pairs[*kept];
        pair->decoded = &params[i];
        pair->position = (*kept)++;
        pair->key = signature_percent_encode(params[i].key, params[i].key_len);
        pair->value = params[i].value == NULL
                          ? signature_percent_encode("", 0)
                          : signature_percent_encode(params[i].value, params[i].value_len);
        if (pair->key == NULL || pair->value == NULL) {
            free_pairs(pairs, *kept);
            return NULL;
        }
    }
    return pairs;
}

/* By decoded key, bytewise (UTF-8 byte order is code point order, the
 * order the original server's Python sort gives), then by position: the
 * original sorts stably, so a repeated key keeps the order it was sent in
 * and clients written for it sign `tag=z&tag=a` as sent. */
static int compare_pairs(const void *a, const void *b)
{
    const struct encoded_pair *left = a;
    const struct encoded_pair *right = b;
    size_t left_len = left->decoded->key_len;
    size_t right_len = right->decoded->key_len;
    size_t common = left_len < right_len ? left_len : right_len;
    int by_key = common > 0 ? memcmp(left->decoded->key, right->decoded->key, common) : 0;
    if (by_key == 0 && left_len != right_len)
        by_key = left_len < right_len ? -1 : 1;
    if (by_key != 0)
        return by_key;
    return left->position < right->position ? -1 : left->position > right->position;
}

static char *join_pairs(const struct encoded_pair *pairs, size_t count)
{
    size_t size = 1;
    for (size_t i = 0; i < count; i++)
        size += strlen(pairs[i].key) + strlen(pairs[i].value) + 2; /* "=" and "&" */
    char *out = malloc(size);
    if (out == NULL)
        return NULL;
    char *end = out;
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            *end++ = '&';
        size_t key_len = strlen(pairs[i].key);
        size_t value_len = strlen(pairs[i].value);
        memcpy(end, pairs[i].key, key_len);
        end += key_len;
        *end++ = '=';
        memcpy(end, pairs[i].value, value_len);
        end += value_len;
    }
    *end = '\0';
    return out;
}

char *signature_canonical_query(const struct signature_param *params, size_t count)
{
    size_t kept;
    struct encoded_pair *pairs = encode_pairs(params, count, &kept);
    if (pairs == NULL)
        return NULL;
    qsort(pairs, kept, sizeof *pairs, compare_pairs);
    char *out = join_pairs(pairs, kept);
    free_pairs(pairs, kept);
    return out;
}

/* The canonical path. */

/* path_len bytes of decoded path, encoded but for "/" (or as they are when
 * !encode_path), then "?" and the canonical query when there is one. */
static char *build_canonical_path(const char *path, size_t path_len, bool encode_path,
                                  const struct signature_param *params, size_t count)
{
    char *query = signature_canonical_query(params, count);
    if (query == NULL)
        return NULL;
    size_t query_len = strlen(query);
    char *out = NULL;
    if (path_len <= SIZE_MAX / 4 - query_len - 2)
        out = malloc(3 * path_len + query_len + 2);
    if (out != NULL) {
        char *end = out;
        if (encode_path) {
            end = encode_into(out, path, path_len, true);
        } else {
            memcpy(out, path, path_len);
            end += path_len;
        }
        if (query_len > 0) {
            *end++ = '?';
            memcpy(end, query, query_len);
            end += query_len;
        }
        *end = '\0';
    }
    free(query);
    return out;
}

char *signature_canonical_path(const char *path, const struct signature_param *params, size_t count)
{
    return build_canonical_path(path, strlen(path), true, params, count);
}

char *signature_original_path(const char *path, const struct signature_param *params, size_t count)
{
    return build_canonical_path(path, strlen(path), false, params, count);
}

bool signature_path_needs_encoding(const char *path)
{
    for (size_t i = 0; path[i] != '\0'; i++)
        if (path[i] != '/' && !is_unreserved((unsigned char)path[i]))
            return true;
    return false;
}

/* Parsing a raw query. */

/* Decodes one "key[=value]" part into the next parameter. Keys and values
 * are NUL-terminated in storage: decoding never lengthens, and the "=" and
 * "&" that are dropped leave room for the terminators. */
static void add_param(struct signature_query *query, const char *part, size_t len, char **write)
{
    const char *equals = memchr(part, '=', len);
    size_t key_len = equals != NULL ? (size_t)(equals - part) : len;
    struct signature_param *param = &query->params[query->count++];

    param->key = *write;
    param->key_len = percent_decode(part, key_len, true, *write);
    *write += param->key_len;
    *(*write)++ = '\0';
    if (equals == NULL)
        return;
    param->value = *write;
    param->value_len = percent_decode(equals + 1, len - key_len - 1, true, *write);
    *write += param->value_len;
    *(*write)++ = '\0';
}

bool signature_query_parse(const char *query, size_t len, struct signature_query *out)
{
    size_t parts = 1;
    for (size_t i = 0; i < len; i++)
        parts += query[i] == '&';
    memset(out, 0, sizeof *out);
    out->params = calloc(parts, sizeof *out->params);
    out->storage = malloc(len + 1);
    if (out->params == NULL || out->storage == NULL) {
        signature_query_free(out);
        return false;
    }
    char *write = out->storage;
    for (size_t start = 0; start < len;) {
        const char *part = query + start;
        const char *ampersand = memchr(part, '&', len - start);
        size_t part_len = ampersand != NULL ? (size_t)(ampersand - part) : len - start;
        if (part_len > 0)
            add_param(out, part, part_len, &write);
        start += part_len + 1;
    }
    return true;
}

void signature_query_free(struct signature_query *query)
{
    free(query->params);
    free(query->storage);
    memset(query, 0, sizeof *query);
}

char *signature_canonical_path_from_url(const char *path_and_query)
{
    size_t end = strcspn(path_and_query, "#");
    size_t path_end = strcspn(path_and_query, "?#");
    bool has_query = path_end < end;
    char *path = malloc(path_end + 1);
    if (path == NULL)
        return NULL;
    /* The server reads "+" as a space in the query only, never in the path. */
    size_t path_len = percent_decode(path_and_query, path_end, false, path);

    struct signature_query query;
    const char *raw_query = path_and_query + path_end + (has_query ? 1 : 0);
    size_t raw_len = has_query ? end - path_end - 1 : 0;
    char *out = NULL;
    if (signature_query_parse(raw_query, raw_len, &query)) {
        out = build_canonical_path(path, path_len, true, query.params, query.count);
        signature_query_free(&query);
    }
    free(path);
    return out;
}

/* The string to sign and its HMAC. */

static char *append(char *end, const char *text, size_t len)
{
    memcpy(end, text, len);
    return end + len;
}

char *signature_string_to_sign(const struct signature_request *request, size_t *len)
{
    size_t method_len = strlen(request->method);
    size_t path_len = strlen(request->canonical_path);
    size_t timestamp_len = strlen(request->timestamp);
    size_t nonce_len = strlen(request->nonce);
    size_t head_len = method_len + path_len + timestamp_len + nonce_len + 4; /* 4 newlines */
    if (request->body_len > SIZE_MAX - head_len - 1)
        return NULL;
    char *out = malloc(head_len + request->body_len + 1);
    if (out == NULL)
        return NULL;

    char *end = out;
    for (size_t i = 0; i < method_len; i++) {
        char c = request->method[i];
        *end++ = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c; /* ASCII, not the locale */
    }
    *end++ = '\n';
    end = append(end, request->canonical_path, path_len);
    *end++ = '\n';
    end = append(end, request->timestamp, timestamp_len);
    *end++ = '\n';
    end = append(end, request->nonce, nonce_len);
    *end++ = '\n';
    if (request->body_len > 0)
        end = append(end, request->body, request->body_len);
    *end = '\0';
    *len = (size_t)(end - out);
    return out;
}

void signature_hmac_hex(const void *key, size_t key_len, const void *data, size_t len,
                        char out[SIGNATURE_HEX_LEN + 1])
{
    struct hmac_sha256_ctx context;
    unsigned char digest[SHA256_DIGEST_SIZE];

    hmac_sha256_set_key(&context, key_len, key);
    hmac_sha256_update(&context, len, data);
    hmac_sha256_digest(&context, sizeof digest, digest);
    hex_encode(digest, sizeof digest, out);
}

/* Builds the string rather than feeding the HMAC piece by piece: one short
 * copy of a body capped at 8 KB buys a single definition of the string. */
bool signature_compute_hex(const char *key, size_t key_len, const struct signature_request *request,
                           char out[SIGNATURE_HEX_LEN + 1])
{
    size_t len;
    char *text = signature_string_to_sign(request, &len);
    out[0] = '\0';
    if (text == NULL)
        return false;
    signature_hmac_hex(key, key_len, text, len, out);
    free(text);
    return true;
}

/* The checks of signature_verify(). */

bool signature_parse_timestamp(const char *text, double *seconds)
{
    if (text == NULL || strlen(text) > TIMESTAMP_MAX_LEN)
        return false;
    const char *c = text;
    double value = 0;
    for (; *c >= '0' && *c <= '9'; c++)
        value = value * 10 + (*c - '0');
    size_t integer_digits = (size_t)(c - text);
    if (integer_digits == 0 || integer_digits > TIMESTAMP_MAX_INTEGER_DIGITS)
        return false;
    if (*c == '.') {
        const char *fraction = ++c;
        double scale = 0.1;
        for (; *c >= '0' && *c <= '9'; c++, scale /= 10)
            value += (*c - '0') * scale;
        if (c == fraction)
            return false; /* "1795424655." */
    }
    if (*c != '\0')
        return false;
    *seconds = value;
    return true;
}

bool signature_nonce_is_valid(const char *nonce)
{
    if (nonce == NULL || nonce[0] == '\0')
        return false;
    for (size_t i = 0; nonce[i] != '\0'; i++) {
        unsigned char c = (unsigned char)nonce[i];
        if (i >= SIGNATURE_NONCE_MAX_LEN || c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

enum signature_result signature_verify(const char *key, const struct signature_request *request,
                                       const char *presented_hex, double now)
{
    if (key == NULL || request->timestamp == NULL || request->nonce == NULL ||
        presented_hex == NULL)
        return SIGNATURE_MISSING_HEADERS;

    double timestamp;
    if (!signature_parse_timestamp(request->timestamp, &timestamp))
        return SIGNATURE_BAD_TIMESTAMP;
    if (timestamp < now - SIGNATURE_WINDOW_SECONDS || timestamp > now + SIGNATURE_WINDOW_SECONDS)
        return SIGNATURE_STALE_TIMESTAMP;
    if (!signature_nonce_is_valid(request->nonce))
        return SIGNATURE_BAD_NONCE;

    /* The length of a digest is public; only its content must not leak. */
    if (strlen(presented_hex) != SIGNATURE_HEX_LEN)
        return SIGNATURE_MISMATCH;
    char expected[SIGNATURE_HEX_LEN + 1];
    if (!signature_compute_hex(key, strlen(key), request, expected))
        return SIGNATURE_INTERNAL_ERROR;
    if (!memeql_sec(expected, presented_hex, SIGNATURE_HEX_LEN))
        return SIGNATURE_MISMATCH;
    return SIGNATURE_OK;
}

/* Claim tokens, intent ids and key fingerprints. The random bytes come
 * from the kernel's CSPRNG (util/random), hashing and the constant-time
 * compare from Nettle: none of it is ours to get wrong. Nettle rather than
 * OpenSSL because it is already in the process (GnuTLS, the HTTP
 * layer's TLS, is built on it) and needs no initialisation;
 * OpenSSL 3's providers cost 2 MB of resident memory before the first
 * digest (docs/BENCHMARKS.md, idle RSS). */
#include "util/token.h"

#include <stdint.h>
#include <string.h>

#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "util/hex.h"
#include "util/random.h"

bool token_random_hex(char *out, size_t byte_count)
{
    unsigned char bytes[64];
    if (byte_count > sizeof bytes || !random_fill(bytes, byte_count)) {
        out[0] = '\0';
        return false;
    }
    hex_encode(bytes, byte_count, out);
    return true;
}

bool token_time_ordered_hex(char *out, size_t byte_count, double now)
{
    unsigned char bytes[64];
    if (byte_count < TOKEN_TIME_BYTES || byte_count > sizeof bytes ||
        !random_fill(bytes + TOKEN_TIME_BYTES, byte_count - TOKEN_TIME_BYTES)) {
        out[0] = '\0';
        return false;
    }
    unsigned long long millis = now > 0 ? (unsigned long long)(now * 1000.0) : 0;
    for (int i = TOKEN_TIME_BYTES - 1; i >= 0; i--, millis >>= 8)
        bytes[i] = (unsigned char)(millis & 0xff);
    hex_encode(bytes, byte_count, out);
    return true;
}

bool token_equal(const char *a, const char *b)
{
    size_t len = strlen(a);
    if (len != strlen(b))
        return false;
    return memeql_sec(a, b, len) != 0;
}

/* Word by word where it can (nettle's memeql_sec goes byte by byte): the
 * API-key cache compares 4 x 128 bytes per request. */
bool token_bytes_equal(const void *a, const void *b, size_t size)
{
    const unsigned char *x = a, *y = b;
    uint64_t difference = 0;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t u, v;
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        difference |= u ^ v;
    }
    for (; i < size; i++)
        difference |= (uint64_t)(x[i] ^ y[i]);
    return difference == 0;
}

bool token_is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

void token_sha256_hex(const void *data, size_t size, char out[65])
{
    struct sha256_ctx context;
    unsigned char digest[SHA256_DIGEST_SIZE];
    sha256_init(&context);
    sha256_update(&context, size, data);
    sha256_digest(&context, sizeof digest, digest);
    hex_encode(digest, sizeof digest, out);
}

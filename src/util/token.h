/* Random identifiers and secrets, and comparing them without leaking timing. */
#ifndef UTIL_TOKEN_H
#define UTIL_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* Writes 2*byte_count lowercase hex characters of CSPRNG output and a NUL
 * into out (size >= 2*byte_count+1). Returns false if the CSPRNG failed. */
bool token_random_hex(char *out, size_t byte_count);

/* Like token_random_hex, but the first TOKEN_TIME_BYTES bytes are the
 * milliseconds of `now` (Unix seconds), big-endian, and only the rest is
 * random (80 bits for a 32-hex id, like a UUIDv7). Ids made this way sort
 * by creation, so new rows land at the right edge of every index instead
 * of on a random page: far fewer pages per commit. Needs byte_count >=
 * TOKEN_TIME_BYTES. */
#define TOKEN_TIME_BYTES 6
bool token_time_ordered_hex(char *out, size_t byte_count, double now);

/* True when a and b are equal strings; the time taken depends only on the
 * lengths, never on where they differ. */
bool token_equal(const char *a, const char *b);

/* Whether size bytes at a and b are equal, in time that depends on size
 * only. */
bool token_bytes_equal(const void *a, const void *b, size_t size);

/* True when s is exactly len lowercase hex characters. */
bool token_is_hex(const char *s, size_t len);

/* Writes the lowercase hex SHA-256 of data (65 bytes with the NUL). */
void token_sha256_hex(const void *data, size_t size, char out[65]);

#endif

/* Random identifiers and secrets, and comparing them without leaking timing. */
#ifndef BUS_TOKEN_H
#define BUS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* Writes 2*byte_count lowercase hex characters of CSPRNG output and a NUL
 * into out (size >= 2*byte_count+1). Returns false if the CSPRNG failed. */
bool token_random_hex(char *out, size_t byte_count);

/* True when a and b are equal strings; the time taken depends only on the
 * lengths, never on where they differ. */
bool token_equal(const char *a, const char *b);

/* True when s is exactly len lowercase hex characters. */
bool token_is_hex(const char *s, size_t len);

/* Writes the lowercase hex SHA-256 of data (65 bytes with the NUL). */
void token_sha256_hex(const void *data, size_t size, char out[65]);

#endif

/* Lowercase hex, the form of every id, token, nonce and digest on the wire. */
#ifndef UTIL_HEX_H
#define UTIL_HEX_H

#include <stddef.h>

/* Writes 2*count lowercase hex digits of bytes and a NUL into out (size >=
 * 2*count+1). */
void hex_encode(const unsigned char *bytes, size_t count, char *out);

#endif

/* Plain decimal numbers, the only form a number takes in a query string
 * (docs/PROTOCOL-EXTENSIONS.md): digits, optionally a point and more
 * digits. No sign, exponent, hex, spaces, "inf" or "nan", which strtod
 * would all accept. */
#ifndef UTIL_DECIMAL_H
#define UTIL_DECIMAL_H

#include <stdbool.h>

/* At most this many characters; more is refused, not rounded. */
#define DECIMAL_MAX_LENGTH 16

/* Parses text into *out when it is a plain decimal (see above) no greater
 * than max; false (and *out untouched) otherwise. */
bool decimal_parse(const char *text, double max, double *out);

#endif

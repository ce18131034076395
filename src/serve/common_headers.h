/* The headers every response carries (spec section 9), refusals of
 * malformed requests included (http.c). */
#ifndef SERVE_COMMON_HEADERS_H
#define SERVE_COMMON_HEADERS_H

#include "version.h"

#define COMMON_HEADER_COUNT 5

static const char *const common_headers[COMMON_HEADER_COUNT][2] = {
    {"X-Frame-Options", "DENY"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
    {"X-Intent-Version", INTENT_PROTOCOL_VERSION},
};

#endif

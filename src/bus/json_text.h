/* A JSON object written member by member into one growing buffer, without
 * building a jansson tree: the replies of the hot endpoints (publish, claim,
 * fulfil) are small flat objects, and building then dumping a tree cost
 * about 9 % of the server (docs/BENCHMARKS.md, issue 16). The output is
 * byte for byte what jansson's json_dumps(JSON_COMPACT) prints for the same
 * members in the same order; strings that need escaping, and reals that
 * print with an exponent, are printed by jansson itself. */
#ifndef BUS_JSON_TEXT_H
#define BUS_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct json_text {
    char *text;      /* malloc'd, NUL-terminated while not failed */
    size_t length;   /* bytes written, without the NUL */
    size_t capacity; /* bytes allocated */
    bool failed;     /* out of memory or a value jansson would refuse */
    bool first;      /* no member written yet */
};

/* Starts an object ("{"). On failure the text is marked failed. */
void json_text_open(struct json_text *out);
/* Each adds "key":value; key is a literal that needs no escaping. A failed
 * text stays failed and ignores further members. */
/* A string; NULL or invalid UTF-8 fails the text (as json_pack's "s"). */
void json_text_string(struct json_text *out, const char *key, const char *value);
/* A string, or null when value is NULL or "". */
void json_text_string_or_null(struct json_text *out, const char *key, const char *value);
void json_text_integer(struct json_text *out, const char *key, json_int_t value);
/* A real as jansson prints it (%.17g, ".0" when integral); NaN or an
 * infinity fails the text (as json_pack's "f"). */
void json_text_real(struct json_text *out, const char *key, double value);
void json_text_true(struct json_text *out, const char *key);
/* A JSON text inserted as it is; the caller vouches that it is valid JSON. */
void json_text_raw(struct json_text *out, const char *key, const char *json);
/* Closes the object and hands its text over (the caller frees it), or
 * returns NULL and frees everything when the text failed. */
char *json_text_close_take(struct json_text *out);

#endif

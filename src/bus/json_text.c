/* The writer of struct json_text: see json_text.h for why it exists. */
#include "bus/json_text.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/number_text.h"

enum { JSON_TEXT_START = 256 };

static void append(struct json_text *out, const char *bytes, size_t count)
{
    if (out->failed)
        return;
    if (out->length + count + 1 > out->capacity) {
        size_t capacity = out->capacity ? out->capacity : JSON_TEXT_START;
        while (out->length + count + 1 > capacity)
            capacity *= 2;
        char *grown = realloc(out->text, capacity);
        if (grown == NULL) {
            out->failed = true;
            return;
        }
        out->text = grown;
        out->capacity = capacity;
    }
    memcpy(out->text + out->length, bytes, count);
    out->length += count;
    out->text[out->length] = '\0';
}

static void append_cstr(struct json_text *out, const char *text)
{
    append(out, text, strlen(text));
}

static void fail(struct json_text *out)
{
    out->failed = true;
}

void json_text_open(struct json_text *out)
{
    *out = (struct json_text){.first = true};
    append(out, "{", 1);
}

/* ,"key": (no comma before the first member). */
static void member(struct json_text *out, const char *key)
{
    if (!out->first)
        append(out, ",", 1);
    out->first = false;
    append(out, "\"", 1);
    append_cstr(out, key);
    append(out, "\":", 2);
}

static int append_callback(const char *buffer, size_t size, void *data)
{
    struct json_text *out = data;
    append(out, buffer, size);
    return out->failed ? -1 : 0;
}

/* Prints value with jansson's own dumper (and frees it); NULL fails. */
static void append_jansson(struct json_text *out, json_t *value)
{
    if (value == NULL) {
        fail(out);
        return;
    }
    if (json_dump_callback(value, append_callback, out, JSON_ENCODE_ANY | JSON_COMPACT) != 0)
        fail(out);
    json_decref(value);
}

/* True when jansson would print text between quotes unchanged: without
 * JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH it escapes only '"', '\\' and
 * bytes below 0x20; bytes of 0x80 and above are left to jansson, which
 * checks that they are UTF-8. */
static bool prints_verbatim(const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if (*c < 0x20 || *c >= 0x80 || *c == '"' || *c == '\\')
            return false;
    return true;
}

void json_text_string(struct json_text *out, const char *key, const char *value)
{
    if (value == NULL) {
        fail(out);
        return;
    }
    member(out, key);
    if (prints_verbatim(value)) {
        append(out, "\"", 1);
        append_cstr(out, value);
        append(out, "\"", 1);
    } else {
        append_jansson(out, json_string(value));
    }
}

void json_text_string_or_null(struct json_text *out, const char *key, const char *value)
{
    if (value && value[0])
        json_text_string(out, key, value);
    else
        json_text_raw(out, key, "null");
}

void json_text_integer(struct json_text *out, const char *key, json_int_t value)
{
    char digits[NUMBER_TEXT_INTEGER_SIZE];
    size_t length = number_text_signed(digits, (long long)value); /* JSON_INTEGER_FORMAT */
    member(out, key);
    append(out, digits, length);
}

/* jansson prints a real with "%.17g" and adds ".0" when the result has no
 * '.' or 'e'; anything but digits, '-' and '.' (an exponent, a locale's
 * decimal comma) is left to jansson, which also refuses NaN and infinities.
 * Times in seconds, the reals of the hot replies, skip printf. */
void json_text_real(struct json_text *out, const char *key, double value)
{
    char digits[40];
    int length = (int)number_text_real17(digits, sizeof digits, value);
    if (length == 0)
        length = isfinite(value) ? snprintf(digits, sizeof digits, "%.17g", value) : -1;
    member(out, key);
    if (length <= 0 || (size_t)length >= sizeof digits ||
        strspn(digits, "-0123456789.") != (size_t)length) {
        append_jansson(out, json_real(value));
        return;
    }
    append(out, digits, (size_t)length);
    if (strchr(digits, '.') == NULL)
        append(out, ".0", 2);
}

void json_text_true(struct json_text *out, const char *key)
{
    json_text_raw(out, key, "true");
}

void json_text_raw(struct json_text *out, const char *key, const char *json)
{
    assert(json != NULL);
    member(out, key);
    append_cstr(out, json);
}

char *json_text_close_take(struct json_text *out)
{
    append(out, "}", 1);
    if (out->failed) {
        free(out->text);
        *out = (struct json_text){.failed = true};
        return NULL;
    }
    char *text = out->text;
    *out = (struct json_text){0};
    return text;
}

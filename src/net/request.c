/* The request as the caller reads it: headers, decoded path and query,
 * body. Its buffers are kept from one request of a connection to the
 * next (reset, not freed), so a kept-alive connection allocates little. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "net/net_internal.h"

bool net_buffer_append(struct net_buffer *buffer, const char *data, size_t size)
{
    if (size > buffer->capacity - buffer->length) {
        size_t capacity = buffer->capacity ? buffer->capacity : 256;
        while (capacity - buffer->length < size)
            capacity *= 2;
        char *grown = realloc(buffer->data, capacity);
        if (grown == NULL)
            return false;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    if (size > 0)
        memcpy(buffer->data + buffer->length, data, size);
    buffer->length += size;
    return true;
}

void net_buffer_free(struct net_buffer *buffer)
{
    free(buffer->data);
    *buffer = (struct net_buffer){NULL, 0, 0};
}

/* Keeps the buffers for the next request, but not a large body's. */
void net_request_reset(struct net_request *request)
{
    request->user = NULL;
    request->head.length = 0;
    request->has_target = false;
    request->header_count = 0;
    request->head_bytes = 0;
    request->in_field = false;
    free(request->path);
    free(request->query);
    request->path = request->query = NULL;
    request->param_count = 0;
    request->query_parsed = false;
    if (request->body.capacity > 65536)
        net_buffer_free(&request->body);
    request->body.length = 0;
    request->limit = 0;
    request->too_large = request->saw_version = request->head_done = false;
    request->complete = request->handed = request->answered = false;
}

void net_request_free(struct net_request *request)
{
    net_request_reset(request);
    net_buffer_free(&request->head);
    net_buffer_free(&request->body);
    free(request->headers);
    free(request->params);
    request->headers = NULL;
    request->params = NULL;
}

const char *net_request_method(const struct net_request *request)
{
    if (!request->has_target)
        return NULL;
    return llhttp_method_name((llhttp_method_t)request->connection->parser.method);
}

char *net_request_target(struct net_request *request)
{
    return request->has_target ? request->head.data + request->target : NULL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes size bytes of text into out (room for size + 1) and ends it with
 * a NUL; returns the decoded length. A malformed escape stays literal;
 * %00 becomes DEL, which every validator refuses, since a NUL would
 * silently cut the string ("/set/abc%00def" would store "abc"). */
static size_t percent_decode(const char *text, size_t size, bool plus_is_space, char *out)
{
    size_t written = 0;
    for (size_t i = 0; i < size; i++) {
        if (text[i] == '%' && i + 2 < size && hex_digit(text[i + 1]) >= 0 &&
            hex_digit(text[i + 2]) >= 0) {
            char byte = (char)(hex_digit(text[i + 1]) << 4 | hex_digit(text[i + 2]));
            out[written++] = byte == '\0' ? '\x7f' : byte;
            i += 2;
        } else {
            out[written++] = plus_is_space && text[i] == '+' ? ' ' : text[i];
        }
    }
    out[written] = '\0';
    return written;
}

const char *net_request_path(struct net_request *request)
{
    char *target = net_request_target(request);
    if (target == NULL)
        return NULL;
    if (request->path == NULL) {
        size_t length = strcspn(target, "?");
        request->path = malloc(length + 1);
        if (request->path != NULL)
            percent_decode(target, length, false, request->path);
    }
    return request->path;
}

/* A header's name ends with the NUL just before its value (connection.c,
 * on_header_field_complete), and a name is a token, without NULs; so the
 * length comes free, and only names of the sought length are compared:
 * a request's handlers look up some six headers, each against every
 * header of the request. */
const char *net_request_header(const struct net_request *request, const char *name)
{
    size_t length = strlen(name);
    for (size_t i = 0; i < request->header_count; i++) {
        const struct net_header *header = &request->headers[i];
        if (header->value > header->name && header->value - header->name - 1 == length &&
            strcasecmp(request->head.data + header->name, name) == 0)
            return request->head.data + header->value;
    }
    return NULL;
}

size_t net_request_header_count(const struct net_request *request)
{
    return request->header_count;
}

size_t net_request_head_bytes(const struct net_request *request)
{
    return request->head_bytes;
}

static bool add_param(struct net_request *request, struct net_param param, size_t *capacity)
{
    if (request->param_count == *capacity) {
        size_t grown_capacity = *capacity ? 2 * *capacity : 8;
        struct net_param *grown = realloc(request->params, grown_capacity * sizeof *grown);
        if (grown == NULL)
            return false;
        request->params = grown;
        *capacity = grown_capacity;
    }
    request->params[request->param_count++] = param;
    return true;
}

/* Splits the query at '&' and each part at its first '='; every key and
 * value is decoded into one copy of the query (decoding only shortens). A
 * part without '=' has a NULL value, as "&&" gives an empty key. */
static void parse_query(struct net_request *request)
{
    request->query_parsed = true;
    const char *target = net_request_target(request);
    const char *raw = target ? strchr(target, '?') : NULL;
    if (raw == NULL || raw[1] == '\0')
        return;
    raw++;
    size_t raw_size = strlen(raw);
    request->query = malloc(3 * raw_size + 3) /* every part: its bytes and two NULs */;
    if (request->query == NULL)
        return;
    size_t capacity = 0;
    request->param_count = 0;
    free(request->params);
    request->params = NULL;
    char *out = request->query;
    for (const char *part = raw; part != NULL;) {
        const char *end = strchr(part, '&');
        size_t part_size = end ? (size_t)(end - part) : strlen(part);
        const char *equals = memchr(part, '=', part_size);
        size_t key_raw = equals ? (size_t)(equals - part) : part_size;
        struct net_param param = {out, NULL, 0, 0};
        param.key_size = percent_decode(part, key_raw, true, out);
        out += param.key_size + 1;
        if (equals != NULL) {
            param.value = out;
            param.value_size = percent_decode(equals + 1, part_size - key_raw - 1, true, out);
            out += param.value_size + 1;
        }
        if (!add_param(request, param, &capacity))
            return;
        part = end ? end + 1 : NULL;
    }
}

const char *net_request_query(struct net_request *request, const char *name)
{
    if (!request->query_parsed)
        parse_query(request);
    for (size_t i = 0; i < request->param_count; i++) {
        if (strcmp(request->params[i].key, name) == 0)
            return request->params[i].value;
    }
    return NULL;
}

void net_request_query_each(struct net_request *request, net_param_fn *each, void *context)
{
    if (!request->query_parsed)
        parse_query(request);
    for (size_t i = 0; i < request->param_count; i++) {
        const struct net_param *param = &request->params[i];
        if (!each(context, param->key, param->key_size, param->value, param->value_size))
            return;
    }
}

const char *net_request_body(const struct net_request *request, size_t *size, bool *too_large)
{
    *size = request->body.length;
    *too_large = request->too_large;
    return request->body.data ? request->body.data : "";
}

const char *net_request_client_address(const struct net_request *request)
{
    return request->connection->address;
}

bool net_request_peer_gone(const struct net_request *request)
{
    char byte;
    ssize_t got = recv(request->connection->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void *net_request_user(const struct net_request *request)
{
    return request->user;
}

void net_request_set_user(struct net_request *request, void *user)
{
    request->user = user;
}

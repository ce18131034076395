/* One connection: bytes in through llhttp, one request at a time handed to
 * the caller, answers out with as few sends as they need. The parser is
 * paused at the end of the head, at a body past its limit and at the end
 * of each message, so the work on each happens outside its callbacks and
 * pipelined requests wait, unparsed, until the one before is answered.
 *
 * A connection that will close (an answer with Connection: close, or one
 * given before the body ended) sends its answer, shuts its sending half
 * and reads and drops what still comes until the client closes or the
 * linger deadline: a close with unread data would be a reset, which may
 * destroy the answer before the client reads it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_internal.h"
#include "util/number_text.h"

#define READ_BUFFER 16384
#define OUT_KEEP 65536 /* a larger output buffer is freed once sent */

enum pause_reason { PAUSED_NOT, PAUSED_HEAD, PAUSED_TOO_LARGE, PAUSED_COMPLETE };

static struct net_connection *of(llhttp_t *parser)
{
    return parser->data;
}

/* Stops the parser with a refusal made once it returns. */
static int refuse_later(struct net_connection *connection, unsigned status, const char *code,
                        const char *message)
{
    connection->refuse_status = status;
    connection->refuse_code = code;
    connection->refuse_message = message;
    return HPE_USER;
}

/* Appends a span of the head, within the head's size limit. */
static int add_head(struct net_connection *connection, const char *at, size_t length)
{
    struct net_request *request = &connection->request;
    if (request->head.length + length > connection->loop->server->config.head_max) {
        if (!request->has_target)
            return refuse_later(connection, 414, "uri_too_long", "the request target is too long");
        return refuse_later(connection, 431, "headers_too_large", "the request head is too large");
    }
    return net_buffer_append(&request->head, at, length) ? 0 : HPE_USER;
}

static int on_message_begin(llhttp_t *parser)
{
    struct net_connection *connection = of(parser);
    connection->in_request = true;
    net_enter(connection, NET_HEAD);
    return 0;
}

static int on_url(llhttp_t *parser, const char *at, size_t length)
{
    return add_head(of(parser), at, length);
}

static int on_url_complete(llhttp_t *parser)
{
    struct net_connection *connection = of(parser);
    int rc = add_head(connection, "", 1);
    connection->request.has_target = rc == 0;
    connection->request.target = 0;
    /* The parser takes a line without a version for HTTP/0.9. */
    if (rc == 0 && parser->http_major == 0 && parser->http_minor == 9)
        return refuse_later(connection, 400, "bad_request", "the request line has no HTTP version");
    return rc;
}

static int on_version(llhttp_t *parser, const char *at, size_t length)
{
    (void)at;
    (void)length;
    of(parser)->request.saw_version = true;
    return 0;
}

static int on_header_field(llhttp_t *parser, const char *at, size_t length)
{
    struct net_connection *connection = of(parser);
    struct net_request *request = &connection->request;
    if (!request->in_field) {
        if (request->header_count == request->header_capacity) {
            size_t capacity = request->header_capacity ? 2 * request->header_capacity : 16;
            struct net_header *grown = realloc(request->headers, capacity * sizeof *grown);
            if (grown == NULL)
                return HPE_USER;
            request->headers = grown;
            request->header_capacity = capacity;
        }
        /* value 0 until the name is complete: no name length yet
         * (net_request_header), and no match. */
        request->headers[request->header_count++] =
            (struct net_header){.name = (uint32_t)request->head.length, .value = 0};
        request->in_field = true;
    }
    return add_head(connection, at, length);
}

/* RFC 9110 5.1: a field name is a token. The parser lets a space before
 * the colon through ("Host : x"), which RFC 9112 5.1 says to refuse. */
static bool is_token(const char *text, size_t length)
{
    static const char others[] = "!#$%&'*+-.^_`|~";
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        bool alphanumeric =
            (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alphanumeric && (c == '\0' || strchr(others, c) == NULL))
            return false;
    }
    return length > 0;
}

static int on_header_field_complete(llhttp_t *parser)
{
    struct net_connection *connection = of(parser);
    struct net_request *request = &connection->request;
    uint32_t name = request->headers[request->header_count - 1].name;
    if (!is_token(request->head.data + name, request->head.length - name))
        return refuse_later(connection, 400, "bad_request", "malformed header field name");
    int rc = add_head(connection, "", 1);
    request->in_field = false;
    request->headers[request->header_count - 1].value = (uint32_t)request->head.length;
    return rc;
}

static int on_header_value(llhttp_t *parser, const char *at, size_t length)
{
    return add_head(of(parser), at, length);
}

/* Ends the value, without the spaces that may trail it. */
static int on_header_value_complete(llhttp_t *parser)
{
    struct net_connection *connection = of(parser);
    struct net_request *request = &connection->request;
    const struct net_header *header = &request->headers[request->header_count - 1];
    struct net_buffer *head = &request->head;
    while (head->length > header->value &&
           (head->data[head->length - 1] == ' ' || head->data[head->length - 1] == '\t'))
        head->length--;
    size_t value_length = head->length - header->value;
    request->head_bytes += (header->value - 1 - header->name) + value_length + 4;
    return add_head(connection, "", 1);
}

static int on_headers_complete(llhttp_t *parser)
{
    of(parser)->paused_for = PAUSED_HEAD;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *parser, const char *at, size_t length)
{
    struct net_connection *connection = of(parser);
    struct net_request *request = &connection->request;
    if (request->too_large)
        return 0; /* answered already: dropped */
    if (length > request->limit - request->body.length) {
        request->too_large = true;
        connection->paused_for = PAUSED_TOO_LARGE;
        return HPE_PAUSED;
    }
    return net_buffer_append(&request->body, at, length) ? 0 : HPE_USER;
}

static int on_message_complete(llhttp_t *parser)
{
    struct net_connection *connection = of(parser);
    connection->request.complete = true;
    connection->paused_for = PAUSED_COMPLETE;
    return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_version = on_version,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

struct net_connection *net_connection_new(struct net_loop *loop, int fd, const char *address)
{
    struct net_connection *connection = calloc(1, sizeof *connection);
    if (connection == NULL)
        return NULL;
    connection->loop = loop;
    connection->fd = fd;
    connection->admitted = true;
    snprintf(connection->address, sizeof connection->address, "%s", address);
    connection->request.connection = connection;
    llhttp_init(&connection->parser, HTTP_REQUEST, &parser_settings);
    connection->parser.data = connection;
    if (loop->server->credentials != NULL && !net_tls_session(connection)) {
        free(connection);
        return NULL;
    }
    net_enter(connection, NET_IDLE);
    return connection;
}

void net_connection_close(struct net_connection *connection)
{
    struct net_loop *loop = connection->loop;
    const struct net_callbacks *callbacks = &loop->server->callbacks;
    if (connection->request.head_done || connection->request.answered || connection->request.handed)
        callbacks->on_done(callbacks->context, &connection->request);
    net_request_free(&connection->request);
    if (connection->tls != NULL)
        gnutls_deinit(connection->tls);
    /* Out of the epoll set before the close: a close drops the socket's
     * registration only with the last reference to the socket, and a
     * child forked meanwhile (posix_spawn, a symbolizer) holds one until
     * it execs; the set would go on reporting events for this connection
     * after it is freed. */
    epoll_ctl(loop->epoll, EPOLL_CTL_DEL, connection->fd, NULL);
    close(connection->fd);
    if (connection->admitted)
        callbacks->release(callbacks->context, connection->address);
    net_loop_forget(loop, connection);
    net_buffer_free(&connection->in);
    net_buffer_free(&connection->out);
    free(connection);
}

/* ---- sending ------------------------------------------------------------ */

static ssize_t send_some(struct net_connection *connection, const char *data, size_t size)
{
    if (connection->tls != NULL)
        return net_tls_write(connection, data, size);
    return send(connection->fd, data, size, MSG_NOSIGNAL);
}

/* Sends what the output buffer holds; false when the connection broke. */
static bool flush(struct net_connection *connection)
{
    struct net_buffer *out = &connection->out;
    while (connection->out_start < out->length) {
        ssize_t sent = send_some(connection, out->data + connection->out_start,
                                 out->length - connection->out_start);
        if (sent > 0) {
            connection->out_start += (size_t)sent;
        } else if (sent < 0 && errno == EINTR) {
            continue;
        } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            net_want_write(connection, true);
            return true;
        } else {
            connection->broken = true;
            return false;
        }
    }
    connection->out_start = out->length = 0;
    if (out->capacity > OUT_KEEP)
        net_buffer_free(out);
    net_want_write(connection, false);
    return true;
}

static bool sending(const struct net_connection *connection)
{
    return connection->out_start < connection->out.length;
}

static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 423:
        return "Locked";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    case 507:
        return "Insufficient Storage";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* Whether the connection stays open after this request's answer. */
static bool keeps_alive(struct net_connection *connection)
{
    const struct net_request *request = &connection->request;
    return request->complete && !connection->closing && !connection->parser.upgrade &&
           llhttp_should_keep_alive(&connection->parser);
}

static bool append_text(struct net_buffer *buffer, const char *text)
{
    return net_buffer_append(buffer, text, strlen(text));
}

/* The status line, Date, the caller's headers, Content-Length and
 * Connection, and the blank line, appended piece by piece: with snprintf
 * this head cost more than the parse of the request. */
static bool append_head(struct net_connection *connection, const struct net_response *response,
                        bool counted, size_t body_length, bool keep)
{
    struct net_buffer *out = &connection->out;
    char status[NUMBER_TEXT_INTEGER_SIZE];
    size_t status_length = number_text_unsigned(status, response->status);
    bool stored = append_text(out, "HTTP/1.1 ") && net_buffer_append(out, status, status_length) &&
                  append_text(out, " ") && append_text(out, reason_phrase(response->status)) &&
                  append_text(out, "\r\nDate: ") && append_text(out, net_date(connection->loop)) &&
                  append_text(out, "\r\n") &&
                  net_buffer_append(out, response->headers, response->headers_length);
    if (stored && counted) {
        char length[NUMBER_TEXT_INTEGER_SIZE];
        size_t length_length = number_text_unsigned(length, body_length);
        stored = append_text(out, "Content-Length: ") &&
                 net_buffer_append(out, length, length_length) && append_text(out, "\r\n");
    }
    if (stored && !keep)
        stored = append_text(out, "Connection: close\r\n");
    else if (stored && connection->parser.http_minor == 0)
        stored = append_text(out, "Connection: keep-alive\r\n");
    return stored && append_text(out, "\r\n");
}

void net_respond(struct net_request *request, const struct net_response *response)
{
    struct net_connection *connection = request->connection;
    if (request->answered)
        return;
    request->answered = true;
    bool keep = keeps_alive(connection);
    bool head_only = request->has_target && connection->parser.method == HTTP_HEAD;
    size_t body_length = 0;
    for (int i = 0; i < response->body_parts; i++)
        body_length += response->body[i].iov_len;
    bool counted = response->status >= 200 && response->status != 204 && response->status != 304;
    bool stored = append_head(connection, response, counted, body_length, keep);
    for (int i = 0; stored && !head_only && i < response->body_parts; i++)
        stored = net_buffer_append(&connection->out, response->body[i].iov_base,
                                   response->body[i].iov_len);
    if (!stored)
        connection->broken = true;
    if (!keep)
        connection->closing = true;
    if (!connection->broken)
        flush(connection);
}

/* ---- requests ----------------------------------------------------------- */

static bool pending(const struct net_connection *connection)
{
    return connection->request.handed && !connection->request.answered;
}

/* After a callback that may have answered: a complete request answered is
 * over, and the connection is ready for the next one. */
static void after_callback(struct net_connection *connection)
{
    struct net_request *request = &connection->request;
    if (!request->answered || !request->complete)
        return;
    const struct net_callbacks *callbacks = &connection->loop->server->callbacks;
    callbacks->on_done(callbacks->context, request);
    net_request_reset(request);
    connection->in_request = false;
    if (!connection->closing)
        net_enter(connection, NET_IDLE);
}

static void refuse(struct net_connection *connection, unsigned status, const char *code,
                   const char *message)
{
    struct net_request *request = &connection->request;
    connection->closing = true;
    if (request->answered)
        return; /* the client broke its framing after an early answer */
    const struct net_callbacks *callbacks = &connection->loop->server->callbacks;
    request->handed = true;
    net_enter(connection, NET_BUSY);
    callbacks->on_refuse(callbacks->context, request, status, code, message);
    if (!request->answered)
        connection->broken = true; /* nothing to say: close */
}

static void hand(struct net_connection *connection)
{
    const struct net_callbacks *callbacks = &connection->loop->server->callbacks;
    connection->request.handed = true;
    net_enter(connection, NET_BUSY);
    callbacks->on_request(callbacks->context, &connection->request);
    after_callback(connection);
}

static void continue_100(struct net_connection *connection)
{
    static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
    const char *expect = net_request_header(&connection->request, "Expect");
    bool has_body = (connection->parser.flags & (F_CHUNKED | F_CONTENT_LENGTH)) != 0 &&
                    ((connection->parser.flags & F_CHUNKED) || connection->parser.content_length);
    if (expect == NULL || strcasecmp(expect, "100-continue") != 0 || !has_body ||
        connection->parser.http_minor == 0)
        return;
    if (!net_buffer_append(&connection->out, interim, sizeof interim - 1))
        connection->broken = true;
    else
        flush(connection);
}

#define TWO_FRAMINGS "at most one Content-Length, and none with Transfer-Encoding"

/* The parser refuses a second Content-Length, but takes one that follows
 * Transfer-Encoding. */
static bool two_framings(const struct net_request *request)
{
    size_t lengths = 0, encodings = 0;
    for (size_t i = 0; i < request->header_count; i++) {
        const char *name = request->head.data + request->headers[i].name;
        lengths += strcasecmp(name, "Content-Length") == 0;
        encodings += strcasecmp(name, "Transfer-Encoding") == 0;
    }
    return lengths > 1 || (lengths > 0 && encodings > 0);
}

/* The head is complete: checked here, then shown to the caller. */
static void head_complete(struct net_connection *connection)
{
    struct net_request *request = &connection->request;
    const struct net_callbacks *callbacks = &connection->loop->server->callbacks;
    llhttp_t *parser = &connection->parser;
    request->head_done = true;
    net_enter(connection, NET_BODY);
    if (!request->saw_version) {
        refuse(connection, 400, "bad_request", "the request line has no HTTP version");
        return;
    }
    if (parser->http_major != 1 || parser->http_minor > 1) {
        refuse(connection, 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1");
        return;
    }
    if (two_framings(request)) {
        /* Two framings of one body (RFC 9112 6.3): we would pick one, a
         * proxy in front maybe the other (request smuggling). */
        refuse(connection, 400, "invalid_request", TWO_FRAMINGS);
        return;
    }
    request->limit = callbacks->on_head(callbacks->context, request);
    if (request->answered) {
        connection->closing = true;
        return;
    }
    if ((parser->flags & F_CONTENT_LENGTH) && parser->content_length > request->limit) {
        request->too_large = true;
        hand(connection);
        return;
    }
    continue_100(connection);
}

/* What a parser error means for the client. */
static void refuse_parse_error(struct net_connection *connection, llhttp_errno_t err)
{
    const char *reason = llhttp_get_error_reason(&connection->parser);
    if (err == HPE_USER && connection->refuse_status != 0) {
        refuse(connection, connection->refuse_status, connection->refuse_code,
               connection->refuse_message);
    } else if (err == HPE_USER) {
        connection->broken = true; /* out of memory */
    } else if (err == HPE_INVALID_VERSION && reason &&
               strcmp(reason, "Invalid HTTP version") == 0) {
        refuse(connection, 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1");
    } else if (err == HPE_UNEXPECTED_CONTENT_LENGTH) {
        refuse(connection, 400, "invalid_request", TWO_FRAMINGS);
    } else {
        char message[160];
        snprintf(message, sizeof message, "malformed request: %s",
                 reason ? reason : llhttp_errno_name(err));
        refuse(connection, 400, "bad_request", message);
    }
}

static void after_pause(struct net_connection *connection, int reason)
{
    connection->paused_for = PAUSED_NOT;
    if (reason == PAUSED_HEAD)
        head_complete(connection);
    else if ((reason == PAUSED_TOO_LARGE || reason == PAUSED_COMPLETE) &&
             !connection->request.handed)
        hand(connection);
    else if (reason == PAUSED_COMPLETE)
        after_callback(connection); /* answered early, the body is over */
}

/* Parses what was read, until it is all parsed or a request waits. */
static void parse_input(struct net_connection *connection)
{
    struct net_buffer *in = &connection->in;
    /* After a pause the parser runs again even on no bytes: what follows
     * the head of a request without a body is its end, reported then. */
    bool resumed = false;
    while (!connection->closing && !connection->broken && !pending(connection) &&
           (connection->in_start < in->length || resumed)) {
        resumed = false;
        const char *start = in->data + connection->in_start;
        llhttp_errno_t err =
            llhttp_execute(&connection->parser, start, in->length - connection->in_start);
        if (err == HPE_OK) {
            connection->in_start = in->length;
        } else if (err == HPE_PAUSED) {
            connection->in_start = (size_t)(llhttp_get_error_pos(&connection->parser) - in->data);
            llhttp_resume(&connection->parser);
            after_pause(connection, connection->paused_for);
            resumed = true;
        } else if (err == HPE_PAUSED_UPGRADE) {
            connection->closing = true; /* no other protocol is spoken here */
        } else {
            connection->in_start = in->length;
            refuse_parse_error(connection, err);
        }
    }
    if (connection->in_start == in->length)
        connection->in_start = in->length = 0;
}

/* ---- reading ------------------------------------------------------------ */

/* Reads into the (empty) input buffer: bytes, 0 at the end, -1 + errno. */
static ssize_t read_some(struct net_connection *connection)
{
    struct net_buffer *in = &connection->in;
    if (in->capacity == 0) {
        in->data = malloc(READ_BUFFER);
        if (in->data == NULL) {
            errno = ENOMEM;
            return -1;
        }
        in->capacity = READ_BUFFER;
    }
    size_t space = in->capacity - in->length;
    ssize_t got;
    do {
        got = connection->tls ? net_tls_read(connection, in->data + in->length, space)
                              : recv(connection->fd, in->data + in->length, space, 0);
    } while (got < 0 && errno == EINTR);
    if (got > 0)
        in->length += (size_t)got;
    /* Not over TLS: a record read leaves the next one in the socket. Nor
     * once the client has half-closed: its end of file is read last. */
    bool short_read =
        got > 0 && (size_t)got < space && connection->tls == NULL && !connection->peer_closed;
    if (short_read || (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
        connection->readable = false;
    return got;
}

/* A closing connection: once its answer is out, shut the sending half and
 * drop what the client still sends until it closes. False when closed. */
static bool linger(struct net_connection *connection)
{
    if (!sending(connection) && !connection->shut) {
        if (connection->tls != NULL)
            gnutls_bye(connection->tls, GNUTLS_SHUT_WR);
        shutdown(connection->fd, SHUT_WR);
        connection->shut = true;
        net_enter(connection, NET_LINGER);
    }
    for (;;) {
        connection->in.length = connection->in_start = 0;
        if (!connection->readable)
            return true;
        ssize_t got = read_some(connection);
        if (got > 0)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        net_connection_close(connection);
        return false;
    }
}

/* Does all that can be done now: send, parse, answer, read, until the
 * socket would block or a request waits for its answer. */
static void work(struct net_connection *connection)
{
    for (;;) {
        if (connection->broken) {
            net_connection_close(connection);
            return;
        }
        if (sending(connection) && !flush(connection))
            continue;
        if (connection->closing) {
            linger(connection);
            return;
        }
        if (pending(connection) || sending(connection))
            return;
        if (connection->in_start < connection->in.length) {
            parse_input(connection);
            continue;
        }
        if (!connection->readable)
            return;
        ssize_t got = read_some(connection);
        if (got > 0)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (got == 0 && connection->in_request && !connection->request.handed) {
            /* Half closed inside a request: it will never be complete
             * (a body shorter than its framing said); the client may
             * still read why. */
            refuse(connection, 400, "bad_request", "the request ended before it was complete");
            continue;
        }
        net_connection_close(connection); /* the client is gone */
        return;
    }
}

void net_connection_event(struct net_connection *connection, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        connection->readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        connection->peer_closed = true;
    if (connection->handshaking) {
        int done = net_tls_handshake(connection);
        if (done < 0) {
            net_connection_close(connection);
            return;
        }
        if (done == 0)
            return;
        net_want_write(connection, false);
    }
    work(connection);
}

void net_connection_resumed(struct net_connection *connection)
{
    const struct net_callbacks *callbacks = &connection->loop->server->callbacks;
    if (!pending(connection))
        return;
    callbacks->on_resume(callbacks->context, &connection->request);
    after_callback(connection);
    work(connection);
}

void net_connection_expire(struct net_connection *connection)
{
    if (pending(connection))
        return; /* a request being answered has no deadline */
    net_connection_close(connection);
}

/* libmicrohttpd glue; see http.h. The daemon runs a pool of epoll threads;
 * a handler runs on one of them. Publish, claim and fulfill do not block it
 * while their write is committed: the connection is suspended, the writer
 * thread resumes it after the commit, and the answer is sent from here. */
#include "serve/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "serve/common_headers.h"
#include "serve/early_answer.h"
#include "serve/edge.h"
#include "serve/long_poll.h"
#include "serve/router.h"
#include "serve/server.h"
#include "util/clock.h"

#define CONNECTION_IDLE_TIMEOUT 60
#define CONNECTION_LIMIT 4096
/* MHD's per-connection pool (headers plus a read buffer) is wiped on every
 * keep-alive request; its 32 KB default made that wipe a visible share of
 * the CPU. 16 KB still holds any sane header block, and bodies, at most
 * REQUEST_BODY_MAX, arrive in chunks anyway. */
#define CONNECTION_MEMORY 16384

/* What MHD keeps for one request between calls of the access handler. */
struct request_state {
    size_t size;
    bool too_large;
    bool answered_early; /* refuse_rest_of_body wrote the answer */
    bool head_seen;                    /* on_request has seen the whole head */
    enum edge_uri_verdict uri_verdict; /* from on_request_line */
    bool address_counted;              /* address is counted in the edge's table */
    char address[64];                  /* behind a proxy: the forwarded client */
    bool parked;           /* counted in server->parked_requests */
    struct waiter *waiter; /* set while a long-poll request is parked */
    /* A write being committed (owned; freed when the request completes),
     * and what its answer needs once the connection is resumed. */
    struct bus_call *write;
    struct waiter *then_park; /* owned: a long-poll claim's, if it finds nothing */
    unsigned long park_sequence;
    struct MHD_Connection *connection;
    double started;
    char who[sizeof((struct principal *)0)->label];
    size_t limit;  /* router_body_limit's */
    char *large;   /* owned: the body of a route allowed more than data holds */
    size_t large_capacity;
    /* Last, and left uninitialised: zeroing 8 KB per request cost more
     * CPU than parsing it. Only data[0..size) is ever read. */
    char data[REQUEST_BODY_MAX];
};

static struct request_state *new_request_state(void)
{
    struct request_state *state = malloc(sizeof *state);
    if (state != NULL)
        memset(state, 0, offsetof(struct request_state, data));
    return state;
}

static void add_common_headers(struct MHD_Response *response)
{
    for (size_t i = 0; i < COMMON_HEADER_COUNT; i++)
        MHD_add_response_header(response, common_headers[i][0], common_headers[i][1]);
}

/* A malloc'd copy of a JSON body with a newline at the end, as curl users
 * expect; NULL when out of memory. */
static char *with_newline(const char *body, size_t *length)
{
    *length = strlen(body);
    char *copy = malloc(*length + 1);
    if (copy != NULL) {
        memcpy(copy, body, *length);
        copy[(*length)++] = '\n';
    }
    return copy;
}

static struct MHD_Response *create_body(struct http_response *out)
{
    static const char internal_error_body[] =
        "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}\n";
    size_t length = 0;
    if (out->status == 204)
        return MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (out->body != NULL && out->body_is_static)
        return MHD_create_response_from_buffer(strlen(out->body), out->body,
                                               MHD_RESPMEM_PERSISTENT);
    char *body = out->body ? with_newline(out->body, &length) : NULL;
    if (body == NULL) {
        out->status = 500;
        out->content_type = NULL;
        return MHD_create_response_from_buffer(sizeof internal_error_body - 1,
                                               (void *)internal_error_body,
                                               MHD_RESPMEM_PERSISTENT);
    }
    return MHD_create_response_from_buffer(length, body, MHD_RESPMEM_MUST_FREE);
}

static void add_response_headers(struct MHD_Response *response, const struct http_response *out)
{
    char seconds[16];
    add_common_headers(response);
    if (out->status != 204)
        MHD_add_response_header(response, "Content-Type",
                                out->content_type ? out->content_type : "application/json");
    if (out->retry_after > 0) {
        snprintf(seconds, sizeof seconds, "%u", out->retry_after);
        MHD_add_response_header(response, "Retry-After", seconds);
    }
    if (out->allow)
        MHD_add_response_header(response, "Allow", out->allow);
    if (out->ask_for_password)
        MHD_add_response_header(response, "WWW-Authenticate",
                                "Basic realm=\"Intent Bus admin\", charset=\"UTF-8\"");
    if (out->content_security_policy)
        MHD_add_response_header(response, "Content-Security-Policy",
                                out->content_security_policy);
}

static enum MHD_Result send_response(struct MHD_Connection *connection,
                                     struct http_response *out)
{
    struct MHD_Response *response = create_body(out);
    if (response == NULL)
        return MHD_NO;
    add_response_headers(response, out);
    enum MHD_Result result = MHD_queue_response(connection, out->status, response);
    MHD_destroy_response(response);
    return result;
}

static bool declared_too_large(struct MHD_Connection *connection, size_t limit)
{
    const char *length =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return length != NULL && strtoull(length, NULL, 10) > limit;
}

/* Room for a body past REQUEST_BODY_MAX (a route with a larger limit),
 * grown as it arrives; false when out of memory. */
static bool grow_large(struct request_state *state, size_t needed)
{
    if (needed <= state->large_capacity)
        return true;
    size_t capacity = state->large_capacity ? state->large_capacity : 2 * REQUEST_BODY_MAX;
    while (capacity < needed)
        capacity *= 2;
    char *large = realloc(state->large, capacity);
    if (large == NULL)
        return false;
    if (state->large == NULL)
        memcpy(large, state->data, state->size);
    state->large = large;
    state->large_capacity = capacity;
    return true;
}

static void append_body(struct request_state *state, const char *data, size_t size)
{
    if (state->too_large || size > state->limit - state->size) {
        state->too_large = true;
        return;
    }
    size_t needed = state->size + size;
    if (needed > REQUEST_BODY_MAX && !grow_large(state, needed)) {
        state->too_large = true;
        return;
    }
    memcpy((state->large ? state->large : state->data) + state->size, data, size);
    state->size += size;
}

/* The edge's record of this connection (edge.h); NULL if it has none. */
static struct edge_connection *connection_edge(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

struct head_tally {
    size_t fields;
    size_t bytes;
    size_t lengths;   /* Content-Length fields */
    size_t encodings; /* Transfer-Encoding fields */
};

static enum MHD_Result count_header(void *context, enum MHD_ValueKind kind, const char *name,
                                    const char *value)
{
    (void)kind;
    struct head_tally *tally = context;
    tally->fields++;
    tally->bytes += strlen(name) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    tally->lengths += strcasecmp(name, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0;
    tally->encodings += strcasecmp(name, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0;
    return MHD_YES;
}

/* Whether the complete head breaks one of the edge's limits; if so the
 * refusal is in *out. Behind a proxy the forwarded client is counted here
 * (on_completed uncounts it). */
static bool refuse_head(struct server *server, struct MHD_Connection *connection, const char *url,
                        struct request_state *state, struct http_response *out)
{
    struct head_tally tally = {0, strlen(url), 0, 0};
    if (state->uri_verdict == EDGE_URI_TOO_MANY_PARAMS)
        return response_refuse(out, 414, "uri_too_long", "the query has more than %d parameters",
                               EDGE_QUERY_PARAMS_MAX);
    if (state->uri_verdict == EDGE_URI_TOO_LONG)
        return response_refuse(out, 414, "uri_too_long", "the request target is over %d bytes",
                               EDGE_URI_MAX);
    MHD_get_connection_values(connection, MHD_HEADER_KIND, count_header, &tally);
    if (tally.fields > EDGE_HEADER_FIELDS_MAX || tally.bytes > EDGE_HEAD_MAX)
        return response_refuse(out, 431, "headers_too_large",
                               "at most %d header fields and %d bytes of head",
                               EDGE_HEADER_FIELDS_MAX, EDGE_HEAD_MAX);
    /* Two framings of one body (RFC 9112 6.3): the library would pick
     * one, a proxy in front maybe the other (request smuggling). */
    if (tally.lengths > 1 || (tally.lengths > 0 && tally.encodings > 0))
        return response_refuse(out, 400, "invalid_request",
                               "at most one Content-Length, and none with Transfer-Encoding");
    if (!server->config.trust_proxy)
        return false; /* the library caps connections per peer address */
    router_client_address(server, connection, state->address, sizeof state->address);
    state->address_counted = edge_address_enter(server->edge, state->address,
                                                (unsigned)server->config.max_connections_per_ip);
    if (state->address_counted)
        return false;
    out->retry_after = 1;
    return response_refuse(out, 429, "too_many_connections",
                           "more than %d requests at once from one address",
                           server->config.max_connections_per_ip);
}

/* A long-poll claim whose first attempt found nothing: its connection is
 * suspended again, now for the dispatcher, which answers it through
 * answer_resumed. The request stays counted as parked. False while the
 * server stops (the waiter is gone; answer 204 now). */
static bool park_claim(struct server *server, struct request_state *state)
{
    struct waiter *waiter = state->then_park;
    state->then_park = NULL;
    if (!long_poll_park_claim(server->long_poll, waiter, state->park_sequence))
        return false;
    bus_call_free(state->write);
    state->write = NULL;
    state->waiter = waiter;
    return true;
}

/* A committed (or failed) write: its answer, built and sent here, on a
 * libmicrohttpd thread, and counted with the request's original start. */
static enum MHD_Result answer_written(struct server *server, struct MHD_Connection *connection,
                                      const char *method, const char *url,
                                      struct request_state *state)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    struct http_response response = {0};
    enum bus_err err = bus_call_finish(state->write, &reply, &error);
    if (err == BUS_ERR_EMPTY && state->then_park != NULL && park_claim(server, state))
        return MHD_YES;
    response_from_bus(&response, err, &reply, &error);
    if (response.body == NULL && response.status != 204)
        response.status = 500; /* what send_response will send: out of memory */
    router_observe(server, connection, method, url, response.status,
                   clock_monotonic() - state->started, state->who);
    enum MHD_Result result = send_response(connection, &response);
    free(response.body);
    return result;
}

/* The writer thread's callback: the write is over, so let libmicrohttpd
 * call on_request again to answer. Every other write waits for this
 * thread, so it does nothing more. */
static void on_write_over(void *context)
{
    struct request_state *state = context;
    MHD_resume_connection(state->connection);
}

/* A handler left a write to commit: suspend the connection and submit it,
 * so this thread serves other connections meanwhile. The suspension comes
 * first, since the writer may resume the connection at once. While the
 * server drains, the write is made here and now instead: the daemon must
 * not stop while a connection is suspended. The request is counted before
 * the flag is read, so either the drain waits for it or it sees the drain. */
static enum MHD_Result start_write(struct server *server, struct MHD_Connection *connection,
                                   const char *method, const char *url, struct request_state *state,
                                   struct http_response *response)
{
    state->write = response->writing;
    state->then_park = response->then_park;
    state->park_sequence = response->park_sequence;
    state->connection = connection;
    state->started = response->started;
    memcpy(state->who, response->who, sizeof state->who);
    atomic_fetch_add(&server->parked_requests, 1);
    if (atomic_load(&server->draining)) {
        atomic_fetch_sub(&server->parked_requests, 1);
        bus_call_run(state->write);
        return answer_written(server, connection, method, url, state);
    }
    state->parked = true;
    MHD_suspend_connection(connection);
    bus_call_submit(state->write, on_write_over, state);
    return MHD_YES;
}

static enum MHD_Result answer(struct server *server, struct MHD_Connection *connection,
                              const char *method, const char *url, struct request_state *state)
{
    struct request_body body = {state->large ? state->large : state->data, state->size,
                                state->too_large, state->limit};
    struct http_response response = {0};
    edge_enter(server->edge, connection_edge(connection), EDGE_BUSY);
    router_dispatch(server, connection, method, url, &body, &response);
    if (response.writing != NULL)
        return start_write(server, connection, method, url, state, &response);
    if (response.suspended != NULL) {
        state->waiter = response.suspended; /* answered when resumed */
        state->parked = true;
        atomic_fetch_add(&server->parked_requests, 1);
        return MHD_YES;
    }
    enum MHD_Result result = send_response(connection, &response);
    if (!response.body_is_static)
        free(response.body);
    return result;
}

/* The head is complete: refuses it, or readies the request for its body
 * (or for an early 413 when the declared body is too large). */
static enum MHD_Result on_head(struct server *server, struct MHD_Connection *connection,
                               const char *method, const char *url, struct request_state *state)
{
    struct http_response refusal = {0};
    state->head_seen = true;
    edge_enter(server->edge, connection_edge(connection), EDGE_BODY);
    if (refuse_head(server, connection, url, state, &refusal)) {
        edge_enter(server->edge, connection_edge(connection), EDGE_BUSY);
        router_observe(server, connection, method, url, refusal.status, 0, NULL);
        enum MHD_Result result = send_response(connection, &refusal);
        free(refusal.body);
        return result;
    }
    state->limit = router_body_limit(method, url);
    state->too_large = declared_too_large(connection, state->limit);
    if (state->too_large)
        return answer(server, connection, method, url, state);
    return MHD_YES; /* wait for the body */
}

/* A chunked body past its limit (its size was not declared, so the head
 * could not be refused): answered 413 now, while the client still sends,
 * and the rest is read and dropped only until it has had time to see the
 * answer (EDGE_LINGER), then the connection is cut. libmicrohttpd 0.9.75
 * has no way to do this: MHD_queue_response refuses every state between
 * the head and the end of the body (connection.c), even in 1.0. It also
 * writes nothing on the connection while a body arrives, so the answer is
 * written on the socket here, whole, and its sending half closed. Not over
 * TLS, where the library owns the stream: there the 413 waits for the end
 * of the body or its deadline. */
static void refuse_rest_of_body(struct server *server, struct MHD_Connection *connection,
                                const char *method, const char *url, struct request_state *state)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct http_response refusal = {0};
    if (server->config.tls_cert[0] != '\0' || info == NULL)
        return;
    response_refuse(&refusal, 413, "payload_too_large", "request body exceeds %zu bytes",
                    state->limit);
    if (refusal.body == NULL)
        return;
    state->answered_early = true;
    early_answer_send(info->connect_fd, 413, "Payload Too Large", refusal.body);
    free(refusal.body);
    edge_enter(server->edge, connection_edge(connection), EDGE_LINGER);
    router_observe(server, connection, method, url, 413, 0, NULL);
}

/* A parked long-poll request was resumed: send what the dispatcher put in
 * its waiter (which keeps the body; on_completed frees both). */
static enum MHD_Result answer_resumed(struct server *server, struct MHD_Connection *connection,
                                      const char *method, const char *url,
                                      struct request_state *state)
{
    struct http_response *response = waiter_response(state->waiter);
    enum MHD_Result result = send_response(connection, response);
    router_observe_wait(server, connection, method, url, response->status,
                        clock_now() - waiter_parked_at(state->waiter), waiter_who(state->waiter));
    return result;
}

/* MHD calls this once with the headers, once per chunk of body, and once
 * more with no data when the body is complete. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **request_context)
{
    (void)version;
    struct request_state *state = *request_context;
    if (state == NULL) {
        state = new_request_state();
        if (state == NULL)
            return MHD_NO;
        *request_context = state;
    }
    if (!state->head_seen)
        return on_head(cls, connection, method, url, state);
    if (state->write != NULL)
        return answer_written(cls, connection, method, url, state);
    if (state->waiter != NULL)
        return answer_resumed(cls, connection, method, url, state);
    if (*upload_data_size > 0) {
        append_body(state, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (state->too_large && !state->answered_early)
            refuse_rest_of_body(cls, connection, method, url, state);
        return MHD_YES;
    }
    if (state->answered_early) {
        /* The body ended while lingering. Returning MHD_NO would close the
         * connection too, but log an "internal error": a timeout of a
         * second (the library's own, on the connection) closes it quietly. */
        MHD_set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
        return MHD_YES;
    }
    return answer(cls, connection, method, url, state);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **request_context,
                         enum MHD_RequestTerminationCode code)
{
    (void)code;
    struct server *server = cls;
    struct request_state *state = *request_context;
    edge_enter(server->edge, connection_edge(connection), EDGE_IDLE);
    if (state != NULL) {
        if (state->address_counted)
            edge_address_leave(server->edge, state->address);
        waiter_free(state->waiter);
        waiter_free(state->then_park);
        bus_call_free(state->write);
        if (state->parked)
            atomic_fetch_sub(&server->parked_requests, 1);
        free(state->large);
    }
    free(state);
    *request_context = NULL;
}

/* Percent-decodes a path or query value in place, as libmicrohttpd does,
 * except that %00 becomes DEL (0x7f): a NUL would silently cut the C string
 * ("/set/abc%00def" would store "abc"), while DEL is a control character
 * every validator refuses. */
static size_t unescape_without_nul(void *cls, struct MHD_Connection *connection, char *text)
{
    (void)cls;
    (void)connection;
    for (char *escape = strstr(text, "%00"); escape; escape = strstr(escape + 3, "%00")) {
        escape[1] = '7';
        escape[2] = 'F';
    }
    return MHD_http_unescape(text);
}

/* A request line has arrived: its deadline for the rest of the head starts,
 * and its target is checked while still raw. What this returns is the
 * request's context in on_request. The target is writable memory (the
 * library's read buffer, which it splits and decodes in place right after
 * this call); edge_check_uri may empty its query, see edge.h. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *connection)
{
    struct server *server = cls;
    struct request_state *state = new_request_state();
    edge_enter(server->edge, connection_edge(connection), EDGE_HEAD);
    enum edge_uri_verdict verdict = edge_check_uri((char *)uri);
    if (state != NULL)
        state->uri_verdict = verdict;
    return state;
}

/* Small request/response exchanges stall on Nagle's algorithm without
 * TCP_NODELAY. Each connection is also tracked by the edge for its
 * deadlines, from here until it closes. */
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct server *server = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        edge_untrack(server->edge, *socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    int on = 1;
    if (info == NULL)
        return;
    setsockopt(info->connect_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    *socket_context = edge_track(server->edge, info->connect_fd);
}

/* Reads a whole PEM file; NULL (and a message) on failure. */
static char *read_pem(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size = -1;
    if (file != NULL && fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) > 0 &&
        fseek(file, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1)) != NULL) {
        if (fread(text, 1, (size_t)size, file) == (size_t)size) {
            text[size] = '\0';
        } else {
            free(text);
            text = NULL;
        }
    }
    if (file != NULL)
        fclose(file);
    if (text == NULL)
        fprintf(stderr, "intent-bus: cannot read %s\n", path);
    return text;
}

/* Loads the certificate and key into server->tls_*; 0 or -1. */
static int load_tls(struct server *server)
{
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        fprintf(stderr, "intent-bus: this libmicrohttpd has no TLS support\n");
        return -1;
    }
    server->tls_cert_pem = read_pem(server->config.tls_cert);
    server->tls_key_pem = read_pem(server->config.tls_key);
    return server->tls_cert_pem && server->tls_key_pem ? 0 : -1;
}

/* Why the daemon could not listen: libmicrohttpd returns NULL without a
 * reason, so the bind is tried again here to tell "address already in use"
 * (another server on the port: without SO_REUSEPORT a second `serve` must
 * fail, not share the port and split the clients between two buses) from
 * the rest. */
static const char *listen_problem(const struct sockaddr_in *address, const char *otherwise)
{
    static _Thread_local char reason[128];
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return otherwise;
    int yes = 1;
    setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes); /* as libmicrohttpd binds */
    int failed = bind(probe, (const struct sockaddr *)address, sizeof *address);
    int bind_errno = errno;
    close(probe);
    if (failed == 0)
        return otherwise;
    snprintf(reason, sizeof reason, "%s", strerror(bind_errno));
    reason[0] = (char)tolower((unsigned char)reason[0]); /* "address already in use" */
    return reason;
}

int http_start(struct server *server)
{
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)server->config.port)};
    if (inet_pton(AF_INET, server->config.bind, &address.sin_addr) != 1) {
        fprintf(stderr, "intent-bus: --bind needs an IPv4 address, not '%s'\n",
                server->config.bind);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    bool tls = server->config.tls_cert[0] != '\0';
    if (tls && load_tls(server) != 0)
        return -1;
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &address},
        {MHD_OPTION_THREAD_POOL_SIZE, server->config.threads, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_IDLE_TIMEOUT, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, server},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, server},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_without_nul, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_request_line, server},
        /* Behind a proxy every connection comes from it: refuse_head
         * counts the forwarded clients instead. */
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
         server->config.trust_proxy ? 0 : server->config.max_connections_per_ip, NULL},
        /* Without TLS the list ends here, before the certificate options. */
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, server->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, server->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    if (tls)
        flags |= MHD_USE_TLS;
    if ((server->edge = edge_start(server->config.head_timeout,
                                   server->config.body_timeout)) == NULL)
        return -1;
    server->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, server,
                                      MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (server->daemon == NULL) {
        edge_stop(server->edge);
        server->edge = NULL;
        fprintf(stderr, "intent-bus: cannot listen on %s:%d: %s\n", server->config.bind,
                server->config.port,
                listen_problem(&address, tls ? "the TLS certificate or key is unusable"
                                             : "the HTTP server could not start"));
        return -1;
    }
    return 0;
}

void http_drain_parked(struct server *server, double timeout)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    double deadline = clock_monotonic() + timeout;
    atomic_store(&server->draining, true);
    while (atomic_load(&server->parked_requests) > 0 && clock_monotonic() < deadline)
        nanosleep(&pause, NULL);
}

unsigned http_bound_port(const struct server *server)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : (unsigned)server->config.port;
}

void http_stop(struct server *server)
{
    if (server->daemon != NULL)
        MHD_stop_daemon(server->daemon);
    server->daemon = NULL;
    edge_stop(server->edge);
    server->edge = NULL;
    free(server->tls_cert_pem);
    free(server->tls_key_pem);
    server->tls_cert_pem = NULL;
    server->tls_key_pem = NULL;
}

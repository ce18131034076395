/* The glue between the HTTP layer (net/) and the router; see http.h. A
 * request is handled on the loop thread that owns its connection.
 * Publish, claim and fulfill do not block that thread while their write
 * is committed: the request stays pending, the writer thread resumes it
 * after the commit (net_resume posts it back to its loop), and the answer
 * is sent from there. */
#include "serve/http.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/net.h"
#include "serve/access_log.h"
#include "serve/common_headers.h"
#include "serve/edge.h"
#include "serve/long_poll.h"
#include "serve/offload.h"
#include "serve/router.h"
#include "serve/server.h"
#include "util/clock.h"

#define CONNECTION_LIMIT 4096
/* The head the layer reads at all: past it, 414 or 431 at once. Our own
 * limits (edge.h) are checked on the complete head, below this. */
#define HEAD_HARD_MAX (2 * EDGE_HEAD_MAX + EDGE_URI_MAX)

/* What a request needs past its handler: a write being committed, a
 * parked long-poll, a forwarded address counted. Made only for those. */
struct request_state {
    bool address_counted;  /* address is counted in the edge's table */
    char address[64];      /* behind a proxy: the forwarded client */
    bool parked;           /* counted in server->parked_requests */
    struct waiter *waiter; /* set while a long-poll request is parked */
    /* A write being committed (owned), and what its answer needs. */
    struct bus_call *write;
    struct waiter *then_park; /* owned: a long-poll claim's, if it finds nothing */
    unsigned long park_sequence;
    struct net_request *request;
    double started;
    char who[sizeof((struct principal *)0)->label];
    /* An answer ready but for its nonce (http_response.ready_but_nonce),
     * owned until sent. */
    bool holding;
    struct http_response held;
    /* A request run on the offload thread: its job, and its answer once
     * run (owned until sent). */
    struct offload_job offload_job;
    struct router_offload *offloaded;
    bool offload_over;
    struct http_response offload_answer;
};

static struct request_state *state_of(struct net_request *request)
{
    struct request_state *state = net_request_user(request);
    if (state == NULL && (state = calloc(1, sizeof *state)) != NULL) {
        state->request = request;
        net_request_set_user(request, state);
    }
    return state;
}

static const char *method_of(struct net_request *request)
{
    const char *method = net_request_method(request);
    return method ? method : "-";
}

static const char *path_of(struct net_request *request)
{
    const char *path = net_request_path(request);
    return path ? path : "-";
}

/* ---- answering ---------------------------------------------------------- */

/* The headers every response carries (spec section 9), as one text. */
static char common_text[512];
static size_t common_length;

static void make_common_text(void)
{
    common_length = 0;
    for (size_t i = 0; i < COMMON_HEADER_COUNT; i++)
        common_length +=
            (size_t)snprintf(common_text + common_length, sizeof common_text - common_length,
                             "%s: %s\r\n", common_headers[i][0], common_headers[i][1]);
}

/* Appends "name: value\r\n" to text (size bytes, *length used). */
static void add_header(char *text, size_t size, size_t *length, const char *name, const char *value)
{
    /* As snprintf did, a header that does not fit whole is left out; by
     * hand, as snprintf's format machinery cost more than the copy. */
    size_t name_length = strlen(name), value_length = strlen(value);
    size_t added = name_length + 2 + value_length + 2;
    if (added >= size - *length)
        return;
    char *at = text + *length;
    memcpy(at, name, name_length);
    memcpy(at + name_length, ": ", 2);
    memcpy(at + name_length + 2, value, value_length);
    memcpy(at + name_length + 2 + value_length, "\r\n", 2);
    at[added] = '\0';
    *length += added;
}

static void send_response(struct net_request *request, struct http_response *out)
{
    static const char internal_error_body[] =
        "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}";
    char headers[2048];
    size_t length = common_length;
    memcpy(headers, common_text, common_length);
    const char *body = out->body;
    if (body == NULL && out->status != 204) {
        out->status = 500;
        out->content_type = NULL;
        body = internal_error_body;
    }
    if (out->status != 204)
        add_header(headers, sizeof headers, &length, "Content-Type",
                   out->content_type ? out->content_type : "application/json");
    if (out->retry_after > 0) {
        char seconds[16];
        snprintf(seconds, sizeof seconds, "%u", out->retry_after);
        add_header(headers, sizeof headers, &length, "Retry-After", seconds);
    }
    if (out->allow)
        add_header(headers, sizeof headers, &length, "Allow", out->allow);
    if (out->ask_for_password)
        add_header(headers, sizeof headers, &length, "WWW-Authenticate",
                   "Basic realm=\"Intent Bus admin\", charset=\"UTF-8\"");
    if (out->content_security_policy)
        add_header(headers, sizeof headers, &length, "Content-Security-Policy",
                   out->content_security_policy);
    /* A JSON body ends with a newline, as curl users expect. */
    struct iovec parts[2] = {{(void *)body, body ? strlen(body) : 0}, {"\n", 1}};
    int count = out->status == 204 ? 0 : out->body_is_static && body == out->body ? 1 : 2;
    struct net_response response = {out->status, headers, length, parts, count};
    net_respond(request, &response);
}

/* ---- writes and parked long-polls --------------------------------------- */

/* A long-poll claim whose first attempt found nothing: it stays pending,
 * now for the dispatcher, which answers it through answer_resumed. The
 * request stays counted as parked. False while the server stops (the
 * waiter is gone; answer 204 now). */
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

static void free_held(struct request_state *state)
{
    if (state->holding && !state->held.body_is_static)
        free(state->held.body);
    state->holding = false;
}

/* A committed (or failed) write: its answer, built and sent here, on the
 * connection's thread, and counted with the request's original start. An
 * answer held for its nonce (state->holding) goes out as its handler made
 * it, or the nonce's refusal instead. */
static void answer_written(struct server *server, struct net_request *request,
                           struct request_state *state)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    struct http_response built = {0};
    enum bus_err err = bus_call_finish(state->write, &reply, &error);
    if (err == BUS_ERR_EMPTY && state->then_park != NULL && park_claim(server, state))
        return;
    struct http_response *response = &built;
    if (state->holding && err == BUS_OK) {
        response = &state->held;
    } else {
        response_from_bus(&built, err, &reply, &error);
        if (built.body == NULL && built.status != 204)
            built.status = 500; /* what send_response will send: out of memory */
    }
    router_observe(server, request, method_of(request), path_of(request), response->status,
                   clock_monotonic() - state->started, state->who);
    send_response(request, response);
    free(built.body);
    free_held(state);
}

/* The writer thread's callback: the write is over, so have the request's
 * loop answer it. Every other write waits for this thread, so it does
 * nothing more. */
static void on_write_over(void *context)
{
    struct request_state *state = context;
    net_resume(state->request);
}

/* Takes the answer that waits for its nonce (the write) into state. */
static void hold_answer(struct request_state *state, struct http_response *response)
{
    if (!response->ready_but_nonce)
        return;
    state->held = *response;
    state->held.writing = NULL; /* the state's own (state->write) */
    state->held.then_park = NULL;
    state->held.ready_but_nonce = false;
    state->holding = true;
}

/* A handler left a write to commit: submit it and leave the request
 * pending, so this thread serves other connections meanwhile. While the
 * server drains, the write is made here and now instead. The request is
 * counted before the flag is read, so either the drain waits for it or it
 * sees the drain. */
static void start_write(struct server *server, struct net_request *request,
                        struct http_response *response)
{
    struct request_state *state = state_of(request);
    if (state == NULL) { /* out of memory: commit it here and now */
        struct request_state local = {
            .write = response->writing, .request = request, .started = response->started};
        memcpy(local.who, response->who, sizeof local.who);
        hold_answer(&local, response);
        waiter_free(response->then_park);
        bus_call_run(local.write);
        answer_written(server, request, &local);
        bus_call_free(local.write);
        return;
    }
    hold_answer(state, response);
    state->write = response->writing;
    state->then_park = response->then_park;
    state->park_sequence = response->park_sequence;
    state->started = response->started;
    memcpy(state->who, response->who, sizeof state->who);
    atomic_fetch_add(&server->parked_requests, 1);
    if (atomic_load(&server->draining)) {
        atomic_fetch_sub(&server->parked_requests, 1);
        bus_call_run(state->write);
        answer_written(server, request, state);
        return;
    }
    state->parked = true;
    bus_call_submit(state->write, on_write_over, state);
}

/* A parked long-poll request was resumed: send what the dispatcher put in
 * its waiter (which keeps the body; on_done frees both). */
static void answer_resumed(struct server *server, struct net_request *request,
                           struct request_state *state)
{
    struct http_response *response = waiter_response(state->waiter);
    send_response(request, response);
    router_observe_wait(server, request, method_of(request), path_of(request), response->status,
                        clock_now() - waiter_parked_at(state->waiter), waiter_who(state->waiter));
}

/* ---- the layer's callbacks ---------------------------------------------- */

/* Without a proxy the layer caps connections per peer address; behind
 * one every connection comes from it, and refuse_head counts the
 * forwarded clients instead. */
static bool on_admit(void *context, const char *address)
{
    struct server *server = context;
    if (server->config.trust_proxy)
        return true;
    return edge_address_enter(server->edge, address,
                              (unsigned)server->config.max_connections_per_ip);
}

static void on_release(void *context, const char *address)
{
    struct server *server = context;
    if (!server->config.trust_proxy)
        edge_address_leave(server->edge, address);
}

/* Whether the complete head breaks one of the edge's limits; if so the
 * refusal is in *out. Behind a proxy the forwarded client is counted here
 * (on_done uncounts it). */
static bool refuse_head(struct server *server, struct net_request *request,
                        struct http_response *out)
{
    enum edge_uri_verdict verdict = edge_check_uri(net_request_target(request));
    if (verdict == EDGE_URI_TOO_MANY_PARAMS)
        return response_refuse(out, 414, "uri_too_long", "the query has more than %d parameters",
                               EDGE_QUERY_PARAMS_MAX);
    if (verdict == EDGE_URI_TOO_LONG)
        return response_refuse(out, 414, "uri_too_long", "the request target is over %d bytes",
                               EDGE_URI_MAX);
    size_t bytes = net_request_head_bytes(request) + strlen(net_request_target(request));
    if (net_request_header_count(request) > EDGE_HEADER_FIELDS_MAX || bytes > EDGE_HEAD_MAX)
        return response_refuse(out, 431, "headers_too_large",
                               "at most %d header fields and %d bytes of head",
                               EDGE_HEADER_FIELDS_MAX, EDGE_HEAD_MAX);
    if (!server->config.trust_proxy)
        return false;
    struct request_state *state = state_of(request);
    if (state == NULL)
        return false;
    router_client_address(server, request, state->address, sizeof state->address);
    state->address_counted = edge_address_enter(server->edge, state->address,
                                                (unsigned)server->config.max_connections_per_ip);
    if (state->address_counted)
        return false;
    out->retry_after = 1;
    return response_refuse(out, 429, "too_many_connections",
                           "more than %d requests at once from one address",
                           server->config.max_connections_per_ip);
}

static size_t on_head(void *context, struct net_request *request)
{
    struct server *server = context;
    struct http_response refusal = {0};
    if (refuse_head(server, request, &refusal)) {
        router_observe(server, request, method_of(request), path_of(request), refusal.status, 0,
                       NULL);
        send_response(request, &refusal);
        free(refusal.body);
        return 0;
    }
    return router_body_limit(method_of(request), path_of(request));
}

/* ---- requests run on the offload thread ---------------------------------- */

static void answer(struct server *server, struct net_request *request,
                   struct http_response *response);

/* An offloaded request's answer, counted as router_dispatch counts the
 * others (its write, if it left one, is counted when committed). */
static void answer_offloaded(struct server *server, struct net_request *request,
                             struct http_response *response)
{
    if (response->writing == NULL && response->suspended == NULL)
        router_observe(server, request, method_of(request), path_of(request), response->status,
                       clock_monotonic() - response->started, response->who);
    answer(server, request, response);
}

/* On the offload thread: the request's pipeline, then back to its loop. */
static void run_offloaded(struct offload_job *job)
{
    struct request_state *state =
        (struct request_state *)((char *)job - offsetof(struct request_state, offload_job));
    router_run_offloaded(state->offloaded, &state->offload_answer);
    state->offloaded = NULL;
    state->offload_over = true;
    net_resume(state->request);
}

/* Leaves the request pending while the offload thread runs it, counted
 * as parked so that a drain waits for it; runs it here and now when that
 * cannot be (out of memory, the server draining, the thread stopping). */
static void start_offload(struct server *server, struct net_request *request,
                          struct http_response *response)
{
    struct router_offload *offloaded = response->offloaded;
    response->offloaded = NULL;
    struct request_state *state = state_of(request);
    if (state != NULL) {
        state->offloaded = offloaded;
        state->offload_job.run = run_offloaded;
        state->parked = true;
        atomic_fetch_add(&server->parked_requests, 1);
        if (!atomic_load(&server->draining) && offload_submit(server->offload, &state->offload_job))
            return;
        state->offloaded = NULL;
        state->parked = false;
        atomic_fetch_sub(&server->parked_requests, 1);
    }
    struct http_response here = {0};
    router_run_offloaded(offloaded, &here);
    answer_offloaded(server, request, &here);
}

/* The offload thread ran the request: answer it on its own loop. */
static void resume_offloaded(struct server *server, struct net_request *request,
                             struct request_state *state)
{
    struct http_response response = state->offload_answer;
    state->offload_answer = (struct http_response){0};
    state->offload_over = false;
    state->parked = false;
    atomic_fetch_sub(&server->parked_requests, 1);
    answer_offloaded(server, request, &response);
}

static void on_request(void *context, struct net_request *request)
{
    struct server *server = context;
    size_t size = 0;
    bool too_large = false;
    const char *data = net_request_body(request, &size, &too_large);
    const char *method = method_of(request), *path = path_of(request);
    struct request_body body = {data, size, too_large, router_body_limit(method, path)};
    struct http_response response = {0};
    router_dispatch(server, request, method, path, &body, server->offload != NULL, &response);
    if (response.offloaded != NULL) {
        start_offload(server, request, &response);
        return;
    }
    answer(server, request, &response);
}

/* The answer router_dispatch (or router_run_offloaded) made: a write to
 * commit first, a long-poll to park, or sent now. */
static void answer(struct server *server, struct net_request *request,
                   struct http_response *response)
{
    if (response->writing != NULL) {
        start_write(server, request, response);
        return;
    }
    if (response->suspended != NULL) {
        struct request_state *state = state_of(request);
        if (state != NULL) {
            state->waiter = response->suspended; /* answered when resumed */
            state->parked = true;
            atomic_fetch_add(&server->parked_requests, 1);
            return;
        }
        /* Out of memory: it cannot be found again. The dispatcher will
         * resume a request that is answered by then, which does nothing. */
    }
    send_response(request, response);
    if (!response->body_is_static)
        free(response->body);
}

static void on_resume(void *context, struct net_request *request)
{
    struct request_state *state = net_request_user(request);
    if (state == NULL)
        return;
    if (state->offload_over)
        resume_offloaded(context, request, state);
    else if (state->write != NULL)
        answer_written(context, request, state);
    else if (state->waiter != NULL)
        answer_resumed(context, request, state);
}

static void on_refuse(void *context, struct net_request *request, unsigned status, const char *code,
                      const char *message)
{
    struct http_response refusal = {0};
    response_refuse(&refusal, status, code, "%s", message);
    router_observe(context, request, method_of(request), path_of(request), status, 0, NULL);
    send_response(request, &refusal);
    free(refusal.body);
}

/* The loop is about to wait: out with the access log lines it gathered. */
static void on_before_wait(void *context)
{
    (void)context;
    access_log_flush();
}

static void on_done(void *context, struct net_request *request)
{
    struct server *server = context;
    struct request_state *state = net_request_user(request);
    if (state == NULL)
        return;
    if (state->address_counted)
        edge_address_leave(server->edge, state->address);
    waiter_free(state->waiter);
    waiter_free(state->then_park);
    bus_call_free(state->write);
    free_held(state); /* its client went away before the nonce was in */
    if (state->offload_over && !state->offload_answer.body_is_static)
        free(state->offload_answer.body); /* the server stopped before it was sent */
    if (state->parked)
        atomic_fetch_sub(&server->parked_requests, 1);
    free(state);
    net_request_set_user(request, NULL);
}

/* ---- starting and stopping ---------------------------------------------- */

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

int http_start(struct server *server)
{
    bool tls = server->config.tls_cert[0] != '\0';
    if (tls) {
        server->tls_cert_pem = read_pem(server->config.tls_cert);
        server->tls_key_pem = read_pem(server->config.tls_key);
        if (server->tls_cert_pem == NULL || server->tls_key_pem == NULL)
            return -1;
    }
    make_common_text();
    if ((server->edge = edge_start()) == NULL)
        return -1;
    if ((server->offload = offload_start()) == NULL) {
        fprintf(stderr, "intent-bus: cannot start the offload thread\n");
        edge_stop(server->edge);
        server->edge = NULL;
        return -1;
    }
    struct net_config config = {
        .bind = server->config.bind,
        .port = server->config.port,
        .threads = server->config.threads,
        .connection_limit = CONNECTION_LIMIT,
        .idle_seconds = EDGE_IDLE_SECONDS,
        .head_seconds = server->config.head_timeout,
        .body_seconds = server->config.body_timeout,
        .linger_seconds = EDGE_LINGER_SECONDS,
        .head_max = HEAD_HARD_MAX,
        .tls_cert_pem = tls ? server->tls_cert_pem : NULL,
        .tls_key_pem = tls ? server->tls_key_pem : NULL,
    };
    struct net_callbacks callbacks = {server,    on_admit,  on_release, on_head,       on_request,
                                      on_resume, on_refuse, on_done,    on_before_wait};
    char why[256];
    server->net = net_start(&config, &callbacks, why, sizeof why);
    if (server->net == NULL) {
        offload_stop(server->offload);
        server->offload = NULL;
        edge_stop(server->edge);
        server->edge = NULL;
        fprintf(stderr, "intent-bus: cannot listen on %s:%d: %s\n", server->config.bind,
                server->config.port, why);
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
    return server->net ? net_bound_port(server->net) : (unsigned)server->config.port;
}

void http_stop(struct server *server)
{
    /* First: the requests it still runs are answered by their loops. */
    offload_stop(server->offload);
    server->offload = NULL;
    net_stop(server->net);
    server->net = NULL;
    edge_stop(server->edge);
    server->edge = NULL;
    free(server->tls_cert_pem);
    free(server->tls_key_pem);
    server->tls_cert_pem = NULL;
    server->tls_key_pem = NULL;
}

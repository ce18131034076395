/* A small HTTP/1.1 server: an event loop per thread (epoll), llhttp for
 * parsing, GnuTLS for HTTPS. It knows nothing of the bus: the caller
 * (serve/http.c) gets each request through callbacks and answers it with
 * net_respond, at once or later (net_resume), always on the thread that
 * owns the request's connection. Malformed input never reaches it as a
 * request: the layer asks the caller to word the refusal (on_refuse). */
#ifndef NET_NET_H
#define NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct net_server;
/* One request: valid from on_head until on_done. Its connection handles
 * one request at a time, so pipelined requests wait their turn. */
struct net_request;

struct net_callbacks {
    void *context;
    /* A connection from address (dotted IPv4); false closes it at once. */
    bool (*admit)(void *context, const char *address);
    /* An admitted connection closed. */
    void (*release)(void *context, const char *address);
    /* The head is complete. Returns the largest body the request may
     * carry; or answers it now (net_respond) and the body is not read. */
    size_t (*on_head)(void *context, struct net_request *request);
    /* The body is complete, or past its limit (net_request_body then says
     * so, and the rest is dropped). Answer now, or leave the request
     * pending and net_resume it later. */
    void (*on_request)(void *context, struct net_request *request);
    /* A pending request was resumed (net_resume): answer it, or leave it
     * pending again. */
    void (*on_resume)(void *context, struct net_request *request);
    /* Malformed input: answer request with this refusal (the connection
     * closes after it). request has no method or target if the request
     * line itself was bad. */
    void (*on_refuse)(void *context, struct net_request *request, unsigned status, const char *code,
                      const char *message);
    /* The request is over (answered, or its connection gone): free what
     * the caller attached to it. */
    void (*on_done)(void *context, struct net_request *request);
    /* Optional (NULL for none): the loop's thread is about to wait for
     * events, or is ending. What the caller batches per thread (the
     * access log) goes out here, so nothing is held while a loop idles. */
    void (*before_wait)(void *context);
};

struct net_config {
    const char *bind; /* IPv4 address */
    int port;         /* 0 = any free port (net_bound_port) */
    int threads;
    int connection_limit;
    double idle_seconds;      /* no request line yet (connected or kept alive) */
    double head_seconds;      /* request line seen, head not complete */
    double body_seconds;      /* head complete, body not complete */
    double linger_seconds;    /* answered early: the rest is dropped this long */
    size_t head_max;          /* bytes of head past which it is refused (414/431) */
    const char *tls_cert_pem; /* NULL = plain HTTP */
    const char *tls_key_pem;
};

/* Binds, listens and starts the threads; NULL with a reason in why. */
struct net_server *net_start(const struct net_config *config, const struct net_callbacks *callbacks,
                             char *why, size_t why_size);

unsigned net_bound_port(const struct net_server *server);

/* Stops the threads, closes every connection (on_done for each request
 * still open) and frees the server. */
void net_stop(struct net_server *server);

/* ---- the request -------------------------------------------------------- */

const char *net_request_method(const struct net_request *request); /* NULL before the line */
/* The raw target (path and query), writable: the caller may shorten its
 * query before the first net_request_query. NULL before the line. */
char *net_request_target(struct net_request *request);
/* The path, percent-decoded; a %00 decodes to DEL (0x7f), never to a NUL
 * that would cut the string. */
const char *net_request_path(struct net_request *request);
/* A header's value (name case-insensitive), or NULL. */
const char *net_request_header(const struct net_request *request, const char *name);
/* The head's header fields and their bytes (name, value, ": " and CRLF). */
size_t net_request_header_count(const struct net_request *request);
size_t net_request_head_bytes(const struct net_request *request);
/* A query parameter (decoded as the path, '+' as a space), or NULL. A
 * parameter without '=' has a NULL value. */
const char *net_request_query(struct net_request *request, const char *name);
/* Calls each (key, key length, value or NULL, value length) in order. */
typedef bool net_param_fn(void *context, const char *key, size_t key_size, const char *value,
                          size_t value_size);
void net_request_query_each(struct net_request *request, net_param_fn *each, void *context);
/* The body as received; *too_large when it passed its limit. */
const char *net_request_body(const struct net_request *request, size_t *size, bool *too_large);
const char *net_request_client_address(const struct net_request *request);
/* Whether the client has closed its end while the request is pending (an
 * orderly close or an error; bytes waiting count as alive). Any thread. */
bool net_request_peer_gone(const struct net_request *request);

/* Caller's own pointer, NULL until set. */
void *net_request_user(const struct net_request *request);
void net_request_set_user(struct net_request *request, void *user);

/* ---- answering ---------------------------------------------------------- */

struct net_response {
    unsigned status;
    /* Header lines, each ending in CRLF; the layer adds the status line,
     * Date, Content-Length and Connection. */
    const char *headers;
    size_t headers_length;
    const struct iovec *body; /* its parts, sent one after the other */
    int body_parts;
};

/* Answers the request (on its thread; copies what it needs). With a HEAD
 * request the body is counted, not sent. */
void net_respond(struct net_request *request, const struct net_response *response);

/* From any thread: has on_resume called for the pending request on its
 * own thread. At most one resume is outstanding per request. */
void net_resume(struct net_request *request);

#endif

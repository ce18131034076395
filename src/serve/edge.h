/* The edge: what a hostile client meets before the router. Limits on the
 * request line and head that libmicrohttpd would otherwise enforce with its
 * own HTML answers (or, past its memory pool, with silence), deadlines for
 * slow clients, and the per-address connection cap behind a proxy.
 * docs/SECURITY.md lists every limit. */
#ifndef SERVE_EDGE_H
#define SERVE_EDGE_H

#include <stdbool.h>
#include <stddef.h>

/* The request line's target (path and query), its query parameters, and
 * the head as a whole. All fit libmicrohttpd's per-connection pool
 * (http.c), so a request within them is always answered by us. */
#define EDGE_URI_MAX 4096
#define EDGE_QUERY_PARAMS_MAX 64
#define EDGE_HEADER_FIELDS_MAX 64
#define EDGE_HEAD_MAX 8192

/* Deadlines, in seconds, counted from the start of each phase and never
 * restarted by a trickle of bytes: connected or kept alive with no request
 * line yet; request line seen, head not complete (BUS_HEAD_TIMEOUT_SECONDS);
 * head complete, body not complete (BUS_BODY_TIMEOUT_SECONDS). */
#define EDGE_IDLE_SECONDS 60
#define EDGE_DEFAULT_HEAD_SECONDS 10
#define EDGE_DEFAULT_BODY_SECONDS 30
/* After an answer written while the body still arrives (a chunked body
 * over its limit), the rest is read and dropped this long, so that the
 * client sees the answer before the connection is cut (a cut with unread
 * data is a reset, which may destroy it). */
#define EDGE_LINGER_SECONDS 5

/* 256, not fewer: a host running a fleet of workers (or `intent-bus bench
 * extreme`, about 110 connections) is one address too. */
#define EDGE_DEFAULT_CONNECTIONS_PER_IP 256

/* Where a connection's current request is; each has a deadline but
 * EDGE_BUSY (a request being answered, or parked). EDGE_LINGER: answered
 * early, the rest of its body dropped until the deadline cuts it. */
enum edge_phase { EDGE_IDLE, EDGE_HEAD, EDGE_BODY, EDGE_LINGER, EDGE_BUSY };

/* What is wrong with a request target, or EDGE_URI_OK. */
enum edge_uri_verdict { EDGE_URI_OK, EDGE_URI_TOO_LONG, EDGE_URI_TOO_MANY_PARAMS };

struct edge;
struct edge_connection;

/* Starts the deadline watcher with the head and body deadlines in seconds;
 * NULL when out of memory or threads. */
struct edge *edge_start(double head_seconds, double body_seconds);

/* Stops the watcher and frees what is left (after the daemon stopped). */
void edge_stop(struct edge *edge);

/* A new connection on socket fd, in EDGE_IDLE; NULL when out of memory
 * (the connection then simply has no deadline). */
struct edge_connection *edge_track(struct edge *edge, int fd);

/* The connection is closing: forget it (its socket is still open). */
void edge_untrack(struct edge *edge, struct edge_connection *connection);

/* The connection's request moved to phase; its deadline starts now. */
void edge_enter(struct edge *edge, struct edge_connection *connection, enum edge_phase phase);

/* Checks a raw request target (before libmicrohttpd splits off and decodes
 * the query). With too many parameters the query is emptied in place, so
 * the library does not spend its pool on them before we refuse the
 * request. */
enum edge_uri_verdict edge_check_uri(char *uri);

/* Behind a proxy: counts one more request in flight from address; false
 * (and nothing counted) when that address already has cap of them. */
bool edge_address_enter(struct edge *edge, const char *address, unsigned cap);

/* The request counted by edge_address_enter is over. */
void edge_address_leave(struct edge *edge, const char *address);

#endif

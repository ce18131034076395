/* The edge: what a hostile client meets before the router. Limits on the
 * request line and head, the deadlines for slow clients (kept by net/,
 * set from here) and the per-address connection cap. docs/SECURITY.md
 * lists every limit. */
#ifndef SERVE_EDGE_H
#define SERVE_EDGE_H

#include <stdbool.h>
#include <stddef.h>

/* The request line's target (path and query), its query parameters, and
 * the head as a whole. */
#define EDGE_URI_MAX 4096
#define EDGE_QUERY_PARAMS_MAX 64
#define EDGE_HEADER_FIELDS_MAX 64
#define EDGE_HEAD_MAX 8192

/* Deadlines, in seconds, counted from the start of each phase and never
 * restarted by a trickle of bytes: connected or kept alive with no request
 * line yet; request line seen, head not complete (BUS_HEAD_TIMEOUT_SECONDS);
 * head complete, body not complete (BUS_BODY_TIMEOUT_SECONDS). A request
 * being answered, or parked, has none. */
#define EDGE_IDLE_SECONDS 60
#define EDGE_DEFAULT_HEAD_SECONDS 10
#define EDGE_DEFAULT_BODY_SECONDS 30
/* After an answer given while the body still arrives (a body over its
 * limit) or before a close, the rest is read and dropped this long, so
 * that the client sees the answer before the connection is cut (a cut
 * with unread data is a reset, which may destroy it). */
#define EDGE_LINGER_SECONDS 5

/* 256, not fewer: a host running a fleet of workers (or `intent-bus bench
 * extreme`, about 110 connections) is one address too. */
#define EDGE_DEFAULT_CONNECTIONS_PER_IP 256

/* What is wrong with a request target, or EDGE_URI_OK. */
enum edge_uri_verdict { EDGE_URI_OK, EDGE_URI_TOO_LONG, EDGE_URI_TOO_MANY_PARAMS };

struct edge;

/* The table of per-address counts; NULL when out of memory. */
struct edge *edge_start(void);

/* Frees the table (after the HTTP layer stopped). */
void edge_stop(struct edge *edge);

/* Checks a raw request target (before its query is split and decoded).
 * With too many parameters the query is emptied in place, so that no
 * time is spent on them before the request is refused. */
enum edge_uri_verdict edge_check_uri(char *uri);

/* Counts one more connection (or, behind a proxy, request in flight) from
 * address; false (and nothing counted) when that address already has cap
 * of them. */
bool edge_address_enter(struct edge *edge, const char *address, unsigned cap);

/* The one counted by edge_address_enter is over. */
void edge_address_leave(struct edge *edge, const char *address);

#endif

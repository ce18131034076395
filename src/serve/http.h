/* The glue between the HTTP layer (net/) and the router: starts the
 * server, hands each request to the router, and sends the response with
 * the headers every response carries (spec section 9). */
#ifndef SERVE_HTTP_H
#define SERVE_HTTP_H

struct server;

/* Starts listening per server->config; returns 0, or -1 after printing why.
 * server->net is set on success. */
int http_start(struct server *server);

/* The port actually bound (useful with --port 0). */
unsigned http_bound_port(const struct server *server);

/* Waits (at most timeout seconds) until every long-poll request that was
 * parked and every write that was suspended has been answered, so stopping
 * does not cut those answers off; writes arriving meanwhile are answered
 * without suspending. */
void http_drain_parked(struct server *server, double timeout);

/* Stops accepting, finishes in-flight handlers, closes every connection. */
void http_stop(struct server *server);

#endif

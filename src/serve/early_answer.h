/* An error answer written on a connection's socket by the bus itself, for
 * the one case libmicrohttpd 0.9.75 cannot answer: a chunked body found
 * over its limit while it is still arriving (MHD_queue_response accepts a
 * response only with the head or after the whole body). See http.c. */
#ifndef SERVE_EARLY_ANSWER_H
#define SERVE_EARLY_ANSWER_H

#include <stdbool.h>

/* Writes a complete answer: status and reason, Date, the headers every
 * answer carries, Content-Type: application/json, Connection: close and
 * the JSON body (a newline added), then ends the sending half of socket
 * fd. True when all of it was written; else the socket is shut down both
 * ways, as a half-written answer is worse than none. */
bool early_answer_send(int fd, unsigned status, const char *reason, const char *json_body);

#endif

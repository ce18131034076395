/* An intent event as text, for the nodes of a shared database to pass to
 * each other (PostgreSQL NOTIFY payloads, at most 8000 bytes): JSON, with
 * the id of the node it came from. */
#ifndef STORE_EVENT_WIRE_H
#define STORE_EVENT_WIRE_H

#include <stdbool.h>

#include <jansson.h>

#include "core/event.h"

#define EVENT_NODE_LEN 16 /* hex */

/* A decoded event; its strings point into root. */
struct event_wire {
    char node[EVENT_NODE_LEN + 1];
    struct intent_event event;
    json_t *root;
};

/* The text of event from node (malloc'd), NULL when out of memory. */
char *event_wire_encode(const char *node, const struct intent_event *event);

/* False for text that is not an event of this format (nothing to clear). */
bool event_wire_decode(const char *text, struct event_wire *out);
void event_wire_clear(struct event_wire *wire);

#endif

/* Intent events as text between nodes (event_wire.h). */
#include "store/event_wire.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Optional strings travel as "" when NULL, except namespace_, whose NULL
 * means "attributes unknown" and travels as an absent member. */
static const char *or_empty(const char *text)
{
    return text ? text : "";
}

char *event_wire_encode(const char *node, const struct intent_event *event)
{
    json_t *root = json_pack("{s:s, s:s, s:s, s:f}", "node", node, "kind",
                             event->kind == INTENT_EVENT_SETTLED ? "settled" : "claimable", "id",
                             or_empty(event->id), "due", isfinite(event->due) ? event->due : 0.0);
    if (root == NULL)
        return NULL;
    if (event->kind == INTENT_EVENT_CLAIMABLE && event->namespace_ != NULL) {
        json_t *routing = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:b}", "namespace", event->namespace_, "goal",
            or_empty(event->goal), "publisher", or_empty(event->publisher), "target_worker",
            or_empty(event->target_worker), "required_capability",
            or_empty(event->required_capability), "public", event->is_public);
        if (routing == NULL || json_object_update(root, routing) != 0) {
            json_decref(routing);
            json_decref(root);
            return NULL;
        }
        json_decref(routing);
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static const char *string_member(json_t *root, const char *name)
{
    return json_string_value(json_object_get(root, name));
}

bool event_wire_decode(const char *text, struct event_wire *out)
{
    memset(out, 0, sizeof *out);
    out->root = json_loads(text, 0, NULL);
    const char *node = string_member(out->root, "node");
    const char *kind = string_member(out->root, "kind");
    const char *id = string_member(out->root, "id");
    json_t *due = json_object_get(out->root, "due");
    bool settled = kind != NULL && strcmp(kind, "settled") == 0;
    bool claimable = kind != NULL && strcmp(kind, "claimable") == 0;
    if (node == NULL || strlen(node) != EVENT_NODE_LEN || !(settled || claimable) || id == NULL ||
        !json_is_number(due)) {
        event_wire_clear(out);
        return false;
    }
    snprintf(out->node, sizeof out->node, "%s", node);
    struct intent_event *event = &out->event;
    event->kind = settled ? INTENT_EVENT_SETTLED : INTENT_EVENT_CLAIMABLE;
    event->id = id;
    event->due = json_number_value(due);
    event->namespace_ = string_member(out->root, "namespace");
    event->goal = or_empty(string_member(out->root, "goal"));
    event->publisher = or_empty(string_member(out->root, "publisher"));
    event->target_worker = or_empty(string_member(out->root, "target_worker"));
    event->required_capability = or_empty(string_member(out->root, "required_capability"));
    event->is_public = json_is_true(json_object_get(out->root, "public"));
    return true;
}

void event_wire_clear(struct event_wire *wire)
{
    json_decref(wire->root);
    wire->root = NULL;
}

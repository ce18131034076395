/* What changed, as the long-poll needs to hear it: raised by the bus after
 * a commit, and carried between the nodes that share a database by the
 * store. */
#ifndef CORE_EVENT_H
#define CORE_EVENT_H

#include <stdbool.h>

enum intent_event_kind {
    INTENT_EVENT_CLAIMABLE, /* an intent is, or at `due` will be, claimable */
    INTENT_EVENT_SETTLED,   /* intent `id` reached fulfilled or dead */
};

/* Strings are borrowed for the call. A CLAIMABLE event with a NULL
 * namespace_ means "some intent, attributes unknown" (a retry, a requeue,
 * or events from other nodes that may have been lost). */
struct intent_event {
    enum intent_event_kind kind;
    const char *id;
    const char *namespace_;
    const char *goal;
    const char *publisher;
    const char *target_worker;       /* "" = none */
    const char *required_capability; /* "" = none */
    bool is_public;
    double due;
};

#endif

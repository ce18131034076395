/* Publishes, claims, fulfils and failures per minute over the last day, in
 * a ring of per-minute counters kept by the bus, so the dashboard's charts
 * show history as soon as the page opens (issue 19). In memory: a restart
 * starts them again. */
#ifndef BUS_MINUTE_RING_H
#define BUS_MINUTE_RING_H

#include <pthread.h>
#include <stdatomic.h>

#define MINUTE_RING_SLOTS 1440 /* a day of minutes */

enum minute_counter {
    MINUTE_PUBLISHED,
    MINUTE_CLAIMED,
    MINUTE_FULFILLED,
    MINUTE_FAILED,
    MINUTE_COUNTER_COUNT
};

struct minute_slot {
    atomic_long minute; /* Unix time / 60 this slot counts, -1 = never used */
    atomic_ulong counts[MINUTE_COUNTER_COUNT];
};

struct minute_ring {
    pthread_mutex_t lock; /* only to reuse a slot for a new minute */
    struct minute_slot slots[MINUTE_RING_SLOTS];
};

void minute_ring_init(struct minute_ring *ring);
void minute_ring_destroy(struct minute_ring *ring);

/* Counts one event at Unix time now. ring may be NULL. */
void minute_ring_count(struct minute_ring *ring, enum minute_counter counter, double now);

/* The counts of the `minutes` minutes up to and including now's, oldest
 * first, into out[counter][i]; minutes with nothing counted are 0. */
void minute_ring_read(struct minute_ring *ring, double now, int minutes,
                      unsigned long out[MINUTE_COUNTER_COUNT][MINUTE_RING_SLOTS]);

#endif

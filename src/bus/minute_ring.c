/* Per-minute counters; see minute_ring.h. A slot is reused for a new
 * minute a day after its last one, under the lock; counting in the current
 * minute is one atomic add. */
#include "bus/minute_ring.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

void minute_ring_init(struct minute_ring *ring)
{
    pthread_mutex_init(&ring->lock, NULL);
    for (int i = 0; i < MINUTE_RING_SLOTS; i++) {
        atomic_init(&ring->slots[i].minute, -1);
        for (int c = 0; c < MINUTE_COUNTER_COUNT; c++)
            atomic_init(&ring->slots[i].counts[c], 0);
    }
}

void minute_ring_destroy(struct minute_ring *ring)
{
    pthread_mutex_destroy(&ring->lock);
}

static long minute_of(double now)
{
    return (long)floor(now / 60.0);
}

void minute_ring_count(struct minute_ring *ring, enum minute_counter counter, double now)
{
    if (ring == NULL)
        return;
    long minute = minute_of(now);
    struct minute_slot *slot = &ring->slots[minute % MINUTE_RING_SLOTS];
    if (atomic_load(&slot->minute) != minute) {
        pthread_mutex_lock(&ring->lock);
        if (atomic_load(&slot->minute) < minute) { /* a day old: start it again */
            for (int c = 0; c < MINUTE_COUNTER_COUNT; c++)
                atomic_store(&slot->counts[c], 0);
            atomic_store(&slot->minute, minute);
        }
        pthread_mutex_unlock(&ring->lock);
        if (atomic_load(&slot->minute) != minute)
            return; /* a clock that went back: not worth a count elsewhere */
    }
    atomic_fetch_add_explicit(&slot->counts[counter], 1, memory_order_relaxed);
}

void minute_ring_read(struct minute_ring *ring, double now, int minutes,
                      unsigned long out[MINUTE_COUNTER_COUNT][MINUTE_RING_SLOTS])
{
    long last = minute_of(now);
    if (minutes > MINUTE_RING_SLOTS)
        minutes = MINUTE_RING_SLOTS;
    for (int i = 0; i < minutes; i++) {
        long minute = last - (minutes - 1 - i);
        const struct minute_slot *slot = &ring->slots[minute % MINUTE_RING_SLOTS];
        bool current = atomic_load(&slot->minute) == minute;
        for (int c = 0; c < MINUTE_COUNTER_COUNT; c++)
            out[c][i] = current ? atomic_load(&slot->counts[c]) : 0;
    }
}

/* When the traffic-driven housekeeping is due (spec section 11: cleanup is
 * lazy, triggered by requests, never by a background thread). Two duties:
 * a cheap sweep of leases that expired with no attempts left (every second,
 * so such intents show as dead promptly) and the full cleanup pass (every
 * BUS_CLEANUP_INTERVAL_SECONDS, or 60 s after a failed one). Timing only: the
 * caller does the work and reports back. One of each runs at a time: the
 * work is queued to the writer and ends on its thread, so a slow writer
 * does not collect a queue of sweeps. */
#ifndef BUS_HOUSEKEEPING_H
#define BUS_HOUSEKEEPING_H

#include <pthread.h>
#include <stdbool.h>

#define HOUSEKEEPING_SWEEP_INTERVAL 1.0
#define HOUSEKEEPING_RETRY_AFTER_FAILURE 60.0

struct housekeeping {
    pthread_mutex_t lock;
    double cleanup_interval;
    double next_sweep;
    double next_cleanup;
    bool sweep_running;   /* one sweep at a time */
    bool cleanup_running; /* one pass at a time, whoever triggered it */
    pthread_cond_t idle;  /* signalled when either ends */
};

struct housekeeping_due {
    bool sweep;
    bool cleanup;
};

/* The first request after start runs both duties. */
void housekeeping_init(struct housekeeping *keeping, double cleanup_interval, double now);
void housekeeping_destroy(struct housekeeping *keeping);

/* Which duties the caller must run now; each is handed to one caller only. */
struct housekeeping_due housekeeping_take(struct housekeeping *keeping, double now);

/* Reports that a sweep the caller took is over. */
void housekeeping_sweep_done(struct housekeeping *keeping);

/* Reports how a cleanup pass the caller took ended; now: when it was taken. */
void housekeeping_cleanup_done(struct housekeeping *keeping, bool succeeded, double now);

/* Waits until no duty taken is still running (before what they report
 * into is freed). */
void housekeeping_wait_idle(struct housekeeping *keeping);

#endif

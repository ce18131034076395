/* The scheduler thread: once a second, publishes the schedules' due
 * occurrences through the bus (bus_schedules_tick); its writes go through
 * the store's single writer like any other. */
#ifndef SERVE_SCHEDULER_H
#define SERVE_SCHEDULER_H

struct bus;
struct scheduler;

/* Starts the thread; NULL when it cannot be started. Occurrences that fell
 * due before this call count as missed (the bus was not running). */
struct scheduler *scheduler_start(struct bus *bus);

/* Stops the thread (after the tick in progress) and frees it; NULL is fine. */
void scheduler_stop(struct scheduler *scheduler);

#endif

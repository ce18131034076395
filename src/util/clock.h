/* Wall-clock time as the protocol speaks it: Unix seconds as a double. */
#ifndef UTIL_CLOCK_H
#define UTIL_CLOCK_H

#include <time.h>

/* Seconds since the Unix epoch, with sub-microsecond resolution. */
double clock_now(void);

/* A monotonic clock in seconds, for intervals that must not jump. */
double clock_monotonic(void);

/* The monotonic clock's reading seconds (>= 0) from now, as the deadline
 * of a timed wait on a condition variable whose clock is CLOCK_MONOTONIC
 * (pthread_condattr_setclock). */
struct timespec clock_monotonic_deadline(double seconds);

#endif

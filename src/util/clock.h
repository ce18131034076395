/* Wall-clock time as the protocol speaks it: Unix seconds as a double. */
#ifndef UTIL_CLOCK_H
#define UTIL_CLOCK_H

/* Seconds since the Unix epoch, with sub-microsecond resolution. */
double clock_now(void);

/* A monotonic clock in seconds, for intervals that must not jump. */
double clock_monotonic(void);

#endif

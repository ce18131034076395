/* Clock readings; kept in one place so the rest of the code takes `now` as a
 * parameter and tests can run the store at any time they like. */
#include "util/clock.h"

#include <time.h>

static double read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double clock_now(void) { return read_clock(CLOCK_REALTIME); }

double clock_monotonic(void) { return read_clock(CLOCK_MONOTONIC); }

struct timespec clock_monotonic_deadline(double seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    long nanoseconds = until.tv_nsec + (long)(seconds * 1e9);
    until.tv_sec += nanoseconds / 1000000000L;
    until.tv_nsec = nanoseconds % 1000000000L;
    return until;
}

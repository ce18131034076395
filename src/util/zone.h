/* Named time zones (IANA, from the system's tzdata) for schedules: is a name
 * a zone, and what is the UTC offset of a zone at an instant. glibc has no
 * per-call zone, only the process-wide TZ, so every conversion here happens
 * under one lock with TZ set for it; nothing else in the server uses local
 * time (its logs are UTC), so switching TZ disturbs no one. */
#ifndef UTIL_ZONE_H
#define UTIL_ZONE_H

#include <stdbool.h>
#include <stdint.h>

#define ZONE_NAME_MAX 64

/* Call once before starting threads: makes sure TZ is in the environment,
 * so later switches replace its value in place and never grow the
 * environment under a concurrent getenv(). */
void zone_init(void);

/* Whether name is "UTC" or a zone file of the system's tzdata
 * (/usr/share/zoneinfo, or $TZDIR): 1-64 of A-Z a-z 0-9 / _ + -, no "..". */
bool zone_valid(const char *name);

/* The offset from UTC, in seconds east, of zone `name` at `instant` (Unix
 * seconds); false when the conversion fails. */
bool zone_offset(const char *name, int64_t instant, long *offset);

#endif

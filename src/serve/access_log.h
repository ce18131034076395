/* The structured access log: one logfmt line per request on stderr, with
 * who asked (the key's owner, "main" or "admin") but never a key, a query
 * string or a payload. */
#ifndef SERVE_ACCESS_LOG_H
#define SERVE_ACCESS_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Parses BUS_LOG_LEVEL's value (debug, info, warn, error, off). */
bool log_level_parse(const char *text, enum log_level *out);

/* Writes the line when level allows info (5xx answers are logged at error
 * and shown unless the log is off). path is the path without its query. */
void access_log_write(enum log_level level, const char *client, const char *method,
                      const char *path, unsigned status, double seconds, const char *who);

#endif

/* The structured access log: one logfmt line per request on stderr, with
 * who asked (the key's owner, "main" or "admin") but never a key, a query
 * string or a payload. An HTTP thread gathers its lines and writes them
 * together (access_log_flush); every write is of whole lines. */
#ifndef SERVE_ACCESS_LOG_H
#define SERVE_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* The longest line, its newline included. */
#define ACCESS_LOG_LINE_MAX 1024

/* Parses BUS_LOG_LEVEL's value (debug, info, warn, error, off). */
bool log_level_parse(const char *text, enum log_level *out);

/* Logs the request when level allows info (5xx answers are logged at error
 * and shown unless the log is off). path is the path without its query.
 * On a thread that has called access_log_flush the line is gathered (a 5xx
 * is written at once); on any other it is written at once. */
void access_log_write(enum log_level level, const char *client, const char *method,
                      const char *path, unsigned status, double seconds, const char *who);

/* Writes the lines this thread gathered, and from now on gathers them: a
 * thread calls it before each wait (net's before_wait) and as it ends. */
void access_log_flush(void);

/* The line of a request answered at Unix time now (with its newline; no
 * NUL) into out; returns its length. What access_log_write writes. */
size_t access_log_format(char out[ACCESS_LOG_LINE_MAX], double now, const char *client,
                         const char *method, const char *path, unsigned status, double seconds,
                         const char *who);

#endif

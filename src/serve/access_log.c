/* Access log lines; see access_log.h. One fprintf per line: stdio locks the
 * stream per call, so lines from many threads never interleave. */
#include "serve/access_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

bool log_level_parse(const char *text, enum log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

/* Copies path for a log line: quotes and control bytes become '?', so a
 * crafted URL cannot forge fields or lines. */
static void sanitize(const char *path, char *out, size_t size)
{
    size_t i = 0;
    for (; path[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)path[i];
        out[i] = c < 0x20 || c == 0x7f || c == '"' || c == '\\' ? '?' : (char)c;
    }
    out[i] = '\0';
}

void access_log_write(enum log_level level, const char *client, const char *method,
                      const char *path, unsigned status, double seconds, const char *who)
{
    enum log_level line_level = status >= 500 ? LOG_ERROR : LOG_INFO;
    if (line_level < level)
        return;
    double now = clock_now();
    time_t whole = (time_t)now;
    struct tm utc;
    char stamp[32];
    char safe_path[256];
    char safe_who[80];
    char safe_client[64];
    gmtime_r(&whole, &utc);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    sanitize(path, safe_path, sizeof safe_path);
    sanitize(who, safe_who, sizeof safe_who);
    sanitize(client, safe_client, sizeof safe_client);
    fprintf(stderr,
            "time=%s.%03dZ level=%s msg=request client=\"%s\" method=%s path=\"%s\" status=%u "
            "duration_ms=%.3f who=\"%s\"\n",
            stamp, (int)((now - (double)whole) * 1000), line_level == LOG_ERROR ? "error" : "info",
            safe_client, method, safe_path, status, seconds * 1000.0, safe_who);
}

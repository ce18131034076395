/* Access log lines; see access_log.h. A line is formatted without printf
 * (the date part of its time is made once a second per thread) and
 * gathered in its HTTP thread's buffer, which goes out in one write(2)
 * when it is full, when the thread's loop is about to wait (net's
 * before_wait) and as the loop ends: under load one write carries the
 * lines of many requests, where an fprintf per line cost a write each
 * (docs/BENCHMARKS.md, "Access log without a write per request").
 *
 * Whole lines only: every write is of whole lines and at most PIPE_BUF
 * bytes. POSIX makes such a write to a pipe atomic, so lines of several
 * threads never interleave in a pipe; a unix stream socket (journald's
 * stdout stream) carries a write this small as one message; on a regular
 * file Linux serializes writes to one inode, appending with O_APPEND and
 * sharing the file offset under its lock without (since 3.14). The other
 * loggers on stderr (fprintf of one whole line; stderr is unbuffered, so
 * stdio holds nothing back) write whole lines too, so no line is ever
 * cut by another. What changes is order: a thread's gathered lines may
 * follow a message it printed later; each line carries its time. */
#include "serve/access_log.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/number_text.h"

/* At most PIPE_BUF (4096 on Linux), so one write is atomic on a pipe; a
 * bigger buffer would save little: under load the loop waits, and so
 * flushes, every few requests (docs/BENCHMARKS.md). */
#define BUFFER_SIZE PIPE_BUF
static_assert(BUFFER_SIZE >= 2 * ACCESS_LOG_LINE_MAX, "a few lines per write");

/* The longest fields: sanitized copies are cut to these (with their NUL),
 * as the fprintf of old did; a method is one of llhttp's names. */
#define PATH_MAX_BYTES 256
#define WHO_MAX_BYTES 80
#define CLIENT_MAX_BYTES 64
#define METHOD_MAX_BYTES 32
static_assert(PATH_MAX_BYTES + WHO_MAX_BYTES + CLIENT_MAX_BYTES + METHOD_MAX_BYTES + 200 <
                  ACCESS_LOG_LINE_MAX,
              "every line fits");

struct thread_log {
    bool gathering;      /* the thread calls access_log_flush before it waits */
    size_t used;         /* bytes of whole lines in data */
    time_t stamp_second; /* the second stamp was made for; 0 before the first */
    char stamp[32];      /* "2026-12-03T10:20:30" */
    char data[BUFFER_SIZE];
};

/* Zero-initialized, so it costs no file image; one per thread. */
static _Thread_local struct thread_log thread_log;

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

/* ---- formatting --------------------------------------------------------- */

struct line {
    char *text;
    size_t length;
};

static void put(struct line *line, const char *text, size_t size)
{
    memcpy(line->text + line->length, text, size);
    line->length += size;
}

#define PUT_LITERAL(line, literal) put(line, literal, sizeof(literal) - 1)

/* At most limit - 1 bytes of text; quotes and control bytes become '?',
 * so a crafted URL cannot forge fields or lines. */
static void put_sanitized(struct line *line, const char *text, size_t limit)
{
    for (size_t i = 0; text[i] && i + 1 < limit; i++) {
        unsigned char c = (unsigned char)text[i];
        line->text[line->length++] = c < 0x20 || c == 0x7f || c == '"' || c == '\\' ? '?' : (char)c;
    }
}

/* "%Y-%m-%dT%H:%M:%S.mmmZ" of now, the date and seconds made once a second. */
static void put_time(struct line *line, double now)
{
    time_t whole = (time_t)now;
    if (whole != thread_log.stamp_second) {
        struct tm utc;
        gmtime_r(&whole, &utc);
        strftime(thread_log.stamp, sizeof thread_log.stamp, "%Y-%m-%dT%H:%M:%S", &utc);
        thread_log.stamp_second = whole;
    }
    put(line, thread_log.stamp, strlen(thread_log.stamp));
    unsigned millis = (unsigned)(int)((now - (double)whole) * 1000) % 1000;
    char digits[5] = {'.', (char)('0' + millis / 100), (char)('0' + millis / 10 % 10),
                      (char)('0' + millis % 10), 'Z'};
    put(line, digits, sizeof digits);
}

/* duration_ms's "%.3f" of milliseconds. */
static void put_milliseconds(struct line *line, double seconds)
{
    char text[NUMBER_TEXT_FIXED3_SIZE];
    size_t length = number_text_fixed3(text, seconds * 1000.0);
    if (length == 0) /* infinite or past 2^53: never a real duration */
        length = (size_t)snprintf(text, sizeof text, "%.3f", seconds * 1000.0);
    put(line, text, length < sizeof text ? length : sizeof text - 1);
}

size_t access_log_format(char out[ACCESS_LOG_LINE_MAX], double now, const char *client,
                         const char *method, const char *path, unsigned status, double seconds,
                         const char *who)
{
    struct line line = {out, 0};
    char number[NUMBER_TEXT_INTEGER_SIZE];
    PUT_LITERAL(&line, "time=");
    put_time(&line, now);
    if (status >= 500)
        PUT_LITERAL(&line, " level=error msg=request client=\"");
    else
        PUT_LITERAL(&line, " level=info msg=request client=\"");
    put_sanitized(&line, client, CLIENT_MAX_BYTES);
    PUT_LITERAL(&line, "\" method=");
    put(&line, method, strnlen(method, METHOD_MAX_BYTES));
    PUT_LITERAL(&line, " path=\"");
    put_sanitized(&line, path, PATH_MAX_BYTES);
    PUT_LITERAL(&line, "\" status=");
    size_t number_length = number_text_unsigned(number, status);
    put(&line, number, number_length);
    PUT_LITERAL(&line, " duration_ms=");
    put_milliseconds(&line, seconds);
    PUT_LITERAL(&line, " who=\"");
    put_sanitized(&line, who, WHO_MAX_BYTES);
    PUT_LITERAL(&line, "\"\n");
    assert(line.length <= ACCESS_LOG_LINE_MAX);
    return line.length;
}

/* ---- writing ------------------------------------------------------------ */

/* All of data to stderr: again after a signal or a short write (a full
 * disk's last bytes); a failure loses the lines, never the request. */
static void write_all(const char *data, size_t size)
{
    while (size > 0) {
        ssize_t written = write(STDERR_FILENO, data, size);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return;
        data += written;
        size -= (size_t)written;
    }
}

static void write_gathered(void)
{
    write_all(thread_log.data, thread_log.used);
    thread_log.used = 0;
}

void access_log_flush(void)
{
    thread_log.gathering = true;
    if (thread_log.used > 0)
        write_gathered();
}

void access_log_write(enum log_level level, const char *client, const char *method,
                      const char *path, unsigned status, double seconds, const char *who)
{
    enum log_level line_level = status >= 500 ? LOG_ERROR : LOG_INFO;
    if (line_level < level)
        return;
    double now = clock_now();
    if (!thread_log.gathering) { /* a thread that never flushes: a write per line */
        char line[ACCESS_LOG_LINE_MAX];
        write_all(line, access_log_format(line, now, client, method, path, status, seconds, who));
        return;
    }
    if (sizeof thread_log.data - thread_log.used < ACCESS_LOG_LINE_MAX)
        write_gathered();
    thread_log.used += access_log_format(thread_log.data + thread_log.used, now, client, method,
                                         path, status, seconds, who);
    /* A 5xx goes out at once, with the lines before it: it is what an
     * operator alerts on and what may come just before a crash or a kill
     * that would lose the buffer; it is rare, so it costs nothing. */
    if (line_level == LOG_ERROR)
        write_gathered();
}

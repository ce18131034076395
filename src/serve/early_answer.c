/* See early_answer.h. */
#include "serve/early_answer.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "serve/common_headers.h"

/* Appends to text (of size bytes, *length used); false when it is full. */
static bool append(char *text, size_t size, size_t *length, const char *format, const char *name,
                   const char *value)
{
    int added = snprintf(text + *length, size - *length, format, name, value);
    if (added < 0 || (size_t)added >= size - *length)
        return false;
    *length += (size_t)added;
    return true;
}

bool early_answer_send(int fd, unsigned status, const char *reason, const char *json_body)
{
    char text[1024], status_line[64], date[64], body_length[24];
    size_t length = 0;
    struct tm utc;
    time_t now = time(NULL);
    snprintf(status_line, sizeof status_line, "%u %s", status, reason);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &utc));
    snprintf(body_length, sizeof body_length, "%zu", strlen(json_body) + 1);
    bool fits = append(text, sizeof text, &length, "%s %s\r\n", "HTTP/1.1", status_line) &&
                append(text, sizeof text, &length, "%s: %s\r\n", "Date", date);
    for (size_t i = 0; fits && i < COMMON_HEADER_COUNT; i++)
        fits = append(text, sizeof text, &length, "%s: %s\r\n", common_headers[i][0],
                      common_headers[i][1]);
    fits = fits &&
           append(text, sizeof text, &length, "%s: %s\r\n", "Content-Type", "application/json") &&
           append(text, sizeof text, &length, "%s: %s\r\n", "Connection", "close") &&
           append(text, sizeof text, &length, "%s: %s\r\n\r\n", "Content-Length", body_length) &&
           append(text, sizeof text, &length, "%s%s", json_body, "\n");
    /* Nothing else is in the socket's send buffer (the library sends
     * nothing while a body arrives), so one send takes it all. */
    bool sent = fits && send(fd, text, length, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)length;
    shutdown(fd, sent ? SHUT_WR : SHUT_RDWR);
    return sent;
}

/* Unit tests of serve/access_log: the line made without printf is byte
 * for byte the line of the fprintf it replaced (old_line below, kept
 * here as the reference), and a thread's gathered lines reach stderr
 * whole when it flushes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve/access_log.h"

/* The sanitizer and fprintf format of the access log before 2026-12-03. */
static void old_sanitize(const char *path, char *out, size_t size)
{
    size_t i = 0;
    for (; path[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)path[i];
        out[i] = c < 0x20 || c == 0x7f || c == '"' || c == '\\' ? '?' : (char)c;
    }
    out[i] = '\0';
}

static size_t old_line(char *out, size_t size, double now, const char *client, const char *method,
                       const char *path, unsigned status, double seconds, const char *who)
{
    time_t whole = (time_t)now;
    struct tm utc;
    char stamp[32], safe_path[256], safe_who[80], safe_client[64];
    gmtime_r(&whole, &utc);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    old_sanitize(path, safe_path, sizeof safe_path);
    old_sanitize(who, safe_who, sizeof safe_who);
    old_sanitize(client, safe_client, sizeof safe_client);
    return (size_t)snprintf(
        out, size,
        "time=%s.%03dZ level=%s msg=request client=\"%s\" method=%s path=\"%s\" status=%u "
        "duration_ms=%.3f who=\"%s\"\n",
        stamp, (int)((now - (double)whole) * 1000), status >= 500 ? "error" : "info", safe_client,
        method, safe_path, status, seconds * 1000.0, safe_who);
}

static void assert_same_line(double now, const char *client, const char *method, const char *path,
                             unsigned status, double seconds, const char *who)
{
    char expected[2048], got[ACCESS_LOG_LINE_MAX + 1];
    size_t expected_length =
        old_line(expected, sizeof expected, now, client, method, path, status, seconds, who);
    size_t length = access_log_format(got, now, client, method, path, status, seconds, who);
    got[length] = '\0';
    if (strcmp(got, expected) != 0)
        fail_msg("old:\n%snew:\n%s", expected, got);
    assert_int_equal(length, expected_length);
}

static void lines_are_those_of_the_old_fprintf(void **state)
{
    (void)state;
    char long_path[600], long_who[200], long_client[100], hostile[64];
    memset(long_path, 'p', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    memset(long_who, 'w', sizeof long_who - 1);
    long_who[sizeof long_who - 1] = '\0';
    memset(long_client, '9', sizeof long_client - 1);
    long_client[sizeof long_client - 1] = '\0';
    for (int i = 0; i < (int)sizeof hostile - 1; i++)
        hostile[i] = (char)(i + 1); /* every control byte, quotes, a backslash */
    hostile[sizeof hostile - 1] = '\0';
    double now = 1796284800.0; /* 2026-12-03 */
    assert_same_line(now, "127.0.0.1", "POST", "/intent", 201, 0.000123, "main");
    assert_same_line(now + 0.999, "10.0.0.1", "GET", "/status/0123", 404, 0.0012345, "-");
    assert_same_line(now + 59.0625, "203.0.113.9", "DELETE", "/a\"b\\c\x7f", 500, 2.5, "admin");
    assert_same_line(now + 86399.5, "::1", "GET", "/", 503, 0.0000005, "key \"x\"");
    assert_same_line(now, "127.0.0.1", "-", "-", 400, 0, "-");
    assert_same_line(now, "127.0.0.1", "GET", "/wait", 204, 3600.0, "main");
    assert_same_line(now, long_client, "GET", long_path, 414, 0, long_who);
    assert_same_line(now, hostile, "GET", hostile, 200, 0.001, hostile);
    assert_same_line(now, "127.0.0.1", "GET", "/\xc3\xa9t\xc3\xa9", 200, 0.001, "\xff\xfe");
    assert_same_line(0.5, "127.0.0.1", "GET", "/", 200, 1e-9, "-");
    assert_same_line(4102444799.999, "127.0.0.1", "GET", "/", 200, 1e-9, "-");
    uint64_t seed = 7;
    for (int i = 0; i < 100000; i++) { /* times and durations of any digits */
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        double at = now + (double)(seed >> 40) / 1e3 + (double)(seed >> 54) / 1e7;
        double seconds = (double)(seed % 100000000) / 1e9;
        assert_same_line(at, "127.0.0.1", "POST", "/fulfill/x", (unsigned)(seed % 600), seconds,
                         "main");
    }
}

/* Gathered lines reach stderr only at a flush (or a 5xx), whole and in order. */
static void gathered_lines_go_out_whole_at_a_flush(void **state)
{
    (void)state;
    int pipe_ends[2];
    assert_int_equal(pipe(pipe_ends), 0);
    int saved = dup(STDERR_FILENO);
    dup2(pipe_ends[1], STDERR_FILENO);
    access_log_flush(); /* this thread now gathers */
    access_log_write(LOG_INFO, "127.0.0.1", "GET", "/one", 200, 0.001, "-");
    access_log_write(LOG_INFO, "127.0.0.1", "GET", "/two", 200, 0.001, "-");
    access_log_write(LOG_ERROR, "127.0.0.1", "GET", "/hidden", 200, 0.001, "-");
    char text[8192];
    fcntl(pipe_ends[0], F_SETFL, O_NONBLOCK);
    ssize_t got = read(pipe_ends[0], text, sizeof text); /* nothing written yet */
    assert_int_equal(got, -1);
    assert_int_equal(errno, EAGAIN);
    access_log_flush();
    access_log_write(LOG_INFO, "127.0.0.1", "GET", "/three", 503, 0.001, "-"); /* at once */
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(pipe_ends[1]);
    size_t length = 0;
    while ((got = read(pipe_ends[0], text + length, sizeof text - 1 - length)) > 0)
        length += (size_t)got;
    text[length] = '\0';
    close(pipe_ends[0]);
    const char *one = strstr(text, "path=\"/one\""), *two = strstr(text, "path=\"/two\"");
    const char *three = strstr(text, "path=\"/three\" status=503");
    assert_true(one != NULL && two != NULL && three != NULL && one < two && two < three);
    assert_null(strstr(text, "/hidden"));
    int lines = 0;
    for (size_t i = 0; i < length; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 3);
    assert_int_equal(text[length - 1], '\n');
}

/* A full buffer is written before the line that would not fit, so no
 * line is lost or cut however many come between flushes. */
static void many_lines_between_flushes_all_arrive(void **state)
{
    (void)state;
    FILE *file = tmpfile();
    assert_non_null(file);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(file), STDERR_FILENO);
    access_log_flush();
    char path[64];
    for (int i = 0; i < 500; i++) {
        snprintf(path, sizeof path, "/many/%d", i);
        access_log_write(LOG_INFO, "127.0.0.1", "GET", path, 200, 0.001, "main");
    }
    access_log_flush();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(file);
    char line[ACCESS_LOG_LINE_MAX + 1], expected[64];
    int count = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        snprintf(expected, sizeof expected, "path=\"/many/%d\" status=200", count);
        assert_non_null(strstr(line, expected));
        assert_int_equal(line[strlen(line) - 1], '\n');
        count++;
    }
    assert_int_equal(count, 500);
    fclose(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lines_are_those_of_the_old_fprintf),
        cmocka_unit_test(gathered_lines_go_out_whole_at_a_flush),
        cmocka_unit_test(many_lines_between_flushes_all_arrive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

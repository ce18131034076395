/* Tests net/ (the HTTP/1.1 server) through a socket, with callbacks of its
 * own: what the bus's HTTP tests cannot reach or cannot pin down (a resume
 * from another thread ahead of a pipelined request, decoding, early
 * answers, refusals of malformed input). */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/net.h"

static int done_count, open_count; /* requests over; connections admitted, not released */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;

static bool admit(void *context, const char *address)
{
    (void)context;
    if (strcmp(address, "127.0.0.1") != 0)
        return false;
    pthread_mutex_lock(&done_lock);
    open_count++;
    pthread_mutex_unlock(&done_lock);
    return true;
}

static void release(void *context, const char *address)
{
    (void)context;
    (void)address;
    pthread_mutex_lock(&done_lock);
    open_count--;
    pthread_mutex_unlock(&done_lock);
}

static int connections_open(void)
{
    pthread_mutex_lock(&done_lock);
    int count = open_count;
    pthread_mutex_unlock(&done_lock);
    return count;
}

static size_t on_head(void *context, struct net_request *request)
{
    (void)context;
    (void)request;
    return 16;
}

/* Answers given on each loop thread since its last before_wait, and in
 * all; and the answers before_wait has seen. */
static _Thread_local int answered_here;
static int answered, answers_seen;
static pthread_mutex_t answers_lock = PTHREAD_MUTEX_INITIALIZER;

static void before_wait(void *context)
{
    (void)context;
    pthread_mutex_lock(&answers_lock);
    answers_seen += answered_here;
    answered_here = 0;
    pthread_mutex_unlock(&answers_lock);
}

static void respond_text(struct net_request *request, unsigned status, const char *text)
{
    answered_here++;
    pthread_mutex_lock(&answers_lock);
    answered++;
    pthread_mutex_unlock(&answers_lock);
    static const char headers[] = "Content-Type: text/plain\r\n";
    struct iovec body = {(void *)text, strlen(text)};
    struct net_response response = {status, headers, sizeof headers - 1, &body, 1};
    net_respond(request, &response);
}

static void pause_ms(long milliseconds)
{
    struct timespec pause = {0, milliseconds * 1000 * 1000};
    nanosleep(&pause, NULL);
}

static void *resume_later(void *context)
{
    pause_ms(50);
    net_resume(context);
    return NULL;
}

/* "/later" is answered from another thread; anything else at once, with
 * what the layer made of the request. */
static void on_request(void *context, struct net_request *request)
{
    (void)context;
    char text[256];
    size_t size = 0;
    bool too_large = false;
    const char *body = net_request_body(request, &size, &too_large);
    if (too_large) {
        respond_text(request, 413, "too large");
        return;
    }
    if (strcmp(net_request_path(request), "/later") == 0) {
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, resume_later, request), 0);
        pthread_detach(thread);
        return;
    }
    const char *a = net_request_query(request, "a");
    snprintf(text, sizeof text, "%s %s a=%s body=%.*s", net_request_method(request),
             net_request_path(request), a ? a : "(none)", (int)size, body);
    respond_text(request, 200, text);
}

static void on_resume(void *context, struct net_request *request)
{
    (void)context;
    respond_text(request, 200, "resumed");
}

static void on_refuse(void *context, struct net_request *request, unsigned status, const char *code,
                      const char *message)
{
    (void)context;
    (void)message;
    respond_text(request, status, code);
}

static void on_done(void *context, struct net_request *request)
{
    (void)context;
    (void)request;
    pthread_mutex_lock(&done_lock);
    done_count++;
    pthread_mutex_unlock(&done_lock);
}

static int start(void **state)
{
    struct net_config config = {.bind = "127.0.0.1",
                                .port = 0,
                                .threads = 2,
                                .connection_limit = 64,
                                .idle_seconds = 5,
                                .head_seconds = 5,
                                .body_seconds = 5,
                                .linger_seconds = 1,
                                .head_max = 4096};
    struct net_callbacks callbacks = {NULL,      admit,     release, on_head,    on_request,
                                      on_resume, on_refuse, on_done, before_wait};
    char why[128];
    *state = net_start(&config, &callbacks, why, sizeof why);
    return *state ? 0 : -1;
}

static int stop(void **state)
{
    net_stop(*state);
    return 0;
}

static int connect_to_server(void **state)
{
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)net_bound_port(*state))};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof address), 0);
    return fd;
}

/* Sends request, half-closes, and reads everything until the server closes. */
static char *exchange(void **state, const char *request)
{
    int fd = connect_to_server(state);
    assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
    shutdown(fd, SHUT_WR);
    static char answer[8192];
    size_t length = 0;
    ssize_t got;
    while ((got = recv(fd, answer + length, sizeof answer - 1 - length, 0)) > 0)
        length += (size_t)got;
    answer[length] = '\0';
    close(fd);
    return answer;
}

static void test_pipelined_requests_answered_in_order(void **state)
{
    char *answer = exchange(state, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
                                   "GET /now?a=1+2%41&b HTTP/1.1\r\nHost: x\r\n"
                                   "Connection: close\r\n\r\n");
    char *first = strstr(answer, "resumed");
    char *second = strstr(answer, "GET /now a=1 2A body=");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
    assert_non_null(strstr(answer, "Connection: close\r\n"));
}

static void test_chunked_body_gathered(void **state)
{
    char *answer = exchange(state, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n"
                                   "5\r\nhello\r\n2\r\n!!\r\n0\r\n\r\n");
    assert_non_null(strstr(answer, "POST /echo a=(none) body=hello!!"));
}

static void test_nul_escape_decodes_to_del(void **state)
{
    char *answer = exchange(state, "GET /x%00y?a=%00 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_non_null(strstr(answer, "GET /x\x7fy a=\x7f body="));
}

static void test_declared_body_over_limit_answered_early(void **state)
{
    char *answer = exchange(state, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    assert_memory_equal(answer, "HTTP/1.1 413 ", 13);
    assert_non_null(strstr(answer, "Connection: close\r\n"));
}

static void test_chunked_body_over_limit_answered_early(void **state)
{
    char *answer = exchange(state, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n20\r\n"
                                   "0123456789abcdef0123456789abcdef\r\n");
    assert_memory_equal(answer, "HTTP/1.1 413 ", 13);
}

static void test_malformed_input_refused(void **state)
{
    assert_non_null(strstr(exchange(state, "GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
                           "HTTP/1.1 505 HTTP Version Not Supported\r\n"));
    assert_non_null(
        strstr(exchange(state, "GET / HTTP/9.9\r\n\r\n"), "http_version_not_supported"));
    assert_non_null(strstr(exchange(state, "GET /\r\n\r\n"), "HTTP/1.1 400 "));
    assert_non_null(strstr(exchange(state, "GET / HTTP/1.1\r\nNoColon\r\n\r\n"), "bad_request"));
    assert_non_null(strstr(exchange(state, "POST / HTTP/1.1\r\nContent-Length: 1\r\n"
                                           "Content-Length: 2\r\n\r\n"),
                           "invalid_request"));
    assert_non_null(
        strstr(exchange(state, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"), "HTTP/1.1 400 "));
}

static void test_head_past_its_limit_refused(void **state)
{
    char request[6000];
    snprintf(request, sizeof request, "GET /%05000d HTTP/1.1\r\n\r\n", 0);
    assert_non_null(strstr(exchange(state, request), "uri_too_long"));
    snprintf(request, sizeof request, "GET / HTTP/1.1\r\nX: %05000d\r\n\r\n", 0);
    assert_non_null(strstr(exchange(state, request), "headers_too_large"));
}

static void test_http_1_0_closes_unless_kept_alive(void **state)
{
    char *answer = exchange(state, "GET /a HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(answer, "Connection: close\r\n"));
    answer = exchange(state, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_non_null(strstr(answer, "Connection: keep-alive\r\n"));
}

static void test_head_request_has_no_body(void **state)
{
    char *answer = exchange(state, "HEAD /a HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(answer, "Content-Length: 22\r\n"));
    assert_null(strstr(answer, "body="));
}

/* Each loop calls before_wait on its own thread before it waits again,
 * so what it batched per thread for an answer goes out while it idles. */
static void test_before_wait_follows_every_answer(void **state)
{
    char *answer = exchange(state, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
                                   "GET /now HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(answer, "resumed"));
    bool caught_up = false;
    for (int i = 0; i < 500 && !caught_up; i++) { /* 5 s at most */
        pthread_mutex_lock(&answers_lock);
        caught_up = answered > 0 && answers_seen == answered;
        pthread_mutex_unlock(&answers_lock);
        pause_ms(10);
    }
    assert_true(caught_up);
}

/* A child forked while the server holds a connection shares its socket:
 * the server's close then leaves the socket open, and a close alone would
 * leave it in the loop's epoll set too. Bytes that reach it afterwards
 * must not wake the loop for the freed connection (ASan sees that, in
 * make asan), and the server goes on serving. */
static void test_closed_connection_leaves_the_epoll_set(void **state)
{
    static const char request[] = "GET /one HTTP/1.1\r\nConnection: close\r\n\r\n";
    static const char more[] = "GET / HTTP/1.1\r\n\r\n";
    int fd = connect_to_server(state);
    assert_int_equal(send(fd, request, sizeof request - 1, 0), (ssize_t)(sizeof request - 1));
    char answer[1024];
    while (recv(fd, answer, sizeof answer, 0) > 0)
        ; /* answered and shut: the server lingers until its deadline */
    int hold[2];
    assert_int_equal(pipe(hold), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) { /* holds every descriptor until the pipe closes */
        char byte;
        close(hold[1]);
        ssize_t got = read(hold[0], &byte, 1);
        _exit(got < 0);
    }
    close(hold[0]);
    /* Ours is the last open (earlier tests' close once their clients do). */
    for (int i = 0; i < 500 && connections_open() > 0; i++) /* 5 s at most */
        pause_ms(10);
    assert_int_equal(connections_open(), 0);
    /* To the socket the child keeps open. */
    assert_int_equal(send(fd, more, sizeof more - 1, MSG_NOSIGNAL), (ssize_t)(sizeof more - 1));
    char *second = exchange(state, "GET /two HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(second, "GET /two"));
    close(fd);
    close(hold[1]);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_requests_answered_in_order),
        cmocka_unit_test(test_chunked_body_gathered),
        cmocka_unit_test(test_nul_escape_decodes_to_del),
        cmocka_unit_test(test_declared_body_over_limit_answered_early),
        cmocka_unit_test(test_chunked_body_over_limit_answered_early),
        cmocka_unit_test(test_malformed_input_refused),
        cmocka_unit_test(test_head_past_its_limit_refused),
        cmocka_unit_test(test_http_1_0_closes_unless_kept_alive),
        cmocka_unit_test(test_head_request_has_no_body),
        cmocka_unit_test(test_before_wait_follows_every_answer),
        cmocka_unit_test(test_closed_connection_leaves_the_epoll_set),
    };
    return cmocka_run_group_tests(tests, start, stop);
}

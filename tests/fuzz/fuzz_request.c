/* Fuzzes the HTTP layer (net/): each input is sent as a client would, on
 * a fresh connection to a server in this process, and read back until the
 * server closes. The sanitizers watch the server's threads; the harness
 * checks that something was answered to whatever began a request, and
 * that the connection was closed (the input ends with a half-close). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "net/net.h"

static struct net_server *server;

static bool admit(void *context, const char *address)
{
    (void)context;
    (void)address;
    return true;
}

static void release(void *context, const char *address)
{
    (void)context;
    (void)address;
}

static size_t on_head(void *context, struct net_request *request)
{
    (void)context;
    /* What the glue reads of every head. */
    (void)net_request_header(request, "Content-Type");
    (void)net_request_header_count(request);
    (void)net_request_head_bytes(request);
    return 64;
}

static void respond(struct net_request *request, unsigned status, const char *text)
{
    struct iovec body = {(void *)text, strlen(text)};
    struct net_response response = {status, "", 0, &body, 1};
    net_respond(request, &response);
}

static bool visit(void *context, const char *key, size_t key_size, const char *value,
                  size_t value_size)
{
    size_t *total = context;
    *total += key_size + (value ? value_size : 0) + strlen(key);
    return true;
}

static void on_request(void *context, struct net_request *request)
{
    (void)context;
    size_t size = 0, total = 0;
    bool too_large = false;
    (void)net_request_body(request, &size, &too_large);
    (void)net_request_path(request);
    (void)net_request_query(request, "a");
    net_request_query_each(request, visit, &total);
    respond(request, too_large ? 413 : 200, "{}");
}

static void on_resume(void *context, struct net_request *request)
{
    (void)context;
    respond(request, 200, "{}");
}

static void on_refuse(void *context, struct net_request *request, unsigned status, const char *code,
                      const char *message)
{
    (void)context;
    (void)message;
    respond(request, status, code);
}

static void on_done(void *context, struct net_request *request)
{
    (void)context;
    (void)request;
}

static void start_server(void)
{
    struct net_config config = {.bind = "127.0.0.1",
                                .port = 0,
                                .threads = 1,
                                .connection_limit = 64,
                                .idle_seconds = 2,
                                .head_seconds = 2,
                                .body_seconds = 2,
                                .linger_seconds = 1,
                                .head_max = 2048};
    struct net_callbacks callbacks = {NULL,      admit,     release, on_head, on_request,
                                      on_resume, on_refuse, on_done, NULL};
    char why[128];
    server = net_start(&config, &callbacks, why, sizeof why);
    if (server == NULL) {
        fprintf(stderr, "fuzz_request: %s\n", why);
        abort();
    }
}

/* connect, through libFuzzer's timer signal: an interrupted connect goes
 * on by itself, and is over once the socket is writable. */
static bool connect_to(int fd, const struct sockaddr_in *address)
{
    if (connect(fd, (const struct sockaddr *)address, sizeof *address) == 0)
        return true;
    if (errno != EINTR)
        return false;
    struct pollfd wait = {.fd = fd, .events = POLLOUT};
    while (poll(&wait, 1, 5000) < 0 && errno == EINTR)
        ;
    int error = 0;
    socklen_t size = sizeof error;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, start_server);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)net_bound_port(server))};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval timeout = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (fd < 0 || !connect_to(fd, &address))
        abort();
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the server closed early (a refusal): fine */
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    char answer[4096];
    size_t length = 0;
    ssize_t got;
    /* libFuzzer's timer interrupts a blocked recv now and then. */
    while ((got = recv(fd, answer + length, sizeof answer - 1 - length, 0)) > 0 ||
           (got < 0 && errno == EINTR))
        length = (length + (size_t)(got > 0 ? got : 0)) % (sizeof answer - 1);
    /* -1 here is the receive timeout: the server never closed. A reset
     * (a close with unread bytes) is allowed. */
    if (got < 0 && errno != ECONNRESET) {
        fprintf(stderr, "fuzz_request: no close from the server (%s)\n", strerror(errno));
        abort();
    }
    close(fd);
    return 0;
}

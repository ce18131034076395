/* The event loops: one thread per loop, each with its own epoll set and
 * its own connections. They share one listening socket, each waiting on it
 * with EPOLLEXCLUSIVE, so a new connection wakes one loop, which keeps it
 * for good. Another thread hands a loop work (net_resume) through its
 * mailbox: a locked list and an eventfd, drained whole at each wake.
 * Deadlines are checked by a sweep of the loop's connections once a
 * second (their granularity), which also bounds the epoll_wait timeout:
 * four sweeps a second doubled the CPU of 1,000 parked long-polls. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net_internal.h"
#include "util/thread_name.h"

#define SWEEP_SECONDS 1.0
#define EVENTS_PER_WAIT 64
#define ACCEPTS_PER_WAKE 16

/* epoll_event.data.ptr of the two descriptors that are not connections. */
static char listener_tag, wake_tag;

double net_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

const char *net_date(struct net_loop *loop)
{
    time_t now = time(NULL);
    if ((long)now != loop->date_second) {
        struct tm utc;
        strftime(loop->date, sizeof loop->date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &utc));
        loop->date_second = (long)now;
    }
    return loop->date;
}

void net_want_write(struct net_connection *connection, bool want)
{
    if (connection->want_write == want)
        return;
    struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (want ? EPOLLOUT : 0),
                                .data.ptr = connection};
    epoll_ctl(connection->loop->epoll, EPOLL_CTL_MOD, connection->fd, &event);
    connection->want_write = want;
}

void net_enter(struct net_connection *connection, enum net_phase phase)
{
    const struct net_config *config = &connection->loop->server->config;
    double now = net_now();
    connection->phase = phase;
    switch (phase) {
    case NET_IDLE:
        connection->deadline = now + config->idle_seconds;
        break;
    case NET_HEAD:
        connection->deadline = now + config->head_seconds;
        break;
    case NET_BODY:
        connection->deadline = now + config->body_seconds;
        break;
    case NET_LINGER:
        connection->deadline = now + config->linger_seconds;
        break;
    case NET_BUSY:
        connection->deadline = 0;
        break;
    }
}

/* ---- connections -------------------------------------------------------- */

static void take_connection(struct net_loop *loop, int fd, const struct sockaddr_in *peer)
{
    struct net_server *server = loop->server;
    char address[64] = "-";
    if (peer->sin_family == AF_INET)
        inet_ntop(AF_INET, &peer->sin_addr, address, sizeof address);
    if (atomic_fetch_add(&server->connection_count, 1) >= server->config.connection_limit ||
        !server->callbacks.admit(server->callbacks.context, address)) {
        atomic_fetch_sub(&server->connection_count, 1);
        close(fd);
        return;
    }
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    struct net_connection *connection = net_connection_new(loop, fd, address);
    if (connection == NULL) {
        server->callbacks.release(server->callbacks.context, address);
        atomic_fetch_sub(&server->connection_count, 1);
        close(fd);
        return;
    }
    struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = connection};
    if (epoll_ctl(loop->epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
        net_connection_close(connection);
        return;
    }
    connection->next = loop->connections;
    if (loop->connections != NULL)
        loop->connections->previous = connection;
    loop->connections = connection;
    /* Data may have come with the connection: an edge already passed. */
    net_connection_event(connection, EPOLLIN);
}

static void accept_some(struct net_loop *loop)
{
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        struct sockaddr_in peer = {0};
        socklen_t size = sizeof peer;
        int fd = accept4(loop->server->listener, (struct sockaddr *)&peer, &size,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN: another loop took it, or none left */
        take_connection(loop, fd, &peer);
    }
}

/* Called by connection.c once a connection is closed, to unlink it. */
void net_loop_forget(struct net_loop *loop, struct net_connection *connection)
{
    if (connection->previous != NULL)
        connection->previous->next = connection->next;
    else if (loop->connections == connection)
        loop->connections = connection->next;
    if (connection->next != NULL)
        connection->next->previous = connection->previous;
    connection->previous = connection->next = NULL;
    atomic_fetch_sub(&loop->server->connection_count, 1);
}

static void sweep(struct net_loop *loop, double now)
{
    for (struct net_connection *each = loop->connections; each;) {
        struct net_connection *next = each->next;
        if (each->deadline > 0 && each->deadline <= now)
            net_connection_expire(each);
        each = next;
    }
}

/* ---- the mailbox -------------------------------------------------------- */

void net_resume(struct net_request *request)
{
    struct net_loop *loop = request->connection->loop;
    pthread_mutex_lock(&loop->lock);
    assert(!request->resume_queued); /* one resume at a time (net.h) */
    request->resume_queued = true;
    request->next_resumed = loop->resumed;
    loop->resumed = request;
    bool wake = !loop->wake_pending;
    loop->wake_pending = true;
    pthread_mutex_unlock(&loop->lock);
    if (wake) {
        uint64_t one = 1;
        ssize_t written = write(loop->wake, &one, sizeof one);
        (void)written; /* the counter cannot overflow: it is read each wake */
    }
}

/* Runs every resumption posted since the last wake, oldest first. */
static void drain_mailbox(struct net_loop *loop)
{
    uint64_t count;
    ssize_t got = read(loop->wake, &count, sizeof count);
    (void)got;
    pthread_mutex_lock(&loop->lock);
    struct net_request *list = loop->resumed;
    loop->resumed = NULL;
    loop->wake_pending = false;
    pthread_mutex_unlock(&loop->lock);
    struct net_request *oldest_first = NULL;
    while (list != NULL) {
        struct net_request *next = list->next_resumed;
        list->next_resumed = oldest_first;
        oldest_first = list;
        list = next;
    }
    while (oldest_first != NULL) {
        struct net_request *request = oldest_first;
        oldest_first = request->next_resumed;
        request->next_resumed = NULL;
        request->resume_queued = false;
        net_connection_resumed(request->connection);
    }
}

/* ---- the thread --------------------------------------------------------- */

static int wait_timeout(const struct net_loop *loop, double now)
{
    double wait = loop->next_sweep - now;
    return wait <= 0 ? 0 : (int)(wait * 1000) + 1;
}

static void before_wait(const struct net_server *server)
{
    if (server->callbacks.before_wait != NULL)
        server->callbacks.before_wait(server->callbacks.context);
}

static void *run(void *context)
{
    struct net_loop *loop = context;
    thread_name_set("bus-http", (int)(loop - loop->server->loops));
    struct epoll_event events[EVENTS_PER_WAIT];
    loop->next_sweep = net_now() + SWEEP_SECONDS;
    while (!atomic_load(&loop->server->stopping)) {
        before_wait(loop->server);
        int count = epoll_wait(loop->epoll, events, EVENTS_PER_WAIT, wait_timeout(loop, net_now()));
        for (int i = 0; i < count; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &listener_tag)
                accept_some(loop);
            else if (tag == &wake_tag)
                drain_mailbox(loop);
            else
                net_connection_event(tag, events[i].events);
        }
        double now = net_now();
        if (now >= loop->next_sweep) {
            sweep(loop, now);
            loop->next_sweep = now + SWEEP_SECONDS;
        }
    }
    while (loop->connections != NULL)
        net_connection_close(loop->connections);
    before_wait(loop->server); /* the thread's last chance */
    return NULL;
}

static bool open_loop(struct net_server *server, struct net_loop *loop)
{
    loop->server = server;
    loop->epoll = epoll_create1(EPOLL_CLOEXEC);
    loop->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&loop->lock, NULL);
    loop->date_second = -1;
    if (loop->epoll < 0 || loop->wake < 0)
        return false;
    struct epoll_event listen_event = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                                       .data.ptr = &listener_tag};
    struct epoll_event wake_event = {.events = EPOLLIN, .data.ptr = &wake_tag};
    return epoll_ctl(loop->epoll, EPOLL_CTL_ADD, server->listener, &listen_event) == 0 &&
           epoll_ctl(loop->epoll, EPOLL_CTL_ADD, loop->wake, &wake_event) == 0;
}

static void close_loop(struct net_loop *loop)
{
    if (loop->epoll >= 0)
        close(loop->epoll);
    if (loop->wake >= 0)
        close(loop->wake);
    pthread_mutex_destroy(&loop->lock);
}

/* The listening socket. No SO_REUSEPORT: a second server on the port must
 * fail ("address already in use"), not share it and split the clients. */
static int listen_on(const struct net_config *config, unsigned *port, char *why, size_t why_size)
{
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)config->port)};
    if (inet_pton(AF_INET, config->bind, &address.sin_addr) != 1) {
        snprintf(why, why_size, "not an IPv4 address: '%s'", config->bind);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int yes = 1;
    socklen_t size = sizeof address;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0 ||
        bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &size) != 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        why[0] = (char)(why[0] >= 'A' && why[0] <= 'Z' ? why[0] - 'A' + 'a' : why[0]);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(address.sin_port);
    return fd;
}

static void wake_loop(struct net_loop *loop)
{
    uint64_t one = 1;
    ssize_t written = write(loop->wake, &one, sizeof one);
    (void)written;
}

static void free_server(struct net_server *server, int opened)
{
    for (int i = 0; i < opened; i++)
        close_loop(&server->loops[i]);
    if (server->listener >= 0)
        close(server->listener);
    net_tls_teardown(server);
    free(server->loops);
    free(server);
}

struct net_server *net_start(const struct net_config *config, const struct net_callbacks *callbacks,
                             char *why, size_t why_size)
{
    struct net_server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    server->config = *config;
    server->callbacks = *callbacks;
    server->loop_count = config->threads > 0 ? config->threads : 1;
    server->listener = listen_on(config, &server->port, why, why_size);
    server->loops = calloc((size_t)server->loop_count, sizeof *server->loops);
    if (server->listener < 0 || server->loops == NULL ||
        (config->tls_cert_pem != NULL && !net_tls_setup(server, why, why_size))) {
        if (server->loops == NULL)
            snprintf(why, why_size, "out of memory");
        free_server(server, 0);
        return NULL;
    }
    int opened = 0;
    while (opened < server->loop_count && open_loop(server, &server->loops[opened]))
        opened++;
    int started = 0;
    while (opened == server->loop_count && started < server->loop_count &&
           pthread_create(&server->loops[started].thread, NULL, run, &server->loops[started]) == 0)
        started++;
    if (started < server->loop_count) {
        snprintf(why, why_size, "cannot start the HTTP threads");
        atomic_store(&server->stopping, true);
        for (int i = 0; i < started; i++) {
            wake_loop(&server->loops[i]);
            pthread_join(server->loops[i].thread, NULL);
        }
        free_server(server, opened < server->loop_count ? opened + 1 : opened);
        return NULL;
    }
    return server;
}

unsigned net_bound_port(const struct net_server *server)
{
    return server->port;
}

void net_stop(struct net_server *server)
{
    if (server == NULL)
        return;
    atomic_store(&server->stopping, true);
    for (int i = 0; i < server->loop_count; i++)
        wake_loop(&server->loops[i]);
    for (int i = 0; i < server->loop_count; i++)
        pthread_join(server->loops[i].thread, NULL);
    free_server(server, server->loop_count);
}

/* The bench's event loop; see bench_loop.h. libcurl tells us, through the
 * socket and timer callbacks, which sockets to watch and when to call it
 * back; curl_multi_socket_action then only touches the transfers whose
 * socket moved, where curl_multi_perform would look at every handle. */
#include "bench/bench_loop.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

#define EVENTS_PER_WAIT 64
#define LONGEST_WAIT 1.0 /* seconds; nothing needs it, it only bounds a wait */

static bool multi_ok(struct bench_loop *loop, CURLMcode code, const char *what)
{
    if (code == CURLM_OK)
        return true;
    fprintf(stderr, "intent-bus bench: %s: %s\n", what, curl_multi_strerror(code));
    loop->failed = true;
    return false;
}

/* Makes room for fd in the socket table. Returns 0, or -1 out of memory. */
static int grow_sockets(struct bench_loop *loop, curl_socket_t fd)
{
    size_t wanted = (size_t)fd + 1;
    if (wanted <= loop->socket_capacity)
        return 0;
    size_t capacity = loop->socket_capacity ? loop->socket_capacity : 256;
    while (capacity < wanted)
        capacity *= 2;
    unsigned char *grown = realloc(loop->sockets, capacity);
    if (grown == NULL)
        return -1;
    memset(grown + loop->socket_capacity, BENCH_SOCKET_OUT, capacity - loop->socket_capacity);
    loop->sockets = grown;
    loop->socket_capacity = capacity;
    return 0;
}

/* Registers fd for what. The table can be stale (a socket libcurl closed
 * left the set by itself, and its number may come back), so each change is
 * one epoll_ctl guessed from it, and a second when the guess was wrong. */
static int watch_socket(struct bench_loop *loop, curl_socket_t fd, int what)
{
    struct epoll_event event = {.data.fd = fd};
    event.events =
        ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    bool in_set = loop->sockets[fd] != BENCH_SOCKET_OUT;
    int rc = epoll_ctl(loop->epoll_fd, in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &event);
    if (rc != 0 && (errno == EEXIST || errno == ENOENT))
        rc = epoll_ctl(loop->epoll_fd, errno == EEXIST ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &event);
    loop->sockets[fd] = BENCH_SOCKET_WATCHED;
    return rc;
}

/* CURLMOPT_SOCKETFUNCTION. libcurl drops a keep-alive connection's socket
 * after every response and asks for it again with the next request; it
 * stays in the epoll set meanwhile ("parked"), which turns an EPOLL_CTL_DEL
 * and an EPOLL_CTL_ADD per request into one EPOLL_CTL_MOD. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *context, void *socket_state)
{
    struct bench_loop *loop = context;
    (void)easy;
    (void)socket_state;
    if (fd < 0 || grow_sockets(loop, fd) != 0)
        return -1;
    if (what == CURL_POLL_REMOVE) {
        if (loop->sockets[fd] == BENCH_SOCKET_WATCHED)
            loop->sockets[fd] = BENCH_SOCKET_PARKED;
        return 0;
    }
    if (watch_socket(loop, fd, what) != 0) {
        perror("intent-bus bench: epoll_ctl");
        return -1;
    }
    return 0;
}

/* An event on a parked socket (the bus closed an idle connection, say)
 * concerns nobody, and would come back at every wait: the socket leaves
 * the set. Returns whether fd is libcurl's to handle. */
static bool claimed_by_curl(struct bench_loop *loop, curl_socket_t fd)
{
    if ((size_t)fd < loop->socket_capacity && loop->sockets[fd] == BENCH_SOCKET_PARKED) {
        epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        loop->sockets[fd] = BENCH_SOCKET_OUT;
        return false;
    }
    return true;
}

/* CURLMOPT_TIMERFUNCTION: one timer, replaced on every call. */
static int on_timer(CURLM *multi, long timeout_ms, void *context)
{
    struct bench_loop *loop = context;
    (void)multi;
    if (timeout_ms < 0)
        loop->curl_deadline = -1;
    else
        loop->curl_deadline = timeout_ms == 0 ? 0 : clock_monotonic() + timeout_ms / 1000.0;
    return 0;
}

static bool set_multi_options(struct bench_loop *loop, int clients)
{
    CURLM *multi = loop->multi;
    /* The cache's default size follows the handles added right now, which
     * drops low while workers pause: keep a connection for every client. */
    return curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket) == CURLM_OK &&
           curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, loop) == CURLM_OK &&
           curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer) == CURLM_OK &&
           curl_multi_setopt(multi, CURLMOPT_TIMERDATA, loop) == CURLM_OK &&
           curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)clients) == CURLM_OK;
}

int bench_loop_init(struct bench_loop *loop, int clients, double pause_seconds, bench_done_fn *done,
                    bench_wake_fn *wake)
{
    *loop = (struct bench_loop){.epoll_fd = -1,
                                .curl_deadline = -1,
                                .done = done,
                                .wake = wake,
                                .pause_seconds = pause_seconds,
                                .pause_capacity = (size_t)clients};
    loop->pauses = calloc(loop->pause_capacity, sizeof *loop->pauses);
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->multi = curl_multi_init();
    if (loop->pauses != NULL && loop->epoll_fd >= 0 && loop->multi != NULL &&
        set_multi_options(loop, clients))
        return 0;
    fprintf(stderr, "intent-bus bench: cannot set up an event loop\n");
    bench_loop_free(loop);
    return -1;
}

void bench_loop_forget(struct bench_loop *loop, struct bench_conn *conn)
{
    if (!conn->in_flight)
        return;
    multi_ok(loop, curl_multi_remove_handle(loop->multi, conn->curl), "curl_multi_remove_handle");
    conn->in_flight = false;
    loop->in_flight--;
}

void bench_loop_free(struct bench_loop *loop)
{
    if (loop->multi != NULL)
        curl_multi_cleanup(loop->multi);
    if (loop->epoll_fd >= 0)
        close(loop->epoll_fd);
    free(loop->pauses);
    free(loop->sockets);
    memset(loop, 0, sizeof *loop);
    loop->epoll_fd = -1;
}

int bench_loop_send(struct bench_loop *loop, struct bench_conn *conn)
{
    conn->sent_at = clock_monotonic();
    if (!multi_ok(loop, curl_multi_add_handle(loop->multi, conn->curl), "curl_multi_add_handle"))
        return -1;
    conn->in_flight = true;
    loop->in_flight++;
    return 0;
}

/* Every pause lasts pause_seconds, so pauses end in the order they began:
 * a ring in that order is the whole timer queue, no heap needed. */
void bench_loop_pause(struct bench_loop *loop, void *owner)
{
    size_t slot = (loop->first_pause + loop->pause_count) % loop->pause_capacity;
    loop->pauses[slot] = (struct bench_pause){owner, clock_monotonic() + loop->pause_seconds};
    loop->pause_count++;
}

static void wake_paused(struct bench_loop *loop)
{
    double now = clock_monotonic();
    while (loop->pause_count > 0 && loop->pauses[loop->first_pause].wake_at <= now) {
        void *owner = loop->pauses[loop->first_pause].owner;
        loop->first_pause = (loop->first_pause + 1) % loop->pause_capacity;
        loop->pause_count--;
        loop->wake(owner); /* may pause again: the slot it frees is reused */
    }
}

/* Hands every completed transfer to its owner. The easy handle leaves the
 * multi handle (libcurl's way to finish a transfer) but its connection
 * stays open in the multi handle's cache for the owner's next request. */
static void finish_transfers(struct bench_loop *loop)
{
    CURLMsg *message;
    int queued = 0;
    while (!loop->failed && (message = curl_multi_info_read(loop->multi, &queued)) != NULL) {
        if (message->msg != CURLMSG_DONE)
            continue;
        char *private_data = NULL;
        CURLcode result = message->data.result; /* message dies with the removal */
        CURL *easy = message->easy_handle;
        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &private_data) != CURLE_OK ||
            private_data == NULL) {
            fprintf(stderr, "intent-bus bench: a transfer without its handle\n");
            loop->failed = true;
            return;
        }
        struct bench_conn *conn = (struct bench_conn *)private_data;
        bench_loop_forget(loop, conn);
        if (loop->failed)
            return;
        loop->done(conn->owner, bench_conn_status(conn, result), clock_monotonic() - conn->sent_at);
    }
}

/* Seconds until libcurl's timer or the first pause ends, at most
 * LONGEST_WAIT; 0 when one is due. */
static double wait_seconds(const struct bench_loop *loop)
{
    double deadline = loop->curl_deadline;
    if (loop->pause_count > 0) {
        double wake_at = loop->pauses[loop->first_pause].wake_at;
        if (deadline < 0 || wake_at < deadline)
            deadline = wake_at;
    }
    if (deadline < 0)
        return LONGEST_WAIT;
    double left = deadline - clock_monotonic();
    return left <= 0 ? 0 : left < LONGEST_WAIT ? left : LONGEST_WAIT;
}

/* Waits for socket events. epoll_pwait2 takes nanoseconds: epoll_wait's
 * milliseconds, rounded up so as not to spin, would stretch the 10 ms
 * pauses by half a millisecond on average. Returns as epoll_wait. */
static int wait_events(struct bench_loop *loop, struct epoll_event *events, int size)
{
    double seconds = wait_seconds(loop);
    if (!loop->coarse_wait) {
        struct timespec timeout = {.tv_sec = (time_t)seconds};
        timeout.tv_nsec = (long)((seconds - (double)timeout.tv_sec) * 1e9);
        int count = epoll_pwait2(loop->epoll_fd, events, size, &timeout, NULL);
        if (count >= 0 || errno != ENOSYS)
            return count;
        loop->coarse_wait = true; /* a kernel before 5.11 */
    }
    return epoll_wait(loop->epoll_fd, events, size, (int)ceil(seconds * 1000));
}

/* Lets libcurl act on fd (or on its timers), then hands over what
 * completed; a follow-up request the owners queue is sent by the next act. */
static void act(struct bench_loop *loop, curl_socket_t fd, int mask)
{
    int running = 0;
    if (multi_ok(loop, curl_multi_socket_action(loop->multi, fd, mask, &running),
                 "curl_multi_socket_action"))
        finish_transfers(loop);
}

/* Sends at once the requests queued since the last act (libcurl asks for a
 * timer of 0 ms for each one added). */
static void send_queued(struct bench_loop *loop)
{
    if (!loop->failed && loop->curl_deadline == 0)
        act(loop, CURL_SOCKET_TIMEOUT, 0);
}

static int event_mask(uint32_t events)
{
    return ((events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
           ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
           ((events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
}

static void turn(struct bench_loop *loop)
{
    struct epoll_event events[EVENTS_PER_WAIT];
    int count = wait_events(loop, events, EVENTS_PER_WAIT);
    if (count < 0 && errno != EINTR) {
        perror("intent-bus bench: epoll_wait");
        loop->failed = true;
        return;
    }
    /* Each answer's follow-up goes out before the next answer is read, as
     * it would from a client of its own, rather than after the whole batch
     * of events: heavy --long-poll, where 4 publishers set the pace, went
     * from 2,470 to 2,680 jobs/s (medians of 5 runs, one loop). */
    for (int i = 0; i < count && !loop->failed; i++) {
        if (claimed_by_curl(loop, events[i].data.fd))
            act(loop, events[i].data.fd, event_mask(events[i].events));
        send_queued(loop);
    }
    if (!loop->failed && loop->curl_deadline >= 0 && loop->curl_deadline <= clock_monotonic())
        act(loop, CURL_SOCKET_TIMEOUT, 0);
    if (!loop->failed)
        wake_paused(loop);
    send_queued(loop);
}

int bench_loop_run(struct bench_loop *loop)
{
    while (!loop->failed && (loop->in_flight > 0 || loop->pause_count > 0))
        turn(loop);
    return loop->failed ? -1 : 0;
}

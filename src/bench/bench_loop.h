/* One event loop of the bench: a libcurl multi handle driven through the
 * socket-action API on an epoll set, plus a timer queue for the pauses of
 * polling workers. One thread runs it and many simulated clients share it,
 * so the bench spends its CPU on requests, not on context switches. */
#ifndef BENCH_BENCH_LOOP_H
#define BENCH_BENCH_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "bench/bench_http.h"

/* Called from bench_loop_run: a request of owner's handle completed with
 * status (bench_conn_status) after seconds; or owner's pause is over. Both
 * may send or pause again. */
typedef void bench_done_fn(void *owner, long status, double seconds);
typedef void bench_wake_fn(void *owner);

struct bench_pause {
    void *owner;
    double wake_at; /* clock_monotonic() */
};

/* What the loop knows of a socket number (see on_socket in bench_loop.c). */
enum bench_socket_state {
    BENCH_SOCKET_OUT,     /* not in the epoll set */
    BENCH_SOCKET_WATCHED, /* in the set for libcurl */
    BENCH_SOCKET_PARKED,  /* in the set, libcurl not interested for now */
};

struct bench_loop {
    CURLM *multi;
    int epoll_fd;
    unsigned char *sockets; /* enum bench_socket_state, by socket number */
    size_t socket_capacity;
    double curl_deadline; /* when libcurl wants its timeout action; < 0: never */
    bench_done_fn *done;
    bench_wake_fn *wake;
    double pause_seconds;
    struct bench_pause *pauses; /* a ring, oldest first; see bench_loop_pause */
    size_t first_pause;
    size_t pause_count;
    size_t pause_capacity;
    int in_flight;
    bool coarse_wait; /* no epoll_pwait2: millisecond waits */
    bool failed;      /* libcurl or epoll failed: the loop stopped early */
};

/* Sets up a loop for at most clients handles (each with at most one
 * request or one pause at a time); every pause lasts pause_seconds.
 * Returns 0, or -1 after undoing what it did. */
int bench_loop_init(struct bench_loop *loop, int clients, double pause_seconds, bench_done_fn *done,
                    bench_wake_fn *wake);

/* Removes conn from the loop if a request of it is still in flight (a loop
 * that failed leaves some); call before closing conn. */
void bench_loop_forget(struct bench_loop *loop, struct bench_conn *conn);

/* After every handle is forgotten and closed. */
void bench_loop_free(struct bench_loop *loop);

/* Sends the request prepared on conn (bench_conn_prepare). Returns 0, or -1
 * when libcurl refuses the handle (nothing is sent, done is not called). */
int bench_loop_send(struct bench_loop *loop, struct bench_conn *conn);

/* Calls wake(owner) after pause_seconds, without blocking the loop. */
void bench_loop_pause(struct bench_loop *loop, void *owner);

/* Runs until no request is in flight and no pause pending. Returns 0, or
 * -1 when libcurl or epoll failed (after printing why). */
int bench_loop_run(struct bench_loop *loop);

#endif

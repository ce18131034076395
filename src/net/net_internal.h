/* What the files of net/ share: the loop, the connection and the request
 * they hold. Nothing outside net/ includes this. */
#ifndef NET_NET_INTERNAL_H
#define NET_NET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <llhttp.h>

#include "net/net.h"

/* Where a connection is; each phase but BUSY has a deadline. */
enum net_phase { NET_IDLE, NET_HEAD, NET_BODY, NET_BUSY, NET_LINGER };

struct net_header {
    uint32_t name, value; /* offsets into the request's head text */
};

struct net_param {
    const char *key, *value; /* into the request's decoded query; value may be NULL */
    size_t key_size, value_size;
};

/* A growable byte buffer. */
struct net_buffer {
    char *data;
    size_t length, capacity;
};

struct net_request {
    struct net_connection *connection;
    void *user;
    struct net_buffer head; /* method-less target, names and values, each NUL-ended */
    bool has_target;
    uint32_t target;
    struct net_header *headers;
    size_t header_count, header_capacity, head_bytes;
    bool in_field; /* a header name is being read */
    char *path;    /* decoded, owned; made on first use */
    char *query;   /* decoded copy of the query, owned; made on first use */
    struct net_param *params;
    size_t param_count;
    bool query_parsed;
    struct net_buffer body;
    size_t limit;
    bool too_large;
    bool saw_version;
    bool head_done; /* on_head was called */
    bool complete;  /* the whole message was parsed */
    bool handed;    /* on_request was called */
    bool answered;  /* net_respond was called */
    bool resume_queued;
    struct net_request *next_resumed; /* in the loop's mailbox */
};

struct net_connection {
    struct net_loop *loop;
    struct net_connection *previous, *next; /* the loop's list */
    int fd;
    char address[64];
    bool admitted;
    gnutls_session_t tls;
    bool handshaking;
    llhttp_t parser;
    struct net_buffer in;
    size_t in_start; /* in.data[in_start..in.length) is not parsed yet */
    struct net_buffer out;
    size_t out_start;     /* out.data[out_start..out.length) is not sent yet */
    size_t tls_attempted; /* a TLS record send that said "again", or 0 */
    bool want_write;      /* EPOLLOUT is asked for */
    /* The socket may hold unread bytes: set by each EPOLLIN edge, cleared
     * by a read that came back short (the socket was emptied then, so new
     * bytes make a new edge). Saves a read that would say EAGAIN. */
    bool readable;
    bool peer_closed; /* EPOLLRDHUP seen: read on to the end of file */
    bool closing;     /* close once the answer is sent */
    bool in_request;  /* a request has begun */
    bool broken;      /* a send failed: close at the next chance */
    bool shut;        /* the sending half is shut (lingering) */
    int paused_for;   /* what on_* callback paused the parser (connection.c) */
    /* A refusal found inside a parser callback, made once it returns. */
    unsigned refuse_status;
    const char *refuse_code, *refuse_message;
    enum net_phase phase;
    double deadline; /* monotonic seconds; 0 = none */
    struct net_request request;
};

struct net_loop {
    struct net_server *server;
    pthread_t thread;
    int epoll;
    int wake;                    /* eventfd */
    pthread_mutex_t lock;        /* guards the mailbox */
    struct net_request *resumed; /* the mailbox */
    bool wake_pending;
    struct net_connection *connections;
    double next_sweep;
    char date[40]; /* the Date header's value, remade each second */
    long date_second;
};

struct net_server {
    struct net_config config;
    struct net_callbacks callbacks;
    int listener;
    unsigned port;
    atomic_int connection_count;
    atomic_bool stopping;
    gnutls_certificate_credentials_t credentials; /* NULL for plain HTTP */
    gnutls_priority_t priorities;
    int loop_count;
    struct net_loop *loops;
};

/* loop.c */
double net_now(void);
void net_want_write(struct net_connection *connection, bool want);
void net_enter(struct net_connection *connection, enum net_phase phase);
const char *net_date(struct net_loop *loop);

/* connection.c */
struct net_connection *net_connection_new(struct net_loop *loop, int fd, const char *address);
void net_connection_event(struct net_connection *connection, uint32_t events);
void net_connection_resumed(struct net_connection *connection);
void net_connection_expire(struct net_connection *connection);
void net_connection_close(struct net_connection *connection);
void net_loop_forget(struct net_loop *loop, struct net_connection *connection);

/* request.c */
void net_request_reset(struct net_request *request);
void net_request_free(struct net_request *request);
bool net_buffer_append(struct net_buffer *buffer, const char *data, size_t size);
void net_buffer_free(struct net_buffer *buffer);

/* tls.c */
bool net_tls_setup(struct net_server *server, char *why, size_t why_size);
void net_tls_teardown(struct net_server *server);
bool net_tls_session(struct net_connection *connection);
/* Like recv and send: bytes, 0 at the end, -1 with errno (EAGAIN). */
ssize_t net_tls_read(struct net_connection *connection, char *data, size_t size);
ssize_t net_tls_write(struct net_connection *connection, const char *data, size_t size);
/* 1 done, 0 again later, -1 failed. */
int net_tls_handshake(struct net_connection *connection);

#endif

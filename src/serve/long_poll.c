/* Long-poll dispatcher; see long_poll.h.
 *
 * Handlers park requests; only the dispatcher thread removes them, so a
 * parked waiter stays valid until the dispatcher resumes its connection.
 * The dispatcher wakes for: a CLAIMABLE event (it offers the intent to the
 * longest-waiting worker whose filters match, which claims it through the
 * bus like any worker), a SETTLED event (result waiters of that id), a
 * deadline, and a one-second tick that covers what events cannot describe:
 * leases that expired, requeues whose attributes are unknown, intents
 * settled by the lease sweep. Claims are made with the lock released. */
#include "serve/long_poll.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/net.h"

#include "bus/validate.h"
#include "core/eligibility.h"
#include "serve/server.h"
#include "util/clock.h"
#include "util/decimal.h"
#include "util/thread_name.h"
#include "util/token.h"

#define TICK_SECONDS 1.0
#define RESULT_RECHECK_SECONDS 5.0
#define MAX_PENDING_EVENTS 10000

enum waiter_kind { WAIT_CLAIM, WAIT_RESULT };

struct waiter {
    enum waiter_kind kind;
    struct waiter *next;
    struct net_request *exchange;
    struct principal caller;
    double parked_at;
    double deadline;
    double next_recheck;
    bool recheck; /* try at once: an event may have slipped in while parking */
    /* claim filters (copies; NULL fields of claim_params stay NULL) */
    char *namespace_;
    char *goal;
    char *worker_id;
    char *capabilities;
    char *publisher;
    char publisher_principal[PRINCIPAL_LEN + 1]; /* publisher's digest, when given */
    bool as_admin;
    int max; /* claim_params.max: 0 = a single claim */
    /* result */
    char id[INTENT_ID_LEN + 1];
    struct http_response response;
};

/* A claimable intent waiting for its `due` time or for the dispatcher. */
struct pending_event {
    struct pending_event *next;
    bool known; /* attributes below are set */
    double due;
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    char publisher[PRINCIPAL_LEN + 1];
    char target_worker[WORKER_NAME_MAX_BYTES + 1];
    char required_capability[WORKER_NAME_MAX_BYTES + 1];
    bool is_public;
};

struct settled_id {
    struct settled_id *next;
    char id[INTENT_ID_LEN + 1];
};

struct long_poll {
    struct server *server;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    unsigned long sequence;
    struct waiter *waiters; /* FIFO: oldest first */
    struct pending_event *events;
    size_t event_count;
    struct settled_id *settled;
    double next_tick;
};

/* ---- waiters ------------------------------------------------------------ */

struct http_response *waiter_response(struct waiter *waiter) { return &waiter->response; }

double waiter_parked_at(const struct waiter *waiter) { return waiter->parked_at; }

const char *waiter_who(const struct waiter *waiter) { return waiter->caller.label; }

void waiter_free(struct waiter *waiter)
{
    if (waiter == NULL)
        return;
    free(waiter->namespace_);
    free(waiter->goal);
    free(waiter->worker_id);
    free(waiter->capabilities);
    free(waiter->publisher);
    if (!waiter->response.body_is_static)
        free(waiter->response.body);
    free(waiter);
}

static char *copy_or_null(const char *text) { return text ? strdup(text) : NULL; }

static void append_waiter(struct long_poll *poll, struct waiter *waiter)
{
    struct waiter **slot = &poll->waiters;
    while (*slot != NULL)
        slot = &(*slot)->next;
    *slot = waiter;
}

/* Unlinks waiter; called with the lock held. */
static void remove_waiter(struct long_poll *poll, struct waiter *waiter)
{
    for (struct waiter **slot = &poll->waiters; *slot; slot = &(*slot)->next) {
        if (*slot == waiter) {
            *slot = waiter->next;
            waiter->next = NULL;
            return;
        }
    }
}


/* ---- parking (request threads) ------------------------------------------ */

unsigned long long_poll_sequence(struct long_poll *poll)
{
    pthread_mutex_lock(&poll->lock);
    unsigned long sequence = poll->sequence;
    pthread_mutex_unlock(&poll->lock);
    return sequence;
}

bool long_poll_read_wait(const struct http_request *request, double *wait,
                         struct http_response *response)
{
    const char *text = request_query(request, "wait");
    *wait = 0;
    if (text == NULL || decimal_parse(text, LONG_POLL_MAX_WAIT, wait))
        return true;
    struct bus_error error;
    bus_error_set(&error, BUS_ERR_INVALID_FIELD, "invalid_wait",
                  "wait must be a plain decimal number of seconds, 0 to %g",
                  LONG_POLL_MAX_WAIT);
    response_error(response, &error);
    return false;
}

static struct waiter *new_waiter(enum waiter_kind kind, const struct http_request *request,
                                 double wait)
{
    struct waiter *waiter = calloc(1, sizeof *waiter);
    if (waiter == NULL)
        return NULL;
    waiter->kind = kind;
    waiter->exchange = request->exchange;
    waiter->caller = request->caller;
    waiter->parked_at = clock_now();
    waiter->deadline = waiter->parked_at + wait;
    waiter->next_recheck = waiter->parked_at + RESULT_RECHECK_SECONDS;
    return waiter;
}

/* Suspends the connection and hands the waiter to the dispatcher. While
 * the server stops, nothing is parked: false, and the caller answers now. */
static bool park(struct long_poll *poll, struct waiter *waiter, unsigned long sequence)
{
    pthread_mutex_lock(&poll->lock);
    bool parked = !poll->stopping;
    if (parked) {
        waiter->recheck = poll->sequence != sequence;
        append_waiter(poll, waiter);
        pthread_cond_signal(&poll->wake);
    }
    pthread_mutex_unlock(&poll->lock);
    if (!parked)
        waiter_free(waiter);
    return parked;
}

struct waiter *long_poll_claim_waiter(const struct http_request *request,
                                      const struct claim_params *params, double wait)
{
    struct waiter *waiter = new_waiter(WAIT_CLAIM, request, wait);
    if (waiter == NULL)
        return NULL;
    waiter->namespace_ = copy_or_null(params->namespace_);
    waiter->goal = copy_or_null(params->goal);
    waiter->worker_id = copy_or_null(params->worker_id);
    waiter->capabilities = copy_or_null(params->capabilities);
    waiter->publisher = copy_or_null(params->publisher);
    if (params->publisher != NULL)
        token_sha256_hex(params->publisher, strlen(params->publisher),
                         waiter->publisher_principal);
    waiter->as_admin = params->as_admin;
    waiter->max = params->max;
    bool copied = (waiter->namespace_ || !params->namespace_) && (waiter->goal || !params->goal) &&
                  (waiter->worker_id || !params->worker_id) &&
                  (waiter->capabilities || !params->capabilities) &&
                  (waiter->publisher || !params->publisher);
    if (!copied) {
        waiter_free(waiter);
        return NULL;
    }
    return waiter;
}

bool long_poll_park_claim(struct long_poll *poll, struct waiter *waiter, unsigned long sequence)
{
    return park(poll, waiter, sequence);
}

void long_poll_park_result(struct long_poll *poll, struct http_request *request, double wait,
                           unsigned long sequence, struct http_response *response)
{
    struct waiter *waiter = new_waiter(WAIT_RESULT, request, wait);
    if (waiter == NULL)
        return; /* the caller's response (the current state) stands */
    snprintf(waiter->id, sizeof waiter->id, "%s", request->param);
    if (park(poll, waiter, sequence)) {
        free(response->body); /* the answer will be read again when it settles */
        response->body = NULL;
        response->suspended = waiter;
    }
}

/* ---- events (any thread, through the bus listener) ---------------------- */

static size_t count_waiters(const struct long_poll *poll, enum waiter_kind kind)
{
    size_t count = 0;
    for (const struct waiter *waiter = poll->waiters; waiter; waiter = waiter->next)
        count += waiter->kind == kind;
    return count;
}

void long_poll_waiting(struct long_poll *poll, size_t *claims, size_t *results)
{
    *claims = *results = 0;
    if (poll == NULL)
        return;
    pthread_mutex_lock(&poll->lock);
    *claims = count_waiters(poll, WAIT_CLAIM);
    *results = count_waiters(poll, WAIT_RESULT);
    pthread_mutex_unlock(&poll->lock);
}

/* True when the event was queued for the dispatcher. */
static bool queue_claimable(struct long_poll *poll, const struct intent_event *event)
{
    bool due_now = event->due <= clock_now();
    /* Nobody waits and nothing is due later: nothing to remember. */
    if ((due_now && count_waiters(poll, WAIT_CLAIM) == 0) || poll->event_count >= MAX_PENDING_EVENTS)
        return false;
    struct pending_event *pending = calloc(1, sizeof *pending);
    if (pending == NULL)
        return false; /* the tick finds it */
    pending->due = event->due;
    pending->known = event->namespace_ != NULL;
    if (pending->known) {
        snprintf(pending->namespace_, sizeof pending->namespace_, "%s", event->namespace_);
        snprintf(pending->goal, sizeof pending->goal, "%s", event->goal);
        snprintf(pending->publisher, sizeof pending->publisher, "%s", event->publisher);
        snprintf(pending->target_worker, sizeof pending->target_worker, "%s",
                 event->target_worker);
        snprintf(pending->required_capability, sizeof pending->required_capability, "%s",
                 event->required_capability);
        pending->is_public = event->is_public;
    }
    pending->next = poll->events;
    poll->events = pending;
    poll->event_count++;
    return true;
}

/* True when a waiter awaits the id and it was queued. */
static bool queue_settled(struct long_poll *poll, const char *id)
{
    bool awaited = false;
    for (const struct waiter *waiter = poll->waiters; waiter && !awaited; waiter = waiter->next)
        awaited = waiter->kind == WAIT_RESULT && strcmp(waiter->id, id) == 0;
    struct settled_id *settled = awaited ? calloc(1, sizeof *settled) : NULL;
    if (settled == NULL)
        return false;
    snprintf(settled->id, sizeof settled->id, "%s", id);
    settled->next = poll->settled;
    poll->settled = settled;
    return true;
}

static void on_bus_event(void *context, const struct intent_event *event)
{
    struct long_poll *poll = context;
    pthread_mutex_lock(&poll->lock);
    poll->sequence++; /* a waiter parking right now tries again */
    bool queued = false;
    if (!poll->stopping)
        queued = event->kind == INTENT_EVENT_SETTLED ? queue_settled(poll, event->id)
                                                  : queue_claimable(poll, event);
    /* Waking the dispatcher for an event nobody waits on cost a context
     * switch per publish and fulfil under load (perf). */
    if (queued)
        pthread_cond_signal(&poll->wake);
    pthread_mutex_unlock(&poll->lock);
}

/* ---- attempts (dispatcher thread, lock released) ------------------------ */

/* Claims for a waiter. On anything but BUS_ERR_EMPTY the answer is in
 * waiter->response. */
static enum bus_err attempt_claim(struct long_poll *poll, struct waiter *waiter)
{
    struct claim_params params = {waiter->namespace_,   waiter->goal,      waiter->worker_id,
                                  waiter->capabilities, waiter->publisher, waiter->as_admin,
                                  waiter->max};
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_claim(&poll->server->bus, &waiter->caller, &params, &reply, &error);
    if (err != BUS_ERR_EMPTY)
        response_from_bus(&waiter->response, err, &reply, &error);
    return err;
}

/* Reads a result waiter's intent into its response; true when the intent
 * has settled (or cannot be read any more), so the answer is final. */
static bool attempt_result(struct long_poll *poll, struct waiter *waiter)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum intent_status status = INTENT_OPEN;
    enum bus_err err = bus_read_intent(&poll->server->bus, &waiter->caller, waiter->id, true,
                                       &reply, &error, &status);
    if (!waiter->response.body_is_static)
        free(waiter->response.body);
    memset(&waiter->response, 0, sizeof waiter->response);
    response_from_bus(&waiter->response, err, &reply, &error);
    return err != BUS_OK || status == INTENT_FULFILLED || status == INTENT_DEAD;
}

/* Hands the answer back to the request's loop: from the resume on, the
 * waiter belongs to the request and may be freed at any moment. The resume
 * is made without our lock, so a loop thread never waits for it. */
static void finish(struct long_poll *poll, struct waiter *waiter)
{
    remove_waiter(poll, waiter);
    pthread_mutex_unlock(&poll->lock);
    net_resume(waiter->exchange);
    pthread_mutex_lock(&poll->lock);
}

/* Answers a waiter whose time is up: a claim gets 204, a result its state. */
static void answer_at_deadline(struct long_poll *poll, struct waiter *waiter)
{
    if (waiter->kind == WAIT_CLAIM) {
        waiter->response.status = 204;
        waiter->response.retry_after = 1;
    } else {
        pthread_mutex_unlock(&poll->lock);
        attempt_result(poll, waiter);
        pthread_mutex_lock(&poll->lock);
    }
    finish(poll, waiter);
}

/* Whether the client closed its end of the connection while parked (a
 * worker stopped with Ctrl-C, an SDK that timed out): a job claimed for it
 * would be lost until its lease ran out. A pending request's connection is
 * not read, so the layer peeks at its socket. */
static bool peer_gone(const struct waiter *waiter)
{
    return net_request_peer_gone(waiter->exchange);
}

/* Answers (into the void) and unlinks a waiter whose client has gone. */
static bool drop_if_gone(struct long_poll *poll, struct waiter *waiter)
{
    if (!peer_gone(waiter))
        return false;
    waiter->response.status = 204;
    waiter->response.retry_after = 1;
    finish(poll, waiter);
    return true;
}

/* Once a tick: forget every waiter whose client has gone, so abandoned
 * long-polls neither hold memory until their deadline nor get jobs. */
static void drop_gone_waiters(struct long_poll *poll)
{
    for (struct waiter *waiter = poll->waiters; waiter;)
        waiter = drop_if_gone(poll, waiter) ? poll->waiters : waiter->next;
}

/* One attempt for a waiter, with the lock released for the bus call.
 * Returns the claim's result (BUS_OK when a result settled). */
static enum bus_err attempt(struct long_poll *poll, struct waiter *waiter)
{
    pthread_mutex_unlock(&poll->lock);
    enum bus_err err;
    if (waiter->kind == WAIT_CLAIM)
        err = attempt_claim(poll, waiter);
    else
        err = attempt_result(poll, waiter) ? BUS_OK : BUS_ERR_EMPTY;
    pthread_mutex_lock(&poll->lock);
    if (err != BUS_ERR_EMPTY)
        finish(poll, waiter);
    return err;
}

/* ---- matching an event to the longest-waiting worker -------------------- */

/* Eligibility's own predicate (core/eligibility.c) over the waiter's
 * filters. A false match costs one empty claim; the tick covers anything
 * missed. */
static bool waiter_matches(const struct waiter *waiter, const struct pending_event *event)
{
    if (waiter->kind != WAIT_CLAIM)
        return false;
    struct claim_seeker seeker = {
        .namespace_ = waiter->namespace_ ? waiter->namespace_ : DEFAULT_NAMESPACE,
        .goal = waiter->goal,
        .caller = waiter->caller.id,
        .worker_id = waiter->worker_id,
        .capabilities = waiter->capabilities,
        .publisher = waiter->publisher ? waiter->publisher_principal : NULL,
    };
    struct claim_offer offer = {event->namespace_,     event->goal,
                                event->publisher,      event->is_public,
                                event->target_worker, event->required_capability};
    return claim_offer_matches(&seeker, &offer);
}

static struct waiter *first_match(struct long_poll *poll, const struct pending_event *event)
{
    for (struct waiter *waiter = poll->waiters; waiter; waiter = waiter->next) {
        if (waiter_matches(waiter, event))
            return waiter;
    }
    return NULL;
}

/* ---- the dispatcher's passes (lock held) -------------------------------- */

static bool serve_rechecks(struct long_poll *poll)
{
    bool worked = false;
    for (struct waiter *waiter = poll->waiters; waiter;) {
        if (!waiter->recheck) {
            waiter = waiter->next;
            continue;
        }
        waiter->recheck = false;
        attempt(poll, waiter);
        worked = true;
        waiter = poll->waiters; /* the list may have changed */
    }
    return worked;
}

static bool serve_settled(struct long_poll *poll)
{
    bool worked = false;
    while (poll->settled != NULL) {
        struct settled_id *settled = poll->settled;
        poll->settled = settled->next;
        for (struct waiter *waiter = poll->waiters; waiter;) {
            struct waiter *next = waiter->next;
            if (waiter->kind == WAIT_RESULT && strcmp(waiter->id, settled->id) == 0) {
                attempt(poll, waiter);
                next = poll->waiters; /* restart: the list may have changed */
                worked = true;
            }
            waiter = next;
        }
        free(settled);
    }
    return worked;
}

/* Takes one event that is due, or NULL. */
static struct pending_event *take_due_event(struct long_poll *poll, double now)
{
    for (struct pending_event **slot = &poll->events; *slot; slot = &(*slot)->next) {
        if ((*slot)->due <= now) {
            struct pending_event *event = *slot;
            *slot = event->next;
            poll->event_count--;
            return event;
        }
    }
    return NULL;
}

static bool serve_due_events(struct long_poll *poll, double now)
{
    bool worked = false;
    struct pending_event *event;
    while ((event = take_due_event(poll, now)) != NULL) {
        if (!event->known) {
            poll->next_tick = now; /* attributes unknown: let the tick try everyone */
        } else {
            struct waiter *waiter;
            while ((waiter = first_match(poll, event)) != NULL && drop_if_gone(poll, waiter))
                ; /* offer it to the next longest-waiting worker */
            if (waiter != NULL)
                attempt(poll, waiter);
        }
        free(event);
        worked = true;
    }
    return worked;
}

#define TICK_MAX_EXHAUSTED 64

/* Whether (namespace, goal) already came up empty in this tick. */
static bool exhausted(char exhausted_keys[][NAMESPACE_MAX + GOAL_MAX_BYTES + 2], int count,
                      const char *key)
{
    for (int i = 0; i < count; i++) {
        if (strcmp(exhausted_keys[i], key) == 0)
            return true;
    }
    return false;
}

/* Once a second: each kind of waiting worker tries one claim (so expired
 * leases and requeues reach them), and result waiters re-read their intent
 * every few seconds (the lease sweep settles intents without an event). */
static void serve_tick(struct long_poll *poll, double now)
{
    static const size_t key_size = NAMESPACE_MAX + GOAL_MAX_BYTES + 2;
    char (*keys)[NAMESPACE_MAX + GOAL_MAX_BYTES + 2] = calloc(TICK_MAX_EXHAUSTED, key_size);
    int key_count = 0;
    char key[NAMESPACE_MAX + GOAL_MAX_BYTES + 2];
    for (struct waiter *waiter = poll->waiters; waiter;) {
        struct waiter *next = waiter->next;
        if (waiter->kind == WAIT_CLAIM) {
            snprintf(key, sizeof key, "%s\n%s", waiter->namespace_ ? waiter->namespace_ : "",
                     waiter->goal ? waiter->goal : "");
            if (keys != NULL && !exhausted(keys, key_count, key)) {
                enum bus_err err = attempt(poll, waiter);
                if (err != BUS_ERR_EMPTY)
                    next = poll->waiters; /* it was answered: restart */
                else if (key_count < TICK_MAX_EXHAUSTED)
                    strcpy(keys[key_count++], key);
                else
                    next = waiter->next; /* still parked, so still linked */
            }
        } else if (waiter->next_recheck <= now) {
            waiter->next_recheck = now + RESULT_RECHECK_SECONDS;
            attempt(poll, waiter);
            next = poll->waiters;
        }
        waiter = next;
    }
    free(keys);
}

static void expire_deadlines(struct long_poll *poll, double now)
{
    for (struct waiter *waiter = poll->waiters; waiter;) {
        if (waiter->deadline <= now) {
            answer_at_deadline(poll, waiter);
            waiter = poll->waiters;
        } else {
            waiter = waiter->next;
        }
    }
}

static double next_wake(const struct long_poll *poll)
{
    double wake = poll->next_tick;
    for (const struct waiter *waiter = poll->waiters; waiter; waiter = waiter->next)
        wake = fmin(wake, waiter->deadline);
    for (const struct pending_event *event = poll->events; event; event = event->next)
        wake = fmin(wake, event->due);
    return wake;
}

static void sleep_until(struct long_poll *poll, double when)
{
    struct timespec until;
    until.tv_sec = (time_t)when;
    until.tv_nsec = (long)((when - floor(when)) * 1e9);
    pthread_cond_timedwait(&poll->wake, &poll->lock, &until);
}

static void *dispatcher_main(void *arg)
{
    struct long_poll *poll = arg;
    thread_name_set("bus-longpoll", -1);
    pthread_mutex_lock(&poll->lock);
    while (!poll->stopping) {
        double now = clock_now();
        bool worked = serve_rechecks(poll);
        worked |= serve_settled(poll);
        worked |= serve_due_events(poll, now);
        if (now >= poll->next_tick) {
            drop_gone_waiters(poll);
            serve_tick(poll, now);
            poll->next_tick = clock_now() + TICK_SECONDS;
        }
        expire_deadlines(poll, clock_now());
        if (!worked && !poll->stopping)
            sleep_until(poll, next_wake(poll));
    }
    while (poll->waiters != NULL)
        answer_at_deadline(poll, poll->waiters);
    pthread_mutex_unlock(&poll->lock);
    return NULL;
}

/* ---- start and stop ----------------------------------------------------- */

struct long_poll *long_poll_start(struct server *server)
{
    struct long_poll *poll = calloc(1, sizeof *poll);
    if (poll == NULL)
        return NULL;
    poll->server = server;
    poll->next_tick = clock_now() + TICK_SECONDS;
    pthread_mutex_init(&poll->lock, NULL);
    pthread_cond_init(&poll->wake, NULL);
    if (pthread_create(&poll->thread, NULL, dispatcher_main, poll) != 0) {
        pthread_cond_destroy(&poll->wake);
        pthread_mutex_destroy(&poll->lock);
        free(poll);
        return NULL;
    }
    bus_set_listener(&server->bus, (struct bus_listener){on_bus_event, poll});
    return poll;
}

void long_poll_stop(struct long_poll *poll)
{
    if (poll == NULL)
        return;
    pthread_mutex_lock(&poll->lock);
    poll->stopping = true;
    pthread_cond_signal(&poll->wake);
    pthread_mutex_unlock(&poll->lock);
    pthread_join(poll->thread, NULL);
}

void long_poll_free(struct long_poll *poll)
{
    if (poll == NULL)
        return;
    bus_set_listener(&poll->server->bus, (struct bus_listener){NULL, NULL});
    while (poll->events != NULL) {
        struct pending_event *event = poll->events;
        poll->events = event->next;
        free(event);
    }
    while (poll->settled != NULL) {
        struct settled_id *settled = poll->settled;
        poll->settled = settled->next;
        free(settled);
    }
    pthread_cond_destroy(&poll->wake);
    pthread_mutex_destroy(&poll->lock);
    free(poll);
}

/* Completion webhooks, the service; see webhooks.h. */
#include "bus/webhooks.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/bus.h"
#include "bus/webhook_send.h"
#include "bus/webhook_target.h"
#include "util/clock.h"
#include "util/libcurl.h"
#include "util/random.h"
#include "util/thread_name.h"

/* A taken delivery is leased this long: longer than an attempt can take,
 * so another node retakes it only after this one died mid-attempt. */
#define LEASE_SECONDS (WEBHOOK_TIMEOUT * 6.0)
/* The doubling stops here: 2^20 retry bases is far past a day already. */
#define MAX_EXPONENT 20
#define FAILURE_LOG_INTERVAL 60.0

struct webhooks {
    struct bus *bus;
    const struct libcurl *curl;
    struct webhook_policy *policy;
    char *secret;
    double retry_base;
    double poll_seconds; /* how often an idle thread looks for due deliveries */
    struct webhook_counters counters;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    atomic_bool cancel; /* set with stopping: an attempt in progress gives up */
    unsigned pokes;     /* changed by webhooks_poke, so a waiting thread sees it */
    int thread_count;
    pthread_t threads[WEBHOOK_THREADS];
};

/* The event's JSON body, from the settled intent. */
static char *event_body(const struct intent_record *record, double armed_at)
{
    json_t *result =
        record->result_json ? json_loads(record->result_json, JSON_DECODE_ANY, NULL) : json_null();
    double completed_at = isnan(record->completed_at) ? armed_at : record->completed_at;
    json_t *event = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:f}", "id", record->id, "goal", record->goal,
        "namespace", record->namespace_, "status", intent_status_name(record->status), "result",
        result ? result : json_null(), "result_type",
        record->result_type[0] ? json_string(record->result_type) : json_null(), "error",
        record->last_error ? json_string(record->last_error) : json_null(), "completed_at",
        completed_at);
    char *text = event ? json_dumps(event, JSON_COMPACT) : NULL;
    json_decref(event);
    return text;
}

/* retry_base * 2^(attempts-1), stretched by a random 0-25 % so receivers
 * that failed together are not all retried at the same instant. */
static double retry_delay(const struct webhooks *webhooks, int attempts)
{
    int exponent = attempts - 1 < 0 ? 0 : attempts - 1 > MAX_EXPONENT ? MAX_EXPONENT : attempts - 1;
    uint32_t draw = 0;
    double jitter = random_fill(&draw, sizeof draw) ? (double)draw / 4294967296.0 * 0.25 : 0.0;
    return webhooks->retry_base * ldexp(1.0, exponent) * (1.0 + jitter);
}

/* The outcome of an attempt that did not deliver: retried until a day
 * after the event (the last attempt falls on that day's end), then given up. */
static void plan_retry(struct webhooks *webhooks, const struct webhook_delivery *delivery,
                       bool refused, double now, struct webhook_outcome *outcome)
{
    double deadline = delivery->armed_at + WEBHOOK_GIVE_UP_AFTER;
    if (refused || now >= deadline) {
        outcome->state = "failed";
        atomic_fetch_add(&webhooks->counters.given_up, 1);
        return;
    }
    outcome->state = "pending";
    outcome->next_at = fmin(now + retry_delay(webhooks, outcome->attempts), deadline);
    atomic_fetch_add(&webhooks->counters.failed, 1);
}

/* Sends the settled intent's event (record NULL: no longer stored). */
static void send_event(struct webhooks *webhooks, const struct webhook_delivery *delivery,
                       const struct intent_record *record, struct webhook_send_result *result)
{
    char *body = record ? event_body(record, delivery->armed_at) : NULL;
    char secret[SIGNATURE_HEX_LEN + 1];
    if (body != NULL) {
        webhooks_key_secret(webhooks, record->publisher, secret);
        webhook_send(webhooks->curl, webhooks->policy, delivery->url, body, secret, WEBHOOK_TIMEOUT,
                     &webhooks->cancel, result);
    } else
        snprintf(result->error, sizeof result->error, "%s",
                 record ? "out of memory" : "the intent is no longer stored");
    free(body);
}

/* What an attempt's result makes of the delivery; gone: its intent was
 * removed, so it is given up. */
static void judge(struct webhooks *webhooks, const struct webhook_delivery *delivery,
                  const struct webhook_send_result *result, bool gone,
                  struct webhook_outcome *outcome)
{
    if (result->interrupted) {
        /* Stopping: not an attempt; due again as soon as a node runs. */
        outcome->state = "pending";
        outcome->next_at = outcome->now;
        outcome->last_error = "interrupted by a shutdown";
        return;
    }
    outcome->attempts = delivery->attempts + 1;
    outcome->last_status = result->http_status;
    outcome->last_error = result->error[0] ? result->error : NULL;
    if (result->delivered) {
        outcome->state = "delivered";
        atomic_fetch_add(&webhooks->counters.succeeded, 1);
        return;
    }
    plan_retry(webhooks, delivery, result->refused || gone, outcome->now, outcome);
}

/* One attempt at a taken delivery; fills *outcome (its strings may point
 * into *result), whose state stays NULL when the store could not say what
 * the intent is (the row is then retaken once its lease ends). */
static void attempt(struct webhooks *webhooks, const struct webhook_delivery *delivery,
                    struct webhook_send_result *result, struct webhook_outcome *outcome)
{
    struct store *store = webhooks->bus->store;
    struct intent_record record = {0};
    enum bus_err err = store->ops->get_intent(store->backend, delivery->intent_id, &record);
    memset(result, 0, sizeof *result);
    outcome->state = NULL;
    if (err == BUS_OK && record.status != INTENT_FULFILLED && record.status != INTENT_DEAD) {
        /* Retried by the admin meanwhile: the next settling arms it again. */
        outcome->state = "waiting";
    } else if (err == BUS_OK || err == BUS_ERR_NOT_FOUND) {
        send_event(webhooks, delivery, err == BUS_OK ? &record : NULL, result);
        judge(webhooks, delivery, result, err == BUS_ERR_NOT_FOUND, outcome);
    }
    intent_record_clear(&record);
}

/* Waits up to seconds, or until poked or stopped; false once stopping. */
static bool wait_for(struct webhooks *webhooks, double seconds)
{
    struct timespec until = clock_monotonic_deadline(seconds);
    pthread_mutex_lock(&webhooks->lock);
    unsigned seen = webhooks->pokes;
    while (!webhooks->stopping && webhooks->pokes == seen &&
           pthread_cond_timedwait(&webhooks->wake, &webhooks->lock, &until) != ETIMEDOUT)
        ;
    bool going = !webhooks->stopping;
    pthread_mutex_unlock(&webhooks->lock);
    return going;
}

static bool stopping(struct webhooks *webhooks)
{
    pthread_mutex_lock(&webhooks->lock);
    bool stop = webhooks->stopping;
    pthread_mutex_unlock(&webhooks->lock);
    return stop;
}

static void log_failure(const char *what, enum bus_err err, double *last_logged)
{
    if (clock_monotonic() - *last_logged < FAILURE_LOG_INTERVAL)
        return;
    fprintf(stderr, "intent-bus: webhooks: %s failed (%s); retrying\n", what, bus_err_code(err));
    *last_logged = clock_monotonic();
}

/* Takes and attempts due deliveries until none is left, then waits. */
static void *delivery_main(void *arg)
{
    struct webhooks *webhooks = arg;
    thread_name_set("bus-webhook", -1);
    struct store *store = webhooks->bus->store;
    double last_logged = -FAILURE_LOG_INTERVAL;
    do {
        for (;;) {
            struct webhook_delivery delivery;
            double now = clock_now();
            enum bus_err err =
                store->ops->webhook_take(store->backend, now, now + LEASE_SECONDS, &delivery);
            if (err != BUS_OK) {
                if (err != BUS_ERR_EMPTY)
                    log_failure("looking for due deliveries", err, &last_logged);
                break;
            }
            struct webhook_send_result result;
            struct webhook_outcome outcome = {.intent_id = delivery.intent_id,
                                              .armed_at = delivery.armed_at,
                                              .attempts = delivery.attempts,
                                              .next_at = NAN};
            outcome.now = clock_now();
            attempt(webhooks, &delivery, &result, &outcome);
            if (outcome.state != NULL &&
                (err = store->ops->webhook_record(store->backend, &outcome)) != BUS_OK)
                log_failure("recording a delivery", err, &last_logged);
            if (stopping(webhooks))
                return NULL;
        }
    } while (wait_for(webhooks, webhooks->poll_seconds));
    return NULL;
}

static void free_webhooks(struct webhooks *webhooks)
{
    pthread_cond_destroy(&webhooks->wake);
    pthread_mutex_destroy(&webhooks->lock);
    webhook_policy_free(webhooks->policy);
    free(webhooks->secret);
    free(webhooks);
}

static struct webhooks *create(struct bus *bus, const struct webhook_settings *settings, char *why,
                               size_t why_size)
{
    if (settings->secret == NULL || settings->secret[0] == '\0') {
        snprintf(why, why_size, "webhooks need a signing secret");
        return NULL;
    }
    struct webhooks *webhooks = calloc(1, sizeof *webhooks);
    if (webhooks == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    webhooks->bus = bus;
    webhooks->retry_base =
        settings->retry_base > 0 ? settings->retry_base : WEBHOOK_RETRY_BASE_DEFAULT;
    webhooks->poll_seconds = fmax(0.05, fmin(1.0, webhooks->retry_base / 4.0));
    pthread_mutex_init(&webhooks->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&webhooks->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    webhooks->secret = strdup(settings->secret);
    webhooks->policy = webhook_policy_new(settings->allow, settings->allow_private, why, why_size);
    if (webhooks->secret == NULL || webhooks->policy == NULL) {
        free_webhooks(webhooks);
        return NULL;
    }
    return webhooks;
}

struct webhooks *webhooks_start(struct bus *bus, const struct webhook_settings *settings, char *why,
                                size_t why_size)
{
    struct webhooks *webhooks = create(bus, settings, why, why_size);
    if (webhooks == NULL)
        return NULL;
    webhooks->curl = libcurl_load();
    if (webhooks->curl == NULL) {
        snprintf(why, why_size, "libcurl cannot be loaded (Debian: apt-get install libcurl4)");
        free_webhooks(webhooks);
        return NULL;
    }
    for (int i = 0; i < WEBHOOK_THREADS; i++) {
        if (pthread_create(&webhooks->threads[i], NULL, delivery_main, webhooks) != 0) {
            snprintf(why, why_size, "cannot start the delivery threads");
            webhooks_stop(webhooks);
            return NULL;
        }
        webhooks->thread_count++;
    }
    return webhooks;
}

void webhooks_stop(struct webhooks *webhooks)
{
    if (webhooks == NULL)
        return;
    pthread_mutex_lock(&webhooks->lock);
    webhooks->stopping = true;
    atomic_store(&webhooks->cancel, true);
    pthread_cond_broadcast(&webhooks->wake);
    pthread_mutex_unlock(&webhooks->lock);
    for (int i = 0; i < webhooks->thread_count; i++)
        pthread_join(webhooks->threads[i], NULL);
    free_webhooks(webhooks);
}

void webhooks_poke(struct webhooks *webhooks)
{
    if (webhooks == NULL)
        return;
    pthread_mutex_lock(&webhooks->lock);
    webhooks->pokes++;
    pthread_cond_broadcast(&webhooks->wake);
    pthread_mutex_unlock(&webhooks->lock);
}

void webhooks_key_secret(const struct webhooks *webhooks, const char *principal,
                         char secret[SIGNATURE_HEX_LEN + 1])
{
    signature_hmac_hex(webhooks->secret, strlen(webhooks->secret), principal, strlen(principal),
                       secret);
}

enum bus_err bus_webhook_secret(struct bus *bus, const struct principal *caller,
                                struct bus_reply *reply, struct bus_error *error)
{
    if (bus->webhooks == NULL)
        return bus_error_set(error, BUS_ERR_NOT_FOUND, "webhooks_off",
                             "webhooks are off on this bus (its operator sets BUS_WEBHOOK_ALLOW)");
    char secret[SIGNATURE_HEX_LEN + 1];
    webhooks_key_secret(bus->webhooks, caller->id, secret);
    json_t *body = json_pack("{s:s, s:s}", "secret", secret, "header", "X-Intent-Signature");
    reply->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (reply->body == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    reply->status = 200;
    return BUS_OK;
}

enum bus_err webhooks_check_url(const struct webhooks *webhooks, const char *url,
                                struct bus_error *error)
{
    struct webhook_url parsed;
    return webhook_policy_check(webhooks ? webhooks->policy : NULL, url, &parsed, error);
}

static json_t *time_or_null(double seconds)
{
    return isnan(seconds) ? json_null() : json_real(seconds);
}

json_t *webhooks_state_json(struct bus *bus, const char *intent_id)
{
    if (bus->webhooks == NULL)
        return NULL;
    struct webhook_record record;
    struct store *store = bus->store;
    if (store->ops->webhook_get(store->backend, intent_id, &record) != BUS_OK)
        return NULL;
    return json_pack(
        "{s:s, s:s, s:i, s:o, s:o, s:o, s:o}", "url", record.url, "state", record.state, "attempts",
        record.attempts, "last_status",
        record.last_status > 0 ? json_integer(record.last_status) : json_null(), "last_error",
        record.last_error[0] ? json_string(record.last_error) : json_null(), "next_attempt_at",
        time_or_null(record.next_at), "delivered_at", time_or_null(record.delivered_at));
}

const struct webhook_counters *webhooks_counters(const struct webhooks *webhooks)
{
    return &webhooks->counters;
}

enum bus_err webhooks_pending(struct bus *bus, long *count)
{
    return bus->store->ops->webhook_pending(bus->store->backend, count);
}

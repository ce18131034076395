/* The PostgreSQL backend's completion webhooks (struct webhook_record):
 * the delivery rows of migration 5, armed by its trigger, and the
 * delivery threads' operations. With several nodes on one database a due
 * delivery is leased to one node at a time (FOR UPDATE SKIP LOCKED, then
 * lease_until), so two nodes never send the same attempt. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store/postgres_rows.h"

enum bus_err pg_webhook_insert(PGconn *conn, const struct intent_new *intent)
{
    if (intent->notify_url[0] == '\0')
        return BUS_OK;
    const char *params[] = {intent->id, intent->notify_url};
    return pg_exec(conn, "webhook insert",
                   "INSERT INTO webhooks (intent_id, url, state) VALUES ($1, $2, 'waiting')", 2,
                   params, NULL);
}

#define DUE_WHERE                                                                                  \
    " state = 'pending' AND next_at <= $1::float8"                                                 \
    " AND (lease_until IS NULL OR lease_until <= $1::float8)"

struct take_args {
    const char *const *params;
    struct webhook_delivery *out;
};

static enum bus_err take_op(void *connection, void *arg)
{
    struct take_args *args = arg;
    PGresult *res = NULL;
    enum bus_err err = pg_exec(connection, "webhook take",
                               "UPDATE webhooks w SET lease_until = $2::float8 FROM"
                               " (SELECT intent_id FROM webhooks WHERE" DUE_WHERE
                               "  ORDER BY next_at LIMIT 1 FOR UPDATE SKIP LOCKED) due"
                               " WHERE w.intent_id = due.intent_id"
                               " RETURNING w.intent_id, w.url, w.attempts, w.armed_at",
                               2, args->params, &res);
    if (err != BUS_OK)
        return err;
    if (PQntuples(res) == 1) {
        pg_copy(res, 0, 0, args->out->intent_id, sizeof args->out->intent_id);
        pg_copy(res, 0, 1, args->out->url, sizeof args->out->url);
        args->out->attempts = (int)pg_long(res, 0, 2);
        args->out->armed_at = pg_double(res, 0, 3);
    } else {
        err = BUS_ERR_EMPTY;
    }
    PQclear(res);
    return err;
}

/* Whether anything is due, on a pooled reader: the delivery threads look
 * often, and an idle look should not take the writer. */
static enum bus_err any_due(struct pg_backend *self, const char *const *params)
{
    PGresult *res = NULL;
    enum bus_err err = pg_pool_read(
        self, "webhook due", "SELECT 1 FROM webhooks WHERE" DUE_WHERE " LIMIT 1", 1, params, &res);
    if (err == BUS_OK && PQntuples(res) == 0)
        err = BUS_ERR_EMPTY;
    PQclear(res);
    return err;
}

enum bus_err pg_webhook_take(void *backend, double now, double lease_until,
                             struct webhook_delivery *out)
{
    char now_text[32], until_text[32];
    const char *params[] = {pg_double_param(now, now_text),
                            pg_double_param(lease_until, until_text)};
    enum bus_err err = any_due(backend, params);
    if (err != BUS_OK)
        return err;
    struct take_args args = {params, out};
    return pg_write(backend, take_op, &args);
}

static enum bus_err record_op(void *connection, void *arg)
{
    const struct webhook_outcome *outcome = arg;
    bool pending = strcmp(outcome->state, "pending") == 0;
    bool delivered = strcmp(outcome->state, "delivered") == 0;
    char armed_at[32], attempts[24], status[24], next_at[32], now[32];
    const char *params[] = {outcome->intent_id,
                            pg_double_param(outcome->armed_at, armed_at),
                            outcome->state,
                            pg_long_param(outcome->attempts, attempts),
                            outcome->last_status > 0 ? pg_long_param(outcome->last_status, status)
                                                     : NULL,
                            outcome->last_error,
                            pending ? pg_double_param(outcome->next_at, next_at) : NULL,
                            delivered ? pg_double_param(outcome->now, now) : NULL};
    return pg_exec(connection, "webhook record",
                   "UPDATE webhooks SET state = $3, attempts = $4::integer,"
                   " last_status = $5::integer, last_error = $6, next_at = $7::float8,"
                   " delivered_at = $8::float8, lease_until = NULL"
                   " WHERE intent_id = $1 AND armed_at = $2::float8 AND state = 'pending'",
                   8, params, NULL);
}

enum bus_err pg_webhook_record(void *backend, const struct webhook_outcome *outcome)
{
    return pg_write(backend, record_op, (void *)outcome);
}

enum bus_err pg_webhook_get(void *backend, const char *intent_id, struct webhook_record *out)
{
    PGresult *res = NULL;
    const char *params[] = {intent_id};
    enum bus_err err = pg_pool_read(backend, "webhook read",
                               "SELECT url, state, attempts, last_status, last_error, armed_at,"
                               " next_at, delivered_at FROM webhooks WHERE intent_id = $1",
                               1, params, &res);
    if (err == BUS_OK && PQntuples(res) == 0)
        err = BUS_ERR_NOT_FOUND;
    if (err == BUS_OK) {
        memset(out, 0, sizeof *out);
        pg_copy(res, 0, 0, out->url, sizeof out->url);
        pg_copy(res, 0, 1, out->state, sizeof out->state);
        out->attempts = (int)pg_long(res, 0, 2);
        out->last_status = (int)pg_long(res, 0, 3);
        pg_copy(res, 0, 4, out->last_error, sizeof out->last_error);
        out->armed_at = pg_double(res, 0, 5);
        out->next_at = strcmp(out->state, "pending") == 0 ? pg_double(res, 0, 6) : NAN;
        out->delivered_at = pg_double(res, 0, 7);
    }
    PQclear(res);
    return err;
}

enum bus_err pg_webhook_pending(void *backend, long *count)
{
    PGresult *res = NULL;
    enum bus_err err =
        pg_pool_read(backend, "webhook count", "SELECT count(*) FROM webhooks WHERE state = 'pending'", 0,
                NULL, &res);
    *count = err == BUS_OK ? pg_long(res, 0, 0) : 0;
    PQclear(res);
    return err;
}

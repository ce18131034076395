/* The PostgreSQL backend's goal controls (pause and concurrency limit):
 * set and read here; honoured by the claim (claim_sql in postgres.c, with
 * PG_CLAIM_BLOCKED_GOALS_SQL and the recheck below). Migration 3 made the
 * table: a row per goal with a control, none for a goal with neither. */
#include <stdio.h>
#include <string.h>

#include "store/postgres_rows.h"

enum bus_err pg_goal_limit_check(PGconn *conn, const char *namespace_, const char *goal,
                                 double now)
{
    const char *key[] = {namespace_, goal};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, "goal limit lock",
                               "SELECT max_claimed FROM goal_controls"
                               " WHERE namespace = $1 AND goal = $2 FOR UPDATE",
                               2, key, &res);
    if (err != BUS_OK)
        return err;
    long limit = PQntuples(res) == 1 ? pg_long(res, 0, 0) : 0; /* NULL: removed meanwhile */
    PQclear(res);
    if (limit <= 0)
        return BUS_OK;
    char at[32];
    const char *count[] = {namespace_, goal, pg_double_param(now, at)};
    err = pg_exec(conn, "goal limit count",
                  "SELECT count(*) FROM intents WHERE status = 'claimed'"
                  " AND claim_expires_at > $3::float8 AND namespace = $1 AND goal = $2",
                  3, count, &res);
    if (err != BUS_OK)
        return err;
    long held = pg_long(res, 0, 0);
    PQclear(res);
    return held <= limit ? BUS_OK : BUS_ERR_EMPTY;
}

/* $3: 0 keeps paused, 1 sets it, 2 clears it; $4: whether to set the limit
 * to $5 (0 = none). */
static const char upsert_sql[] =
    "INSERT INTO goal_controls AS g (namespace, goal, paused, max_claimed, updated_at)"
    " VALUES ($1, $2, CASE WHEN $3::int = 1 THEN 1 ELSE 0 END,"
    "         CASE WHEN $4::boolean THEN NULLIF($5::bigint, 0) END, $6::float8)"
    " ON CONFLICT (namespace, goal) DO UPDATE SET"
    " paused = CASE $3::int WHEN 0 THEN g.paused WHEN 1 THEN 1 ELSE 0 END,"
    " max_claimed = CASE WHEN $4::boolean THEN NULLIF($5::bigint, 0) ELSE g.max_claimed END,"
    " updated_at = $6::float8"
    " RETURNING paused, max_claimed, updated_at";

struct control_args {
    const struct goal_control_change *change;
    struct goal_control *out;
};

static void read_control(const PGresult *res, int row, int first, struct goal_control *out)
{
    out->paused = pg_long(res, row, first) != 0;
    out->max_claimed = pg_long(res, row, first + 1); /* NULL reads as 0 */
    out->updated_at = pg_double(res, row, first + 2);
}

static enum bus_err control_set_op(void *connection, void *arg)
{
    const struct control_args *args = arg;
    const struct goal_control_change *change = args->change;
    char pause[8], limit[24], now[32];
    snprintf(pause, sizeof pause, "%d", (int)change->pause);
    const char *params[] = {change->namespace_,
                            change->goal,
                            pause,
                            change->set_limit ? "true" : "false",
                            pg_long_param(change->max_claimed, limit),
                            pg_double_param(change->now, now)};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(connection, "goal control", upsert_sql, 6, params, &res);
    if (err != BUS_OK)
        return err;
    struct goal_control *out = args->out;
    memset(out, 0, sizeof *out);
    snprintf(out->namespace_, sizeof out->namespace_, "%s", change->namespace_);
    snprintf(out->goal, sizeof out->goal, "%s", change->goal);
    read_control(res, 0, 0, out);
    PQclear(res);
    /* A goal with neither control keeps no row. */
    return pg_exec(connection, "goal control",
                   "DELETE FROM goal_controls WHERE namespace = $1 AND goal = $2"
                   " AND paused = 0 AND max_claimed IS NULL",
                   2, params, NULL);
}

enum bus_err pg_goal_control_set(void *backend, const struct goal_control_change *change,
                                 struct goal_control *out)
{
    struct control_args args = {change, out};
    return pg_write(backend, control_set_op, &args);
}

enum bus_err pg_goal_control_list(void *backend, store_each_goal_control each, void *context)
{
    PGresult *res = NULL;
    enum bus_err err = pg_pool_read(backend, "goal controls",
                               "SELECT namespace, goal, paused, max_claimed, updated_at"
                               " FROM goal_controls ORDER BY namespace COLLATE \"C\","
                               " goal COLLATE \"C\"",
                               0, NULL, &res);
    for (int row = 0; err == BUS_OK && row < PQntuples(res); row++) {
        struct goal_control control;
        memset(&control, 0, sizeof control);
        pg_copy(res, row, 0, control.namespace_, sizeof control.namespace_);
        pg_copy(res, row, 1, control.goal, sizeof control.goal);
        read_control(res, row, 2, &control);
        each(context, &control);
    }
    PQclear(res);
    return err;
}

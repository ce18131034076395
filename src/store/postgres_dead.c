/* The PostgreSQL backend's dead letters: their listing, one by id, and the
 * filtered purge, with the SQLite backend's semantics (sqlite_admin.c). */
#include <string.h>

#include "store/postgres_rows.h"

#define DEAD_LETTER_COLUMNS                                                                        \
    "intent_id, namespace, goal, publisher, claim_attempts, max_attempts, reason, died_at,"        \
    " last_error, payload"

/* $1 to $4 of every filtered statement; strpos, so the error text holds no
 * wildcard. */
#define DEAD_FILTER_SQL                                                                            \
    " ($1::text IS NULL OR namespace = $1::text) AND ($2::text IS NULL OR goal = $2::text)"        \
    " AND ($3::text IS NULL OR reason = $3::text)"                                                 \
    " AND ($4::text IS NULL OR strpos(last_error, $4::text) > 0)"

static void filter_params(const struct dead_filter *filter, const char *params[4])
{
    params[0] = pg_text_param(filter->namespace_);
    params[1] = pg_text_param(filter->goal);
    params[2] = pg_text_param(filter->reason);
    params[3] = pg_text_param(filter->error_text);
}

static void read_dead_letter(const PGresult *res, int row, struct dead_letter *out)
{
    pg_copy(res, row, 0, out->intent_id, sizeof out->intent_id);
    pg_copy(res, row, 1, out->namespace_, sizeof out->namespace_);
    pg_copy(res, row, 2, out->goal, sizeof out->goal);
    pg_copy(res, row, 3, out->publisher, sizeof out->publisher);
    out->claim_attempts = (int)pg_long(res, row, 4);
    out->max_attempts = (int)pg_long(res, row, 5);
    pg_copy(res, row, 6, out->reason, sizeof out->reason);
    out->died_at = pg_double(res, row, 7);
    out->last_error = pg_dup(res, row, 8);
    out->payload_json = pg_dup(res, row, 9);
}

struct dead_rows {
    store_each_dead_letter each;
    void *context;
};

static void dead_row(const PGresult *res, int row, void *context)
{
    struct dead_rows *rows = context;
    struct dead_letter letter = {0};
    read_dead_letter(res, row, &letter);
    rows->each(rows->context, &letter);
    dead_letter_clear(&letter);
}

enum bus_err pg_dead_list(void *backend, const struct dead_filter *filter,
                          store_each_dead_letter each, void *context)
{
    struct dead_rows rows = {each, context};
    char limit[24];
    const char *params[5];
    filter_params(filter, params);
    params[4] = pg_long_param(filter->limit, limit);
    return pg_read_rows(backend, "dead list",
                        "SELECT " DEAD_LETTER_COLUMNS " FROM dead_letters WHERE" DEAD_FILTER_SQL
                        " ORDER BY died_at DESC LIMIT $5::integer",
                        PG_PARAM_COUNT(params), params, dead_row, &rows);
}

struct dead_purge_args {
    const struct dead_filter *filter;
    long *deleted;
};

static enum bus_err dead_purge_op(void *connection, void *arg)
{
    struct dead_purge_args *args = arg;
    const char *params[4];
    filter_params(args->filter, params);
    *args->deleted = 0;
    enum bus_err err = pg_run(connection, "dead purge",
                              "DELETE FROM intents WHERE status = 'dead' AND id IN"
                              " (SELECT intent_id FROM dead_letters WHERE" DEAD_FILTER_SQL ")",
                              PG_PARAM_COUNT(params), params, NULL);
    if (err != BUS_OK)
        return err;
    return pg_run(connection, "dead purge", "DELETE FROM dead_letters WHERE" DEAD_FILTER_SQL,
                  PG_PARAM_COUNT(params), params, args->deleted);
}

enum bus_err pg_dead_purge(void *backend, const struct dead_filter *filter, long *deleted)
{
    struct dead_purge_args args = {filter, deleted};
    return pg_write(backend, dead_purge_op, &args);
}

static void dead_one(const PGresult *res, int row, void *context)
{
    struct dead_letter *out = context;
    dead_letter_clear(out);
    read_dead_letter(res, row, out);
}

enum bus_err pg_dead_get(void *backend, const char *id, struct dead_letter *out)
{
    memset(out, 0, sizeof *out);
    const char *params[] = {id};
    enum bus_err err = pg_read_rows(backend, "dead letter",
                                    "SELECT " DEAD_LETTER_COLUMNS " FROM dead_letters"
                                    " WHERE intent_id = $1",
                                    PG_PARAM_COUNT(params), params, dead_one, out);
    if (err == BUS_OK && out->intent_id[0] == '\0')
        return BUS_ERR_NOT_FOUND;
    return err;
}

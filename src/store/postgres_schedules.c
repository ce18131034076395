/* The PostgreSQL backend's schedules, with the SQLite backend's semantics
 * (sqlite_schedules.c); their tables come from the migrations
 * (postgres_schema.c). A step (one occurrence) runs in one writer
 * transaction: the schedule's guarded advance, its unique fire record and
 * the intent it publishes commit together or not at all, so with any
 * number of nodes an occurrence is published at most once: a second node's
 * advance waits for the first's row lock, then finds next_at moved on. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres_rows.h"

#define SCHEDULE_COLUMNS                                                                           \
    "id, name, owner, cron, every, timezone, intent, overlap, catch_up, paused, revision,"         \
    " next_at, created_at, updated_at, fires, skips, last_fire_at, last_intent_id, open_limit"

static void read_schedule(const PGresult *res, int row, struct schedule *out)
{
    memset(out, 0, sizeof *out);
    pg_copy(res, row, 0, out->id, sizeof out->id);
    pg_copy(res, row, 1, out->name, sizeof out->name);
    pg_copy(res, row, 2, out->owner, sizeof out->owner);
    pg_copy(res, row, 3, out->cron, sizeof out->cron);
    out->every = PQgetisnull(res, row, 4) ? 0 : pg_double(res, row, 4);
    pg_copy(res, row, 5, out->timezone, sizeof out->timezone);
    out->intent_json = pg_dup(res, row, 6);
    out->overlap_skip = strcmp(PQgetvalue(res, row, 7), "skip") == 0;
    out->catch_up_one = strcmp(PQgetvalue(res, row, 8), "one") == 0;
    out->paused = pg_long(res, row, 9) != 0;
    out->revision = pg_long(res, row, 10);
    out->next_at = pg_double(res, row, 11);
    out->created_at = pg_double(res, row, 12);
    out->updated_at = pg_double(res, row, 13);
    out->fires = pg_long(res, row, 14);
    out->skips = pg_long(res, row, 15);
    out->last_fire_at = pg_double(res, row, 16);
    pg_copy(res, row, 17, out->last_intent_id, sizeof out->last_intent_id);
    out->open_limit = pg_long(res, row, 18);
}

/* ---- reads ------------------------------------------------------------- */

struct schedule_rows {
    store_each_schedule each;
    void *context;
    bool found;
};

static void schedule_row(const PGresult *res, int row, void *context)
{
    struct schedule_rows *rows = context;
    struct schedule schedule;
    read_schedule(res, row, &schedule);
    rows->found = true;
    rows->each(rows->context, &schedule);
    schedule_clear(&schedule);
}

static void keep_schedule(void *context, const struct schedule *schedule)
{
    struct schedule *out = context;
    *out = *schedule;
    out->intent_json = schedule->intent_json ? strdup(schedule->intent_json) : NULL;
}

enum bus_err pg_schedule_get(void *backend, const char *name, const char *owner,
                             struct schedule *out)
{
    struct schedule_rows rows = {keep_schedule, out, false};
    const char *params[] = {name, owner};
    enum bus_err err = pg_read_rows(backend, "schedule get",
                                    "SELECT " SCHEDULE_COLUMNS " FROM schedules"
                                    " WHERE name = $1 AND ($2::text IS NULL OR owner = $2::text)",
                                    PG_PARAM_COUNT(params), params, schedule_row, &rows);
    if (err == BUS_OK && !rows.found)
        return BUS_ERR_NOT_FOUND;
    if (err == BUS_OK && out->intent_json == NULL)
        return BUS_ERR_INTERNAL; /* out of memory copying it */
    return err;
}

enum bus_err pg_schedule_list(void *backend, const char *owner, store_each_schedule each,
                              void *context)
{
    struct schedule_rows rows = {each, context, false};
    const char *params[] = {owner};
    return pg_read_rows(backend, "schedule list",
                        "SELECT " SCHEDULE_COLUMNS " FROM schedules"
                        " WHERE $1::text IS NULL OR owner = $1::text ORDER BY name COLLATE \"C\"",
                        PG_PARAM_COUNT(params), params, schedule_row, &rows);
}

enum bus_err pg_schedule_due(void *backend, double now, store_each_schedule each, void *context)
{
    struct schedule_rows rows = {each, context, false};
    char now_text[32];
    const char *params[] = {pg_double_param(now, now_text)};
    return pg_read_rows(backend, "schedules due",
                        "SELECT " SCHEDULE_COLUMNS " FROM schedules"
                        " WHERE paused = 0 AND next_at <= $1::float8 ORDER BY next_at",
                        PG_PARAM_COUNT(params), params, schedule_row, &rows);
}

struct fire_rows {
    store_each_fire each;
    void *context;
};

static void fire_row(const PGresult *res, int row, void *context)
{
    struct fire_rows *rows = context;
    struct schedule_fire_record fire;
    fire.fire_at = pg_double(res, row, 0);
    pg_copy(res, row, 1, fire.outcome, sizeof fire.outcome);
    pg_copy(res, row, 2, fire.intent_id, sizeof fire.intent_id);
    fire.recorded_at = pg_double(res, row, 3);
    rows->each(rows->context, &fire);
}

enum bus_err pg_schedule_fires(void *backend, const char *schedule_id, int limit,
                               store_each_fire each, void *context)
{
    struct fire_rows rows = {each, context};
    char limit_text[24];
    const char *params[] = {schedule_id, pg_long_param(limit, limit_text)};
    return pg_read_rows(backend, "schedule fires",
                        "SELECT fire_at, outcome, intent_id, recorded_at FROM schedule_fires"
                        " WHERE schedule_id = $1 ORDER BY fire_at DESC LIMIT $2::integer",
                        PG_PARAM_COUNT(params), params, fire_row, &rows);
}

/* ---- definition writes ---------------------------------------------------- */

struct put_args {
    const struct schedule *schedule;
    bool *created;
};

/* The definition's parameters, $1 to $11 of both statements below. */
struct definition_params {
    char every[32], next_at[32], updated_at[32], open_limit[24];
    const char *values[11];
};

static void definition_params(const struct schedule *s, struct definition_params *p)
{
    const char *values[] = {
        s->name,
        s->owner,
        pg_text_param(s->cron),
        pg_double_param(s->every, p->every),
        s->timezone,
        s->intent_json,
        s->overlap_skip ? "skip" : "allow",
        s->catch_up_one ? "one" : "none",
        pg_double_param(s->next_at, p->next_at),
        pg_double_param(s->updated_at, p->updated_at),
        pg_long_param(s->open_limit, p->open_limit),
    };
    static_assert(sizeof values == sizeof p->values, "every definition column");
    memcpy(p->values, values, sizeof values);
}

/* Creates the schedule, or else replaces the definition of the caller's
 * own. ON CONFLICT rather than a look-up first: two nodes creating the
 * same name at once must give one creation and one replacement (or
 * BUS_ERR_FORBIDDEN), not a unique-key failure. */
static enum bus_err put_op(void *connection, void *arg)
{
    struct put_args *args = arg;
    struct definition_params p;
    definition_params(args->schedule, &p);
    const char *insert[12] = {args->schedule->id};
    memcpy(insert + 1, p.values, sizeof p.values);
    long changed = 0;
    enum bus_err err =
        pg_run(connection, "schedule put",
               "INSERT INTO schedules (id, name, owner, cron, every, timezone, intent, overlap,"
               " catch_up, next_at, updated_at, created_at, revision, open_limit)"
               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 1, $12)"
               " ON CONFLICT (name) DO NOTHING",
               PG_PARAM_COUNT(insert), insert, &changed);
    *args->created = changed == 1;
    if (err != BUS_OK || changed == 1)
        return err;
    err = pg_run(connection, "schedule put",
                 "UPDATE schedules SET cron = $3, every = $4, timezone = $5, intent = $6,"
                 " overlap = $7, catch_up = $8, next_at = $9, updated_at = $10,"
                 " open_limit = $11, revision = revision + 1 WHERE name = $1 AND owner = $2",
                 PG_PARAM_COUNT(p.values), p.values, &changed);
    if (err == BUS_OK && changed == 0)
        return BUS_ERR_FORBIDDEN; /* the name is another owner's */
    return err;
}

enum bus_err pg_schedule_put(void *backend, const struct schedule *schedule, bool *created)
{
    struct put_args args = {schedule, created};
    return pg_write(backend, put_op, &args);
}

struct state_args {
    const char *name;
    const char *owner;
    bool paused;
    double next_at;
    double now;
    bool remove;
};

/* Runs sql (name $1, owner $2, then more) that returns the schedule's id;
 * BUS_ERR_NOT_FOUND when it matched no schedule. */
static enum bus_err change_one(PGconn *conn, const char *sql, int param_count,
                               const char *const *params, char id[SCHEDULE_ID_LEN + 1])
{
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, "schedule state", sql, param_count, params, &res);
    if (err != BUS_OK)
        return err;
    bool found = PQntuples(res) == 1;
    if (found)
        pg_copy(res, 0, 0, id, SCHEDULE_ID_LEN + 1);
    PQclear(res);
    return found ? BUS_OK : BUS_ERR_NOT_FOUND;
}

static enum bus_err state_op(void *connection, void *arg)
{
    struct state_args *args = arg;
    char id[SCHEDULE_ID_LEN + 1];
    char next_at[32], now[32];
    const char *params[] = {args->name, args->owner, args->paused ? "1" : "0",
                            pg_double_param(args->next_at, next_at),
                            pg_double_param(args->now, now)};
    if (!args->remove)
        return change_one(connection,
                          "UPDATE schedules SET paused = $3::integer, revision = revision + 1,"
                          " next_at = CASE WHEN $3::integer <> 0 THEN next_at"
                          " ELSE $4::float8 END, updated_at = $5::float8"
                          " WHERE name = $1 AND ($2::text IS NULL OR owner = $2::text)"
                          " RETURNING id",
                          PG_PARAM_COUNT(params), params, id);
    enum bus_err err = change_one(connection,
                                  "DELETE FROM schedules WHERE name = $1"
                                  " AND ($2::text IS NULL OR owner = $2::text) RETURNING id",
                                  2, params, id);
    const char *fires[] = {id};
    if (err == BUS_OK)
        err = pg_run(connection, "schedule delete",
                     "DELETE FROM schedule_fires WHERE schedule_id = $1", 1, fires, NULL);
    return err;
}

enum bus_err pg_schedule_set_paused(void *backend, const char *name, const char *owner, bool paused,
                                    double next_at, double now)
{
    struct state_args args = {name, owner, paused, next_at, now, false};
    return pg_write(backend, state_op, &args);
}

enum bus_err pg_schedule_delete(void *backend, const char *name, const char *owner)
{
    struct state_args args = {name, owner, false, NAN, 0, true};
    return pg_write(backend, state_op, &args);
}

/* ---- one occurrence ------------------------------------------------------- */

/* Moves next_at on, if the schedule is still the one the step was computed
 * from; *id gets its id. BUS_ERR_EMPTY when it is not (changed, paused,
 * deleted, or stepped by another node: its update holds the row until it
 * commits, and this one then re-reads the row and no longer matches). */
static enum bus_err advance(PGconn *conn, const struct store_schedule_step *step,
                            char id[SCHEDULE_ID_LEN + 1])
{
    char revision[24], expected[32], next_at[32], missed[24];
    const char *params[] = {step->name, pg_long_param(step->revision, revision),
                            pg_double_param(step->expected_next_at, expected),
                            pg_double_param(step->next_at, next_at),
                            pg_long_param(step->missed, missed)};
    enum bus_err err = change_one(conn,
                                  "UPDATE schedules SET next_at = $4::float8,"
                                  " skips = skips + $5::bigint WHERE name = $1"
                                  " AND revision = $2::bigint AND next_at = $3::float8"
                                  " AND paused = 0 RETURNING id",
                                  PG_PARAM_COUNT(params), params, id);
    return err == BUS_ERR_NOT_FOUND ? BUS_ERR_EMPTY : err;
}

/* Takes the occurrence's unique row; BUS_ERR_EMPTY when it is taken. */
static enum bus_err take_occurrence(PGconn *conn, const char *id,
                                    const struct store_schedule_step *step)
{
    char fire_at[32], now[32];
    const char *params[] = {id, pg_double_param(step->fire_at, fire_at),
                            pg_double_param(step->now, now)};
    long taken = 0;
    enum bus_err err = pg_run(conn, "schedule occurrence",
                              "INSERT INTO schedule_fires"
                              " (schedule_id, fire_at, outcome, recorded_at)"
                              " VALUES ($1, $2, 'pending', $3) ON CONFLICT DO NOTHING",
                              PG_PARAM_COUNT(params), params, &taken);
    return err == BUS_OK && taken == 0 ? BUS_ERR_EMPTY : err;
}

/* Whether the schedule's last published intent is still open or claimed. */
static enum bus_err previous_still_running(PGconn *conn, const char *id, bool *running)
{
    const char *params[] = {id};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, "overlap check",
                               "SELECT 1 FROM schedules s JOIN intents i"
                               " ON i.id = s.last_intent_id WHERE s.id = $1"
                               " AND (i.status = 'open' OR i.status = 'claimed')",
                               PG_PARAM_COUNT(params), params, &res);
    if (err != BUS_OK)
        return err;
    *running = PQntuples(res) > 0;
    PQclear(res);
    return BUS_OK;
}

/* A tester key's schedule (open_limit > 0) stops publishing once the key
 * is revoked; the main key is not in api_keys. */
static enum bus_err owner_revoked(PGconn *conn, const struct store_schedule_step *step,
                                  bool *revoked)
{
    *revoked = false;
    if (step->open_limit <= 0)
        return BUS_OK;
    char owner[OWNER_MAX_BYTES + 1];
    enum bus_err err = pg_key_owner(conn, step->intent->publisher, owner);
    *revoked = err == BUS_ERR_NOT_FOUND;
    return *revoked ? BUS_OK : err;
}

static enum bus_err decide(PGconn *conn, const char *id, struct store_schedule_step *step)
{
    bool running = false, revoked = false;
    enum bus_err err = owner_revoked(conn, step, &revoked);
    if (err != BUS_OK || revoked) {
        step->outcome = SCHEDULE_SKIPPED_REVOKED;
        return err;
    }
    if (step->overlap_skip)
        err = previous_still_running(conn, id, &running);
    if (err != BUS_OK || running) {
        step->outcome = SCHEDULE_SKIPPED_OVERLAP;
        return err;
    }
    err = pg_check_open_limit(conn, step->intent->publisher, step->open_limit);
    if (err == BUS_ERR_LIMIT_EXCEEDED) {
        step->outcome = SCHEDULE_SKIPPED_LIMIT;
        return BUS_OK;
    }
    if (err == BUS_OK)
        err = pg_insert_intent(conn, step->intent);
    if (err == BUS_OK)
        step->outcome = SCHEDULE_FIRED;
    return err;
}

/* Writes what became of the occurrence into its row and the counters. */
static enum bus_err record_outcome(PGconn *conn, const char *id,
                                   const struct store_schedule_step *step)
{
    bool fired = step->outcome == SCHEDULE_FIRED;
    char fire_at[32], last_fire_at[32], horizon[32];
    const char *intent_id = fired ? step->intent->id : NULL;
    const char *fire[] = {id, pg_double_param(step->fire_at, fire_at),
                          schedule_outcome_name(step->outcome), intent_id};
    enum bus_err err = pg_run(conn, "schedule outcome",
                              "UPDATE schedule_fires SET outcome = $3, intent_id = $4"
                              " WHERE schedule_id = $1 AND fire_at = $2::float8",
                              PG_PARAM_COUNT(fire), fire, NULL);
    /* A skip leaves last_fire_at and last_intent_id as they were. */
    const char *counters[] = {id, fired ? "1" : "0",
                              pg_double_param(fired ? step->fire_at : NAN, last_fire_at),
                              intent_id};
    if (err == BUS_OK)
        err = pg_run(conn, "schedule outcome",
                     "UPDATE schedules SET fires = fires + $2::integer,"
                     " skips = skips + 1 - $2::integer,"
                     " last_fire_at = coalesce($3::float8, last_fire_at),"
                     " last_intent_id = coalesce($4::text, last_intent_id) WHERE id = $1",
                     PG_PARAM_COUNT(counters), counters, NULL);
    const char *old[] = {id, pg_double_param(step->now - SCHEDULE_FIRE_RETENTION, horizon)};
    if (err == BUS_OK)
        err = pg_run(conn, "schedule outcome",
                     "DELETE FROM schedule_fires WHERE schedule_id = $1 AND fire_at < $2::float8",
                     PG_PARAM_COUNT(old), old, NULL);
    return err;
}

static enum bus_err step_op(void *connection, void *arg)
{
    struct store_schedule_step *step = arg;
    char id[SCHEDULE_ID_LEN + 1];
    enum bus_err err = advance(connection, step, id);
    if (err == BUS_OK && !isnan(step->fire_at))
        err = take_occurrence(connection, id, step);
    if (err == BUS_ERR_EMPTY) {
        step->outcome = SCHEDULE_ALREADY_HANDLED;
        return BUS_OK;
    }
    if (err != BUS_OK || isnan(step->fire_at))
        return err;
    err = decide(connection, id, step);
    if (err == BUS_OK)
        err = record_outcome(connection, id, step);
    return err;
}

enum bus_err pg_schedule_step(void *backend, struct store_schedule_step *step)
{
    return pg_write(backend, step_op, step);
}

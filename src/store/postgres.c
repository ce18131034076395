/* The PostgreSQL backend of store.h: the client API (publish, claim, the
 * lease operations, KV, nonces) and its SQL. Any number of bus nodes may
 * share one database: every guarantee is kept by the database, never by
 * the memory of one process.
 *
 * Writes go through the writers (store/writer.c; several, each with its
 * own connection, a write taken by the least busy): many operations per
 * transaction, no savepoint per operation: an operation that
 * fails must fail before it changes anything, or the writer runs its batch
 * again without it (so every operation here may run twice; its allocated
 * outputs are handed to pg_writer_output). Across nodes and writers,
 * claims take rows with FOR UPDATE SKIP LOCKED (two nodes never hand out
 * the same intent, and neither waits for the other), lease operations lock
 * the row they check, and the checks that count or look up before writing
 * (the open-intent cap, idempotency keys) take a transaction-scoped
 * advisory lock on what they count, so two nodes cannot both pass them.
 * Reads use a pool of autocommit connections (postgres_reads.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "store/batch_ops.h"
#include "store/postgres_import.h"
#include "store/postgres_internal.h"
#include "store/postgres_notify.h"
#include "util/token.h"

/* ---- nonces of signed requests ----------------------------------------- */

struct nonce_args {
    const char *principal;
    const char *nonce;
    double now;
    double keep;
    bool *fresh;
};

/* The nonces table's primary key decides, on every node alike: the insert
 * changes a row when the nonce is new, or when its earlier use is older
 * than `keep` (then it is taken over); a use within the window changes
 * nothing. A concurrent use on another node waits for that node's commit
 * and then sees the conflict. */
static enum bus_err nonce_op(void *connection, void *arg)
{
    struct nonce_args *args = arg;
    char now[32];
    char cutoff[32];
    const char *params[] = {args->principal, args->nonce, pg_double_param(args->now, now),
                            pg_double_param(args->now - args->keep, cutoff)};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(connection, "nonce",
                               "INSERT INTO nonces (principal, nonce, seen_at)"
                               " VALUES ($1, $2, $3::float8) ON CONFLICT (principal, nonce)"
                               " DO UPDATE SET seen_at = excluded.seen_at"
                               " WHERE nonces.seen_at <= $4::float8",
                               4, params, &res);
    *args->fresh = err == BUS_OK && strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return err;
}

/* A write's prelude: its request's nonce (see store_nonce_call); merged
 * with the batch's other nonces (postgres_merge.c). */
enum bus_err pg_nonce_gate_op(void *connection, void *arg)
{
    const struct store_nonce_call *call = arg;
    enum bus_err merged = BUS_OK;
    if (pg_merged_outcome(connection, pg_nonce_gate_op, arg, &merged))
        return merged;
    bool fresh = false;
    struct nonce_args args = {call->principal, call->nonce, call->now, call->keep, &fresh};
    enum bus_err err = nonce_op(connection, &args);
    return err != BUS_OK ? err : fresh ? BUS_OK : BUS_ERR_INVALID_SIGNATURE;
}

/* Queues a write; a signed request's nonce (non-NULL) is recorded first,
 * in the same transaction, and a replay stops the write. principal: the
 * one whose locks the write takes, or NULL (pg_writer_pick). */
static enum bus_err submit_gated(struct pg_backend *self, const char *principal,
                                 const struct store_nonce_call *nonce, writer_op_fn op, void *call,
                                 store_done_fn done, void *context)
{
    return writer_submit_prelude(pg_writer_pick(self, principal),
                                 nonce != NULL ? pg_nonce_gate_op : NULL, (void *)nonce, op, call,
                                 done, context);
}

static enum bus_err pg_nonce_use(void *backend, const char *principal, const char *nonce,
                                 double now, double keep, bool *fresh)
{
    struct nonce_args args = {principal, nonce, now, keep, fresh};
    return pg_write(backend, nonce_op, &args);
}

/* The nonce is all there is to write: merged with the batch's other
 * nonces as a write's prelude would be. */
static enum bus_err nothing_more_op(void *connection, void *arg)
{
    (void)connection;
    (void)arg;
    return BUS_OK;
}

static enum bus_err pg_nonce_submit(void *backend, const struct store_nonce_call *call,
                                    store_done_fn done, void *context)
{
    return submit_gated(backend, NULL, call, nothing_more_op, NULL, done, context);
}

/* ---- idempotency -------------------------------------------------------- */

/* Holds, until the transaction ends, the right to use this key: a request
 * with the same key on another node waits, then finds this one's record. */
static enum bus_err idempotency_lock(PGconn *conn, const struct idempotency *idem)
{
    const char *params[] = {idem->principal, idem->key};
    return pg_exec(conn, "idempotency lock",
                   "SELECT pg_advisory_xact_lock(2, hashtext($1::text || ' ' || $2::text))", 2,
                   params, NULL);
}

/* BUS_OK with replay->body set when the key was used for the same request,
 * BUS_ERR_IDEMPOTENCY_CONFLICT for a different one, BUS_ERR_EMPTY if unused. */
static enum bus_err idempotency_lookup(PGconn *conn, const struct idempotency *idem, double now,
                                       struct stored_response *replay)
{
    char since[32];
    const char *params[] = {idem->principal, idem->key,
                            pg_double_param(now - IDEMPOTENCY_RETENTION_SECONDS, since)};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, "idempotency lookup",
                               "SELECT fingerprint, status, body FROM idempotency"
                               " WHERE principal = $1 AND key = $2 AND created_at > $3::float8",
                               3, params, &res);
    if (err != BUS_OK)
        return err;
    err = BUS_ERR_EMPTY;
    if (PQntuples(res) > 0) {
        if (!token_equal(PQgetvalue(res, 0, 0), idem->fingerprint)) {
            err = BUS_ERR_IDEMPOTENCY_CONFLICT;
        } else {
            replay->status = (unsigned)pg_long(res, 0, 1);
            replay->body = pg_dup(res, 0, 2);
            err = replay->body ? BUS_OK : BUS_ERR_INTERNAL;
        }
    }
    PQclear(res);
    return err;
}

static enum bus_err idempotency_remember(PGconn *conn, const struct idempotency *idem,
                                         unsigned status, const char *body, double now)
{
    char status_text[24];
    char now_text[32];
    const char *params[] = {idem->principal,
                            idem->key,
                            idem->fingerprint,
                            pg_long_param((long)status, status_text),
                            body,
                            pg_double_param(now, now_text)};
    return pg_exec(conn, "idempotency record",
                   "INSERT INTO idempotency (principal, key, fingerprint, status, body, created_at)"
                   " VALUES ($1, $2, $3, $4::integer, $5, $6::float8)"
                   " ON CONFLICT (principal, key) DO UPDATE SET fingerprint = excluded.fingerprint,"
                   " status = excluded.status, body = excluded.body,"
                   " created_at = excluded.created_at",
                   6, params, NULL);
}

/* Runs write(conn, arg) once per idempotent request: replays or refuses a
 * repeated key, and remembers the response of a first one, all inside the
 * caller's transaction so the write and the record commit together. The
 * caller holds the key's idempotency_lock. */
static enum bus_err idempotent_write(PGconn *conn, const struct idempotency *idem, double now,
                                     unsigned status, const char *body,
                                     struct stored_response *replay,
                                     enum bus_err (*write)(PGconn *, const void *), const void *arg)
{
    if (idem != NULL) {
        enum bus_err err = idempotency_lookup(conn, idem, now, replay);
        if (err == BUS_OK)
            pg_writer_output(conn, &replay->body);
        if (err != BUS_ERR_EMPTY)
            return err;
    }
    enum bus_err err = write(conn, arg);
    if (err == BUS_OK && idem != NULL)
        err = idempotency_remember(conn, idem, status, body, now);
    return err;
}

/* ---- publish ------------------------------------------------------------ */

enum bus_err pg_insert_intent(PGconn *conn, const struct intent_new *intent)
{
    char priority[24];
    char max_attempts[24];
    char backoff_base[32];
    char run_at[32];
    char created_at[32];
    char expires_at[32];
    const char *params[] = {intent->id,
                            intent->namespace_,
                            intent->goal,
                            intent->payload_json,
                            intent->is_public ? "public" : "private",
                            intent->publisher,
                            pg_long_param(intent->priority, priority),
                            pg_long_param(intent->max_attempts, max_attempts),
                            pg_double_param(intent->backoff_base, backoff_base),
                            pg_text_param(intent->target_worker),
                            pg_text_param(intent->required_capability),
                            pg_double_param(intent->run_at, run_at),
                            pg_double_param(intent->created_at, created_at),
                            pg_double_param(intent->expires_at, expires_at)};
    enum bus_err err = pg_exec(conn, "publish",
                   "INSERT INTO intents (id, namespace, goal, payload, visibility, publisher,"
                   " priority, status, claim_attempts, max_attempts, backoff_base, target_worker,"
                   " required_capability, run_at, created_at, expires_at, updated_at)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7::integer, 'open', 0, $8::integer,"
                   " $9::float8, $10, $11, $12::float8, $13::float8, $14::float8, $13::float8)",
                   14, params, NULL);
    return err == BUS_OK ? pg_webhook_insert(conn, intent) : err;
}

static enum bus_err insert_intent(PGconn *conn, const void *arg)
{
    return pg_insert_intent(conn, arg);
}

/* The count and the insert that follows it are made atomic across nodes by
 * an advisory lock on the publisher, held until the transaction ends: a
 * publish of the same publisher on another node waits, then counts this
 * one's intent. */
enum bus_err pg_check_open_limit(PGconn *conn, const char *publisher, long open_limit)
{
    if (open_limit <= 0)
        return BUS_OK;
    const char *params[] = {publisher};
    PGresult *res = NULL;
    enum bus_err err =
        pg_exec(conn, "open intent lock", "SELECT pg_advisory_xact_lock(1, hashtext($1::text))", 1,
                params, NULL);
    if (err == BUS_OK)
        err = pg_exec(conn, "open intent count",
                      "SELECT COUNT(*) FROM intents WHERE publisher = $1 AND status = 'open'", 1,
                      params, &res);
    if (err != BUS_OK)
        return err;
    long open_count = pg_long(res, 0, 0);
    PQclear(res);
    return open_count >= open_limit ? BUS_ERR_LIMIT_EXCEEDED : BUS_OK;
}

/* A publish; merged with the batch's other plain publishes when it is
 * one (postgres_merge.c). */
enum bus_err pg_publish_op(void *connection, void *arg)
{
    PGconn *conn = connection;
    struct store_publish_call *args = arg;
    double now = args->intent->created_at;
    enum bus_err merged = BUS_OK;
    if (pg_merged_outcome(conn, pg_publish_op, arg, &merged))
        return merged;
    if (args->idem != NULL) {
        enum bus_err err = idempotency_lock(conn, args->idem);
        if (err != BUS_OK)
            return err;
    }
    /* A replayed idempotent request is answered even at the cap: it
     * creates nothing. */
    struct stored_response probe = {0, NULL};
    if (args->idem == NULL || idempotency_lookup(conn, args->idem, now, &probe) == BUS_ERR_EMPTY) {
        enum bus_err err = pg_check_open_limit(conn, args->intent->publisher, args->open_limit);
        if (err != BUS_OK)
            return err;
    }
    stored_response_clear(&probe);
    return idempotent_write(conn, args->idem, now, args->response_status, args->response_body,
                            args->replay, insert_intent, args->intent);
}

/* Whose locks a publish takes (pg_writer_pick): the publisher's, for the
 * open-intent cap and an idempotency key (its principal is the caller,
 * who is the publisher), or none. */
static const char *publish_locks(const struct intent_new *intent, long open_limit,
                                 const struct idempotency *idem)
{
    return open_limit > 0 || idem != NULL ? intent->publisher : NULL;
}

static enum bus_err pg_publish(void *backend, const struct intent_new *intent, long open_limit,
                               const struct idempotency *idem, unsigned response_status,
                               const char *response_body, struct stored_response *replay)
{
    struct store_publish_call args = {.intent = intent,
                                      .open_limit = open_limit,
                                      .idem = idem,
                                      .response_status = response_status,
                                      .response_body = response_body,
                                      .replay = replay};
    return pg_write_as(backend, publish_locks(intent, open_limit, idem), pg_publish_op, &args);
}

static enum bus_err pg_publish_submit(void *backend, struct store_publish_call *call,
                                      store_done_fn done, void *context)
{
    return submit_gated(backend, publish_locks(call->intent, call->open_limit, call->idem),
                        call->nonce, pg_publish_op, call, done, context);
}

/* ---- claim -------------------------------------------------------------- */

/* The eligibility rules of spec 6.4 (those of sqlite.c's CLAIM_FILTER_SQL),
 * in the order of the claim index, and the take, in one statement. The
 * lease check sits in the WHERE clause so an expired lease is claimable at
 * once. SKIP LOCKED passes over rows another node's open transaction is
 * taking: two nodes never claim the same intent, and neither waits. The
 * CTE keeps the values from before the update that the claim reports.
 * The attempt history is written by the same statement (no round trip
 * more): a lapsed lease taken back ends as expired when it did, and the
 * new attempt is numbered after the intent's last one. Every write of the
 * statement hangs on the rows taken: a claim that takes none changes
 * nothing (claim_op tells the writer so). */
/* Picks up to `limit` eligible rows (as chosen: id, eligible_since,
 * reclaimed); PG_CLAIM_TAKE then takes them with the token `token`. */
#define PG_CLAIM_PICK(limit)                                                                   \
    "SELECT id,"                                                                               \
    " CASE WHEN status = 'claimed' THEN claim_expires_at ELSE run_at END AS eligible_since,"  \
    " status = 'claimed' AS reclaimed FROM intents"                                            \
    " WHERE namespace = $1 AND status IN ('open','claimed')"                                   \
    " AND (status = 'open' OR claim_expires_at <= $2::float8)"                                 \
    " AND run_at <= $2::float8 AND expires_at > $2::float8 AND claim_attempts < max_attempts"  \
    " AND ($3::text IS NULL OR goal = $3::text)"                                               \
    " AND (visibility = 'public' OR publisher = $4 OR publisher = $7::text)"                   \
    " AND (target_worker IS NULL OR target_worker = $5::text)"                                 \
    " AND (required_capability IS NULL"                                                        \
    "      OR required_capability IN (SELECT json_array_elements_text($6::json)))"             \
    " AND ($7::text IS NULL OR publisher = $7::text)"                                          \
    " AND (NOT EXISTS (SELECT 1 FROM goal_controls)"                                           \
    "      OR goal NOT IN (" PG_CLAIM_BLOCKED_GOALS_SQL "))"                                   \
    " ORDER BY priority DESC, run_at ASC, claim_attempts ASC, created_at ASC, id ASC"          \
    " LIMIT " limit " FOR UPDATE SKIP LOCKED"

/* The CTEs (after chosen) that take the chosen rows; `extra` is added to
 * what taken returns (a column of chosen). */
#define PG_CLAIM_CTES(token, extra)                                                            \
    " taken AS (UPDATE intents SET status = 'claimed',"                                        \
    " claim_attempts = intents.claim_attempts + 1,"                                            \
    " claim_token = " token ", claimed_by = $4, claimed_at = $2::float8,"                      \
    " claim_expires_at = $9::float8, updated_at = $2::float8, worker_id = $5::text"            \
    " FROM chosen WHERE intents.id = chosen.id"                                                \
    " RETURNING intents.id, namespace, goal, payload, claim_attempts, max_attempts, priority,"  \
    " target_worker, required_capability, chosen.eligible_since, chosen.reclaimed" extra "),"  \
    " lapsed AS (UPDATE attempts SET outcome = 'lease_expired', error = 'lease expired',"      \
    " ended_at = taken.eligible_since FROM taken WHERE taken.reclaimed"                        \
    " AND attempts.intent_id = taken.id AND attempts.outcome IS NULL),"                        \
    " opened AS (INSERT INTO attempts (intent_id, attempt, worker_id, claimer, claimed_at,"    \
    " lease_expires_at) SELECT taken.id, COALESCE((SELECT max(a.attempt) FROM attempts a"      \
    " WHERE a.intent_id = taken.id), 0) + 1, $5::text, $4, $2::float8, $9::float8 FROM taken)"

/* The statement's result: one row per intent taken (read_claimed), and
 * whether its goal has a limit; `extra` as in PG_CLAIM_CTES. */
#define PG_CLAIM_RESULT(extra)                                                                 \
    " SELECT id, namespace, goal, payload, claim_attempts, max_attempts, priority,"            \
    " target_worker, required_capability, eligible_since, reclaimed,"                          \
    " EXISTS (SELECT 1 FROM goal_controls c WHERE c.namespace = taken.namespace"               \
    "         AND c.goal = taken.goal AND c.max_claimed IS NOT NULL)" extra " FROM taken"

#define PG_CLAIM_TAKE(token) PG_CLAIM_CTES(token, "") PG_CLAIM_RESULT("")

static const char claim_sql[] = "WITH chosen AS (" PG_CLAIM_PICK("1") ")," PG_CLAIM_TAKE("$8");

/* The batch claim: up to $10 rows at once, the i-th taken with the i-th
 * token of the array $8 (row_number cannot sit beside FOR UPDATE, hence
 * the second CTE). */
static const char claim_many_sql[] =
    "WITH picked AS (" PG_CLAIM_PICK("$10::integer") "),"
    " chosen AS (SELECT id, eligible_since, reclaimed, row_number() OVER () AS n FROM picked),"
    PG_CLAIM_TAKE("($8::text[])[chosen.n]");

/* The merged claims of a batch (postgres_merge.c): claims alike but for
 * their tokens, as the batch claim above, the i-th row taken with the i-th
 * token and numbered i (column 12), in the claim order; nothing taken when
 * a goal of the namespace has a concurrency limit (column 13 then says
 * so: such claims go one at a time, each checked). Always one row at
 * least: with nothing taken, a row of NULLs but column 13. */
const char pg_claim_merged_sql[] =
    "WITH lim AS (SELECT EXISTS (SELECT 1 FROM goal_controls"
    " WHERE namespace = $1 AND max_claimed IS NOT NULL) AS limited),"
    " picked AS (" PG_CLAIM_PICK("$10::integer") "),"
    " chosen AS (SELECT id, eligible_since, reclaimed, row_number() OVER () AS n FROM picked"
    " WHERE NOT (SELECT limited FROM lim)),"
    PG_CLAIM_CTES("($8::text[])[chosen.n]", ", chosen.n") ","
    " result AS (" PG_CLAIM_RESULT(", n") ")"
    " SELECT result.*, lim.limited FROM lim LEFT JOIN result ON true ORDER BY result.n";

void pg_read_claimed(const PGresult *res, int row, struct claimed_intent *out)
{
    pg_copy(res, row, 0, out->id, sizeof out->id);
    pg_copy(res, row, 1, out->namespace_, sizeof out->namespace_);
    pg_copy(res, row, 2, out->goal, sizeof out->goal);
    out->payload_json = pg_dup(res, row, 3);
    out->claim_attempts = (int)pg_long(res, row, 4);
    out->max_attempts = (int)pg_long(res, row, 5);
    out->priority = (int)pg_long(res, row, 6);
    pg_copy(res, row, 7, out->target_worker, sizeof out->target_worker);
    pg_copy(res, row, 8, out->required_capability, sizeof out->required_capability);
    out->eligible_since = pg_double(res, row, 9);
    out->reclaimed = strcmp(PQgetvalue(res, row, 10), "t") == 0;
}

/* A claim; merged with the batch's claims alike (postgres_merge.c). */
enum bus_err pg_claim_op(void *connection, void *arg)
{
    struct store_claim_call *args = arg;
    enum bus_err merged = BUS_OK;
    if (pg_merged_outcome(connection, pg_claim_op, arg, &merged))
        return merged;
    const struct claim_request *request = args->request;
    struct claimed_intent *out = args->out;
    char now[32];
    char expires[32];
    const char *params[] = {request->namespace_,
                            pg_double_param(request->now, now),
                            pg_text_param(request->goal),
                            request->claimer,
                            pg_text_param(request->worker_id),
                            request->capabilities_json ? request->capabilities_json : "[]",
                            pg_text_param(request->publisher),
                            request->token,
                            pg_double_param(request->now + request->lease_seconds, expires)};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(connection, "claim", claim_sql, 9, params, &res);
    if (err != BUS_OK)
        return err;
    if (PQntuples(res) == 0) {
        PQclear(res);
        pg_writer_statement_unchanged(connection);
        return BUS_ERR_EMPTY;
    }
    pg_read_claimed(res, 0, out);
    pg_writer_output(connection, &out->payload_json);
    out->claim_expires_at = request->now + request->lease_seconds;
    bool limited = strcmp(PQgetvalue(res, 0, 11), "t") == 0;
    PQclear(res);
    if (out->payload_json == NULL)
        return BUS_ERR_INTERNAL;
    /* Not BUS_OK: the claim changed its row, so the writer undoes it
     * (runs the batch again without this claim). */
    return limited ? pg_goal_limit_check(connection, out->namespace_, out->goal, request->now)
                   : BUS_OK;
}

static enum bus_err pg_claim(void *backend, const struct claim_request *request,
                             struct claimed_intent *out)
{
    struct store_claim_call args = {NULL, request, out};
    return pg_write(backend, pg_claim_op, &args);
}

static enum bus_err pg_claim_submit(void *backend, struct store_claim_call *call,
                                    store_done_fn done, void *context)
{
    return submit_gated(backend, NULL, call->nonce, pg_claim_op, call, done, context);
}

/* ---- batch publish and claim -------------------------------------------- */

/* Each item is a publish of its own (publish_op), so it follows every rule
 * a single one does; the open-intent count sees the items inserted before
 * it. An item's refusal comes before it writes anything. */
static enum bus_err publish_many_op(void *connection, void *arg)
{
    return store_publish_each(connection, arg, pg_publish_op);
}

/* publish_locks of a batch: its items are one caller's. */
static const char *publish_many_locks(const struct store_publish_many_call *call)
{
    for (int i = 0; i < call->count; i++) {
        const char *principal =
            publish_locks(call->items[i].intent, call->open_limit, call->items[i].idem);
        if (principal != NULL)
            return principal;
    }
    return NULL;
}

static enum bus_err pg_publish_many(void *backend, struct store_publish_many_call *call)
{
    return pg_write_as(backend, publish_many_locks(call), publish_many_op, call);
}

static enum bus_err pg_publish_many_submit(void *backend, struct store_publish_many_call *call,
                                           store_done_fn done, void *context)
{
    return submit_gated(backend, publish_many_locks(call), call->nonce, publish_many_op, call,
                        done, context);
}

static enum bus_err savepoint(PGconn *conn, const char *sql)
{
    return pg_exec(conn, "batch claim savepoint", sql, 0, NULL, NULL);
}

/* The batch one claim_op at a time, each in a savepoint that undoes it
 * when its goal limit check fails: the slow way, for batches that meet a
 * goal with a limit. */
static enum bus_err claim_each(PGconn *conn, struct store_claim_many_call *call)
{
    struct claim_request item = *call->request; /* shares capabilities_json: not cleared */
    for (int i = 0; i < call->max; i++) {
        memcpy(item.token, call->tokens[i], sizeof item.token);
        struct store_claim_call one = {NULL, &item, &call->out[*call->claimed]};
        enum bus_err err = savepoint(conn, "SAVEPOINT claim_one");
        if (err == BUS_OK)
            err = pg_claim_op(conn, &one);
        if (err == BUS_OK) {
            (*call->claimed)++;
            continue;
        }
        claimed_intent_clear(one.out);
        if (err != BUS_ERR_EMPTY)
            return err;
        err = savepoint(conn, "ROLLBACK TO SAVEPOINT claim_one");
        if (err != BUS_OK)
            return err;
        break;
    }
    return *call->claimed > 0 ? BUS_OK : BUS_ERR_EMPTY;
}

/* The tokens as a PostgreSQL array literal (hex needs no quoting). */
static char *token_array(const char (*tokens)[CLAIM_TOKEN_LEN + 1], int count)
{
    char *text = malloc((size_t)count * (CLAIM_TOKEN_LEN + 1) + 3);
    if (text == NULL)
        return NULL;
    char *at = text;
    *at++ = '{';
    for (int i = 0; i < count; i++) {
        if (i > 0)
            *at++ = ',';
        memcpy(at, tokens[i], CLAIM_TOKEN_LEN);
        at += CLAIM_TOKEN_LEN;
    }
    *at++ = '}';
    *at = '\0';
    return text;
}

/* Whether a goal of the namespace has a concurrency limit: a batch
 * claim there goes one claim at a time (claim_each). A plain SELECT, so
 * it costs the writer no redo (postgres_conn.c). */
static enum bus_err namespace_has_limits(PGconn *conn, const char *namespace_, bool *limits)
{
    const char *params[] = {namespace_};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, "batch claim limits",
                               "SELECT EXISTS (SELECT 1 FROM goal_controls"
                               " WHERE namespace = $1 AND max_claimed IS NOT NULL)",
                               1, params, &res);
    if (err != BUS_OK)
        return err;
    *limits = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return BUS_OK;
}

/* The whole batch in one statement (FOR UPDATE SKIP LOCKED ... LIMIT K),
 * with no savepoint: a savepoint is a subtransaction, the cost the writer
 * shed (postgres_conn.c). A namespace with goal limits goes one claim at a
 * time instead, since the statement checks a limit as it began and could
 * take a goal past it. A limit set between the two statements shows in
 * the taken rows: the claim is then refused as busy, and since it changed
 * rows the writer runs the batch again without it. */
static enum bus_err claim_many_op(void *connection, void *arg)
{
    PGconn *conn = connection;
    struct store_claim_many_call *call = arg;
    const struct claim_request *request = call->request;
    *call->claimed = 0;
    bool limits = false;
    enum bus_err err = namespace_has_limits(conn, request->namespace_, &limits);
    if (err != BUS_OK)
        return err;
    if (limits)
        return claim_each(conn, call);
    char now[32];
    char expires[32];
    char max[24];
    char *tokens = token_array(call->tokens, call->max);
    if (tokens == NULL)
        return BUS_ERR_INTERNAL;
    const char *params[] = {request->namespace_,
                            pg_double_param(request->now, now),
                            pg_text_param(request->goal),
                            request->claimer,
                            pg_text_param(request->worker_id),
                            request->capabilities_json ? request->capabilities_json : "[]",
                            pg_text_param(request->publisher),
                            tokens,
                            pg_double_param(request->now + request->lease_seconds, expires),
                            pg_long_param(call->max, max)};
    PGresult *res = NULL;
    err = pg_exec(conn, "batch claim", claim_many_sql, 10, params, &res);
    free(tokens);
    if (err != BUS_OK)
        return err;
    int rows = PQntuples(res);
    if (rows == 0)
        pg_writer_statement_unchanged(conn);
    bool limited = false;
    for (int row = 0; row < rows; row++) {
        limited = limited || strcmp(PQgetvalue(res, row, 11), "t") == 0;
        pg_read_claimed(res, row, &call->out[row]);
        pg_writer_output(conn, &call->out[row].payload_json);
        call->out[row].claim_expires_at = request->now + request->lease_seconds;
        if (call->out[row].payload_json == NULL)
            err = BUS_ERR_INTERNAL;
    }
    PQclear(res);
    if (limited)
        err = BUS_ERR_DATABASE_BUSY;
    if (err != BUS_OK)
        return err;
    *call->claimed = rows;
    return rows > 0 ? BUS_OK : BUS_ERR_EMPTY;
}

static enum bus_err pg_claim_many(void *backend, struct store_claim_many_call *call)
{
    return pg_write(backend, claim_many_op, call);
}

static enum bus_err pg_claim_many_submit(void *backend, struct store_claim_many_call *call,
                                         store_done_fn done, void *context)
{
    return submit_gated(backend, NULL, call->nonce, claim_many_op, call, done, context);
}

/* ---- lease operations: extend, fulfill, fail ---------------------------- */

struct lease_row {
    int claim_attempts;
    int max_attempts;
    double backoff_base;
};

/* BUS_OK only when ref holds the current, unexpired lease. The row is
 * locked until the transaction ends, so no other node changes it between
 * this check and the write. The token is compared in C, in constant time,
 * rather than in a WHERE clause. */
static enum bus_err check_lease(PGconn *conn, const struct lease_ref *ref, struct lease_row *row)
{
    const char *params[] = {ref->id};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, "lease lookup",
                               "SELECT status, claim_token, claimed_by, claim_expires_at,"
                               " claim_attempts, max_attempts, backoff_base, namespace, goal,"
                               " claimed_at FROM intents WHERE id = $1 FOR UPDATE",
                               1, params, &res);
    if (err != BUS_OK)
        return err;
    err = BUS_ERR_NOT_FOUND;
    if (PQntuples(res) > 0) {
        bool held = pg_lease_held(res, 0, 0, ref);
        row->claim_attempts = (int)pg_long(res, 0, 4);
        row->max_attempts = (int)pg_long(res, 0, 5);
        row->backoff_base = pg_double(res, 0, 6);
        if (held)
            pg_lease_facts(res, 0, 7, ref);
        err = held ? BUS_OK : BUS_ERR_NOT_FOUND;
    }
    PQclear(res);
    return err;
}

static enum bus_err extend_op(void *connection, void *arg)
{
    struct store_extend_call *args = arg;
    struct lease_row row;
    enum bus_err err = check_lease(connection, args->ref, &row);
    if (err != BUS_OK)
        return err;
    *args->claim_expires_at = args->ref->now + args->seconds;
    char expires[32];
    char now[32];
    const char *params[] = {args->ref->id, pg_double_param(*args->claim_expires_at, expires),
                            pg_double_param(args->ref->now, now)};
    return pg_exec(connection, "extend",
                   "WITH moved AS (UPDATE attempts SET lease_expires_at = $2::float8"
                   " WHERE intent_id = $1 AND outcome IS NULL)"
                   " UPDATE intents SET claim_expires_at = $2::float8, updated_at = $3::float8"
                   " WHERE id = $1",
                   3, params, NULL);
}

static enum bus_err pg_extend(void *backend, const struct lease_ref *ref, double seconds,
                              double *claim_expires_at)
{
    struct store_extend_call args = {NULL, ref, seconds, claim_expires_at};
    return pg_write(backend, extend_op, &args);
}

static enum bus_err pg_extend_submit(void *backend, struct store_extend_call *call,
                                     store_done_fn done, void *context)
{
    return submit_gated(backend, NULL, call->nonce, extend_op, call, done, context);
}

/* A fulfil; merged with the batch's other fulfils (postgres_merge.c). */
enum bus_err pg_fulfill_op(void *connection, void *arg)
{
    struct store_fulfill_call *args = arg;
    enum bus_err err = BUS_OK;
    if (pg_merged_outcome(connection, pg_fulfill_op, arg, &err))
        return err;
    struct lease_row row;
    err = check_lease(connection, args->ref, &row);
    if (err != BUS_OK)
        return err;
    char now[32];
    const char *params[] = {args->ref->id, pg_text_param(args->result_json),
                            args->result_json ? pg_text_param(args->result_type) : NULL,
                            pg_double_param(args->ref->now, now)};
    return pg_exec(connection, "fulfill",
                   "WITH closed AS (UPDATE attempts SET outcome = 'fulfilled',"
                   " ended_at = $4::float8 WHERE intent_id = $1 AND outcome IS NULL)"
                   " UPDATE intents SET status = 'fulfilled', result = $2, result_type = $3,"
                   " completed_at = $4::float8, updated_at = $4::float8, claim_token = NULL,"
                   " claim_expires_at = NULL WHERE id = $1",
                   4, params, NULL);
}

static enum bus_err pg_fulfill(void *backend, const struct lease_ref *ref, const char *result_json,
                               const char *result_type)
{
    struct store_fulfill_call args = {NULL, ref, result_json, result_type};
    return pg_write(backend, pg_fulfill_op, &args);
}

static enum bus_err pg_fulfill_submit(void *backend, struct store_fulfill_call *call,
                                      store_done_fn done, void *context)
{
    return submit_gated(backend, NULL, call->nonce, pg_fulfill_op, call, done, context);
}

/* The batch fulfil: one fulfill_op per item, in the same transaction, so
 * each follows every rule a single fulfil does. An item whose lease is not held
 * is refused by check_lease before fulfill_op writes anything (the writer
 * has no savepoints here), and the op may run twice when the writer redoes
 * its transaction: every result is written afresh and nothing is
 * allocated. */
static enum bus_err fulfill_many_op(void *connection, void *arg)
{
    return store_fulfill_each(connection, arg, pg_fulfill_op);
}

static enum bus_err pg_fulfill_many(void *backend, struct store_fulfill_many_call *call)
{
    return pg_write(backend, fulfill_many_op, call);
}

static enum bus_err pg_fulfill_many_submit(void *backend, struct store_fulfill_many_call *call,
                                          store_done_fn done, void *context)
{
    return submit_gated(backend, NULL, call->nonce, fulfill_many_op, call, done, context);
}

/* The intent's dead state and its dead letter, in one statement. */
enum bus_err pg_kill_intent(PGconn *conn, const char *id, const char *error_text,
                            const char *reason, double now)
{
    char now_text[32];
    const char *params[] = {id, pg_text_param(error_text), pg_double_param(now, now_text), reason};
    return pg_exec(
        conn, "kill",
        "WITH closed AS (UPDATE attempts SET outcome = $4, error = $2, ended_at = CASE"
        " WHEN $4 = 'lease_expired' THEN LEAST(lease_expires_at, $3::float8) ELSE $3::float8 END"
        " WHERE intent_id = $1 AND outcome IS NULL),"
        " killed AS (UPDATE intents SET status = 'dead', last_error = $2,"
        " claim_token = NULL, claim_expires_at = NULL, updated_at = $3::float8"
        " WHERE id = $1 RETURNING id, namespace, goal, payload, publisher,"
        " claim_attempts, max_attempts, last_error)" PG_ARCHIVE_KILLED("$4", "$3::float8"),
        4, params, NULL);
}

enum bus_err pg_requeue_intent(PGconn *conn, const char *id, const char *outcome,
                               const char *error_text, double run_at, double now)
{
    char run_at_text[32];
    char now_text[32];
    const char *params[] = {id, pg_double_param(run_at, run_at_text), pg_text_param(error_text),
                            pg_double_param(now, now_text), outcome};
    return pg_exec(conn, "requeue",
                   "WITH closed AS (UPDATE attempts SET outcome = $5, error = $3, ended_at ="
                   " CASE WHEN $5 = 'lease_expired' THEN LEAST(lease_expires_at, $4::float8)"
                   " ELSE $4::float8 END WHERE intent_id = $1 AND outcome IS NULL)"
                   " UPDATE intents SET status = 'open', run_at = $2::float8, last_error = $3,"
                   " claim_token = NULL, claimed_by = NULL, claim_expires_at = NULL,"
                   " updated_at = $4::float8 WHERE id = $1",
                   5, params, NULL);
}

static enum bus_err fail_op(void *connection, void *arg)
{
    struct store_fail_call *args = arg;
    struct lease_row row;
    enum bus_err err = check_lease(connection, args->ref, &row);
    if (err != BUS_OK)
        return err;
    args->out->claim_attempts = row.claim_attempts;
    if (row.claim_attempts >= row.max_attempts) {
        args->out->status = INTENT_DEAD;
        args->out->run_at = NAN;
        return pg_kill_intent(connection, args->ref->id, args->error_text, "failed",
                              args->ref->now);
    }
    args->out->status = INTENT_OPEN;
    args->out->run_at =
        args->ref->now + backoff_delay(row.backoff_base, row.claim_attempts, args->jitter);
    return pg_requeue_intent(connection, args->ref->id, "failed", args->error_text,
                             args->out->run_at, args->ref->now);
}

static enum bus_err pg_fail(void *backend, const struct lease_ref *ref, const char *error_text,
                            double jitter, struct fail_outcome *out)
{
    struct store_fail_call args = {NULL, ref, error_text, jitter, out};
    return pg_write(backend, fail_op, &args);
}

static enum bus_err pg_fail_submit(void *backend, struct store_fail_call *call, store_done_fn done,
                                   void *context)
{
    return submit_gated(backend, NULL, call->nonce, fail_op, call, done, context);
}

/* ---- key-value store ---------------------------------------------------- */

static enum bus_err write_kv(PGconn *conn, const void *arg)
{
    const struct kv_write *write = arg;
    char expires[32];
    char now[32];
    const char *params[] = {write->principal, write->key, write->value_json,
                            pg_double_param(write->expires_at, expires),
                            pg_double_param(write->now, now)};
    return pg_exec(conn, "kv set",
                   "INSERT INTO kv (principal, key, value, expires_at, updated_at)"
                   " VALUES ($1, $2, $3, $4::float8, $5::float8) ON CONFLICT (principal, key)"
                   " DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,"
                   " updated_at = excluded.updated_at",
                   5, params, NULL);
}

static enum bus_err kv_set_op(void *connection, void *arg)
{
    struct store_kv_set_call *call = arg;
    if (call->idem != NULL) {
        enum bus_err err = idempotency_lock(connection, call->idem);
        if (err != BUS_OK)
            return err;
    }
    return idempotent_write(connection, call->idem, call->write->now, call->response_status,
                            call->response_body, call->replay, write_kv, call->write);
}

/* Whose locks a KV set takes (pg_writer_pick): its idempotency key's. */
static const char *kv_set_locks(const struct store_kv_set_call *call)
{
    return call->idem != NULL ? call->idem->principal : NULL;
}

static enum bus_err pg_kv_set(void *backend, const struct kv_write *write,
                              const struct idempotency *idem, unsigned response_status,
                              const char *response_body, struct stored_response *replay)
{
    struct store_kv_set_call call = {.write = write,
                                     .idem = idem,
                                     .response_status = response_status,
                                     .response_body = response_body,
                                     .replay = replay};
    return pg_write_as(backend, kv_set_locks(&call), kv_set_op, &call);
}

static enum bus_err pg_kv_set_submit(void *backend, struct store_kv_set_call *call,
                                     store_done_fn done, void *context)
{
    return submit_gated(backend, kv_set_locks(call), call->nonce, kv_set_op, call, done, context);
}

/* ---- opening and closing ------------------------------------------------ */

static void pg_close(void *backend)
{
    struct pg_backend *self = backend;
    pg_notifier_stop(self->notifier); /* after the bus stopped listening */
    for (int i = 0; i < PG_WRITERS_MAX; i++) {
        writer_stop(self->writers[i]);
        if (self->write_conns[i] != NULL)
            PQfinish(self->write_conns[i]);
    }
    for (int i = 0; i < self->reader_count; i++)
        PQfinish(self->readers[i].conn);
    free(self->readers);
    free(self->conninfo);
    pthread_cond_destroy(&self->reader_returned);
    pthread_mutex_destroy(&self->readers_lock);
    free(self);
}

static const struct store_write_stats *pg_write_stats(void *backend)
{
    struct pg_backend *self = backend;
    return &self->write_stats;
}

static void pg_announce(void *backend, const struct intent_event *event)
{
    struct pg_backend *self = backend;
    pg_notifier_announce(self->notifier, event);
}

static enum bus_err pg_listen(void *backend, store_heard_fn heard, void *context)
{
    struct pg_backend *self = backend;
    pg_notifier_listen(self->notifier, heard, context);
    return BUS_OK;
}

static const struct store_ops postgres_ops = {
    .close = pg_close,
    .announce = pg_announce,
    .listen = pg_listen,
    .rate_take = pg_rate_take,
    .write_stats = pg_write_stats,
    .pool_usage = pg_pool_usage,
    .publish = pg_publish,
    .claim = pg_claim,
    .extend = pg_extend,
    .fulfill = pg_fulfill,
    .publish_submit = pg_publish_submit,
    .claim_submit = pg_claim_submit,
    .publish_many = pg_publish_many,
    .publish_many_submit = pg_publish_many_submit,
    .claim_many = pg_claim_many,
    .claim_many_submit = pg_claim_many_submit,
    .fulfill_submit = pg_fulfill_submit,
    .fulfill_many = pg_fulfill_many,
    .fulfill_many_submit = pg_fulfill_many_submit,
    .fail = pg_fail,
    .extend_submit = pg_extend_submit,
    .fail_submit = pg_fail_submit,
    .get_intent = pg_get_intent,
    .kv_set = pg_kv_set,
    .kv_set_submit = pg_kv_set_submit,
    .kv_get = pg_kv_get,
    .cleanup = pg_cleanup,
    .sweep_submit = pg_sweep_submit,
    .cleanup_submit = pg_cleanup_submit,
    .nonce_use = pg_nonce_use,
    .nonce_submit = pg_nonce_submit,
    .key_create = pg_key_create,
    .key_revoke = pg_key_revoke,
    .key_lookup = pg_key_lookup,
    .key_list = pg_key_list,
    .queue_counts = pg_queue_counts,
    .oldest_open = pg_oldest_open,
    .goal_counts = pg_goal_counts,
    .key_find = pg_key_find,
    .worker_leases = pg_worker_leases,
    .audit_add = pg_audit_add,
    .audit_list = pg_audit_list,
    .intent_list = pg_intent_list,
    .intent_cancel = pg_intent_cancel,
    .attempt_list = pg_attempt_list,
    .intent_retry = pg_intent_retry,
    .dead_list = pg_dead_list,
    .dead_purge = pg_dead_purge,
    .dead_get = pg_dead_get,
    .purge = pg_purge,
    .schedule_put = pg_schedule_put,
    .schedule_get = pg_schedule_get,
    .schedule_list = pg_schedule_list,
    .schedule_set_paused = pg_schedule_set_paused,
    .schedule_delete = pg_schedule_delete,
    .schedule_due = pg_schedule_due,
    .schedule_step = pg_schedule_step,
    .schedule_fires = pg_schedule_fires,
    .goal_control_set = pg_goal_control_set,
    .goal_control_list = pg_goal_control_list,
    .webhook_take = pg_webhook_take,
    .webhook_record = pg_webhook_record,
    .webhook_get = pg_webhook_get,
    .webhook_pending = pg_webhook_pending,
};

static int open_readers(struct pg_backend *self, int count)
{
    self->readers = calloc((size_t)count, sizeof *self->readers);
    if (self->readers == NULL)
        return -1;
    for (int i = 0; i < count; i++) {
        self->readers[i].conn = pg_connect(self->conninfo);
        if (self->readers[i].conn == NULL)
            return -1;
        self->reader_count = i + 1;
        self->readers[i].next_free = self->free_readers;
        self->free_readers = &self->readers[i];
    }
    return 0;
}

/* The writers' connections and threads; writer_count is set as they
 * start, so pg_close stops those that did. */
static int start_writers(struct pg_backend *self, int writer_count)
{
    for (int i = 0; i < writer_count; i++) {
        if (self->write_conns[i] == NULL)
            self->write_conns[i] = pg_connect(self->conninfo);
        if (self->write_conns[i] == NULL)
            return -1;
        self->writers[i] = writer_start_counted(self->write_conns[i], &pg_writer_hooks,
                                                PG_MAX_BATCH, &self->write_stats);
        if (self->writers[i] == NULL)
            return -1;
        self->writer_count = i + 1;
    }
    return 0;
}

/* The first write connection first: it applies the migrations (under
 * their advisory lock) before anything reads the tables. */
static int open_connections(struct pg_backend *self, int reader_count, int writer_count)
{
    self->write_conns[0] = pg_connect(self->conninfo);
    int applied = 0;
    if (self->write_conns[0] == NULL || pg_schema_migrate(self->write_conns[0], &applied) != 0)
        return -1;
    if (applied > 0)
        fprintf(stderr, "intent-bus: database schema migrated to version %d\n", pg_schema_latest());
    if (open_readers(self, reader_count > 0 ? reader_count : 1) != 0)
        return -1;
    if (writer_count <= 0)
        writer_count = PG_WRITERS_DEFAULT;
    if (start_writers(self, writer_count < PG_WRITERS_MAX ? writer_count : PG_WRITERS_MAX) != 0)
        return -1;
    self->notifier = pg_notifier_start(self->conninfo);
    return self->notifier != NULL ? 0 : -1;
}

struct store *store_postgres_open(const char *conninfo, int reader_count, int writer_count)
{
    struct pg_backend *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    pthread_mutex_init(&self->readers_lock, NULL);
    pthread_cond_init(&self->reader_returned, NULL);
    self->store.ops = &postgres_ops;
    self->store.backend = self;
    self->conninfo = strdup(conninfo);
    if (self->conninfo == NULL || open_connections(self, reader_count, writer_count) != 0) {
        pg_close(self);
        return NULL;
    }
    return &self->store;
}

int store_postgres_import_sqlite(const char *conninfo, const char *sqlite_path)
{
    PGconn *conn = pg_connect(conninfo);
    if (conn == NULL)
        return -1;
    int applied = 0;
    int rc = pg_schema_migrate(conn, &applied);
    if (rc == 0)
        rc = pg_import_sqlite(sqlite_path, conn, stdout);
    PQfinish(conn);
    return rc;
}

int store_postgres_migrate(const char *conninfo)
{
    PGconn *conn = pg_connect(conninfo);
    if (conn == NULL)
        return -1;
    int applied = 0;
    int rc = pg_schema_migrate(conn, &applied);
    if (rc == 0)
        printf("intent-bus: database schema at version %d (%d migration%s applied)\n",
               pg_schema_latest(), applied, applied == 1 ? "" : "s");
    PQfinish(conn);
    return rc;
}

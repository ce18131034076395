/* Merged statements of a writer batch (writer_hooks.prepare): the batch's
 * signed requests' nonces as one multi-row INSERT, its plain publishes as
 * another, its claims alike as one claim statement, and its fulfils as
 * one lease look-up and one UPDATE, instead of one statement (two for a
 * fulfil) per operation, each a round trip and an executor start-up of
 * its own (docs/BENCHMARKS.md, "PostgreSQL: fewer statements per job").
 * Each merged outcome is kept here; the operation (or prelude) still
 * runs, in the batch's order, and answers it (pg_merged_outcome) without a
 * statement. Only operations whose every rule is checked here are merged:
 * a publish with an idempotency key, the open-intent cap or a webhook
 * goes its own way, and an operation behind a refused nonce is never
 * merged (nor run). Merging changes the order of the batch's statements,
 * never an outcome one at a time could not have had: the batch's
 * operations are concurrent (each caller is answered after the commit). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres_internal.h"

/* ---- outcomes ------------------------------------------------------------ */

struct merged_outcome {
    writer_op_fn op; /* the operation (or prelude) and its arg: what identifies it */
    const void *arg;
    enum bus_err result;
};

/* Of the writer thread's current run of a batch (thread-local, as the
 * writer's batch state in postgres_conn.c). */
static _Thread_local struct {
    PGconn *conn;
    int count;
    struct merged_outcome outcomes[2 * PG_MAX_BATCH];
} merged;

void pg_merge_reset(PGconn *conn)
{
    merged.conn = conn;
    merged.count = 0;
}

/* At most one per operation and one per prelude. */
static void keep_outcome(writer_op_fn op, const void *arg, enum bus_err result)
{
    assert(merged.count < 2 * PG_MAX_BATCH);
    merged.outcomes[merged.count++] = (struct merged_outcome){op, arg, result};
}

static const struct merged_outcome *find_outcome(writer_op_fn op, const void *arg)
{
    for (int i = 0; i < merged.count; i++) {
        if (merged.outcomes[i].op == op && merged.outcomes[i].arg == arg)
            return &merged.outcomes[i];
    }
    return NULL;
}

bool pg_merged_outcome(PGconn *conn, writer_op_fn op, const void *arg, enum bus_err *result)
{
    const struct merged_outcome *outcome = conn == merged.conn ? find_outcome(op, arg) : NULL;
    if (outcome != NULL)
        *result = outcome->result;
    return outcome != NULL;
}

/* Whether ref's operation is op and may be merged: no prelude, or one
 * merged and passed (a fresh nonce); a refused prelude stops its
 * operation, and one not merged runs only when the writer gets to it. */
static bool merges(const struct writer_op_ref *ref, writer_op_fn op)
{
    if (ref->op != op)
        return false;
    if (ref->prelude == NULL)
        return true;
    const struct merged_outcome *gate = find_outcome(ref->prelude, ref->prelude_arg);
    return gate != NULL && gate->result == BUS_OK;
}

/* ---- array parameters ------------------------------------------------------ */

/* A PostgreSQL array literal built up element by element ("{...}"): every
 * element quoted, '"' and '\' escaped, NULL for SQL NULL. */
struct pg_array {
    char *text;
    size_t length;
    size_t capacity;
    bool failed; /* out of memory: text is NULL */
};

static bool array_reserve(struct pg_array *array, size_t more)
{
    if (array->failed)
        return false;
    if (array->text != NULL && array->length + more + 2 <= array->capacity)
        return true;
    size_t capacity = array->capacity > 0 ? array->capacity : 256;
    while (capacity < array->length + more + 2)
        capacity *= 2;
    char *grown = realloc(array->text, capacity);
    if (grown == NULL) {
        free(array->text);
        *array = (struct pg_array){NULL, 0, 0, true};
        return false;
    }
    array->text = grown;
    array->capacity = capacity;
    return true;
}

/* Adds an element: text, or SQL NULL when text is NULL. */
static void array_add(struct pg_array *array, const char *text)
{
    size_t length = text != NULL ? strlen(text) : 0;
    if (!array_reserve(array, 2 * length + 8))
        return;
    char separator = array->length == 0 ? '{' : ',';
    array->text[array->length++] = separator;
    if (text == NULL) {
        memcpy(array->text + array->length, "NULL", 4);
        array->length += 4;
        return;
    }
    array->text[array->length++] = '"';
    for (const char *at = text; *at != '\0'; at++) {
        if (*at == '"' || *at == '\\')
            array->text[array->length++] = '\\';
        array->text[array->length++] = *at;
    }
    array->text[array->length++] = '"';
}

/* The literal, NUL-terminated ("{}" when empty), or NULL when out of
 * memory. Owned by the array (array_free). */
static const char *array_text(struct pg_array *array)
{
    if (!array_reserve(array, 2))
        return NULL;
    if (array->length == 0)
        array->text[array->length++] = '{';
    array->text[array->length++] = '}';
    array->text[array->length] = '\0';
    return array->text;
}

static void array_free(struct pg_array *array)
{
    free(array->text);
    *array = (struct pg_array){NULL, 0, 0, false};
}

static void array_add_double(struct pg_array *array, double value)
{
    char buf[32];
    array_add(array, pg_double_param(value, buf));
}

static void array_add_long(struct pg_array *array, long value)
{
    char buf[24];
    array_add(array, pg_long_param(value, buf));
}

/* ---- nonces of signed requests --------------------------------------------- */

/* nonce_op's statement (postgres.c) for many rows: a row is returned when
 * its nonce is new, or its earlier use is older than $4 seconds (then it
 * is taken over); a use within the window changes nothing. */
static const char nonce_sql[] =
    "INSERT INTO nonces (principal, nonce, seen_at)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::float8[])"
    " ON CONFLICT (principal, nonce) DO UPDATE SET seen_at = excluded.seen_at"
    " WHERE nonces.seen_at <= excluded.seen_at - $4::float8 RETURNING principal, nonce";

static const struct store_nonce_call *nonce_of(const struct writer_op_ref *ref)
{
    return ref->prelude == pg_nonce_gate_op ? ref->prelude_arg : NULL;
}

static bool same_nonce(const struct store_nonce_call *a, const struct store_nonce_call *b)
{
    return strcmp(a->principal, b->principal) == 0 && strcmp(a->nonce, b->nonce) == 0;
}

/* Whether ops[i]'s nonce joins the merged insert: one with the first's
 * window, and not a repeat of an earlier one of the batch (a repeat goes
 * its own way after it, and is refused as one at a time would be). */
static bool nonce_merges(const struct writer_op_ref *ops, int i, double keep)
{
    const struct store_nonce_call *call = nonce_of(&ops[i]);
    if (call == NULL || call->keep != keep)
        return false;
    for (int j = 0; j < i; j++) {
        const struct store_nonce_call *earlier = nonce_of(&ops[j]);
        if (earlier != NULL && earlier->keep == keep && same_nonce(earlier, call))
            return false;
    }
    return true;
}

/* Whether the insert's result holds call's nonce: it was fresh. */
static bool nonce_fresh(const PGresult *res, const struct store_nonce_call *call)
{
    for (int row = 0; row < PQntuples(res); row++) {
        if (strcmp(PQgetvalue(res, row, 0), call->principal) == 0 &&
            strcmp(PQgetvalue(res, row, 1), call->nonce) == 0)
            return true;
    }
    return false;
}

/* The batch's signed requests' nonces in one insert; each prelude's
 * outcome kept: BUS_OK for a fresh nonce, else a replay refused. */
static enum bus_err merge_nonces(PGconn *conn, const struct writer_op_ref *ops, int count)
{
    double keep = NAN;
    int rows = 0;
    struct pg_array columns[3] = {0};
    for (int i = 0; i < count; i++) {
        const struct store_nonce_call *call = nonce_of(&ops[i]);
        if (call != NULL && isnan(keep))
            keep = call->keep;
        if (!nonce_merges(ops, i, keep))
            continue;
        array_add(&columns[0], call->principal);
        array_add(&columns[1], call->nonce);
        array_add_double(&columns[2], call->now);
        rows++;
    }
    enum bus_err err = BUS_OK;
    PGresult *res = NULL;
    if (rows >= 2) {
        char keep_text[32];
        const char *params[] = {array_text(&columns[0]), array_text(&columns[1]),
                                array_text(&columns[2]), pg_double_param(keep, keep_text)};
        err = params[0] && params[1] && params[2]
                  ? pg_exec(conn, "merged nonces", nonce_sql, 4, params, &res)
                  : BUS_ERR_INTERNAL;
    }
    for (int c = 0; c < 3; c++)
        array_free(&columns[c]);
    if (rows < 2 || err != BUS_OK)
        return err;
    for (int i = 0; i < count; i++) {
        if (nonce_merges(ops, i, keep))
            keep_outcome(pg_nonce_gate_op, ops[i].prelude_arg,
                         nonce_fresh(res, ops[i].prelude_arg) ? BUS_OK : BUS_ERR_INVALID_SIGNATURE);
    }
    PQclear(res);
    return BUS_OK;
}

/* ---- publishes ------------------------------------------------------------- */

/* A publish pg_insert_intent alone makes: no idempotency key, no cap, no
 * webhook to keep. */
static bool plain_publish(const struct store_publish_call *call)
{
    return call->idem == NULL && call->open_limit <= 0 && call->intent->notify_url[0] == '\0';
}

enum { PUBLISH_COLUMNS = 14 };

static const char publish_sql[] =
    "INSERT INTO intents (id, namespace, goal, payload, visibility, publisher,"
    " priority, status, claim_attempts, max_attempts, backoff_base, target_worker,"
    " required_capability, run_at, created_at, expires_at, updated_at)"
    " SELECT id, namespace, goal, payload, visibility, publisher, priority, 'open', 0,"
    " max_attempts, backoff_base, target_worker, required_capability, run_at, created_at,"
    " expires_at, created_at FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::text[], $6::text[], $7::integer[], $8::integer[], $9::float8[], $10::text[],"
    " $11::text[], $12::float8[], $13::float8[], $14::float8[])"
    " AS v(id, namespace, goal, payload, visibility, publisher, priority, max_attempts,"
    " backoff_base, target_worker, required_capability, run_at, created_at, expires_at)";

static void publish_row(struct pg_array *columns, const struct intent_new *intent)
{
    array_add(&columns[0], intent->id);
    array_add(&columns[1], intent->namespace_);
    array_add(&columns[2], intent->goal);
    array_add(&columns[3], intent->payload_json);
    array_add(&columns[4], intent->is_public ? "public" : "private");
    array_add(&columns[5], intent->publisher);
    array_add_long(&columns[6], intent->priority);
    array_add_long(&columns[7], intent->max_attempts);
    array_add_double(&columns[8], intent->backoff_base);
    array_add(&columns[9], pg_text_param(intent->target_worker));
    array_add(&columns[10], pg_text_param(intent->required_capability));
    array_add_double(&columns[11], intent->run_at);
    array_add_double(&columns[12], intent->created_at);
    array_add_double(&columns[13], intent->expires_at);
}

/* The batch's plain publishes in one INSERT. Fewer than two: nothing to
 * gain, each goes its own way. */
static enum bus_err merge_publishes(PGconn *conn, const struct writer_op_ref *ops, int count)
{
    int rows = 0;
    for (int i = 0; i < count; i++)
        rows += merges(&ops[i], pg_publish_op) && plain_publish(ops[i].arg);
    if (rows < 2)
        return BUS_OK;
    struct pg_array columns[PUBLISH_COLUMNS] = {0};
    for (int i = 0; i < count; i++) {
        if (merges(&ops[i], pg_publish_op) && plain_publish(ops[i].arg))
            publish_row(columns, ((const struct store_publish_call *)ops[i].arg)->intent);
    }
    const char *params[PUBLISH_COLUMNS];
    bool complete = true;
    for (int c = 0; c < PUBLISH_COLUMNS; c++)
        complete = (params[c] = array_text(&columns[c])) != NULL && complete;
    PGresult *res = NULL;
    enum bus_err err =
        complete ? pg_exec(conn, "merged publish", publish_sql, PUBLISH_COLUMNS, params, &res)
                 : BUS_ERR_INTERNAL;
    for (int c = 0; c < PUBLISH_COLUMNS; c++)
        array_free(&columns[c]);
    if (err == BUS_OK && strtol(PQcmdTuples(res), NULL, 10) != rows)
        err = BUS_ERR_INTERNAL; /* cannot be: every row is inserted or the statement fails */
    PQclear(res);
    if (err != BUS_OK)
        return err;
    for (int i = 0; i < count; i++) {
        if (merges(&ops[i], pg_publish_op) && plain_publish(ops[i].arg))
            keep_outcome(pg_publish_op, ops[i].arg, BUS_OK);
    }
    return BUS_OK;
}

/* ---- fulfils --------------------------------------------------------------- */

/* The leases of the batch's fulfils, locked in the order of the ids
 * given (sorted: two writers locking overlapping sets wait rather than
 * deadlock). Each looked up by its key (LATERAL): the cached generic plan
 * of "id = ANY($1)" was a sequential scan, planned while the table was
 * empty. */
static const char lease_sql[] =
    "SELECT l.id, l.status, l.claim_token, l.claimed_by, l.claim_expires_at, l.namespace,"
    " l.goal, l.claimed_at FROM unnest($1::text[]) AS v(id) CROSS JOIN LATERAL"
    " (SELECT id, status, claim_token, claimed_by, claim_expires_at, namespace, goal,"
    " claimed_at FROM intents WHERE intents.id = v.id FOR UPDATE) AS l";

/* The update of the held ones, planned with indexes (pg_exec_indexed). */
static const char fulfil_sql[] =
    "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[])"
    " AS v(id, result, result_type, now)),"
    " closed AS (UPDATE attempts SET outcome = 'fulfilled', ended_at = v.now FROM v"
    " WHERE attempts.intent_id = ANY($1::text[]) AND attempts.intent_id = v.id"
    " AND attempts.outcome IS NULL)"
    " UPDATE intents SET status = 'fulfilled', result = v.result, result_type = v.result_type,"
    " completed_at = v.now, updated_at = v.now, claim_token = NULL, claim_expires_at = NULL"
    " FROM v WHERE intents.id = ANY($1::text[]) AND intents.id = v.id";

/* The row of the look-up with this id, or -1. */
static int lease_row(const PGresult *res, const char *id)
{
    for (int row = 0; row < PQntuples(res); row++) {
        if (strcmp(PQgetvalue(res, row, 0), id) == 0)
            return row;
    }
    return -1;
}

static int count_fulfils(const struct writer_op_ref *ops, int count)
{
    int fulfils = 0;
    for (int i = 0; i < count; i++)
        fulfils += merges(&ops[i], pg_fulfill_op);
    return fulfils;
}

/* Decides each fulfil against the locked rows, in the batch's order, as
 * one at a time would: a second fulfil of an intent the first fulfilled
 * finds it no longer claimed. The held ones go into the update's columns;
 * each fulfil's outcome is kept. *held: how many. */
static void decide_fulfils(const PGresult *res, const struct writer_op_ref *ops, int count,
                           struct pg_array *columns, int *held)
{
    bool taken[PG_MAX_BATCH] = {false};
    *held = 0;
    for (int i = 0; i < count; i++) {
        if (!merges(&ops[i], pg_fulfill_op))
            continue;
        const struct store_fulfill_call *call = ops[i].arg;
        const struct lease_ref *ref = call->ref;
        int row = lease_row(res, ref->id);
        bool held_here = row >= 0 && !taken[row] && pg_lease_held(res, row, 1, ref);
        keep_outcome(pg_fulfill_op, call, held_here ? BUS_OK : BUS_ERR_NOT_FOUND);
        if (!held_here)
            continue;
        taken[row] = true;
        (*held)++;
        pg_lease_facts(res, row, 5, ref);
        array_add(&columns[0], ref->id);
        array_add(&columns[1], pg_text_param(call->result_json));
        array_add(&columns[2], call->result_json ? pg_text_param(call->result_type) : NULL);
        array_add_double(&columns[3], ref->now);
    }
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The batch's fulfils: one look-up locking every lease, each checked in C
 * as check_lease does, and one update of the held ones. Fewer than two:
 * each goes its own way. */
static enum bus_err merge_fulfils(PGconn *conn, const struct writer_op_ref *ops, int count)
{
    if (count_fulfils(ops, count) < 2 || count > PG_MAX_BATCH)
        return BUS_OK;
    const char *sorted[PG_MAX_BATCH] = {NULL};
    int id_count = 0;
    for (int i = 0; i < count; i++) {
        if (merges(&ops[i], pg_fulfill_op))
            sorted[id_count++] = ((const struct store_fulfill_call *)ops[i].arg)->ref->id;
    }
    qsort(sorted, (size_t)id_count, sizeof sorted[0], compare_ids);
    struct pg_array ids = {0};
    for (int i = 0; i < id_count; i++) {
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
            array_add(&ids, sorted[i]);
    }
    const char *id_list = array_text(&ids);
    PGresult *leases = NULL;
    enum bus_err err = id_list != NULL
                           ? pg_exec(conn, "merged lease lookup", lease_sql, 1, &id_list, &leases)
                           : BUS_ERR_INTERNAL;
    array_free(&ids);
    if (err != BUS_OK)
        return err;
    struct pg_array columns[4] = {0};
    int held = 0;
    decide_fulfils(leases, ops, count, columns, &held);
    PQclear(leases);
    const char *params[4];
    bool complete = true;
    for (int c = 0; c < 4; c++)
        complete = (params[c] = array_text(&columns[c])) != NULL && complete;
    PGresult *res = NULL;
    if (!complete)
        err = BUS_ERR_INTERNAL;
    else if (held > 0)
        err = pg_exec_indexed(conn, "merged fulfill", fulfil_sql, 4, params, &res);
    for (int c = 0; c < 4; c++)
        array_free(&columns[c]);
    if (err == BUS_OK && held > 0 && strtol(PQcmdTuples(res), NULL, 10) != held)
        err = BUS_ERR_INTERNAL; /* cannot be: the rows are locked */
    PQclear(res);
    return err;
}

/* ---- claims ---------------------------------------------------------------- */

static const char *text_or_empty(const char *text)
{
    return text != NULL ? text : "";
}

/* Whether two claims ask for the same intents: all but the token and the
 * time (the group claims at the latest of its times, below). */
static bool claims_alike(const struct claim_request *a, const struct claim_request *b)
{
    return strcmp(a->namespace_, b->namespace_) == 0 && strcmp(a->goal, b->goal) == 0 &&
           strcmp(a->claimer, b->claimer) == 0 && strcmp(a->worker_id, b->worker_id) == 0 &&
           strcmp(a->publisher, b->publisher) == 0 &&
           strcmp(text_or_empty(a->capabilities_json), text_or_empty(b->capabilities_json)) == 0 &&
           a->lease_seconds == b->lease_seconds;
}

static const struct claim_request *claim_of(const struct writer_op_ref *op)
{
    return ((const struct store_claim_call *)op->arg)->request;
}

/* Gives each claim of the group its outcome from the merged statement's
 * rows: the n-th claim (batch order) the row numbered n, as one claim
 * after another would have taken them in the claim order; those past the
 * rows found nothing (BUS_ERR_EMPTY). */
static enum bus_err hand_out(PGconn *conn, const PGresult *res,
                             struct store_claim_call *const *group, int members, double expires)
{
    int rows = PQgetisnull(res, 0, 12) ? 0 : PQntuples(res);
    for (int i = 0; i < members; i++) {
        if (i >= rows) {
            keep_outcome(pg_claim_op, group[i], BUS_ERR_EMPTY);
            continue;
        }
        if (pg_long(res, i, 12) != i + 1 || strcmp(PQgetvalue(res, i, 11), "f") != 0)
            return BUS_ERR_INTERNAL; /* cannot be: numbered 1.., and limits take nothing */
        struct claimed_intent *out = group[i]->out;
        pg_read_claimed(res, i, out);
        pg_writer_output(conn, &out->payload_json);
        out->claim_expires_at = expires;
        if (out->payload_json == NULL)
            return BUS_ERR_INTERNAL;
        keep_outcome(pg_claim_op, group[i], BUS_OK);
    }
    return BUS_OK;
}

/* One statement for the group's claims. A namespace with a goal limit
 * takes nothing, and its claims go their own way (claim_op checks each). */
static enum bus_err claim_group(PGconn *conn, struct store_claim_call *const *group, int members)
{
    const struct claim_request *request = group[0]->request;
    double now = request->now;
    struct pg_array tokens = {0};
    for (int i = 0; i < members; i++) {
        array_add(&tokens, group[i]->request->token);
        if (group[i]->request->now > now)
            now = group[i]->request->now;
    }
    char now_text[32];
    char expires[32];
    char max[24];
    const char *params[] = {request->namespace_,
                            pg_double_param(now, now_text),
                            pg_text_param(request->goal),
                            request->claimer,
                            pg_text_param(request->worker_id),
                            request->capabilities_json ? request->capabilities_json : "[]",
                            pg_text_param(request->publisher),
                            array_text(&tokens),
                            pg_double_param(now + request->lease_seconds, expires),
                            pg_long_param(members, max)};
    PGresult *res = NULL;
    enum bus_err err = params[7] != NULL
                           ? pg_exec(conn, "merged claim", pg_claim_merged_sql, 10, params, &res)
                           : BUS_ERR_INTERNAL;
    array_free(&tokens);
    if (err != BUS_OK)
        return err;
    if (PQntuples(res) < 1) {
        PQclear(res);
        return BUS_ERR_INTERNAL; /* cannot be: one row at least */
    }
    if (strcmp(PQgetvalue(res, 0, 13), "t") != 0)
        err = hand_out(conn, res, group, members, now + request->lease_seconds);
    PQclear(res);
    return err;
}

/* The batch's claims, by groups of claims alike (in the order of their
 * first member); a claim alike with no other goes its own way. */
static enum bus_err merge_claims(PGconn *conn, const struct writer_op_ref *ops, int count)
{
    bool grouped[PG_MAX_BATCH] = {false};
    struct store_claim_call *group[PG_MAX_BATCH];
    for (int first = 0; first < count && first < PG_MAX_BATCH; first++) {
        if (!merges(&ops[first], pg_claim_op) || grouped[first])
            continue;
        int members = 0;
        for (int i = first; i < count && i < PG_MAX_BATCH; i++) {
            if (merges(&ops[i], pg_claim_op) && !grouped[i] &&
                claims_alike(claim_of(&ops[first]), claim_of(&ops[i]))) {
                grouped[i] = true;
                group[members++] = ops[i].arg;
            }
        }
        if (members < 2)
            continue;
        enum bus_err err = claim_group(conn, group, members);
        if (err != BUS_OK)
            return err;
    }
    return BUS_OK;
}

/* ---- the batch ------------------------------------------------------------- */

enum bus_err pg_merge_batch(PGconn *conn, const struct writer_op_ref *ops, int count)
{
    pg_merge_reset(conn);
    enum bus_err err = merge_nonces(conn, ops, count);
    if (err == BUS_OK)
        err = merge_publishes(conn, ops, count);
    if (err == BUS_OK)
        err = merge_claims(conn, ops, count);
    if (err == BUS_OK)
        err = merge_fulfils(conn, ops, count);
    if (err != BUS_OK)
        pg_merge_reset(conn); /* every operation goes its own way, or the batch is run again */
    return err;
}

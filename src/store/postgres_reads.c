/* The PostgreSQL backend's reads (/status, /result, /get, key lookups),
 * on the pool of autocommit connections beside the writer: a read sees
 * every commit made before it began, on any node. */
#include <stdlib.h>

#include "store/postgres_rows.h"

enum bus_err pg_get_intent(void *backend, const char *id, struct intent_record *out)
{
    const char *params[] = {id};
    PGresult *res = NULL;
    enum bus_err err =
        pg_pool_read(backend, "intent read", "SELECT " PG_INTENT_COLUMNS " FROM intents WHERE id = $1",
                  1, params, &res);
    if (err != BUS_OK)
        return err;
    err = BUS_ERR_NOT_FOUND;
    if (PQntuples(res) > 0) {
        pg_read_record(res, 0, out);
        err = out->payload_json ? BUS_OK : BUS_ERR_INTERNAL;
    }
    PQclear(res);
    return err;
}

enum bus_err pg_kv_get(void *backend, const char *principal, const char *key, double now,
                       char **value_json)
{
    char now_text[32];
    const char *params[] = {principal, key, pg_double_param(now, now_text)};
    PGresult *res = NULL;
    *value_json = NULL;
    enum bus_err err = pg_pool_read(backend, "kv read",
                                 "SELECT value FROM kv WHERE principal = $1 AND key = $2"
                                 " AND expires_at > $3::float8",
                                 3, params, &res);
    if (err != BUS_OK)
        return err;
    err = BUS_ERR_NOT_FOUND;
    if (PQntuples(res) > 0) {
        *value_json = pg_dup(res, 0, 0);
        err = *value_json ? BUS_OK : BUS_ERR_INTERNAL;
    }
    PQclear(res);
    return err;
}

static const char key_owner_sql[] =
    "SELECT owner FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL";

static enum bus_err read_owner(PGresult *res, char owner[OWNER_MAX_BYTES + 1])
{
    enum bus_err err = BUS_ERR_NOT_FOUND;
    if (PQntuples(res) > 0) {
        pg_copy(res, 0, 0, owner, OWNER_MAX_BYTES + 1);
        err = BUS_OK;
    }
    PQclear(res);
    return err;
}

enum bus_err pg_key_owner(PGconn *conn, const char *key_hash, char owner[OWNER_MAX_BYTES + 1])
{
    const char *params[] = {key_hash};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, "key lookup", key_owner_sql, 1, params, &res);
    return err != BUS_OK ? err : read_owner(res, owner);
}

enum bus_err pg_key_lookup(void *backend, const char *key_hash, char owner[OWNER_MAX_BYTES + 1])
{
    const char *params[] = {key_hash};
    PGresult *res = NULL;
    enum bus_err err = pg_pool_read(backend, "key lookup", key_owner_sql, 1, params, &res);
    return err != BUS_OK ? err : read_owner(res, owner);
}

/* Reading rows and counting changes, for the PostgreSQL backend's admin
 * and schedule operations (see postgres_rows.h). */
#include <stdlib.h>

#include "store/postgres_rows.h"

enum bus_err pg_pool_read(struct pg_backend *self, const char *what, const char *sql,
                          int param_count, const char *const *params, PGresult **out)
{
    PGconn *conn = pg_reader_acquire(self);
    enum bus_err err = pg_exec(conn, what, sql, param_count, params, out);
    if (err == BUS_ERR_DATABASE_BUSY && PQstatus(conn) == CONNECTION_BAD && pg_reconnect(conn))
        err = pg_exec(conn, what, sql, param_count, params, out);
    pg_reader_release(self, conn);
    return err;
}

enum bus_err pg_read_rows(struct pg_backend *self, const char *what, const char *sql,
                          int param_count, const char *const *params, pg_row_fn row, void *context)
{
    /* The rows are ours once read: another request may have the
     * connection while the callbacks run. */
    PGresult *res = NULL;
    enum bus_err err = pg_pool_read(self, what, sql, param_count, params, &res);
    if (err != BUS_OK)
        return err;
    for (int i = 0; i < PQntuples(res); i++)
        row(res, i, context);
    PQclear(res);
    return BUS_OK;
}

enum bus_err pg_run(PGconn *conn, const char *what, const char *sql, int param_count,
                    const char *const *params, long *changes)
{
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, what, sql, param_count, params, &res);
    if (err != BUS_OK)
        return err;
    if (changes != NULL) /* "" for a statement that changes no rows by nature */
        *changes += strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return BUS_OK;
}

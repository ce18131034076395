/* Reading rows and counting changes, for the PostgreSQL backend's admin
 * and schedule operations (see postgres_rows.h). */
#include <stdlib.h>

#include "store/postgres_rows.h"

enum bus_err pg_read_rows(struct pg_backend *self, const char *what, const char *sql,
                          int param_count, const char *const *params, pg_row_fn row, void *context)
{
    PGconn *conn = pg_reader_acquire(self);
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, what, sql, param_count, params, &res);
    /* The rows are ours now: another request may have the connection
     * while the callbacks run. */
    pg_reader_release(self, conn);
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

/* Two small shapes of the PostgreSQL backend's admin and schedule files:
 * a read on a pooled connection handed over row by row, and a write (in a
 * writer op) whose changed rows are counted. */
#ifndef STORE_POSTGRES_ROWS_H
#define STORE_POSTGRES_ROWS_H

#include "store/postgres_internal.h"

#define PG_PARAM_COUNT(params) ((int)(sizeof(params) / sizeof *(params)))

/* Called once per row of a read, with the result still alive. */
typedef void (*pg_row_fn)(const PGresult *res, int row, void *context);

/* Runs sql on a connection of the read pool, gives the connection back,
 * then calls row(res, i, context) for each row. */
enum bus_err pg_read_rows(struct pg_backend *self, const char *what, const char *sql,
                          int param_count, const char *const *params, pg_row_fn row, void *context);

/* Runs a write on conn (a writer op's connection); adds the rows it
 * inserted, updated or deleted to *changes unless changes is NULL. */
enum bus_err pg_run(PGconn *conn, const char *what, const char *sql, int param_count,
                    const char *const *params, long *changes);

#endif

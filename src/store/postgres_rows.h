/* Small shapes of the PostgreSQL backend's files: a read on a pooled
 * connection (whole or handed over row by row), and a write (in a writer
 * op) whose changed rows are counted. */
#ifndef STORE_POSTGRES_ROWS_H
#define STORE_POSTGRES_ROWS_H

#include "store/postgres_internal.h"

#define PG_PARAM_COUNT(params) ((int)(sizeof(params) / sizeof *(params)))

/* Called once per row of a read, with the result still alive. */
typedef void (*pg_row_fn)(const PGresult *res, int row, void *context);

/* Runs a read on a connection of the read pool and gives the connection
 * back; *out holds the result (the caller's to PQclear) when BUS_OK. A
 * connection that broke while idle in the pool (the server restarted) is
 * only found out by using it: the read is then tried once more on a fresh
 * connection, as reads change nothing. Every pooled read goes through it,
 * so no read answers 503 for a connection that can be mended at once. */
enum bus_err pg_pool_read(struct pg_backend *self, const char *what, const char *sql,
                          int param_count, const char *const *params, PGresult **out);

/* pg_pool_read, then calls row(res, i, context) for each row. */
enum bus_err pg_read_rows(struct pg_backend *self, const char *what, const char *sql,
                          int param_count, const char *const *params, pg_row_fn row, void *context);

/* Runs a write on conn (a writer op's connection); adds the rows it
 * inserted, updated or deleted to *changes unless changes is NULL. */
enum bus_err pg_run(PGconn *conn, const char *what, const char *sql, int param_count,
                    const char *const *params, long *changes);

#endif

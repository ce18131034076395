/* Databases of their own for the unit tests that run on PostgreSQL, on the
 * cluster named by $INTENT_BUS_DATABASE_URL (a superuser's URL of a
 * throw-away cluster, scripts/pg-cluster.sh). */
#ifndef TESTS_PG_TEST_DATABASE_H
#define TESTS_PG_TEST_DATABASE_H

#include <stdbool.h>

#include <libpq-fe.h>

/* Runs sql on conn; true when it succeeded (else says why on stderr). */
bool pg_test_run(PGconn *conn, const char *sql);

/* The test URL's connection parameters with dbname replaced, as a
 * key=value string (malloc'd). */
char *pg_test_conninfo(const char *url, const char *database);

/* A fresh database whose collation does not order by bytes (ICU "en"),
 * or the cluster's default where ICU is missing. */
bool pg_test_create_database(PGconn *admin, const char *name);

/* A fresh database named prefix_PID_SERIAL (written into name) on the
 * cluster of url; its connection parameters (malloc'd), or NULL. */
char *pg_test_database_open(const char *url, const char *prefix, char name[32]);

/* Drops the database name (if it exists) on $INTENT_BUS_DATABASE_URL's
 * cluster. */
void pg_test_database_drop(const char *name);

#endif

/* Databases of their own for the unit tests that run on PostgreSQL
 * (pg_test_database.h). */
#include "pg_test_database.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs sql on conn; true when it succeeded. */
bool pg_test_run(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(res);
    bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    return ok;
}

/* The test URL's connection parameters with dbname replaced, as a
 * key=value string (malloc'd). */
char *pg_test_conninfo(const char *url, const char *database)
{
    PQconninfoOption *options = PQconninfoParse(url, NULL);
    if (options == NULL)
        return NULL;
    size_t size = 64 + strlen(database);
    for (PQconninfoOption *o = options; o->keyword != NULL; o++)
        if (o->val != NULL)
            size += strlen(o->keyword) + 2 * strlen(o->val) + 8;
    char *out = malloc(size);
    size_t used = 0;
    for (PQconninfoOption *o = options; out != NULL && o->keyword != NULL; o++) {
        if (o->val == NULL || strcmp(o->keyword, "dbname") == 0)
            continue;
        used += (size_t)snprintf(out + used, size - used, "%s='", o->keyword);
        for (const char *c = o->val; *c; c++) {
            if (*c == '\'' || *c == '\\')
                out[used++] = '\\';
            out[used++] = *c;
        }
        used += (size_t)snprintf(out + used, size - used, "' ");
    }
    if (out != NULL)
        snprintf(out + used, size - used, "dbname='%s'", database);
    PQconninfoFree(options);
    return out;
}

/* A fresh database whose collation does not order by bytes (ICU "en"),
 * or the cluster's default where ICU is missing. */
bool pg_test_create_database(PGconn *admin, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE DATABASE %s LOCALE_PROVIDER icu ICU_LOCALE 'en' TEMPLATE template0", name);
    PGresult *res = PQexec(admin, sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (ok)
        return true;
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    return pg_test_run(admin, sql);
}

char *pg_test_database_open(const char *url, const char *prefix, char name[32])
{
    static int serial;
    snprintf(name, 32, "%s_%d_%d", prefix, (int)getpid(), serial++);
    PGconn *admin = PQconnectdb(url);
    bool created = PQstatus(admin) == CONNECTION_OK && pg_test_create_database(admin, name);
    PQfinish(admin);
    return created ? pg_test_conninfo(url, name) : NULL;
}

void pg_test_database_drop(const char *name)
{
    PGconn *admin = PQconnectdb(getenv("INTENT_BUS_DATABASE_URL"));
    char sql[96];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    pg_test_run(admin, sql);
    PQfinish(admin);
}

/* libpq, loaded when a PostgreSQL database is first opened (dlopen), not
 * linked: a bus on SQLite then never maps libpq and what it links (OpenSSL,
 * Kerberos, LDAP), as it never maps libcurl (tests/http/test_footprint.py).
 *
 * The backend's files call libpq by its usual names; the macros below turn
 * each into a call through the table pg_libpq, filled by pg_libpq_load().
 * A libpq function not listed here fails to link: add it to
 * PG_LIBPQ_FUNCTIONS and to the macros. */
#ifndef STORE_POSTGRES_LIBPQ_H
#define STORE_POSTGRES_LIBPQ_H

#include <stdbool.h>

#include <libpq-events.h>
#include <libpq-fe.h>

#define PG_LIBPQ_FUNCTIONS(X)                                                                      \
    X(PQconnectdbParams)                                                                           \
    X(PQfinish)                                                                                    \
    X(PQreset)                                                                                     \
    X(PQstatus)                                                                                    \
    X(PQtransactionStatus)                                                                         \
    X(PQerrorMessage)                                                                              \
    X(PQserverVersion)                                                                             \
    X(PQexec)                                                                                      \
    X(PQexecParams)                                                                                \
    X(PQprepare)                                                                                   \
    X(PQexecPrepared)                                                                              \
    X(PQregisterEventProc)                                                                         \
    X(PQsetInstanceData)                                                                           \
    X(PQinstanceData)                                                                              \
    X(PQresultStatus)                                                                              \
    X(PQresStatus)                                                                                 \
    X(PQresultErrorField)                                                                          \
    X(PQresultErrorMessage)                                                                        \
    X(PQclear)                                                                                     \
    X(PQntuples)                                                                                   \
    X(PQnfields)                                                                                   \
    X(PQfname)                                                                                     \
    X(PQgetvalue)                                                                                  \
    X(PQgetisnull)                                                                                 \
    X(PQgetlength)                                                                                 \
    X(PQcmdTuples)                                                                                 \
    X(PQcmdStatus)                                                                                 \
    X(PQescapeLiteral)                                                                             \
    X(PQescapeIdentifier)                                                                          \
    X(PQfreemem)                                                                                   \
    X(PQconsumeInput)                                                                              \
    X(PQnotifies)                                                                                  \
    X(PQsocket)                                                                                    \
    X(PQgetResult)                                                                                 \
    X(PQsendQueryParams)                                                                           \
    X(PQsendPrepare)                                                                               \
    X(PQsendQueryPrepared)                                                                         \
    X(PQenterPipelineMode)                                                                         \
    X(PQexitPipelineMode)                                                                          \
    X(PQpipelineSync)

#define PG_LIBPQ_MEMBER(name) __typeof__(name) *name;
struct pg_libpq {
    PG_LIBPQ_FUNCTIONS(PG_LIBPQ_MEMBER)
};
#undef PG_LIBPQ_MEMBER

extern struct pg_libpq pg_libpq;

/* Loads libpq once (thread-safe); false after saying why on stderr. */
bool pg_libpq_load(void);

#ifndef PG_LIBPQ_LOADER
#define PQconnectdbParams (pg_libpq.PQconnectdbParams)
#define PQfinish (pg_libpq.PQfinish)
#define PQreset (pg_libpq.PQreset)
#define PQstatus (pg_libpq.PQstatus)
#define PQtransactionStatus (pg_libpq.PQtransactionStatus)
#define PQerrorMessage (pg_libpq.PQerrorMessage)
#define PQserverVersion (pg_libpq.PQserverVersion)
#define PQexec (pg_libpq.PQexec)
#define PQexecParams (pg_libpq.PQexecParams)
#define PQprepare (pg_libpq.PQprepare)
#define PQexecPrepared (pg_libpq.PQexecPrepared)
#define PQregisterEventProc (pg_libpq.PQregisterEventProc)
#define PQsetInstanceData (pg_libpq.PQsetInstanceData)
#define PQinstanceData (pg_libpq.PQinstanceData)
#define PQresultStatus (pg_libpq.PQresultStatus)
#define PQresStatus (pg_libpq.PQresStatus)
#define PQresultErrorField (pg_libpq.PQresultErrorField)
#define PQresultErrorMessage (pg_libpq.PQresultErrorMessage)
#define PQclear (pg_libpq.PQclear)
#define PQntuples (pg_libpq.PQntuples)
#define PQnfields (pg_libpq.PQnfields)
#define PQfname (pg_libpq.PQfname)
#define PQgetvalue (pg_libpq.PQgetvalue)
#define PQgetisnull (pg_libpq.PQgetisnull)
#define PQgetlength (pg_libpq.PQgetlength)
#define PQcmdTuples (pg_libpq.PQcmdTuples)
#define PQcmdStatus (pg_libpq.PQcmdStatus)
#define PQescapeLiteral (pg_libpq.PQescapeLiteral)
#define PQescapeIdentifier (pg_libpq.PQescapeIdentifier)
#define PQfreemem (pg_libpq.PQfreemem)
#define PQconsumeInput (pg_libpq.PQconsumeInput)
#define PQnotifies (pg_libpq.PQnotifies)
#define PQsocket (pg_libpq.PQsocket)
#define PQgetResult (pg_libpq.PQgetResult)
#define PQsendQueryParams (pg_libpq.PQsendQueryParams)
#define PQsendPrepare (pg_libpq.PQsendPrepare)
#define PQsendQueryPrepared (pg_libpq.PQsendQueryPrepared)
#define PQenterPipelineMode (pg_libpq.PQenterPipelineMode)
#define PQexitPipelineMode (pg_libpq.PQexitPipelineMode)
#define PQpipelineSync (pg_libpq.PQpipelineSync)
#endif

#endif

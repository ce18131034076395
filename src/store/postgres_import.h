/* Moving house: a SQLite bus copied into an empty PostgreSQL database. */
#ifndef STORE_POSTGRES_IMPORT_H
#define STORE_POSTGRES_IMPORT_H

#include <stdio.h>

#include "store/postgres_libpq.h"

/* Copies every table of the SQLite bus at sqlite_path into pg, whose
 * schema is already at the latest migration and which must hold no bus
 * yet, in one transaction; the rows per table go to report. 0 on success;
 * -1 (said on stderr, nothing kept) otherwise. */
int pg_import_sqlite(const char *sqlite_path, PGconn *pg, FILE *report);

#endif

/* `intent-bus backup`; see backup_command.h. It names the database as
 * `serve` does (--db, else $BUS_DB_PATH, else infrastructure.db), so the
 * same environment file serves both. */
#include "serve/backup_command.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>

#include "serve/config.h"
#include "store/sqlite_backup.h"

void backup_print_usage(FILE *out)
{
    fprintf(out,
            "usage: intent-bus backup [--db PATH] FILE\n"
            "  Copies the bus's SQLite database to FILE while the bus keeps serving\n"
            "  (SQLite's online backup API): every job acknowledged before the copy\n"
            "  began is in it. FILE is written in full, checked, then renamed into place.\n"
            "  --db PATH    the database serve uses (default $BUS_DB_PATH or infrastructure.db)\n"
            "restore: stop the bus, remove PATH-wal and PATH-shm, copy FILE to PATH\n"
            "  (owned by the bus's user), start the bus. Keep PATH.secret too, unless\n"
            "  BUS_SECRET is set.\n");
}

/* The online backup is SQLite's; PostgreSQL has tools of its own. */
static int refuse_postgres(void)
{
    fprintf(stderr, "intent-bus: backup copies a SQLite database; for PostgreSQL use its own"
                    " tools (pg_dump, or pg_basebackup with WAL archiving)\n");
    return 2;
}

int backup_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'}, {"database", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *db = getenv("BUS_DB_PATH");
    if (db == NULL || db[0] == '\0')
        db = CONFIG_DEFAULT_DB;
    bool db_flag = false;
    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (option == 'h') {
            backup_print_usage(stdout);
            return 0;
        }
        if (option == 'D')
            return refuse_postgres();
        if (option != 'd' || optarg[0] == '\0') {
            backup_print_usage(stderr);
            return 2;
        }
        db = optarg;
        db_flag = true;
    }
    const char *url = getenv("BUS_DATABASE_URL");
    if (config_is_database_url(db) || (!db_flag && url != NULL && url[0] != '\0'))
        return refuse_postgres();
    if (argc - optind != 1) {
        fprintf(stderr, "intent-bus: backup takes one FILE\n");
        backup_print_usage(stderr);
        return 2;
    }
    char error[512];
    if (store_sqlite_backup(db, argv[optind], error, sizeof error) != 0) {
        fprintf(stderr, "intent-bus: backup of %s failed: %s\n", db, error);
        return 1;
    }
    fprintf(stderr, "intent-bus: %s backed up to %s\n", db, argv[optind]);
    return 0;
}

/* `intent-bus migrate`; see migrate_command.h. It names the database as
 * `serve` does (--database, else $BUS_DATABASE_URL). */
#include "serve/migrate_command.h"

#include <getopt.h>
#include <stdlib.h>

#include "store/store.h"

void migrate_print_usage(FILE *out)
{
    fprintf(out, "usage: intent-bus migrate [--database URL] [--from FILE]\n"
                 "  Brings a PostgreSQL database's schema up to this version of intent-bus\n"
                 "  and exits; `serve --database` does the same at start. Safe to run while\n"
                 "  nodes start, and more than once: an advisory lock makes each migration\n"
                 "  run once.\n"
                 "  --database URL   a libpq URI (default $BUS_DATABASE_URL)\n"
                 "  --from FILE      then copy the SQLite bus in FILE (intents in every state,\n"
                 "                   dead letters, tester keys, KV, schedules, ...) into the\n"
                 "                   database, which must hold no bus yet (docs/SCALING.md)\n");
}

int migrate_main(int argc, char **argv)
{
    static const struct option options[] = {{"database", required_argument, NULL, 'D'},
                                            {"from", required_argument, NULL, 'F'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *url = getenv("BUS_DATABASE_URL");
    const char *from = NULL;
    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (option == 'h') {
            migrate_print_usage(stdout);
            return 0;
        }
        if ((option != 'D' && option != 'F') || optarg[0] == '\0') {
            migrate_print_usage(stderr);
            return 2;
        }
        if (option == 'F')
            from = optarg;
        else
            url = optarg;
    }
    if (optind < argc || url == NULL || url[0] == '\0') {
        fprintf(stderr,
                optind < argc ? "intent-bus: unexpected argument '%s'\n"
                              : "intent-bus: migrate needs --database URL or"
                                " $BUS_DATABASE_URL%s\n",
                optind < argc ? argv[optind] : "");
        migrate_print_usage(stderr);
        return 2;
    }
    if (from != NULL)
        return store_postgres_import_sqlite(url, from) == 0 ? 0 : 1;
    return store_postgres_migrate(url) == 0 ? 0 : 1;
}

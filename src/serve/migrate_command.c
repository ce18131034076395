/* `intent-bus migrate`; see migrate_command.h. It names the database as
 * `serve` does (--database, else $BUS_DATABASE_URL). */
#include "serve/migrate_command.h"

#include <getopt.h>
#include <stdlib.h>

#include "store/store.h"

void migrate_print_usage(FILE *out)
{
    fprintf(out, "usage: intent-bus migrate [--database URL]\n"
                 "  Brings a PostgreSQL database's schema up to this version of intent-bus\n"
                 "  and exits; `serve --database` does the same at start. Safe to run while\n"
                 "  nodes start, and more than once: an advisory lock makes each migration\n"
                 "  run once.\n"
                 "  --database URL   a libpq URI (default $BUS_DATABASE_URL)\n");
}

int migrate_main(int argc, char **argv)
{
    static const struct option options[] = {{"database", required_argument, NULL, 'D'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *url = getenv("BUS_DATABASE_URL");
    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (option == 'h') {
            migrate_print_usage(stdout);
            return 0;
        }
        if (option != 'D' || optarg[0] == '\0') {
            migrate_print_usage(stderr);
            return 2;
        }
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
    return store_postgres_migrate(url) == 0 ? 0 : 1;
}

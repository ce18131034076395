/* `intent-bus migrate`: applies the PostgreSQL backend's schema migrations
 * and exits, for operators who upgrade the schema before starting the new
 * version of the nodes (serve applies them too, at start). */
#ifndef SERVE_MIGRATE_COMMAND_H
#define SERVE_MIGRATE_COMMAND_H

#include <stdio.h>

void migrate_print_usage(FILE *out);

/* argv starts at "migrate". Returns the exit code: 0 done, 1 the database
 * could not be reached or migrated, 2 bad usage. */
int migrate_main(int argc, char **argv);

#endif

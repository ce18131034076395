/* `intent-bus backup FILE`: a consistent copy of the bus's SQLite database,
 * taken while it serves. */
#ifndef SERVE_BACKUP_COMMAND_H
#define SERVE_BACKUP_COMMAND_H

#include <stdio.h>

void backup_print_usage(FILE *out);

/* argv starts at "backup". Returns the exit code: 0, 1 when the copy
 * failed, 2 on bad usage. */
int backup_main(int argc, char **argv);

#endif

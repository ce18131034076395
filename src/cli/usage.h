/* `intent-bus --help`, printed by both executables (version.h names them). */
#ifndef CLI_USAGE_H
#define CLI_USAGE_H

#include <stdbool.h>
#include <stdio.h>

void cli_print_usage(FILE *out);

/* True when argv names no command or asks for help: the usage is then
 * printed (to stderr when no command was given) and *exit_code set. */
bool cli_usage_requested(int argc, char **argv, int *exit_code);

#endif

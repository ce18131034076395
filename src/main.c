/* intent-bus: one command, subcommands like git. This executable is the
 * server and the front door; every client command (and bench) runs in
 * intent-bus-client beside it, exec'd in place, so `intent-bus serve` never
 * maps libcurl and what it links (about 2 MB resident, docs/BENCHMARKS.md),
 * as git keeps libcurl out of git by running git-remote-https. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/usage.h"
#include "serve/backup_command.h"
#include "serve/migrate_command.h"
#include "serve/server.h"
#include "util/sibling.h"
#include "version.h"

/* Replaces this process with intent-bus-client and the same arguments; the
 * pid, signals and exit code are then the client's own. Returns only when
 * that fails. */
static int run_client_command(char **argv)
{
    char path[PATH_MAX];
    if (!sibling_path(INTENT_BUS_CLIENT_EXECUTABLE, path, sizeof path)) {
        fprintf(stderr, "intent-bus: cannot find where this executable is\n");
        return 2;
    }
    argv[0] = (char *)INTENT_BUS_EXECUTABLE; /* messages and ps name the command typed */
    execv(path, argv);
    fprintf(stderr, "intent-bus: cannot run %s: %s (it is installed beside intent-bus)\n", path,
            strerror(errno));
    return 2;
}

int main(int argc, char **argv)
{
    int exit_code;
    if (cli_usage_requested(argc, argv, &exit_code))
        return exit_code;
    if (strcmp(argv[1], "serve") == 0)
        return server_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "backup") == 0)
        return backup_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "migrate") == 0)
        return migrate_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("intent-bus %s (Intent Protocol %s)\n", INTENT_BUS_VERSION, INTENT_PROTOCOL_VERSION);
        return 0;
    }
    return run_client_command(argv);
}

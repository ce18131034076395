/* intent-bus-client: the client commands and bench, which intent-bus runs
 * for everything but serve and version (src/main.c says why). Run directly
 * it behaves the same. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/commands.h"
#include "cli/usage.h"

struct command {
    const char *name;
    int (*main)(int argc, char **argv);
};

/* docs/CLI.md */
static const struct command commands[] = {
    {"publish", cli_publish_main}, {"listen", cli_listen_main}, {"claim", cli_claim_main},
    {"fulfill", cli_fulfill_main}, {"fail", cli_fail_main},     {"extend", cli_extend_main},
    {"result", cli_result_main},   {"status", cli_status_main}, {"set", cli_set_main},
    {"get", cli_get_main},         {"admin", cli_admin_main},   {"bench", bench_main},
    {"schedule", cli_schedule_main},
};

int main(int argc, char **argv)
{
    int exit_code;
    if (cli_usage_requested(argc, argv, &exit_code))
        return exit_code;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].main(argc - 1, argv + 1);
    }
    fprintf(stderr, "intent-bus: unknown command '%s'\n", argv[1]);
    cli_print_usage(stderr);
    return 2;
}

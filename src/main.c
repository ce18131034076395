/* intent-bus: one executable, subcommands like git. */
#include <stdio.h>
#include <string.h>

#include "cli/bench.h"
#include "serve/server.h"
#include "version.h"

static void print_usage(void)
{
    fprintf(stderr, "usage: intent-bus <command> [options]\n"
                    "commands:\n"
                    "  serve      run the bus (intent-bus serve --help)\n"
                    "  bench      load-test a bus (intent-bus bench --help)\n"
                    "  version    print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        print_usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return server_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "bench") == 0)
        return bench_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("intent-bus %s (Intent Protocol %s)\n", INTENT_BUS_VERSION, INTENT_PROTOCOL_VERSION);
        return 0;
    }
    fprintf(stderr, "intent-bus: unknown command '%s'\n", argv[1]);
    print_usage();
    return 2;
}

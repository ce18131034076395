/* The help every command of intent-bus shares; see usage.h. */
#include "cli/usage.h"

#include <string.h>

void cli_print_usage(FILE *out)
{
    fprintf(out,
            "usage: intent-bus <command> [options]   (intent-bus <command> --help)\n"
            "\n"
            "the bus:\n"
            "  serve      run the bus (intent-bus serve --help)\n"
            "  backup     copy the live database to a file (intent-bus backup --help)\n"
            "  migrate    bring a PostgreSQL database's schema up to date (--help)\n"
            "  bench      load-test a bus (intent-bus bench --help)\n"
            "  version    print the version\n"
            "\n"
            "jobs:\n"
            "  publish GOAL JSON         publish a job and print its id (--wait: its result)\n"
            "  listen GOAL -c COMMAND    run COMMAND for every job, as a worker\n"
            "  result ID [--wait S]      print a job with its result\n"
            "  status ID                 print a job's state\n"
            "\n"
            "a worker's calls, for scripts:\n"
            "  claim [GOAL]              claim a job and print it with its claim_token\n"
            "  fulfill ID TOKEN [RESULT] mark a claimed job done\n"
            "  fail ID TOKEN [ERROR]     mark a claimed job failed (retried or dead-lettered)\n"
            "  extend ID TOKEN [SECONDS] extend a claimed job's lease\n"
            "\n"
            "the KV store:\n"
            "  set KEY JSON [--ttl S]    store a value\n"
            "  get KEY                   print a value\n"
            "\n"
            "recurring jobs:\n"
            "  schedule <command>        add|ls|show|pause|resume|rm (intent-bus schedule --help)\n"
            "\n"
            "  admin <command>           the admin API (intent-bus admin --help)\n"
            "\n"
            "credentials: --api-key, else $INTENT_API_KEY, else ~/.apikey (mode 0600);\n"
            "the bus: --url, else $INTENT_BUS_URL, else http://127.0.0.1:8080; admin\n"
            "token: --admin-token, else $INTENT_ADMIN_TOKEN. Requests are HMAC-signed\n"
            "unless --no-sign.\n"
            "\n"
            "exit codes of the client commands:\n"
            "  0  success\n"
            "  1  the bus refused the request, or the job is dead\n"
            "  2  bad usage\n"
            "  3  no usable credentials, or 401/403 (wrong key, bad signature)\n"
            "  4  not found: no such intent or key, or the lease is lost\n"
            "  5  the bus could not be reached, or answered 5xx\n"
            "  6  nothing yet: nothing to claim, or a --wait ran out first\n");
}

bool cli_usage_requested(int argc, char **argv, int *exit_code)
{
    if (argc >= 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0 &&
        strcmp(argv[1], "help") != 0)
        return false;
    cli_print_usage(argc < 2 ? stderr : stdout);
    *exit_code = argc < 2 ? 2 : 0;
    return true;
}

/* `intent-bus listen GOAL -c COMMAND`: a worker that runs a shell command
 * for every job (listen_job.h says what the command's exit means). This
 * file reads the options and owns the signals: SIGINT and SIGTERM are
 * blocked in every thread and taken here with sigtimedwait(), so no code
 * runs in a signal handler. The first one stops claiming, withdraws the
 * claim waiting on the bus and lets running jobs finish; a second one stops
 * at once. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/credentials.h"
#include "cli/listener.h"

#define DEFAULT_WAIT 30
#define MAX_CONCURRENCY 256
#define TICK_NS (200L * 1000 * 1000)

enum { OPT_WORKER_ID = CLI_OPT_FIRST_FREE, OPT_CAPABILITIES, OPT_CONCURRENCY, OPT_WAIT };

static const struct option options[] = {
    {"namespace", required_argument, NULL, 'n'},
    {"command", required_argument, NULL, 'c'},
    {"worker-id", required_argument, NULL, OPT_WORKER_ID},
    {"capabilities", required_argument, NULL, OPT_CAPABILITIES},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"wait", required_argument, NULL, OPT_WAIT},
    CLI_COMMON_OPTIONS,
    {0},
};

static void print_usage(void)
{
    printf("usage: intent-bus listen GOAL -c COMMAND [options]\n"
           "\n"
           "Claims jobs with goal GOAL and runs COMMAND for each with /bin/sh -c, the\n"
           "payload as JSON on its stdin and INTENT_ID, INTENT_GOAL, INTENT_NAMESPACE and\n"
           "INTENT_ATTEMPT in its environment.\n"
           "  exit 0    fulfils the job; stdout is the result: JSON when it parses as\n"
           "            JSON, else text (trailing newlines dropped); none when empty\n"
           "  exit != 0 fails it with \"exit status N: \" and the end of stderr (2000 bytes\n"
           "            in all) as the error; the bus retries it or dead-letters it\n"
           "The lease is extended while COMMAND runs. One line per job on stderr: time,\n"
           "id, goal, outcome (fulfilled, failed, lease lost), duration.\n"
           "SIGINT/SIGTERM: stop claiming (a waiting claim is withdrawn), let running\n"
           "jobs finish and report them, exit 0. A second signal stops at once (SIGTERM\n"
           "to the running commands, exit 1).\n"
           "\n"
           "options:\n"
           "  -c, --command COMMAND    the shell command to run for each job (required)\n"
           "  -n, --namespace NS       namespace (default \"default\")\n"
           "  --worker-id W            this worker's id (for jobs with --target-worker)\n"
           "  --capabilities a,b       this worker's capabilities (for --capability)\n"
           "  --concurrency N          run up to N jobs at once, 1-%d (default 1); free slots\n"
           "                           are filled by batch claims (POST /claim?max=K)\n"
           "  --wait S                 each claim waits up to S seconds for a job (long-poll,\n"
           "                           0-60, default %d; 0 polls)\n"
           "%s"
           "\n"
           "example:\n"
           "  intent-bus listen send_notification -n default -c 'jq -r .instruction | notify'\n",
           MAX_CONCURRENCY, DEFAULT_WAIT, CLI_COMMON_USAGE);
}

static bool take_option(struct cli_common *common, int flag, int argc, char **argv, void *context)
{
    (void)argc, (void)argv;
    struct listen_config *config = context;
    long number = 0;
    switch (flag) {
    case 'n':
        config->namespace_ = optarg;
        return true;
    case 'c':
        config->command = optarg;
        return true;
    case OPT_WORKER_ID:
        config->worker_id = optarg;
        return true;
    case OPT_CAPABILITIES:
        config->capabilities = optarg;
        return true;
    case OPT_CONCURRENCY:
        if (!cli_parse_long(common, "--concurrency", optarg, 1, MAX_CONCURRENCY, &number))
            return false;
        config->concurrency = (unsigned)number;
        return true;
    case OPT_WAIT:
        if (!cli_parse_long(common, "--wait", optarg, 0, 60, &number))
            return false;
        config->wait_seconds = (unsigned)number;
        return true;
    default:
        return false;
    }
}

/* A command's pipes must not land on 0, 1 or 2 of the listener (if it was
 * started with one closed): dup2 onto the same number would not clear
 * close-on-exec. */
static void keep_standard_descriptors_open(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            return;
    }
}

/* Says what the stop waits for: only running jobs, as the waiting claim is
 * withdrawn at once; they are what a second signal would cut short. */
static void announce_stop(struct listener *listener, const struct cli_common *common,
                          int signal_number)
{
    unsigned running = listener_running(listener);
    cli_error(common, "%s: stopping; %u running job%s to finish%s%s",
              signal_number == SIGINT ? "SIGINT" : "SIGTERM", running, running == 1 ? "" : "s",
              running > 0 ? " (signal again to quit now)" : "",
              listener_claiming(listener) ? "; withdrawing the claim waiting on the bus" : "");
}

/* Waits for signals until the listener has finished; returns the exit
 * code. *forced: a second signal ended it with jobs still running. */
static int supervise(struct listener *listener, const struct cli_common *common,
                     const sigset_t *signals, bool *forced)
{
    *forced = false;
    unsigned received = 0;
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = TICK_NS};
    while (!listener_finished(listener)) {
        int signal_number = sigtimedwait(signals, NULL, &tick);
        if (signal_number <= 0)
            continue;
        if (++received == 1) {
            announce_stop(listener, common, signal_number);
            listener_stop(listener);
            continue;
        }
        unsigned running = listener_running(listener);
        cli_error(common, "second signal: stopping now; %u job%s left to the bus to redeliver",
                  running, running == 1 ? "" : "s");
        listener_kill_jobs(listener);
        *forced = true;
        return CLI_EXIT_FAILED;
    }
    return listener_exit_code(listener);
}

static int listen_with(const struct listen_config *config, const struct cli_common *common,
                       const struct cli_credentials *credentials)
{
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    /* Blocked before any thread starts, so every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN); /* a command that does not read its stdin */
    keep_standard_descriptors_open();
    struct listener *listener = listener_start(config, common, credentials);
    if (listener == NULL)
        return CLI_EXIT_FAILED;
    fprintf(stderr, "intent-bus: listen: waiting for '%s' jobs in namespace '%s' at %s\n",
            config->goal, config->namespace_ ? config->namespace_ : "default", credentials->url);
    bool forced = false;
    int code = supervise(listener, common, &signals, &forced);
    if (!forced) {
        listener_free(listener);
        return code;
    }
    /* Threads are still inside a claim or a job: leave without running exit
     * handlers under their feet. */
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

int cli_listen_main(int argc, char **argv)
{
    struct cli_common common = {.command = "listen"};
    struct listen_config config = {.concurrency = 1, .wait_seconds = DEFAULT_WAIT};
    static const struct cli_syntax syntax = {":hn:c:", options, take_option, print_usage, 1, 1};
    int code = cli_parse(&common, argc, argv, &syntax, &config);
    if (code >= 0)
        return code;
    config.goal = argv[optind];
    if (config.command == NULL || config.command[0] == '\0')
        return cli_usage_error(&common, "-c COMMAND is required");
    struct cli_credentials credentials;
    code = cli_credentials_resolve(&common, CLI_NEED_API_KEY, &credentials);
    if (code == CLI_EXIT_OK)
        code = listen_with(&config, &common, &credentials);
    cli_credentials_clear(&credentials);
    return code;
}

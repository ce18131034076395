/* One claimed job of `intent-bus listen`, from start to finish: run the
 * command (runner.h) while a lease keeper extends the lease
 * (lease_keeper.h), turn its exit status and output into a fulfil or a
 * fail, and log one line on stderr:
 *   2026-05-30T12:00:01Z <id> <goal> fulfilled 0.42s
 * The outcome is "fulfilled", "failed (...)", "lease lost" or
 * "error (...)" when the bus could not be told. */
#ifndef CLI_LISTEN_JOB_H
#define CLI_LISTEN_JOB_H

#include <sys/types.h>

#include <intentbus.h>

/* What every job of one listener shares. */
struct listen_config {
    const char *goal;
    const char *namespace_;
    const char *command;
    const char *worker_id;
    const char *capabilities;
    unsigned concurrency;
    unsigned wait_seconds; /* long-poll claims; 0: poll */
};

/* Told the command's pid once it runs, and 0 once it has exited, so a
 * forced stop can signal it. Told 0, it answers false when the listener
 * was stopped at once: the job is then left to the bus, not settled. */
typedef bool listen_job_pid_fn(void *context, pid_t pid);

/* Runs job to the end. client reports the outcome; lease_client is the
 * lease keeper's (a client is used by one thread at a time). claimed_at:
 * clock_monotonic() when the claim was answered. */
void listen_job_run(const struct listen_config *config, struct ib_client *client,
                    struct ib_client *lease_client, const struct ib_job *job, double claimed_at,
                    listen_job_pid_fn *on_pid, void *context);

#endif

/* The machinery of `intent-bus listen`: one claimer thread and
 * `concurrency` job slots, each slot a thread with its own clients (the
 * library's client is not thread-safe, save for ib_client_abort()). The
 * claimer claims only when a slot is free, as many jobs as slots are free
 * (a batch claim, POST /claim?max=K, when more than one), with long-poll
 * claims, so an
 * idle listener makes one request per wait period; it backs off with
 * jitter on errors and honours Retry-After. The caller's thread handles
 * signals and decides when to stop (cmd_listen.c). */
#ifndef CLI_LISTENER_H
#define CLI_LISTENER_H

#include <stdbool.h>

#include "cli/common.h"
#include "cli/credentials.h"
#include "cli/listen_job.h"

struct listener;

/* Starts the threads. config, common and credentials must outlive the
 * listener. NULL after printing why. */
struct listener *listener_start(const struct listen_config *config, const struct cli_common *common,
                                const struct cli_credentials *credentials);

/* Stops claiming and withdraws the claim waiting on the bus, if any: it is
 * aborted (ib_client_abort), which closes its connection, and the bus hands
 * no job to a claim whose connection is closed. Running jobs go on to the
 * end. */
void listener_stop(struct listener *listener);

/* Whether the listener is stopping (asked to, or after a fatal claim
 * error), no job is running and no claim is on its way: time to exit. A
 * stop withdraws the waiting claim, which returns within about a second
 * (libintentbus looks for an abort that often), so an idle listener is
 * soon finished. A claim that brought a job before the stop reached it
 * hands that job to a slot, which runs it like the others: a stop never
 * drops a job the listener holds. */
bool listener_finished(struct listener *listener);

/* Whether a claim is on its way or waiting on the bus. */
bool listener_claiming(struct listener *listener);

/* How many jobs are running. */
unsigned listener_running(struct listener *listener);

/* SIGTERM to every running command's process group. */
void listener_kill_jobs(struct listener *listener);

/* The exit code: CLI_EXIT_OK, or that of the claim error that stopped it. */
int listener_exit_code(struct listener *listener);

/* After listener_finished() (or a failed start): joins the threads and
 * frees everything. */
void listener_free(struct listener *listener);

#endif

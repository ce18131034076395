/* Running a listener's COMMAND for one job: `/bin/sh -c COMMAND` in a
 * process group of its own (so a Ctrl-C meant for the listener does not
 * kill the job it is letting finish), the payload on its stdin, its stdout
 * gathered (the result) and the end of its stderr kept (the error). */
#ifndef CLI_RUNNER_H
#define CLI_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNNER_MAX_OUTPUT (64 * 1024) /* stdout kept; the bus takes 8 KB per request */
#define RUNNER_ERROR_TAIL 2000        /* bytes of stderr kept: the bus stores 2000 */

/* A started command: its pid (also its process group) and our ends of its
 * stdin, stdout and stderr pipes. */
struct runner {
    pid_t pid;
    int input;
    int output;
    int error;
};

struct runner_output {
    int wait_status; /* as waitpid() reports it */
    char *out;       /* stdout, NUL-terminated; it may hold NULs: see out_length */
    size_t out_length;
    bool out_truncated;              /* it wrote more than RUNNER_MAX_OUTPUT bytes */
    char err[RUNNER_ERROR_TAIL + 1]; /* the last bytes of stderr, NUL-terminated */
    size_t err_length;
    bool err_truncated; /* err is only the end of what it wrote */
};

/* Starts /bin/sh -c command with the environment env, every descriptor
 * but its three pipes closed, and default signal handling. Returns 0, or
 * an errno value when nothing was started. */
int runner_start(struct runner *runner, const char *command, char *const env[]);

/* Writes input to the command's stdin, then closes it; gathers stdout and
 * stderr until the command closes both; waits for it to exit. Fills
 * *output: free it with runner_output_free(). */
void runner_finish(struct runner *runner, const char *input, size_t input_length,
                   struct runner_output *output);

void runner_output_free(struct runner_output *output);

#endif

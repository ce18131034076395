/* Running one job's command; see runner.h. posix_spawn() rather than
 * fork(): the listener has threads, and between fork() and exec() a child
 * of a threaded process may only call async-signal-safe functions. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np, pipe2 */
#include "cli/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_CHUNK 4096

/* Both ends close on exec: another job's command, spawned by another thread
 * at the same moment, must not inherit them, or this command's stdout would
 * not end until that one exits. The child's copies on 0, 1 and 2 are made
 * by dup2, which clears the flag. Our end is made non-blocking. */
static int make_pipe(int ends[2], int our_end)
{
    if (pipe2(ends, O_CLOEXEC) != 0)
        return errno;
    int flags = fcntl(ends[our_end], F_GETFL);
    if (flags < 0 || fcntl(ends[our_end], F_SETFL, flags | O_NONBLOCK) != 0) {
        int error = errno;
        close(ends[0]);
        close(ends[1]);
        return error;
    }
    return 0;
}

static void close_pipe(int ends[2])
{
    if (ends[0] >= 0)
        close(ends[0]);
    if (ends[1] >= 0)
        close(ends[1]);
}

/* Own process group, an empty signal mask and default dispositions: the
 * listener blocks SIGINT/SIGTERM and ignores SIGPIPE, which a child would
 * otherwise inherit. */
static int set_attributes(posix_spawnattr_t *attributes)
{
    sigset_t none;
    sigset_t defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    const int reset[] = {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++)
        sigaddset(&defaults, reset[i]);
    int error = posix_spawnattr_setflags(
        attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (error == 0)
        error = posix_spawnattr_setpgroup(attributes, 0);
    if (error == 0)
        error = posix_spawnattr_setsigmask(attributes, &none);
    if (error == 0)
        error = posix_spawnattr_setsigdefault(attributes, &defaults);
    return error;
}

/* The child's stdin, stdout and stderr from the pipes; nothing else open. */
static int set_file_actions(posix_spawn_file_actions_t *actions, int input, int output, int error)
{
    int failure = posix_spawn_file_actions_adddup2(actions, input, STDIN_FILENO);
    if (failure == 0)
        failure = posix_spawn_file_actions_adddup2(actions, output, STDOUT_FILENO);
    if (failure == 0)
        failure = posix_spawn_file_actions_adddup2(actions, error, STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* libcurl's sockets, for one, need not close on exec. */
    if (failure == 0)
        failure = posix_spawn_file_actions_addclosefrom_np(actions, STDERR_FILENO + 1);
#endif
    return failure;
}

static int spawn(struct runner *runner, const char *command, char *const env[], int in[2],
                 int out[2], int err[2])
{
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_init(&attributes);
    posix_spawn_file_actions_init(&actions);
    int error = set_attributes(&attributes);
    if (error == 0)
        error = set_file_actions(&actions, in[0], out[1], err[1]);
    char *const argv[] = {"sh", "-c", (char *)command, NULL};
    if (error == 0)
        error = posix_spawn(&runner->pid, "/bin/sh", &actions, &attributes, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    return error;
}

int runner_start(struct runner *runner, const char *command, char *const env[])
{
    int in[2] = {-1, -1};
    int out[2] = {-1, -1};
    int err[2] = {-1, -1};
    int error = make_pipe(in, 1);
    if (error == 0)
        error = make_pipe(out, 0);
    if (error == 0)
        error = make_pipe(err, 0);
    if (error == 0)
        error = spawn(runner, command, env, in, out, err);
    if (error != 0) {
        close_pipe(in);
        close_pipe(out);
        close_pipe(err);
        return error;
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    runner->input = in[1];
    runner->output = out[0];
    runner->error = err[0];
    return 0;
}

/* Appends bytes to stdout, up to RUNNER_MAX_OUTPUT. */
static void keep_output(struct runner_output *output, const char *bytes, size_t length)
{
    if (output->out == NULL && (output->out = malloc(RUNNER_MAX_OUTPUT + 1)) == NULL) {
        output->out_truncated = true;
        return;
    }
    size_t room = RUNNER_MAX_OUTPUT - output->out_length;
    if (length > room) {
        output->out_truncated = true;
        length = room;
    }
    memcpy(output->out + output->out_length, bytes, length);
    output->out_length += length;
    output->out[output->out_length] = '\0';
}

/* Appends bytes to stderr's tail, dropping its oldest bytes. */
static void keep_error(struct runner_output *output, const char *bytes, size_t length)
{
    if (length >= RUNNER_ERROR_TAIL) {
        output->err_truncated =
            output->err_truncated || output->err_length > 0 || length > RUNNER_ERROR_TAIL;
        bytes += length - RUNNER_ERROR_TAIL;
        length = RUNNER_ERROR_TAIL;
        output->err_length = 0;
    } else if (output->err_length + length > RUNNER_ERROR_TAIL) {
        size_t drop = output->err_length + length - RUNNER_ERROR_TAIL;
        memmove(output->err, output->err + drop, output->err_length - drop);
        output->err_length -= drop;
        output->err_truncated = true;
    }
    memcpy(output->err + output->err_length, bytes, length);
    output->err_length += length;
    output->err[output->err_length] = '\0';
}

/* Reads what is there from *fd into output; closes it at the end. */
static void drain(int *fd, struct runner_output *output, bool is_error)
{
    char chunk[READ_CHUNK];
    ssize_t got = read(*fd, chunk, sizeof chunk);
    if (got > 0) {
        (is_error ? keep_error : keep_output)(output, chunk, (size_t)got);
        return;
    }
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    close(*fd);
    *fd = -1;
}

/* Writes the next part of the input; closes stdin when all is written or
 * the command will not read it (EPIPE). */
static void feed(int *fd, const char *input, size_t length, size_t *written)
{
    ssize_t sent = *written < length ? write(*fd, input + *written, length - *written) : 0;
    if (sent > 0)
        *written += (size_t)sent;
    if (sent < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (sent < 0 || *written >= length) {
        close(*fd);
        *fd = -1;
    }
}

static void close_if_open(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void runner_finish(struct runner *runner, const char *input, size_t input_length,
                   struct runner_output *output)
{
    memset(output, 0, sizeof *output);
    size_t written = 0;
    if (input_length == 0) {
        close(runner->input);
        runner->input = -1;
    }
    while (runner->output >= 0 || runner->error >= 0) {
        struct pollfd fds[3] = {
            {.fd = runner->output, .events = POLLIN},
            {.fd = runner->error, .events = POLLIN},
            {.fd = runner->input, .events = POLLOUT},
        };
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[0].revents)
            drain(&runner->output, output, false);
        if (fds[1].revents)
            drain(&runner->error, output, true);
        if (fds[2].revents)
            feed(&runner->input, input, input_length, &written);
    }
    /* poll() ignores negative descriptors; whatever is left is closed here. */
    close_if_open(&runner->input);
    close_if_open(&runner->output);
    close_if_open(&runner->error);
    pid_t waited;
    while ((waited = waitpid(runner->pid, &output->wait_status, 0)) < 0 && errno == EINTR) {
    }
    if (waited < 0)
        output->wait_status = 255 << 8; /* unknown: reported as "exit status 255" */
}

void runner_output_free(struct runner_output *output)
{
    free(output->out);
    output->out = NULL;
}

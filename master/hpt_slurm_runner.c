/*  hpt_slurm_runner -- Slurm's commands, run off the master's loop

    The actor takes one request at a time from its pipe, in the order
    they came (requests that arrive while a command runs are queued). For each it
    spawns the command (posix_spawnp, in a process group of its own, with
    pipes for stdin, stdout and stderr) and then polls the child's pipes
    and its own pipe together until the child has closed its output and
    exited, or the time limit passes (then the whole group is killed).
    A $TERM arriving meanwhile kills the child and ends the actor. The
    reply goes back on the pipe; see hpt_slurm_runner.h for the frames.
*/
#include "hpt_slurm_runner.h"
#include "hpt_alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

//  What one run collects.
typedef struct {
    char *out[2];     //  stdout and stderr, NUL-terminated, bounded
    size_t len[2];    //  bytes kept of each
    bool terminated;  //  $TERM arrived: the actor must end
    zlistx_t *queued; //  requests that arrived while a command ran (zmsg_t)
} s_run_t;

//  Takes one message off the pipe: $TERM ends the actor, a request waits
//  its turn in queued.
static void
s_receive (zsock_t *pipe, s_run_t *run)
{
    zmsg_t *msg = zmsg_recv (pipe);
    zframe_t *first = msg ? zmsg_first (msg) : NULL;
    if (!msg || (zmsg_size (msg) == 1 && zframe_streq (first, "$TERM"))) {
        run->terminated = true;
        zmsg_destroy (&msg);
    } else
        zlistx_add_end (run->queued, msg);
}

//  Appends what fd has to buffer index i; returns false at end of file.
static bool
s_drain (s_run_t *run, int i, int fd)
{
    char chunk[8192];
    ssize_t got = read (fd, chunk, sizeof (chunk));
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (got <= 0) return false;
    size_t keep = (size_t)got;
    if (run->len[i] + keep > HPT_SLURM_RUNNER_OUTPUT_MAX)
        keep = HPT_SLURM_RUNNER_OUTPUT_MAX - run->len[i];
    memcpy (run->out[i] + run->len[i], chunk, keep);
    run->len[i] += keep;
    run->out[i][run->len[i]] = 0;
    return true;
}

//  Spawns argv with its three pipes; returns the pid or -1 (errno set).
static pid_t
s_spawn (char **argv, int fds[3])
{
    int in[2], out[2], err[2];
    if (pipe2 (in, O_CLOEXEC)) return -1;
    if (pipe2 (out, O_CLOEXEC) || pipe2 (err, O_CLOEXEC)) {
        close (in[0]), close (in[1]);
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, in[0], 0);
    posix_spawn_file_actions_adddup2 (&actions, out[1], 1);
    posix_spawn_file_actions_adddup2 (&actions, err[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init (&attr);
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup (&attr, 0);
    sigset_t none;
    sigemptyset (&none);
    posix_spawnattr_setsigmask (&attr, &none);
    pid_t pid;
    int rc = posix_spawnp (&pid, argv[0], &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    posix_spawnattr_destroy (&attr);
    close (in[0]), close (out[1]), close (err[1]);
    if (rc != 0) {
        close (in[1]), close (out[0]), close (err[0]);
        errno = rc;
        return -1;
    }
    fds[0] = in[1], fds[1] = out[0], fds[2] = err[0];
    fcntl (fds[0], F_SETFL, O_NONBLOCK);
    return pid;
}

//  Feeds stdin, collects stdout/stderr until both close or the deadline;
//  watches the pipe for $TERM. Returns false when the deadline passed or
//  the actor must end (the child is then still to be killed).
static bool
s_collect (zsock_t *pipe, s_run_t *run, int fds[3], const char *input, int64_t deadline)
{
    size_t input_len = input ? strlen (input) : 0, written = 0;
    if (input_len == 0) close (fds[0]), fds[0] = -1;
    while (fds[1] >= 0 || fds[2] >= 0) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) return false;
        zmq_pollitem_t items[4] = {{zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
                                   {NULL, fds[1], fds[1] >= 0 ? ZMQ_POLLIN : 0, 0},
                                   {NULL, fds[2], fds[2] >= 0 ? ZMQ_POLLIN : 0, 0},
                                   {NULL, fds[0], fds[0] >= 0 ? ZMQ_POLLOUT : 0, 0}};
        if (zmq_poll (items, 4, (long)left) < 0 && errno != EINTR) return false;
        if (items[0].revents & ZMQ_POLLIN) {
            s_receive (pipe, run);
            if (run->terminated) return false;
        }
        for (int i = 1; i <= 2; i++)
            if (fds[i] >= 0 && (items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) &&
                !s_drain (run, i - 1, fds[i]))
                close (fds[i]), fds[i] = -1;
        if (fds[0] >= 0 && (items[3].revents & (ZMQ_POLLOUT | ZMQ_POLLERR))) {
            ssize_t n = write (fds[0], input + written, input_len - written);
            if (n > 0) written += (size_t)n;
            if (n < 0 && errno != EAGAIN && errno != EINTR) written = input_len;
            if (written >= input_len) close (fds[0]), fds[0] = -1;
        }
    }
    return true;
}

//  Runs one request and sends its reply.
static void
s_run (zsock_t *pipe, zmsg_t *request, s_run_t *run)
{
    char *tag = zmsg_popstr (request), *timeout = zmsg_popstr (request);
    char *input = zmsg_popstr (request);
    size_t argc = zmsg_size (request);
    char **argv = hpt_calloc (argc + 1, sizeof (char *));
    for (size_t i = 0; i < argc; i++)
        argv[i] = zmsg_popstr (request);
    run->len[0] = run->len[1] = 0;
    run->out[0][0] = run->out[1][0] = 0;
    char status[64] = "error";
    int fds[3] = {-1, -1, -1};
    pid_t pid = argc && tag && timeout ? s_spawn (argv, fds) : -1;
    if (pid < 0)
        snprintf (run->out[1], HPT_SLURM_RUNNER_OUTPUT_MAX, "cannot run %s: %s",
                  argc ? argv[0] : "(nothing)", strerror (errno));
    else {
        int64_t deadline = zclock_mono () + atoll (timeout);
        bool done = s_collect (pipe, run, fds, input, deadline);
        int wstatus = 0;
        //  Its output closed: the leader should exit now, but may not.
        while (done && waitpid (pid, &wstatus, WNOHANG) == 0) {
            if (zclock_mono () >= deadline)
                done = false;
            else
                zclock_sleep (5);
        }
        if (!done) {
            kill (-pid, SIGKILL);
            while (waitpid (pid, &wstatus, 0) < 0 && errno == EINTR)
                ;
        }
        for (int i = 0; i < 3; i++)
            if (fds[i] >= 0) close (fds[i]);
        if (!done)
            snprintf (status, sizeof (status), "timeout");
        else if (WIFEXITED (wstatus))
            snprintf (status, sizeof (status), "%d", WEXITSTATUS (wstatus));
        else
            snprintf (status, sizeof (status), "signal %d", WTERMSIG (wstatus));
    }
    if (!run->terminated) zstr_sendx (pipe, tag ? tag : "", status, run->out[0], run->out[1], NULL);
    for (size_t i = 0; i < argc; i++)
        zstr_free (&argv[i]);
    free (argv);
    zstr_free (&tag);
    zstr_free (&timeout);
    zstr_free (&input);
}

void
hpt_slurm_runner_actor (zsock_t *pipe, void *args)
{
    s_run_t run = {{hpt_malloc (HPT_SLURM_RUNNER_OUTPUT_MAX + 1),
                    hpt_malloc (HPT_SLURM_RUNNER_OUTPUT_MAX + 1)},
                   {0, 0},
                   false,
                   zlistx_new ()};
    zsock_signal (pipe, 0);
    while (!run.terminated) {
        if (zlistx_size (run.queued) == 0) s_receive (pipe, &run);
        zmsg_t *request = run.terminated ? NULL : zlistx_detach (run.queued, NULL);
        if (request) s_run (pipe, request, &run);
        zmsg_destroy (&request);
    }
    for (zmsg_t *msg = zlistx_first (run.queued); msg; msg = zlistx_next (run.queued))
        zmsg_destroy (&msg);
    zlistx_destroy (&run.queued);
    free (run.out[0]);
    free (run.out[1]);
}

zmsg_t *
hpt_slurm_runner_request (const char *tag, int64_t timeout_ms, const char *stdin_text,
                          const char *const *argv)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, tag);
    zmsg_addstrf (msg, "%" PRId64, timeout_ms);
    zmsg_addstr (msg, stdin_text ? stdin_text : "");
    for (size_t i = 0; argv[i]; i++)
        zmsg_addstr (msg, argv[i]);
    return msg;
}

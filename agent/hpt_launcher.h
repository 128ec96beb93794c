/*  hpt_launcher -- runs the agent's trainer processes and watches them

    One launcher per agent. It clones (vfork-style) and execs each task (argv, the agent's
    environment plus the task's additions, a working directory it creates,
    optional CPU binding), collects the task's stdout and stderr into
    stdout.log and stderr.log while handing every chunk (and, if asked,
    every line) to the agent, reaps the task and reports how it ended, and
    stops tasks with SIGTERM then SIGKILL after a grace period.

    It never blocks and owns no thread, so the agent's zloop drives it:

        zmq_pollitem_t item = {NULL, hpt_launcher_fd (launcher), ZMQ_POLLIN, 0};
        zloop_poller (loop, &item, s_on_launcher, launcher);
            //  s_on_launcher calls hpt_launcher_handle (launcher, zclock_mono ())
        zloop_timer (loop, 50, 0, s_on_tick, launcher);
            //  s_on_tick calls hpt_launcher_tick (launcher, zclock_mono ())

    The agent must leave SIGCHLD at its default (not SIG_IGN, which makes
    the kernel reap children before their status can be read) and must not
    waitpid (-1) for its own helpers; the launcher reaps only its pids.

    hpt_launcher_fd is one epoll descriptor that becomes readable whenever a
    task wrote output or a task's process exited (pidfds), so the agent
    polls one fd however many tasks run. The tick enforces grace periods
    and drain deadlines, and reaps by polling on kernels without pidfds, so
    call it every 50 ms or so.
    Callbacks run inside handle and tick; they may start and stop tasks
    (not destroy the launcher).

    Guarantees, per task:
    - its own process group (pgid = pid); stop signals the whole group.
    - when the group leader exits, the rest of the group is SIGKILLed before
      the exit is reported, so no task leaves background processes behind
      (a process that left the group with setsid/setpgid is not tracked).
    - if the agent dies, the leader gets SIGKILL (PR_SET_PDEATHSIG, with a
      getppid check that closes the race with an agent dying during clone).
      Start tasks from the thread that lives as long as the agent: the
      kernel ties the death signal to the thread that created the task. Only the leader
      gets it: children the trainer started itself outlive an agent crash
      unless they watch their parent (most frameworks' workers do); an
      agent that restarts may kill the process groups it recorded.
    - the exit is reported after all its output was delivered (both pipes
      at end of file, or HPT_LAUNCHER_DRAIN_MS after the exit when some
      escaped process still holds them).
    - a program that cannot be executed exits 127 (not found) or 126
      (other errors) with "hpt: cannot execute ...: <strerror>" in
      stderr.log, like a shell.
    - a task given a user runs with exactly that user's uid, gid and
      supplementary groups (set in the child before anything else it
      does as the task: entering the working directory, exec), and its
      logs are the agent's (0600), opened without following links.
*/
#ifndef HPT_LAUNCHER_H_INCLUDED
#define HPT_LAUNCHER_H_INCLUDED

#include "hpt_error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  Bounds on what one task may be given.
#define HPT_LAUNCHER_ID_MAX 128        //  task id length (with its zero)
#define HPT_LAUNCHER_ARGS_MAX 4096     //  argv entries
#define HPT_LAUNCHER_ENV_MAX 4096      //  environment entries, inherited included
#define HPT_LAUNCHER_STRING_MAX 131072 //  one argument or NAME=VALUE (Linux's MAX_ARG_STRLEN)
//  After the leader exits, how long output is still drained before the
//  exit is reported anyway.
#define HPT_LAUNCHER_DRAIN_MS 2000

typedef enum {
    HPT_LAUNCHER_STDOUT = 1, //  the task's standard output
    HPT_LAUNCHER_STDERR = 2, //  the task's standard error
} hpt_launcher_stream_t;

//  The user a task runs as when it is not the agent's: numbers only, looked
//  up by the caller (the child cannot call getpwnam, hpt_launcher.c).
typedef struct {
    const char *name;    //  for messages
    uid_t uid;           //  setresuid
    gid_t gid;           //  setresgid
    const gid_t *groups; //  setgroups: the supplementary groups
    size_t group_count;  //  entries in groups (at most 65536)
} hpt_launch_user_t;

//  What the agent asks to run. Every pointer is borrowed for the call.
typedef struct {
    const char *id;                //  unique among running tasks: [A-Za-z0-9._:-]{1,127}
    const char *const *argv;       //  NULL-terminated; argv[0] with a '/' is a path (relative to
                                   //  workdir), else searched in the task's PATH
    const char *const *env;        //  NULL-terminated "NAME=VALUE" added to or overriding the
                                   //  agent's environment; NULL for none
    const char *workdir;           //  created (with parents) and made the task's cwd; see beneath
    const char *log_dir;           //  where stdout.log and stderr.log go (created); NULL = workdir
    const char *cpus;              //  Linux cpulist ("0-3,8") for sched_setaffinity; NULL = inherit
    const hpt_launch_user_t *user; //  run as this user; NULL = the agent's own
    const char *beneath;           //  non-NULL: workdir is relative to this directory, must exist
                                   //  and must resolve beneath it (no '..', no symbolic link that
                                   //  leaves it: hpt_fs_open_beneath); it is not created
} hpt_launch_t;

//  How a task ended.
typedef struct {
    const char *id;        //  the task's id (borrowed, valid during the callback)
    pid_t pid;             //  its process (and process group) id
    int exit_code;         //  exit status when it exited, else -1
    int signal;            //  signal that killed it, else 0 (-1 and 0: unknown, the leader
                           //  was reaped by a waitpid elsewhere in the agent)
    bool core_dumped;      //  it dumped core
    bool stop_requested;   //  hpt_launcher_stop was called for it
    bool killed;           //  a stop sent SIGKILL (grace over, or none)
    int64_t start_ms;      //  monotonic ms when it was started (the caller's clock)
    int64_t end_ms;        //  monotonic ms when its exit was seen
    uint64_t stdout_bytes; //  bytes it wrote to stdout
    uint64_t stderr_bytes; //  bytes it wrote to stderr
} hpt_launcher_exit_t;

//  A chunk of output as read from the pipe (not zero-terminated), handed
//  over after on_line has had the lines that the chunk completes.
typedef void (hpt_launcher_output_fn) (void *arg, const char *id, hpt_launcher_stream_t stream,
                                       const char *data, size_t size);
//  One line of output without its newline, zero-terminated; lines longer
//  than line_max come in pieces of line_max bytes (or, with line_cut, as
//  their first line_max bytes only), and a last line without a newline
//  comes when the task ends.
typedef void (hpt_launcher_line_fn) (void *arg, const char *id, hpt_launcher_stream_t stream,
                                     const char *line, size_t size);
//  The task has ended; after this call the launcher forgets it.
typedef void (hpt_launcher_exit_fn) (void *arg, const hpt_launcher_exit_t *exit);

typedef struct {
    size_t max_tasks;                  //  most tasks at once; 0 = 256
    size_t line_max;                   //  longest line handed to on_line; 0 = 8192
    uint64_t log_max_bytes;            //  per log file, then a marker and no more; 0 = unlimited
    hpt_launcher_output_fn *on_output; //  may be NULL
    hpt_launcher_line_fn *on_line;     //  may be NULL
    hpt_launcher_exit_fn *on_exit;     //  may be NULL
    void *arg;                         //  passed to every callback
    bool line_cut;                     //  hand a longer line over cut, not in pieces
    bool task_umask_set;               //  give tasks task_umask (else they inherit the agent's)
    mode_t task_umask;                 //  the tasks' umask when task_umask_set
    uint64_t task_nofile;              //  tasks' soft open-file limit; 0 = the agent's
} hpt_launcher_config_t;

typedef struct _hpt_launcher_t hpt_launcher_t;

//  A launcher with the given configuration (copied). NULL with *error
//  (HPT_E_UNAVAILABLE) when the epoll descriptor cannot be made.
hpt_launcher_t *hpt_launcher_new (const hpt_launcher_config_t *config, hpt_error_t *error);

//  Kills every task's process group with SIGKILL, reaps the leaders
//  (briefly waiting for them), closes everything without calling back,
//  and nulls the pointer.
void hpt_launcher_destroy (hpt_launcher_t **self_p);

//  The descriptor to poll for input; then call hpt_launcher_handle.
int hpt_launcher_fd (hpt_launcher_t *self);

//  Starts a task; now_ms is the caller's monotonic clock. Returns the pid
//  (also its process group), or -1 with *error: HPT_E_INVALID when the
//  request is invalid, HPT_E_EXISTS when the id is taken, HPT_E_UNAVAILABLE
//  when max_tasks run or the directories, pipes or logs cannot be made,
//  HPT_E_NOT_FOUND when a workdir beneath another does not exist,
//  HPT_E_FAILED_PRECONDITION when it would leave it or is no directory. A program that fails to
//  execute, or a user the child cannot become, is not an error here: it is reported as an exit
//  (127/126, the reason in stderr.log).
pid_t hpt_launcher_start (hpt_launcher_t *self, const hpt_launch_t *launch, int64_t now_ms,
                          hpt_error_t *error);

//  Stops a task: SIGTERM to its process group, SIGKILL when grace_ms has
//  passed (at once when grace_ms <= 0). A second stop may shorten the
//  grace period, never lengthen it. Returns 0, or -1 when no such task
//  runs (it may have exited already: its exit is or was reported).
int hpt_launcher_stop (hpt_launcher_t *self, const char *id, int64_t grace_ms, int64_t now_ms);

//  Reads available output, reaps exited tasks and reports them. Never
//  blocks. Returns the number of exits reported.
int hpt_launcher_handle (hpt_launcher_t *self, int64_t now_ms);

//  Sends SIGKILL to tasks whose grace period is over, reports tasks whose
//  drain deadline passed, and reaps tasks whose exit notification was
//  missed. Returns the number of exits reported.
int hpt_launcher_tick (hpt_launcher_t *self, int64_t now_ms);

//  Tasks known (running, or exited and still draining).
size_t hpt_launcher_size (hpt_launcher_t *self);

#endif

/*  hpt_launcher -- runs the agent's trainer processes and watches them

    Start. The child is made with clone (CLONE_VM | CLONE_VFORK), as
    glibc's posix_spawn does, not with fork: it runs in the agent's memory
    on a stack of its own until it execs, while the calling thread waits.
    fork would copy the agent's page tables (and write-protect them, with
    TLB shootdowns across the ZeroMQ threads) only for exec to throw the
    copy away; that was a fifth of the CPU of a host launching short
    trials (hpt-bench trials). posix_spawn itself cannot set a parent-death
    signal, a CPU set or a user, hence our own child. Sharing memory makes the
    child's rules strict: it only reads what the parent prepared (the exec
    path, argv, the merged environment, the CPU set, the descriptors), it
    makes raw system calls (no libc state, no sanitizer interceptors), and
    it is not instrumented. The parent blocks all signals around clone so
    that no handler of the agent runs in the child; the child then:
      1. setpgid (0, 0): its own process group (the parent does the same,
         so whoever runs first wins and a stop can never miss the group);
      2. stdin from /dev/null, stdout/stderr to the task's pipes, so that
         any failure from here on writes "hpt: ..." to stderr.log;
      3. for a task given a user: setgroups, setresgid, setresuid to the
         numbers the parent looked up (getpwnam and initgroups cannot run
         here). A credential change clears the parent-death signal, hence
         this order; it also makes the kernel's mm non-dumpable, which is
         shared with the agent, so the parent makes the agent dumpable again
         once clone returns;
      4. prctl (PR_SET_PDEATHSIG, SIGKILL), then compares getppid () with
         the parent's pid: if the agent died before the prctl, the child
         was already reparented and kills itself as the death signal
         would have, instead of living on as an orphan;
      5. resets every signal to its default and unblocks them (ignored
         signals survive exec, and a trainer must see SIGTERM; its handler
         table is its own copy: no CLONE_SIGHAND);
      6. enters the working directory as the task's user (fchdir to the
         descriptor the parent resolved beneath launch->beneath, else
         chdir), closes every other descriptor (close_range), sets the
         tasks' umask, applies the CPU set, and execs. A failure exits 127
         for a missing program, else 126.
    The program is looked up in the task's PATH by the parent (execvpe
    would use the agent's PATH and may allocate); a name without a slash
    that is found nowhere fails in the child with ENOENT, so the failure is
    reported like any other exit.

    Watch. The epoll descriptor holds, per task, the read ends of its two
    pipes and a pidfd (readable once the process has exited). An epoll
    entry carries (generation, slot, kind) rather than a pointer, so an
    event for a task that was reported and freed earlier in the same batch
    (its slot perhaps reused by a task a callback started) is recognized
    and skipped. Output is read in chunks of at most 64 KiB, at most 256 KiB
    per stream per handle call so that one chatty task cannot starve the
    others (epoll is level-triggered: the rest comes next time).

    Exit. When a leader's pidfd fires, waitid (WNOWAIT) confirms the exit
    without reaping, the launcher SIGKILLs the whole process group while the
    zombie leader still pins the group id (once reaped, the id could be
    reused and the signal hit a stranger), and only then reaps it. The exit
    is reported after both pipes reach end of file (the killed group
    releases them at once) or HPT_LAUNCHER_DRAIN_MS later when a process
    that escaped the group still holds them. Without pidfd support (Linux
    before 5.3) the tick reaps by polling, so the agent ticks (every 50 ms)
    whatever runs.

    Stop. SIGTERM and SIGCONT (a stopped process cannot handle SIGTERM) to
    the group, then SIGKILL to the group at the deadline, checked by tick.
*/
#include "hpt_launcher.h"
#include "hpt_alloc.h"
#include "hpt_fs.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define S_CHUNK (64 * 1024)        //  one read from a pipe
#define S_READ_BUDGET (256 * 1024) //  most bytes per stream per handle call
#define S_EVENTS 64                //  epoll events per wait
#define S_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define S_CHILD_STACK (64 * 1024)   //  the child's stack between clone and exec
#define S_KERNEL_SIGSET (_NSIG / 8) //  bytes of the kernel's sigset_t

//  The child shares the agent's memory: no sanitizer instrumentation in it
//  (it would write the agent's sanitizer state from a foreign stack).
#define S_CHILD_CODE __attribute__ ((no_sanitize ("address", "undefined")))

enum { S_KIND_STDOUT = 0, S_KIND_STDERR = 1, S_KIND_PIDFD = 2 };

//  One of a task's two output streams.
typedef struct {
    int fd;           //  read end of the pipe, -1 once at end of file
    int log_fd;       //  stdout.log or stderr.log, -1 when closed
    uint64_t bytes;   //  bytes read from the pipe
    uint64_t logged;  //  bytes written to the log
    bool log_full;    //  log_max_bytes reached, marker written
    char *line;       //  partial line (line_max + 1 bytes), NULL without on_line
    size_t line_size; //  bytes in line
    bool skipping;    //  line_cut: dropping the rest of an over-long line
} s_stream_t;

//  A task from start until its exit is reported.
typedef struct {
    char id[HPT_LAUNCHER_ID_MAX]; //  the agent's name for it
    uint32_t generation;          //  distinguishes it from earlier tasks in its slot
    size_t slot;                  //  its index in the launcher's table
    pid_t pid;                    //  leader pid = process group id
    int pidfd;                    //  -1 when unsupported or after reaping
    bool exited;                  //  the leader was reaped
    int status;                   //  its wait status
    bool stop_requested;          //  stop was called
    bool killed;                  //  SIGKILL sent for a stop
    int64_t kill_at;              //  when to send SIGKILL, -1 none
    int64_t drain_until;          //  report the exit by then at the latest
    int64_t start_ms;             //  when started
    int64_t end_ms;               //  when the exit was seen
    s_stream_t streams[2];        //  stdout, stderr
} s_task_t;

struct _hpt_launcher_t {
    hpt_launcher_config_t config; //  with defaults filled in
    int epoll_fd;                 //  what hpt_launcher_fd returns
    s_task_t **tasks;             //  max_tasks slots, NULL when free
    size_t count;                 //  tasks in the table
    uint32_t generation;          //  last generation handed out
    char *buffer;                 //  S_CHUNK bytes for reading pipes
    void *child_stack;            //  S_CHILD_STACK bytes (mmap) for a child until exec
};

//  Everything the child needs, prepared before clone.
typedef struct {
    const char *const *paths;      //  programs to try to exec, in order (NULL-terminated)
    const char *name;              //  argv[0], for messages
    char *const *argv;             //  NULL-terminated
    char *const *envp;             //  NULL-terminated
    const char *workdir;           //  cwd of the task (its name, when cwd_fd is open)
    int cwd_fd;                    //  the cwd resolved beneath launch->beneath, else -1
    const hpt_launch_user_t *user; //  become this user, NULL: stay the agent's
    bool set_umask;                //  apply umask
    mode_t umask;                  //  the task's umask
    uint64_t nofile;               //  the task's soft open-file limit; 0 = inherited
    int stdin_fd;                  //  /dev/null
    int stdout_fd;                 //  write end of the stdout pipe
    int stderr_fd;                 //  write end of the stderr pipe
    bool bind;                     //  apply cpus
    cpu_set_t cpus;                //  CPU set to bind to
    pid_t parent;                  //  the agent's pid
} s_exec_t;

static void
s_close (int *fd)
{
    if (*fd >= 0) close (*fd);
    *fd = -1;
}

hpt_launcher_t *
hpt_launcher_new (const hpt_launcher_config_t *config, hpt_error_t *error)
{
    hpt_launcher_t *self = hpt_calloc (1, sizeof (*self));
    if (config) self->config = *config;
    if (self->config.max_tasks == 0) self->config.max_tasks = 256;
    if (self->config.max_tasks > (1u << 20)) self->config.max_tasks = 1u << 20;
    if (self->config.line_max == 0) self->config.line_max = 8192;
    if (self->config.line_max > (1u << 24)) self->config.line_max = 1u << 24;
    self->tasks = hpt_calloc (self->config.max_tasks, sizeof (s_task_t *));
    self->buffer = hpt_malloc (S_CHUNK);
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    self->child_stack = mmap (NULL, S_CHILD_STACK, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (self->epoll_fd < 0 || self->child_stack == MAP_FAILED) {
        hpt_error_set (error, HPT_E_UNAVAILABLE,
                       "launcher: cannot create epoll descriptor or stack: %s", strerror (errno));
        if (self->epoll_fd >= 0) close (self->epoll_fd);
        if (self->child_stack != MAP_FAILED) munmap (self->child_stack, S_CHILD_STACK);
        free (self->buffer);
        free (self->tasks);
        free (self);
        return NULL;
    }
    return self;
}

//  Closes a task's descriptors and frees it (not its slot).
static void
s_task_free (hpt_launcher_t *self, s_task_t *task)
{
    for (int i = 0; i < 2; i++) {
        s_close (&task->streams[i].fd);
        s_close (&task->streams[i].log_fd);
        free (task->streams[i].line);
    }
    s_close (&task->pidfd);
    free (task);
}

void
hpt_launcher_destroy (hpt_launcher_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_launcher_t *self = *self_p;
    for (size_t i = 0; i < self->config.max_tasks; i++) {
        s_task_t *task = self->tasks[i];
        if (!task) continue;
        if (!task->exited) {
            kill (-task->pid, SIGKILL);
            int status;
            while (waitpid (task->pid, &status, 0) < 0 && errno == EINTR)
                ;
        }
        s_task_free (self, task);
    }
    free (self->tasks);
    free (self->buffer);
    close (self->epoll_fd);
    munmap (self->child_stack, S_CHILD_STACK);
    free (self);
    *self_p = NULL;
}

int
hpt_launcher_fd (hpt_launcher_t *self)
{
    return self->epoll_fd;
}

size_t
hpt_launcher_size (hpt_launcher_t *self)
{
    return self->count;
}

static s_task_t *
s_find (hpt_launcher_t *self, const char *id)
{
    if (!id) return NULL;
    for (size_t i = 0; i < self->config.max_tasks; i++)
        if (self->tasks[i] && !strcmp (self->tasks[i]->id, id)) return self->tasks[i];
    return NULL;
}

//  ---------------------------------------------------------------------
//  Preparing a start

//  Parses a Linux cpulist ("0-3,8,10-11") into set. Returns 0 or -1.
static int
s_parse_cpus (const char *text, cpu_set_t *set)
{
    CPU_ZERO (set);
    const char *cursor = text;
    if (!*cursor) return -1;
    while (*cursor) {
        char *end;
        if (*cursor < '0' || *cursor > '9') return -1;
        long first = strtol (cursor, &end, 10);
        long last = first;
        if (*end == '-') {
            cursor = end + 1;
            if (*cursor < '0' || *cursor > '9') return -1;
            last = strtol (cursor, &end, 10);
        }
        if (first < 0 || last < first || last >= CPU_SETSIZE) return -1;
        for (long cpu = first; cpu <= last; cpu++)
            CPU_SET ((int)cpu, set);
        cursor = end;
        if (*cursor == ',') {
            cursor++;
            if (!*cursor) return -1;
        } else if (*cursor)
            return -1;
    }
    return 0;
}

//  Length of the name part of "NAME=VALUE", 0 when entry has no '=' or an
//  empty name.
static size_t
s_env_name_length (const char *entry)
{
    const char *equals = strchr (entry, '=');
    return equals ? (size_t)(equals - entry) : 0;
}

//  True when env (NULL-terminated, from index from on) sets the name of
//  entry (name_length bytes).
static bool
s_env_sets (const char *const *env, size_t from, const char *entry, size_t name_length)
{
    if (!env) return false;
    for (size_t i = from; env[i]; i++)
        if (s_env_name_length (env[i]) == name_length && !strncmp (env[i], entry, name_length))
            return true;
    return false;
}

//  The task's environment: the agent's entries not overridden, then the
//  additions (the last of a repeated name wins). The caller frees the
//  array (not the strings, which are borrowed). NULL with *error set.
static char **
s_build_env (const char *const *additions, hpt_error_t *error)
{
    size_t added = 0;
    for (; additions && additions[added]; added++) {
        if (added >= HPT_LAUNCHER_ENV_MAX) {
            hpt_error_set (error, HPT_E_INVALID, "launch: more than %d environment entries",
                           HPT_LAUNCHER_ENV_MAX);
            return NULL;
        }
        //  The error names the variable, never shows its value: values
        //  are secrets as often as not, and this text reaches the master.
        size_t name_length = s_env_name_length (additions[added]);
        if (name_length == 0) {
            hpt_error_set (error, HPT_E_INVALID, "launch: environment entry %zu is not NAME=VALUE",
                           added);
            return NULL;
        }
        if (strnlen (additions[added], HPT_LAUNCHER_STRING_MAX + 1) > HPT_LAUNCHER_STRING_MAX) {
            hpt_error_set (error, HPT_E_INVALID,
                           "launch: environment variable %.*s is longer than %d bytes",
                           (int)(name_length > 64 ? 64 : name_length), additions[added],
                           HPT_LAUNCHER_STRING_MAX);
            return NULL;
        }
    }
    size_t inherited = 0;
    while (environ && environ[inherited])
        inherited++;
    char **envp = hpt_calloc (inherited + added + 1, sizeof (char *));
    size_t count = 0;
    for (size_t i = 0; i < inherited; i++) {
        size_t length = s_env_name_length (environ[i]);
        if (length && !s_env_sets (additions, 0, environ[i], length)) envp[count++] = environ[i];
    }
    for (size_t i = 0; i < added; i++)
        if (!s_env_sets (additions, i + 1, additions[i], s_env_name_length (additions[i])))
            envp[count++] = (char *)additions[i];
    if (count > HPT_LAUNCHER_ENV_MAX) {
        hpt_error_set (error, HPT_E_INVALID, "launch: %zu environment entries, at most %d", count,
                       HPT_LAUNCHER_ENV_MAX);
        free (envp);
        return NULL;
    }
    return envp;
}

//  The programs the child tries to exec for name, in order: name itself
//  when it holds a '/', otherwise every regular file with an execute bit
//  DIR/name along the PATH of envp (relative PATH entries are skipped:
//  they would depend on the task's cwd). The child takes the first its
//  user may execute, as a shell would: the parent, maybe root, cannot tell
//  which that is (a PATH through /root/... is not a task user's). A
//  NULL-terminated array of fresh strings (free with s_strv_free), empty
//  when none is found.
static char **
s_resolve (const char *name, char *const *envp)
{
    size_t count = 0;
    char **found = hpt_calloc (2, sizeof (char *));
    if (strchr (name, '/')) {
        found[0] = hpt_strdup (name);
        return found;
    }
    const char *path = S_DEFAULT_PATH;
    for (size_t i = 0; envp[i]; i++)
        if (!strncmp (envp[i], "PATH=", 5)) path = envp[i] + 5;
    const char *cursor = path;
    while (*cursor) {
        const char *colon = strchr (cursor, ':');
        size_t length = colon ? (size_t)(colon - cursor) : strlen (cursor);
        char candidate[PATH_MAX];
        if (length > 0 && cursor[0] == '/' && length + 1 + strlen (name) < sizeof (candidate)) {
            memcpy (candidate, cursor, length);
            candidate[length] = '/';
            strcpy (candidate + length + 1, name);
            struct stat st;
            if (!stat (candidate, &st) && S_ISREG (st.st_mode) && (st.st_mode & 0111)) {
                found = hpt_realloc (found, (count + 2) * sizeof (char *));
                found[count++] = hpt_strdup (candidate);
                found[count] = NULL;
            }
        }
        if (!colon) break;
        cursor = colon + 1;
    }
    return found;
}

static void
s_strv_free (char **strv)
{
    for (char **entry = strv; entry && *entry; entry++)
        free (*entry);
    free (strv);
}

//  Validates the request; 0 or -1 with *error set.
static int
s_check_launch (hpt_launcher_t *self, const hpt_launch_t *launch, size_t *argc_p,
                hpt_error_t *error)
{
    if (!launch || !launch->id || !launch->argv || !launch->argv[0] || !launch->argv[0][0] ||
        !launch->workdir || !launch->workdir[0]) {
        return hpt_error_set (error, HPT_E_INVALID, "launch: id, argv[0] and workdir are required");
    }
    size_t id_length = strnlen (launch->id, HPT_LAUNCHER_ID_MAX);
    bool id_ok = id_length > 0 && id_length < HPT_LAUNCHER_ID_MAX;
    for (size_t i = 0; id_ok && i < id_length; i++)
        id_ok = launch->id[i] > ' ' && launch->id[i] < 127;
    if (!id_ok) {
        return hpt_error_set (error, HPT_E_INVALID,
                              "launch: task id '%.40s' must be 1..%d printable characters",
                              launch->id, HPT_LAUNCHER_ID_MAX - 1);
    }
    if (s_find (self, launch->id)) {
        return hpt_error_set (error, HPT_E_EXISTS, "launch: task %s is already running",
                              launch->id);
    }
    if (self->count >= self->config.max_tasks) {
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "launch: %zu tasks already run (max_tasks)",
                              self->count);
    }
    size_t argc = 0;
    for (; launch->argv[argc]; argc++) {
        if (argc >= HPT_LAUNCHER_ARGS_MAX) {
            return hpt_error_set (error, HPT_E_INVALID, "launch: more than %d arguments",
                                  HPT_LAUNCHER_ARGS_MAX);
        }
        if (strnlen (launch->argv[argc], HPT_LAUNCHER_STRING_MAX + 1) > HPT_LAUNCHER_STRING_MAX) {
            return hpt_error_set (error, HPT_E_INVALID,
                                  "launch: argument %zu is longer than %d bytes", argc,
                                  HPT_LAUNCHER_STRING_MAX);
        }
    }
    if (launch->beneath && !launch->log_dir)
        return hpt_error_set (error, HPT_E_INVALID,
                              "launch: a workdir beneath another needs a "
                              "log_dir");
    if (launch->user &&
        (launch->user->group_count > 65536 || (launch->user->group_count && !launch->user->groups)))
        return hpt_error_set (error, HPT_E_INVALID, "launch: bad group list for user %s",
                              launch->user->name ? launch->user->name : "?");
    *argc_p = argc;
    return 0;
}

//  Opens a log file for appending (mode 0600: the agent's record of the
//  task's output); -1 with *error set. The directory may be the task's
//  own, so a link a task left there (symbolic, or a hard link to a file
//  elsewhere) is refused instead of written through.
static int
s_open_log (const char *dir, const char *name, hpt_error_t *error)
{
    char path[PATH_MAX];
    if (snprintf (path, sizeof (path), "%s/%s", dir, name) >= (int)sizeof (path))
        return hpt_error_set (error, HPT_E_INVALID, "launch: log path under %.60s too long", dir);
    int fd = open (
        path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd < 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "launch: cannot open %s: %s", path,
                              strerror (errno));
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode) || st.st_nlink != 1) {
        close (fd);
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "launch: %s is not a regular file of its own (a link?)", path);
    }
    fcntl (fd, F_SETFL, O_APPEND);
    return fd;
}

//  ---------------------------------------------------------------------
//  The child, between clone and exec: raw system calls only (see the top).

S_CHILD_CODE static void
s_child_write (const char *text)
{
    size_t length = 0;
    while (text[length])
        length++;
    while (length > 0) {
        long written = syscall (SYS_write, STDERR_FILENO, text, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;
        text += written;
        length -= (size_t)written;
    }
}

//  Writes "hpt: WHAT NAME: REASON\n" to stderr and exits with code.
S_CHILD_CODE static void
s_child_fail (const char *what, const char *name, int error, int code)
{
    const char *reason = strerrordesc_np (error); //  a table lookup
    const char *parts[] = {"hpt: ", what, " ", name, ": ", reason ? reason : "unknown error", "\n"};
    for (size_t i = 0; i < sizeof (parts) / sizeof (parts[0]); i++)
        s_child_write (parts[i]);
    syscall (SYS_exit_group, code);
}

//  dup2 without SYS_dup2 (absent on arm64): dup3, or clearing close-on-exec
//  when the descriptor already has the wanted number.
S_CHILD_CODE static int
s_child_dup (int from, int to)
{
    if (from == to) return (int)syscall (SYS_fcntl, to, F_SETFD, 0);
    return (int)syscall (SYS_dup3, from, to, 0);
}

//  Becomes the task's user: groups, then gid, then uid (after which
//  nothing else could be changed).
S_CHILD_CODE static void
s_child_become (const hpt_launch_user_t *user)
{
    if (syscall (SYS_setgroups, user->group_count, user->groups) ||
        syscall (SYS_setresgid, user->gid, user->gid, user->gid) ||
        syscall (SYS_setresuid, user->uid, user->uid, user->uid))
        s_child_fail ("cannot run as user", user->name, errno, 126);
}

S_CHILD_CODE static int
s_child (void *arg)
{
    const s_exec_t *exec = arg;
    syscall (SYS_setpgid, 0, 0);
    //  The task's descriptors first, so that a failure below lands in its
    //  stderr.log.
    if (s_child_dup (exec->stdin_fd, STDIN_FILENO) < 0 ||
        s_child_dup (exec->stdout_fd, STDOUT_FILENO) < 0 ||
        s_child_dup (exec->stderr_fd, STDERR_FILENO) < 0)
        syscall (SYS_exit_group, 126);
    //  Before the death signal: a change of credentials clears it.
    if (exec->user) s_child_become (exec->user);
    syscall (SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall (SYS_getppid) != exec->parent) //  the agent is already gone
        syscall (SYS_kill, syscall (SYS_getpid), SIGKILL);

    //  The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty
    //  mask (room for the x86 restorer field too).
    unsigned long action[4] = {0, 0, 0, 0};
    for (int sig = 1; sig < _NSIG; sig++)
        syscall (SYS_rt_sigaction, sig, action, NULL, S_KERNEL_SIGSET);
    unsigned long none[S_KERNEL_SIGSET / sizeof (unsigned long)] = {0};
    syscall (SYS_rt_sigprocmask, SIG_SETMASK, none, NULL, S_KERNEL_SIGSET);

    //  As the task's user: it must be allowed in.
    if (exec->cwd_fd >= 0 ? syscall (SYS_fchdir, exec->cwd_fd) : syscall (SYS_chdir, exec->workdir))
        s_child_fail ("cannot enter", exec->workdir, errno, 126);
    syscall (SYS_close_range, 3, ~0U, 0);
    if (exec->set_umask) syscall (SYS_umask, exec->umask);
    if (exec->nofile) {
        //  The soft limit the agent started with (it raised its own):
        //  the hard limit stays.
        uint64_t limit[2];
        if (syscall (SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, limit) == 0 &&
            exec->nofile < limit[1]) {
            limit[0] = exec->nofile;
            syscall (SYS_prlimit64, 0, RLIMIT_NOFILE, limit, NULL);
        }
    }
    if (exec->bind && syscall (SYS_sched_setaffinity, 0, sizeof (exec->cpus), &exec->cpus))
        s_child_fail ("cannot bind CPUs for", exec->name, errno, 126);
    int error = ENOENT;
    for (size_t i = 0; exec->paths[i]; i++) {
        syscall (SYS_execve, exec->paths[i], exec->argv, exec->envp);
        //  Like a shell: one the user may not execute is passed over.
        if (errno == EACCES)
            error = EACCES;
        else if (errno != ENOENT && errno != ENOTDIR) {
            error = errno;
            break;
        }
    }
    s_child_fail ("cannot execute", exec->name, error, error == ENOENT ? 127 : 126);
    return 126;
}

//  ---------------------------------------------------------------------
//  Start

static uint64_t
s_event_key (s_task_t *task, int kind)
{
    return ((uint64_t)task->generation << 32) | ((uint64_t)task->slot << 2) | (uint64_t)kind;
}

static int
s_watch (hpt_launcher_t *self, s_task_t *task, int fd, int kind)
{
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = s_event_key (task, kind)};
    return epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, fd, &event);
}

//  The task's working directory, resolved beneath launch->beneath: an
//  O_PATH descriptor for the child's fchdir, so what was checked is what
//  the task enters. -1 with *error.
static int
s_open_beneath (const hpt_launch_t *launch, hpt_error_t *error)
{
    int base = open (launch->beneath, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (base < 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "launch: cannot open %s: %s",
                              launch->beneath, strerror (errno));
    int fd = hpt_fs_open_beneath (base, launch->workdir, O_PATH | O_DIRECTORY);
    int why = errno;
    close (base);
    if (fd >= 0) return fd;
    if (why == ENOENT)
        return hpt_error_set (error, HPT_E_NOT_FOUND,
                              "launch: working directory '%.200s' does not exist beneath %s",
                              launch->workdir, launch->beneath);
    if (why == EXDEV || why == ELOOP)
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "launch: working directory '%.200s' leaves %s (through '..' or a "
                              "symbolic link)",
                              launch->workdir, launch->beneath);
    if (why == ENOTDIR)
        return hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                              "launch: working directory '%.200s' beneath %s is not a directory",
                              launch->workdir, launch->beneath);
    return hpt_error_set (error, HPT_E_UNAVAILABLE,
                          "launch: cannot open working directory '%.200s' beneath %s: %s",
                          launch->workdir, launch->beneath, strerror (why));
}

//  Makes the task record with its pipes and logs; the write ends of the
//  pipes go to write_fds. NULL with *error set.
static s_task_t *
s_task_new (hpt_launcher_t *self, const hpt_launch_t *launch, int write_fds[2], hpt_error_t *error)
{
    const char *log_dir = launch->log_dir ? launch->log_dir : launch->workdir;
    hpt_error_t why;
    if ((!launch->beneath && hpt_mkdirs (launch->workdir, 0700, &why) != 0) ||
        hpt_mkdirs (log_dir, 0700, &why) != 0) {
        hpt_error_set (error, why.code, "launch: %s", why.message);
        return NULL;
    }
    s_task_t *task = hpt_calloc (1, sizeof (*task));
    snprintf (task->id, sizeof (task->id), "%s", launch->id);
    task->pidfd = -1;
    task->kill_at = -1;
    const char *names[2] = {"stdout.log", "stderr.log"};
    for (int i = 0; i < 2; i++) {
        s_stream_t *stream = &task->streams[i];
        stream->fd = -1;
        write_fds[i] = -1;
        stream->log_fd = s_open_log (log_dir, names[i], error);
        int pipe_fds[2];
        if (stream->log_fd < 0) goto failed;
        if (pipe2 (pipe_fds, O_CLOEXEC)) {
            hpt_error_set (error, HPT_E_UNAVAILABLE, "launch: pipe: %s", strerror (errno));
            goto failed;
        }
        //  Only the agent's end is non-blocking: the trainer's writes block
        //  as usual when the pipe is full.
        fcntl (pipe_fds[0], F_SETFL, fcntl (pipe_fds[0], F_GETFL) | O_NONBLOCK);
        stream->fd = pipe_fds[0];
        write_fds[i] = pipe_fds[1];
        if (self->config.on_line) stream->line = hpt_malloc (self->config.line_max + 1);
    }
    return task;
failed:
    for (int i = 0; i < 2; i++)
        s_close (&write_fds[i]);
    s_task_free (self, task);
    return NULL;
}

pid_t
hpt_launcher_start (hpt_launcher_t *self, const hpt_launch_t *launch, int64_t now_ms,
                    hpt_error_t *error)
{
    size_t argc = 0;
    if (s_check_launch (self, launch, &argc, error)) return -1;
    s_exec_t exec = {.name = launch->argv[0],
                     .workdir = launch->workdir,
                     .cwd_fd = -1,
                     .user = launch->user,
                     .set_umask = self->config.task_umask_set,
                     .umask = self->config.task_umask,
                     .nofile = self->config.task_nofile,
                     .parent = getpid ()};
    if (launch->cpus) {
        if (s_parse_cpus (launch->cpus, &exec.cpus)) {
            return hpt_error_set (error, HPT_E_INVALID,
                                  "launch: cpu list '%.60s' is not like 0-3,8", launch->cpus);
        }
        exec.bind = true;
    }
    if (launch->beneath && (exec.cwd_fd = s_open_beneath (launch, error)) < 0) return -1;
    char **envp = s_build_env (launch->env, error);
    if (!envp) {
        s_close (&exec.cwd_fd);
        return -1;
    }
    char **paths = s_resolve (launch->argv[0], envp);
    exec.paths = (const char *const *)paths;
    exec.argv = (char *const *)launch->argv;
    exec.envp = envp;

    pid_t pid = -1;
    int write_fds[2] = {-1, -1};
    s_task_t *task = s_task_new (self, launch, write_fds, error);
    exec.stdin_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (task && exec.stdin_fd < 0)
        hpt_error_set (error, HPT_E_UNAVAILABLE, "launch: /dev/null: %s", strerror (errno));
    if (task && exec.stdin_fd >= 0) {
        exec.stdout_fd = write_fds[0];
        exec.stderr_fd = write_fds[1];
        sigset_t all, saved;
        sigfillset (&all);
        pthread_sigmask (SIG_SETMASK, &all, &saved);
        int dumpable = prctl (PR_GET_DUMPABLE, 0, 0, 0, 0);
        //  Returns once the child has exec'd or exited (CLONE_VFORK).
        pid = clone (s_child, (char *)self->child_stack + S_CHILD_STACK,
                     CLONE_VM | CLONE_VFORK | SIGCHLD, &exec);
        int fork_error = errno;
        //  A child changing user made the memory it shared with the agent
        //  (the kernel's mm) non-dumpable; the agent is not the task.
        if (exec.user && dumpable == 1) prctl (PR_SET_DUMPABLE, 1, 0, 0, 0);
        pthread_sigmask (SIG_SETMASK, &saved, NULL);
        if (pid < 0)
            hpt_error_set (error, HPT_E_UNAVAILABLE, "launch: clone: %s", strerror (fork_error));
    }
    s_close (&exec.stdin_fd);
    s_close (&exec.cwd_fd);
    s_close (&write_fds[0]);
    s_close (&write_fds[1]);
    free (envp);
    s_strv_free (paths);
    if (pid < 0) {
        if (task) s_task_free (self, task);
        return -1;
    }
    //  Also here, so that a stop right after start reaches the group even
    //  if the child has not run yet (EACCES once it has exec'd: harmless).
    setpgid (pid, pid);
    task->pid = pid;
    task->start_ms = now_ms;
    task->generation = ++self->generation;
    for (size_t i = 0; i < self->config.max_tasks; i++)
        if (!self->tasks[i]) {
            task->slot = i;
            break;
        }
    task->pidfd = pidfd_open (pid, 0);
    if (s_watch (self, task, task->streams[0].fd, S_KIND_STDOUT) ||
        s_watch (self, task, task->streams[1].fd, S_KIND_STDERR) ||
        (task->pidfd >= 0 && s_watch (self, task, task->pidfd, S_KIND_PIDFD))) {
        //  Cannot watch it: do not leave it running unwatched.
        hpt_error_set (error, HPT_E_UNAVAILABLE, "launch: epoll: %s", strerror (errno));
        kill (-pid, SIGKILL);
        int status;
        while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
            ;
        s_task_free (self, task);
        return -1;
    }
    self->tasks[task->slot] = task;
    self->count++;
    return pid;
}

//  ---------------------------------------------------------------------
//  Output

//  Writes all of data to fd (a local file); errors drop the rest, since a
//  full disk must not stop the task or the agent.
static void
s_write_all (int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t written = write (fd, data, size);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;
        data += written;
        size -= (size_t)written;
    }
}

//  Appends to the log, up to log_max_bytes, then a marker once.
static void
s_log (hpt_launcher_t *self, s_stream_t *stream, const char *data, size_t size)
{
    if (stream->log_fd < 0 || stream->log_full) return;
    uint64_t max = self->config.log_max_bytes;
    size_t keep = size;
    if (max && stream->logged + size > max) keep = (size_t)(max - stream->logged);
    s_write_all (stream->log_fd, data, keep);
    stream->logged += keep;
    if (keep < size) {
        char marker[128];
        int length = snprintf (marker, sizeof (marker),
                               "\n[hpt: log limit of %llu bytes reached, output not logged]\n",
                               (unsigned long long)max);
        s_write_all (stream->log_fd, marker, (size_t)length);
        stream->log_full = true;
    }
}

static void
s_emit_line (hpt_launcher_t *self, s_task_t *task, int kind)
{
    s_stream_t *stream = &task->streams[kind];
    stream->line[stream->line_size] = 0;
    self->config.on_line (self->config.arg, task->id, (hpt_launcher_stream_t)(kind + 1),
                          stream->line, stream->line_size);
    stream->line_size = 0;
}

//  Cuts data into lines for on_line, carrying a partial line over.
static void
s_lines (hpt_launcher_t *self, s_task_t *task, int kind, const char *data, size_t size)
{
    s_stream_t *stream = &task->streams[kind];
    while (size > 0) {
        const char *newline = memchr (data, '\n', size);
        size_t take = newline ? (size_t)(newline - data) : size;
        if (stream->skipping) {
            //  The rest of a line handed over cut: up to its newline.
            data += take;
            size -= take;
            if (size > 0) {
                data++;
                size--;
                stream->skipping = false;
            }
            continue;
        }
        size_t room = self->config.line_max - stream->line_size;
        if (take > room) take = room;
        memcpy (stream->line + stream->line_size, data, take);
        stream->line_size += take;
        data += take;
        size -= take;
        if (size > 0 && *data == '\n') {
            data++;
            size--;
            s_emit_line (self, task, kind);
        } else if (stream->line_size == self->config.line_max) {
            s_emit_line (self, task, kind);
            stream->skipping = self->config.line_cut;
        }
    }
}

static void
s_deliver (hpt_launcher_t *self, s_task_t *task, int kind, const char *data, size_t size)
{
    s_stream_t *stream = &task->streams[kind];
    stream->bytes += size;
    s_log (self, stream, data, size);
    //  Lines first, so that on_output can act on what they gathered.
    if (stream->line) s_lines (self, task, kind, data, size);
    if (self->config.on_output)
        self->config.on_output (self->config.arg, task->id, (hpt_launcher_stream_t)(kind + 1), data,
                                size);
}

//  Reads what the pipe holds, up to budget bytes; closes it at end of file.
static void
s_read_stream (hpt_launcher_t *self, s_task_t *task, int kind, size_t budget)
{
    s_stream_t *stream = &task->streams[kind];
    char *buffer = self->buffer;
    size_t total = 0;
    while (stream->fd >= 0 && total < budget) {
        ssize_t got = read (stream->fd, buffer, S_CHUNK);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) return;
        if (got <= 0) {
            s_close (&stream->fd); //  closing also removes it from the epoll set
            return;
        }
        total += (size_t)got;
        s_deliver (self, task, kind, buffer, (size_t)got);
    }
}

//  ---------------------------------------------------------------------
//  Exit

//  Reaps the leader if it has exited: SIGKILL to its group first, while the
//  zombie still holds the group id.
static void
s_reap (hpt_launcher_t *self, s_task_t *task, int64_t now_ms)
{
    if (task->exited) return;
    siginfo_t info;
    memset (&info, 0, sizeof (info));
    if (waitid (P_PID, (id_t)task->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
        if (info.si_pid == 0) return; //  still running
        kill (-task->pid, SIGKILL);
        while (waitpid (task->pid, &task->status, 0) < 0 && errno == EINTR)
            ;
    } else {
        //  Reaped by someone else (a waitpid (-1) elsewhere in the agent):
        //  the status is lost.
        task->status = -1;
    }
    task->exited = true;
    task->end_ms = now_ms;
    task->drain_until = now_ms + HPT_LAUNCHER_DRAIN_MS;
    s_close (&task->pidfd);
}

//  Reports the task and frees it once it has exited and its output is
//  drained (or the drain deadline passed). Returns 1 when reported.
static int
s_maybe_finish (hpt_launcher_t *self, s_task_t *task, int64_t now_ms)
{
    if (!task->exited) return 0;
    bool drained = task->streams[0].fd < 0 && task->streams[1].fd < 0;
    if (!drained && now_ms < task->drain_until) return 0;
    for (int kind = 0; kind < 2; kind++) {
        s_read_stream (self, task, kind, S_READ_BUDGET);
        s_close (&task->streams[kind].fd);
        if (task->streams[kind].line && task->streams[kind].line_size > 0)
            s_emit_line (self, task, kind);
    }
    //  Out of the table first, so that the callback may start a task with
    //  the same id (a retry) or in the same slot.
    self->tasks[task->slot] = NULL;
    self->count--;
    hpt_launcher_exit_t exit = {
        .id = task->id,
        .pid = task->pid,
        .exit_code = -1,
        .stop_requested = task->stop_requested,
        .killed = task->killed,
        .start_ms = task->start_ms,
        .end_ms = task->end_ms,
        .stdout_bytes = task->streams[0].bytes,
        .stderr_bytes = task->streams[1].bytes,
    };
    if (task->status != -1 && WIFEXITED (task->status))
        exit.exit_code = WEXITSTATUS (task->status);
    else if (task->status != -1 && WIFSIGNALED (task->status)) {
        exit.signal = WTERMSIG (task->status);
        exit.core_dumped = WCOREDUMP (task->status);
    }
    if (self->config.on_exit) self->config.on_exit (self->config.arg, &exit);
    s_task_free (self, task);
    return 1;
}

int
hpt_launcher_handle (hpt_launcher_t *self, int64_t now_ms)
{
    struct epoll_event events[S_EVENTS];
    int count = epoll_wait (self->epoll_fd, events, S_EVENTS, 0);
    int reported = 0;
    for (int i = 0; i < count; i++) {
        uint64_t key = events[i].data.u64;
        uint32_t generation = (uint32_t)(key >> 32);
        size_t slot = (size_t)((key & 0xffffffffu) >> 2);
        int kind = (int)(key & 3);
        if (slot >= self->config.max_tasks) continue;
        s_task_t *task = self->tasks[slot];
        if (!task || task->generation != generation) continue; //  reported earlier in the batch
        if (kind == S_KIND_PIDFD)
            s_reap (self, task, now_ms);
        else
            s_read_stream (self, task, kind, S_READ_BUDGET);
        reported += s_maybe_finish (self, task, now_ms);
    }
    return reported;
}

//  ---------------------------------------------------------------------
//  Stop and timers

int
hpt_launcher_stop (hpt_launcher_t *self, const char *id, int64_t grace_ms, int64_t now_ms)
{
    s_task_t *task = s_find (self, id);
    if (!task) return -1;
    if (task->exited) return 0; //  its group is dead; the exit is being reported
    if (!task->stop_requested) {
        kill (-task->pid, SIGTERM);
        kill (-task->pid, SIGCONT);
        task->stop_requested = true;
    }
    if (grace_ms <= 0) {
        kill (-task->pid, SIGKILL);
        task->killed = true;
        task->kill_at = -1;
    } else if (!task->killed && (task->kill_at < 0 || now_ms + grace_ms < task->kill_at))
        task->kill_at = now_ms + grace_ms;
    return 0;
}

int
hpt_launcher_tick (hpt_launcher_t *self, int64_t now_ms)
{
    int reported = 0;
    for (size_t i = 0; i < self->config.max_tasks; i++) {
        s_task_t *task = self->tasks[i];
        if (!task) continue;
        if (!task->exited && task->kill_at >= 0 && now_ms >= task->kill_at) {
            kill (-task->pid, SIGKILL);
            task->killed = true;
            task->kill_at = -1;
        }
        s_reap (self, task, now_ms);
        reported += s_maybe_finish (self, task, now_ms);
    }
    return reported;
}

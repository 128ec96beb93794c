/*  test_launcher -- real processes through the launcher: output to logs
    and callbacks, exit codes and signals, exec failures, environment and
    working directory, stop with grace and SIGKILL, the group killed when
    its leader exits, CPU binding, no orphan when the agent dies, and the
    refused requests.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hpt_launcher.h"
#include "hpt_fs.h"
#include "hpt_hypertune.h"
#include "hpt_test_data.h"
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

//  What the callbacks saw.
typedef struct {
    int exits;                //  exits reported
    hpt_launcher_exit_t exit; //  the last one (id not kept)
    char exit_id[128];        //  its id
    uint64_t output[3];       //  bytes per stream (1 stdout, 2 stderr)
    int lines;                //  lines seen
    char text[8192];          //  the lines, each followed by '|'
    hpt_launcher_t *launcher; //  for callbacks that start tasks
    int restarts;             //  tasks still to start again from on_exit
} s_seen_t;

static char s_dir[256];

static int64_t
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void
s_on_output (void *arg, const char *id, hpt_launcher_stream_t stream, const char *data, size_t size)
{
    s_seen_t *seen = arg;
    seen->output[stream] += size;
}

static void
s_on_line (void *arg, const char *id, hpt_launcher_stream_t stream, const char *line, size_t size)
{
    s_seen_t *seen = arg;
    assert_int_equal (strlen (line), size);
    seen->lines++;
    size_t used = strlen (seen->text);
    snprintf (seen->text + used, sizeof (seen->text) - used, "%.200s|", line);
}

static void
s_on_exit (void *arg, const hpt_launcher_exit_t *exit)
{
    s_seen_t *seen = arg;
    seen->exits++;
    seen->exit = *exit;
    snprintf (seen->exit_id, sizeof (seen->exit_id), "%s", exit->id);
    if (seen->restarts > 0) {
        seen->restarts--;
        const char *argv[] = {"/bin/sh", "-c", "echo again", NULL};
        hpt_launch_t launch = {.id = exit->id, .argv = argv, .workdir = s_dir};
        assert_true (hpt_launcher_start (seen->launcher, &launch, s_now (), NULL) > 0);
    }
}

static hpt_launcher_t *
s_launcher (s_seen_t *seen, size_t max_tasks, size_t line_max, uint64_t log_max)
{
    memset (seen, 0, sizeof (*seen));
    hpt_launcher_config_t config = {max_tasks, line_max, log_max, s_on_output, s_on_line, s_on_exit,
                                    seen,      false,    false,   0,           0};
    hpt_launcher_t *launcher = hpt_launcher_new (&config, NULL);
    assert_non_null (launcher);
    seen->launcher = launcher;
    return launcher;
}

//  Drives the launcher as the agent's loop would until want exits were
//  reported or timeout_ms passed.
static void
s_run (hpt_launcher_t *launcher, s_seen_t *seen, int want, int64_t timeout_ms)
{
    int64_t deadline = s_now () + timeout_ms;
    while (seen->exits < want && s_now () < deadline) {
        //  The agent ticks every 50 ms.
        struct pollfd item = {hpt_launcher_fd (launcher), POLLIN, 0};
        poll (&item, 1, 50);
        hpt_launcher_handle (launcher, s_now ());
        hpt_launcher_tick (launcher, s_now ());
    }
    assert_int_equal (seen->exits, want);
}

static pid_t
s_start (hpt_launcher_t *launcher, const char *id, const char *const *argv, const char *const *env,
         const char *cpus)
{
    hpt_launch_t launch = {id, argv, env, s_dir, NULL, cpus, NULL, NULL};
    hpt_error_t error;
    pid_t pid = hpt_launcher_start (launcher, &launch, s_now (), &error);
    if (pid < 0) fprintf (stderr, "start: %s\n", error.message);
    assert_true (pid > 0);
    return pid;
}

//  Contents of a file under s_dir (static buffer).
static const char *
s_file (const char *name)
{
    static char text[2 * 1024 * 1024];
    char path[512];
    snprintf (path, sizeof (path), "%s/%s", s_dir, name);
    FILE *file = fopen (path, "r");
    assert_non_null (file);
    size_t size = fread (text, 1, sizeof (text) - 1, file);
    text[size] = 0;
    fclose (file);
    return text;
}

static int
s_setup (void **state)
{
    snprintf (s_dir, sizeof (s_dir), "/tmp/hpt-test-launcher-XXXXXX");
    assert_non_null (mkdtemp (s_dir));
    return 0;
}

static int
s_teardown (void **state)
{
    char command[512];
    snprintf (command, sizeof (command), "rm -rf '%s'", s_dir);
    assert_int_equal (system (command), 0);
    return 0;
}

static void
test_output_and_exit (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    const char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; printf tail; exit 3", NULL};
    pid_t pid = s_start (launcher, "t1", argv, NULL, NULL);
    assert_int_equal (hpt_launcher_size (launcher), 1);
    s_run (launcher, &seen, 1, 5000);
    assert_string_equal (seen.exit_id, "t1");
    assert_int_equal (seen.exit.pid, pid);
    assert_int_equal (seen.exit.exit_code, 3);
    assert_int_equal (seen.exit.signal, 0);
    assert_false (seen.exit.stop_requested);
    assert_int_equal (seen.exit.stdout_bytes, 8);
    assert_int_equal (seen.exit.stderr_bytes, 4);
    assert_int_equal (seen.output[1], 8);
    assert_int_equal (seen.output[2], 4);
    assert_string_equal (s_file ("stdout.log"), "out\ntail");
    assert_string_equal (s_file ("stderr.log"), "err\n");
    //  The unterminated "tail" comes as a line at the end.
    assert_int_equal (seen.lines, 3);
    assert_non_null (strstr (seen.text, "out|"));
    assert_non_null (strstr (seen.text, "err|"));
    assert_non_null (strstr (seen.text, "tail|"));
    assert_int_equal (hpt_launcher_size (launcher), 0);
    hpt_launcher_destroy (&launcher);
    assert_null (launcher);
}

static void
test_environment_and_workdir (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    setenv ("HPT_TEST_INHERITED", "yes", 1);
    char workdir[512], logs[512];
    snprintf (workdir, sizeof (workdir), "%s/a/b/work", s_dir);
    snprintf (logs, sizeof (logs), "%s/logs", s_dir);
    const char *argv[] = {"sh", "-c",
                          "echo $HPT_A $HPT_B $HPT_TEST_INHERITED $HOME; pwd; "
                          "trap - TERM; kill -0 $$ && echo signals-default",
                          NULL};
    const char *env[] = {"HPT_A=1", "HPT_B=x", "HPT_B=2", "HOME=/override", NULL};
    hpt_launch_t launch = {"env", argv, env, workdir, logs, NULL, NULL, NULL};
    assert_true (hpt_launcher_start (launcher, &launch, s_now (), NULL) > 0);
    s_run (launcher, &seen, 1, 5000);
    assert_int_equal (seen.exit.exit_code, 0);
    char expected[2048];
    snprintf (expected, sizeof (expected), "1 2 yes /override\n%s\nsignals-default\n", workdir);
    assert_string_equal (s_file ("logs/stdout.log"), expected);
    struct stat st;
    char path[600];
    snprintf (path, sizeof (path), "%s/stdout.log", workdir);
    assert_int_equal (stat (path, &st), -1);
    unsetenv ("HPT_TEST_INHERITED");
    hpt_launcher_destroy (&launcher);
}

static void
test_exec_failures (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    const char *missing[] = {"hpt-no-such-program", "--x=1", NULL};
    s_start (launcher, "missing", missing, NULL, NULL);
    s_run (launcher, &seen, 1, 5000);
    assert_int_equal (seen.exit.exit_code, 127);
    assert_non_null (strstr (s_file ("stderr.log"),
                             "hpt: cannot execute hpt-no-such-program: No such file or directory"));

    const char *relative[] = {"./not-here.py", NULL};
    s_start (launcher, "relative", relative, NULL, NULL);
    s_run (launcher, &seen, 2, 5000);
    assert_int_equal (seen.exit.exit_code, 127);

    char path[512];
    snprintf (path, sizeof (path), "%s/plain.txt", s_dir);
    FILE *file = fopen (path, "w");
    fputs ("not a program\n", file);
    fclose (file);
    const char *not_executable[] = {path, NULL};
    s_start (launcher, "noexec", not_executable, NULL, NULL);
    s_run (launcher, &seen, 3, 5000);
    assert_int_equal (seen.exit.exit_code, 126);
    assert_non_null (strstr (s_file ("stderr.log"), "Permission denied"));
    hpt_launcher_destroy (&launcher);
}

static void
test_killed_by_signal (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    const char *argv[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
    s_start (launcher, "sig", argv, NULL, NULL);
    s_run (launcher, &seen, 1, 5000);
    assert_int_equal (seen.exit.exit_code, -1);
    assert_int_equal (seen.exit.signal, SIGKILL);
    hpt_launcher_destroy (&launcher);
}

static void
test_stop_with_sigterm (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    const char *argv[] = {"sleep", "100", NULL};
    s_start (launcher, "sleeper", argv, NULL, NULL);
    int64_t start = s_now ();
    assert_int_equal (hpt_launcher_stop (launcher, "sleeper", 10000, s_now ()), 0);
    s_run (launcher, &seen, 1, 5000);
    assert_true (s_now () - start < 3000);
    assert_int_equal (seen.exit.signal, SIGTERM);
    assert_true (seen.exit.stop_requested);
    assert_false (seen.exit.killed);
    assert_int_equal (hpt_launcher_stop (launcher, "sleeper", 0, s_now ()), -1);

    //  No grace: SIGKILL right behind the SIGTERM.
    s_start (launcher, "now", argv, NULL, NULL);
    assert_int_equal (hpt_launcher_stop (launcher, "now", 0, s_now ()), 0);
    s_run (launcher, &seen, 2, 5000);
    assert_true (seen.exit.signal == SIGKILL || seen.exit.signal == SIGTERM);
    assert_true (seen.exit.killed);
    hpt_launcher_destroy (&launcher);
}

static void
test_stop_escalates_to_sigkill (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    const char *argv[] = {"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done",
                          NULL};
    s_start (launcher, "stubborn", argv, NULL, NULL);
    int64_t deadline = s_now () + 5000;
    while (!strstr (seen.text, "ready|") && s_now () < deadline) {
        struct pollfd item = {hpt_launcher_fd (launcher), POLLIN, 0};
        poll (&item, 1, 50);
        hpt_launcher_handle (launcher, s_now ());
    }
    int64_t stopped = s_now ();
    assert_int_equal (hpt_launcher_stop (launcher, "stubborn", 300, stopped), 0);
    s_run (launcher, &seen, 1, 5000);
    assert_true (s_now () - stopped >= 300);
    assert_int_equal (seen.exit.signal, SIGKILL);
    assert_true (seen.exit.stop_requested);
    assert_true (seen.exit.killed);
    hpt_launcher_destroy (&launcher);
}

//  Waits (up to 5 s) for a process reparented to this subreaper and
//  returns its wait status.
static int
s_wait_orphan (pid_t pid)
{
    int status = 0;
    for (int i = 0; i < 500; i++) {
        pid_t got = waitpid (pid, &status, WNOHANG);
        if (got == pid) return status;
        usleep (10000);
    }
    fail_msg ("process %d still runs", (int)pid);
    return 0;
}

static void
test_group_killed_when_leader_exits (void **state)
{
    assert_int_equal (prctl (PR_SET_CHILD_SUBREAPER, 1), 0);
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    const char *argv[] = {"/bin/sh", "-c", "sleep 1000 & echo $!; exit 0", NULL};
    s_start (launcher, "leader", argv, NULL, NULL);
    s_run (launcher, &seen, 1, 5000);
    assert_int_equal (seen.exit.exit_code, 0);
    pid_t background = (pid_t)atoi (seen.text);
    assert_true (background > 0);
    int status = s_wait_orphan (background);
    assert_true (WIFSIGNALED (status));
    assert_int_equal (WTERMSIG (status), SIGKILL);
    hpt_launcher_destroy (&launcher);
}

static void
test_no_orphan_when_agent_dies (void **state)
{
    assert_int_equal (prctl (PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    assert_int_equal (pipe (fds), 0);
    pid_t agent = fork ();
    assert_true (agent >= 0);
    if (agent == 0) {
        //  A stand-in agent: starts a task, tells its pid, dies without
        //  cleaning up.
        hpt_launcher_t *launcher = hpt_launcher_new (NULL, NULL);
        const char *argv[] = {"sleep", "1000", NULL};
        hpt_launch_t launch = {"orphan", argv, NULL, s_dir, NULL, NULL, NULL, NULL};
        pid_t pid = launcher ? hpt_launcher_start (launcher, &launch, 0, NULL) : -1;
        if (write (fds[1], &pid, sizeof (pid)) != sizeof (pid)) _exit (2);
        //  Long enough for the task to be past its prctl: the kernel's
        //  death signal, not the getppid check, has to kill it.
        usleep (200000);
        _exit (0);
    }
    close (fds[1]);
    pid_t task = -1;
    assert_int_equal (read (fds[0], &task, sizeof (task)), sizeof (task));
    close (fds[0]);
    assert_true (task > 0);
    int status;
    assert_int_equal (waitpid (agent, &status, 0), agent);
    status = s_wait_orphan (task);
    assert_true (WIFSIGNALED (status));
    assert_int_equal (WTERMSIG (status), SIGKILL);
}

static void
test_cpu_binding (void **state)
{
    cpu_set_t mine;
    assert_int_equal (sched_getaffinity (0, sizeof (mine), &mine), 0);
    int cpu = 0;
    while (!CPU_ISSET (cpu, &mine))
        cpu++;
    char list[16];
    snprintf (list, sizeof (list), "%d", cpu);
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    const char *argv[] = {"/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status", NULL};
    s_start (launcher, "bound", argv, NULL, list);
    s_run (launcher, &seen, 1, 5000);
    char expected[64];
    snprintf (expected, sizeof (expected), "Cpus_allowed_list:\t%d\n", cpu);
    assert_string_equal (s_file ("stdout.log"), expected);
    hpt_launcher_destroy (&launcher);
}

static void
test_large_output_lines_and_log_limit (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 1000, 100000);
    const char *argv[] = {"/bin/sh", "-c", "head -c 1048576 /dev/zero | tr '\\000' x", NULL};
    s_start (launcher, "big", argv, NULL, NULL);
    s_run (launcher, &seen, 1, 10000);
    assert_int_equal (seen.exit.exit_code, 0);
    assert_int_equal (seen.exit.stdout_bytes, 1048576);
    assert_int_equal (seen.output[1], 1048576);
    //  1048 pieces of line_max bytes, then the unterminated rest at exit.
    assert_int_equal (seen.lines, 1049);
    char path[512];
    snprintf (path, sizeof (path), "%s/stdout.log", s_dir);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_true (st.st_size > 100000 && st.st_size < 100200);
    assert_non_null (strstr (s_file ("stdout.log") + 100000, "log limit of 100000 bytes"));
    hpt_launcher_destroy (&launcher);
}

//  With line_cut, a line longer than line_max comes once, cut; the next
//  line comes whole, also when the cut falls on a chunk boundary.
static void
test_long_lines_cut (void **state)
{
    s_seen_t seen;
    memset (&seen, 0, sizeof (seen));
    hpt_launcher_config_t config = {0,     1000, 0,     s_on_output, s_on_line, s_on_exit,
                                    &seen, true, false, 0,           0};
    hpt_launcher_t *launcher = hpt_launcher_new (&config, NULL);
    seen.launcher = launcher;
    const char *argv[] = {"/bin/sh", "-c",
                          "echo short; head -c 2500 /dev/zero | tr '\\000' x; echo; "
                          "head -c 1000 /dev/zero | tr '\\000' y; sleep 0.2; echo; echo after",
                          NULL};
    s_start (launcher, "cut", argv, NULL, NULL);
    s_run (launcher, &seen, 1, 10000);
    assert_int_equal (seen.lines, 4);
    assert_non_null (strstr (seen.text, "short|xxxx"));
    assert_non_null (strstr (seen.text, "|yyyy"));
    assert_non_null (strstr (seen.text, "|after|"));
    hpt_launcher_destroy (&launcher);
}

static void
test_restart_from_exit_callback_and_many (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 8, 0, 0);
    seen.restarts = 1;
    const char *argv[] = {"/bin/sh", "-c", "echo first", NULL};
    s_start (launcher, "again", argv, NULL, NULL);
    s_run (launcher, &seen, 2, 5000);
    assert_string_equal (s_file ("stdout.log"), "first\nagain\n");
    //  Eight at once, each ending by itself.
    const char *quick[] = {"/bin/sh", "-c", "sleep 0.1", NULL};
    char ids[8][16];
    for (int i = 0; i < 8; i++) {
        snprintf (ids[i], sizeof (ids[i]), "q%d", i);
        s_start (launcher, ids[i], quick, NULL, NULL);
    }
    assert_int_equal (hpt_launcher_size (launcher), 8);
    s_run (launcher, &seen, 10, 5000);
    assert_int_equal (hpt_launcher_size (launcher), 0);
    hpt_launcher_destroy (&launcher);
}

//  Path of the synthetic trainer in the source tree (static buffer).
static const char *
s_synthetic (void)
{
    static char path[PATH_MAX];
    char guess[PATH_MAX];
    hpt_test_path (guess, sizeof (guess), "examples/synthetic/trainer/task.py");
    assert_non_null (realpath (guess, path));
    return path;
}

//  The two building blocks together, as the agent will use them: the
//  synthetic trainer (the cloudml-hypertune writer: whole rewrites, last
//  100 kept) run by the launcher, its metric file polled on every wake-up
//  and once at exit. Every one of 150 reports arrives exactly once, in
//  order, although the file never holds more than 100.
static void
test_synthetic_trainer_metrics (void **state)
{
    if (access ("/usr/bin/python3", X_OK)) skip ();
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    char metric_file[512], metric_env[600];
    snprintf (metric_file, sizeof (metric_file), "%s/metrics/hypertune.jsonl", s_dir);
    snprintf (metric_env, sizeof (metric_env), "CLOUD_ML_HP_METRIC_FILE=%s", metric_file);
    const char *env[] = {metric_env, "CLOUD_ML_HP_METRIC_TAG=objective", "CLOUD_ML_TRIAL_ID=4",
                         NULL};
    const char *argv[] = {"/usr/bin/python3", s_synthetic (), "--steps=150",
                          "--sleep=0.003",    "--x=0.5",      NULL};
    s_start (launcher, "synthetic", argv, env, NULL);
    hpt_hypertune_t *reader = hpt_hypertune_new (metric_file);
    int64_t expected = 0;
    int64_t deadline = s_now () + 30000;
    bool done = false;
    while (!done && s_now () < deadline) {
        struct pollfd item = {hpt_launcher_fd (launcher), POLLIN, 0};
        poll (&item, 1, 10);
        hpt_launcher_handle (launcher, s_now ());
        hpt_launcher_tick (launcher, s_now ());
        done = seen.exits == 1;
        const hpt_hypertune_point_t *points;
        int count = hpt_hypertune_poll (reader, &points, done);
        assert_true (count >= 0);
        for (int i = 0; i < count; i++) {
            assert_string_equal (points[i].tag, "objective");
            assert_int_equal (points[i].step, ++expected);
        }
    }
    assert_int_equal (seen.exit.exit_code, 0);
    assert_int_equal (expected, 150);
    assert_int_equal (hpt_hypertune_bad_lines (reader), 0);
    hpt_hypertune_destroy (&reader);
    hpt_launcher_destroy (&launcher);
}

//  Asserts that a start is refused with code and an error containing
//  needle.
static void
s_refused (hpt_launcher_t *launcher, const hpt_launch_t *launch, hpt_error_code_t code,
           const char *needle)
{
    hpt_error_t error;
    assert_int_equal (hpt_launcher_start (launcher, launch, s_now (), &error), -1);
    assert_int_equal (error.code, code);
    if (!strstr (error.message, needle)) fprintf (stderr, "unexpected: %s\n", error.message);
    assert_non_null (strstr (error.message, needle));
}

//  A task gets the soft open-file limit it is given (the one hptagent
//  started with, before it raised its own), its hard limit unchanged.
static void
test_task_nofile (void **state)
{
    struct rlimit limit;
    assert_int_equal (getrlimit (RLIMIT_NOFILE, &limit), 0);
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max <= 64) skip ();
    s_seen_t seen;
    memset (&seen, 0, sizeof (seen));
    hpt_launcher_config_t config = {.on_output = s_on_output,
                                    .on_line = s_on_line,
                                    .on_exit = s_on_exit,
                                    .arg = &seen,
                                    .task_nofile = 64};
    hpt_launcher_t *launcher = hpt_launcher_new (&config, NULL);
    seen.launcher = launcher;
    const char *argv[] = {"/bin/sh", "-c", "echo $(ulimit -Sn) $(ulimit -Hn)", NULL};
    hpt_launch_t launch = {"nofile", argv, NULL, s_dir, s_dir, NULL, NULL, NULL};
    hpt_error_t error;
    assert_true (hpt_launcher_start (launcher, &launch, s_now (), &error) > 0);
    s_run (launcher, &seen, 1, 5000);
    assert_int_equal (seen.exit.exit_code, 0);
    char expected[64];
    if (limit.rlim_max == RLIM_INFINITY)
        snprintf (expected, sizeof (expected), "64 unlimited\n");
    else
        snprintf (expected, sizeof (expected), "64 %llu\n", (unsigned long long)limit.rlim_max);
    assert_string_equal (s_file ("stdout.log"), expected);
    hpt_launcher_destroy (&launcher);
}

//  A task given a user runs as exactly that user (uid, gid, the groups
//  given), with the umask given, in a directory the user may enter; the
//  launcher's own process stays dumpable although the child that changed
//  user shared its memory. Needs root (skipped otherwise).
static void
test_run_as_user (void **state)
{
    if (geteuid () != 0) skip ();
    s_seen_t seen;
    memset (&seen, 0, sizeof (seen));
    hpt_launcher_config_t config = {0,     0,     0,    s_on_output, s_on_line, s_on_exit,
                                    &seen, false, true, 0027,        0};
    hpt_launcher_t *launcher = hpt_launcher_new (&config, NULL);
    seen.launcher = launcher;
    assert_int_equal (chmod (s_dir, 0711), 0);
    char task_dir[512];
    snprintf (task_dir, sizeof (task_dir), "%s/as-user", s_dir);
    assert_int_equal (mkdir (task_dir, 0700), 0);
    assert_int_equal (chown (task_dir, 65534, 65534), 0);
    gid_t groups[] = {65534, 4};
    hpt_launch_user_t user = {"nobody", 65534, 65534, groups, 2};
    const char *argv[] = {"/bin/sh", "-c", "echo $(id -u) $(id -g) $(id -G) $(umask); touch mine",
                          NULL};
    hpt_launch_t launch = {"as-user", argv, NULL, task_dir, s_dir, NULL, &user, NULL};
    hpt_error_t error;
    assert_true (hpt_launcher_start (launcher, &launch, s_now (), &error) > 0);
    s_run (launcher, &seen, 1, 5000);
    assert_int_equal (seen.exit.exit_code, 0);
    assert_string_equal (s_file ("stdout.log"), "65534 65534 65534 4 0027\n");
    assert_int_equal (prctl (PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
    struct stat st;
    char path[600];
    snprintf (path, sizeof (path), "%s/mine", task_dir);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_uid, 65534);
    //  The logs are the agent's: 0600, not the task's to rewrite.
    snprintf (path, sizeof (path), "%s/stdout.log", s_dir);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_uid, 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    //  The program is the first along PATH that the user may execute: one
    //  in a directory only the agent may enter is passed over.
    const char *dirs[][2] = {{"private", "echo private"}, {"public", "echo public"}};
    for (size_t i = 0; i < 2; i++) {
        snprintf (path, sizeof (path), "%s/%s", s_dir, dirs[i][0]);
        assert_int_equal (mkdir (path, i ? 0755 : 0700), 0);
        snprintf (path, sizeof (path), "%s/%s/hpt-which", s_dir, dirs[i][0]);
        FILE *script = fopen (path, "w");
        fprintf (script, "#!/bin/sh\n%s\n", dirs[i][1]);
        fclose (script);
        assert_int_equal (chmod (path, 0755), 0);
    }
    char path_var[600];
    snprintf (path_var, sizeof (path_var), "PATH=%s/private:%s/public:/usr/bin:/bin", s_dir, s_dir);
    const char *env[] = {path_var, NULL};
    const char *which[] = {"hpt-which", NULL};
    hpt_launch_t found = {"which", which, env, task_dir, task_dir, NULL, &user, NULL};
    assert_true (hpt_launcher_start (launcher, &found, s_now (), &error) > 0);
    s_run (launcher, &seen, 2, 5000);
    snprintf (path, sizeof (path), "%s/stdout.log", task_dir);
    FILE *log = fopen (path, "r");
    char line[64] = "";
    assert_non_null (fgets (line, sizeof (line), log));
    fclose (log);
    assert_string_equal (line, "public\n");

    //  A directory the user may not enter fails the task like a shell would.
    assert_int_equal (chmod (task_dir, 0700), 0);
    assert_int_equal (chown (task_dir, 0, 0), 0);
    launch.id = "shut-out";
    assert_true (hpt_launcher_start (launcher, &launch, s_now (), &error) > 0);
    s_run (launcher, &seen, 3, 5000);
    assert_int_equal (seen.exit.exit_code, 126);
    assert_non_null (strstr (s_file ("stderr.log"), "hpt: cannot enter"));
    hpt_launcher_destroy (&launcher);
}

//  A workdir beneath another must exist there and may not leave it.
static void
test_workdir_beneath (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    char path[512];
    snprintf (path, sizeof (path), "%s/code/v1", s_dir);
    hpt_error_t error;
    assert_int_equal (hpt_mkdirs (path, 0700, &error), 0);
    snprintf (path, sizeof (path), "%s/code/out", s_dir);
    assert_int_equal (symlink ("/tmp", path), 0);
    snprintf (path, sizeof (path), "%s/code/current", s_dir);
    assert_int_equal (symlink ("v1", path), 0);
    const char *argv[] = {"/bin/sh", "-c", "pwd -P", NULL};
    hpt_launch_t launch = {"beneath", argv, NULL, "code/current", s_dir, NULL, NULL, s_dir};
    assert_true (hpt_launcher_start (launcher, &launch, s_now (), &error) > 0);
    s_run (launcher, &seen, 1, 5000);
    snprintf (path, sizeof (path), "%s/code/v1\n", s_dir);
    assert_string_equal (s_file ("stdout.log"), path);
    launch.workdir = "code/missing";
    s_refused (launcher, &launch, HPT_E_NOT_FOUND, "'code/missing' does not exist beneath");
    launch.workdir = "code/out";
    s_refused (launcher, &launch, HPT_E_FAILED_PRECONDITION, "'code/out' leaves");
    launch.workdir = "code/../..";
    s_refused (launcher, &launch, HPT_E_FAILED_PRECONDITION, "leaves");
    launch.workdir = "stdout.log";
    s_refused (launcher, &launch, HPT_E_FAILED_PRECONDITION, "is not a directory");
    launch.workdir = "code/v1";
    launch.log_dir = NULL;
    s_refused (launcher, &launch, HPT_E_INVALID, "needs a log_dir");
    hpt_launcher_destroy (&launcher);
}

//  A link a task left where its log goes is refused, not written through.
static void
test_log_links_refused (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 0, 0, 0);
    char path[512], target[512];
    snprintf (target, sizeof (target), "%s/elsewhere", s_dir);
    FILE *file = fopen (target, "w");
    fclose (file);
    snprintf (path, sizeof (path), "%s/stdout.log", s_dir);
    assert_int_equal (symlink (target, path), 0);
    const char *argv[] = {"/bin/true", NULL};
    hpt_launch_t launch = {"links", argv, NULL, s_dir, NULL, NULL, NULL, NULL};
    s_refused (launcher, &launch, HPT_E_UNAVAILABLE, "stdout.log");
    unlink (path);
    assert_int_equal (link (target, path), 0);
    s_refused (launcher, &launch, HPT_E_FAILED_PRECONDITION, "not a regular file of its own");
    unlink (path);
    assert_int_equal (mkfifo (path, 0600), 0);
    s_refused (launcher, &launch, HPT_E_UNAVAILABLE, "stdout.log");
    hpt_launcher_destroy (&launcher);
}

static void
test_refused_requests (void **state)
{
    s_seen_t seen;
    hpt_launcher_t *launcher = s_launcher (&seen, 2, 0, 0);
    const char *argv[] = {"sleep", "100", NULL};
    pid_t a = s_start (launcher, "a", argv, NULL, NULL);
    hpt_launch_t launch = {"a", argv, NULL, s_dir, NULL, NULL, NULL, NULL};
    s_refused (launcher, &launch, HPT_E_EXISTS, "already running");
    launch.id = "b";
    launch.cpus = "0-";
    s_refused (launcher, &launch, HPT_E_INVALID, "cpu list");
    launch.cpus = "3-1";
    s_refused (launcher, &launch, HPT_E_INVALID, "cpu list");
    launch.cpus = "0,";
    s_refused (launcher, &launch, HPT_E_INVALID, "cpu list");
    launch.cpus = NULL;
    const char *bad_env[] = {"NOEQUALS", NULL};
    launch.env = bad_env;
    s_refused (launcher, &launch, HPT_E_INVALID, "not NAME=VALUE");
    const char *empty_name[] = {"=x", NULL};
    launch.env = empty_name;
    s_refused (launcher, &launch, HPT_E_INVALID, "not NAME=VALUE");
    //  Too long: the error names the variable and never shows its value.
    char *long_entry = malloc (HPT_LAUNCHER_STRING_MAX + 32);
    snprintf (long_entry, 64, "DB_PASSWORD=s3cr3t");
    memset (long_entry + 18, 'x', HPT_LAUNCHER_STRING_MAX);
    long_entry[18 + HPT_LAUNCHER_STRING_MAX] = '\0';
    const char *long_env[] = {long_entry, NULL};
    launch.env = long_env;
    hpt_error_t why;
    assert_int_equal (hpt_launcher_start (launcher, &launch, s_now (), &why), -1);
    assert_non_null (strstr (why.message, "environment variable DB_PASSWORD is longer than"));
    assert_null (strstr (why.message, "s3cr3t"));
    free (long_entry);
    launch.env = NULL;
    launch.id = "has space";
    s_refused (launcher, &launch, HPT_E_INVALID, "printable");
    launch.id = "";
    s_refused (launcher, &launch, HPT_E_INVALID, "printable");
    launch.id = "b";
    const char *no_argv[] = {NULL};
    launch.argv = no_argv;
    s_refused (launcher, &launch, HPT_E_INVALID, "required");
    launch.argv = argv;
    char file[512];
    snprintf (file, sizeof (file), "%s/afile", s_dir);
    fclose (fopen (file, "w"));
    char under_file[600];
    snprintf (under_file, sizeof (under_file), "%s/sub", file);
    launch.workdir = under_file;
    s_refused (launcher, &launch, HPT_E_UNAVAILABLE, "cannot create");
    launch.workdir = s_dir;
    s_start (launcher, "b", argv, NULL, NULL);
    launch.id = "c";
    s_refused (launcher, &launch, HPT_E_UNAVAILABLE, "max_tasks");
    assert_int_equal (hpt_launcher_size (launcher), 2);
    assert_int_equal (hpt_launcher_stop (launcher, "nobody", 0, s_now ()), -1);
    //  Destroy kills what still runs.
    hpt_launcher_destroy (&launcher);
    assert_int_equal (kill (a, 0), -1);
    assert_int_equal (errno, ESRCH);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_output_and_exit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_environment_and_workdir, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_exec_failures, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_killed_by_signal, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_stop_with_sigterm, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_stop_escalates_to_sigkill, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_group_killed_when_leader_exits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_no_orphan_when_agent_dies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cpu_binding, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_large_output_lines_and_log_limit, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_long_lines_cut, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_run_as_user, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_workdir_beneath, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_log_links_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_restart_from_exit_callback_and_many, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_refused_requests, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_task_nofile, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_synthetic_trainer_metrics, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}

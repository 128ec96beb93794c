/*  hpt_container -- the agent's container runtime (see hpt_container.h)

    Commands. The runtime's client runs as a child made with posix_spawn
    (safe beside the agent's ZeroMQ threads), stdin from /dev/null, stdout
    and stderr into one pipe whose last bytes are kept: when a command
    fails, its last non-empty line is the runtime's message ("Error: ...").
    Only the pid spawned is waited for, so the launcher still reaps its
    own children.

    Actors. Two czmq actors serve requests one at a time, in order: one
    pulls images, one removes containers. Their pipes carry
        request  ["PULL", image] / ["REMOVE", name]
        result   [kind, what, "OK" | "FAILED", message]
    A command in progress holds its actor; destroy kills that command's
    child (its pid is shared) before it stops the actor, so the agent
    never waits for a pull to end.

    CDI. A spec is a YAML or JSON document with `kind` ("vendor/class")
    and `devices: [{name, ...}]`; a device is named on the command line
    as KIND=NAME. nvidia-ctk names each GPU by its index (and UUID, and
    "all"), which is what the agent gives a task: its GPU indexes.
*/
#include "hpt_container.h"
#include "hpt_alloc.h"
#include "hpt_tree.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define S_MESSAGE_MAX 1024   //  the tail of a command's output kept
#define S_SPEC_MAX (1 << 20) //  largest CDI spec read
#define S_PREFIX_MAX 64      //  words of the runtime prefix

//  One actor's state shared with the caller's thread.
typedef struct {
    char **prefix;    //  the runtime prefix (borrowed from the owner)
    atomic_int child; //  pid of the command in progress, 0 when none
    zactor_t *actor;  //  the thread
} s_worker_t;

struct _hpt_container_t {
    char **prefix;     //  the runtime's command prefix, NULL-terminated
    char *runtime;     //  as configured, for messages
    char **run_args;   //  extra run arguments, NULL-terminated
    char *gpu_kind;    //  CDI kind of the GPUs
    char *cdi_dirs;    //  ':'-separated spec directories
    char *workdir;     //  labels the agent's containers
    char *agent;       //  the agent's name
    char *problem;     //  why containers cannot run here, NULL when they can
    unsigned hash;     //  of the workdir: in container names
    s_worker_t pull;   //  pulls images
    s_worker_t remove; //  removes containers
};

//  ---------------------------------------------------------------------
//  Strings

static char **
s_strv_copy (const char *const *strv)
{
    size_t n = 0;
    while (strv && strv[n])
        n++;
    char **copy = hpt_calloc (n + 1, sizeof (char *));
    for (size_t i = 0; i < n; i++)
        copy[i] = hpt_strdup (strv[i]);
    return copy;
}

void
hpt_container_argv_free (char ***argv_p)
{
    for (char **arg = *argv_p; arg && *arg; arg++)
        free (*arg);
    free (*argv_p);
    *argv_p = NULL;
}

//  The words of text (separated by spaces), NULL-terminated.
static char **
s_split (const char *text)
{
    char **words = hpt_calloc (S_PREFIX_MAX + 1, sizeof (char *));
    char *copy = hpt_strdup (text);
    size_t n = 0;
    for (char *save = NULL, *word = strtok_r (copy, " \t", &save); word && n < S_PREFIX_MAX;
         word = strtok_r (NULL, " \t", &save))
        words[n++] = hpt_strdup (word);
    free (copy);
    return words;
}

//  A growing argv.
typedef struct {
    char **items; //  NULL-terminated
    size_t count; //  entries
    size_t room;  //  allocated entries
} s_argv_t;

static void
s_add (s_argv_t *argv, char *owned)
{
    if (argv->count + 2 > argv->room) {
        argv->room = argv->room ? argv->room * 2 : 64;
        argv->items = hpt_realloc (argv->items, argv->room * sizeof (char *));
    }
    argv->items[argv->count++] = owned;
    argv->items[argv->count] = NULL;
}

static void
s_add_all (s_argv_t *argv, char *const *words)
{
    for (size_t i = 0; words && words[i]; i++)
        s_add (argv, hpt_strdup (words[i]));
}

//  ---------------------------------------------------------------------
//  Running the runtime's client

//  Runs argv, waiting for it; its output's last line (at most
//  S_MESSAGE_MAX bytes) into message. *pid_slot holds the child's pid
//  while it runs, so another thread can kill it. The exit status, or -1
//  when it could not run or died of a signal.
static int
s_run (char *const *argv, char *message, atomic_int *pid_slot)
{
    message[0] = '\0';
    int fds[2];
    if (pipe2 (fds, O_CLOEXEC) != 0) {
        snprintf (message, S_MESSAGE_MAX, "pipe: %s", strerror (errno));
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2 (&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2 (&actions, fds[1], 2);
    pid_t pid;
    int rc = posix_spawnp (&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    close (fds[1]);
    if (rc != 0) {
        close (fds[0]);
        snprintf (message, S_MESSAGE_MAX, "cannot run %s: %s", argv[0], strerror (rc));
        return -1;
    }
    if (pid_slot) atomic_store (pid_slot, (int)pid);
    //  Keep the tail: the runtime says what went wrong last.
    char tail[2 * S_MESSAGE_MAX];
    size_t used = 0;
    ssize_t got;
    char buffer[4096];
    while ((got = read (fds[0], buffer, sizeof (buffer))) != 0) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break;
        for (ssize_t i = 0; i < got; i++) {
            if (used == sizeof (tail)) {
                memmove (tail, tail + S_MESSAGE_MAX, S_MESSAGE_MAX);
                used = S_MESSAGE_MAX;
            }
            tail[used++] = buffer[i];
        }
    }
    close (fds[0]);
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (pid_slot) atomic_store (pid_slot, 0);
    //  The last non-empty line.
    while (used > 0 && (tail[used - 1] == '\n' || tail[used - 1] == '\r' || tail[used - 1] == ' '))
        used--;
    size_t start = used;
    while (start > 0 && tail[start - 1] != '\n')
        start--;
    size_t length = used - start < S_MESSAGE_MAX - 1 ? used - start : S_MESSAGE_MAX - 1;
    memcpy (message, tail + start, length);
    message[length] = '\0';
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  prefix + words, run; as s_run.
static int
s_runtime (char **prefix, const char *const *words, char *message, atomic_int *pid_slot)
{
    s_argv_t argv = {0};
    s_add_all (&argv, prefix);
    s_add_all (&argv, (char *const *)words);
    int rc = s_run (argv.items, message, pid_slot);
    hpt_container_argv_free (&argv.items);
    return rc;
}

//  Whether program (a path, or a name looked up in PATH) can be executed.
static bool
s_executable (const char *program)
{
    if (strchr (program, '/')) return access (program, X_OK) == 0;
    const char *path = getenv ("PATH");
    char *copy = hpt_strdup (path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    bool found = false;
    for (char *save = NULL, *dir = strtok_r (copy, ":", &save); dir && !found;
         dir = strtok_r (NULL, ":", &save)) {
        char *candidate = hpt_asprintf ("%s/%s", dir, program);
        found = access (candidate, X_OK) == 0;
        free (candidate);
    }
    free (copy);
    return found;
}

//  ---------------------------------------------------------------------
//  Actors

static void
s_worker_actor (zsock_t *pipe, void *arg)
{
    s_worker_t *worker = arg;
    zsock_signal (pipe, 0);
    while (true) {
        zmsg_t *request = zmsg_recv (pipe);
        if (!request) break;
        char *command = zmsg_popstr (request);
        char *what = zmsg_popstr (request);
        bool term = !command || strcmp (command, "$TERM") == 0;
        if (!term && what) {
            char message[S_MESSAGE_MAX];
            int rc;
            hpt_container_done_t kind;
            if (strcmp (command, "PULL") == 0) {
                kind = HPT_CONTAINER_PULLED;
                const char *exists[] = {"image", "exists", what, NULL};
                const char *pull[] = {"pull", "--quiet", what, NULL};
                //  A local image (localhost/...) needs no registry.
                rc = s_runtime (worker->prefix, exists, message, &worker->child);
                if (rc != 0) rc = s_runtime (worker->prefix, pull, message, &worker->child);
            } else {
                kind = HPT_CONTAINER_REMOVED;
                const char *rm[] = {"rm", "--force", "--time", "0", "--ignore", what, NULL};
                rc = s_runtime (worker->prefix, rm, message, &worker->child);
            }
            zsock_send (pipe, "isss", (int)kind, what, rc == 0 ? "OK" : "FAILED",
                        rc == 0 ? "" : message);
        }
        free (command);
        free (what);
        zmsg_destroy (&request);
        if (term) break;
    }
}

static void
s_worker_start (s_worker_t *worker, char **prefix)
{
    worker->prefix = prefix;
    atomic_store (&worker->child, 0);
    worker->actor = zactor_new (s_worker_actor, worker);
}

static void
s_worker_stop (s_worker_t *worker)
{
    if (!worker->actor) return;
    //  A pull can take minutes: end it rather than wait for it.
    int child = atomic_load (&worker->child);
    if (child > 0) kill (child, SIGKILL);
    zactor_destroy (&worker->actor);
}

int
hpt_container_pull (hpt_container_t *self, const char *image)
{
    if (!self->pull.actor || !image) return -1;
    return zstr_sendx (self->pull.actor, "PULL", image, NULL);
}

int
hpt_container_remove (hpt_container_t *self, const char *name)
{
    if (!self->remove.actor || !name) return -1;
    return zstr_sendx (self->remove.actor, "REMOVE", name, NULL);
}

zsock_t *
hpt_container_pull_socket (hpt_container_t *self)
{
    return self->pull.actor ? zactor_sock (self->pull.actor) : NULL;
}

zsock_t *
hpt_container_remove_socket (hpt_container_t *self)
{
    return self->remove.actor ? zactor_sock (self->remove.actor) : NULL;
}

int
hpt_container_recv (zsock_t *socket, hpt_container_done_t *kind, char **what, bool *ok,
                    char **message)
{
    int value = 0;
    char *status = NULL;
    if (zsock_recv (socket, "isss", &value, what, &status, message) != 0) return -1;
    *kind = (hpt_container_done_t)value;
    *ok = status && strcmp (status, "OK") == 0;
    free (status);
    return 0;
}

//  ---------------------------------------------------------------------
//  Life cycle

hpt_container_t *
hpt_container_new (const hpt_container_config_t *config)
{
    hpt_container_t *self = hpt_calloc (1, sizeof (hpt_container_t));
    self->runtime =
        hpt_strdup (config->runtime && *config->runtime ? config->runtime : HPT_CONTAINER_RUNTIME);
    self->prefix = s_split (self->runtime);
    self->run_args = s_strv_copy (config->run_args);
    self->gpu_kind = hpt_strdup (config->gpu_kind ? config->gpu_kind : HPT_CONTAINER_GPU_KIND);
    self->cdi_dirs = hpt_strdup (config->cdi_dirs ? config->cdi_dirs : HPT_CONTAINER_CDI_DIRS);
    self->workdir = hpt_strdup (config->workdir ? config->workdir : "");
    self->agent = hpt_strdup (config->agent ? config->agent : "");
    self->hash = 2166136261u;
    for (const char *c = self->workdir; *c; c++)
        self->hash = (self->hash ^ (unsigned char)*c) * 16777619u;
    if (!self->prefix[0])
        self->problem = hpt_strdup ("no container runtime given (--container-runtime)");
    else if (!s_executable (self->prefix[0]))
        self->problem = hpt_asprintf ("the container runtime '%s' is not installed (not found "
                                      "in PATH; --container-runtime names another)",
                                      self->prefix[0]);
    if (!self->problem && config->actors) {
        s_worker_start (&self->pull, self->prefix);
        s_worker_start (&self->remove, self->prefix);
    }
    return self;
}

void
hpt_container_destroy (hpt_container_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_container_t *self = *self_p;
    s_worker_stop (&self->pull);
    s_worker_stop (&self->remove);
    hpt_container_argv_free (&self->prefix);
    hpt_container_argv_free (&self->run_args);
    free (self->runtime);
    free (self->gpu_kind);
    free (self->cdi_dirs);
    free (self->workdir);
    free (self->agent);
    free (self->problem);
    free (self);
    *self_p = NULL;
}

const char *
hpt_container_problem (hpt_container_t *self)
{
    return self->problem;
}

int
hpt_container_reap (hpt_container_t *self, hpt_error_t *error)
{
    if (self->problem) return 0;
    char *filter = hpt_asprintf ("label=hpt.workdir=%s", self->workdir);
    const char *words[] = {"rm", "--force", "--time", "0", "--filter", filter, NULL};
    const char *list[] = {"ps", "--all", "--quiet", "--filter", filter, NULL};
    char message[S_MESSAGE_MAX];
    int rc = -1;
    //  A container whose processes are dying may be skipped by one round
    //  (its cleanup holds it): look again until none is left.
    for (int round = 0; round < 5; round++) {
        rc = s_runtime (self->prefix, words, message, NULL);
        if (rc == 0 && s_runtime (self->prefix, list, message, NULL) == 0 && !*message) break;
        if (rc == 0) rc = -1;
        usleep (200 * 1000);
    }
    free (filter);
    if (rc == 0) return 0;
    return hpt_error_set (error, HPT_E_UNAVAILABLE,
                          "could not remove the containers an earlier run left: %s", message);
}

//  ---------------------------------------------------------------------
//  Limits

bool
hpt_container_limits (hpt_container_t *self, const char **why)
{
    struct stat st;
    //  cgroup v2: the controllers the root delegates; v1: the hierarchies.
    FILE *file = fopen ("/sys/fs/cgroup/cgroup.controllers", "r");
    if (file) {
        char line[512] = "";
        bool read = fgets (line, sizeof (line), file) != NULL;
        fclose (file);
        if (read && strstr (line, "memory") && strstr (line, "cpu")) return true;
        *why = "the cgroup v2 memory or cpu controller is not enabled";
        return false;
    }
    if (stat ("/sys/fs/cgroup/memory", &st) == 0 && stat ("/sys/fs/cgroup/cpu", &st) == 0)
        return true;
    *why = "no cgroup memory and cpu controllers are mounted";
    return false;
}

//  ---------------------------------------------------------------------
//  CDI

//  Whether the spec at path has self's GPU kind; if so, adds the names
//  of its devices to names (fresh strings).
static bool
s_spec_devices (hpt_container_t *self, const char *path, zlistx_t *names)
{
    hpt_error_t why;
    size_t size = 0;
    char *text = hpt_read_file (path, S_SPEC_MAX, &size, &why);
    if (!text) return false;
    hpt_tree_error_t problem;
    size_t length = strlen (path);
    bool json = length > 5 && strcmp (path + length - 5, ".json") == 0;
    hpt_node_t *root = json ? hpt_tree_from_json (text, size, &problem)
                            : hpt_tree_from_yaml (text, size, &problem);
    free (text);
    hpt_node_t *kind = hpt_node_get (root, "kind");
    bool ours = kind && kind->kind == HPT_NODE_SCALAR && strcmp (kind->text, self->gpu_kind) == 0;
    hpt_node_t *devices = ours ? hpt_node_get (root, "devices") : NULL;
    for (size_t d = 0; devices && devices->kind == HPT_NODE_SEQ && d < devices->count; d++) {
        hpt_node_t *name = hpt_node_get (devices->items[d], "name");
        if (name && name->kind == HPT_NODE_SCALAR) zlistx_add_end (names, name->text);
    }
    hpt_node_destroy (&root);
    return ours;
}

//  Looks through the spec directories: the number of specs of the GPU
//  kind, with the names of their devices added to names.
static size_t
s_scan_specs (hpt_container_t *self, zlistx_t *names)
{
    size_t specs = 0;
    char *dirs = hpt_strdup (self->cdi_dirs);
    for (char *save = NULL, *dir = strtok_r (dirs, ":", &save); dir;
         dir = strtok_r (NULL, ":", &save)) {
        static const char *patterns[] = {"*.yaml", "*.yml", "*.json"};
        for (size_t p = 0; p < 3; p++) {
            char *pattern = hpt_asprintf ("%s/%s", dir, patterns[p]);
            glob_t matches;
            if (glob (pattern, 0, NULL, &matches) == 0)
                for (size_t i = 0; i < matches.gl_pathc; i++)
                    specs += s_spec_devices (self, matches.gl_pathv[i], names);
            globfree (&matches);
            free (pattern);
        }
    }
    free (dirs);
    return specs;
}

static zlistx_t *
s_names_new (void)
{
    zlistx_t *names = zlistx_new ();
    zlistx_set_duplicator (names, (zlistx_duplicator_fn *)hpt_strdup);
    zlistx_set_destructor (names, (zlistx_destructor_fn *)zstr_free);
    return names;
}

char *
hpt_container_mig_device (hpt_container_t *self, const char *uuid, unsigned gpu, unsigned slot,
                          hpt_error_t *error)
{
    zlistx_t *names = s_names_new ();
    s_scan_specs (self, names);
    char *by_index = hpt_asprintf ("%u:%u", gpu, slot);
    char *found = NULL;
    for (const char *name = zlistx_first (names); name && !found; name = zlistx_next (names))
        if (strcmp (name, uuid) == 0) found = hpt_strdup (uuid);
    for (const char *name = zlistx_first (names); name && !found; name = zlistx_next (names))
        if (strcmp (name, by_index) == 0) found = hpt_strdup (by_index);
    zlistx_destroy (&names);
    if (!found)
        hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                       "no CDI spec in %s names the MIG instance %s (as %s=%s or %s=%s): "
                       "generate the spec again with 'nvidia-ctk cdi generate "
                       "--output=/etc/cdi/nvidia.yaml' after the MIG layout is made",
                       self->cdi_dirs, uuid, self->gpu_kind, uuid, self->gpu_kind, by_index);
    free (by_index);
    return found;
}

int
hpt_container_check_gpus (hpt_container_t *self, const int64_t *gpus, size_t count,
                          hpt_error_t *error)
{
    if (count == 0) return 0;
    bool *found = hpt_calloc (count, sizeof (bool));
    zlistx_t *names = s_names_new ();
    size_t specs = s_scan_specs (self, names);
    for (const char *name = zlistx_first (names); name; name = zlistx_next (names)) {
        char *end = NULL;
        long index = strtol (name, &end, 10);
        for (size_t i = 0; end != name && !*end && i < count; i++)
            found[i] |= gpus[i] == index;
    }
    zlistx_destroy (&names);
    int rc = 0;
    if (specs == 0)
        rc = hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                            "GPUs in containers need a CDI spec for %s in %s, and there is none: "
                            "generate one with 'nvidia-ctk cdi generate "
                            "--output=/etc/cdi/nvidia.yaml' (NVIDIA Container Toolkit)",
                            self->gpu_kind, self->cdi_dirs);
    for (size_t i = 0; rc == 0 && i < count; i++)
        if (!found[i])
            rc = hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                                "no CDI spec in %s names GPU %lld as a %s device: generate the "
                                "spec again with 'nvidia-ctk cdi generate "
                                "--output=/etc/cdi/nvidia.yaml'",
                                self->cdi_dirs, (long long)gpus[i], self->gpu_kind);
    free (found);
    return rc;
}

json_t *
hpt_container_resources (hpt_container_t *self, const int64_t *gpus, size_t count)
{
    if (self->problem) return NULL;
    json_t *out = json_object ();
    json_object_set_new (out, "runtime", json_string (self->runtime));
    hpt_error_t why;
    bool ok = count > 0 && hpt_container_check_gpus (self, gpus, count, &why) == 0;
    json_object_set_new (out, "gpus", json_boolean (ok));
    if (count > 0 && !ok) json_object_set_new (out, "gpuProblem", json_string (why.message));
    return out;
}

//  ---------------------------------------------------------------------
//  The run command line

char *
hpt_container_name (hpt_container_t *self, const char *lid)
{
    char *name = hpt_asprintf ("hpt-%08x-%s", self->hash, lid);
    for (char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-'))
            *c = '_';
    return name;
}

//  Every /dev/accel* and /dev/vfio/* of the host: a TPU task gets them all.
static void
s_tpu_devices (s_argv_t *argv)
{
    static const char *patterns[] = {"/dev/accel*", "/dev/vfio/*"};
    for (size_t p = 0; p < 2; p++) {
        glob_t matches;
        if (glob (patterns[p], 0, NULL, &matches) == 0)
            for (size_t i = 0; i < matches.gl_pathc; i++)
                s_add (argv, hpt_asprintf ("--device=%s", matches.gl_pathv[i]));
        globfree (&matches);
    }
}

//  The entrypoint override as the runtime takes it: a JSON array.
static char *
s_entrypoint (const hpt_container_run_t *run)
{
    json_t *array = json_array ();
    for (size_t i = 0; i < run->command_count; i++)
        json_array_append_new (array, json_string (run->command[i]));
    char *text = json_dumps (array, JSON_COMPACT);
    json_decref (array);
    char *option = hpt_asprintf ("--entrypoint=%s", text);
    free (text);
    return option;
}

char **
hpt_container_run_argv (hpt_container_t *self, const hpt_container_run_t *run)
{
    s_argv_t argv = {0};
    s_add_all (&argv, self->prefix);
    s_add (&argv, hpt_strdup ("run"));
    //  --rm: the client removes the container once its status is taken.
    s_add (&argv, hpt_strdup ("--rm"));
    s_add (&argv, hpt_strdup ("--network=host"));
    s_add (&argv, hpt_asprintf ("--name=%s", run->name));
    s_add (&argv, hpt_asprintf ("--label=hpt.workdir=%s", self->workdir));
    s_add (&argv, hpt_asprintf ("--label=hpt.agent=%s", self->agent));
    for (size_t i = 0; run->labels && run->labels[i]; i++)
        s_add (&argv, hpt_asprintf ("--label=%s", run->labels[i]));
    s_add (&argv, hpt_asprintf ("--env-file=%s", run->env_file));
    //  --mount, not --volume: task directories hold ':' (their ids').
    for (size_t i = 0; run->mounts && run->mounts[i]; i += 2)
        s_add (&argv, hpt_asprintf ("--mount=type=bind,source=%s,destination=%s", run->mounts[i],
                                    run->mounts[i + 1]));
    s_add (&argv, hpt_asprintf ("--workdir=%s", run->workdir));
    if (run->user) s_add (&argv, hpt_asprintf ("--user=%s", run->user));
    if (run->cpuset)
        s_add (&argv, hpt_asprintf ("--cpuset-cpus=%s", run->cpuset));
    else if (run->cpus > 0)
        s_add (&argv, hpt_asprintf ("--cpus=%g", run->cpus));
    if (run->memory_mb > 0)
        s_add (&argv, hpt_asprintf ("--memory=%lldm", (long long)run->memory_mb));
    for (size_t i = 0; i < run->gpu_count; i++)
        s_add (&argv, hpt_asprintf ("--device=%s=%lld", self->gpu_kind, (long long)run->gpus[i]));
    for (size_t i = 0; run->devices && run->devices[i]; i++)
        s_add (&argv, hpt_asprintf ("--device=%s=%s", self->gpu_kind, run->devices[i]));
    if (run->tpu) s_tpu_devices (&argv);
    s_add_all (&argv, self->run_args);
    if (run->command_count) s_add (&argv, s_entrypoint (run));
    s_add (&argv, hpt_strdup (run->image));
    for (size_t i = 0; i < run->arg_count; i++)
        s_add (&argv, hpt_strdup (run->args[i]));
    return argv.items;
}

/*  hpt_container -- the agent's container runtime: custom-container trainers

    A LAUNCH with an `image` runs its task in a container, one container
    per task, through an OCI runtime's command-line client (podman by
    default; the configured value is a command prefix, e.g. "podman
    --runtime runc", words separated by spaces). The task's process, as
    the launcher sees it, is the runtime's attached `run` client: its exit
    status is the container's, its stdout and stderr the container's, and
    a SIGTERM to it is passed on to the container (podman's sig-proxy).
    What this class gives the agent:

    - the `run` command line of a task (hpt_container_run_argv): --rm,
      host networking (TF_CONFIG names the host's addresses), the name and
      labels (hpt.job, hpt.trial, hpt.task, hpt.agent, hpt.workdir), an
      environment file the agent wrote, bind mounts, the working
      directory, the user, resource limits (pinned CPUs or a CPU quota,
      memory), the task's GPUs through the Container Device Interface
      (--device KIND=INDEX) and a TPU host's accel and vfio devices,
      then the site's extra run arguments, the entrypoint override
      (--entrypoint as a JSON array), the image and its arguments;
    - CDI: whether a spec in /etc/cdi or /var/run/cdi (as `nvidia-ctk cdi
      generate` writes it, YAML or JSON) names the GPU kind
      ("nvidia.com/gpu") and the devices a task is given, read again at
      every check so a spec generated later is seen;
    - work that can take long, off the agent's loop: image pulls (`image
      exists`, else `pull`) and removals (`rm -f`), each in its own actor
      (a pull of minutes must not hold up a cancelled task's removal),
      answered on the actors' sockets;
    - the containers an earlier run of the agent left (a SIGKILLed agent
      kills the run clients, not the containers): removed by their
      hpt.workdir label, synchronously, before the agent registers and
      when it stops.

    Whether the runtime can run containers at all is the runtime's to
    say: the agent offers containers when the runtime's program is found
    in PATH, and a run that fails reports the runtime's message (exit
    status 125 and its stderr).

    Invariants: argv elements are never parsed by a shell; the image and
    every option value come from checked LAUNCH members (the image is an
    image reference, never an option); environment values never appear on
    a command line (/proc/PID/cmdline is world-readable), they go through
    the environment file, which lives in the agent's own directory.
*/
#ifndef HPT_CONTAINER_H_INCLUDED
#define HPT_CONTAINER_H_INCLUDED

#include "hpt_error.h"
#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The default runtime, GPU kind and CDI spec directories.
#define HPT_CONTAINER_RUNTIME "podman"
#define HPT_CONTAINER_GPU_KIND "nvidia.com/gpu"
#define HPT_CONTAINER_CDI_DIRS "/etc/cdi:/var/run/cdi"
//  Where cloudml-hypertune writes when CLOUD_ML_HP_METRIC_FILE is unset:
//  a container task's metric directory is mounted there.
#define HPT_CONTAINER_METRIC_DIR "/tmp/hypertune"
#define HPT_CONTAINER_METRIC_FILE "/tmp/hypertune/output.metrics"

typedef struct {
    const char *runtime;         //  command prefix; NULL or "" = HPT_CONTAINER_RUNTIME
    const char *const *run_args; //  extra arguments for every run, NULL-terminated, or NULL
    const char *gpu_kind;        //  CDI kind of the GPUs; NULL = HPT_CONTAINER_GPU_KIND
    const char *cdi_dirs;        //  ':'-separated spec directories; NULL = HPT_CONTAINER_CDI_DIRS
    const char *workdir;         //  the agent's workdir (absolute): labels its containers
    const char *agent;           //  the agent's name (a label)
    bool actors;                 //  start the pull and remove actors (not for --print-topology)
} hpt_container_config_t;

//  What one task's container is given. Every pointer is borrowed.
typedef struct {
    const char *name;           //  container name ([A-Za-z0-9_.-], hpt_container_name)
    const char *image;          //  image reference
    const char *const *command; //  entrypoint override, or NULL
    size_t command_count;       //  entries in command
    const char *const *args;    //  arguments after the image
    size_t arg_count;           //  entries in args
    const char *env_file;       //  --env-file
    const char *const *mounts;  //  bind mounts: host path, container path, ...; NULL-
                                //  terminated, or NULL. No path may hold a ','
    const char *workdir;        //  -w
    const char *user;           //  "UID:GID", or NULL for the image's user
    const char *const *labels;  //  "KEY=VALUE" beside hpt.agent and hpt.workdir, or NULL
    const char *cpuset;         //  Linux cpulist the container is pinned to, or NULL
    double cpus;                //  CPU quota when there is no cpuset; 0 none
    int64_t memory_mb;          //  memory limit; 0 none
    const int64_t *gpus;        //  GPU indexes (CDI device names), or NULL
    size_t gpu_count;           //  entries in gpus
    const char *const *devices; //  more CDI names of the GPU kind (MIG instances), NULL-
                                //  terminated, or NULL
    bool tpu;                   //  give the host's /dev/accel* and /dev/vfio/*
} hpt_container_run_t;

typedef struct _hpt_container_t hpt_container_t;

//  The runtime as configured (copied). Never fails: a runtime that is not
//  there makes hpt_container_problem say why.
hpt_container_t *hpt_container_new (const hpt_container_config_t *config);

//  Stops the actors (killing a pull or removal in progress) and nulls the
//  pointer.
void hpt_container_destroy (hpt_container_t **self_p);

//  Why this agent cannot run containers (the runtime's program is not in
//  PATH), or NULL when it can.
const char *hpt_container_problem (hpt_container_t *self);

//  Checks that the GPUs with these indexes can be given to a container:
//  a CDI spec names the GPU kind and each index as a device. 0, or -1
//  with *error (HPT_E_FAILED_PRECONDITION) saying what is missing and how
//  to generate a spec.
int hpt_container_check_gpus (hpt_container_t *self, const int64_t *gpus, size_t count,
                              hpt_error_t *error);

//  The CDI device name of a MIG instance (a fresh string): its UUID when a
//  spec of the GPU kind names it so (nvidia-ctk's uuid naming), else
//  "GPU:SLOT" (its index naming: the GPU's index, the instance's NVML
//  slot). NULL with *error (HPT_E_FAILED_PRECONDITION) when no spec names
//  it either way.
char *hpt_container_mig_device (hpt_container_t *self, const char *uuid, unsigned gpu,
                                unsigned slot, hpt_error_t *error);

//  The resources document's "containers" member: {runtime, gpus,
//  gpuProblem?}; gpus is true when every one of the agent's GPUs (count
//  of them, by index) can be given to containers (false without GPUs).
//  NULL when the agent cannot run containers. The caller owns it.
json_t *hpt_container_resources (hpt_container_t *self, const int64_t *gpus, size_t count);

//  Whether the resource limits (memory, CPUs) can be enforced here: the
//  cgroup controllers are there. Sets *why to the reason when not.
bool hpt_container_limits (hpt_container_t *self, const char **why);

//  The name of a task's container: "hpt-" + a hash of the workdir (two
//  agents on a host never collide) + the task's launcher id. Fresh string.
char *hpt_container_name (hpt_container_t *self, const char *lid);

//  The run command line (runtime prefix first), NULL-terminated fresh
//  strings (free with hpt_container_argv_free).
char **hpt_container_run_argv (hpt_container_t *self, const hpt_container_run_t *run);
void hpt_container_argv_free (char ***argv_p);

//  ---------------------------------------------------------------------
//  Off the loop

//  Kinds of results.
typedef enum {
    HPT_CONTAINER_PULLED = 1, //  what: the image
    HPT_CONTAINER_REMOVED,    //  what: the container's name
} hpt_container_done_t;

//  Asks for image to be made present (pulled unless it exists), or the
//  container name removed (killed if it runs). Returns 0, or -1 when the
//  actors were not started.
int hpt_container_pull (hpt_container_t *self, const char *image);
int hpt_container_remove (hpt_container_t *self, const char *name);

//  The sockets the agent's loop polls (NULL without actors); each is
//  readable when a result is ready: read it with hpt_container_recv.
zsock_t *hpt_container_pull_socket (hpt_container_t *self);
zsock_t *hpt_container_remove_socket (hpt_container_t *self);

//  Reads one result from socket: its kind, what it was about, whether it
//  worked, and the runtime's message when not (the last line it printed).
//  Fresh strings. 0, or -1 when interrupted.
int hpt_container_recv (zsock_t *socket, hpt_container_done_t *kind, char **what, bool *ok,
                        char **message);

//  Removes every container labelled with this agent's workdir, waiting
//  for the runtime. Returns 0, or -1 with *error (the runtime's message).
int hpt_container_reap (hpt_container_t *self, hpt_error_t *error);

#endif

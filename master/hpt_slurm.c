/*  hpt_slurm -- the master's side of Slurm: trials as Slurm jobs

    Part of the core (hpt_core_private.h), like hpt_agent_link. With a
    `slurm:` section in cluster.yaml, a trial can run in a Slurm job
    instead of on the permanent agents (use: always, or overflow: when the
    agents cannot place it now). docs/slurm.md has the design; in short:

    Submit. hpt_slurm_submit runs inside the scheduling transaction. It
    names the Slurm job (PREFIX + a number from the store's meta
    "slurm_seq", PREFIX = "hpt-SITE-" with SITE a hash of the state
    directory, so two masters never take each other's jobs), stores it
    SUBMITTING with its trial, makes the trial PROVISIONING with its tasks
    unplaced, and queues sbatch for the commit: store, then act. The
    script (s_script) runs one hptagent per allocated node with srun,
    named NAME.KofN and, with CURVE, holding a key the master made for
    this job alone (hpt_admission_admit_group: the key may register as
    NAME.* and nothing else).

    Commands. sbatch, squeue, scontrol and scancel run in the runner
    actor (hpt_slurm_runner), never in the loop; requests queued in a
    transaction leave only when it commits (hpt_slurm_committed). Each
    reply is one event of the loop, one transaction.

    Place. When all N agents of a QUEUED job have registered (READY), the
    trial's tasks are placed on exactly those agents (hpt_scheduler_place
    on them alone) and launched as on any agent: TF_CONFIG, devices,
    metrics, logs and STOP are the agents' usual work. The core's own
    scheduling never places anything on them (hpt_slurm_owns_node).

    End. When the trial is over (succeeded, failed, stopped early,
    cancelled), its Slurm job goes ENDING and scancel ends it (and its
    agents); once scancel answered, the row is deleted and the agents'
    nodes forgotten. A trial stopped while its job still waits in Slurm's
    queue has no task to stop: its tasks end at once, then the job is
    cancelled.

    Watch. Every pollInterval (one squeue in flight at most), squeue
    --me lists this user's jobs. A job of this master's prefix that no
    row names (a restart lost sbatch's answer, or its trial is gone) is
    cancelled. A recorded job missing from the list ended outside hpt:
    scontrol tells its state and reason, and its trial's tasks are lost
    with that reason (agentLostPolicy: fail, or requeue). A pending job's
    reason is written to the job's log when it changes.

    Restart. Rows are loaded from the store. A row without a Slurm id
    was stored but sbatch's answer was lost: the job (if any) is
    cancelled by name, then the trial requeued, so a trial is never run
    twice. Rows with ids are adopted: their agents reconnect and go on.

    Failed commits drop the queued requests and reload the rows from the
    store, so memory never holds what the store does not.
*/
#include "hpt_alloc.h"
#include "hpt_core_private.h"
#include "hpt_log.h"
#include "hpt_scheduler.h"
#include "hpt_slurm_runner.h"
#include "hpt_store.h"
#include "hpt_tuner.h"
#include <math.h>
#include <unistd.h>

#define S_TAG_MAX 160   //  a reply's tag: KIND and a name or id
#define S_WHY_MAX 16    //  scontrol calls one poll may start
#define S_PORTS 100     //  ports per Slurm job's agents (--ports)
#define S_RECHECKS 20   //  scontrol calls for a job still COMPLETING
#define S_SIZE_MS 60000 //  how often sinfo describes the partition

//  ---------------------------------------------------------------------
//  Rows

static void
s_job_free (void **item_p)
{
    hpt_slurm_job_t *job = *item_p;
    if (!job) return;
    free (job->name);
    free (job->job_id);
    free (job->slurm_id);
    free (job->agent_key);
    free (job->pending);
    free (job->killed_task);
    free (job);
    *item_p = NULL;
}

static int
s_job_store (hpt_core_t *self, hpt_slurm_job_t *job)
{
    hpt_store_slurm_t row = {.name = job->name,
                             .job_id = job->job_id,
                             .trial_id = job->trial_id,
                             .slurm_id = job->slurm_id,
                             .tasks = job->tasks,
                             .agent_key = job->agent_key,
                             .state = hpt_slurm_state_name (job->state),
                             .created_ms = job->created};
    return hpt_store_slurm_put (self->store, &row, NULL);
}

//  The trial of a job, and its tuner; NULL when the hpt job is gone.
static hpt_trial_t *
s_trial (hpt_core_t *self, hpt_slurm_job_t *job, hpt_tuner_t **tuner_p)
{
    hpt_tuner_t *tuner = hpt_core_job (self, job->job_id);
    if (tuner && hpt_core_readmit (self, tuner, NULL) != 0) tuner = NULL;
    if (tuner_p) *tuner_p = tuner;
    if (!tuner) return NULL;
    for (size_t i = 0; i < hpt_tuner_trial_count (tuner); i++) {
        hpt_trial_t *trial = hpt_tuner_trial (tuner, i);
        if (trial->id == job->trial_id) return trial;
    }
    return NULL;
}

//  Loads every row from the store (at start, and after a failed commit).
static int
s_load (hpt_core_t *self, hpt_error_t *error)
{
    json_t *rows = NULL;
    if (hpt_store_slurm_list (self->store, &rows, error)) return -1;
    zhashx_purge (self->slurm_jobs);
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        hpt_slurm_job_t *job = hpt_calloc (1, sizeof (hpt_slurm_job_t));
        const char *slurm_id = json_string_value (json_object_get (row, "slurm_id"));
        const char *key = json_string_value (json_object_get (row, "agent_key"));
        job->name = hpt_strdup (json_string_value (json_object_get (row, "name")));
        job->job_id = hpt_strdup (json_string_value (json_object_get (row, "job_id")));
        job->trial_id = json_integer_value (json_object_get (row, "trial_id"));
        job->slurm_id = slurm_id ? hpt_strdup (slurm_id) : NULL;
        job->tasks = json_integer_value (json_object_get (row, "tasks"));
        job->created = json_integer_value (json_object_get (row, "created"));
        job->agent_key = key ? hpt_strdup (key) : NULL;
        hpt_slurm_state_parse (json_string_value (json_object_get (row, "state")), &job->state);
        zhashx_update (self->slurm_jobs, job->name, job);
        hpt_tuner_t *tuner = NULL;
        hpt_trial_t *trial = s_trial (self, job, &tuner);
        if (trial && job->slurm_id) hpt_tuner_set_trial_slurm (tuner, trial, job->slurm_id, NULL);
        if (job->agent_key && self->admission)
            hpt_admission_admit_group (self->admission, job->agent_key, job->name);
    }
    json_decref (rows);
    return 0;
}

//  ---------------------------------------------------------------------
//  Requests

//  Queues a request (sent at the commit) or sends it now outside a
//  transaction.
static void
s_request (hpt_core_t *self, const char *tag, const char *input, const char *const *argv)
{
    zmsg_t *msg = hpt_slurm_runner_request (tag, self->slurm->command_ms, input, argv);
    hpt_log_debug ("slurm: %s (%s)%s", argv[0], tag,
                   hpt_store_in_transaction (self->store) ? ", at the commit" : "");
    if (hpt_store_in_transaction (self->store)) {
        zlistx_add_end (self->slurm_outbox, msg);
        return;
    }
    if (zmsg_send (&msg, self->slurm_runner) == 0) self->slurm_in_flight++;
    zmsg_destroy (&msg);
}

static void
s_cancel (hpt_core_t *self, hpt_slurm_job_t *job)
{
    char tag[S_TAG_MAX];
    snprintf (tag, sizeof (tag), "cancel %s", job->name);
    job->busy = true;
    if (job->slurm_id) {
        const char *argv[] = {"scancel", job->slurm_id, NULL};
        s_request (self, tag, NULL, argv);
    } else {
        char *name = hpt_asprintf ("--name=%s", job->name);
        const char *argv[] = {"scancel", name, NULL};
        s_request (self, tag, NULL, argv);
        free (name);
    }
}

void
hpt_slurm_committed (hpt_core_t *self, bool ok)
{
    if (!self->slurm) return;
    for (zmsg_t *msg = zlistx_first (self->slurm_outbox); msg;
         msg = zlistx_next (self->slurm_outbox)) {
        if (ok && zmsg_send (&msg, self->slurm_runner) == 0) self->slurm_in_flight++;
        zmsg_destroy (&msg);
    }
    zlistx_purge (self->slurm_outbox);
    if (!ok) {
        hpt_error_t error;
        if (s_load (self, &error))
            hpt_log_error ("cannot reload the Slurm jobs: %s", error.message);
    }
}

//  ---------------------------------------------------------------------
//  Submitting

//  What each task of the trial asks for, at most: every Slurm task of
//  the allocation is that big, so any task fits any of them.
static void
s_shape_of (const hpt_task_request_t *const *requests, size_t count, int64_t *cpus,
            int64_t *mem_per_cpu_mb, int64_t *gpus)
{
    double max_cpus = 1;
    int64_t max_mem = 1, max_gpus = 0;
    for (size_t i = 0; i < count; i++) {
        const hpt_task_request_t *r = requests[i];
        if (r->cpus > max_cpus) max_cpus = r->cpus;
        if (r->memory_mb > max_mem) max_mem = r->memory_mb;
        if (r->accel_count > max_gpus) max_gpus = r->accel_count;
    }
    *cpus = (int64_t)ceil (max_cpus);
    *mem_per_cpu_mb = (max_mem + *cpus - 1) / *cpus;
    *gpus = max_gpus;
}

static void
s_shape (hpt_trial_t *trial, int64_t *cpus, int64_t *mem_per_cpu_mb, int64_t *gpus)
{
    const hpt_task_request_t **requests =
        hpt_calloc (trial->task_count ? trial->task_count : 1, sizeof (hpt_task_request_t *));
    for (size_t i = 0; i < trial->task_count; i++)
        requests[i] = trial->tasks[i].request;
    s_shape_of (requests, trial->task_count, cpus, mem_per_cpu_mb, gpus);
    free (requests);
}

char *
hpt_slurm_infeasible (hpt_core_t *self, const hpt_task_request_t *requests, size_t count)
{
    if (!self->slurm || !self->slurm_sized_at) return NULL;
    const hpt_task_request_t **all = hpt_calloc (count ? count : 1, sizeof (hpt_task_request_t *));
    for (size_t i = 0; i < count; i++)
        all[i] = &requests[i];
    int64_t cpus, mem, gpus;
    s_shape_of (all, count, &cpus, &mem, &gpus);
    free (all);
    const char *part = self->slurm->partition;
    if (cpus > self->slurm_node_cpus)
        return hpt_asprintf ("a Slurm task needs %" PRId64 " CPUs; the largest node of partition "
                             "%s has %" PRId64,
                             cpus, part, self->slurm_node_cpus);
    if (mem * cpus > self->slurm_node_memory_mb)
        return hpt_asprintf ("a Slurm task needs %" PRId64 " MB of memory; the largest node of "
                             "partition %s has %" PRId64 " MB",
                             mem * cpus, part, self->slurm_node_memory_mb);
    if (gpus > self->slurm_node_gpus)
        return hpt_asprintf ("a Slurm task needs %" PRId64 " GPUs; no node of partition %s has "
                             "more than %" PRId64,
                             gpus, part, self->slurm_node_gpus);
    return NULL;
}

//  sinfo answered: one line per node, CPUS|MEMORY_MB|GRES.
static void
s_on_sized (hpt_core_t *self, const char *status, char *out)
{
    if (!streq (status, "0")) return;
    int64_t cpus = 0, memory = 0, gpus = 0;
    for (char *line = strtok (out, "\n"); line; line = strtok (NULL, "\n")) {
        long long c = 0, m = 0;
        char gres[512] = "";
        if (sscanf (line, "%lld|%lld|%511s", &c, &m, gres) < 2) continue;
        if (c > cpus) cpus = c;
        if (m > memory) memory = m;
        //  gpu:N, gpu:TYPE:N, each maybe followed by (S:...); comma-separated.
        char *rest = NULL;
        for (char *item = strtok_r (gres, ",", &rest); item; item = strtok_r (NULL, ",", &rest)) {
            if (strncmp (item, "gpu", 3) != 0) continue;
            char *paren = strchr (item, '(');
            if (paren) *paren = 0;
            char *colon = strrchr (item, ':');
            long long g = colon ? atoll (colon + 1) : 0;
            if (g > gpus) gpus = g;
        }
    }
    if (!cpus) return;
    self->slurm_node_cpus = cpus;
    self->slurm_node_memory_mb = memory;
    self->slurm_node_gpus = gpus;
    self->slurm_sized_at = hpt_core_now ();
}

static void
s_size (hpt_core_t *self)
{
    char *partition = hpt_asprintf ("--partition=%s", self->slurm->partition);
    const char *argv[] = {"sinfo", "--noheader", "--Node", partition, "--format=%c|%m|%G", NULL};
    self->slurm_sizing = true;
    s_request (self, "sinfo", NULL, argv);
    free (partition);
}

//  The CURVE part of the node script: the job's key pair and the
//  master's public key, written 0600 (umask) where the agent reads them.
static char *
s_script_keys (hpt_core_t *self, zcert_t *cert)
{
    if (!cert) return hpt_strdup ("");
    return hpt_asprintf ("cat > \"$dir/agent.cert_secret\" <<'HPT_CERT_EOF'\n"
                         "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n"
                         "HPT_CERT_EOF\n"
                         "cat > \"$dir/master.cert\" <<'HPT_CERT_EOF'\n"
                         "curve\n    public-key = \"%s\"\n"
                         "HPT_CERT_EOF\n"
                         "keys=\"--cert $dir/agent.cert_secret --master-cert $dir/master.cert\"\n",
                         zcert_public_txt (cert), zcert_secret_txt (cert), self->slurm_master_key);
}

//  The batch script: one hptagent per allocated node (srun --whole, one
//  task per node), each offering what Slurm allocated on its node. The
//  node script is quoted whole (no expansion in the batch shell) and
//  expands on each node.
static char *
s_script (hpt_core_t *self, hpt_slurm_job_t *job, int64_t mem_per_cpu_mb, int64_t seq,
          zcert_t *cert)
{
    const hpt_slurm_settings_t *s = self->slurm;
    char *keys = s_script_keys (self, cert);
    int64_t low = 20000 + (seq % 100) * S_PORTS;
    char *script = hpt_asprintf (
        "#!/bin/bash\n"
        "# hpt job %s, trial %" PRId64 ": one hptagent per node, for this trial only\n"
        "set -eu\n"
        "export HPT_NODE_SCRIPT=$(cat <<'HPT_NODE_EOF'\n"
        "set -eu\n"
        "umask 077\n"
        "dir=%s/%s.$SLURM_NODEID\n"
        "mkdir -p \"$dir\"\n"
        "keys=\n"
        "%s"
        "mem=$(awk -v c=\"$SLURM_CPUS_ON_NODE\" 'BEGIN { printf \"%%.3f\", c * %" PRId64
        " / 1024 }')\n"
        "exec %s --master %s --name \"%s.${SLURM_NODEID}of${SLURM_JOB_NUM_NODES}\" \\\n"
        "    --workdir \"$dir\" --cpus \"$SLURM_CPUS_ON_NODE\" --memory-gb \"$mem\" \\\n"
        "    --ports %" PRId64 "-%" PRId64 " $keys\n"
        "HPT_NODE_EOF\n"
        ")\n"
        "exec srun --whole --nodes=\"$SLURM_JOB_NUM_NODES\" --ntasks=\"$SLURM_JOB_NUM_NODES\" \\\n"
        "    --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c \"$HPT_NODE_SCRIPT\"\n",
        job->job_id, job->trial_id, s->workdir, job->name, keys, mem_per_cpu_mb, s->agent_command,
        self->slurm_master, job->name, low, low + S_PORTS - 1);
    free (keys);
    return script;
}

//  sbatch's command line (fresh strings in a NULL-terminated array).
static char **
s_sbatch_argv (hpt_core_t *self, hpt_slurm_job_t *job, hpt_trial_t *trial)
{
    const hpt_slurm_settings_t *s = self->slurm;
    int64_t cpus, mem, gpus;
    s_shape (trial, &cpus, &mem, &gpus);
    char **argv = hpt_calloc (16 + s->sbatch_arg_count, sizeof (char *));
    size_t n = 0;
    argv[n++] = hpt_strdup ("sbatch");
    argv[n++] = hpt_strdup ("--parsable");
    argv[n++] = hpt_asprintf ("--job-name=%s", job->name);
    argv[n++] = hpt_asprintf ("--comment=hpt job %s trial %" PRId64, job->job_id, job->trial_id);
    argv[n++] = hpt_asprintf ("--partition=%s", s->partition);
    if (s->account) argv[n++] = hpt_asprintf ("--account=%s", s->account);
    if (s->qos) argv[n++] = hpt_asprintf ("--qos=%s", s->qos);
    if (s->reservation) argv[n++] = hpt_asprintf ("--reservation=%s", s->reservation);
    argv[n++] = hpt_asprintf ("--ntasks=%zu", trial->task_count);
    argv[n++] = hpt_asprintf ("--cpus-per-task=%" PRId64, cpus);
    argv[n++] = hpt_asprintf ("--mem-per-cpu=%" PRId64, mem);
    if (gpus) argv[n++] = hpt_asprintf ("--gpus-per-task=%" PRId64, gpus);
    argv[n++] = hpt_strdup ("--output=/dev/null");
    for (size_t i = 0; i < s->sbatch_arg_count; i++)
        argv[n++] = hpt_strdup (s->sbatch_args[i]);
    return argv;
}

static void
s_strings_free (char **strings)
{
    for (size_t i = 0; strings && strings[i]; i++)
        free (strings[i]);
    free (strings);
}

bool
hpt_slurm_wanted (hpt_core_t *self, bool placed)
{
    if (!self->slurm) return false;
    return self->slurm->use == HPT_SLURM_USE_ALWAYS || !placed;
}

bool
hpt_slurm_submit (hpt_core_t *self, hpt_tuner_t *tuner, hpt_trial_t *trial)
{
    if ((int64_t)zhashx_size (self->slurm_jobs) >= self->slurm->max_jobs) {
        hpt_tuner_set_queue_reason (tuner, "waiting: slurm.maxJobs Slurm jobs are submitted");
        return false;
    }
    int64_t seq = 0;
    hpt_store_meta_get (self->store, "slurm_seq", &seq, NULL);
    seq++;
    hpt_slurm_job_t *job = hpt_calloc (1, sizeof (hpt_slurm_job_t));
    job->name = hpt_asprintf ("%s%" PRId64, self->slurm_prefix, seq);
    job->job_id = hpt_strdup (hpt_tuner_id (tuner));
    job->trial_id = trial->id;
    job->tasks = (int64_t)trial->task_count;
    job->state = HPT_SLURM_SUBMITTING;
    job->created = hpt_core_now ();
    zcert_t *cert = self->admission ? zcert_new () : NULL;
    if (cert) job->agent_key = hpt_strdup (zcert_public_txt (cert));
    int rc = hpt_store_meta_set (self->store, "slurm_seq", seq, NULL);
    rc |= s_job_store (self, job);
    rc |= hpt_tuner_trial_placed (tuner, self->store, trial, hpt_core_now ());
    zhashx_update (self->slurm_jobs, job->name, job);
    if (cert) hpt_admission_admit_group (self->admission, job->agent_key, job->name);
    int64_t cpus, mem, gpus;
    s_shape (trial, &cpus, &mem, &gpus);
    char *script = s_script (self, job, mem, seq, cert);
    char **argv = s_sbatch_argv (self, job, trial);
    char tag[S_TAG_MAX];
    snprintf (tag, sizeof (tag), "submit %s", job->name);
    job->busy = true;
    s_request (self, tag, script, (const char *const *)argv);
    char *text =
        hpt_asprintf ("trial %" PRId64 " goes to Slurm as job name %s", trial->id, job->name);
    hpt_core_log_event (self, tuner, trial, text);
    free (text);
    s_strings_free (argv);
    free (script);
    zcert_destroy (&cert);
    return rc == 0;
}

//  ---------------------------------------------------------------------
//  Agents of a Slurm job

bool
hpt_slurm_owns_node (hpt_core_t *self, const char *name)
{
    return self->slurm_prefix &&
           strncmp (name, self->slurm_prefix, strlen (self->slurm_prefix)) == 0;
}

//  The job whose agent node is (NAME.KofN), with K and N; NULL when none.
static hpt_slurm_job_t *
s_job_of_node (hpt_core_t *self, const char *node, int64_t *k, int64_t *n)
{
    const char *dot = strrchr (node, '.');
    if (!dot || !hpt_slurm_owns_node (self, node)) return NULL;
    char *name = hpt_strndup (node, (size_t)(dot - node));
    hpt_slurm_job_t *job = zhashx_lookup (self->slurm_jobs, name);
    free (name);
    long long kk, nn;
    int used = 0;
    if (!job || sscanf (dot + 1, "%lldof%lld%n", &kk, &nn, &used) != 2 || dot[1 + used] || kk < 0 ||
        nn < 1 || kk >= nn || nn > 4096)
        return NULL;
    *k = kk, *n = nn;
    return job;
}

//  The READY agents of job when all N have registered (a fresh array
//  the caller frees, *count = N); NULL otherwise.
static hpt_host_t **
s_job_agents (hpt_core_t *self, hpt_slurm_job_t *job, size_t *count)
{
    size_t node_count;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &node_count);
    hpt_host_t **mine = NULL;
    int64_t expected = 0;
    size_t have = 0;
    for (size_t i = 0; i < node_count; i++) {
        int64_t k, n;
        if (nodes[i]->state != HPT_HOST_READY ||
            s_job_of_node (self, nodes[i]->name, &k, &n) != job)
            continue;
        if (!mine) mine = hpt_calloc ((size_t)n, sizeof (hpt_host_t *)), expected = n;
        if (n != expected || mine[k]) continue;
        mine[k] = nodes[i];
        have++;
    }
    if (!mine || (int64_t)have != expected) {
        free (mine);
        return NULL;
    }
    *count = have;
    return mine;
}

//  Removes an agent's node from the fleet and the store (a delete of a
//  row that is not there would fail the whole transaction: asked first).
static void
s_forget_node (hpt_core_t *self, hpt_host_t *node)
{
    json_t *row = NULL;
    if (hpt_store_agent_get (self->store, node->name, &row, NULL) == 0)
        hpt_store_agent_delete (self->store, node->name, NULL);
    json_decref (row);
    hpt_fleet_remove (self->fleet, node);
}

//  Forgets the agents of a Slurm job that is gone.
static void
s_forget_agents (hpt_core_t *self, hpt_slurm_job_t *job)
{
    size_t count;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &count);
    zlistx_t *gone = zlistx_new ();
    for (size_t i = 0; i < count; i++) {
        int64_t k, n;
        if (s_job_of_node (self, nodes[i]->name, &k, &n) == job) zlistx_add_end (gone, nodes[i]);
    }
    for (hpt_host_t *node = zlistx_first (gone); node; node = zlistx_next (gone))
        s_forget_node (self, node);
    zlistx_destroy (&gone);
}

static void
s_ask_why (hpt_core_t *self, hpt_slurm_job_t *job)
{
    char tag[S_TAG_MAX];
    snprintf (tag, sizeof (tag), "why %s", job->name);
    const char *argv[] = {"scontrol", "-o", "show", "job", job->slurm_id, NULL};
    job->busy = true;
    s_request (self, tag, NULL, argv);
}

bool
hpt_slurm_agent_lost (hpt_core_t *self, hpt_host_t *node)
{
    int64_t k, n;
    hpt_slurm_job_t *job = s_job_of_node (self, node->name, &k, &n);
    if (!job || job->state != HPT_SLURM_PLACED || !job->slurm_id) return false;
    if (!job->busy) s_ask_why (self, job);
    return true;
}

bool
hpt_slurm_task_killed (hpt_core_t *self, hpt_task_ref_t *ref, const hpt_task_exit_t *exit)
{
    int64_t k, n;
    hpt_slurm_job_t *job = ref->task->agent ? s_job_of_node (self, ref->task->agent, &k, &n) : NULL;
    if (!job || job->state != HPT_SLURM_PLACED || !job->slurm_id ||
        ref->task->state == HPT_TASK_STOPPING || ref->trial->state == HPT_TRIAL_STOPPING)
        return false;
    if (!job->killed_task) {
        job->killed_task = hpt_strdup (ref->task->task_id);
        job->killed_signal = exit->signal;
    }
    if (!job->busy) s_ask_why (self, job);
    return true;
}

//  ---------------------------------------------------------------------
//  The sweep

//  Ends the tasks of trial that are not over, with reason; lost (the
//  agentLostPolicy decides) or failed.
static void
s_end_tasks (hpt_core_t *self, hpt_trial_t *trial, const char *reason, bool lost)
{
    for (size_t i = 0; i < trial->task_count; i++) {
        hpt_task_ref_t *ref = hpt_core_task (self, trial->tasks[i].task_id);
        if (!ref || ref->task->state == HPT_TASK_EXITED) continue;
        if (lost) {
            hpt_core_task_lost (self, ref, reason);
            if (ref->trial->state == HPT_TRIAL_PENDING) return; //  requeued whole
        } else
            hpt_core_task_ended (self, ref, &(hpt_task_exit_t){-1, 0, reason, 0, false, NULL});
    }
}

static bool
s_trial_over (hpt_trial_t *trial)
{
    return !trial || trial->state == HPT_TRIAL_SUCCEEDED || trial->state == HPT_TRIAL_FAILED ||
           trial->state == HPT_TRIAL_CANCELLED || trial->state == HPT_TRIAL_PENDING;
}

//  All agents are there: the trial's tasks go on them, and start.
static void
s_place (hpt_core_t *self, hpt_slurm_job_t *job, hpt_tuner_t *tuner, hpt_trial_t *trial)
{
    size_t count;
    hpt_host_t **agents = s_job_agents (self, job, &count);
    if (!agents) return;
    bool placed = hpt_scheduler_place (agents, count, trial);
    free (agents);
    if (!placed) {
        s_end_tasks (self, trial,
                     "its Slurm job's nodes cannot hold its tasks (the agents there offer less "
                     "than Slurm allocated?)",
                     false);
        return;
    }
    job->state = HPT_SLURM_PLACED;
    s_job_store (self, job);
    hpt_tuner_set_trial_slurm (tuner, trial, job->slurm_id, NULL);
    hpt_tuner_trial_placed (tuner, self->store, trial, hpt_core_now ());
    for (size_t i = 0; i < trial->task_count; i++)
        hpt_core_launch (self, hpt_core_task (self, trial->tasks[i].task_id));
}

//  Agents of Slurm jobs this master no longer has (a stray job it
//  cancelled, a row gone while its agent was away) are forgotten once
//  they are not connected.
static void
s_forget_strays (hpt_core_t *self)
{
    size_t count;
    hpt_host_t **nodes = hpt_fleet_nodes (self->fleet, &count);
    zlistx_t *gone = zlistx_new ();
    for (size_t i = 0; i < count; i++) {
        int64_t k, n;
        if (hpt_slurm_owns_node (self, nodes[i]->name) && nodes[i]->state != HPT_HOST_READY &&
            nodes[i]->running_tasks == 0 && !s_job_of_node (self, nodes[i]->name, &k, &n))
            zlistx_add_end (gone, nodes[i]);
    }
    for (hpt_host_t *node = zlistx_first (gone); node; node = zlistx_next (gone))
        s_forget_node (self, node);
    zlistx_destroy (&gone);
}

void
hpt_slurm_sweep (hpt_core_t *self)
{
    if (!self->slurm) return;
    s_forget_strays (self);
    zlistx_t *jobs = zlistx_new ();
    for (hpt_slurm_job_t *job = zhashx_first (self->slurm_jobs); job;
         job = zhashx_next (self->slurm_jobs))
        zlistx_add_end (jobs, job);
    for (hpt_slurm_job_t *job = zlistx_first (jobs); job; job = zlistx_next (jobs)) {
        if (job->busy || job->state == HPT_SLURM_SUBMITTING) continue;
        hpt_tuner_t *tuner = NULL;
        hpt_trial_t *trial = s_trial (self, job, &tuner);
        if (job->state == HPT_SLURM_QUEUED && trial && trial->state == HPT_TRIAL_STOPPING)
            s_end_tasks (self, trial, "stopped before its Slurm job started", false);
        else if (job->state == HPT_SLURM_QUEUED && trial && trial->state == HPT_TRIAL_PROVISIONING)
            s_place (self, job, tuner, trial);
        if (job->state == HPT_SLURM_ENDING || s_trial_over (trial)) {
            if (job->state != HPT_SLURM_ENDING) {
                job->state = HPT_SLURM_ENDING;
                s_job_store (self, job);
            }
            s_cancel (self, job);
        }
    }
    zlistx_destroy (&jobs);
}

//  ---------------------------------------------------------------------
//  Replies

//  sbatch answered "ID" or "ID;CLUSTER".
static void
s_on_submitted (hpt_core_t *self, hpt_slurm_job_t *job, const char *status, const char *out,
                const char *err)
{
    hpt_tuner_t *tuner = NULL;
    hpt_trial_t *trial = s_trial (self, job, &tuner);
    size_t digits = strspn (out, "0123456789");
    bool ok = streq (status, "0") && digits > 0 && digits <= 20 &&
              (out[digits] == ';' || out[digits] == '\n' || out[digits] == 0);
    if (ok) {
        job->slurm_id = hpt_strndup (out, digits);
        job->state = HPT_SLURM_QUEUED;
        s_job_store (self, job);
        if (trial) hpt_tuner_set_trial_slurm (tuner, trial, job->slurm_id, NULL);
        char *text = hpt_asprintf ("trial %" PRId64 " is Slurm job %s (%s)", job->trial_id,
                                   job->slurm_id, job->name);
        if (tuner) hpt_core_log_event (self, tuner, trial, text);
        free (text);
        return;
    }
    //  Refused (or no answer in time: it may exist, so it is cancelled by
    //  name before the row goes).
    char *reason = hpt_asprintf ("sbatch failed (%s): %.400s", status, *err ? err : out);
    hpt_log_warning ("Slurm job %s: %s", job->name, reason);
    job->state = HPT_SLURM_ENDING;
    s_job_store (self, job);
    if (trial && !s_trial_over (trial)) s_end_tasks (self, trial, reason, false);
    free (reason);
}

//  scancel answered: the job is gone (or never was).
static void
s_on_cancelled (hpt_core_t *self, hpt_slurm_job_t *job, const char *status, const char *err)
{
    if (!streq (status, "0") && !strstr (err, "Invalid job id")) {
        hpt_log_warning ("scancel of Slurm job %s failed (%s): %.400s; will retry", job->name,
                         status, err);
        return;
    }
    hpt_tuner_t *tuner = NULL;
    hpt_trial_t *trial = s_trial (self, job, &tuner);
    //  A row without an id after a restart: whatever sbatch made is
    //  cancelled now, so the trial can run again without running twice.
    if (trial && trial->state == HPT_TRIAL_PROVISIONING && !job->slurm_id) {
        hpt_tuner_requeue_trial (tuner, self->store, trial, "its Slurm submission was interrupted",
                                 hpt_core_now ());
        hpt_core_log_event (self, tuner, trial, "requeued: its Slurm submission was interrupted");
    }
    if (job->agent_key && self->admission)
        hpt_admission_revoke_group (self->admission, job->agent_key);
    s_forget_agents (self, job);
    hpt_store_slurm_delete (self->store, job->name, NULL);
    zhashx_delete (self->slurm_jobs, job->name);
}

//  scontrol said how a job that left the queue, or lost an agent, is.
//  A job still COMPLETING is asked again at the next poll (its final
//  state is what the trial's message gives), a few times at most.
static void
s_on_why (hpt_core_t *self, hpt_slurm_job_t *job, const char *out)
{
    char state[64] = "gone", reason[256] = "";
    const char *at = strstr (out, "JobState=");
    if (at) sscanf (at, "JobState=%63s", state);
    at = strstr (out, " Reason=");
    if (at) sscanf (at, " Reason=%255s", reason);
    if (streq (state, "COMPLETING") && job->rechecks < S_RECHECKS) {
        job->rechecks++;
        job->recheck = true;
        return;
    }
    job->recheck = false;
    bool alive = streq (state, "RUNNING") || streq (state, "PENDING");
    bool why = *reason && strcmp (reason, "None") != 0;
    const char *id = job->slurm_id ? job->slurm_id : job->name;
    char *text = hpt_asprintf ("was lost with its Slurm job %s, which %s: %s%s%s", id,
                               alive ? "lost an agent (hpt ends it)" : "ended outside hpt", state,
                               why ? " " : "", why ? reason : "");
    hpt_tuner_t *tuner = NULL;
    hpt_trial_t *trial = s_trial (self, job, &tuner);
    if (tuner) {
        char *event = hpt_asprintf ("trial %" PRId64 ": Slurm job %s %s: %s%s%s", job->trial_id, id,
                                    alive ? "lost an agent" : "ended outside hpt", state,
                                    why ? " " : "", why ? reason : "");
        hpt_core_log_event (self, tuner, trial, event);
        free (event);
    }
    job->state = HPT_SLURM_ENDING; //  before the tasks end: nothing is deferred again
    s_job_store (self, job);
    hpt_task_ref_t *killed = job->killed_task ? hpt_core_task (self, job->killed_task) : NULL;
    if (killed && alive)
        //  Slurm did not end the job: the signal was the task's own end.
        hpt_core_task_ended (self, killed,
                             &(hpt_task_exit_t){-1, job->killed_signal, NULL, 0, false, NULL});
    if (trial && !s_trial_over (trial)) s_end_tasks (self, trial, text, true);
    free (text);
    s_cancel (self, job); //  gone already: scancel says so, and the row goes
}

//  One squeue line: ID|NAME|STATE|REASON.
static void
s_poll_line (hpt_core_t *self, char *line, zhashx_t *seen)
{
    char *fields[4] = {NULL};
    size_t n = 0;
    for (char *p = line; n < 4 && p; n++) {
        fields[n] = p;
        p = strchr (p, '|');
        if (p) *p++ = 0;
    }
    if (n < 4 || !hpt_slurm_owns_node (self, fields[1])) return;
    hpt_slurm_job_t *job = zhashx_lookup (self->slurm_jobs, fields[1]);
    //  A job on its way out (scancel done, or its script ended) is left
    //  to finish.
    if (!job && streq (fields[2], "COMPLETING")) return;
    if (!job) {
        //  Ours by its name, but no row: a trial that is gone.
        hpt_log_warning ("Slurm job %s (%s) belongs to no trial; cancelling it", fields[0],
                         fields[1]);
        char tag[S_TAG_MAX];
        snprintf (tag, sizeof (tag), "stray %.100s", fields[0]);
        const char *argv[] = {"scancel", fields[0], NULL};
        s_request (self, tag, NULL, argv);
        return;
    }
    zhashx_update (seen, job->name, job);
    size_t digits = strspn (fields[0], "0123456789");
    if (!job->slurm_id && !job->busy && job->state == HPT_SLURM_SUBMITTING && digits &&
        digits <= 20 && !fields[0][digits]) {
        //  sbatch's answer was lost (the store could not take it): the
        //  queue has the job under its name, so its id is known now.
        job->slurm_id = hpt_strdup (fields[0]);
        job->state = HPT_SLURM_QUEUED;
        s_job_store (self, job);
    }
    hpt_tuner_t *tuner = NULL;
    hpt_trial_t *trial = s_trial (self, job, &tuner);
    bool pending = streq (fields[2], "PENDING") && !streq (fields[3], "None");
    if (trial && !s_trial_over (trial))
        hpt_tuner_set_trial_slurm (tuner, trial, job->slurm_id, pending ? fields[3] : NULL);
    if (!pending || (job->pending && streq (job->pending, fields[3]))) return;
    free (job->pending);
    job->pending = hpt_strdup (fields[3]);
    char *text = hpt_asprintf ("trial %" PRId64 ": Slurm job %s is pending (%s)", job->trial_id,
                               fields[0], fields[3]);
    if (tuner) hpt_core_log_event (self, tuner, trial, text);
    free (text);
}

//  squeue answered: jobs to adopt, cancel or explain.
static void
s_on_poll (hpt_core_t *self, const char *status, char *out, const char *err)
{
    if (!streq (status, "0")) {
        hpt_log_warning ("squeue failed (%s): %.400s", status, err);
        return;
    }
    zhashx_t *seen = zhashx_new ();
    for (char *line = strtok (out, "\n"); line; line = strtok (NULL, "\n"))
        s_poll_line (self, line, seen);
    size_t asked = 0;
    for (hpt_slurm_job_t *job = zhashx_first (self->slurm_jobs); job;
         job = zhashx_next (self->slurm_jobs)) {
        if (job->busy || !job->slurm_id || job->state == HPT_SLURM_ENDING ||
            zhashx_lookup (seen, job->name) || asked >= S_WHY_MAX)
            continue;
        s_ask_why (self, job);
        asked++;
    }
    zhashx_destroy (&seen);
}

static void
s_on_reply (hpt_core_t *self, const char *tag, const char *status, char *out, const char *err)
{
    const char *space = strchr (tag, ' ');
    hpt_slurm_job_t *job = space ? zhashx_lookup (self->slurm_jobs, space + 1) : NULL;
    if (streq (tag, "poll"))
        s_on_poll (self, status, out, err);
    else if (streq (tag, "sinfo"))
        s_on_sized (self, status, out);
    else if (job && strncmp (tag, "submit ", 7) == 0)
        s_on_submitted (self, job, status, out, err);
    else if (job && strncmp (tag, "cancel ", 7) == 0)
        s_on_cancelled (self, job, status, err);
    else if (job && strncmp (tag, "why ", 4) == 0)
        s_on_why (self, job, out);
    else if (strncmp (tag, "stray ", 6) == 0 && !streq (status, "0"))
        hpt_log_warning ("scancel %s failed (%s): %.400s", space + 1, status, err);
}

static int
s_on_runner (zloop_t *loop, zsock_t *reader, void *arg)
{
    hpt_core_t *self = arg;
    char *tag = NULL, *status = NULL, *out = NULL, *err = NULL;
    if (zstr_recvx (reader, &tag, &status, &out, &err, NULL) < 0) return 0;
    int64_t start = hpt_core_wake (self);
    hpt_log_debug ("slurm: %s answered %s", tag, status);
    if (self->slurm_in_flight) self->slurm_in_flight--;
    //  The command is over whatever happens to its answer: a reply the
    //  store cannot take now is lost, and the poll finds the job again.
    const char *space = strchr (tag, ' ');
    hpt_slurm_job_t *job = space ? zhashx_lookup (self->slurm_jobs, space + 1) : NULL;
    if (job) job->busy = false;
    if (streq (tag, "poll")) self->slurm_polling = false;
    if (streq (tag, "sinfo")) self->slurm_sizing = false;
    if (hpt_core_begin (self) == 0) {
        s_on_reply (self, tag, status, out, err);
        hpt_slurm_sweep (self);
        hpt_core_schedule (self);
        hpt_core_commit (self);
    }
    hpt_core_busy (self, start, "a Slurm command's answer");
    zstr_free (&tag);
    zstr_free (&status);
    zstr_free (&out);
    zstr_free (&err);
    return 0;
}

static int
s_on_poll_timer (zloop_t *loop, int timer_id, void *arg)
{
    hpt_core_t *self = arg;
    int64_t start = hpt_core_wake (self);
    for (hpt_slurm_job_t *job = zhashx_first (self->slurm_jobs); job;
         job = zhashx_next (self->slurm_jobs))
        if (job->recheck && !job->busy) s_ask_why (self, job);
    //  The partition's nodes, every minute (what submissions are checked
    //  against).
    if (!self->slurm_sizing && hpt_core_now () - self->slurm_sized_at > S_SIZE_MS) s_size (self);
    if (!self->slurm_polling && zhashx_size (self->slurm_jobs) > 0) {
        const char *argv[] = {"squeue", "--me", "--noheader", "--format=%i|%j|%T|%r", NULL};
        self->slurm_polling = true;
        s_request (self, "poll", NULL, argv);
    }
    hpt_core_busy (self, start, "the Slurm poll");
    return 0;
}

//  ---------------------------------------------------------------------
//  Start and stop

//  Where compute nodes reach the master: slurm.master, else
//  master.agents with a wildcard host replaced by this host's name.
static char *
s_master_endpoint (hpt_core_t *self)
{
    if (self->slurm->master) return hpt_strdup (self->slurm->master);
    const char *agents = self->agents_endpoint ? self->agents_endpoint : self->settings->agents;
    const char *rest = NULL;
    if (strncmp (agents, "tcp://*:", 8) == 0) rest = agents + 7;
    if (strncmp (agents, "tcp://0.0.0.0:", 14) == 0) rest = agents + 13;
    if (!rest) return hpt_strdup (agents);
    char host[256] = "localhost";
    gethostname (host, sizeof (host) - 1);
    return hpt_asprintf ("tcp://%s%s", host, rest);
}

int
hpt_slurm_start (hpt_core_t *self, hpt_error_t *error)
{
    const hpt_slurm_settings_t *s = hpt_cluster_config_slurm (self->config);
    if (!s->present) return 0;
    self->slurm = s;
    self->slurm_jobs = zhashx_new ();
    zhashx_set_destructor (self->slurm_jobs, s_job_free);
    self->slurm_outbox = zlistx_new ();
    char real[4096];
    const char *dir = realpath (self->settings->state_dir, real) ? real : self->settings->state_dir;
    uint64_t hash = 1469598103934665603ULL;
    for (const unsigned char *c = (const unsigned char *)dir; *c; c++)
        hash = (hash ^ *c) * 1099511628211ULL;
    self->slurm_prefix = hpt_asprintf ("hpt-%08x-", (unsigned)(hash & 0xffffffffu));
    self->slurm_master = s_master_endpoint (self);
    if (s_load (self, error)) return -1;
    self->slurm_runner = zactor_new (hpt_slurm_runner_actor, NULL);
    zloop_reader (self->loop, zactor_sock (self->slurm_runner), s_on_runner, self);
    zloop_timer (self->loop, (size_t)s->poll_ms, 0, s_on_poll_timer, self);
    s_size (self);
    //  Rows stored before a restart whose sbatch never answered: cancel
    //  by name whatever it made, then the trial runs again.
    if (hpt_core_begin (self) == 0) {
        for (hpt_slurm_job_t *job = zhashx_first (self->slurm_jobs); job;
             job = zhashx_next (self->slurm_jobs))
            if (!job->slurm_id) {
                job->state = HPT_SLURM_ENDING;
                s_job_store (self, job);
            }
        hpt_slurm_sweep (self);
        hpt_core_commit (self);
    }
    return 0;
}

void
hpt_slurm_stop (hpt_core_t *self)
{
    zactor_destroy (&self->slurm_runner);
    zhashx_destroy (&self->slurm_jobs);
    if (self->slurm_outbox) {
        for (zmsg_t *msg = zlistx_first (self->slurm_outbox); msg;
             msg = zlistx_next (self->slurm_outbox))
            zmsg_destroy (&msg);
        zlistx_destroy (&self->slurm_outbox);
    }
    free (self->slurm_prefix);
    free (self->slurm_master);
    free (self->slurm_master_key);
    self->slurm_prefix = self->slurm_master = self->slurm_master_key = NULL;
}

/*  hpt_core_reload -- SIGHUP: the master reads cluster.yaml again

    `systemctl reload hptmaster` (ExecReload sends SIGHUP) makes the core,
    at its next heartbeat round, read the file it was started with:

    - a file with problems changes nothing: each problem is logged as
      FILE:LINE:COL: field: message, counted as a refused reload
      (hpt_config_reloads_total{result="refused"}), and the running
      configuration stays;
    - settings that need a restart (the agents endpoint, the API's
      address, socket and TLS files, stateDir, the CURVE keys' paths,
      insecure) keep their running values, and each one the file changed
      is named in a warning ("master.api changed: it needs a restart;
      keeping 127.0.0.1:7470"): hpt_cluster_config_keep_fixed;
    - everything else takes effect at once: machine types and scale tiers
      for jobs submitted from now on (a job keeps the cluster it was
      given), heartbeatInterval (the timer is re-armed; agents learn it at
      their next registration), agentTimeout, stopGracePeriod,
      agentLostPolicy, seed (for new jobs), maxAgents,
      apiRequestsPerSecond and apiHostNames.
    The admitted agent keys (agentCerts) are re-read on the same signal
    (hpt_admission); API users live in the store and change at once with
    `hptmaster users` or the API, so they need no reload.

    The service manager hears RELOADING=1 and then READY=1 (hpt_notify),
    so `systemctl reload` returns once the reload is done.
*/
#include "hpt_core_private.h"
#include "hpt_alloc.h"
#include "hpt_log.h"
#include "hpt_notify.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Logs every problem of a refused file.
static void
s_log_problems (hpt_diag_t *diag)
{
    for (size_t i = 0; i < hpt_diag_count (diag); i++) {
        char *text = hpt_diag_format (diag, i);
        hpt_log_error ("reload refused: %s", text);
        free (text);
    }
}

void
hpt_core_reload_config (hpt_core_t *self)
{
    if (!self->config_path) return;
    hpt_notify ("RELOADING=1\nSTATUS=reloading cluster.yaml");
    hpt_diag_t *diag = hpt_diag_new (self->config_path, false);
    hpt_cluster_config_t *next = hpt_cluster_config_read_file (self->config_path, diag);
    if (!next) {
        s_log_problems (diag);
        hpt_log_error ("reload of %s refused (%zu problems): the running configuration stays",
                       self->config_path, hpt_diag_count (diag));
        hpt_diag_destroy (&diag);
        hpt_master_metrics_reload (self->metrics, false);
        hpt_notify ("READY=1\nSTATUS=reload refused; running configuration kept");
        return;
    }
    hpt_diag_destroy (&diag);
    char *kept = hpt_cluster_config_keep_fixed (next, self->config);
    if (kept)
        hpt_log_warning ("reload: %s changed in %s but take effect only at a restart; the "
                         "running values stay until then",
                         kept, self->config_path);
    free (kept);
    int64_t old_interval = self->settings->heartbeat_interval_ms;
    //  The configuration main() gave is borrowed; a reloaded one is ours.
    hpt_cluster_config_t *previous = self->reloaded;
    self->reloaded = next;
    self->config = next;
    self->settings = hpt_cluster_config_master (next);
    hpt_cluster_config_destroy (&previous);
    if (self->settings->heartbeat_interval_ms != old_interval) hpt_core_arm_heartbeat (self);
    hpt_master_metrics_reload (self->metrics, true);
    hpt_log_info ("reloaded %s: machine types, scale tiers, timing, agentLostPolicy, seed, "
                  "maxAgents and API limits in force",
                  self->config_path);
    hpt_notify ("READY=1\nSTATUS=serving");
}

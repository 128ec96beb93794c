/*  hpt_master_metrics -- what the master shows on /metrics, and the one
    place that renders it

    The master's counters and histograms live in one hpt_prom registry
    owned by this object; the core, its agent link and the API thread
    count into it through the functions below, named for the events they
    record. Gauges of the current state (jobs and trials by state, nodes
    with their capacity and reservations, the store's health, build info)
    are computed from the core at scrape time. hpt_master_metrics_render
    writes both: every metric name of the master is declared in
    hpt_master_metrics.c, and the list in docs/operations.md is checked
    against a live /metrics by tests/integration/test_ops_metrics.py.

    Thread safety: hpt_master_metrics_api_request is called from the
    HTTP thread, everything else from the core's loop; the registry's
    mutex orders them.
*/
#ifndef HPT_MASTER_METRICS_H_INCLUDED
#define HPT_MASTER_METRICS_H_INCLUDED

#include "hpt_prom.h"
#include "hpt_tuner.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct _hpt_master_metrics_t hpt_master_metrics_t;
typedef struct _hpt_core_t hpt_core_t;

//  Creates the master's metrics (the caller owns them).
hpt_master_metrics_t *hpt_master_metrics_new (void);

//  Destroys them and nulls the pointer.
void hpt_master_metrics_destroy (hpt_master_metrics_t **self_p);

//  The tuner hooks that count trial transitions and suggestion
//  latencies into self (hand them to every tuner).
hpt_tuner_hooks_t hpt_master_metrics_tuner_hooks (hpt_master_metrics_t *self);

//  A store commit took seconds; ok: it committed.
void hpt_master_metrics_commit (hpt_master_metrics_t *self, double seconds, bool ok);

//  An agent frame (a heartbeat, or another) waited at most seconds
//  between its arrival and its handling (hpt_core.c, "Frames' wait").
void hpt_master_metrics_frame_wait (hpt_master_metrics_t *self, double seconds, bool heartbeat);

//  An agent event (kind: "task_started", "task_exited", "metrics",
//  "logs") arrived and was stored, recognised as a replay, or dropped
//  (outcome: "stored", "replayed", "dropped").
void hpt_master_metrics_agent_event (hpt_master_metrics_t *self, const char *kind,
                                     const char *outcome);

//  An API request was answered: method, path (reduced here to its route
//  template, so job names never become labels), HTTP status and how long
//  it took from its last byte to the answer being queued. Thread-safe.
void hpt_master_metrics_api_request (hpt_master_metrics_t *self, const char *method,
                                     const char *path, int status, double seconds);

//  A SIGHUP reload: ok (applied) or refused (the file had problems).
void hpt_master_metrics_reload (hpt_master_metrics_t *self, bool ok);

//  A HELLO was refused with REJECT; reason: fd_limit, too_many_agents,
//  not_admitted, name_mismatch, name_in_use, resources_too_large,
//  store_unavailable, bad_resources or protocol.
void hpt_master_metrics_agent_refused (hpt_master_metrics_t *self, const char *reason);

//  The route template of path: "/v1/projects/{project}/jobs/{job}" and
//  the like; "other" for paths the API does not have.
const char *hpt_master_metrics_route (const char *path);

//  Renders every metric of the master, the core's state included, as
//  Prometheus text (caller frees).
char *hpt_master_metrics_render (hpt_master_metrics_t *self, hpt_core_t *core);

//  The registry (borrowed): for tests.
hpt_prom_t *hpt_master_metrics_registry (hpt_master_metrics_t *self);

#endif

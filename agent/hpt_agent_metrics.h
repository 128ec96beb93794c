/*  hpt_agent_metrics -- the agent's own /metrics (hptagent --metrics-listen)

    An agent serves Prometheus text on GET /metrics of HOST:PORT when
    started with --metrics-listen HOST:PORT (HOST an IPv4 address;
    127.0.0.1 to keep it on the host, 0.0.0.0 for a Prometheus elsewhere;
    port 0 picks a free one). The agent's loop counts into an hpt_prom
    registry owned here; a libmicrohttpd thread renders it on request
    (hpt_prom is thread-safe), so a scrape never waits for the loop and
    the loop never waits for a scrape. Only GET /metrics is answered
    (anything else is 404 or 405); at most 16 connections, 10 s each.

    Metrics (docs/operations.md lists them with the master's):
    hpt_agent_build_info{version}, hpt_agent_registered (1 while the
    master has welcomed it), hpt_agent_spool_events (events not yet
    acknowledged by the master), hpt_agent_tasks_running,
    hpt_agent_spooled_events_total{kind},
    hpt_agent_task_launch_seconds (LAUNCH received to the process
    started, fetching packages and pulling images included) and
    hpt_agent_task_launch_failures_total.
*/
#ifndef HPT_AGENT_METRICS_H_INCLUDED
#define HPT_AGENT_METRICS_H_INCLUDED

#include "hpt_error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _hpt_agent_metrics_t hpt_agent_metrics_t;

//  Starts serving on listen ("HOST:PORT"). NULL with *error when listen
//  is malformed (HPT_E_INVALID, naming --metrics-listen) or the port
//  cannot be bound (HPT_E_UNAVAILABLE).
hpt_agent_metrics_t *hpt_agent_metrics_new (const char *listen, hpt_error_t *error);

//  Stops serving, frees everything, nulls the pointer.
void hpt_agent_metrics_destroy (hpt_agent_metrics_t **self_p);

//  The bound TCP port.
uint16_t hpt_agent_metrics_port (hpt_agent_metrics_t *self);

//  The loop's state now: registered, unacknowledged events, running tasks.
void hpt_agent_metrics_state (hpt_agent_metrics_t *self, bool registered, size_t spooled,
                              size_t running);

//  An event of kind (the message name, e.g. "TASK_STARTED") was spooled.
void hpt_agent_metrics_event (hpt_agent_metrics_t *self, const char *kind);

//  A launch ended: started (ok) or refused, seconds after its LAUNCH.
void hpt_agent_metrics_launch (hpt_agent_metrics_t *self, double seconds, bool ok);

#endif

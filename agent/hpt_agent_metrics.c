/*  hpt_agent_metrics -- the agent's /metrics (see hpt_agent_metrics.h)

    The HTTP side is libmicrohttpd with its own polling thread; the
    handler answers from the registry alone. Gauges are set by the loop
    (hpt_agent_metrics_state, every tick), so a scrape sees the state of
    at most one tick ago.
*/
#include "hpt_agent_metrics.h"
#include "hpt_alloc.h"
#include "hpt_prom.h"
#include "hpt_version.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _hpt_agent_metrics_t {
    hpt_prom_t *registry;          //  everything served
    struct MHD_Daemon *daemon;     //  the HTTP server
    uint16_t port;                 //  bound port
    hpt_prom_family_t *registered; //  hpt_agent_registered
    hpt_prom_family_t *spooled;    //  hpt_agent_spool_events
    hpt_prom_family_t *running;    //  hpt_agent_tasks_running
    hpt_prom_family_t *events;     //  hpt_agent_spooled_events_total{kind}
    hpt_prom_family_t *launch;     //  hpt_agent_task_launch_seconds
    hpt_prom_family_t *failures;   //  hpt_agent_task_launch_failures_total
};

static void
s_declare (hpt_agent_metrics_t *self)
{
    hpt_prom_t *r = self->registry;
    hpt_prom_set (hpt_prom_gauge (r, "hpt_agent_build_info",
                                  "1, labelled with the version of this hptagent.", "version"),
                  1, HPT_VERSION);
    self->registered = hpt_prom_gauge (r, "hpt_agent_registered",
                                       "1 while the master has welcomed this agent.", NULL);
    self->spooled = hpt_prom_gauge (r, "hpt_agent_spool_events",
                                    "Events spooled and not yet acknowledged by the master.", NULL);
    self->running =
        hpt_prom_gauge (r, "hpt_agent_tasks_running", "Tasks started and not yet exited.", NULL);
    self->events = hpt_prom_counter (r, "hpt_agent_spooled_events_total",
                                     "Events spooled for the master, by kind.", "kind");
    self->launch = hpt_prom_histogram (
        r, "hpt_agent_task_launch_seconds",
        "Time from a LAUNCH to its process started (fetches and image pulls included).", NULL,
        hpt_prom_latency_buckets, hpt_prom_latency_bucket_count);
    self->failures = hpt_prom_counter (r, "hpt_agent_task_launch_failures_total",
                                       "LAUNCHes refused or failed before a process ran.", NULL);
    hpt_prom_set (self->registered, 0);
    hpt_prom_set (self->spooled, 0);
    hpt_prom_set (self->running, 0);
    hpt_prom_touch (self->failures);
}

static enum MHD_Result
s_reply (struct MHD_Connection *connection, unsigned int status, const char *type, char *text)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer (strlen (text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type", type);
    enum MHD_Result result = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return result;
}

static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_size, void **state)
{
    hpt_agent_metrics_t *self = cls;
    //  A body, if any, is ignored: read it through.
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp (url, "/metrics") != 0)
        return s_reply (connection, 404, "text/plain", hpt_strdup ("only /metrics is here\n"));
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
        return s_reply (connection, 405, "text/plain", hpt_strdup ("GET /metrics\n"));
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    hpt_prom_render (self->registry, out);
    fclose (out);
    return s_reply (connection, 200, "text/plain; version=0.0.4", text);
}

//  "A.B.C.D:PORT" into address; -1 with *error.
static int
s_parse (const char *listen, struct sockaddr_in *address, hpt_error_t *error)
{
    const char *colon = listen ? strrchr (listen, ':') : NULL;
    char host[64];
    char *end = NULL;
    long port = colon ? strtol (colon + 1, &end, 10) : -1;
    if (!colon || (size_t)(colon - listen) >= sizeof (host) || colon == listen || !*(colon + 1) ||
        *end || port < 0 || port > 65535)
        return hpt_error_set (error, HPT_E_INVALID,
                              "--metrics-listen '%s': expected IPV4ADDRESS:PORT, e.g. "
                              "127.0.0.1:7480",
                              listen ? listen : "");
    memcpy (host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    *address = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons ((uint16_t)port)};
    if (inet_pton (AF_INET, host, &address->sin_addr) != 1)
        return hpt_error_set (error, HPT_E_INVALID,
                              "--metrics-listen '%s': '%s' is not an IPv4 address", listen, host);
    //  The port has no authentication, so it serves this host only; a
    //  Prometheus elsewhere scrapes it through a local agent or proxy that
    //  has its own (docs/operations.md).
    if ((ntohl (address->sin_addr.s_addr) >> 24) != 127)
        return hpt_error_set (error, HPT_E_INVALID,
                              "--metrics-listen '%s': give a loopback address (127.x.x.x): the "
                              "agent's /metrics has no authentication",
                              listen);
    return 0;
}

hpt_agent_metrics_t *
hpt_agent_metrics_new (const char *listen, hpt_error_t *error)
{
    struct sockaddr_in address;
    if (s_parse (listen, &address, error)) return NULL;
    hpt_agent_metrics_t *self = hpt_calloc (1, sizeof (hpt_agent_metrics_t));
    self->registry = hpt_prom_new ();
    s_declare (self);
    self->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, ntohs (address.sin_port), NULL, NULL,
        s_handle, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)10, MHD_OPTION_END);
    if (!self->daemon) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "--metrics-listen %s: cannot listen there",
                       listen);
        hpt_agent_metrics_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : ntohs (address.sin_port);
    return self;
}

void
hpt_agent_metrics_destroy (hpt_agent_metrics_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_agent_metrics_t *self = *self_p;
    if (self->daemon) MHD_stop_daemon (self->daemon);
    hpt_prom_destroy (&self->registry);
    free (self);
    *self_p = NULL;
}

uint16_t
hpt_agent_metrics_port (hpt_agent_metrics_t *self)
{
    return self->port;
}

void
hpt_agent_metrics_state (hpt_agent_metrics_t *self, bool registered, size_t spooled, size_t running)
{
    hpt_prom_set (self->registered, registered ? 1 : 0);
    hpt_prom_set (self->spooled, (double)spooled);
    hpt_prom_set (self->running, (double)running);
}

void
hpt_agent_metrics_event (hpt_agent_metrics_t *self, const char *kind)
{
    hpt_prom_add (self->events, 1, kind);
}

void
hpt_agent_metrics_launch (hpt_agent_metrics_t *self, double seconds, bool ok)
{
    if (ok)
        hpt_prom_observe (self->launch, seconds);
    else
        hpt_prom_add (self->failures, 1);
}

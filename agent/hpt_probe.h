/*  hpt_probe -- what listens at the master endpoint an agent cannot reach

    An agent that does not get registered says why when it can. ZeroMQ
    reconnects silently, so the agent asks the endpoint itself, once per
    wait, in an actor thread (the probe blocks for up to a few seconds and
    the agent's loop must not):

    - connect a plain TCP socket (1 s): refused or unreachable is "nothing
      listens there";
    - read (1 s): a ZeroMQ peer speaks first, its greeting starting with
      0xFF: "zmtp", a ZeroMQ endpoint (the master, or another program);
    - when it stays silent, send an HTTP request line and read (1 s): an
      answer starting "HTTP/" is an HTTP server, typically the master's
      REST API (master.api) given where master.agents belongs.

    Only tcp:// endpoints are probed. At most 64 bytes are read. The probe
    disturbs a ZeroMQ peer only by a connection closed in its handshake.
*/
#ifndef HPT_PROBE_H_INCLUDED
#define HPT_PROBE_H_INCLUDED

#include <czmq.h>

//  What the probe found.
typedef enum {
    HPT_PROBE_ZMTP,     //  a ZeroMQ peer
    HPT_PROBE_HTTP,     //  an HTTP server
    HPT_PROBE_REFUSED,  //  nothing listens (refused, unreachable, no such host)
    HPT_PROBE_SILENT,   //  something accepted and said nothing we know
    HPT_PROBE_UNPROBED, //  not a tcp:// endpoint
} hpt_probe_result_t;

//  Probes endpoint (tcp://HOST:PORT, IPv6 hosts in brackets), blocking for
//  up to about 3 s plus name resolution.
hpt_probe_result_t hpt_probe_endpoint (const char *endpoint);

//  The probe as an actor: zactor_new (hpt_probe_actor, (void *)endpoint),
//  endpoint borrowed until the actor has signalled it started. It sends
//  one message, the hpt_probe_result_t as a decimal string, then waits for
//  $TERM.
void hpt_probe_actor (zsock_t *pipe, void *endpoint);

//  What the result means for an agent whose --master is endpoint, for its
//  log (caller owns), or NULL when there is nothing to add (a ZeroMQ peer,
//  or not probed).
char *hpt_probe_advice (hpt_probe_result_t result, const char *endpoint);

#endif

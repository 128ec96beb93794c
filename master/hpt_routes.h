/*  hpt_routes -- the master's REST API (AI Platform's paths)

    The core hands every request from the HTTP thread to
    hpt_routes_handle, which answers it exactly once:

      POST /v1/projects/{p}/jobs                  submit (body: Job JSON)
      GET  /v1/projects/{p}/jobs[?filter=EXPR]    list; EXPR: state=S,
                                                  jobId=PREFIX*, joined by AND
      GET  /v1/projects/{p}/jobs/{j}              the Job resource (cached per
                                                  version of the job)
      POST /v1/projects/{p}/jobs/{j}:cancel       cancel
      GET  /v1/projects/{p}/jobs/{j}/logs?after=N[&trial=T]
                                                  log entries after offset N
      GET  /v1/projects/{p}/jobs/{j}/trials/{t}/metrics[?tag=TAG]
                                                  every point of a trial (hpt)
      GET  /v1/projects/{p}/jobs/{j}/trials/{t}/metrics:tags
                                                  the tags it reported (hpt)
      GET  /v1/nodes, /v1/nodes/{n}               agents
      POST /v1/nodes/{n}:drain (body {reason, now, by}), /v1/nodes/{n}:undrain
      GET  /metrics                               Prometheus text format

    The lists (jobs, nodes, a trial's metrics) page as Google's do:
    pageSize and pageToken in, nextPageToken out (hpt_page.h), each page
    a keyset read that costs what it returns.

    Errors use Google's shape (hpt_api_error_json); invalid jobs get 400
    INVALID_ARGUMENT with every violation as a fieldViolation whose field
    is a JSON pointer into the request body.
*/
#ifndef HPT_ROUTES_H_INCLUDED
#define HPT_ROUTES_H_INCLUDED

#include "hpt_api.h"
#include "hpt_core.h"

//  Answers request (borrowed) on router.
void hpt_routes_handle (hpt_core_t *core, zsock_t *router, hpt_api_request_t *request);

#endif

/*  hpt_suggester -- the optimizer off the master's loop

    A Bayesian suggestion costs tens to hundreds of milliseconds once a
    job has many results and trials in flight; computed in the core's
    loop, it held agents' heartbeats, the API and the timers meanwhile.
    So suggestions are computed here, in an actor thread: the core sends
    a request on the actor's pipe and reads the answer in its loop (a
    zloop reader), as one event in a transaction of its own
    (docs/optimizer.md "Suggestions off the loop").

    A request is a snapshot: the job's space (a copy) and its optimizer's
    history and settings (hpt_optimizer_history), with how many
    suggestions are wanted. The actor never sees the core's memory, so
    the answer is a function of the snapshot alone: the same seed and
    history give the same suggestions whatever the threads' timing, and
    hpt_suggest_compute (the same computation, in the caller's thread)
    gives what the actor would have.

    The actor keeps the optimizers of the jobs it served last (at most
    S_CACHE_JOBS, least recently used dropped), each with the history of
    its latest request replaced by the next one's: only so that a GP fit,
    which depends on the history alone, is not redone. Dropping one
    changes no answer, only its cost; the core has a finished job's
    optimizer dropped at once (hpt_suggester_forget), so the cache holds
    the models of running jobs and not up to S_CACHE_JOBS dead ones.

    Requests and answers are passed as pointers over the inproc pipe;
    ownership passes with them. Invariants: one request is computed at a
    time, in the order sent; every request gets exactly one answer; no
    request or answer is leaked when the actor is destroyed.
*/
#ifndef HPT_SUGGESTER_H_INCLUDED
#define HPT_SUGGESTER_H_INCLUDED

#include "hpt_optimizer.h"
#include "hpt_space.h"
#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

//  What a job asks for.
typedef struct {
    char *job_id;                     //  the job (owned)
    uint64_t id;                      //  the job's request number, carried back in the answer
    hpt_space_t *space;               //  a copy of the job's space (owned)
    hpt_optimizer_history_t *history; //  the snapshot the suggestions come from (owned)
    size_t count;                     //  suggestions wanted (>= 1)
} hpt_suggest_request_t;

//  What it gets.
typedef struct {
    char *job_id;   //  the job (owned)
    uint64_t id;    //  the request's number
    size_t asked;   //  suggestions wanted
    size_t count;   //  suggestions made: fewer than asked only when the space is used up
    size_t dim;     //  values per suggestion
    double *values; //  count x dim, row-major, the optimizer's convention (owned)
    double seconds; //  how long the computation took
} hpt_suggest_answer_t;

typedef struct _hpt_suggester_t hpt_suggester_t;

//  Destroys a request or an answer and nulls the pointer.
void hpt_suggest_request_destroy (hpt_suggest_request_t **self_p);
void hpt_suggest_answer_destroy (hpt_suggest_answer_t **self_p);

//  Computes the answer to request in the caller's thread, from a fresh
//  optimizer: exactly what the actor answers. Caller owns the answer.
hpt_suggest_answer_t *hpt_suggest_compute (const hpt_suggest_request_t *request);

//  Starts the actor thread.
hpt_suggester_t *hpt_suggester_new (void);

//  Stops the actor (after the request it is computing, if any) and frees
//  what is still queued either way; nulls the pointer.
void hpt_suggester_destroy (hpt_suggester_t **self_p);

//  The socket to poll for answers (a zloop reader).
zsock_t *hpt_suggester_sock (hpt_suggester_t *self);

//  Queues a request (taken; *request_p is nulled). 0, or -1 when it could
//  not be sent (the request is then destroyed).
int hpt_suggester_ask (hpt_suggester_t *self, hpt_suggest_request_t **request_p);

//  Has the actor drop job_id's optimizer (after the requests already
//  queued); a job it does not hold is no error.
void hpt_suggester_forget (hpt_suggester_t *self, const char *job_id);

//  How many jobs' optimizers the actor holds, as of the last message it
//  handled (for /metrics).
size_t hpt_suggester_models (hpt_suggester_t *self);

//  The next answer (caller owns), or NULL when none is waiting (it never
//  blocks).
hpt_suggest_answer_t *hpt_suggester_recv (hpt_suggester_t *self);

#endif

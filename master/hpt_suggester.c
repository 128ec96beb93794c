/*  hpt_suggester -- the optimizer off the master's loop (see the header)

    The actor's loop: receive ("ASK", request) from the pipe, compute the
    answer from the job's cached optimizer (its history replaced by the
    request's snapshot) or a new one, send ("ANSWER", answer) back; on
    ("FORGET", job id) drop that job's optimizer. After each message it
    publishes how many optimizers it holds (an atomic the owner reads).
    Destroying: the owner raises the stopping flag, so requests still
    queued are freed unanswered, sends "STOP", and reads the pipe until
    the actor's "STOPPED", freeing answers it had not read; then the
    usual $TERM ends the thread.
*/
#include "hpt_suggester.h"
#include "hpt_alloc.h"
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

//  How much nicer than the master the suggester thread runs.
#define S_NICE 10

//  Jobs whose optimizer (and so GP fit) the actor keeps between requests.
#define S_CACHE_JOBS 16

//  One job's optimizer, kept between its requests.
typedef struct {
    char *job_id;               //  the job, NULL for a free slot
    hpt_space_t *space;         //  the space the optimizer borrows (owned)
    hpt_optimizer_t *optimizer; //  its latest history, its caches (owned)
    uint64_t used;              //  when it was last used (the actor's request counter)
} s_entry_t;

//  What the owner and the actor share.
typedef struct {
    atomic_bool stopping; //  the owner is destroying the actor: drop requests
    atomic_size_t models; //  optimizers the actor holds, as of its last message
} s_shared_t;

struct _hpt_suggester_t {
    zactor_t *actor;    //  the thread
    s_shared_t *shared; //  owned; the thread is gone before it is freed
};

void
hpt_suggest_request_destroy (hpt_suggest_request_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_suggest_request_t *self = *self_p;
    free (self->job_id);
    hpt_space_destroy (&self->space);
    hpt_optimizer_history_destroy (&self->history);
    free (self);
    *self_p = NULL;
}

void
hpt_suggest_answer_destroy (hpt_suggest_answer_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_suggest_answer_t *self = *self_p;
    free (self->job_id);
    free (self->values);
    free (self);
    *self_p = NULL;
}

//  The answer to request from optimizer (which holds the request's
//  history; NULL: no suggestion), dim values per suggestion.
static hpt_suggest_answer_t *
s_run (hpt_optimizer_t *optimizer, const hpt_suggest_request_t *request, size_t dim)
{
    hpt_suggest_answer_t *answer = hpt_calloc (1, sizeof (hpt_suggest_answer_t));
    answer->job_id = hpt_strdup (request->job_id);
    answer->id = request->id;
    answer->asked = request->count;
    answer->dim = dim;
    answer->values = hpt_calloc (request->count * answer->dim + 1, sizeof (double));
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    if (optimizer)
        answer->count = hpt_optimizer_suggest (optimizer, request->count, answer->values);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    answer->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return answer;
}

hpt_suggest_answer_t *
hpt_suggest_compute (const hpt_suggest_request_t *request)
{
    hpt_optimizer_t *optimizer = hpt_optimizer_new_from (request->space, request->history);
    size_t dim = request->space ? hpt_space_size (request->space) : 0;
    hpt_suggest_answer_t *answer = s_run (optimizer, request, dim);
    hpt_optimizer_destroy (&optimizer);
    return answer;
}

//  ---------------------------------------------------------------------
//  The actor

static void
s_entry_clear (s_entry_t *entry)
{
    free (entry->job_id);
    hpt_optimizer_destroy (&entry->optimizer);
    hpt_space_destroy (&entry->space);
    memset (entry, 0, sizeof *entry);
}

//  The cache entry of request's job holding request's history: the job's
//  own when its settings match, else a new one (taking the request's
//  space) in a free slot or in place of the least recently used.
static s_entry_t *
s_entry_for (s_entry_t *cache, hpt_suggest_request_t *request, uint64_t now)
{
    s_entry_t *slot = &cache[0];
    for (size_t i = 0; i < S_CACHE_JOBS; i++) {
        s_entry_t *entry = &cache[i];
        if (entry->job_id && strcmp (entry->job_id, request->job_id) == 0) {
            if (hpt_optimizer_set_history (entry->optimizer, request->history)) {
                entry->used = now;
                return entry;
            }
            slot = entry; //  other settings: start again in its place
            break;
        }
        if (!entry->job_id || (slot->job_id && entry->used < slot->used)) slot = entry;
    }
    s_entry_clear (slot);
    slot->optimizer = hpt_optimizer_new_from (request->space, request->history);
    if (!slot->optimizer) return NULL;
    slot->job_id = hpt_strdup (request->job_id);
    slot->space = request->space;
    request->space = NULL;
    slot->used = now;
    return slot;
}

static size_t
s_held (const s_entry_t *cache)
{
    size_t held = 0;
    for (size_t i = 0; i < S_CACHE_JOBS; i++)
        held += cache[i].job_id != NULL;
    return held;
}

//  Answers one request (taken). The count of optimizers held is
//  published before the answer goes, so whoever reads an answer reads
//  a count that includes every message before its request.
static void
s_serve (zsock_t *pipe, s_shared_t *shared, s_entry_t *cache, hpt_suggest_request_t *request,
         uint64_t now)
{
    size_t dim = request->space ? hpt_space_size (request->space) : 0;
    s_entry_t *entry = request->space ? s_entry_for (cache, request, now) : NULL;
    hpt_suggest_answer_t *answer = s_run (entry ? entry->optimizer : NULL, request, dim);
    hpt_suggest_request_destroy (&request);
    atomic_store (&shared->models, s_held (cache));
    if (zsock_send (pipe, "sp", "ANSWER", answer) != 0) hpt_suggest_answer_destroy (&answer);
}

//  Drops job_id's optimizer, if the cache holds it.
static void
s_forget (s_entry_t *cache, const char *job_id)
{
    for (size_t i = 0; job_id && i < S_CACHE_JOBS; i++)
        if (cache[i].job_id && strcmp (cache[i].job_id, job_id) == 0) s_entry_clear (&cache[i]);
}

static void
s_actor (zsock_t *pipe, void *args)
{
    s_shared_t *shared = args;
    s_entry_t cache[S_CACHE_JOBS];
    memset (cache, 0, sizeof cache);
    uint64_t served = 0;
    //  Linux applies a thread id's nice value to that thread alone. Where
    //  it cannot be raised the thread simply keeps the master's priority.
    pid_t tid = (pid_t)syscall (SYS_gettid);
    int nice = getpriority (PRIO_PROCESS, (id_t)tid) + S_NICE;
    (void)setpriority (PRIO_PROCESS, (id_t)tid, nice > 19 ? 19 : nice);
    zsock_signal (pipe, 0);
    while (true) {
        char *command = NULL;
        void *pointer = NULL;
        if (zsock_recv (pipe, "sp", &command, &pointer) != 0) break;
        bool term = command && streq (command, "$TERM");
        if (command && streq (command, "ASK")) {
            hpt_suggest_request_t *request = pointer;
            if (atomic_load (&shared->stopping))
                hpt_suggest_request_destroy (&request);
            else
                s_serve (pipe, shared, cache, request, ++served);
        } else if (command && streq (command, "FORGET")) {
            char *job_id = pointer;
            s_forget (cache, job_id);
            free (job_id);
            atomic_store (&shared->models, s_held (cache));
        } else if (command && streq (command, "STOP"))
            zsock_send (pipe, "sp", "STOPPED", NULL);
        zstr_free (&command);
        if (term) break;
    }
    for (size_t i = 0; i < S_CACHE_JOBS; i++)
        s_entry_clear (&cache[i]);
}

hpt_suggester_t *
hpt_suggester_new (void)
{
    hpt_suggester_t *self = hpt_calloc (1, sizeof (hpt_suggester_t));
    self->shared = hpt_calloc (1, sizeof (s_shared_t));
    atomic_init (&self->shared->stopping, false);
    atomic_init (&self->shared->models, 0);
    self->actor = zactor_new (s_actor, self->shared);
    return self;
}

void
hpt_suggester_destroy (hpt_suggester_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_suggester_t *self = *self_p;
    atomic_store (&self->shared->stopping, true);
    if (zsock_send (self->actor, "sp", "STOP", NULL) == 0)
        while (true) {
            char *command = NULL;
            void *pointer = NULL;
            if (zsock_recv (self->actor, "sp", &command, &pointer) != 0) break;
            bool stopped = command && streq (command, "STOPPED");
            if (command && streq (command, "ANSWER")) {
                hpt_suggest_answer_t *answer = pointer;
                hpt_suggest_answer_destroy (&answer);
            }
            zstr_free (&command);
            if (stopped) break;
        }
    zactor_destroy (&self->actor);
    free (self->shared);
    free (self);
    *self_p = NULL;
}

zsock_t *
hpt_suggester_sock (hpt_suggester_t *self)
{
    return zactor_sock (self->actor);
}

int
hpt_suggester_ask (hpt_suggester_t *self, hpt_suggest_request_t **request_p)
{
    if (zsock_send (self->actor, "sp", "ASK", *request_p) == 0) {
        *request_p = NULL;
        return 0;
    }
    hpt_suggest_request_destroy (request_p);
    return -1;
}

void
hpt_suggester_forget (hpt_suggester_t *self, const char *job_id)
{
    char *copy = hpt_strdup (job_id);
    if (zsock_send (self->actor, "sp", "FORGET", copy) != 0) free (copy);
}

size_t
hpt_suggester_models (hpt_suggester_t *self)
{
    return atomic_load (&self->shared->models);
}

hpt_suggest_answer_t *
hpt_suggester_recv (hpt_suggester_t *self)
{
    //  Never blocks: the loop must not wait here should the message it
    //  was woken for be gone.
    if (!(zsock_events (self->actor) & ZMQ_POLLIN)) return NULL;
    char *command = NULL;
    void *pointer = NULL;
    if (zsock_recv (self->actor, "sp", &command, &pointer) != 0) return NULL;
    hpt_suggest_answer_t *answer = command && streq (command, "ANSWER") ? pointer : NULL;
    zstr_free (&command);
    return answer;
}

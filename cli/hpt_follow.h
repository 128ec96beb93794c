/*  hpt_follow -- follows a job's logs, and narrates what happens to it

    `hpt jobs stream-logs` and `hpt jobs submit --stream-logs` print every
    task's output as `[trial N REPLICA] text`, and between the log lines
    what a newcomer would otherwise have to find in `describe`:

        [hpt] job QUEUED: no agent has 1 free CPU (standard)
        [hpt] trial 1 started on gpu-2: learning_rate=0.01, units=64
        [trial 1 master-0] epoch 1 loss=0.5
        [hpt] trial 1 SUCCEEDED: objective 0.931 at step 100
        [hpt] trial 2 FAILED: master-0 exited with status 2
              last lines of its stderr:
                KeyError: 'DATA_DIR'
              its whole log: hpt jobs stream-logs JOB --trial 2
        [hpt] trial 3 stopped early: median rule: ...
        [hpt] job SUCCEEDED; best trial 1: objective 0.931 at step 100 (learning_rate=0.01,
   units=64)

    The narration comes from the Job resource, read at least every
    second (job state, queue reason, trials started), before the first
    log line of a trial not yet told (so its start comes first), and
    where the master's event about a trial's end comes in the log (so
    its early stop and end come after its last lines; the event itself
    is then not printed). The stderr tail of a trial that did not
    succeed is the last lines of its stderr this follower read (none
    when --task-name left its task out). The best trial is
    hpt_cli_best_trial's.

    Polling: each logs answer carries the entries after the cursor, the
    next cursor and the job's state. It asks again at once while entries
    come or the cursor moves, waits the polling interval when neither
    happened, and stops when the job is final and a poll brings nothing
    more and leaves the cursor where it was, so the last lines written
    before the job ended are never lost. A master that cannot be reached
    is retried (it may be restarting) for at most HPT_FOLLOW_GIVE_UP_MS of
    failed polls, timed by the clock; one that was never reached at all
    is given HPT_FOLLOW_FIRST_MS, so a wrong --master fails in seconds.
*/
#ifndef HPT_FOLLOW_H_INCLUDED
#define HPT_FOLLOW_H_INCLUDED

#include "hpt_client.h"
#include <stdbool.h>

#define HPT_FOLLOW_GIVE_UP_MS 30000
#define HPT_FOLLOW_FIRST_MS 10000

typedef struct {
    const char *trial;     //  only this trial's logs ("7"), or NULL
    const char *task_name; //  only this task's logs (master, master-replica-0, or a task id)
    bool multiline;        //  print each entry as one record, not line by line
    bool narrate;          //  print lifecycle events between log lines
    long interval_ms;      //  pause between polls that brought nothing
} hpt_follow_options_t;

//  Follows job until it is final. On success returns 0 with the final
//  state in *state_out (the caller frees it); 1 after an error was printed.
int hpt_follow_run (hpt_client_t *client, const char *project, const char *job,
                    const hpt_follow_options_t *options, char **state_out);

#endif

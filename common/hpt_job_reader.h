/*  hpt_job_reader -- reads and validates a job config (YAML or JSON)

    The one way into hpt_job_t. A YAML config (gcloud --config shape:
    trainingInput at the root, optionally jobId and labels) or a REST Job
    resource in JSON is loaded into an hpt_tree and walked against the
    schema of docs/job-config.md. Every violation goes into an hpt_diag with its
    field path and position; the reader returns a model only when there is
    none, so a caller never sees a partial job. Defaults are filled in
    (goal MAXIMIZE, hyperparameterMetricTag training/hptuning/metric,
    maxTrials 1, maxParallelTrials 1, maxFailedTrials 0, algorithm
    ALGORITHM_UNSPECIFIED, scaleTier BASIC), except the fields a resumed job
    inherits from the previous one when the config omits them.
*/
#ifndef HPT_JOB_READER_H_INCLUDED
#define HPT_JOB_READER_H_INCLUDED

#include "hpt_diag.h"
#include "hpt_job.h"

typedef enum {
    HPT_CONFIG_AUTO, //  by file extension (.json), else by first character
    HPT_CONFIG_YAML,
    HPT_CONFIG_JSON,
} hpt_config_format_t;

//  Reads a job from text. name is used in messages. Returns a validated job
//  (the caller owns it) or NULL with every problem in diag (which the
//  caller created with hpt_diag_new).
hpt_job_t *hpt_job_read_text (const char *text, size_t size, hpt_config_format_t format,
                              hpt_diag_t *diag);

//  Reads the body of a jobs.patch (JSON): a Job of which only labels and
//  etag are read, since labels are all Google lets a patch change; the
//  other members of a Job are ignored, so a client may send back the Job
//  it got. Returns a job holding only the labels (none when the body has
//  none: a patch of labels then clears them), with the etag (or NULL) in
//  *etag (the caller frees both), or NULL with every problem in diag.
hpt_job_t *hpt_job_read_patch (const char *text, size_t size, char **etag, hpt_diag_t *diag);

//  Reads a job from a file; a file that cannot be read is one problem.
hpt_job_t *hpt_job_read_file (const char *path, hpt_config_format_t format, hpt_diag_t *diag);

//  The checks the master makes of a submitted job beyond the reader's
//  that need no cluster (so `hpt validate` makes them too): a trainer,
//  which is trainingInput.command, pythonModule or masterConfig.imageUri
//  (a gcloud config file may leave it to --module-name, so the reader
//  itself does not ask for one), and packageUris that are all URLs: a
//  local path (hpt extension in a config file) is for the CLI to ship,
//  and local_packages (`hpt validate`, which checks them itself) lets
//  them pass. Adds each problem to diag; true when there is none.
bool hpt_job_check_submission (hpt_job_t *job, bool local_packages, hpt_diag_t *diag);

//  Notices (not errors) for defaults the reader filled in that users
//  often do not mean: the default metric tag, goal MAXIMIZE, maxTrials 1.
//  Each goes into notices as a problem would, at its field.
void hpt_job_notices (hpt_job_t *job, hpt_diag_t *notices);

//  The format a file name and its first bytes suggest.
hpt_config_format_t hpt_config_format_guess (const char *path, const char *text, size_t size);

//  True when id is a valid job id: a letter, then letters, digits and
//  underscores, at most 128 characters (AI Platform's rule).
bool hpt_job_id_valid (const char *id);

#endif

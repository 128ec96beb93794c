/*  hpt validate -- checks a job config offline

    Reads the file with hpt_job_reader (the same reader the master uses for
    submissions), so what validates here is what the master reads. The
    master's other check that needs no cluster (hpt_job_check_submission:
    a trainer) and the defaults users often do not mean are printed as
    notices on stderr, with exit status 0: a gcloud config file may leave
    the trainer to the command line.
*/
#include "hpt_cli.h"
#include "hpt_format.h"
#include "hpt_job_reader.h"
#include "hpt_sdist.h"
#include "hpt_json.h"
#include "hpt_tree.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
hpt_cli_validate (int argc, char *argv[])
{
    const char *config = NULL;
    const char *format = "json";
    for (int i = 0; i < argc; i++) {
        if (strcmp (argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strncmp (argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
        else if (strcmp (argv[i], "--format") == 0 && i + 1 < argc)
            format = argv[++i];
        else if (strncmp (argv[i], "--format=", 9) == 0)
            format = argv[i] + 9;
        else if (strcmp (argv[i], "--help") == 0) {
            printf ("Usage: hpt validate --config FILE [--format json|yaml]\n");
            return 0;
        } else {
            fprintf (stderr, "hpt validate: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!config) {
        fprintf (stderr, "hpt validate: --config FILE is required\n");
        return 2;
    }
    hpt_format_style_t style;
    if (!hpt_format_style_option ("validate", format, &style)) return 2;
    //  JSON documents get JSON pointers in their messages; decide after
    //  a look at the content when the extension does not say.
    hpt_error_t error;
    size_t size = 0;
    char *text = hpt_read_file (config, HPT_TREE_MAX_BYTES, &size, &error);
    if (!text) {
        fprintf (stderr, "%s: %s\n", config, error.message);
        return 2;
    }
    hpt_config_format_t kind = hpt_config_format_guess (config, text, size);
    hpt_diag_t *diag = hpt_diag_new (config, kind == HPT_CONFIG_JSON);
    hpt_job_t *job = hpt_job_read_text (text, size, kind, diag);
    free (text);
    if (!job) {
        hpt_diag_print (diag, stderr);
        fprintf (stderr, "%zu problem%s found\n", hpt_diag_count (diag),
                 hpt_diag_count (diag) == 1 ? "" : "s");
        hpt_diag_destroy (&diag);
        return 2;
    }
    //  Local packageUris (hpt extension) must exist, as submit ships
    //  them; they are shown absolute.
    if (hpt_sdist_resolve (job->input.package_uris, job->input.package_uri_count, config, NULL,
                           &error) != 0) {
        fprintf (stderr, "%s: %s\n1 problem found\n", config, error.message);
        hpt_job_destroy (&job);
        hpt_diag_destroy (&diag);
        return 2;
    }
    //  Said, not refused: the master's check for a trainer (a gcloud
    //  config file may leave the trainer to the command line), and
    //  defaults users often do not mean.
    hpt_diag_t *notices = hpt_diag_new (config, kind == HPT_CONFIG_JSON);
    hpt_job_check_submission (job, true, notices);
    hpt_job_notices (job, notices);
    for (size_t i = 0; i < hpt_diag_count (notices); i++) {
        char *line = hpt_diag_format (notices, i);
        fprintf (stderr, "notice: %s\n", line);
        free (line);
    }
    hpt_diag_destroy (&notices);
    json_t *json = hpt_job_to_json (job);
    hpt_format_print (json, style, stdout);
    json_decref (json);
    hpt_job_destroy (&job);
    hpt_diag_destroy (&diag);
    return 0;
}

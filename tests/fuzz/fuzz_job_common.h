/*  Shared body of the job-reader fuzz targets: read the input as a config;
    when it is valid, its canonical JSON must read back valid and print
    identically (the round-trip property), so the fuzzer checks the writer
    and the reader against each other, not only for crashes. */
#include "hpt_job_reader.h"
#include "hpt_json.h"
#include <stdlib.h>
#include <string.h>

static void
s_fuzz_job (const uint8_t *data, size_t size, hpt_config_format_t format)
{
    hpt_diag_t *diag = hpt_diag_new ("fuzz", format == HPT_CONFIG_JSON);
    hpt_job_t *job = hpt_job_read_text ((const char *)data, size, format, diag);
    for (size_t i = 0; i < hpt_diag_count (diag); i++)
        free (hpt_diag_format (diag, i));
    if (job) {
        json_t *json = hpt_job_to_json (job);
        char *first = hpt_json_dumps (json, true);
        hpt_diag_t *again_diag = hpt_diag_new ("fuzz", true);
        hpt_job_t *again = hpt_job_read_text (first, strlen (first), HPT_CONFIG_JSON, again_diag);
        if (!again) abort (); //  the writer produced something the reader refuses
        json_t *json2 = hpt_job_to_json (again);
        char *second = hpt_json_dumps (json2, true);
        if (strcmp (first, second) != 0) abort (); //  the round trip changed the job
        char *yaml = hpt_json_dumps_yaml (json);
        free (yaml);
        free (first);
        free (second);
        json_decref (json);
        json_decref (json2);
        hpt_job_destroy (&again);
        hpt_job_destroy (&job);
        hpt_diag_destroy (&again_diag);
    }
    hpt_diag_destroy (&diag);
}

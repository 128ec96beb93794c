/*  hpt_sdist -- a source distribution of a trainer package, for --package-path

    `hpt jobs submit training --package-path DIR` ships the trainer the way
    gcloud does: as a source distribution in packageUris. hpt builds it
    itself with GNU tar rather than by running a setup.py (which would run
    the user's code on the submitting machine and need setuptools):

        NAME-0.0.0/NAME/...      DIR as it is, without __pycache__, *.pyc
                                 and .git
        NAME-0.0.0/setup.py      DIR/../setup.py when there is one, else a
                                 minimal one (find_packages), so pip can
                                 install it too
        NAME-0.0.0/PKG-INFO      Metadata-Version 1.0, Name, Version

    NAME is DIR's last component. The archive goes to
    STAGING/JOB/NAME-0.0.0.tar.gz (files 0644, directories 0755, so agents
    running tasks as other users can read it), STAGING being
    $HPT_STAGING_DIR, else ~/.cache/hpt/staging; it is shipped as a
    file:// URL, which an agent reads from its own filesystem: on a
    cluster whose agents do not share that directory, point
    HPT_STAGING_DIR at a shared one. An agent unpacks it and puts
    NAME-0.0.0/ on PYTHONPATH, so `python3 -m NAME.task` finds the package.

    A config file may name the package directory itself, as a packageUris
    entry that is a path relative to the file (hpt_sdist_resolve): the
    examples do, so that `hpt jobs submit training J --config
    examples/digits/job.yaml` ships its trainer with no other flag.
*/
#ifndef HPT_SDIST_H_INCLUDED
#define HPT_SDIST_H_INCLUDED

#include "hpt_error.h"

//  Builds the archive of package directory dir for job; returns its
//  file:// URL (the caller frees it), or NULL with the reason in error.
char *hpt_sdist_build (const char *dir, const char *job, hpt_error_t *error);

//  hpt extension: a packageUris entry of a config file that is not a URL
//  is a local path, relative to the config file's directory (config is
//  the file's path). With job, each becomes what ships: a directory its
//  source distribution's file:// URL (hpt_sdist_build, said on stderr),
//  a file (an archive) file:// of its absolute path. Without job (`hpt
//  validate`) each is only checked and made absolute. Replaces the
//  entries of uris in place (each owned by the array); 0, or -1 with
//  error naming the entry.
int hpt_sdist_resolve (char **uris, size_t count, const char *config, const char *job,
                       hpt_error_t *error);

#endif

/*  hpt_sdist -- a source distribution of a trainer package, for --package-path

    The metadata files are written to a private temporary directory, then
    one tar run takes the package from its parent directory and the
    metadata from there, renaming every member under NAME-0.0.0/ with
    --transform. tar runs without a shell (posix_spawn), with the paths
    as single arguments, so no name can be taken for an option or a
    command. The archive is written under a temporary name and renamed,
    so an agent never reads a half-written one.
*/
#include "hpt_sdist.h"
#include "hpt_alloc.h"
#include "hpt_tree.h"
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define S_VERSION "0.0.0"

//  mkdir -p with mode 0755.
static int
s_make_dirs (const char *path, hpt_error_t *error)
{
    char *copy = hpt_strdup (path);
    int rc = 0;
    for (char *p = copy + 1; rc == 0; p++) {
        bool end = *p == 0;
        if (*p != '/' && !end) continue;
        *p = 0;
        if (mkdir (copy, 0755) != 0 && errno != EEXIST)
            rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot make %s: %s", copy,
                                strerror (errno));
        if (end) break;
        *p = '/';
    }
    free (copy);
    return rc;
}

static int
s_write (const char *path, const char *text, hpt_error_t *error)
{
    FILE *file = fopen (path, "w");
    if (!file || fputs (text, file) < 0 || fclose (file) != 0) {
        if (file) fclose (file);
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot write %s: %s", path,
                              strerror (errno));
    }
    return 0;
}

//  setup.py and PKG-INFO for package name in stage; the parent's
//  setup.py when there is one.
static int
s_write_metadata (const char *stage, const char *parent, const char *name, hpt_error_t *error)
{
    char *setup = hpt_asprintf ("%s/setup.py", stage);
    char *info = hpt_asprintf ("%s/PKG-INFO", stage);
    char *theirs = hpt_asprintf ("%s/setup.py", parent);
    size_t size = 0;
    char *text = hpt_read_file (theirs, 1024 * 1024, &size, NULL);
    if (!text)
        text = hpt_asprintf ("from setuptools import find_packages, setup\n\n"
                             "setup(name=\"%s\", version=\"" S_VERSION "\", "
                             "packages=find_packages())\n",
                             name);
    char *meta = hpt_asprintf ("Metadata-Version: 1.0\nName: %s\nVersion: " S_VERSION "\n", name);
    int rc = s_write (setup, text, error) == 0 && s_write (info, meta, error) == 0 ? 0 : -1;
    free (meta);
    free (text);
    free (theirs);
    free (info);
    free (setup);
    return rc;
}

//  Runs tar to make out from parent/name and stage/{setup.py,PKG-INFO}.
static int
s_tar (const char *out, const char *parent, const char *name, const char *stage, hpt_error_t *error)
{
    char *transform = hpt_asprintf ("--transform=s,^,%s-" S_VERSION "/,", name);
    //  One run: the package from its parent, then (after a second -C)
    //  the metadata from stage; --transform puts both under NAME-0.0.0/.
    char *const argv[] = {"/bin/tar",
                          "-czf",
                          (char *)out,
                          "--exclude=__pycache__",
                          "--exclude=*.pyc",
                          "--exclude=.git",
                          "--owner=0",
                          "--group=0",
                          "--mode=u+rw,go+r,go-w",
                          transform,
                          "-C",
                          (char *)parent,
                          (char *)name,
                          "-C",
                          (char *)stage,
                          "setup.py",
                          "PKG-INFO",
                          NULL};
    pid_t pid;
    int status = 0;
    int rc = posix_spawn (&pid, "/bin/tar", NULL, NULL, argv, environ);
    if (rc == 0)
        while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
            ;
    free (transform);
    if (rc != 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot run /bin/tar: %s", strerror (rc));
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        return hpt_error_set (error, HPT_E_UNAVAILABLE,
                              "/bin/tar could not archive %s/%s (its message is above)", parent,
                              name);
    return 0;
}

//  Where archives go: $HPT_STAGING_DIR, else ~/.cache/hpt/staging.
static char *
s_staging (void)
{
    const char *dir = getenv ("HPT_STAGING_DIR");
    if (dir && *dir) return hpt_strdup (dir);
    const char *home = getenv ("HOME");
    return hpt_asprintf ("%s/.cache/hpt/staging", home && *home ? home : "/tmp");
}

char *
hpt_sdist_build (const char *dir, const char *job, hpt_error_t *error)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath (dir, real) || stat (real, &st) != 0 || !S_ISDIR (st.st_mode)) {
        hpt_error_set (error, HPT_E_INVALID, "--package-path %s: not a directory", dir);
        return NULL;
    }
    char *slash = strrchr (real, '/');
    if (!slash || !slash[1]) {
        hpt_error_set (error, HPT_E_INVALID, "--package-path %s: not a package directory", dir);
        return NULL;
    }
    char *name = hpt_strdup (slash + 1);
    char *parent = slash == real ? hpt_strdup ("/") : hpt_strndup (real, (size_t)(slash - real));
    char *staging = s_staging ();
    char *job_dir = hpt_asprintf ("%s/%s", staging, job);
    char *out = hpt_asprintf ("%s/%s-" S_VERSION ".tar.gz", job_dir, name);
    char *partial = hpt_asprintf ("%s.partial", out);
    char stage[] = "/tmp/hpt-sdist-XXXXXX";
    char *url = NULL;
    if (!mkdtemp (stage))
        hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot make a temporary directory: %s",
                       strerror (errno));
    else {
        if (s_make_dirs (job_dir, error) == 0 &&
            s_write_metadata (stage, parent, name, error) == 0 &&
            s_tar (partial, parent, name, stage, error) == 0) {
            if (chmod (partial, 0644) != 0 || rename (partial, out) != 0)
                hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot write %s: %s", out,
                               strerror (errno));
            else
                url = hpt_asprintf ("file://%s", out);
        }
        unlink (partial);
        char *setup = hpt_asprintf ("%s/setup.py", stage),
             *info = hpt_asprintf ("%s/PKG-INFO", stage);
        unlink (setup);
        unlink (info);
        rmdir (stage);
        free (setup);
        free (info);
    }
    free (partial);
    free (out);
    free (job_dir);
    free (staging);
    free (parent);
    free (name);
    return url;
}

//  One local path of a config file's packageUris, resolved (see the
//  header). Returns the new entry (caller frees) or NULL with error.
static char *
s_resolve_one (const char *entry, size_t index, const char *base, const char *job,
               hpt_error_t *error)
{
    char *path = entry[0] == '/' ? hpt_strdup (entry) : hpt_asprintf ("%s/%s", base, entry);
    char real[PATH_MAX];
    struct stat st;
    char *resolved = NULL;
    if (!realpath (path, real) || stat (real, &st) != 0)
        hpt_error_set (error, HPT_E_INVALID,
                       "trainingInput.packageUris[%zu]: '%s': no such file or directory (%s)",
                       index, entry, path);
    else if (S_ISDIR (st.st_mode))
        resolved = job ? hpt_sdist_build (real, job, error) : hpt_strdup (real);
    else if (S_ISREG (st.st_mode))
        resolved = job ? hpt_asprintf ("file://%s", real) : hpt_strdup (real);
    else
        hpt_error_set (error, HPT_E_INVALID,
                       "trainingInput.packageUris[%zu]: '%s': neither a package directory nor "
                       "an archive",
                       index, entry);
    if (resolved && job && S_ISDIR (st.st_mode))
        fprintf (stderr, "Built the trainer package %s from %s.\n", resolved + 7, entry);
    free (path);
    return resolved;
}

int
hpt_sdist_resolve (char **uris, size_t count, const char *config, const char *job,
                   hpt_error_t *error)
{
    char *copy = hpt_strdup (config);
    char *slash = strrchr (copy, '/');
    const char *base = !slash ? "." : slash == copy ? "/" : (*slash = 0, copy);
    int rc = 0;
    for (size_t k = 0; k < count && rc == 0; k++) {
        if (strstr (uris[k], "://")) continue;
        char *resolved = s_resolve_one (uris[k], k, base, job, error);
        if (!resolved)
            rc = -1;
        else {
            free (uris[k]);
            uris[k] = resolved;
        }
    }
    free (copy);
    return rc;
}

/*  hpt_identity -- one agent per workdir, and the id that tells agents apart

    See hpt_identity.h. The lock file also holds the locking agent's pid,
    written after the lock is taken, so the refusal can name who has it.
    The id file is written to a temporary name and renamed, so a crash
    never leaves half an id; a file that is not 32 hex digits (edited,
    truncated by a full disk) is replaced by a new id, with a warning.
*/
#include "hpt_identity.h"
#include "hpt_alloc.h"
#include "hpt_log.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct _hpt_identity_t {
    int lock_fd;                      //  WORKDIR/agent.lock, flock held
    char id[HPT_IDENTITY_ID_LEN + 1]; //  the agent's id, hex
};

//  Whether text is exactly the id's form.
static bool
s_valid_id (const char *text, size_t length)
{
    if (length != HPT_IDENTITY_ID_LEN) return false;
    for (size_t i = 0; i < length; i++)
        if (!isxdigit ((unsigned char)text[i]) || isupper ((unsigned char)text[i])) return false;
    return true;
}

//  Reads the pid a lock file names, for the refusal; 0 when unknown.
static long
s_holder (int fd)
{
    char text[32] = "";
    ssize_t got = pread (fd, text, sizeof (text) - 1, 0);
    return got > 0 ? strtol (text, NULL, 10) : 0;
}

static int
s_lock (hpt_identity_t *self, const char *workdir, hpt_error_t *error)
{
    char *path = hpt_asprintf ("%s/agent.lock", workdir);
    self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = 0;
    if (self->lock_fd < 0)
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot open %s: %s", path, strerror (errno));
    else if (flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        long pid = s_holder (self->lock_fd);
        rc = hpt_error_set (error, HPT_E_FAILED_PRECONDITION,
                            "another hptagent (pid %ld) uses the workdir %s; give each agent on a "
                            "host its own --workdir and --name",
                            pid, workdir);
    } else {
        char text[32];
        int length = snprintf (text, sizeof (text), "%ld\n", (long)getpid ());
        if (ftruncate (self->lock_fd, 0) != 0 || pwrite (self->lock_fd, text, length, 0) != length)
            hpt_log_warning ("cannot write this agent's pid into %s: %s", path, strerror (errno));
    }
    free (path);
    return rc;
}

//  A new id from the kernel's random source into self->id.
static int
s_make_id (hpt_identity_t *self, hpt_error_t *error)
{
    unsigned char bytes[HPT_IDENTITY_ID_LEN / 2];
    int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read (fd, bytes, sizeof (bytes)) : -1;
    if (fd >= 0) close (fd);
    if (got != (ssize_t)sizeof (bytes))
        return hpt_error_set (error, HPT_E_UNAVAILABLE,
                              "cannot read /dev/urandom for the agent id");
    for (size_t i = 0; i < sizeof (bytes); i++)
        snprintf (self->id + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

static int
s_write_id (const hpt_identity_t *self, const char *path, hpt_error_t *error)
{
    char *temporary = hpt_asprintf ("%s.new", path);
    FILE *file = fopen (temporary, "w");
    bool ok = file && fprintf (file, "%s\n", self->id) > 0;
    ok = file && fclose (file) == 0 && ok;
    ok = ok && rename (temporary, path) == 0;
    int rc = ok ? 0
                : hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot write %s: %s", path,
                                 strerror (errno));
    if (!ok) unlink (temporary);
    free (temporary);
    return rc;
}

static int
s_load_id (hpt_identity_t *self, const char *workdir, hpt_error_t *error)
{
    char *path = hpt_asprintf ("%s/agent-id", workdir);
    char text[HPT_IDENTITY_ID_LEN + 8] = "";
    FILE *file = fopen (path, "r");
    bool found = file != NULL;
    if (file) {
        if (!fgets (text, sizeof (text), file)) text[0] = '\0';
        fclose (file);
    }
    text[strcspn (text, "\n")] = '\0';
    int rc = 0;
    if (s_valid_id (text, strlen (text)))
        memcpy (self->id, text, HPT_IDENTITY_ID_LEN + 1);
    else {
        if (found)
            hpt_log_warning ("%s does not hold an agent id; this agent gets a new one", path);
        rc = s_make_id (self, error);
        if (rc == 0) rc = s_write_id (self, path, error);
    }
    free (path);
    return rc;
}

hpt_identity_t *
hpt_identity_new (const char *workdir, hpt_error_t *error)
{
    hpt_identity_t *self = hpt_calloc (1, sizeof (hpt_identity_t));
    self->lock_fd = -1;
    if (s_lock (self, workdir, error) != 0 || s_load_id (self, workdir, error) != 0)
        hpt_identity_destroy (&self);
    return self;
}

void
hpt_identity_destroy (hpt_identity_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_identity_t *self = *self_p;
    if (self->lock_fd >= 0) close (self->lock_fd);
    free (self);
    *self_p = NULL;
}

const char *
hpt_identity_id (const hpt_identity_t *self)
{
    return self->id;
}

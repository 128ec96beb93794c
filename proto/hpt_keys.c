/*  hpt_keys -- CURVE certificate files (see hpt_keys.h)
 */
#include "hpt_keys.h"
#include "hpt_alloc.h"
#include "hpt_fs.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
hpt_keys_generate (const char *dir, const char *file, const char *name, hpt_error_t *error)
{
    if (hpt_mkdirs (dir, 0700, error)) return -1;
    char *path = hpt_asprintf ("%s/%s.cert", dir, file);
    char *secret = hpt_asprintf ("%s_secret", path);
    int rc = 0;
    if (access (path, F_OK) == 0 || access (secret, F_OK) == 0)
        rc = hpt_error_set (error, HPT_E_EXISTS, "%s or %s already exists; not overwritten", path,
                            secret);
    else {
        zcert_t *cert = zcert_new ();
        if (name) zcert_set_meta (cert, "name", "%s", name);
        //  The secret half must never be readable by others, not even for
        //  a moment: the files are created under umask 077.
        mode_t old_mask = umask (077);
        if (zcert_save (cert, path) != 0)
            rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot write %s: %s", path,
                                strerror (errno));
        umask (old_mask);
        zcert_destroy (&cert);
        //  The public half is meant to be copied around.
        if (rc == 0) chmod (path, 0644);
    }
    free (path);
    free (secret);
    return rc;
}

zcert_t *
hpt_keys_load (const char *path, bool secret, hpt_error_t *error)
{
    zcert_t *cert = zcert_load (path);
    if (!cert) {
        hpt_error_set (error, HPT_E_INVALID, "cannot load the certificate %s (%s)", path,
                       access (path, R_OK) == 0 ? "not a certificate" : strerror (errno));
        return NULL;
    }
    static const byte zero[32] = {0};
    if (secret && memcmp (zcert_secret_key (cert), zero, 32) == 0) {
        hpt_error_set (error, HPT_E_INVALID,
                       "%s holds no secret key: give the *.cert_secret file of the pair", path);
        zcert_destroy (&cert);
    }
    return cert;
}

bool
hpt_keys_local_endpoint (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp (endpoint, "tcp://", 6) != 0) return false;
    const char *host = endpoint + 6;
    return strncmp (host, "127.", 4) == 0 || strncmp (host, "[::1]:", 6) == 0 ||
           strncmp (host, "localhost:", 10) == 0;
}

/*  hpt_fs -- shared file-system helpers (see hpt_fs.h)
 */
#include "hpt_fs.h"
#include "hpt_alloc.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
hpt_mkdirs (const char *path, mode_t mode, hpt_error_t *error)
{
    if (!path || !*path) return hpt_error_set (error, HPT_E_INVALID, "no directory given");
    char *buffer = hpt_strdup (path);
    int rc = 0;
    for (char *c = buffer + 1; rc == 0; c++) {
        if (*c != '/' && *c != '\0') continue;
        char saved = *c;
        *c = '\0';
        if (mkdir (buffer, mode) != 0 && errno != EEXIST)
            rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot create %s: %s", buffer,
                                strerror (errno));
        *c = saved;
        if (!saved) break;
    }
    struct stat info;
    if (rc == 0 && (stat (path, &info) != 0 || !S_ISDIR (info.st_mode)))
        rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "%s is not a directory", path);
    free (buffer);
    return rc;
}

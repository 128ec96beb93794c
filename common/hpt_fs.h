/*  hpt_fs -- the file-system helpers hpt's daemons share

    One place for creating directory trees, so every daemon creates its
    directories the same way (and with the modes it asks for: state and
    work directories hold secrets and are 0700).
*/
#ifndef HPT_FS_H_INCLUDED
#define HPT_FS_H_INCLUDED

#include "hpt_error.h"
#include <sys/types.h>

//  Creates path and any missing parents, each with mode (as mkdir -p -m
//  MODE does for the ones it creates; existing ones are left as they
//  are). Succeeds when path exists as a directory. -1 with *error
//  (HPT_E_UNAVAILABLE, naming the directory and why) otherwise.
int hpt_mkdirs (const char *path, mode_t mode, hpt_error_t *error);

#endif

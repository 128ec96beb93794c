/*  hpt_test_data -- where a unit test finds files of the source tree.

    ctest passes the source tree as $HPT_SOURCE_DIR. A test program run by
    hand (build/tests/test_job) has no such variable, so it falls back to the
    source directory CMake configured it from (HPT_SOURCE_DIR_DEFAULT, set in
    tests/CMakeLists.txt). Every unit test that reads tests/data, examples/ or
    ops/ goes through these two functions.
*/
#ifndef HPT_TEST_DATA_H_INCLUDED
#define HPT_TEST_DATA_H_INCLUDED

#include <stdio.h>
#include <stdlib.h>

#ifndef HPT_SOURCE_DIR_DEFAULT
#error "HPT_SOURCE_DIR_DEFAULT must be defined (tests/CMakeLists.txt does)"
#endif

//  The source tree: $HPT_SOURCE_DIR when set and not empty, else the tree
//  this program was built from.
static inline const char *
hpt_test_source_dir (void)
{
    const char *dir = getenv ("HPT_SOURCE_DIR");
    return dir && *dir ? dir : HPT_SOURCE_DIR_DEFAULT;
}

//  Writes SOURCE/RELATIVE into buffer (relative has no leading slash) and
//  returns buffer; aborts when it does not fit, so a test never opens a
//  truncated path.
static inline char *
hpt_test_path (char *buffer, size_t size, const char *relative)
{
    int written = snprintf (buffer, size, "%s/%s", hpt_test_source_dir (), relative);
    if (written < 0 || (size_t)written >= size) {
        fprintf (stderr, "hpt_test_path: path of '%s' too long\n", relative);
        abort ();
    }
    return buffer;
}

#endif

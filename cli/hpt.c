#include "hpt_version.h"
#include <stdio.h>
int
main (void)
{
    printf ("hpt %s\n", HPT_VERSION);
    return 0;
}

/*  hpt_gpu_link -- how two GPUs of a host are connected, as a class and a
    code (see the header for the codes and their order)
*/
#include "hpt_gpu_link.h"
#include <stdio.h>
#include <string.h>

static const char *const s_codes[HPT_GPU_LINK_CLASSES] = {"NV", "PIX", "PXB", "PHB", "NODE", "SYS"};

char *
hpt_gpu_link_format (hpt_gpu_link_t link, char *out, size_t size)
{
    if (link.link_class == HPT_GPU_LINK_NVLINK)
        snprintf (out, size, "NV%u", link.nvlinks);
    else
        snprintf (out, size, "%s",
                  (unsigned)link.link_class < HPT_GPU_LINK_CLASSES ? s_codes[link.link_class]
                                                                   : "SYS");
    return out;
}

bool
hpt_gpu_link_parse (const char *code, hpt_gpu_link_t *link)
{
    if (!code) return false;
    for (int c = HPT_GPU_LINK_PIX; c < HPT_GPU_LINK_CLASSES; c++)
        if (strcmp (code, s_codes[c]) == 0) {
            *link = (hpt_gpu_link_t){(hpt_gpu_link_class_t)c, 0};
            return true;
        }
    //  NV, then 1-64 without a leading zero.
    if (strncmp (code, "NV", 2) != 0 || code[2] < '1' || code[2] > '9') return false;
    unsigned links = (unsigned)(code[2] - '0');
    size_t digits = 1;
    if (code[3] >= '0' && code[3] <= '9') {
        links = links * 10 + (unsigned)(code[3] - '0');
        digits = 2;
    }
    if (code[2 + digits] != '\0' || links > HPT_GPU_LINK_NVLINKS_MAX) return false;
    *link = (hpt_gpu_link_t){HPT_GPU_LINK_NVLINK, links};
    return true;
}

int
hpt_gpu_link_compare (hpt_gpu_link_t a, hpt_gpu_link_t b)
{
    if (a.link_class != b.link_class) return (int)a.link_class - (int)b.link_class;
    if (a.link_class == HPT_GPU_LINK_NVLINK) return (int)b.nvlinks - (int)a.nvlinks;
    return 0;
}

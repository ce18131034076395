/* The executable's own directory, not $PATH: a build tree, an install
 * prefix and a copied pair all find their partner, and an older copy
 * elsewhere on $PATH is never picked up by mistake. */
#include "util/sibling.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool sibling_path(const char *name, char *out, size_t size)
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return false;
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return false;
    slash[1] = '\0';
    int written = snprintf(out, size, "%s%s", self, name);
    return written > 0 && (size_t)written < size;
}

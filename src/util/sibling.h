/* Finding an executable installed beside this one. */
#ifndef UTIL_SIBLING_H
#define UTIL_SIBLING_H

#include <stdbool.h>
#include <stddef.h>

/* Writes into out (size bytes) the path of `name` in the directory of the
 * running executable (/proc/self/exe, symlinks resolved). False when that
 * cannot be read or the path does not fit. Whether the file exists is for
 * exec to find out. */
bool sibling_path(const char *name, char *out, size_t size);

#endif

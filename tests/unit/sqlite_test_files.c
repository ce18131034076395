/* A unit test's throw-away SQLite files (sqlite_test_files.h). */
#include "sqlite_test_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

bool sqlite_test_files_make(struct sqlite_test_files *files, const char *name)
{
    int n = snprintf(files->dir, sizeof files->dir, "/tmp/intent-bus-%s-XXXXXX", name);
    if (n < 0 || (size_t)n >= sizeof files->dir || mkdtemp(files->dir) == NULL)
        return false;
    snprintf(files->path, sizeof files->path, "%s/t.db", files->dir);
    return true;
}

void sqlite_test_files_remove(const struct sqlite_test_files *files)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char file[sizeof files->path + 8];
        snprintf(file, sizeof file, "%s%s", files->path, suffixes[i]);
        unlink(file);
    }
    rmdir(files->dir);
}

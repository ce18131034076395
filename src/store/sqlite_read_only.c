/* Opening a database that cannot be written; see sqlite_read_only.h. */
#include "store/sqlite_read_only.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory part of path ("." for a bare name), malloc'd. */
static char *directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    size_t length = slash == path ? 1 : (size_t)(slash - path);
    char *directory = malloc(length + 1);
    if (directory != NULL) {
        memcpy(directory, path, length);
        directory[length] = '\0';
    }
    return directory;
}

bool sql_storage_read_only(const char *path)
{
    if (access(path, F_OK) != 0)
        return false; /* a new database: creating it says what is wrong */
    if (access(path, W_OK) != 0)
        return errno == EROFS || errno == EACCES || errno == EPERM;
    char *directory = directory_of(path);
    bool read_only = directory != NULL && access(directory, W_OK) != 0 &&
                     (errno == EROFS || errno == EACCES || errno == EPERM);
    free(directory);
    return read_only;
}

/* Whether path-wal exists and holds anything. */
static bool has_wal(const char *path)
{
    char wal[4096];
    struct stat info;
    if (snprintf(wal, sizeof wal, "%s-wal", path) >= (int)sizeof wal)
        return true; /* cannot tell: do not assume it away */
    return stat(wal, &info) == 0 && info.st_size > 0;
}

char *sql_read_only_uri(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *query = has_wal(path) ? "?mode=ro" : "?mode=ro&immutable=1";
    /* An absolute path gets an empty authority ("file:///a/b"), so that one
     * starting with "//" is not read as a host. */
    const char *scheme = path[0] == '/' ? "file://" : "file:";
    size_t length = strlen(path), scheme_length = strlen(scheme);
    char *uri = malloc(scheme_length + 3 * length + strlen(query) + 1);
    if (uri == NULL)
        return NULL;
    memcpy(uri, scheme, scheme_length);
    char *at = uri + scheme_length;
    /* In a URI's path, '?', '#' and '%' would be read as its syntax. */
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if (*c == '?' || *c == '#' || *c == '%') {
            *at++ = '%';
            *at++ = hex[*c >> 4];
            *at++ = hex[*c & 15];
        } else {
            *at++ = (char)*c;
        }
    }
    memcpy(at, query, strlen(query) + 1);
    return uri;
}

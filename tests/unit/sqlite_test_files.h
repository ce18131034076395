/* A throw-away directory under /tmp holding one SQLite database for a unit
 * test, and its removal with the -wal and -shm files SQLite leaves beside
 * the database. */
#ifndef TESTS_SQLITE_TEST_FILES_H
#define TESTS_SQLITE_TEST_FILES_H

#include <stdbool.h>

struct sqlite_test_files {
    char dir[64];
    char path[96]; /* the database: dir + "/t.db" */
};

/* Makes /tmp/intent-bus-NAME-XXXXXX; false (errno set) if it cannot. */
bool sqlite_test_files_make(struct sqlite_test_files *files, const char *name);

/* Removes the database, its -wal and -shm, then the directory. */
void sqlite_test_files_remove(const struct sqlite_test_files *files);

#endif

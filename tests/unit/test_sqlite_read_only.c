/* Unit tests of sqlite_read_only.c: which databases count as read-only,
 * and the URI a read-only one is opened with (immutable only without a
 * -wal file, its path escaped). The read-only file system itself is
 * tested over HTTP (tests/http/test_storage_faults.py, as root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/sqlite_read_only.h"

static char directory[64];

static int make_directory(void **state)
{
    (void)state;
    snprintf(directory, sizeof directory, "/tmp/test_sqlite_ro_XXXXXX");
    return mkdtemp(directory) != NULL ? 0 : -1;
}

static void touch(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static void test_missing_or_writable_is_not_read_only(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/none.db", directory);
    assert_false(sql_storage_read_only(path));
    snprintf(path, sizeof path, "%s/here.db", directory);
    touch(path, "x");
    assert_false(sql_storage_read_only(path));
    unlink(path);
}

static void test_uri_is_immutable_only_without_a_wal(void **state)
{
    (void)state;
    char path[128], wal[140];
    snprintf(path, sizeof path, "%s/bus.db", directory);
    snprintf(wal, sizeof wal, "%s-wal", path);
    char *uri = sql_read_only_uri(path);
    char expected[200];
    snprintf(expected, sizeof expected, "file://%s?mode=ro&immutable=1", path);
    assert_string_equal(uri, expected);
    free(uri);
    touch(wal, ""); /* an empty WAL holds nothing */
    uri = sql_read_only_uri(path);
    assert_string_equal(uri, expected);
    free(uri);
    touch(wal, "frames");
    uri = sql_read_only_uri(path);
    snprintf(expected, sizeof expected, "file://%s?mode=ro", path);
    assert_string_equal(uri, expected);
    free(uri);
    unlink(wal);
}

static void test_uri_escapes_its_syntax(void **state)
{
    (void)state;
    char *uri = sql_read_only_uri("/no/such/a?b#c%d.db");
    assert_string_equal(uri, "file:///no/such/a%3Fb%23c%25d.db?mode=ro&immutable=1");
    free(uri);
    uri = sql_read_only_uri("relative.db");
    assert_string_equal(uri, "file:relative.db?mode=ro&immutable=1");
    free(uri);
}

static int remove_directory(void **state)
{
    (void)state;
    return rmdir(directory);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_or_writable_is_not_read_only),
        cmocka_unit_test(test_uri_is_immutable_only_without_a_wal),
        cmocka_unit_test(test_uri_escapes_its_syntax),
    };
    return cmocka_run_group_tests(tests, make_directory, remove_directory);
}

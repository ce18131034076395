/* Unit tests of util/thread_name.c: the name a thread gives itself is the
 * one the kernel reports, numbered when asked, and cut to 15 characters. */
#define _GNU_SOURCE /* pthread_getname_np */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/thread_name.h"

struct naming {
    const char *name;
    int number;
    char seen[32];
};

/* On a thread of its own, so the test runner keeps its name. */
static void *name_and_read(void *arg)
{
    struct naming *naming = arg;
    thread_name_set(naming->name, naming->number);
    if (pthread_getname_np(pthread_self(), naming->seen, sizeof naming->seen) != 0)
        strcpy(naming->seen, "(unreadable)");
    return NULL;
}

static const char *named(struct naming *naming)
{
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, name_and_read, naming), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    return naming->seen;
}

static void a_plain_name(void **state)
{
    (void)state;
    struct naming naming = {.name = "bus-writer", .number = -1};
    assert_string_equal(named(&naming), "bus-writer");
}

static void a_numbered_name(void **state)
{
    (void)state;
    struct naming naming = {.name = "bus-http", .number = 3};
    assert_string_equal(named(&naming), "bus-http-3");
}

static void a_long_name_is_cut_to_fifteen_characters(void **state)
{
    (void)state;
    struct naming naming = {.name = "bus-a-very-long-thread-name", .number = 12};
    assert_string_equal(named(&naming), "bus-a-very-long");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_plain_name),
        cmocka_unit_test(a_numbered_name),
        cmocka_unit_test(a_long_name_is_cut_to_fifteen_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

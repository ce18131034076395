/* Unit tests of util/random: each thread hands out the bytes of one larger
 * getrandom(2) call in order, never the same bytes twice, and a forked
 * child does not hand out its parent's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/random.h"

#define DRAWS 200

/* More draws than one pool holds: each 16 bytes differ from all others. */
static void draws_never_repeat(void **state)
{
    (void)state;
    static unsigned char drawn[DRAWS][16];
    for (int i = 0; i < DRAWS; i++) {
        assert_true(random_fill(drawn[i], sizeof drawn[i]));
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(drawn[i], drawn[j], sizeof drawn[i]);
    }
}

static bool all_zero(const unsigned char *bytes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (bytes[i] != 0)
            return false;
    }
    return true;
}

/* Sizes around and above the pool's: each filled to its end. */
static void any_size_is_filled(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 7, 63, 64, 65, 255, 256, 257, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char bytes[4096 + 1] = {0};
        assert_true(random_fill(bytes, sizes[i]));
        /* 32 zero bytes at the end by chance: 2^-256 */
        size_t tail = sizes[i] < 32 ? sizes[i] : 32;
        if (sizes[i] >= 8)
            assert_false(all_zero(bytes + sizes[i] - tail, tail));
        assert_int_equal(bytes[sizes[i]], 0); /* and not beyond */
    }
}

/* A child forked with bytes left in its thread's pool: its next draw is
 * not the parent's next one. */
static void forked_child_draws_its_own(void **state)
{
    (void)state;
    unsigned char first[16];
    assert_true(random_fill(first, sizeof first)); /* the pool now holds more */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char child[16];
        bool ok = random_fill(child, sizeof child) && write(fds[1], child, sizeof child) == 16;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    unsigned char parent[16], child[16];
    assert_true(random_fill(parent, sizeof parent));
    assert_int_equal(read(fds[0], child, sizeof child), 16);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_memory_not_equal(parent, child, sizeof parent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(draws_never_repeat),
        cmocka_unit_test(any_size_is_filled),
        cmocka_unit_test(forked_child_draws_its_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

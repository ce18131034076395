/* Unit tests of bus/schedules' tick over the SQLite store, with explicit
 * times (no sleeping): on-time occurrences published once each, the
 * unique (schedule, fire time) row, catch-up "one" and "none", overlap
 * "skip", pausing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus/bus.h"
#include "bus/schedules.h"
#include "sqlite_test_files.h"
#include "store/store.h"
#include "util/zone.h"

#define T0 1800000000.0 /* a multiple of 10 */

static const char OWNER[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

struct fixture {
    struct sqlite_test_files files;
    struct store *store;
    struct bus bus;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!sqlite_test_files_make(&f->files, "sched"))
        return -1;
    f->store = store_sqlite_open(f->files.path, 2, false);
    if (f->store == NULL)
        return -1;
    struct bus_settings settings = {60.0, 3600.0, 86400.0};
    bus_init(&f->bus, f->store, &settings, T0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bus_destroy(&f->bus);
    store_close(f->store);
    sqlite_test_files_remove(&f->files);
    free(f);
    return 0;
}

/* An every-10-seconds schedule whose next occurrence is next_at. */
static void put_every_ten(struct fixture *f, const char *name, double next_at, bool overlap_skip,
                          bool catch_up_one)
{
    struct schedule s;
    memset(&s, 0, sizeof s);
    snprintf(s.id, sizeof s.id, "%032x", (unsigned)strlen(name) + (unsigned)name[0]);
    snprintf(s.name, sizeof s.name, "%s", name);
    strcpy(s.owner, OWNER);
    s.every = 10;
    strcpy(s.timezone, "UTC");
    s.intent_json = (char *)"{\"goal\":\"tick\",\"namespace\":\"sched\",\"payload\":{}}";
    s.overlap_skip = overlap_skip;
    s.catch_up_one = catch_up_one;
    s.next_at = next_at;
    s.created_at = s.updated_at = T0;
    bool created = false;
    assert_int_equal(f->store->ops->schedule_put(f->store->backend, &s, &created), BUS_OK);
    assert_true(created);
}

static struct schedule get(struct fixture *f, const char *name)
{
    struct schedule s;
    assert_int_equal(f->store->ops->schedule_get(f->store->backend, name, NULL, &s), BUS_OK);
    free(s.intent_json);
    s.intent_json = NULL;
    return s;
}

struct fires {
    int count;
    double at[64];
    char outcome[64][24];
    char intent[64][INTENT_ID_LEN + 1];
};

static void keep_fire(void *context, const struct schedule_fire_record *fire)
{
    struct fires *fires = context;
    if (fires->count == 64)
        return;
    fires->at[fires->count] = fire->fire_at;
    strcpy(fires->outcome[fires->count], fire->outcome);
    strcpy(fires->intent[fires->count], fire->intent_id);
    fires->count++;
}

static struct fires fires_of(struct fixture *f, const char *name)
{
    struct schedule s = get(f, name);
    struct fires fires = {0};
    assert_int_equal(f->store->ops->schedule_fires(f->store->backend, s.id, 64, keep_fire, &fires),
                     BUS_OK);
    return fires;
}

static void count_intent(void *context, const struct intent_record *record)
{
    (void)record;
    (*(int *)context)++;
}

static int open_intents(struct fixture *f)
{
    struct intent_filter filter = {.limit = 1000, .state = "open", .namespace_ = "sched"};
    int count = 0;
    assert_int_equal(f->store->ops->intent_list(f->store->backend, &filter, count_intent, &count),
                     BUS_OK);
    return count;
}

static void on_time_occurrences_are_published_once_each(void **state)
{
    struct fixture *f = *state;
    put_every_ten(f, "ten", T0 + 10, false, false);
    assert_int_equal(bus_schedules_tick(&f->bus, T0 + 35, T0), BUS_OK);
    assert_int_equal(bus_schedules_tick(&f->bus, T0 + 35, T0), BUS_OK); /* nothing new */
    struct schedule s = get(f, "ten");
    assert_int_equal(s.fires, 3);
    assert_int_equal(s.skips, 0);
    assert_true(s.next_at == T0 + 40);
    assert_true(s.last_fire_at == T0 + 30);
    struct fires fires = fires_of(f, "ten");
    assert_int_equal(fires.count, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(fires.at[i] == T0 + 30 - 10 * i); /* newest first */
        assert_string_equal(fires.outcome[i], "fired");
    }
    assert_string_not_equal(fires.intent[0], fires.intent[1]);
    assert_string_equal(fires.intent[0], s.last_intent_id);
    assert_int_equal(open_intents(f), 3);
    assert_int_equal(atomic_load(&f->bus.counters.schedule_fires), 3);
}

static void an_occurrence_is_one_row(void **state)
{
    struct fixture *f = *state;
    put_every_ten(f, "once", T0 + 10, false, false);
    struct schedule s = get(f, "once");
    struct intent_new intent;
    memset(&intent, 0, sizeof intent);
    strcpy(intent.namespace_, "sched");
    strcpy(intent.goal, "g");
    strcpy(intent.publisher, OWNER);
    intent.payload_json = (char *)"{}";
    intent.max_attempts = 3;
    intent.priority = 100;
    intent.run_at = intent.created_at = T0 + 10;
    intent.expires_at = T0 + 1000;
    /* next_at left where it was: only the unique row can stop a second publish */
    struct store_schedule_step step = {.name = "once",
                                       .revision = s.revision,
                                       .expected_next_at = T0 + 10,
                                       .fire_at = T0 + 10,
                                       .intent = &intent,
                                       .next_at = T0 + 10,
                                       .now = T0 + 10,
                                       .outcome = SCHEDULE_FIRED};
    strcpy(intent.id, "00000000000000000000000000000001");
    assert_int_equal(f->store->ops->schedule_step(f->store->backend, &step), BUS_OK);
    assert_int_equal(step.outcome, SCHEDULE_FIRED);
    strcpy(intent.id, "00000000000000000000000000000002");
    step.outcome = SCHEDULE_FIRED;
    assert_int_equal(f->store->ops->schedule_step(f->store->backend, &step), BUS_OK);
    assert_int_equal(step.outcome, SCHEDULE_ALREADY_HANDLED);
    assert_int_equal(open_intents(f), 1);
    /* a stale revision (the definition changed since it was read) does nothing */
    step.revision = s.revision + 5;
    step.fire_at = T0 + 20;
    step.outcome = SCHEDULE_FIRED;
    assert_int_equal(f->store->ops->schedule_step(f->store->backend, &step), BUS_OK);
    assert_int_equal(step.outcome, SCHEDULE_ALREADY_HANDLED);
    assert_int_equal(open_intents(f), 1);
    assert_int_equal(get(f, "once").fires, 1);
}

static void catch_up_one_publishes_the_latest_missed(void **state)
{
    struct fixture *f = *state;
    put_every_ten(f, "one", T0 + 10, false, true);
    /* down from before T0+10 until T0+100: 10..90 were missed, 100 is on time */
    assert_int_equal(bus_schedules_tick(&f->bus, T0 + 101, T0 + 100), BUS_OK);
    struct schedule s = get(f, "one");
    assert_int_equal(s.fires, 2);
    assert_int_equal(s.skips, 8);
    struct fires fires = fires_of(f, "one");
    assert_int_equal(fires.count, 2);
    assert_true(fires.at[0] == T0 + 100 && fires.at[1] == T0 + 90);
    assert_true(s.next_at == T0 + 110);
}

static void catch_up_none_skips_the_missed(void **state)
{
    struct fixture *f = *state;
    put_every_ten(f, "none", T0 + 10, false, false);
    assert_int_equal(bus_schedules_tick(&f->bus, T0 + 101, T0 + 100), BUS_OK);
    struct schedule s = get(f, "none");
    assert_int_equal(s.fires, 1);
    assert_int_equal(s.skips, 9);
    struct fires fires = fires_of(f, "none");
    assert_int_equal(fires.count, 1);
    assert_true(fires.at[0] == T0 + 100);
    assert_int_equal(atomic_load(&f->bus.counters.schedule_skips), 9);
}

/* A bus restarted within SCHEDULE_MISSED_GRACE (or one joining a running
 * node) publishes what fell due just before it started watching. */
static void an_occurrence_just_before_the_start_is_on_time(void **state)
{
    struct fixture *f = *state;
    put_every_ten(f, "grace", T0 + 100, false, false);
    assert_int_equal(bus_schedules_tick(&f->bus, T0 + 102, T0 + 100 + SCHEDULE_MISSED_GRACE - 0.5),
                     BUS_OK);
    struct schedule s = get(f, "grace");
    assert_int_equal(s.fires, 1);
    assert_int_equal(s.skips, 0);
    assert_true(s.last_fire_at == T0 + 100);
}

static void overlap_skip_waits_for_the_open_intent(void **state)
{
    struct fixture *f = *state;
    put_every_ten(f, "skip", T0 + 10, true, false);
    assert_int_equal(bus_schedules_tick(&f->bus, T0 + 35, T0), BUS_OK);
    struct schedule s = get(f, "skip");
    assert_int_equal(s.fires, 1);
    assert_int_equal(s.skips, 2);
    struct fires fires = fires_of(f, "skip");
    assert_string_equal(fires.outcome[0], "skipped_overlap");
    assert_string_equal(fires.intent[0], "");
    assert_string_equal(fires.outcome[2], "fired");
    assert_int_equal(open_intents(f), 1);
}

static void paused_schedules_are_not_due(void **state)
{
    struct fixture *f = *state;
    put_every_ten(f, "paused", T0 + 10, false, false);
    assert_int_equal(
        f->store->ops->schedule_set_paused(f->store->backend, "paused", OWNER, true, NAN, T0),
        BUS_OK);
    assert_int_equal(bus_schedules_tick(&f->bus, T0 + 100, T0), BUS_OK);
    assert_int_equal(get(f, "paused").fires, 0);
    assert_int_equal(f->store->ops->schedule_set_paused(f->store->backend, "paused", OWNER, false,
                                                        T0 + 110, T0 + 100),
                     BUS_OK);
    assert_int_equal(bus_schedules_tick(&f->bus, T0 + 111, T0), BUS_OK);
    struct schedule s = get(f, "paused");
    assert_int_equal(s.fires, 1);
    assert_true(s.last_fire_at == T0 + 110);
    assert_int_equal(f->store->ops->schedule_delete(
                         f->store->backend, "paused",
                         "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
                     BUS_ERR_NOT_FOUND);
}

int main(void)
{
    zone_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(on_time_occurrences_are_published_once_each, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_occurrence_is_one_row, setup, teardown),
        cmocka_unit_test_setup_teardown(catch_up_one_publishes_the_latest_missed, setup, teardown),
        cmocka_unit_test_setup_teardown(catch_up_none_skips_the_missed, setup, teardown),
        cmocka_unit_test_setup_teardown(an_occurrence_just_before_the_start_is_on_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(overlap_skip_waits_for_the_open_intent, setup, teardown),
        cmocka_unit_test_setup_teardown(paused_schedules_are_not_due, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Intent events as text between nodes (store/event_wire.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/event_wire.h"

static const char NODE[] = "0123456789abcdef";

static void a_claimable_event_keeps_its_routing(void **state)
{
    (void)state;
    struct intent_event event = {INTENT_EVENT_CLAIMABLE, "ab12", "ns", "goal \"quoted\"\t",
                                 "pub", "", "gpu", true, 1700000000.25};
    char *text = event_wire_encode(NODE, &event);
    assert_non_null(text);
    struct event_wire wire;
    assert_true(event_wire_decode(text, &wire));
    assert_string_equal(wire.node, NODE);
    assert_int_equal(wire.event.kind, INTENT_EVENT_CLAIMABLE);
    assert_string_equal(wire.event.id, "ab12");
    assert_string_equal(wire.event.namespace_, "ns");
    assert_string_equal(wire.event.goal, "goal \"quoted\"\t");
    assert_string_equal(wire.event.publisher, "pub");
    assert_string_equal(wire.event.target_worker, "");
    assert_string_equal(wire.event.required_capability, "gpu");
    assert_true(wire.event.is_public);
    assert_true(wire.event.due == 1700000000.25);
    event_wire_clear(&wire);
    free(text);
}

static void unknown_attributes_stay_unknown(void **state)
{
    (void)state;
    struct intent_event event = {.kind = INTENT_EVENT_CLAIMABLE, .id = "x", .due = 5};
    char *text = event_wire_encode(NODE, &event);
    struct event_wire wire;
    assert_true(event_wire_decode(text, &wire));
    assert_null(wire.event.namespace_);
    event_wire_clear(&wire);
    free(text);

    struct intent_event settled = {.kind = INTENT_EVENT_SETTLED, .id = "done"};
    text = event_wire_encode(NODE, &settled);
    assert_true(event_wire_decode(text, &wire));
    assert_int_equal(wire.event.kind, INTENT_EVENT_SETTLED);
    assert_string_equal(wire.event.id, "done");
    event_wire_clear(&wire);
    free(text);
}

static void foreign_text_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {"", "not json", "[]", "{\"node\":\"short\",\"kind\":\"settled\",\"id\":\"a\",\"due\":0}",
                         "{\"node\":\"0123456789abcdef\",\"kind\":\"other\",\"id\":\"a\",\"due\":0}",
                         "{\"node\":\"0123456789abcdef\",\"kind\":\"settled\",\"due\":0}",
                         "{\"node\":\"0123456789abcdef\",\"kind\":\"settled\",\"id\":\"a\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct event_wire wire;
        assert_false(event_wire_decode(bad[i], &wire));
        assert_null(wire.root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_claimable_event_keeps_its_routing),
        cmocka_unit_test(unknown_attributes_stay_unknown),
        cmocka_unit_test(foreign_text_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

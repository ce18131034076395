/* The admin side of the bus (spec section 8 and docs/ADMIN.md): views of
 * the queue and the actions that override the lifecycle. Callers have
 * already checked admin credentials. */
#ifndef BUS_ADMIN_H
#define BUS_ADMIN_H

#include <jansson.h>

#include "bus/bus.h"

#define ADMIN_DEAD_LIST_LIMIT 100
#define ADMIN_INTENT_LIST_DEFAULT 50
#define ADMIN_INTENT_LIST_MAX 500

/* GET /admin/stats: counts per namespace and status, dead letters, keys. */
enum bus_err bus_admin_stats(struct bus *bus, struct bus_reply *reply, struct bus_error *error);

/* GET /admin/intents's query, raw strings; NULL or "" = not given. */
struct admin_intent_query {
    const char *limit;
    const char *state; /* open, scheduled, claimed, expired, fulfilled, dead */
    const char *namespace_;
    const char *goal;
    const char *id;     /* an id or its first hex digits */
    const char *owner;  /* the publisher: "main" or a tester key's owner */
    const char *worker; /* the last claim's worker id */
    const char *error;  /* text found in the error */
    const char *before; /* the id the previous page ended with */
    const char *main_principal; /* what "main" stands for */
};

/* GET /admin/intents: newest first, at most limit, with "next" (the id to
 * pass as before= for the next page, null at the end). */
enum bus_err bus_admin_list_intents(struct bus *bus, const struct admin_intent_query *query,
                                    struct bus_reply *reply, struct bus_error *error);

/* GET /admin/intents/<id>: every field, payload included. */
enum bus_err bus_admin_intent(struct bus *bus, const char *id, struct bus_reply *reply,
                              struct bus_error *error);

/* POST /admin/intents/<id>/cancel and /retry. */
enum bus_err bus_admin_cancel(struct bus *bus, const char *id, struct bus_reply *reply,
                              struct bus_error *error);
enum bus_err bus_admin_retry(struct bus *bus, const char *id, struct bus_reply *reply,
                             struct bus_error *error);

/* Tells listeners an admin put intent id back in the queue. */
void bus_admin_retried(struct bus *bus, const char *id);

/* GET /admin/dead's filters and POST /admin/dead/retry and /purge's body
 * fields, raw strings; NULL or "" = any. */
struct admin_dead_query {
    const char *namespace_;
    const char *goal;
    const char *reason; /* failed, lease_expired, cancelled */
    const char *error;  /* text in the worker's error */
};

#define ADMIN_DEAD_BULK_MAX 1000 /* dead letters one bulk retry takes */

/* GET /admin/dead: a list (the original's shape), the 100 most recent
 * matching, newest first. */
enum bus_err bus_admin_dead_list(struct bus *bus, const struct admin_dead_query *query,
                                 struct bus_reply *reply, struct bus_error *error);

/* POST /admin/dead/retry and /admin/dead/purge: body {"confirm": true,
 * filters...}; retries (at most ADMIN_DEAD_BULK_MAX, the most recent) or
 * deletes every matching dead letter. {"ok":true,"retried"|"purged":n}. */
enum bus_err bus_admin_dead_bulk(struct bus *bus, bool purge, const json_t *body,
                                 struct bus_reply *reply, struct bus_error *error);

/* GET /admin/dead/<id>. */
enum bus_err bus_admin_dead(struct bus *bus, const char *id, struct bus_reply *reply,
                            struct bus_error *error);

/* GET /admin/history?minutes=N (1 to 1440, default 60): publishes, claims,
 * fulfils and failures per minute, oldest first, the last entry the
 * current minute; first_minute is the Unix time the first one began. */
enum bus_err bus_admin_history(struct bus *bus, const char *minutes, struct bus_reply *reply,
                               struct bus_error *error);

/* GET /admin/goals: {"goals":[{"namespace","goal", a count per state
 * (open, scheduled, claimed, expired, fulfilled, dead), "oldest_open_age"
 * (seconds the longest-waiting claimable one has waited, null if none),
 * "paused", "max_claimed" (null: no limit)}], "truncated"}; reads every
 * intent. Goals with controls but no intents are listed too (at the end). */
enum bus_err bus_admin_goals(struct bus *bus, struct bus_reply *reply, struct bus_error *error);

/* ---- goal controls (admin_goals.c) ---- */

#define GOAL_MAX_CLAIMED_MAX 1000000

enum goal_action { GOAL_ACTION_PAUSE, GOAL_ACTION_RESUME, GOAL_ACTION_LIMIT };

/* POST /admin/goals/<namespace>/<goal>/pause, /resume and /limit. path is
 * "<namespace>/<goal>" as the request path has it once percent-decoded:
 * the namespace ends at the first '/', the goal runs to the end. limit's
 * body is {"max_claimed": N} (1 to GOAL_MAX_CLAIMED_MAX) or
 * {"max_claimed": null} (no limit); pause and resume ignore the body.
 * Replies {"ok":true,"namespace","goal","paused","max_claimed"} (the state
 * after the change). Resume and limit wake parked claims. */
enum bus_err bus_admin_goal_control(struct bus *bus, const char *path, enum goal_action action,
                                    const json_t *body, struct bus_reply *reply,
                                    struct bus_error *error);

/* {"namespace","goal","paused","max_claimed"} of one goal (new reference). */
json_t *bus_goal_control_json(const struct goal_control *control);

/* ---- schedules of every key (admin_schedules.c) ---- */

#define ADMIN_SCHEDULE_LIST_MAX 1000

/* GET /admin/schedules: {"schedules":[...],"truncated"}: every key's
 * schedules by name (at most ADMIN_SCHEDULE_LIST_MAX), each as GET
 * /schedules shows it plus key_id, key_owner ("main", the tester key's
 * owner, null if the key is gone), key_revoked, goal, namespace and
 * last_fire ({fire_at, outcome, intent_id} or null). */
enum bus_err bus_admin_schedules(struct bus *bus, const char *main_principal,
                                 struct bus_reply *reply, struct bus_error *error);

/* POST /admin/schedules/<name>/pause and /resume: any key's schedule (a
 * name is unique across keys); replies the schedule as GET /schedules/<name>
 * does. 404 not_found when no schedule has that name. */
enum bus_err bus_admin_schedule_pause(struct bus *bus, const char *name, bool paused,
                                      struct bus_reply *reply, struct bus_error *error);

/* GET /admin/workers?since=S (seconds, default 3600): the workers that
 * claimed (with a job or not) in the last S seconds, per worker id and
 * key, with their capabilities, last claim, claims, and the leases they
 * hold now (held, held_expired) — plus any worker holding a lease the bus
 * has not seen since it started. main_principal is shown as owner "main". */
enum bus_err bus_admin_workers(struct bus *bus, const char *since, const char *main_principal,
                               struct bus_reply *reply, struct bus_error *error);

/* GET /admin/keys. */
enum bus_err bus_admin_keys(struct bus *bus, struct bus_reply *reply, struct bus_error *error);

/* POST /admin/purge. */
enum bus_err bus_admin_purge(struct bus *bus, const json_t *body, struct bus_reply *reply,
                             struct bus_error *error);

/* POST /admin/cleanup: runs the pass now; rate_limits_deleted comes from
 * the auth layer, which keeps rate-limit windows in memory. */
enum bus_err bus_admin_cleanup(struct bus *bus, long rate_limits_deleted,
                               struct bus_reply *reply, struct bus_error *error);

#endif

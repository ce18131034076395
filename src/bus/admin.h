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

/* GET /admin/intents: newest first; each parameter may be NULL. */
enum bus_err bus_admin_list_intents(struct bus *bus, const char *limit, const char *status,
                                    const char *namespace_, struct bus_reply *reply,
                                    struct bus_error *error);

/* GET /admin/intents/<id>: every field, payload included. */
enum bus_err bus_admin_intent(struct bus *bus, const char *id, struct bus_reply *reply,
                              struct bus_error *error);

/* POST /admin/intents/<id>/cancel and /retry. */
enum bus_err bus_admin_cancel(struct bus *bus, const char *id, struct bus_reply *reply,
                              struct bus_error *error);
enum bus_err bus_admin_retry(struct bus *bus, const char *id, struct bus_reply *reply,
                             struct bus_error *error);

/* GET /admin/dead and /admin/dead/<id>. */
enum bus_err bus_admin_dead_list(struct bus *bus, struct bus_reply *reply,
                                 struct bus_error *error);
enum bus_err bus_admin_dead(struct bus *bus, const char *id, struct bus_reply *reply,
                            struct bus_error *error);

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

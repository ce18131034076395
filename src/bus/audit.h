/* The audit log of admin actions (issue 19): who, what, when, from where,
 * kept in the database, newest first through GET /admin/audit. */
#ifndef BUS_AUDIT_H
#define BUS_AUDIT_H

#include <jansson.h>

#include "bus/bus.h"

#define AUDIT_LIST_DEFAULT 50
#define AUDIT_LIST_MAX 500

/* Records one action; detail (may be NULL) is taken. Failures are logged,
 * never reported: the action itself has already happened. */
void bus_audit_record(struct bus *bus, const char *who, const char *address, const char *action,
                      const char *target, json_t *detail);

/* GET /admin/audit?limit=&before=: {"entries":[...],"next":id|null}; each
 * parameter may be NULL. */
enum bus_err bus_audit_list(struct bus *bus, const char *limit, const char *before,
                            struct bus_reply *reply, struct bus_error *error);

#endif

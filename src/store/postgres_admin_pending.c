/* TEMPORARY: replaced by postgres_admin.c/postgres_schedules.c at merge.
 *
 * The admin, key and schedule operations of the PostgreSQL backend are
 * written in parallel on another branch against postgres_internal.h; these
 * placeholders only let this branch link and its client API be tested
 * before the merge. Each refuses with BUS_ERR_INTERNAL. Delete this file
 * (and its line in CMakeLists.txt) when postgres_admin.c and
 * postgres_schedules.c arrive. */
#include "store/postgres_internal.h"

enum bus_err pg_key_create(void *backend, const char *key_hash, const char *owner, double now)
{
    (void)backend, (void)key_hash, (void)owner, (void)now;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_key_revoke(void *backend, const char *key_hash, double now,
                           char owner[OWNER_MAX_BYTES + 1])
{
    (void)backend, (void)key_hash, (void)now, (void)owner;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_key_list(void *backend, store_each_key each, void *context)
{
    (void)backend, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_key_find(void *backend, const char *prefix, char key_hash[PRINCIPAL_LEN + 1])
{
    (void)backend, (void)prefix, (void)key_hash;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_goal_counts(void *backend, double now, int limit, store_each_goal_count each,
                            void *context)
{
    (void)backend, (void)now, (void)limit, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_worker_leases(void *backend, double now, store_each_worker_leases each,
                              void *context)
{
    (void)backend, (void)now, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_audit_add(void *backend, const struct audit_entry *entry)
{
    (void)backend, (void)entry;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_audit_list(void *backend, int limit, long before, store_each_audit each,
                           void *context)
{
    (void)backend, (void)limit, (void)before, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_oldest_open(void *backend, double now, int limit, store_each_oldest each,
                            void *context)
{
    (void)backend, (void)now, (void)limit, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_queue_counts(void *backend, double now, store_each_count each, void *context,
                             struct queue_totals *totals)
{
    (void)backend, (void)now, (void)each, (void)context, (void)totals;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_intent_list(void *backend, const struct intent_filter *filter,
                            store_each_intent each, void *context)
{
    (void)backend, (void)filter, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_intent_cancel(void *backend, const char *id, double now)
{
    (void)backend, (void)id, (void)now;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_intent_retry(void *backend, const char *id, double now)
{
    (void)backend, (void)id, (void)now;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_dead_list(void *backend, const struct dead_filter *filter,
                          store_each_dead_letter each, void *context)
{
    (void)backend, (void)filter, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_dead_purge(void *backend, const struct dead_filter *filter, long *deleted)
{
    (void)backend, (void)filter, (void)deleted;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_dead_get(void *backend, const char *id, struct dead_letter *out)
{
    (void)backend, (void)id, (void)out;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_purge(void *backend, const char *namespace_, struct purge_stats *stats)
{
    (void)backend, (void)namespace_, (void)stats;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_schedule_put(void *backend, const struct schedule *schedule, bool *created)
{
    (void)backend, (void)schedule, (void)created;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_schedule_get(void *backend, const char *name, const char *owner,
                             struct schedule *out)
{
    (void)backend, (void)name, (void)owner, (void)out;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_schedule_list(void *backend, const char *owner, store_each_schedule each,
                              void *context)
{
    (void)backend, (void)owner, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_schedule_set_paused(void *backend, const char *name, const char *owner, bool paused,
                                    double next_at, double now)
{
    (void)backend, (void)name, (void)owner, (void)paused, (void)next_at, (void)now;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_schedule_delete(void *backend, const char *name, const char *owner)
{
    (void)backend, (void)name, (void)owner;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_schedule_due(void *backend, double now, store_each_schedule each, void *context)
{
    (void)backend, (void)now, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_schedule_step(void *backend, struct store_schedule_step *step)
{
    (void)backend, (void)step;
    return BUS_ERR_INTERNAL;
}

enum bus_err pg_schedule_fires(void *backend, const char *schedule_id, int limit,
                               store_each_fire each, void *context)
{
    (void)backend, (void)schedule_id, (void)limit, (void)each, (void)context;
    return BUS_ERR_INTERNAL;
}

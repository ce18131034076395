/* The HTTP handlers, one file per area of the API. Each reads its input
 * from the request, calls the bus, and fills the response. */
#ifndef SERVE_HANDLERS_H
#define SERVE_HANDLERS_H

#include "serve/request.h"

/* serve/health.c */
void handle_health(struct http_request *request, struct http_response *response);
void handle_root(struct http_request *request, struct http_response *response);

/* serve/intents.c */
void handle_publish(struct http_request *request, struct http_response *response);
void handle_claim(struct http_request *request, struct http_response *response);
void handle_publish_many(struct http_request *request, struct http_response *response);
void handle_extend(struct http_request *request, struct http_response *response);
void handle_fulfill(struct http_request *request, struct http_response *response);
void handle_fulfill_many(struct http_request *request, struct http_response *response);
void handle_fail(struct http_request *request, struct http_response *response);

/* serve/results.c */
void handle_result(struct http_request *request, struct http_response *response);
void handle_status(struct http_request *request, struct http_response *response);
void handle_webhook_secret(struct http_request *request, struct http_response *response);

/* serve/kv.c */
void handle_kv_set(struct http_request *request, struct http_response *response);
void handle_kv_get(struct http_request *request, struct http_response *response);

/* serve/admin.c */
/* Records a successful admin action (a 2xx response) in the audit log;
 * the reply's body (counters) becomes its detail when with_reply. */
void admin_audit(struct http_request *request, const struct http_response *response,
                 const char *action, const char *target, bool with_reply);
void handle_admin_stats(struct http_request *request, struct http_response *response);
void handle_admin_intents(struct http_request *request, struct http_response *response);
void handle_admin_intent(struct http_request *request, struct http_response *response);
void handle_admin_cancel(struct http_request *request, struct http_response *response);
void handle_admin_retry(struct http_request *request, struct http_response *response);
void handle_admin_dead_list(struct http_request *request, struct http_response *response);
void handle_admin_dead_retry(struct http_request *request, struct http_response *response);
void handle_admin_dead_purge(struct http_request *request, struct http_response *response);
void handle_admin_dead(struct http_request *request, struct http_response *response);
void handle_admin_keys(struct http_request *request, struct http_response *response);
void handle_admin_workers(struct http_request *request, struct http_response *response);
void handle_admin_goals(struct http_request *request, struct http_response *response);
/* POST /admin/goals/<namespace>/<goal>/pause, /resume, /limit. */
void handle_admin_goal_pause(struct http_request *request, struct http_response *response);
void handle_admin_goal_resume(struct http_request *request, struct http_response *response);
void handle_admin_goal_limit(struct http_request *request, struct http_response *response);
void handle_admin_schedules(struct http_request *request, struct http_response *response);
void handle_admin_schedule_pause(struct http_request *request, struct http_response *response);
void handle_admin_schedule_resume(struct http_request *request, struct http_response *response);
void handle_admin_history(struct http_request *request, struct http_response *response);
void handle_admin_audit(struct http_request *request, struct http_response *response);
void handle_admin_whoami(struct http_request *request, struct http_response *response);
void handle_admin_generate_key(struct http_request *request, struct http_response *response);
void handle_admin_revoke_key(struct http_request *request, struct http_response *response);
void handle_admin_purge(struct http_request *request, struct http_response *response);
void handle_admin_cleanup(struct http_request *request, struct http_response *response);

/* serve/dashboard.c: the page and its script and style */
void handle_dashboard_page(struct http_request *request, struct http_response *response);
void handle_dashboard_script(struct http_request *request, struct http_response *response);
void handle_dashboard_style(struct http_request *request, struct http_response *response);

/* serve/schedules.c */
void handle_schedule_put(struct http_request *request, struct http_response *response);
void handle_schedule_list(struct http_request *request, struct http_response *response);
void handle_schedule_show(struct http_request *request, struct http_response *response);
void handle_schedule_pause(struct http_request *request, struct http_response *response);
void handle_schedule_resume(struct http_request *request, struct http_response *response);
void handle_schedule_delete(struct http_request *request, struct http_response *response);

#endif

/* The route table and the request pipeline: route, method, size,
 * authentication, body, housekeeping, handler. Order matters: an unknown
 * path is 404 and a wrong method 405 for anyone, before any key is asked. */
#include "serve/router.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/net.h"

#include "util/token.h"
#include "serve/access_log.h"
#include "serve/handlers.h"
#include "serve/metrics.h"
#include "serve/server.h"
#include "serve/signing.h"
#include "util/clock.h"


typedef void (*handler_fn)(struct http_request *, struct http_response *);

/* Who may call a route. ACCESS_WRITE is ACCESS_KEY for a route whose
 * handler leaves its write to the glue (response->writing): a signed
 * request's nonce is then recorded in the same transaction as that write,
 * instead of in one of its own that the request thread waits for.
 * ACCESS_READ is ACCESS_KEY for a route whose handler changes nothing: a
 * signed request's answer is made first, and sent once its nonce is
 * committed, which the request thread does not wait for either (a
 * long-poll, `wait=`, records its nonce first: it parks before it
 * answers). ACCESS_KEY's nonce is recorded before its handler runs, and
 * its thread waits for that. */
enum access {
    ACCESS_OPEN,
    ACCESS_KEY,
    ACCESS_WRITE,
    ACCESS_READ,
    ACCESS_ADMIN,
    ACCESS_METRICS,
    ACCESS_KEY_OR_ADMIN /* an API key; or, sent without one, admin credentials */
};

struct route {
    const char *method;
    const char *path;   /* ends in '/' when a parameter follows */
    const char *suffix; /* what follows the parameter, or NULL */
    bool has_param;
    bool param_has_slashes; /* KV keys may contain '/', intent ids never;
                             * "<namespace>/<goal>" always has one */
    bool offload;           /* run on the offload thread (serve/offload.h): its handler
                             * waits for the writer or scans the database */
    enum access access;
    handler_fn handler;
};

/* Suffixed routes come before the plain parameter route they share a
 * prefix with. */
static const struct route routes[] = {
    {"GET", "/health", NULL, false, false, false, ACCESS_OPEN, handle_health},
    {"GET", "/", NULL, false, false, false, ACCESS_OPEN, handle_root},
    {"POST", "/intent", NULL, false, false, false, ACCESS_WRITE, handle_publish},
    {"POST", "/claim", NULL, false, false, false, ACCESS_WRITE, handle_claim},
    {"POST", "/intents", NULL, false, false, false, ACCESS_WRITE, handle_publish_many},
    {"POST", "/extend_claim/", NULL, true, false, false, ACCESS_WRITE, handle_extend},
    {"POST", "/fulfill", NULL, false, false, false, ACCESS_WRITE, handle_fulfill_many},
    {"POST", "/fulfill/", NULL, true, false, false, ACCESS_WRITE, handle_fulfill},
    {"POST", "/fail/", NULL, true, false, false, ACCESS_WRITE, handle_fail},
    {"GET", "/result/", NULL, true, false, false, ACCESS_READ, handle_result},
    {"GET", "/status/", NULL, true, false, false, ACCESS_READ, handle_status},
    {"GET", "/webhooks/secret", NULL, false, false, false, ACCESS_READ, handle_webhook_secret},
    {"POST", "/set/", NULL, true, true, false, ACCESS_WRITE, handle_kv_set},
    {"GET", "/get/", NULL, true, true, false, ACCESS_READ, handle_kv_get},
    {"GET", "/admin/dashboard", NULL, false, false, false, ACCESS_ADMIN, handle_dashboard_page},
    {"GET", "/admin/dashboard.js", NULL, false, false, false, ACCESS_ADMIN,
     handle_dashboard_script},
    {"GET", "/admin/dashboard.css", NULL, false, false, false, ACCESS_ADMIN,
     handle_dashboard_style},
    {"GET", "/admin/stats", NULL, false, false, true, ACCESS_ADMIN, handle_admin_stats},
    {"GET", "/admin/keys", NULL, false, false, true, ACCESS_ADMIN, handle_admin_keys},
    {"GET", "/admin/audit", NULL, false, false, true, ACCESS_ADMIN, handle_admin_audit},
    {"GET", "/admin/history", NULL, false, false, false, ACCESS_ADMIN, handle_admin_history},
    {"GET", "/admin/goals", NULL, false, false, true, ACCESS_ADMIN, handle_admin_goals},
    {"POST", "/admin/goals/", "/pause", true, true, true, ACCESS_ADMIN, handle_admin_goal_pause},
    {"POST", "/admin/goals/", "/resume", true, true, true, ACCESS_ADMIN, handle_admin_goal_resume},
    {"POST", "/admin/goals/", "/limit", true, true, true, ACCESS_ADMIN, handle_admin_goal_limit},
    {"GET", "/admin/schedules", NULL, false, false, true, ACCESS_ADMIN, handle_admin_schedules},
    {"POST", "/admin/schedules/", "/pause", true, false, true, ACCESS_ADMIN,
     handle_admin_schedule_pause},
    {"POST", "/admin/schedules/", "/resume", true, false, true, ACCESS_ADMIN,
     handle_admin_schedule_resume},
    {"GET", "/admin/workers", NULL, false, false, true, ACCESS_ADMIN, handle_admin_workers},
    {"GET", "/admin/whoami", NULL, false, false, false, ACCESS_ADMIN, handle_admin_whoami},
    {"GET", "/admin/intents", NULL, false, false, true, ACCESS_ADMIN, handle_admin_intents},
    {"POST", "/admin/intents/", "/cancel", true, false, true, ACCESS_ADMIN, handle_admin_cancel},
    {"POST", "/admin/intents/", "/retry", true, false, true, ACCESS_ADMIN, handle_admin_retry},
    {"GET", "/admin/intents/", NULL, true, false, true, ACCESS_ADMIN, handle_admin_intent},
    {"GET", "/admin/dead", NULL, false, false, true, ACCESS_ADMIN, handle_admin_dead_list},
    {"POST", "/admin/dead/retry", NULL, false, false, true, ACCESS_ADMIN, handle_admin_dead_retry},
    {"POST", "/admin/dead/purge", NULL, false, false, true, ACCESS_ADMIN, handle_admin_dead_purge},
    {"GET", "/admin/dead/", NULL, true, false, true, ACCESS_ADMIN, handle_admin_dead},
    {"POST", "/admin/generate_key", NULL, false, false, true, ACCESS_ADMIN,
     handle_admin_generate_key},
    {"POST", "/admin/revoke_key", NULL, false, false, true, ACCESS_ADMIN, handle_admin_revoke_key},
    {"POST", "/admin/purge", NULL, false, false, true, ACCESS_ADMIN, handle_admin_purge},
    {"POST", "/admin/cleanup", NULL, false, false, true, ACCESS_ADMIN, handle_admin_cleanup},
    {"GET", "/metrics", NULL, false, false, true, ACCESS_METRICS, handle_metrics},
    {"POST", "/schedules", NULL, false, false, true, ACCESS_KEY_OR_ADMIN, handle_schedule_put},
    {"GET", "/schedules", NULL, false, false, true, ACCESS_KEY_OR_ADMIN, handle_schedule_list},
    {"POST", "/schedules/", "/pause", true, false, true, ACCESS_KEY_OR_ADMIN,
     handle_schedule_pause},
    {"POST", "/schedules/", "/resume", true, false, true, ACCESS_KEY_OR_ADMIN,
     handle_schedule_resume},
    {"GET", "/schedules/", NULL, true, false, true, ACCESS_KEY_OR_ADMIN, handle_schedule_show},
    {"DELETE", "/schedules/", NULL, true, false, true, ACCESS_KEY_OR_ADMIN, handle_schedule_delete},
};

#define ROUTE_COUNT ((int)(sizeof routes / sizeof routes[0]))
_Static_assert(ROUTE_COUNT < METRICS_ROUTE_SLOTS, "metrics need a slot per route and one more");

int router_route_count(void) { return ROUTE_COUNT; }

void router_route_label(int index, char *out, size_t size)
{
    const struct route *route = &routes[index];
    snprintf(out, size, "%s%s%s", route->path, route->has_param ? "{id}" : "",
             route->suffix ? route->suffix : "");
}

const char *router_route_method(int index) { return routes[index].method; }

static bool ends_with(const char *text, const char *suffix)
{
    size_t text_length = strlen(text);
    size_t suffix_length = strlen(suffix);
    return text_length > suffix_length &&
           strcmp(text + text_length - suffix_length, suffix) == 0;
}

/* Matches path against a route; *param gets the parameter segment (for a
 * suffixed route, still followed by the suffix). */
static bool path_matches(const struct route *route, const char *path, const char **param)
{
    *param = NULL;
    if (!route->has_param)
        return strcmp(path, route->path) == 0;
    size_t prefix = strlen(route->path);
    if (strncmp(path, route->path, prefix) != 0 || path[prefix] == '\0')
        return false;
    const char *rest = path + prefix;
    if (route->suffix != NULL) {
        if (!ends_with(rest, route->suffix))
            return false;
        size_t length = strlen(rest) - strlen(route->suffix);
        if (!route->param_has_slashes && memchr(rest, '/', length) != NULL)
            return false;
    } else if (!route->param_has_slashes && strchr(rest, '/') != NULL) {
        return false;
    }
    *param = rest;
    return true;
}

static bool method_matches(const struct route *route, const char *method)
{
    return strcmp(method, route->method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route->method, "GET") == 0);
}

static void fail_with(struct http_response *response, enum bus_err err, const char *message)
{
    struct bus_error error;
    bus_error_set(&error, err, NULL, "%s", message);
    response_error(response, &error);
}

/* Parses a non-empty body; an empty one leaves request->json NULL. */
static bool parse_body(struct http_request *request, const struct request_body *body,
                       struct http_response *response)
{
    if (body->size == 0)
        return true;
    json_error_t parse_error;
    request->json = json_loadb(body->data, body->size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &parse_error);
    if (request->json != NULL)
        return true;
    struct bus_error error;
    bus_error_set(&error, BUS_ERR_INVALID_JSON, NULL, "body is not valid JSON: %s",
                  parse_error.text);
    response_error(response, &error);
    return false;
}

static bool authenticate(struct http_request *request, struct http_response *response)
{
    struct bus_error error;
    const char *key = request_header(request, "X-API-KEY");
    if (auth_authenticate(&request->server->auth, key, &request->caller, &error) != BUS_OK) {
        response_error(response, &error);
        return false;
    }
    double retry_after = 0;
    if (request->caller.is_tester &&
        !rate_limit_take(&request->server->rate_limits, request->caller.id, clock_now(),
                         &retry_after)) {
        bus_error_set(&error, BUS_ERR_RATE_LIMITED, NULL, "Too many requests: more than %d a minute",
                      request->server->rate_limits.limit);
        response_error(response, &error);
        response->retry_after = (unsigned)ceil(retry_after);
        if (response->retry_after == 0)
            response->retry_after = 1;
        return false;
    }
    return true;
}

static enum admin_proof proof_of_admin(const struct http_request *request)
{
    return admin_auth_check(&request->server->admin, request_header(request, "X-Admin-Token"),
                            request_header(request, "Authorization"));
}

/* "https://host:port" names the same host as the Host header. */
static bool origin_is_host(const char *origin, const char *host)
{
    const char *authority = strstr(origin, "://");
    return authority != NULL && host != NULL && strcmp(authority + 3, host) == 0;
}

/* A browser sends a cached Basic password with any request, including a
 * form another site makes it post: a state-changing admin request proven
 * only by that password must come from the dashboard's own origin.
 * Browsers mark cross-site requests with Sec-Fetch-Site and Origin; curl
 * and scripts send neither, and X-Admin-Token cannot be forged that way. */
static bool forged_by_another_site(const struct http_request *request)
{
    if (strcmp(request->method, "POST") != 0)
        return false;
    const char *fetch_site = request_header(request, "Sec-Fetch-Site");
    if (fetch_site != NULL && strcmp(fetch_site, "same-origin") != 0 &&
        strcmp(fetch_site, "none") != 0)
        return true;
    const char *origin = request_header(request, "Origin");
    return origin != NULL && !origin_is_host(origin, request_header(request, "Host"));
}

/* /metrics: "Authorization: Bearer <BUS_METRICS_TOKEN>", or an admin. */
static bool authenticate_metrics(struct http_request *request, struct http_response *response)
{
    const char *authorization = request_header(request, "Authorization");
    const char *hash = request->server->metrics_token_hash;
    if (hash[0] && authorization && strncmp(authorization, "Bearer ", 7) == 0) {
        char digest[65];
        token_sha256_hex(authorization + 7, strlen(authorization + 7), digest);
        if (token_equal(digest, hash))
            return true;
    }
    if (proof_of_admin(request) != ADMIN_NONE)
        return true;
    fail_with(response, BUS_ERR_UNAUTHORIZED, "a metrics token or admin credentials required");
    return false;
}

static bool authenticate_admin(struct http_request *request, struct http_response *response)
{
    enum admin_proof proof = proof_of_admin(request);
    if (proof == ADMIN_BY_PASSWORD && forged_by_another_site(request)) {
        fail_with(response, BUS_ERR_FORBIDDEN, "cross-site admin requests are refused");
        return false;
    }
    if (proof == ADMIN_READ_ONLY && strcmp(request->method, "GET") != 0 &&
        strcmp(request->method, "HEAD") != 0) {
        fail_with(response, BUS_ERR_FORBIDDEN, "the read-only admin credential cannot act");
        return false;
    }
    if (proof != ADMIN_NONE) {
        /* Who, for the access log and the audit log. */
        strcpy(request->caller.label, proof == ADMIN_READ_ONLY     ? "viewer"
                                      : proof == ADMIN_BY_PASSWORD ? "admin-password"
                                                                   : "admin-token");
        return true;
    }
    /* The original server's words, which its clients may look for. */
    fail_with(response, BUS_ERR_UNAUTHORIZED, "Authentication required.");
    response->ask_for_password = true;
    return false;
}

static const struct route *find_route(const char *method, const char *path, const char **param,
                                      const char **allowed)
{
    *allowed = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!path_matches(&routes[i], path, param))
            continue;
        if (method_matches(&routes[i], method))
            return &routes[i];
        *allowed = routes[i].method;
    }
    return NULL;
}

/* Whether the client reached us over HTTPS: natively, or through a proxy
 * that says so, when we were told to believe it. */
static bool came_over_https(const struct http_request *request)
{
    const struct config *config = &request->server->config;
    if (config->tls_cert[0] != '\0')
        return true;
    const char *proto = request_header(request, "X-Forwarded-Proto");
    return config->trust_proxy && proto != NULL && strcasecmp(proto, "https") == 0;
}

size_t router_body_limit(const char *method, const char *path)
{
    bool batch = strcmp(path, "/intents") == 0 || strcmp(path, "/fulfill") == 0;
    return strcmp(method, "POST") == 0 && batch ? REQUEST_BATCH_BODY_MAX : REQUEST_BODY_MAX;
}

/* Whether a signed request's nonce may wait until its handler has run
 * (enum access): true for a write's, and a read's that does not park. */
static bool nonce_after_handler(const struct http_request *request, enum access access)
{
    return access == ACCESS_WRITE ||
           (access == ACCESS_READ && request_query(request, "wait") == NULL);
}

/* The checks before the handler; false when one of them has answered. */
static bool admit(struct http_request *request, const struct route *route, const char *allowed,
                  const struct request_body *body, struct http_response *response)
{
    if (route == NULL && allowed != NULL) {
        response->allow = allowed;
        fail_with(response, BUS_ERR_METHOD_NOT_ALLOWED, "method not allowed on this path");
        return false;
    }
    if (route == NULL) {
        fail_with(response, BUS_ERR_NOT_FOUND, "no such endpoint");
        return false;
    }
    if (body->too_large) {
        char message[64];
        snprintf(message, sizeof message, "request body exceeds %zu bytes", body->limit);
        fail_with(response, BUS_ERR_PAYLOAD_TOO_LARGE, message);
        return false;
    }
    if (request->server->config.enforce_https && route->access != ACCESS_OPEN &&
        !came_over_https(request)) {
        fail_with(response, BUS_ERR_FORBIDDEN, "HTTPS is required");
        return false;
    }
    enum access access = route->access;
    if (access == ACCESS_KEY_OR_ADMIN) {
        request->by_admin = request_header(request, "X-API-KEY") == NULL &&
                            proof_of_admin(request) != ADMIN_NONE;
        access = request->by_admin ? ACCESS_ADMIN : ACCESS_KEY;
    }
    bool by_key = access == ACCESS_KEY || access == ACCESS_WRITE || access == ACCESS_READ;
    if (request->server->config.maintenance && by_key) {
        fail_with(response, BUS_ERR_MAINTENANCE, "the bus is in maintenance mode");
        response->retry_after = 60;
        return false;
    }
    if (by_key && (!authenticate(request, response) ||
                   !signing_check(request, body, nonce_after_handler(request, access), response)))
        return false;
    if (access == ACCESS_ADMIN && !authenticate_admin(request, response))
        return false;
    if (route->access == ACCESS_METRICS && !authenticate_metrics(request, response))
        return false;
    return parse_body(request, body, response);
}

/* The first length bytes of text, cut to size - 1, and a NUL: snprintf's
 * "%.*s" without its format machinery, for the access log's fields copied
 * once or twice per request (docs/BENCHMARKS.md, "Access log without a
 * write per request"). */
static void copy_text(char *out, size_t size, const char *text, size_t length)
{
    assert(size > 0);
    if (length >= size)
        length = size - 1;
    memcpy(out, text, length);
    out[length] = '\0';
}

/* Who sent the request, for the log: the peer's address, or the first
 * X-Forwarded-For hop when BUS_TRUST_PROXY says the peer is our proxy. */
void router_client_address(struct server *server, struct net_request *exchange, char *out,
                           size_t size)
{
    const char *forwarded = net_request_header(exchange, "X-Forwarded-For");
    if (server->config.trust_proxy && forwarded != NULL) {
        copy_text(out, size, forwarded, strcspn(forwarded, ", "));
        return;
    }
    const char *peer = net_request_client_address(exchange);
    copy_text(out, size, peer, strlen(peer));
}

static void observe(struct server *server, struct net_request *exchange, const char *method,
                    const char *path, unsigned status, double seconds, const char *who,
                    bool waited)
{
    const char *param = NULL;
    const char *allowed = NULL;
    const struct route *route = find_route(method, path, &param, &allowed);
    http_metrics_record(&server->metrics, route ? (int)(route - routes) : -1, status, seconds,
                        waited);
    if (server->config.log_level <= LOG_ERROR) {
        char client[64];
        router_client_address(server, exchange, client, sizeof client);
        access_log_write((enum log_level)server->config.log_level, client, method, path, status,
                         seconds, who ? who : "-");
    }
}

void router_observe(struct server *server, struct net_request *exchange, const char *method,
                    const char *path, unsigned status, double seconds, const char *who)
{
    observe(server, exchange, method, path, status, seconds, who, false);
}

void router_observe_wait(struct server *server, struct net_request *exchange,
                         const char *method, const char *path, unsigned status, double seconds,
                         const char *who)
{
    observe(server, exchange, method, path, status, seconds, who, true);
}

/* A request routed to the offload thread, from router_dispatch (on its
 * loop) to router_run_offloaded (on that thread). The request's method,
 * path and body stay where the HTTP layer keeps them: a connection reads
 * nothing more while its request is pending. */
struct router_offload {
    struct server *server;
    struct net_request *exchange;
    const char *method;
    const char *path;
    struct request_body body;
    const struct route *route;
    const char *param;
    double started;
};

/* The pipeline past routing: admission, housekeeping, handler, nonce. */
static void run_route(struct http_request *request, const struct route *route, const char *allowed,
                      const struct request_body *body, struct http_response *response)
{
    if (admit(request, route, allowed, body, response)) {
        bus_housekeeping(&request->server->bus, clock_now());
        route->handler(request, response);
        if (response->body == NULL && response->status != 204 && response->suspended == NULL &&
            response->writing == NULL)
            response->status = 500; /* what the glue will send: out of memory */
        if (request->signed_nonce != NULL)
            signing_record_nonce(request, response);
    }
    json_decref(request->json);
}

/* Leaves what the glue needs to count the answer later (a write's, an
 * offloaded request's) in response. */
static void keep_for_later(struct http_response *response, double started, const char *who)
{
    response->started = started;
    copy_text(response->who, sizeof response->who, who, strlen(who));
}

/* Packs the request for the offload thread; false when out of memory (it
 * is then run here). */
static bool leave_for_offload(struct http_request *request, const struct route *route,
                              const struct request_body *body, double started,
                              struct http_response *response)
{
    struct router_offload *offload = calloc(1, sizeof *offload);
    if (offload == NULL)
        return false;
    *offload = (struct router_offload){.server = request->server,
                                       .exchange = request->exchange,
                                       .method = request->method,
                                       .path = request->path,
                                       .body = *body,
                                       .route = route,
                                       .param = request->param,
                                       .started = started};
    response->offloaded = offload;
    return true;
}

void router_dispatch(struct server *server, struct net_request *exchange, const char *method,
                     const char *path, const struct request_body *body, bool may_offload,
                     struct http_response *response)
{
    double started = clock_monotonic();
    struct http_request request = {.server = server, .exchange = exchange,
                                   .method = method, .path = path};
    strcpy(request.caller.label, "-");
    const char *allowed = NULL;
    const struct route *route = find_route(method, path, &request.param, &allowed);
    if (may_offload && route != NULL && route->offload &&
        leave_for_offload(&request, route, body, started, response))
        return;
    run_route(&request, route, allowed, body, response);
    if (response->writing != NULL) {
        keep_for_later(response, started, request.caller.label);
    } else if (response->suspended == NULL) {
        router_observe(server, exchange, method, path, response->status,
                       clock_monotonic() - started, request.caller.label);
    }
}

void router_run_offloaded(struct router_offload *offload, struct http_response *response)
{
    struct http_request request = {.server = offload->server,
                                   .exchange = offload->exchange,
                                   .method = offload->method,
                                   .path = offload->path,
                                   .param = offload->param};
    strcpy(request.caller.label, "-");
    run_route(&request, offload->route, NULL, &offload->body, response);
    keep_for_later(response, offload->started, request.caller.label);
    free(offload);
}

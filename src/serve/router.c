/* The route table and the request pipeline: route, method, size,
 * authentication, body, housekeeping, handler. Order matters: an unknown
 * path is 404 and a wrong method 405 for anyone, before any key is asked. */
#include "serve/router.h"

#include <string.h>

#include "serve/handlers.h"
#include "serve/server.h"
#include "util/clock.h"

typedef void (*handler_fn)(struct http_request *, struct http_response *);

struct route {
    const char *method;
    const char *path; /* ends in '/' when a parameter follows */
    bool has_param;
    bool needs_key;
    handler_fn handler;
};

static const struct route routes[] = {
    {"GET", "/health", false, false, handle_health},
    {"POST", "/intent", false, true, handle_publish},
    {"POST", "/claim", false, true, handle_claim},
    {"POST", "/extend_claim/", true, true, handle_extend},
    {"POST", "/fulfill/", true, true, handle_fulfill},
    {"POST", "/fail/", true, true, handle_fail},
    {"GET", "/result/", true, true, handle_result},
    {"GET", "/status/", true, true, handle_status},
    {"POST", "/set/", true, true, handle_kv_set},
    {"GET", "/get/", true, true, handle_kv_get},
};

/* Matches path against a route; *param gets the parameter segment. */
static bool path_matches(const struct route *route, const char *path, const char **param)
{
    *param = NULL;
    if (!route->has_param)
        return strcmp(path, route->path) == 0;
    size_t prefix = strlen(route->path);
    if (strncmp(path, route->path, prefix) != 0 || path[prefix] == '\0')
        return false;
    *param = path + prefix;
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
    if (auth_authenticate(&request->server->auth, key, &request->caller, &error) == BUS_OK)
        return true;
    response_error(response, &error);
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
        fail_with(response, BUS_ERR_PAYLOAD_TOO_LARGE, "request body exceeds 8192 bytes");
        return false;
    }
    if (route->needs_key && !authenticate(request, response))
        return false;
    return parse_body(request, body, response);
}

void router_dispatch(struct server *server, struct MHD_Connection *connection, const char *method,
                     const char *path, const struct request_body *body,
                     struct http_response *response)
{
    struct http_request request = {.server = server, .connection = connection,
                                   .method = method, .path = path};
    const char *allowed = NULL;
    const struct route *route = find_route(method, path, &request.param, &allowed);
    if (admit(&request, route, allowed, body, response)) {
        bus_housekeeping(&server->bus, clock_now());
        route->handler(&request, response);
    }
    json_decref(request.json);
}

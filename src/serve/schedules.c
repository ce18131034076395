/* Handlers of /schedules (docs/PROTOCOL-EXTENSIONS.md). The main key and
 * admin credentials see and manage every schedule; a tester key its own.
 * What admin credentials change here is an admin action, audited as
 * /admin/schedules's are. */
#include <stdio.h>
#include <string.h>

#include "bus/schedules.h"
#include "serve/handlers.h"
#include "serve/server.h"

static bool sees_all(const struct http_request *request)
{
    return request->by_admin || !request->caller.is_tester;
}

void handle_schedule_put(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = request->by_admin
                           ? bus_error_set(&error, BUS_ERR_FORBIDDEN, NULL,
                                           "a schedule belongs to an API key: send X-API-KEY")
                           : bus_schedule_put(&request->server->bus, &request->caller,
                                              request->json, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_schedule_list(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_schedule_list(&request->server->bus, &request->caller, sees_all(request),
                                         &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_schedule_show(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_schedule_show(&request->server->bus, &request->caller, sees_all(request),
                                         request->param, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

/* request->param still ends in "/pause" or "/resume": the router leaves
 * the suffix on. */
static void set_paused(struct http_request *request, struct http_response *response, bool paused)
{
    char name[SCHEDULE_NAME_MAX + 1];
    size_t length = strlen(request->param) - strlen(paused ? "/pause" : "/resume");
    snprintf(name, sizeof name, "%.*s", (int)length, request->param);
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = length > SCHEDULE_NAME_MAX /* no such name: never truncate to one */
                           ? bus_error_set(&error, BUS_ERR_NOT_FOUND, NULL, "no such schedule")
                           : bus_schedule_pause(&request->server->bus, &request->caller,
                                                sees_all(request), name, paused, &reply, &error);
    response_from_bus(response, err, &reply, &error);
    if (request->by_admin)
        admin_audit(request, response, paused ? "schedule_pause" : "schedule_resume", name, false);
}

void handle_schedule_pause(struct http_request *request, struct http_response *response)
{
    set_paused(request, response, true);
}

void handle_schedule_resume(struct http_request *request, struct http_response *response)
{
    set_paused(request, response, false);
}

void handle_schedule_delete(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_schedule_delete(&request->server->bus, &request->caller,
                                           sees_all(request), request->param, &reply, &error);
    response_from_bus(response, err, &reply, &error);
    if (request->by_admin)
        admin_audit(request, response, "schedule_delete", request->param, false);
}

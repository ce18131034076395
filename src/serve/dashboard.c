/* GET /admin/dashboard and its script and style: static files compiled into
 * the binary (cmake/embed.cmake), so the page works offline and needs no
 * files beside the server. The page may only load what it came with. */
#include "serve/handlers.h"

extern const char dashboard_html[];
extern const char dashboard_js[];
extern const char dashboard_css[];

#define DASHBOARD_CSP                                                                           \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "            \
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static void serve_asset(struct http_response *response, const char *body, const char *type)
{
    response->status = 200;
    response->body = (char *)body;
    response->body_is_static = true;
    response->content_type = type;
    response->content_security_policy = DASHBOARD_CSP;
}

void handle_dashboard_page(struct http_request *request, struct http_response *response)
{
    (void)request;
    serve_asset(response, dashboard_html, "text/html; charset=utf-8");
}

void handle_dashboard_script(struct http_request *request, struct http_response *response)
{
    (void)request;
    serve_asset(response, dashboard_js, "text/javascript; charset=utf-8");
}

void handle_dashboard_style(struct http_request *request, struct http_response *response)
{
    (void)request;
    serve_asset(response, dashboard_css, "text/css; charset=utf-8");
}

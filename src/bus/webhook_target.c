/* Where a completion webhook may go; see webhook_target.h. */
#include "bus/webhook_target.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/intent.h"

#define PATTERN_MAX 64

/* One allow-list pattern: a host glob and a port (0 = the scheme's default
 * port, -1 = any). */
struct pattern {
    char host[WEBHOOK_HOST_MAX + 1];
    int port;
    bool is_literal; /* host is an IP literal, no wildcard */
};

struct webhook_policy {
    bool allow_private;
    int count;
    struct pattern patterns[PATTERN_MAX];
};

static bool parse_port(const char *text, size_t len, int *port)
{
    if (len == 0 || len > 5)
        return false;
    int value = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)text[i]))
            return false;
        value = value * 10 + (text[i] - '0');
    }
    *port = value;
    return value >= 1 && value <= 65535;
}

static bool is_ip_literal(const char *host)
{
    unsigned char buffer[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buffer) == 1 || inet_pton(AF_INET6, host, buffer) == 1;
}

/* Splits "host[:port]" or "[v6][:port]" (authority, len bytes) into a
 * lowercase host and the port text after the colon ("" when none). */
static bool split_host_port(const char *authority, size_t len, char host[WEBHOOK_HOST_MAX + 1],
                            const char **port, size_t *port_len)
{
    const char *host_start = authority;
    size_t host_len;
    const char *rest;
    if (len > 0 && authority[0] == '[') {
        const char *close = memchr(authority, ']', len);
        if (close == NULL)
            return false;
        host_start = authority + 1;
        host_len = (size_t)(close - host_start);
        rest = close + 1;
    } else {
        const char *colon = memchr(authority, ':', len);
        host_len = colon ? (size_t)(colon - authority) : len;
        rest = authority + host_len;
    }
    size_t rest_len = len - (size_t)(rest - authority);
    if (host_len == 0 || host_len > WEBHOOK_HOST_MAX || (rest_len > 0 && rest[0] != ':'))
        return false;
    for (size_t i = 0; i < host_len; i++)
        host[i] = (char)tolower((unsigned char)host_start[i]);
    host[host_len] = '\0';
    *port = rest_len > 0 ? rest + 1 : rest;
    *port_len = rest_len > 0 ? rest_len - 1 : 0;
    return true;
}

static bool host_chars_ok(const char *host, bool wildcard)
{
    for (const char *c = host; *c; c++) {
        if (!isalnum((unsigned char)*c) && !strchr(".-_:", *c) && !(wildcard && *c == '*'))
            return false;
    }
    return true;
}

bool webhook_url_parse(const char *url, struct webhook_url *out, const char **why)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(url);
    if (len > NOTIFY_URL_MAX_BYTES) {
        *why = "notify_url is longer than 2048 bytes";
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f) {
            *why = "notify_url must be a URL without spaces, control or non-ASCII characters";
            return false;
        }
    }
    const char *rest;
    if (strncmp(url, "https://", 8) == 0) {
        out->https = true;
        rest = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        rest = url + 7;
    } else {
        *why = "notify_url must be an http:// or https:// URL";
        return false;
    }
    size_t authority_len = strcspn(rest, "/?#");
    const char *port = NULL;
    size_t port_len = 0;
    if (memchr(rest, '@', authority_len) != NULL) {
        *why = "notify_url must not carry user information (user:password@)";
        return false;
    }
    if (!split_host_port(rest, authority_len, out->host, &port, &port_len) ||
        !host_chars_ok(out->host, false)) {
        *why = "notify_url has no valid host";
        return false;
    }
    out->port = out->https ? 443 : 80;
    if (port_len > 0 && !parse_port(port, port_len, &out->port)) {
        *why = "notify_url has an invalid port";
        return false;
    }
    out->host_is_ip = is_ip_literal(out->host);
    if (strchr(out->host, ':') != NULL && !out->host_is_ip) {
        *why = "notify_url has no valid host";
        return false;
    }
    return true;
}

/* Parses one pattern of the list (text, len bytes, spaces trimmed). */
static bool parse_pattern(const char *text, size_t len, struct pattern *out)
{
    const char *port = NULL;
    size_t port_len = 0;
    if (!split_host_port(text, len, out->host, &port, &port_len) || !host_chars_ok(out->host, true))
        return false;
    out->port = 0;
    if (port_len == 1 && port[0] == '*')
        out->port = -1;
    else if (port_len > 0 && !parse_port(port, port_len, &out->port))
        return false;
    out->is_literal = strchr(out->host, '*') == NULL && is_ip_literal(out->host);
    return true;
}

struct webhook_policy *webhook_policy_new(const char *allow_list, bool allow_private, char *why,
                                          size_t why_size)
{
    struct webhook_policy *policy = calloc(1, sizeof *policy);
    if (policy == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    policy->allow_private = allow_private;
    for (const char *p = allow_list; *p;) {
        size_t len = strcspn(p, ",");
        const char *start = p;
        p += len + (p[len] == ',');
        while (len > 0 && isspace((unsigned char)*start)) {
            start++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)start[len - 1]))
            len--;
        if (len == 0)
            continue;
        if (policy->count == PATTERN_MAX ||
            !parse_pattern(start, len, &policy->patterns[policy->count])) {
            snprintf(why, why_size,
                     "BUS_WEBHOOK_ALLOW: bad pattern \"%.*s\" (host[:port], * "
                     "a wildcard, at most %d patterns)",
                     (int)len, start, PATTERN_MAX);
            free(policy);
            return NULL;
        }
        policy->count++;
    }
    return policy;
}

void webhook_policy_free(struct webhook_policy *policy)
{
    free(policy);
}

/* A glob with `*` matching any run of characters (dots too). */
static bool glob_match(const char *pattern, const char *text)
{
    if (*pattern == '\0')
        return *text == '\0';
    if (*pattern == '*')
        return glob_match(pattern + 1, text) || (*text != '\0' && glob_match(pattern, text + 1));
    return *text == *pattern && glob_match(pattern + 1, text + 1);
}

/* The same address, however the two literals are written. */
static bool same_literal(const char *a, const char *b)
{
    unsigned char x[sizeof(struct in6_addr)], y[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1)
        return memcmp(x, y, 4) == 0;
    if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1)
        return memcmp(x, y, 16) == 0;
    return false;
}

static bool pattern_matches(const struct pattern *pattern, const struct webhook_url *url)
{
    int default_port = url->https ? 443 : 80;
    bool port_ok = pattern->port == -1 ||
                   (pattern->port == 0 ? url->port == default_port : url->port == pattern->port);
    if (!port_ok)
        return false;
    if (pattern->is_literal)
        return url->host_is_ip && same_literal(pattern->host, url->host);
    return glob_match(pattern->host, url->host);
}

static bool literal_is_private(const char *host)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1)
        return webhook_address_is_private((const struct sockaddr *)&v4);
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1)
        return webhook_address_is_private((const struct sockaddr *)&v6);
    return false;
}

static bool is_localhost_name(const char *host)
{
    size_t len = strlen(host);
    if (len > 0 && host[len - 1] == '.')
        len--; /* the root label: "localhost." is the same name */
    const char suffix[] = ".localhost";
    return (len == sizeof "localhost" - 1 && strncmp(host, "localhost", len) == 0) ||
           (len > sizeof suffix - 1 &&
            strncmp(host + len - (sizeof suffix - 1), suffix, sizeof suffix - 1) == 0);
}

enum bus_err webhook_policy_check(const struct webhook_policy *policy, const char *url,
                                  struct webhook_url *out, struct bus_error *error)
{
    const char *why = NULL;
    if (!webhook_url_parse(url, out, &why))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_notify_url", "%s", why);
    if (policy == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "webhook_not_allowed",
                             "webhooks are off on this bus (the operator has not set "
                             "BUS_WEBHOOK_ALLOW)");
    const struct pattern *match = NULL;
    for (int i = 0; i < policy->count && match == NULL; i++)
        if (pattern_matches(&policy->patterns[i], out))
            match = &policy->patterns[i];
    if (match == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "webhook_not_allowed",
                             "notify_url's host and port are not in this bus's BUS_WEBHOOK_ALLOW");
    out->literal_allowed = match->is_literal;
    bool private_target =
        out->host_is_ip ? literal_is_private(out->host) : is_localhost_name(out->host);
    if (private_target && !policy->allow_private && !out->literal_allowed)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "webhook_not_allowed",
                             "notify_url points to a loopback, link-local, private or "
                             "unspecified address, which webhooks never reach unless allowed "
                             "explicitly");
    return BUS_OK;
}

/* The IPv4 ranges a webhook never reaches unless allowed explicitly. */
static const struct {
    uint32_t network;
    int bits;
} v4_internal[] = {
    {0x00000000, 8},  /* "this network", 0.0.0.0 included */
    {0x0a000000, 8},  /* private (RFC 1918) */
    {0x64400000, 10}, /* shared address space (RFC 6598) */
    {0x7f000000, 8},  /* loopback */
    {0xa9fe0000, 16}, /* link-local, cloud metadata services */
    {0xac100000, 12}, /* private (RFC 1918) */
    {0xc0000000, 24}, /* IETF protocol assignments */
    {0xc0a80000, 16}, /* private (RFC 1918) */
    {0xc6120000, 15}, /* benchmarking */
    {0xe0000000, 3},  /* multicast (224/4) and reserved (240/4, broadcast) */
};

static bool v4_is_private(uint32_t address)
{
    for (size_t i = 0; i < sizeof v4_internal / sizeof *v4_internal; i++) {
        uint32_t mask = 0xffffffffu << (32 - v4_internal[i].bits);
        if ((address & mask) == v4_internal[i].network)
            return true;
    }
    return false;
}

bool webhook_address_is_private(const struct sockaddr *address)
{
    if (address->sa_family == AF_INET)
        return v4_is_private(ntohl(((const struct sockaddr_in *)address)->sin_addr.s_addr));
    if (address->sa_family != AF_INET6)
        return true;
    const unsigned char *b = ((const struct sockaddr_in6 *)address)->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char zeros[15] = {0};
    if (memcmp(b, mapped, sizeof mapped) == 0)
        return v4_is_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 |
                             b[15]);
    if (memcmp(b, zeros, sizeof zeros) == 0)
        return true;                                  /* :: and ::1 (and the old compatible form) */
    return (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* link-local */
           (b[0] & 0xfe) == 0xfc ||                   /* unique local */
           b[0] == 0xff;                              /* multicast */
}

bool webhook_policy_address_ok(const struct webhook_policy *policy,
                               const struct webhook_url *target, const struct sockaddr *address)
{
    return policy->allow_private || target->literal_allowed || !webhook_address_is_private(address);
}

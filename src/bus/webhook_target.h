/* Where a completion webhook may go (docs/SECURITY.md "Webhooks"): the
 * notify_url's shape, the operator's allow-list (BUS_WEBHOOK_ALLOW:
 * comma-separated host[:port] patterns, `*` a wildcard), and the rule
 * against loopback, link-local, private and unspecified addresses, which
 * only BUS_WEBHOOK_ALLOW_PRIVATE=1 or a pattern naming the IP literal
 * itself lifts. Checked at publish, and again at each delivery against the
 * addresses the host resolves to. No I/O here. */
#ifndef BUS_WEBHOOK_TARGET_H
#define BUS_WEBHOOK_TARGET_H

#include <stdbool.h>
#include <sys/socket.h>

#include "core/errors.h"

#define WEBHOOK_HOST_MAX 255

/* A parsed notify_url. */
struct webhook_url {
    bool https;
    char host[WEBHOOK_HOST_MAX + 1]; /* lowercase; an IPv6 literal without brackets */
    int port;                        /* as given, else 80 or 443 */
    bool host_is_ip;                 /* an IPv4 or IPv6 literal */
    bool literal_allowed;            /* set by the policy: a pattern names this IP literal */
};

/* Parses an http or https URL without user info; false with *why set. */
bool webhook_url_parse(const char *url, struct webhook_url *out, const char **why);

struct webhook_policy;

/* The policy of allow_list (BUS_WEBHOOK_ALLOW); NULL after writing why a
 * pattern is malformed into why (or when out of memory). */
struct webhook_policy *webhook_policy_new(const char *allow_list, bool allow_private, char *why,
                                          size_t why_size);
void webhook_policy_free(struct webhook_policy *policy);

/* Whether url may be a notify_url: BUS_OK with *out filled, or
 * BUS_ERR_INVALID_FIELD with code invalid_notify_url (malformed) or
 * webhook_not_allowed (no pattern matches, or a literal or `localhost`
 * target the private-address rule forbids). policy NULL: webhooks are
 * off, every url is not allowed. */
enum bus_err webhook_policy_check(const struct webhook_policy *policy, const char *url,
                                  struct webhook_url *out, struct bus_error *error);

/* Whether a delivery to target may connect to address (a resolved one). */
bool webhook_policy_address_ok(const struct webhook_policy *policy,
                               const struct webhook_url *target, const struct sockaddr *address);

/* Loopback, link-local, private (RFC 1918, RFC 6598, unique local),
 * unspecified, multicast or reserved: what a webhook never reaches unless
 * allowed explicitly. IPv4-mapped IPv6 addresses count as their IPv4. */
bool webhook_address_is_private(const struct sockaddr *address);

#endif

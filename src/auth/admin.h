/* Admin authentication (spec 5.3): X-Admin-Token against BUS_ADMIN_SECRET,
 * then HTTP Basic admin:DASHBOARD_PASSWORD. No fallback to BUS_SECRET; with
 * neither configured, nobody is an admin. An extension: HTTP Basic
 * viewer:BUS_ADMIN_READONLY_PASSWORD sees what an admin sees and may do
 * nothing. */
#ifndef AUTH_ADMIN_H
#define AUTH_ADMIN_H

#include <stdbool.h>

struct admin_auth {
    bool has_token;
    bool has_password;
    bool has_viewer;
    char token_hash[65];    /* SHA-256 of BUS_ADMIN_SECRET */
    char password_hash[65]; /* SHA-256 of DASHBOARD_PASSWORD */
    char viewer_hash[65];   /* SHA-256 of BUS_ADMIN_READONLY_PASSWORD */
};

/* Any secret may be NULL or "" (not configured). */
void admin_auth_init(struct admin_auth *admin, const char *token, const char *password,
                     const char *viewer_password);

/* How a request proved it is an admin, if it did. ADMIN_READ_ONLY may
 * only read. */
enum admin_proof { ADMIN_NONE, ADMIN_BY_TOKEN, ADMIN_BY_PASSWORD, ADMIN_READ_ONLY };

/* Whether proof allows an admin action (claiming for another publisher
 * included), not only a look. */
static inline bool admin_may_act(enum admin_proof proof)
{
    return proof == ADMIN_BY_TOKEN || proof == ADMIN_BY_PASSWORD;
}

/* Which valid admin credentials the request's X-Admin-Token or
 * Authorization header (either may be NULL) carries. With BUS_ADMIN_SECRET
 * set, a request that presents X-Admin-Token is judged by it alone. A browser re-sends a
 * Basic password by itself, so callers treat ADMIN_BY_PASSWORD on a
 * state-changing request from another site as forged. */
enum admin_proof admin_auth_check(const struct admin_auth *admin, const char *admin_token,
                                  const char *authorization);

#endif

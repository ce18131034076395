/* Who may claim what (spec 6.4), as one predicate over an intent's
 * routing attributes and a claim's filters. The stores hold the same rules
 * in their claim queries (they must filter rows in the database); this is
 * the definition the in-memory matcher of long-poll uses, and
 * tests/unit/test_eligibility.c checks each backend's query against it. The
 * time rules (run_at, lease, expiry, attempts) are the store's alone: an
 * event is only raised for an intent that is claimable at its `due`. */
#ifndef CORE_ELIGIBILITY_H
#define CORE_ELIGIBILITY_H

#include <stdbool.h>

/* A claimable intent's routing attributes. "" = none for the optional ones. */
struct claim_offer {
    const char *namespace_;
    const char *goal;
    const char *publisher; /* principal */
    bool is_public;
    const char *target_worker;
    const char *required_capability;
};

/* A claim's filters; NULL = not given. */
struct claim_seeker {
    const char *namespace_; /* the default namespace when not given */
    const char *goal;
    const char *caller;       /* the claimer's principal */
    const char *worker_id;
    const char *capabilities; /* comma-separated, blanks around names ignored */
    const char *publisher;    /* principal: only intents it published, its private
                               * ones included (the bus lets only an admin name
                               * another key) */
};

/* Whether a comma-separated capability list holds name exactly. */
bool capability_listed(const char *list, const char *name);

bool claim_offer_matches(const struct claim_seeker *seeker, const struct claim_offer *offer);

#endif

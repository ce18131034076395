/* Who may claim what (eligibility.h). */
#include "core/eligibility.h"

#include <string.h>

bool capability_listed(const char *list, const char *name)
{
    size_t length = strlen(name);
    for (const char *at = list; at != NULL && *at;) {
        while (*at == ' ' || *at == '\t')
            at++;
        const char *end = strchr(at, ',');
        size_t span = end ? (size_t)(end - at) : strlen(at);
        while (span > 0 && (at[span - 1] == ' ' || at[span - 1] == '\t'))
            span--;
        if (span == length && strncmp(at, name, length) == 0)
            return true;
        at = end ? end + 1 : NULL;
    }
    return false;
}

static bool same(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* A private intent is its publisher's, or taken by a claim that names its
 * publisher (which the bus allows only to that key itself or an admin). */
static bool visible(const struct claim_seeker *seeker, const struct claim_offer *offer)
{
    return offer->is_public || same(offer->publisher, seeker->caller) ||
           (seeker->publisher != NULL && same(offer->publisher, seeker->publisher));
}

bool claim_offer_matches(const struct claim_seeker *seeker, const struct claim_offer *offer)
{
    if (!same(seeker->namespace_, offer->namespace_))
        return false;
    if (seeker->goal != NULL && !same(seeker->goal, offer->goal))
        return false;
    if (seeker->publisher != NULL && !same(seeker->publisher, offer->publisher))
        return false;
    if (!visible(seeker, offer))
        return false;
    if (offer->target_worker[0] &&
        (seeker->worker_id == NULL || !same(seeker->worker_id, offer->target_worker)))
        return false;
    return !offer->required_capability[0] ||
           capability_listed(seeker->capabilities, offer->required_capability);
}

/* Exponential backoff with jitter, so failed jobs retry later and later and
 * a crowd of them does not come back in the same instant. */
#include "core/backoff.h"

#include <math.h>
#include <stdint.h>

#include "util/random.h"

double backoff_delay(double backoff_base, int claim_attempts, double jitter)
{
    int exponent = claim_attempts;
    if (exponent < 0)
        exponent = 0;
    if (exponent > BACKOFF_MAX_EXPONENT)
        exponent = BACKOFF_MAX_EXPONENT;
    return backoff_base * ldexp(1.0, exponent) + jitter;
}

double backoff_random_jitter(void)
{
    uint32_t bits = 0;
    if (!random_fill(&bits, sizeof bits))
        return 0.0; /* no entropy: no jitter is still a correct delay */
    return BACKOFF_JITTER_MAX * ((double)bits / 4294967296.0);
}

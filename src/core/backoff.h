/* Retry delay after a failure or an expired lease (spec section 3):
 * backoff_base * 2^claim_attempts + jitter, jitter drawn from [0, 2). */
#ifndef CORE_BACKOFF_H
#define CORE_BACKOFF_H

#define BACKOFF_JITTER_MAX 2.0
/* 2^20 * 3600 s is already decades; capping the exponent keeps the result
 * finite and exact whatever claim_attempts a row holds. */
#define BACKOFF_MAX_EXPONENT 20

/* Seconds to wait before the intent is claimable again. jitter must be in
 * [0, BACKOFF_JITTER_MAX); negative attempts count as zero. */
double backoff_delay(double backoff_base, int claim_attempts, double jitter);

/* A uniformly random jitter in [0, BACKOFF_JITTER_MAX) from the CSPRNG. */
double backoff_random_jitter(void);

#endif

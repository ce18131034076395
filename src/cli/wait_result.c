/* The result wait loop; see wait_result.h. */
#include "cli/wait_result.h"

#include <math.h>
#include <stdbool.h>
#include <time.h>

#include "util/clock.h"

#define MAX_WAIT_SLICE 60 /* the server's upper bound for ?wait= */

static bool is_settled(enum ib_intent_status status)
{
    return status == IB_STATUS_FULFILLED || status == IB_STATUS_DEAD;
}

/* The ?wait= of the next read: the time left, in whole seconds, 1-60. */
static unsigned next_slice(double deadline)
{
    if (deadline <= 0)
        return MAX_WAIT_SLICE;
    double left = ceil(deadline - clock_monotonic());
    if (left < 1)
        return 1;
    return left > MAX_WAIT_SLICE ? MAX_WAIT_SLICE : (unsigned)left;
}

static bool time_is_up(double deadline)
{
    return deadline > 0 && clock_monotonic() >= deadline;
}

enum ib_err wait_result(const struct cli_common *common, struct ib_client *client, const char *id,
                        double timeout, char **response, enum ib_intent_status *status)
{
    double deadline = timeout > 0 ? clock_monotonic() + timeout : 0;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)clock_monotonic();
    unsigned failures = 0;
    for (;;) {
        enum ib_err err = ib_result(client, id, next_slice(deadline), response, status);
        if (err == IB_OK) {
            failures = 0;
            if (is_settled(*status) || time_is_up(deadline))
                return IB_OK;
            ib_free(*response);
            *response = NULL;
            continue;
        }
        if (!cli_is_transient(err) || time_is_up(deadline))
            return err;
        double pause = cli_backoff(++failures, ib_last_retry_after(client), &seed);
        if (deadline > 0 && clock_monotonic() + pause > deadline)
            pause = deadline - clock_monotonic();
        cli_error(common, "reading the result of %s failed (%s); retrying in %.1fs", id,
                  ib_last_error_message(client)[0] ? ib_last_error_message(client)
                                                   : ib_strerror(err),
                  pause);
        cli_sleep(pause);
    }
}

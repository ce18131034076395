/* Waiting for an intent to settle (fulfilled or dead) with the long-poll
 * result read, GET /result/<id>?wait=S (docs/PROTOCOL-EXTENSIONS.md), for
 * `publish --wait` and `result --wait`. */
#ifndef CLI_WAIT_RESULT_H
#define CLI_WAIT_RESULT_H

#include "cli/common.h"

/* Reads /result/<id> with ?wait= in slices of at most 60 s (the server's
 * limit) until the intent is fulfilled or dead, or timeout seconds have
 * passed (timeout <= 0: no limit). Transient errors (cli_is_transient) are
 * reported on stderr and retried with backoff until then.
 *
 * On IB_OK *response is the last /result JSON text (free with ib_free) and
 * *status its status: IB_STATUS_FULFILLED or IB_STATUS_DEAD, or another one
 * when the time ran out first. Any other return is the last call's error,
 * with *response NULL; the caller reports it with cli_report(). */
enum ib_err wait_result(const struct cli_common *common, struct ib_client *client, const char *id,
                        double timeout, char **response, enum ib_intent_status *status);

#endif

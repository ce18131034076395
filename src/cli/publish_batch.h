/* `intent-bus publish --batch FILE|-`: JSON lines (one intent per line,
 * the body of a single publish) sent in batches of up to 100 (POST
 * /intents), one result line per input line. */
#ifndef CLI_PUBLISH_BATCH_H
#define CLI_PUBLISH_BATCH_H

#include <stdio.h>

#include <intentbus.h>

#include "cli/common.h"

/* Publishes every line of input; namespace_ (NULL: none) goes into lines
 * that name none. Prints {"line": N, ...} per non-blank line on stdout:
 * the server's result for it ({"id", ...} or {"error": {...}}), or the
 * local error of a line that is not a JSON object. CLI_EXIT_OK when every
 * line was published, CLI_EXIT_FAILED when any failed, or the exit code of
 * a request the bus refused as a whole (the lines before it stay
 * published, the rest are not sent). */
int publish_batch(const struct cli_common *common, struct ib_client *client, const char *url,
                  FILE *input, const char *namespace_);

#endif

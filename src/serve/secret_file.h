/* The main API key when BUS_SECRET is unset: generated once, kept in a
 * 0600 file beside the database, reused on every later start. */
#ifndef SERVE_SECRET_FILE_H
#define SERVE_SECRET_FILE_H

#include "serve/config.h"

/* Makes config->secret usable: refuses the published default "dev_secret",
 * and without BUS_SECRET loads or creates <db path>.secret. Returns 0, or -1
 * after printing why on stderr. */
int secret_resolve(struct config *config);

#endif

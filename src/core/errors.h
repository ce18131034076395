/* The bus's error values: one enum that maps one-to-one onto the protocol's
 * error codes and HTTP statuses, so every layer returns the same kind of
 * value and one place (the HTTP layer) turns it into a response. */
#ifndef CORE_ERRORS_H
#define CORE_ERRORS_H

enum bus_err {
    BUS_OK = 0,
    BUS_ERR_EMPTY,               /* nothing to claim: 204, not an error body */
    BUS_ERR_UNAUTHORIZED,        /* 401 */
    BUS_ERR_FORBIDDEN,           /* 403 */
    BUS_ERR_INVALID_SIGNATURE,   /* 403: a valid key, but the request's signature or nonce is not */
    BUS_ERR_NOT_FOUND,           /* 404 */
    BUS_ERR_METHOD_NOT_ALLOWED,  /* 405 */
    BUS_ERR_INVALID_REQUEST,     /* 400 missing field / wrong shape */
    BUS_ERR_INVALID_JSON,        /* 400 body is not JSON */
    BUS_ERR_INVALID_FIELD,       /* 400 a specific invalid_<field> code */
    BUS_ERR_PAYLOAD_TOO_LARGE,   /* 413 */
    BUS_ERR_IDEMPOTENCY_CONFLICT,/* 422 */
    BUS_ERR_RATE_LIMITED,        /* 429 */
    BUS_ERR_LIMIT_EXCEEDED,      /* 429 */
    BUS_ERR_DATABASE_BUSY,       /* 503 */
    BUS_ERR_MAINTENANCE,         /* 503 */
    BUS_ERR_INTERNAL,            /* 500: a bug, never bad input */
    BUS_ERR_STORAGE_FULL,        /* 507: the disk is full; reads still work */
    BUS_ERR_STORAGE_READ_ONLY,   /* 503: the database's file system is read-only */
    BUS_ERR_STORAGE_IO,          /* 503: the disk reported an I/O error */
};

/* The snake_case code of the error body ("not_found"); BUS_ERR_INVALID_FIELD
 * has no fixed code: the caller supplies "invalid_<field>". */
const char *bus_err_code(enum bus_err err);

/* The HTTP status that carries this error. */
unsigned bus_err_http_status(enum bus_err err);

/* A detailed error: the value plus the code and message a client sees.
 * Fixed buffers so errors can be filled without allocation on any path. */
struct bus_error {
    enum bus_err err;
    char code[48];
    char message[160];
};

/* Fills *out and returns err, so callers can write
 * `return bus_error_set(out, BUS_ERR_INVALID_FIELD, "invalid_goal", "...")`.
 * code may be NULL to use bus_err_code(err). */
enum bus_err bus_error_set(struct bus_error *out, enum bus_err err, const char *code,
                           const char *message_format, ...)
    __attribute__((format(printf, 4, 5)));

#endif

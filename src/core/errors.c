/* Error values to protocol codes and HTTP statuses, in one table. */
#include "core/errors.h"

#include <stdarg.h>
#include <stdio.h>

struct err_row {
    const char *code;
    unsigned status;
};

static const struct err_row err_table[] = {
    [BUS_OK] = {"ok", 200},
    [BUS_ERR_EMPTY] = {"empty", 204},
    [BUS_ERR_UNAUTHORIZED] = {"unauthorized", 401},
    [BUS_ERR_FORBIDDEN] = {"forbidden", 403},
    [BUS_ERR_INVALID_SIGNATURE] = {"invalid_signature", 403},
    [BUS_ERR_NOT_FOUND] = {"not_found", 404},
    [BUS_ERR_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405},
    [BUS_ERR_INVALID_REQUEST] = {"invalid_request", 400},
    [BUS_ERR_INVALID_JSON] = {"invalid_json", 400},
    [BUS_ERR_INVALID_FIELD] = {"invalid_request", 400},
    [BUS_ERR_PAYLOAD_TOO_LARGE] = {"payload_too_large", 413},
    [BUS_ERR_IDEMPOTENCY_CONFLICT] = {"idempotency_conflict", 422},
    [BUS_ERR_RATE_LIMITED] = {"rate_limited", 429},
    [BUS_ERR_LIMIT_EXCEEDED] = {"limit_exceeded", 429},
    [BUS_ERR_DATABASE_BUSY] = {"database_busy", 503},
    [BUS_ERR_MAINTENANCE] = {"maintenance", 503},
    [BUS_ERR_INTERNAL] = {"internal_error", 500},
    [BUS_ERR_STORAGE_FULL] = {"insufficient_storage", 507},
    [BUS_ERR_STORAGE_READ_ONLY] = {"storage_read_only", 503},
    [BUS_ERR_STORAGE_IO] = {"storage_io_error", 503},
};

const char *bus_err_code(enum bus_err err)
{
    if ((unsigned)err >= sizeof err_table / sizeof err_table[0])
        return "internal_error";
    return err_table[err].code;
}

unsigned bus_err_http_status(enum bus_err err)
{
    if ((unsigned)err >= sizeof err_table / sizeof err_table[0])
        return 500;
    return err_table[err].status;
}

enum bus_err bus_error_set(struct bus_error *out, enum bus_err err, const char *code,
                           const char *message_format, ...)
{
    if (out == NULL)
        return err;
    out->err = err;
    snprintf(out->code, sizeof out->code, "%s", code ? code : bus_err_code(err));
    va_list args;
    va_start(args, message_format);
    vsnprintf(out->message, sizeof out->message, message_format, args);
    va_end(args);
    return err;
}

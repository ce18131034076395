/* Fuzzes the query checks of the edge (net/request.c splits and decodes
 * the query; fuzz_request covers it): the edge's check of a raw request-target, which may
 * rewrite it in place, and plain decimals (wait=). */
#include "fuzz_input.h"

#include "serve/edge.h"
#include "util/decimal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    if (text == NULL)
        return 0;
    double value = -1;
    if (decimal_parse(text, 60, &value) && !(value >= 0 && value <= 60))
        abort(); /* accepted a value outside its bound */
    size_t before = strlen(text);
    if (edge_check_uri(text) != EDGE_URI_OK && strlen(text) > before)
        abort(); /* the rewrite may only shorten */
    free(text);
    return 0;
}

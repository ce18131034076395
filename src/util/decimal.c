/* Plain decimals; see decimal.h. The syntax is checked by hand first, then
 * strtod converts what is by then an unambiguous string. */
#include "util/decimal.h"

#include <stdlib.h>
#include <string.h>

static size_t count_digits(const char *text)
{
    size_t count = 0;
    while (text[count] >= '0' && text[count] <= '9')
        count++;
    return count;
}

bool decimal_parse(const char *text, double max, double *out)
{
    if (text == NULL || strlen(text) > DECIMAL_MAX_LENGTH)
        return false;
    size_t whole = count_digits(text);
    const char *rest = text + whole;
    if (whole == 0)
        return false;
    if (*rest == '.') {
        size_t fraction = count_digits(rest + 1);
        if (fraction == 0)
            return false;
        rest += 1 + fraction;
    }
    if (*rest != '\0')
        return false;
    double value = strtod(text, NULL);
    if (value > max)
        return false;
    *out = value;
    return true;
}

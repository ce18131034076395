/* Numbers to text without printf: see number_text.h. */
#include "util/number_text.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The digits of value and a NUL at out, at most 20 + 1 bytes. */
static size_t write_unsigned(char *out, unsigned long long value)
{
    char reversed[NUMBER_TEXT_INTEGER_SIZE];
    size_t length = 0;
    do {
        reversed[length++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    for (size_t i = 0; i < length; i++)
        out[i] = reversed[length - 1 - i];
    out[length] = '\0';
    return length;
}

size_t number_text_unsigned(char out[NUMBER_TEXT_INTEGER_SIZE], unsigned long long value)
{
    return write_unsigned(out, value);
}

size_t number_text_signed(char out[NUMBER_TEXT_INTEGER_SIZE], long long value)
{
    if (value >= 0)
        return write_unsigned(out, (unsigned long long)value);
    out[0] = '-';
    /* -(value + 1) + 1: no overflow for LLONG_MIN. */
    return 1 + write_unsigned(out + 1, (unsigned long long)(-(value + 1)) + 1);
}

/* 10^power as a 128-bit integer, power 0 to 38. */
static unsigned __int128 power_of_ten(int power)
{
    unsigned __int128 result = 1;
    while (power-- > 0)
        result *= 10;
    return result;
}

/* "%.17g" prints 17 significant digits, rounded to nearest with ties to
 * even on the exact binary value (glibc's rounding in the default
 * rounding mode), then drops trailing zeros and a bare point. A double
 * of 1 to below 2^53 is mantissa * 2^-shift exactly, with a 53-bit mantissa and
 * a shift of 0 to 52; it has integer_digits of 1 to 16, so 17 - that of
 * them after the point. mantissa * 10^fraction_digits < 2^107 and the
 * division by 2^shift are exact in 128 bits. */
size_t number_text_real17(char *out, size_t size, double value)
{
    double magnitude = fabs(value);
    if (!isfinite(value) || magnitude < 1 || magnitude >= 0x1p53 || size < 40)
        return 0;
    int exponent = 0;
    double fraction = frexp(magnitude, &exponent); /* magnitude = fraction * 2^exponent */
    uint64_t mantissa = (uint64_t)ldexp(fraction, 53);
    int shift = 53 - exponent; /* magnitude = mantissa * 2^-shift */
    assert(shift >= 0 && shift <= 52);
    char integer_text[NUMBER_TEXT_INTEGER_SIZE];
    size_t integer_digits = write_unsigned(integer_text, (unsigned long long)magnitude);
    int fraction_digits = 17 - (int)integer_digits;
    unsigned __int128 scaled = (unsigned __int128)mantissa * power_of_ten(fraction_digits);
    unsigned __int128 digits = scaled >> shift;
    unsigned __int128 rest = scaled - (digits << shift);
    unsigned __int128 half = shift > 0 ? (unsigned __int128)1 << (shift - 1) : 0;
    if (shift > 0 && (rest > half || (rest == half && (digits & 1) != 0)))
        digits++;
    /* Rounding up to 10^17 (…99.99… to …00.0) changes the number of
     * integer digits, hence the layout: printf's business. */
    if (digits >= power_of_ten(17))
        return 0;
    char all[18];
    for (int i = 16; i >= 0; i--) {
        all[i] = (char)('0' + (int)(digits % 10));
        digits /= 10;
    }
    size_t length = 0;
    if (value < 0)
        out[length++] = '-';
    memcpy(out + length, all, integer_digits);
    length += integer_digits;
    int kept = fraction_digits;
    while (kept > 0 && all[integer_digits + (size_t)kept - 1] == '0')
        kept--;
    if (kept > 0) {
        out[length++] = '.';
        memcpy(out + length, all + integer_digits, (size_t)kept);
        length += (size_t)kept;
    }
    out[length] = '\0';
    return length;
}

/* "%.3f" rounds value * 1000 to an integer, to nearest with ties to even
 * on the exact binary value, as "%.17g" does above. value is
 * mantissa * 2^-shift exactly; mantissa * 1000 < 2^63, so the product
 * and its division by 2^shift are exact in 64 bits. A shift past 63
 * leaves less than half of a thousandth: 0. The sign is printed for any
 * negative value, -0.0 and those that round to 0 included ("-0.000"). */
size_t number_text_fixed3(char out[NUMBER_TEXT_FIXED3_SIZE], double value)
{
    double magnitude = fabs(value);
    if (!isfinite(value) || magnitude >= 0x1p53)
        return 0;
    int exponent = 0;
    double fraction = frexp(magnitude, &exponent); /* magnitude = fraction * 2^exponent */
    uint64_t scaled = (uint64_t)ldexp(fraction, 53) * 1000;
    int shift = 53 - exponent; /* magnitude * 1000 = scaled * 2^-shift */
    assert(shift >= 0);
    uint64_t thousandths = 0;
    if (shift == 0) {
        thousandths = scaled;
    } else if (shift < 64) {
        thousandths = scaled >> shift;
        uint64_t rest = scaled - (thousandths << shift);
        uint64_t half = (uint64_t)1 << (shift - 1);
        if (rest > half || (rest == half && (thousandths & 1) != 0))
            thousandths++;
    }
    size_t length = 0;
    if (signbit(value))
        out[length++] = '-';
    length += write_unsigned(out + length, thousandths / 1000);
    unsigned part = (unsigned)(thousandths % 1000);
    out[length++] = '.';
    out[length++] = (char)('0' + part / 100);
    out[length++] = (char)('0' + part / 10 % 10);
    out[length++] = (char)('0' + part % 10);
    out[length] = '\0';
    return length;
}

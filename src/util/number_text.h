/* Numbers to text without printf: the hot replies and response heads
 * print a few numbers per request, and glibc's printf machinery (format
 * parsing, the FILE emulation of snprintf, multi-precision arithmetic for
 * "%.17g") cost more than the numbers themselves (docs/BENCHMARKS.md,
 * "Server CPU per job, third step"). The output is byte for byte what
 * the printf format named beside each function gives. */
#ifndef UTIL_NUMBER_TEXT_H
#define UTIL_NUMBER_TEXT_H

#include <stddef.h>

/* Enough for any 64-bit integer, its sign and the terminating NUL. */
#define NUMBER_TEXT_INTEGER_SIZE 21

/* "%llu" into out (NUMBER_TEXT_INTEGER_SIZE bytes); returns the length. */
size_t number_text_unsigned(char out[NUMBER_TEXT_INTEGER_SIZE], unsigned long long value);

/* "%lld" into out (NUMBER_TEXT_INTEGER_SIZE bytes); returns the length. */
size_t number_text_signed(char out[NUMBER_TEXT_INTEGER_SIZE], long long value);

/* "%.17g" into out (at least 40 bytes) for a value of 1 to below 2^53
 * in magnitude, which every Unix time in seconds of our era is; returns
 * the length, or 0 for any other value, which the caller prints with
 * snprintf. */
size_t number_text_real17(char *out, size_t size, double value);

/* Enough for "%.3f" of any value number_text_fixed3 accepts and the NUL. */
#define NUMBER_TEXT_FIXED3_SIZE 24

/* "%.3f" into out (NUMBER_TEXT_FIXED3_SIZE bytes) for a finite value
 * below 2^53 in magnitude; returns the length, or 0 for any other value,
 * which the caller prints with snprintf. */
size_t number_text_fixed3(char out[NUMBER_TEXT_FIXED3_SIZE], double value);

#endif

/* Reading the few fields a bench worker needs from a claim response (id,
 * claim_token, payload.t) in place, without building a jansson tree: that
 * parse and its ~20 allocations per job were 5% of the bench's CPU. Reads
 * the JSON the bus writes; field values with escapes are refused. */
#ifndef BENCH_BENCH_JSON_H
#define BENCH_BENCH_JSON_H

/* Points at the value of member key of the object text starts with (key
 * written without escapes), or NULL when there is none or text is not an
 * object. NULL text gives NULL. */
const char *bench_json_member(const char *text, const char *key);

/* For a value that is a string without escapes: sets *start to its first
 * character and returns its length. Else (or NULL value) returns -1. */
int bench_json_string(const char *value, const char **start);

/* The number value is, or 0 when it is not one (or NULL). */
double bench_json_number(const char *value);

#endif

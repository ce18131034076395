/* CPU time from /proc; see bench_cpu.h. */
#include "bench/bench_cpu.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

double bench_cpu_seconds(pid_t pid)
{
    char path[64];
    char line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return -1;
    bool read = fgets(line, sizeof line, file) != NULL;
    fclose(file);
    /* The command name (field 2) may hold spaces and parentheses: count
     * the fields from the last ')'. utime and stime are fields 14 and 15. */
    char *end = read ? strrchr(line, ')') : NULL;
    unsigned long long user = 0;
    unsigned long long system = 0;
    long ticks = sysconf(_SC_CLK_TCK);
    if (end == NULL || ticks <= 0 ||
        sscanf(end + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &user, &system) !=
            2)
        return -1;
    return (double)(user + system) / (double)ticks;
}

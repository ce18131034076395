/* The CPU time a process has used so far, read from /proc/PID/stat: how the
 * bench reports what its own servers spent per job. */
#ifndef BENCH_CPU_H
#define BENCH_CPU_H

#include <sys/types.h>

/* User plus system seconds of pid (its own threads, not its children), or
 * -1 when /proc cannot tell (no such process, another kernel). */
double bench_cpu_seconds(pid_t pid);

#endif

/* `intent-bus bench`: a load generator that reproduces the seed's benchmark
 * (light, medium, heavy, extreme) against a running bus or one it starts on
 * a temporary database, and prints success %, jobs/s and latencies. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

/* argv after "bench"; returns the process exit code (0 when every job was
 * fulfilled, 1 when not, 2 on bad usage). */
int bench_main(int argc, char **argv);

#endif

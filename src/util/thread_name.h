/* Names for the server's threads, so that `top -H`, `ps -L`, gdb and
 * `perf report --sort comm` tell the writer from an HTTP loop. */
#ifndef UTIL_THREAD_NAME_H
#define UTIL_THREAD_NAME_H

/* Names the calling thread: name, or "name-N" when number >= 0, cut to
 * the kernel's 15 characters. A name is a convenience: a failure to set
 * one is ignored. */
void thread_name_set(const char *name, int number);

#endif

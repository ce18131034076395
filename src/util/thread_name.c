#define _GNU_SOURCE /* pthread_setname_np */
#include "util/thread_name.h"

#include <pthread.h>
#include <stdio.h>

/* The kernel's limit (TASK_COMM_LEN) with its terminating NUL. */
#define THREAD_NAME_SIZE 16

void thread_name_set(const char *name, int number)
{
    char text[THREAD_NAME_SIZE];
    if (number >= 0)
        snprintf(text, sizeof text, "%s-%d", name, number);
    else
        snprintf(text, sizeof text, "%s", name);
    (void)pthread_setname_np(pthread_self(), text);
}

/* Zone offsets through glibc's localtime_r with TZ switched under a lock
 * (see zone.h for why this is safe here). */
#include "util/zone.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t zone_lock = PTHREAD_MUTEX_INITIALIZER;
static char current_zone[ZONE_NAME_MAX + 2]; /* the TZ value in force, "" = unknown */

void zone_init(void)
{
    pthread_mutex_lock(&zone_lock);
    if (getenv("TZ") == NULL)
        setenv("TZ", ":/etc/localtime", 1); /* what an unset TZ means to glibc */
    current_zone[0] = '\0';
    pthread_mutex_unlock(&zone_lock);
}

static bool name_is_plain(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > ZONE_NAME_MAX || name[0] == '/' || strstr(name, "..") != NULL)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && strchr("/_+-", *c) == NULL)
            return false;
    return true;
}

/* glibc takes an unknown TZ for UTC without a word, so a name is checked
 * against the tzdata files themselves. */
bool zone_valid(const char *name)
{
    if (name == NULL || !name_is_plain(name))
        return false;
    if (strcmp(name, "UTC") == 0)
        return true;
    const char *directory = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s",
             directory && directory[0] ? directory : "/usr/share/zoneinfo", name);
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return false;
    char magic[4] = {0};
    bool is_tzif =
        fread(magic, 1, sizeof magic, file) == sizeof magic && memcmp(magic, "TZif", 4) == 0;
    fclose(file);
    return is_tzif;
}

bool zone_offset(const char *name, int64_t instant, long *offset)
{
    if (!name_is_plain(name))
        return false;
    time_t when = (time_t)instant;
    struct tm local;
    pthread_mutex_lock(&zone_lock);
    if (strcmp(current_zone, name) != 0) {
        /* localtime_r does not re-read TZ by itself; tzset() does. */
        setenv("TZ", name, 1);
        tzset();
        snprintf(current_zone, sizeof current_zone, "%s", name);
    }
    bool converted = localtime_r(&when, &local) != NULL;
    pthread_mutex_unlock(&zone_lock);
    if (converted)
        *offset = local.tm_gmtoff;
    return converted;
}

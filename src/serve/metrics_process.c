/* The process and build families of /metrics (the names Prometheus client
 * libraries use), the database files' sizes and the long-poll waiters;
 * see metrics_parts.h. Read from /proc at scrape time: nothing to keep. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus/queue_view.h"
#include "serve/long_poll.h"
#include "serve/metrics_parts.h"
#include "serve/server.h"
#include "version.h"

static void write_gauge(FILE *out, const char *name, const char *help, double value)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, value);
}

/* utime and stime (clock ticks), vsize (bytes) and rss (pages) from
 * /proc/self/stat; false when it cannot be read. */
static bool read_stat(double *cpu_seconds, double *virtual_bytes, double *resident_bytes)
{
    char line[1024];
    FILE *file = fopen("/proc/self/stat", "r");
    if (file == NULL)
        return false;
    bool ok = fgets(line, sizeof line, file) != NULL;
    fclose(file);
    const char *fields = ok ? strrchr(line, ')') : NULL; /* the name may hold spaces */
    unsigned long utime, stime, vsize;
    long rss;
    /* after ")": state(3) ... utime(14) stime(15) ... vsize(23) rss(24) */
    if (fields == NULL ||
        sscanf(fields + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %*u"
               " %lu %ld",
               &utime, &stime, &vsize, &rss) != 4)
        return false;
    long ticks = sysconf(_SC_CLK_TCK);
    *cpu_seconds = (double)(utime + stime) / (double)(ticks > 0 ? ticks : 100);
    *virtual_bytes = (double)vsize;
    *resident_bytes = (double)rss * (double)sysconf(_SC_PAGESIZE);
    return true;
}

static long count_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    long count = 0;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;)
        count += entry->d_name[0] != '.';
    closedir(dir);
    return count - 1; /* the directory's own descriptor */
}

static void write_process(FILE *out, double started_at)
{
    double cpu, virtual_bytes, resident;
    if (read_stat(&cpu, &virtual_bytes, &resident)) {
        fprintf(out,
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                "seconds\n# TYPE process_cpu_seconds_total counter\n"
                "process_cpu_seconds_total %.2f\n",
                cpu);
        write_gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes",
                    resident);
        write_gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes",
                    virtual_bytes);
    }
    long fds = count_open_fds();
    if (fds >= 0)
        write_gauge(out, "process_open_fds", "Number of open file descriptors", (double)fds);
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        write_gauge(out, "process_max_fds", "Maximum number of open file descriptors",
                    (double)limit.rlim_cur);
    write_gauge(out, "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds", started_at);
}

/* The file's size in bytes, 0 when it does not exist (no WAL yet). */
static double file_size(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 ? (double)info.st_size : 0;
}

static void write_database_files(FILE *out, const char *db_path)
{
    char wal[sizeof((struct config *)0)->db_path + 8];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    write_gauge(out, "intent_bus_db_size_bytes", "Size of the SQLite database file",
                file_size(db_path));
    write_gauge(out, "intent_bus_db_wal_size_bytes", "Size of the SQLite write-ahead log",
                file_size(wal));
}

void metrics_write_process(FILE *out, struct server *server)
{
    write_process(out, server->metrics.started_at);
    fprintf(out,
            "# HELP intent_bus_build_info The running build: version, protocol and API version\n"
            "# TYPE intent_bus_build_info gauge\n"
            "intent_bus_build_info{version=\"%s\",protocol=\"%s\",api=\"%s\"} 1\n",
            INTENT_BUS_VERSION, INTENT_PROTOCOL_VERSION, INTENT_BUS_API_VERSION);
    if (server->config.database_url[0] == '\0') /* files only SQLite has */
        write_database_files(out, server->config.db_path);
    long pool_size = 0, pool_in_use = 0;
    bus_pool_usage(&server->bus, &pool_size, &pool_in_use);
    write_gauge(out, "intent_bus_db_pool_connections",
                "Read connections the database pool holds (the writer's is not counted)",
                pool_size);
    write_gauge(out, "intent_bus_db_pool_in_use", "Read connections serving a read now",
                pool_in_use);
    size_t claims, results;
    long_poll_waiting(server->long_poll, &claims, &results);
    fprintf(out,
            "# HELP intent_bus_long_poll_waiters Requests parked waiting, by what they wait "
            "for\n# TYPE intent_bus_long_poll_waiters gauge\n"
            "intent_bus_long_poll_waiters{kind=\"claim\"} %zu\n"
            "intent_bus_long_poll_waiters{kind=\"result\"} %zu\n",
            claims, results);
}

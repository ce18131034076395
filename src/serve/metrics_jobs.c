/* The per namespace/goal families of /metrics; see metrics_parts.h. The
 * series come from the bus's goal_stats, capped there; the oldest-job gauge
 * comes from the store at scrape time, capped here the same way, as are
 * the goal controls (paused, max_claimed). */
#include <stdlib.h>
#include <string.h>

#include "bus/goal_stats.h"
#include "bus/queue_view.h"
#include "serve/metrics_parts.h"
#include "serve/server.h"

void metrics_write_label_value(FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\' || *p == '"')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

static void write_labels(FILE *out, const char *namespace_, const char *goal)
{
    fputs("namespace=\"", out);
    metrics_write_label_value(out, namespace_);
    fputs("\",goal=\"", out);
    metrics_write_label_value(out, goal);
    fputc('"', out);
}

struct counter_family {
    const char *name;
    const char *help;
    enum goal_counter counter;
};

static const struct counter_family counter_families[] = {
    {"intent_bus_goal_published_total", "Intents published, by namespace and goal", GOAL_PUBLISHED},
    {"intent_bus_goal_claimed_total", "Intents handed to workers, by namespace and goal",
     GOAL_CLAIMED},
    {"intent_bus_goal_fulfilled_total", "Intents fulfilled, by namespace and goal", GOAL_FULFILLED},
    {"intent_bus_goal_failed_total", "Worker /fail calls, by namespace and goal", GOAL_FAILED},
    {"intent_bus_goal_dead_lettered_total",
     "Intents dead-lettered (last /fail, lease lapsed with no attempts left, admin cancel), by "
     "namespace and goal",
     GOAL_DEAD},
    {"intent_bus_goal_leases_reclaimed_total",
     "Lapsed leases taken back by a claim, by namespace and goal", GOAL_RECLAIMED},
    {"intent_bus_goal_lease_expiries_total",
     "Lapsed leases requeued or dead-lettered by the sweep or cleanup, by namespace and goal",
     GOAL_LEASE_EXPIRED},
};

struct series_writer {
    FILE *out;
    const struct counter_family *family; /* NULL: the histograms */
    const char *histogram;
    bool run_time;
};

static void write_one_series(void *context, const struct goal_series *series)
{
    struct series_writer *writer = context;
    FILE *out = writer->out;
    if (writer->family != NULL) {
        fputs(writer->family->name, out);
        fputc('{', out);
        write_labels(out, series->namespace_, series->goal);
        fprintf(out, "} %lu\n", atomic_load(&series->counters[writer->family->counter]));
        return;
    }
    const struct histogram *histogram = writer->run_time ? &series->run_time : &series->queue_wait;
    if (atomic_load(&histogram->count) == 0)
        return;
    char *labels = NULL;
    size_t size = 0;
    FILE *text = open_memstream(&labels, &size);
    if (text == NULL)
        return;
    write_labels(text, series->namespace_, series->goal);
    fclose(text);
    histogram_write_in(out, writer->histogram, labels, histogram, histogram_job_bounds);
    free(labels);
}

static void write_series(FILE *out, struct goal_stats *goals)
{
    struct series_writer writer = {out, NULL, NULL, false};
    for (size_t i = 0; i < sizeof counter_families / sizeof counter_families[0]; i++) {
        writer.family = &counter_families[i];
        fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", writer.family->name, writer.family->help,
                writer.family->name);
        goal_stats_each(goals, write_one_series, &writer);
    }
    writer.family = NULL;
    writer.histogram = "intent_bus_queue_wait_seconds";
    fputs("# HELP intent_bus_queue_wait_seconds Time from claimable (published, requeued, "
          "lease lapsed) to claimed\n# TYPE intent_bus_queue_wait_seconds histogram\n",
          out);
    goal_stats_each(goals, write_one_series, &writer);
    writer.histogram = "intent_bus_run_time_seconds";
    writer.run_time = true;
    fputs("# HELP intent_bus_run_time_seconds Time from claimed to fulfilled or failed\n"
          "# TYPE intent_bus_run_time_seconds histogram\n",
          out);
    goal_stats_each(goals, write_one_series, &writer);
}

struct oldest_writer {
    FILE *out;
    double now;
    int rows;
};

static void write_oldest(void *context, const char *namespace_, const char *goal,
                         double eligible_since)
{
    struct oldest_writer *writer = context;
    /* Past the cap, the first row left (the longest wait of the rest,
     * rows come longest first) stands for all of them. */
    bool folded = writer->rows++ >= GOAL_SERIES_MAX;
    if (writer->rows > GOAL_SERIES_MAX + 1)
        return;
    double age = writer->now - eligible_since;
    fputs("intent_bus_oldest_open_age_seconds{", writer->out);
    write_labels(writer->out, folded ? GOAL_OTHER : namespace_, folded ? GOAL_OTHER : goal);
    fprintf(writer->out, "} %.3f\n", age > 0 ? age : 0);
}

/* One pass over the goal controls for one family: paused goals (the
 * first GOAL_SERIES_MAX with their labels, the rest counted in _other) or
 * limited goals (the first GOAL_SERIES_MAX; a sum of limits means
 * nothing, so the rest are left out). */
struct control_writer {
    FILE *out;
    bool paused_family;
    long rows;
    long folded;
};

static void write_control(void *context, const struct goal_control *control)
{
    struct control_writer *writer = context;
    if (writer->paused_family ? !control->paused : control->max_claimed <= 0)
        return;
    if (writer->rows++ >= GOAL_SERIES_MAX) {
        writer->folded++;
        return;
    }
    fputs(writer->paused_family ? "intent_bus_goal_paused{" : "intent_bus_goal_max_claimed{",
          writer->out);
    write_labels(writer->out, control->namespace_, control->goal);
    fprintf(writer->out, "} %ld\n", writer->paused_family ? 1L : control->max_claimed);
}

static int write_controls(FILE *out, struct server *server)
{
    struct control_writer paused = {out, true, 0, 0};
    fputs("# HELP intent_bus_goal_paused 1 for a paused goal (claims skip it)\n"
          "# TYPE intent_bus_goal_paused gauge\n",
          out);
    if (bus_goal_controls(&server->bus, write_control, &paused) != BUS_OK)
        return -1;
    if (paused.folded > 0) {
        fputs("intent_bus_goal_paused{", out);
        write_labels(out, GOAL_OTHER, GOAL_OTHER);
        fprintf(out, "} %ld\n", paused.folded);
    }
    fprintf(out,
            "# HELP intent_bus_goals_paused Goals paused now\n"
            "# TYPE intent_bus_goals_paused gauge\nintent_bus_goals_paused %ld\n"
            "# HELP intent_bus_goal_max_claimed A goal's limit of intents claimed at once\n"
            "# TYPE intent_bus_goal_max_claimed gauge\n",
            paused.rows);
    struct control_writer limited = {out, false, 0, 0};
    return bus_goal_controls(&server->bus, write_control, &limited) == BUS_OK ? 0 : -1;
}

int metrics_write_jobs(FILE *out, struct server *server, double now)
{
    if (write_controls(out, server) != 0)
        return -1;
    write_series(out, server->bus.goals);
    fputs("# HELP intent_bus_oldest_open_age_seconds How long the longest-waiting claimable "
          "open intent has waited, by namespace and goal\n"
          "# TYPE intent_bus_oldest_open_age_seconds gauge\n",
          out);
    struct oldest_writer writer = {out, now, 0};
    return bus_oldest_open(&server->bus, now, GOAL_SERIES_MAX + 1, write_oldest, &writer) ==
                   BUS_OK
               ? 0
               : -1;
}

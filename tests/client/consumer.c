/* A program written the way a user of the installed library writes one:
 * only <intentbus.h>, built with `pkg-config --cflags --libs intentbus`.
 * With INTENT_BUS_URL and INTENT_API_KEY set it runs one job through the
 * bus; exit status 0 on success. */
#include <intentbus.h>

#include <stdio.h>
#include <stdlib.h>

static int check(const struct ib_client *client, enum ib_err err, const char *what)
{
    if (err == IB_OK)
        return 0;
    fprintf(stderr, "consumer: %s: %s (HTTP %ld %s: %s)\n", what, ib_strerror(err),
            ib_last_status(client), ib_last_error_code(client), ib_last_error_message(client));
    return 1;
}

int main(void)
{
    struct ib_options options;
    ib_options_init(&options);
    options.base_url = getenv("INTENT_BUS_URL");
    options.api_key = getenv("INTENT_API_KEY");
    if (options.base_url == NULL || options.api_key == NULL) {
        printf("libintentbus %s linked; set INTENT_BUS_URL and INTENT_API_KEY to run a job\n",
               IB_VERSION);
        return 0;
    }
    struct ib_client *client = ib_client_new(&options);
    if (client == NULL)
        return 1;
    char id[IB_ID_MAX + 1];
    struct ib_publish intent = {
        .goal = "consumer", .payload = "{\"n\":1}", .namespace_ = "consumer"};
    struct ib_claim claim = {.goal = "consumer", .namespace_ = "consumer"};
    struct ib_job *job = NULL;
    int failed =
        check(client, ib_publish(client, &intent, id), "publish") ||
        check(client, ib_claim(client, &claim, &job), "claim") ||
        check(client, ib_fulfill(client, job->id, job->claim_token, "\"ok\"", "text"), "fulfill");
    if (!failed)
        printf("consumer: published, claimed and fulfilled %s\n", id);
    ib_job_free(job);
    ib_client_free(client);
    return failed;
}

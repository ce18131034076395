/* Credential resolution for the client subcommands; see credentials.h. */
#include "cli/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_NAME ".apikey"
#define MAX_KEY_FILE_BYTES 4096

/* A copy of text without surrounding whitespace (a key file ends with a
 * newline); NULL when out of memory. */
static char *copy_trimmed(const char *text)
{
    size_t start = strspn(text, " \t\r\n");
    size_t end = strlen(text);
    while (end > start && strchr(" \t\r\n", text[end - 1]) != NULL)
        end--;
    return strndup(text + start, end - start);
}

static const char *home_directory(void)
{
    const char *home = getenv("HOME");
    if (home != NULL && home[0] != '\0')
        return home;
    struct passwd *user = getpwuid(getuid());
    return user != NULL ? user->pw_dir : NULL;
}

/* The key in ~/.apikey. The mode is checked on the open file, so the file
 * read is the file checked. */
static int read_key_file(const struct cli_common *common, char **key)
{
    const char *home = home_directory();
    if (home == NULL) {
        cli_error(common, "no API key: pass --api-key or set INTENT_API_KEY");
        return CLI_EXIT_AUTH;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", home, KEY_FILE_NAME);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        cli_error(common,
                  "no API key: pass --api-key, set INTENT_API_KEY, or write the key to %s "
                  "(chmod 600)",
                  path);
        return CLI_EXIT_AUTH;
    }
    struct stat info;
    if (fd < 0 || fstat(fd, &info) != 0) {
        cli_error(common, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_AUTH;
    }
    if (!S_ISREG(info.st_mode) || (info.st_mode & 077) != 0) {
        cli_error(common,
                  "refusing to use %s: its mode is %04o, so other users may read it; "
                  "restrict it with: chmod 600 %s",
                  path, (unsigned)(info.st_mode & 07777), path);
        close(fd);
        return CLI_EXIT_AUTH;
    }
    char text[MAX_KEY_FILE_BYTES + 1];
    ssize_t length = read(fd, text, MAX_KEY_FILE_BYTES);
    int read_errno = errno;
    close(fd);
    if (length < 0) {
        cli_error(common, "cannot read %s: %s", path, strerror(read_errno));
        return CLI_EXIT_AUTH;
    }
    text[length] = '\0';
    *key = copy_trimmed(text);
    explicit_bzero(text, sizeof text);
    if (*key == NULL || (*key)[0] == '\0' || strlen(*key) != strcspn(*key, "\r\n")) {
        cli_error(common, "%s does not hold one API key on one line", path);
        return CLI_EXIT_AUTH;
    }
    return CLI_EXIT_OK;
}

static int resolve_api_key(const struct cli_common *common, char **key)
{
    if (common->api_key != NULL && common->api_key[0] != '\0') {
        *key = strdup(common->api_key);
        return CLI_EXIT_OK;
    }
    const char *from_environment = getenv("INTENT_API_KEY");
    if (from_environment != NULL && from_environment[strspn(from_environment, " \t\r\n")] != '\0') {
        *key = copy_trimmed(from_environment);
        return CLI_EXIT_OK;
    }
    return read_key_file(common, key);
}

static int resolve_admin_token(const struct cli_common *common, bool required, char **token)
{
    const char *given = common->admin_token;
    if (given == NULL || given[0] == '\0')
        given = getenv("INTENT_ADMIN_TOKEN");
    if (given != NULL && given[0] != '\0') {
        *token = strdup(given);
        return CLI_EXIT_OK;
    }
    if (!required)
        return CLI_EXIT_OK;
    cli_error(common, "no admin token: pass --admin-token or set INTENT_ADMIN_TOKEN "
                      "(the server's BUS_ADMIN_SECRET)");
    return CLI_EXIT_AUTH;
}

int cli_credentials_resolve(const struct cli_common *common, unsigned need,
                            struct cli_credentials *credentials)
{
    memset(credentials, 0, sizeof *credentials);
    const char *url = common->url;
    if (url == NULL || url[0] == '\0')
        url = getenv("INTENT_BUS_URL");
    credentials->url = strdup(url != NULL && url[0] != '\0' ? url : CLI_DEFAULT_URL);
    credentials->sign = !common->no_sign;
    int code = CLI_EXIT_OK;
    if (need & CLI_NEED_API_KEY)
        code = resolve_api_key(common, &credentials->api_key);
    if (code == CLI_EXIT_OK && (need & (CLI_NEED_ADMIN_TOKEN | CLI_WANT_ADMIN_TOKEN)))
        code = resolve_admin_token(common, (need & CLI_NEED_ADMIN_TOKEN) != 0,
                                   &credentials->admin_token);
    return code;
}

static void free_secret(char *secret)
{
    if (secret != NULL)
        explicit_bzero(secret, strlen(secret));
    free(secret);
}

void cli_credentials_clear(struct cli_credentials *credentials)
{
    free(credentials->url);
    free_secret(credentials->api_key);
    free_secret(credentials->admin_token);
    memset(credentials, 0, sizeof *credentials);
}

struct ib_client *cli_client_new(const struct cli_common *common,
                                 const struct cli_credentials *credentials)
{
    struct ib_options options;
    ib_options_init(&options);
    options.base_url = credentials->url;
    options.api_key = credentials->api_key;
    options.admin_token = credentials->admin_token;
    options.sign = credentials->sign;
    options.user_agent = "intent-bus-cli/" IB_VERSION;
    struct ib_client *client = credentials->url ? ib_client_new(&options) : NULL;
    if (client == NULL)
        cli_error(common, "cannot create a client for %s (out of memory?)",
                  credentials->url ? credentials->url : "the bus");
    return client;
}

/* cli_credentials_resolve() then cli_client_new(): CLI_EXIT_OK with
 * *client set, or an exit code after printing why (*client NULL). */
static int connect_client(const struct cli_common *common, unsigned need,
                          struct cli_credentials *credentials, struct ib_client **client)
{
    *client = NULL;
    int code = cli_credentials_resolve(common, need, credentials);
    if (code == CLI_EXIT_OK && (*client = cli_client_new(common, credentials)) == NULL)
        code = CLI_EXIT_FAILED;
    return code;
}

int cli_with_client(const struct cli_common *common, unsigned need, cli_call_fn *call,
                    void *context)
{
    struct cli_credentials credentials;
    struct ib_client *client = NULL;
    int code = connect_client(common, need, &credentials, &client);
    if (code == CLI_EXIT_OK)
        code = call(common, client, credentials.url, context);
    ib_client_free(client);
    cli_credentials_clear(&credentials);
    return code;
}

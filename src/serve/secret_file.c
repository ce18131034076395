/* Generated main key; see secret_file.h. */
#include "serve/secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/token.h"

#define GENERATED_KEY_BYTES 32

static int resolve_main_key(struct config *config);

static int read_secret(struct config *config, int fd)
{
    struct stat info;
    if (fstat(fd, &info) != 0 || (info.st_mode & 077) != 0) {
        fprintf(stderr, "intent-bus: %s must be readable by its owner only (chmod 600)\n",
                config->secret_path);
        return -1;
    }
    ssize_t size = read(fd, config->secret, sizeof config->secret - 1);
    if (size <= 0) {
        fprintf(stderr, "intent-bus: cannot read %s\n", config->secret_path);
        return -1;
    }
    config->secret[size] = '\0';
    config->secret[strcspn(config->secret, "\r\n")] = '\0';
    return config->secret[0] ? 0 : -1;
}

static int write_secret(struct config *config)
{
    int fd = open(config->secret_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return -1;
    char key[2 * GENERATED_KEY_BYTES + 1];
    bool ok = token_random_hex(key, GENERATED_KEY_BYTES);
    size_t len = strlen(key);
    ok = ok && write(fd, key, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(config->secret_path);
        return -1;
    }
    strcpy(config->secret, key);
    fprintf(stderr, "intent-bus: generated a new API key in %s\n", config->secret_path);
    return 0;
}

/* An admin secret equal to the API key would make every client an admin:
 * the spec forbids that fallback, so the configuration is refused. */
static int refuse_shared_admin_secret(const struct config *config)
{
    if (strcmp(config->secret, config->admin_token) == 0 ||
        strcmp(config->secret, config->dashboard_password) == 0 ||
        strcmp(config->secret, config->viewer_password) == 0) {
        fprintf(stderr, "intent-bus: BUS_ADMIN_SECRET, DASHBOARD_PASSWORD and "
                        "BUS_ADMIN_READONLY_PASSWORD must differ from the API key\n");
        return -1;
    }
    return 0;
}

int secret_resolve(struct config *config)
{
    int rc = resolve_main_key(config);
    return rc == 0 ? refuse_shared_admin_secret(config) : rc;
}

static int resolve_main_key(struct config *config)
{
    if (strcmp(config->secret, "dev_secret") == 0) {
        fprintf(stderr, "intent-bus: BUS_SECRET=dev_secret is the published default; "
                        "choose a secret of your own\n");
        return -1;
    }
    if (config->secret[0] != '\0')
        return 0;
    snprintf(config->secret_path, sizeof config->secret_path, "%s.secret", config->db_path);
    int fd = open(config->secret_path, O_RDONLY);
    if (fd >= 0) {
        int rc = read_secret(config, fd);
        close(fd);
        if (rc == 0)
            fprintf(stderr, "intent-bus: BUS_SECRET is unset; using the API key in %s\n",
                    config->secret_path);
        return rc;
    }
    if (errno == ENOENT && write_secret(config) == 0)
        return 0;
    fprintf(stderr, "intent-bus: cannot create %s: %s\n", config->secret_path, strerror(errno));
    return -1;
}

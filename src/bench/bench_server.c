/* Starting and stopping the bench's own bus; see bench_server.h. */
#include "bench/bench_server.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util/sibling.h"
#include "version.h"

int bench_server_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&address, sizeof address) == 0 &&
        getsockname(fd, (struct sockaddr *)&address, &length) == 0)
        port = ntohs(address.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static size_t discard(char *data, size_t size, size_t count, void *context)
{
    (void)data;
    (void)context;
    return size * count;
}

static bool healthy(const char *url)
{
    char health[96];
    snprintf(health, sizeof health, "%s/health", url);
    CURL *curl = curl_easy_init();
    long status = 0;
    if (curl == NULL)
        return false;
    curl_easy_setopt(curl, CURLOPT_URL, health);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    return status == 200;
}

static void exec_server(const struct bench_server *server, int port,
                        const struct bench_server_setup *setup)
{
    char port_text[16];
    char db[128];
    snprintf(port_text, sizeof port_text, "%d", port);
    snprintf(db, sizeof db, "%s/bench.db", server->directory);
    setenv("BUS_SECRET", setup->api_key, 1);
    setenv("BUS_LOG_LEVEL", "off", 1);
    /* The server's own environment must not pick another database. */
    unsetenv("BUS_DATABASE_URL");
    unsetenv("BUS_DB_PATH");
    if (setup->extra_env != NULL)
        putenv((char *)setup->extra_env);
    bool postgres = setup->database != NULL;
    char server_path[PATH_MAX];
    if (sibling_path(INTENT_BUS_EXECUTABLE, server_path, sizeof server_path))
        execl(server_path, INTENT_BUS_EXECUTABLE, "serve", "--bind", "127.0.0.1", "--port",
              port_text, postgres ? "--database" : "--db", postgres ? setup->database : db,
              (char *)NULL);
    perror("intent-bus bench: cannot start the server (intent-bus, beside intent-bus-client)");
    _exit(127);
}

int bench_server_spawn(struct bench_server *server, const struct bench_server_setup *setup,
                       int port)
{
    memset(server, 0, sizeof *server);
    if (setup->database == NULL) {
        snprintf(server->directory, sizeof server->directory, "/tmp/intent-bus-bench-XXXXXX");
        if (mkdtemp(server->directory) == NULL)
            server->directory[0] = '\0';
    }
    if (port < 0 || (setup->database == NULL && server->directory[0] == '\0')) {
        fprintf(stderr, "intent-bus bench: cannot prepare a temporary server\n");
        return -1;
    }
    snprintf(server->url, sizeof server->url, "http://127.0.0.1:%d", port);
    server->pid = fork();
    if (server->pid == 0)
        exec_server(server, port, setup);
    if (server->pid < 0) {
        server->pid = 0;
        perror("intent-bus bench: cannot start the server");
        return -1;
    }
    return 0;
}

int bench_server_wait(struct bench_server *server)
{
    struct timespec pause = {0, 20 * 1000 * 1000};
    for (int tries = 0; server->pid > 0 && tries < 500; tries++) {
        if (healthy(server->url))
            return 0;
        if (waitpid(server->pid, NULL, WNOHANG) == server->pid) {
            server->pid = 0;
            break;
        }
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "intent-bus bench: the server on %s did not start\n", server->url);
    return -1;
}

void bench_server_signal(struct bench_server *server)
{
    if (server->pid > 0)
        kill(server->pid, SIGTERM);
}

void bench_server_stop(struct bench_server *server)
{
    if (server->pid > 0) {
        kill(server->pid, SIGTERM);
        waitpid(server->pid, NULL, 0);
        server->pid = 0;
    }
    if (server->directory[0] != '\0') {
        char path[160];
        static const char *const files[] = {"bench.db", "bench.db-wal", "bench.db-shm"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", server->directory, files[i]);
            unlink(path);
        }
        rmdir(server->directory);
        server->directory[0] = '\0';
    }
}

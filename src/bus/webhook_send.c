/* One attempt at a completion webhook; see webhook_send.h. */
#include "bus/webhook_send.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "version.h"

void webhook_sign(const char *secret, long long t, const char *body,
                  char out[WEBHOOK_SIGNATURE_MAX])
{
    size_t body_len = strlen(body);
    char prefix[24];
    int prefix_len = snprintf(prefix, sizeof prefix, "%lld.", t);
    char *signed_text = malloc((size_t)prefix_len + body_len + 1);
    char hex[SIGNATURE_HEX_LEN + 1] = "";
    if (signed_text != NULL) {
        memcpy(signed_text, prefix, (size_t)prefix_len);
        memcpy(signed_text + prefix_len, body, body_len + 1);
        signature_hmac_hex(secret, strlen(secret), signed_text, (size_t)prefix_len + body_len, hex);
        free(signed_text);
    }
    snprintf(out, WEBHOOK_SIGNATURE_MAX, "t=%lld,v1=%s", t, hex);
}

/* The first resolved address of target the policy allows, as text for
 * CURLOPT_RESOLVE ("[v6]" bracketed); false with out->error set. */
static bool pick_address(const struct webhook_policy *policy, const struct webhook_url *target,
                         char *address, size_t size, struct webhook_send_result *out)
{
    char port[8];
    snprintf(port, sizeof port, "%d", target->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(target->host, port, &hints, &found);
    if (rc != 0) {
        snprintf(out->error, sizeof out->error, "cannot resolve %.100s: %.80s", target->host,
                 gai_strerror(rc));
        return false;
    }
    bool picked = false;
    for (const struct addrinfo *a = found; a != NULL && !picked; a = a->ai_next) {
        if (!webhook_policy_address_ok(policy, target, a->ai_addr))
            continue;
        char text[INET6_ADDRSTRLEN];
        const void *raw = a->ai_family == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                              : (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr;
        if (inet_ntop(a->ai_family, raw, text, sizeof text) == NULL)
            continue;
        snprintf(address, size, a->ai_family == AF_INET6 ? "[%s]" : "%s", text);
        picked = true;
    }
    freeaddrinfo(found);
    if (!picked)
        snprintf(out->error, sizeof out->error,
                 "%.100s resolves only to loopback, link-local, private or unspecified addresses "
                 "(refused)",
                 target->host);
    return picked;
}

static size_t discard(char *data, size_t size, size_t count, void *context)
{
    (void)data;
    (void)context;
    return size * count;
}

/* libcurl's progress callback: a nonzero answer aborts the transfer. */
static int check_cancel(void *context, curl_off_t download_total, curl_off_t downloaded,
                        curl_off_t upload_total, curl_off_t uploaded)
{
    (void)download_total;
    (void)downloaded;
    (void)upload_total;
    (void)uploaded;
    return atomic_load((const atomic_bool *)context) ? 1 : 0;
}

/* The request itself, over a connection pinned by resolve (NULL: an IP
 * literal, which needs no lookup). */
static void post(const struct libcurl *curl, const char *url, struct curl_slist *resolve,
                 const char *body, const char *signature, double timeout, const atomic_bool *cancel,
                 struct webhook_send_result *out)
{
    CURL *handle = curl->curl_easy_init();
    char header[WEBHOOK_SIGNATURE_MAX + 32];
    snprintf(header, sizeof header, WEBHOOK_SIGNATURE_HEADER ": %s", signature);
    struct curl_slist *headers = curl->curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *more = headers ? curl->curl_slist_append(headers, header) : NULL;
    if (handle == NULL || more == NULL) {
        snprintf(out->error, sizeof out->error, "out of memory");
        curl->curl_slist_free_all(headers);
        if (handle)
            curl->curl_easy_cleanup(handle);
        return;
    }
    curl->curl_easy_setopt(handle, CURLOPT_URL, url);
    curl->curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    curl->curl_easy_setopt(handle, CURLOPT_NOPROXY, "*"); /* no proxy may undo the pin */
    curl->curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    curl->curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl->curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000.0));
    curl->curl_easy_setopt(handle, CURLOPT_USERAGENT, "intent-bus/" INTENT_BUS_VERSION);
    curl->curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl->curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body);
    curl->curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl->curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, discard);
    if (resolve != NULL)
        curl->curl_easy_setopt(handle, CURLOPT_RESOLVE, resolve);
    if (cancel != NULL) {
        curl->curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
        curl->curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, check_cancel);
        curl->curl_easy_setopt(handle, CURLOPT_XFERINFODATA, (void *)cancel);
    }
    CURLcode rc = curl->curl_easy_perform(handle);
    out->interrupted = rc == CURLE_ABORTED_BY_CALLBACK;
    long status = 0;
    if (rc == CURLE_OK)
        curl->curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    out->http_status = (int)status;
    out->delivered = rc == CURLE_OK && status >= 200 && status < 300;
    if (rc != CURLE_OK)
        snprintf(out->error, sizeof out->error, "%s", curl->curl_easy_strerror(rc));
    else if (!out->delivered)
        snprintf(out->error, sizeof out->error, "HTTP %ld", status);
    curl->curl_slist_free_all(headers);
    curl->curl_easy_cleanup(handle);
}

void webhook_send(const struct libcurl *curl, const struct webhook_policy *policy, const char *url,
                  const char *body, const char *secret, double timeout, const atomic_bool *cancel,
                  struct webhook_send_result *out)
{
    memset(out, 0, sizeof *out);
    struct webhook_url target;
    struct bus_error error;
    if (webhook_policy_check(policy, url, &target, &error) != BUS_OK) {
        snprintf(out->error, sizeof out->error, "%.40s: %.150s", error.code, error.message);
        out->refused = true;
        return;
    }
    struct curl_slist *resolve = NULL;
    if (!target.host_is_ip) {
        char address[INET6_ADDRSTRLEN + 2];
        if (!pick_address(policy, &target, address, sizeof address, out))
            return;
        char entry[WEBHOOK_HOST_MAX + INET6_ADDRSTRLEN + 16];
        snprintf(entry, sizeof entry, "%s:%d:%s", target.host, target.port, address);
        resolve = curl->curl_slist_append(NULL, entry);
        if (resolve == NULL) {
            snprintf(out->error, sizeof out->error, "out of memory");
            return;
        }
    }
    char signature[WEBHOOK_SIGNATURE_MAX];
    webhook_sign(secret, (long long)time(NULL), body, signature);
    post(curl, url, resolve, body, signature, timeout, cancel, out);
    curl->curl_slist_free_all(resolve);
}

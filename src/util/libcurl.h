/* libcurl, loaded at run time (dlopen) for the server's outbound webhooks,
 * not linked: a bus that sends none never maps libcurl and what it links
 * (OpenSSL, nghttp2, ...), as tests/http/test_footprint.py checks. The
 * caller calls through the table libcurl_load() returns; only the few
 * functions listed here are there. */
#ifndef UTIL_LIBCURL_H
#define UTIL_LIBCURL_H

#include <stdbool.h>

#define CURL_DISABLE_TYPECHECK /* the calls go through pointers, not the macros */
#include <curl/curl.h>

#define LIBCURL_FUNCTIONS(X)                                                                       \
    X(curl_global_init)                                                                            \
    X(curl_easy_init)                                                                              \
    X(curl_easy_setopt)                                                                            \
    X(curl_easy_perform)                                                                           \
    X(curl_easy_getinfo)                                                                           \
    X(curl_easy_cleanup)                                                                           \
    X(curl_easy_strerror)                                                                          \
    X(curl_slist_append)                                                                           \
    X(curl_slist_free_all)

#define LIBCURL_MEMBER(name) __typeof__(name) *name;
struct libcurl {
    LIBCURL_FUNCTIONS(LIBCURL_MEMBER)
};
#undef LIBCURL_MEMBER

/* Loads libcurl once and runs curl_global_init (thread-safe); NULL after
 * saying why on stderr. The library stays loaded for the process's life. */
const struct libcurl *libcurl_load(void);

#endif

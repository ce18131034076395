/* HTTPS: GnuTLS sessions over the loop's non-blocking sockets. The
 * credentials are loaded once; each connection gets a session whose
 * records are read and written as the loop's plain recv and send are. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "net/net_internal.h"

bool net_tls_setup(struct net_server *server, char *why, size_t why_size)
{
    const char *cert = server->config.tls_cert_pem, *key = server->config.tls_key_pem;
    gnutls_datum_t cert_data = {(unsigned char *)cert, (unsigned)strlen(cert)};
    gnutls_datum_t key_data = {(unsigned char *)key, (unsigned)strlen(key)};
    int rc = gnutls_certificate_allocate_credentials(&server->credentials);
    if (rc == GNUTLS_E_SUCCESS)
        rc = gnutls_certificate_set_x509_key_mem(server->credentials, &cert_data, &key_data,
                                                 GNUTLS_X509_FMT_PEM);
    if (rc == GNUTLS_E_SUCCESS)
        rc = gnutls_priority_init(&server->priorities, NULL, NULL);
    if (rc == GNUTLS_E_SUCCESS)
        return true;
    snprintf(why, why_size, "the TLS certificate or key is unusable (%s)", gnutls_strerror(rc));
    net_tls_teardown(server);
    return false;
}

void net_tls_teardown(struct net_server *server)
{
    if (server->credentials != NULL)
        gnutls_certificate_free_credentials(server->credentials);
    if (server->priorities != NULL)
        gnutls_priority_deinit(server->priorities);
    server->credentials = NULL;
    server->priorities = NULL;
}

/* Without MSG_NOSIGNAL a client gone mid-answer would raise SIGPIPE. */
static ssize_t push(gnutls_transport_ptr_t context, const void *data, size_t size)
{
    const struct net_connection *connection = context;
    return send(connection->fd, data, size, MSG_NOSIGNAL);
}

static ssize_t pull(gnutls_transport_ptr_t context, void *data, size_t size)
{
    const struct net_connection *connection = context;
    return recv(connection->fd, data, size, 0);
}

bool net_tls_session(struct net_connection *connection)
{
    struct net_server *server = connection->loop->server;
    if (gnutls_init(&connection->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK) != GNUTLS_E_SUCCESS) {
        connection->tls = NULL;
        return false;
    }
    if (gnutls_priority_set(connection->tls, server->priorities) != GNUTLS_E_SUCCESS ||
        gnutls_credentials_set(connection->tls, GNUTLS_CRD_CERTIFICATE, server->credentials) !=
            GNUTLS_E_SUCCESS) {
        gnutls_deinit(connection->tls);
        connection->tls = NULL;
        return false;
    }
    gnutls_transport_set_ptr(connection->tls, connection);
    gnutls_transport_set_push_function(connection->tls, push);
    gnutls_transport_set_pull_function(connection->tls, pull);
    connection->handshaking = true;
    return true;
}

int net_tls_handshake(struct net_connection *connection)
{
    int rc = gnutls_handshake(connection->tls);
    if (rc == GNUTLS_E_SUCCESS) {
        connection->handshaking = false;
        return 1;
    }
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
        net_want_write(connection, gnutls_record_get_direction(connection->tls) == 1);
        return 0;
    }
    return -1;
}

ssize_t net_tls_read(struct net_connection *connection, char *data, size_t size)
{
    ssize_t got;
    do
        got = gnutls_record_recv(connection->tls, data, size);
    while (got == GNUTLS_E_INTERRUPTED);
    if (got >= 0)
        return got;
    /* A client that closes without close_notify has simply gone. */
    errno = got == GNUTLS_E_AGAIN ? EAGAIN : ECONNRESET;
    return got == GNUTLS_E_PREMATURE_TERMINATION ? 0 : -1;
}

/* A send that said "again" must be repeated with the same data; the
 * library keeps it, so the retry passes none and says how much it was. */
ssize_t net_tls_write(struct net_connection *connection, const char *data, size_t size)
{
    ssize_t sent;
    if (connection->tls_attempted > 0) {
        sent = gnutls_record_send(connection->tls, NULL, 0);
    } else {
        sent = gnutls_record_send(connection->tls, data, size);
    }
    if (sent >= 0) {
        connection->tls_attempted = 0;
        return sent;
    }
    if (sent == GNUTLS_E_AGAIN || sent == GNUTLS_E_INTERRUPTED) {
        if (connection->tls_attempted == 0)
            connection->tls_attempted = size;
        errno = EAGAIN;
        return -1;
    }
    errno = EPIPE;
    return -1;
}

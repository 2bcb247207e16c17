/* ecsa-soup-call.h: one HTTP exchange with an overall timeout and a bounded body.
 *
 * libsoup's SoupSession:timeout is an inactivity timeout in whole seconds; the agent's calls need a
 * deadline for the whole exchange (connect, send, read) that names the call when it runs out, and a
 * cap on what an untrusted server may make us buffer. Used by the IMDS and ECS clients.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Send `msg` and read its body (at most max_body bytes, else ECSA_ERROR_INVALID_DATA). When
 * timeout_ms passes first the call fails with ECSA_ERROR_TIMEOUT: "<what> timed out after N ms".
 * Transport failures keep their GIO/TLS/soup error. The status is soup_message_get_status (msg). */
void ecsa_soup_call_async (SoupSession *session, SoupMessage *msg, const char *what, guint timeout_ms, gsize max_body,
                           GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
GBytes *ecsa_soup_call_finish (GAsyncResult *result, GError **error);

/* Sends small writes at once on a TCP connection (TCP_NODELAY, as Go's net package does for
 * v1.16.2). Without it a TLS handshake stalls for the peer's delayed ACK (40 ms on Linux): the
 * client's ChangeCipherSpec and Finished go in two writes, and Nagle holds the second until the
 * first is acknowledged. Does nothing on a unix socket or a stream that is not a socket. */
void ecsa_tcp_set_nodelay (GIOStream *connection);
/* The same for every connection that `msg` opens (its SoupMessage::network-event).
 * ecsa_soup_call_async() does it itself. */
void ecsa_soup_message_set_tcp_nodelay (SoupMessage *msg);

/* A delay that ends early (G_IO_ERROR_CANCELLED) when `cancellable` is cancelled. */
void ecsa_sleep_async (GTimeSpan delay, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_sleep_finish (GAsyncResult *result, GError **error);

G_END_DECLS

/* ecsl-tcs.h: the Telemetry Communication Service websocket of ecs-local.
 *
 * The agent connects to <telemetryEndpoint>/ws?cluster=…&containerInstance=… (SigV4-signed GET).
 * Every frame it sends is a signed request: the headers (Authorization, Host, X-Amz-Date, …), a
 * blank line, then {"type":…,"message":…}; the signature covers a GET of the websocket URL with
 * the JSON as payload (PROTOCOL-NOTES.md). ecs-local verifies each frame, answers
 * PublishMetricsRequest with AckPublishMetric (and PublishHealthRequest with AckPublishHealth),
 * keeps the last messages for GET /_ecs-local/v1/metrics, and closes the connection (1008) on a
 * frame whose signature does not verify. It sends HeartbeatMessage every --heartbeat-interval.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <json-glib/json-glib.h>

#include "ecsl-context.h"

G_BEGIN_DECLS

EcslTcs *ecsl_tcs_new (EcslContext *ctx);
void ecsl_tcs_free (EcslTcs *self);
void ecsl_tcs_close_all (EcslTcs *self);

gboolean ecsl_tcs_check_handshake (EcslContext *ctx, SoupServerMessage *msg);
void ecsl_tcs_connected (EcslContext *ctx, SoupServerMessage *msg, SoupWebsocketConnection *conn);

/* Split a frame into its headers (appended to `headers`) and body; FALSE with an error when it is
 * not headers, a blank line and a body. */
gboolean ecsl_tcs_parse_frame (const char *data, gsize len, SoupMessageHeaders *headers, GBytes **out_body,
                               GError **error);
/* Handle a verified message of a session of `instance_arn` (conn_or_null: the session, to answer). */
void ecsl_tcs_handle_message (EcslContext *ctx, const char *instance_arn, const char *type, JsonNode *message,
                              gpointer conn_or_null);

/* {"metrics":[{"receivedAt","containerInstance","type","message"}…], "rejected":[…]} */
JsonNode *ecsl_tcs_metrics_view (EcslTcs *self);

G_END_DECLS

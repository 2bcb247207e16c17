/* ecsa-tcs-session.h: the Telemetry Communication Service session (agent v1.16.2 tcs/).
 *
 * URL: <telemetryEndpoint>/ws?cluster=<cluster>&containerInstance=<arn> (Go url.Values encoding).
 * Every frame the agent sends is the header block of a SigV4-signed GET of that URL whose payload
 * is the JSON envelope ("Authorization", "Host", "X-Amz-Date" and "X-Amz-Security-Token" when a
 * session token is in use, sorted, "Name: value" CRLF lines), a blank line, then the envelope.
 *
 * PublishMetricsRequest goes out right after connecting and every 20 s: with no task metrics (no
 * metrics plugin, or nothing running) one request with metadata.idle=true, fin=true and no
 * taskMetrics; otherwise the task metrics (containers with samples only) in requests of at most
 * 10 tasks sharing one messageId, fin=true on the last; when tasks run but none has samples yet,
 * nothing is sent (v1.16.2). The service answers AckPublishMetric; heartbeats are not answered.
 * StopTelemetrySessionMessage closes the connection and opens a new one at once. Reconnects back off
 * from 1 s to 1 min (x2, 20% jitter); silence for 1 min + up to 1 min closes the connection.
 * ECS_DISABLE_METRICS: the agent does not create this session.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h" /* EcsaTaskMetrics (ecsa-metrics.h) */
#include "ecsa-ws-session.h"

G_BEGIN_DECLS

#define ECSA_TCS_PUBLISH_INTERVAL (20 * G_USEC_PER_SEC)
#define ECSA_TCS_TASKS_PER_MESSAGE 10

/* The metrics source (the metrics plugin, through the plugin registry). */
typedef struct
{
  gpointer metrics;
  /* The sets gathered since the last call: EcsaTaskMetrics* (free func set), or NULL for none. */
  GPtrArray *(*collect) (gpointer metrics);
} EcsaTcsSessionHooks;

#define ECSA_TYPE_TCS_SESSION (ecsa_tcs_session_get_type ())
G_DECLARE_FINAL_TYPE (EcsaTcsSession, ecsa_tcs_session, ECSA, TCS_SESSION, EcsaWsSession)

/* `hooks` may be NULL: always idle. */
EcsaTcsSession *ecsa_tcs_session_new (EcsaEcsClient *ecs_client, const EcsaTcsSessionHooks *hooks);

char *ecsa_tcs_session_build_url (EcsaTcsSession *self, const char *endpoint);

/* The PublishMetricsRequest messages for one round (JsonNode* objects; empty when there is
 * nothing to send). `metrics` may be NULL. Exposed for tests and the fuzzers. */
GPtrArray *ecsa_tcs_build_publish_requests (const char *cluster, const char *container_instance,
                                            GPtrArray *metrics, gint64 now);

/* The TCS frame for an envelope, signed with `credentials` at `when` (NULL: now). */
GBytes *ecsa_tcs_sign_frame (const char *url, GBytes *envelope, const char *region,
                             const EcsaAwsCredentials *credentials, GDateTime *when, GError **error);

/* Publish now (tests; the timer does it every 20 s). */
void ecsa_tcs_session_publish (EcsaTcsSession *self);

G_END_DECLS

/* ecsl-http.h: the HTTPS face of ecs-local.
 *
 *  POST /   X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Op>  (ECS, SigV4 service "ecs")
 *           X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken (ECR, "ecr")
 *  GET /ws  on the main port: the ACS websocket; on the telemetry port: the TCS websocket
 *  GET /_ecs-local/v1/status, /_ecs-local/v1/metrics: read-only views for tests and humans
 *
 * Errors are JSON 1.1 errors: {"__type":"<Code>","message":"…"} with AWS's HTTP status, and an
 * x-amzn-RequestId header on every response.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsl-context.h"

G_BEGIN_DECLS

gboolean ecsl_http_start (EcslContext *ctx, GError **error);
void ecsl_http_stop (EcslContext *ctx);

/* Verify a SigV4-signed request against the credentials ecs-local accepts: the scope's region
 * must be ours and the service `service`. On failure the error is an ECSL_API_ERROR whose code
 * names the AWS error (UnrecognizedClientException, InvalidSignatureException, …). */
gboolean ecsl_verify_signature (EcslContext *ctx, const char *method, const char *path, const char *query,
                                SoupMessageHeaders *headers, GBytes *body, const char *service,
                                const EcslCredEntry **out_entry, GError **error);

/* Verify the SigV4 signature of a websocket handshake (a GET, service "ecs"); on failure refuse
 * it as the service does (403 {"AccessDeniedException":"…"}) and return FALSE. */
gboolean ecsl_http_verify_handshake (EcslContext *ctx, SoupServerMessage *msg, const char *what);
/* Refuse a websocket handshake: HTTP status and a body {"<type>":"<message>"}. */
void ecsl_http_refuse_handshake (SoupServerMessage *msg, guint status, const char *type, const char *message);

/* Append one API call to the trace file (--trace), secrets removed. */
void ecsl_trace (EcslContext *ctx, const char *kind, const char *op, JsonNode *request, guint status,
                 JsonNode *response);
void ecsl_trace_close (void);

G_END_DECLS

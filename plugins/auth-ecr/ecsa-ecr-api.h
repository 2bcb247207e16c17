/* ecsa-ecr-api.h: the ECR GetAuthorizationToken wire format (JSON 1.1), for the "ecr" plugin.
 *
 * Separate from the plugin so that the parsing of answers (untrusted input from the network) has a
 * libFuzzer harness of its own (tests/fuzz/fuzz-ecr-response.c). Compiled into the plugin.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

#define ECSA_ECR_TARGET "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"

/* One authorizationData entry, decoded. Secrets: free with ecsa_ecr_token_free (which wipes). */
typedef struct
{
  char *username;
  char *password;
  char *proxy_endpoint; /* "https://<registry>" */
  gint64 expires_at;    /* unix seconds */
  gint64 refresh_at;    /* the plugin's: stop using the token from here */
} EcsaEcrToken;

void ecsa_ecr_token_free (EcsaEcrToken *token);
EcsaEcrToken *ecsa_ecr_token_copy (const EcsaEcrToken *token);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaEcrToken, ecsa_ecr_token_free)

/* Overwrite a string with zeros (NULL is fine). */
void ecsa_ecr_wipe (char *secret);

/* endpointOverride as given (https:// added when it has no scheme, "/" when no path), else
 * https://ecr.<region>.amazonaws.com/ (.com.cn for cn-* regions). */
char *ecsa_ecr_endpoint_url (const char *region, const char *endpoint_override);

/* {"registryIds":["<id>"]}, or {} for the caller's default registry. */
GBytes *ecsa_ecr_request_body (const char *registry_id);

/* Does a token for proxy_endpoint serve image? ("https://" + image starts with it, at a boundary.) */
gboolean ecsa_ecr_proxy_endpoint_covers (const char *proxy_endpoint, const char *image);

/* A 200 answer: exactly one authorizationData with a base64 "user:password" token, a proxyEndpoint
 * and an expiresAt. Errors: ECSA_ERROR_INVALID_DATA (or _RETRY for a body that is not JSON). */
EcsaEcrToken *ecsa_ecr_parse_token (GBytes *body, GError **error);

/* Any other answer, as an error classed for the caller: ECSA_ERROR_AUTH (refused credentials),
 * _RETRY (5xx, throttling), _INVALID_DATA (InvalidParameterException), else _FAILED. The message
 * carries the status, the AWS error type and message. */
GError *ecsa_ecr_error_from_response (guint status, GBytes *body);

G_END_DECLS

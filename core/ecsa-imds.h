/* ecsa-imds.h: the EC2 instance metadata client (IMDS), as the AWS SDKs use it.
 *
 *  - Endpoint: AWS_EC2_METADATA_SERVICE_ENDPOINT (a URL, e.g. "http://127.0.0.1:1338/"), else
 *    AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE ("IPv4" -> http://169.254.169.254, "IPv6" ->
 *    http://[fd00:ec2::254]). AWS_EC2_METADATA_DISABLED=true turns every call into an immediate
 *    ECSA_ERROR_NOT_SUPPORTED, as the SDKs do.
 *  - IMDSv2: a session token from PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds:
 *    21600) is sent as X-aws-ec2-metadata-token, cached and renewed before it expires. The token
 *    request answered 403, 404 or 405 means IMDSv1 only (remembered); a token request that fails
 *    otherwise (timeout, refused) falls back to IMDSv1 for that call; 400 is an error. A 401 on a
 *    GET drops the token and fetches a new one once.
 *  - Transient failures (timeouts, connection errors, 5xx, 429) are retried with backoff, up to
 *    4 attempts per call. Each attempt has its own timeout (2 s by default).
 * Errors are ECSA_ERROR: NOT_SUPPORTED (disabled), NOT_FOUND (404), TIMEOUT, RETRY (still failing
 * after the retries), INVALID_DATA (unusable answer), FAILED.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ECSA_IMDS_ENDPOINT_IPV4 "http://169.254.169.254"
#define ECSA_IMDS_ENDPOINT_IPV6 "http://[fd00:ec2::254]"
#define ECSA_IMDS_TOKEN_TTL_SECONDS 21600

#define ECSA_TYPE_IMDS (ecsa_imds_get_type ())
G_DECLARE_FINAL_TYPE (EcsaImds, ecsa_imds, ECSA, IMDS, GObject)

/* Endpoint and disabled flag from the environment (see above). */
EcsaImds *ecsa_imds_new (void);
/* Explicit endpoint (NULL: the default IPv4 one). */
EcsaImds *ecsa_imds_new_full (const char *endpoint, gboolean disabled);

const char *ecsa_imds_get_endpoint (EcsaImds *self);
gboolean ecsa_imds_is_disabled (EcsaImds *self);
/* Per-attempt timeout and attempts per call (tests). */
void ecsa_imds_set_timeout (EcsaImds *self, guint timeout_ms);
void ecsa_imds_set_max_attempts (EcsaImds *self, guint attempts);
/* TRUE once the service refused tokens (IMDSv1 only). */
gboolean ecsa_imds_is_v1_only (EcsaImds *self);

/* GET /latest/<path>, e.g. "meta-data/instance-id", "dynamic/instance-identity/document". */
void ecsa_imds_get_async (EcsaImds *self, const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data);
char *ecsa_imds_get_finish (EcsaImds *self, GAsyncResult *result, GError **error);

typedef struct
{
  char *document;    /* dynamic/instance-identity/document, as served */
  char *signature;   /* dynamic/instance-identity/signature, NULL when it could not be read */
  char *instance_id; /* "instanceId" of the document */
  char *region;      /* "region" of the document */
  char *availability_zone; /* "availabilityZone", or NULL */
  char *instance_type;     /* "instanceType", or NULL */
} EcsaInstanceIdentity;

void ecsa_instance_identity_free (EcsaInstanceIdentity *identity);
EcsaInstanceIdentity *ecsa_instance_identity_copy (const EcsaInstanceIdentity *identity);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaInstanceIdentity, ecsa_instance_identity_free)

/* Parse an instance identity document (needs "instanceId" and "region"). */
EcsaInstanceIdentity *ecsa_instance_identity_parse (const char *document, GError **error);

/* The document, then its signature (a missing signature is not an error: signature stays NULL).
 * An instance's identity does not change while it runs: once both were read, later calls answer
 * from memory (start-up asks for it twice: for the instance ID, then for the registration). */
void ecsa_imds_get_instance_identity_async (EcsaImds *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                            gpointer user_data);
EcsaInstanceIdentity *ecsa_imds_get_instance_identity_finish (EcsaImds *self, GAsyncResult *result, GError **error);

G_END_DECLS

/* ecsa-aws-credentials.h: the agent's own AWS credentials, found as agent v1.16.2's SDK chain finds
 * them (aws-sdk-go defaults.CredChain):
 *   1. the environment: AWS_ACCESS_KEY_ID (or AWS_ACCESS_KEY) + AWS_SECRET_ACCESS_KEY (or
 *      AWS_SECRET_KEY), with AWS_SESSION_TOKEN when set;
 *   2. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials, profile
 *      AWS_PROFILE (else "default");
 *   3. the instance role from EC2 instance metadata (ecsa-imds: IMDSv2 with v1 fallback):
 *      meta-data/iam/security-credentials/ names the role, then .../<role> gives the keys.
 * Instance-role credentials are refreshed 5 minutes before they expire (the SDK's expiry window),
 * in the background and on demand; if a refresh fails the old ones serve until they really expire.
 *
 * The object is EcsaAwsCredentialsProvider because EcsaAwsCredentials is the value (plugin ABI,
 * ecsa-plugin.h). Values are secrets: copies are wiped when freed, nothing here logs them.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

#include "ecsa-imds.h"
#include "ecsa-plugin.h" /* EcsaAwsCredentials */

G_BEGIN_DECLS

/* How long before its expiration a credential is refreshed (aws-sdk-go ExpiryWindow). */
#define ECSA_AWS_CREDENTIALS_EXPIRY_WINDOW (5 * 60 * G_USEC_PER_SEC)

/* A heap copy of EcsaAwsCredentials (strings never NULL: "" when absent). */
EcsaAwsCredentials *ecsa_aws_credentials_new (const char *access_key_id, const char *secret_access_key,
                                              const char *session_token, gint64 expiration, const char *role_arn);
EcsaAwsCredentials *ecsa_aws_credentials_copy (const EcsaAwsCredentials *credentials);
/* Wipes the strings, then frees. */
void ecsa_aws_credentials_free (EcsaAwsCredentials *credentials);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaAwsCredentials, ecsa_aws_credentials_free)

typedef enum
{
  ECSA_AWS_CREDENTIALS_SOURCE_NONE = 0,
  ECSA_AWS_CREDENTIALS_SOURCE_ENVIRONMENT,
  ECSA_AWS_CREDENTIALS_SOURCE_SHARED_FILE,
  ECSA_AWS_CREDENTIALS_SOURCE_INSTANCE_ROLE,
} EcsaAwsCredentialsSource;

const char *ecsa_aws_credentials_source_to_string (EcsaAwsCredentialsSource source);

#define ECSA_TYPE_AWS_CREDENTIALS_PROVIDER (ecsa_aws_credentials_provider_get_type ())
G_DECLARE_FINAL_TYPE (EcsaAwsCredentialsProvider, ecsa_aws_credentials_provider, ECSA, AWS_CREDENTIALS_PROVIDER,
                      GObject)

/* `imds` may be NULL (no instance role). The environment and the file are read at each lookup
 * that has nothing valid cached. */
EcsaAwsCredentialsProvider *ecsa_aws_credentials_provider_new (EcsaImds *imds);

/* Valid credentials (a copy: free with ecsa_aws_credentials_free), refreshing when needed.
 * Concurrent calls share one lookup. Fails with ECSA_ERROR_AUTH when no source has any. */
void ecsa_aws_credentials_provider_get_async (EcsaAwsCredentialsProvider *self, GCancellable *cancellable,
                                              GAsyncReadyCallback callback, gpointer user_data);
EcsaAwsCredentials *ecsa_aws_credentials_provider_get_finish (EcsaAwsCredentialsProvider *self, GAsyncResult *result,
                                                              GError **error);

/* The cached credentials when they are still valid (not past their expiration), else NULL. Owned by
 * the provider: valid until the next main-context iteration. */
const EcsaAwsCredentials *ecsa_aws_credentials_provider_peek (EcsaAwsCredentialsProvider *self);
EcsaAwsCredentialsSource ecsa_aws_credentials_provider_get_source (EcsaAwsCredentialsProvider *self);

/* Forget the cache (e.g. the service said the key is unknown): the next get looks again. */
void ecsa_aws_credentials_provider_invalidate (EcsaAwsCredentialsProvider *self);

/* The instance-role document of instance metadata ({"Code":"Success","AccessKeyId":...,
 * "Expiration":"..."}) into credentials (fuzzed). */
EcsaAwsCredentials *ecsa_aws_credentials_parse_role (const char *text, GError **error);

/* Stop the background refresh (before shutdown). */
void ecsa_aws_credentials_provider_stop (EcsaAwsCredentialsProvider *self);

G_END_DECLS

/* test-imds.c: the instance metadata client and the agent's credential chain, against a fake IMDS
 * on loopback (IMDSv2 token flow, v1 fallback, retries, timeouts), plus the environment and the
 * shared credentials file.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-aws-credentials.h"
#include "ecsa-imds.h"
#include "ecsa-test-acs.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <string.h>

#define GUARD_MS 10000

typedef struct
{
  EcsaTestImds *fake;
  EcsaImds *imds;
  gboolean done;
  GAsyncResult *result;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_unsetenv ("AWS_ACCESS_KEY_ID");
  g_unsetenv ("AWS_ACCESS_KEY");
  g_unsetenv ("AWS_SECRET_ACCESS_KEY");
  g_unsetenv ("AWS_SECRET_KEY");
  g_unsetenv ("AWS_SESSION_TOKEN");
  g_unsetenv ("AWS_PROFILE");
  g_setenv ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ecsa-test-credentials", TRUE);
  g_unsetenv ("AWS_EC2_METADATA_DISABLED");
  fx->fake = ecsa_test_imds_new ();
  fx->imds = ecsa_imds_new_full (fx->fake->url, FALSE);
  ecsa_imds_set_timeout (fx->imds, 500);
  ecsa_test_log_capture_start ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_test_log_capture_stop ();
  g_clear_object (&fx->result);
  g_clear_object (&fx->imds);
  ecsa_test_imds_free (fx->fake);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *fx = user_data;

  g_clear_object (&fx->result);
  fx->result = g_object_ref (result);
  fx->done = TRUE;
}

static char *
imds_get (Fixture *fx, const char *path, GError **error)
{
  fx->done = FALSE;
  ecsa_imds_get_async (fx->imds, path, NULL, result_cb, fx);
  ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
  return ecsa_imds_get_finish (fx->imds, fx->result, error);
}

static void
test_v2_token_flow (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *again = NULL;

  fx->fake->require_token = TRUE;
  ecsa_test_imds_set_identity (fx->fake, "i-0123456789abcdef0", ECSA_TEST_REGION);
  id = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, "i-0123456789abcdef0");
  g_assert_cmpuint (fx->fake->token_requests, ==, 1);
  g_assert_cmpuint (fx->fake->token_ttl, ==, 21600);
  g_assert_cmpuint (fx->fake->gets_with_token, ==, 1);
  g_assert_cmpuint (fx->fake->gets_without_token, ==, 0);
  /* the token is cached */
  again = imds_get (fx, "/meta-data/instance-id", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again, ==, id);
  g_assert_cmpuint (fx->fake->token_requests, ==, 1);
  g_assert_cmpuint (fx->fake->gets_with_token, ==, 2);
  g_assert_false (ecsa_imds_is_v1_only (fx->imds));
  {
    const char *secrets[] = { fx->fake->issued_token, NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_v1_fallback (Fixture *fx, gconstpointer data)
{
  guint status = GPOINTER_TO_UINT (data);
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *again = NULL;

  fx->fake->token_status = status;
  ecsa_test_imds_set_identity (fx->fake, "i-v1", ECSA_TEST_REGION);
  id = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, "i-v1");
  g_assert_true (ecsa_imds_is_v1_only (fx->imds));
  again = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_no_error (error);
  /* remembered: no second token request */
  g_assert_cmpuint (fx->fake->token_requests, ==, 1);
  g_assert_cmpuint (fx->fake->gets_without_token, ==, 2);
}

static void
test_token_transient_failure (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;

  /* The token endpoint fails with 500: this call goes on with IMDSv1, and v2 is tried again later. */
  fx->fake->token_status = 500;
  ecsa_test_imds_set_identity (fx->fake, "i-t", ECSA_TEST_REGION);
  id = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, "i-t");
  g_assert_false (ecsa_imds_is_v1_only (fx->imds));
  g_assert_cmpuint (fx->fake->gets_without_token, ==, 1);
  fx->fake->token_status = 0;
  g_free (id);
  id = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fx->fake->token_requests, ==, 2);
  g_assert_cmpuint (fx->fake->gets_with_token, ==, 1);
}

static void
test_token_bad_request (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;

  fx->fake->token_status = 400;
  ecsa_test_imds_set_identity (fx->fake, "i-t", ECSA_TEST_REGION);
  id = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_null (id);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "meta-data/instance-id"));
  g_assert_nonnull (strstr (error->message, "400"));
}

static void
test_revoked_token (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;

  fx->fake->require_token = TRUE;
  fx->fake->revoke_once = TRUE;
  ecsa_test_imds_set_identity (fx->fake, "i-r", ECSA_TEST_REGION);
  id = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (id, ==, "i-r");
  g_assert_cmpuint (fx->fake->token_requests, ==, 2);
}

static void
test_not_found (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *v = imds_get (fx, "meta-data/nothing-here", &error);

  g_assert_null (v);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "meta-data/nothing-here"));
}

static void
test_retries_server_errors (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *v = NULL;

  ecsa_test_imds_set_identity (fx->fake, "i-retry", ECSA_TEST_REGION);
  fx->fake->fail_gets = 2;
  v = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (v, ==, "i-retry");
  g_assert_cmpuint (fx->fake->gets, ==, 3);

  /* more failures than attempts: a RETRY error naming the path */
  g_clear_pointer (&v, g_free);
  fx->fake->fail_gets = 10;
  ecsa_imds_set_max_attempts (fx->imds, 3);
  v = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_null (v);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_RETRY);
  g_assert_nonnull (strstr (error->message, "after 3 attempts"));
}

static void
test_timeout (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *v = NULL;
  gint64 start = g_get_monotonic_time ();

  fx->fake->token_status = 404;
  fx->fake->stall_gets = 10;
  ecsa_imds_set_timeout (fx->imds, 200);
  ecsa_imds_set_max_attempts (fx->imds, 2);
  v = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_null (v);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (error->message, "timed out after 200 ms"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
}

static void
test_disabled_and_env (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaImds) imds = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *v = NULL;

  g_setenv ("AWS_EC2_METADATA_DISABLED", "TRUE", TRUE);
  g_setenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT", fx->fake->url, TRUE);
  imds = ecsa_imds_new ();
  g_assert_true (ecsa_imds_is_disabled (imds));
  g_assert_cmpstr (ecsa_imds_get_endpoint (imds), ==, fx->fake->url);
  g_clear_object (&fx->imds);
  fx->imds = g_object_ref (imds);
  v = imds_get (fx, "meta-data/instance-id", &error);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_cmpuint (fx->fake->gets + fx->fake->token_requests, ==, 0);
  g_clear_object (&imds);

  g_unsetenv ("AWS_EC2_METADATA_DISABLED");
  g_unsetenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  g_setenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6", TRUE);
  imds = ecsa_imds_new ();
  g_assert_false (ecsa_imds_is_disabled (imds));
  g_assert_cmpstr (ecsa_imds_get_endpoint (imds), ==, ECSA_IMDS_ENDPOINT_IPV6);
  g_clear_object (&imds);
  g_unsetenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
  imds = ecsa_imds_new ();
  g_assert_cmpstr (ecsa_imds_get_endpoint (imds), ==, ECSA_IMDS_ENDPOINT_IPV4);
}

static void
test_instance_identity (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaInstanceIdentity) identity = NULL;

  ecsa_test_imds_set_identity (fx->fake, "i-0abc", "eu-west-1");
  fx->done = FALSE;
  ecsa_imds_get_instance_identity_async (fx->imds, NULL, result_cb, fx);
  ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
  identity = ecsa_imds_get_instance_identity_finish (fx->imds, fx->result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (identity->instance_id, ==, "i-0abc");
  g_assert_cmpstr (identity->region, ==, "eu-west-1");
  g_assert_cmpstr (identity->availability_zone, ==, "eu-west-1a");
  g_assert_cmpstr (identity->signature, ==, "dGVzdC1zaWduYXR1cmUtb2YtdGhlLWRvY3VtZW50");
  g_assert_nonnull (strstr (identity->document, "\"instanceId\" : \"i-0abc\""));

  /* asked again (start-up does): answered from memory, IMDS is not asked */
  {
    guint gets = fx->fake->gets;
    g_autoptr(EcsaInstanceIdentity) again = NULL;

    ecsa_test_imds_set_identity (fx->fake, "i-other", "eu-west-1");
    fx->done = FALSE;
    g_clear_object (&fx->result);
    ecsa_imds_get_instance_identity_async (fx->imds, NULL, result_cb, fx);
    ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
    again = ecsa_imds_get_instance_identity_finish (fx->imds, fx->result, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (fx->fake->gets, ==, gets);
    g_assert_cmpstr (again->instance_id, ==, "i-0abc");
    g_assert_cmpstr (again->signature, ==, identity->signature);
    g_assert_cmpstr (again->document, ==, identity->document);
  }

  /* bad documents are refused with a reason */
  g_clear_pointer (&identity, ecsa_instance_identity_free);
  identity = ecsa_instance_identity_parse ("{\"region\":\"x\"}", &error);
  g_assert_null (identity);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_clear_error (&error);
  identity = ecsa_instance_identity_parse ("not json", &error);
  g_assert_null (identity);
  g_assert_nonnull (error);
}

/* ---- credentials --------------------------------------------------------------------------- */

static EcsaAwsCredentials *
provider_get (Fixture *fx, EcsaAwsCredentialsProvider *provider, GError **error)
{
  fx->done = FALSE;
  ecsa_aws_credentials_provider_get_async (provider, NULL, result_cb, fx);
  ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
  return ecsa_aws_credentials_provider_get_finish (provider, fx->result, error);
}

static void
test_credentials_environment_first (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaAwsCredentialsProvider) provider = ecsa_aws_credentials_provider_new (fx->imds);
  g_autoptr(EcsaAwsCredentials) creds = NULL;
  g_autoptr(GError) error = NULL;

  ecsa_test_imds_set_role (fx->fake, "role", "ASIAROLE000000000001", "roleSecret", "roleToken", 3600);
  g_setenv ("AWS_ACCESS_KEY_ID", "AKIAENV0000000000001", TRUE);
  g_setenv ("AWS_SECRET_ACCESS_KEY", "envSecretKeyValue0123456789", TRUE);
  g_setenv ("AWS_SESSION_TOKEN", "envSessionToken", TRUE);
  creds = provider_get (fx, provider, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (creds->access_key_id, ==, "AKIAENV0000000000001");
  g_assert_cmpstr (creds->secret_access_key, ==, "envSecretKeyValue0123456789");
  g_assert_cmpstr (creds->session_token, ==, "envSessionToken");
  g_assert_cmpint (creds->expiration, ==, 0);
  g_assert_cmpint (ecsa_aws_credentials_provider_get_source (provider), ==, ECSA_AWS_CREDENTIALS_SOURCE_ENVIRONMENT);
  g_assert_cmpuint (fx->fake->gets, ==, 0);
  g_assert_nonnull (ecsa_aws_credentials_provider_peek (provider));

  /* the old names work too */
  g_unsetenv ("AWS_ACCESS_KEY_ID");
  g_unsetenv ("AWS_SECRET_ACCESS_KEY");
  g_unsetenv ("AWS_SESSION_TOKEN");
  g_setenv ("AWS_ACCESS_KEY", "AKIAENV0000000000002", TRUE);
  g_setenv ("AWS_SECRET_KEY", "envSecretKeyValue2", TRUE);
  ecsa_aws_credentials_provider_invalidate (provider);
  g_clear_pointer (&creds, ecsa_aws_credentials_free);
  creds = provider_get (fx, provider, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (creds->access_key_id, ==, "AKIAENV0000000000002");
  g_assert_cmpstr (creds->session_token, ==, "");
  g_unsetenv ("AWS_ACCESS_KEY");
  g_unsetenv ("AWS_SECRET_KEY");
  {
    const char *secrets[] = { "envSecretKeyValue0123456789", "envSessionToken", "envSecretKeyValue2", NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_credentials_shared_file (Fixture *fx, gconstpointer data)
{
  g_autofree char *dir = ecsa_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "credentials", NULL);
  g_autoptr(EcsaAwsCredentialsProvider) provider = ecsa_aws_credentials_provider_new (fx->imds);
  g_autoptr(EcsaAwsCredentials) creds = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (path,
                                      "[default]\naws_access_key_id = AKIAFILE000000000001\n"
                                      "aws_secret_access_key = fileSecret0123\n\n[other]\n"
                                      "aws_access_key_id=AKIAFILE000000000002\naws_secret_access_key=fileSecret2\n"
                                      "aws_session_token = fileToken2\n",
                                      -1, NULL));
  g_setenv ("AWS_SHARED_CREDENTIALS_FILE", path, TRUE);
  creds = provider_get (fx, provider, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (creds->access_key_id, ==, "AKIAFILE000000000001");
  g_assert_cmpstr (creds->secret_access_key, ==, "fileSecret0123");
  g_assert_cmpint (ecsa_aws_credentials_provider_get_source (provider), ==, ECSA_AWS_CREDENTIALS_SOURCE_SHARED_FILE);

  g_setenv ("AWS_PROFILE", "other", TRUE);
  ecsa_aws_credentials_provider_invalidate (provider);
  g_clear_pointer (&creds, ecsa_aws_credentials_free);
  creds = provider_get (fx, provider, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (creds->access_key_id, ==, "AKIAFILE000000000002");
  g_assert_cmpstr (creds->session_token, ==, "fileToken2");
  g_unsetenv ("AWS_PROFILE");
  g_setenv ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ecsa-test-credentials", TRUE);
  g_unlink (path);
  ecsa_test_rmdir_recursive (dir);
}

static void
test_credentials_instance_role (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaAwsCredentialsProvider) provider = ecsa_aws_credentials_provider_new (fx->imds);
  g_autoptr(EcsaAwsCredentials) creds = NULL;
  g_autoptr(GError) error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  fx->fake->require_token = TRUE;
  ecsa_test_imds_set_role (fx->fake, "ecsInstanceRole", "ASIAROLE000000000001", "roleSecretValue0001",
                           "roleSessionToken0001", 3600);
  creds = provider_get (fx, provider, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (creds->access_key_id, ==, "ASIAROLE000000000001");
  g_assert_cmpstr (creds->secret_access_key, ==, "roleSecretValue0001");
  g_assert_cmpstr (creds->session_token, ==, "roleSessionToken0001");
  g_assert_cmpint (creds->expiration, >=, now + 3590);
  g_assert_cmpint (creds->expiration, <=, now + 3610);
  g_assert_cmpint (ecsa_aws_credentials_provider_get_source (provider), ==,
                   ECSA_AWS_CREDENTIALS_SOURCE_INSTANCE_ROLE);
  g_assert_cmpuint (fx->fake->gets_with_token, ==, 2);

  /* still valid: served from the cache */
  g_clear_pointer (&creds, ecsa_aws_credentials_free);
  creds = provider_get (fx, provider, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fx->fake->gets, ==, 2);

  /* inside the 5 minute window: the next get refreshes */
  ecsa_test_imds_set_role (fx->fake, "ecsInstanceRole", "ASIAROLE000000000002", "roleSecretValue0002",
                           "roleSessionToken0002", 120);
  ecsa_aws_credentials_provider_invalidate (provider);
  g_clear_pointer (&creds, ecsa_aws_credentials_free);
  creds = provider_get (fx, provider, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (creds->access_key_id, ==, "ASIAROLE000000000002");
  ecsa_test_imds_set_role (fx->fake, "ecsInstanceRole", "ASIAROLE000000000003", "roleSecretValue0003",
                           "roleSessionToken0003", 3600);
  g_clear_pointer (&creds, ecsa_aws_credentials_free);
  creds = provider_get (fx, provider, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (creds->access_key_id, ==, "ASIAROLE000000000003");

  /* a failing refresh keeps the still valid ones */
  ecsa_test_imds_set_role (fx->fake, "ecsInstanceRole", "ASIAROLE000000000004", "roleSecretValue0004",
                           "roleSessionToken0004", 120);
  ecsa_aws_credentials_provider_invalidate (provider);
  g_clear_pointer (&creds, ecsa_aws_credentials_free);
  creds = provider_get (fx, provider, &error);
  g_assert_cmpstr (creds->access_key_id, ==, "ASIAROLE000000000004");
  fx->fake->fail_gets = 100;
  ecsa_imds_set_max_attempts (fx->imds, 2);
  g_clear_pointer (&creds, ecsa_aws_credentials_free);
  creds = provider_get (fx, provider, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (creds->access_key_id, ==, "ASIAROLE000000000004");
  fx->fake->fail_gets = 0;
  /* the capture sees info lines, so the secret check below means something */
  g_assert_nonnull (strstr (ecsa_test_log_captured (), "Using AWS credentials from the instance role"));
  {
    const char *secrets[] = { "roleSecretValue0001", "roleSessionToken0001", "roleSecretValue0002",
                              "roleSessionToken0003", "roleSecretValue0004", fx->fake->issued_token, NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_credentials_none (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaAwsCredentialsProvider) provider = ecsa_aws_credentials_provider_new (fx->imds);
  g_autoptr(EcsaAwsCredentials) creds = NULL;
  g_autoptr(GError) error = NULL;

  g_setenv ("AWS_ACCESS_KEY_ID", "AKIAONLYKEY000000001", TRUE);
  creds = provider_get (fx, provider, &error);
  g_assert_null (creds);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_AUTH);
  g_assert_nonnull (strstr (error->message, "only one of AWS_ACCESS_KEY_ID"));
  g_assert_nonnull (strstr (error->message, "instance role"));
  g_assert_null (ecsa_aws_credentials_provider_peek (provider));
  g_unsetenv ("AWS_ACCESS_KEY_ID");
}

static void
test_credentials_concurrent (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaAwsCredentialsProvider) provider = ecsa_aws_credentials_provider_new (fx->imds);
  Fixture other[3] = { 0 };

  ecsa_test_imds_set_role (fx->fake, "r", "ASIAROLE000000000009", "roleSecretValue0009", "t", 3600);
  for (guint i = 0; i < G_N_ELEMENTS (other); i++)
    ecsa_aws_credentials_provider_get_async (provider, NULL, result_cb, &other[i]);
  for (guint i = 0; i < G_N_ELEMENTS (other); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(EcsaAwsCredentials) creds = NULL;

      ecsa_test_wait_for_flag (NULL, &other[i].done, GUARD_MS);
      creds = ecsa_aws_credentials_provider_get_finish (provider, other[i].result, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (creds->access_key_id, ==, "ASIAROLE000000000009");
      g_clear_object (&other[i].result);
    }
  /* one lookup: the role list and the role */
  g_assert_cmpuint (fx->fake->gets, ==, 2);
  g_assert_cmpuint (fx->fake->token_requests, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

#define ADD(path, func, data) g_test_add (path, Fixture, data, fixture_setup, func, fixture_teardown)
  ADD ("/imds/v2/token-flow", test_v2_token_flow, NULL);
  ADD ("/imds/v1-fallback/403", test_v1_fallback, GUINT_TO_POINTER (403));
  ADD ("/imds/v1-fallback/404", test_v1_fallback, GUINT_TO_POINTER (404));
  ADD ("/imds/v1-fallback/405", test_v1_fallback, GUINT_TO_POINTER (405));
  ADD ("/imds/token/transient-failure", test_token_transient_failure, NULL);
  ADD ("/imds/token/bad-request", test_token_bad_request, NULL);
  ADD ("/imds/token/revoked", test_revoked_token, NULL);
  ADD ("/imds/get/not-found", test_not_found, NULL);
  ADD ("/imds/get/retries", test_retries_server_errors, NULL);
  ADD ("/imds/get/timeout", test_timeout, NULL);
  ADD ("/imds/env", test_disabled_and_env, NULL);
  ADD ("/imds/instance-identity", test_instance_identity, NULL);
  ADD ("/credentials/environment-first", test_credentials_environment_first, NULL);
  ADD ("/credentials/shared-file", test_credentials_shared_file, NULL);
  ADD ("/credentials/instance-role", test_credentials_instance_role, NULL);
  ADD ("/credentials/none", test_credentials_none, NULL);
  ADD ("/credentials/concurrent", test_credentials_concurrent, NULL);
  return g_test_run ();
}

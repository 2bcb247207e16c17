/* test-plugins-services.c: what the agent's plugin host services and registry guarantee to the
 * registry-auth plugins, through the real loader, registry and host services (no Docker needed).
 *
 *  - -k (acceptInsecureCert) holds for the HTTP session the host lends to plugins: auth-ecr calling
 *    GetAuthorizationToken over HTTPS at a self-signed endpoint is refused without it (nothing
 *    reaches the endpoint) and answered with it;
 *  - secrets an auth plugin obtains at run time (the ECR token's password, a registry password from
 *    ECS_ENGINE_AUTH_DATA) are registered with the log's redaction as they reach the core: lines
 *    forced at debug and error level (an auth failure) that contain them, in clear or in their
 *    base64 "user:password" form, are written with "<redacted>", while an ordinary value in the
 *    same kind of line stays readable.
 * The configuration is built in code, not parsed, so nothing but the registry registers the
 * secrets. The fake ECR endpoint speaks TLS in this process: LeakSanitizer is off (notes §8).
 * SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "ecsa-test-services"

#include "ecsa-config.h"
#include "ecsa-log.h"
#include "ecsa-plugin-host.h"
#include "ecsa-plugin-loader.h"
#include "ecsa-plugin-registry.h"
#include "ecsa-registry-auth.h"
#include "ecsa-test-plugins.h"
#include "ecsa-test-utils.h"

#include <string.h>

const EcsaPluginDescriptor *ecsa_plugin_auth_docker_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_auth_ecr_get_descriptor (void);

#define REGION "us-west-2"
#define ECR_KEY "AKIDECSATESTSERVICES"
#define ECR_SECRET "ecsa-test-services-secret-key"
#define ECR_TOKEN "ecsa-test-services-session-token"
#define ECR_USER "AWS"
#define ECR_REGISTRY "127.0.0.1:5000"
#define DOCKER_USER "ecsa-services-user"
#define TIMEOUT_MS 30000

static char *cert_dir;
static char *ecr_password;
static char *docker_password;
static GHashTable *ecr_keys; /* access key ID -> "secret\ntoken", for the fake's SigV4 check */

/* ---- the fake ECR endpoint (HTTPS, a certificate of a private CA) ----------------------------- */

static void
ecr_handler (const EcsaTestHttpRequest *req, guint *out_status, char **out_content_type, GBytes **out_body,
             gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *plain = NULL;
  g_autofree char *token = NULL;
  char *body;

  *out_content_type = g_strdup ("application/x-amz-json-1.1");
  if (!ecsa_test_sigv4_verify (req->method, req->path, req->query, req->headers, req->body, ecr_keys, NULL, NULL,
                               &error))
    {
      body = g_strdup_printf ("{\"__type\":\"InvalidSignatureException\",\"message\":\"%s\"}", error->message);
      *out_status = 400;
      *out_body = g_bytes_new_take (body, strlen (body));
      return;
    }
  plain = g_strdup_printf (ECR_USER ":%s", ecr_password);
  token = g_base64_encode ((const guchar *) plain, strlen (plain));
  body = g_strdup_printf ("{\"authorizationData\":[{\"authorizationToken\":\"%s\",\"expiresAt\":%" G_GINT64_FORMAT
                          ",\"proxyEndpoint\":\"https://" ECR_REGISTRY "\"}]}",
                          token, g_get_real_time () / G_USEC_PER_SEC + 12 * 3600);
  *out_status = 200;
  *out_body = g_bytes_new_take (body, strlen (body));
}

/* ---- instance credentials ---------------------------------------------------------------------- */

static void
aws_get_async (gpointer backend, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  EcsaAwsCredentials *c = g_new0 (EcsaAwsCredentials, 1);

  c->struct_size = sizeof (EcsaAwsCredentials);
  c->access_key_id = g_strdup (ECR_KEY);
  c->secret_access_key = g_strdup (ECR_SECRET);
  c->session_token = g_strdup (ECR_TOKEN);
  c->role_arn = g_strdup ("");
  g_task_return_pointer (task, c, NULL);
}

static EcsaAwsCredentials *
aws_get_finish (gpointer backend, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
aws_free (gpointer backend, EcsaAwsCredentials *c)
{
  g_free ((char *) c->access_key_id);
  g_free ((char *) c->secret_access_key);
  g_free ((char *) c->session_token);
  g_free ((char *) c->role_arn);
  g_free (c);
}

static const EcsaPluginAwsCredentialsBackend aws_backend = {
  .get_async = aws_get_async,
  .get_finish = aws_get_finish,
  .free_credentials = aws_free,
};

/* ---- fixture: the agent's plugin side, as ecsa-agent builds it --------------------------------- */

typedef struct
{
  EcsaConfig *config;
  SoupSession *session;
  EcsaPluginHostServices *services;
  EcsaPluginRegistry *registry;
  EcsaPluginLoader *loader;
  EcsaTestHttpServer *ecr;
  char *ecr_endpoint;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  const gboolean insecure = GPOINTER_TO_INT (data);
  const EcsaPluginGetDescriptorFunc builtin[] = {
    ecsa_plugin_auth_docker_get_descriptor,
    ecsa_plugin_auth_ecr_get_descriptor,
    NULL,
  };
  g_autofree char *cert = g_build_filename (cert_dir, "server.pem", NULL);
  g_autofree char *key = g_build_filename (cert_dir, "server.key", NULL);

  ecsa_test_log_clear ();
  fx->config = ecsa_config_new ();
  fx->config->accept_insecure_cert = insecure;
  fx->config->checkpoint = FALSE;
  g_free (fx->config->aws_region);
  fx->config->aws_region = g_strdup (REGION);
  g_free (fx->config->engine_auth_type);
  fx->config->engine_auth_type = g_strdup ("docker");
  g_free (fx->config->engine_auth_data);
  fx->config->engine_auth_data
    = g_strdup_printf ("{\"https://" ECR_REGISTRY "\":{\"username\":\"" DOCKER_USER "\",\"password\":\"%s\"}}",
                       docker_password);
  /* a session with the system's trust store, as the agent's */
  fx->session = soup_session_new ();
  fx->services = ecsa_plugin_host_services_new (fx->config, NULL, fx->session);
  ecsa_plugin_host_services_set_aws_credentials_backend (fx->services, &aws_backend, NULL);
  fx->registry = ecsa_plugin_registry_new ();
  fx->loader = ecsa_plugin_loader_new (fx->registry, fx->services);
  g_assert_cmpuint (ecsa_plugin_loader_load_builtin_table (fx->loader, builtin), ==, 2);
  fx->ecr = ecsa_test_http_server_new (0, cert, key, ecr_handler, NULL);
  fx->ecr_endpoint = ecsa_test_http_server_get_url (fx->ecr);
  g_assert_true (g_str_has_prefix (fx->ecr_endpoint, "https://"));
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_plugin_loader_free (fx->loader);
  ecsa_plugin_registry_free (fx->registry);
  ecsa_plugin_host_services_free (fx->services);
  g_object_unref (fx->session);
  ecsa_test_http_server_free (fx->ecr);
  g_free (fx->ecr_endpoint);
  ecsa_config_free (fx->config);
}

typedef struct
{
  gboolean done;
  EcsaRegistryCredentials *creds;
  GError *error;
} Call;

static void
credentials_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;

  call->creds = ecsa_plugin_registry_auth_get_credentials_finish (NULL, result, &call->error);
  call->done = TRUE;
}

/* get_credentials through the registry, as the engine asks before a pull */
static EcsaRegistryCredentials *
get_credentials (Fixture *fx, const EcsaAuthRequest *req, GError **error)
{
  Call call = { 0 };

  ecsa_plugin_registry_auth_get_credentials_async (fx->registry, req, NULL, credentials_cb, &call);
  ecsa_test_wait (&call.done, TIMEOUT_MS, "get_credentials through the registry");
  if (call.error != NULL)
    g_propagate_error (error, call.error);
  return call.creds;
}

static EcsaAuthRequest
ecr_request (Fixture *fx)
{
  EcsaAuthRequest req = {
    .struct_size = sizeof (EcsaAuthRequest),
    .image = ECR_REGISTRY "/ecsa/busybox:latest",
    .registry = ECR_REGISTRY,
    .auth_type = "ecr",
    .ecr_registry_id = "123456789012",
    .ecr_region = REGION,
    .ecr_endpoint_override = fx->ecr_endpoint,
  };
  return req;
}

/* Lines that would carry `secret` (and its base64 "user:secret" form), forced at debug (as a
 * plugin's trace, through the plugin host's log slot and g_debug) and at error level (an auth
 * failure): each must be written redacted; a control value in the same line stays in clear. */
static void
assert_secret_redacted (const char *user, const char *secret)
{
  g_autofree char *pair = g_strdup_printf ("%s:%s", user, secret);
  g_autofree char *encoded = g_base64_encode ((const guchar *) pair, strlen (pair));
  g_autofree char *control = g_strdup_printf ("ctl%08x", g_random_int ());

  g_assert_cmpint (ecsa_log_get_level (), ==, ECSA_LOG_DEBUG);
  ecsa_log_write (ECSA_LOG_DEBUG, "ecsa-auth-test", secret);
  ecsa_log_debug ("trace %s: pulling with %s (encoded %s)", control, secret, encoded);
  g_debug ("trace %s: credentials %s for %s", control, secret, user);
  ecsa_log_error ("pull failed %s: unauthorized: the registry refused %s / %s", control, pair, encoded);
  g_warning ("auth failure %s %s", control, secret);

  ecsa_test_assert_no_secret (secret);
  ecsa_test_assert_no_secret (encoded);
  g_assert_true (ecsa_test_log_contains (control));
  g_assert_true (ecsa_test_log_contains (ECSA_LOG_REDACTED));
}

/* ---- -k and the lent HTTP session ------------------------------------------------------------- */

static void
test_ecr_tls_refused (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = ecr_request (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) c = get_credentials (fx, &req, &error);
  g_autofree char *lower = NULL;

  g_assert_null (c);
  g_assert_nonnull (error);
  g_test_message ("without -k: %s", error->message);
  lower = g_ascii_strdown (error->message, -1);
  g_assert_nonnull (strstr (lower, "certificate"));
  g_assert_nonnull (strstr (error->message, fx->ecr_endpoint));
  /* the handshake failed: no request reached the endpoint */
  g_assert_cmpuint (ecsa_test_http_server_count (fx->ecr), ==, 0);
}

static void
test_ecr_tls_insecure (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = ecr_request (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) c = get_credentials (fx, &req, &error);

  g_assert_no_error (error);
  g_assert_nonnull (c);
  g_assert_cmpstr (c->username, ==, ECR_USER);
  g_assert_cmpstr (c->password, ==, ecr_password);
  g_assert_cmpuint (ecsa_test_http_server_count (fx->ecr), ==, 1);
  /* the token, in every form, is a known secret from now on */
  assert_secret_redacted (ECR_USER, ecr_password);
}

/* ---- secrets from ECS_ENGINE_AUTH_DATA ----------------------------------------------------------- */

static void
test_docker_secret (Fixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = {
    .struct_size = sizeof (EcsaAuthRequest),
    .image = ECR_REGISTRY "/ecsa/busybox:latest",
    .registry = ECR_REGISTRY,
    .auth_type = "docker",
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) c = get_credentials (fx, &req, &error);

  g_assert_no_error (error);
  g_assert_nonnull (c);
  g_assert_cmpstr (c->username, ==, DOCKER_USER);
  g_assert_cmpstr (c->password, ==, docker_password);
  /* the registry refused them: the engine invalidates, and says so */
  ecsa_plugin_registry_auth_invalidate (fx->registry, &req);
  assert_secret_redacted (DOCKER_USER, docker_password);
}

int
main (int argc, char **argv)
{
  int rc;

  ecsa_test_plugins_init (&argc, &argv);
  ecsa_log_set_level (ECSA_LOG_DEBUG);
  /* the forced error and warning lines are expected */
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  ecr_password = g_strdup_printf ("ecrpw%08x%08x", g_random_int (), g_random_int ());
  docker_password = g_strdup_printf ("dockerpw%08x%08x", g_random_int (), g_random_int ());
  ecr_keys = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (ecr_keys, ECR_KEY, ECR_SECRET "\n" ECR_TOKEN);
  cert_dir = g_dir_make_tmp ("ecsa-services-XXXXXX", NULL);
  g_assert_nonnull (cert_dir);
  ecsa_test_plugins_make_certificates (cert_dir, "127.0.0.1");

  g_test_add ("/plugins-services/ecr/https-self-signed-refused", Fixture, GINT_TO_POINTER (FALSE), fixture_setup,
              test_ecr_tls_refused, fixture_teardown);
  g_test_add ("/plugins-services/ecr/https-self-signed-accepted-with-k", Fixture, GINT_TO_POINTER (TRUE),
              fixture_setup, test_ecr_tls_insecure, fixture_teardown);
  g_test_add ("/plugins-services/secrets/engine-auth-data", Fixture, GINT_TO_POINTER (FALSE), fixture_setup,
              test_docker_secret, fixture_teardown);
  rc = g_test_run ();

  ecsa_test_rmdir_recursive (cert_dir);
  g_free (cert_dir);
  g_hash_table_unref (ecr_keys);
  g_free (ecr_password);
  g_free (docker_password);
  return rc;
}

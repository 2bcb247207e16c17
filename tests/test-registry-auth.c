/* test-registry-auth.c: the registry-auth plugins against a real registry.
 *
 * Debian's docker-registry with htpasswd and TLS runs in a network namespace this test creates
 * (dockerd treats 127.0.0.0/8 registries as insecure and would skip TLS), with its CA in
 * /etc/docker/certs.d. The credentials each plugin produces go to the real dockerd as
 * X-Registry-Auth: the right ones pull, wrong or missing ones fail with the registry's message.
 * ECR: GetAuthorizationToken is answered by a SigV4-verifying fake on loopback that hands out the
 * registry's credentials (until the local control plane serves it).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-sigv4.h"
#include "ecsa-test-plugins.h"

#include <string.h>

const EcsaPluginDescriptor *ecsa_plugin_auth_docker_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_auth_dockercfg_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_auth_ecr_get_descriptor (void);

#define USER "ecsa-user"
#define ECR_USER "AWS"
#define REGION "us-west-2"
#define ECR_KEY "AKIDECRTEST"
#define ECR_SECRET "ecr-test-secret-key"
#define ECR_TOKEN "ecr-test-session-token"

static EcsaTestPluginsRegistry *registry;
static char *password;     /* USER's */
static char *ecr_password; /* ECR_USER's: what GetAuthorizationToken hands out */
static char *image;

/* ---- helpers ---------------------------------------------------------------------------------- */

static void
pull_ok (const EcsaRegistryCredentials *c)
{
  g_autofree char *message = NULL;

  ecsa_test_docker_remove_image (image);
  if (!ecsa_test_docker_pull (image, c, &message))
    g_error ("pulling '%s' with %s's credentials: %s", image, c != NULL ? c->username : "no", message);
  ecsa_test_docker_remove_image (image);
}

/* A refused pull: Docker passes the registry's message through. */
static void
pull_refused (const EcsaRegistryCredentials *c, const char *fragment)
{
  g_autofree char *message = NULL;

  ecsa_test_docker_remove_image (image);
  g_assert_false (ecsa_test_docker_pull (image, c, &message));
  g_test_message ("refused: %s", message);
  if (strstr (message, fragment) == NULL)
    g_error ("pull refused with '%s', expected '%s'", message, fragment);
  if (password != NULL)
    g_assert_null (strstr (message, password));
}

static EcsaRegistryCredentials *
credentials_from (const EcsaPluginDescriptor *d, const char *type, const char *data)
{
  g_autoptr(EcsaTestHost) host = ecsa_test_host_new ();
  g_autoptr(EcsaTestPlugin) p = NULL;
  g_autoptr(GError) error = NULL;
  EcsaAuthRequest req = { .struct_size = sizeof (EcsaAuthRequest), .image = image, .auth_type = type };
  EcsaRegistryCredentials *c;

  ecsa_test_host_set_config (host, "ECS_ENGINE_AUTH_TYPE", type);
  ecsa_test_host_set_config (host, "ECS_ENGINE_AUTH_DATA", data);
  p = ecsa_test_plugin_init (d, host, &error);
  g_assert_no_error (error);
  c = ecsa_test_get_credentials (p, &req, &error);
  g_assert_no_error (error);
  return c;
}

/* ---- docker and dockercfg --------------------------------------------------------------------- */

static void
test_docker_right (void)
{
  g_autofree char *data = g_strdup_printf ("{\"%s\":{\"username\":\"" USER "\",\"password\":\"%s\"}}",
                                           registry->address, password);
  g_autoptr(EcsaRegistryCredentials) c = credentials_from (ecsa_plugin_auth_docker_get_descriptor (), "docker", data);

  g_assert_nonnull (c);
  g_assert_cmpstr (c->username, ==, USER);
  pull_ok (c);
}

static void
test_docker_wrong (void)
{
  g_autofree char *data = g_strdup_printf ("{\"https://%s\":{\"username\":\"" USER "\",\"password\":\"not-%s\"}}",
                                           registry->address, password);
  g_autoptr(EcsaRegistryCredentials) c = credentials_from (ecsa_plugin_auth_docker_get_descriptor (), "docker", data);

  g_assert_nonnull (c);
  pull_refused (c, "unauthorized: authentication required");
}

/* No entry for this registry: an anonymous pull, which the registry refuses. */
static void
test_docker_missing (void)
{
  g_autofree char *data = g_strdup_printf ("{\"other.example.com\":{\"username\":\"" USER "\",\"password\":\"%s\"}}",
                                           password);
  g_autoptr(EcsaRegistryCredentials) c = credentials_from (ecsa_plugin_auth_docker_get_descriptor (), "docker", data);

  g_assert_null (c);
  pull_refused (NULL, "no basic auth credentials");
}

static char *
dockercfg_data (const char *key, const char *user, const char *pass)
{
  g_autofree char *plain = g_strdup_printf ("%s:%s", user, pass);
  g_autofree char *auth = g_base64_encode ((const guchar *) plain, strlen (plain));

  return g_strdup_printf ("{\"%s\":{\"auth\":\"%s\",\"email\":\"ecsa@example.com\"}}", key, auth);
}

static void
test_dockercfg_right (void)
{
  g_autofree char *key = g_strdup_printf ("https://%s/v1/", registry->address);
  g_autofree char *data = dockercfg_data (key, USER, password);
  g_autoptr(EcsaRegistryCredentials) c =
    credentials_from (ecsa_plugin_auth_dockercfg_get_descriptor (), "dockercfg", data);

  g_assert_nonnull (c);
  pull_ok (c);
}

static void
test_dockercfg_wrong (void)
{
  g_autofree char *data = dockercfg_data (registry->address, "someone-else", password);
  g_autoptr(EcsaRegistryCredentials) c =
    credentials_from (ecsa_plugin_auth_dockercfg_get_descriptor (), "dockercfg", data);

  g_assert_nonnull (c);
  pull_refused (c, "unauthorized: authentication required");
}

/* ---- ecr ------------------------------------------------------------------------------------------ */

typedef struct
{
  GMutex lock;
  gboolean wrong_once; /* hand out a wrong password once (an expired token, say) */
  guint bad_signatures;
  GHashTable *secrets;
} EcrFake;

static EcrFake ecr_fake;

static void
ecr_handler (const EcsaTestHttpRequest *req, guint *out_status, char **out_content_type, GBytes **out_body,
             gpointer user_data)
{
  EcrFake *fake = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *plain = NULL;
  g_autofree char *token = NULL;
  char *body;
  gboolean wrong;

  *out_content_type = g_strdup ("application/x-amz-json-1.1");
  if (!ecsa_test_sigv4_verify (req->method, req->path, req->query, req->headers, req->body, fake->secrets, NULL, NULL,
                               &error))
    {
      g_mutex_lock (&fake->lock);
      fake->bad_signatures++;
      g_mutex_unlock (&fake->lock);
      *out_status = 400;
      body = g_strdup_printf ("{\"__type\":\"%s\",\"message\":\"%s\"}", ecsa_sigv4_error_code (error), error->message);
      *out_body = g_bytes_new_take (body, strlen (body));
      return;
    }
  g_mutex_lock (&fake->lock);
  wrong = fake->wrong_once;
  fake->wrong_once = FALSE;
  g_mutex_unlock (&fake->lock);
  plain = g_strdup_printf (ECR_USER ":%s%s", wrong ? "expired-" : "", ecr_password);
  token = g_base64_encode ((const guchar *) plain, strlen (plain));
  body = g_strdup_printf ("{\"authorizationData\":[{\"authorizationToken\":\"%s\",\"expiresAt\":%" G_GINT64_FORMAT
                          ",\"proxyEndpoint\":\"https://%s\"}]}",
                          token, g_get_real_time () / G_USEC_PER_SEC + 12 * 3600, registry->address);
  *out_status = 200;
  *out_body = g_bytes_new_take (body, strlen (body));
}

typedef struct
{
  EcsaTestHost *host;
  EcsaTestPlugin *plugin;
  EcsaTestHttpServer *server;
  char *endpoint;
} EcrFixture;

static void
ecr_setup (EcrFixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->server = ecsa_test_http_server_new (0, NULL, NULL, ecr_handler, &ecr_fake);
  fx->endpoint = ecsa_test_http_server_get_url (fx->server);
  fx->host = ecsa_test_host_new ();
  ecsa_test_host_set_region (fx->host, REGION);
  ecsa_test_host_set_instance_credentials (fx->host, ECR_KEY, ECR_SECRET, ECR_TOKEN);
  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_auth_ecr_get_descriptor (), fx->host, &error);
  g_assert_no_error (error);
}

static void
ecr_teardown (EcrFixture *fx, gconstpointer data)
{
  ecsa_test_plugin_free (fx->plugin);
  ecsa_test_host_free (fx->host);
  ecsa_test_http_server_free (fx->server);
  g_free (fx->endpoint);
}

static EcsaAuthRequest
ecr_request (EcrFixture *fx)
{
  EcsaAuthRequest req = {
    .struct_size = sizeof (EcsaAuthRequest),
    .image = image,
    .registry = registry->address,
    .auth_type = "ecr",
    .ecr_registry_id = "123456789012",
    .ecr_region = REGION,
    .ecr_endpoint_override = fx->endpoint,
  };
  return req;
}

static void
test_ecr_pull (EcrFixture *fx, gconstpointer data)
{
  EcsaAuthRequest req = ecr_request (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) c = ecsa_test_get_credentials (fx->plugin, &req, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (c->username, ==, ECR_USER);
  g_assert_cmpuint (ecr_fake.bad_signatures, ==, 0);
  pull_ok (c);
}

/* The registry refuses a token: the engine invalidates it, and the next token pulls. */
static void
test_ecr_invalidate (EcrFixture *fx, gconstpointer data)
{
  const EcsaRegistryAuthVTable *vt = fx->plugin->desc->vtable;
  EcsaAuthRequest req = ecr_request (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaRegistryCredentials) stale = NULL;
  g_autoptr(EcsaRegistryCredentials) cached = NULL;
  g_autoptr(EcsaRegistryCredentials) fresh = NULL;

  g_mutex_lock (&ecr_fake.lock);
  ecr_fake.wrong_once = TRUE;
  g_mutex_unlock (&ecr_fake.lock);
  stale = ecsa_test_get_credentials (fx->plugin, &req, &error);
  g_assert_no_error (error);
  pull_refused (stale, "unauthorized: authentication required");

  /* without invalidation the cache hands out the same refused token */
  cached = ecsa_test_get_credentials (fx->plugin, &req, &error);
  g_assert_cmpstr (cached->password, ==, stale->password);
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 1);

  vt->invalidate (fx->plugin->state, &req);
  fresh = ecsa_test_get_credentials (fx->plugin, &req, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ecsa_test_http_server_count (fx->server), ==, 2);
  pull_ok (fresh);
}

static void
test_no_secret_logged (void)
{
  ecsa_test_assert_no_secret (password);
  ecsa_test_assert_no_secret (ecr_password);
  ecsa_test_assert_no_secret (ECR_SECRET);
  ecsa_test_assert_no_secret (ECR_TOKEN);
}

int
main (int argc, char **argv)
{
  int rc;

  ecsa_test_plugins_init (&argc, &argv);
  ecsa_test_require_docker ();
  password = g_strdup_printf ("pw-%08x%08x", g_random_int (), g_random_int ());
  ecr_password = g_strdup_printf ("ecr-%08x%08x", g_random_int (), g_random_int ());
  g_mutex_init (&ecr_fake.lock);
  ecr_fake.secrets = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (ecr_fake.secrets, ECR_KEY, ECR_SECRET "\n" ECR_TOKEN);
  registry = ecsa_test_plugins_registry_start ((const char *const[]){ USER, password, ECR_USER, ecr_password, NULL });
  image = ecsa_test_plugins_registry_image (registry);

  g_test_add_func ("/registry-auth/docker/right", test_docker_right);
  g_test_add_func ("/registry-auth/docker/wrong", test_docker_wrong);
  g_test_add_func ("/registry-auth/docker/missing", test_docker_missing);
  g_test_add_func ("/registry-auth/dockercfg/right", test_dockercfg_right);
  g_test_add_func ("/registry-auth/dockercfg/wrong", test_dockercfg_wrong);
  g_test_add ("/registry-auth/ecr/pull", EcrFixture, NULL, ecr_setup, test_ecr_pull, ecr_teardown);
  g_test_add ("/registry-auth/ecr/invalidate", EcrFixture, NULL, ecr_setup, test_ecr_invalidate, ecr_teardown);
  g_test_add_func ("/registry-auth/zz/no-secret-logged", test_no_secret_logged);
  rc = g_test_run ();

  ecsa_test_plugins_registry_stop (registry);
  g_hash_table_unref (ecr_fake.secrets);
  g_free (image);
  g_free (password);
  g_free (ecr_password);
  return rc;
}

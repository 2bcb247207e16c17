/* test-auth-docker.c: ECS_ENGINE_AUTH_TYPE=docker: the data format of v1.16.2's dockerauth doc,
 * its registry matching (its own test table), and errors that never echo a secret.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_auth_docker_get_descriptor (void);

/* v1.16.2's dockerauth_test.go data, as "docker" auth data */
static const char *const auth_data =
  "{\"example.tld/user2\":{\"username\":\"test\",\"password\":\"dragon\",\"email\":\"foo@bar\"},"
  "\"example.tld\":{\"username\":\"user\",\"password\":\"swordfish\"},"
  "\"https://aregistry.tld\":{\"username\":\"user\",\"password\":\"swordfish\"},"
  "\"http://anotherregistry.tld\":{\"username\":\"user\",\"password\":\"swordfish\"},"
  "\"https://index.docker.io/v1/\":{\"username\":\"dockerhub\",\"password\":\"password\"},"
  "\"Localhost:5000\":{\"Username\":\"local\",\"PASSWORD\":\"localpw\",\"serveraddress\":\"https://localhost:5000\"}}";

typedef struct
{
  const char *image;
  const char *user; /* NULL: anonymous */
  const char *password;
} Pair;

static const Pair pairs[] = {
  /* v1.16.2's TestDockerCfgAuth */
  { "example.tld/my/image", "user", "swordfish" },
  { "example.tld/user2/image", "test", "dragon" },
  { "registry.tld/image", NULL, NULL },
  { "nginx", "dockerhub", "password" },
  { "busybox", "dockerhub", "password" },
  { "library/busybox", "dockerhub", "password" },
  { "amazon/amazon-ecs-agent", "dockerhub", "password" },
  { "aregistry.tld/foo/bar", "user", "swordfish" },
  { "aregistry.tld/foo", "user", "swordfish" },
  { "aregistry.tld2/foo", NULL, NULL },
  { "foo.aregistry.tld/foo", NULL, NULL },
  { "anotherregistry.tld/foo/bar", "user", "swordfish" },
  { "anotherregistry.tld/foo", "user", "swordfish" },
  { "anotherregistry.tld2/foo", NULL, NULL },
  { "foo.anotherregistry.tld/foo", NULL, NULL },
  /* Docker Hub's other names */
  { "docker.io/library/busybox:1.36", "dockerhub", "password" },
  { "index.docker.io/amazon/amazon-ecs-agent:latest", "dockerhub", "password" },
  { "registry-1.docker.io/library/nginx", "dockerhub", "password" },
  /* tags, digests, ports, case, path boundaries */
  { "example.tld/user2/image:1.0", "test", "dragon" },
  { "example.tld/user2/image@sha256:0123456789abcdef", "test", "dragon" },
  { "example.tld/user2", "test", "dragon" },
  { "example.tld/user22/image", "user", "swordfish" },
  { "EXAMPLE.tld/my/image", "user", "swordfish" },
  { "localhost:5000/app:1", "local", "localpw" },
  { "localhost/app", NULL, NULL },
  { "example.tld:5000/app", NULL, NULL },
};

typedef struct
{
  EcsaTestHost *host;
  EcsaTestPlugin *plugin;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->host = ecsa_test_host_new ();
  ecsa_test_host_set_config (fx->host, "ECS_ENGINE_AUTH_TYPE", "docker");
  ecsa_test_host_set_config (fx->host, "ECS_ENGINE_AUTH_DATA", data != NULL ? data : auth_data);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_test_plugin_free (fx->plugin);
  ecsa_test_host_free (fx->host);
}

static void
init_ok (Fixture *fx)
{
  g_autoptr(GError) error = NULL;

  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_auth_docker_get_descriptor (), fx->host, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fx->plugin);
}

static EcsaRegistryCredentials *
lookup (Fixture *fx, const char *image)
{
  EcsaAuthRequest req = { .struct_size = sizeof (EcsaAuthRequest), .image = image, .auth_type = "docker" };
  g_autoptr(GError) error = NULL;
  EcsaRegistryCredentials *c = ecsa_test_get_credentials (fx->plugin, &req, &error);

  g_assert_no_error (error);
  return c;
}

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_auth_docker_get_descriptor (), ECSA_PLUGIN_KIND_REGISTRY_AUTH, "docker",
                              NULL);
}

static void
test_matching (Fixture *fx, gconstpointer data)
{
  guint i;

  init_ok (fx);
  for (i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      g_autoptr(EcsaRegistryCredentials) c = lookup (fx, pairs[i].image);

      g_test_message ("%s -> %s", pairs[i].image, c != NULL ? c->username : "(anonymous)");
      if (pairs[i].user == NULL)
        g_assert_null (c);
      else
        {
          g_assert_nonnull (c);
          g_assert_cmpstr (c->username, ==, pairs[i].user);
          g_assert_cmpstr (c->password, ==, pairs[i].password);
        }
    }
}

static void
test_server_address (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaRegistryCredentials) hub = NULL;
  g_autoptr(EcsaRegistryCredentials) reg = NULL;
  g_autoptr(EcsaRegistryCredentials) local = NULL;

  init_ok (fx);
  hub = lookup (fx, "busybox");
  reg = lookup (fx, "example.tld/user2/image");
  local = lookup (fx, "localhost:5000/app");
  g_assert_cmpstr (hub->server_address, ==, "https://index.docker.io/v1/");
  g_assert_cmpstr (reg->server_address, ==, "example.tld");
  g_assert_cmpstr (reg->email, ==, "foo@bar");
  g_assert_cmpstr (local->server_address, ==, "https://localhost:5000");
}

/* A Hub entry written under another of the Hub's names serves Hub images. */
static void
test_hub_alias_key (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaRegistryCredentials) c = NULL;

  init_ok (fx);
  c = lookup (fx, "amazon/amazon-ecs-agent");
  g_assert_cmpstr (c->username, ==, "hubuser");
}

/* v1.16.2: an entry without username/password ("auth" is not a "docker" field) gives nothing. */
static void
test_entry_without_credentials (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaRegistryCredentials) c = NULL;

  init_ok (fx);
  c = lookup (fx, "registry.tld/app");
  g_assert_null (c);
  g_assert_true (ecsa_test_log_contains ("ECS_ENGINE_AUTH_DATA: registry 'registry.tld' has no username or password"));
}

static void
init_fails (Fixture *fx, int code, const char *fragment, const char *secret)
{
  g_autoptr(GError) error = NULL;

  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_auth_docker_get_descriptor (), fx->host, &error);
  g_assert_null (fx->plugin);
  g_assert_error (error, ECSA_ERROR, code);
  g_test_message ("%s", error->message);
  if (strstr (error->message, fragment) == NULL)
    g_error ("'%s' lacks '%s'", error->message, fragment);
  if (secret != NULL)
    g_assert_null (strstr (error->message, secret));
}

static void
test_bad_field_type (Fixture *fx, gconstpointer data)
{
  init_fails (fx, ECSA_ERROR_INVALID_DATA, "ECS_ENGINE_AUTH_DATA: registry 'registry.tld': 'username' must be a string",
              "hunter2-secret");
}

static void
test_bad_json (Fixture *fx, gconstpointer data)
{
  init_fails (fx, ECSA_ERROR_INVALID_DATA, "ECS_ENGINE_AUTH_DATA is not valid JSON: an unquoted word at line 1, column 57",
              "hunter2-secret");
}

static void
test_not_object (Fixture *fx, gconstpointer data)
{
  init_fails (fx, ECSA_ERROR_INVALID_DATA, "ECS_ENGINE_AUTH_DATA must be a JSON object", NULL);
}

static void
test_entry_not_object (Fixture *fx, gconstpointer data)
{
  init_fails (fx, ECSA_ERROR_INVALID_DATA, "registry 'registry.tld' must map to an object", "hunter2-secret");
}

static void
test_empty (Fixture *fx, gconstpointer data)
{
  init_fails (fx, ECSA_ERROR_INVALID_DATA, "ECS_ENGINE_AUTH_DATA is empty, but ECS_ENGINE_AUTH_TYPE is 'docker'", NULL);
}

static void
test_other_type (Fixture *fx, gconstpointer data)
{
  ecsa_test_host_set_config (fx->host, "ECS_ENGINE_AUTH_TYPE", "dockercfg");
  init_fails (fx, ECSA_ERROR_NOT_SUPPORTED, "ECS_ENGINE_AUTH_TYPE is 'dockercfg', not 'docker'", NULL);
}

static void
test_type_unset (Fixture *fx, gconstpointer data)
{
  ecsa_test_host_set_config (fx->host, "ECS_ENGINE_AUTH_TYPE", NULL);
  init_fails (fx, ECSA_ERROR_NOT_SUPPORTED, "ECS_ENGINE_AUTH_TYPE is not set, not 'docker'", NULL);
}

static void
test_no_secret_logged (void)
{
  ecsa_test_assert_no_secret ("swordfish");
  ecsa_test_assert_no_secret ("dragon");
  ecsa_test_assert_no_secret ("localpw");
  ecsa_test_assert_no_secret ("hunter2-secret");
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/auth-docker/descriptor", test_descriptor);
#define ADD(path, data, fn) g_test_add (path, Fixture, data, fixture_setup, fn, fixture_teardown)
  ADD ("/auth-docker/matching", NULL, test_matching);
  ADD ("/auth-docker/server-address", NULL, test_server_address);
  ADD ("/auth-docker/hub-alias-key", "{\"docker.io\":{\"username\":\"hubuser\",\"password\":\"hunter2-secret\"}}",
       test_hub_alias_key);
  ADD ("/auth-docker/entry-without-credentials",
       "{\"registry.tld\":{\"auth\":\"dXNlcjpodW50ZXIyLXNlY3JldA==\"}}", test_entry_without_credentials);
  ADD ("/auth-docker/errors/field-type", "{\"registry.tld\":{\"username\":true,\"password\":\"hunter2-secret\"}}",
       test_bad_field_type);
  ADD ("/auth-docker/errors/json", "{\"registry.tld\":{\"username\":\"u\",\"password\":hunter2-secret}}",
       test_bad_json);
  ADD ("/auth-docker/errors/not-object", "[\"hunter2\"]", test_not_object);
  ADD ("/auth-docker/errors/entry-not-object", "{\"registry.tld\":\"hunter2-secret\"}", test_entry_not_object);
  ADD ("/auth-docker/errors/empty", "", test_empty);
  ADD ("/auth-docker/errors/other-type", NULL, test_other_type);
  ADD ("/auth-docker/errors/type-unset", NULL, test_type_unset);
  g_test_add_func ("/auth-docker/zz/no-secret-logged", test_no_secret_logged);
  return g_test_run ();
}

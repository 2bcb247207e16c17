/* test-auth-dockercfg.c: ECS_ENGINE_AUTH_TYPE=dockercfg: ~/.dockercfg contents (and the
 * ~/.docker/config.json "auths" wrapper), v1.16.2's matching table and its handling of malformed
 * entries (skipped with a warning that names the registry, never the secret).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

const EcsaPluginDescriptor *ecsa_plugin_auth_dockercfg_get_descriptor (void);

/* base64 of user:swordfish, test:dragon, dockerhub:password */
#define SECRET_AUTH "dXNlcjpzd29yZGZpc2g="
#define DRAGON_AUTH "dGVzdDpkcmFnb24="
#define HUB_AUTH "ZG9ja2VyaHViOnBhc3N3b3Jk"

static const char *const auth_data = "{\"example.tld/user2\":{\"auth\":\"" DRAGON_AUTH "\",\"email\":\"test@test.test\"},"
                                     "\"example.tld\":{\"auth\":\"" SECRET_AUTH "\",\"email\":\"user2@example.com\"},"
                                     "\"https://aregistry.tld\":{\"auth\":\"" SECRET_AUTH "\"},"
                                     "\"http://anotherregistry.tld\":{\"auth\":\"" SECRET_AUTH "\"},"
                                     "\"https://index.docker.io/v1/\":{\"auth\":\"" HUB_AUTH "\"}}";

typedef struct
{
  const char *image;
  const char *user;
  const char *password;
} Pair;

static const Pair pairs[] = {
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
  { "docker.io/library/busybox", "dockerhub", "password" },
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
  ecsa_test_host_set_config (fx->host, "ECS_ENGINE_AUTH_TYPE", "dockercfg");
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

  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_auth_dockercfg_get_descriptor (), fx->host, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fx->plugin);
}

static EcsaRegistryCredentials *
lookup (Fixture *fx, const char *image)
{
  EcsaAuthRequest req = { .struct_size = sizeof (EcsaAuthRequest), .image = image, .auth_type = "dockercfg" };
  g_autoptr(GError) error = NULL;
  EcsaRegistryCredentials *c = ecsa_test_get_credentials (fx->plugin, &req, &error);

  g_assert_no_error (error);
  return c;
}

static void
check_pairs (Fixture *fx, const Pair *list, guint n)
{
  guint i;

  for (i = 0; i < n; i++)
    {
      g_autoptr(EcsaRegistryCredentials) c = lookup (fx, list[i].image);

      g_test_message ("%s -> %s", list[i].image, c != NULL ? c->username : "(anonymous)");
      if (list[i].user == NULL)
        g_assert_null (c);
      else
        {
          g_assert_nonnull (c);
          g_assert_cmpstr (c->username, ==, list[i].user);
          g_assert_cmpstr (c->password, ==, list[i].password);
        }
    }
}

static void
test_descriptor (void)
{
  ecsa_test_check_descriptor (ecsa_plugin_auth_dockercfg_get_descriptor (), ECSA_PLUGIN_KIND_REGISTRY_AUTH,
                              "dockercfg", NULL);
}

static void
test_matching (Fixture *fx, gconstpointer data)
{
  init_ok (fx);
  check_pairs (fx, pairs, G_N_ELEMENTS (pairs));
}

/* v1.16.2's TestAuthAppliesToOnlyRegistry: a namespaced key still serves its host. */
static void
test_only_registry (Fixture *fx, gconstpointer data)
{
  static const Pair only[] = {
    { "example.tld/foo", "user", "swordfish" },
    { "registry.tld", NULL, NULL },
    { "nginx", NULL, NULL },
  };

  init_ok (fx);
  check_pairs (fx, only, G_N_ELEMENTS (only));
}

static void
test_config_json (Fixture *fx, gconstpointer data)
{
  static const Pair list[] = {
    { "example.tld/app", "user", "swordfish" },
    { "busybox", "dockerhub", "password" },
  };

  init_ok (fx);
  check_pairs (fx, list, G_N_ELEMENTS (list));
}

/* A password may hold ':' (only the first one separates). */
static void
test_colon_in_password (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaRegistryCredentials) c = NULL;

  init_ok (fx);
  c = lookup (fx, "example.tld/app");
  g_assert_cmpstr (c->username, ==, "user");
  g_assert_cmpstr (c->password, ==, "a:b:c");
}

/* v1.16.2 skips entries whose auth is not base64 of user:password, and goes on. */
static void
test_malformed_entries (Fixture *fx, gconstpointer data)
{
  static const Pair list[] = {
    { "bad64.tld/app", NULL, NULL },
    { "nocolon.tld/app", NULL, NULL },
    { "noauth.tld/app", NULL, NULL },
    { "good.tld/app", "user", "swordfish" },
  };

  init_ok (fx);
  check_pairs (fx, list, G_N_ELEMENTS (list));
  g_assert_true (ecsa_test_log_contains ("registry 'bad64.tld': 'auth' is not valid base64, ignoring this registry"));
  g_assert_true (ecsa_test_log_contains ("registry 'nocolon.tld': 'auth' must be base64 of 'username:password'"));
  g_assert_true (ecsa_test_log_contains ("registry 'noauth.tld': 'auth' is missing"));
}

static void
test_auth_not_string (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_auth_dockercfg_get_descriptor (), fx->host, &error);
  g_assert_null (fx->plugin);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "ECS_ENGINE_AUTH_DATA: registry 'registry.tld': 'auth' must be a string"));
}

static void
test_bad_json (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_auth_dockercfg_get_descriptor (), fx->host, &error);
  g_assert_null (fx->plugin);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "ECS_ENGINE_AUTH_DATA is not valid JSON"));
  g_assert_null (strstr (error->message, SECRET_AUTH));
}

static void
test_other_type (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  ecsa_test_host_set_config (fx->host, "ECS_ENGINE_AUTH_TYPE", "docker");
  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_auth_dockercfg_get_descriptor (), fx->host, &error);
  g_assert_null (fx->plugin);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
}

static void
test_no_secret_logged (void)
{
  ecsa_test_assert_no_secret ("swordfish");
  ecsa_test_assert_no_secret ("dragon");
  ecsa_test_assert_no_secret (SECRET_AUTH);
  ecsa_test_assert_no_secret ("a:b:c");
}

int
main (int argc, char **argv)
{
  ecsa_test_plugins_init (&argc, &argv);
  g_test_add_func ("/auth-dockercfg/descriptor", test_descriptor);
#define ADD(path, data, fn) g_test_add (path, Fixture, data, fixture_setup, fn, fixture_teardown)
  ADD ("/auth-dockercfg/matching", NULL, test_matching);
  ADD ("/auth-dockercfg/only-registry", "{\"example.tld/user2\":{\"auth\":\"" SECRET_AUTH "\"}}", test_only_registry);
  ADD ("/auth-dockercfg/config-json",
       "{\"auths\":{\"https://example.tld\":{\"auth\":\"" SECRET_AUTH "\"},\"https://index.docker.io/v1/\":"
       "{\"auth\":\"" HUB_AUTH "\"}}}",
       test_config_json);
  ADD ("/auth-dockercfg/colon-in-password", "{\"example.tld\":{\"auth\":\"dXNlcjphOmI6Yw==\"}}",
       test_colon_in_password);
  ADD ("/auth-dockercfg/malformed-entries",
       "{\"bad64.tld\":{\"auth\":\"malformedbase64\"},\"nocolon.tld\":{\"auth\":\"bm9Db2xvbg==\"},"
       "\"noauth.tld\":{\"email\":\"e\"},\"good.tld\":{\"auth\":\"" SECRET_AUTH "\"}}",
       test_malformed_entries);
  ADD ("/auth-dockercfg/errors/auth-not-string", "{\"registry.tld\":{\"auth\":true}}", test_auth_not_string);
  ADD ("/auth-dockercfg/errors/json", "{\"registry.tld\":{\"auth\":" SECRET_AUTH "}}", test_bad_json);
  ADD ("/auth-dockercfg/errors/other-type", NULL, test_other_type);
  g_test_add_func ("/auth-dockercfg/zz/no-secret-logged", test_no_secret_logged);
  return g_test_run ();
}

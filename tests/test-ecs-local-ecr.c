/* test-ecs-local-ecr.c: ECR through ecs-local, end to end with the real pieces.
 *
 * A real registry (Debian's docker-registry, htpasswd + TLS, in a network namespace: the plugin
 * tests' helper) holds user AWS with a random password that ecs-local's GetAuthorizationToken hands
 * out (--ecr-registry, --ecr-password-file). A task whose image lives there gets
 * registryAuthentication/ecrAuthData in its payload; the agent's ECR auth plugin, given that
 * ecrAuthData and the instance role from ecs-local's metadata emulation, asks ecs-local for a
 * token over HTTPS; the real dockerd pulls the image with it. Nothing secret reaches a log line.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-registry-auth.h"
#include "ecsa-test-ecs-local.h"
#include "ecsa-test-plugins.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <string.h>

const EcsaPluginDescriptor *ecsa_plugin_auth_ecr_get_descriptor (void);

static EcsaTestPluginsRegistry *registry;
static char *password;
static char *image;

typedef struct
{
  char *value;
  gboolean done;
} Got;

static void
got_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Got *g = user_data;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, NULL);

  g->value = body != NULL ? g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body)) : NULL;
  g->done = TRUE;
}

/* An IMDS GET (v1) against ecs-local's emulation. */
static char *
imds_get (EcslTestServer *s, const char *path)
{
  g_autofree char *url = g_strconcat (s->imds_endpoint, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  Got g = { NULL, FALSE };

  soup_session_send_and_read_async (s->session, msg, G_PRIORITY_DEFAULT, NULL, got_cb, &g);
  ecsl_test_wait_flag (&g.done, 20000, url);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  return g.value;
}

static void
test_ecr_pull (void)
{
  g_autofree char *password_file = NULL;
  g_autofree char *registry_arg = g_strdup_printf ("--ecr-registry=%s", registry->address);
  g_autofree char *password_arg = NULL;
  g_autofree char *role = NULL;
  g_autofree char *role_path = NULL;
  g_autofree char *creds_json = NULL;
  g_autofree char *td = NULL;
  g_autofree char *message = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) payload = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsDatabase) db = NULL;
  g_autoptr(EcsaTestHost) host = NULL;
  g_autoptr(EcsaRegistryCredentials) c = NULL;
  EcslTestServer *server;
  EcslTestAgent *agent;
  EcsaTestPlugin *plugin;
  JsonNode *ecr;
  JsonObject *role_creds;
  EcsaAuthRequest req = { .struct_size = sizeof (EcsaAuthRequest), .auth_type = "ecr" };

  {
    g_autofree char *dir = ecsa_test_mkdtemp ();
    password_file = g_build_filename (dir, "ecr-password", NULL);
    g_assert_true (g_file_set_contents (password_file, password, -1, NULL));
    password_arg = g_strdup_printf ("--ecr-password-file=%s", password_file);
    server = ecsl_test_server_start (NULL, (const char *const[]){ registry_arg, password_arg, NULL });
    g_unlink (password_file);
    g_rmdir (dir);
  }

  /* The control plane's side: a task with the registry's image carries ecrAuthData. */
  json_node_unref (ecsl_test_ecs (server, "CreateCluster", "{\"clusterName\":\"ecr\"}"));
  agent = ecsl_test_agent_register (server, "ecr", 1024, 512, (const char *const[]){ "22", NULL },
                                    (const char *const[]){ "com.amazonaws.ecs.capability.ecr-auth", "", NULL });
  ecsl_test_agent_connect_acs (agent, TRUE);
  td = g_strdup_printf ("{\"family\":\"ecr\",\"containerDefinitions\":[{\"name\":\"c\",\"image\":\"%s\",\"memory\":16}]}",
                        image);
  json_node_unref (ecsl_test_ecs (server, "RegisterTaskDefinition", "%s", td));
  out = ecsl_test_ecs (server, "RunTask", "{\"cluster\":\"ecr\",\"taskDefinition\":\"ecr\"}");
  g_assert_nonnull (ecsl_test_get_string (out, "tasks/0/taskArn"));
  payload = ecsl_test_agent_next (agent, "PayloadMessage", 20000);
  ecsl_test_agent_ack (agent, payload);
  g_assert_cmpstr (ecsl_test_get_string (payload, "message/tasks/0/containers/0/registryAuthentication/type"), ==,
                   "ecr");
  ecr = ecsl_test_get (payload, "message/tasks/0/containers/0/registryAuthentication/ecrAuthData");
  g_assert_nonnull (ecr);
  g_assert_cmpstr (ecsl_test_get_string (ecr, "endpointOverride"), ==, server->endpoint);

  /* The agent's side: the ECR plugin with the instance role, over HTTPS trusting ecs-local's CA. */
  role = imds_get (server, "/latest/meta-data/iam/security-credentials/");
  role_path = g_strconcat ("/latest/meta-data/iam/security-credentials/", role, NULL);
  creds_json = imds_get (server, role_path);
  json_parser_load_from_data (parser, creds_json, -1, &error);
  g_assert_no_error (error);
  role_creds = json_node_get_object (json_parser_get_root (parser));
  host = ecsa_test_host_new ();
  ecsa_test_host_set_region (host, "us-west-2");
  ecsa_test_host_set_instance_credentials (host, json_object_get_string_member (role_creds, "AccessKeyId"),
                                           json_object_get_string_member (role_creds, "SecretAccessKey"),
                                           json_object_get_string_member (role_creds, "Token"));
  db = g_tls_file_database_new (server->ca_path, &error);
  g_assert_no_error (error);
  g_object_set (host->host.http_session, "tls-database", db, NULL);
  plugin = ecsa_test_plugin_init (ecsa_plugin_auth_ecr_get_descriptor (), host, &error);
  g_assert_no_error (error);

  req.image = image;
  req.registry = registry->address;
  req.ecr_registry_id = ecsl_test_get_string (ecr, "registryId");
  req.ecr_region = ecsl_test_get_string (ecr, "region");
  req.ecr_endpoint_override = ecsl_test_get_string (ecr, "endpointOverride");
  c = ecsa_test_get_credentials (plugin, &req, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (c->username, ==, "AWS");
  g_assert_cmpstr (c->password, ==, password);

  /* The real dockerd pulls with it. */
  ecsa_test_docker_remove_image (image);
  if (!ecsa_test_docker_pull (image, c, &message))
    g_error ("pulling %s with the ECR token from ecs-local: %s", image, message);
  ecsa_test_docker_remove_image (image);

  ecsa_test_assert_no_secret (password);
  ecsa_test_assert_no_secret (json_object_get_string_member (role_creds, "SecretAccessKey"));
  ecsa_test_plugin_free (plugin);
  ecsl_test_agent_free (agent);
  ecsl_test_check_trace (server);
  ecsl_test_server_stop (server, FALSE);
}

int
main (int argc, char **argv)
{
  int rc;

  ecsa_test_plugins_init (&argc, &argv);
  password = g_strdup_printf ("ecsl-%08x%08x", g_random_int (), g_random_int ());
  registry = ecsa_test_plugins_registry_start ((const char *const[]){ "AWS", password, NULL });
  image = ecsa_test_plugins_registry_image (registry);
  g_test_add_func ("/ecs-local/ecr/pull", test_ecr_pull);
  rc = g_test_run ();
  ecsa_test_plugins_registry_stop (registry);
  g_free (image);
  g_free (password);
  return rc;
}

/* test-ecs-client.c: the ECS JSON 1.1 client against a loopback ECS fake that checks every
 * signature with the real verifier: request shapes, registration rules and exit codes, the poll
 * endpoint cache, state change bodies, retries, TLS trust from SSL_CERT_FILE and -k.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-ecs-client.h"
#include "ecsa-memory.h"
#include "ecsa-test-acs.h"
#include "ecsa-soup-call.h"
#include "ecsa-test-utils.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <string.h>

#define GUARD_MS 15000

typedef struct
{
  EcsaConfig config;
  EcsaTestEcs *ecs;
  EcsaTestImds *fake_imds;
  EcsaImds *imds;
  EcsaAwsCredentialsProvider *credentials;
  EcsaEcsClient *client;
  gboolean done;
  GAsyncResult *result;
  char *cert_dir;
} Fixture;

static void
config_init (EcsaConfig *config)
{
  static const guint16 ports[] = { 22, 2375, 2376, 51678, 51679 };

  memset (config, 0, sizeof *config);
  config->cluster = g_strdup ("test-cluster");
  config->aws_region = g_strdup (ECSA_TEST_REGION);
  config->reserved_ports = g_array_new (FALSE, FALSE, sizeof (guint16));
  g_array_append_vals (config->reserved_ports, ports, G_N_ELEMENTS (ports));
  config->reserved_ports_udp = g_array_new (FALSE, FALSE, sizeof (guint16));
  config->instance_attributes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static void
config_clear (EcsaConfig *config)
{
  g_free (config->cluster);
  g_free (config->aws_region);
  g_free (config->api_endpoint);
  g_array_unref (config->reserved_ports);
  g_array_unref (config->reserved_ports_udp);
  g_hash_table_unref (config->instance_attributes);
}

static void
make_client (Fixture *fx)
{
  g_autoptr(GError) error = NULL;

  g_clear_object (&fx->client);
  g_free (fx->config.api_endpoint);
  fx->config.api_endpoint = g_strdup (fx->ecs->url);
  fx->client = ecsa_ecs_client_new (&fx->config, fx->credentials, fx->imds, &error);
  g_assert_no_error (error);
  ecsa_ecs_client_set_host_resources (fx->client, 2048, 3953);
  ecsa_ecs_client_set_docker_version (fx->client, "20.10.24");
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_setenv ("AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  g_setenv ("AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  g_unsetenv ("AWS_SESSION_TOKEN");
  g_unsetenv ("SSL_CERT_FILE");
  g_unsetenv ("SSL_CERT_DIR");
  config_init (&fx->config);
  fx->ecs = ecsa_test_ecs_new (FALSE, NULL);
  fx->fake_imds = ecsa_test_imds_new ();
  ecsa_test_imds_set_identity (fx->fake_imds, "i-0123456789abcdef0", ECSA_TEST_REGION);
  fx->imds = ecsa_imds_new_full (fx->fake_imds->url, FALSE);
  fx->credentials = ecsa_aws_credentials_provider_new (NULL);
  make_client (fx);
  ecsa_test_log_capture_start ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_test_log_capture_stop ();
  g_clear_object (&fx->result);
  g_clear_object (&fx->client);
  g_clear_object (&fx->credentials);
  g_clear_object (&fx->imds);
  ecsa_test_imds_free (fx->fake_imds);
  ecsa_test_ecs_free (fx->ecs);
  config_clear (&fx->config);
  if (fx->cert_dir != NULL)
    ecsa_test_rmdir_recursive (fx->cert_dir);
  g_free (fx->cert_dir);
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

static GPtrArray *
capabilities (void)
{
  GPtrArray *caps = ecsa_ecs_attributes_new ();

  g_ptr_array_add (caps, ecsa_ecs_attribute_new ("com.amazonaws.ecs.capability.privileged-container", NULL));
  g_ptr_array_add (caps, ecsa_ecs_attribute_new ("com.amazonaws.ecs.capability.docker-remote-api.1.17", NULL));
  g_ptr_array_add (caps, ecsa_ecs_attribute_new ("ecs.capability.cni-plugin-version", "v1.1.1"));
  return caps;
}

static char *
do_register (Fixture *fx, GError **error)
{
  g_autoptr(GPtrArray) caps = capabilities ();

  fx->done = FALSE;
  ecsa_ecs_client_register_async (fx->client, caps, NULL, result_cb, fx);
  /* TLS handshakes crawl under ASan on a loaded machine */
  ecsa_test_wait_for_flag (NULL, &fx->done, fx->cert_dir != NULL ? 4 * GUARD_MS : GUARD_MS);
  return ecsa_ecs_client_register_finish (fx->client, fx->result, error);
}

static JsonObject *
find_by_name (JsonArray *array, const char *name)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *o = json_array_get_object_element (array, i);
      if (g_strcmp0 (json_object_get_string_member_with_default (o, "name", NULL), name) == 0)
        return o;
    }
  return NULL;
}

static void
test_register (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;
  EcsaTestEcsCall *call;
  JsonObject *req, *o;
  JsonArray *resources, *attrs;

  g_hash_table_insert (fx->config.instance_attributes, g_strdup ("stack"), g_strdup ("prod"));
  fx->config.reserved_memory = 256;
  arn = do_register (fx, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (arn, "arn:aws:ecs:" ECSA_TEST_REGION ":123456789012:container-instance/test-cluster/"));
  g_assert_cmpstr (ecsa_ecs_client_get_container_instance_arn (fx->client), ==, arn);
  g_assert_cmpuint (fx->ecs->bad_signatures, ==, 0);

  call = ecsa_test_ecs_call (fx->ecs, "RegisterContainerInstance", 0);
  g_assert_nonnull (call);
  g_assert_cmpstr (call->signed_headers, ==, "content-length;content-type;host;x-amz-date;x-amz-target");
  g_assert_cmpstr (call->content_type, ==, "application/x-amz-json-1.1");
  g_assert_true (g_str_has_prefix (call->user_agent, "Amazon ECS Agent - v1.16.2 ("));
  req = json_node_get_object (call->body);
  g_assert_cmpstr (json_object_get_string_member (req, "cluster"), ==, "test-cluster");
  g_assert_false (json_object_has_member (req, "containerInstanceArn"));
  g_assert_nonnull (strstr (json_object_get_string_member (req, "instanceIdentityDocument"), "i-0123456789abcdef0"));
  g_assert_cmpstr (json_object_get_string_member (req, "instanceIdentityDocumentSignature"), ==,
                   "dGVzdC1zaWduYXR1cmUtb2YtdGhlLWRvY3VtZW50");

  resources = json_object_get_array_member (req, "totalResources");
  g_assert_cmpuint (json_array_get_length (resources), ==, 4);
  o = find_by_name (resources, "CPU");
  g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, "INTEGER");
  g_assert_cmpint (json_object_get_int_member (o, "integerValue"), ==, 2048);
  o = find_by_name (resources, "MEMORY");
  g_assert_cmpint (json_object_get_int_member (o, "integerValue"), ==, 3953 - 256);
  o = find_by_name (resources, "PORTS");
  g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, "STRINGSET");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "stringSetValue")), ==, 5);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (o, "stringSetValue"), 3), ==, "51678");
  o = find_by_name (resources, "PORTS_UDP");
  g_assert_nonnull (o);
  g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, "STRINGSET");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "stringSetValue")), ==, 0);

  attrs = json_object_get_array_member (req, "attributes");
  g_assert_cmpuint (json_array_get_length (attrs), ==, 5);
  o = json_array_get_object_element (attrs, 0); /* custom attributes first */
  g_assert_cmpstr (json_object_get_string_member (o, "name"), ==, "stack");
  g_assert_cmpstr (json_object_get_string_member (o, "value"), ==, "prod");
  o = find_by_name (attrs, "com.amazonaws.ecs.capability.privileged-container");
  g_assert_false (json_object_has_member (o, "value")); /* capabilities carry no value */
  o = find_by_name (attrs, "ecs.capability.cni-plugin-version");
  g_assert_cmpstr (json_object_get_string_member (o, "value"), ==, "v1.1.1");
  o = json_array_get_object_element (attrs, 4);
  g_assert_cmpstr (json_object_get_string_member (o, "name"), ==, "ecs.os-type");
  g_assert_cmpstr (json_object_get_string_member (o, "value"), ==, "linux");

  o = json_object_get_object_member (req, "versionInfo");
  g_assert_cmpstr (json_object_get_string_member (o, "agentVersion"), ==, "1.16.2");
  g_assert_cmpstr (json_object_get_string_member (o, "dockerVersion"), ==, "DockerVersion: 20.10.24");
  g_assert_nonnull (json_object_get_string_member (o, "agentHash"));
  {
    const char *secrets[] = { ECSA_TEST_SECRET_KEY, NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_register_session_token (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;

  g_setenv ("AWS_SESSION_TOKEN", ECSA_TEST_SESSION_TOKEN, TRUE);
  fx->ecs->session_token = TRUE;
  arn = do_register (fx, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ecsa_test_ecs_call (fx->ecs, "RegisterContainerInstance", 0)->signed_headers, ==,
                   "content-length;content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
  g_assert_cmpuint (fx->ecs->bad_signatures, ==, 0);
  {
    const char *secrets[] = { ECSA_TEST_SECRET_KEY, ECSA_TEST_SESSION_TOKEN, NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_register_bad_signature (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;

  /* the service knows another secret: the signature is refused, the error names it */
  g_setenv ("AWS_SECRET_ACCESS_KEY", "wrong-secret", TRUE);
  arn = do_register (fx, &error);
  g_assert_null (arn);
  g_assert_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CLIENT);
  g_assert_cmpstr (ecsa_ecs_client_error_code (error), ==, "InvalidSignatureException");
  g_assert_cmpuint (fx->ecs->bad_signatures, ==, 1);
  g_assert_cmpint (ecsa_ecs_client_registration_exit_code (fx->client, error), ==, 1);
}

static void
test_register_attribute_mismatch (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;

  fx->ecs->drop_attributes = TRUE;
  arn = do_register (fx, &error);
  g_assert_null (arn);
  g_assert_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_ATTRIBUTE);
  g_assert_nonnull (strstr (error->message, "ecs.os-type"));
  g_assert_cmpint (ecsa_ecs_client_registration_exit_code (fx->client, error), ==, 5);
  g_assert_null (ecsa_ecs_client_get_container_instance_arn (fx->client));
}

static gboolean
hook_reject (EcsaTestEcs *ecs, const char *op, JsonObject *request, SoupServerMessage *msg, gpointer user_data)
{
  const char *mode = user_data;

  if (strcmp (op, "RegisterContainerInstance") != 0)
    return FALSE;
  if (strcmp (mode, "invalid-parameter") == 0)
    ecsa_test_ecs_reply_error (msg, 400, "InvalidParameterException", "Bad totalResources.");
  else if (strcmp (mode, "type-changed") == 0)
    ecsa_test_ecs_reply_error (msg, 400, "com.amazonaws.ecs#ClientException",
                               "Container instance type changes are not supported.");
  else if (strcmp (mode, "server") == 0)
    ecsa_test_ecs_reply_error (msg, 500, "ServerException", "Internal failure.");
  else if (strcmp (mode, "throttle") == 0)
    ecsa_test_ecs_reply_error (msg, 400, "ThrottlingException", "Rate exceeded");
  else
    g_assert_not_reached ();
  return TRUE;
}

static void
test_register_exit_codes (Fixture *fx, gconstpointer data)
{
  struct
  {
    const char *mode;
    gboolean reregister;
    int code;
    int exit_code;
    guint attempts;
  } cases[] = {
    { "invalid-parameter", FALSE, ECSA_ECS_CLIENT_ERROR_INVALID_PARAMETER, 5, 1 },
    { "invalid-parameter", TRUE, ECSA_ECS_CLIENT_ERROR_INVALID_PARAMETER, 1, 1 },
    { "type-changed", TRUE, ECSA_ECS_CLIENT_ERROR_INSTANCE_TYPE_CHANGED, 5, 1 },
    { "server", FALSE, ECSA_ECS_CLIENT_ERROR_SERVER, 1, 4 },
    { "throttle", TRUE, ECSA_ECS_CLIENT_ERROR_SERVER, 1, 4 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *arn = NULL;
      guint before = ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance");

      make_client (fx);
      if (cases[i].reregister)
        {
          g_autoptr(JsonParser) p = json_parser_new ();
          g_assert_true (json_parser_load_from_data (
            p, "{\"ContainerInstanceArn\":\"arn:aws:ecs:us-west-2:1:container-instance/test-cluster/x\","
               "\"Cluster\":\"test-cluster\",\"EC2InstanceID\":\"i-0123456789abcdef0\"}",
            -1, NULL));
          g_assert_true (ecsa_ecs_client_load_state (fx->client, json_parser_get_root (p), "i-0123456789abcdef0", NULL,
                                                     &error));
        }
      fx->ecs->hook = hook_reject;
      fx->ecs->hook_data = (gpointer) cases[i].mode;
      arn = do_register (fx, &error);
      g_assert_null (arn);
      g_assert_error (error, ECSA_ECS_CLIENT_ERROR, cases[i].code);
      g_assert_cmpint (ecsa_ecs_client_registration_exit_code (fx->client, error), ==, cases[i].exit_code);
      g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance") - before, ==, cases[i].attempts);
    }
}

static void
test_reregister (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;
  g_autofree char *arn2 = NULL;
  g_autoptr(JsonNode) state = NULL;
  JsonObject *req;
  gboolean changed = TRUE;

  g_hash_table_insert (fx->config.instance_attributes, g_strdup ("stack"), g_strdup ("prod"));
  ecsa_ecs_client_set_ec2_instance_id (fx->client, "i-0123456789abcdef0");
  arn = do_register (fx, &error);
  g_assert_no_error (error);
  state = ecsa_ecs_client_save_state (fx->client);
  req = json_node_get_object (state);
  g_assert_cmpstr (json_object_get_string_member (req, "ContainerInstanceArn"), ==, arn);
  g_assert_cmpstr (json_object_get_string_member (req, "Cluster"), ==, "test-cluster");
  g_assert_cmpstr (json_object_get_string_member (req, "EC2InstanceID"), ==, "i-0123456789abcdef0");

  /* a restart: the same instance registers again with its ARN, without the custom attributes */
  make_client (fx);
  g_assert_true (ecsa_ecs_client_load_state (fx->client, state, "i-0123456789abcdef0", &changed, &error));
  g_assert_no_error (error);
  g_assert_false (changed);
  g_assert_cmpstr (ecsa_ecs_client_get_container_instance_arn (fx->client), ==, arn);
  arn2 = do_register (fx, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (arn2, ==, arn);
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "RegisterContainerInstance", 1)->body);
  g_assert_cmpstr (json_object_get_string_member (req, "containerInstanceArn"), ==, arn);
  g_assert_null (find_by_name (json_object_get_array_member (req, "attributes"), "stack"));

  /* another EC2 instance: nothing restored */
  make_client (fx);
  g_assert_true (ecsa_ecs_client_load_state (fx->client, state, "i-ffffffffffffffff0", &changed, &error));
  g_assert_true (changed);
  g_assert_null (ecsa_ecs_client_get_container_instance_arn (fx->client));
  g_assert_cmpstr (ecsa_ecs_client_get_ec2_instance_id (fx->client), ==, "i-ffffffffffffffff0");

  /* another cluster configured: refused, terminal */
  g_free (fx->config.cluster);
  fx->config.cluster = g_strdup ("other-cluster");
  make_client (fx);
  g_assert_false (ecsa_ecs_client_load_state (fx->client, state, "i-0123456789abcdef0", &changed, &error));
  g_assert_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CLUSTER_MISMATCH);
  g_assert_nonnull (strstr (error->message, "saved cluster 'test-cluster' does not match configured cluster "
                                            "'other-cluster'"));
  g_assert_cmpint (ecsa_ecs_client_registration_exit_code (fx->client, error), ==, 5);
}

static void
test_default_cluster_created (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;

  g_clear_pointer (&fx->config.cluster, g_free);
  fx->ecs->missing_clusters = TRUE;
  make_client (fx);
  g_assert_cmpstr (ecsa_ecs_client_get_cluster (fx->client), ==, "default");
  arn = do_register (fx, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (arn, "arn:aws:ecs:us-west-2:123456789012:container-instance/default/"));
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "CreateCluster"), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (
                     json_node_get_object (ecsa_test_ecs_call (fx->ecs, "CreateCluster", 0)->body), "clusterName"),
                   ==, "default");
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance"), ==, 2);
}

static void
test_reserved_memory_too_high (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;

  fx->config.reserved_memory = 4000;
  arn = do_register (fx, &error);
  g_assert_null (arn);
  g_assert_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "reserved memory is higher than available memory"));
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance"), ==, 0);
}

static void
test_no_instance_metadata (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;
  JsonObject *req;

  /* identity document unavailable: registration still goes, with empty strings */
  g_clear_object (&fx->imds);
  fx->imds = ecsa_imds_new_full (fx->fake_imds->url, TRUE);
  make_client (fx);
  arn = do_register (fx, &error);
  g_assert_no_error (error);
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "RegisterContainerInstance", 0)->body);
  g_assert_cmpstr (json_object_get_string_member (req, "instanceIdentityDocument"), ==, "");
  g_assert_cmpstr (json_object_get_string_member (req, "instanceIdentityDocumentSignature"), ==, "");
}

static EcsaPollEndpoints *
discover (Fixture *fx, GError **error)
{
  fx->done = FALSE;
  ecsa_ecs_client_discover_poll_endpoint_async (fx->client, NULL, result_cb, fx);
  ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
  return ecsa_ecs_client_discover_poll_endpoint_finish (fx->client, fx->result, error);
}

static void
test_discover_poll_endpoint (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = do_register (fx, &error);
  g_autoptr(EcsaPollEndpoints) e1 = NULL;
  g_autoptr(EcsaPollEndpoints) e2 = NULL;
  g_autoptr(EcsaPollEndpoints) e3 = NULL;
  JsonObject *req;

  g_assert_no_error (error);
  e1 = discover (fx, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (e1->endpoint, ==, "https://ecs-a-1.us-west-2.amazonaws.com/");
  g_assert_cmpstr (e1->telemetry_endpoint, ==, "https://ecs-t-1.us-west-2.amazonaws.com/");
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "DiscoverPollEndpoint", 0)->body);
  g_assert_cmpstr (json_object_get_string_member (req, "containerInstance"), ==, arn);
  g_assert_cmpstr (json_object_get_string_member (req, "cluster"), ==, "test-cluster");
  /* cached (20 minutes) */
  e2 = discover (fx, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (e2->endpoint, ==, e1->endpoint);
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "DiscoverPollEndpoint"), ==, 1);
  ecsa_ecs_client_forget_poll_endpoint (fx->client);
  g_free (fx->ecs->tcs_endpoint);
  fx->ecs->tcs_endpoint = NULL;
  e3 = discover (fx, &error);
  g_assert_no_error (error);
  g_assert_null (e3->telemetry_endpoint);
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "DiscoverPollEndpoint"), ==, 2);
}

static EcsaStateChange *
container_change (const char *name, const char *status, gboolean exit_code, int code)
{
  EcsaStateChange *c = g_new0 (EcsaStateChange, 1);

  c->kind = ECSA_STATE_CHANGE_CONTAINER;
  c->task_arn = g_strdup ("arn:aws:ecs:us-west-2:123456789012:task/abc");
  c->container_name = g_strdup (name);
  c->status = g_strdup (status);
  c->has_exit_code = exit_code;
  c->exit_code = code;
  c->timestamp = g_get_real_time ();
  c->network_bindings = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_network_binding_free);
  if (g_strcmp0 (status, "RUNNING") == 0)
    {
      const char *ips[] = { "0.0.0.0", "::" };
      for (guint i = 0; i < 2; i++)
        {
          EcsaNetworkBinding *nb = g_new0 (EcsaNetworkBinding, 1);
          nb->bind_ip = g_strdup (ips[i]);
          nb->container_port = 80;
          nb->host_port = 32768;
          nb->protocol = g_strdup ("tcp");
          g_ptr_array_add (c->network_bindings, nb);
        }
    }
  return c;
}

static gboolean
submit_task (Fixture *fx, const EcsaStateChange *change, GError **error)
{
  fx->done = FALSE;
  ecsa_ecs_client_submit_task_state_change_async (fx->client, change, NULL, result_cb, fx);
  ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
  return ecsa_ecs_client_submit_task_state_change_finish (fx->client, fx->result, error);
}

static void
test_submit_task_state_change (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaStateChange) task = g_new0 (EcsaStateChange, 1);
  g_autoptr(GString) long_reason = g_string_new (NULL);
  JsonObject *req, *c;
  JsonArray *containers, *nbs;

  task->kind = ECSA_STATE_CHANGE_TASK;
  task->task_arn = g_strdup ("arn:aws:ecs:us-west-2:123456789012:task/abc");
  task->status = g_strdup ("RUNNING");
  task->timestamp = (gint64) 1511810771 * G_USEC_PER_SEC;
  task->pull_started_at = (gint64) 1511810700 * G_USEC_PER_SEC;
  task->pull_stopped_at = (gint64) 1511810760 * G_USEC_PER_SEC + 999999;
  task->containers = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_state_change_free);
  g_ptr_array_add (task->containers, container_change ("web", "RUNNING", FALSE, 0));
  g_ptr_array_add (task->containers, container_change ("pulled", "PULLED", FALSE, 0)); /* never sent */
  g_assert_true (submit_task (fx, task, &error));
  g_assert_no_error (error);

  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitTaskStateChange", 0)->body);
  g_assert_cmpstr (json_object_get_string_member (req, "cluster"), ==, "test-cluster");
  g_assert_cmpstr (json_object_get_string_member (req, "task"), ==, task->task_arn);
  g_assert_cmpstr (json_object_get_string_member (req, "status"), ==, "RUNNING");
  g_assert_cmpstr (json_object_get_string_member (req, "reason"), ==, "");
  g_assert_cmpint (json_object_get_int_member (req, "pullStartedAt"), ==, 1511810700);
  g_assert_cmpint (json_object_get_int_member (req, "pullStoppedAt"), ==, 1511810760);
  g_assert_false (json_object_has_member (req, "executionStoppedAt"));
  containers = json_object_get_array_member (req, "containers");
  g_assert_cmpuint (json_array_get_length (containers), ==, 1);
  c = json_array_get_object_element (containers, 0);
  g_assert_cmpstr (json_object_get_string_member (c, "containerName"), ==, "web");
  g_assert_cmpstr (json_object_get_string_member (c, "status"), ==, "RUNNING");
  g_assert_false (json_object_has_member (c, "exitCode"));
  nbs = json_object_get_array_member (c, "networkBindings");
  g_assert_cmpuint (json_array_get_length (nbs), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (nbs, 1), "bindIP"), ==, "::");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (nbs, 0), "hostPort"), ==, 32768);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (nbs, 0), "protocol"), ==, "tcp");

  /* STOPPED: exit code, reason cut to 255 bytes on a character boundary, bindings [] */
  for (guint i = 0; i < 127; i++)
    g_string_append (long_reason, "\xc3\xa9"); /* 254 bytes */
  g_string_append (long_reason, "\xc3\xa9xyz");
  g_free (task->status);
  task->status = g_strdup ("STOPPED");
  g_free (task->reason);
  task->reason = g_strdup ("Essential container in task exited");
  g_ptr_array_set_size (task->containers, 0);
  g_ptr_array_add (task->containers, container_change ("web", "STOPPED", TRUE, 137));
  ((EcsaStateChange *) g_ptr_array_index (task->containers, 0))->reason = g_strdup (long_reason->str);
  g_assert_true (submit_task (fx, task, &error));
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitTaskStateChange", 1)->body);
  g_assert_cmpstr (json_object_get_string_member (req, "status"), ==, "STOPPED");
  g_assert_cmpstr (json_object_get_string_member (req, "reason"), ==, "Essential container in task exited");
  g_assert_cmpint (json_object_get_int_member (req, "executionStoppedAt"), ==, 1511810771);
  c = json_array_get_object_element (json_object_get_array_member (req, "containers"), 0);
  g_assert_cmpint (json_object_get_int_member (c, "exitCode"), ==, 137);
  g_assert_cmpuint (strlen (json_object_get_string_member (c, "reason")), ==, 254);
  g_assert_true (g_utf8_validate (json_object_get_string_member (c, "reason"), -1, NULL));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (c, "networkBindings")), ==, 0);
  g_assert_cmpuint (fx->ecs->bad_signatures, ==, 0);
}

static void
test_submit_container_state_change (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaStateChange) change = container_change ("web", "STOPPED", TRUE, 0);
  JsonObject *req;

  fx->done = FALSE;
  ecsa_ecs_client_submit_container_state_change_async (fx->client, change, NULL, result_cb, fx);
  ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
  g_assert_true (ecsa_ecs_client_submit_container_state_change_finish (fx->client, fx->result, &error));
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitContainerStateChange", 0)->body);
  g_assert_cmpstr (json_object_get_string_member (req, "cluster"), ==, "test-cluster");
  g_assert_cmpstr (json_object_get_string_member (req, "task"), ==, change->task_arn);
  g_assert_cmpstr (json_object_get_string_member (req, "containerName"), ==, "web");
  g_assert_cmpstr (json_object_get_string_member (req, "status"), ==, "STOPPED");
  g_assert_cmpint (json_object_get_int_member (req, "exitCode"), ==, 0);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (req, "networkBindings")), ==, 0);
}

static void
test_submit_attachment (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  JsonObject *req;
  JsonObject *a;

  fx->done = FALSE;
  ecsa_ecs_client_submit_attachment_state_change_async (fx->client, "arn:aws:ecs:us-west-2:1:task/t",
                                                        "arn:aws:ecs:us-west-2:1:attachment/a", "ATTACHED", NULL,
                                                        result_cb, fx);
  ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
  g_assert_true (ecsa_ecs_client_submit_attachment_state_change_finish (fx->client, fx->result, &error));
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitTaskStateChange", 0)->body);
  g_assert_cmpuint (json_object_get_size (req), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (req, "task"), ==, "arn:aws:ecs:us-west-2:1:task/t");
  a = json_array_get_object_element (json_object_get_array_member (req, "attachments"), 0);
  g_assert_cmpstr (json_object_get_string_member (a, "attachmentArn"), ==, "arn:aws:ecs:us-west-2:1:attachment/a");
  g_assert_cmpstr (json_object_get_string_member (a, "status"), ==, "ATTACHED");
}

static gboolean
hook_submit_fails (EcsaTestEcs *ecs, const char *op, JsonObject *request, SoupServerMessage *msg, gpointer user_data)
{
  if (strcmp (op, "SubmitTaskStateChange") != 0)
    return FALSE;
  ecsa_test_ecs_reply_error (msg, 503, "ServerException", "try later");
  return TRUE;
}

static void
test_submit_single_attempt (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaStateChange) task = g_new0 (EcsaStateChange, 1);

  task->kind = ECSA_STATE_CHANGE_TASK;
  task->task_arn = g_strdup ("arn:aws:ecs:us-west-2:123456789012:task/abc");
  task->status = g_strdup ("RUNNING");
  fx->ecs->hook = hook_submit_fails;
  g_assert_false (submit_task (fx, task, &error));
  g_assert_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_SERVER);
  g_assert_true (ecsa_ecs_client_error_is_transient (error));
  /* the reporter retries, not the client */
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"), ==, 1);
}

static void
test_endpoints (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaEcsClient) client = NULL;

  g_free (fx->config.api_endpoint);
  fx->config.api_endpoint = NULL;
  client = ecsa_ecs_client_new (&fx->config, fx->credentials, NULL, &error);
  g_assert_cmpstr (ecsa_ecs_client_get_endpoint (client), ==, "https://ecs.us-west-2.amazonaws.com");
  g_clear_object (&client);
  g_free (fx->config.aws_region);
  fx->config.aws_region = g_strdup ("cn-north-1");
  client = ecsa_ecs_client_new (&fx->config, fx->credentials, NULL, &error);
  g_assert_cmpstr (ecsa_ecs_client_get_endpoint (client), ==, "https://ecs.cn-north-1.amazonaws.com.cn");
  g_clear_object (&client);
  fx->config.api_endpoint = g_strdup ("ecs.example.com:8443");
  client = ecsa_ecs_client_new (&fx->config, fx->credentials, NULL, &error);
  g_assert_cmpstr (ecsa_ecs_client_get_endpoint (client), ==, "https://ecs.example.com:8443");
  g_clear_object (&client);
  g_free (fx->config.api_endpoint);
  fx->config.api_endpoint = g_strdup ("ftp://ecs.example.com/");
  client = ecsa_ecs_client_new (&fx->config, fx->credentials, NULL, &error);
  g_assert_null (client);
  g_assert_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "ftp://ecs.example.com/"));
  g_clear_error (&error);
  g_clear_pointer (&fx->config.api_endpoint, g_free);
  g_clear_pointer (&fx->config.aws_region, g_free);
  client = ecsa_ecs_client_new (&fx->config, fx->credentials, NULL, &error);
  g_assert_null (client);
  g_assert_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CONFIG);
  fx->config.aws_region = g_strdup (ECSA_TEST_REGION);
}

static void
test_no_credentials (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;

  g_unsetenv ("AWS_ACCESS_KEY_ID");
  g_unsetenv ("AWS_SECRET_ACCESS_KEY");
  g_setenv ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ecsa-test", TRUE);
  arn = do_register (fx, &error);
  g_assert_null (arn);
  g_assert_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CREDENTIALS);
  g_assert_cmpuint (fx->ecs->calls->len, ==, 0);
  g_assert_cmpint (ecsa_ecs_client_registration_exit_code (fx->client, error), ==, 1);
}

static gboolean
preconnect (Fixture *fx, GError **error)
{
  fx->done = FALSE;
  ecsa_ecs_client_preconnect_async (fx->client, NULL, result_cb, fx);
  ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
  return ecsa_ecs_client_preconnect_finish (fx->client, fx->result, error);
}

/* The connection opened ahead carries the registration, the discovery and a state change: one
 * keep-alive connection, not one per POST (libsoup's default); and opening it ahead really
 * connects (refused by a closed port). */
static void
test_connection_reused (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;
  g_autoptr(EcsaPollEndpoints) endpoints = NULL;
  g_autoptr(EcsaStateChange) task = g_new0 (EcsaStateChange, 1);
  g_autoptr(GSocket) closed = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);

  g_assert_true (preconnect (fx, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fx->ecs->calls->len, ==, 0);
  arn = do_register (fx, &error);
  g_assert_no_error (error);
  endpoints = discover (fx, &error);
  g_assert_no_error (error);
  task->kind = ECSA_STATE_CHANGE_TASK;
  task->task_arn = g_strdup ("arn:aws:ecs:us-west-2:123456789012:task/abc");
  task->status = g_strdup ("RUNNING");
  task->timestamp = (gint64) 1511810771 * G_USEC_PER_SEC;
  g_assert_true (submit_task (fx, task, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fx->ecs->calls->len, ==, 3);
  g_assert_cmpuint (ecsa_test_ecs_count_connections (fx->ecs), ==, 1);

  /* a port bound but not listening: the connection ahead is refused */
  closed = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (closed, any, FALSE, &error));
  address = g_socket_get_local_address (closed, &error);
  g_assert_no_error (error);
  g_free (fx->ecs->url);
  fx->ecs->url = g_strdup_printf ("http://127.0.0.1:%u/",
                                  g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
  make_client (fx);
  g_assert_false (preconnect (fx, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

static void
nodelay_seen_cb (SoupMessage *msg, GSocketClientEvent event, GIOStream *connection, gpointer user_data)
{
  int *nodelay = user_data;
  GError *error = NULL;

  /* runs after ecsa_soup_call_async()'s own handler */
  if (event != G_SOCKET_CLIENT_CONNECTED)
    return;
  g_assert_true (G_IS_SOCKET_CONNECTION (connection));
  g_assert_true (g_socket_get_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection)), IPPROTO_TCP,
                                      TCP_NODELAY, nodelay, &error));
  g_assert_no_error (error);
}

/* Every TCP connection of an ecsa_soup_call_async() sends at once (TCP_NODELAY): Nagle held a TLS
 * handshake's Finished for the peer's delayed ACK, 40 ms per new connection. */
static void
test_tcp_nodelay (Fixture *fx, gconstpointer data)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", fx->ecs->url);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  int nodelay = -1;

  fx->done = FALSE;
  ecsa_soup_call_async (session, msg, "test call", 10000, 4096, NULL, result_cb, fx);
  g_signal_connect (msg, "network-event", G_CALLBACK (nodelay_seen_cb), &nodelay);
  ecsa_test_wait_for_flag (NULL, &fx->done, GUARD_MS);
  body = ecsa_soup_call_finish (fx->result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (nodelay, ==, 1);
}

static void
test_tls_trust (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;
  g_autofree char *ca = NULL;
  g_autofree char *other = NULL;

  fx->cert_dir = ecsa_test_mkdtemp ();
  ecsa_test_make_certificates (fx->cert_dir);
  ca = g_build_filename (fx->cert_dir, "ca.pem", NULL);
  other = g_build_filename (fx->cert_dir, "other.pem", NULL);
  ecsa_test_ecs_free (fx->ecs);
  fx->ecs = ecsa_test_ecs_new (TRUE, fx->cert_dir);
  g_assert_true (g_str_has_prefix (fx->ecs->url, "https://127.0.0.1:"));

  /* not trusted: a TLS error, transient, nothing reached the service */
  g_setenv ("SSL_CERT_FILE", other, TRUE);
  g_setenv ("SSL_CERT_DIR", "/nonexistent", TRUE);
  make_client (fx);
  arn = do_register (fx, &error);
  g_assert_null (arn);
  g_assert_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_TRANSPORT);
  g_assert_cmpuint (fx->ecs->calls->len, ==, 0);
  g_clear_error (&error);

  /* SSL_CERT_FILE names the CA: trusted without -k */
  g_setenv ("SSL_CERT_FILE", ca, TRUE);
  make_client (fx);
  arn = do_register (fx, &error);
  g_assert_no_error (error);
  g_assert_nonnull (arn);
  g_clear_pointer (&arn, g_free);

  /* SSL_CERT_DIR alone, as a ':' list */
  g_unsetenv ("SSL_CERT_FILE");
  {
    g_autofree char *dirs = g_strconcat ("/nonexistent:", fx->cert_dir, NULL);
    g_setenv ("SSL_CERT_DIR", dirs, TRUE);
  }
  make_client (fx);
  arn = do_register (fx, &error);
  g_assert_no_error (error);
  g_clear_pointer (&arn, g_free);

  /* -k: anything goes */
  g_setenv ("SSL_CERT_FILE", other, TRUE);
  g_setenv ("SSL_CERT_DIR", "/nonexistent", TRUE);
  fx->config.accept_insecure_cert = TRUE;
  make_client (fx);
  arn = do_register (fx, &error);
  g_assert_no_error (error);
  g_unsetenv ("SSL_CERT_FILE");
  g_unsetenv ("SSL_CERT_DIR");
}

/* An idle connection to ECS is closed after 10 s (a TLS connection holds about 60 KiB), and the
 * freed memory is handed back once it is: the next call opens a new connection. */
static void
test_idle_connection_closed (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = NULL;
  g_autoptr(EcsaPollEndpoints) endpoints = NULL;
  guint releases;
  gint64 start, deadline;

  arn = do_register (fx, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ecsa_test_ecs_count_connections (fx->ecs), ==, 1);
  releases = ecsa_memory_get_n_releases ();
  start = g_get_monotonic_time ();
  deadline = start + 20 * G_USEC_PER_SEC;
  while (ecsa_memory_get_n_releases () == releases && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (ecsa_memory_get_n_releases (), >, releases);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 10 * G_USEC_PER_SEC);
  endpoints = discover (fx, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ecsa_test_ecs_count_connections (fx->ecs), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  if (g_getenv ("ECSA_TEST_TLS") != NULL)
    {
      /* a program of its own: TLS handshakes are slow under ASan */
      ADD ("/ecs-client/tls/trust", test_tls_trust);
      return g_test_run ();
    }
  ADD ("/ecs-client/register/request", test_register);
  ADD ("/ecs-client/register/session-token", test_register_session_token);
  ADD ("/ecs-client/register/bad-signature", test_register_bad_signature);
  ADD ("/ecs-client/register/attribute-mismatch", test_register_attribute_mismatch);
  ADD ("/ecs-client/register/exit-codes", test_register_exit_codes);
  ADD ("/ecs-client/register/restart-same-instance", test_reregister);
  ADD ("/ecs-client/register/default-cluster", test_default_cluster_created);
  ADD ("/ecs-client/register/reserved-memory", test_reserved_memory_too_high);
  ADD ("/ecs-client/register/no-instance-metadata", test_no_instance_metadata);
  ADD ("/ecs-client/register/no-credentials", test_no_credentials);
  ADD ("/ecs-client/discover-poll-endpoint", test_discover_poll_endpoint);
  ADD ("/ecs-client/submit/task", test_submit_task_state_change);
  ADD ("/ecs-client/submit/container", test_submit_container_state_change);
  ADD ("/ecs-client/submit/single-attempt", test_submit_single_attempt);
  ADD ("/ecs-client/submit/attachment", test_submit_attachment);
  ADD ("/ecs-client/endpoints", test_endpoints);
  ADD ("/ecs-client/connection-reused", test_connection_reused);
  ADD ("/ecs-client/idle-connection-closed", test_idle_connection_closed);
  ADD ("/ecs-client/tcp-nodelay", test_tcp_nodelay);
  return g_test_run ();
}

/* test-ecs-local-client.c: the agent's own control-plane modules against ecs-local.
 *
 * ecs-local was written from the models and the agent's side from v1.16.2's behaviour, each
 * without the other's code; here they meet: the real EcsaConfig, EcsaImds and credentials provider
 * (the instance role from ecs-local's metadata emulation), EcsaEcsClient (SSL_CERT_FILE trust,
 * RegisterContainerInstance with the identity document, DiscoverPollEndpoint), EcsaAcsSession,
 * EcsaTcsSession and EcsaStateReporter. Only the task engine is a stand-in (this program): it
 * takes payloads as durable at once and reports the state changes a real engine would. The user's
 * side is the AWS CLI. Every call the agent's modules made is then checked against botocore.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-acs-session.h"
#include "ecsa-aws-credentials.h"
#include "ecsa-config.h"
#include "ecsa-ecs-client.h"
#include "ecsa-imds.h"
#include "ecsa-state-reporter.h"
#include "ecsa-tcs-session.h"
#include "ecsa-test-ecs-local.h"
#include "ecsa-test-utils.h"

#include <string.h>

#define STEP_TIMEOUT_MS 30000

typedef struct
{
  GPtrArray *payload_tasks;   /* JsonObject* the engine was given */
  GPtrArray *credentials;     /* JsonObject* roleCredentials given to the manager */
  GPtrArray *role_types;      /* char* */
  GPtrArray *sent;            /* char* "<task|container> <status>" marked sent */
  char *known_status;
} StandIn;

static EcslTestServer *server;

/* ------------------------------------------------------------------------------------------- */
/* the stand-in engine and credentials manager */

static void
apply_payload_async (gpointer engine, JsonArray *tasks, gint64 seq_num, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  StandIn *e = engine;
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  for (guint i = 0; i < json_array_get_length (tasks); i++)
    g_ptr_array_add (e->payload_tasks, json_object_ref (json_array_get_object_element (tasks, i)));
  g_task_return_boolean (task, TRUE);
}

static gboolean
apply_payload_finish (gpointer engine, GAsyncResult *result, GPtrArray **out_rejected, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
has_task (gpointer engine, const char *task_arn)
{
  StandIn *e = engine;

  for (guint i = 0; i < e->payload_tasks->len; i++)
    if (g_strcmp0 (json_object_get_string_member_with_default (g_ptr_array_index (e->payload_tasks, i), "arn", ""),
                   task_arn) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
set_credentials (gpointer credentials, JsonObject *iam_role_credentials, const char *task_arn, const char *role_type,
                 GError **error)
{
  StandIn *e = credentials;

  g_ptr_array_add (e->credentials, json_object_ref (iam_role_credentials));
  g_ptr_array_add (e->role_types, g_strdup (role_type));
  return TRUE;
}

static void
remove_credentials (gpointer credentials, const char *task_arn)
{
}

static void
mark_sent (gpointer engine, const EcsaStateChange *change)
{
  StandIn *e = engine;

  g_ptr_array_add (e->sent, g_strdup_printf ("%s %s", change->kind == ECSA_STATE_CHANGE_TASK ? "task" : "container",
                                             change->status));
}

static char *
task_known_status (gpointer engine, const char *task_arn)
{
  return g_strdup (((StandIn *) engine)->known_status);
}

/* ------------------------------------------------------------------------------------------- */

typedef struct
{
  GAsyncResult *result;
} Res;

static void
result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ((Res *) user_data)->result = g_object_ref (result);
}

static gboolean
has_result (gpointer data)
{
  return ((Res *) data)->result != NULL;
}

typedef struct
{
  GPtrArray *array;
  guint count;
} Count;

static gboolean
reached (gpointer data)
{
  Count *c = data;

  return c->array->len >= c->count;
}

static JsonNode *
wait_task (const char *cluster, const char *task_arn, const char *status)
{
  for (int i = 0; i < 240; i++)
    {
      JsonNode *d = ecsl_test_ecs (server, "DescribeTasks", "{\"cluster\":\"%s\",\"tasks\":[\"%s\"]}", cluster, task_arn);
      if (g_strcmp0 (ecsl_test_get_string (d, "tasks/0/lastStatus"), status) == 0)
        return d;
      json_node_unref (d);
      ecsl_test_pause (250);
    }
  g_error ("task %s did not reach %s", task_arn, status);
  return NULL;
}

static JsonNode *
wait_instance_view (const char *arn, const char *member, gint64 at_least)
{
  for (int i = 0; i < 240; i++)
    {
      g_autoptr(JsonNode) status = ecsl_test_view (server, "/_ecs-local/v1/status");
      JsonArray *list = json_node_get_array (ecsl_test_get (status, "containerInstances"));
      for (guint k = 0; k < json_array_get_length (list); k++)
        {
          JsonNode *inst = json_array_get_element (list, k);
          if (g_strcmp0 (ecsl_test_get_string (inst, "containerInstanceArn"), arn) == 0
              && ecsl_test_get_int (inst, member) >= at_least)
            return json_node_copy (inst);
        }
      ecsl_test_pause (250);
    }
  g_error ("%s never reached %s >= %" G_GINT64_FORMAT, arn, member, at_least);
  return NULL;
}

static EcsaStateChange *
change_new (EcsaStateChangeKind kind, const char *task_arn, const char *container, const char *status)
{
  EcsaStateChange *c = g_new0 (EcsaStateChange, 1);

  c->kind = kind;
  c->task_arn = g_strdup (task_arn);
  c->container_name = g_strdup (container);
  c->status = g_strdup (status);
  c->timestamp = g_get_real_time ();
  c->network_bindings = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_network_binding_free);
  c->containers = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_state_change_free);
  return c;
}

static void
add_binding (EcsaStateChange *c, const char *ip, guint16 container_port, guint16 host_port)
{
  EcsaNetworkBinding *b = g_new0 (EcsaNetworkBinding, 1);

  b->bind_ip = g_strdup (ip);
  b->container_port = container_port;
  b->host_port = host_port;
  b->protocol = g_strdup ("tcp");
  g_ptr_array_add (c->network_bindings, b);
}

static void
test_modules (void)
{
  g_autoptr(EcsaConfig) config = ecsa_config_new ();
  g_autoptr(EcsaImds) imds = NULL;
  g_autoptr(EcsaAwsCredentialsProvider) credentials = NULL;
  g_autoptr(EcsaEcsClient) client = NULL;
  g_autoptr(EcsaStateReporter) reporter = NULL;
  g_autoptr(EcsaAcsSession) acs = NULL;
  g_autoptr(EcsaTcsSession) tcs = NULL;
  g_autoptr(GPtrArray) caps = ecsa_ecs_attributes_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) view = NULL;
  g_autoptr(EcsaPollEndpoints) endpoints = NULL;
  g_autofree char *backend = g_strdup_printf ("ECS_BACKEND_HOST=%s", server->endpoint);
  g_autofree char *instance_arn = NULL;
  g_autofree char *task_arn = NULL;
  g_autofree char *instance_id = NULL;
  g_autofree char *acs_endpoint = g_strconcat (server->endpoint, "/", NULL);
  const char *envp[] = { "ECS_CLUSTER=client", backend, "AWS_DEFAULT_REGION=us-west-2",
                         "ECS_AGENT_CONFIG_FILE_PATH=/nonexistent/ecs-agent.json", NULL };
  StandIn e = { g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref),
                g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref),
                g_ptr_array_new_with_free_func (g_free), g_ptr_array_new_with_free_func (g_free),
                g_strdup ("RUNNING") };
  const EcsaAcsSessionHooks acs_hooks = { &e, apply_payload_async, apply_payload_finish, has_task,
                                          &e, set_credentials, remove_credentials };
  const EcsaStateReporterHooks reporter_hooks = { &e, mark_sent, task_known_status };
  Res r = { NULL };
  Count count;
  int rc;

  /* The agent's view of the world: no keys in the environment, ecs-local's CA to trust. */
  g_unsetenv ("AWS_ACCESS_KEY_ID");
  g_unsetenv ("AWS_SECRET_ACCESS_KEY");
  g_unsetenv ("AWS_SESSION_TOKEN");
  g_unsetenv ("SSL_CERT_DIR");
  g_setenv ("SSL_CERT_FILE", server->ca_path, TRUE);
  rc = ecsl_test_aws (server, NULL, NULL, NULL, "ecs", "create-cluster", "--cluster-name", "client", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_true (ecsa_config_load (config, envp, &error));
  g_assert_no_error (error);

  imds = ecsa_imds_new_full (server->imds_endpoint, FALSE);
  credentials = ecsa_aws_credentials_provider_new (imds);
  client = ecsa_ecs_client_new (config, credentials, imds, &error);
  g_assert_no_error (error);
  ecsa_ecs_client_set_host_resources (client, 2048, 4096);
  ecsa_ecs_client_set_docker_version (client, "20.10.24");
  ecsa_ecs_client_prepare_tls_async (client, NULL, result_cb, &r);
  ecsl_test_wait (has_result, &r, STEP_TIMEOUT_MS, "prepare_tls");
  g_assert_true (ecsa_ecs_client_prepare_tls_finish (client, r.result, &error));
  g_assert_no_error (error);
  g_clear_object (&r.result);

  /* Registration: through the instance role, with the identity document. */
  g_ptr_array_add (caps, ecsa_ecs_attribute_new ("com.amazonaws.ecs.capability.task-iam-role", NULL));
  g_ptr_array_add (caps, ecsa_ecs_attribute_new ("com.amazonaws.ecs.capability.docker-remote-api.1.17", NULL));
  ecsa_ecs_client_register_async (client, caps, NULL, result_cb, &r);
  ecsl_test_wait (has_result, &r, STEP_TIMEOUT_MS, "RegisterContainerInstance");
  instance_arn = ecsa_ecs_client_register_finish (client, r.result, &error);
  g_assert_no_error (error);
  g_clear_object (&r.result);
  g_assert_true (g_str_has_prefix (instance_arn, "arn:aws:ecs:us-west-2:123456789012:container-instance/client/"));
  out = ecsl_test_ecs (server, "DescribeContainerInstances", "{\"cluster\":\"client\",\"containerInstances\":[\"%s\"]}",
                       instance_arn);
  {
    g_autofree char *path = g_build_filename (server->state_dir, "instance-id", NULL);
    g_assert_true (g_file_get_contents (path, &instance_id, NULL, NULL));
    g_strstrip (instance_id);
  }
  g_assert_cmpstr (ecsl_test_get_string (out, "containerInstances/0/ec2InstanceId"), ==, instance_id);
  g_clear_pointer (&out, json_node_unref);

  ecsa_ecs_client_discover_poll_endpoint_async (client, NULL, result_cb, &r);
  ecsl_test_wait (has_result, &r, STEP_TIMEOUT_MS, "DiscoverPollEndpoint");
  endpoints = ecsa_ecs_client_discover_poll_endpoint_finish (client, r.result, &error);
  g_assert_no_error (error);
  g_clear_object (&r.result);

  /* The sessions. */
  reporter = ecsa_state_reporter_new (client, &reporter_hooks);
  ecsa_state_reporter_start (reporter);
  acs = ecsa_acs_session_new (client, &acs_hooks, reporter);
  ecsa_ws_session_start (ECSA_WS_SESSION (acs));
  tcs = ecsa_tcs_session_new (client, NULL);
  ecsa_ws_session_start (ECSA_WS_SESSION (tcs));
  view = wait_instance_view (instance_arn, "acsConnects", 1);
  g_clear_pointer (&view, json_node_unref);
  for (int i = 0;; i++)
    {
      g_autoptr(JsonNode) metrics = ecsl_test_view (server, "/_ecs-local/v1/metrics");
      JsonArray *list = json_node_get_array (ecsl_test_get (metrics, "metrics"));
      if (json_array_get_length (list) > 0)
        {
          JsonNode *m = json_array_get_element (list, 0);
          g_assert_cmpstr (ecsl_test_get_string (m, "containerInstance"), ==, instance_arn);
          g_assert_cmpstr (ecsl_test_get_string (m, "type"), ==, "PublishMetricsRequest");
          g_assert_cmpuint (json_array_get_length (json_node_get_array (ecsl_test_get (metrics, "rejected"))), ==, 0);
          break;
        }
      g_assert_cmpint (i, <, 240);
      ecsl_test_pause (250);
    }

  /* run-task: the payload reaches the engine without its secrets, the credentials reach the
   * manager, and the session acks both. */
  json_node_unref (ecsl_test_ecs (server, "RegisterTaskDefinition",
                                  "{\"family\":\"client\",\"taskRoleArn\":\"arn:aws:iam::123456789012:role/app\","
                                  "\"containerDefinitions\":[{\"name\":\"web\",\"image\":\"ecsa-test/busybox\","
                                  "\"memory\":32,\"portMappings\":[{\"containerPort\":80,\"hostPort\":18081}]}]}"));
  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "run-task", "--cluster", "client", "--task-definition",
                      "client", NULL);
  g_assert_cmpint (rc, ==, 0);
  task_arn = g_strdup (ecsl_test_get_string (out, "tasks/0/taskArn"));
  g_assert_nonnull (task_arn);
  g_clear_pointer (&out, json_node_unref);
  count = (Count){ e.payload_tasks, 1 };
  ecsl_test_wait (reached, &count, STEP_TIMEOUT_MS, "the payload at the engine");
  {
    JsonObject *t = g_ptr_array_index (e.payload_tasks, 0);
    g_assert_cmpstr (json_object_get_string_member (t, "arn"), ==, task_arn);
    g_assert_cmpstr (json_object_get_string_member (t, "desiredStatus"), ==, "RUNNING");
    if (json_object_has_member (t, "roleCredentials"))
      {
        JsonObject *rcred = json_object_get_object_member (t, "roleCredentials");
        g_assert_false (json_object_has_member (rcred, "secretAccessKey"));
      }
  }
  g_assert_cmpuint (e.credentials->len, >=, 1);
  g_assert_cmpstr (g_ptr_array_index (e.role_types, 0), ==, "TaskApplication");
  view = wait_instance_view (instance_arn, "acks", 1);
  g_assert_cmpint (ecsl_test_get_int (view, "credentialAcks"), >=, 1);
  g_clear_pointer (&view, json_node_unref);

  /* The engine's changes go out through the reporter. */
  {
    g_autoptr(EcsaStateChange) c = change_new (ECSA_STATE_CHANGE_CONTAINER, task_arn, "web", "RUNNING");
    g_autoptr(EcsaStateChange) t = change_new (ECSA_STATE_CHANGE_TASK, task_arn, NULL, "RUNNING");
    add_binding (c, "0.0.0.0", 80, 18081);
    add_binding (c, "::", 80, 18081);
    ecsa_state_reporter_add (reporter, c);
    g_ptr_array_add (t->containers, ecsa_state_change_copy (c));
    ecsa_state_reporter_add (reporter, t);
  }
  out = wait_task ("client", task_arn, "RUNNING");
  g_assert_cmpint (ecsl_test_get_int (out, "tasks/0/containers/0/networkBindings/0/hostPort"), ==, 18081);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/containers/0/lastStatus"), ==, "RUNNING");
  g_clear_pointer (&out, json_node_unref);

  rc = ecsl_test_aws (server, NULL, NULL, NULL, "ecs", "stop-task", "--cluster", "client", "--task", task_arn, NULL);
  g_assert_cmpint (rc, ==, 0);
  count = (Count){ e.payload_tasks, 2 };
  ecsl_test_wait (reached, &count, STEP_TIMEOUT_MS, "the stop payload at the engine");
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (e.payload_tasks, 1), "desiredStatus"), ==,
                   "STOPPED");
  view = wait_instance_view (instance_arn, "acks", 2);
  g_clear_pointer (&view, json_node_unref);
  g_free (e.known_status);
  e.known_status = g_strdup ("STOPPED");
  {
    g_autoptr(EcsaStateChange) c = change_new (ECSA_STATE_CHANGE_CONTAINER, task_arn, "web", "STOPPED");
    g_autoptr(EcsaStateChange) t = change_new (ECSA_STATE_CHANGE_TASK, task_arn, NULL, "STOPPED");
    c->has_exit_code = TRUE;
    c->exit_code = 143;
    ecsa_state_reporter_add (reporter, c);
    g_ptr_array_add (t->containers, ecsa_state_change_copy (c));
    ecsa_state_reporter_add (reporter, t);
  }
  out = wait_task ("client", task_arn, "STOPPED");
  g_assert_cmpint (ecsl_test_get_int (out, "tasks/0/containers/0/exitCode"), ==, 143);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/stopCode"), ==, "UserInitiated");
  g_clear_pointer (&out, json_node_unref);

  /* Heartbeats are answered (the current model's HeartbeatAckRequest). */
  view = wait_instance_view (instance_arn, "heartbeatAcks", 1);
  g_clear_pointer (&view, json_node_unref);

  ecsa_ws_session_stop (ECSA_WS_SESSION (acs));
  ecsa_ws_session_stop (ECSA_WS_SESSION (tcs));
  ecsa_state_reporter_stop (reporter);
  ecsa_aws_credentials_provider_stop (credentials);
  ecsl_test_check_trace (server);

  g_ptr_array_unref (e.payload_tasks);
  g_ptr_array_unref (e.credentials);
  g_ptr_array_unref (e.role_types);
  g_ptr_array_unref (e.sent);
  g_free (e.known_status);
}

int
main (int argc, char **argv)
{
  const char *const args[] = { "--heartbeat-interval=1", "--ack-timeout=3", NULL };
  int rc;

  g_test_init (&argc, &argv, NULL);
  server = ecsl_test_server_start (NULL, args);
  g_test_add_func ("/ecs-local/client/modules", test_modules);
  rc = g_test_run ();
  ecsl_test_server_stop (server, FALSE);
  return rc;
}

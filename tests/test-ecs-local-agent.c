/* test-ecs-local-agent.c: ecs-local with a scripted agent (this program) on the agent's side and
 * the real AWS CLI on the user's: registration, the ACS handshake and its refusals, the task path
 * run-task -> PayloadMessage (resent until acknowledged) -> RUNNING with network bindings ->
 * stop-task -> STOPPED with the exit code, placement by CPU, memory, ports and attributes, task
 * role credentials and their refresh, heartbeats, TCS frames and their signatures, forced
 * deregistration, and a restart with --persist.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-ecs-local.h"
#include "ecsa-test-utils.h"

#include <string.h>

#define FRAME_TIMEOUT_MS 15000
#define ACK_TIMEOUT "0.7"

static EcslTestServer *server;
static const char *const reserved_ports[] = { "22", "2375", "2376", "51678", "51679", NULL };

static void
create_cluster (const char *name)
{
  json_node_unref (ecsl_test_ecs (server, "CreateCluster", "{\"clusterName\":\"%s\"}", name));
}

static void
register_td (const char *family, const char *containers_json, const char *extra)
{
  json_node_unref (ecsl_test_ecs (server, "RegisterTaskDefinition", "{\"family\":\"%s\",\"containerDefinitions\":%s%s}",
                                  family, containers_json, extra != NULL ? extra : ""));
}

static guint
array_len (JsonNode *node, const char *path)
{
  JsonNode *n = ecsl_test_get (node, path);

  g_assert_nonnull (n);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (n));
  return json_array_get_length (json_node_get_array (n));
}

static gboolean
matches (const char *text, const char *pattern)
{
  return text != NULL && g_regex_match_simple (pattern, text, 0, 0);
}

static JsonNode *
instance_view (EcslTestServer *s, const char *arn)
{
  g_autoptr(JsonNode) status = ecsl_test_view (s, "/_ecs-local/v1/status");
  JsonArray *a = json_node_get_array (ecsl_test_get (status, "containerInstances"));

  for (guint i = 0; i < json_array_get_length (a); i++)
    if (g_strcmp0 (ecsl_test_get_string (json_array_get_element (a, i), "containerInstanceArn"), arn) == 0)
      return json_node_copy (json_array_get_element (a, i));
  g_error ("%s is not in the status view", arn);
  return NULL;
}

/* The status view of an instance once ecs-local counted `acks` payload acknowledgements. */
static JsonNode *
wait_acks (EcslTestServer *s, const char *arn, gint64 acks)
{
  for (int i = 0; i < 200; i++)
    {
      JsonNode *view = instance_view (s, arn);
      if (ecsl_test_get_int (view, "acks") >= acks)
        return view;
      json_node_unref (view);
      ecsl_test_pause (50);
    }
  g_error ("ecs-local did not count %" G_GINT64_FORMAT " acks for %s", acks, arn);
  return NULL;
}

/* The next PayloadMessage that is not a resend of `old_id`. */
static JsonNode *
next_new_payload (EcslTestAgent *a, const char *old_id)
{
  for (;;)
    {
      JsonNode *p = ecsl_test_agent_next (a, "PayloadMessage", FRAME_TIMEOUT_MS);
      if (g_strcmp0 (ecsl_test_get_string (p, "message/messageId"), old_id) != 0)
        return p;
      json_node_unref (p);
    }
}

/* ------------------------------------------------------------------------------------------- */

static void
test_register (void)
{
  const char *const attrs[] = { "ecs.os-type", "linux", "com.amazonaws.ecs.capability.docker-remote-api.1.17", "",
                                "custom", "v1 x:y@z", NULL };
  g_autoptr(JsonNode) resp = NULL;
  g_autoptr(JsonNode) ep = NULL;
  g_autofree char *acs = g_strconcat (server->endpoint, "/", NULL);
  g_autofree char *tcs = g_strconcat (server->tcs_endpoint, "/", NULL);
  EcslTestAgent *a;
  guint status;

  create_cluster ("reg");
  a = ecsl_test_agent_register (server, "reg", 2048, 1024, reserved_ports, attrs);
  g_assert_true (matches (a->instance_arn, "^arn:aws:ecs:us-west-2:123456789012:container-instance/reg/[0-9a-f]{32}$"));

  /* Re-registration with the ARN (a restarted agent) keeps the instance. */
  resp = ecsl_test_ecs (server, "RegisterContainerInstance",
                        "{\"cluster\":\"reg\",\"containerInstanceArn\":\"%s\",\"totalResources\":["
                        "{\"name\":\"CPU\",\"type\":\"INTEGER\",\"integerValue\":2048},"
                        "{\"name\":\"MEMORY\",\"type\":\"INTEGER\",\"integerValue\":900}]}",
                        a->instance_arn);
  g_assert_cmpstr (ecsl_test_get_string (resp, "containerInstance/containerInstanceArn"), ==, a->instance_arn);
  g_assert_cmpint (ecsl_test_get_int (resp, "containerInstance/registeredResources/1/integerValue"), ==, 900);
  g_assert_cmpint (ecsl_test_get_int (resp, "containerInstance/version"), ==, 2);
  g_clear_pointer (&resp, json_node_unref);

  resp = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance",
                         "{\"cluster\":\"nope\",\"totalResources\":[]}", &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (resp), ==, "ClientException");
  g_assert_cmpstr (ecsl_test_get_string (resp, "message"), ==, "Cluster not found.");
  g_clear_pointer (&resp, json_node_unref);
  resp = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance",
                         "{\"cluster\":\"reg\",\"attributes\":[{\"name\":\"bad name!\"}],\"totalResources\":["
                         "{\"name\":\"CPU\",\"type\":\"INTEGER\",\"integerValue\":1},"
                         "{\"name\":\"MEMORY\",\"type\":\"INTEGER\",\"integerValue\":1}]}",
                         &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (resp), ==, "InvalidParameterException");
  g_clear_pointer (&resp, json_node_unref);
  resp = ecsl_test_call (server, NULL, "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance",
                         "{\"cluster\":\"reg\",\"totalResources\":[{\"name\":\"CPU\",\"type\":\"INTEGER\","
                         "\"integerValue\":1}]}",
                         &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (resp), ==, "InvalidParameterException");
  g_clear_pointer (&resp, json_node_unref);

  ep = ecsl_test_ecs (server, "DiscoverPollEndpoint", "{\"cluster\":\"reg\",\"containerInstance\":\"%s\"}",
                      a->instance_arn);
  g_assert_cmpstr (ecsl_test_get_string (ep, "endpoint"), ==, acs);
  g_assert_cmpstr (ecsl_test_get_string (ep, "telemetryEndpoint"), ==, tcs);

  resp = ecsl_test_ecs (server, "DescribeContainerInstances", "{\"cluster\":\"reg\",\"containerInstances\":[\"%s\"]}",
                        a->instance_arn);
  g_assert_false (json_node_get_boolean (ecsl_test_get (resp, "containerInstances/0/agentConnected")));
  g_assert_cmpstr (ecsl_test_get_string (resp, "containerInstances/0/registeredResources/0/name"), ==, "CPU");
  g_assert_cmpstr (ecsl_test_get_string (resp, "containerInstances/0/versionInfo/agentVersion"), ==, "1.16.2");
  ecsl_test_agent_free (a);
}

static void
test_acs_handshake (void)
{
  EcsaAwsCredentials wrong = { sizeof wrong, 0, server->access_key_id, "not-the-secret", "", 0, "" };
  g_autoptr(JsonNode) out = NULL;
  g_autofree char *body = NULL;
  EcslTestAgent *a, *b;
  guint status;
  int rc;

  create_cluster ("hs");
  a = ecsl_test_agent_register (server, "hs", 1024, 512, reserved_ports, NULL);
  status = ecsl_test_agent_try_acs (server, &wrong, "hs", a->instance_arn, &body);
  g_assert_cmpuint (status, ==, 403);
  g_assert_nonnull (strstr (body, "{\"AccessDeniedException\":"));
  g_clear_pointer (&body, g_free);
  status = ecsl_test_agent_try_acs (server, NULL, "hs",
                                    "arn:aws:ecs:us-west-2:123456789012:container-instance/hs/00000000000000000000000000000000",
                                    &body);
  g_assert_cmpuint (status, ==, 400);
  g_assert_nonnull (strstr (body, "InvalidInstanceException"));
  g_clear_pointer (&body, g_free);
  status = ecsl_test_agent_try_acs (server, NULL, "nope", a->instance_arn, &body);
  g_assert_cmpuint (status, ==, 400);
  g_assert_nonnull (strstr (body, "InvalidClusterException"));
  g_clear_pointer (&body, g_free);

  /* A deregistered instance is inactive for ACS. */
  b = ecsl_test_agent_register (server, "hs", 1024, 512, reserved_ports, NULL);
  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "deregister-container-instance", "--cluster", "hs",
                      "--container-instance", b->instance_arn, NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "containerInstance/status"), ==, "INACTIVE");
  status = ecsl_test_agent_try_acs (server, NULL, "hs", b->instance_arn, &body);
  g_assert_cmpuint (status, ==, 400);
  g_assert_nonnull (strstr (body, "{\"InactiveInstanceException\":"));
  ecsl_test_agent_free (a);
  ecsl_test_agent_free (b);
}

/* ------------------------------------------------------------------------------------------- */

static void
test_run_stop (void)
{
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) p1 = NULL;
  g_autoptr(JsonNode) p1b = NULL;
  g_autoptr(JsonNode) p2 = NULL;
  g_autoptr(JsonNode) view = NULL;
  g_autofree char *task_arn = NULL;
  const char *host_config;
  EcslTestAgent *a;
  gint64 sent;
  int rc;

  create_cluster ("flow");
  a = ecsl_test_agent_register (server, "flow", 1024, 512, reserved_ports, NULL);
  ecsl_test_agent_connect_acs (a, TRUE);
  out = ecsl_test_ecs (server, "DescribeContainerInstances", "{\"cluster\":\"flow\",\"containerInstances\":[\"%s\"]}",
                       a->instance_arn);
  g_assert_true (json_node_get_boolean (ecsl_test_get (out, "containerInstances/0/agentConnected")));
  g_clear_pointer (&out, json_node_unref);
  register_td ("flowweb",
               "[{\"name\":\"httpd\",\"image\":\"ecsa-test/busybox:latest\",\"memory\":64,"
               "\"command\":[\"httpd\",\"-f\",\"-p\",\"80\"],\"environment\":[{\"name\":\"A\",\"value\":\"1\"}],"
               "\"portMappings\":[{\"containerPort\":80,\"hostPort\":18080}]}]",
               NULL);

  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "run-task", "--cluster", "flow", "--task-definition", "flowweb",
                      "--started-by", "test-run-stop", NULL);
  g_assert_cmpint (rc, ==, 0);
  task_arn = g_strdup (ecsl_test_get_string (out, "tasks/0/taskArn"));
  g_assert_true (matches (task_arn, "^arn:aws:ecs:us-west-2:123456789012:task/flow/[0-9a-f]{32}$"));
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/lastStatus"), ==, "PENDING");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/desiredStatus"), ==, "RUNNING");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/containerInstanceArn"), ==, a->instance_arn);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/containers/0/lastStatus"), ==, "PENDING");
  g_assert_cmpuint (array_len (out, "failures"), ==, 0);
  g_clear_pointer (&out, json_node_unref);

  /* The payload, then the same payload again while it is not acknowledged. */
  p1 = ecsl_test_agent_next (a, "PayloadMessage", FRAME_TIMEOUT_MS);
  g_assert_cmpstr (ecsl_test_get_string (p1, "message/tasks/0/arn"), ==, task_arn);
  g_assert_cmpstr (ecsl_test_get_string (p1, "message/tasks/0/desiredStatus"), ==, "RUNNING");
  g_assert_cmpstr (ecsl_test_get_string (p1, "message/tasks/0/family"), ==, "flowweb");
  g_assert_cmpstr (ecsl_test_get_string (p1, "message/tasks/0/version"), ==, "1");
  g_assert_cmpstr (ecsl_test_get_string (p1, "message/containerInstanceArn"), ==, a->instance_arn);
  g_assert_cmpint (ecsl_test_get_int (p1, "message/seqNum"), ==, 1);
  g_assert_cmpint (ecsl_test_get_int (p1, "message/tasks/0/containers/0/portMappings/0/hostPort"), ==, 18080);
  g_assert_cmpstr (ecsl_test_get_string (p1, "message/tasks/0/containers/0/environment/A"), ==, "1");
  host_config = ecsl_test_get_string (p1, "message/tasks/0/containers/0/dockerConfig/hostConfig");
  g_assert_nonnull (strstr (host_config, "\"NetworkMode\":\"bridge\""));
  g_assert_cmpstr (ecsl_test_get_string (p1, "message/tasks/0/containers/0/overrides"), ==, "{}");
  p1b = ecsl_test_agent_next (a, "PayloadMessage", FRAME_TIMEOUT_MS);
  g_assert_cmpstr (ecsl_test_get_string (p1b, "message/messageId"), ==, ecsl_test_get_string (p1, "message/messageId"));
  g_assert_cmpint (ecsl_test_get_int (p1b, "message/seqNum"), ==, 1);
  ecsl_test_agent_ack (a, p1);
  /* Once acknowledged, it is not sent again (counted by ecs-local itself: resends made before the
   * ack arrived may still be on their way here). */
  view = wait_acks (server, a->instance_arn, 1);
  sent = ecsl_test_get_int (view, "payloadsSent");
  g_assert_cmpint (sent, >=, 2);
  g_assert_cmpint (ecsl_test_get_int (view, "unacknowledged"), ==, 0);
  ecsl_test_pause (1700);
  g_clear_pointer (&view, json_node_unref);
  view = instance_view (server, a->instance_arn);
  g_assert_cmpint (ecsl_test_get_int (view, "payloadsSent"), ==, sent);

  /* The agent reports RUNNING with dockerd 20.10's two bindings per mapping. */
  out = ecsl_test_ecs (server, "SubmitTaskStateChange",
                       "{\"cluster\":\"flow\",\"task\":\"%s\",\"status\":\"RUNNING\",\"reason\":\"\","
                       "\"containers\":[{\"containerName\":\"httpd\",\"status\":\"RUNNING\",\"runtimeId\":\"abc123\","
                       "\"networkBindings\":[{\"bindIP\":\"0.0.0.0\",\"containerPort\":80,\"hostPort\":18080,"
                       "\"protocol\":\"tcp\"},{\"bindIP\":\"::\",\"containerPort\":80,\"hostPort\":18080,"
                       "\"protocol\":\"tcp\"}]}],\"pullStartedAt\":1700000000,\"pullStoppedAt\":1700000001.5}",
                       task_arn);
  g_assert_cmpstr (ecsl_test_get_string (out, "acknowledgment"), ==, "ACK");
  g_clear_pointer (&out, json_node_unref);

  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "describe-tasks", "--cluster", "flow", "--tasks", task_arn,
                      NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/lastStatus"), ==, "RUNNING");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/containers/0/lastStatus"), ==, "RUNNING");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/containers/0/runtimeId"), ==, "abc123");
  g_assert_cmpuint (array_len (out, "tasks/0/containers/0/networkBindings"), ==, 2);
  g_assert_cmpint (ecsl_test_get_int (out, "tasks/0/containers/0/networkBindings/0/hostPort"), ==, 18080);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/containers/0/networkBindings/1/bindIP"), ==, "::");
  g_assert_nonnull (ecsl_test_get (out, "tasks/0/startedAt"));
  g_assert_nonnull (ecsl_test_get (out, "tasks/0/pullStartedAt"));
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/startedBy"), ==, "test-run-stop");
  g_clear_pointer (&out, json_node_unref);

  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "stop-task", "--cluster", "flow", "--task", task_arn,
                      "--reason", "test stop", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "task/desiredStatus"), ==, "STOPPED");
  g_assert_cmpstr (ecsl_test_get_string (out, "task/lastStatus"), ==, "RUNNING");
  g_assert_cmpstr (ecsl_test_get_string (out, "task/stopCode"), ==, "UserInitiated");
  g_clear_pointer (&out, json_node_unref);

  p2 = next_new_payload (a, ecsl_test_get_string (p1, "message/messageId"));
  g_assert_cmpstr (ecsl_test_get_string (p2, "message/tasks/0/arn"), ==, task_arn);
  g_assert_cmpstr (ecsl_test_get_string (p2, "message/tasks/0/desiredStatus"), ==, "STOPPED");
  g_assert_cmpint (ecsl_test_get_int (p2, "message/seqNum"), ==, 2);
  g_assert_cmpstr (ecsl_test_get_string (p2, "message/messageId"), !=, ecsl_test_get_string (p1, "message/messageId"));
  ecsl_test_agent_ack (a, p2);

  json_node_unref (ecsl_test_ecs (server, "SubmitTaskStateChange",
                                  "{\"cluster\":\"flow\",\"task\":\"%s\",\"status\":\"STOPPED\",\"reason\":\"\","
                                  "\"containers\":[{\"containerName\":\"httpd\",\"status\":\"STOPPED\",\"exitCode\":137,"
                                  "\"networkBindings\":[]}],\"executionStoppedAt\":1700000100}",
                                  task_arn));
  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "describe-tasks", "--cluster", "flow", "--tasks", task_arn,
                      NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/lastStatus"), ==, "STOPPED");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/desiredStatus"), ==, "STOPPED");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/stopCode"), ==, "UserInitiated");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/stoppedReason"), ==, "test stop");
  g_assert_cmpint (ecsl_test_get_int (out, "tasks/0/containers/0/exitCode"), ==, 137);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/containers/0/lastStatus"), ==, "STOPPED");
  g_assert_nonnull (ecsl_test_get (out, "tasks/0/stoppedAt"));
  g_clear_pointer (&out, json_node_unref);

  out = ecsl_test_ecs (server, "ListTasks", "{\"cluster\":\"flow\",\"desiredStatus\":\"STOPPED\"}");
  g_assert_cmpstr (ecsl_test_get_string (out, "taskArns/0"), ==, task_arn);
  g_clear_pointer (&out, json_node_unref);
  out = ecsl_test_ecs (server, "ListTasks", "{\"cluster\":\"flow\"}");
  g_assert_cmpuint (array_len (out, "taskArns"), ==, 0);
  ecsl_test_agent_free (a);
}

/* ------------------------------------------------------------------------------------------- */

static JsonNode *
run (const char *cluster, const char *family, int count)
{
  return ecsl_test_ecs (server, "RunTask", "{\"cluster\":\"%s\",\"taskDefinition\":\"%s\",\"count\":%d}", cluster, family,
                        count);
}

static void
assert_failure (JsonNode *out, const char *instance_arn, const char *reason)
{
  g_assert_cmpuint (array_len (out, "tasks"), ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "failures/0/arn"), ==, instance_arn);
  g_assert_cmpstr (ecsl_test_get_string (out, "failures/0/reason"), ==, reason);
}

static gint64
remaining (const char *cluster, const char *instance_arn, const char *resource)
{
  g_autoptr(JsonNode) out = ecsl_test_ecs (server, "DescribeContainerInstances",
                                           "{\"cluster\":\"%s\",\"containerInstances\":[\"%s\"]}", cluster, instance_arn);
  JsonArray *res = json_node_get_array (ecsl_test_get (out, "containerInstances/0/remainingResources"));

  for (guint i = 0; i < json_array_get_length (res); i++)
    {
      JsonObject *r = json_array_get_object_element (res, i);
      if (strcmp (json_object_get_string_member (r, "name"), resource) == 0)
        return json_object_get_int_member (r, "integerValue");
    }
  g_error ("no remaining resource %s", resource);
  return -1;
}

static void
test_placement (void)
{
  const char *const ports[] = { "22", NULL };
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) desc = NULL;
  g_autofree char *big_arn = NULL;
  EcslTestAgent *a;

  create_cluster ("place");
  a = ecsl_test_agent_register (server, "place", 1024, 512, ports, NULL);
  ecsl_test_agent_connect_acs (a, TRUE);
  register_td ("big", "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":300}]", NULL);
  register_td ("port", "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":10,"
                       "\"portMappings\":[{\"containerPort\":80,\"hostPort\":8080}]}]", NULL);
  register_td ("ssh", "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":10,"
                      "\"portMappings\":[{\"containerPort\":22,\"hostPort\":22}]}]", NULL);
  register_td ("cpu", "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":10,\"cpu\":2048}]", NULL);
  register_td ("logs", "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":10,"
                       "\"logConfiguration\":{\"logDriver\":\"awslogs\",\"options\":{\"awslogs-group\":\"g\"}}}]", NULL);
  register_td ("multi", "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":10,"
                        "\"portMappings\":[{\"containerPort\":80,\"hostPort\":9090}]}]", NULL);
  register_td ("hostnet", "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":10,"
                          "\"portMappings\":[{\"containerPort\":9191}]}]", ",\"networkMode\":\"host\"");

  out = run ("place", "big", 1);
  g_assert_cmpuint (array_len (out, "tasks"), ==, 1);
  big_arn = g_strdup (ecsl_test_get_string (out, "tasks/0/taskArn"));
  g_clear_pointer (&out, json_node_unref);
  out = run ("place", "big", 1);
  assert_failure (out, a->instance_arn, "RESOURCE:MEMORY");
  g_clear_pointer (&out, json_node_unref);
  out = run ("place", "port", 1);
  g_assert_cmpuint (array_len (out, "tasks"), ==, 1);
  g_clear_pointer (&out, json_node_unref);
  out = run ("place", "port", 1);
  assert_failure (out, a->instance_arn, "RESOURCE:PORTS");
  g_clear_pointer (&out, json_node_unref);
  out = run ("place", "ssh", 1);
  assert_failure (out, a->instance_arn, "RESOURCE:PORTS");
  g_clear_pointer (&out, json_node_unref);
  out = run ("place", "cpu", 1);
  assert_failure (out, a->instance_arn, "RESOURCE:CPU");
  g_clear_pointer (&out, json_node_unref);
  out = run ("place", "logs", 1);
  assert_failure (out, a->instance_arn, "ATTRIBUTE");
  g_clear_pointer (&out, json_node_unref);
  /* Three copies of a task with a static host port: one fits. */
  out = run ("place", "multi", 3);
  g_assert_cmpuint (array_len (out, "tasks"), ==, 1);
  g_assert_cmpstr (ecsl_test_get_string (out, "failures/0/reason"), ==, "RESOURCE:PORTS");
  g_clear_pointer (&out, json_node_unref);
  /* Host networking reserves the container port itself. */
  out = run ("place", "hostnet", 1);
  g_assert_cmpuint (array_len (out, "tasks"), ==, 1);
  g_clear_pointer (&out, json_node_unref);

  g_assert_cmpint (remaining ("place", a->instance_arn, "MEMORY"), ==, 512 - 300 - 10 - 10 - 10);
  g_assert_cmpint (remaining ("place", a->instance_arn, "CPU"), ==, 1024);
  desc = ecsl_test_ecs (server, "DescribeContainerInstances", "{\"cluster\":\"place\",\"containerInstances\":[\"%s\"]}",
                        a->instance_arn);
  g_assert_cmpint (ecsl_test_get_int (desc, "containerInstances/0/pendingTasksCount"), ==, 4);
  {
    g_autoptr(JsonGenerator) gen = json_generator_new ();
    g_autofree char *text = NULL;
    json_generator_set_root (gen, ecsl_test_get (desc, "containerInstances/0/remainingResources"));
    text = json_generator_to_data (gen, NULL);
    g_assert_nonnull (strstr (text, "\"8080\""));
    g_assert_nonnull (strstr (text, "\"9090\""));
    g_assert_nonnull (strstr (text, "\"9191\""));
    g_assert_nonnull (strstr (text, "\"22\""));
  }

  /* The essential container of "big" exits: the agent stops the task on its own. */
  json_node_unref (ecsl_test_ecs (server, "SubmitTaskStateChange",
                                  "{\"cluster\":\"place\",\"task\":\"%s\",\"status\":\"STOPPED\","
                                  "\"containers\":[{\"containerName\":\"c\",\"status\":\"STOPPED\",\"exitCode\":1}]}",
                                  big_arn));
  out = ecsl_test_ecs (server, "DescribeTasks", "{\"cluster\":\"place\",\"tasks\":[\"%s\"]}", big_arn);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/stopCode"), ==, "EssentialContainerExited");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/stoppedReason"), ==, "Essential container in task exited");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/desiredStatus"), ==, "STOPPED");
  g_clear_pointer (&out, json_node_unref);
  g_assert_cmpint (remaining ("place", a->instance_arn, "MEMORY"), ==, 512 - 10 - 10 - 10);

  /* No agent connected: nothing is placed. */
  ecsl_test_agent_close_acs (a);
  for (int i = 0; i < 100; i++)
    {
      g_autoptr(JsonNode) d = ecsl_test_ecs (server, "DescribeContainerInstances",
                                             "{\"cluster\":\"place\",\"containerInstances\":[\"%s\"]}", a->instance_arn);
      if (!json_node_get_boolean (ecsl_test_get (d, "containerInstances/0/agentConnected")))
        break;
      g_assert_cmpint (i, <, 99);
    }
  out = run ("place", "big", 1);
  assert_failure (out, a->instance_arn, "AGENT");
  ecsl_test_agent_free (a);
}

/* ------------------------------------------------------------------------------------------- */

static void
creds_from (JsonNode *creds, EcsaAwsCredentials *out)
{
  out->struct_size = sizeof *out;
  out->access_key_id = ecsl_test_get_string (creds, "accessKeyId");
  out->secret_access_key = ecsl_test_get_string (creds, "secretAccessKey");
  out->session_token = ecsl_test_get_string (creds, "sessionToken");
  out->role_arn = ecsl_test_get_string (creds, "roleArn");
}

static void
assert_not_logged (const char *secret)
{
  const char *files[] = { server->stderr_path, server->trace_path, NULL };

  g_assert_nonnull (secret);
  g_assert_cmpuint (strlen (secret), >=, 16);
  ecsl_test_pause (200); /* the trace is written by a thread */
  for (guint i = 0; files[i] != NULL; i++)
    {
      g_autofree char *text = NULL;
      g_assert_true (g_file_get_contents (files[i], &text, NULL, NULL));
      if (strstr (text, secret) != NULL)
        g_error ("a secret (%.4s…) is in %s", secret, files[i]);
    }
}

static void
test_credentials (void)
{
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) payload = NULL;
  g_autoptr(JsonNode) hb = NULL;
  g_autoptr(JsonNode) view = NULL;
  g_autofree char *role_id = NULL;
  g_autofree char *exec_id = NULL;
  g_autofree char *first_key = NULL;
  g_autofree char *task_arn = NULL;
  g_autofree char *ack = NULL;
  JsonNode *role;
  EcsaAwsCredentials creds = { 0 };
  EcslTestAgent *a;
  gboolean seen_role = FALSE, seen_exec = FALSE;
  guint status;

  const char *const attrs[] = { "com.amazonaws.ecs.capability.task-iam-role", "", NULL };

  create_cluster ("creds");
  /* The task-iam-role capability: without it the task would not be placed (ATTRIBUTE). */
  a = ecsl_test_agent_register (server, "creds", 1024, 512, reserved_ports, attrs);
  ecsl_test_agent_connect_acs (a, TRUE);
  register_td ("role", "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":10}]",
               ",\"taskRoleArn\":\"arn:aws:iam::123456789012:role/app\","
               "\"executionRoleArn\":\"arn:aws:iam::123456789012:role/exec\"");
  out = run ("creds", "role", 1);
  g_assert_cmpuint (array_len (out, "tasks"), ==, 1);
  task_arn = g_strdup (ecsl_test_get_string (out, "tasks/0/taskArn"));
  g_clear_pointer (&out, json_node_unref);

  payload = ecsl_test_agent_next (a, "PayloadMessage", FRAME_TIMEOUT_MS);
  role = ecsl_test_get (payload, "message/tasks/0/roleCredentials");
  g_assert_nonnull (role);
  role_id = g_strdup (ecsl_test_get_string (role, "credentialsId"));
  exec_id = g_strdup (ecsl_test_get_string (payload, "message/tasks/0/executionRoleCredentials/credentialsId"));
  g_assert_true (matches (role_id, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"));
  g_assert_true (matches (exec_id, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"));
  g_assert_cmpstr (role_id, !=, exec_id);
  g_assert_cmpstr (ecsl_test_get_string (role, "roleArn"), ==, "arn:aws:iam::123456789012:role/app");
  g_assert_true (matches (ecsl_test_get_string (role, "accessKeyId"), "^ASIA[A-Z2-7]{16}$"));
  g_assert_cmpuint (strlen (ecsl_test_get_string (role, "secretAccessKey")), ==, 40);
  g_assert_true (matches (ecsl_test_get_string (role, "expiration"), "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$"));
  first_key = g_strdup (ecsl_test_get_string (role, "accessKeyId"));
  ecsl_test_agent_ack (a, payload);
  /* v1.16.2 also acks the credentials of a payload, with the payload's messageId. */
  ack = g_strdup_printf ("{\"messageId\":\"%s\",\"expiration\":\"%s\",\"credentialsId\":\"%s\"}",
                         ecsl_test_get_string (payload, "message/messageId"), ecsl_test_get_string (role, "expiration"),
                         role_id);
  ecsl_test_agent_send (a, "IAMRoleCredentialsAckRequest", ack);
  g_clear_pointer (&ack, g_free);

  /* The task's credentials work against the API, and only with their session token. */
  creds_from (role, &creds);
  out = ecsl_test_call (server, &creds, "AmazonEC2ContainerServiceV20141113.ListClusters", "{}", &status);
  g_assert_cmpuint (status, ==, 200);
  g_clear_pointer (&out, json_node_unref);
  creds.session_token = "";
  out = ecsl_test_call (server, &creds, "AmazonEC2ContainerServiceV20141113.ListClusters", "{}", &status);
  g_assert_cmpstr (ecsl_test_error_type (out), ==, "UnrecognizedClientException");
  g_clear_pointer (&out, json_node_unref);

  /* Heartbeats come, and acks of them are counted. */
  hb = ecsl_test_agent_next (a, "HeartbeatMessage", FRAME_TIMEOUT_MS);
  g_assert_true (json_node_get_boolean (ecsl_test_get (hb, "message/healthy")));
  ack = g_strdup_printf ("{\"messageId\":\"%s\"}", ecsl_test_get_string (hb, "message/messageId"));
  ecsl_test_agent_send (a, "HeartbeatAckRequest", ack);
  g_clear_pointer (&ack, g_free);

  /* At half their lifetime (4 s here) the credentials are refreshed, same IDs, new keys; each
   * message is sent until acknowledged. */
  for (int i = 0; i < 20 && !(seen_role && seen_exec); i++)
    {
      g_autoptr(JsonNode) m = ecsl_test_agent_next (a, "IAMRoleCredentialsMessage", FRAME_TIMEOUT_MS);
      JsonNode *rc = ecsl_test_get (m, "message/roleCredentials");
      g_assert_cmpstr (ecsl_test_get_string (m, "message/taskArn"), ==, task_arn);
      if (g_strcmp0 (ecsl_test_get_string (m, "message/roleType"), "TaskApplication") == 0)
        {
          seen_role = TRUE;
          g_assert_cmpstr (ecsl_test_get_string (rc, "credentialsId"), ==, role_id);
          g_assert_cmpstr (ecsl_test_get_string (rc, "accessKeyId"), !=, first_key);
        }
      else
        {
          seen_exec = TRUE;
          g_assert_cmpstr (ecsl_test_get_string (m, "message/roleType"), ==, "TaskExecution");
          g_assert_cmpstr (ecsl_test_get_string (rc, "credentialsId"), ==, exec_id);
        }
      ack = g_strdup_printf ("{\"messageId\":\"%s\",\"expiration\":\"%s\",\"credentialsId\":\"%s\"}",
                             ecsl_test_get_string (m, "message/messageId"), ecsl_test_get_string (rc, "expiration"),
                             ecsl_test_get_string (rc, "credentialsId"));
      ecsl_test_agent_send (a, "IAMRoleCredentialsAckRequest", ack);
      g_clear_pointer (&ack, g_free);
    }
  g_assert_true (seen_role && seen_exec);

  /* A new agent process (sendCredentials=true) gets the credentials of its running tasks. */
  ecsl_test_agent_close_acs (a);
  ecsl_test_agent_connect_acs (a, TRUE);
  {
    g_autoptr(JsonNode) m = ecsl_test_agent_next (a, "IAMRoleCredentialsMessage", FRAME_TIMEOUT_MS);
    g_assert_cmpstr (ecsl_test_get_string (m, "message/taskArn"), ==, task_arn);
  }

  view = instance_view (server, a->instance_arn);
  g_assert_cmpint (ecsl_test_get_int (view, "heartbeatAcks"), >=, 1);
  g_assert_cmpint (ecsl_test_get_int (view, "credentialAcks"), >=, 3);
  g_assert_cmpint (ecsl_test_get_int (view, "acsConnects"), ==, 2);

  /* The first key expires 4 s after it was issued. */
  {
    g_autoptr(JsonNode) fresh = NULL;
    creds_from (role, &creds);
    for (int i = 0; i < 200; i++)
      {
        g_clear_pointer (&out, json_node_unref);
        out = ecsl_test_call (server, &creds, "AmazonEC2ContainerServiceV20141113.ListClusters", "{}", &status);
        if (status != 200)
          break;
        fresh = ecsl_test_agent_next (a, "HeartbeatMessage", FRAME_TIMEOUT_MS);
        g_clear_pointer (&fresh, json_node_unref);
      }
    g_assert_cmpstr (ecsl_test_error_type (out), ==, "ExpiredTokenException");
  }

  /* No secret in ecs-local's log or its trace: not the task's keys, not the root secret. */
  assert_not_logged (ecsl_test_get_string (role, "secretAccessKey"));
  assert_not_logged (ecsl_test_get_string (role, "sessionToken"));
  assert_not_logged (server->secret_access_key);
  ecsl_test_agent_free (a);
}

/* ------------------------------------------------------------------------------------------- */

static void
test_tcs (void)
{
  g_autoptr(JsonNode) ack = NULL;
  g_autoptr(JsonNode) hb = NULL;
  g_autoptr(JsonNode) metrics = NULL;
  g_autofree char *msg = NULL;
  g_autofree char *other = NULL;
  JsonArray *list;
  EcslTestAgent *a;

  create_cluster ("tel");
  a = ecsl_test_agent_register (server, "tel", 1024, 512, reserved_ports, NULL);
  ecsl_test_agent_connect_tcs (a);
  msg = g_strdup_printf ("{\"metadata\":{\"cluster\":\"tel\",\"containerInstance\":\"%s\",\"idle\":true,\"fin\":true,"
                         "\"messageId\":\"metrics-1\"},\"taskMetrics\":[],\"timestamp\":1700000000}",
                         a->instance_arn);
  ecsl_test_agent_send_tcs (a, "PublishMetricsRequest", msg, FALSE);
  ack = ecsl_test_agent_next_tcs (a, "AckPublishMetric", FRAME_TIMEOUT_MS);
  hb = ecsl_test_agent_next_tcs (a, "HeartbeatMessage", FRAME_TIMEOUT_MS);
  metrics = ecsl_test_view (server, "/_ecs-local/v1/metrics");
  list = json_node_get_array (ecsl_test_get (metrics, "metrics"));
  g_assert_cmpuint (json_array_get_length (list), >=, 1);
  g_assert_cmpstr (ecsl_test_get_string (json_array_get_element (list, json_array_get_length (list) - 1),
                                         "message/metadata/messageId"), ==, "metrics-1");
  g_assert_cmpstr (ecsl_test_get_string (json_array_get_element (list, json_array_get_length (list) - 1),
                                         "containerInstance"), ==, a->instance_arn);
  g_clear_pointer (&metrics, json_node_unref);

  /* A frame whose signature does not verify closes the session. */
  ecsl_test_agent_send_tcs (a, "PublishMetricsRequest", msg, TRUE);
  ecsl_test_wait_flag (&a->tcs_closed, FRAME_TIMEOUT_MS, "TCS to close");
  g_assert_cmpuint (a->tcs_close_code, ==, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION);
  metrics = ecsl_test_view (server, "/_ecs-local/v1/metrics");
  list = json_node_get_array (ecsl_test_get (metrics, "rejected"));
  g_assert_cmpuint (json_array_get_length (list), ==, 1);
  g_assert_nonnull (strstr (ecsl_test_get_string (json_array_get_element (list, 0), "error"),
                            "InvalidSignatureException"));
  g_clear_pointer (&metrics, json_node_unref);

  /* Metrics must come from the instance of the session. */
  g_signal_handlers_disconnect_by_data (a->tcs, a);
  g_clear_object (&a->tcs);
  ecsl_test_agent_connect_tcs (a);
  other = g_strdup_printf ("{\"metadata\":{\"cluster\":\"tel\",\"containerInstance\":\"%s-other\",\"idle\":true,"
                           "\"fin\":true,\"messageId\":\"metrics-2\"},\"taskMetrics\":[],\"timestamp\":1700000000}",
                           a->instance_arn);
  ecsl_test_agent_send_tcs (a, "PublishMetricsRequest", other, FALSE);
  ecsl_test_wait_flag (&a->tcs_closed, FRAME_TIMEOUT_MS, "TCS to close");
  metrics = ecsl_test_view (server, "/_ecs-local/v1/metrics");
  g_assert_cmpuint (json_array_get_length (json_node_get_array (ecsl_test_get (metrics, "rejected"))), ==, 2);
  ecsl_test_agent_free (a);
}

/* ------------------------------------------------------------------------------------------- */

static void
test_deregister (void)
{
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) payload = NULL;
  g_autoptr(JsonNode) close = NULL;
  g_autofree char *err = NULL;
  g_autofree char *body = NULL;
  g_autofree char *task_arn = NULL;
  EcslTestAgent *a;
  int rc;

  create_cluster ("dereg");
  a = ecsl_test_agent_register (server, "dereg", 1024, 512, reserved_ports, NULL);
  ecsl_test_agent_connect_acs (a, TRUE);
  register_td ("dereg", "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":10}]", NULL);
  out = run ("dereg", "dereg", 1);
  task_arn = g_strdup (ecsl_test_get_string (out, "tasks/0/taskArn"));
  g_clear_pointer (&out, json_node_unref);
  payload = ecsl_test_agent_next (a, "PayloadMessage", FRAME_TIMEOUT_MS);
  ecsl_test_agent_ack (a, payload);
  json_node_unref (ecsl_test_ecs (server, "SubmitTaskStateChange",
                                  "{\"cluster\":\"dereg\",\"task\":\"%s\",\"status\":\"RUNNING\"}", task_arn));

  rc = ecsl_test_aws (server, NULL, NULL, &err, "ecs", "deregister-container-instance", "--cluster", "dereg",
                      "--container-instance", a->instance_arn, NULL);
  g_assert_cmpint (rc, ==, 254);
  g_assert_nonnull (strstr (err, "InvalidParameterException"));
  rc = ecsl_test_aws (server, NULL, &out, NULL, "ecs", "deregister-container-instance", "--cluster", "dereg",
                      "--container-instance", a->instance_arn, "--force", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "containerInstance/status"), ==, "INACTIVE");
  g_clear_pointer (&out, json_node_unref);
  close = ecsl_test_agent_next (a, "CloseMessage", FRAME_TIMEOUT_MS);
  ecsl_test_wait_flag (&a->acs_closed, FRAME_TIMEOUT_MS, "ACS to close");

  out = ecsl_test_ecs (server, "DescribeTasks", "{\"cluster\":\"dereg\",\"tasks\":[\"%s\"]}", task_arn);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/lastStatus"), ==, "STOPPED");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/stoppedReason"), ==,
                   "Container instance deregistration forced by user");
  g_assert_cmpuint (ecsl_test_agent_try_acs (server, NULL, "dereg", a->instance_arn, &body), ==, 400);
  g_assert_nonnull (strstr (body, "InactiveInstanceException"));
  ecsl_test_agent_free (a);
}

/* ------------------------------------------------------------------------------------------- */

static void
test_restart (void)
{
  const char *const args[] = { "--persist", "--ack-timeout=60", NULL };
  const char *const role_attrs[] = { "com.amazonaws.ecs.capability.task-iam-role", "", NULL };
  EcslTestServer *s = ecsl_test_server_start (NULL, args);
  g_autofree char *dir = g_strdup (s->state_dir);
  g_autofree char *ca_before = NULL;
  g_autofree char *ca_after = NULL;
  g_autofree char *state = NULL;
  g_autofree char *state_path = NULL;
  g_autofree char *task_arn = NULL;
  g_autofree char *message_id = NULL;
  g_autofree char *instance_arn = NULL;
  g_autofree char *root_secret = NULL;
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) payload = NULL;
  EcslTestAgent *a;

  json_node_unref (ecsl_test_ecs (s, "CreateCluster", "{\"clusterName\":\"keep\"}"));
  json_node_unref (ecsl_test_ecs (s, "RegisterTaskDefinition",
                                  "{\"family\":\"keep\",\"taskRoleArn\":\"arn:aws:iam::123456789012:role/app\","
                                  "\"containerDefinitions\":[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\","
                                  "\"memory\":10}]}"));
  a = ecsl_test_agent_register (s, "keep", 1024, 512, reserved_ports, role_attrs);
  instance_arn = g_strdup (a->instance_arn);
  ecsl_test_agent_connect_acs (a, TRUE);
  out = ecsl_test_ecs (s, "RunTask", "{\"cluster\":\"keep\",\"taskDefinition\":\"keep\"}");
  task_arn = g_strdup (ecsl_test_get_string (out, "tasks/0/taskArn"));
  g_clear_pointer (&out, json_node_unref);
  payload = ecsl_test_agent_next (a, "PayloadMessage", FRAME_TIMEOUT_MS);
  message_id = g_strdup (ecsl_test_get_string (payload, "message/messageId"));
  g_clear_pointer (&payload, json_node_unref);
  ecsl_test_agent_close_acs (a);
  ecsl_test_agent_free (a);

  g_assert_true (g_file_get_contents (s->ca_path, &ca_before, NULL, NULL));
  root_secret = g_strdup (s->secret_access_key);
  ecsl_test_server_stop (s, TRUE);

  /* Nothing secret in the state file. */
  state_path = g_build_filename (dir, "state.json", NULL);
  g_assert_true (g_file_get_contents (state_path, &state, NULL, NULL));
  g_assert_nonnull (strstr (state, task_arn));
  g_assert_null (strstr (state, root_secret));
  g_assert_null (strstr (state, "secretAccessKey"));
  g_assert_null (strstr (state, "sessionToken"));

  s = ecsl_test_server_start (dir, args);
  s->own_state_dir = TRUE;
  g_assert_true (g_file_get_contents (s->ca_path, &ca_after, NULL, NULL));
  g_assert_cmpstr (ca_before, ==, ca_after);
  out = ecsl_test_ecs (s, "DescribeTasks", "{\"cluster\":\"keep\",\"tasks\":[\"%s\"]}", task_arn);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/lastStatus"), ==, "PENDING");
  g_clear_pointer (&out, json_node_unref);

  /* The agent comes back: the unacknowledged payload is sent again, same messageId, and its
   * credentials still work. */
  a = ecsl_test_agent_attach (s, "keep", instance_arn);
  ecsl_test_agent_connect_acs (a, TRUE);
  payload = ecsl_test_agent_next (a, "PayloadMessage", FRAME_TIMEOUT_MS);
  g_assert_cmpstr (ecsl_test_get_string (payload, "message/messageId"), ==, message_id);
  g_assert_cmpstr (ecsl_test_get_string (payload, "message/tasks/0/arn"), ==, task_arn);
  {
    EcsaAwsCredentials creds = { 0 };
    guint status;
    creds_from (ecsl_test_get (payload, "message/tasks/0/roleCredentials"), &creds);
    out = ecsl_test_call (s, &creds, "AmazonEC2ContainerServiceV20141113.ListClusters", "{}", &status);
    g_assert_cmpuint (status, ==, 200);
  }
  ecsl_test_agent_ack (a, payload);
  ecsl_test_agent_free (a);
  ecsl_test_server_stop (s, FALSE);
}

/* RunTask's count: AWS's limit of 10 by default; --max-run-count raises it (tools/bench puts 250
 * tasks in one PayloadMessage), and the tasks of one RunTask travel in one PayloadMessage. */
static JsonNode *
run_count (EcslTestServer *s, int count, guint *out_status)
{
  g_autofree char *body = g_strdup_printf ("{\"cluster\":\"count\",\"taskDefinition\":\"count\",\"count\":%d}", count);

  return ecsl_test_call (s, NULL, "AmazonEC2ContainerServiceV20141113.RunTask", body, out_status);
}

static void
test_max_run_count (void)
{
  const char *const args[] = { "--max-run-count=30", NULL };
  const char *const ports[] = { "22", NULL };
  const char *const containers = "[{\"name\":\"c\",\"image\":\"ecsa-test/busybox\",\"memory\":6}]";
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) payload = NULL;
  EcslTestServer *big;
  EcslTestAgent *a;
  guint status = 0;

  create_cluster ("count");
  register_td ("count", containers, NULL);
  a = ecsl_test_agent_register (server, "count", 1024, 4096, ports, NULL);
  ecsl_test_agent_connect_acs (a, FALSE);
  out = run_count (server, 11, &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_error_type (out), ==, "InvalidParameterException");
  g_assert_cmpstr (ecsl_test_get_string (out, "message"), ==, "count must be between 1 and 10.");
  g_clear_pointer (&out, json_node_unref);
  ecsl_test_agent_free (a);

  big = ecsl_test_server_start (NULL, args);
  json_node_unref (ecsl_test_ecs (big, "CreateCluster", "{\"clusterName\":\"count\"}"));
  json_node_unref (ecsl_test_ecs (big, "RegisterTaskDefinition", "{\"family\":\"count\",\"containerDefinitions\":%s}",
                                  containers));
  a = ecsl_test_agent_register (big, "count", 1024, 4096, ports, NULL);
  ecsl_test_agent_connect_acs (a, FALSE);
  out = run_count (big, 30, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpuint (array_len (out, "tasks"), ==, 30);
  payload = ecsl_test_agent_next (a, "PayloadMessage", FRAME_TIMEOUT_MS);
  g_assert_cmpuint (array_len (payload, "message/tasks"), ==, 30);
  ecsl_test_agent_ack (a, payload);
  g_clear_pointer (&out, json_node_unref);
  out = run_count (big, 31, &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (ecsl_test_get_string (out, "message"), ==, "count must be between 1 and 30.");
  ecsl_test_agent_free (a);
  ecsl_test_server_stop (big, FALSE);
}

static void
test_shapes (void)
{
  ecsl_test_check_trace (server);
}

int
main (int argc, char **argv)
{
  const char *const args[] = { "--ack-timeout=" ACK_TIMEOUT, "--heartbeat-interval=0.5", "--credentials-ttl=4", NULL };
  int rc;

  ecsl_test_take_group (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  server = ecsl_test_server_start (NULL, args);
  /* Four groups, each a meson test of its own (tests/ecs-local/meson.build). */
  ecsl_test_add ("sessions", "/ecs-local/agent/register", test_register);
  ecsl_test_add ("sessions", "/ecs-local/agent/acs-handshake", test_acs_handshake);
  ecsl_test_add ("tasks", "/ecs-local/agent/run-stop", test_run_stop);
  ecsl_test_add ("placement", "/ecs-local/agent/placement", test_placement);
  ecsl_test_add ("sessions", "/ecs-local/agent/credentials", test_credentials);
  ecsl_test_add ("sessions", "/ecs-local/agent/tcs", test_tcs);
  ecsl_test_add ("lifecycle", "/ecs-local/agent/deregister", test_deregister);
  ecsl_test_add ("lifecycle", "/ecs-local/agent/restart", test_restart);
  ecsl_test_add ("tasks", "/ecs-local/agent/max-run-count", test_max_run_count);
  ecsl_test_check_groups ();
  /* Last: every call this program made, against botocore's model. */
  g_test_add_func ("/ecs-local/agent/shapes", test_shapes);
  rc = g_test_run ();
  ecsl_test_server_stop (server, FALSE);
  return rc;
}

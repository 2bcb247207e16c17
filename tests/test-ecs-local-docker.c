/* test-ecs-local-docker.c: the README's task path through ecs-local with a real container.
 *
 * The AWS CLI registers a task definition (an HTTP server from ecsa-test/busybox on a static host
 * port), runs it and stops it; a scripted agent (this program) receives the PayloadMessages over
 * ACS, runs and stops the container on the real dockerd with the docker CLI, and reports what
 * Docker says (bindings from docker inspect, the real exit code). The container answers on its
 * host port in between. The real ecs-agent does the agent's part in test-ecs-local-e2e.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-ecs-local.h"
#include "ecsa-test-utils.h"

#include <string.h>

#define FRAME_TIMEOUT_MS 20000

typedef struct
{
  EcslTestServer *server;
  EcslTestAgent *agent;
  char *container;
  guint16 port;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  const char *const args[] = { "--ack-timeout=5", NULL };

  fx->server = ecsl_test_server_start (NULL, args);
  fx->port = ecsl_test_free_port ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->container != NULL)
    {
      const char *const rm[] = { "docker", "rm", "-f", fx->container, NULL };
      g_free (ecsl_test_run (TRUE, rm));
    }
  ecsl_test_agent_free (fx->agent);
  ecsl_test_server_stop (fx->server, FALSE);
  g_free (fx->container);
}

static char *
write_task_definition (Fixture *fx)
{
  g_autofree char *path = g_build_filename (fx->server->state_dir, "httpd.json", NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"family\":\"ecsl-httpd\",\"containerDefinitions\":[{\"name\":\"web\",\"image\":\"ecsa-test/busybox:latest\","
    "\"memory\":32,\"essential\":true,\"entryPoint\":[\"sh\",\"-c\"],"
    "\"command\":[\"mkdir -p /www && echo hello-from-ecs-local > /www/index.html; trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait\"],"
    "\"portMappings\":[{\"containerPort\":80,\"hostPort\":%u,\"protocol\":\"tcp\"}]}]}",
    fx->port);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
  return g_strconcat ("file://", path, NULL);
}

/* What the agent does with a RUNNING task: run its container with the payload's settings. */
static void
start_container (Fixture *fx, JsonNode *payload, const char *task_arn)
{
  JsonNode *c = ecsl_test_get (payload, "message/tasks/0/containers/0");
  JsonArray *entry = json_node_get_array (ecsl_test_get (c, "entryPoint"));
  JsonArray *command = json_node_get_array (ecsl_test_get (c, "command"));
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *id = NULL;
  g_autofree char *ports = NULL;
  g_autofree char *body = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr(GString) bindings = g_string_new (NULL);
  const char *slash = strrchr (task_arn, '/');

  fx->container = g_strdup_printf ("ecsa-t%d-ecsl-%.12s", (int) getpid (), slash + 1);
  g_ptr_array_add (argv, g_strdup ("docker"));
  g_ptr_array_add (argv, g_strdup ("run"));
  g_ptr_array_add (argv, g_strdup ("-d"));
  g_ptr_array_add (argv, g_strdup ("--name"));
  g_ptr_array_add (argv, g_strdup (fx->container));
  g_ptr_array_add (argv, g_strdup ("--label"));
  g_ptr_array_add (argv, g_strdup_printf ("com.amazonaws.ecs.task-arn=%s", task_arn));
  g_ptr_array_add (argv, g_strdup ("-m"));
  g_ptr_array_add (argv, g_strdup_printf ("%" G_GINT64_FORMAT "m", ecsl_test_get_int (c, "memory")));
  g_ptr_array_add (argv, g_strdup ("-p"));
  g_ptr_array_add (argv, g_strdup_printf ("%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT "/tcp",
                                          ecsl_test_get_int (c, "portMappings/0/hostPort"),
                                          ecsl_test_get_int (c, "portMappings/0/containerPort")));
  g_ptr_array_add (argv, g_strdup ("--entrypoint"));
  g_ptr_array_add (argv, g_strdup (json_array_get_string_element (entry, 0)));
  g_ptr_array_add (argv, g_strdup (ecsl_test_get_string (c, "image")));
  for (guint i = 1; i < json_array_get_length (entry); i++)
    g_ptr_array_add (argv, g_strdup (json_array_get_string_element (entry, i)));
  for (guint i = 0; i < json_array_get_length (command); i++)
    g_ptr_array_add (argv, g_strdup (json_array_get_string_element (command, i)));
  g_ptr_array_add (argv, NULL);
  id = ecsl_test_run (FALSE, (const char *const *) argv->pdata);

  /* The bindings as dockerd reports them ("0.0.0.0:P" and "[::]:P" with 20.10). */
  {
    const char *const port_argv[] = { "docker", "port", fx->container, "80/tcp", NULL };
    ports = ecsl_test_run (FALSE, port_argv);
  }
  lines = g_strsplit (ports, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *colon = strrchr (lines[i], ':');
      g_autofree char *ip = NULL;
      if (colon == NULL)
        continue;
      ip = g_strndup (lines[i], colon - lines[i]);
      if (ip[0] == '[')
        {
          char *tmp = g_strndup (ip + 1, strlen (ip) - 2);
          g_free (ip);
          ip = tmp;
        }
      g_string_append_printf (bindings, "%s{\"bindIP\":\"%s\",\"containerPort\":80,\"hostPort\":%s,\"protocol\":\"tcp\"}",
                              bindings->len > 0 ? "," : "", ip, colon + 1);
    }
  g_assert_cmpuint (bindings->len, >, 0);
  json_node_unref (ecsl_test_ecs (fx->server, "SubmitTaskStateChange",
                                  "{\"cluster\":\"docker\",\"task\":\"%s\",\"status\":\"RUNNING\",\"containers\":["
                                  "{\"containerName\":\"web\",\"runtimeId\":\"%s\",\"status\":\"RUNNING\","
                                  "\"networkBindings\":[%s]}]}",
                                  task_arn, id, bindings->str));
}

static gint64
stop_container (Fixture *fx, const char *task_arn)
{
  const char *const stop[] = { "docker", "stop", "-t", "2", fx->container, NULL };
  const char *const inspect[] = { "docker", "inspect", "-f", "{{.State.ExitCode}}", fx->container, NULL };
  g_autofree char *code = NULL;

  g_free (ecsl_test_run (FALSE, stop));
  code = ecsl_test_run (FALSE, inspect);
  json_node_unref (ecsl_test_ecs (fx->server, "SubmitTaskStateChange",
                                  "{\"cluster\":\"docker\",\"task\":\"%s\",\"status\":\"STOPPED\",\"containers\":["
                                  "{\"containerName\":\"web\",\"status\":\"STOPPED\",\"exitCode\":%s,"
                                  "\"networkBindings\":[]}]}",
                                  task_arn, code));
  return g_ascii_strtoll (code, NULL, 10);
}

static void
test_httpd (Fixture *fx, gconstpointer data)
{
  g_autofree char *td = write_task_definition (fx);
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) p1 = NULL;
  g_autoptr(JsonNode) p2 = NULL;
  g_autofree char *task_arn = NULL;
  g_autofree char *page = NULL;
  gint64 exit_code;
  int rc;

  rc = ecsl_test_aws (fx->server, NULL, NULL, NULL, "ecs", "create-cluster", "--cluster-name", "docker", NULL);
  g_assert_cmpint (rc, ==, 0);
  fx->agent = ecsl_test_agent_register (fx->server, "docker", 2048, 1024,
                                        (const char *const[]){ "22", "2375", "2376", "51678", "51679", NULL }, NULL);
  ecsl_test_agent_connect_acs (fx->agent, TRUE);
  rc = ecsl_test_aws (fx->server, NULL, NULL, NULL, "ecs", "register-task-definition", "--cli-input-json", td, NULL);
  g_assert_cmpint (rc, ==, 0);

  rc = ecsl_test_aws (fx->server, NULL, &out, NULL, "ecs", "run-task", "--cluster", "docker", "--task-definition",
                      "ecsl-httpd", NULL);
  g_assert_cmpint (rc, ==, 0);
  task_arn = g_strdup (ecsl_test_get_string (out, "tasks/0/taskArn"));
  g_assert_nonnull (task_arn);
  g_clear_pointer (&out, json_node_unref);

  p1 = ecsl_test_agent_next (fx->agent, "PayloadMessage", FRAME_TIMEOUT_MS);
  g_assert_cmpstr (ecsl_test_get_string (p1, "message/tasks/0/arn"), ==, task_arn);
  ecsl_test_agent_ack (fx->agent, p1);
  start_container (fx, p1, task_arn);

  rc = ecsl_test_aws (fx->server, NULL, &out, NULL, "ecs", "describe-tasks", "--cluster", "docker", "--tasks",
                      task_arn, NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/lastStatus"), ==, "RUNNING");
  g_assert_cmpint (ecsl_test_get_int (out, "tasks/0/containers/0/networkBindings/0/hostPort"), ==, fx->port);
  g_assert_cmpint (ecsl_test_get_int (out, "tasks/0/containers/0/networkBindings/0/containerPort"), ==, 80);
  g_clear_pointer (&out, json_node_unref);

  /* The container answers on its host port. */
  page = ecsl_test_http_get (fx->port);
  g_assert_cmpstr (g_strstrip (page), ==, "hello-from-ecs-local");

  rc = ecsl_test_aws (fx->server, NULL, NULL, NULL, "ecs", "stop-task", "--cluster", "docker", "--task", task_arn,
                      NULL);
  g_assert_cmpint (rc, ==, 0);
  p2 = ecsl_test_agent_next (fx->agent, "PayloadMessage", FRAME_TIMEOUT_MS);
  while (g_strcmp0 (ecsl_test_get_string (p2, "message/tasks/0/desiredStatus"), "STOPPED") != 0)
    {
      json_node_unref (p2);
      p2 = ecsl_test_agent_next (fx->agent, "PayloadMessage", FRAME_TIMEOUT_MS);
    }
  ecsl_test_agent_ack (fx->agent, p2);
  exit_code = stop_container (fx, task_arn);

  rc = ecsl_test_aws (fx->server, NULL, &out, NULL, "ecs", "describe-tasks", "--cluster", "docker", "--tasks",
                      task_arn, NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/lastStatus"), ==, "STOPPED");
  g_assert_cmpint (ecsl_test_get_int (out, "tasks/0/containers/0/exitCode"), ==, exit_code);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/stopCode"), ==, "UserInitiated");
  ecsl_test_check_trace (fx->server);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/ecs-local/docker/httpd", Fixture, NULL, fixture_setup, test_httpd, fixture_teardown);
  return g_test_run ();
}

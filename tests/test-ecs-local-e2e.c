/* test-ecs-local-e2e.c: the real ecs-agent against ecs-local, the task path end to end.
 *
 * ecs-local starts on free ports; the agent starts with what <state-dir>/agent.env says
 * (ECS_BACKEND_HOST, SSL_CERT_FILE, AWS_EC2_METADATA_SERVICE_ENDPOINT: its credentials are the
 * emulated instance role) and registers, connects ACS and TCS. The AWS CLI registers a task
 * definition (an HTTP server from ecsa-test/busybox on a static host port), runs it: the task
 * reaches RUNNING with network bindings, answers on its host port and is in the agent's
 * introspection API (/v1/metadata names the cluster and the instance, /v1/tasks the task and its
 * Docker container); stop-task ends it STOPPED with the exit code, and the container is gone from
 * `docker ps`. Every call the agent made is then checked against botocore's model.
 *
 * The agent's introspection server listens on a free port (ECSA_TEST_INTROSPECTION_PORT; the
 * credentials server is off), so the test runs beside others. Anything reaching 169.254.169.254 is
 * rejected while it runs.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-ecs-local.h"
#include "ecsa-test-utils.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#define STEP_TIMEOUT_S 90

typedef struct
{
  EcslTestServer *server;
  GSubprocess *agent;
  char *dir;
  char *cluster;
  char *guard_comment;
  char *agent_log;
  guint16 port;
  guint16 introspection_port;
  gboolean agent_exited;
} Fixture;

static void
guard (Fixture *fx, const char *op)
{
  for (int chain = 0; chain < 2; chain++)
    {
      const char *const argv[] = { "iptables", op, chain == 0 ? "OUTPUT" : "FORWARD", "-d", "169.254.169.254/32",
                                   "-m", "comment", "--comment", fx->guard_comment, "-j", "REJECT", NULL };
      g_free (ecsl_test_run (strcmp (op, "-D") == 0, argv));
    }
}

static void
child_setup (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
dump_agent_log (Fixture *fx)
{
  g_autofree char *log = NULL;

  if (fx->agent_log != NULL && g_file_get_contents (fx->agent_log, &log, NULL, NULL))
    g_printerr ("---- ecs-agent log (%s) ----\n%s----\n", fx->agent_log, log);
}

static void
agent_exited_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  ((Fixture *) user_data)->agent_exited = TRUE;
}

static void
start_agent (Fixture *fx)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autofree char *env_path = g_build_filename (fx->server->state_dir, "agent.env", NULL);
  g_autofree char *env = NULL;
  g_autofree char *data = g_build_filename (fx->dir, "data", NULL);
  g_autofree char *stdout_path = g_build_filename (fx->dir, "agent.out", NULL);
  g_auto (GStrv) lines = NULL;
  g_autoptr(GError) error = NULL;
  const char *exe = g_getenv ("ECSA_TEST_ECS_AGENT");
  const char *argv[] = { exe, NULL };
  g_autofree char *introspection_port = g_strdup_printf ("%u", fx->introspection_port);

  g_assert_nonnull (exe);
  g_assert_true (g_file_get_contents (env_path, &env, NULL, NULL));
  for (const char *const *v = (const char *const[]){ "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                                      "AWS_PROFILE", "ECS_BACKEND_HOST", NULL };
       *v != NULL; v++)
    g_subprocess_launcher_unsetenv (launcher, *v);
  lines = g_strsplit (env, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) kv = NULL;
      if (lines[i][0] == '#' || strchr (lines[i], '=') == NULL)
        continue;
      kv = g_strsplit (lines[i], "=", 2);
      g_subprocess_launcher_setenv (launcher, kv[0], kv[1], TRUE);
    }
  fx->agent_log = g_build_filename (fx->dir, "ecs-agent.log", NULL);
  g_subprocess_launcher_setenv (launcher, "ECS_CLUSTER", fx->cluster, TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_DATADIR", data, TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_CHECKPOINT", "true", TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_LOGLEVEL", "debug", TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_LOGFILE", fx->agent_log, TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/ecs-agent.json", TRUE);
  g_subprocess_launcher_setenv (launcher, "HOME", fx->dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "ECSA_TEST_INTROSPECTION_PORT", introspection_port, TRUE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  g_subprocess_launcher_set_stdout_file_path (launcher, stdout_path);
  g_subprocess_launcher_set_stderr_file_path (launcher, stdout_path);
  fx->agent = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (fx->agent, NULL, agent_exited_cb, fx);
}

static gboolean
dead_owner (const char *name)
{
  /* "ecsa-t<pid>-…": is <pid> gone? */
  g_autofree char *proc = NULL;
  guint64 pid;

  if (!g_str_has_prefix (name, "ecsa-t"))
    return FALSE;
  pid = g_ascii_strtoull (name + 6, NULL, 10);
  proc = g_strdup_printf ("/proc/%" G_GUINT64_FORMAT, pid);
  return pid != 0 && !g_file_test (proc, G_FILE_TEST_EXISTS);
}

/* What an earlier run left when an assertion killed it before its teardown: its guard rules and
 * its task containers (the agent does not stop tasks when it is killed). */
static void
reap_leftovers (void)
{
  const char *const save[] = { "iptables-save", NULL };
  const char *const ps[] = { "docker", "ps", "-a", "--format", "{{.ID}} {{.Label \"com.amazonaws.ecs.cluster\"}}", NULL };
  g_autofree char *rules = ecsl_test_run (FALSE, save);
  g_autofree char *containers = ecsl_test_run (TRUE, ps);
  g_auto (GStrv) lines = g_strsplit (rules, "\n", -1);
  g_auto (GStrv) clines = g_strsplit (containers != NULL ? containers : "", "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) words = g_strsplit (lines[i], " ", -1);
      const char *comment = NULL;
      const char *chain = NULL;
      for (guint k = 0; words[k] != NULL; k++)
        {
          if (strcmp (words[k], "-A") == 0 && words[k + 1] != NULL)
            chain = words[k + 1];
          if (strcmp (words[k], "--comment") == 0 && words[k + 1] != NULL)
            comment = words[k + 1];
        }
      if (chain != NULL && comment != NULL && g_str_has_suffix (comment, "-ecsl-guard") && dead_owner (comment))
        {
          const char *const del[] = { "iptables", "-D", chain, "-d", "169.254.169.254/32", "-m", "comment", "--comment",
                                      comment, "-j", "REJECT", NULL };
          g_free (ecsl_test_run (TRUE, del));
        }
    }
  for (guint i = 0; clines[i] != NULL; i++)
    {
      g_auto (GStrv) words = g_strsplit (clines[i], " ", 2);
      if (words[0] != NULL && words[1] != NULL && g_str_has_suffix (words[1], "-e2e") && dead_owner (words[1]))
        {
          const char *const rm[] = { "docker", "rm", "-f", words[0], NULL };
          g_free (ecsl_test_run (TRUE, rm));
        }
    }
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmpl = g_strdup_printf ("ecsa-t%d-ecsl-e2e-XXXXXX", (int) getpid ());

  reap_leftovers ();
  fx->dir = g_dir_make_tmp (tmpl, &error);
  g_assert_no_error (error);
  fx->cluster = g_strdup_printf ("ecsa-t%d-e2e", (int) getpid ());
  fx->guard_comment = g_strdup_printf ("ecsa-t%d-ecsl-guard", (int) getpid ());
  guard (fx, "-I");
  fx->server = ecsl_test_server_start (NULL, NULL);
  fx->port = ecsl_test_free_port ();
  do
    fx->introspection_port = ecsl_test_free_port ();
  while (fx->introspection_port == fx->port);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autofree char *filter = g_strdup_printf ("label=com.amazonaws.ecs.cluster=%s", fx->cluster);
  const char *const ps[] = { "docker", "ps", "-aq", "--filter", filter, NULL };
  g_autofree char *ids = NULL;

  if (fx->agent != NULL && !fx->agent_exited)
    {
      g_subprocess_send_signal (fx->agent, SIGTERM);
      ecsl_test_wait_flag (&fx->agent_exited, 60000, "ecs-agent to stop");
    }
  if (g_test_failed ())
    dump_agent_log (fx);
  ids = ecsl_test_run (TRUE, ps);
  if (ids != NULL && *ids != '\0')
    {
      g_auto (GStrv) list = g_strsplit (ids, "\n", -1);
      for (guint i = 0; list[i] != NULL; i++)
        {
          const char *const rm[] = { "docker", "rm", "-f", list[i], NULL };
          g_free (ecsl_test_run (TRUE, rm));
        }
    }
  ecsl_test_server_stop (fx->server, FALSE);
  guard (fx, "-D");
  ecsa_test_rmdir_recursive (fx->dir);
  g_clear_object (&fx->agent);
  g_free (fx->dir);
  g_free (fx->cluster);
  g_free (fx->guard_comment);
  g_free (fx->agent_log);
}

static void
check_agent_alive (Fixture *fx)
{
  if (fx->agent_exited)
    {
      dump_agent_log (fx);
      g_error ("ecs-agent exited (status %d)", g_subprocess_get_status (fx->agent));
    }
}

/* The container instance the agent registered, once its ACS session is up. */
static char *
wait_registered (Fixture *fx)
{
  for (int i = 0; i < STEP_TIMEOUT_S * 4; i++)
    {
      g_autoptr(JsonNode) list = ecsl_test_ecs (fx->server, "ListContainerInstances", "{\"cluster\":\"%s\"}",
                                                fx->cluster);
      const char *arn = ecsl_test_get_string (list, "containerInstanceArns/0");
      if (arn != NULL)
        {
          g_autoptr(JsonNode) d = ecsl_test_ecs (fx->server, "DescribeContainerInstances",
                                                 "{\"cluster\":\"%s\",\"containerInstances\":[\"%s\"]}", fx->cluster, arn);
          if (json_node_get_boolean (ecsl_test_get (d, "containerInstances/0/agentConnected")))
            return g_strdup (arn);
        }
      check_agent_alive (fx);
      ecsl_test_pause (250);
    }
  dump_agent_log (fx);
  g_error ("the agent did not register and connect in %d s", STEP_TIMEOUT_S);
  return NULL;
}

static JsonNode *
wait_task (Fixture *fx, const char *task_arn, const char *status)
{
  for (int i = 0; i < STEP_TIMEOUT_S * 4; i++)
    {
      JsonNode *d = ecsl_test_ecs (fx->server, "DescribeTasks", "{\"cluster\":\"%s\",\"tasks\":[\"%s\"]}", fx->cluster,
                                   task_arn);
      if (g_strcmp0 (ecsl_test_get_string (d, "tasks/0/lastStatus"), status) == 0)
        return d;
      json_node_unref (d);
      check_agent_alive (fx);
      ecsl_test_pause (250);
    }
  dump_agent_log (fx);
  g_error ("task %s did not reach %s in %d s", task_arn, status, STEP_TIMEOUT_S);
  return NULL;
}

/* GET the agent's introspection API. */
static JsonNode *
introspect (Fixture *fx, const char *path)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", fx->introspection_port, path);
  g_autofree char *body = ecsl_test_http_get_url (url);
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (body, &error);

  if (node == NULL)
    g_error ("%s: not JSON (%s): %s", url, error != NULL ? error->message : "empty", body);
  return node;
}

/* Whether Docker runs this container: "true" or "false" (docker inspect). */
static char *
docker_running (const char *id)
{
  const char *const argv[] = { "docker", "inspect", "-f", "{{.State.Running}}", id, NULL };

  return ecsl_test_run (FALSE, argv);
}

static void
test_task_path (Fixture *fx, gconstpointer data)
{
  g_autofree char *td_json = g_strdup_printf (
    "{\"family\":\"ecsl-e2e-httpd\",\"containerDefinitions\":[{\"name\":\"web\",\"image\":\"ecsa-test/busybox:latest\","
    "\"memory\":32,\"essential\":true,\"entryPoint\":[\"sh\",\"-c\"],"
    "\"command\":[\"mkdir -p /www && echo hello-from-ecs-agent > /www/index.html; trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait\"],"
    "\"portMappings\":[{\"containerPort\":80,\"hostPort\":%u,\"protocol\":\"tcp\"}]}]}",
    fx->port);
  g_autofree char *instance_arn = NULL;
  g_autofree char *task_arn = NULL;
  g_autofree char *page = NULL;
  g_autoptr(JsonNode) out = NULL;
  g_autoptr(JsonNode) running = NULL;
  g_autoptr(JsonNode) stopped = NULL;
  g_autoptr(JsonNode) status = NULL;
  g_autoptr(JsonNode) metadata = NULL;
  g_autoptr(JsonNode) tasks = NULL;
  g_autofree char *docker_id = NULL;
  g_autofree char *running_now = NULL;
  g_autofree char *stopped_now = NULL;
  JsonArray *instances;
  JsonArray *agent_tasks;
  int rc;

  /* The cluster and the task definition by signed calls (the CLI's own commands for them are
   * covered by ecs-local-api-*): the AWS CLI drives the task path, each call costs a second of CPU. */
  json_node_unref (ecsl_test_ecs (fx->server, "CreateCluster", "{\"clusterName\":\"%s\"}", fx->cluster));
  start_agent (fx);
  instance_arn = wait_registered (fx);

  json_node_unref (ecsl_test_ecs (fx->server, "RegisterTaskDefinition", "%s", td_json));
  rc = ecsl_test_aws (fx->server, NULL, &out, NULL, "ecs", "run-task", "--cluster", fx->cluster, "--task-definition",
                      "ecsl-e2e-httpd", NULL);
  g_assert_cmpint (rc, ==, 0);
  task_arn = g_strdup (ecsl_test_get_string (out, "tasks/0/taskArn"));
  if (task_arn == NULL)
    g_error ("run-task placed nothing: %s", ecsl_test_get_string (out, "failures/0/reason"));
  g_clear_pointer (&out, json_node_unref);

  running = wait_task (fx, task_arn, "RUNNING");
  rc = ecsl_test_aws (fx->server, NULL, &out, NULL, "ecs", "describe-tasks", "--cluster", fx->cluster, "--tasks",
                      task_arn, NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/lastStatus"), ==, "RUNNING");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/containerInstanceArn"), ==, instance_arn);
  g_assert_cmpint (ecsl_test_get_int (out, "tasks/0/containers/0/networkBindings/0/hostPort"), ==, fx->port);
  g_assert_cmpint (ecsl_test_get_int (out, "tasks/0/containers/0/networkBindings/0/containerPort"), ==, 80);
  g_clear_pointer (&out, json_node_unref);

  page = ecsl_test_http_get (fx->port);
  g_assert_cmpstr (g_strstrip (page), ==, "hello-from-ecs-agent");

  /* The agent's own view: introspection names the instance and lists the task and its container. */
  metadata = introspect (fx, "/v1/metadata");
  g_assert_cmpstr (ecsl_test_get_string (metadata, "Cluster"), ==, fx->cluster);
  g_assert_cmpstr (ecsl_test_get_string (metadata, "ContainerInstanceArn"), ==, instance_arn);
  g_assert_true (g_str_has_prefix (ecsl_test_get_string (metadata, "Version"), "Amazon ECS Agent - v1.16.2"));
  tasks = introspect (fx, "/v1/tasks");
  agent_tasks = json_node_get_array (ecsl_test_get (tasks, "Tasks"));
  for (guint i = 0; i < json_array_get_length (agent_tasks); i++)
    {
      JsonNode *t = json_array_get_element (agent_tasks, i);
      if (g_strcmp0 (ecsl_test_get_string (t, "Arn"), task_arn) != 0)
        continue;
      g_assert_cmpstr (ecsl_test_get_string (t, "KnownStatus"), ==, "RUNNING");
      g_assert_cmpstr (ecsl_test_get_string (t, "DesiredStatus"), ==, "RUNNING");
      g_assert_cmpstr (ecsl_test_get_string (t, "Family"), ==, "ecsl-e2e-httpd");
      g_assert_cmpstr (ecsl_test_get_string (t, "Containers/0/Name"), ==, "web");
      docker_id = g_strdup (ecsl_test_get_string (t, "Containers/0/DockerId"));
    }
  if (docker_id == NULL)
    g_error ("the agent's /v1/tasks does not list %s", task_arn);
  running_now = docker_running (docker_id);
  g_assert_cmpstr (running_now, ==, "true");

  rc = ecsl_test_aws (fx->server, NULL, NULL, NULL, "ecs", "stop-task", "--cluster", fx->cluster, "--task", task_arn,
                      NULL);
  g_assert_cmpint (rc, ==, 0);
  stopped = wait_task (fx, task_arn, "STOPPED");
  rc = ecsl_test_aws (fx->server, NULL, &out, NULL, "ecs", "describe-tasks", "--cluster", fx->cluster, "--tasks",
                      task_arn, NULL);
  g_assert_cmpint (rc, ==, 0);
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/lastStatus"), ==, "STOPPED");
  g_assert_cmpstr (ecsl_test_get_string (out, "tasks/0/stopCode"), ==, "UserInitiated");
  g_assert_nonnull (ecsl_test_get (out, "tasks/0/containers/0/exitCode"));
  g_clear_pointer (&out, json_node_unref);
  stopped_now = docker_running (docker_id);
  g_assert_cmpstr (stopped_now, ==, "false");

  /* The agent acknowledged both payloads over ACS. */
  status = ecsl_test_view (fx->server, "/_ecs-local/v1/status");
  instances = json_node_get_array (ecsl_test_get (status, "containerInstances"));
  g_assert_cmpuint (json_array_get_length (instances), ==, 1);
  g_assert_cmpint (ecsl_test_get_int (json_array_get_element (instances, 0), "acks"), >=, 2);
  g_assert_cmpint (ecsl_test_get_int (json_array_get_element (instances, 0), "unacknowledged"), ==, 0);

  ecsl_test_check_trace (fx->server);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/ecs-local/e2e/task-path", Fixture, NULL, fixture_setup, test_task_path, fixture_teardown);
  return g_test_run ();
}

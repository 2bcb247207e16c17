/* test-credentials-agent.c: the ecs-agent binary starts its HTTP servers ("servers" start-up step):
 * the introspection API always, the credentials endpoint and its audit log with
 * ECS_ENABLE_TASK_IAM_ROLE; a port that is taken never stops the agent (it keeps trying, as v1.16.2).
 * The agent runs on free ports (ECSA_TEST_*_PORT) against the real dockerd.
 * SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "ecsa-test-acs.h"
#include "ecsa-test-iam.h"
#include "ecsa-test-utils.h"

#define TIMEOUT_MS 60000

/* The agent registers before it starts its servers: a loopback ECS API (its poll endpoints refuse
 * connections, so the sessions just back off). */
static EcsaTestEcs *ecs;

typedef struct
{
  GSubprocess *proc;
  GDataInputStream *out;
  GString *seen;
  gboolean eof;
  gboolean exited;
  guint16 introspection_port;
  guint16 credentials_port;
  gboolean started;
  gboolean introspection_listening;
  guint listen_retries_seen;
} Agent;

static void read_next(Agent *a);

static void
parse_port(const char *line, const char *marker, guint16 *out_port)
{
  const char *p = strstr(line, marker);

  if (p != NULL)
    *out_port = (guint16)atoi(p + strlen(marker));
}

static void
read_line_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Agent *a = user_data;
  g_autofree char *line = g_data_input_stream_read_line_finish(a->out, result, NULL, NULL);

  if (line == NULL)
    {
      a->eof = TRUE;
      return;
    }
  g_string_append_printf(a->seen, "%s\n", line);
  parse_port(line, "introspection API listening on *:", &a->introspection_port);
  a->introspection_listening = a->introspection_port != 0;
  parse_port(line, "credentials endpoint listening on 127.0.0.1:", &a->credentials_port);
  if (strstr(line, "] ecs-agent ") != NULL && strstr(line, " started") != NULL)
    a->started = TRUE;
  if (strstr(line, "[ERROR] introspection API: ") != NULL && strstr(line, "trying again") != NULL)
    a->listen_retries_seen++;
  read_next(a);
}

static void
read_next(Agent *a)
{
  g_data_input_stream_read_line_async(a->out, G_PRIORITY_DEFAULT, NULL, read_line_cb, a);
}

static void
wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Agent *a = user_data;

  g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
  a->exited = TRUE;
}

static void
agent_start(Agent *a, const char *dir, const char *const *extra_env)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autofree char *data_dir = g_build_filename(dir, "data", NULL);
  g_autofree char *nofile = g_build_filename(dir, "no-such-config.json", NULL);
  g_autofree char *cluster = g_strdup_printf("ecsa-t%d-iam", getpid());
  g_autoptr(GError) error = NULL;
  const char *argv[] = { g_getenv("ECSA_TEST_ECS_AGENT"), NULL };

  g_subprocess_launcher_setenv(launcher, "AWS_DEFAULT_REGION", "us-west-2", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_CLUSTER", cluster, TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_DATADIR", data_dir, TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_AGENT_CONFIG_FILE_PATH", nofile, TRUE);
  g_subprocess_launcher_setenv(launcher, "DOCKER_HOST", "unix:///var/run/docker.sock", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_LOGLEVEL", "debug", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_DISABLE_IMAGE_CLEANUP", "true", TRUE);
  g_subprocess_launcher_unsetenv(launcher, "ECS_ENABLE_TASK_IAM_ROLE");
  g_subprocess_launcher_unsetenv(launcher, "ECS_AUDIT_LOGFILE");
  g_subprocess_launcher_setenv(launcher, "AWS_EC2_METADATA_DISABLED", "true", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_BACKEND_HOST", ecs->url, TRUE);
  g_subprocess_launcher_setenv(launcher, "AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  g_subprocess_launcher_setenv(launcher, "AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  g_subprocess_launcher_unsetenv(launcher, "AWS_SESSION_TOKEN");
  g_subprocess_launcher_setenv(launcher, "AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", TRUE);
  for (guint i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
    {
      g_auto(GStrv) kv = g_strsplit(extra_env[i], "=", 2);
      g_subprocess_launcher_setenv(launcher, kv[0], kv[1], TRUE);
    }
  g_assert_nonnull(argv[0]);
  ecsa_test_launcher_die_with_parent(launcher); /* a failed test leaves no agent behind */
  a->proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
  g_assert_no_error(error);
  a->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(a->proc));
  a->seen = g_string_new(NULL);
  read_next(a);
  g_subprocess_wait_async(a->proc, NULL, wait_cb, a);
  ecsa_test_wait_for_flag(NULL, &a->started, TIMEOUT_MS);
}

static void
agent_stop(Agent *a)
{
  g_subprocess_send_signal(a->proc, SIGTERM);
  ecsa_test_wait_for_flag(NULL, &a->exited, TIMEOUT_MS);
  ecsa_test_wait_for_flag(NULL, &a->eof, TIMEOUT_MS);
  g_assert_true(g_subprocess_get_if_exited(a->proc));
  g_assert_cmpint(g_subprocess_get_exit_status(a->proc), ==, 0);
}

static void
agent_clear(Agent *a)
{
  g_clear_object(&a->out);
  g_clear_object(&a->proc);
  if (a->seen != NULL)
    g_string_free(g_steal_pointer(&a->seen), TRUE);
}

static EcsaTestHttpResult *
get(guint16 port, const char *path)
{
  g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u%s", port, path);

  return ecsa_test_http_request("GET", url, "ecsa-test", TIMEOUT_MS);
}

static void
test_both_servers(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autofree char *audit_path = g_build_filename(dir, "log", "audit.log", NULL);
  g_autofree char *audit_env = g_strdup_printf("ECS_AUDIT_LOGFILE=%s", audit_path);
  g_autofree char *cluster = g_strdup_printf("\"Cluster\":\"ecsa-t%d-iam\"", getpid());
  const char *env[] = { "ECS_ENABLE_TASK_IAM_ROLE=true", audit_env, NULL };
  g_autoptr(EcsaTestHttpResult) metadata = NULL;
  g_autoptr(EcsaTestHttpResult) tasks = NULL;
  g_autoptr(EcsaTestHttpResult) unknown = NULL;
  g_autoptr(EcsaTestHttpResult) no_id = NULL;
  g_autofree char *audit = NULL;
  g_auto(GStrv) lines = NULL;
  Agent a = { 0 };

  agent_start(&a, dir, env);
  /* both listen on the ports the test environment chose */
  g_assert_cmpuint(a.introspection_port, >, 0);
  g_assert_cmpuint(a.credentials_port, >, 0);

  metadata = get(a.introspection_port, "/v1/metadata");
  g_assert_cmpuint(metadata->status, ==, 200);
  g_assert_true(ecsa_test_contains(metadata->body, cluster));
  /* registered before the servers start: the loopback ECS's container instance */
  g_assert_true(ecsa_test_contains(metadata->body, "\"ContainerInstanceArn\":\"arn:aws:ecs:us-west-2:"));
  g_assert_true(ecsa_test_contains(metadata->body, "\"Version\":\"Amazon ECS Agent - v1.16.2 "));
  /* the engine's tasks: none for this fresh cluster */
  tasks = get(a.introspection_port, "/v1/tasks");
  g_assert_cmpuint(tasks->status, ==, 200);
  g_assert_cmpstr(tasks->body, ==, "{\"Tasks\":[]}");

  unknown = get(a.credentials_port, "/v2/credentials/8f1d2e3c-0000-4000-8000-000000000000");
  g_assert_cmpuint(unknown->status, ==, 400);
  g_assert_cmpstr(unknown->body, ==,
                  "{\"code\":\"InvalidIdInRequest\",\"message\":\"CredentialsV2Request: ID not found\"}");
  no_id = get(a.credentials_port, "/v1/credentials");
  g_assert_cmpuint(no_id->status, ==, 400);
  g_assert_true(ecsa_test_contains(no_id->body, "NoIdInRequest"));

  agent_stop(&a);
  g_assert_true(ecsa_test_contains(a.seen->str, "ecs-agent stopped (exit code 0)"));
  /* the audit log got both answers (written before the agent exited) */
  g_assert_true(g_file_get_contents(audit_path, &audit, NULL, NULL));
  lines = g_strsplit(g_strchomp(audit), "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 2);
  g_assert_true(ecsa_test_contains(lines[0], " 400 127.0.0.1:"));
  g_assert_true(ecsa_test_contains(lines[0], "\"/v2/credentials\" \"ecsa-test\" - GetCredentials 2 ecsa-t"));
  g_assert_false(ecsa_test_contains(audit, "8f1d2e3c"));
  agent_clear(&a);
  ecsa_test_rmdir_recursive(dir);
}

/* Without ECS_ENABLE_TASK_IAM_ROLE there is no credentials endpoint (v1.16.2 served it anyway, but
 * nothing could be in it without task roles: this agent does not open the port). */
static void
test_no_task_roles(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  Agent a = { 0 };

  agent_start(&a, dir, NULL);
  g_assert_cmpuint(a.introspection_port, >, 0);
  g_assert_cmpuint(a.credentials_port, ==, 0);
  g_assert_false(ecsa_test_contains(a.seen->str, "credentials endpoint"));
  agent_stop(&a);
  agent_clear(&a);
  ecsa_test_rmdir_recursive(dir);
}

/* A taken port: the agent starts anyway, says so, and listens once the port is free. */
static void
test_port_taken(void)
{
  g_autofree char *dir = ecsa_test_mkdtemp();
  g_autoptr(GSocket) squatter = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) any = g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new(any, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *port_env = NULL;
  g_autoptr(EcsaTestHttpResult) metadata = NULL;
  const char *env[] = { NULL, NULL };
  guint16 port;
  Agent a = { 0 };

  g_assert_true(g_socket_bind(squatter, address, FALSE, &error));
  g_assert_true(g_socket_listen(squatter, &error));
  bound = g_socket_get_local_address(squatter, &error);
  g_assert_no_error(error);
  port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  port_env = g_strdup_printf("ECSA_TEST_INTROSPECTION_PORT=%u", port);
  env[0] = port_env;

  agent_start(&a, dir, env);
  g_assert_cmpuint(a.listen_retries_seen, >=, 1);
  g_assert_cmpuint(a.introspection_port, ==, 0);
  g_socket_close(squatter, NULL);
  /* the next try (about a second later) gets it */
  ecsa_test_wait_for_flag(NULL, &a.introspection_listening, TIMEOUT_MS);
  g_assert_cmpuint(a.introspection_port, ==, port);
  metadata = get(port, "/v1/metadata");
  g_assert_cmpuint(metadata->status, ==, 200);
  agent_stop(&a);
  g_assert_true(ecsa_test_contains(a.seen->str, "introspection API: listening after"));
  agent_clear(&a);
  ecsa_test_rmdir_recursive(dir);
}

int
main(int argc, char **argv)
{
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func("/credentials-agent/both-servers", test_both_servers);
  g_test_add_func("/credentials-agent/no-task-roles", test_no_task_roles);
  g_test_add_func("/credentials-agent/port-taken", test_port_taken);
  ecs = ecsa_test_ecs_new(FALSE, NULL);
  g_free(ecs->acs_endpoint);
  ecs->acs_endpoint = g_strdup("http://127.0.0.1:9/");
  g_free(ecs->tcs_endpoint);
  ecs->tcs_endpoint = g_strdup("http://127.0.0.1:9/");
  rc = g_test_run();
  ecsa_test_ecs_free(ecs);
  return rc;
}

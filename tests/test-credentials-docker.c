/* test-credentials-docker.c: the credentials endpoint on its real port (51679) behind the README's
 * iptables rules, installed and removed with tools/ecs-iptables, with real containers:
 *  - bridge-mode containers fetch their own task's credentials at 169.254.170.2 (busybox nc) and are
 *    refused another task's and their own execution role;
 *  - a host-network container gets its task's credentials only with
 *    ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST, and never another task's;
 *  - botocore's container provider on the host (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, through the
 *    OUTPUT REDIRECT) gets a task's credentials;
 *  - ecs-iptables add/remove are idempotent and leave the host as they found it.
 * Fixed port and host-wide rules: the test holds /tmp/ecsa-fixed-ports.lock (is_parallel: false).
 * SPDX-License-Identifier: Apache-2.0 */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "ecsa-audit-log.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-credentials-server.h"
#include "ecsa-log.h"
#include "ecsa-test-docker.h"
#include "ecsa-test-iam.h"
#include "ecsa-test-utils.h"

#define TIMEOUT_MS 120000
#define STATE_DIR "/tmp/ecsa-iam-iptables-state"
#define TASK_A "arn:aws:ecs:us-west-2:123456789012:task/aaaaaaaa-d0c4-4e2a-9a11-000000000001"
#define TASK_B "arn:aws:ecs:us-west-2:123456789012:task/bbbbbbbb-d0c4-4e2a-9a11-000000000002"
#define TASK_C "arn:aws:ecs:us-west-2:123456789012:task/cccccccc-d0c4-4e2a-9a11-000000000003"

typedef struct
{
  const char *suffix; /* container name: <prefix><suffix> */
  const char *task;
  const char *network;
  char *id;
  int pid;
} Container;

typedef struct
{
  int lock_fd;
  const char *prefix;
  char *guard_comment;
  gboolean guard_added;
  char *dir;
  char *state_dir;
  char *iptables;
  char *audit_path;
  char *id_a, *id_a_exec, *id_b, *id_c;
  Container containers[4];
  EcsaCredentialsManager *manager;
  EcsaAuditLog *audit;
  EcsaTestTasks *tasks;
  EcsaCredentialsServer *server;
  GString *log;
  char *route_localnet_before;
  gboolean rules_were_there; /* the host's own (README) rules: left in place */
} Fixture;

static void
capture_cb(EcsaLogLevel level, const char *line, gpointer user_data)
{
  g_string_append(user_data, line);
  g_string_append_c(user_data, '\n');
}

static void
set_credentials(Fixture *fx, const char *id, const char *seed, const char *task, const char *role)
{
  g_autofree char *json = ecsa_test_iam_credentials_json(id, seed);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data(parser, json, -1, &error);
  g_assert_no_error(error);
  g_assert_true(ecsa_credentials_manager_set_from_acs(fx->manager, json_node_get_object(json_parser_get_root(parser)),
                                                      task, role, &error));
  g_assert_no_error(error);
}

/* IMDS is off-box: nothing here may reach it, whatever a client falls back to. */
static void
guard(Fixture *fx, const char *op)
{
  static const char *const chains[] = { "OUTPUT", "FORWARD" };

  for (guint i = 0; i < G_N_ELEMENTS(chains); i++)
    {
      const char *argv[]
        = { "iptables",        "-w", "10",     op,  chains[i], "-d", "169.254.169.254", "-m", "comment", "--comment",
            fx->guard_comment, "-j", "REJECT", NULL };
      g_free(ecsa_test_spawn_ok(argv, TIMEOUT_MS));
    }
}

static int
iptables_script(Fixture *fx, const char *command, char **out_stdout)
{
  const char *argv[] = { "env", NULL, fx->iptables, command, NULL };
  g_autofree char *state = g_strdup_printf("ECS_IPTABLES_STATE_DIR=%s", fx->state_dir);
  g_autofree char *err = NULL;
  int status;

  argv[1] = state;
  status = ecsa_test_spawn(argv, NULL, TIMEOUT_MS, out_stdout, &err);
  g_test_message("ecs-iptables %s -> %d %s", command, status, err);
  return status;
}

static char *
read_route_localnet(void)
{
  g_autofree char *text = NULL;

  g_assert_true(g_file_get_contents("/proc/sys/net/ipv4/conf/all/route_localnet", &text, NULL, NULL));
  return g_strstrip(g_steal_pointer(&text));
}

static void
start_server(Fixture *fx, gboolean host_network_allowed)
{
  g_autoptr(GError) error = NULL;

  if (fx->server != NULL)
    {
      ecsa_credentials_server_stop(fx->server);
      g_clear_object(&fx->server);
    }
  fx->server
    = ecsa_credentials_server_new(fx->manager, fx->audit, ecsa_test_tasks_source(fx->tasks), host_network_allowed);
  if (!ecsa_credentials_server_listen(fx->server, ECSA_CREDENTIALS_PORT, &error))
    g_error("cannot listen on the credentials port (is an agent running here?): %s", error->message);
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) script = g_string_new("set -e\n");
  const char *sh[] = { "sh", "-c", NULL, NULL };
  g_autofree char *out = NULL;
  Container templ[] = {
    { "a1", TASK_A, "bridge" },
    { "a2", TASK_A, "bridge" },
    { "b1", TASK_B, "bridge" },
    { "h1", TASK_C, "host" },
  };

  g_assert_cmpuint(getuid(), ==, 0);
  ecsa_test_docker_require();
  fx->log = g_string_new(NULL);
  ecsa_log_set_capture(capture_cb, fx->log);
  ecsa_log_set_level(ECSA_LOG_DEBUG);

  fx->lock_fd = ecsa_test_lock_fixed_ports(TIMEOUT_MS);
  fx->prefix = ecsa_test_docker_prefix("iam");
  ecsa_test_docker_cleanup(fx->prefix);
  fx->guard_comment = g_strdup_printf("%sguard", fx->prefix);
  ecsa_test_iam_reap_guards("iam-guard");
  guard(fx, "-I");
  fx->guard_added = TRUE;

  fx->dir = ecsa_test_mkdtemp();
  /* Shared by every run (under the lock): a run that died with the rules added left its record
   * here, and the next one removes them and restores route_localnet from it. */
  fx->state_dir = g_strdup(STATE_DIR);
  fx->audit_path = g_build_filename(fx->dir, "audit.log", NULL);
  fx->iptables = ecsa_test_ecs_iptables_path();
  {
    g_autofree char *record = g_build_filename(fx->state_dir, "route_localnet.saved", NULL);
    if (g_file_test(record, G_FILE_TEST_EXISTS))
      g_assert_cmpint(iptables_script(fx, "remove", NULL), ==, 0);
  }
  fx->rules_were_there = iptables_script(fx, "status", NULL) == 0;
  fx->route_localnet_before = read_route_localnet();
  fx->id_a = g_uuid_string_random();
  fx->id_a_exec = g_uuid_string_random();
  fx->id_b = g_uuid_string_random();
  fx->id_c = g_uuid_string_random();

  /* four containers at once (Docker is slow to start them one by one) */
  memcpy(fx->containers, templ, sizeof templ);
  for (guint i = 0; i < G_N_ELEMENTS(fx->containers); i++)
    g_string_append_printf(script, "docker run -d --name %s%s --network %s %s >/dev/null &\n", fx->prefix,
                           fx->containers[i].suffix, fx->containers[i].network, ECSA_TEST_IMAGE);
  g_string_append(script, "for j in $(jobs -p); do wait $j; done\n");
  sh[2] = script->str;
  g_free(ecsa_test_spawn_ok(sh, TIMEOUT_MS));

  fx->manager = ecsa_credentials_manager_new();
  fx->audit = ecsa_audit_log_new(fx->audit_path, FALSE, "ecsa-docker-cluster");
  fx->tasks = ecsa_test_tasks_new();
  ecsa_test_tasks_add(fx->tasks, TASK_A, "fa", "1", "bridge", "RUNNING", "RUNNING");
  ecsa_test_tasks_set_credentials(fx->tasks, TASK_A, fx->id_a, fx->id_a_exec);
  ecsa_test_tasks_add(fx->tasks, TASK_B, "fb", "1", "bridge", "RUNNING", "RUNNING");
  ecsa_test_tasks_set_credentials(fx->tasks, TASK_B, fx->id_b, NULL);
  ecsa_test_tasks_add(fx->tasks, TASK_C, "fc", "1", "host", "RUNNING", "RUNNING");
  ecsa_test_tasks_set_credentials(fx->tasks, TASK_C, fx->id_c, NULL);
  for (guint i = 0; i < G_N_ELEMENTS(fx->containers); i++)
    {
      Container *c = &fx->containers[i];
      g_autofree char *name = g_strconcat(fx->prefix, c->suffix, NULL);
      g_autoptr(JsonObject) inspect = ecsa_test_docker_inspect(name);

      g_assert_nonnull(inspect);
      c->id = g_strdup(json_object_get_string_member(inspect, "Id"));
      c->pid = (int)json_object_get_int_member(json_object_get_object_member(inspect, "State"), "Pid");
      g_assert_cmpint(c->pid, >, 0);
      ecsa_test_tasks_add_container(fx->tasks, c->task, c->suffix, c->id, name, c->pid);
    }
  set_credentials(fx, fx->id_a, "dockera", TASK_A, ECSA_CREDENTIALS_ROLE_TASK);
  set_credentials(fx, fx->id_a_exec, "dockeraexec", TASK_A, ECSA_CREDENTIALS_ROLE_EXECUTION);
  set_credentials(fx, fx->id_b, "dockerb", TASK_B, ECSA_CREDENTIALS_ROLE_TASK);
  set_credentials(fx, fx->id_c, "dockerc", TASK_C, ECSA_CREDENTIALS_ROLE_TASK);
  start_server(fx, FALSE);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_autofree char *route_localnet_after = NULL;

  if (fx->server != NULL)
    ecsa_credentials_server_stop(fx->server);
  g_clear_object(&fx->server);
  g_clear_object(&fx->audit);
  g_clear_object(&fx->manager);
  g_clear_pointer(&fx->tasks, ecsa_test_tasks_free);
  ecsa_test_docker_cleanup(fx->prefix);
  /* whatever happened, the rules go (idempotent) */
  g_assert_cmpint(iptables_script(fx, "remove", NULL), ==, 0);
  if (fx->rules_were_there)
    {
      /* put the host's rules back as they were, without a record of ours */
      g_autofree char *record = g_build_filename(fx->state_dir, "route_localnet.saved", NULL);
      g_assert_cmpint(iptables_script(fx, "add", NULL), ==, 0);
      g_unlink(record);
    }
  route_localnet_after = read_route_localnet();
  g_assert_cmpstr(route_localnet_after, ==, fx->route_localnet_before);
  if (fx->guard_added)
    guard(fx, "-D");
  ecsa_test_unlock_fixed_ports(fx->lock_fd);

  for (guint i = 0; i < G_N_ELEMENTS(fx->containers); i++)
    g_free(fx->containers[i].id);
  ecsa_log_set_capture(NULL, NULL);
  g_string_free(fx->log, TRUE);
  ecsa_test_rmdir_recursive(fx->dir);
  g_free(fx->dir);
  g_free(fx->state_dir);
  g_free(fx->iptables);
  g_free(fx->audit_path);
  g_free(fx->guard_comment);
  g_free(fx->route_localnet_before);
  g_free(fx->id_a);
  g_free(fx->id_a_exec);
  g_free(fx->id_b);
  g_free(fx->id_c);
}

/* GET /v2/credentials/<id> at 169.254.170.2 from inside a container with busybox nc, for each ID
 * (one docker exec: they are slow on a loaded machine). Returns the replies, in order. */
#define SEPARATOR "=====SEPARATOR====="

static GStrv
fetch_from(Fixture *fx, const char *container_suffix, const char *const *ids)
{
  g_autofree char *name = g_strconcat(fx->prefix, container_suffix, NULL);
  g_autoptr(GString) cmd = g_string_new(NULL);
  const char *argv[] = { "docker", "exec", name, "sh", "-c", NULL, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;
  GStrv replies;

  for (guint i = 0; ids[i] != NULL; i++)
    g_string_append_printf(cmd,
                           "printf 'GET /v2/credentials/%s HTTP/1.0\\r\\n\\r\\n' | nc -w 20 169.254.170.2 80; "
                           "echo; echo " SEPARATOR "; ",
                           ids[i]);
  argv[5] = cmd->str;
  status = ecsa_test_spawn(argv, NULL, TIMEOUT_MS, &out, &err);
  g_test_message("%s asked for %u IDs: %d %s", container_suffix, g_strv_length((GStrv)ids), status, err);
  replies = g_strsplit(out, "\n" SEPARATOR "\n", -1);
  /* n replies, then what follows the last separator (nothing) */
  if (g_strv_length(replies) != g_strv_length((GStrv)ids) + 1)
    g_error("%s: expected %u replies: %s %s", container_suffix, g_strv_length((GStrv)ids), out, err);
  return replies;
}

static void
assert_served(const char *reply, const char *seed)
{
  g_autofree char *secret = g_strdup_printf("\"SecretAccessKey\":\"secret-%s-", seed);

  if (!g_str_has_prefix(reply, "HTTP/1.0 200"))
    g_error("expected the credentials of '%s', got: %s", seed, reply);
  g_assert_true(ecsa_test_contains(reply, secret));
}

static void
assert_refused(const char *reply)
{
  if (!g_str_has_prefix(reply, "HTTP/1.0 400"))
    g_error("expected a refusal, got: %s", reply);
  g_assert_true(
    ecsa_test_contains(reply, "{\"code\":\"InvalidIdInRequest\",\"message\":\"CredentialsV2Request: ID not found\"}"));
  g_assert_false(ecsa_test_contains(reply, "SecretAccessKey"));
}

static void
test_containers(Fixture *fx, gconstpointer data)
{
  g_autofree char *status_out = NULL;
  g_autofree char *client = g_build_filename(g_getenv("ECSA_SOURCE_ROOT"), "tests", "credentials-client.py", NULL);
  g_autofree char *relative = g_strdup_printf("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/%s", fx->id_b);
  const char *botocore[]
    = { "env", "-u", "AWS_CONTAINER_CREDENTIALS_FULL_URI", relative, "/usr/bin/python3", client, "sdk", NULL };
  g_autofree char *sdk_out = NULL;
  g_autofree char *audit = NULL;

  /* the rules: absent (unless the host has them), added (twice: idempotent), all present */
  g_assert_cmpint(iptables_script(fx, "status", NULL), ==, fx->rules_were_there ? 0 : 1);
  g_assert_cmpint(iptables_script(fx, "add", NULL), ==, 0);
  g_assert_cmpint(iptables_script(fx, "add", NULL), ==, 0);
  g_assert_cmpint(iptables_script(fx, "status", &status_out), ==, 0);
  g_assert_false(ecsa_test_contains(status_out, "absent"));
  {
    const char *save[] = { "iptables-save", NULL };
    g_autofree char *rules = ecsa_test_spawn_ok(save, TIMEOUT_MS);
    g_auto(GStrv) lines = g_strsplit(rules, "\n", -1);
    guint dnat = 0, redirect = 0;

    for (guint i = 0; lines[i] != NULL; i++)
      {
        if (ecsa_test_contains(lines[i], "--to-destination 127.0.0.1:51679") && !ecsa_test_contains(lines[i], "-i "))
          dnat++;
        if (ecsa_test_contains(lines[i], "--to-ports 51679"))
          redirect++;
      }
    g_assert_cmpuint(dnat, ==, 1);
    g_assert_cmpuint(redirect, ==, 1);
  }

  /* bridge mode: each container gets its own task's credentials, nothing else; the execution role
   * is for the agent and Docker, not the task's processes; an unknown ID and no ID get v1.16.2's codes */
  {
    const char *a1_ids[] = { fx->id_a, fx->id_b, fx->id_c, fx->id_a_exec, "no-such-id", "", NULL };
    const char *a2_ids[] = { fx->id_a, NULL }; /* a second container of the same task */
    const char *b1_ids[] = { fx->id_b, fx->id_a, NULL };
    g_auto(GStrv) a1 = fetch_from(fx, "a1", a1_ids);
    g_auto(GStrv) a2 = fetch_from(fx, "a2", a2_ids);
    g_auto(GStrv) b1 = fetch_from(fx, "b1", b1_ids);

    assert_served(a1[0], "dockera");
    assert_refused(a1[1]);
    assert_refused(a1[2]);
    assert_refused(a1[3]);
    assert_refused(a1[4]);
    g_assert_true(g_str_has_prefix(a1[5], "HTTP/1.0 400"));
    g_assert_true(ecsa_test_contains(a1[5], "NoIdInRequest"));
    assert_served(a2[0], "dockera");
    assert_served(b1[0], "dockerb");
    assert_refused(b1[1]);
  }

  /* host network mode: only with ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST, and never another task's */
  {
    const char *h1_ids[] = { fx->id_c, fx->id_a, NULL };
    g_auto(GStrv) before = fetch_from(fx, "h1", h1_ids);
    g_auto(GStrv) after = NULL;

    assert_refused(before[0]);
    assert_refused(before[1]);
    start_server(fx, TRUE);
    after = fetch_from(fx, "h1", h1_ids);
    assert_served(after[0], "dockerc");
    assert_refused(after[1]);
  }

  /* an SDK on the host (root, outside containers) through the OUTPUT REDIRECT */
  sdk_out = ecsa_test_spawn_ok(botocore, TIMEOUT_MS);
  g_assert_true(ecsa_test_contains(sdk_out, "\"secret_key\": \"secret-dockerb-Xk9pQ2vL7mN4wR8tY1zB\""));

  /* who asked for what is in the audit log; no secret anywhere */
  ecsa_audit_log_flush(fx->audit);
  g_assert_true(g_file_get_contents(fx->audit_path, &audit, NULL, NULL));
  {
    g_autofree char *a1_ip = NULL;
    g_autoptr(JsonObject) inspect = NULL;
    g_autofree char *name = g_strconcat(fx->prefix, "a1", NULL);
    g_autofree char *refused_line = NULL;

    inspect = ecsa_test_docker_inspect(name);
    a1_ip
      = g_strdup(json_object_get_string_member(json_object_get_object_member(inspect, "NetworkSettings"), "IPAddress"));
    refused_line = g_strdup_printf(" 400 %s:", a1_ip);
    g_assert_true(ecsa_test_contains(audit, refused_line));
  }
  for (guint i = 0; i < 4; i++)
    {
      const char *seeds[] = { "dockera", "dockeraexec", "dockerb", "dockerc" };
      g_autofree char *secret = g_strdup_printf("secret-%s-", seeds[i]);
      g_autofree char *token = g_strdup_printf("token-%s-", seeds[i]);
      g_assert_false(ecsa_test_contains(audit, secret));
      g_assert_false(ecsa_test_contains(fx->log->str, secret));
      g_assert_false(ecsa_test_contains(fx->log->str, token));
    }
  g_assert_false(ecsa_test_contains(audit, fx->id_a));
  g_assert_false(ecsa_test_contains(fx->log->str, fx->id_a));

  /* removed (twice: idempotent); teardown checks route_localnet is back */
  g_assert_cmpint(iptables_script(fx, "remove", NULL), ==, 0);
  g_assert_cmpint(iptables_script(fx, "remove", NULL), ==, 0);
  g_assert_cmpint(iptables_script(fx, "status", NULL), ==, 1);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  ecsa_log_init();
  ecsa_log_set_console(STDERR_FILENO); /* stdout carries TAP */

  g_test_add("/credentials-docker/containers", Fixture, NULL, fixture_setup, test_containers, fixture_teardown);
  return g_test_run();
}

/* test-credentials-e2e.c: task IAM roles end to end with the real ecs-agent binary, the real dockerd
 * and the loopback control-plane fakes (ECS, ACS, TCS, IMDS: tests/ecsa-test-acs.c):
 *  - ACS sends three tasks with roleCredentials in one PayloadMessage (two in bridge mode, one in host
 *    network mode): each credential set is acked with an IAMRoleCredentialsAckRequest (the payload's
 *    messageId, the credentials' ID and expiration), then the payload with an AckRequest, as v1.16.2;
 *  - each task's container is started with AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/<id>;
 *  - a process inside the container fetches its credentials at 169.254.170.2:80, which the README's
 *    rules (tools/ecs-iptables, added by this test and removed in teardown) lead to 127.0.0.1:51679
 *    (DNAT for bridge mode, REDIRECT for host network mode, allowed by
 *    ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true); another task's credentials ID is refused there (400,
 *    as an unknown ID);
 *  - an IAMRoleCredentialsMessage refreshes a task's credentials: acked with its messageId,
 *    credentialsId and expiration; the container then gets the new keys;
 *  - a task that stops (ACS) loses its role at once (v1.16.2's cleanupCredentials), the others keep
 *    theirs;
 *  - the introspection API on :51678 answers /v1/metadata, /v1/tasks, ?dockerid= (full and short
 *    IDs) and ?taskarn= about the running agent, with v1.16.2's shapes;
 *  - no secret (keys, tokens, credentials IDs) appears in the agent's log or the audit log, and no key
 *    or token in the checkpoint (which holds the IDs, as v1.16.2's).
 * Fixed ports and host-wide rules: holds /tmp/ecsa-fixed-ports.lock and runs alone. A REJECT rule
 * keeps 169.254.169.254 unreachable while it runs.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-acs.h"
#include "ecsa-test-docker.h"
#include "ecsa-test-iam.h"
#include "ecsa-test-utils.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define GUARD_MS 40000
#define INSTANCE_ID "i-0c4ed0000000000e2e"
#define ROLE_ARN "arn:aws:iam::123456789012:role/ecsa-e2e"
#define EXPIRATION "2031-01-01T00:00:00Z"
#define EXPIRATION_REFRESHED "2031-06-01T12:00:00Z"
#define IPTABLES_STATE_DIR "/tmp/ecsa-iam-iptables-state" /* shared with credentials-docker, under the lock */
#define SEPARATOR "=====SEPARATOR====="

typedef struct
{
  char *arn;
  char *family;
  char *credentials_id;
  char *akid, *secret, *token;       /* from the PayloadMessage */
  char *akid2, *secret2, *token2;    /* from the IAMRoleCredentialsMessage (task A only) */
  char *docker_id;
  gboolean host_network;
} E2eTask;

typedef struct
{
  int lock_fd;
  char *prefix; /* ecsa-t<pid>-iame2e- */
  char *guard_comment;
  gboolean guard_added;
  char *dir;
  char *log_path;
  char *audit_path;
  char *iptables;
  gboolean rules_were_there;
  char *route_localnet_before;
  char *cluster;
  EcsaTestImds *imds;
  EcsaTestEcs *ecs;
  EcsaTestWs *acs;
  EcsaTestWs *tcs;
  GSubprocess *agent;
  E2eTask tasks[3]; /* a and b: bridge mode; c: host network mode */
} Fixture;

/* ---- host rules ----------------------------------------------------------------------------- */

static void
guard(Fixture *fx, const char *op)
{
  static const char *const chains[] = { "OUTPUT", "FORWARD" };

  for (guint i = 0; i < G_N_ELEMENTS(chains); i++)
    {
      const char *argv[]
        = { "iptables",        "-w", "10",     op,  chains[i], "-d", "169.254.169.254", "-m", "comment", "--comment",
            fx->guard_comment, "-j", "REJECT", NULL };
      g_free(ecsa_test_spawn_ok(argv, GUARD_MS));
    }
}

static int
iptables_script(Fixture *fx, const char *command)
{
  const char *argv[] = { "env", "ECS_IPTABLES_STATE_DIR=" IPTABLES_STATE_DIR, fx->iptables, command, NULL };
  g_autofree char *err = NULL;
  int status = ecsa_test_spawn(argv, NULL, GUARD_MS, NULL, &err);

  g_test_message("ecs-iptables %s -> %d %s", command, status, err != NULL ? err : "");
  return status;
}

static char *
read_route_localnet(void)
{
  g_autofree char *text = NULL;

  g_assert_true(g_file_get_contents("/proc/sys/net/ipv4/conf/all/route_localnet", &text, NULL, NULL));
  return g_strstrip(g_steal_pointer(&text));
}

/* ---- fixture -------------------------------------------------------------------------------- */

static void
task_init(Fixture *fx, E2eTask *t, const char *name)
{
  g_autofree char *uuid = g_uuid_string_random();
  g_autofree char *key = g_uuid_string_random();
  g_autofree char *key2 = g_uuid_string_random();

  t->arn = g_strdup_printf("arn:aws:ecs:us-west-2:123456789012:task/%s", uuid);
  t->family = g_strconcat(fx->prefix, name, NULL);
  t->credentials_id = g_uuid_string_random(); /* minted by the control plane: unguessable */
  /* distinct and recognisable; ASIA + 16 upper-case characters, as STS issues them */
  t->akid = g_ascii_strup(key, -1);
  memcpy(t->akid, "ASIA", 4);
  t->akid[20] = '\0';
  t->akid2 = g_ascii_strup(key2, -1);
  memcpy(t->akid2, "ASIA", 4);
  t->akid2[20] = '\0';
  t->secret = g_strdup_printf("e2eSecret%s%sXk9pQ2vL7mN4wR8t", name, key);
  t->token = g_strdup_printf("e2eToken%s%sFwoGZXIvYXdzEJr", name, key);
  t->secret2 = g_strdup_printf("e2eRefreshedSecret%s%sYz1B", name, key2);
  t->token2 = g_strdup_printf("e2eRefreshedToken%s%sQm3C", name, key2);
}

static void
task_clear(E2eTask *t)
{
  g_free(t->arn);
  g_free(t->family);
  g_free(t->credentials_id);
  g_free(t->akid);
  g_free(t->secret);
  g_free(t->token);
  g_free(t->akid2);
  g_free(t->secret2);
  g_free(t->token2);
  g_free(t->docker_id);
}

/* Under the lock nothing else may hold the fixed ports: a leftover agent would answer in our
 * agent's place (it keeps retrying a taken port), so say so plainly instead. */
/* The fixed port is ours once the lock is held, unless something outside the tests holds it; a
 * socket that just closed, or an outgoing connection that got it as its local port, goes away in a
 * moment (tools/setup.sh reserves 51678-51679 from the ephemeral range). */
static void
require_port_free(guint16 port)
{
  g_autoptr(GInetAddress) any = g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new(any, port);
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);

      g_assert_nonnull(sock);
      g_clear_error(&error);
      if (g_socket_bind(sock, address, TRUE, &error) && g_socket_listen(sock, &error))
        return;
      if (g_get_monotonic_time() > deadline)
        break;
      g_usleep(200 * 1000);
    }
  {
    g_autofree char *filter = g_strdup_printf("sport = :%u", port);
    const char *argv[] = { "ss", "-tanp", filter, NULL };
    g_autofree char *holders = NULL;

    ecsa_test_spawn(argv, NULL, GUARD_MS, &holders, NULL);
    g_error("port %u is taken by a process outside this test (a leftover agent?): %s\n%s", port, error->message,
            holders != NULL ? holders : "");
  }
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  g_assert_cmpuint(getuid(), ==, 0);
  ecsa_test_docker_require();
  fx->lock_fd = ecsa_test_lock_fixed_ports(GUARD_MS * 4);
  require_port_free(51678);
  require_port_free(51679);
  fx->prefix = g_strdup(ecsa_test_docker_prefix("iame2e"));
  fx->guard_comment = g_strconcat(fx->prefix, "imds-guard", NULL);
  ecsa_test_iam_reap_guards("iame2e-imds-guard");
  guard(fx, "-I");
  fx->guard_added = TRUE;

  fx->iptables = ecsa_test_ecs_iptables_path();
  {
    /* a run that died with the rules added left its record: remove them (restores route_localnet) */
    g_autofree char *record = g_build_filename(IPTABLES_STATE_DIR, "route_localnet.saved", NULL);
    if (g_file_test(record, G_FILE_TEST_EXISTS))
      g_assert_cmpint(iptables_script(fx, "remove"), ==, 0);
  }
  fx->rules_were_there = iptables_script(fx, "status") == 0;
  fx->route_localnet_before = read_route_localnet();
  g_assert_cmpint(iptables_script(fx, "add"), ==, 0);
  g_assert_cmpint(iptables_script(fx, "status"), ==, 0);

  fx->dir = ecsa_test_mkdtemp();
  fx->log_path = g_build_filename(fx->dir, "agent.log", NULL);
  fx->audit_path = g_build_filename(fx->dir, "audit.log", NULL);
  fx->cluster = g_strconcat(fx->prefix, "cluster", NULL);
  task_init(fx, &fx->tasks[0], "a");
  task_init(fx, &fx->tasks[1], "b");
  task_init(fx, &fx->tasks[2], "c");
  fx->tasks[2].host_network = TRUE;

  fx->imds = ecsa_test_imds_new();
  fx->imds->require_token = TRUE;
  ecsa_test_imds_set_identity(fx->imds, INSTANCE_ID, ECSA_TEST_REGION);
  fx->ecs = ecsa_test_ecs_new(FALSE, NULL);
  fx->acs = ecsa_test_ws_new(FALSE, FALSE, NULL);
  fx->tcs = ecsa_test_ws_new(TRUE, FALSE, NULL);
  g_free(fx->ecs->acs_endpoint);
  fx->ecs->acs_endpoint = g_strdup(fx->acs->url);
  g_free(fx->ecs->tcs_endpoint);
  fx->ecs->tcs_endpoint = g_strdup(fx->tcs->url);
}

static void
agent_exited_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
  *(gboolean *)user_data = TRUE;
}

static void
stop_agent(Fixture *fx, gboolean kill)
{
  gboolean exited = FALSE;

  if (fx->agent == NULL || g_subprocess_get_identifier(fx->agent) == NULL)
    return;
  if (kill)
    g_subprocess_force_exit(fx->agent);
  else
    g_subprocess_send_signal(fx->agent, SIGTERM);
  /* the loop keeps the fakes answering while the agent shuts down */
  g_subprocess_wait_async(fx->agent, NULL, agent_exited_cb, &exited);
  ECSA_TEST_WAIT(exited, GUARD_MS);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  g_autofree char *containers = g_strconcat("ecs-", fx->prefix, NULL);
  g_autofree char *route_localnet_after = NULL;

  stop_agent(fx, TRUE);
  g_clear_object(&fx->agent);
  ecsa_test_docker_cleanup(containers);
  /* whatever happened, the rules go (idempotent); the host's own rules are put back */
  g_assert_cmpint(iptables_script(fx, "remove"), ==, 0);
  if (fx->rules_were_there)
    {
      g_autofree char *record = g_build_filename(IPTABLES_STATE_DIR, "route_localnet.saved", NULL);
      g_assert_cmpint(iptables_script(fx, "add"), ==, 0);
      g_unlink(record);
    }
  route_localnet_after = read_route_localnet();
  g_assert_cmpstr(route_localnet_after, ==, fx->route_localnet_before);
  if (fx->guard_added)
    guard(fx, "-D");
  ecsa_test_ws_free(fx->acs);
  ecsa_test_ws_free(fx->tcs);
  ecsa_test_ecs_free(fx->ecs);
  ecsa_test_imds_free(fx->imds);
  ecsa_test_unlock_fixed_ports(fx->lock_fd);
  if (g_getenv("ECSA_TEST_KEEP") == NULL)
    ecsa_test_rmdir_recursive(fx->dir);
  for (guint i = 0; i < G_N_ELEMENTS(fx->tasks); i++)
    task_clear(&fx->tasks[i]);
  g_free(fx->dir);
  g_free(fx->log_path);
  g_free(fx->audit_path);
  g_free(fx->iptables);
  g_free(fx->route_localnet_before);
  g_free(fx->cluster);
  g_free(fx->guard_comment);
  g_free(fx->prefix);
}

static void
start_agent(Fixture *fx)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = g_build_filename(fx->dir, "data", NULL);
  const char *agent = g_getenv("ECSA_TEST_ECS_AGENT");
  int log_fd;

  g_assert_nonnull(agent);
  g_mkdir_with_parents(data_dir, 0700);
  log_fd = open(fx->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  g_assert_cmpint(log_fd, >=, 0);
  g_subprocess_launcher_take_stdout_fd(launcher, log_fd);
  g_subprocess_launcher_set_flags(launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
  ecsa_test_launcher_die_with_parent(launcher);
  g_subprocess_launcher_setenv(launcher, "ECS_CLUSTER", fx->cluster, TRUE);
  g_subprocess_launcher_setenv(launcher, "AWS_DEFAULT_REGION", ECSA_TEST_REGION, TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_BACKEND_HOST", fx->ecs->url, TRUE);
  g_subprocess_launcher_setenv(launcher, "AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  g_subprocess_launcher_setenv(launcher, "AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  g_subprocess_launcher_unsetenv(launcher, "AWS_SESSION_TOKEN");
  g_subprocess_launcher_setenv(launcher, "AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", TRUE);
  g_subprocess_launcher_setenv(launcher, "AWS_EC2_METADATA_SERVICE_ENDPOINT", fx->imds->url, TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_DATADIR", data_dir, TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_CHECKPOINT", "true", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_ENABLE_TASK_IAM_ROLE", "true", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "true", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_AUDIT_LOGFILE", fx->audit_path, TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_LOGLEVEL", "debug", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_DISABLE_IMAGE_CLEANUP", "true", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_CONTAINER_STOP_TIMEOUT", "2s", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "false", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json", TRUE);
  /* the real ports (the test environment moves them for agents run side by side) */
  g_subprocess_launcher_unsetenv(launcher, "ECSA_TEST_INTROSPECTION_PORT");
  g_subprocess_launcher_unsetenv(launcher, "ECSA_TEST_CREDENTIALS_PORT");
  g_subprocess_launcher_unsetenv(launcher, "SSL_CERT_FILE");
  g_subprocess_launcher_unsetenv(launcher, "SSL_CERT_DIR");
  fx->agent = g_subprocess_launcher_spawn(launcher, &error, agent, NULL);
  g_assert_no_error(error);
}

static char *
read_file(const char *path)
{
  g_autofree char *text = NULL;

  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  return g_steal_pointer(&text);
}

/* ---- control plane messages ----------------------------------------------------------------- */

static char *
role_credentials_json(const E2eTask *t, gboolean refreshed)
{
  return g_strdup_printf("{\"credentialsId\":\"%s\",\"roleArn\":\"" ROLE_ARN "\",\"accessKeyId\":\"%s\","
                         "\"secretAccessKey\":\"%s\",\"sessionToken\":\"%s\",\"expiration\":\"%s\"}",
                         t->credentials_id, refreshed ? t->akid2 : t->akid, refreshed ? t->secret2 : t->secret,
                         refreshed ? t->token2 : t->token, refreshed ? EXPIRATION_REFRESHED : EXPIRATION);
}

static char *
payload_json(Fixture *fx, const char *message_id, const char *instance_arn)
{
  g_autoptr(GString) s = g_string_new(NULL);

  g_string_append_printf(s, "{\"clusterArn\":\"%s\",\"containerInstanceArn\":\"%s\",\"generatedAt\":1511810771,"
                            "\"messageId\":\"%s\",\"seqNum\":1,\"tasks\":[",
                         fx->cluster, instance_arn, message_id);
  for (guint i = 0; i < G_N_ELEMENTS(fx->tasks); i++)
    {
      const E2eTask *t = &fx->tasks[i];
      g_autofree char *creds = role_credentials_json(t, FALSE);

      g_string_append_printf(s,
                             "%s{\"arn\":\"%s\",\"family\":\"%s\",\"version\":\"3\",\"desiredStatus\":\"RUNNING\","
                             "\"taskDefinitionAccessed\":true,\"containers\":[{\"name\":\"app\",\"image\":\"" ECSA_TEST_IMAGE
                             "\",\"cpu\":10,\"memory\":32,\"essential\":true,\"command\":[\"sleep\",\"3600\"],"
                             "\"environment\":{\"APP\":\"e2e\"},\"portMappings\":[]%s}],\"roleCredentials\":%s}",
                             i == 0 ? "" : ",", t->arn, t->family,
                             t->host_network ? ",\"dockerConfig\":{\"hostConfig\":\"{\\\"NetworkMode\\\":\\\"host\\\"}\"}" : "",
                             creds);
    }
  g_string_append(s, "]}");
  return g_string_free(g_steal_pointer(&s), FALSE);
}

/* ---- inside a container ----------------------------------------------------------------------- */

/* From inside the container `docker_id`, one HTTP/1.0 GET per path at 169.254.170.2:80 (busybox nc,
 * one docker exec). "$URI" is the container's own AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, expanded by
 * the container's shell. Returns the raw replies, in order. */
static GStrv
fetch_from(const char *docker_id, const char *const *paths)
{
  g_autoptr(GString) cmd = g_string_new(NULL);
  const char *argv[] = { "docker", "exec", docker_id, "sh", "-c", NULL, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  GStrv replies;
  int status;

  for (guint i = 0; paths[i] != NULL; i++)
    g_string_append_printf(cmd, "printf 'GET %%s HTTP/1.0\\r\\n\\r\\n' \"%s\" | nc -w 20 169.254.170.2 80; echo; echo " SEPARATOR "; ",
                           strcmp(paths[i], "$URI") == 0 ? "$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" : paths[i]);
  argv[5] = cmd->str;
  status = ecsa_test_spawn(argv, NULL, GUARD_MS, &out, &err);
  g_test_message("docker exec %.12s: %d %s", docker_id, status, err != NULL ? err : "");
  g_assert_cmpint(status, ==, 0);
  replies = g_strsplit(out, "\n" SEPARATOR "\n", -1);
  if (g_strv_length(replies) != g_strv_length((GStrv)paths) + 1)
    g_error("expected %u replies from %.12s: %s %s", g_strv_length((GStrv)paths), docker_id, out, err);
  return replies;
}

static JsonObject *
reply_json(const char *reply, guint expected_status)
{
  g_autofree char *status_line = g_strdup_printf("HTTP/1.0 %u ", expected_status);
  const char *body = strstr(reply, "\r\n\r\n");
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;

  if (!g_str_has_prefix(reply, status_line) || body == NULL)
    g_error("expected %u, got: %s", expected_status, reply);
  json_parser_load_from_data(parser, body + 4, -1, &error);
  g_assert_no_error(error);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
  return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static void
assert_credentials(const char *reply, const E2eTask *t, gboolean refreshed)
{
  g_autoptr(JsonObject) o = reply_json(reply, 200);

  g_assert_cmpuint(json_object_get_size(o), ==, 5);
  g_assert_cmpstr(json_object_get_string_member(o, "RoleArn"), ==, ROLE_ARN);
  g_assert_cmpstr(json_object_get_string_member(o, "AccessKeyId"), ==, refreshed ? t->akid2 : t->akid);
  g_assert_cmpstr(json_object_get_string_member(o, "SecretAccessKey"), ==, refreshed ? t->secret2 : t->secret);
  g_assert_cmpstr(json_object_get_string_member(o, "Token"), ==, refreshed ? t->token2 : t->token);
  g_assert_cmpstr(json_object_get_string_member(o, "Expiration"), ==, refreshed ? EXPIRATION_REFRESHED : EXPIRATION);
}

static void
assert_refused(const char *reply)
{
  g_autoptr(JsonObject) o = reply_json(reply, 400);

  g_assert_cmpstr(json_object_get_string_member(o, "code"), ==, "InvalidIdInRequest");
  g_assert_cmpstr(json_object_get_string_member(o, "message"), ==, "CredentialsV2Request: ID not found");
  g_assert_false(ecsa_test_contains(reply, "SecretAccessKey"));
}

/* ---- introspection ------------------------------------------------------------------------------ */

static JsonNode *
introspect(const char *path_and_query, guint expected_status)
{
  g_autofree char *url = g_strconcat("http://127.0.0.1:51678", path_and_query, NULL);
  g_autoptr(EcsaTestHttpResult) r = ecsa_test_http_request("GET", url, NULL, GUARD_MS);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;

  if (r->status != expected_status)
    g_error("GET %s: expected %u, got %u: %s", path_and_query, expected_status, r->status, r->body);
  /* v1.16.2 writes the JSON without a Content-Type: Go's sniffing names it text/plain */
  g_assert_cmpstr(r->content_type, ==, "text/plain; charset=utf-8");
  json_parser_load_from_data(parser, r->body, -1, &error);
  g_assert_no_error(error);
  return json_node_copy(json_parser_get_root(parser));
}

static void
assert_task_json(JsonObject *o, const E2eTask *t)
{
  JsonArray *containers;
  JsonObject *c;

  g_assert_cmpstr(json_object_get_string_member(o, "Arn"), ==, t->arn);
  g_assert_cmpstr(json_object_get_string_member(o, "DesiredStatus"), ==, "RUNNING");
  g_assert_cmpstr(json_object_get_string_member(o, "KnownStatus"), ==, "RUNNING");
  g_assert_cmpstr(json_object_get_string_member(o, "Family"), ==, t->family);
  g_assert_cmpstr(json_object_get_string_member(o, "Version"), ==, "3");
  containers = json_object_get_array_member(o, "Containers");
  g_assert_cmpuint(json_array_get_length(containers), ==, 1);
  c = json_array_get_object_element(containers, 0);
  g_assert_cmpuint(json_object_get_size(c), ==, 3);
  g_assert_cmpstr(json_object_get_string_member(c, "DockerId"), ==, t->docker_id);
  g_assert_cmpstr(json_object_get_string_member(c, "Name"), ==, "app");
  /* v1.16.2's names: ecs-<family>-<version>-<container>-<random> */
  {
    g_autofree char *name_prefix = g_strdup_printf("ecs-%s-3-app-", t->family);
    g_assert_true(g_str_has_prefix(json_object_get_string_member(c, "DockerName"), name_prefix));
  }
  /* the credentials are nobody's business here */
  g_assert_false(json_object_has_member(o, "roleCredentials"));
}

static void
check_introspection(Fixture *fx, const char *instance_arn)
{
  g_autoptr(JsonNode) metadata = introspect("/v1/metadata", 200);
  g_autoptr(JsonNode) all = introspect("/v1/tasks", 200);
  g_autofree char *by_docker_id = g_strconcat("/v1/tasks?dockerid=", fx->tasks[0].docker_id, NULL);
  g_autofree char *short_id = g_strndup(fx->tasks[0].docker_id, 12);
  g_autofree char *by_short_id = g_strconcat("/v1/tasks?dockerid=", short_id, NULL);
  g_autofree char *by_arn = g_strconcat("/v1/tasks?taskarn=", fx->tasks[1].arn, NULL);
  g_autofree char *both = g_strdup_printf("/v1/tasks?taskarn=%s&dockerid=%s", fx->tasks[1].arn, short_id);
  JsonObject *m = json_node_get_object(metadata);
  JsonArray *tasks;

  /* {"Cluster","ContainerInstanceArn","Version"} as v1.16.2 */
  g_assert_cmpuint(json_object_get_size(m), ==, 3);
  g_assert_cmpstr(json_object_get_string_member(m, "Cluster"), ==, fx->cluster);
  g_assert_cmpstr(json_object_get_string_member(m, "ContainerInstanceArn"), ==, instance_arn);
  g_assert_true(g_str_has_prefix(json_object_get_string_member(m, "Version"), "Amazon ECS Agent - v1.16.2 ("));

  tasks = json_object_get_array_member(json_node_get_object(all), "Tasks");
  g_assert_cmpuint(json_array_get_length(tasks), ==, G_N_ELEMENTS(fx->tasks));
  for (guint i = 0; i < G_N_ELEMENTS(fx->tasks); i++)
    {
      JsonObject *o = json_array_get_object_element(tasks, i);
      const E2eTask *t = NULL;

      for (guint j = 0; j < G_N_ELEMENTS(fx->tasks); j++)
        if (g_strcmp0(json_object_get_string_member(o, "Arn"), fx->tasks[j].arn) == 0)
          t = &fx->tasks[j];
      if (t == NULL)
        g_error("/v1/tasks lists an unknown task: %s", json_object_get_string_member(o, "Arn"));
      assert_task_json(o, t);
    }
  {
    g_autoptr(JsonNode) a = introspect(by_docker_id, 200);
    g_autoptr(JsonNode) a_short = introspect(by_short_id, 200);
    g_autoptr(JsonNode) b = introspect(by_arn, 200);
    g_autoptr(JsonNode) none = introspect("/v1/tasks?taskarn=arn:aws:ecs:us-west-2:123456789012:task/nope", 404);
    g_autoptr(JsonNode) no_docker = introspect("/v1/tasks?dockerid=0123456789ab", 404);
    g_autoptr(EcsaTestHttpResult) bad = NULL;
    g_autofree char *url = g_strconcat("http://127.0.0.1:51678", both, NULL);

    assert_task_json(json_node_get_object(a), &fx->tasks[0]);
    assert_task_json(json_node_get_object(a_short), &fx->tasks[0]);
    assert_task_json(json_node_get_object(b), &fx->tasks[1]);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(none), "Arn"), ==, "");
    g_assert_true(json_object_get_null_member(json_node_get_object(no_docker), "Containers"));
    /* both at once: 400, as v1.16.2 */
    bad = ecsa_test_http_request("GET", url, NULL, GUARD_MS);
    g_assert_cmpuint(bad->status, ==, 400);
  }
}

/* ---- the test ----------------------------------------------------------------------------------- */

static char *
container_of(Fixture *fx, const E2eTask *t)
{
  g_autofree char *filter = g_strdup_printf("label=com.amazonaws.ecs.task-arn=%s", t->arn);
  char *id = ecsa_test_docker_cli(NULL, "ps", "-q", "--no-trunc", "--filter", filter, NULL);

  if (id != NULL && strlen(id) != 64)
    g_clear_pointer(&id, g_free);
  return id;
}

static gboolean
all_running(Fixture *fx)
{
  for (guint i = 0; i < G_N_ELEMENTS(fx->tasks); i++)
    if (fx->tasks[i].docker_id == NULL)
      {
        fx->tasks[i].docker_id = container_of(fx, &fx->tasks[i]);
        if (fx->tasks[i].docker_id == NULL)
          return FALSE;
      }
  return TRUE;
}

static EcsaTestFrame *
credentials_ack_for(Fixture *fx, const char *credentials_id, const char *message_id)
{
  for (guint i = 0; i < fx->acs->frames->len; i++)
    {
      EcsaTestFrame *f = g_ptr_array_index(fx->acs->frames, i);
      if (g_strcmp0(f->type, "IAMRoleCredentialsAckRequest") == 0
          && g_strcmp0(json_object_get_string_member_with_default(f->message, "credentialsId", ""), credentials_id) == 0
          && g_strcmp0(json_object_get_string_member_with_default(f->message, "messageId", ""), message_id) == 0)
        return f;
    }
  return NULL;
}

static void
assert_no_secret(Fixture *fx, const char *what, const char *text, gboolean ids_allowed)
{
  for (guint i = 0; i < G_N_ELEMENTS(fx->tasks); i++)
    {
      const E2eTask *t = &fx->tasks[i];
      const char *secrets[] = { t->secret, t->token, t->akid, t->secret2, t->token2, t->akid2, t->credentials_id };

      for (guint j = 0; j < G_N_ELEMENTS(secrets) - (ids_allowed ? 1 : 0); j++)
        if (ecsa_test_contains(text, secrets[j]))
          g_error("%s holds a secret of task %s in clear: %s", what, t->arn, secrets[j]);
    }
  g_assert_false(ecsa_test_contains(text, ECSA_TEST_SECRET_KEY));
}

static gboolean
task_reported_stopped(Fixture *fx, const char *task_arn)
{
  for (guint i = 0; i < ecsa_test_ecs_count(fx->ecs, "SubmitTaskStateChange"); i++)
    {
      JsonObject *req = json_node_get_object(ecsa_test_ecs_call(fx->ecs, "SubmitTaskStateChange", i)->body);
      if (g_strcmp0(json_object_get_string_member_with_default(req, "status", ""), "STOPPED") == 0
          && g_strcmp0(json_object_get_string_member_with_default(req, "task", ""), task_arn) == 0)
        return TRUE;
    }
  return FALSE;
}

/* GET /v2/credentials/<id> on 127.0.0.1:51679 from this (root, host) process: v1.16.2 and this agent
 * serve a task's role to the host's root. */
static guint
host_fetch_status(const char *credentials_id)
{
  g_autofree char *url = g_strconcat("http://127.0.0.1:51679/v2/credentials/", credentials_id, NULL);
  g_autoptr(EcsaTestHttpResult) r = ecsa_test_http_request("GET", url, NULL, GUARD_MS);

  return r->status;
}

/* An IAMRoleCredentialsMessage with task t's refreshed credentials. */
static char *
refreshed_credentials_message(Fixture *fx, const char *message_id, const char *instance_arn, const E2eTask *t)
{
  g_autofree char *creds = role_credentials_json(t, TRUE);

  return g_strdup_printf("{\"messageId\":\"%s\",\"clusterArn\":\"%s\",\"containerInstanceArn\":\"%s\","
                         "\"taskArn\":\"%s\",\"roleType\":\"TaskApplication\",\"roleCredentials\":%s}",
                         message_id, fx->cluster, instance_arn, t->arn, creds);
}

static void
test_task_roles(Fixture *fx, gconstpointer data)
{
  E2eTask *a = &fx->tasks[0];
  E2eTask *b = &fx->tasks[1];
  E2eTask *c = &fx->tasks[2];
  g_autofree char *instance_arn = NULL;
  g_autofree char *payload = NULL;
  EcsaTestFrame *ack;
  GHashTable *q;

  /* 1. the agent registers and opens ACS asking for credentials (a new process) */
  start_agent(fx);
  ecsa_test_ws_wait_connections(fx->acs, 1, GUARD_MS);
  q = g_ptr_array_index(fx->acs->queries, 0);
  g_assert_cmpstr(g_hash_table_lookup(q, "sendCredentials"), ==, "true");
  instance_arn = g_strdup(g_hash_table_lookup(q, "containerInstanceArn"));
  g_assert_true(g_str_has_prefix(instance_arn, "arn:aws:ecs:"));

  /* 2. two tasks with their roles in one payload: each credential set acked with the payload's
   * messageId, its ID and expiration; then the payload itself */
  payload = payload_json(fx, "e2e-iam-payload-1", instance_arn);
  ecsa_test_ws_send(fx->acs, "PayloadMessage", payload);
  ack = ecsa_test_ws_wait_frame(fx->acs, "AckRequest", 0, GUARD_MS);
  g_assert_cmpstr(json_object_get_string_member(ack->message, "messageId"), ==, "e2e-iam-payload-1");
  g_assert_cmpstr(json_object_get_string_member(ack->message, "cluster"), ==, fx->cluster);
  g_assert_cmpstr(json_object_get_string_member(ack->message, "containerInstance"), ==, instance_arn);
  g_assert_cmpuint(ecsa_test_ws_count(fx->acs, "IAMRoleCredentialsAckRequest"), ==, G_N_ELEMENTS(fx->tasks));
  for (guint i = 0; i < G_N_ELEMENTS(fx->tasks); i++)
    {
      EcsaTestFrame *f = credentials_ack_for(fx, fx->tasks[i].credentials_id, "e2e-iam-payload-1");
      if (f == NULL)
        g_error("no IAMRoleCredentialsAckRequest for task %s's credentials", fx->tasks[i].arn);
      g_assert_cmpstr(json_object_get_string_member(f->message, "expiration"), ==, EXPIRATION);
      g_assert_cmpuint(json_object_get_size(f->message), ==, 3);
    }

  /* 3. the containers run, each with its own task's relative URI */
  ecsa_test_wait_until(NULL, (EcsaTestCondition)all_running, fx, GUARD_MS, "the tasks' containers running");
  for (guint i = 0; i < G_N_ELEMENTS(fx->tasks); i++)
    {
      g_autoptr(JsonObject) inspect = ecsa_test_docker_inspect(fx->tasks[i].docker_id);
      JsonArray *env = json_object_get_array_member(json_object_get_object_member(inspect, "Config"), "Env");
      g_autofree char *expected = g_strdup_printf("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/%s",
                                                  fx->tasks[i].credentials_id);
      const char *mode = json_object_get_string_member(json_object_get_object_member(inspect, "HostConfig"),
                                                       "NetworkMode");
      guint found = 0;

      if (fx->tasks[i].host_network)
        g_assert_cmpstr(mode, ==, "host");
      else
        g_assert_true(g_strcmp0(mode, "default") == 0 || g_strcmp0(mode, "bridge") == 0);
      for (guint j = 0; j < json_array_get_length(env); j++)
        {
          const char *e = json_array_get_string_element(env, j);
          if (g_str_has_prefix(e, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="))
            {
              g_assert_cmpstr(e, ==, expected);
              found++;
            }
          g_assert_false(ecsa_test_contains(e, fx->tasks[i].secret)); /* keys never go in the environment */
        }
      g_assert_cmpuint(found, ==, 1);
    }

  /* 4. inside each container: its own credentials at 169.254.170.2 (v2 path from the environment, and
   * v1); the other task's ID is refused like an unknown one */
  {
    g_autofree char *v1_a = g_strconcat("/v1/credentials?id=", a->credentials_id, NULL);
    g_autofree char *other_b = g_strconcat("/v2/credentials/", b->credentials_id, NULL);
    g_autofree char *other_a = g_strconcat("/v2/credentials/", a->credentials_id, NULL);
    const char *from_a[] = { "$URI", v1_a, other_b, NULL };
    const char *from_b[] = { "$URI", other_a, NULL };
    const char *from_c[] = { "$URI", other_a, NULL };
    g_auto(GStrv) ra = fetch_from(a->docker_id, from_a);
    g_auto(GStrv) rb = fetch_from(b->docker_id, from_b);
    /* host network mode: through the OUTPUT REDIRECT, allowed by ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST */
    g_auto(GStrv) rc = fetch_from(c->docker_id, from_c);

    assert_credentials(ra[0], a, FALSE);
    assert_credentials(ra[1], a, FALSE);
    assert_refused(ra[2]);
    assert_credentials(rb[0], b, FALSE);
    assert_refused(rb[1]);
    assert_credentials(rc[0], c, FALSE);
    assert_refused(rc[1]);
  }

  /* 5. a refresh over ACS: acked with its messageId, credentialsId and expiration; served at once */
  {
    g_autofree char *message = refreshed_credentials_message(fx, "e2e-iam-refresh-1", instance_arn, a);
    const char *from_a[] = { "$URI", NULL };
    const char *from_b[] = { "$URI", NULL };
    g_auto(GStrv) ra = NULL;
    g_auto(GStrv) rb = NULL;

    ecsa_test_ws_send(fx->acs, "IAMRoleCredentialsMessage", message);
    ack = ecsa_test_ws_wait_frame(fx->acs, "IAMRoleCredentialsAckRequest", G_N_ELEMENTS(fx->tasks), GUARD_MS);
    g_assert_cmpstr(json_object_get_string_member(ack->message, "messageId"), ==, "e2e-iam-refresh-1");
    g_assert_cmpstr(json_object_get_string_member(ack->message, "credentialsId"), ==, a->credentials_id);
    g_assert_cmpstr(json_object_get_string_member(ack->message, "expiration"), ==, EXPIRATION_REFRESHED);
    ra = fetch_from(a->docker_id, from_a);
    rb = fetch_from(b->docker_id, from_b);
    assert_credentials(ra[0], a, TRUE);
    assert_credentials(rb[0], b, FALSE); /* the other task's are untouched */
  }

  /* 6. the introspection API about the running agent */
  check_introspection(fx, instance_arn);

  /* 7. task b stops (ACS): its role goes with it, as in v1.16.2; a's stays */
  {
    g_autofree char *stop = g_strdup_printf(
      "{\"clusterArn\":\"%s\",\"containerInstanceArn\":\"%s\",\"generatedAt\":1511810772,"
      "\"messageId\":\"e2e-iam-payload-2\",\"seqNum\":2,\"tasks\":[{\"arn\":\"%s\",\"family\":\"%s\","
      "\"version\":\"3\",\"desiredStatus\":\"STOPPED\",\"containers\":[{\"name\":\"app\",\"image\":\""
      ECSA_TEST_IMAGE "\",\"cpu\":10,\"memory\":32,\"essential\":true,\"command\":[\"sleep\",\"3600\"],"
      "\"portMappings\":[]}]}]}",
      fx->cluster, instance_arn, b->arn, b->family);

    g_assert_cmpuint(host_fetch_status(b->credentials_id), ==, 200);
    ecsa_test_ws_send(fx->acs, "PayloadMessage", stop);
    ECSA_TEST_WAIT(task_reported_stopped(fx, b->arn), GUARD_MS);
    g_assert_cmpuint(host_fetch_status(b->credentials_id), ==, 400);
    g_assert_cmpuint(host_fetch_status(a->credentials_id), ==, 200);
  }

  /* 8. a clean stop; nothing secret in the log, the audit log or the checkpoint */
  stop_agent(fx, FALSE);
  g_assert_true(g_subprocess_get_if_exited(fx->agent));
  g_assert_cmpint(g_subprocess_get_exit_status(fx->agent), ==, 0);
  {
    g_autofree char *log = read_file(fx->log_path);
    g_autofree char *audit = read_file(fx->audit_path);
    g_autofree char *checkpoint_path = g_build_filename(fx->dir, "data", "ecsa_agent_data.json", NULL);
    g_autofree char *checkpoint = read_file(checkpoint_path);
    g_autofree char *refused = NULL;

    assert_no_secret(fx, "the agent's log", log, FALSE);
    assert_no_secret(fx, "the audit log", audit, FALSE);
    assert_no_secret(fx, "the checkpoint", checkpoint, TRUE);
    g_assert_true(ecsa_test_contains(checkpoint, a->credentials_id)); /* the IDs, as v1.16.2 */
    g_assert_false(ecsa_test_contains(log, "[CRITICAL]"));
    /* the refusal is explained in the agent's log, the attempts are in the audit log */
    refused = g_strdup_printf("refused the credentials of task '%s'", b->arn);
    g_assert_true(ecsa_test_contains(log, refused));
    g_assert_true(ecsa_test_contains(audit, a->arn));
    g_assert_true(ecsa_test_contains(audit, b->arn));
  }

  /* 9. a restart: the checkpoint holds a's credentials ID but not its keys, so the endpoint answers
   * 503 "uninitialized" (not 400: the ID is a's) until ACS, asked again with sendCredentials=true,
   * sends them; then they are served as before */
  {
    g_autofree char *message = refreshed_credentials_message(fx, "e2e-iam-after-restart", instance_arn, a);
    const char *from_a[] = { "$URI", NULL };
    g_auto(GStrv) ra = NULL;
    guint acks = ecsa_test_ws_count(fx->acs, "IAMRoleCredentialsAckRequest");

    start_agent(fx);
    ecsa_test_ws_wait_connections(fx->acs, 2, GUARD_MS);
    q = g_ptr_array_index(fx->acs->queries, 1);
    g_assert_cmpstr(g_hash_table_lookup(q, "sendCredentials"), ==, "true");
    g_assert_cmpstr(g_hash_table_lookup(q, "containerInstanceArn"), ==, instance_arn);
    ECSA_TEST_WAIT(host_fetch_status(a->credentials_id) == 503, GUARD_MS);
    g_assert_cmpuint(host_fetch_status(b->credentials_id), ==, 400); /* b stopped before: not restored */

    ecsa_test_ws_send(fx->acs, "IAMRoleCredentialsMessage", message);
    ack = ecsa_test_ws_wait_frame(fx->acs, "IAMRoleCredentialsAckRequest", acks, GUARD_MS);
    g_assert_cmpstr(json_object_get_string_member(ack->message, "credentialsId"), ==, a->credentials_id);
    g_assert_cmpuint(host_fetch_status(a->credentials_id), ==, 200);
    ra = fetch_from(a->docker_id, from_a);
    assert_credentials(ra[0], a, TRUE);
    stop_agent(fx, FALSE);
    g_assert_cmpint(g_subprocess_get_exit_status(fx->agent), ==, 0);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/credentials-e2e/task-roles", Fixture, NULL, fixture_setup, test_task_roles, fixture_teardown);
  return g_test_run();
}

/* test-acs-agent.c: the real ecs-agent binary against the loopback control-plane fakes (ECS JSON
 * API, ACS, TCS, IMDS; signatures checked with the real verifier) and the real dockerd:
 *  - restart-same-instance: registration, a task from a PayloadMessage to RUNNING, then SIGKILL
 *    while ECS still refuses the RUNNING report, and a restart that comes back as the same container
 *    instance, starts nothing twice and submits the change it still owed; then the task is stopped
 *    through ACS. Meanwhile TCS carries the task's metrics.
 *  - tls-insecure: every fake (ECS, ACS, TCS and an ECR GetAuthorizationToken endpoint) serves a
 *    certificate of a CA nobody trusts. Without -k the agent refuses to register; with -k every
 *    HTTPS client of the agent accepts it: registration, wss ACS and TCS, and the ECR plugin's call
 *    through the agent's shared session. Then heartbeats, ACS reconnection (at once after a close,
 *    with backoff after refused handshakes, sendCredentials only on the first connection) and a
 *    task whose image cannot be pulled reported STOPPED with v1.16.2's reason. Then, without -k, the
 *    CA named by SSL_CERT_FILE is trusted by all of them, ECR included.
 *  - restart-other-instance: a task runs, the agent stops, and instance metadata names another EC2
 *    instance (an AMI of a running host, a moved volume). As v1.16.2, the agent registers as a new
 *    container instance and forgets the previous instance's tasks: nothing of them is reported,
 *    listed or adopted, their container is left alone, also after a further restart.
 *
 * Uses the fixed ports 51678/51679 (one agent per host): holds /tmp/ecsa-fixed-ports.lock and runs
 * alone. A REJECT rule keeps 169.254.169.254 unreachable while the agent runs.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-sigv4.h"
#include "ecsa-test-acs.h"
#include "ecsa-test-docker.h"
#include "ecsa-test-iam.h"
#include "ecsa-test-utils.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#define GUARD_MS 60000
#define TASK_SECRET "e2eTaskSecretAccessKey0000000000000000001"
#define TASK_TOKEN "e2eTaskSessionToken00000000000000000001"
#define INSTANCE_ID "i-0e2e0000000000001"
#define OTHER_INSTANCE_ID "i-0e2e0000000000002"

typedef struct
{
  EcsaTestImds *imds;
  EcsaTestEcs *ecs;
  EcsaTestWs *acs;
  EcsaTestWs *tcs;
  char *dir;
  char *prefix;      /* ecsa-t<pid>-acs- */
  char *cluster;
  char *task_arn;
  char *log_path;
  GSubprocess *agent;
  int lock_fd;
  char *guard_comment;
  guint refuse_running; /* SubmitTaskStateChange RUNNING answers 500 while set */
  guint agent_runs;
  gboolean tls;      /* every fake over HTTPS with an untrusted CA */
  char *cert_dir;
  SoupServer *ecr;   /* ECR GetAuthorizationToken (tls-insecure) */
  char *ecr_url;
  guint ecr_calls;
  guint ecr_bad_signatures;
  char *ssl_cert_file; /* SSL_CERT_FILE for the agent (NULL: unset) */
  guint16 introspection_port; /* 0: none (ECSA_TEST_INTROSPECTION_PORT=0) */
  const char *logging_drivers; /* ECS_AVAILABLE_LOGGING_DRIVERS, or NULL: unset */
} Fixture;

#define ECR_PASSWORD "ecrFakeRegistryPassword0000000001"

/* ECR's GetAuthorizationToken (JSON 1.1), signed for "ecr" with the agent's own credentials. The
 * token names a registry on 127.0.0.1:1, where nothing listens: the pull that follows fails. */
static void
ecr_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  Fixture *fx = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  g_autoptr(GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  GUri *uri = soup_server_message_get_uri (msg);
  gboolean with_token = FALSE;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = g_base64_encode ((const guchar *) "AWS:" ECR_PASSWORD, strlen ("AWS:" ECR_PASSWORD));
  g_autofree char *json = NULL;

  fx->ecr_calls++;
  if (g_strcmp0 (soup_message_headers_get_one (headers, "X-Amz-Target"),
                 "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken")
        != 0
      || !ecsa_sigv4_verify ("POST", g_uri_get_path (uri), g_uri_get_query (uri), headers, body, "ecr",
                             ecsa_test_secret_lookup, &with_token, g_get_real_time () / G_USEC_PER_SEC, NULL, &error))
    {
      fx->ecr_bad_signatures++;
      ecsa_test_ecs_reply_error (msg, 403, "UnrecognizedClientException", error != NULL ? error->message : "target");
      return;
    }
  json = g_strdup_printf ("{\"authorizationData\":[{\"authorizationToken\":\"%s\",\"expiresAt\":%" G_GINT64_FORMAT
                          ",\"proxyEndpoint\":\"https://127.0.0.1:1\"}]}",
                          token, g_get_real_time () / G_USEC_PER_SEC + 12 * 3600);
  ecsa_test_ecs_reply_json (msg, json);
}

static gboolean
ecs_hook (EcsaTestEcs *ecs, const char *op, JsonObject *request, SoupServerMessage *msg, gpointer user_data)
{
  Fixture *fx = user_data;

  if (fx->refuse_running && strcmp (op, "SubmitTaskStateChange") == 0
      && g_strcmp0 (json_object_get_string_member_with_default (request, "status", ""), "RUNNING") == 0)
    {
      ecsa_test_ecs_reply_error (msg, 500, "ServerException", "not now");
      return TRUE;
    }
  return FALSE;
}

static void
iptables (const char *action)
{
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  int status = 0;
  const char *argv[] = { "iptables", action, "OUTPUT", "-d", "169.254.169.254", "-m", "comment", "--comment",
                         NULL, "-j", "REJECT", NULL };

  argv[8] = g_getenv ("ECSA_TEST_GUARD_COMMENT");
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, NULL)
      || !g_spawn_check_wait_status (status, NULL))
    g_printerr ("# iptables %s: %s\n", action, err != NULL ? err : "failed");
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  ecsa_test_docker_require ();
  fx->lock_fd = open ("/tmp/ecsa-fixed-ports.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  g_assert_cmpint (fx->lock_fd, >=, 0);
  g_assert_cmpint (flock (fx->lock_fd, LOCK_EX), ==, 0);

  fx->prefix = g_strdup (ecsa_test_docker_prefix ("acs"));
  fx->guard_comment = g_strconcat (fx->prefix, "imds-guard", NULL);
  g_setenv ("ECSA_TEST_GUARD_COMMENT", fx->guard_comment, TRUE);
  /* the guards of runs that died before their teardown (an assertion aborts the program) */
  ecsa_test_iam_reap_guards ("acs-imds-guard");
  iptables ("-I");
  fx->cluster = g_strconcat (fx->prefix, "cluster", NULL);
  fx->task_arn = g_strdup_printf ("arn:aws:ecs:us-west-2:123456789012:task/%sweb-1", fx->prefix);
  fx->dir = ecsa_test_mkdtemp ();
  fx->log_path = g_build_filename (fx->dir, "agent.log", NULL);

  fx->imds = ecsa_test_imds_new ();
  fx->imds->require_token = TRUE;
  ecsa_test_imds_set_identity (fx->imds, INSTANCE_ID, ECSA_TEST_REGION);
  fx->tls = data != NULL;
  if (fx->tls)
    {
      fx->cert_dir = g_build_filename (fx->dir, "certs", NULL);
      g_assert_cmpint (g_mkdir (fx->cert_dir, 0700), ==, 0);
      ecsa_test_make_certificates (fx->cert_dir);
      fx->ecr = soup_server_new (NULL, NULL);
      soup_server_add_handler (fx->ecr, NULL, ecr_handler, fx, NULL);
      fx->ecr_url = ecsa_test_server_listen_tls (fx->ecr, fx->cert_dir);
    }
  fx->ecs = ecsa_test_ecs_new (fx->tls, fx->cert_dir);
  fx->ecs->hook = ecs_hook;
  fx->ecs->hook_data = fx;
  fx->acs = ecsa_test_ws_new (FALSE, fx->tls, fx->cert_dir);
  fx->tcs = ecsa_test_ws_new (TRUE, fx->tls, fx->cert_dir);
  g_free (fx->ecs->acs_endpoint);
  fx->ecs->acs_endpoint = g_strdup (fx->acs->url);
  g_free (fx->ecs->tcs_endpoint);
  fx->ecs->tcs_endpoint = g_strdup (fx->tcs->url);
}

static void
agent_exited_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *(gboolean *) user_data = TRUE;
}

static void
stop_agent (Fixture *fx, gboolean kill)
{
  gboolean exited = FALSE;

  if (fx->agent == NULL || g_subprocess_get_identifier (fx->agent) == NULL)
    return;
  if (kill)
    g_subprocess_force_exit (fx->agent);
  else
    g_subprocess_send_signal (fx->agent, SIGTERM);
  /* the loop keeps the fakes answering while the agent shuts down */
  g_subprocess_wait_async (fx->agent, NULL, agent_exited_cb, &exited);
  ECSA_TEST_WAIT (exited, 30000);
}

/* Wait (the fakes answering) for an agent that exits by itself. */
static void
stop_agent_wait (Fixture *fx)
{
  gboolean exited = FALSE;

  g_subprocess_wait_async (fx->agent, NULL, agent_exited_cb, &exited);
  ECSA_TEST_WAIT (exited, GUARD_MS);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autofree char *containers = g_strconcat ("ecs-", fx->prefix, NULL);

  stop_agent (fx, TRUE);
  g_clear_object (&fx->agent);
  ecsa_test_docker_cleanup (containers);
  iptables ("-D");
  ecsa_test_ws_free (fx->acs);
  ecsa_test_ws_free (fx->tcs);
  ecsa_test_ecs_free (fx->ecs);
  ecsa_test_imds_free (fx->imds);
  if (fx->ecr != NULL)
    {
      soup_server_disconnect (fx->ecr);
      g_object_unref (fx->ecr);
    }
  g_free (fx->ecr_url);
  g_free (fx->cert_dir);
  g_free (fx->ssl_cert_file);
  if (g_getenv ("ECSA_TEST_KEEP") == NULL)
    ecsa_test_rmdir_recursive (fx->dir);
  g_free (fx->dir);
  g_free (fx->prefix);
  g_free (fx->cluster);
  g_free (fx->task_arn);
  g_free (fx->log_path);
  g_free (fx->guard_comment);
  flock (fx->lock_fd, LOCK_UN);
  close (fx->lock_fd);
}

static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL); /* a test that aborts leaves no agent behind */
}

static const char *const proxy_variables[]
  = { "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "GIO_USE_PROXY_RESOLVER" };

static void
start_agent_with (Fixture *fx, const char *flag)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = g_build_filename (fx->dir, "data", NULL);
  g_autofree char *audit = g_build_filename (fx->dir, "audit.log", NULL);
  const char *agent = g_getenv ("ECSA_TEST_ECS_AGENT");
  int log_fd;

  g_assert_nonnull (agent);
  g_mkdir_with_parents (data_dir, 0700);
  log_fd = open (fx->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  g_subprocess_launcher_take_stdout_fd (launcher, log_fd);
  g_subprocess_launcher_set_flags (launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "ECS_CLUSTER", fx->cluster, TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_DEFAULT_REGION", ECSA_TEST_REGION, TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_BACKEND_HOST", fx->ecs->url, TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "AWS_SESSION_TOKEN");
  g_subprocess_launcher_setenv (launcher, "AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_EC2_METADATA_SERVICE_ENDPOINT", fx->imds->url, TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_DATADIR", data_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_CHECKPOINT", "true", TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_AUDIT_LOGFILE", audit, TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_LOGLEVEL", "debug", TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_DISABLE_IMAGE_CLEANUP", "true", TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_CONTAINER_STOP_TIMEOUT", "2s", TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_IMAGE_PULL_BEHAVIOR", fx->tls ? "always" : "prefer-cached", TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "false", TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_INSTANCE_ATTRIBUTES", "{\"stack\":\"e2e\"}", TRUE);
  g_subprocess_launcher_setenv (launcher, "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json", TRUE);
  if (fx->ssl_cert_file != NULL)
    g_subprocess_launcher_setenv (launcher, "SSL_CERT_FILE", fx->ssl_cert_file, TRUE);
  else
    g_subprocess_launcher_unsetenv (launcher, "SSL_CERT_FILE");
  g_subprocess_launcher_unsetenv (launcher, "SSL_CERT_DIR");
  for (guint i = 0; i < G_N_ELEMENTS (proxy_variables); i++)
    g_subprocess_launcher_unsetenv (launcher, proxy_variables[i]);
  if (fx->logging_drivers != NULL)
    g_subprocess_launcher_setenv (launcher, "ECS_AVAILABLE_LOGGING_DRIVERS", fx->logging_drivers, TRUE);
  else
    g_subprocess_launcher_unsetenv (launcher, "ECS_AVAILABLE_LOGGING_DRIVERS");
  if (fx->introspection_port != 0)
    {
      g_autofree char *port = g_strdup_printf ("%u", fx->introspection_port);
      g_subprocess_launcher_setenv (launcher, "ECSA_TEST_INTROSPECTION_PORT", port, TRUE);
    }
  fx->agent = g_subprocess_launcher_spawn (launcher, &error, agent, flag, NULL);
  g_assert_no_error (error);
  fx->agent_runs++;
}

/* No proxy configured: the agent's connections do no proxy lookup, so GIO never loads the proxy
 * modules installed (glib-networking's libgiolibproxy keeps libproxy and libstdc++ mapped for
 * good). Meaningful where that module is installed (CI installs glib-networking). */
static void
assert_no_proxy_modules (Fixture *fx)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/maps", g_subprocess_get_identifier (fx->agent));
  g_autofree char *maps = NULL;

  g_assert_true (g_file_get_contents (path, &maps, NULL, NULL));
  g_assert_nonnull (strstr (maps, "libgio-2.0.so"));
  g_assert_null (strstr (maps, "/libproxy.so"));
  g_assert_null (strstr (maps, "libgiolibproxy"));
  g_assert_null (strstr (maps, "libgiognomeproxy"));
}

static void
start_agent (Fixture *fx)
{
  start_agent_with (fx, NULL);
}

static char *
read_log (Fixture *fx)
{
  g_autofree char *text = NULL;

  g_file_get_contents (fx->log_path, &text, NULL, NULL);
  return g_steal_pointer (&text);
}

static JsonObject *
attribute (JsonObject *req, const char *name)
{
  JsonArray *attrs = json_object_get_array_member (req, "attributes");

  for (guint i = 0; i < json_array_get_length (attrs); i++)
    {
      JsonObject *a = json_array_get_object_element (attrs, i);
      if (g_strcmp0 (json_object_get_string_member (a, "name"), name) == 0)
        return a;
    }
  return NULL;
}

static char *
payload (Fixture *fx, const char *message_id, const char *desired)
{
  return g_strdup_printf (
    "{\"clusterArn\":\"%s\",\"containerInstanceArn\":\"%s\",\"generatedAt\":1511810771,\"messageId\":\"%s\","
    "\"seqNum\":%d,\"tasks\":[{\"arn\":\"%s\",\"family\":\"%sweb\",\"version\":\"1\",\"desiredStatus\":\"%s\","
    "\"containers\":[{\"name\":\"web\",\"image\":\"" ECSA_TEST_IMAGE "\",\"cpu\":10,\"memory\":32,"
    "\"essential\":true,\"command\":[\"sleep\",\"3600\"],"
    "\"portMappings\":[{\"containerPort\":80,\"hostPort\":0,\"protocol\":\"tcp\"}]}],"
    "\"roleCredentials\":{\"credentialsId\":\"%scredentials\",\"roleArn\":\"arn:aws:iam::123456789012:role/e2e\","
    "\"accessKeyId\":\"ASIAE2E0000000000001\",\"secretAccessKey\":\"" TASK_SECRET "\",\"sessionToken\":\"" TASK_TOKEN
    "\",\"expiration\":\"2030-01-01T00:00:00Z\"}}]}",
    fx->cluster, "arn", message_id, g_str_equal (desired, "RUNNING") ? 1 : 2, fx->task_arn, fx->prefix, desired,
    fx->prefix);
}

static guint
containers_of_task (Fixture *fx)
{
  g_autofree char *filter = g_strdup_printf ("label=com.amazonaws.ecs.task-arn=%s", fx->task_arn);
  g_autofree char *out = ecsa_test_docker_cli (NULL, "ps", "-aq", "--filter", filter, NULL);
  g_auto(GStrv) lines = NULL;
  guint n = 0;

  if (out == NULL || *out == '\0')
    return 0;
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    n += *g_strstrip (lines[i]) != '\0';
  return n;
}

static guint
count_submissions (Fixture *fx, const char *status)
{
  guint n = 0;

  for (guint i = 0; i < ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"); i++)
    {
      JsonObject *req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitTaskStateChange", i)->body);
      if (g_strcmp0 (json_object_get_string_member (req, "status"), status) == 0
          && g_strcmp0 (json_object_get_string_member (req, "task"), fx->task_arn) == 0)
        n++;
    }
  return n;
}

/* The first PublishMetricsRequest that carries metrics of the task, or NULL. */
static JsonObject *
task_metrics_frame (Fixture *fx)
{
  for (guint i = 0; i < fx->tcs->frames->len; i++)
    {
      EcsaTestFrame *f = g_ptr_array_index (fx->tcs->frames, i);
      JsonArray *tasks;

      if (g_strcmp0 (f->type, "PublishMetricsRequest") != 0 || f->message == NULL
          || !json_object_has_member (f->message, "taskMetrics"))
        continue;
      tasks = json_object_get_array_member (f->message, "taskMetrics");
      for (guint j = 0; j < json_array_get_length (tasks); j++)
        if (g_strcmp0 (json_object_get_string_member (json_array_get_object_element (tasks, j), "taskArn"),
                       fx->task_arn)
            == 0)
          return f->message;
    }
  return NULL;
}

/* For g_ptr_array_sort() of strings. */
static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

static void
test_restart_same_instance (Fixture *fx, gconstpointer data)
{
  g_autofree char *first_arn = NULL;
  g_autofree char *text = NULL;
  g_autofree char *container_id = NULL;
  g_autofree char *message = NULL;
  JsonObject *req;
  GHashTable *q;
  EcsaTestFrame *ack;
  guint registrations;
  guint running_refused;

  /* 1. first run: registration, ACS, TCS */
  start_agent (fx);
  ECSA_TEST_WAIT (ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance") >= 1, GUARD_MS);
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "RegisterContainerInstance", 0)->body);
  g_assert_cmpstr (json_object_get_string_member (req, "cluster"), ==, fx->cluster);
  g_assert_false (json_object_has_member (req, "containerInstanceArn"));
  g_assert_nonnull (strstr (json_object_get_string_member (req, "instanceIdentityDocument"), INSTANCE_ID));
  g_assert_nonnull (attribute (req, "stack"));
  g_assert_nonnull (attribute (req, "ecs.os-type"));
  g_assert_nonnull (attribute (req, "com.amazonaws.ecs.capability.docker-remote-api.1.17"));
  g_assert_nonnull (attribute (req, "com.amazonaws.ecs.capability.privileged-container"));
  g_assert_nonnull (attribute (req, "com.amazonaws.ecs.capability.logging-driver.json-file"));
  g_assert_nonnull (attribute (req, "com.amazonaws.ecs.capability.logging-driver.none"));
  g_assert_null (attribute (req, "com.amazonaws.ecs.capability.logging-driver.awslogs"));
  g_assert_null (attribute (req, "com.amazonaws.ecs.capability.task-iam-role")); /* ECS_ENABLE_TASK_IAM_ROLE unset */
  /* the default drivers (json-file, none) are in every dockerd: no GET /info (50 to 80 ms), and the
   * version negotiated by a ping, not GET /version */
  g_assert_true (g_file_get_contents (fx->log_path, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "not asking GET /info"));
  g_assert_null (strstr (text, "docker GET /info"));
  g_assert_nonnull (strstr (text, "docker get version: GET http://docker/v1.17/_ping"));
  g_assert_null (strstr (text, "GET http://docker/version"));
  g_clear_pointer (&text, g_free);
  {
    JsonArray *resources = json_object_get_array_member (req, "totalResources");
    g_autoptr(GString) names = g_string_new (NULL);

    for (guint i = 0; i < json_array_get_length (resources); i++)
      {
        JsonObject *r = json_array_get_object_element (resources, i);
        const char *name = json_object_get_string_member (r, "name");

        g_string_append_printf (names, "%s,", name);
        if (g_str_equal (name, "CPU"))
          g_assert_cmpint (json_object_get_int_member (r, "integerValue"), ==, 1024 * (gint64) g_get_num_processors ());
        if (g_str_equal (name, "PORTS"))
          {
            JsonArray *ports = json_object_get_array_member (r, "stringSetValue");
            g_autoptr(GString) list = g_string_new (NULL);

            for (guint j = 0; j < json_array_get_length (ports); j++)
              g_string_append_printf (list, "%s,", json_array_get_string_element (ports, j));
            g_assert_cmpstr (list->str, ==, "22,2375,2376,51678,51679,"); /* v1.16.2's defaults */
          }
      }
    g_assert_cmpstr (names->str, ==, "CPU,MEMORY,PORTS,PORTS_UDP,");
  }
  g_assert_true (g_str_has_prefix (
    json_object_get_string_member (json_object_get_object_member (req, "versionInfo"), "dockerVersion"),
    "DockerVersion: "));
  g_assert_cmpuint (fx->ecs->bad_signatures, ==, 0);
  g_assert_cmpuint (fx->imds->gets_without_token, ==, 0); /* IMDSv2 */

  ecsa_test_ws_wait_connections (fx->acs, 1, GUARD_MS);
  q = g_ptr_array_index (fx->acs->queries, 0);
  g_assert_cmpstr (g_hash_table_lookup (q, "sendCredentials"), ==, "true");
  g_assert_cmpstr (g_hash_table_lookup (q, "clusterArn"), ==, fx->cluster);
  first_arn = g_strdup (g_hash_table_lookup (q, "containerInstanceArn"));
  g_assert_true (g_str_has_prefix (first_arn, "arn:aws:ecs:"));
  ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", 0, GUARD_MS);

  /* 2. a task: acked once recorded, RUNNING refused by ECS for now */
  fx->refuse_running = TRUE;
  message = payload (fx, "e2e-payload-1", "RUNNING");
  ecsa_test_ws_send (fx->acs, "PayloadMessage", message);
  ack = ecsa_test_ws_wait_frame (fx->acs, "AckRequest", 0, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (ack->message, "messageId"), ==, "e2e-payload-1");
  g_assert_cmpstr (json_object_get_string_member (ack->message, "containerInstance"), ==, first_arn);
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "IAMRoleCredentialsAckRequest"), ==, 1);
  ECSA_TEST_WAIT (count_submissions (fx, "RUNNING") >= 1, GUARD_MS);
  g_assert_cmpuint (containers_of_task (fx), ==, 1);
  {
    g_autofree char *filter = g_strdup_printf ("label=com.amazonaws.ecs.task-arn=%s", fx->task_arn);
    container_id = ecsa_test_docker_cli (NULL, "ps", "-q", "--no-trunc", "--filter", filter, NULL);
    g_assert_nonnull (container_id);
    g_assert_cmpuint (strlen (container_id), ==, 64);
  }

  /* 3. SIGKILL while the RUNNING report is still owed */
  stop_agent (fx, TRUE);
  g_assert_true (g_subprocess_get_if_signaled (fx->agent));
  g_clear_object (&fx->agent);
  fx->refuse_running = FALSE;
  registrations = ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance");
  running_refused = count_submissions (fx, "RUNNING");

  /* 4. restart: the same instance, nothing started twice, the owed change submitted */
  start_agent (fx);
  ECSA_TEST_WAIT (ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance") > registrations, GUARD_MS);
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "RegisterContainerInstance", registrations)->body);
  g_assert_cmpstr (json_object_get_string_member (req, "containerInstanceArn"), ==, first_arn);
  g_assert_null (attribute (req, "stack")); /* custom attributes only on the first registration */
  ecsa_test_ws_wait_connections (fx->acs, 2, GUARD_MS);
  q = g_ptr_array_index (fx->acs->queries, 1);
  g_assert_cmpstr (g_hash_table_lookup (q, "containerInstanceArn"), ==, first_arn);
  g_assert_cmpstr (g_hash_table_lookup (q, "sendCredentials"), ==, "true"); /* a new process */
  /* ECS accepts it now: the restarted agent submits what it owed, with the dynamic host ports Docker
   * chose, on both wildcard addresses (dockerd 20.10 lists 0.0.0.0 and ::, and may choose a
   * different port for each: moby/moby#43246) */
  ECSA_TEST_WAIT (count_submissions (fx, "RUNNING") > running_refused, GUARD_MS);
  {
    JsonObject *running = NULL;
    JsonArray *bindings;
    g_autoptr(GString) ips = g_string_new (NULL);
    g_autoptr(JsonObject) inspect = ecsa_test_docker_inspect (container_id);
    JsonArray *docker_ports;
    g_autoptr(GPtrArray) reported = g_ptr_array_new_with_free_func (g_free);
    g_autoptr(GPtrArray) dockers = g_ptr_array_new_with_free_func (g_free);

    for (guint i = 0; i < ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"); i++)
      {
        JsonObject *r = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitTaskStateChange", i)->body);
        if (g_strcmp0 (json_object_get_string_member (r, "status"), "RUNNING") == 0)
          running = r;
      }
    g_assert_cmpstr (json_object_get_string_member (running, "cluster"), ==, fx->cluster);
    bindings = json_object_get_array_member (
      json_array_get_object_element (json_object_get_array_member (running, "containers"), 0), "networkBindings");
    g_assert_cmpuint (json_array_get_length (bindings), ==, 2);
    for (guint i = 0; i < 2; i++)
      {
        JsonObject *b = json_array_get_object_element (bindings, i);

        g_assert_cmpint (json_object_get_int_member (b, "containerPort"), ==, 80);
        g_assert_cmpstr (json_object_get_string_member (b, "protocol"), ==, "tcp");
        g_assert_cmpint (json_object_get_int_member (b, "hostPort"), >, 0);
        g_string_append_printf (ips, "%s,", json_object_get_string_member (b, "bindIP"));
        g_ptr_array_add (reported, g_strdup_printf ("%s:%" G_GINT64_FORMAT, json_object_get_string_member (b, "bindIP"),
                                                    json_object_get_int_member (b, "hostPort")));
      }
    g_assert_true (g_str_equal (ips->str, "0.0.0.0,::,") || g_str_equal (ips->str, "::,0.0.0.0,"));
    /* the ports are those Docker chose */
    g_assert_nonnull (inspect);
    docker_ports = json_object_get_array_member (
      json_object_get_object_member (json_object_get_object_member (inspect, "NetworkSettings"), "Ports"), "80/tcp");
    g_assert_cmpuint (json_array_get_length (docker_ports), ==, 2);
    for (guint i = 0; i < 2; i++)
      {
        JsonObject *p = json_array_get_object_element (docker_ports, i);
        g_ptr_array_add (dockers, g_strdup_printf ("%s:%s", json_object_get_string_member (p, "HostIp"),
                                                   json_object_get_string_member (p, "HostPort")));
      }
    g_ptr_array_sort (reported, compare_strings);
    g_ptr_array_sort (dockers, compare_strings);
    for (guint i = 0; i < 2; i++)
      g_assert_cmpstr (reported->pdata[i], ==, dockers->pdata[i]);
  }
  ecsa_test_acs_run_for (500);
  g_assert_cmpuint (containers_of_task (fx), ==, 1);
  {
    g_autofree char *filter = g_strdup_printf ("label=com.amazonaws.ecs.task-arn=%s", fx->task_arn);
    g_autofree char *now = ecsa_test_docker_cli (NULL, "ps", "-q", "--no-trunc", "--filter", filter, NULL);
    g_assert_cmpstr (now, ==, container_id); /* the same container, still running */
  }

  /* TCS: the running task's metrics (cgroup plugin), within one 20 s publishing period */
  ECSA_TEST_WAIT (task_metrics_frame (fx) != NULL, 30000);
  {
    JsonObject *m = task_metrics_frame (fx);
    JsonObject *meta = json_object_get_object_member (m, "metadata");
    JsonObject *task = json_array_get_object_element (json_object_get_array_member (m, "taskMetrics"), 0);
    JsonArray *cm = json_object_get_array_member (task, "containerMetrics");
    JsonObject *cpu;

    g_assert_cmpstr (json_object_get_string_member (meta, "cluster"), ==, fx->cluster);
    g_assert_cmpstr (json_object_get_string_member (meta, "containerInstance"), ==, first_arn);
    g_assert_false (json_object_get_boolean_member (meta, "idle"));
    g_assert_true (json_object_get_boolean_member (meta, "fin"));
    g_assert_nonnull (json_object_get_string_member (meta, "messageId"));
    g_assert_cmpstr (json_object_get_string_member (task, "taskDefinitionVersion"), ==, "1");
    g_assert_cmpuint (json_array_get_length (cm), ==, 1);
    cpu = json_object_get_object_member (json_array_get_object_element (cm, 0), "cpuStatsSet");
    g_assert_cmpint (json_object_get_int_member (cpu, "sampleCount"), >=, 1);
    g_assert_true (json_object_has_member (json_array_get_object_element (cm, 0), "memoryStatsSet"));
    g_assert_true (json_object_has_member (m, "timestamp"));
  }

  /* 5. stop through ACS: STOPPED with its exit code */
  g_free (message);
  message = payload (fx, "e2e-payload-2", "STOPPED");
  ecsa_test_ws_send (fx->acs, "PayloadMessage", message);
  ECSA_TEST_WAIT (count_submissions (fx, "STOPPED") >= 1, GUARD_MS);
  for (guint i = 0; i < ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"); i++)
    {
      req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitTaskStateChange", i)->body);
      if (g_strcmp0 (json_object_get_string_member (req, "status"), "STOPPED") == 0)
        {
          JsonArray *containers = json_object_get_array_member (req, "containers");
          JsonObject *c = json_array_get_object_element (containers, 0);

          g_assert_cmpstr (json_object_get_string_member (c, "status"), ==, "STOPPED");
          g_assert_true (json_object_has_member (c, "exitCode"));
          g_assert_cmpuint (json_array_get_length (json_object_get_array_member (c, "networkBindings")), ==, 0);
          g_assert_true (json_object_has_member (req, "executionStoppedAt"));
          /* prefer-cached found the image: no pull, so no pull timestamps */
          if (!fx->tls)
            {
              g_assert_false (json_object_has_member (req, "pullStartedAt"));
              g_assert_false (json_object_has_member (req, "pullStoppedAt"));
            }
        }
    }
  g_assert_cmpuint (fx->ecs->bad_signatures + fx->acs->bad_signatures + fx->tcs->bad_signatures, ==, 0);

  /* 6. SIGTERM: a clean exit */
  stop_agent (fx, FALSE);
  g_assert_true (g_subprocess_get_if_exited (fx->agent));
  g_assert_cmpint (g_subprocess_get_exit_status (fx->agent), ==, 0);

  /* no secret in the agent's log or its checkpoint */
  text = read_log (fx);
  g_assert_nonnull (strstr (text, "Registration completed successfully"));
  g_assert_null (strstr (text, "assertion")); /* no programming error on the way */
  g_assert_null (strstr (text, "[CRITICAL]"));
  g_assert_null (strstr (text, TASK_SECRET));
  g_assert_null (strstr (text, TASK_TOKEN));
  g_assert_null (strstr (text, ECSA_TEST_SECRET_KEY));
  {
    g_autofree char *checkpoint_path = g_build_filename (fx->dir, "data", "ecsa_agent_data.json", NULL);
    g_autofree char *checkpoint = NULL;

    g_assert_true (g_file_get_contents (checkpoint_path, &checkpoint, NULL, NULL));
    g_assert_nonnull (strstr (checkpoint, first_arn));
    g_assert_null (strstr (checkpoint, TASK_SECRET));
    g_assert_null (strstr (checkpoint, TASK_TOKEN));
  }
}

/* GET on the agent's introspection server, parsed */
static JsonNode *
introspect (Fixture *fx, const char *path)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", fx->introspection_port, path);
  g_autoptr(EcsaTestHttpResult) r = ecsa_test_http_request ("GET", url, NULL, GUARD_MS);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (r->status, ==, 200);
  json_parser_load_from_data (parser, r->body, -1, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

/* The agent started (registered, engine reconciled, ACS connected `connections` times): its
 * introspection server lists no task and names `arn` as its container instance. */
static void
assert_no_task_listed (Fixture *fx, const char *arn)
{
  g_autoptr(JsonNode) tasks = NULL;
  g_autoptr(JsonNode) metadata = NULL;

  tasks = introspect (fx, "/v1/tasks");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json_node_get_object (tasks), "Tasks")), ==,
                    0);
  metadata = introspect (fx, "/v1/metadata");
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (metadata), "ContainerInstanceArn"), ==, arn);
}

static char *
running_container_of_task (Fixture *fx)
{
  g_autofree char *filter = g_strdup_printf ("label=com.amazonaws.ecs.task-arn=%s", fx->task_arn);
  g_autofree char *id = ecsa_test_docker_cli (NULL, "ps", "-q", "--no-trunc", "--filter", filter, NULL);

  return id != NULL && *g_strstrip (id) != '\0' ? g_steal_pointer (&id) : NULL;
}

/* Every state change the agent submitted, of any task */
static guint
count_reports (Fixture *fx)
{
  return ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange")
         + ecsa_test_ecs_count (fx->ecs, "SubmitContainerStateChange");
}

static void
test_restart_other_instance (Fixture *fx, gconstpointer data)
{
  g_autofree char *first_arn = NULL;
  g_autofree char *second_arn = NULL;
  g_autofree char *container_id = NULL;
  g_autofree char *message = NULL;
  g_autofree char *text = NULL;
  g_autofree char *checkpoint = NULL;
  g_autofree char *checkpoint_path = g_build_filename (fx->dir, "data", "ecsa_agent_data.json", NULL);
  g_autofree char *mismatch = NULL;
  JsonObject *req;
  GHashTable *q;
  guint registrations;
  guint submissions;

  /* 1. the first instance: registration, a task RUNNING. awslogs is not in every dockerd: the
   * agent asks GET /info, which lists it here */
  fx->introspection_port = ecsa_test_free_port ();
  fx->logging_drivers = "[\"json-file\",\"awslogs\"]";
  start_agent (fx);
  ECSA_TEST_WAIT (ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance") >= 1, GUARD_MS);
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "RegisterContainerInstance", 0)->body);
  g_assert_nonnull (attribute (req, "com.amazonaws.ecs.capability.logging-driver.awslogs"));
  g_assert_nonnull (attribute (req, "com.amazonaws.ecs.capability.logging-driver.json-file"));
  g_assert_null (attribute (req, "com.amazonaws.ecs.capability.logging-driver.none"));
  g_assert_true (g_file_get_contents (fx->log_path, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "docker GET /info: HTTP 200"));
  g_clear_pointer (&text, g_free);
  ecsa_test_ws_wait_connections (fx->acs, 1, GUARD_MS);
  first_arn = g_strdup (g_hash_table_lookup (g_ptr_array_index (fx->acs->queries, 0), "containerInstanceArn"));
  message = payload (fx, "other-payload-1", "RUNNING");
  ecsa_test_ws_send (fx->acs, "PayloadMessage", message);
  ecsa_test_ws_wait_frame (fx->acs, "AckRequest", 0, GUARD_MS);
  ECSA_TEST_WAIT (count_submissions (fx, "RUNNING") >= 1, GUARD_MS);
  container_id = running_container_of_task (fx);
  g_assert_nonnull (container_id);
  stop_agent (fx, FALSE);
  g_assert_cmpint (g_subprocess_get_exit_status (fx->agent), ==, 0);
  g_clear_object (&fx->agent);
  g_assert_true (g_file_get_contents (checkpoint_path, &checkpoint, NULL, NULL));
  g_assert_nonnull (strstr (checkpoint, INSTANCE_ID));
  g_assert_nonnull (strstr (checkpoint, fx->task_arn));
  g_clear_pointer (&checkpoint, g_free);

  /* 2. the same host, now another EC2 instance: a new registration, the old task forgotten */
  ecsa_test_imds_set_identity (fx->imds, OTHER_INSTANCE_ID, ECSA_TEST_REGION);
  registrations = ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance");
  submissions = count_reports (fx);
  start_agent (fx);
  ECSA_TEST_WAIT (ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance") > registrations, GUARD_MS);
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "RegisterContainerInstance", registrations)->body);
  g_assert_false (json_object_has_member (req, "containerInstanceArn"));
  g_assert_nonnull (strstr (json_object_get_string_member (req, "instanceIdentityDocument"), OTHER_INSTANCE_ID));
  g_assert_cmpstr (json_object_get_string_member (req, "cluster"), ==, fx->cluster);
  g_assert_nonnull (attribute (req, "stack")); /* a first registration: the custom attributes too */
  ecsa_test_ws_wait_connections (fx->acs, 2, GUARD_MS);
  q = g_ptr_array_index (fx->acs->queries, 1);
  second_arn = g_strdup (g_hash_table_lookup (q, "containerInstanceArn"));
  g_assert_true (g_str_has_prefix (second_arn, "arn:aws:ecs:"));
  g_assert_cmpstr (second_arn, !=, first_arn);
  g_assert_cmpstr (g_hash_table_lookup (q, "seqNum"), ==, "1");
  /* the engine reconciled before the sessions started: the old task is not the agent's */
  assert_no_task_listed (fx, second_arn);
  ecsa_test_acs_run_for (500);
  g_assert_cmpuint (count_reports (fx), ==, submissions);
  text = read_log (fx);
  mismatch = g_strdup_printf ("saved InstanceID '%s' does not match current InstanceID '%s'", INSTANCE_ID,
                              OTHER_INSTANCE_ID);
  g_assert_nonnull (strstr (text, mismatch));
  g_assert_nonnull (strstr (text, "forgetting the 1 tasks"));
  g_assert_null (strstr (text, "adopting"));
  g_assert_null (strstr (text, "was not in the checkpoint"));
  g_clear_pointer (&text, g_free);
  {
    g_autofree char *now = running_container_of_task (fx);
    g_assert_cmpstr (now, ==, container_id); /* left alone, still running */
  }

  /* 3. a further restart (the same new instance): the new container instance, still nothing of
   * the old one adopted from its labels */
  stop_agent (fx, FALSE);
  g_assert_cmpint (g_subprocess_get_exit_status (fx->agent), ==, 0);
  g_clear_object (&fx->agent);
  g_assert_true (g_file_get_contents (checkpoint_path, &checkpoint, NULL, NULL));
  g_assert_nonnull (strstr (checkpoint, OTHER_INSTANCE_ID));
  g_assert_nonnull (strstr (checkpoint, second_arn));
  g_assert_null (strstr (checkpoint, first_arn));
  g_assert_null (strstr (checkpoint, "\"" INSTANCE_ID "\""));
  g_assert_cmpint (g_unlink (fx->log_path), ==, 0);
  registrations = ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance");
  start_agent (fx);
  ECSA_TEST_WAIT (ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance") > registrations, GUARD_MS);
  req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "RegisterContainerInstance", registrations)->body);
  g_assert_cmpstr (json_object_get_string_member (req, "containerInstanceArn"), ==, second_arn);
  ecsa_test_ws_wait_connections (fx->acs, 3, GUARD_MS);
  assert_no_task_listed (fx, second_arn);
  ecsa_test_acs_run_for (500);
  g_assert_cmpuint (count_reports (fx), ==, submissions);
  text = read_log (fx);
  g_assert_null (strstr (text, "Data mismatch"));
  g_assert_null (strstr (text, "adopting"));
  g_assert_null (strstr (text, "was not in the checkpoint"));
  g_assert_null (strstr (text, "assertion"));
  g_assert_null (strstr (text, "[CRITICAL]"));
  {
    g_autofree char *now = running_container_of_task (fx);
    g_assert_cmpstr (now, ==, container_id);
  }
  stop_agent (fx, FALSE);
  g_assert_cmpint (g_subprocess_get_exit_status (fx->agent), ==, 0);
}

static char *
ecr_payload (Fixture *fx, const char *message_id)
{
  return g_strdup_printf (
    "{\"clusterArn\":\"%s\",\"containerInstanceArn\":\"arn\",\"generatedAt\":1511810771,\"messageId\":\"%s\","
    "\"seqNum\":1,\"tasks\":[{\"arn\":\"%s\",\"family\":\"%sweb\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
    "\"containers\":[{\"name\":\"web\",\"image\":\"127.0.0.1:1/%sbusybox:latest\",\"cpu\":10,\"memory\":32,"
    "\"essential\":true,\"portMappings\":[],\"registryAuthentication\":{\"type\":\"ecr\",\"ecrAuthData\":{"
    "\"endpointOverride\":\"%s\",\"region\":\"" ECSA_TEST_REGION "\",\"registryId\":\"123456789012\"}}}]}]}",
    fx->cluster, message_id, fx->task_arn, fx->prefix, fx->prefix, fx->ecr_url);
}

static JsonObject *
stopped_submission (Fixture *fx)
{
  for (guint i = 0; i < ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"); i++)
    {
      JsonObject *req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitTaskStateChange", i)->body);
      if (g_strcmp0 (json_object_get_string_member (req, "status"), "STOPPED") == 0
          && g_strcmp0 (json_object_get_string_member (req, "task"), fx->task_arn) == 0)
        return req;
    }
  return NULL;
}

static void
test_tls_insecure (Fixture *fx, gconstpointer data)
{
  g_autofree char *text = NULL;
  g_autofree char *message = NULL;
  JsonObject *req;
  JsonObject *c;
  GHashTable *q;
  EcsaTestFrame *frame;
  gint64 closed_at;
  guint handshakes;
  guint ecr_calls;

  /* 1. without -k: the untrusted certificate stops the registration (exit 1: ecs-init restarts) */
  start_agent (fx);
  stop_agent_wait (fx);
  g_assert_true (g_subprocess_get_if_exited (fx->agent));
  g_assert_cmpint (g_subprocess_get_exit_status (fx->agent), ==, 1);
  g_assert_cmpuint (fx->ecs->calls->len, ==, 0); /* no request got past the TLS handshake */
  g_clear_object (&fx->agent);
  text = read_log (fx);
  g_assert_nonnull (strstr (text, "Unacceptable TLS certificate"));
  g_assert_cmpint (g_unlink (fx->log_path), ==, 0); /* the checks below are about the run with -k */
  g_clear_pointer (&text, g_free);

  /* 2. with -k: registration, ACS and TCS over TLS */
  start_agent_with (fx, "-k");
  ECSA_TEST_WAIT (ecsa_test_ecs_count (fx->ecs, "RegisterContainerInstance") >= 1, GUARD_MS);
  ecsa_test_ws_wait_connections (fx->acs, 1, GUARD_MS);
  q = g_ptr_array_index (fx->acs->queries, 0);
  g_assert_cmpstr (g_hash_table_lookup (q, "sendCredentials"), ==, "true");
  g_assert_cmpstr (g_hash_table_lookup (q, "seqNum"), ==, "1");
  g_assert_nonnull (g_hash_table_lookup (q, "agentHash"));
  g_assert_cmpstr (g_hash_table_lookup (q, "agentVersion"), ==, "1.16.2");
  g_assert_true (g_str_has_prefix (g_hash_table_lookup (q, "dockerVersion"), "DockerVersion: "));
  frame = ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", 0, GUARD_MS);
  g_assert_true (frame->signature_ok);
  assert_no_proxy_modules (fx);
  q = g_ptr_array_index (fx->tcs->queries, 0);
  g_assert_cmpstr (g_hash_table_lookup (q, "cluster"), ==, fx->cluster);
  g_assert_true (g_str_has_prefix (g_hash_table_lookup (q, "containerInstance"), "arn:aws:ecs:"));

  /* 3. heartbeat: acknowledged */
  ecsa_test_ws_send (fx->acs, "HeartbeatMessage", "{\"healthy\":true,\"messageId\":\"hb-1\"}");
  frame = ecsa_test_ws_wait_frame (fx->acs, "HeartbeatAckRequest", 0, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "hb-1");

  /* 4. a server close (1000): reconnected at once (no backoff: timing under load proves little, the
   * agent's decision is in its log), without credentials this time */
  ecsa_test_acs_run_for (1200); /* a close within 1 s of connecting backs off */
  ecsa_test_ws_close (fx->acs, 1000);
  ecsa_test_ws_wait_connections (fx->acs, 2, GUARD_MS);
  text = read_log (fx);
  g_assert_nonnull (strstr (text, "ACS: reconnecting now"));
  g_assert_null (strstr (text, "ACS: reconnecting in"));
  g_clear_pointer (&text, g_free);
  q = g_ptr_array_index (fx->acs->queries, 1);
  g_assert_cmpstr (g_hash_table_lookup (q, "sendCredentials"), ==, "false");

  /* 5. refused handshakes: retried with backoff (250 ms, then x1.5, each +0..20%) */
  ecsa_test_acs_run_for (1200); /* a close within 1 s of connecting backs off anyway */
  fx->acs->refuse_status = 500;
  fx->acs->refuse_count = 2;
  handshakes = fx->acs->handshakes;
  closed_at = g_get_monotonic_time ();
  ecsa_test_ws_close (fx->acs, 1000);
  ecsa_test_ws_wait_connections (fx->acs, 3, GUARD_MS);
  g_assert_cmpuint (fx->acs->handshakes, ==, handshakes + 3);
  g_assert_cmpint (g_array_index (fx->acs->connect_times, gint64, 2) - closed_at, >=, (250 + 375) * 1000);
  text = read_log (fx);
  g_assert_nonnull (strstr (text, "ACS: reconnecting in 0.")); /* 250 ms + 0..20%, then x1.5 */
  g_clear_pointer (&text, g_free);

  /* 6. a task from ECR: the token comes over TLS through the agent's shared session, the pull from
   * the registry it names fails: STOPPED with CannotPullECRContainerError */
  message = ecr_payload (fx, "tls-payload-1");
  ecsa_test_ws_send (fx->acs, "PayloadMessage", message);
  frame = ecsa_test_ws_wait_frame (fx->acs, "AckRequest", 0, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "tls-payload-1");
  ECSA_TEST_WAIT (stopped_submission (fx) != NULL, GUARD_MS);
  g_assert_cmpuint (fx->ecr_calls, >=, 1);
  g_assert_cmpuint (fx->ecr_bad_signatures, ==, 0);
  req = stopped_submission (fx);
  c = json_array_get_object_element (json_object_get_array_member (req, "containers"), 0);
  g_assert_cmpstr (json_object_get_string_member (c, "containerName"), ==, "web");
  g_assert_cmpstr (json_object_get_string_member (c, "status"), ==, "STOPPED");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (c, "reason"), "CannotPullECRContainerError"));
  g_assert_cmpuint (fx->ecs->bad_signatures + fx->acs->bad_signatures + fx->tcs->bad_signatures, ==, 0);

  /* 7. SIGTERM: a clean exit; the registry password never reached the log */
  stop_agent (fx, FALSE);
  g_assert_true (g_subprocess_get_if_exited (fx->agent));
  g_assert_cmpint (g_subprocess_get_exit_status (fx->agent), ==, 0);
  g_clear_object (&fx->agent);
  text = read_log (fx);
  g_assert_null (strstr (text, ECR_PASSWORD));
  g_assert_null (strstr (text, ECSA_TEST_SECRET_KEY));
  g_assert_null (strstr (text, "[CRITICAL]"));

  /* 8. without -k, the CA in SSL_CERT_FILE (as Go's crypto/x509 reads it): trusted by the ECS client,
   * the websockets and the shared session (ECR) alike */
  fx->ssl_cert_file = g_build_filename (fx->cert_dir, "ca.pem", NULL);
  g_free (fx->task_arn);
  fx->task_arn = g_strdup_printf ("arn:aws:ecs:us-west-2:123456789012:task/%sweb-2", fx->prefix);
  ecr_calls = fx->ecr_calls;
  start_agent (fx);
  ecsa_test_ws_wait_connections (fx->acs, 4, GUARD_MS);
  g_free (message);
  message = ecr_payload (fx, "tls-payload-2");
  ecsa_test_ws_send (fx->acs, "PayloadMessage", message);
  ECSA_TEST_WAIT (fx->ecr_calls > ecr_calls, GUARD_MS); /* the pull that follows is phase 6's */
  g_assert_cmpuint (fx->ecr_bad_signatures, ==, 0);
  stop_agent (fx, FALSE);
  g_assert_cmpint (g_subprocess_get_exit_status (fx->agent), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* three programs (acs-agent, acs-agent-tls, acs-agent-instance), each well under a minute */
  if (g_getenv ("ECSA_TEST_TLS") != NULL)
    g_test_add ("/acs-agent/tls-insecure", Fixture, "tls", fixture_setup, test_tls_insecure, fixture_teardown);
  else if (g_getenv ("ECSA_TEST_OTHER_INSTANCE") != NULL)
    g_test_add ("/acs-agent/restart-other-instance", Fixture, NULL, fixture_setup, test_restart_other_instance,
                fixture_teardown);
  else
    g_test_add ("/acs-agent/restart-same-instance", Fixture, NULL, fixture_setup, test_restart_same_instance,
                fixture_teardown);
  return g_test_run ();
}

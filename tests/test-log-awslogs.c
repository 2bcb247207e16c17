/* test-log-awslogs.c: awslogs as the plugin prepares it, delivered by the real dockerd to a
 * CloudWatch Logs listener on loopback, with the task's execution-role credentials read by dockerd
 * through 169.254.170.2 (redirected to 127.0.0.1:51679) from the agent's own credentials endpoint
 * (EcsaCredentialsServer, fed by the credentials manager as ACS would feed it, running in its own
 * thread while the test drives Docker). The listener verifies every request's SigV4 signature
 * against the credentials served. 169.254.0.0/16 is rejected meanwhile,
 * so nothing can reach an instance metadata service: without the endpoint, dockerd finds no
 * credentials and the container fails to start.
 * Port 51679 is fixed: this test takes /tmp/ecsa-fixed-ports.lock and does not run in parallel.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-audit-log.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-credentials-server.h"
#include "ecsa-sigv4.h"
#include "ecsa-test-iam.h"
#include "ecsa-test-plugins.h"
#include "ecsa-test-utils.h"

#include <string.h>
#include <unistd.h>

const EcsaPluginDescriptor *ecsa_plugin_log_awslogs_get_descriptor (void);

#define O(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define TASK_ID "5d1c2d3e-aaaa-bbbb-cccc-0123456789ab"
#define TASK_ARN "arn:aws:ecs:us-west-2:123456789012:task/" TASK_ID
#define EXEC_ID "4a3b2c1d-exec-cred-id"
#define LOGS_KEY "AKIDLOGSEXECROLE"
#define LOGS_SECRET "logs-exec-role-secret-k3y"
#define LOGS_TOKEN "logs-exec-role-session-t0ken"
#define TIMEOUT_MS 30000

typedef struct
{
  GMutex lock;
  guint bad_signatures;
  GHashTable *secrets;
} Cloudwatch;

static Cloudwatch cloudwatch;

/* The agent's credentials endpoint on 127.0.0.1:51679, in a thread with its own main context (the
 * test's Docker calls block the main thread while dockerd asks for the credentials). */
typedef struct
{
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  GMutex lock;
  GCond cond;
  gboolean ready;
  char *error;
  char *dir;
} Endpoint;

static gpointer
endpoint_thread (gpointer user_data)
{
  Endpoint *ep = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaCredentialsManager) manager = NULL;
  g_autoptr(EcsaAuditLog) audit = NULL;
  g_autoptr(EcsaTestTasks) tasks = NULL;
  g_autoptr(EcsaCredentialsServer) server = NULL;
  g_autoptr(JsonNode) acs = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) expiry = g_date_time_add_hours (now, 1);
  g_autofree char *expiration = g_date_time_format_iso8601 (expiry);
  g_autofree char *audit_path = g_build_filename (ep->dir, "audit.log", NULL);
  g_autofree char *json = NULL;

  g_main_context_push_thread_default (ep->context);
  /* what ACS sends for the task's execution role (IAMRoleCredentials) */
  json = g_strdup_printf ("{\"credentialsId\":\"" EXEC_ID "\",\"roleArn\":\"arn:aws:iam::123456789012:role/exec\","
                          "\"accessKeyId\":\"" LOGS_KEY "\",\"secretAccessKey\":\"" LOGS_SECRET "\","
                          "\"sessionToken\":\"" LOGS_TOKEN "\",\"expiration\":\"%s\"}",
                          expiration);
  acs = json_from_string (json, &error);
  manager = ecsa_credentials_manager_new ();
  if (acs != NULL)
    ecsa_credentials_manager_set_from_acs (manager, json_node_get_object (acs), TASK_ARN,
                                           ECSA_CREDENTIALS_ROLE_EXECUTION, &error);
  audit = ecsa_audit_log_new (audit_path, FALSE, "ecsa-awslogs-cluster");
  tasks = ecsa_test_tasks_new ();
  ecsa_test_tasks_add (tasks, TASK_ARN, "ecsa-awslogs", "1", "bridge", "RUNNING", "RUNNING");
  ecsa_test_tasks_set_credentials (tasks, TASK_ARN, NULL, EXEC_ID);
  server = ecsa_credentials_server_new (manager, audit, ecsa_test_tasks_source (tasks), FALSE);
  if (error == NULL)
    ecsa_credentials_server_listen (server, ECSA_CREDENTIALS_PORT, &error);

  g_mutex_lock (&ep->lock);
  ep->error = error != NULL ? g_strdup (error->message) : NULL;
  ep->ready = TRUE;
  g_cond_broadcast (&ep->cond);
  g_mutex_unlock (&ep->lock);
  if (error == NULL)
    g_main_loop_run (ep->loop);

  ecsa_credentials_server_stop (server);
  g_clear_object (&server);
  while (g_main_context_iteration (ep->context, FALSE))
    ;
  g_main_context_pop_thread_default (ep->context);
  return NULL;
}

static Endpoint *
endpoint_start (void)
{
  Endpoint *ep = g_new0 (Endpoint, 1);

  g_mutex_init (&ep->lock);
  g_cond_init (&ep->cond);
  ep->dir = g_dir_make_tmp ("ecsa-awslogs-XXXXXX", NULL);
  g_assert_nonnull (ep->dir);
  ep->context = g_main_context_new ();
  ep->loop = g_main_loop_new (ep->context, FALSE);
  ep->thread = g_thread_new ("ecsa-credentials", endpoint_thread, ep);
  g_mutex_lock (&ep->lock);
  while (!ep->ready)
    g_cond_wait (&ep->cond, &ep->lock);
  g_mutex_unlock (&ep->lock);
  if (ep->error != NULL)
    g_error ("the agent's credentials endpoint on 127.0.0.1:%d: %s", ECSA_CREDENTIALS_PORT, ep->error);
  return ep;
}

static gboolean
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static void
endpoint_stop (Endpoint *ep)
{
  g_main_context_invoke (ep->context, quit_cb, ep->loop);
  g_thread_join (ep->thread);
  g_main_loop_unref (ep->loop);
  g_main_context_unref (ep->context);
  ecsa_test_rmdir_recursive (ep->dir);
  g_free (ep->dir);
  g_free (ep->error);
  g_mutex_clear (&ep->lock);
  g_cond_clear (&ep->cond);
  g_free (ep);
}

/* CloudWatch Logs (JSON 1.1, Logs_20140328.<Operation>), enough for dockerd's awslogs driver. */
static void
cloudwatch_handler (const EcsaTestHttpRequest *req, guint *out_status, char **out_content_type, GBytes **out_body,
                    gpointer user_data)
{
  Cloudwatch *cw = user_data;
  g_autoptr(GError) error = NULL;
  const char *target = soup_message_headers_get_one (req->headers, "X-Amz-Target");
  const char *answer = "{}";
  char *body;

  *out_content_type = g_strdup ("application/x-amz-json-1.1");
  if (!ecsa_test_sigv4_verify (req->method, req->path, req->query, req->headers, req->body, cw->secrets, NULL, NULL,
                               &error))
    {
      g_mutex_lock (&cw->lock);
      cw->bad_signatures++;
      g_mutex_unlock (&cw->lock);
      *out_status = 400;
      body = g_strdup_printf ("{\"__type\":\"%s\",\"message\":\"%s\"}", ecsa_sigv4_error_code (error), error->message);
      *out_body = g_bytes_new_take (body, strlen (body));
      return;
    }
  if (g_strcmp0 (target, "Logs_20140328.PutLogEvents") == 0)
    answer = "{\"nextSequenceToken\":\"49590302983486124720812347235823421942\"}";
  else if (g_strcmp0 (target, "Logs_20140328.DescribeLogStreams") == 0)
    answer = "{\"logStreams\":[]}";
  *out_status = 200;
  *out_body = g_bytes_new (answer, strlen (answer));
}

typedef struct
{
  EcsaTestHost *host;
  EcsaTestPlugin *plugin;
  EcsaTestHttpServer *cloudwatch;
  char *endpoint;
  char *group;
  char *name;
  char *marker;
  char *id;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  static guint n;
  g_autoptr(GError) error = NULL;

  n++;
  fx->host = ecsa_test_host_new ();
  ecsa_test_host_set_region (fx->host, "us-west-2");
  fx->plugin = ecsa_test_plugin_init (ecsa_plugin_log_awslogs_get_descriptor (), fx->host, &error);
  g_assert_no_error (error);
  fx->cloudwatch = ecsa_test_http_server_new (0, NULL, NULL, cloudwatch_handler, &cloudwatch);
  fx->endpoint = ecsa_test_http_server_get_url (fx->cloudwatch);
  fx->group = g_strdup_printf ("%s-group", ecsa_test_plugins_prefix ());
  fx->name = g_strdup_printf ("%s-awslogs-%u", ecsa_test_plugins_prefix (), n);
  fx->marker = g_strdup_printf ("ecsa-awslogs-marker-%d-%u-%08x", (int) getpid (), n, g_random_int ());
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->id != NULL)
    ecsa_test_docker_remove_container (fx->id);
  ecsa_test_plugin_free (fx->plugin);
  ecsa_test_host_free (fx->host);
  ecsa_test_http_server_free (fx->cloudwatch);
  g_free (fx->endpoint);
  g_free (fx->group);
  g_free (fx->name);
  g_free (fx->marker);
  g_free (fx->id);
}

static GHashTable *
prepare (Fixture *fx, const char *logs_auth_strategy)
{
  g_autoptr(GError) error = NULL;
  GHashTable *options = ecsa_test_options_new (O ("awslogs-group", fx->group, "awslogs-create-group", "true",
                                                  "awslogs-endpoint", fx->endpoint, "awslogs-stream-prefix", "web"));
  EcsaTestTaskView view;

  ecsa_test_task_view_init (&view, TASK_ARN, "app", EXEC_ID, logs_auth_strategy);
  view.container.log_driver = "awslogs";
  g_assert_true (ecsa_test_log_prepare (fx->plugin, &view.task, &view.container, options, &error));
  g_assert_no_error (error);
  ecsa_test_task_view_clear (&view);
  return options;
}

static void
test_delivery (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = prepare (fx, "ExecutionRole");
  g_autofree char *script = g_strdup_printf ("echo %s", fx->marker);
  g_autofree char *message = NULL;
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;
  gboolean delivered = FALSE;
  gboolean created_stream = FALSE;
  guint i = 0;

  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-region"), ==, "us-west-2");
  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-stream"), ==, "web/app/" TASK_ID);
  g_assert_cmpstr (g_hash_table_lookup (options, "awslogs-credentials-endpoint"), ==, "/v2/credentials/" EXEC_ID);

  fx->id = ecsa_test_docker_create (fx->name, script, "awslogs", options, &message);
  if (fx->id == NULL)
    g_error ("creating the awslogs container: %s", message);
  if (!ecsa_test_docker_start (fx->id, &message))
    g_error ("starting the awslogs container: %s", message);
  g_assert_cmpint (ecsa_test_docker_wait (fx->id), ==, 0);

  while (!delivered)
    {
      g_autoptr(EcsaTestHttpRequest) r = NULL;
      g_autoptr(JsonNode) body = NULL;
      const char *target;
      JsonObject *o;

      if (g_get_monotonic_time () > deadline)
        g_error ("awslogs: no PutLogEvents with the line within %d ms", TIMEOUT_MS);
      ecsa_test_http_server_wait (fx->cloudwatch, i + 1, TIMEOUT_MS);
      r = ecsa_test_http_server_get (fx->cloudwatch, i++);
      target = soup_message_headers_get_one (r->headers, "X-Amz-Target");
      g_test_message ("cloudwatch: %s", target);
      g_assert_cmpstr (soup_message_headers_get_one (r->headers, "X-Amz-Security-Token"), ==, LOGS_TOKEN);
      body = json_from_string (g_bytes_get_data (r->body, NULL), NULL);
      g_assert_nonnull (body);
      o = json_node_get_object (body);
      g_assert_cmpstr (json_object_get_string_member (o, "logGroupName"), ==, fx->group);
      if (g_strcmp0 (target, "Logs_20140328.CreateLogStream") == 0)
        {
          g_assert_cmpstr (json_object_get_string_member (o, "logStreamName"), ==, "web/app/" TASK_ID);
          created_stream = TRUE;
        }
      else if (g_strcmp0 (target, "Logs_20140328.PutLogEvents") == 0)
        {
          JsonArray *events = json_object_get_array_member (o, "logEvents");
          guint j;

          for (j = 0; j < json_array_get_length (events); j++)
            {
              JsonObject *e = json_array_get_object_element (events, j);
              if (g_strcmp0 (json_object_get_string_member (e, "message"), fx->marker) == 0)
                delivered = TRUE;
            }
        }
    }
  g_assert_true (created_stream);
  g_assert_cmpuint (cloudwatch.bad_signatures, ==, 0);
}

/* Without the execution role's endpoint dockerd has no credentials: the metadata service it would
 * ask next is behind the guard, so the container fails to start instead of reaching out. */
static void
test_no_credentials (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = prepare (fx, "");
  g_autofree char *message = NULL;

  g_assert_false (g_hash_table_contains (options, "awslogs-credentials-endpoint"));
  fx->id = ecsa_test_docker_create (fx->name, "echo x", "awslogs", options, &message);
  g_assert_nonnull (fx->id);
  g_assert_false (ecsa_test_docker_start (fx->id, &message));
  g_test_message ("dockerd: %s", message);
  g_assert_nonnull (strstr (message, "failed to initialize logging driver"));
  g_assert_cmpuint (ecsa_test_http_server_count (fx->cloudwatch), ==, 0);
}

static void
test_no_secret_logged (void)
{
  ecsa_test_assert_no_secret (LOGS_SECRET);
  ecsa_test_assert_no_secret (LOGS_TOKEN);
}

int
main (int argc, char **argv)
{
  Endpoint *endpoint;
  int lock;
  int rc;

  ecsa_test_plugins_init (&argc, &argv);
  ecsa_test_require_docker ();
  lock = ecsa_test_lock_fixed_ports (60000);
  ecsa_test_remove_containers_on_exit ();
  ecsa_test_guard_link_local ();
  ecsa_test_redirect_credentials_endpoint ();
  g_mutex_init (&cloudwatch.lock);
  cloudwatch.secrets = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (cloudwatch.secrets, LOGS_KEY, LOGS_SECRET "\n" LOGS_TOKEN);
  endpoint = endpoint_start ();

  g_test_add ("/log-awslogs/delivery", Fixture, NULL, fixture_setup, test_delivery, fixture_teardown);
  g_test_add ("/log-awslogs/no-credentials", Fixture, NULL, fixture_setup, test_no_credentials, fixture_teardown);
  g_test_add_func ("/log-awslogs/zz/no-secret-logged", test_no_secret_logged);
  rc = g_test_run ();

  endpoint_stop (endpoint);
  ecsa_test_unredirect_credentials_endpoint ();
  ecsa_test_unguard_link_local ();
  g_hash_table_unref (cloudwatch.secrets);
  ecsa_test_unlock_fixed_ports (lock);
  return rc;
}

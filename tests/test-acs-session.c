/* test-acs-session.c: the ACS session against loopback ACS and ECS fakes (signatures checked with
 * the real verifier) and a fake task engine / credentials manager: the handshake query, every
 * message type both ways, acks only once the payload is durable, refused tasks reported, the
 * reader never held up by a slow save, credentials never logged nor given to the engine.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-acs-session.h"
#include "ecsa-test-acs.h"
#include "ecsa-test-utils.h"

#include <string.h>

#define GUARD_MS 15000
#define TASK_A "arn:aws:ecs:us-west-2:123456789012:task/aaaa"
#define TASK_B "arn:aws:ecs:us-west-2:123456789012:task/bbbb"
#define TASK_SECRET "taskSecretAccessKeyValue000000000000001"
#define TASK_TOKEN "taskSessionTokenValue0000000000000001"
#define EXEC_SECRET "execSecretAccessKeyValue000000000000001"

typedef struct
{
  JsonArray *tasks;
  gint64 seq_num;
  GTask *task;
} Apply;

typedef struct
{
  EcsaConfig config;
  EcsaTestEcs *ecs;
  EcsaTestWs *acs;
  EcsaAwsCredentialsProvider *credentials;
  EcsaEcsClient *client;
  EcsaStateReporter *reporter;
  EcsaAcsSession *session;
  GArray *reconnect_delays;
  /* fake engine */
  GPtrArray *applies; /* Apply* */
  gboolean hold;      /* keep payloads "being saved" until released */
  gboolean fail_save;
  GHashTable *known;  /* task arns */
  /* fake credentials manager */
  GPtrArray *creds_set; /* "arn|role|id" */
  GPtrArray *creds_removed;
  guint inactive;
  GPtrArray *enis; /* messageIds handed to the ENI attachments */
} Fixture;

static void
apply_free (Apply *apply)
{
  json_array_unref (apply->tasks);
  g_clear_object (&apply->task);
  g_free (apply);
}

static void
complete_apply (Fixture *fx, Apply *apply)
{
  GPtrArray *rejected = g_ptr_array_new_with_free_func (g_free);
  GTask *task = g_steal_pointer (&apply->task);

  if (fx->fail_save)
    {
      g_ptr_array_unref (rejected);
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_FAILED, "disk full");
      g_object_unref (task);
      return;
    }
  for (guint i = 0; i < json_array_get_length (apply->tasks); i++)
    {
      JsonObject *t = json_array_get_object_element (apply->tasks, i);
      const char *arn = json_object_get_string_member (t, "arn");

      if (g_strcmp0 (json_object_get_string_member_with_default (t, "family", ""), "bad") == 0)
        g_ptr_array_add (rejected, g_strdup_printf ("task '%s': container 'web': 'memory' is missing", arn));
      else
        g_hash_table_add (fx->known, g_strdup (arn));
    }
  g_task_return_pointer (task, rejected, (GDestroyNotify) g_ptr_array_unref);
  g_object_unref (task);
}

static void
release_applies (Fixture *fx)
{
  for (guint i = 0; i < fx->applies->len; i++)
    {
      Apply *apply = g_ptr_array_index (fx->applies, i);
      if (apply->task != NULL)
        complete_apply (fx, apply);
    }
}

static void
engine_apply_async (gpointer engine, JsonArray *tasks, gint64 seq_num, GCancellable *cancellable,
                    GAsyncReadyCallback callback, gpointer user_data)
{
  Fixture *fx = engine;
  Apply *apply = g_new0 (Apply, 1);

  apply->tasks = json_array_ref (tasks);
  apply->seq_num = seq_num;
  apply->task = g_task_new (NULL, cancellable, callback, user_data);
  g_ptr_array_add (fx->applies, apply);
  if (!fx->hold)
    complete_apply (fx, apply);
}

static gboolean
engine_apply_finish (gpointer engine, GAsyncResult *result, GPtrArray **out_rejected, GError **error)
{
  GPtrArray *rejected = g_task_propagate_pointer (G_TASK (result), error);

  if (rejected == NULL)
    return FALSE;
  *out_rejected = rejected;
  return TRUE;
}

static gboolean
engine_has_task (gpointer engine, const char *arn)
{
  return g_hash_table_contains (((Fixture *) engine)->known, arn);
}

static gboolean
creds_set (gpointer credentials, JsonObject *creds, const char *arn, const char *role_type, GError **error)
{
  Fixture *fx = credentials;
  const char *id = json_object_get_string_member_with_default (creds, "credentialsId", "");

  if (strcmp (id, "fail") == 0)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'expiration' is not a time");
      return FALSE;
    }
  g_assert_nonnull (json_object_get_string_member_with_default (creds, "secretAccessKey", NULL));
  g_ptr_array_add (fx->creds_set, g_strdup_printf ("%s|%s|%s", arn, role_type, id));
  return TRUE;
}

static void
creds_remove (gpointer credentials, const char *arn)
{
  g_ptr_array_add (((Fixture *) credentials)->creds_removed, g_strdup (arn));
}

static gboolean
attach_eni (gpointer eni, JsonObject *message, char **out_message_id, GError **error)
{
  Fixture *fx = eni;
  const char *id = json_object_get_string_member_with_default (message, "messageId", NULL);

  if (id == NULL || !json_object_has_member (message, "elasticNetworkInterfaces"))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "no elasticNetworkInterfaces");
      return FALSE;
    }
  g_ptr_array_add (fx->enis, g_strdup (id));
  *out_message_id = g_strdup (id);
  return TRUE;
}

static GSource *
timer_factory (EcsaWsTimer which, GTimeSpan delay, gpointer user_data)
{
  Fixture *fx = user_data;

  if (which == ECSA_WS_TIMER_RECONNECT)
    {
      g_array_append_val (fx->reconnect_delays, delay);
      return g_timeout_source_new ((guint) MIN (delay / 1000 / 1000, 1000)); /* 1000x faster, <= 1 s */
    }
  return g_timeout_source_new ((guint) (delay / 1000));
}

static void
inactive_cb (EcsaAcsSession *session, gpointer user_data)
{
  ((Fixture *) user_data)->inactive++;
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  EcsaAcsSessionHooks hooks = { fx, engine_apply_async, engine_apply_finish, engine_has_task,
                                fx, creds_set, creds_remove, fx, attach_eni };
  EcsaStateReporterHooks reporter_hooks = { 0 };

  g_setenv ("AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  g_setenv ("AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  g_unsetenv ("AWS_SESSION_TOKEN");
  g_unsetenv ("SSL_CERT_FILE");
  g_unsetenv ("SSL_CERT_DIR");
  memset (&fx->config, 0, sizeof fx->config);
  fx->config.cluster = g_strdup ("test cluster");
  fx->config.aws_region = g_strdup (ECSA_TEST_REGION);
  fx->ecs = ecsa_test_ecs_new (FALSE, NULL);
  fx->acs = ecsa_test_ws_new (FALSE, FALSE, NULL);
  g_free (fx->ecs->acs_endpoint);
  fx->ecs->acs_endpoint = g_strdup (fx->acs->url);
  fx->config.api_endpoint = g_strdup (fx->ecs->url);
  fx->credentials = ecsa_aws_credentials_provider_new (NULL);
  fx->client = ecsa_ecs_client_new (&fx->config, fx->credentials, NULL, &error);
  g_assert_no_error (error);
  ecsa_ecs_client_set_docker_version (fx->client, "20.10.24");
  {
    g_autoptr(JsonParser) p = json_parser_new ();
    g_assert_true (json_parser_load_from_data (
      p, "{\"ContainerInstanceArn\":\"arn:aws:ecs:us-west-2:123456789012:container-instance/test cluster/ci-1\","
         "\"Cluster\":\"test cluster\"}",
      -1, NULL));
    g_assert_true (ecsa_ecs_client_load_state (fx->client, json_parser_get_root (p), NULL, NULL, &error));
  }
  fx->reporter = ecsa_state_reporter_new (fx->client, &reporter_hooks);
  ecsa_state_reporter_start (fx->reporter);
  fx->applies = g_ptr_array_new_with_free_func ((GDestroyNotify) apply_free);
  fx->known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fx->creds_set = g_ptr_array_new_with_free_func (g_free);
  fx->creds_removed = g_ptr_array_new_with_free_func (g_free);
  fx->enis = g_ptr_array_new_with_free_func (g_free);
  fx->reconnect_delays = g_array_new (FALSE, FALSE, sizeof (GTimeSpan));
  fx->session = ecsa_acs_session_new (fx->client, &hooks, fx->reporter);
  ecsa_ws_session_set_timer_factory (ECSA_WS_SESSION (fx->session), timer_factory, fx);
  g_signal_connect (fx->session, "inactive-instance", G_CALLBACK (inactive_cb), fx);
  ecsa_test_log_capture_start ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_test_log_capture_stop ();
  ecsa_ws_session_stop (ECSA_WS_SESSION (fx->session));
  release_applies (fx);
  ecsa_state_reporter_stop (fx->reporter);
  g_clear_object (&fx->session);
  g_clear_object (&fx->reporter);
  g_clear_object (&fx->client);
  g_clear_object (&fx->credentials);
  ecsa_test_acs_run_for (20);
  ecsa_test_ws_free (fx->acs);
  ecsa_test_ecs_free (fx->ecs);
  g_free (fx->config.cluster);
  g_free (fx->config.aws_region);
  g_free (fx->config.api_endpoint);
  g_ptr_array_unref (fx->applies);
  g_hash_table_unref (fx->known);
  g_ptr_array_unref (fx->creds_set);
  g_ptr_array_unref (fx->creds_removed);
  g_ptr_array_unref (fx->enis);
  g_array_unref (fx->reconnect_delays);
}

static void
start (Fixture *fx)
{
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_connections (fx->acs, 1, GUARD_MS);
  ECSA_TEST_WAIT (!(!ecsa_ws_session_is_connected (ECSA_WS_SESSION (fx->session))), GUARD_MS);
}

static void
wait_applies (Fixture *fx, guint n)
{
  ECSA_TEST_WAIT (fx->applies->len >= n, GUARD_MS);
}

static const char *payload_two_tasks =
  "{\"clusterArn\":\"arn:aws:ecs:us-west-2:123456789012:cluster/test cluster\","
  "\"containerInstanceArn\":\"arn:aws:ecs:us-west-2:123456789012:container-instance/test cluster/ci-1\","
  "\"generatedAt\":1511810771,\"messageId\":\"payload-1\",\"seqNum\":7,\"tasks\":["
  "{\"arn\":\"" TASK_A "\",\"desiredStatus\":\"RUNNING\",\"family\":\"web\",\"version\":\"3\","
  "\"containers\":[{\"name\":\"web\",\"image\":\"ecsa-test/busybox:latest\",\"cpu\":10,\"memory\":64,"
  "\"essential\":true,\"portMappings\":[{\"containerPort\":80,\"hostPort\":0,\"protocol\":\"tcp\"}]}],"
  "\"roleCredentials\":{\"credentialsId\":\"creds-a\",\"roleArn\":\"arn:aws:iam::123456789012:role/app\","
  "\"accessKeyId\":\"ASIATASK000000000001\",\"secretAccessKey\":\"" TASK_SECRET "\",\"sessionToken\":\"" TASK_TOKEN
  "\",\"expiration\":\"2017-11-27T20:26:11Z\"},"
  "\"executionRoleCredentials\":{\"credentialsId\":\"creds-x\",\"roleArn\":\"arn:aws:iam::123456789012:role/exec\","
  "\"accessKeyId\":\"ASIAEXEC000000000001\",\"secretAccessKey\":\"" EXEC_SECRET "\",\"sessionToken\":\"t\","
  "\"expiration\":\"2017-11-27T20:26:12Z\"}},"
  "{\"arn\":\"" TASK_B "\",\"desiredStatus\":\"STOPPED\",\"family\":\"web\",\"version\":\"3\",\"containers\":[]}"
  "]}";

static void
test_handshake_query (Fixture *fx, gconstpointer data)
{
  GHashTable *q;

  start (fx);
  g_assert_cmpuint (fx->acs->bad_signatures, ==, 0);
  g_assert_cmpstr (g_ptr_array_index (fx->acs->signed_headers, 0), ==, "host;x-amz-date");
  q = g_ptr_array_index (fx->acs->queries, 0);
  g_assert_cmpuint (g_hash_table_size (q), ==, 7);
  g_assert_cmpstr (g_hash_table_lookup (q, "clusterArn"), ==, "test cluster");
  g_assert_cmpstr (g_hash_table_lookup (q, "containerInstanceArn"), ==,
                   "arn:aws:ecs:us-west-2:123456789012:container-instance/test cluster/ci-1");
  g_assert_cmpstr (g_hash_table_lookup (q, "agentVersion"), ==, "1.16.2");
  g_assert_nonnull (g_hash_table_lookup (q, "agentHash"));
  g_assert_cmpstr (g_hash_table_lookup (q, "dockerVersion"), ==, "DockerVersion: 20.10.24");
  g_assert_cmpstr (g_hash_table_lookup (q, "seqNum"), ==, "1");
  g_assert_cmpstr (g_hash_table_lookup (q, "sendCredentials"), ==, "true");
  /* the wire form: spaces as '+', keys sorted */
  g_assert_true (g_str_has_prefix (g_ptr_array_index (fx->acs->raw_queries, 0), "agentHash="));
  g_assert_nonnull (strstr (g_ptr_array_index (fx->acs->raw_queries, 0), "clusterArn=test+cluster&"));
  g_assert_nonnull (strstr (g_ptr_array_index (fx->acs->raw_queries, 0), "dockerVersion=DockerVersion%3A+20.10.24&"));
  g_assert_cmpstr (fx->acs->path, ==, "/ws");

  /* a server close: at once again, now without credentials */
  ecsa_test_acs_run_for (1100);
  ecsa_test_ws_close (fx->acs, 1000);
  ecsa_test_ws_wait_connections (fx->acs, 2, GUARD_MS);
  q = g_ptr_array_index (fx->acs->queries, 1);
  g_assert_cmpstr (g_hash_table_lookup (q, "sendCredentials"), ==, "false");
  g_assert_cmpint (g_array_index (fx->reconnect_delays, GTimeSpan, 0), ==, 0);
}

static void
test_payload_acked_once_durable (Fixture *fx, gconstpointer data)
{
  Apply *apply;
  EcsaTestFrame *frame;
  JsonObject *t;
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *engine_text = NULL;

  fx->hold = TRUE;
  start (fx);
  ecsa_test_ws_send (fx->acs, "PayloadMessage", payload_two_tasks);
  wait_applies (fx, 1);
  apply = g_ptr_array_index (fx->applies, 0);
  g_assert_cmpint (apply->seq_num, ==, 7);
  g_assert_cmpuint (json_array_get_length (apply->tasks), ==, 2);
  /* credentials went to the manager, not to the engine */
  g_assert_cmpuint (fx->creds_set->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (fx->creds_set, 0), ==, TASK_A "|TaskApplication|creds-a");
  g_assert_cmpstr (g_ptr_array_index (fx->creds_set, 1), ==, TASK_A "|TaskExecution|creds-x");
  t = json_array_get_object_element (apply->tasks, 0);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (t, "roleCredentials"), "credentialsId"),
                   ==, "creds-a");
  node = json_node_init_array (json_node_alloc (), apply->tasks);
  json_generator_set_root (gen, node);
  engine_text = json_generator_to_data (gen, NULL);
  g_assert_null (strstr (engine_text, TASK_SECRET));
  g_assert_null (strstr (engine_text, TASK_TOKEN));
  g_assert_null (strstr (engine_text, EXEC_SECRET));
  g_assert_null (strstr (engine_text, "ASIATASK"));
  g_assert_nonnull (strstr (engine_text, "ecsa-test/busybox:latest"));

  /* not durable yet: no ack of any kind */
  ecsa_test_acs_run_for (200);
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "AckRequest"), ==, 0);
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "IAMRoleCredentialsAckRequest"), ==, 0);
  release_applies (fx);
  frame = ecsa_test_ws_wait_frame (fx->acs, "AckRequest", 0, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "payload-1");
  g_assert_cmpstr (json_object_get_string_member (frame->message, "cluster"), ==, "test cluster");
  g_assert_cmpstr (json_object_get_string_member (frame->message, "containerInstance"), ==,
                   "arn:aws:ecs:us-west-2:123456789012:container-instance/test cluster/ci-1");
  /* the credentials acks came first, echoing the payload's messageId and the expiration */
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "IAMRoleCredentialsAckRequest"), ==, 2);
  frame = ecsa_test_ws_wait_frame (fx->acs, "IAMRoleCredentialsAckRequest", 0, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "payload-1");
  g_assert_cmpstr (json_object_get_string_member (frame->message, "credentialsId"), ==, "creds-a");
  g_assert_cmpstr (json_object_get_string_member (frame->message, "expiration"), ==, "2017-11-27T20:26:11Z");
  g_assert_cmpstr (((EcsaTestFrame *) g_ptr_array_index (fx->acs->frames, 2))->type, ==, "AckRequest");
  {
    const char *secrets[] = { TASK_SECRET, TASK_TOKEN, EXEC_SECRET, ECSA_TEST_SECRET_KEY, NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_bad_task_refused (Fixture *fx, gconstpointer data)
{
  const char *payload =
    "{\"messageId\":\"payload-2\",\"seqNum\":8,\"tasks\":["
    "{\"arn\":\"" TASK_A "\",\"desiredStatus\":\"RUNNING\",\"family\":\"bad\",\"version\":\"1\",\"containers\":[]},"
    "{\"arn\":\"" TASK_B "\",\"desiredStatus\":\"RUNNING\",\"family\":\"good\",\"version\":\"1\",\"containers\":[]},"
    "{\"desiredStatus\":\"RUNNING\"}, 42, "
    "{\"arn\":\"arn:aws:ecs:us-west-2:123456789012:task/cccc\",\"family\":\"x\",\"roleCredentials\":"
    "{\"credentialsId\":\"fail\",\"secretAccessKey\":\"s\"}}"
    "]}";
  JsonObject *req;
  guint i;

  start (fx);
  ecsa_test_ws_send (fx->acs, "PayloadMessage", payload);
  wait_applies (fx, 1);
  /* only the usable-looking tasks reach the engine; it refused one */
  g_assert_cmpuint (json_array_get_length (((Apply *) g_ptr_array_index (fx->applies, 0))->tasks), ==, 2);
  ECSA_TEST_WAIT (!(ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange") < 2), GUARD_MS);
  for (i = 0; i < 2; i++)
    {
      req = json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitTaskStateChange", i)->body);
      g_assert_cmpstr (json_object_get_string_member (req, "status"), ==, "STOPPED");
      g_assert_true (g_str_has_prefix (json_object_get_string_member (req, "reason"),
                                       "UnrecogniedTaskError: Error loading task - "));
      if (strcmp (json_object_get_string_member (req, "task"), TASK_A) == 0)
        g_assert_cmpstr (json_object_get_string_member (req, "reason"), ==,
                         "UnrecogniedTaskError: Error loading task - container 'web': 'memory' is missing");
      else
        g_assert_cmpstr (json_object_get_string_member (req, "task"), ==, "arn:aws:ecs:us-west-2:123456789012:task/cccc");
    }
  ecsa_test_acs_run_for (200);
  /* v1.16.2: no ack unless every task was accepted; the good one is recorded anyway */
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "AckRequest"), ==, 0);
  g_assert_true (g_hash_table_contains (fx->known, TASK_B));
  g_assert_true (ecsa_ws_session_is_connected (ECSA_WS_SESSION (fx->session)));
}

static void
test_payload_without_id_or_failed_save (Fixture *fx, gconstpointer data)
{
  start (fx);
  ecsa_test_ws_send (fx->acs, "PayloadMessage", "{\"tasks\":[]}");
  ecsa_test_ws_send (fx->acs, "PayloadMessage", "{\"messageId\":\"m\",\"tasks\":{}}");
  ecsa_test_ws_send (fx->acs, "HeartbeatMessage", "{\"messageId\":\"hb\"}");
  ecsa_test_ws_wait_frame (fx->acs, "HeartbeatAckRequest", 0, GUARD_MS);
  g_assert_cmpuint (fx->applies->len, ==, 0);
  fx->fail_save = TRUE;
  ecsa_test_ws_send (fx->acs, "PayloadMessage", "{\"messageId\":\"m2\",\"tasks\":[]}");
  wait_applies (fx, 1);
  ecsa_test_acs_run_for (200);
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "AckRequest"), ==, 0);
  g_assert_nonnull (strstr (ecsa_test_log_captured (), "error saving state for payload message 'm2'"));
  /* an empty payload is acked */
  fx->fail_save = FALSE;
  ecsa_test_ws_send (fx->acs, "PayloadMessage", "{\"messageId\":\"m3\"}");
  g_assert_cmpstr (json_object_get_string_member (ecsa_test_ws_wait_frame (fx->acs, "AckRequest", 0, GUARD_MS)->message,
                                                  "messageId"),
                   ==, "m3");
}

static void
test_reader_not_held_up (Fixture *fx, gconstpointer data)
{
  EcsaTestFrame *frame;

  fx->hold = TRUE;
  start (fx);
  ecsa_test_ws_send (fx->acs, "PayloadMessage", "{\"messageId\":\"slow\",\"tasks\":[{\"arn\":\"" TASK_A "\"}]}");
  wait_applies (fx, 1);
  /* while "slow" is being saved, the next frames are read and answered */
  ecsa_test_ws_send (fx->acs, "HeartbeatMessage", "{\"healthy\":true,\"messageId\":\"hb-7\"}");
  frame = ecsa_test_ws_wait_frame (fx->acs, "HeartbeatAckRequest", 0, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "hb-7");
  ecsa_test_ws_send (fx->acs, "PayloadMessage", "{\"messageId\":\"fast\",\"tasks\":[{\"arn\":\"" TASK_B "\"}]}");
  wait_applies (fx, 2);
  g_assert_cmpuint (ecsa_acs_session_get_payloads_in_flight (fx->session), ==, 2);
  complete_apply (fx, g_ptr_array_index (fx->applies, 1));
  frame = ecsa_test_ws_wait_frame (fx->acs, "AckRequest", 0, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "fast");
  complete_apply (fx, g_ptr_array_index (fx->applies, 0));
  frame = ecsa_test_ws_wait_frame (fx->acs, "AckRequest", 1, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "slow");
}

/* A burst of payloads beyond ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT (ECS sends one payload per stopped
 * task) is not dropped: the rest wait, are started in order as earlier ones are recorded, and
 * every one is acked. */
static void
test_burst_waits (Fixture *fx, gconstpointer data)
{
  const guint n = ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT + 6;

  fx->hold = TRUE;
  start (fx);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *body = g_strdup_printf ("{\"messageId\":\"burst-%u\",\"seqNum\":%u,\"tasks\":[]}", i, i + 1);

      ecsa_test_ws_send (fx->acs, "PayloadMessage", body);
    }
  wait_applies (fx, ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT);
  ecsa_test_acs_run_for (200);
  g_assert_cmpuint (fx->applies->len, ==, ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT);
  g_assert_cmpuint (ecsa_acs_session_get_payloads_in_flight (fx->session), ==, ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT);
  /* one recorded: the next one starts, the first waiting one */
  complete_apply (fx, g_ptr_array_index (fx->applies, 0));
  wait_applies (fx, ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT + 1);
  g_assert_cmpint (((Apply *) g_ptr_array_index (fx->applies, ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT))->seq_num, ==,
                   ECSA_ACS_MAX_PAYLOADS_IN_FLIGHT + 1);
  for (gint64 deadline = g_get_monotonic_time () + GUARD_MS * 1000;
       ecsa_test_ws_count (fx->acs, "AckRequest") < n && g_get_monotonic_time () < deadline;)
    {
      release_applies (fx);
      ecsa_test_acs_run_for (50);
    }
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "AckRequest"), ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (((Apply *) g_ptr_array_index (fx->applies, i))->seq_num, ==, i + 1);
  g_assert_null (strstr (ecsa_test_log_captured (), "left for ACS to send again"));
}

static void
test_ack_dropped_after_reconnect (Fixture *fx, gconstpointer data)
{
  fx->hold = TRUE;
  start (fx);
  ecsa_test_ws_send (fx->acs, "PayloadMessage", "{\"messageId\":\"old\",\"tasks\":[]}");
  wait_applies (fx, 1);
  ecsa_test_ws_close (fx->acs, 1000);
  ecsa_test_ws_wait_connections (fx->acs, 2, GUARD_MS);
  ECSA_TEST_WAIT (!(!ecsa_ws_session_is_connected (ECSA_WS_SESSION (fx->session))), GUARD_MS);
  release_applies (fx);
  ecsa_test_acs_run_for (200);
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "AckRequest"), ==, 0);
}

static void
test_credentials_message (Fixture *fx, gconstpointer data)
{
  EcsaTestFrame *frame;
#define CREDS_FMT "{\"messageId\":\"%s\",\"taskArn\":\"%s\",\"roleType\":\"%s\",\"roleCredentials\":" \
                    "{\"credentialsId\":\"%s\",\"accessKeyId\":\"ASIANEW0000000000001\",\"secretAccessKey\":\"" \
                    TASK_SECRET "\",\"sessionToken\":\"" TASK_TOKEN "\",\"expiration\":\"2017-11-27T21:26:11.000Z\"}}"
  g_autofree char *known = NULL;
  g_autofree char *unknown_task = NULL;
  g_autofree char *odd_role = NULL;
  g_autofree char *exec = NULL;

  g_hash_table_add (fx->known, g_strdup (TASK_A));
  start (fx);
  known = g_strdup_printf (CREDS_FMT, "c-1", TASK_A, "TaskApplication", "creds-a2");
  unknown_task = g_strdup_printf (CREDS_FMT, "c-2", TASK_B, "TaskApplication", "creds-b");
  odd_role = g_strdup_printf (CREDS_FMT, "c-3", TASK_A, "SomethingElse", "creds-z");
  exec = g_strdup_printf (CREDS_FMT, "c-4", TASK_A, "TaskExecution", "creds-x2");
  ecsa_test_ws_send (fx->acs, "IAMRoleCredentialsMessage", known);
  ecsa_test_ws_send (fx->acs, "IAMRoleCredentialsMessage", unknown_task);
  ecsa_test_ws_send (fx->acs, "IAMRoleCredentialsMessage", odd_role);
  ecsa_test_ws_send (fx->acs, "IAMRoleCredentialsMessage", "{\"messageId\":\"c-5\",\"taskArn\":\"" TASK_A "\"}");
  ecsa_test_ws_send (fx->acs, "IAMRoleCredentialsMessage", exec);
  frame = ecsa_test_ws_wait_frame (fx->acs, "IAMRoleCredentialsAckRequest", 2, GUARD_MS);
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "IAMRoleCredentialsAckRequest"), ==, 3);
  frame = ecsa_test_ws_wait_frame (fx->acs, "IAMRoleCredentialsAckRequest", 0, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "c-1");
  g_assert_cmpstr (json_object_get_string_member (frame->message, "credentialsId"), ==, "creds-a2");
  g_assert_cmpstr (json_object_get_string_member (frame->message, "expiration"), ==, "2017-11-27T21:26:11.000Z");
  /* an unknown roleType: acked, not stored (v1.16.2) */
  frame = ecsa_test_ws_wait_frame (fx->acs, "IAMRoleCredentialsAckRequest", 1, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "c-3");
  frame = ecsa_test_ws_wait_frame (fx->acs, "IAMRoleCredentialsAckRequest", 2, GUARD_MS);
  g_assert_cmpstr (json_object_get_string_member (frame->message, "messageId"), ==, "c-4");
  g_assert_cmpuint (fx->creds_set->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (fx->creds_set, 1), ==, TASK_A "|TaskExecution|creds-x2");
  {
    const char *secrets[] = { TASK_SECRET, TASK_TOKEN, NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_heartbeat_close_error_unknown (Fixture *fx, gconstpointer data)
{
  start (fx);
  ecsa_test_ws_send (fx->acs, "HeartbeatMessage", "{\"healthy\":true}"); /* v1.16.2 form: nothing to answer */
  ecsa_test_ws_send (fx->acs, "ErrorMessage", "{\"message\":\"something broke\"}");
  ecsa_test_ws_send (fx->acs, "TaskManifestMessage", "{\"messageId\":\"tm\",\"tasks\":[]}");
  ecsa_test_ws_send (fx->acs, "AccessDeniedException", "{\"message\":\"no\"}");
  ecsa_test_ws_send (fx->acs, "StageUpdateMessage",
                     "{\"messageId\":\"up-1\",\"clusterArn\":\"c\",\"containerInstanceArn\":\"ci\","
                     "\"updateInfo\":{\"location\":\"https://x/y.tar\",\"signature\":\"abc\"}}");
  {
    EcsaTestFrame *nack = ecsa_test_ws_wait_frame (fx->acs, "NackRequest", 0, GUARD_MS);
    g_assert_cmpstr (json_object_get_string_member (nack->message, "messageId"), ==, "up-1");
    g_assert_cmpstr (json_object_get_string_member (nack->message, "cluster"), ==, "c");
    g_assert_cmpstr (json_object_get_string_member (nack->message, "containerInstance"), ==, "ci");
    g_assert_cmpstr (json_object_get_string_member (nack->message, "reason"), ==, "Updates are disabled");
  }
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "HeartbeatAckRequest"), ==, 0);
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "AckRequest"), ==, 0);
  g_assert_true (ecsa_ws_session_is_connected (ECSA_WS_SESSION (fx->session)));
  g_assert_nonnull (strstr (ecsa_test_log_captured (), "ErrorMessage received: something broke"));
  g_assert_nonnull (strstr (ecsa_test_log_captured (), "no handler for message type 'TaskManifestMessage'"));
  /* CloseMessage: closed and opened again at once */
  ecsa_test_acs_run_for (1100);
  ecsa_test_ws_send (fx->acs, "CloseMessage", "{\"message\":\"going away\"}");
  ecsa_test_ws_wait_connections (fx->acs, 2, GUARD_MS);
  g_assert_cmpint (g_array_index (fx->reconnect_delays, GTimeSpan, 0), ==, 0);
}

static void
test_attach_eni (Fixture *fx, gconstpointer data)
{
  EcsaTestFrame *ack;

  start (fx);
  ecsa_test_ws_send (fx->acs, "AttachTaskNetworkInterfacesMessage",
                     "{\"messageId\":\"eni-bad\",\"clusterArn\":\"c\",\"containerInstanceArn\":\"ci\"}");
  ecsa_test_ws_send (fx->acs, "AttachTaskNetworkInterfacesMessage",
                     "{\"messageId\":\"eni-1\",\"clusterArn\":\"arn:aws:ecs:us-west-2:1:cluster/c\","
                     "\"containerInstanceArn\":\"arn:aws:ecs:us-west-2:1:container-instance/ci\",\"taskArn\":\"t\","
                     "\"waitTimeoutMs\":5000,\"elasticNetworkInterfaces\":[{\"attachmentArn\":\"a\","
                     "\"macAddress\":\"02:00:00:00:be:ef\",\"ec2Id\":\"eni-1\"}]}");
  ack = ecsa_test_ws_wait_frame (fx->acs, "AckRequest", 0, GUARD_MS);
  /* v1.16.2 acks with the message's own cluster and instance */
  g_assert_cmpstr (json_object_get_string_member (ack->message, "messageId"), ==, "eni-1");
  g_assert_cmpstr (json_object_get_string_member (ack->message, "cluster"), ==, "arn:aws:ecs:us-west-2:1:cluster/c");
  g_assert_cmpstr (json_object_get_string_member (ack->message, "containerInstance"), ==,
                   "arn:aws:ecs:us-west-2:1:container-instance/ci");
  g_assert_cmpuint (fx->enis->len, ==, 1);
  g_assert_cmpuint (ecsa_test_ws_count (fx->acs, "AckRequest"), ==, 1);
}

static void
test_inactive_instance (Fixture *fx, gconstpointer data)
{
  fx->acs->refuse_status = 400;
  fx->acs->refuse_count = 1;
  fx->acs->refuse_body = g_strdup ("{\"InactiveInstanceException\":\"Container instance deregistered.\"}");
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ECSA_TEST_WAIT (!(fx->reconnect_delays->len < 1), GUARD_MS);
  g_assert_cmpint (g_array_index (fx->reconnect_delays, GTimeSpan, 0), ==, (GTimeSpan) 3600 * G_USEC_PER_SEC);
  g_assert_cmpuint (fx->inactive, ==, 1);
  /* any other refusal: the ACS backoff, 250 ms + up to 20% */
  ecsa_ws_session_stop (ECSA_WS_SESSION (fx->session));
  fx->acs->refuse_status = 500;
  fx->acs->refuse_count = 1;
  g_clear_pointer (&fx->acs->refuse_body, g_free);
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ECSA_TEST_WAIT (!(fx->reconnect_delays->len < 2), GUARD_MS);
  g_assert_cmpint (g_array_index (fx->reconnect_delays, GTimeSpan, 1), >=, 250 * 1000);
  g_assert_cmpint (g_array_index (fx->reconnect_delays, GTimeSpan, 1), <=, 300 * 1000);
  ecsa_test_ws_wait_connections (fx->acs, 1, GUARD_MS);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/acs-session/handshake-query", test_handshake_query);
  ADD ("/acs-session/payload/acked-once-durable", test_payload_acked_once_durable);
  ADD ("/acs-session/payload/bad-task", test_bad_task_refused);
  ADD ("/acs-session/payload/malformed-or-unsaved", test_payload_without_id_or_failed_save);
  ADD ("/acs-session/payload/reader-not-held-up", test_reader_not_held_up);
  ADD ("/acs-session/payload/burst-waits", test_burst_waits);
  ADD ("/acs-session/payload/ack-dropped-after-reconnect", test_ack_dropped_after_reconnect);
  ADD ("/acs-session/credentials-message", test_credentials_message);
  ADD ("/acs-session/other-messages", test_heartbeat_close_error_unknown);
  ADD ("/acs-session/inactive-instance", test_inactive_instance);
  ADD ("/acs-session/attach-eni", test_attach_eni);
  return g_test_run ();
}

/* test-tcs-session.c: the TCS session against loopback TCS and ECS fakes: the query, the signed
 * frame layout (checked with the real verifier), PublishMetricsRequest at connect and every 20 s
 * (virtual clock), idle metadata, at most 10 tasks per message, heartbeats, StopTelemetrySession,
 * the 1 s .. 1 min backoff.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-tcs-session.h"
#include "ecsa-test-acs.h"
#include "ecsa-test-utils.h"

#include <string.h>

#define GUARD_MS 15000
#define INSTANCE_ARN "arn:aws:ecs:us-west-2:123456789012:container-instance/test-cluster/ci-1"

typedef struct
{
  EcsaWsTimer which;
  GTimeSpan delay;
} TimerRecord;

typedef struct
{
  EcsaConfig config;
  EcsaTestEcs *ecs;
  EcsaTestWs *tcs;
  EcsaAwsCredentialsProvider *credentials;
  EcsaEcsClient *client;
  EcsaTcsSession *session;
  GArray *timers;
  gboolean fast_publish;
  guint n_tasks;       /* the fake metrics plugin's running tasks */
  gboolean no_samples; /* ... none has samples yet */
  guint collects;
} Fixture;

static GPtrArray *
collect (gpointer metrics)
{
  Fixture *fx = metrics;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_task_metrics_free);

  fx->collects++;
  for (guint i = 0; i < fx->n_tasks; i++)
    {
      EcsaTaskMetrics *m = g_new0 (EcsaTaskMetrics, 1);

      m->struct_size = sizeof *m;
      m->task_arn = g_strdup_printf ("arn:aws:ecs:us-west-2:123456789012:task/t%02u", i);
      m->family = g_strdup ("web");
      m->version = g_strdup ("4");
      m->n_containers = 2;
      m->containers = g_new0 (EcsaContainerMetrics *, 2);
      for (guint c = 0; c < 2; c++)
        {
          EcsaContainerMetrics *cm = m->containers[c] = g_new0 (EcsaContainerMetrics, 1);

          cm->struct_size = sizeof (EcsaContainerMetrics);
          cm->container_name = g_strdup (c == 0 ? "web" : "starting");
          cm->docker_id = g_strdup_printf ("%064u", i * 2 + c);
          if (c == 0 && !fx->no_samples)
            {
              cm->cpu = (EcsaStatSet) { 0.5, 12.5, 40.0, 8 };
              cm->memory = (EcsaStatSet) { 20, 24, 180, 8 };
            }
        }
      g_ptr_array_add (out, m);
    }
  return out;
}

static GSource *
timer_factory (EcsaWsTimer which, GTimeSpan delay, gpointer user_data)
{
  Fixture *fx = user_data;
  TimerRecord r = { which, delay };

  g_array_append_val (fx->timers, r);
  if (which == ECSA_WS_TIMER_RECONNECT || (which == ECSA_WS_TIMER_PUBLISH && fx->fast_publish))
    return g_timeout_source_new ((guint) (delay / 1000 / 1000));
  return g_timeout_source_new ((guint) (delay / 1000));
}

static GTimeSpan
nth_timer (Fixture *fx, EcsaWsTimer which, guint n)
{
  for (guint i = 0; i < fx->timers->len; i++)
    {
      TimerRecord *r = &g_array_index (fx->timers, TimerRecord, i);
      if (r->which == which && n-- == 0)
        return r->delay;
    }
  return -1;
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  EcsaTcsSessionHooks hooks = { fx, collect };

  g_setenv ("AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  g_setenv ("AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  g_unsetenv ("AWS_SESSION_TOKEN");
  g_unsetenv ("SSL_CERT_FILE");
  g_unsetenv ("SSL_CERT_DIR");
  memset (&fx->config, 0, sizeof fx->config);
  fx->config.cluster = g_strdup ("test-cluster");
  fx->config.aws_region = g_strdup (ECSA_TEST_REGION);
  fx->ecs = ecsa_test_ecs_new (FALSE, NULL);
  fx->tcs = ecsa_test_ws_new (TRUE, FALSE, NULL);
  g_free (fx->ecs->tcs_endpoint);
  fx->ecs->tcs_endpoint = g_strdup (fx->tcs->url);
  fx->config.api_endpoint = g_strdup (fx->ecs->url);
  fx->credentials = ecsa_aws_credentials_provider_new (NULL);
  fx->client = ecsa_ecs_client_new (&fx->config, fx->credentials, NULL, &error);
  g_assert_no_error (error);
  {
    g_autoptr(JsonParser) p = json_parser_new ();
    g_assert_true (json_parser_load_from_data (p, "{\"ContainerInstanceArn\":\"" INSTANCE_ARN "\",\"Cluster\":\"test-cluster\"}",
                                               -1, NULL));
    g_assert_true (ecsa_ecs_client_load_state (fx->client, json_parser_get_root (p), NULL, NULL, &error));
  }
  fx->timers = g_array_new (FALSE, FALSE, sizeof (TimerRecord));
  fx->session = ecsa_tcs_session_new (fx->client, &hooks);
  ecsa_ws_session_set_timer_factory (ECSA_WS_SESSION (fx->session), timer_factory, fx);
  ecsa_test_log_capture_start ();
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_test_log_capture_stop ();
  ecsa_ws_session_stop (ECSA_WS_SESSION (fx->session));
  g_clear_object (&fx->session);
  g_clear_object (&fx->client);
  g_clear_object (&fx->credentials);
  ecsa_test_acs_run_for (20);
  ecsa_test_ws_free (fx->tcs);
  ecsa_test_ecs_free (fx->ecs);
  g_free (fx->config.cluster);
  g_free (fx->config.aws_region);
  g_free (fx->config.api_endpoint);
  g_array_unref (fx->timers);
}

static void
test_idle_publish_and_frame_layout (Fixture *fx, gconstpointer data)
{
  EcsaTestFrame *frame;
  GHashTable *q;
  JsonObject *metadata;
  g_auto(GStrv) lines = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_connections (fx->tcs, 1, GUARD_MS);
  q = g_ptr_array_index (fx->tcs->queries, 0);
  g_assert_cmpuint (g_hash_table_size (q), ==, 2);
  g_assert_cmpstr (g_hash_table_lookup (q, "cluster"), ==, "test-cluster");
  g_assert_cmpstr (g_hash_table_lookup (q, "containerInstance"), ==, INSTANCE_ARN);
  g_assert_cmpstr (fx->tcs->path, ==, "/ws");

  /* right after connecting */
  frame = ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", 0, GUARD_MS);
  g_assert_true (frame->signature_ok);
  g_assert_cmpuint (fx->tcs->bad_signatures, ==, 0);
  lines = g_strsplit (frame->frame_headers, "\r\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_true (g_str_has_prefix (lines[0], "Authorization: AWS4-HMAC-SHA256 Credential=" ECSA_TEST_ACCESS_KEY "/"));
  g_assert_nonnull (strstr (lines[0], "SignedHeaders=host;x-amz-date,"));
  g_assert_true (g_str_has_prefix (lines[1], "Host: 127.0.0.1:"));
  g_assert_true (g_str_has_prefix (lines[2], "X-Amz-Date: "));
  g_assert_true (g_str_has_prefix (strstr (frame->raw, "\r\n\r\n") + 4, "{\"type\":\"PublishMetricsRequest\",\"message\":"));

  /* no tasks: idle, fin, no taskMetrics */
  metadata = json_object_get_object_member (frame->message, "metadata");
  g_assert_true (json_object_get_boolean_member (metadata, "idle"));
  g_assert_true (json_object_get_boolean_member (metadata, "fin"));
  g_assert_cmpstr (json_object_get_string_member (metadata, "cluster"), ==, "test-cluster");
  g_assert_cmpstr (json_object_get_string_member (metadata, "containerInstance"), ==, INSTANCE_ARN);
  g_assert_true (g_uuid_string_is_valid (json_object_get_string_member (metadata, "messageId")));
  g_assert_false (json_object_has_member (frame->message, "taskMetrics"));
  g_assert_cmpint (json_object_get_int_member (frame->message, "timestamp"), >=, now);
  g_assert_cmpint (json_object_get_int_member (frame->message, "timestamp"), <=, now + 5);

  /* every 20 s */
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_PUBLISH, 0), ==, 20 * G_USEC_PER_SEC);
  {
    const char *secrets[] = { ECSA_TEST_SECRET_KEY, NULL };
    ecsa_test_log_assert_no_secret (secrets);
  }
}

static void
test_session_token_frame (Fixture *fx, gconstpointer data)
{
  EcsaTestFrame *frame;
  g_auto(GStrv) lines = NULL;

  g_setenv ("AWS_SESSION_TOKEN", ECSA_TEST_SESSION_TOKEN, TRUE);
  fx->ecs->session_token = TRUE;
  fx->tcs->session_token = TRUE;
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  frame = ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", 0, GUARD_MS);
  g_assert_true (frame->signature_ok);
  lines = g_strsplit (frame->frame_headers, "\r\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  g_assert_nonnull (strstr (lines[0], "SignedHeaders=host;x-amz-date;x-amz-security-token,"));
  g_assert_true (g_str_has_prefix (lines[3], "X-Amz-Security-Token: " ECSA_TEST_SESSION_TOKEN));
}

static void
test_publish_every_interval (Fixture *fx, gconstpointer data)
{
  fx->fast_publish = TRUE; /* 20 s -> 20 ms */
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", 3, GUARD_MS);
  g_assert_cmpuint (fx->collects, >=, 4);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_PUBLISH, i), ==, 20 * G_USEC_PER_SEC);
}

static void
test_ten_tasks_per_message (Fixture *fx, gconstpointer data)
{
  const char *message_id;
  guint counts[] = { 10, 10, 3 };

  fx->n_tasks = 23;
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", 2, GUARD_MS);
  ecsa_test_acs_run_for (100);
  g_assert_cmpuint (ecsa_test_ws_count (fx->tcs, "PublishMetricsRequest"), ==, 3);
  message_id = json_object_get_string_member (
    json_object_get_object_member (ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", 0, 0)->message,
                                   "metadata"),
    "messageId");
  for (guint i = 0; i < 3; i++)
    {
      EcsaTestFrame *f = ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", i, GUARD_MS);
      JsonObject *metadata = json_object_get_object_member (f->message, "metadata");
      JsonArray *tasks = json_object_get_array_member (f->message, "taskMetrics");
      JsonObject *t0 = json_array_get_object_element (tasks, 0);
      JsonArray *containers = json_object_get_array_member (t0, "containerMetrics");
      JsonObject *cpu;

      g_assert_true (f->signature_ok);
      g_assert_false (json_object_get_boolean_member (metadata, "idle"));
      g_assert_cmpint (json_object_get_boolean_member (metadata, "fin"), ==, i == 2);
      g_assert_cmpstr (json_object_get_string_member (metadata, "messageId"), ==, message_id);
      g_assert_cmpuint (json_array_get_length (tasks), ==, counts[i]);
      g_assert_cmpstr (json_object_get_string_member (t0, "taskDefinitionFamily"), ==, "web");
      g_assert_cmpstr (json_object_get_string_member (t0, "taskDefinitionVersion"), ==, "4");
      /* the container without samples is left out */
      g_assert_cmpuint (json_array_get_length (containers), ==, 1);
      cpu = json_object_get_object_member (json_array_get_object_element (containers, 0), "cpuStatsSet");
      g_assert_cmpfloat (json_object_get_double_member (cpu, "max"), ==, 12.5);
      g_assert_cmpint (json_object_get_int_member (cpu, "sampleCount"), ==, 8);
      g_assert_cmpfloat (json_object_get_double_member (
                           json_object_get_object_member (json_array_get_object_element (containers, 0),
                                                          "memoryStatsSet"),
                           "sum"),
                         ==, 180.0);
    }
}

static void
test_no_samples_yet (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) metrics = NULL;
  g_autoptr(GPtrArray) requests = NULL;

  /* tasks run but nothing is ready: nothing to send (v1.16.2 EmptyMetricsError) */
  fx->n_tasks = 2;
  fx->no_samples = TRUE;
  metrics = collect (fx);
  requests = ecsa_tcs_build_publish_requests ("c", "ci", metrics, g_get_real_time ());
  g_assert_cmpuint (requests->len, ==, 0);
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_connections (fx->tcs, 1, GUARD_MS);
  ECSA_TEST_WAIT (!(fx->collects < 2), GUARD_MS);
  ecsa_test_acs_run_for (100);
  g_assert_cmpuint (ecsa_test_ws_count (fx->tcs, "PublishMetricsRequest"), ==, 0);
}

static void
test_server_messages (Fixture *fx, gconstpointer data)
{
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", 0, GUARD_MS);
  ecsa_test_ws_send (fx->tcs, "HeartbeatMessage", "{\"healthy\":true}");
  ecsa_test_ws_send (fx->tcs, "AckPublishMetric", "{\"message\":\"ok\"}");
  ecsa_test_ws_send (fx->tcs, "PublishHealthRequest", "{}");
  ecsa_test_acs_run_for (200);
  g_assert_cmpuint (fx->tcs->frames->len, ==, 1); /* nothing answered */
  g_assert_true (ecsa_ws_session_is_connected (ECSA_WS_SESSION (fx->session)));
  ecsa_test_acs_run_for (1000);
  ecsa_test_ws_send (fx->tcs, "StopTelemetrySessionMessage", "{\"message\":\"bye\"}");
  ecsa_test_ws_wait_connections (fx->tcs, 2, GUARD_MS);
  g_assert_cmpint (nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 0), ==, 0);
  ecsa_test_ws_wait_frame (fx->tcs, "PublishMetricsRequest", 1, GUARD_MS);
}

static void
test_backoff (Fixture *fx, gconstpointer data)
{
  double base = 1.0 * G_USEC_PER_SEC;

  fx->tcs->refuse_status = 500;
  fx->tcs->refuse_count = 4;
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ecsa_test_ws_wait_connections (fx->tcs, 1, GUARD_MS);
  for (guint i = 0; i < 4; i++)
    {
      GTimeSpan d = nth_timer (fx, ECSA_WS_TIMER_RECONNECT, i);
      g_assert_cmpint (d, >=, (GTimeSpan) base);
      g_assert_cmpint (d, <=, (GTimeSpan) (base * 1.2) + 1);
      base = MIN (base * 2, 60.0 * G_USEC_PER_SEC);
    }
}

static void
test_no_telemetry_endpoint (Fixture *fx, gconstpointer data)
{
  g_clear_pointer (&fx->ecs->tcs_endpoint, g_free);
  ecsa_ws_session_start (ECSA_WS_SESSION (fx->session));
  ECSA_TEST_WAIT (!(nth_timer (fx, ECSA_WS_TIMER_RECONNECT, 0) < 0), GUARD_MS);
  g_assert_cmpuint (fx->tcs->handshakes, ==, 0);
  g_assert_nonnull (strstr (ecsa_test_log_captured (), "No telemetry endpoint returned"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/tcs-session/idle-publish-and-frame", test_idle_publish_and_frame_layout);
  ADD ("/tcs-session/session-token-frame", test_session_token_frame);
  ADD ("/tcs-session/publish-every-20s", test_publish_every_interval);
  ADD ("/tcs-session/ten-tasks-per-message", test_ten_tasks_per_message);
  ADD ("/tcs-session/no-samples-yet", test_no_samples_yet);
  ADD ("/tcs-session/server-messages", test_server_messages);
  ADD ("/tcs-session/backoff", test_backoff);
  ADD ("/tcs-session/no-telemetry-endpoint", test_no_telemetry_endpoint);
  return g_test_run ();
}

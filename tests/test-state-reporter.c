/* test-state-reporter.c: the state reporter against the ECS fake: batching of container changes
 * into SubmitTaskStateChange, order per task under failures, retry backoff on a virtual clock, at
 * most 3 tasks at once, the 20 s drain, mark_sent only after acceptance, nothing dropped.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-state-reporter.h"
#include "ecsa-test-acs.h"
#include "ecsa-test-utils.h"

#include <string.h>

#define GUARD_MS 15000
#define TASK_A "arn:aws:ecs:us-west-2:123456789012:task/aaaa"
#define TASK_B "arn:aws:ecs:us-west-2:123456789012:task/bbbb"

typedef struct
{
  EcsaStateReporterTimer which;
  GTimeSpan delay;
} TimerRecord;

typedef struct
{
  EcsaConfig config;
  EcsaTestEcs *ecs;
  EcsaAwsCredentialsProvider *credentials;
  EcsaEcsClient *client;
  EcsaStateReporter *reporter;
  GPtrArray *sent;          /* char*: "<arn>|<container or ->|<status>" in mark_sent order */
  GHashTable *task_status;  /* arn -> known status */
  GArray *timers;
  guint fail_next;          /* the next N submissions answer this status */
  guint fail_status;
  const char *fail_type;
  gboolean hold;            /* park submissions until released */
  GPtrArray *held;          /* SoupServerMessage* */
  guint max_held;
} Fixture;

static void
mark_sent (gpointer engine, const EcsaStateChange *change)
{
  Fixture *fx = engine;
  g_ptr_array_add (fx->sent, g_strdup_printf ("%s|%s|%s", change->task_arn,
                                              change->kind == ECSA_STATE_CHANGE_CONTAINER ? change->container_name : "-",
                                              change->status));
}

static char *
task_known_status (gpointer engine, const char *arn)
{
  Fixture *fx = engine;
  return g_strdup (g_hash_table_lookup (fx->task_status, arn));
}

static GSource *
timer_factory (EcsaStateReporterTimer which, GTimeSpan delay, gpointer user_data)
{
  Fixture *fx = user_data;
  TimerRecord r = { which, delay };

  g_array_append_val (fx->timers, r);
  if (which == ECSA_STATE_REPORTER_TIMER_RETRY)
    return g_timeout_source_new ((guint) (delay / 1000 / 1000)); /* 1000x faster */
  return g_timeout_source_new_seconds (3600);                  /* tests drain by hand */
}

static gboolean
ecs_hook (EcsaTestEcs *ecs, const char *op, JsonObject *request, SoupServerMessage *msg, gpointer user_data)
{
  Fixture *fx = user_data;

  if (strcmp (op, "SubmitTaskStateChange") != 0)
    return FALSE;
  if (fx->fail_next > 0)
    {
      fx->fail_next--;
      ecsa_test_ecs_reply_error (msg, fx->fail_status, fx->fail_type, "injected failure");
      return TRUE;
    }
  if (fx->hold)
    {
      soup_server_message_pause (msg);
      g_ptr_array_add (fx->held, g_object_ref (msg));
      fx->max_held = MAX (fx->max_held, fx->held->len);
      return TRUE;
    }
  return FALSE;
}

static void
release_held (Fixture *fx)
{
  g_autoptr(GPtrArray) held = g_steal_pointer (&fx->held);

  fx->held = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < held->len; i++)
    {
      SoupServerMessage *msg = g_ptr_array_index (held, i);
      ecsa_test_ecs_reply_json (msg, "{\"acknowledgment\":\"ACK\"}");
      soup_server_message_unpause (msg);
    }
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  EcsaStateReporterHooks hooks = { fx, mark_sent, task_known_status };

  g_setenv ("AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  g_setenv ("AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  g_unsetenv ("SSL_CERT_FILE"); /* plain http here: no TLS in this process (LeakSanitizer) */
  g_unsetenv ("SSL_CERT_DIR");
  memset (&fx->config, 0, sizeof fx->config);
  fx->config.cluster = g_strdup ("test-cluster");
  fx->config.aws_region = g_strdup (ECSA_TEST_REGION);
  fx->ecs = ecsa_test_ecs_new (FALSE, NULL);
  fx->ecs->hook = ecs_hook;
  fx->ecs->hook_data = fx;
  fx->config.api_endpoint = g_strdup (fx->ecs->url);
  fx->credentials = ecsa_aws_credentials_provider_new (NULL);
  fx->client = ecsa_ecs_client_new (&fx->config, fx->credentials, NULL, &error);
  g_assert_no_error (error);
  fx->sent = g_ptr_array_new_with_free_func (g_free);
  fx->task_status = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  fx->timers = g_array_new (FALSE, FALSE, sizeof (TimerRecord));
  fx->held = g_ptr_array_new_with_free_func (g_object_unref);
  fx->reporter = ecsa_state_reporter_new (fx->client, &hooks);
  ecsa_state_reporter_set_timer_factory (fx->reporter, timer_factory, fx);
  ecsa_state_reporter_start (fx->reporter);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  ecsa_state_reporter_stop (fx->reporter);
  release_held (fx);
  g_clear_object (&fx->reporter);
  g_clear_object (&fx->client);
  g_clear_object (&fx->credentials);
  ecsa_test_acs_run_for (20);
  ecsa_test_ecs_free (fx->ecs);
  g_free (fx->config.cluster);
  g_free (fx->config.aws_region);
  g_free (fx->config.api_endpoint);
  g_ptr_array_unref (fx->sent);
  g_ptr_array_unref (fx->held);
  g_hash_table_unref (fx->task_status);
  g_array_unref (fx->timers);
}

static EcsaStateChange *
container (const char *arn, const char *name, const char *status)
{
  EcsaStateChange *c = g_new0 (EcsaStateChange, 1);

  c->kind = ECSA_STATE_CHANGE_CONTAINER;
  c->task_arn = g_strdup (arn);
  c->container_name = g_strdup (name);
  c->status = g_strdup (status);
  c->timestamp = g_get_real_time ();
  if (g_strcmp0 (status, "STOPPED") == 0)
    {
      c->has_exit_code = TRUE;
      c->exit_code = 0;
    }
  return c;
}

static EcsaStateChange *
task (const char *arn, const char *status, ...)
{
  EcsaStateChange *t = g_new0 (EcsaStateChange, 1);
  va_list args;
  EcsaStateChange *c;

  t->kind = ECSA_STATE_CHANGE_TASK;
  t->task_arn = g_strdup (arn);
  t->status = g_strdup (status);
  t->timestamp = g_get_real_time ();
  t->containers = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_state_change_free);
  va_start (args, status);
  while ((c = va_arg (args, EcsaStateChange *)) != NULL)
    g_ptr_array_add (t->containers, c);
  va_end (args);
  return t;
}

static void
add_and_free (Fixture *fx, EcsaStateChange *change)
{
  ecsa_state_reporter_add (fx->reporter, change);
  ecsa_state_change_free (change);
}

static void
wait_submissions (Fixture *fx, guint n)
{
  ECSA_TEST_WAIT (ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange") >= n, GUARD_MS);
}

static void
wait_idle (Fixture *fx)
{
  ECSA_TEST_WAIT (ecsa_state_reporter_get_pending (fx->reporter) == 0, GUARD_MS);
}

static JsonObject *
submission (Fixture *fx, guint n)
{
  return json_node_get_object (ecsa_test_ecs_call (fx->ecs, "SubmitTaskStateChange", n)->body);
}

static void
test_task_with_containers (Fixture *fx, gconstpointer data)
{
  JsonObject *req;
  JsonArray *containers;

  add_and_free (fx, container (TASK_A, "web", "RUNNING"));
  ecsa_test_acs_run_for (50);
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"), ==, 0); /* batched */
  g_assert_cmpuint (ecsa_state_reporter_get_pending (fx->reporter), ==, 1);
  add_and_free (fx, task (TASK_A, "RUNNING", container (TASK_A, "sidecar", "RUNNING"), NULL));
  wait_idle (fx);
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"), ==, 1);
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "SubmitContainerStateChange"), ==, 0);
  req = submission (fx, 0);
  g_assert_cmpstr (json_object_get_string_member (req, "status"), ==, "RUNNING");
  containers = json_object_get_array_member (req, "containers");
  g_assert_cmpuint (json_array_get_length (containers), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (containers, 0), "containerName"), ==,
                   "sidecar");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (containers, 1), "containerName"), ==,
                   "web");
  /* containers first, then the task; only after acceptance */
  g_assert_cmpuint (fx->sent->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (fx->sent, 2), ==, TASK_A "|-|RUNNING");
  g_assert_cmpuint (ecsa_state_reporter_get_task_count (fx->reporter), ==, 0);
}

static void
test_latest_container_status_wins (Fixture *fx, gconstpointer data)
{
  JsonArray *containers;

  add_and_free (fx, container (TASK_A, "web", "RUNNING"));
  add_and_free (fx, container (TASK_A, "web", "STOPPED"));
  add_and_free (fx, container (TASK_A, "web", "RUNNING")); /* stale: ignored */
  add_and_free (fx, container (TASK_A, "web", "PULLED"));  /* not reported */
  add_and_free (fx, task (TASK_A, "STOPPED", NULL));
  wait_idle (fx);
  containers = json_object_get_array_member (submission (fx, 0), "containers");
  g_assert_cmpuint (json_array_get_length (containers), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (containers, 0), "status"), ==,
                   "STOPPED");
}

static void
test_order_and_retry (Fixture *fx, gconstpointer data)
{
  double base = 1.0 * G_USEC_PER_SEC;

  fx->fail_next = 4;
  fx->fail_status = 503;
  fx->fail_type = "ServerException";
  add_and_free (fx, task (TASK_A, "RUNNING", container (TASK_A, "web", "RUNNING"), NULL));
  add_and_free (fx, task (TASK_A, "STOPPED", container (TASK_A, "web", "STOPPED"), NULL));
  wait_idle (fx);
  /* 4 failures then RUNNING, then STOPPED: never reordered, never dropped */
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"), ==, 6);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpstr (json_object_get_string_member (submission (fx, i), "status"), ==, "RUNNING");
  g_assert_cmpstr (json_object_get_string_member (submission (fx, 5), "status"), ==, "STOPPED");
  g_assert_cmpstr (g_ptr_array_index (fx->sent, 1), ==, TASK_A "|-|RUNNING");
  g_assert_cmpstr (g_ptr_array_index (fx->sent, 3), ==, TASK_A "|-|STOPPED");
  /* backoff 1 s .. 30 s, x1.3, +20% */
  g_assert_cmpuint (fx->timers->len, >=, 4);
  for (guint i = 0, n = 0; i < fx->timers->len; i++)
    {
      TimerRecord *r = &g_array_index (fx->timers, TimerRecord, i);
      if (r->which != ECSA_STATE_REPORTER_TIMER_RETRY)
        continue;
      g_assert_cmpint (r->delay, >=, (GTimeSpan) base);
      g_assert_cmpint (r->delay, <=, (GTimeSpan) (base * 1.2) + 1);
      base = MIN (base * 1.3, 30.0 * G_USEC_PER_SEC);
      n++;
    }
}

static void
test_client_error_is_retried (Fixture *fx, gconstpointer data)
{
  fx->fail_next = 2;
  fx->fail_status = 400;
  fx->fail_type = "ClientException";
  add_and_free (fx, task (TASK_A, "RUNNING", NULL));
  wait_idle (fx);
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"), ==, 3);
  g_assert_cmpuint (fx->sent->len, ==, 1);
}

static void
test_at_most_three_tasks (Fixture *fx, gconstpointer data)
{
  fx->hold = TRUE;
  for (guint i = 0; i < 6; i++)
    {
      g_autofree char *arn = g_strdup_printf ("arn:aws:ecs:us-west-2:123456789012:task/t%u", i);
      add_and_free (fx, task (arn, "RUNNING", NULL));
    }
  ECSA_TEST_WAIT (!(fx->held->len < 3), GUARD_MS);
  ecsa_test_acs_run_for (100);
  g_assert_cmpuint (fx->held->len, ==, 3);
  g_assert_cmpuint (fx->sent->len, ==, 0); /* nothing marked before acceptance */
  fx->hold = FALSE;
  release_held (fx);
  wait_idle (fx);
  g_assert_cmpuint (fx->max_held, ==, 3);
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"), ==, 6);
  g_assert_cmpuint (fx->sent->len, ==, 6);
  g_assert_cmpuint (ecsa_state_reporter_get_task_count (fx->reporter), ==, 0);
}

static void
test_drain (Fixture *fx, gconstpointer data)
{
  JsonObject *req;

  g_hash_table_insert (fx->task_status, g_strdup (TASK_A), g_strdup ("RUNNING"));
  g_hash_table_insert (fx->task_status, g_strdup (TASK_B), g_strdup ("CREATED"));
  add_and_free (fx, container (TASK_A, "sidecar", "STOPPED"));
  add_and_free (fx, container (TASK_B, "web", "RUNNING"));
  ecsa_state_reporter_drain (fx->reporter);
  wait_submissions (fx, 1);
  ecsa_test_acs_run_for (100);
  /* A is RUNNING: flushed as a RUNNING task change; B is not RUNNING yet: kept */
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"), ==, 1);
  req = submission (fx, 0);
  g_assert_cmpstr (json_object_get_string_member (req, "task"), ==, TASK_A);
  g_assert_cmpstr (json_object_get_string_member (req, "status"), ==, "RUNNING");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (req, "containers")), ==, 1);
  g_assert_cmpuint (fx->sent->len, ==, 1); /* the container only: the task's RUNNING was sent before */
  g_assert_cmpstr (g_ptr_array_index (fx->sent, 0), ==, TASK_A "|sidecar|STOPPED");
  g_assert_cmpuint (ecsa_state_reporter_get_pending (fx->reporter), ==, 1);
  /* B's own change carries it */
  add_and_free (fx, task (TASK_B, "RUNNING", NULL));
  wait_idle (fx);
  req = submission (fx, 1);
  g_assert_cmpstr (json_object_get_string_member (req, "task"), ==, TASK_B);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (req, "containers")), ==, 1);
  /* a STOPPED (or forgotten) task's late container change is dropped at the drain */
  g_hash_table_insert (fx->task_status, g_strdup (TASK_A), g_strdup ("STOPPED"));
  add_and_free (fx, container (TASK_A, "web", "STOPPED"));
  ecsa_state_reporter_drain (fx->reporter);
  g_assert_cmpuint (ecsa_state_reporter_get_pending (fx->reporter), ==, 0);
  g_assert_cmpuint (ecsa_state_reporter_get_task_count (fx->reporter), ==, 0);
  /* the drain runs every 20 s */
  g_assert_cmpint (g_array_index (fx->timers, TimerRecord, 0).which, ==, ECSA_STATE_REPORTER_TIMER_DRAIN);
  g_assert_cmpint (g_array_index (fx->timers, TimerRecord, 0).delay, ==, 20 * G_USEC_PER_SEC);
}

static void
test_refused_task_untracked (Fixture *fx, gconstpointer data)
{
  JsonObject *req;

  ecsa_state_reporter_report_task_stopped (fx->reporter, TASK_B,
                                           ECSA_STATE_REPORTER_UNRECOGNIZED_TASK_PREFIX "bad container");
  wait_idle (fx);
  req = submission (fx, 0);
  g_assert_cmpstr (json_object_get_string_member (req, "status"), ==, "STOPPED");
  g_assert_cmpstr (json_object_get_string_member (req, "reason"), ==,
                   "UnrecogniedTaskError: Error loading task - bad container");
  g_assert_cmpuint (fx->sent->len, ==, 0);
}

static void
test_duplicate_task_change_merged (Fixture *fx, gconstpointer data)
{
  fx->hold = TRUE;
  add_and_free (fx, task (TASK_A, "RUNNING", NULL));
  ECSA_TEST_WAIT (!(fx->held->len < 1), GUARD_MS);
  add_and_free (fx, task (TASK_A, "STOPPED", container (TASK_A, "web", "RUNNING"), NULL));
  add_and_free (fx, task (TASK_A, "STOPPED", container (TASK_A, "web", "STOPPED"), NULL)); /* said again */
  fx->hold = FALSE;
  release_held (fx);
  wait_idle (fx);
  g_assert_cmpuint (ecsa_test_ecs_count (fx->ecs, "SubmitTaskStateChange"), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (json_object_get_array_member (submission (fx, 1), "containers"), 0),
                     "status"),
                   ==, "STOPPED");
}

static void
test_stop_marks_nothing (Fixture *fx, gconstpointer data)
{
  fx->hold = TRUE;
  add_and_free (fx, task (TASK_A, "RUNNING", NULL));
  ECSA_TEST_WAIT (!(fx->held->len < 1), GUARD_MS);
  ecsa_state_reporter_stop (fx->reporter);
  fx->hold = FALSE;
  release_held (fx);
  ecsa_test_acs_run_for (100);
  g_assert_cmpuint (fx->sent->len, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/state-reporter/task-with-containers", test_task_with_containers);
  ADD ("/state-reporter/latest-container-status-wins", test_latest_container_status_wins);
  ADD ("/state-reporter/order-and-retry", test_order_and_retry);
  ADD ("/state-reporter/client-error-retried", test_client_error_is_retried);
  ADD ("/state-reporter/at-most-three-tasks", test_at_most_three_tasks);
  ADD ("/state-reporter/drain", test_drain);
  ADD ("/state-reporter/refused-task", test_refused_task_untracked);
  ADD ("/state-reporter/duplicate-merged", test_duplicate_task_change_merged);
  ADD ("/state-reporter/stop", test_stop_marks_nothing);
  return g_test_run ();
}

/* test-task-engine-recovery.c: corrupt and newer checkpoints are refused and the tasks recovered
 * from Docker labels; the event stream comes back after dockerd "restarts"; ECS's stop sequence
 * numbers hold new tasks back.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-log.h"
#include "ecsa-task-engine.h"
#include "ecsa-task-view.h"
#include "ecsa-test-engine.h"
#include "ecsa-test-utils.h"

#include <string.h>

#define GUARD_MS 120000

static EcsaTestRegistry *registry;
static const char *image;

static char *
container_json(const char *name, gboolean essential, const char *cmd)
{
  return g_strdup_printf("{\"name\":\"%s\",\"image\":\"%s\",\"essential\":%s,\"memory\":32,"
                         "\"command\":[\"sh\",\"-c\",\"%s\"]}",
                         name, image, essential ? "true" : "false", cmd);
}

#define SLEEPER "trap 'exit 0' TERM; sleep 600 & wait"

/* The checkpoint is unreadable (or from a newer agent): it is refused with a clear message and
 * kept aside, the running tasks are recovered from their Docker labels (nothing created twice),
 * and when ACS sends the task again it gets its definition back and can be stopped. */
static void
check_recovery(const char *contents, const char *expect_in_error, const char *aside_prefix)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("rcv");
  g_autofree char *arn = ecsa_test_engine_arn(te, "rec");
  g_autofree char *c1 = container_json("main", TRUE, SLEEPER);
  g_autofree char *c2 = container_json("side", FALSE, SLEEPER);
  g_autofree char *cs = g_strdup_printf("[%s,%s]", c1, c2);
  g_autofree char *t = ecsa_test_engine_task_json(te, "rec", "RUNNING", cs);
  g_autofree char *stop = ecsa_test_engine_task_json(te, "rec", "STOPPED", cs);
  g_autofree char *payload = g_strdup_printf("[%s]", t);
  g_autofree char *stop_payload = g_strdup_printf("[%s]", stop);
  g_autofree char *path = g_build_filename(te->dir, ECSA_STATE_STORE_FILE, NULL);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) before = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(EcsaTaskView) view = NULL;
  const EcsaStateChange *c;

  ecsa_test_engine_start(te, NULL);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  ecsa_test_engine_stop(te);
  before = ecsa_test_engine_docker_ids(arn, NULL);
  g_assert_cmpuint(before->len, ==, 2);
  g_assert_true(g_file_set_contents(path, contents, -1, NULL));
  g_ptr_array_set_size(te->changes, 0);

  ecsa_test_engine_start(te, NULL);
  g_assert_nonnull(te->store_error);
  g_assert_nonnull(strstr(te->store_error, expect_in_error));
  g_assert_nonnull(strstr(te->store_error, "kept as"));
  {
    g_autoptr(GDir) dir = g_dir_open(te->dir, 0, NULL);
    const char *name;
    gboolean kept = FALSE;
    while ((name = g_dir_read_name(dir)) != NULL)
      if (g_str_has_prefix(name, aside_prefix))
        kept = TRUE;
    g_assert_true(kept);
  }
  view = ecsa_task_engine_get_task_view(te->engine, arn);
  g_assert_nonnull(view);
  g_assert_cmpstr(view->known_status, ==, "RUNNING");
  g_assert_cmpuint(view->n_containers, ==, 2);
  /* recovered as it runs: nothing to report */
  ecsa_test_run_for(300);
  g_assert_null(ecsa_test_engine_find(te, arn, NULL, "STOPPED"));

  /* ACS sends the task again: same containers, and the stop works */
  g_clear_pointer(&rejected, g_ptr_array_unref);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  ecsa_test_run_for(300);
  after = ecsa_test_engine_docker_ids(arn, NULL);
  g_assert_cmpuint(after->len, ==, 2);
  g_clear_pointer(&rejected, g_ptr_array_unref);
  rejected = ecsa_test_engine_apply(te, stop_payload, 2, &error);
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  c = ecsa_test_engine_find(te, arn, "main", "STOPPED");
  g_assert_nonnull(c);
  g_assert_cmpint(c->exit_code, ==, 0);
}

static void
test_corrupt_checkpoint(void)
{
  check_recovery("{\"version\":1,\"sections\":{\"tasks\":{\"tasks\":[{\"definition\":", "not valid JSON",
                 ECSA_STATE_STORE_FILE ".corrupt-");
}

static void
test_newer_checkpoint(void)
{
  check_recovery("{\"version\":42,\"writer\":\"ecs-agent 9.9\",\"sections\":{}}",
                 "written by ecs-agent 9.9 with schema version 42, newer than this agent reads (1)",
                 ECSA_STATE_STORE_FILE ".newer-v42-");
}

/* dockerd "goes away" (a proxy in front of it drops every connection) while a container stops: the
 * event stream comes back and the stop is seen. */
static void
test_events_reconnect(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("rcv");
  g_autoptr(EcsaTestDockerProxy) proxy = ecsa_test_docker_proxy_new();
  g_autofree char *arn = ecsa_test_engine_arn(te, "ev");
  g_autofree char *c1 = container_json("c", TRUE, "trap 'exit 9' TERM; sleep 600 & wait");
  g_autofree char *cs = g_strdup_printf("[%s]", c1);
  g_autofree char *t = ecsa_test_engine_task_json(te, "ev", "RUNNING", cs);
  g_autofree char *payload = g_strdup_printf("[%s]", t);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autofree char *out = NULL;
  const EcsaStateChange *c;

  ecsa_test_engine_start(te, ecsa_test_docker_proxy_get_host(proxy));
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  ids = ecsa_test_engine_docker_ids(arn, "c");
  ecsa_test_docker_proxy_pause(proxy);
  out = ecsa_test_docker_cli(NULL, "stop", "-t", "5", ids->pdata[0], NULL);
  ecsa_test_run_for(300);
  g_assert_null(ecsa_test_engine_find(te, arn, "c", "STOPPED"));
  ecsa_test_docker_proxy_resume(proxy);
  c = ecsa_test_engine_wait(te, arn, "c", "STOPPED", GUARD_MS);
  g_assert_cmpint(c->exit_code, ==, 9);
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  ecsa_test_engine_stop(te);
}

/* ECS stopped task A (sequence 5) before it started task B (sequence 6): B waits for A's stop. */
static void
test_stop_sequence(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("rcv");
  g_autofree char *arn_a = ecsa_test_engine_arn(te, "sqa");
  g_autofree char *arn_b = ecsa_test_engine_arn(te, "sqb");
  g_autofree char *slow = container_json("c", TRUE, "trap 'sleep 2; exit 0' TERM; sleep 600 & wait");
  g_autofree char *cb = container_json("c", TRUE, SLEEPER);
  g_autofree char *csa = g_strdup_printf("[%s]", slow);
  g_autofree char *csb = g_strdup_printf("[%s]", cb);
  g_autofree char *ta = ecsa_test_engine_task_json(te, "sqa", "RUNNING", csa);
  g_autofree char *ta_stop = ecsa_test_engine_task_json(te, "sqa", "STOPPED", csa);
  g_autofree char *tb = ecsa_test_engine_task_json(te, "sqb", "RUNNING", csb);
  g_autofree char *p1 = g_strdup_printf("[%s]", ta);
  g_autofree char *p2 = g_strdup_printf("[%s]", ta_stop);
  g_autofree char *p3 = g_strdup_printf("[%s]", tb);
  g_autoptr(GPtrArray) r1 = NULL;
  g_autoptr(GPtrArray) r2 = NULL;
  g_autoptr(GPtrArray) r3 = NULL;
  g_autoptr(GError) error = NULL;
  guint i_a_stopped = G_MAXUINT, i_b_running = G_MAXUINT;

  te->config->docker_stop_timeout = 5 * G_USEC_PER_SEC;
  ecsa_test_engine_start(te, NULL);
  r1 = ecsa_test_engine_apply(te, p1, 4, &error);
  ecsa_test_engine_wait(te, arn_a, NULL, "RUNNING", GUARD_MS);
  r2 = ecsa_test_engine_apply(te, p2, 5, &error);
  g_assert_no_error(error);
  r3 = ecsa_test_engine_apply(te, p3, 6, &error);
  g_assert_no_error(error);
  ecsa_test_engine_wait(te, arn_b, NULL, "RUNNING", GUARD_MS);
  for (guint i = 0; i < te->changes->len; i++)
    {
      const EcsaStateChange *c = te->changes->pdata[i];
      if (c->kind == ECSA_STATE_CHANGE_TASK && g_strcmp0(c->task_arn, arn_a) == 0
          && g_strcmp0(c->status, "STOPPED") == 0)
        i_a_stopped = i;
      if (c->kind == ECSA_STATE_CHANGE_TASK && g_strcmp0(c->task_arn, arn_b) == 0
          && g_strcmp0(c->status, "RUNNING") == 0)
        i_b_running = i;
    }
  g_assert_cmpuint(i_a_stopped, <, i_b_running);
}

static void
capture_cb(EcsaLogLevel level, const char *line, gpointer user_data)
{
  g_string_append_printf(user_data, "%s\n", line);
}

/* The docker name a failed create used, from the agent's warning. */
static char *
failed_create_name(const char *logs, const char *arn)
{
  g_autofree char *needle = g_strdup_printf("of task '%s' as '", arn);
  const char *p = strstr(logs, needle);
  const char *end;

  if (p == NULL)
    return NULL;
  p += strlen(needle);
  end = strchr(p, '\'');
  return end != NULL ? g_strndup(p, end - p) : NULL;
}

/* A create the agent gave up on (timed out, and its look by name found nothing) that dockerd
 * finishes later is removed when its event comes, even once the task is STOPPED: a saturated
 * dockerd finished creates minutes late and left them "Created" forever. A labelled container
 * the agent never asked for is left alone. */
static void
test_late_create_removed(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("rcv");
  g_autofree char *arn = ecsa_test_engine_arn(te, "late");
  g_autofree char *other_arn = ecsa_test_engine_arn(te, "never");
  g_autofree char *c1 = container_json("c", TRUE, SLEEPER);
  g_autofree char *cs = g_strdup_printf("[%s]", c1);
  g_autofree char *t = ecsa_test_engine_task_json(te, "late", "RUNNING", cs);
  g_autofree char *payload = g_strdup_printf("[%s]", t);
  g_autofree char *label_arn = g_strdup_printf("%s=%s", ECSA_LABEL_TASK_ARN, arn);
  g_autofree char *label_other = g_strdup_printf("%s=%s", ECSA_LABEL_TASK_ARN, other_arn);
  g_autofree char *label_name = g_strdup_printf("%s=c", ECSA_LABEL_CONTAINER_NAME);
  g_autofree char *foreign_name = g_strdup_printf("%snever-c", te->prefix);
  g_autoptr(GString) logs = g_string_new(NULL);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *out = NULL;
  g_autofree char *out2 = NULL;
  const EcsaStateChange *stopped;
  gint64 deadline;

  ecsa_test_engine_start(te, NULL);
  /* every create and inspect times out at once: Docker may or may not have received the create */
  ecsa_docker_client_set_timeout(te->docker, ECSA_DOCKER_CALL_CREATE, 1);
  ecsa_docker_client_set_timeout(te->docker, ECSA_DOCKER_CALL_INSPECT, 1);
  ecsa_log_set_capture(capture_cb, logs);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  g_assert_no_error(error);
  stopped = ecsa_test_engine_wait(te, arn, "c", "STOPPED", GUARD_MS);
  g_assert_nonnull(strstr(stopped->reason, "CannotCreateContainerError"));
  ecsa_test_engine_wait(te, arn, NULL, "STOPPED", GUARD_MS);
  ecsa_docker_client_set_timeout(te->docker, ECSA_DOCKER_CALL_CREATE, 0);
  ecsa_docker_client_set_timeout(te->docker, ECSA_DOCKER_CALL_INSPECT, 0);
  name = failed_create_name(logs->str, arn);
  g_assert_nonnull(name);

  /* dockerd finishes the create now (if it had the request, the name is taken and this fails) */
  g_free(ecsa_test_docker_cli(NULL, "create", "--name", name, "--label", label_arn, "--label", label_name, image,
                              "true", NULL));
  /* a labelled container the agent never asked for */
  out = ecsa_test_docker_cli(NULL, "create", "--name", foreign_name, "--label", label_other, "--label", label_name,
                             image, "true", NULL);
  g_assert_nonnull(out);

  deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr(GPtrArray) ids = ecsa_test_engine_docker_ids(arn, NULL);
      if (ids->len == 0)
        break;
      g_assert_cmpint(g_get_monotonic_time(), <, deadline);
      ecsa_test_run_for(100);
    }
  g_assert_nonnull(strstr(logs->str, "after the agent gave up on it"));
  ecsa_test_run_for(500);
  {
    g_autoptr(GPtrArray) ids = ecsa_test_engine_docker_ids(other_arn, NULL);
    g_assert_cmpuint(ids->len, ==, 1);
  }
  ecsa_log_set_capture(NULL, NULL);
  out2 = ecsa_test_docker_cli(NULL, "rm", "-f", foreign_name, NULL);
  ecsa_test_engine_stop(te);
}

int
main(int argc, char **argv)
{
  g_autofree char *repo = NULL;
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  ecsa_test_docker_require();
  repo = g_strdup_printf("%sbusybox", ecsa_test_docker_prefix("rcv"));
  registry = ecsa_test_registry_start(repo);
  image = ecsa_test_registry_get_image(registry);

  g_test_add_func("/task-engine-recovery/corrupt-checkpoint", test_corrupt_checkpoint);
  g_test_add_func("/task-engine-recovery/newer-checkpoint", test_newer_checkpoint);
  g_test_add_func("/task-engine-recovery/events-reconnect", test_events_reconnect);
  g_test_add_func("/task-engine-recovery/stop-sequence", test_stop_sequence);
  g_test_add_func("/task-engine-recovery/late-create-removed", test_late_create_removed);
  rc = g_test_run();
  ecsa_test_registry_stop(registry);
  return rc;
}

/* test-task-engine-restart.c: restarts and crashes. The engine is killed with SIGKILL in the middle
 * of a launch and started again (no duplicate container, no lost task, right final states);
 * restored tasks are reconciled with Docker (vanished containers, exits while the agent was down);
 * changes not acknowledged are emitted again.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-task-engine.h"
#include "ecsa-test-engine.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <signal.h>
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

/* ------------------------------------------------------------------------------------------- */
/* the driver process */

typedef struct
{
  GSubprocess *proc;
  GDataInputStream *out;
  GOutputStream *in;
  GPtrArray *lines; /* char* */
  gboolean eof;
  gboolean reading;
  gboolean exited;
} Driver;

static void driver_read(Driver *d);

static void
driver_line_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Driver *d = user_data;
  char *line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), result, NULL, NULL);

  d->reading = FALSE;
  if (line == NULL)
    {
      d->eof = TRUE;
      return;
    }
  g_ptr_array_add(d->lines, line);
  driver_read(d);
}

static void
driver_read(Driver *d)
{
  d->reading = TRUE;
  g_data_input_stream_read_line_async(d->out, G_PRIORITY_DEFAULT, NULL, driver_line_cb, d);
}

static void
driver_exited_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Driver *d = user_data;

  g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
  d->exited = TRUE;
}

static Driver *
driver_start(EcsaTestEngine *te)
{
  Driver *d = g_new0(Driver, 1);
  g_autoptr(GError) error = NULL;
  const char *exe = g_getenv("ECSA_ENGINE_DRIVER");

  g_assert_nonnull(exe);
  d->lines = g_ptr_array_new_with_free_func(g_free);
  d->proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, exe, "--data-dir",
                             te->dir, "--cluster", te->config->cluster, "--stop-timeout", "2", NULL);
  g_assert_no_error(error);
  d->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(d->proc));
  d->in = g_subprocess_get_stdin_pipe(d->proc);
  g_subprocess_wait_async(d->proc, NULL, driver_exited_cb, d);
  driver_read(d);
  return d;
}

static gboolean
driver_done(gpointer user_data)
{
  Driver *d = user_data;

  return !d->reading && d->exited;
}

static void
driver_free(Driver *d)
{
  if (d == NULL)
    return;
  if (!d->exited)
    g_subprocess_force_exit(d->proc);
  /* the pending read ends with the pipe */
  ecsa_test_wait_until(NULL, driver_done, d, 10000, "driver gone");
  g_object_unref(d->out);
  g_object_unref(d->proc);
  g_ptr_array_unref(d->lines);
  g_free(d);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Driver, driver_free)

static void
driver_send(Driver *d, const char *line)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *l = g_strconcat(line, "\n", NULL);

  g_assert_true(g_output_stream_write_all(d->in, l, strlen(l), NULL, NULL, &error));
  g_assert_no_error(error);
}

typedef struct
{
  Driver *d;
  const char *prefix;
  const char *needle; /* or NULL */
} LineWait;

static const char *
driver_find(Driver *d, const char *prefix, const char *needle)
{
  for (guint i = 0; i < d->lines->len; i++)
    {
      const char *l = d->lines->pdata[i];
      if (g_str_has_prefix(l, prefix) && (needle == NULL || strstr(l, needle) != NULL))
        return l;
    }
  return NULL;
}

static gboolean
line_seen(gpointer user_data)
{
  LineWait *w = user_data;

  if (w->d->eof && driver_find(w->d, w->prefix, w->needle) == NULL)
    g_error("the driver exited before printing '%s' (%s)", w->prefix, w->needle != NULL ? w->needle : "");
  return driver_find(w->d, w->prefix, w->needle) != NULL;
}

static const char *
driver_wait(Driver *d, const char *prefix, const char *needle, guint timeout_ms)
{
  LineWait w = { d, prefix, needle };
  g_autofree char *what = g_strdup_printf("driver line '%s' with '%s'", prefix, needle != NULL ? needle : "");

  ecsa_test_wait_until(NULL, line_seen, &w, timeout_ms, what);
  return driver_find(d, prefix, needle);
}

static guint
driver_count(Driver *d, const char *prefix, const char *needle)
{
  guint n = 0;

  for (guint i = 0; i < d->lines->len; i++)
    {
      const char *l = d->lines->pdata[i];
      if (g_str_has_prefix(l, prefix) && strstr(l, needle) != NULL)
        n++;
    }
  return n;
}

static gboolean
proc_done(gpointer user_data)
{
  return ((Driver *)user_data)->exited;
}

static void
driver_kill9(Driver *d)
{
  g_subprocess_send_signal(d->proc, SIGKILL);
  ecsa_test_wait_until(NULL, proc_done, d, 10000, "driver killed");
}

static void
driver_quit(Driver *d)
{
  driver_send(d, "quit");
  ecsa_test_wait_until(NULL, proc_done, d, 20000, "driver quit");
  g_assert_true(g_subprocess_get_successful(d->proc));
}

/* "change {... "taskArn":"<arn>" ... "containerName":"<c>" ... "status":"<s>" ...}" */
static char *
change_needle(const char *arn, const char *container, const char *status)
{
  if (container == NULL)
    return g_strdup_printf("{\"kind\":\"task\",\"taskArn\":\"%s\",\"status\":\"%s\"", arn, status);
  return g_strdup_printf("{\"kind\":\"container\",\"taskArn\":\"%s\",\"containerName\":\"%s\",\"status\":\"%s\"", arn,
                         container, status);
}

/* ------------------------------------------------------------------------------------------- */

static char *
payload_of_tasks(EcsaTestEngine *te, guint n, const char *desired)
{
  g_autoptr(GString) p = g_string_new("[");

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf("k%u", i);
      g_autofree char *a = container_json("a", TRUE, SLEEPER);
      g_autofree char *b = container_json("b", FALSE, SLEEPER);
      g_autofree char *containers = g_strdup_printf("[%s,%s]", a, b);
      g_autofree char *t = ecsa_test_engine_task_json(te, name, desired, containers);
      g_string_append_printf(p, "%s%s", i > 0 ? "," : "", t);
    }
  g_string_append(p, "]");
  return g_string_free(g_steal_pointer(&p), FALSE);
}

static void
assert_one_container_each(EcsaTestEngine *te, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf("k%u", i);
      g_autofree char *arn = ecsa_test_engine_arn(te, name);
      const char *cs[] = { "a", "b" };
      for (guint j = 0; j < G_N_ELEMENTS(cs); j++)
        {
          g_autoptr(GPtrArray) ids = ecsa_test_engine_docker_ids(arn, cs[j]);
          if (ids->len != 1)
            g_error("task %s container %s has %u Docker containers, expected exactly 1", arn, cs[j], ids->len);
        }
    }
}

/* The agent is killed (SIGKILL) in the middle of launching several tasks, twice, and restarted
 * each time; ACS resends the payload it never saw acked. Every task ends RUNNING with exactly one
 * container per definition, then stops cleanly. */
static void
test_sigkill_mid_launch(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("rst");
  const guint n = 4;
  g_autofree char *payload = payload_of_tasks(te, n, "RUNNING");
  g_autofree char *apply = g_strdup_printf("apply 7 %s", payload);
  g_autofree char *stop_payload = payload_of_tasks(te, n, "STOPPED");
  g_autofree char *stop_apply = g_strdup_printf("apply 8 %s", stop_payload);
  g_autoptr(Driver) d1 = NULL;
  g_autoptr(Driver) d2 = NULL;
  g_autoptr(Driver) d3 = NULL;

  /* 1: killed right after the payload is durable (acked), before the containers exist */
  d1 = driver_start(te);
  driver_wait(d1, "ready", NULL, GUARD_MS);
  driver_send(d1, apply);
  driver_wait(d1, "applied", NULL, GUARD_MS);
  driver_kill9(d1);

  /* 2: restarted; killed once the first container runs, others being pulled, created, started */
  d2 = driver_start(te);
  driver_wait(d2, "ready", NULL, GUARD_MS);
  driver_wait(d2, "change", "\"status\":\"RUNNING\"", GUARD_MS);
  driver_kill9(d2);

  /* 3: restarted; ACS resends the payload (the second run never acked it) */
  d3 = driver_start(te);
  driver_wait(d3, "ready", NULL, GUARD_MS);
  driver_send(d3, apply);
  driver_wait(d3, "applied", NULL, GUARD_MS);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf("k%u", i);
      g_autofree char *arn = ecsa_test_engine_arn(te, name);
      g_autofree char *needle = change_needle(arn, NULL, "RUNNING");
      /* a task that already reached RUNNING before the kill was acknowledged then; it must
       * not be lost either way: it is RUNNING in Docker */
      if (driver_find(d2, "change", needle) == NULL)
        driver_wait(d3, "change", needle, GUARD_MS);
    }
  assert_one_container_each(te, n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf("k%u", i);
      g_autofree char *arn = ecsa_test_engine_arn(te, name);
      g_autoptr(GPtrArray) ids = ecsa_test_engine_docker_ids(arn, "a");
      g_autoptr(JsonObject) in = ecsa_test_docker_inspect(ids->pdata[0]);
      g_assert_true(json_object_get_boolean_member(json_object_get_object_member(in, "State"), "Running"));
    }

  driver_send(d3, stop_apply);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf("k%u", i);
      g_autofree char *arn = ecsa_test_engine_arn(te, name);
      g_autofree char *needle = change_needle(arn, NULL, "STOPPED");
      g_autofree char *a_stopped = change_needle(arn, "a", "STOPPED");
      const char *line;
      driver_wait(d3, "change", needle, GUARD_MS);
      line = driver_wait(d3, "change", a_stopped, GUARD_MS);
      g_assert_nonnull(strstr(line, "\"exitCode\":0"));
      g_assert_cmpuint(driver_count(d3, "change", needle), ==, 1);
    }
  assert_one_container_each(te, n);
  driver_quit(d3);
}

/* While the agent is down one container is removed behind its back and another exits: after the
 * restart the first is STOPPED as vanished, the second with its exit code, and the running ones
 * are adopted without creating anything again. */
static void
test_reconcile(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("rst");
  g_autofree char *arn_a = ecsa_test_engine_arn(te, "ra");
  g_autofree char *arn_b = ecsa_test_engine_arn(te, "rb");
  g_autofree char *a1 = container_json("keep", TRUE, SLEEPER);
  g_autofree char *a2 = container_json("gone", FALSE, SLEEPER);
  g_autofree char *b1 = container_json("exits", TRUE, "trap 'exit 5' TERM; sleep 600 & wait");
  g_autofree char *ca = g_strdup_printf("[%s,%s]", a1, a2);
  g_autofree char *cb = g_strdup_printf("[%s]", b1);
  g_autofree char *ta = ecsa_test_engine_task_json(te, "ra", "RUNNING", ca);
  g_autofree char *tb = ecsa_test_engine_task_json(te, "rb", "RUNNING", cb);
  g_autofree char *payload = g_strdup_printf("[%s,%s]", ta, tb);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) gone = NULL;
  g_autoptr(GPtrArray) exits = NULL;
  g_autoptr(GPtrArray) keep = NULL;
  g_autoptr(GPtrArray) keep_after = NULL;
  g_autofree char *out = NULL;
  const EcsaStateChange *c;

  ecsa_test_engine_start(te, NULL);
  rejected = ecsa_test_engine_apply(te, payload, 3, &error);
  g_assert_no_error(error);
  ecsa_test_engine_wait(te, arn_a, NULL, "RUNNING", GUARD_MS);
  ecsa_test_engine_wait(te, arn_b, NULL, "RUNNING", GUARD_MS);
  ecsa_test_engine_stop(te);
  g_ptr_array_set_size(te->changes, 0);

  gone = ecsa_test_engine_docker_ids(arn_a, "gone");
  exits = ecsa_test_engine_docker_ids(arn_b, "exits");
  keep = ecsa_test_engine_docker_ids(arn_a, "keep");
  out = ecsa_test_docker_cli(NULL, "rm", "-f", gone->pdata[0], NULL);
  g_clear_pointer(&out, g_free);
  out = ecsa_test_docker_cli(NULL, "stop", "-t", "5", exits->pdata[0], NULL);

  ecsa_test_engine_start(te, NULL);
  c = ecsa_test_engine_wait(te, arn_a, "gone", "STOPPED", GUARD_MS);
  g_assert_cmpstr(c->reason, ==, "ContainerVanishedError: No container matching saved ID found");
  c = ecsa_test_engine_wait(te, arn_b, "exits", "STOPPED", GUARD_MS);
  g_assert_true(c->has_exit_code);
  g_assert_cmpint(c->exit_code, ==, 5);
  ecsa_test_engine_wait(te, arn_b, NULL, "STOPPED", GUARD_MS);
  /* "gone" was not essential: the task runs on with "keep", adopted, not re-created */
  ecsa_test_run_for(500);
  g_assert_null(ecsa_test_engine_find(te, arn_a, NULL, "STOPPED"));
  g_assert_null(ecsa_test_engine_find(te, arn_a, "keep", "RUNNING")); /* already acknowledged */
  keep_after = ecsa_test_engine_docker_ids(arn_a, "keep");
  g_assert_cmpuint(keep_after->len, ==, 1);
  g_assert_cmpstr(keep_after->pdata[0], ==, keep->pdata[0]);
  {
    g_autoptr(GPtrArray) none = ecsa_test_engine_docker_ids(arn_a, "gone");
    g_assert_cmpuint(none->len, ==, 0);
  }
}

/* Changes ECS did not acknowledge are emitted again after a restart; acknowledged ones are not. */
static void
test_unsent_reemitted(void)
{
  g_autoptr(EcsaTestEngine) te = ecsa_test_engine_new("rst");
  g_autofree char *arn = ecsa_test_engine_arn(te, "unsent");
  g_autofree char *c1 = container_json("c", TRUE, SLEEPER);
  g_autofree char *cs = g_strdup_printf("[%s]", c1);
  g_autofree char *t = ecsa_test_engine_task_json(te, "unsent", "RUNNING", cs);
  g_autofree char *payload = g_strdup_printf("[%s]", t);
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(GError) error = NULL;

  te->auto_ack = FALSE;
  ecsa_test_engine_start(te, NULL);
  rejected = ecsa_test_engine_apply(te, payload, 1, &error);
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  g_assert_nonnull(ecsa_test_engine_find(te, arn, "c", "RUNNING"));
  /* the task change carries the container change that is still owed */
  g_assert_cmpuint(ecsa_test_engine_find(te, arn, NULL, "RUNNING")->containers->len, ==, 1);
  ecsa_test_engine_stop(te);
  g_ptr_array_set_size(te->changes, 0);

  ecsa_test_engine_start(te, NULL);
  ecsa_test_engine_wait(te, arn, NULL, "RUNNING", GUARD_MS);
  g_assert_nonnull(ecsa_test_engine_find(te, arn, "c", "RUNNING"));
  /* now ECS hears them */
  for (guint i = 0; i < te->changes->len; i++)
    ecsa_task_engine_mark_sent(te->engine, te->changes->pdata[i]);
  ecsa_test_engine_stop(te);
  g_ptr_array_set_size(te->changes, 0);

  ecsa_test_engine_start(te, NULL);
  ecsa_test_run_for(1000);
  g_assert_cmpuint(te->changes->len, ==, 0);
}

int
main(int argc, char **argv)
{
  g_autofree char *repo = NULL;
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  ecsa_test_docker_require();
  repo = g_strdup_printf("%sbusybox", ecsa_test_docker_prefix("rst"));
  registry = ecsa_test_registry_start(repo);
  image = ecsa_test_registry_get_image(registry);

  g_test_add_func("/task-engine-restart/sigkill-mid-launch", test_sigkill_mid_launch);
  g_test_add_func("/task-engine-restart/reconcile", test_reconcile);
  g_test_add_func("/task-engine-restart/unsent-changes-emitted-again", test_unsent_reemitted);
  rc = g_test_run();
  ecsa_test_registry_stop(registry);
  return rc;
}

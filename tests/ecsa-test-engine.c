/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-engine.h"

#include "ecsa-log.h"
#include "ecsa-test-utils.h"

#include <string.h>
#include <unistd.h>

static void
state_change_cb(EcsaTaskEngine *engine, const EcsaStateChange *change, gpointer user_data)
{
  EcsaTestEngine *te = user_data;

  g_ptr_array_add(te->changes, ecsa_state_change_copy(change));
  if (te->auto_ack)
    ecsa_task_engine_mark_sent(engine, change);
}

EcsaTestEngine *
ecsa_test_engine_new(const char *area)
{
  EcsaTestEngine *te = g_new0(EcsaTestEngine, 1);
  int level = g_getenv("ECSA_TEST_DEBUG") != NULL ? ECSA_LOG_DEBUG : ECSA_LOG_INFO;

  /* the agent's log writer, on stderr (stdout is TAP): the engine's account of each test. GLib
   * allows one writer per process: ecsa_log_init() installs it once, whoever calls it first (other
   * test helpers do too), and a level the program chose (say debug) is never lowered here. */
  ecsa_log_init();
  ecsa_log_set_console(STDERR_FILENO);
  if (ecsa_log_get_level() < level)
    ecsa_log_set_level(level);

  te->prefix = g_strdup(ecsa_test_docker_prefix(area));
  te->dir = ecsa_test_mkdtemp();
  te->changes = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_state_change_free);
  te->auto_ack = TRUE;
  te->config = ecsa_config_new();
  g_free(te->config->cluster);
  te->config->cluster = g_strndup(te->prefix, strlen(te->prefix) - 1);
  g_free(te->config->data_dir);
  te->config->data_dir = g_strdup(te->dir);
  te->config->checkpoint = TRUE;
  te->config->docker_stop_timeout = 2 * G_USEC_PER_SEC;
  te->config->task_cpu_mem_limit = ECSA_CONDITIONAL_DISABLED;
  return te;
}

typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
  GPtrArray *rejected;
} Wait;

static gboolean
wait_done(gpointer user_data)
{
  return ((Wait *)user_data)->done;
}

static void
cgroups_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_task_engine_init_cgroups_finish(ECSA_TASK_ENGINE(source), result, &w->error);
  w->done = TRUE;
}

static void
started_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_task_engine_start_finish(ECSA_TASK_ENGINE(source), result, &w->error);
  w->done = TRUE;
}

void
ecsa_test_engine_start(EcsaTestEngine *te, const char *docker_host)
{
  g_autoptr(GError) error = NULL;
  Wait w = { 0 };

  g_assert_null(te->engine);
  g_clear_object(&te->docker);
  g_clear_object(&te->store);
  g_clear_pointer(&te->store_error, g_free);
  te->docker = ecsa_docker_client_new(docker_host, &error);
  g_assert_no_error(error);
  te->store = ecsa_state_store_new(te->dir, TRUE);
  if (!ecsa_state_store_load(te->store, &error))
    te->store_error = g_strdup(error->message);
  g_clear_error(&error);
  te->engine = ecsa_task_engine_new(te->config, te->docker, te->store);
  if (te->plugins != NULL)
    ecsa_task_engine_set_plugin_registry(te->engine, te->plugins);
  g_signal_connect(te->engine, "state-change", G_CALLBACK(state_change_cb), te);
  if (te->network != NULL)
    ecsa_task_engine_set_task_network(te->engine, te->network);
  ecsa_task_engine_restore(te->engine);
  if (te->config->task_cpu_mem_limit != ECSA_CONDITIONAL_DISABLED)
    {
      ecsa_task_engine_init_cgroups_async(te->engine, NULL, cgroups_cb, &w);
      ecsa_test_wait_until(NULL, wait_done, &w, 30000, "task cgroups set up");
      g_assert_no_error(w.error);
      w.done = FALSE;
    }
  ecsa_task_engine_start_async(te->engine, NULL, started_cb, &w);
  ecsa_test_wait_until(NULL, wait_done, &w, 60000, "engine started");
  g_assert_no_error(w.error);
  g_assert_true(w.ok);
}

static void
shutdown_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_task_engine_shutdown_finish(ECSA_TASK_ENGINE(source), result, &w->error);
  w->done = TRUE;
}

void
ecsa_test_engine_stop(EcsaTestEngine *te)
{
  Wait w = { 0 };

  if (te->engine == NULL)
    return;
  ecsa_task_engine_shutdown_async(te->engine, shutdown_cb, &w);
  ecsa_test_wait_until(NULL, wait_done, &w, 30000, "engine shut down");
  g_assert_no_error(w.error);
  g_signal_handlers_disconnect_by_data(te->engine, te);
  g_clear_object(&te->engine);
  /* let cancelled calls come back before the next engine starts */
  ecsa_test_run_for(50);
}

void
ecsa_test_engine_free(EcsaTestEngine *te)
{
  g_autofree char *ecs_prefix = NULL;

  if (te == NULL)
    return;
  ecsa_test_engine_stop(te);
  g_clear_object(&te->docker);
  g_clear_object(&te->store);
  ecs_prefix = g_strconcat("ecs-", te->prefix, NULL);
  ecsa_test_docker_cleanup(te->prefix);
  ecsa_test_docker_cleanup(ecs_prefix);
  ecsa_test_rmdir_recursive(te->dir);
  g_ptr_array_unref(te->changes);
  ecsa_config_free(te->config);
  g_free(te->store_error);
  g_free(te->dir);
  g_free(te->prefix);
  g_free(te);
}

static void
applied_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *w = user_data;

  w->ok = ecsa_task_engine_apply_payload_finish(ECSA_TASK_ENGINE(source), result, &w->rejected, &w->error);
  w->done = TRUE;
}

GPtrArray *
ecsa_test_engine_apply(EcsaTestEngine *te, const char *tasks_json, gint64 seq, GError **error)
{
  g_autoptr(JsonNode) node = json_from_string(tasks_json, NULL);
  Wait w = { 0 };

  g_assert_nonnull(node);
  g_assert_true(JSON_NODE_HOLDS_ARRAY(node));
  ecsa_task_engine_apply_payload_async(te->engine, json_node_get_array(node), seq, NULL, applied_cb, &w);
  ecsa_test_wait_until(NULL, wait_done, &w, 30000, "payload applied");
  if (w.error != NULL)
    g_propagate_error(error, w.error);
  return w.rejected != NULL ? w.rejected : g_ptr_array_new_with_free_func(g_free);
}

static gboolean
matches(const EcsaStateChange *c, const char *arn, const char *container, const char *status)
{
  if (g_strcmp0(c->task_arn, arn) != 0 || g_strcmp0(c->status, status) != 0)
    return FALSE;
  if (container == NULL)
    return c->kind == ECSA_STATE_CHANGE_TASK;
  return c->kind == ECSA_STATE_CHANGE_CONTAINER && g_strcmp0(c->container_name, container) == 0;
}

const EcsaStateChange *
ecsa_test_engine_find(EcsaTestEngine *te, const char *arn, const char *container, const char *status)
{
  for (guint i = te->changes->len; i > 0; i--)
    if (matches(te->changes->pdata[i - 1], arn, container, status))
      return te->changes->pdata[i - 1];
  return NULL;
}

guint
ecsa_test_engine_count(EcsaTestEngine *te, const char *arn, const char *container, const char *status)
{
  guint n = 0;

  for (guint i = 0; i < te->changes->len; i++)
    if (matches(te->changes->pdata[i], arn, container, status))
      n++;
  return n;
}

typedef struct
{
  EcsaTestEngine *te;
  const char *arn, *container, *status;
} FindData;

static gboolean
found(gpointer user_data)
{
  FindData *f = user_data;

  return ecsa_test_engine_find(f->te, f->arn, f->container, f->status) != NULL;
}

const EcsaStateChange *
ecsa_test_engine_wait(EcsaTestEngine *te, const char *arn, const char *container, const char *status, guint timeout_ms)
{
  FindData f = { te, arn, container, status };
  g_autofree char *what = g_strdup_printf("%s %s%s%s", status, arn, container != NULL ? " container " : "",
                                          container != NULL ? container : "");

  ecsa_test_wait_until(NULL, found, &f, timeout_ms, what);
  return ecsa_test_engine_find(te, arn, container, status);
}

char *
ecsa_test_engine_arn(EcsaTestEngine *te, const char *name)
{
  return g_strdup_printf("arn:aws:ecs:us-west-2:123456789012:task/%s%s", te->prefix, name);
}

char *
ecsa_test_engine_task_json(EcsaTestEngine *te, const char *name, const char *desired, const char *containers_json)
{
  g_autofree char *arn = ecsa_test_engine_arn(te, name);

  return g_strdup_printf("{\"arn\":\"%s\",\"family\":\"%sf\",\"version\":\"1\",\"desiredStatus\":\"%s\","
                         "\"containers\":%s}",
                         arn, te->prefix, desired, containers_json);
}

GPtrArray *
ecsa_test_engine_docker_ids(const char *arn, const char *container)
{
  g_autofree char *f1 = g_strdup_printf("label=com.amazonaws.ecs.task-arn=%s", arn);
  g_autofree char *f2
    = container != NULL ? g_strdup_printf("label=com.amazonaws.ecs.container-name=%s", container) : NULL;
  g_autofree char *out = f2 != NULL
                           ? ecsa_test_docker_cli(NULL, "ps", "-aq", "--no-trunc", "--filter", f1, "--filter", f2, NULL)
                           : ecsa_test_docker_cli(NULL, "ps", "-aq", "--no-trunc", "--filter", f1, NULL);
  GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
  g_auto(GStrv) lines = NULL;

  if (out == NULL || *out == '\0')
    return ids;
  lines = g_strsplit(out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (*g_strstrip(lines[i]) != '\0')
      g_ptr_array_add(ids, g_strdup(lines[i]));
  return ids;
}

static gboolean
flag_cb(gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
ecsa_test_run_for(guint ms)
{
  gboolean done = FALSE;
  g_autoptr(GSource) s = g_timeout_source_new(ms);

  g_source_set_callback(s, flag_cb, &done, NULL);
  g_source_attach(s, NULL);
  while (!done)
    g_main_context_iteration(NULL, TRUE);
  g_source_destroy(s);
}

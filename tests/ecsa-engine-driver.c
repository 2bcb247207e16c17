/* ecsa-engine-driver.c: the task engine, its state store and the Docker client as one small
 * process, so tests can kill it (SIGKILL) mid-launch and start it again on the same data dir.
 *
 *   ecsa-engine-driver --data-dir DIR --cluster NAME [--stop-timeout S] [--cleanup-wait S]
 *                      [--pull-behavior default|always|once|prefer-cached] [--docker-host URL]
 *
 * stdin, one command per line:
 *   apply <seq> <JSON array of ACS tasks>    a PayloadMessage's tasks
 *   quit                                     shut down cleanly (final checkpoint)
 * stdout, one event per line:
 *   ready                                    restored and reconciled with Docker
 *   applied <JSON {"rejected":[...]}>        the payload's tasks are durable (ack point)
 *   apply-failed <message>
 *   change <JSON state change>               every state change; it is acknowledged at once,
 *                                            as a reporter whose submissions succeed would
 *   checkpoint-refused <message>             the checkpoint was refused at start-up
 * Logs go to stderr.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-config.h"
#include "ecsa-docker-client.h"
#include "ecsa-log.h"
#include "ecsa-state-store.h"
#include "ecsa-task-engine.h"

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct
{
  GMainLoop *loop;
  EcsaTaskEngine *engine;
  GDataInputStream *input;
  GCancellable *cancellable;
  gboolean quitting;
} Driver;

static void
out_line(const char *kind, const char *payload)
{
  fprintf(stdout, "%s%s%s\n", kind, payload != NULL ? " " : "", payload != NULL ? payload : "");
  fflush(stdout);
}

static JsonNode *
change_to_json(const EcsaStateChange *c)
{
  g_autoptr(JsonBuilder) b = json_builder_new();

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "kind");
  json_builder_add_string_value(b, c->kind == ECSA_STATE_CHANGE_TASK ? "task" : "container");
  json_builder_set_member_name(b, "taskArn");
  json_builder_add_string_value(b, c->task_arn);
  if (c->container_name != NULL)
    {
      json_builder_set_member_name(b, "containerName");
      json_builder_add_string_value(b, c->container_name);
    }
  json_builder_set_member_name(b, "status");
  json_builder_add_string_value(b, c->status);
  if (c->reason != NULL)
    {
      json_builder_set_member_name(b, "reason");
      json_builder_add_string_value(b, c->reason);
    }
  if (c->has_exit_code)
    {
      json_builder_set_member_name(b, "exitCode");
      json_builder_add_int_value(b, c->exit_code);
    }
  json_builder_set_member_name(b, "networkBindings");
  json_builder_begin_array(b);
  for (guint i = 0; c->network_bindings != NULL && i < c->network_bindings->len; i++)
    {
      EcsaNetworkBinding *nb = c->network_bindings->pdata[i];
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "bindIP");
      json_builder_add_string_value(b, nb->bind_ip);
      json_builder_set_member_name(b, "containerPort");
      json_builder_add_int_value(b, nb->container_port);
      json_builder_set_member_name(b, "hostPort");
      json_builder_add_int_value(b, nb->host_port);
      json_builder_set_member_name(b, "protocol");
      json_builder_add_string_value(b, nb->protocol);
      json_builder_end_object(b);
    }
  json_builder_end_array(b);
  json_builder_end_object(b);
  return json_builder_get_root(b);
}

static void
state_change_cb(EcsaTaskEngine *engine, const EcsaStateChange *change, gpointer user_data)
{
  g_autoptr(JsonNode) node = change_to_json(change);
  g_autofree char *json = json_to_string(node, FALSE);

  out_line("change", json);
  for (guint i = 0; change->containers != NULL && i < change->containers->len; i++)
    {
      g_autoptr(JsonNode) sub = change_to_json(change->containers->pdata[i]);
      g_autofree char *sj = json_to_string(sub, FALSE);
      out_line("change", sj);
    }
  ecsa_task_engine_mark_sent(engine, change);
}

static void read_command(Driver *d);

static void
applied_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rejected = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *json = NULL;

  if (!ecsa_task_engine_apply_payload_finish(ECSA_TASK_ENGINE(source), result, &rejected, &error))
    {
      out_line("apply-failed", error->message);
      return;
    }
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "rejected");
  json_builder_begin_array(b);
  for (guint i = 0; rejected != NULL && i < rejected->len; i++)
    json_builder_add_string_value(b, rejected->pdata[i]);
  json_builder_end_array(b);
  json_builder_end_object(b);
  node = json_builder_get_root(b);
  json = json_to_string(node, FALSE);
  out_line("applied", json);
}

static void
shutdown_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Driver *d = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_task_engine_shutdown_finish(ECSA_TASK_ENGINE(source), result, &error))
    g_printerr("final checkpoint: %s\n", error->message);
  g_main_loop_quit(d->loop);
}

static void
quit(Driver *d)
{
  if (d->quitting)
    return;
  d->quitting = TRUE;
  g_cancellable_cancel(d->cancellable);
  ecsa_task_engine_shutdown_async(d->engine, shutdown_cb, d);
}

static void
command_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Driver *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), result, NULL, &error);

  if (line == NULL)
    {
      quit(d);
      return;
    }
  if (g_str_has_prefix(line, "apply "))
    {
      char *end = NULL;
      gint64 seq = g_ascii_strtoll(line + 6, &end, 10);
      g_autoptr(JsonNode) node = json_from_string(end, &error);

      if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        out_line("apply-failed", error != NULL ? error->message : "not a JSON array");
      else
        ecsa_task_engine_apply_payload_async(d->engine, json_node_get_array(node), seq, NULL, applied_cb, d);
    }
  else if (strcmp(line, "quit") == 0)
    {
      quit(d);
      return;
    }
  read_command(d);
}

static void
read_command(Driver *d)
{
  g_data_input_stream_read_line_async(d->input, G_PRIORITY_DEFAULT, NULL, command_cb, d);
}

static void
started_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Driver *d = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_task_engine_start_finish(ECSA_TASK_ENGINE(source), result, &error))
    {
      g_printerr("engine start: %s\n", error->message);
      g_main_loop_quit(d->loop);
      return;
    }
  out_line("ready", NULL);
  read_command(d);
}

static gboolean
sigterm_cb(gpointer user_data)
{
  quit(user_data);
  return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
  g_autofree char *data_dir = NULL;
  g_autofree char *cluster = NULL;
  g_autofree char *pull = NULL;
  g_autofree char *docker_host = NULL;
  int stop_timeout = 2;
  int cleanup_wait = 3 * 3600;
  GOptionEntry entries[] = {
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "ECS_DATADIR", "DIR" },
    { "cluster", 0, 0, G_OPTION_ARG_STRING, &cluster, "ECS_CLUSTER", "NAME" },
    { "stop-timeout", 0, 0, G_OPTION_ARG_INT, &stop_timeout, "ECS_CONTAINER_STOP_TIMEOUT, seconds", "S" },
    { "cleanup-wait", 0, 0, G_OPTION_ARG_INT, &cleanup_wait, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION, seconds", "S" },
    { "pull-behavior", 0, 0, G_OPTION_ARG_STRING, &pull, "image pull behaviour", "B" },
    { "docker-host", 0, 0, G_OPTION_ARG_STRING, &docker_host, "DOCKER_HOST", "URL" },
    { NULL },
  };
  g_autoptr(GOptionContext) octx = g_option_context_new("- run the task engine alone");
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaConfig) config = NULL;
  g_autoptr(EcsaDockerClient) docker = NULL;
  g_autoptr(EcsaStateStore) store = NULL;
  g_autoptr(GInputStream) in = NULL;
  Driver d = { 0 };
  EcsaImagePullBehavior behavior = ECSA_IMAGE_PULL_DEFAULT;

  ecsa_log_init();
  ecsa_log_set_console(STDERR_FILENO);
  if (g_getenv("ECSA_DRIVER_DEBUG") != NULL)
    ecsa_log_set_level(ECSA_LOG_DEBUG);
  g_option_context_add_main_entries(octx, entries, NULL);
  if (!g_option_context_parse(octx, &argc, &argv, &error) || data_dir == NULL || cluster == NULL)
    {
      g_printerr("usage: %s --data-dir DIR --cluster NAME [...]: %s\n", argv[0],
                 error != NULL ? error->message : "missing options");
      return 2;
    }
  if (pull != NULL && !ecsa_image_pull_behavior_from_string(pull, &behavior))
    {
      g_printerr("--pull-behavior '%s': unknown\n", pull);
      return 2;
    }
  config = ecsa_config_new();
  g_free(config->cluster);
  config->cluster = g_strdup(cluster);
  g_free(config->data_dir);
  config->data_dir = g_strdup(data_dir);
  config->checkpoint = TRUE;
  config->docker_stop_timeout = (GTimeSpan)stop_timeout * G_USEC_PER_SEC;
  config->task_cleanup_wait_duration = (GTimeSpan)cleanup_wait * G_USEC_PER_SEC;
  config->task_cpu_mem_limit = ECSA_CONDITIONAL_DISABLED;

  docker = ecsa_docker_client_new(docker_host, &error);
  if (docker == NULL)
    {
      g_printerr("%s\n", error->message);
      return 2;
    }
  store = ecsa_state_store_new(data_dir, TRUE);
  if (!ecsa_state_store_load(store, &error))
    {
      out_line("checkpoint-refused", error->message);
      g_clear_error(&error);
    }
  d.loop = g_main_loop_new(NULL, FALSE);
  d.cancellable = g_cancellable_new();
  d.engine = ecsa_task_engine_new(config, docker, store);
  ecsa_task_engine_set_image_pull_behavior(d.engine, behavior);
  g_signal_connect(d.engine, "state-change", G_CALLBACK(state_change_cb), &d);
  ecsa_task_engine_restore(d.engine);
  in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
  d.input = g_data_input_stream_new(in);
  g_unix_signal_add(SIGTERM, sigterm_cb, &d);
  ecsa_task_engine_start_async(d.engine, d.cancellable, started_cb, &d);
  g_main_loop_run(d.loop);

  g_clear_object(&d.engine);
  g_clear_object(&d.input);
  g_clear_object(&d.cancellable);
  g_main_loop_unref(d.loop);
  ecsa_log_shutdown();
  return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-netplug.h"

#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/wait.h>

#define DOCKER_SOCKET "/var/run/docker.sock"

/* ---------------------------------------------------------------------------------------------
 * Host services
 * ------------------------------------------------------------------------------------------- */

static const char *
host_config_get (const EcsaPluginHost *host, const char *key)
{
  return g_hash_table_lookup (((EcsaTestHost *) host)->config, key);
}

static void
host_log (const EcsaPluginHost *host, EcsaLogLevel level, const char *message)
{
  static const char *const names[] = { "CRIT", "ERROR", "WARN", "INFO", "DEBUG" };
  const char *name = level <= ECSA_LOG_DEBUG ? names[level] : "?";

  g_ptr_array_add (((EcsaTestHost *) host)->logs, g_strdup_printf ("%s %s", name, message));
  g_test_message ("plugin %s: %s", name, message);
}

static GSource *
host_timeout_add (const EcsaPluginHost *host, guint interval_ms, GSourceFunc func, gpointer data,
                  GDestroyNotify notify)
{
  GSource *source = g_timeout_source_new (interval_ms);

  g_source_set_callback (source, func, data, notify);
  g_source_attach (source, host->main_context);
  return source;
}

static void
docker_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  SoupMessage *msg = g_task_get_task_data (task);
  GBytes *body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);

  if (body == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_object_set_data (G_OBJECT (task), "status", GUINT_TO_POINTER (soup_message_get_status (msg)));
  g_task_return_pointer (task, body, (GDestroyNotify) g_bytes_unref);
}

static void
host_docker_request_async (const EcsaPluginHost *host, const char *method, const char *path, GBytes *body,
                           guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  EcsaTestHost *th = (EcsaTestHost *) host;
  g_autofree char *uri = g_strdup_printf ("http://docker/%s%s", th->docker_api, path);
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  SoupMessage *msg = soup_message_new (method, uri);

  g_assert_nonnull (msg);
  g_task_set_task_data (task, msg, g_object_unref);
  if (body != NULL)
    soup_message_set_request_body_from_bytes (msg, "application/json", body);
  soup_session_send_and_read_async (th->docker, msg, G_PRIORITY_DEFAULT, cancellable, docker_ready_cb,
                                    g_steal_pointer (&task));
}

static GBytes *
host_docker_request_finish (const EcsaPluginHost *host, GAsyncResult *result, guint *out_status, GError **error)
{
  GBytes *body = g_task_propagate_pointer (G_TASK (result), error);

  if (body != NULL && out_status != NULL)
    *out_status = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (result), "status"));
  return body;
}

typedef struct
{
  GSubprocess *proc;
  GSource *timeout;
  guint timeout_ms;
  gboolean timed_out;
  char *argv0;
  int exit_status;
  GBytes *out;
  GBytes *err;
} SpawnData;

static void
spawn_data_free (SpawnData *d)
{
  if (d->timeout != NULL)
    {
      g_source_destroy (d->timeout);
      g_source_unref (d->timeout);
    }
  g_clear_object (&d->proc);
  g_free (d->argv0);
  g_clear_pointer (&d->out, g_bytes_unref);
  g_clear_pointer (&d->err, g_bytes_unref);
  g_free (d);
}

static gboolean
spawn_timeout_cb (gpointer user_data)
{
  SpawnData *d = user_data;

  d->timed_out = TRUE;
  g_subprocess_force_exit (d->proc);
  return G_SOURCE_REMOVE;
}

static void
spawn_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  SpawnData *d = g_task_get_task_data (task);

  if (!g_subprocess_communicate_finish (G_SUBPROCESS (source), result, &d->out, &d->err, &error))
    {
      g_subprocess_force_exit (d->proc);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (d->timed_out)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_TIMEOUT, "'%s' timed out after %u ms", d->argv0,
                               d->timeout_ms);
      return;
    }
  if (g_subprocess_get_if_exited (d->proc))
    d->exit_status = g_subprocess_get_exit_status (d->proc);
  else
    d->exit_status = 128 + g_subprocess_get_term_sig (d->proc);
  g_task_return_boolean (task, TRUE);
}

static void
host_spawn_async (const EcsaPluginHost *host, const char *const *argv, const char *const *envp, GBytes *stdin_data,
                  guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) empty = NULL;
  SpawnData *d = g_new0 (SpawnData, 1);

  d->argv0 = g_strdup (argv[0]);
  d->timeout_ms = timeout_ms;
  g_task_set_task_data (task, d, (GDestroyNotify) spawn_data_free);
  if (stdin_data == NULL) /* communicate() insists on a buffer for a piped stdin */
    stdin_data = empty = g_bytes_new (NULL, 0);
  if (envp != NULL)
    g_subprocess_launcher_set_environ (launcher, (char **) envp);
  d->proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (d->proc == NULL)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_NOT_FOUND, "cannot run '%s': %s", argv[0], error->message);
      return;
    }
  if (timeout_ms > 0)
    {
      d->timeout = g_timeout_source_new (timeout_ms);
      g_source_set_callback (d->timeout, spawn_timeout_cb, d, NULL);
      g_source_attach (d->timeout, host->main_context);
    }
  g_subprocess_communicate_async (d->proc, stdin_data, cancellable, spawn_ready_cb, g_steal_pointer (&task));
}

static gboolean
host_spawn_finish (const EcsaPluginHost *host, GAsyncResult *result, int *out_exit_status, GBytes **out_stdout,
                   GBytes **out_stderr, GError **error)
{
  SpawnData *d = g_task_get_task_data (G_TASK (result));

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  if (out_exit_status != NULL)
    *out_exit_status = d->exit_status;
  if (out_stdout != NULL)
    *out_stdout = d->out != NULL ? g_bytes_ref (d->out) : g_bytes_new (NULL, 0);
  if (out_stderr != NULL)
    *out_stderr = d->err != NULL ? g_bytes_ref (d->err) : g_bytes_new (NULL, 0);
  return TRUE;
}

static EcsaTaskView *
host_task_view_lookup (const EcsaPluginHost *host, const char *task_arn)
{
  return NULL;
}

static void
host_task_view_free (EcsaTaskView *view)
{
}

static char *
host_redact (const EcsaPluginHost *host, const char *text)
{
  return g_strdup (text);
}

EcsaTestHost *
ecsa_test_host_new (const char *state_dir)
{
  EcsaTestHost *th = g_new0 (EcsaTestHost, 1);
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new (DOCKER_SOCKET);
  g_autoptr(JsonNode) version = NULL;
  guint status = 0;

  th->host.version = ECSA_PLUGIN_HOST_VERSION;
  th->host.struct_size = sizeof (EcsaPluginHost);
  th->host.main_context = g_main_context_default ();
  th->host.agent_version = "1.16.2-ecsa.test";
  th->host.region = "us-west-2";
  th->host.cluster = "default";
  th->host.config_get = host_config_get;
  th->host.log = host_log;
  th->host.timeout_add = host_timeout_add;
  th->host.docker_request_async = host_docker_request_async;
  th->host.docker_request_finish = host_docker_request_finish;
  th->host.spawn_async = host_spawn_async;
  th->host.spawn_finish = host_spawn_finish;
  th->host.task_view_lookup = host_task_view_lookup;
  th->host.task_view_free = host_task_view_free;
  th->host.redact = host_redact;
  th->config = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  th->logs = g_ptr_array_new_with_free_func (g_free);
  th->state_dir = g_strdup (state_dir);
  th->host.state_dir = th->state_dir;
  th->docker = soup_session_new_with_options ("remote-connectable", addr, "timeout", 120, NULL);
  th->host.http_session = soup_session_new_with_options ("timeout", 30, "proxy-resolver", NULL, NULL);
  th->docker_api = g_strdup ("v1.24");
  version = ecsa_test_docker (th, "GET", "/version", NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  g_free (th->docker_api);
  th->docker_api = g_strdup_printf ("v%s", json_object_get_string_member (json_node_get_object (version), "ApiVersion"));
  return th;
}

void
ecsa_test_host_free (EcsaTestHost *th)
{
  if (th == NULL)
    return;
  g_hash_table_unref (th->config);
  g_ptr_array_unref (th->logs);
  g_free (th->state_dir);
  g_object_unref (th->docker);
  g_object_unref (th->host.http_session);
  g_free (th->docker_api);
  g_free (th);
}

void
ecsa_test_host_set_config (EcsaTestHost *th, const char *key, const char *value)
{
  if (value == NULL)
    g_hash_table_remove (th->config, key);
  else
    g_hash_table_insert (th->config, g_strdup (key), g_strdup (value));
}

gboolean
ecsa_test_host_logged (EcsaTestHost *th, const char *fragment)
{
  guint i;

  for (i = 0; i < th->logs->len; i++)
    if (strstr (g_ptr_array_index (th->logs, i), fragment) != NULL)
      return TRUE;
  return FALSE;
}

/* ---------------------------------------------------------------------------------------------
 * Docker, synchronously (test set-up only)
 * ------------------------------------------------------------------------------------------- */

static GBytes *
docker_raw (EcsaTestHost *th, const char *method, const char *path, const char *body, guint *out_status)
{
  g_autofree char *uri = g_strdup_printf ("http://docker/%s%s", th->docker_api, path);
  g_autoptr(SoupMessage) msg = soup_message_new (method, uri);
  g_autoptr(GError) error = NULL;
  GBytes *reply;

  g_assert_nonnull (msg);
  if (body != NULL)
    {
      g_autoptr(GBytes) b = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", b);
    }
  reply = soup_session_send_and_read (th->docker, msg, NULL, &error);
  g_assert_no_error (error);
  *out_status = soup_message_get_status (msg);
  return reply;
}

JsonNode *
ecsa_test_docker (EcsaTestHost *th, const char *method, const char *path, const char *body, guint *out_status)
{
  g_autoptr(GBytes) reply = docker_raw (th, method, path, body, out_status);
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (reply, &len);

  if (len == 0 || !json_parser_load_from_data (parser, data, (gssize) len, NULL))
    return NULL;
  return json_node_copy (json_parser_get_root (parser));
}

char *
ecsa_test_docker_run (EcsaTestHost *th, const char *name, const char *create_json)
{
  g_autofree char *path = g_strdup_printf ("/containers/create?name=%s", name);
  g_autofree char *start = NULL;
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(JsonNode) started = NULL;
  guint status = 0;
  char *id;

  created = ecsa_test_docker (th, "POST", path, create_json, &status);
  if (status != 201)
    g_error ("create '%s': HTTP %u %s", name, status, created ? json_to_string (created, FALSE) : "");
  id = g_strdup (json_object_get_string_member (json_node_get_object (created), "Id"));
  start = g_strdup_printf ("/containers/%s/start", id);
  started = ecsa_test_docker (th, "POST", start, NULL, &status);
  if (status != 204)
    g_error ("start '%s': HTTP %u %s", name, status, started ? json_to_string (started, FALSE) : "");
  return id;
}

gint
ecsa_test_docker_pid (EcsaTestHost *th, const char *id)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/json", id);
  g_autoptr(JsonNode) inspect = NULL;
  guint status = 0;

  inspect = ecsa_test_docker (th, "GET", path, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  return (gint) json_object_get_int_member (
    json_object_get_object_member (json_node_get_object (inspect), "State"), "Pid");
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
ecsa_test_iterate (guint ms)
{
  gboolean done = FALSE;
  GSource *t = g_timeout_source_new (ms);

  g_source_set_callback (t, set_flag_cb, &done, NULL);
  g_source_attach (t, g_main_context_default ());
  while (!done)
    g_main_context_iteration (g_main_context_default (), TRUE);
  g_source_unref (t);
}

gint
ecsa_test_docker_wait (EcsaTestHost *th, const char *id, guint timeout_s)
{
  g_autofree char *inspect_path = g_strdup_printf ("/containers/%s/json", id);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  guint status = 0;

  /* Poll inspect (a short, bounded wait) rather than block in /wait without a limit. */
  for (;;)
    {
      g_autoptr(JsonNode) inspect = ecsa_test_docker (th, "GET", inspect_path, NULL, &status);
      JsonObject *state;

      g_assert_cmpuint (status, ==, 200);
      state = json_object_get_object_member (json_node_get_object (inspect), "State");
      if (!json_object_get_boolean_member (state, "Running"))
        return (gint) json_object_get_int_member (state, "ExitCode");
      if (g_get_monotonic_time () > deadline)
        g_error ("container %s still running after %u s", id, timeout_s);
      ecsa_test_iterate (50); /* the test's own servers keep answering meanwhile */
    }
}

char *
ecsa_test_docker_logs (EcsaTestHost *th, const char *id)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/logs?stdout=1&stderr=1", id);
  guint status = 0;
  g_autoptr(GBytes) raw = docker_raw (th, "GET", path, NULL, &status);
  GString *out = g_string_new (NULL);
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (raw, &len);

  g_assert_cmpuint (status, ==, 200);
  while (len >= 8)
    {
      guint32 n = ((guint32) p[4] << 24) | ((guint32) p[5] << 16) | ((guint32) p[6] << 8) | p[7];
      if (n > len - 8)
        n = (guint32) (len - 8);
      g_string_append_len (out, (const char *) p + 8, n);
      p += 8 + n;
      len -= 8 + n;
    }
  return g_string_free (out, FALSE);
}

void
ecsa_test_docker_remove (EcsaTestHost *th, const char *id_or_name)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s?force=1&v=1", id_or_name);
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  reply = ecsa_test_docker (th, "DELETE", path, NULL, &status);
  g_assert_true (status == 204 || status == 404);
}

int
ecsa_test_sh (char **out, const char *format, ...)
{
  g_autofree char *cmd = NULL;
  g_autofree char *stdout_text = NULL;
  g_autofree char *stderr_text = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "/bin/sh", "-c", NULL, NULL };
  va_list args;
  int status = 0;

  va_start (args, format);
  cmd = g_strdup_vprintf (format, args);
  va_end (args);
  argv[2] = cmd;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &stdout_text, &stderr_text, &status,
                     &error))
    g_error ("cannot run '%s': %s", cmd, error->message);
  if (!g_spawn_check_wait_status (status, NULL))
    g_test_message ("'%s' failed: %s%s", cmd, stdout_text, stderr_text);
  if (out != NULL)
    *out = g_steal_pointer (&stdout_text);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

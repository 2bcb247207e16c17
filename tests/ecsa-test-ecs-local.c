/* ecsa-test-ecs-local.c: helpers for the tests of ecs-local (see ecsa-test-ecs-local.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-ecs-local.h"
#include "ecsa-sigv4.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>

#define AWS_CLI "/usr/bin/aws"
#define START_TIMEOUT_MS 20000
#define CALL_TIMEOUT_MS 20000
#define AWS_TIMEOUT_MS 60000

/* ------------------------------------------------------------------------------------------- */
/* waiting */

typedef struct
{
  gboolean timed_out;
} Guard;

static gboolean
guard_cb (gpointer user_data)
{
  ((Guard *) user_data)->timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

void
ecsl_test_wait (gboolean (*done) (gpointer), gpointer data, guint timeout_ms, const char *what)
{
  Guard guard = { FALSE };
  guint id = g_timeout_add (timeout_ms, guard_cb, &guard);

  while (!done (data) && !guard.timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (guard.timed_out)
    g_error ("timed out after %u ms waiting for %s", timeout_ms, what);
  g_source_remove (id);
}

static gboolean
flag_set (gpointer data)
{
  return *(gboolean *) data;
}

void
ecsl_test_wait_flag (const gboolean *flag, guint timeout_ms, const char *what)
{
  ecsl_test_wait (flag_set, (gpointer) flag, timeout_ms, what);
}

static gboolean
pause_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
ecsl_test_pause (guint ms)
{
  gboolean over = FALSE;

  g_timeout_add (ms, pause_cb, &over);
  ecsl_test_wait_flag (&over, ms + 10000, "a pause");
}

guint16
ecsl_test_free_port (void)
{
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (any, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (sock);
  g_socket_bind (sock, addr, TRUE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (sock, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

typedef struct
{
  char *out;
  char *err;
  GError *error;
  gboolean done;
} RunData;

static void
run_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunData *r = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &r->out, &r->err, &r->error);
  r->done = TRUE;
}

char *
ecsl_test_run (gboolean may_fail, const char *const *argv)
{
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cmdline = g_strjoinv (" ", (char **) argv);
  RunData r = { 0 };

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, run_ready_cb, &r);
  ecsl_test_wait_flag (&r.done, 120000, cmdline);
  g_assert_no_error (r.error);
  if (!may_fail && (!g_subprocess_get_if_exited (proc) || g_subprocess_get_exit_status (proc) != 0))
    g_error ("%s failed: %s", cmdline, r.err);
  g_free (r.err);
  return g_strstrip (r.out);
}

typedef struct
{
  GBytes *body;
  GError *error;
  gboolean done;
} GetData;

static void
get_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GetData *g = user_data;

  g->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &g->error);
  g->done = TRUE;
}

char *
ecsl_test_http_get (guint16 port)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u/", port);

  return ecsl_test_http_get_url (url);
}

char *
ecsl_test_http_get_url (const char *url)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 5, NULL);

  for (int attempt = 0; attempt < 50; attempt++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
      GetData g = { 0 };
      soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, get_ready_cb, &g);
      ecsl_test_wait_flag (&g.done, 20000, url);
      if (g.error == NULL && soup_message_get_status (msg) == 200)
        {
          char *text = g_strndup (g_bytes_get_data (g.body, NULL), g_bytes_get_size (g.body));
          g_bytes_unref (g.body);
          return text;
        }
      g_test_message ("GET %s: %s", url, g.error != NULL ? g.error->message : "not 200");
      g_clear_error (&g.error);
      g_clear_pointer (&g.body, g_bytes_unref);
      ecsl_test_pause (200);
    }
  g_error ("%s never answered", url);
  return NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* JSON paths */

JsonNode *
ecsl_test_get (JsonNode *node, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);

  for (guint i = 0; node != NULL && parts[i] != NULL; i++)
    {
      if (JSON_NODE_HOLDS_OBJECT (node))
        node = json_object_get_member (json_node_get_object (node), parts[i]);
      else if (JSON_NODE_HOLDS_ARRAY (node))
        {
          JsonArray *a = json_node_get_array (node);
          guint64 idx = g_ascii_strtoull (parts[i], NULL, 10);
          node = idx < json_array_get_length (a) ? json_array_get_element (a, (guint) idx) : NULL;
        }
      else
        node = NULL;
    }
  return node;
}

const char *
ecsl_test_get_string (JsonNode *node, const char *path)
{
  JsonNode *n = ecsl_test_get (node, path);

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
           ? json_node_get_string (n) : NULL;
}

gint64
ecsl_test_get_int (JsonNode *node, const char *path)
{
  JsonNode *n = ecsl_test_get (node, path);

  g_assert_nonnull (n);
  g_assert_true (JSON_NODE_HOLDS_VALUE (n));
  return json_node_get_int (n);
}

const char *
ecsl_test_error_type (JsonNode *node)
{
  return ecsl_test_get_string (node, "__type");
}

static JsonNode *
parse_json (const char *data, gssize len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  if (len == 0 || data == NULL)
    return NULL;
  if (!json_parser_load_from_data (parser, data, len, &error))
    g_error ("not JSON (%s): %.*s", error->message, (int) MIN (len, 2000), data);
  return json_parser_steal_root (parser);
}

/* ------------------------------------------------------------------------------------------- */
/* the server */

typedef struct
{
  char *line;
  GError *error;
  gboolean done;
} LineData;

static void
line_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LineData *d = user_data;

  d->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, &d->error);
  d->done = TRUE;
}

static char *
field (const char *line, const char *name)
{
  g_autofree char *key = g_strconcat (" ", name, "=", NULL);
  const char *p = strstr (line, key);
  const char *end;

  g_assert_nonnull (p);
  p += strlen (key);
  end = strchr (p, ' ');
  return end != NULL ? g_strndup (p, end - p) : g_strdup (p);
}

/* If the test dies, ecs-local goes with it. */
static void
child_setup (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
dump_log (EcslTestServer *s)
{
  g_autofree char *log = NULL;

  if (s->stderr_path != NULL && g_file_get_contents (s->stderr_path, &log, NULL, NULL))
    g_printerr ("---- ecs-local log (%s) ----\n%s----\n", s->stderr_path, log);
}

static gboolean
pid_alive (const char *name, const char *prefix)
{
  g_autofree char *proc = NULL;
  guint64 pid;

  if (!g_str_has_prefix (name, prefix))
    return TRUE;
  pid = g_ascii_strtoull (name + strlen (prefix), NULL, 10);
  if (pid == 0)
    return TRUE;
  proc = g_strdup_printf ("/proc/%" G_GUINT64_FORMAT, pid);
  return g_file_test (proc, G_FILE_TEST_EXISTS);
}

void
ecsl_test_reap_leftovers (void)
{
  g_autoptr(GDir) tmp = g_dir_open (g_get_tmp_dir (), 0, NULL);
  const char *name;

  /* State directories of earlier runs that died before their teardown (an assertion aborts). */
  while (tmp != NULL && (name = g_dir_read_name (tmp)) != NULL)
    if (strstr (name, "-ecsl-") != NULL && !pid_alive (name, "ecsa-t"))
      {
        g_autofree char *path = g_build_filename (g_get_tmp_dir (), name, NULL);
        ecsa_test_rmdir_recursive (path);
      }
}

EcslTestServer *
ecsl_test_server_start (const char *state_dir, const char *const *extra_args)
{
  EcslTestServer *s = g_new0 (EcslTestServer, 1);
  const char *exe = g_getenv ("ECSA_TEST_ECS_LOCAL");
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GTlsDatabase) db = NULL;
  g_autofree char *creds_path = NULL;
  g_autofree char *imds = NULL;
  LineData line = { 0 };

  g_assert_nonnull (exe);
  ecsl_test_reap_leftovers ();
  if (state_dir != NULL)
    s->state_dir = g_strdup (state_dir);
  else
    {
      g_autofree char *tmpl = g_strdup_printf ("ecsa-t%d-ecsl-XXXXXX", (int) getpid ());
      s->state_dir = g_dir_make_tmp (tmpl, &error);
      g_assert_no_error (error);
      s->own_state_dir = TRUE;
    }
  s->trace_path = g_build_filename (s->state_dir, "trace.jsonl", NULL);
  s->stderr_path = g_build_filename (s->state_dir, "ecs-local.log", NULL);
  g_ptr_array_add (argv, (char *) exe);
  g_ptr_array_add (argv, "--state-dir");
  g_ptr_array_add (argv, s->state_dir);
  g_ptr_array_add (argv, "--port=0");
  g_ptr_array_add (argv, "--tcs-port=0");
  g_ptr_array_add (argv, "--imds-port=0");
  g_ptr_array_add (argv, "--region=us-west-2");
  g_ptr_array_add (argv, "--verbose");
  g_ptr_array_add (argv, "--trace");
  g_ptr_array_add (argv, s->trace_path);
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) extra_args[i]);
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_unsetenv (launcher, "AWS_ACCESS_KEY_ID");
  g_subprocess_launcher_unsetenv (launcher, "AWS_SECRET_ACCESS_KEY");
  g_subprocess_launcher_unsetenv (launcher, "AWS_SESSION_TOKEN");
  g_subprocess_launcher_set_stderr_file_path (launcher, s->stderr_path);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  s->proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (s->proc));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, NULL, line_ready_cb, &line);
  ecsl_test_wait (flag_set, &line.done, START_TIMEOUT_MS, "ecs-local to be ready");
  if (line.line == NULL || !g_str_has_prefix (line.line, "ECS_LOCAL_READY "))
    {
      dump_log (s);
      g_error ("ecs-local did not start: %s", line.error != NULL ? line.error->message : "no ready line");
    }
  s->endpoint = field (line.line, "endpoint");
  s->tcs_endpoint = field (line.line, "telemetry");
  imds = field (line.line, "imds");
  s->imds_endpoint = strcmp (imds, "-") != 0 ? g_steal_pointer (&imds) : NULL;
  g_free (line.line);
  s->ca_path = g_build_filename (s->state_dir, "ca.pem", NULL);
  s->region = g_strdup ("us-west-2");
  creds_path = g_build_filename (s->state_dir, "credentials", NULL);
  g_key_file_load_from_file (kf, creds_path, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  s->access_key_id = g_key_file_get_string (kf, "default", "aws_access_key_id", &error);
  g_assert_no_error (error);
  s->secret_access_key = g_key_file_get_string (kf, "default", "aws_secret_access_key", &error);
  g_assert_no_error (error);
  db = g_tls_file_database_new (s->ca_path, &error);
  g_assert_no_error (error);
  s->session = soup_session_new_with_options ("tls-database", db, "timeout", 30, NULL);
  return s;
}

typedef struct
{
  gboolean done;
} WaitData;

static void
wait_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  ((WaitData *) user_data)->done = TRUE;
}

void
ecsl_test_server_stop (EcslTestServer *s, gboolean keep_state)
{
  WaitData w = { FALSE };

  if (s == NULL)
    return;
  if (s->proc != NULL)
    {
      g_subprocess_send_signal (s->proc, SIGTERM);
      g_subprocess_wait_async (s->proc, NULL, wait_ready_cb, &w);
      ecsl_test_wait (flag_set, &w.done, 10000, "ecs-local to stop");
      if (!g_subprocess_get_if_exited (s->proc) || g_subprocess_get_exit_status (s->proc) != 0)
        {
          dump_log (s);
          g_error ("ecs-local did not exit cleanly");
        }
    }
  if (g_test_failed () || g_getenv ("ECSA_TEST_KEEP") != NULL)
    dump_log (s);
  if (s->own_state_dir && !keep_state)
    ecsa_test_rmdir_recursive (s->state_dir);
  g_clear_object (&s->proc);
  g_clear_object (&s->session);
  g_free (s->state_dir);
  g_free (s->endpoint);
  g_free (s->tcs_endpoint);
  g_free (s->imds_endpoint);
  g_free (s->ca_path);
  g_free (s->region);
  g_free (s->access_key_id);
  g_free (s->secret_access_key);
  g_free (s->trace_path);
  g_free (s->stderr_path);
  g_free (s);
}

/* ------------------------------------------------------------------------------------------- */
/* the AWS CLI */

typedef struct
{
  char *out;
  char *err;
  GError *error;
  gboolean done;
} CommData;

static void
comm_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CommData *d = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &d->out, &d->err, &d->error);
  d->done = TRUE;
}

int
ecsl_test_aws (EcslTestServer *s, const char *const *env_extra, JsonNode **out_json, char **out_stderr,
               const char *first_arg, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                       | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *creds = g_build_filename (s->state_dir, "credentials", NULL);
  g_autofree char *config = g_build_filename (s->state_dir, "config", NULL);
  g_autofree char *cmdline = NULL;
  CommData d = { 0 };
  va_list ap;
  int status;

  g_ptr_array_add (argv, g_strdup (AWS_CLI));
  g_ptr_array_add (argv, g_strdup ("--endpoint-url"));
  g_ptr_array_add (argv, g_strdup (s->endpoint));
  g_ptr_array_add (argv, g_strdup ("--output"));
  g_ptr_array_add (argv, g_strdup ("json"));
  va_start (ap, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  cmdline = g_strjoinv (" ", (char **) argv->pdata);

  for (const char *const *v = (const char *const[]){ "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                                      "AWS_PROFILE", "AWS_REGION", NULL };
       *v != NULL; v++)
    g_subprocess_launcher_unsetenv (launcher, *v);
  g_subprocess_launcher_setenv (launcher, "AWS_SHARED_CREDENTIALS_FILE", creds, TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_CONFIG_FILE", config, TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_CA_BUNDLE", s->ca_path, TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_DEFAULT_REGION", s->region, TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_PAGER", "", TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_EC2_METADATA_DISABLED", "true", TRUE);
  g_subprocess_launcher_setenv (launcher, "AWS_MAX_ATTEMPTS", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "HOME", s->state_dir, TRUE);
  for (guint i = 0; env_extra != NULL && env_extra[i] != NULL; i++)
    {
      g_auto (GStrv) kv = g_strsplit (env_extra[i], "=", 2);
      g_subprocess_launcher_setenv (launcher, kv[0], kv[1] != NULL ? kv[1] : "", TRUE);
    }
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, comm_ready_cb, &d);
  ecsl_test_wait (flag_set, &d.done, AWS_TIMEOUT_MS, cmdline);
  g_assert_no_error (d.error);
  status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
  g_test_message ("%s -> %d%s%s", cmdline, status, d.err != NULL && *d.err != '\0' ? ": " : "",
                  d.err != NULL ? g_strstrip (d.err) : "");
  if (out_json != NULL)
    *out_json = d.out != NULL && *d.out != '\0' ? parse_json (d.out, -1) : NULL;
  if (out_stderr != NULL)
    *out_stderr = g_steal_pointer (&d.err);
  g_free (d.out);
  g_free (d.err);
  return status;
}

/* ------------------------------------------------------------------------------------------- */
/* signed calls */

typedef struct
{
  GBytes *body;
  GError *error;
  gboolean done;
} SendData;

static void
send_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SendData *d = user_data;

  d->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &d->error);
  d->done = TRUE;
}

static EcsaAwsCredentials *
root_creds (EcslTestServer *s, EcsaAwsCredentials *out)
{
  out->struct_size = sizeof *out;
  out->access_key_id = s->access_key_id;
  out->secret_access_key = s->secret_access_key;
  out->session_token = "";
  out->role_arn = "";
  return out;
}

JsonNode *
ecsl_test_call (EcslTestServer *s, const EcsaAwsCredentials *creds, const char *target, const char *body,
                guint *out_status)
{
  g_autofree char *url = g_strconcat (s->endpoint, "/", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
  g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
  g_autoptr(GError) error = NULL;
  EcsaAwsCredentials root;
  SendData d = { 0 };
  JsonNode *node;

  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Amz-Target", target);
  soup_message_set_request_body_from_bytes (msg, "application/x-amz-json-1.1", bytes);
  g_assert_true (ecsa_sigv4_sign_message (msg, bytes, g_str_has_prefix (target, "AmazonEC2ContainerRegistry") ? "ecr"
                                                                                                                : "ecs",
                                          s->region, creds != NULL ? creds : root_creds (s, &root), NULL, &error));
  g_assert_no_error (error);
  soup_session_send_and_read_async (s->session, msg, G_PRIORITY_DEFAULT, NULL, send_ready_cb, &d);
  ecsl_test_wait (flag_set, &d.done, CALL_TIMEOUT_MS, target);
  g_assert_no_error (d.error);
  if (out_status != NULL)
    *out_status = soup_message_get_status (msg);
  node = parse_json (g_bytes_get_data (d.body, NULL), (gssize) g_bytes_get_size (d.body));
  g_bytes_unref (d.body);
  return node;
}

JsonNode *
ecsl_test_ecs (EcslTestServer *s, const char *op, const char *body_format, ...)
{
  g_autofree char *body = NULL;
  g_autofree char *target = g_strconcat ("AmazonEC2ContainerServiceV20141113.", op, NULL);
  JsonNode *node;
  guint status = 0;
  va_list ap;

  va_start (ap, body_format);
  body = g_strdup_vprintf (body_format, ap);
  va_end (ap);
  node = ecsl_test_call (s, NULL, target, body, &status);
  if (status != 200)
    {
      g_autoptr(JsonGenerator) gen = json_generator_new ();
      g_autofree char *text = NULL;
      json_generator_set_root (gen, node);
      text = json_generator_to_data (gen, NULL);
      g_error ("%s %s -> HTTP %u: %s", op, body, status, text);
    }
  return node;
}

JsonNode *
ecsl_test_view (EcslTestServer *s, const char *path)
{
  g_autofree char *url = g_strconcat (s->endpoint, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  SendData d = { 0 };
  JsonNode *node;

  soup_session_send_and_read_async (s->session, msg, G_PRIORITY_DEFAULT, NULL, send_ready_cb, &d);
  ecsl_test_wait (flag_set, &d.done, CALL_TIMEOUT_MS, url);
  g_assert_no_error (d.error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  node = parse_json (g_bytes_get_data (d.body, NULL), (gssize) g_bytes_get_size (d.body));
  g_bytes_unref (d.body);
  return node;
}

/* ------------------------------------------------------------------------------------------- */
/* the trace */

void
ecsl_test_check_trace (EcslTestServer *s)
{
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "ecs-local", "check-shapes.py", NULL);
  const char *argv[] = { "/usr/bin/python3", script, s->trace_path, NULL };
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  CommData d = { 0 };

  /* Let ecs-local's trace writer catch up: its thread flushes every line. */
  g_usleep (100 * 1000);
  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, comm_ready_cb, &d);
  ecsl_test_wait (flag_set, &d.done, 60000, "check-shapes.py");
  g_assert_no_error (d.error);
  g_test_message ("check-shapes.py: %s", d.out != NULL ? g_strstrip (d.out) : "");
  if (!g_subprocess_get_if_exited (proc) || g_subprocess_get_exit_status (proc) != 0)
    g_error ("the trace does not match the botocore model:\n%s", d.out);
  g_free (d.out);
  g_free (d.err);
}

/* ------------------------------------------------------------------------------------------- */
/* groups of cases */

static char *picked_group;
static guint picked_cases;

void
ecsl_test_take_group (int *argc, char ***argv)
{
  int out = 1;

  for (int i = 1; i < *argc; i++)
    {
      const char *arg = (*argv)[i];
      if (strcmp (arg, "--group") == 0 && i + 1 < *argc)
        {
          g_free (picked_group);
          picked_group = g_strdup ((*argv)[++i]);
        }
      else if (g_str_has_prefix (arg, "--group="))
        {
          g_free (picked_group);
          picked_group = g_strdup (arg + strlen ("--group="));
        }
      else
        (*argv)[out++] = (*argv)[i];
    }
  (*argv)[out] = NULL;
  *argc = out;
}

void
ecsl_test_add (const char *group, const char *path, GTestFunc func)
{
  if (picked_group != NULL && strcmp (picked_group, group) != 0)
    return;
  picked_cases++;
  g_test_add_func (path, func);
}

void
ecsl_test_check_groups (void)
{
  if (picked_cases == 0)
    g_error ("--group %s: no test case is in that group", picked_group != NULL ? picked_group : "(none)");
}

/* ------------------------------------------------------------------------------------------- */
/* the scripted agent */

static void
add_resource (JsonBuilder *b, const char *name, gint64 integer, const char *const *set)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, set != NULL || integer < 0 ? "STRINGSET" : "INTEGER");
  if (set != NULL || integer < 0)
    {
      json_builder_set_member_name (b, "stringSetValue");
      json_builder_begin_array (b);
      for (guint i = 0; set != NULL && set[i] != NULL; i++)
        json_builder_add_string_value (b, set[i]);
      json_builder_end_array (b);
    }
  else
    {
      json_builder_set_member_name (b, "integerValue");
      json_builder_add_int_value (b, integer);
    }
  json_builder_end_object (b);
}

EcslTestAgent *
ecsl_test_agent_register (EcslTestServer *s, const char *cluster, gint64 cpu, gint64 memory,
                          const char *const *ports, const char *const *attributes)
{
  EcslTestAgent *a = g_new0 (EcslTestAgent, 1);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) resp = NULL;
  g_autofree char *body = NULL;
  JsonNode *echoed;

  a->server = s;
  a->cluster = g_strdup (cluster);
  g_queue_init (&a->acs_frames);
  g_queue_init (&a->tcs_frames);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "cluster");
  json_builder_add_string_value (b, cluster);
  json_builder_set_member_name (b, "totalResources");
  json_builder_begin_array (b);
  add_resource (b, "CPU", cpu, NULL);
  add_resource (b, "MEMORY", memory, NULL);
  add_resource (b, "PORTS", -1, ports);
  add_resource (b, "PORTS_UDP", -1, NULL);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "attributes");
  json_builder_begin_array (b);
  for (guint i = 0; attributes != NULL && attributes[i] != NULL; i += 2)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, attributes[i]);
      if (*attributes[i + 1] != '\0')
        {
          json_builder_set_member_name (b, "value");
          json_builder_add_string_value (b, attributes[i + 1]);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "versionInfo");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "agentVersion");
  json_builder_add_string_value (b, "1.16.2");
  json_builder_set_member_name (b, "agentHash");
  json_builder_add_string_value (b, "testhash");
  json_builder_set_member_name (b, "dockerVersion");
  json_builder_add_string_value (b, "DockerVersion: 20.10.24");
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  body = json_generator_to_data (gen, NULL);
  resp = ecsl_test_ecs (s, "RegisterContainerInstance", "%s", body);
  a->instance_arn = g_strdup (ecsl_test_get_string (resp, "containerInstance/containerInstanceArn"));
  g_assert_nonnull (a->instance_arn);
  /* Every attribute sent comes back (v1.16.2 checks this). */
  echoed = ecsl_test_get (resp, "containerInstance/attributes");
  g_assert_nonnull (echoed);
  for (guint i = 0; attributes != NULL && attributes[i] != NULL; i += 2)
    {
      gboolean found = FALSE;
      JsonArray *arr = json_node_get_array (echoed);
      for (guint k = 0; k < json_array_get_length (arr); k++)
        {
          JsonObject *o = json_array_get_object_element (arr, k);
          if (g_strcmp0 (json_object_get_string_member_with_default (o, "name", NULL), attributes[i]) == 0
              && g_strcmp0 (json_object_get_string_member_with_default (o, "value", ""), attributes[i + 1]) == 0)
            found = TRUE;
        }
      g_assert_true (found);
    }
  return a;
}

EcslTestAgent *
ecsl_test_agent_attach (EcslTestServer *s, const char *cluster, const char *instance_arn)
{
  EcslTestAgent *a = g_new0 (EcslTestAgent, 1);

  a->server = s;
  a->cluster = g_strdup (cluster);
  a->instance_arn = g_strdup (instance_arn);
  g_queue_init (&a->acs_frames);
  g_queue_init (&a->tcs_frames);
  return a;
}

void
ecsl_test_agent_close_acs (EcslTestAgent *a)
{
  if (a->acs == NULL)
    return;
  if (soup_websocket_connection_get_state (a->acs) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (a->acs, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  ecsl_test_wait (flag_set, &a->acs_closed, CALL_TIMEOUT_MS, "the ACS websocket to close");
}

void
ecsl_test_agent_free (EcslTestAgent *a)
{
  if (a == NULL)
    return;
  if (a->acs != NULL && soup_websocket_connection_get_state (a->acs) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (a->acs, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  if (a->tcs != NULL && soup_websocket_connection_get_state (a->tcs) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (a->tcs, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  if (a->acs != NULL)
    g_signal_handlers_disconnect_by_data (a->acs, a);
  if (a->tcs != NULL)
    g_signal_handlers_disconnect_by_data (a->tcs, a);
  g_clear_object (&a->acs);
  g_clear_object (&a->tcs);
  g_queue_clear_full (&a->acs_frames, (GDestroyNotify) json_node_unref);
  g_queue_clear_full (&a->tcs_frames, (GDestroyNotify) json_node_unref);
  g_free (a->cluster);
  g_free (a->instance_arn);
  g_free (a->tcs_url);
  g_free (a);
}

static char *
acs_url (EcslTestServer *s, const char *cluster, const char *instance_arn, gboolean send_credentials)
{
  g_autofree char *c = g_uri_escape_string (cluster, NULL, FALSE);
  g_autofree char *i = g_uri_escape_string (instance_arn, NULL, FALSE);

  /* As v1.16.2 builds it: sorted query, the space of dockerVersion as '+'. */
  return g_strdup_printf ("%s/ws?agentHash=testhash&agentVersion=1.16.2&clusterArn=%s&containerInstanceArn=%s"
                          "&dockerVersion=DockerVersion%%3A+20.10.24&sendCredentials=%s&seqNum=1",
                          s->endpoint, c, i, send_credentials ? "true" : "false");
}

static void
frame_cb (SoupWebsocketConnection *ws, gint type, GBytes *data, gpointer user_data)
{
  EcslTestAgent *a = user_data;
  JsonNode *node = parse_json (g_bytes_get_data (data, NULL), (gssize) g_bytes_get_size (data));

  g_queue_push_tail (ws == a->acs ? &a->acs_frames : &a->tcs_frames, node);
}

static void
closed_cb (SoupWebsocketConnection *ws, gpointer user_data)
{
  EcslTestAgent *a = user_data;

  if (ws == a->acs)
    a->acs_closed = TRUE;
  else
    {
      a->tcs_closed = TRUE;
      a->tcs_close_code = soup_websocket_connection_get_close_code (ws);
    }
}

typedef struct
{
  SoupWebsocketConnection *ws;
  GError *error;
  gboolean done;
} WsData;

static void
ws_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WsData *d = user_data;

  d->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &d->error);
  d->done = TRUE;
}

static SoupWebsocketConnection *
connect_ws (EcslTestServer *s, const EcsaAwsCredentials *creds, const char *url)
{
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GError) error = NULL;
  EcsaAwsCredentials root;
  WsData d = { 0 };

  g_assert_nonnull (msg);
  g_assert_true (ecsa_sigv4_sign_message (msg, NULL, "ecs", s->region, creds != NULL ? creds : root_creds (s, &root),
                                          NULL, &error));
  g_assert_no_error (error);
  soup_session_websocket_connect_async (s->session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL, ws_ready_cb, &d);
  ecsl_test_wait (flag_set, &d.done, CALL_TIMEOUT_MS, url);
  g_assert_no_error (d.error);
  soup_websocket_connection_set_max_incoming_payload_size (d.ws, 4 * 1024 * 1024);
  return d.ws;
}

void
ecsl_test_agent_connect_acs (EcslTestAgent *a, gboolean send_credentials)
{
  g_autofree char *url = acs_url (a->server, a->cluster, a->instance_arn, send_credentials);

  if (a->acs != NULL)
    {
      g_signal_handlers_disconnect_by_data (a->acs, a);
      g_clear_object (&a->acs);
    }
  a->acs_closed = FALSE;
  a->acs = connect_ws (a->server, a->creds, url);
  g_signal_connect (a->acs, "message", G_CALLBACK (frame_cb), a);
  g_signal_connect (a->acs, "closed", G_CALLBACK (closed_cb), a);
}

guint
ecsl_test_agent_try_acs (EcslTestServer *s, const EcsaAwsCredentials *creds, const char *cluster,
                         const char *instance_arn, char **out_body)
{
  g_autofree char *url = acs_url (s, cluster, instance_arn, TRUE);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GError) error = NULL;
  EcsaAwsCredentials root;
  SendData d = { 0 };

  g_assert_true (ecsa_sigv4_sign_message (msg, NULL, "ecs", s->region, creds != NULL ? creds : root_creds (s, &root),
                                          NULL, &error));
  soup_session_send_and_read_async (s->session, msg, G_PRIORITY_DEFAULT, NULL, send_ready_cb, &d);
  ecsl_test_wait (flag_set, &d.done, CALL_TIMEOUT_MS, url);
  g_assert_no_error (d.error);
  if (out_body != NULL)
    *out_body = g_strndup (g_bytes_get_data (d.body, NULL), g_bytes_get_size (d.body));
  g_bytes_unref (d.body);
  return soup_message_get_status (msg);
}

void
ecsl_test_agent_connect_tcs (EcslTestAgent *a)
{
  g_autofree char *c = g_uri_escape_string (a->cluster, NULL, FALSE);
  g_autofree char *i = g_uri_escape_string (a->instance_arn, NULL, FALSE);

  g_free (a->tcs_url);
  a->tcs_url = g_strdup_printf ("%s/ws?cluster=%s&containerInstance=%s", a->server->tcs_endpoint, c, i);
  a->tcs_closed = FALSE;
  a->tcs = connect_ws (a->server, a->creds, a->tcs_url);
  g_signal_connect (a->tcs, "message", G_CALLBACK (frame_cb), a);
  g_signal_connect (a->tcs, "closed", G_CALLBACK (closed_cb), a);
}

typedef struct
{
  GQueue *queue;
  const char *type;
  JsonNode *found;
} NextData;

static gboolean
next_found (gpointer data)
{
  NextData *d = data;

  while (d->found == NULL && !g_queue_is_empty (d->queue))
    {
      JsonNode *n = g_queue_pop_head (d->queue);
      if (g_strcmp0 (ecsl_test_get_string (n, "type"), d->type) == 0)
        d->found = n;
      else
        json_node_unref (n);
    }
  return d->found != NULL;
}

JsonNode *
ecsl_test_agent_next (EcslTestAgent *a, const char *type, guint timeout_ms)
{
  NextData d = { &a->acs_frames, type, NULL };
  g_autofree char *what = g_strdup_printf ("an ACS %s", type);

  ecsl_test_wait (next_found, &d, timeout_ms, what);
  return d.found;
}

JsonNode *
ecsl_test_agent_next_tcs (EcslTestAgent *a, const char *type, guint timeout_ms)
{
  NextData d = { &a->tcs_frames, type, NULL };
  g_autofree char *what = g_strdup_printf ("a TCS %s", type);

  ecsl_test_wait (next_found, &d, timeout_ms, what);
  return d.found;
}

static gboolean
expect_none_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
ecsl_test_agent_expect_none (EcslTestAgent *a, const char *type, guint ms)
{
  gboolean over = FALSE;

  g_timeout_add (ms, expect_none_cb, &over);
  while (!over)
    g_main_context_iteration (NULL, TRUE);
  for (GList *l = a->acs_frames.head; l != NULL; l = l->next)
    if (g_strcmp0 (ecsl_test_get_string (l->data, "type"), type) == 0)
      g_error ("an ACS %s arrived within %u ms, and none was expected", type, ms);
}

void
ecsl_test_agent_send (EcslTestAgent *a, const char *type, const char *message_json)
{
  g_autofree char *text = g_strdup_printf ("{\"type\":\"%s\",\"message\":%s}", type, message_json);

  soup_websocket_connection_send_text (a->acs, text);
}

void
ecsl_test_agent_ack (EcslTestAgent *a, JsonNode *payload)
{
  g_autofree char *msg = g_strdup_printf ("{\"cluster\":\"%s\",\"containerInstance\":\"%s\",\"messageId\":\"%s\"}",
                                          a->cluster, a->instance_arn,
                                          ecsl_test_get_string (payload, "message/messageId"));

  ecsl_test_agent_send (a, "AckRequest", msg);
}

static gint
compare_str (gconstpointer x, gconstpointer y)
{
  return strcmp (*(const char *const *) x, *(const char *const *) y);
}

void
ecsl_test_agent_send_tcs (EcslTestAgent *a, const char *type, const char *message_json, gboolean bad_signature)
{
  g_autofree char *payload = g_strdup_printf ("{\"type\":\"%s\",\"message\":%s}", type, message_json);
  g_autoptr(GUri) uri = g_uri_parse (a->tcs_url, G_URI_FLAGS_ENCODED, NULL);
  g_autoptr(GHashTable) headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autoptr(GString) frame = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  EcsaAwsCredentials root;
  GHashTableIter iter;
  gpointer key;

  g_assert_true (ecsa_sigv4_sign_get_with_payload (uri, payload, strlen (payload), "ecs", a->server->region,
                                                   a->creds != NULL ? a->creds : root_creds (a->server, &root), NULL,
                                                   headers, &error));
  g_assert_no_error (error);
  g_hash_table_iter_init (&iter, headers);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, key);
  g_ptr_array_sort (names, compare_str);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *value = g_strdup (g_hash_table_lookup (headers, name));
      if (bad_signature && strcmp (name, "Authorization") == 0)
        {
          char *last = value + strlen (value) - 1;
          *last = *last == '0' ? '1' : '0';
        }
      g_string_append_printf (frame, "%s: %s\r\n", name, value);
    }
  g_string_append (frame, "\r\n");
  g_string_append (frame, payload);
  soup_websocket_connection_send_text (a->tcs, frame->str);
}

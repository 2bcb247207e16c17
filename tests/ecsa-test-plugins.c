/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

#include "ecsa-log.h"
#include "ecsa-sigv4.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define TEST_IMAGE_DEFAULT "ecsa-test/busybox:latest"
#define DOCKER_SOCKET "/var/run/docker.sock"

/* ---- log capture ------------------------------------------------------------------------------ */

static GMutex capture_lock;
static GPtrArray *captured; /* char*: every log line of the process */
static char *prefix;

static void
capture_line (const char *line)
{
  g_mutex_lock (&capture_lock);
  if (captured == NULL)
    captured = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (captured, g_strdup (line));
  g_mutex_unlock (&capture_lock);
}

/* The agent's own log (ecsa-log), as it would be written: after redaction. */
static void
capture_agent_log (EcsaLogLevel level, const char *line, gpointer user_data)
{
  capture_line (line);
}

void
ecsa_test_plugins_init (int *argc, char ***argv)
{
  /* Every g_log line (plugins, core) goes through the agent's writer, as in the agent; it shows
   * them on stderr (stdout is TAP) and hands each line to the capture. The tests register no
   * secret with its redaction, so the capture sees what plugins and core wrote, unredacted. */
  ecsa_log_init ();
  ecsa_log_set_console (STDERR_FILENO);
  ecsa_log_set_capture (capture_agent_log, NULL);
  ecsa_log_set_level (ECSA_LOG_DEBUG);
  g_test_init (argc, argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  prefix = g_strdup_printf ("ecsa-t%d-plugins", (int) getpid ());
}

const char *
ecsa_test_plugins_prefix (void)
{
  return prefix;
}

void
ecsa_test_assert_no_secret (const char *secret)
{
  guint i;

  g_assert_nonnull (secret);
  g_assert_cmpuint (strlen (secret), >, 0);
  g_mutex_lock (&capture_lock);
  for (i = 0; captured != NULL && i < captured->len; i++)
    {
      const char *line = g_ptr_array_index (captured, i);
      if (strstr (line, secret) != NULL)
        {
          g_mutex_unlock (&capture_lock);
          g_error ("a secret reached a log line: '%s'", line);
        }
    }
  g_mutex_unlock (&capture_lock);
}

gboolean
ecsa_test_log_contains (const char *fragment)
{
  gboolean found = FALSE;
  guint i;

  g_mutex_lock (&capture_lock);
  for (i = 0; captured != NULL && i < captured->len && !found; i++)
    found = strstr (g_ptr_array_index (captured, i), fragment) != NULL;
  g_mutex_unlock (&capture_lock);
  return found;
}

void
ecsa_test_log_clear (void)
{
  g_mutex_lock (&capture_lock);
  if (captured != NULL)
    g_ptr_array_set_size (captured, 0);
  g_mutex_unlock (&capture_lock);
}

/* ---- the test host ---------------------------------------------------------------------------- */

static void
wipe (char *s)
{
  volatile char *p = s;

  if (p == NULL)
    return;
  while (*p != '\0')
    *p++ = '\0';
}

static const char *
host_config_get (const EcsaPluginHost *host, const char *key)
{
  const EcsaTestHost *h = (const EcsaTestHost *) host;

  return g_hash_table_lookup (h->config, key);
}

static void
host_log (const EcsaPluginHost *host, EcsaLogLevel level, const char *message)
{
  static const char *const names[] = { "crit", "error", "warn", "info", "debug" };
  g_autofree char *line = g_strdup_printf ("[plugin %s] %s", level <= ECSA_LOG_DEBUG ? names[level] : "?", message);

  capture_line (line);
  g_test_message ("%s", line);
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
host_aws_credentials_free (const EcsaPluginHost *host, EcsaAwsCredentials *c)
{
  if (c == NULL)
    return;
  wipe ((char *) c->access_key_id);
  wipe ((char *) c->secret_access_key);
  wipe ((char *) c->session_token);
  g_free ((char *) c->access_key_id);
  g_free ((char *) c->secret_access_key);
  g_free ((char *) c->session_token);
  g_free ((char *) c->role_arn);
  g_free (c);
}

static void
aws_credentials_destroy (gpointer c)
{
  host_aws_credentials_free (NULL, c);
}

static void
host_aws_credentials_async (const EcsaPluginHost *host, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  EcsaTestHost *h = (EcsaTestHost *) host;
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  EcsaAwsCredentials *c;

  h->aws_credentials_calls++;
  if (h->access_key_id == NULL)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_AUTH, "no instance credentials (test host)");
      return;
    }
  c = g_new0 (EcsaAwsCredentials, 1);
  c->struct_size = sizeof (EcsaAwsCredentials);
  c->access_key_id = g_strdup (h->access_key_id);
  c->secret_access_key = g_strdup (h->secret_access_key);
  c->session_token = g_strdup (h->session_token != NULL ? h->session_token : "");
  c->role_arn = g_strdup ("");
  g_task_return_pointer (task, c, (GDestroyNotify) aws_credentials_destroy);
}

static EcsaAwsCredentials *
host_aws_credentials_finish (const EcsaPluginHost *host, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static gboolean
host_sigv4_sign (const EcsaPluginHost *host, SoupMessage *message, GBytes *body, const char *service,
                 const char *region, const EcsaAwsCredentials *credentials, GError **error)
{
  ((EcsaTestHost *) host)->sigv4_calls++;
  return ecsa_test_sigv4_sign (message, body, service, region, credentials, error);
}

static char *
host_redact (const EcsaPluginHost *host, const char *text)
{
  return g_strdup (text);
}

EcsaTestHost *
ecsa_test_host_new (void)
{
  EcsaTestHost *h = g_new0 (EcsaTestHost, 1);

  h->config = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  h->region = g_strdup ("");
  h->host.version = ECSA_PLUGIN_HOST_VERSION;
  h->host.struct_size = sizeof (EcsaPluginHost);
  h->host.main_context = g_main_context_default ();
  h->host.http_session = soup_session_new ();
  h->host.state_dir = NULL;
  h->host.agent_version = "1.16.2-ecsa.test";
  h->host.region = h->region;
  h->host.cluster = "default";
  h->host.config_get = host_config_get;
  h->host.log = host_log;
  h->host.timeout_add = host_timeout_add;
  h->host.aws_credentials_async = host_aws_credentials_async;
  h->host.aws_credentials_finish = host_aws_credentials_finish;
  h->host.aws_credentials_free = host_aws_credentials_free;
  h->host.sigv4_sign = host_sigv4_sign;
  h->host.redact = host_redact;
  return h;
}

void
ecsa_test_host_free (EcsaTestHost *h)
{
  if (h == NULL)
    return;
  g_hash_table_unref (h->config);
  g_free (h->region);
  g_free (h->access_key_id);
  g_free (h->secret_access_key);
  g_free (h->session_token);
  g_clear_object (&h->host.http_session);
  g_free (h);
}

void
ecsa_test_host_set_config (EcsaTestHost *h, const char *key, const char *value)
{
  if (value == NULL)
    g_hash_table_remove (h->config, key);
  else
    g_hash_table_replace (h->config, g_strdup (key), g_strdup (value));
}

void
ecsa_test_host_set_region (EcsaTestHost *h, const char *region)
{
  g_free (h->region);
  h->region = g_strdup (region);
  h->host.region = h->region;
}

void
ecsa_test_host_set_instance_credentials (EcsaTestHost *h, const char *access_key_id, const char *secret,
                                         const char *token)
{
  g_free (h->access_key_id);
  g_free (h->secret_access_key);
  g_free (h->session_token);
  h->access_key_id = g_strdup (access_key_id);
  h->secret_access_key = g_strdup (secret);
  h->session_token = g_strdup (token);
}

/* ---- descriptors and plugins ------------------------------------------------------------------ */

void
ecsa_test_check_descriptor (const EcsaPluginDescriptor *d, EcsaPluginKind kind, const char *name,
                            const char *const *capabilities)
{
  guint i;
  const char *c;

  g_assert_nonnull (d);
  g_assert_cmpuint (d->abi_major, ==, ECSA_PLUGIN_ABI_MAJOR);
  g_assert_cmpuint (d->abi_minor, <=, ECSA_PLUGIN_ABI_MINOR);
  g_assert_cmpuint (d->struct_size, ==, sizeof (EcsaPluginDescriptor));
  g_assert_cmpuint (d->kind, ==, kind);
  g_assert_cmpstr (d->name, ==, name);
  for (c = d->name; *c != '\0'; c++)
    g_assert_true (g_ascii_islower (*c) || g_ascii_isdigit (*c) || *c == '-');
  g_assert_nonnull (d->version);
  g_assert_nonnull (d->init);
  g_assert_nonnull (d->vtable);
  for (i = 0; i < G_N_ELEMENTS (d->reserved); i++)
    g_assert_null (d->reserved[i]);
  if (capabilities == NULL)
    g_assert_true (d->capabilities == NULL || d->capabilities[0] == NULL);
  else
    {
      g_assert_nonnull (d->capabilities);
      g_assert_cmpuint (g_strv_length ((char **) d->capabilities), ==, g_strv_length ((char **) capabilities));
      for (i = 0; capabilities[i] != NULL; i++)
        g_assert_true (g_strv_contains (d->capabilities, capabilities[i]));
    }
  if (kind == ECSA_PLUGIN_KIND_LOG_DRIVER)
    {
      const EcsaLogDriverVTable *vt = d->vtable;
      g_assert_cmpuint (vt->version, ==, ECSA_LOG_DRIVER_VTABLE_VERSION);
      g_assert_cmpstr (vt->driver, ==, name);
      g_assert_nonnull (vt->min_docker_api_version);
      g_assert_true (g_str_has_prefix (vt->min_docker_api_version, "1."));
      for (i = 0; i < G_N_ELEMENTS (vt->reserved); i++)
        g_assert_null (vt->reserved[i]);
    }
  else if (kind == ECSA_PLUGIN_KIND_REGISTRY_AUTH)
    {
      const EcsaRegistryAuthVTable *vt = d->vtable;
      g_assert_cmpuint (vt->version, ==, ECSA_REGISTRY_AUTH_VTABLE_VERSION);
      g_assert_cmpstr (vt->auth_type, ==, name);
      g_assert_nonnull (vt->get_credentials_async);
      g_assert_nonnull (vt->get_credentials_finish);
      for (i = 0; i < G_N_ELEMENTS (vt->reserved); i++)
        g_assert_null (vt->reserved[i]);
    }
}

EcsaTestPlugin *
ecsa_test_plugin_init (const EcsaPluginDescriptor *d, EcsaTestHost *host, GError **error)
{
  g_autofree EcsaTestPlugin *p = g_new0 (EcsaTestPlugin, 1);

  p->desc = d;
  if (!d->init (&host->host, &p->state, error))
    return NULL;
  return g_steal_pointer (&p);
}

void
ecsa_test_plugin_free (EcsaTestPlugin *p)
{
  if (p == NULL)
    return;
  if (p->desc->shutdown != NULL)
    p->desc->shutdown (p->state);
  g_free (p);
}

GHashTable *
ecsa_test_options_new (const char *const *kv)
{
  GHashTable *t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  guint i;

  for (i = 0; kv != NULL && kv[i] != NULL; i += 2)
    {
      g_assert_nonnull (kv[i + 1]);
      g_hash_table_replace (t, g_strdup (kv[i]), g_strdup (kv[i + 1]));
    }
  return t;
}

gboolean
ecsa_test_log_prepare (EcsaTestPlugin *p, const EcsaTaskView *task, const EcsaContainerView *container,
                       GHashTable *options, GError **error)
{
  const EcsaLogDriverVTable *vt = p->desc->vtable;

  if (vt->fill_defaults != NULL && !vt->fill_defaults (p->state, task, container, options, error))
    return FALSE;
  if (vt->validate_options != NULL)
    return vt->validate_options (p->state, options, error);
  return TRUE;
}

typedef struct
{
  const EcsaPluginDescriptor *desc;
  const EcsaTestLogCase *c;
} LogCaseData;

static void
run_log_case (gconstpointer data)
{
  const LogCaseData *lc = data;
  g_autoptr(EcsaTestHost) host = ecsa_test_host_new ();
  g_autoptr(EcsaTestPlugin) p = NULL;
  g_autoptr(GHashTable) options = ecsa_test_options_new (lc->c->options);
  g_autoptr(GError) error = NULL;
  gboolean ok;

  p = ecsa_test_plugin_init (lc->desc, host, &error);
  g_assert_no_error (error);
  ok = ecsa_test_log_prepare (p, NULL, NULL, options, &error);
  if (lc->c->error_fragment == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      return;
    }
  g_assert_false (ok);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_test_message ("%s: %s", lc->c->name, error->message);
  if (strstr (error->message, lc->c->error_fragment) == NULL)
    g_error ("error '%s' lacks '%s'", error->message, lc->c->error_fragment);
  g_assert_true (g_str_has_prefix (error->message, "option '") || g_str_has_prefix (error->message, "logsAuthStrategy"));
  if (lc->c->secret != NULL)
    g_assert_null (strstr (error->message, lc->c->secret));
}

void
ecsa_test_add_log_cases (const char *test_prefix, const EcsaPluginDescriptor *d, const EcsaTestLogCase *cases,
                         guint n_cases)
{
  guint i;

  for (i = 0; i < n_cases; i++)
    {
      LogCaseData *lc = g_new0 (LogCaseData, 1); /* lives as long as the test program */
      g_autofree char *path = g_strdup_printf ("%s/%s", test_prefix, cases[i].name);

      lc->desc = d;
      lc->c = &cases[i];
      g_test_add_data_func_full (path, lc, run_log_case, g_free);
    }
}

void
ecsa_test_task_view_init (EcsaTestTaskView *v, const char *arn, const char *container_name,
                          const char *execution_credentials_id, const char *logs_auth_strategy)
{
  memset (v, 0, sizeof (*v));
  v->log_options = g_hash_table_new (g_str_hash, g_str_equal);
  v->container.struct_size = sizeof (EcsaContainerView);
  v->container.essential = TRUE;
  v->container.name = container_name;
  v->container.image = TEST_IMAGE_DEFAULT;
  v->container.docker_id = "";
  v->container.docker_name = "";
  v->container.known_status = "NONE";
  v->container.desired_status = "RUNNING";
  v->container.log_driver = "";
  v->container.log_options = v->log_options;
  v->container.logs_auth_strategy = logs_auth_strategy != NULL ? logs_auth_strategy : "";
  v->containers[0] = &v->container;
  v->task.struct_size = sizeof (EcsaTaskView);
  v->task.n_containers = 1;
  v->task.arn = arn;
  v->task.family = "ecsa-test";
  v->task.version = "1";
  v->task.network_mode = "bridge";
  v->task.known_status = "NONE";
  v->task.desired_status = "RUNNING";
  v->task.credentials_id = "";
  v->task.execution_credentials_id = execution_credentials_id != NULL ? execution_credentials_id : "";
  v->task.containers = v->containers;
}

void
ecsa_test_task_view_clear (EcsaTestTaskView *v)
{
  g_clear_pointer (&v->log_options, g_hash_table_unref);
}

static gboolean
wait_timeout_cb (gpointer user_data)
{
  g_error ("test guard timeout: %s", (const char *) user_data);
  return G_SOURCE_REMOVE;
}

void
ecsa_test_wait (const gboolean *flag, guint timeout_ms, const char *what)
{
  g_autoptr(GSource) guard = g_timeout_source_new (timeout_ms);

  g_source_set_callback (guard, wait_timeout_cb, (gpointer) what, NULL);
  g_source_attach (guard, NULL);
  while (!*flag)
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (guard);
}

typedef struct
{
  gboolean done;
  GAsyncResult *result;
} AsyncWait;

static void
async_wait_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncWait *w = user_data;

  w->result = g_object_ref (result);
  w->done = TRUE;
}

EcsaRegistryCredentials *
ecsa_test_get_credentials (EcsaTestPlugin *p, const EcsaAuthRequest *req, GError **error)
{
  const EcsaRegistryAuthVTable *vt = p->desc->vtable;
  AsyncWait w = { 0 };
  EcsaRegistryCredentials *c;

  vt->get_credentials_async (p->state, req, NULL, async_wait_cb, &w);
  ecsa_test_wait (&w.done, 60000, "registry auth get_credentials");
  c = vt->get_credentials_finish (p->state, w.result, error);
  g_object_unref (w.result);
  return c;
}

/* ---- SigV4 (the core's implementation) ------------------------------------------------------ */

gboolean
ecsa_test_sigv4_sign (SoupMessage *msg, GBytes *body, const char *service, const char *region,
                      const EcsaAwsCredentials *credentials, GError **error)
{
  return ecsa_sigv4_sign_message (msg, body, service, region, credentials, NULL, error);
}

/* secret_for_key values are "<secret>" or "<secret>\n<session token>" */
static gboolean
secret_lookup (const char *access_key_id, char **out_secret_access_key, char **out_session_token, gpointer user_data)
{
  const char *value = g_hash_table_lookup (user_data, access_key_id);
  const char *nl;

  if (value == NULL)
    return FALSE;
  nl = strchr (value, '\n');
  *out_secret_access_key = nl != NULL ? g_strndup (value, (gsize) (nl - value)) : g_strdup (value);
  *out_session_token = nl != NULL ? g_strdup (nl + 1) : NULL;
  return TRUE;
}

gboolean
ecsa_test_sigv4_verify (const char *method, const char *path, const char *query, SoupMessageHeaders *headers,
                        GBytes *body, GHashTable *secret_for_key, char **out_access_key_id, char **out_scope,
                        GError **error)
{
  g_autoptr(EcsaSigv4Authorization) auth = NULL;

  if (!ecsa_sigv4_verify (method, path, query, headers, body, NULL, secret_lookup, secret_for_key,
                          g_get_real_time () / G_USEC_PER_SEC, out_access_key_id, error))
    return FALSE;
  auth = ecsa_sigv4_authorization_parse (soup_message_headers_get_one (headers, "Authorization"), error);
  if (auth == NULL)
    return FALSE;
  if (out_scope != NULL)
    *out_scope = g_strdup_printf ("%s/%s/%s/aws4_request", auth->date, auth->region, auth->service);
  return TRUE;
}

/* ---- HTTP fakes --------------------------------------------------------------------------------- */

struct _EcsaTestHttpServer
{
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  SoupServer *server;
  GMutex lock;
  GCond cond;
  GPtrArray *requests; /* EcsaTestHttpRequest* */
  guint port;
  gboolean ready;
  char *error;
  EcsaTestHttpHandler handler;
  gpointer user_data;
  char *tls_cert;
  char *tls_key;
  guint requested_port;
};

void
ecsa_test_http_request_free (EcsaTestHttpRequest *r)
{
  if (r == NULL)
    return;
  g_free (r->method);
  g_free (r->path);
  g_free (r->query);
  g_clear_pointer (&r->headers, soup_message_headers_unref);
  g_clear_pointer (&r->body, g_bytes_unref);
  g_free (r);
}

static void
copy_header (const char *name, const char *value, gpointer user_data)
{
  soup_message_headers_append (user_data, name, value);
}

static EcsaTestHttpRequest *
request_copy (const EcsaTestHttpRequest *src)
{
  EcsaTestHttpRequest *r = g_new0 (EcsaTestHttpRequest, 1);

  r->method = g_strdup (src->method);
  r->path = g_strdup (src->path);
  r->query = g_strdup (src->query);
  r->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  soup_message_headers_foreach (src->headers, copy_header, r->headers);
  r->body = g_bytes_ref (src->body);
  return r;
}

static void
server_callback (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                 gpointer user_data)
{
  EcsaTestHttpServer *s = user_data;
  EcsaTestHttpRequest *r = g_new0 (EcsaTestHttpRequest, 1);
  GUri *uri = soup_server_message_get_uri (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  guint status = 404;
  g_autofree char *content_type = NULL;
  g_autoptr(GBytes) out = NULL;

  r->method = g_strdup (soup_server_message_get_method (msg));
  r->path = g_strdup (path);
  r->query = g_strdup (g_uri_get_query (uri));
  r->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  soup_message_headers_foreach (soup_server_message_get_request_headers (msg), copy_header, r->headers);
  r->body = soup_message_body_flatten (body);

  if (s->handler != NULL)
    s->handler (r, &status, &content_type, &out, s->user_data);

  g_mutex_lock (&s->lock);
  g_ptr_array_add (s->requests, r);
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);

  soup_server_message_set_status (msg, status, NULL);
  if (out != NULL)
    {
      gsize len = 0;
      const char *data = g_bytes_get_data (out, &len);
      soup_server_message_set_response (msg, content_type != NULL ? content_type : "application/json",
                                        SOUP_MEMORY_COPY, data, len);
    }
}

static gpointer
server_thread (gpointer user_data)
{
  EcsaTestHttpServer *s = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsCertificate) cert = NULL;
  GSList *uris;

  g_main_context_push_thread_default (s->context);
  if (s->tls_cert != NULL)
    cert = g_tls_certificate_new_from_files (s->tls_cert, s->tls_key, &error);
  if (error == NULL)
    {
      s->server = soup_server_new ("tls-certificate", cert, NULL);
      soup_server_add_handler (s->server, NULL, server_callback, s, NULL);
      if (s->requested_port == 0)
        soup_server_listen_local (s->server, 0,
                                  SOUP_SERVER_LISTEN_IPV4_ONLY | (cert != NULL ? SOUP_SERVER_LISTEN_HTTPS : 0),
                                  &error);
      else
        {
          g_autoptr(GInetAddress) lo = g_inet_address_new_from_string ("127.0.0.1");
          g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, s->requested_port);
          soup_server_listen (s->server, addr, cert != NULL ? SOUP_SERVER_LISTEN_HTTPS : 0, &error);
        }
    }
  g_mutex_lock (&s->lock);
  if (error != NULL)
    s->error = g_strdup (error->message);
  else
    {
      uris = soup_server_get_uris (s->server);
      s->port = (guint) g_uri_get_port (uris->data);
      g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
    }
  s->ready = TRUE;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);

  if (error == NULL)
    g_main_loop_run (s->loop);
  if (s->server != NULL)
    {
      soup_server_disconnect (s->server);
      g_clear_object (&s->server);
    }
  while (g_main_context_iteration (s->context, FALSE))
    ;
  g_main_context_pop_thread_default (s->context);
  return NULL;
}

EcsaTestHttpServer *
ecsa_test_http_server_new (guint port, const char *tls_cert, const char *tls_key, EcsaTestHttpHandler handler,
                           gpointer user_data)
{
  EcsaTestHttpServer *s = g_new0 (EcsaTestHttpServer, 1);

  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  s->requests = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_test_http_request_free);
  s->context = g_main_context_new ();
  s->loop = g_main_loop_new (s->context, FALSE);
  s->handler = handler;
  s->user_data = user_data;
  s->tls_cert = g_strdup (tls_cert);
  s->tls_key = g_strdup (tls_key);
  s->requested_port = port;
  s->thread = g_thread_new ("ecsa-test-http", server_thread, s);
  g_mutex_lock (&s->lock);
  while (!s->ready)
    g_cond_wait (&s->cond, &s->lock);
  g_mutex_unlock (&s->lock);
  if (s->error != NULL)
    g_error ("test HTTP server on 127.0.0.1:%u: %s", port, s->error);
  return s;
}

guint
ecsa_test_http_server_get_port (EcsaTestHttpServer *s)
{
  return s->port;
}

char *
ecsa_test_http_server_get_url (EcsaTestHttpServer *s)
{
  return g_strdup_printf ("%s://127.0.0.1:%u", s->tls_cert != NULL ? "https" : "http", s->port);
}

void
ecsa_test_http_server_wait (EcsaTestHttpServer *s, guint n, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  g_mutex_lock (&s->lock);
  while (s->requests->len < n)
    {
      if (!g_cond_wait_until (&s->cond, &s->lock, end))
        {
          guint got = s->requests->len;
          g_mutex_unlock (&s->lock);
          g_error ("test HTTP server on port %u: %u requests after %u ms, expected %u", s->port, got, timeout_ms, n);
        }
    }
  g_mutex_unlock (&s->lock);
}

void
ecsa_test_http_server_wait_iterating (EcsaTestHttpServer *s, guint n, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (ecsa_test_http_server_count (s) < n)
    {
      if (g_get_monotonic_time () > end)
        g_error ("test HTTP server on port %u: fewer than %u requests after %u ms", s->port, n, timeout_ms);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

guint
ecsa_test_http_server_count (EcsaTestHttpServer *s)
{
  guint n;

  g_mutex_lock (&s->lock);
  n = s->requests->len;
  g_mutex_unlock (&s->lock);
  return n;
}

EcsaTestHttpRequest *
ecsa_test_http_server_get (EcsaTestHttpServer *s, guint i)
{
  EcsaTestHttpRequest *r;

  g_mutex_lock (&s->lock);
  g_assert_cmpuint (i, <, s->requests->len);
  r = request_copy (g_ptr_array_index (s->requests, i));
  g_mutex_unlock (&s->lock);
  return r;
}

static gboolean
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

void
ecsa_test_http_server_free (EcsaTestHttpServer *s)
{
  if (s == NULL)
    return;
  g_main_context_invoke (s->context, quit_cb, s->loop);
  g_thread_join (s->thread);
  g_main_loop_unref (s->loop);
  g_main_context_unref (s->context);
  g_ptr_array_unref (s->requests);
  g_mutex_clear (&s->lock);
  g_cond_clear (&s->cond);
  g_free (s->error);
  g_free (s->tls_cert);
  g_free (s->tls_key);
  g_free (s);
}

/* ---- commands ----------------------------------------------------------------------------------- */

char *
ecsa_test_run (gboolean may_fail, const char *const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *cmd = g_strjoinv (" ", (char **) argv);
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error))
    g_error ("running '%s': %s", cmd, error->message);
  if (!g_spawn_check_wait_status (status, NULL))
    {
      if (!may_fail)
        g_error ("'%s' failed: %s%s", cmd, err, out);
      g_test_message ("'%s' failed (ignored): %s", cmd, g_strstrip (err));
    }
  return g_steal_pointer (&out);
}

void
ecsa_test_on_exit (const char *script)
{
  static GPtrArray *watchdogs; /* held until exit: their stdin pipes are the signal */
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autofree char *full = g_strdup_printf ("read _ignored; %s", script);
  g_autoptr(GError) error = NULL;
  GSubprocess *watchdog;

  if (watchdogs == NULL)
    watchdogs = g_ptr_array_new ();
  watchdog = g_subprocess_launcher_spawn (launcher, &error, "setsid", "sh", "-c", full, NULL);
  if (watchdog == NULL)
    g_error ("starting a clean-up watchdog: %s", error->message);
  g_ptr_array_add (watchdogs, watchdog);
}

void
ecsa_test_remove_containers_on_exit (void)
{
  g_autofree char *script = g_strdup_printf (
    "docker ps -aq --filter label=ecsa-test=%s | xargs -r docker rm -f >/dev/null 2>&1", ecsa_test_plugins_prefix ());

  ecsa_test_on_exit (script);
}

#define RUN(...) g_free (ecsa_test_run (FALSE, (const char *const[]){ __VA_ARGS__, NULL }))
#define RUN_MAY_FAIL(...) g_free (ecsa_test_run (TRUE, (const char *const[]){ __VA_ARGS__, NULL }))

/* ---- Docker ------------------------------------------------------------------------------------- */

static SoupSession *docker_session;
static char *docker_api_prefix;

static const char *
test_image (void)
{
  const char *image = g_getenv ("ECSA_TEST_IMAGE");
  return image != NULL ? image : TEST_IMAGE_DEFAULT;
}

static void
docker_session_init (void)
{
  g_autoptr(GSocketAddress) addr = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *o;

  if (docker_session != NULL)
    return;
  addr = g_unix_socket_address_new (DOCKER_SOCKET);
  docker_session = soup_session_new_with_options ("remote-connectable", addr, "timeout", 0, "idle-timeout", 0, NULL);
  msg = soup_message_new ("GET", "http://docker/version");
  body = soup_session_send_and_read (docker_session, msg, NULL, &error);
  if (body == NULL || soup_message_get_status (msg) != 200)
    g_error ("dockerd does not answer on %s: %s (run tools/setup.sh)", DOCKER_SOCKET,
             error != NULL ? error->message : "bad status");
  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body),
                                             NULL));
  o = json_node_get_object (json_parser_get_root (parser));
  docker_api_prefix = g_strdup_printf ("/v%s", json_object_get_string_member (o, "ApiVersion"));
}

void
ecsa_test_require_docker (void)
{
  docker_session_init ();
}

GBytes *
ecsa_test_docker_call (const char *method, const char *path, const char *json_body, const char *registry_auth,
                       guint *out_status)
{
  g_autofree char *url = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GError) error = NULL;
  GBytes *body;

  docker_session_init ();
  url = g_strdup_printf ("http://docker%s%s", docker_api_prefix, path);
  msg = soup_message_new (method, url);
  g_assert_nonnull (msg);
  if (json_body != NULL)
    {
      g_autoptr(GBytes) b = g_bytes_new (json_body, strlen (json_body));
      soup_message_set_request_body_from_bytes (msg, "application/json", b);
    }
  if (registry_auth != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Registry-Auth", registry_auth);
  body = soup_session_send_and_read (docker_session, msg, NULL, &error);
  if (body == NULL)
    g_error ("Docker %s %s: %s", method, path, error->message);
  *out_status = soup_message_get_status (msg);
  return body;
}

JsonNode *
ecsa_test_docker_json (const char *method, const char *path, const char *json_body, guint *out_status)
{
  g_autoptr(GBytes) body = ecsa_test_docker_call (method, path, json_body, NULL, out_status);
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (body, &len);

  if (len == 0 || !json_parser_load_from_data (parser, data, (gssize) len, NULL))
    return NULL;
  return json_node_copy (json_parser_get_root (parser));
}

char *
ecsa_test_registry_auth_header (const EcsaRegistryCredentials *c)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;
  char *encoded;
  char *p;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "username");
  json_builder_add_string_value (b, c->username != NULL ? c->username : "");
  json_builder_set_member_name (b, "password");
  json_builder_add_string_value (b, c->password != NULL ? c->password : "");
  if (c->email != NULL)
    {
      json_builder_set_member_name (b, "email");
      json_builder_add_string_value (b, c->email);
    }
  if (c->server_address != NULL)
    {
      json_builder_set_member_name (b, "serveraddress");
      json_builder_add_string_value (b, c->server_address);
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json = json_to_string (root, FALSE);
  encoded = g_base64_encode ((const guchar *) json, strlen (json));
  for (p = encoded; *p != '\0'; p++)
    {
      if (*p == '+')
        *p = '-';
      else if (*p == '/')
        *p = '_';
    }
  return encoded;
}

/* The message of a failed pull or push: a Docker error body, or an error inside the stream. */
static char *
stream_error (guint status, GBytes *body)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (body, &len);
  g_autofree char *text = g_strndup (data != NULL ? data : "", len);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  guint i;

  for (i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *o;

      if (*lines[i] == '\0' || !json_parser_load_from_data (parser, lines[i], -1, NULL)
          || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        continue;
      o = json_node_get_object (json_parser_get_root (parser));
      if (json_object_has_member (o, "error"))
        return g_strdup (json_object_get_string_member (o, "error"));
      if (status >= 300 && json_object_has_member (o, "message"))
        return g_strdup (json_object_get_string_member (o, "message"));
    }
  if (status >= 300)
    return g_strdup_printf ("HTTP %u: %s", status, text);
  return NULL;
}

static void
split_image (const char *image, char **out_repo, char **out_tag)
{
  const char *colon = strrchr (image, ':');

  if (colon != NULL && strchr (colon, '/') == NULL)
    {
      *out_repo = g_strndup (image, (gsize) (colon - image));
      *out_tag = g_strdup (colon + 1);
    }
  else
    {
      *out_repo = g_strdup (image);
      *out_tag = g_strdup ("latest");
    }
}

gboolean
ecsa_test_docker_pull (const char *image, const EcsaRegistryCredentials *c, char **out_message)
{
  g_autofree char *repo = NULL;
  g_autofree char *tag = NULL;
  g_autofree char *path = NULL;
  g_autofree char *auth = c != NULL ? ecsa_test_registry_auth_header (c) : NULL;
  g_autofree char *erepo = NULL;
  g_autoptr(GBytes) body = NULL;
  guint status = 0;
  char *message;

  split_image (image, &repo, &tag);
  erepo = g_uri_escape_string (repo, NULL, FALSE);
  path = g_strdup_printf ("/images/create?fromImage=%s&tag=%s", erepo, tag);
  body = ecsa_test_docker_call ("POST", path, NULL, auth, &status);
  message = stream_error (status, body);
  if (message != NULL)
    {
      *out_message = message;
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_test_docker_push (const char *image, const EcsaRegistryCredentials *c, char **out_message)
{
  g_autofree char *repo = NULL;
  g_autofree char *tag = NULL;
  g_autofree char *path = NULL;
  g_autofree char *auth = c != NULL ? ecsa_test_registry_auth_header (c) : NULL;
  g_autoptr(GBytes) body = NULL;
  guint status = 0;
  char *message;

  split_image (image, &repo, &tag);
  path = g_strdup_printf ("/images/%s/push?tag=%s", repo, tag);
  body = ecsa_test_docker_call ("POST", path, NULL, auth != NULL ? auth : "e30=", &status);
  message = stream_error (status, body);
  if (message != NULL)
    {
      *out_message = message;
      return FALSE;
    }
  return TRUE;
}

void
ecsa_test_docker_tag (const char *source, const char *repo, const char *tag)
{
  g_autofree char *erepo = g_uri_escape_string (repo, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/images/%s/tag?repo=%s&tag=%s", source, erepo, tag);
  g_autoptr(GBytes) body = NULL;
  guint status = 0;

  body = ecsa_test_docker_call ("POST", path, NULL, NULL, &status);
  if (status != 201)
    g_error ("docker tag %s %s:%s: HTTP %u %.*s", source, repo, tag, status, (int) g_bytes_get_size (body),
             (const char *) g_bytes_get_data (body, NULL));
}

void
ecsa_test_docker_remove_image (const char *image)
{
  g_autofree char *path = g_strdup_printf ("/images/%s?force=1", image);
  g_autoptr(GBytes) body = NULL;
  guint status = 0;

  body = ecsa_test_docker_call ("DELETE", path, NULL, NULL, &status);
  if (status != 200 && status != 404)
    g_test_message ("removing image '%s': HTTP %u", image, status);
}

char *
ecsa_test_docker_create (const char *name, const char *script, const char *log_type, GHashTable *log_options,
                         char **out_message)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonNode) answer = NULL;
  g_autofree char *json = NULL;
  g_autofree char *path = g_strdup_printf ("/containers/create?name=%s", name);
  guint status = 0;
  JsonObject *o;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Image");
  json_builder_add_string_value (b, test_image ());
  json_builder_set_member_name (b, "Cmd");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, "sh");
  json_builder_add_string_value (b, "-c");
  json_builder_add_string_value (b, script);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "Labels");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ecsa-test");
  json_builder_add_string_value (b, ecsa_test_plugins_prefix ());
  json_builder_end_object (b);
  json_builder_set_member_name (b, "HostConfig");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "NetworkMode");
  json_builder_add_string_value (b, "none");
  if (log_type != NULL)
    {
      GHashTableIter iter;
      gpointer k, v;

      json_builder_set_member_name (b, "LogConfig");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "Type");
      json_builder_add_string_value (b, log_type);
      json_builder_set_member_name (b, "Config");
      json_builder_begin_object (b);
      if (log_options != NULL)
        {
          g_hash_table_iter_init (&iter, log_options);
          while (g_hash_table_iter_next (&iter, &k, &v))
            {
              json_builder_set_member_name (b, k);
              json_builder_add_string_value (b, v);
            }
        }
      json_builder_end_object (b);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json = json_to_string (root, FALSE);

  answer = ecsa_test_docker_json ("POST", path, json, &status);
  g_assert_nonnull (answer);
  o = json_node_get_object (answer);
  if (status != 201)
    {
      *out_message = g_strdup (json_object_get_string_member_with_default (o, "message", "?"));
      return NULL;
    }
  return g_strdup (json_object_get_string_member (o, "Id"));
}

gboolean
ecsa_test_docker_start (const char *id, char **out_message)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/start", id);
  g_autoptr(JsonNode) answer = NULL;
  guint status = 0;

  answer = ecsa_test_docker_json ("POST", path, NULL, &status);
  if (status == 204 || status == 304)
    return TRUE;
  *out_message = g_strdup (answer != NULL && JSON_NODE_HOLDS_OBJECT (answer)
                             ? json_object_get_string_member_with_default (json_node_get_object (answer), "message", "?")
                             : "?");
  return FALSE;
}

gint
ecsa_test_docker_wait (const char *id)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/wait", id);
  g_autoptr(JsonNode) answer = NULL;
  guint status = 0;

  answer = ecsa_test_docker_json ("POST", path, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  return (gint) json_object_get_int_member (json_node_get_object (answer), "StatusCode");
}

char *
ecsa_test_docker_logs (const char *id)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/logs?stdout=1&stderr=1", id);
  g_autoptr(GBytes) body = NULL;
  GString *out = g_string_new (NULL);
  const guint8 *data;
  gsize len = 0;
  gsize off = 0;
  guint status = 0;

  body = ecsa_test_docker_call ("GET", path, NULL, NULL, &status);
  data = g_bytes_get_data (body, &len);
  if (status != 200)
    {
      g_test_message ("docker logs %s: HTTP %u %.*s", id, status, (int) len, (const char *) data);
      g_string_free (out, TRUE);
      return NULL;
    }
  while (off + 8 <= len)
    {
      guint32 n = ((guint32) data[off + 4] << 24) | ((guint32) data[off + 5] << 16) | ((guint32) data[off + 6] << 8)
                  | data[off + 7];
      if (off + 8 + n > len)
        break;
      g_string_append_len (out, (const char *) data + off + 8, n);
      off += 8 + n;
    }
  return g_string_free (out, FALSE);
}

void
ecsa_test_docker_remove_container (const char *id)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s?force=1&v=1", id);
  g_autoptr(GBytes) body = NULL;
  guint status = 0;

  if (id == NULL)
    return;
  body = ecsa_test_docker_call ("DELETE", path, NULL, NULL, &status);
  if (status != 204 && status != 404)
    g_test_message ("removing container '%s': HTTP %u", id, status);
}

/* ---- the registry --------------------------------------------------------------------------- */

static gboolean
pid_alive (const char *name_with_pid)
{
  int pid = 0;

  if (sscanf (name_with_pid, "ecsa-t%d-", &pid) != 1 || pid <= 0)
    return TRUE;
  return kill (pid, 0) == 0 || errno == EPERM;
}

/* Leftovers of earlier runs of this program that died before their teardown. */
static void
remove_stale (void)
{
  g_autofree char *netns = ecsa_test_run (TRUE, (const char *const[]){ "ip", "netns", "list", NULL });
  g_auto(GStrv) lines = g_strsplit (netns != NULL ? netns : "", "\n", -1);
  g_autoptr(GDir) dir = g_dir_open ("/etc/docker/certs.d", 0, NULL);
  const char *name;
  guint i;

  for (i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) words = g_strsplit (lines[i], " ", 2);
      if (words[0] != NULL && g_str_has_prefix (words[0], "ecsa-t") && strstr (words[0], "-plugins-") != NULL
          && !pid_alive (words[0]))
        RUN_MAY_FAIL ("ip", "netns", "del", words[0]);
    }
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *owner_file = g_build_filename ("/etc/docker/certs.d", name, "ecsa-owner", NULL);
      g_autofree char *owner = NULL;
      if (g_file_get_contents (owner_file, &owner, NULL, NULL) && g_str_has_prefix (owner, "ecsa-t")
          && !pid_alive (owner))
        {
          g_autofree char *path = g_build_filename ("/etc/docker/certs.d", name, NULL);
          RUN_MAY_FAIL ("rm", "-rf", path);
        }
    }
}

static void
write_file (const char *dir, const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents (path, contents, -1, &error))
    g_error ("writing '%s': %s", path, error->message);
}

void
ecsa_test_plugins_make_certificates (const char *dir, const char *ip)
{
  g_autofree char *ca_key = g_build_filename (dir, "ca.key", NULL);
  g_autofree char *ca_pem = g_build_filename (dir, "ca.pem", NULL);
  g_autofree char *ca_tmpl = g_build_filename (dir, "ca.tmpl", NULL);
  g_autofree char *srv_key = g_build_filename (dir, "server.key", NULL);
  g_autofree char *srv_pem = g_build_filename (dir, "server.pem", NULL);
  g_autofree char *srv_tmpl = g_build_filename (dir, "server.tmpl", NULL);
  g_autofree char *server_tmpl = g_strdup_printf ("cn = \"%s\"\nip_address = \"%s\"\nip_address = \"127.0.0.1\"\n"
                                                  "tls_www_server\nsigning_key\nencryption_key\nexpiration_days = 2\n",
                                                  ip, ip);

  write_file (dir, "ca.tmpl", "cn = \"ecsa test CA\"\nca\ncert_signing_key\ncrl_signing_key\nexpiration_days = 2\n");
  write_file (dir, "server.tmpl", server_tmpl);
  RUN ("certtool", "--generate-privkey", "--key-type=ecdsa", "--no-text", "--outfile", ca_key);
  RUN ("certtool", "--generate-self-signed", "--load-privkey", ca_key, "--template", ca_tmpl, "--no-text",
       "--outfile", ca_pem);
  RUN ("certtool", "--generate-privkey", "--key-type=ecdsa", "--no-text", "--outfile", srv_key);
  RUN ("certtool", "--generate-certificate", "--load-privkey", srv_key, "--load-ca-certificate", ca_pem,
       "--load-ca-privkey", ca_key, "--template", srv_tmpl, "--no-text", "--outfile", srv_pem);
}

static gboolean
address_in_use (const char *subnet_prefix)
{
  g_autofree char *addrs = ecsa_test_run (TRUE, (const char *const[]){ "ip", "-o", "-4", "addr", "show", NULL });

  return addrs != NULL && strstr (addrs, subnet_prefix) != NULL;
}

static gboolean
tcp_connects (const char *ip, guint port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;

  g_socket_client_set_timeout (client, 1);
  conn = g_socket_client_connect_to_host (client, ip, (guint16) port, NULL, NULL);
  return conn != NULL;
}

EcsaTestPluginsRegistry *
ecsa_test_plugins_registry_start (const char *const *users)
{
  EcsaTestPluginsRegistry *r = g_new0 (EcsaTestPluginsRegistry, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) htpasswd = g_string_new (NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *config = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *log_path = NULL;
  g_autofree char *ca_src = NULL;
  g_autofree char *ca_dst = NULL;
  g_autofree char *owner = NULL;
  g_autofree char *veth_ns = NULL;
  g_autofree char *host_cidr = NULL;
  g_autofree char *ns_cidr = NULL;
  g_autofree char *image = NULL;
  g_autofree char *push_error = NULL;
  g_autofree char *local_repo = NULL;
  EcsaRegistryCredentials pusher = { 0 };
  guint octet;
  guint i;
  gint64 deadline;

  ecsa_test_require_docker ();
  remove_stale ();

  /* 198.19.<n>.0/30 with n from the PID, skipping subnets in use (other tests, other engineers) */
  for (octet = (guint) getpid () % 200 + 40, i = 0; i < 200; i++, octet = (octet - 40 + 1) % 200 + 40)
    {
      g_autofree char *subnet = g_strdup_printf ("198.19.%u.", octet);
      if (!address_in_use (subnet))
        break;
    }
  r->host_ip = g_strdup_printf ("198.19.%u.1", octet);
  r->registry_ip = g_strdup_printf ("198.19.%u.2", octet);
  r->address = g_strdup_printf ("%s:5000", r->registry_ip);
  r->netns = g_strdup_printf ("%s-reg", ecsa_test_plugins_prefix ());
  r->veth_host = g_strdup_printf ("ep%dh", (int) getpid ());
  veth_ns = g_strdup_printf ("ep%dn", (int) getpid ());
  host_cidr = g_strdup_printf ("%s/30", r->host_ip);
  ns_cidr = g_strdup_printf ("%s/30", r->registry_ip);
  r->workdir = g_dir_make_tmp ("ecsa-registry-XXXXXX", &error);
  g_assert_no_error (error);

  r->certs_dir = g_build_filename ("/etc/docker/certs.d", r->address, NULL);
  {
    g_autofree char *script = g_strdup_printf ("ip netns del %s 2>/dev/null; ip link del %s 2>/dev/null; "
                                               "rm -rf '%s' '%s'; docker image rm -f %s/%s/busybox >/dev/null 2>&1",
                                               r->netns, r->veth_host, r->certs_dir, r->workdir, r->address,
                                               ecsa_test_plugins_prefix ());
    ecsa_test_on_exit (script);
  }
  RUN ("ip", "netns", "add", r->netns);
  RUN ("ip", "link", "add", r->veth_host, "type", "veth", "peer", "name", veth_ns);
  RUN ("ip", "link", "set", veth_ns, "netns", r->netns);
  RUN ("ip", "addr", "add", host_cidr, "dev", r->veth_host);
  RUN ("ip", "link", "set", r->veth_host, "up");
  RUN ("ip", "-n", r->netns, "addr", "add", ns_cidr, "dev", veth_ns);
  RUN ("ip", "-n", r->netns, "link", "set", veth_ns, "up");
  RUN ("ip", "-n", r->netns, "link", "set", "lo", "up");

  ecsa_test_plugins_make_certificates (r->workdir, r->registry_ip);
  for (i = 0; users[i] != NULL; i += 2)
    {
      g_autofree char *line = ecsa_test_run (FALSE, (const char *const[]){ "htpasswd", "-Bbn", "-C", "4", users[i],
                                                                            users[i + 1], NULL });
      g_string_append (htpasswd, g_strstrip (line));
      g_string_append_c (htpasswd, '\n');
    }
  write_file (r->workdir, "htpasswd", htpasswd->str);
  config = g_strdup_printf ("version: 0.1\n"
                            "log: {level: info}\n"
                            "storage: {filesystem: {rootdirectory: %s/data}, delete: {enabled: true}}\n"
                            "http: {addr: '%s', tls: {certificate: %s/server.pem, key: %s/server.key}}\n"
                            "auth: {htpasswd: {realm: ecsa-test-realm, path: %s/htpasswd}}\n",
                            r->workdir, r->address, r->workdir, r->workdir, r->workdir);
  write_file (r->workdir, "config.yml", config);
  config_path = g_build_filename (r->workdir, "config.yml", NULL);
  log_path = g_build_filename (r->workdir, "registry.log", NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_stdout_file_path (launcher, log_path);
  g_subprocess_launcher_set_stderr_file_path (launcher, log_path);
  r->process = g_subprocess_launcher_spawn (launcher, &error, "ip", "netns", "exec", r->netns, "docker-registry",
                                            "serve", config_path, NULL);
  g_assert_no_error (error);
  {
    g_autofree char *script = g_strdup_printf ("kill %s 2>/dev/null; sleep 1; ip netns del %s 2>/dev/null",
                                               g_subprocess_get_identifier (r->process), r->netns);
    ecsa_test_on_exit (script);
  }

  /* Ready when it accepts connections (it logs no line we could wait on before that) */
  deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  while (!tcp_connects (r->registry_ip, 5000))
    {
      if (g_get_monotonic_time () > deadline)
        {
          g_autofree char *log = NULL;
          g_file_get_contents (log_path, &log, NULL, NULL);
          g_error ("docker-registry in netns '%s' did not listen on %s within 15 s: %s", r->netns, r->address, log);
        }
      g_usleep (20000);
    }

  g_assert_cmpint (g_mkdir_with_parents (r->certs_dir, 0755), ==, 0);
  ca_src = g_build_filename (r->workdir, "ca.pem", NULL);
  ca_dst = g_build_filename (r->certs_dir, "ca.crt", NULL);
  RUN ("cp", ca_src, ca_dst);
  owner = g_strdup_printf ("%s\n", ecsa_test_plugins_prefix ());
  write_file (r->certs_dir, "ecsa-owner", owner);

  /* the image the tests pull */
  image = ecsa_test_plugins_registry_image (r);
  local_repo = g_strdup_printf ("%s/%s/busybox", r->address, ecsa_test_plugins_prefix ());
  ecsa_test_docker_tag (test_image (), local_repo, "latest");
  pusher.username = (char *) users[0];
  pusher.password = (char *) users[1];
  pusher.server_address = r->address;
  if (!ecsa_test_docker_push (image, &pusher, &push_error))
    g_error ("pushing '%s' to the test registry: %s", image, push_error);
  ecsa_test_docker_remove_image (image);
  return r;
}

char *
ecsa_test_plugins_registry_image (EcsaTestPluginsRegistry *r)
{
  return g_strdup_printf ("%s/%s/busybox:latest", r->address, ecsa_test_plugins_prefix ());
}

void
ecsa_test_plugins_registry_stop (EcsaTestPluginsRegistry *r)
{
  g_autofree char *image = NULL;

  if (r == NULL)
    return;
  image = ecsa_test_plugins_registry_image (r);
  ecsa_test_docker_remove_image (image);
  if (r->process != NULL)
    {
      g_subprocess_send_signal (r->process, SIGTERM);
      g_subprocess_wait (r->process, NULL, NULL);
      g_clear_object (&r->process);
    }
  if (r->certs_dir != NULL)
    RUN_MAY_FAIL ("rm", "-rf", r->certs_dir);
  RUN_MAY_FAIL ("ip", "netns", "del", r->netns);
  {
    g_autofree char *link = g_build_filename ("/sys/class/net", r->veth_host, NULL);
    if (g_file_test (link, G_FILE_TEST_EXISTS))
      RUN_MAY_FAIL ("ip", "link", "del", r->veth_host);
  }
  if (r->workdir != NULL)
    RUN_MAY_FAIL ("rm", "-rf", r->workdir);
  g_free (r->netns);
  g_free (r->veth_host);
  g_free (r->host_ip);
  g_free (r->registry_ip);
  g_free (r->address);
  g_free (r->workdir);
  g_free (r->certs_dir);
  g_free (r);
}

/* ---- iptables --------------------------------------------------------------------------------- */

static char *
guard_chain (void)
{
  return g_strdup_printf ("%s-g", ecsa_test_plugins_prefix ());
}

void
ecsa_test_guard_link_local (void)
{
  g_autofree char *chain = guard_chain ();
  g_autofree char *script = g_strdup_printf (
    "iptables -w -D OUTPUT -d 169.254.0.0/16 -j %s 2>/dev/null; iptables -w -D FORWARD -d 169.254.0.0/16 -j %s "
    "2>/dev/null; iptables -w -F %s 2>/dev/null; iptables -w -X %s 2>/dev/null",
    chain, chain, chain, chain);

  ecsa_test_on_exit (script);
  RUN_MAY_FAIL ("iptables", "-w", "-N", chain);
  RUN ("iptables", "-w", "-F", chain);
  RUN ("iptables", "-w", "-A", chain, "-d", "169.254.172.0/22", "-j", "RETURN");
  RUN ("iptables", "-w", "-A", chain, "-d", "169.254.0.0/16", "-j", "REJECT");
  RUN ("iptables", "-w", "-I", "OUTPUT", "1", "-d", "169.254.0.0/16", "-j", chain);
  RUN ("iptables", "-w", "-I", "FORWARD", "1", "-d", "169.254.0.0/16", "-j", chain);
}

void
ecsa_test_unguard_link_local (void)
{
  g_autofree char *chain = guard_chain ();

  RUN_MAY_FAIL ("iptables", "-w", "-D", "OUTPUT", "-d", "169.254.0.0/16", "-j", chain);
  RUN_MAY_FAIL ("iptables", "-w", "-D", "FORWARD", "-d", "169.254.0.0/16", "-j", chain);
  RUN_MAY_FAIL ("iptables", "-w", "-F", chain);
  RUN_MAY_FAIL ("iptables", "-w", "-X", chain);
}

void
ecsa_test_redirect_credentials_endpoint (void)
{
  g_autofree char *comment = g_strdup_printf ("%s-cred", ecsa_test_plugins_prefix ());
  g_autofree char *script = g_strdup_printf (
    "iptables -w -t nat -D OUTPUT -d 169.254.170.2/32 -p tcp --dport 80 -m comment --comment %s -j REDIRECT "
    "--to-ports 51679 2>/dev/null",
    comment);

  ecsa_test_on_exit (script);
  RUN ("iptables", "-w", "-t", "nat", "-I", "OUTPUT", "1", "-d", "169.254.170.2/32", "-p", "tcp", "--dport", "80",
       "-m", "comment", "--comment", comment, "-j", "REDIRECT", "--to-ports", "51679");
}

void
ecsa_test_unredirect_credentials_endpoint (void)
{
  g_autofree char *comment = g_strdup_printf ("%s-cred", ecsa_test_plugins_prefix ());

  RUN_MAY_FAIL ("iptables", "-w", "-t", "nat", "-D", "OUTPUT", "-d", "169.254.170.2/32", "-p", "tcp", "--dport", "80",
                "-m", "comment", "--comment", comment, "-j", "REDIRECT", "--to-ports", "51679");
}

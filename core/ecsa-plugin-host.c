/* ecsa-plugin-host.c: the services lent to plugins, one EcsaPluginHost copy per plugin.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-plugin-host.h"

#include "ecsa-docker-client.h"
#include "ecsa-log.h"
#include "ecsa-plugin-registry.h"
#include "ecsa-sigv4.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>

#define AGENT_VERSION ECSA_COMPAT_VERSION "-ecsa." PACKAGE_VERSION

struct _EcsaPluginHostServices
{
  EcsaConfig *config;
  GMainContext *context;
  SoupSession *http_session;
  gulong request_queued_id; /* on http_session: -k for every message plugins send */
  char *region;
  GPtrArray *hosts; /* HostPrivate*, not owned: to update region */

  EcsaPluginDockerBackend docker;
  gpointer docker_backend;
  gboolean has_docker;
  EcsaDockerClient *docker_client; /* a reference, when the backend is the agent's Docker client */
  EcsaPluginTaskViewBackend task_views;
  gpointer task_view_backend;
  gboolean has_task_views;
  EcsaPluginAwsCredentialsBackend aws;
  gpointer aws_backend;
  gboolean has_aws;
};

/* A plugin's host: the public struct first, so the plugin's `host` pointer leads back here. */
typedef struct
{
  EcsaPluginHost pub;
  EcsaPluginHostServices *services; /* NULL once the services are freed */
  char *name;
  char *kind_name;
  char *log_domain; /* "ecsa-<short kind>-<name>", as in-tree plugins' G_LOG_DOMAIN: "ecsa-log-awslogs" */
  char *state_dir;
  char *cluster;
  GHashTable *environment; /* site settings read by config_get: key -> value (or NULL), owned */
} HostPrivate;

static HostPrivate *
host_private(const EcsaPluginHost *host)
{
  return (HostPrivate *)host;
}

static void
not_supported_async(const char *service, GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);

  g_task_set_source_tag(task, source_tag);
  g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "%s is not available to plugins in this agent",
                          service);
}

/* ---- services ----------------------------------------------------------------------------- */

static gboolean
accept_any_certificate_cb(SoupMessage *msg, GTlsCertificate *certificate, GTlsCertificateFlags errors,
                          gpointer user_data)
{
  return TRUE;
}

/* -k (acceptInsecureCert) holds for the session lent to plugins as for the agent's own calls
 * (v1.16.2's ECR client honours it too): every message queued on it accepts any certificate. The
 * setting is read when the message is queued. */
static void
request_queued_cb(SoupSession *session, SoupMessage *msg, gpointer user_data)
{
  EcsaPluginHostServices *services = user_data;

  if (services->config != NULL && services->config->accept_insecure_cert)
    g_signal_connect(msg, "accept-certificate", G_CALLBACK(accept_any_certificate_cb), NULL);
}

static void
services_watch_session(EcsaPluginHostServices *services, SoupSession *http_session)
{
  if (services->http_session != NULL && services->request_queued_id != 0)
    g_signal_handler_disconnect(services->http_session, services->request_queued_id);
  services->request_queued_id = 0;
  services->http_session = http_session;
  if (http_session != NULL)
    services->request_queued_id
      = g_signal_connect(http_session, "request-queued", G_CALLBACK(request_queued_cb), services);
}

EcsaPluginHostServices *
ecsa_plugin_host_services_new(EcsaConfig *config, GMainContext *context, SoupSession *http_session)
{
  EcsaPluginHostServices *s = g_new0(EcsaPluginHostServices, 1);

  s->config = config;
  s->context = context != NULL ? g_main_context_ref(context) : g_main_context_ref_thread_default();
  services_watch_session(s, http_session);
  s->region = g_strdup(config != NULL && config->aws_region != NULL ? config->aws_region : "");
  s->hosts = g_ptr_array_new();
  return s;
}

void
ecsa_plugin_host_services_free(EcsaPluginHostServices *services)
{
  if (services == NULL)
    return;
  for (guint i = 0; i < services->hosts->len; i++)
    {
      HostPrivate *priv = g_ptr_array_index(services->hosts, i);

      priv->services = NULL;
      priv->pub.region = "";
    }
  g_ptr_array_unref(services->hosts);
  services_watch_session(services, NULL);
  g_clear_object(&services->docker_client);
  g_main_context_unref(services->context);
  g_free(services->region);
  g_free(services);
}

EcsaConfig *
ecsa_plugin_host_services_get_config(EcsaPluginHostServices *services)
{
  g_return_val_if_fail(services != NULL, NULL);
  return services->config;
}

void
ecsa_plugin_host_services_set_docker_backend(EcsaPluginHostServices *services, const EcsaPluginDockerBackend *vtable,
                                             gpointer backend)
{
  g_return_if_fail(services != NULL);
  g_return_if_fail(vtable == NULL || (vtable->request_async != NULL && vtable->request_finish != NULL));
  services->has_docker = vtable != NULL;
  if (vtable != NULL)
    services->docker = *vtable;
  services->docker_backend = backend;
}

static void
docker_client_request_async(gpointer backend, const char *method, const char *path, GBytes *body, guint timeout_ms,
                            GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  ecsa_docker_client_request_async(backend, method, path, body, timeout_ms, cancellable, callback, user_data);
}

static GBytes *
docker_client_request_finish(gpointer backend, GAsyncResult *result, guint *out_status, GError **error)
{
  return ecsa_docker_client_request_finish(backend, result, out_status, error);
}

void
ecsa_plugin_host_services_use_docker_client(EcsaPluginHostServices *services, EcsaDockerClient *client)
{
  static const EcsaPluginDockerBackend vtable = { docker_client_request_async, docker_client_request_finish };
  g_autoptr(EcsaDockerClient) old = NULL;

  g_return_if_fail(services != NULL);
  g_return_if_fail(client == NULL || ECSA_IS_DOCKER_CLIENT(client));
  old = g_steal_pointer(&services->docker_client); /* dropped after the switch */
  services->docker_client = client != NULL ? g_object_ref(client) : NULL;
  ecsa_plugin_host_services_set_docker_backend(services, client != NULL ? &vtable : NULL, client);
}

void
ecsa_plugin_host_services_set_task_view_backend(EcsaPluginHostServices *services,
                                                const EcsaPluginTaskViewBackend *vtable, gpointer backend)
{
  g_return_if_fail(services != NULL);
  g_return_if_fail(vtable == NULL || (vtable->lookup != NULL && vtable->free != NULL));
  services->has_task_views = vtable != NULL;
  if (vtable != NULL)
    services->task_views = *vtable;
  services->task_view_backend = backend;
}

void
ecsa_plugin_host_services_set_aws_credentials_backend(EcsaPluginHostServices *services,
                                                      const EcsaPluginAwsCredentialsBackend *vtable, gpointer backend)
{
  g_return_if_fail(services != NULL);
  g_return_if_fail(vtable == NULL
                   || (vtable->get_async != NULL && vtable->get_finish != NULL && vtable->free_credentials != NULL));
  services->has_aws = vtable != NULL;
  if (vtable != NULL)
    services->aws = *vtable;
  services->aws_backend = backend;
}

void
ecsa_plugin_host_services_set_http_session(EcsaPluginHostServices *services, SoupSession *http_session)
{
  g_return_if_fail(services != NULL);
  services_watch_session(services, http_session);
  for (guint i = 0; i < services->hosts->len; i++)
    ((HostPrivate *)g_ptr_array_index(services->hosts, i))->pub.http_session = http_session;
}

void
ecsa_plugin_host_services_set_region(EcsaPluginHostServices *services, const char *region)
{
  g_return_if_fail(services != NULL);
  /* hosts point at services->region: keep the old string alive until they are updated */
  g_autofree char *old = g_steal_pointer(&services->region);

  services->region = g_strdup(region != NULL ? region : "");
  for (guint i = 0; i < services->hosts->len; i++)
    ((HostPrivate *)g_ptr_array_index(services->hosts, i))->pub.region = services->region;
}

/* ---- config_get, log, redact, timers ------------------------------------------------------ */

/* Names the agent owns: never read from the environment behind the configuration's back. */
static gboolean
is_agent_setting(const char *key)
{
  return g_str_has_prefix(key, "ECS_") || g_str_has_prefix(key, "ECSA_") || g_str_has_prefix(key, "AWS_")
         || g_str_has_prefix(key, "DOCKER_");
}

static const char *
host_config_get(const EcsaPluginHost *host, const char *key)
{
  HostPrivate *priv = host_private(host);
  const char *value = NULL;
  gpointer cached;

  if (key == NULL || key[0] == '\0')
    return NULL;
  if (priv->services != NULL && priv->services->config != NULL)
    value = ecsa_config_get(priv->services->config, key);
  if (value != NULL || is_agent_setting(key))
    return value;
  /* a site plugin's own setting: read once, kept as long as the plugin */
  if (g_hash_table_lookup_extended(priv->environment, key, NULL, &cached))
    return cached;
  value = g_getenv(key);
  g_hash_table_insert(priv->environment, g_strdup(key), g_strdup(value));
  return g_hash_table_lookup(priv->environment, key);
}

static void
host_log(const EcsaPluginHost *host, EcsaLogLevel level, const char *message)
{
  if (level > ECSA_LOG_DEBUG)
    level = ECSA_LOG_DEBUG;
  /* the writer names the domain, redacts, and filters by level */
  ecsa_log_write(level, host_private(host)->log_domain, message != NULL ? message : "");
}

static char *
host_redact(const EcsaPluginHost *host, const char *text)
{
  return ecsa_log_redact(text);
}

static GSource *
host_timeout_add(const EcsaPluginHost *host, guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  GSource *source = g_timeout_source_new(interval_ms);

  g_source_set_name(source, host_private(host)->log_domain);
  g_source_set_callback(source, func, data, notify);
  g_source_attach(source, host->main_context);
  return source;
}

/* ---- docker_request ----------------------------------------------------------------------- */

typedef struct
{
  GBytes *body;
  guint status;
} DockerResponse;

static void
docker_response_free(DockerResponse *r)
{
  g_clear_pointer(&r->body, g_bytes_unref);
  g_free(r);
}

static void
docker_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  HostPrivate *priv = g_task_get_task_data(task);
  GError *error = NULL;
  DockerResponse *r = g_new0(DockerResponse, 1);

  if (priv->services == NULL)
    {
      g_free(r);
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "the agent is shutting down");
      return;
    }
  r->body = priv->services->docker.request_finish(priv->services->docker_backend, result, &r->status, &error);
  if (r->body == NULL)
    {
      g_free(r);
      if (error == NULL)
        error = g_error_new_literal(ECSA_ERROR, ECSA_ERROR_FAILED, "Docker request failed without a reason");
      g_task_return_error(task, error);
      return;
    }
  g_task_return_pointer(task, r, (GDestroyNotify)docker_response_free);
}

static void
host_docker_request_async(const EcsaPluginHost *host, const char *method, const char *path, GBytes *body,
                          guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  HostPrivate *priv = host_private(host);
  g_autoptr(GTask) task = NULL;

  if (priv->services == NULL || !priv->services->has_docker)
    {
      not_supported_async("Docker access", callback, user_data, host_docker_request_async);
      return;
    }
  task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_source_tag(task, host_docker_request_async);
  g_task_set_task_data(task, priv, NULL);
  priv->services->docker.request_async(priv->services->docker_backend, method, path, body, timeout_ms, cancellable,
                                       docker_ready_cb, g_object_ref(task));
}

static GBytes *
host_docker_request_finish(const EcsaPluginHost *host, GAsyncResult *result, guint *out_status, GError **error)
{
  DockerResponse *r;
  GBytes *body;

  g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
  g_return_val_if_fail(g_async_result_is_tagged(result, host_docker_request_async), NULL);
  r = g_task_propagate_pointer(G_TASK(result), error);
  if (r == NULL)
    return NULL;
  if (out_status != NULL)
    *out_status = r->status;
  body = g_steal_pointer(&r->body);
  docker_response_free(r);
  return body;
}

/* ---- spawn -------------------------------------------------------------------------------- */

typedef struct
{
  int exit_status;
  GBytes *out;
  GBytes *err;
} SpawnResult;

static void
spawn_result_free(SpawnResult *r)
{
  if (r == NULL)
    return;
  g_clear_pointer(&r->out, g_bytes_unref);
  g_clear_pointer(&r->err, g_bytes_unref);
  g_free(r);
}

typedef struct
{
  GSubprocess *process;
  GCancellable *communicate_cancellable; /* stops reading and waiting once the call is answered */
  GSource *timeout_source;
  GSource *cancel_source;
  SpawnResult *result; /* the output, while waiting for the exit status */
  char *program;
  guint timeout_ms;
  gboolean returned;
} SpawnCall;

static void
spawn_call_drop_sources(SpawnCall *c)
{
  if (c->timeout_source != NULL)
    g_source_destroy(c->timeout_source);
  g_clear_pointer(&c->timeout_source, g_source_unref);
  if (c->cancel_source != NULL)
    g_source_destroy(c->cancel_source);
  g_clear_pointer(&c->cancel_source, g_source_unref);
}

static void
spawn_call_free(SpawnCall *c)
{
  spawn_call_drop_sources(c);
  g_clear_object(&c->process);
  g_clear_object(&c->communicate_cancellable);
  g_clear_pointer(&c->result, spawn_result_free);
  g_free(c->program);
  g_free(c);
}

/* Answer the call once; the caller holds a reference on the task. */
static gboolean
spawn_call_claim(GTask *task)
{
  SpawnCall *c = g_task_get_task_data(task);

  if (c->returned)
    return FALSE;
  c->returned = TRUE;
  spawn_call_drop_sources(c);
  return TRUE;
}

/* Kill the child and stop reading its output (a grandchild may hold the pipes open). */
static void
spawn_call_abort(SpawnCall *c)
{
  g_subprocess_force_exit(c->process);
  g_cancellable_cancel(c->communicate_cancellable);
}

static gboolean
spawn_timeout_cb(gpointer user_data)
{
  g_autoptr(GTask) task = g_object_ref(G_TASK(user_data));
  SpawnCall *c = g_task_get_task_data(task);

  if (!spawn_call_claim(task))
    return G_SOURCE_REMOVE;
  spawn_call_abort(c);
  g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_TIMEOUT, "'%s' did not finish within %u ms and was killed",
                          c->program, c->timeout_ms);
  return G_SOURCE_REMOVE;
}

static gboolean
spawn_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
  g_autoptr(GTask) task = g_object_ref(G_TASK(user_data));
  SpawnCall *c = g_task_get_task_data(task);

  if (!spawn_call_claim(task))
    return G_SOURCE_REMOVE;
  spawn_call_abort(c);
  g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  return G_SOURCE_REMOVE;
}

static void
spawn_wait_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  SpawnCall *c = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  SpawnResult *r;

  if (!g_subprocess_wait_finish(c->process, result, &error))
    {
      /* only cancelled once the call was answered; anything else is answered here */
      if (spawn_call_claim(task))
        g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_FAILED, "'%s': waiting for it: %s", c->program,
                                error->message);
      return;
    }
  if (!spawn_call_claim(task))
    return;
  r = g_steal_pointer(&c->result);
  if (g_subprocess_get_if_exited(c->process))
    r->exit_status = g_subprocess_get_exit_status(c->process);
  else if (g_subprocess_get_if_signaled(c->process))
    r->exit_status = 128 + g_subprocess_get_term_sig(c->process);
  else
    r->exit_status = -1;
  g_task_return_pointer(task, r, (GDestroyNotify)spawn_result_free);
}

static void
spawn_communicate_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  SpawnCall *c = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL;
  g_autoptr(GBytes) err = NULL;

  if (!g_subprocess_communicate_finish(c->process, result, &out, &err, &error))
    {
      if (spawn_call_claim(task))
        {
          g_subprocess_force_exit(c->process);
          g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_FAILED, "'%s': reading its output: %s", c->program,
                                  error->message);
        }
      return;
    }
  if (c->returned)
    return;
  /* The pipes are closed; the child has exited or is about to: wait for its status (bounded by
   * the timeout and the cancellable, which kill it). */
  c->result = g_new0(SpawnResult, 1);
  c->result->out = g_steal_pointer(&out);
  c->result->err = g_steal_pointer(&err);
  g_subprocess_wait_async(c->process, c->communicate_cancellable, spawn_wait_ready_cb, g_object_ref(task));
}

static void
host_spawn_async(const EcsaPluginHost *host, const char *const *argv, const char *const *envp, GBytes *stdin_data,
                 guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) empty = NULL;
  SpawnCall *c;

  g_task_set_source_tag(task, host_spawn_async);
  if (argv == NULL || argv[0] == NULL || !g_path_is_absolute(argv[0]))
    {
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "spawn: '%s' is not an absolute path",
                              argv != NULL && argv[0] != NULL ? argv[0] : "");
      return;
    }
  if (g_task_return_error_if_cancelled(task))
    return;
  launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                       | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  if (envp != NULL)
    g_subprocess_launcher_set_environ(launcher, (char **)envp);
  c = g_new0(SpawnCall, 1);
  c->program = g_strdup(argv[0]);
  c->timeout_ms = timeout_ms;
  c->communicate_cancellable = g_cancellable_new();
  g_task_set_task_data(task, c, (GDestroyNotify)spawn_call_free);
  c->process = g_subprocess_launcher_spawnv(launcher, argv, &error);
  if (c->process == NULL)
    {
      g_task_return_new_error(task, ECSA_ERROR,
                              g_error_matches(error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT) ? ECSA_ERROR_NOT_FOUND
                                                                                         : ECSA_ERROR_FAILED,
                              "cannot run '%s': %s", argv[0], error->message);
      return;
    }
  if (timeout_ms > 0)
    {
      c->timeout_source = g_timeout_source_new(timeout_ms);
      g_source_set_name(c->timeout_source, "ecsa plugin spawn timeout");
      g_source_set_callback(c->timeout_source, spawn_timeout_cb, g_object_ref(task), g_object_unref);
      g_source_attach(c->timeout_source, g_task_get_context(task));
    }
  if (cancellable != NULL)
    {
      c->cancel_source = g_cancellable_source_new(cancellable);
      g_source_set_callback(c->cancel_source, G_SOURCE_FUNC(spawn_cancelled_cb), g_object_ref(task), g_object_unref);
      g_source_attach(c->cancel_source, g_task_get_context(task));
    }
  /* no input: an empty stdin (EOF at once) */
  empty = stdin_data == NULL ? g_bytes_new_static("", 0) : NULL;
  g_subprocess_communicate_async(c->process, stdin_data != NULL ? stdin_data : empty, c->communicate_cancellable,
                                 spawn_communicate_ready_cb, g_object_ref(task));
}

static gboolean
host_spawn_finish(const EcsaPluginHost *host, GAsyncResult *result, int *out_exit_status, GBytes **out_stdout,
                  GBytes **out_stderr, GError **error)
{
  SpawnResult *r;

  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  g_return_val_if_fail(g_async_result_is_tagged(result, host_spawn_async), FALSE);
  r = g_task_propagate_pointer(G_TASK(result), error);
  if (r == NULL)
    return FALSE;
  if (out_exit_status != NULL)
    *out_exit_status = r->exit_status;
  if (out_stdout != NULL)
    *out_stdout = g_steal_pointer(&r->out);
  if (out_stderr != NULL)
    *out_stderr = g_steal_pointer(&r->err);
  spawn_result_free(r);
  return TRUE;
}

/* ---- task views --------------------------------------------------------------------------- */

static EcsaTaskView *
host_task_view_lookup(const EcsaPluginHost *host, const char *task_arn)
{
  EcsaPluginHostServices *s = host_private(host)->services;

  if (s == NULL || !s->has_task_views || task_arn == NULL)
    return NULL;
  return s->task_views.lookup(s->task_view_backend, task_arn);
}

static EcsaTaskView *
host_task_view_lookup_by_docker_id(const EcsaPluginHost *host, const char *docker_id)
{
  EcsaPluginHostServices *s = host_private(host)->services;

  if (s == NULL || !s->has_task_views || s->task_views.lookup_by_docker_id == NULL || docker_id == NULL)
    return NULL;
  return s->task_views.lookup_by_docker_id(s->task_view_backend, docker_id);
}

static void
host_task_view_free(const EcsaPluginHost *host, EcsaTaskView *view)
{
  EcsaPluginHostServices *s = host_private(host)->services;

  if (view == NULL)
    return;
  g_return_if_fail(s != NULL && s->has_task_views);
  s->task_views.free(s->task_view_backend, view);
}

/* ---- AWS credentials and SigV4 ------------------------------------------------------------ */

static void
wipe_string(const char *text)
{
  if (text != NULL)
    {
      volatile char *p = (volatile char *)text;

      while (*p != '\0')
        *p++ = '\0';
    }
}

static void
host_aws_credentials_free(const EcsaPluginHost *host, EcsaAwsCredentials *credentials)
{
  if (credentials == NULL)
    return;
  wipe_string(credentials->access_key_id);
  wipe_string(credentials->secret_access_key);
  wipe_string(credentials->session_token);
  g_free((char *)credentials->access_key_id);
  g_free((char *)credentials->secret_access_key);
  g_free((char *)credentials->session_token);
  g_free((char *)credentials->role_arn);
  g_free(credentials);
}

static void
aws_credentials_wipe_and_free(EcsaAwsCredentials *credentials)
{
  host_aws_credentials_free(NULL, credentials);
}

static void
aws_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  HostPrivate *priv = g_task_get_task_data(task);
  EcsaPluginHostServices *s = priv->services;
  GError *error = NULL;
  EcsaAwsCredentials *got, *copy;

  if (s == NULL)
    {
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "the agent is shutting down");
      return;
    }
  got = s->aws.get_finish(s->aws_backend, result, &error);
  if (got == NULL)
    {
      if (error == NULL)
        error = g_error_new_literal(ECSA_ERROR, ECSA_ERROR_AUTH, "no AWS credentials");
      g_task_return_error(task, error);
      return;
    }
  copy = g_new0(EcsaAwsCredentials, 1);
  copy->struct_size = sizeof(EcsaAwsCredentials);
  copy->access_key_id = g_strdup(got->access_key_id != NULL ? got->access_key_id : "");
  copy->secret_access_key = g_strdup(got->secret_access_key != NULL ? got->secret_access_key : "");
  copy->session_token = g_strdup(got->session_token != NULL ? got->session_token : "");
  copy->expiration = got->expiration;
  copy->role_arn = g_strdup(got->role_arn != NULL ? got->role_arn : "");
  s->aws.free_credentials(s->aws_backend, got);
  g_task_return_pointer(task, copy, (GDestroyNotify)aws_credentials_wipe_and_free);
}

static void
host_aws_credentials_async(const EcsaPluginHost *host, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  HostPrivate *priv = host_private(host);
  g_autoptr(GTask) task = NULL;

  if (priv->services == NULL || !priv->services->has_aws)
    {
      not_supported_async("AWS credentials", callback, user_data, host_aws_credentials_async);
      return;
    }
  task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_source_tag(task, host_aws_credentials_async);
  g_task_set_task_data(task, priv, NULL);
  priv->services->aws.get_async(priv->services->aws_backend, cancellable, aws_ready_cb, g_object_ref(task));
}

static EcsaAwsCredentials *
host_aws_credentials_finish(const EcsaPluginHost *host, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
  g_return_val_if_fail(g_async_result_is_tagged(result, host_aws_credentials_async), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

static gboolean
host_sigv4_sign(const EcsaPluginHost *host, SoupMessage *message, GBytes *body, const char *service, const char *region,
                const EcsaAwsCredentials *credentials, GError **error)
{
  g_autoptr(GError) local = NULL;

  if (message == NULL || credentials == NULL || service == NULL || region == NULL)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                          "sigv4_sign: message, service, region and credentials are required");
      return FALSE;
    }
  if (!ecsa_sigv4_sign_message(message, body, service, region, credentials, NULL, &local))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "sigv4_sign: %s", local->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- a plugin's host ---------------------------------------------------------------------- */

/* The kind as plugins/<kind>-<name>/ directories spell it. */
static const char *
log_domain_kind(guint32 kind)
{
  switch (kind)
    {
    case ECSA_PLUGIN_KIND_LOG_DRIVER:
      return "log";
    case ECSA_PLUGIN_KIND_REGISTRY_AUTH:
      return "auth";
    case ECSA_PLUGIN_KIND_NETWORK:
      return "net";
    default:
      return ecsa_plugin_kind_to_string(kind);
    }
}

EcsaPluginHost *
ecsa_plugin_host_new(EcsaPluginHostServices *services, guint32 kind, const char *plugin_name, GError **error)
{
  g_autofree char *state_dir = NULL;
  HostPrivate *priv;
  const char *kind_name;

  g_return_val_if_fail(services != NULL && plugin_name != NULL, NULL);
  kind_name = ecsa_plugin_kind_to_string(kind);
  if (services->config != NULL && services->config->checkpoint && services->config->data_dir != NULL
      && services->config->data_dir[0] != '\0')
    {
      g_autofree char *dir_name = g_strdup_printf("%s-%s", kind_name, plugin_name);

      state_dir = g_build_filename(services->config->data_dir, "plugins", dir_name, NULL);
      if (g_mkdir_with_parents(state_dir, 0700) != 0)
        {
          int saved_errno = errno;

          g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot create its state directory '%s': %s", state_dir,
                      g_strerror(saved_errno));
          return NULL;
        }
    }

  priv = g_new0(HostPrivate, 1);
  priv->services = services;
  priv->name = g_strdup(plugin_name);
  priv->kind_name = g_strdup(kind_name);
  priv->log_domain = g_strdup_printf("ecsa-%s-%s", log_domain_kind(kind), plugin_name);
  priv->state_dir = g_steal_pointer(&state_dir);
  priv->cluster
    = g_strdup(services->config != NULL && services->config->cluster != NULL ? services->config->cluster : "");
  priv->environment = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

  priv->pub.version = ECSA_PLUGIN_HOST_VERSION;
  priv->pub.struct_size = sizeof(EcsaPluginHost);
  priv->pub.main_context = services->context;
  priv->pub.http_session = services->http_session;
  priv->pub.state_dir = priv->state_dir;
  priv->pub.agent_version = AGENT_VERSION;
  priv->pub.region = services->region;
  priv->pub.cluster = priv->cluster;
  priv->pub.config_get = host_config_get;
  priv->pub.log = host_log;
  priv->pub.timeout_add = host_timeout_add;
  priv->pub.docker_request_async = host_docker_request_async;
  priv->pub.docker_request_finish = host_docker_request_finish;
  priv->pub.spawn_async = host_spawn_async;
  priv->pub.spawn_finish = host_spawn_finish;
  priv->pub.task_view_lookup = host_task_view_lookup;
  priv->pub.task_view_free = host_task_view_free;
  priv->pub.task_view_lookup_by_docker_id = host_task_view_lookup_by_docker_id;
  priv->pub.aws_credentials_async = host_aws_credentials_async;
  priv->pub.aws_credentials_finish = host_aws_credentials_finish;
  priv->pub.aws_credentials_free = host_aws_credentials_free;
  priv->pub.sigv4_sign = host_sigv4_sign;
  priv->pub.redact = host_redact;

  g_ptr_array_add(services->hosts, priv);
  return &priv->pub;
}

void
ecsa_plugin_host_free(EcsaPluginHost *host)
{
  HostPrivate *priv = host_private(host);

  if (host == NULL)
    return;
  if (priv->services != NULL)
    g_ptr_array_remove_fast(priv->services->hosts, priv);
  g_free(priv->name);
  g_free(priv->kind_name);
  g_free(priv->log_domain);
  g_free(priv->state_dir);
  g_free(priv->cluster);
  g_hash_table_unref(priv->environment);
  g_free(priv);
}

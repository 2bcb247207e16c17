/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-ecs-client.h"

#include <string.h>

#include "ecsa-memory.h"
#include "ecsa-sigv4.h"
#include "ecsa-soup-call.h"
#include "ecsa-proxy.h"
#include "ecsa-tls-trust.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MAX_RESPONSE_BODY (4 * 1024 * 1024)
#define STANDARD_RETRIES 3
#define CONTENT_TYPE "application/x-amz-json-1.1"
#define INSTANCE_TYPE_CHANGED_MESSAGE "Container instance type changes are not supported."

#ifndef ECSA_GIT_HASH
#define ECSA_GIT_HASH "ecsa-" PACKAGE_VERSION
#endif

G_DEFINE_QUARK (ecsa-ecs-client-error-quark, ecsa_ecs_client_error)

gboolean
ecsa_ecs_client_error_is_transient (const GError *error)
{
  if (error == NULL || error->domain != ECSA_ECS_CLIENT_ERROR)
    return error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  return error->code == ECSA_ECS_CLIENT_ERROR_TRANSPORT || error->code == ECSA_ECS_CLIENT_ERROR_SERVER
         || error->code == ECSA_ECS_CLIENT_ERROR_CREDENTIALS;
}

const char *
ecsa_ecs_client_error_code (const GError *error)
{
  const char *colon;
  g_autofree char *code = NULL;

  if (error == NULL || error->domain != ECSA_ECS_CLIENT_ERROR
      || (error->code != ECSA_ECS_CLIENT_ERROR_CLIENT && error->code != ECSA_ECS_CLIENT_ERROR_SERVER
          && error->code != ECSA_ECS_CLIENT_ERROR_INVALID_PARAMETER
          && error->code != ECSA_ECS_CLIENT_ERROR_INSTANCE_TYPE_CHANGED))
    return NULL;
  colon = strstr (error->message, ": ");
  if (colon == NULL)
    return NULL;
  code = g_strndup (error->message, (gsize) (colon - error->message));
  return g_intern_string (code);
}

EcsaEcsAttribute *
ecsa_ecs_attribute_new (const char *name, const char *value)
{
  EcsaEcsAttribute *a = g_new0 (EcsaEcsAttribute, 1);

  a->name = g_strdup (name);
  a->value = g_strdup (value);
  return a;
}

void
ecsa_ecs_attribute_free (EcsaEcsAttribute *attribute)
{
  if (attribute == NULL)
    return;
  g_free (attribute->name);
  g_free (attribute->value);
  g_free (attribute);
}

GPtrArray *
ecsa_ecs_attributes_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) ecsa_ecs_attribute_free);
}

void
ecsa_poll_endpoints_free (EcsaPollEndpoints *endpoints)
{
  if (endpoints == NULL)
    return;
  g_free (endpoints->endpoint);
  g_free (endpoints->telemetry_endpoint);
  g_free (endpoints);
}

static EcsaPollEndpoints *
poll_endpoints_copy (const EcsaPollEndpoints *e)
{
  EcsaPollEndpoints *copy = g_new0 (EcsaPollEndpoints, 1);

  copy->endpoint = g_strdup (e->endpoint);
  copy->telemetry_endpoint = g_strdup (e->telemetry_endpoint);
  return copy;
}

const char *
ecsa_ecs_client_agent_hash (void)
{
  return ECSA_GIT_HASH;
}

const char *
ecsa_ecs_client_user_agent (void)
{
  return "Amazon ECS Agent - v" ECSA_COMPAT_VERSION " (" ECSA_GIT_HASH ") (" ECSA_ECS_OS_TYPE
         ") (+http://aws.amazon.com/ecs/)";
}

/* ------------------------------------------------------------------------------------------- */

struct _EcsaEcsClient
{
  GObject parent_instance;

  const EcsaConfig *config;
  EcsaAwsCredentialsProvider *credentials;
  EcsaImds *imds;
  SoupSession *session;
  char *endpoint;
  char *region;
  char *cluster;
  gboolean cluster_configured;
  char *container_instance_arn;
  char *ec2_instance_id;
  char *docker_version;
  gint64 cpu;
  gint64 memory_mib;
  gboolean resources_set;
  guint timeout_ms;
  gboolean last_register_was_reregister;

  /* the process's trust (ecsa-tls-trust.h), read once in a worker thread */
  gboolean tls_ready;
  gboolean tls_loading;
  GTlsDatabase *tls_database;
  GPtrArray *tls_waiters;
  GProxyResolver *proxy_resolver; /* ecsa-proxy.h */

  /* DiscoverPollEndpoint cache (one entry, as v1.16.2's LRU of size 1) */
  EcsaPollEndpoints *poll_cache;
  char *poll_cache_arn;
  gint64 poll_cache_time;
};

/* An idle HTTPS connection to ECS is closed after this long. A TLS connection holds about 60 KiB
 * (GnuTLS's session and credentials, the peer's parsed certificates); the calls come in bursts
 * (registration, a task's state changes), each with a connection of its own kept for the burst.
 * When they have closed, the heap's freed pages go back to the system (ecsa-memory.h). */
#define IDLE_TIMEOUT_S 10

G_DEFINE_TYPE (EcsaEcsClient, ecsa_ecs_client, G_TYPE_OBJECT)

static void
ecsa_ecs_client_finalize (GObject *object)
{
  EcsaEcsClient *self = ECSA_ECS_CLIENT (object);

  g_clear_object (&self->credentials);
  g_clear_object (&self->imds);
  g_clear_object (&self->session);
  g_clear_object (&self->tls_database);
  g_clear_object (&self->proxy_resolver);
  g_ptr_array_unref (self->tls_waiters);
  g_clear_pointer (&self->poll_cache, ecsa_poll_endpoints_free);
  g_free (self->poll_cache_arn);
  g_free (self->endpoint);
  g_free (self->region);
  g_free (self->cluster);
  g_free (self->container_instance_arn);
  g_free (self->ec2_instance_id);
  g_free (self->docker_version);
  G_OBJECT_CLASS (ecsa_ecs_client_parent_class)->finalize (object);
}

static void
ecsa_ecs_client_class_init (EcsaEcsClientClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ecsa_ecs_client_finalize;
}

static void
ecsa_ecs_client_init (EcsaEcsClient *self)
{
  self->timeout_ms = DEFAULT_TIMEOUT_MS;
  self->tls_waiters = g_ptr_array_new ();
}

static char *
default_endpoint (const char *region)
{
  return g_str_has_prefix (region, "cn-") ? g_strdup_printf ("https://ecs.%s.amazonaws.com.cn", region)
                                          : g_strdup_printf ("https://ecs.%s.amazonaws.com", region);
}

EcsaEcsClient *
ecsa_ecs_client_new (const EcsaConfig *config, EcsaAwsCredentialsProvider *credentials, EcsaImds *imds,
                     GError **error)
{
  g_autoptr(EcsaEcsClient) self = NULL;
  g_autoptr(GUri) uri = NULL;
  const char *region;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (ECSA_IS_AWS_CREDENTIALS_PROVIDER (credentials), NULL);

  self = g_object_new (ECSA_TYPE_ECS_CLIENT, NULL);
  self->config = config;
  self->credentials = g_object_ref (credentials);
  if (imds != NULL)
    self->imds = g_object_ref (imds);
  region = config->aws_region;
  if (config->api_endpoint != NULL && *config->api_endpoint != '\0')
    self->endpoint = strstr (config->api_endpoint, "://") != NULL ? g_strdup (config->api_endpoint)
                                                                  : g_strconcat ("https://", config->api_endpoint, NULL);
  else if (region != NULL && *region != '\0')
    self->endpoint = default_endpoint (region);
  else
    {
      g_set_error_literal (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CONFIG,
                           "no ECS endpoint: neither AWS_DEFAULT_REGION nor ECS_BACKEND_HOST is known");
      return NULL;
    }
  if (region == NULL || *region == '\0')
    {
      g_set_error_literal (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CONFIG,
                           "no AWS region to sign ECS requests for (AWS_DEFAULT_REGION)");
      return NULL;
    }
  uri = g_uri_parse (self->endpoint, SOUP_HTTP_URI_FLAGS, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL
      || (g_strcmp0 (g_uri_get_scheme (uri), "https") != 0 && g_strcmp0 (g_uri_get_scheme (uri), "http") != 0))
    {
      g_set_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CONFIG,
                   "ECS_BACKEND_HOST '%s' is not an http(s) URL", self->endpoint);
      return NULL;
    }
  self->region = g_strdup (region);
  self->cluster_configured = config->cluster != NULL && *config->cluster != '\0';
  self->cluster = g_strdup (self->cluster_configured ? config->cluster : ECSA_ECS_DEFAULT_CLUSTER);
  /* the reporter submits for up to 3 tasks at once, beside registration and discovery */
  self->tls_database = G_TLS_DATABASE (ecsa_tls_trust_get ());
  self->proxy_resolver = ecsa_proxy_resolver_get_for_connections (config->docker_endpoint);
  self->session = soup_session_new_with_options ("user-agent", ecsa_ecs_client_user_agent (), "timeout", 0,
                                                 "idle-timeout", IDLE_TIMEOUT_S, "max-conns-per-host", 8, "max-conns", 16,
                                                 "tls-database", self->tls_database, "proxy-resolver",
                                                 self->proxy_resolver, NULL);
  return g_steal_pointer (&self);
}

const char *
ecsa_ecs_client_get_endpoint (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  return self->endpoint;
}

const char *
ecsa_ecs_client_get_region (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  return self->region;
}

EcsaAwsCredentialsProvider *
ecsa_ecs_client_get_credentials (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  return self->credentials;
}

const char *
ecsa_ecs_client_get_docker_version (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  return self->docker_version;
}

const char *
ecsa_ecs_client_get_cluster (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  return self->cluster;
}

const char *
ecsa_ecs_client_get_container_instance_arn (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  return self->container_instance_arn;
}

const char *
ecsa_ecs_client_get_ec2_instance_id (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  return self->ec2_instance_id;
}

void
ecsa_ecs_client_set_ec2_instance_id (EcsaEcsClient *self, const char *ec2_instance_id)
{
  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  g_free (self->ec2_instance_id);
  self->ec2_instance_id = g_strdup (ec2_instance_id);
}

gboolean
ecsa_ecs_client_get_accept_insecure_cert (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), FALSE);
  return self->config->accept_insecure_cert;
}

GProxyResolver *
ecsa_ecs_client_get_proxy_resolver (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  return self->proxy_resolver;
}

GTlsDatabase *
ecsa_ecs_client_get_tls_database (EcsaEcsClient *self)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  return self->tls_database;
}

void
ecsa_ecs_client_set_cluster_is_default (EcsaEcsClient *self, gboolean is_default)
{
  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  self->cluster_configured = !is_default;
}

void
ecsa_ecs_client_set_timeout (EcsaEcsClient *self, guint timeout_ms)
{
  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  self->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
}

void
ecsa_ecs_client_set_docker_version (EcsaEcsClient *self, const char *docker_version)
{
  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  g_free (self->docker_version);
  self->docker_version = g_strdup (docker_version);
}

void
ecsa_ecs_client_set_host_resources (EcsaEcsClient *self, gint64 cpu, gint64 memory_mib)
{
  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  self->cpu = cpu;
  self->memory_mib = memory_mib;
  self->resources_set = TRUE;
}

/* ------------------------------------------------------------------------------------------- */
/* TLS setup */

static void
tls_load_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;

  if (!ecsa_tls_trust_load (ECSA_TLS_TRUST (task_data), &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
tls_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcsaEcsClient *self = ECSA_ECS_CLIENT (source);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->tls_waiters);

  self->tls_waiters = g_ptr_array_new ();
  self->tls_loading = FALSE;
  self->tls_ready = TRUE;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("Unable to load the trusted certificates: %s", error->message);
  for (guint i = 0; i < waiters->len; i++)
    {
      g_autoptr(GTask) task = g_ptr_array_index (waiters, i);
      g_task_return_boolean (task, TRUE);
    }
}

void
ecsa_ecs_client_prepare_tls_async (EcsaEcsClient *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  GTask *task;

  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_ecs_client_prepare_tls_async);
  if (self->tls_ready)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  g_ptr_array_add (self->tls_waiters, task);
  if (!self->tls_loading)
    {
      g_autoptr(GTask) load = g_task_new (self, NULL, tls_loaded_cb, NULL);
      g_task_set_task_data (load, g_object_ref (self->tls_database), g_object_unref);
      self->tls_loading = TRUE;
      g_task_run_in_thread (load, tls_load_thread);
    }
}

gboolean
ecsa_ecs_client_prepare_tls_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ------------------------------------------------------------------------------------------- */
/* A connection opened ahead of the first call */

static gboolean accept_any_certificate_cb (SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors,
                                           gpointer user_data);

static void
preconnected_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!soup_session_preconnect_finish (SOUP_SESSION (source), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
preconnect_tls_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcsaEcsClient *self = ECSA_ECS_CLIENT (source);
  g_autoptr(GTask) task = user_data;
  g_autoptr(SoupMessage) msg = NULL;

  ecsa_ecs_client_prepare_tls_finish (self, result, NULL);
  if (g_task_return_error_if_cancelled (task))
    return;
  /* a GET: no second connection when one is open already */
  msg = soup_message_new ("GET", self->endpoint);
  if (msg == NULL)
    {
      g_task_return_new_error (task, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CONFIG,
                               "ECS endpoint '%s' is not a URL", self->endpoint);
      return;
    }
  if (self->config->accept_insecure_cert)
    g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any_certificate_cb), NULL);
  ecsa_soup_message_set_tcp_nodelay (msg);
  soup_session_preconnect_async (self->session, msg, G_PRIORITY_DEFAULT, g_task_get_cancellable (task),
                                 preconnected_cb, g_object_ref (task));
}

void
ecsa_ecs_client_preconnect_async (EcsaEcsClient *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  GTask *task;

  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_ecs_client_preconnect_async);
  ecsa_ecs_client_prepare_tls_async (self, cancellable, preconnect_tls_ready_cb, task);
}

gboolean
ecsa_ecs_client_preconnect_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ------------------------------------------------------------------------------------------- */
/* One JSON 1.1 call: TLS ready -> credentials -> sign -> send -> classify -> maybe retry */

typedef struct
{
  char *op;
  GBytes *body;
  guint retries_left;
  guint attempt;
  SoupMessage *msg;
} CallData;

static void
call_data_free (CallData *data)
{
  g_free (data->op);
  g_bytes_unref (data->body);
  g_clear_object (&data->msg);
  g_free (data);
}

static void call_attempt (GTask *task);

static gboolean
accept_any_certificate_cb (SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer user_data)
{
  return TRUE;
}

static gboolean
is_throttling_code (const char *code)
{
  static const char *const codes[] = { "Throttling", "ThrottlingException", "ThrottledException",
                                       "RequestThrottledException", "TooManyRequestsException",
                                       "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                                       "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
                                       "EC2ThrottledException", "RequestTimeout", "RequestTimeoutException",
                                       NULL };
  return code != NULL && g_strv_contains (codes, code);
}

GError *
ecsa_ecs_client_error_from_response (const char *op, guint status, GBytes *body, const char *header_type)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *code = NULL;
  g_autofree char *message = NULL;
  gsize len = 0;
  const char *text = body != NULL ? g_bytes_get_data (body, &len) : NULL;
  int ecode;

  if (text != NULL && len > 0 && json_parser_load_from_data (parser, text, (gssize) len, NULL)
      && json_parser_get_root (parser) != NULL && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      JsonObject *o = json_node_get_object (json_parser_get_root (parser));
      const char *type = json_object_get_string_member_with_default (o, "__type", NULL);
      const char *m = json_object_get_string_member_with_default (o, "message", NULL);

      if (m == NULL)
        m = json_object_get_string_member_with_default (o, "Message", NULL);
      if (type != NULL)
        code = g_strdup (strrchr (type, '#') != NULL ? strrchr (type, '#') + 1 : type);
      message = g_strdup (m);
    }
  if (code == NULL && header_type != NULL)
    code = g_strndup (header_type, strcspn (header_type, ":"));
  if (code == NULL || *code == '\0')
    {
      g_free (code);
      code = g_strdup_printf ("HTTP%u", status);
    }
  if (message == NULL)
    message = g_strdup_printf ("HTTP status %u", status);

  if (status >= 500 || status == 429 || is_throttling_code (code))
    ecode = ECSA_ECS_CLIENT_ERROR_SERVER;
  else if (strcmp (code, "InvalidParameterException") == 0)
    ecode = ECSA_ECS_CLIENT_ERROR_INVALID_PARAMETER;
  else if (strstr (message, INSTANCE_TYPE_CHANGED_MESSAGE) != NULL)
    ecode = ECSA_ECS_CLIENT_ERROR_INSTANCE_TYPE_CHANGED;
  else
    ecode = ECSA_ECS_CLIENT_ERROR_CLIENT;
  return g_error_new (ECSA_ECS_CLIENT_ERROR, ecode, "%s: %s (%s, HTTP %u)", code, message, op, status);
}

static void
call_retry_sleep_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_sleep_finish (result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  call_attempt (g_steal_pointer (&task));
}

static void
call_failed (GTask *task, GError *error, gboolean retry)
{
  CallData *data = g_task_get_task_data (task);

  if (retry && data->retries_left > 0 && ecsa_ecs_client_error_is_transient (error))
    {
      guint delay_ms = (1u << MIN (data->attempt, 8u)) * (guint) g_random_int_range (30, 60);

      data->retries_left--;
      g_debug ("ECS %s failed (%s); retrying in %u ms", data->op, error->message, delay_ms);
      g_error_free (error);
      ecsa_sleep_async ((GTimeSpan) delay_ms * 1000, g_task_get_cancellable (task), call_retry_sleep_cb, task);
      return;
    }
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void
call_response_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  CallData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = ecsa_soup_call_finish (result, &error);
  g_autoptr(JsonParser) parser = NULL;
  guint status;
  gsize len;
  const char *text;

  /* the session's connections close IDLE_TIMEOUT_S after the last call; then give back their memory */
  ecsa_memory_release_after ((IDLE_TIMEOUT_S + 1) * 1000);
  if (body == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          g_object_unref (task);
          return;
        }
      /* as the SDK: a certificate the trust store refuses is not retried */
      call_failed (task,
                   g_error_new (ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_TRANSPORT, "ECS %s: %s", data->op,
                                error->message),
                   error->domain != G_TLS_ERROR);
      return;
    }
  status = soup_message_get_status (data->msg);
  if (status < 200 || status >= 300)
    {
      call_failed (task,
                   ecsa_ecs_client_error_from_response (
                     data->op, status, body,
                     soup_message_headers_get_one (soup_message_get_response_headers (data->msg), "x-amzn-ErrorType")),
                   TRUE);
      return;
    }
  text = g_bytes_get_data (body, &len);
  parser = json_parser_new ();
  if (len == 0)
    {
      g_task_return_pointer (task, json_node_init_object (json_node_alloc (), json_object_new ()),
                             (GDestroyNotify) json_node_unref);
      g_object_unref (task);
      return;
    }
  if (!json_parser_load_from_data (parser, text, (gssize) len, &error) || json_parser_get_root (parser) == NULL
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_task_return_new_error (task, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_INVALID_RESPONSE,
                               "ECS %s: the response is not a JSON object%s%s", data->op, error != NULL ? ": " : "",
                               error != NULL ? error->message : "");
      g_object_unref (task);
      return;
    }
  g_task_return_pointer (task, json_node_ref (json_parser_get_root (parser)), (GDestroyNotify) json_node_unref);
  g_object_unref (task);
}

static void
call_credentials_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  EcsaEcsClient *self = g_task_get_source_object (task);
  CallData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaAwsCredentials) credentials = NULL;
  g_autofree char *target = NULL;
  g_autofree char *what = NULL;
  g_autoptr(GUri) uri = NULL;
  SoupMessageHeaders *headers;

  credentials = ecsa_aws_credentials_provider_get_finish (ECSA_AWS_CREDENTIALS_PROVIDER (source), result, &error);
  if (credentials == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          g_object_unref (task);
          return;
        }
      call_failed (task,
                   g_error_new (ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CREDENTIALS, "ECS %s: %s", data->op,
                                error->message),
                   TRUE);
      return;
    }
  uri = g_uri_parse (self->endpoint, SOUP_HTTP_URI_FLAGS, NULL);
  if (*g_uri_get_path (uri) == '\0')
    {
      GUri *with_path = soup_uri_copy (uri, SOUP_URI_PATH, "/", SOUP_URI_NONE);
      g_uri_unref (uri);
      uri = with_path;
    }
  g_clear_object (&data->msg);
  data->msg = soup_message_new_from_uri ("POST", uri);
  headers = soup_message_get_request_headers (data->msg);
  target = g_strconcat (ECSA_ECS_TARGET_PREFIX ".", data->op, NULL);
  soup_message_headers_replace (headers, "X-Amz-Target", target);
  soup_message_set_request_body_from_bytes (data->msg, CONTENT_TYPE, data->body);
  /* libsoup opens a new connection for every POST unless told it may send it again: these calls
   * are retried anyway (as by the SDK), so the keep-alive connections are reused, as Go's client
   * did (one TLS handshake, not one per registration, discovery and state change) */
  soup_message_add_flags (data->msg, SOUP_MESSAGE_IDEMPOTENT);
  if (self->config->accept_insecure_cert)
    g_signal_connect (data->msg, "accept-certificate", G_CALLBACK (accept_any_certificate_cb), NULL);
  if (!ecsa_sigv4_sign_message (data->msg, data->body, "ecs", self->region, credentials, NULL, &error))
    {
      call_failed (task,
                   g_error_new (ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CREDENTIALS, "ECS %s: %s", data->op,
                                error->message),
                   TRUE);
      return;
    }
  data->attempt++;
  what = g_strdup_printf ("ECS %s", data->op);
  ecsa_soup_call_async (self->session, data->msg, what, self->timeout_ms, MAX_RESPONSE_BODY,
                        g_task_get_cancellable (task), call_response_cb, task);
}

static void
call_attempt (GTask *task)
{
  EcsaEcsClient *self = g_task_get_source_object (task);

  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }
  ecsa_aws_credentials_provider_get_async (self->credentials, g_task_get_cancellable (task), call_credentials_cb,
                                           task);
}

static void
call_tls_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;

  ecsa_ecs_client_prepare_tls_finish (ECSA_ECS_CLIENT (source), result, NULL);
  call_attempt (task);
}

static void
call_async (EcsaEcsClient *self, const char *op, JsonNode *request, gboolean retry, GCancellable *cancellable,
            GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  CallData *data = g_new0 (CallData, 1);
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  gsize len;
  char *text;

  g_task_set_source_tag (task, call_async);
  json_generator_set_root (generator, request);
  text = json_generator_to_data (generator, &len);
  data->op = g_strdup (op);
  data->body = g_bytes_new_take (text, len);
  data->retries_left = retry ? STANDARD_RETRIES : 0;
  g_task_set_task_data (task, data, (GDestroyNotify) call_data_free);
  ecsa_ecs_client_prepare_tls_async (self, cancellable, call_tls_ready_cb, task);
}

static JsonNode *
call_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------------------------------- */
/* state */

JsonNode *
ecsa_ecs_client_save_state (EcsaEcsClient *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), NULL);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ContainerInstanceArn");
  json_builder_add_string_value (b, self->container_instance_arn != NULL ? self->container_instance_arn : "");
  json_builder_set_member_name (b, "Cluster");
  json_builder_add_string_value (b, self->cluster);
  json_builder_set_member_name (b, "EC2InstanceID");
  json_builder_add_string_value (b, self->ec2_instance_id != NULL ? self->ec2_instance_id : "");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gboolean
ecsa_ecs_client_load_state (EcsaEcsClient *self, JsonNode *section, const char *current_ec2_instance_id,
                            gboolean *out_instance_changed, GError **error)
{
  JsonObject *o;
  const char *arn, *cluster, *saved_id;

  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), FALSE);

  if (out_instance_changed != NULL)
    *out_instance_changed = FALSE;
  if (current_ec2_instance_id != NULL && *current_ec2_instance_id != '\0')
    ecsa_ecs_client_set_ec2_instance_id (self, current_ec2_instance_id);
  if (section == NULL || JSON_NODE_HOLDS_NULL (section))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (section))
    {
      g_set_error_literal (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CONFIG,
                           "checkpoint section 'agent' is not a JSON object");
      return FALSE;
    }
  o = json_node_get_object (section);
  arn = json_object_get_string_member_with_default (o, "ContainerInstanceArn", "");
  cluster = json_object_get_string_member_with_default (o, "Cluster", "");
  saved_id = json_object_get_string_member_with_default (o, "EC2InstanceID", "");

  if (*saved_id != '\0' && current_ec2_instance_id != NULL && *current_ec2_instance_id != '\0'
      && strcmp (saved_id, current_ec2_instance_id) != 0)
    {
      g_warning ("Data mismatch; saved InstanceID '%s' does not match current InstanceID '%s'. Overwriting old "
                 "datafile",
                 saved_id, current_ec2_instance_id);
      if (out_instance_changed != NULL)
        *out_instance_changed = TRUE;
      return TRUE;
    }
  if (*cluster != '\0')
    {
      if (strcmp (cluster, self->cluster) != 0)
        {
          g_set_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CLUSTER_MISMATCH,
                       "Data mismatch; saved cluster '%s' does not match configured cluster '%s'. Perhaps you want "
                       "to delete the configured checkpoint file?",
                       cluster, self->cluster);
          return FALSE;
        }
      g_info ("Restored cluster '%s'", cluster);
    }
  if (*arn != '\0')
    {
      g_free (self->container_instance_arn);
      self->container_instance_arn = g_strdup (arn);
    }
  if ((current_ec2_instance_id == NULL || *current_ec2_instance_id == '\0') && *saved_id != '\0')
    ecsa_ecs_client_set_ec2_instance_id (self, saved_id);
  return TRUE;
}

/* ------------------------------------------------------------------------------------------- */
/* RegisterContainerInstance */

static gboolean
host_resources (EcsaEcsClient *self, gint64 *out_cpu, gint64 *out_memory, GError **error)
{
  g_autofree char *meminfo = NULL;
  const char *line;
  gint64 memory = 0;

  if (self->resources_set)
    {
      *out_cpu = self->cpu;
      *out_memory = self->memory_mib;
      return TRUE;
    }
  *out_cpu = (gint64) g_get_num_processors () * 1024;
  /* procfs: no disk behind it */
  if (g_file_get_contents ("/proc/meminfo", &meminfo, NULL, NULL) && (line = strstr (meminfo, "MemTotal:")) != NULL)
    memory = g_ascii_strtoll (line + strlen ("MemTotal:"), NULL, 10) / 1024; /* kB -> MiB */
  else
    g_warning ("Unable to read the host's memory from /proc/meminfo");
  *out_memory = memory;
  return TRUE;
  (void) error;
}

static void
add_string_member (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

static void
add_resource (JsonBuilder *b, const char *name, gint64 integer, GArray *ports)
{
  json_builder_begin_object (b);
  add_string_member (b, "name", name);
  if (ports == NULL)
    {
      add_string_member (b, "type", "INTEGER");
      json_builder_set_member_name (b, "integerValue");
      json_builder_add_int_value (b, integer);
    }
  else
    {
      add_string_member (b, "type", "STRINGSET");
      json_builder_set_member_name (b, "stringSetValue");
      json_builder_begin_array (b);
      for (guint i = 0; i < ports->len; i++)
        {
          char port[8];
          g_snprintf (port, sizeof port, "%u", (guint) g_array_index (ports, guint16, i));
          json_builder_add_string_value (b, port);
        }
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
}

static void
add_attribute (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_begin_object (b);
  add_string_member (b, "name", name);
  if (value != NULL)
    add_string_member (b, "value", value);
  json_builder_end_object (b);
}

typedef struct
{
  GPtrArray *capabilities; /* EcsaEcsAttribute* */
  GHashTable *sent;        /* name -> value ("" for none), what the response must echo */
  char *document;
  char *signature;
  gboolean reregister;
  gboolean created_cluster;
} RegisterData;

static void
register_data_free (RegisterData *data)
{
  g_ptr_array_unref (data->capabilities);
  g_clear_pointer (&data->sent, g_hash_table_unref);
  g_free (data->document);
  g_free (data->signature);
  g_free (data);
}

static JsonNode *
build_register_request (EcsaEcsClient *self, RegisterData *data, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  gint64 cpu, memory;

  if (!host_resources (self, &cpu, &memory, error))
    return NULL;
  if (memory - (gint64) self->config->reserved_memory < 0)
    {
      g_set_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_CONFIG,
                   "api register-container-instance: reserved memory is higher than available memory on the host, "
                   "total memory: %" G_GINT64_FORMAT ", reserved: %u",
                   memory, (guint) self->config->reserved_memory);
      return NULL;
    }
  g_clear_pointer (&data->sent, g_hash_table_unref);
  data->sent = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  json_builder_begin_object (b);
  add_string_member (b, "cluster", self->cluster);
  if (data->reregister)
    add_string_member (b, "containerInstanceArn", self->container_instance_arn);
  add_string_member (b, "instanceIdentityDocument", data->document != NULL ? data->document : "");
  add_string_member (b, "instanceIdentityDocumentSignature", data->signature != NULL ? data->signature : "");

  json_builder_set_member_name (b, "totalResources");
  json_builder_begin_array (b);
  add_resource (b, "CPU", cpu, NULL);
  add_resource (b, "MEMORY", memory - (gint64) self->config->reserved_memory, NULL);
  {
    g_autoptr(GArray) none = g_array_new (FALSE, FALSE, sizeof (guint16));
    add_resource (b, "PORTS", 0, self->config->reserved_ports != NULL ? self->config->reserved_ports : none);
    add_resource (b, "PORTS_UDP", 0, self->config->reserved_ports_udp != NULL ? self->config->reserved_ports_udp : none);
  }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "attributes");
  json_builder_begin_array (b);
  /* Custom attributes only on the first registration (README: ECS_INSTANCE_ATTRIBUTES). */
  if (!data->reregister && self->config->instance_attributes != NULL)
    {
      g_autoptr(GList) keys = g_hash_table_get_keys (self->config->instance_attributes);

      keys = g_list_sort (keys, (GCompareFunc) strcmp);
      for (GList *l = keys; l != NULL; l = l->next)
        {
          const char *value = g_hash_table_lookup (self->config->instance_attributes, l->data);
          add_attribute (b, l->data, value != NULL ? value : "");
          g_hash_table_replace (data->sent, g_strdup (l->data), g_strdup (value != NULL ? value : ""));
        }
    }
  for (guint i = 0; i < data->capabilities->len; i++)
    {
      EcsaEcsAttribute *a = g_ptr_array_index (data->capabilities, i);
      add_attribute (b, a->name, a->value);
      g_hash_table_replace (data->sent, g_strdup (a->name), g_strdup (a->value != NULL ? a->value : ""));
    }
  add_attribute (b, "ecs.os-type", ECSA_ECS_OS_TYPE);
  g_hash_table_replace (data->sent, g_strdup ("ecs.os-type"), g_strdup (ECSA_ECS_OS_TYPE));
  json_builder_end_array (b);

  json_builder_set_member_name (b, "versionInfo");
  json_builder_begin_object (b);
  add_string_member (b, "agentVersion", ECSA_COMPAT_VERSION);
  add_string_member (b, "agentHash", ECSA_GIT_HASH);
  if (self->docker_version != NULL)
    {
      g_autofree char *v = g_strconcat ("DockerVersion: ", self->docker_version, NULL);
      add_string_member (b, "dockerVersion", v);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* The response must carry every attribute sent, with the same value (v1.16.2 validateRegisteredAttributes). */
static gboolean
validate_attributes (RegisterData *data, JsonObject *instance, GError **error)
{
  g_autoptr(GHashTable) got = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GString) missing = g_string_new (NULL);
  JsonNode *attrs = json_object_get_member (instance, "attributes");
  GHashTableIter iter;
  gpointer key, value;

  if (attrs != NULL && JSON_NODE_HOLDS_ARRAY (attrs))
    {
      JsonArray *array = json_node_get_array (attrs);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *n = json_array_get_element (array, i);
          JsonObject *a;
          const char *name;

          if (!JSON_NODE_HOLDS_OBJECT (n))
            continue;
          a = json_node_get_object (n);
          name = json_object_get_string_member_with_default (a, "name", NULL);
          if (name != NULL)
            g_hash_table_replace (got, (gpointer) name,
                                  (gpointer) json_object_get_string_member_with_default (a, "value", ""));
        }
    }
  g_hash_table_iter_init (&iter, data->sent);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const char *echoed = g_hash_table_lookup (got, key);
      if (echoed == NULL || strcmp (echoed, value) != 0)
        g_string_append_printf (missing, "%s%s", missing->len > 0 ? "," : "", (const char *) key);
    }
  if (missing->len > 0)
    {
      g_set_error (error, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_ATTRIBUTE,
                   "Attribute validation failed: the registration did not echo %s", missing->str);
      return FALSE;
    }
  return TRUE;
}

static void register_send (GTask *task);

static void
create_cluster_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EcsaEcsClient *self = ECSA_ECS_CLIENT (source);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) response = call_finish (self, result, &error);

  if (response == NULL)
    {
      g_prefix_error (&error, "Could not create cluster '%s': ", self->cluster);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_info ("Created a cluster named: %s", self->cluster);
  register_send (g_steal_pointer (&task));
}

static void
register_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EcsaEcsClient *self = ECSA_ECS_CLIENT (source);
  RegisterData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) response = call_finish (self, result, &error);
  JsonNode *instance_node;
  JsonObject *instance;
  const char *arn;

  if (response == NULL)
    {
      if (!self->cluster_configured && !data->created_cluster && !data->reregister
          && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          /* v1.16.2: registering in the default cluster failed, create it and try again. */
          g_autoptr(JsonBuilder) b = json_builder_new ();
          g_autoptr(JsonNode) request = NULL;
          GCancellable *cancellable = g_task_get_cancellable (task);

          g_info ("Registering in cluster '%s' failed (%s); creating it", self->cluster, error->message);
          data->created_cluster = TRUE;
          json_builder_begin_object (b);
          add_string_member (b, "clusterName", self->cluster);
          json_builder_end_object (b);
          request = json_builder_get_root (b);
          call_async (self, "CreateCluster", request, TRUE, cancellable, create_cluster_ready_cb,
                      g_steal_pointer (&task));
          return;
        }
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  instance_node = json_object_get_member (json_node_get_object (response), "containerInstance");
  if (instance_node == NULL || !JSON_NODE_HOLDS_OBJECT (instance_node))
    {
      g_task_return_new_error (task, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_INVALID_RESPONSE,
                               "ECS RegisterContainerInstance: the response has no containerInstance");
      return;
    }
  instance = json_node_get_object (instance_node);
  arn = json_object_get_string_member_with_default (instance, "containerInstanceArn", NULL);
  if (arn == NULL || *arn == '\0')
    {
      g_task_return_new_error (task, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_INVALID_RESPONSE,
                               "ECS RegisterContainerInstance: the response has no containerInstanceArn");
      return;
    }
  if (!validate_attributes (data, instance, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (data->reregister && g_strcmp0 (arn, self->container_instance_arn) != 0)
    g_warning ("Re-registration answered with container instance '%s' instead of '%s'", arn,
               self->container_instance_arn);
  g_free (self->container_instance_arn);
  self->container_instance_arn = g_strdup (arn);
  g_task_return_pointer (task, g_strdup (arn), g_free);
}

static void
register_send (GTask *task)
{
  EcsaEcsClient *self = g_task_get_source_object (task);
  RegisterData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) request = build_register_request (self, data, &error);

  if (request == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return;
    }
  call_async (self, "RegisterContainerInstance", request, TRUE, cancellable, register_ready_cb, task);
}

static void
register_identity_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  RegisterData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaInstanceIdentity) identity = ecsa_imds_get_instance_identity_finish (ECSA_IMDS (source), result,
                                                                                      &error);

  if (identity == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          g_object_unref (task);
          return;
        }
      g_warning ("Unable to get instance identity document: %s", error->message);
    }
  else
    {
      data->document = g_steal_pointer (&identity->document);
      data->signature = g_steal_pointer (&identity->signature);
    }
  register_send (task);
}

void
ecsa_ecs_client_register_async (EcsaEcsClient *self, GPtrArray *capabilities, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  RegisterData *data;

  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_ecs_client_register_async);
  data = g_new0 (RegisterData, 1);
  data->capabilities = capabilities != NULL ? g_ptr_array_ref (capabilities) : ecsa_ecs_attributes_new ();
  data->reregister = self->container_instance_arn != NULL;
  self->last_register_was_reregister = data->reregister;
  g_task_set_task_data (task, data, (GDestroyNotify) register_data_free);
  if (data->reregister)
    g_info ("Restored from checkpoint file. I am running as '%s' in cluster '%s'", self->container_instance_arn,
            self->cluster);
  else
    g_info ("Registering Instance with ECS");
  if (self->imds != NULL && !ecsa_imds_is_disabled (self->imds))
    ecsa_imds_get_instance_identity_async (self->imds, cancellable, register_identity_cb, task);
  else
    register_send (task);
}

char *
ecsa_ecs_client_register_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, ecsa_ecs_client_register_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

int
ecsa_ecs_client_registration_exit_code (EcsaEcsClient *self, const GError *error)
{
  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (self), 1);

  if (error == NULL)
    return 0;
  if (error->domain != ECSA_ECS_CLIENT_ERROR)
    return 1;
  if (error->code == ECSA_ECS_CLIENT_ERROR_ATTRIBUTE || error->code == ECSA_ECS_CLIENT_ERROR_CLUSTER_MISMATCH)
    return 5;
  if (self->last_register_was_reregister)
    return error->code == ECSA_ECS_CLIENT_ERROR_INSTANCE_TYPE_CHANGED ? 5 : 1;
  return error->code == ECSA_ECS_CLIENT_ERROR_INVALID_PARAMETER ? 5 : 1;
}

/* ------------------------------------------------------------------------------------------- */
/* DiscoverPollEndpoint */

void
ecsa_ecs_client_forget_poll_endpoint (EcsaEcsClient *self)
{
  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  g_clear_pointer (&self->poll_cache, ecsa_poll_endpoints_free);
  g_clear_pointer (&self->poll_cache_arn, g_free);
}

static void
discover_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EcsaEcsClient *self = ECSA_ECS_CLIENT (source);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) response = call_finish (self, result, &error);
  g_autoptr(EcsaPollEndpoints) endpoints = NULL;
  JsonObject *o;

  if (response == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  o = json_node_get_object (response);
  endpoints = g_new0 (EcsaPollEndpoints, 1);
  endpoints->endpoint = g_strdup (json_object_get_string_member_with_default (o, "endpoint", NULL));
  endpoints->telemetry_endpoint = g_strdup (json_object_get_string_member_with_default (o, "telemetryEndpoint", NULL));
  if (endpoints->endpoint == NULL || *endpoints->endpoint == '\0')
    {
      g_task_return_new_error (task, ECSA_ECS_CLIENT_ERROR, ECSA_ECS_CLIENT_ERROR_INVALID_RESPONSE,
                               "ECS DiscoverPollEndpoint: the response has no endpoint");
      return;
    }
  ecsa_ecs_client_forget_poll_endpoint (self);
  self->poll_cache = poll_endpoints_copy (endpoints);
  self->poll_cache_arn = g_strdup (self->container_instance_arn);
  self->poll_cache_time = g_get_monotonic_time ();
  g_task_return_pointer (task, g_steal_pointer (&endpoints), (GDestroyNotify) ecsa_poll_endpoints_free);
}

void
ecsa_ecs_client_discover_poll_endpoint_async (EcsaEcsClient *self, GCancellable *cancellable,
                                              GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  g_autoptr(JsonBuilder) b = NULL;
  g_autoptr(JsonNode) request = NULL;

  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_ecs_client_discover_poll_endpoint_async);
  if (self->poll_cache != NULL && g_strcmp0 (self->poll_cache_arn, self->container_instance_arn) == 0
      && g_get_monotonic_time () - self->poll_cache_time < ECSA_ECS_POLL_ENDPOINT_CACHE_TTL)
    {
      g_task_return_pointer (task, poll_endpoints_copy (self->poll_cache), (GDestroyNotify) ecsa_poll_endpoints_free);
      g_object_unref (task);
      return;
    }
  g_debug ("Invoking DiscoverPollEndpoint for '%s'", self->container_instance_arn);
  b = json_builder_new ();
  json_builder_begin_object (b);
  add_string_member (b, "containerInstance", self->container_instance_arn != NULL ? self->container_instance_arn : "");
  add_string_member (b, "cluster", self->cluster);
  json_builder_end_object (b);
  request = json_builder_get_root (b);
  call_async (self, "DiscoverPollEndpoint", request, TRUE, cancellable, discover_ready_cb, task);
}

EcsaPollEndpoints *
ecsa_ecs_client_discover_poll_endpoint_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, ecsa_ecs_client_discover_poll_endpoint_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------------------------------- */
/* Submit*StateChange */

/* At most 255 bytes, cut on a UTF-8 character boundary. */
static char *
trim_reason (const char *reason)
{
  gsize len;

  if (reason == NULL)
    return NULL;
  len = strlen (reason);
  if (len <= ECSA_ECS_MAX_REASON_LENGTH)
    return g_strdup (reason);
  len = ECSA_ECS_MAX_REASON_LENGTH;
  while (len > 0 && ((guchar) reason[len] & 0xC0) == 0x80)
    len--;
  return g_strndup (reason, len);
}

static gboolean
reportable_status (const char *status)
{
  return g_strcmp0 (status, "RUNNING") == 0 || g_strcmp0 (status, "STOPPED") == 0;
}

static void
add_network_bindings (JsonBuilder *b, const EcsaStateChange *change)
{
  json_builder_set_member_name (b, "networkBindings");
  json_builder_begin_array (b);
  for (guint i = 0; change->network_bindings != NULL && i < change->network_bindings->len; i++)
    {
      const EcsaNetworkBinding *nb = g_ptr_array_index (change->network_bindings, i);

      json_builder_begin_object (b);
      add_string_member (b, "bindIP", nb->bind_ip != NULL ? nb->bind_ip : "");
      json_builder_set_member_name (b, "containerPort");
      json_builder_add_int_value (b, nb->container_port);
      json_builder_set_member_name (b, "hostPort");
      json_builder_add_int_value (b, nb->host_port);
      add_string_member (b, "protocol", nb->protocol != NULL ? nb->protocol : "tcp");
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static void
add_container_fields (JsonBuilder *b, const EcsaStateChange *c)
{
  g_autofree char *reason = trim_reason (c->reason);

  add_string_member (b, "containerName", c->container_name != NULL ? c->container_name : "");
  add_string_member (b, "status", c->status);
  if (c->has_exit_code)
    {
      json_builder_set_member_name (b, "exitCode");
      json_builder_add_int_value (b, c->exit_code);
    }
  if (reason != NULL && *reason != '\0')
    add_string_member (b, "reason", reason);
  add_network_bindings (b, c);
}

static void
add_timestamp (JsonBuilder *b, const char *name, gint64 usec)
{
  if (usec <= 0)
    return;
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, usec / G_USEC_PER_SEC);
}

JsonNode *
ecsa_ecs_client_build_task_state_change (const char *cluster, const EcsaStateChange *change)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autofree char *reason = trim_reason (change->reason);

  json_builder_begin_object (b);
  add_string_member (b, "cluster", cluster);
  add_string_member (b, "task", change->task_arn);
  add_string_member (b, "status", change->status);
  add_string_member (b, "reason", reason != NULL ? reason : "");
  json_builder_set_member_name (b, "containers");
  json_builder_begin_array (b);
  for (guint i = 0; change->containers != NULL && i < change->containers->len; i++)
    {
      const EcsaStateChange *c = g_ptr_array_index (change->containers, i);

      if (!reportable_status (c->status))
        continue;
      json_builder_begin_object (b);
      add_container_fields (b, c);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  add_timestamp (b, "pullStartedAt", change->pull_started_at);
  add_timestamp (b, "pullStoppedAt", change->pull_stopped_at);
  add_timestamp (b, "executionStoppedAt",
                 change->execution_stopped_at > 0 ? change->execution_stopped_at
                 : g_strcmp0 (change->status, "STOPPED") == 0 ? change->timestamp
                                                               : 0);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
ecsa_ecs_client_build_container_state_change (const char *cluster, const EcsaStateChange *change)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_string_member (b, "cluster", cluster);
  add_string_member (b, "task", change->task_arn);
  add_container_fields (b, change);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
submit_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) response = call_finish (ECSA_ECS_CLIENT (source), result, &error);

  if (response == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
submit_async (EcsaEcsClient *self, gpointer tag, const char *op, JsonNode *request, GCancellable *cancellable,
              GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, tag);
  call_async (self, op, request, FALSE, cancellable, submit_ready_cb, task);
}

void
ecsa_ecs_client_submit_task_state_change_async (EcsaEcsClient *self, const EcsaStateChange *change,
                                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                                gpointer user_data)
{
  g_autoptr(JsonNode) request = NULL;

  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  g_return_if_fail (change != NULL && change->kind == ECSA_STATE_CHANGE_TASK);

  request = ecsa_ecs_client_build_task_state_change (self->cluster, change);
  submit_async (self, ecsa_ecs_client_submit_task_state_change_async, "SubmitTaskStateChange", request, cancellable,
                callback, user_data);
}

gboolean
ecsa_ecs_client_submit_task_state_change_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
ecsa_ecs_client_submit_container_state_change_async (EcsaEcsClient *self, const EcsaStateChange *change,
                                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                                     gpointer user_data)
{
  g_autoptr(JsonNode) request = NULL;

  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  g_return_if_fail (change != NULL && change->kind == ECSA_STATE_CHANGE_CONTAINER);

  request = ecsa_ecs_client_build_container_state_change (self->cluster, change);
  submit_async (self, ecsa_ecs_client_submit_container_state_change_async, "SubmitContainerStateChange", request,
                cancellable, callback, user_data);
}

gboolean
ecsa_ecs_client_submit_container_state_change_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
ecsa_ecs_client_submit_attachment_state_change_async (EcsaEcsClient *self, const char *task_arn,
                                                      const char *attachment_arn, const char *status,
                                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                                      gpointer user_data)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) request = NULL;

  g_return_if_fail (ECSA_IS_ECS_CLIENT (self));
  g_return_if_fail (task_arn != NULL && attachment_arn != NULL && status != NULL);

  json_builder_begin_object (b);
  add_string_member (b, "cluster", self->cluster);
  add_string_member (b, "task", task_arn);
  json_builder_set_member_name (b, "attachments");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  add_string_member (b, "attachmentArn", attachment_arn);
  add_string_member (b, "status", status);
  json_builder_end_object (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
  request = json_builder_get_root (b);
  submit_async (self, ecsa_ecs_client_submit_attachment_state_change_async, "SubmitTaskStateChange", request,
                cancellable, callback, user_data);
}

gboolean
ecsa_ecs_client_submit_attachment_state_change_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

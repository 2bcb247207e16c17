/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-imds.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "ecsa-plugin.h" /* ECSA_ERROR */
#include "ecsa-soup-call.h"

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_MAX_ATTEMPTS 4
#define MAX_BODY (1024 * 1024)
#define TOKEN_HEADER "X-aws-ec2-metadata-token"
#define TOKEN_TTL_HEADER "X-aws-ec2-metadata-token-ttl-seconds"
/* Renew the token this long before the service would expire it. */
#define TOKEN_RENEW_MARGIN (60 * G_USEC_PER_SEC)

struct _EcsaImds
{
  GObject parent_instance;

  char *endpoint; /* without a trailing slash */
  gboolean disabled;
  SoupSession *session;
  guint timeout_ms;
  guint max_attempts;

  char *token; /* secret: never logged */
  gint64 token_expiry; /* monotonic */
  gboolean v1_only;
  gboolean token_fetching;
  GPtrArray *token_waiters; /* GTask* waiting for the token request */
  SoupMessage *token_msg;   /* the token request in flight */
  EcsaInstanceIdentity *identity; /* document and signature, once both were read */
};

G_DEFINE_TYPE (EcsaImds, ecsa_imds, G_TYPE_OBJECT)

typedef struct
{
  char *path;
  guint attempts;        /* transient failures so far */
  gboolean retried_401;  /* fetched a new token after a 401 once */
  gboolean no_token;     /* the token request failed transiently: IMDSv1 for this call */
  GError *last_error;
} GetData;

static void
get_data_free (GetData *data)
{
  g_free (data->path);
  g_clear_error (&data->last_error);
  g_free (data);
}

static void
clear_token (EcsaImds *self)
{
  if (self->token != NULL)
    {
      explicit_bzero (self->token, strlen (self->token));
      g_clear_pointer (&self->token, g_free);
    }
  self->token_expiry = 0;
}

static void
ecsa_imds_finalize (GObject *object)
{
  EcsaImds *self = ECSA_IMDS (object);

  clear_token (self);
  g_clear_pointer (&self->identity, ecsa_instance_identity_free);
  g_clear_object (&self->token_msg);
  g_clear_pointer (&self->token_waiters, g_ptr_array_unref);
  g_clear_object (&self->session);
  g_free (self->endpoint);
  G_OBJECT_CLASS (ecsa_imds_parent_class)->finalize (object);
}

static void
ecsa_imds_class_init (EcsaImdsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ecsa_imds_finalize;
}

static void
ecsa_imds_init (EcsaImds *self)
{
  self->timeout_ms = DEFAULT_TIMEOUT_MS;
  self->max_attempts = DEFAULT_MAX_ATTEMPTS;
  self->token_waiters = g_ptr_array_new ();
  /* IMDS is link-local: never through a proxy (agent v1.16.2 puts it in NO_PROXY). */
  self->session = soup_session_new_with_options ("proxy-resolver", NULL, "timeout", 0, "idle-timeout", 30,
                                                 "max-conns-per-host", 4, NULL);
}

EcsaImds *
ecsa_imds_new_full (const char *endpoint, gboolean disabled)
{
  EcsaImds *self = g_object_new (ECSA_TYPE_IMDS, NULL);
  gsize len;

  self->endpoint = g_strdup (endpoint != NULL && *endpoint != '\0' ? endpoint : ECSA_IMDS_ENDPOINT_IPV4);
  len = strlen (self->endpoint);
  while (len > 0 && self->endpoint[len - 1] == '/')
    self->endpoint[--len] = '\0';
  self->disabled = disabled;
  return self;
}

EcsaImds *
ecsa_imds_new (void)
{
  g_autofree char *disabled = g_strdup (g_getenv ("AWS_EC2_METADATA_DISABLED"));
  const char *endpoint = g_getenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  const char *mode = g_getenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");

  if (endpoint == NULL || *endpoint == '\0')
    endpoint = mode != NULL && g_ascii_strcasecmp (mode, "IPv6") == 0 ? ECSA_IMDS_ENDPOINT_IPV6
                                                                      : ECSA_IMDS_ENDPOINT_IPV4;
  return ecsa_imds_new_full (endpoint, disabled != NULL && g_ascii_strcasecmp (g_strstrip (disabled), "true") == 0);
}

const char *
ecsa_imds_get_endpoint (EcsaImds *self)
{
  g_return_val_if_fail (ECSA_IS_IMDS (self), NULL);
  return self->endpoint;
}

gboolean
ecsa_imds_is_disabled (EcsaImds *self)
{
  g_return_val_if_fail (ECSA_IS_IMDS (self), TRUE);
  return self->disabled;
}

gboolean
ecsa_imds_is_v1_only (EcsaImds *self)
{
  g_return_val_if_fail (ECSA_IS_IMDS (self), FALSE);
  return self->v1_only;
}

void
ecsa_imds_set_timeout (EcsaImds *self, guint timeout_ms)
{
  g_return_if_fail (ECSA_IS_IMDS (self));
  self->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
}

void
ecsa_imds_set_max_attempts (EcsaImds *self, guint attempts)
{
  g_return_if_fail (ECSA_IS_IMDS (self));
  self->max_attempts = MAX (attempts, 1);
}

/* ------------------------------------------------------------------------------------------- */

static void start_get (GTask *task);

static gboolean
is_transient_status (guint status)
{
  return status == 429 || status >= 500;
}

static gboolean
is_transient_error (const GError *error)
{
  return !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
         && !g_error_matches (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
}

static void
retry_sleep_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_sleep_finish (result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  start_get (g_steal_pointer (&task));
}

/* A transient failure (error set, or an HTTP status): retry after a backoff, or give up. */
static void
get_transient_failure (GTask *task, GError *error)
{
  GetData *data = g_task_get_task_data (task);
  guint delay_ms;

  g_clear_error (&data->last_error);
  data->last_error = error;
  data->attempts++;
  if (data->attempts >= ((EcsaImds *) g_task_get_source_object (task))->max_attempts)
    {
      int code = g_error_matches (error, ECSA_ERROR, ECSA_ERROR_TIMEOUT) ? ECSA_ERROR_TIMEOUT : ECSA_ERROR_RETRY;
      g_task_return_new_error (task, ECSA_ERROR, code, "instance metadata '%s': %s (after %u attempts)", data->path,
                               error->message, data->attempts);
      g_object_unref (task);
      return;
    }
  /* 2^n * (50..100) ms, as the SDKs' default retryer does (with a smaller base). */
  delay_ms = (1u << MIN (data->attempts, 6u)) * (guint) g_random_int_range (50, 100);
  ecsa_sleep_async ((GTimeSpan) delay_ms * 1000, g_task_get_cancellable (task), retry_sleep_done_cb, task);
}

static void
get_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  EcsaImds *self = g_task_get_source_object (task);
  GetData *data = g_task_get_task_data (task);
  SoupMessage *msg = g_object_get_data (G_OBJECT (task), "msg");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = ecsa_soup_call_finish (result, &error);
  guint status;

  if (body == NULL)
    {
      if (!is_transient_error (error))
        {
          g_prefix_error (&error, "instance metadata '%s': ", data->path);
          g_task_return_error (task, g_steal_pointer (&error));
          g_object_unref (task);
          return;
        }
      get_transient_failure (task, g_steal_pointer (&error));
      return;
    }
  status = soup_message_get_status (msg);
  if (status == SOUP_STATUS_OK)
    {
      gsize len;
      const char *text = g_bytes_get_data (body, &len);
      g_task_return_pointer (task, g_strndup (text != NULL ? text : "", len), g_free);
      g_object_unref (task);
      return;
    }
  if (status == SOUP_STATUS_UNAUTHORIZED && soup_message_headers_get_one (soup_message_get_request_headers (msg),
                                                                          TOKEN_HEADER) != NULL
      && !data->retried_401)
    {
      /* The token expired or was revoked: get a new one, once. */
      data->retried_401 = TRUE;
      clear_token (self);
      start_get (task);
      return;
    }
  if (status == SOUP_STATUS_NOT_FOUND)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_NOT_FOUND, "instance metadata '%s': not found (404)",
                               data->path);
      g_object_unref (task);
      return;
    }
  if (is_transient_status (status))
    {
      get_transient_failure (task, g_error_new (ECSA_ERROR, ECSA_ERROR_RETRY, "HTTP %u", status));
      return;
    }
  g_task_return_new_error (task, ECSA_ERROR, status == SOUP_STATUS_UNAUTHORIZED ? ECSA_ERROR_AUTH : ECSA_ERROR_FAILED,
                           "instance metadata '%s': HTTP %u", data->path, status);
  g_object_unref (task);
}

static void
send_get (GTask *task, const char *token)
{
  EcsaImds *self = g_task_get_source_object (task);
  GetData *data = g_task_get_task_data (task);
  g_autofree char *url = g_strdup_printf ("%s/latest/%s", self->endpoint, data->path);
  g_autofree char *what = g_strdup_printf ("instance metadata GET '%s'", data->path);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);

  if (msg == NULL)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "instance metadata: bad URL '%s'", url);
      g_object_unref (task);
      return;
    }
  if (token != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), TOKEN_HEADER, token);
  g_object_set_data_full (G_OBJECT (task), "msg", g_object_ref (msg), g_object_unref);
  ecsa_soup_call_async (self->session, msg, what, self->timeout_ms, MAX_BODY, g_task_get_cancellable (task),
                        get_ready_cb, task);
}

/* The token request ended: resume every waiting call. token_error is set when it failed. */
static void
resume_waiters (EcsaImds *self, const GError *token_error, gboolean transient)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->token_waiters);

  self->token_waiters = g_ptr_array_new ();
  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *task = g_ptr_array_index (waiters, i);
      GetData *data = g_task_get_task_data (task);

      if (g_task_return_error_if_cancelled (task))
        {
          g_object_unref (task);
          continue;
        }
      if (token_error == NULL)
        send_get (task, self->v1_only ? NULL : self->token);
      else if (transient)
        {
          /* As the SDKs do: this call goes on without a token, and counts the failure. */
          data->no_token = TRUE;
          data->attempts++;
          if (data->attempts >= self->max_attempts)
            {
              g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_RETRY, "instance metadata '%s': %s", data->path,
                                       token_error->message);
              g_object_unref (task);
            }
          else
            send_get (task, NULL);
        }
      else
        {
          g_task_return_new_error (task, token_error->domain, token_error->code, "instance metadata '%s': %s",
                                   data->path, token_error->message);
          g_object_unref (task);
        }
    }
}

static void
token_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EcsaImds) self = user_data;
  g_autoptr(SoupMessage) msg = g_steal_pointer (&self->token_msg);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = ecsa_soup_call_finish (result, &error);
  guint status = body != NULL ? soup_message_get_status (msg) : 0;

  self->token_fetching = FALSE;
  if (body == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        resume_waiters (self, error, FALSE);
      else
        {
          g_debug ("instance metadata token request failed: %s; using IMDSv1 for this call", error->message);
          resume_waiters (self, error, TRUE);
        }
      return;
    }
  if (status == SOUP_STATUS_OK && g_bytes_get_size (body) > 0)
    {
      gsize len;
      const char *text = g_bytes_get_data (body, &len);

      clear_token (self);
      self->token = g_strndup (text, len);
      g_strstrip (self->token);
      self->token_expiry = g_get_monotonic_time () + (gint64) ECSA_IMDS_TOKEN_TTL_SECONDS * G_USEC_PER_SEC
                           - TOKEN_RENEW_MARGIN;
      resume_waiters (self, NULL, FALSE);
      return;
    }
  if (status == SOUP_STATUS_FORBIDDEN || status == SOUP_STATUS_NOT_FOUND || status == SOUP_STATUS_METHOD_NOT_ALLOWED)
    {
      g_info ("instance metadata at '%s' refused a session token (HTTP %u): using IMDSv1", self->endpoint, status);
      self->v1_only = TRUE;
      resume_waiters (self, NULL, FALSE);
      return;
    }
  {
    g_autoptr(GError) token_error = NULL;
    gboolean transient = status != SOUP_STATUS_BAD_REQUEST;

    token_error = g_error_new (ECSA_ERROR, transient ? ECSA_ERROR_RETRY : ECSA_ERROR_FAILED,
                               "session token request answered HTTP %u", status);
    resume_waiters (self, token_error, transient);
  }
}

static void
fetch_token (EcsaImds *self)
{
  g_autofree char *url = g_strdup_printf ("%s/latest/api/token", self->endpoint);
  g_autoptr(SoupMessage) msg = soup_message_new ("PUT", url);

  if (msg == NULL)
    {
      g_autoptr(GError) error = g_error_new (ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "bad URL '%s'", url);
      resume_waiters (self, error, FALSE);
      return;
    }
  self->token_fetching = TRUE;
  g_set_object (&self->token_msg, msg);
  soup_message_headers_replace (soup_message_get_request_headers (msg), TOKEN_TTL_HEADER,
                                G_STRINGIFY (ECSA_IMDS_TOKEN_TTL_SECONDS));
  /* Not cancellable by one caller: the token serves every waiting call. */
  ecsa_soup_call_async (self->session, msg, "instance metadata token request", self->timeout_ms, 4096, NULL,
                        token_ready_cb, g_object_ref (self));
}

static void
start_get (GTask *task)
{
  EcsaImds *self = g_task_get_source_object (task);
  GetData *data = g_task_get_task_data (task);

  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }
  if (self->v1_only || data->no_token)
    {
      send_get (task, NULL);
      return;
    }
  if (self->token != NULL && g_get_monotonic_time () < self->token_expiry)
    {
      send_get (task, self->token);
      return;
    }
  g_ptr_array_add (self->token_waiters, task);
  if (!self->token_fetching)
    fetch_token (self);
}

void
ecsa_imds_get_async (EcsaImds *self, const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
  GTask *task;
  GetData *data;

  g_return_if_fail (ECSA_IS_IMDS (self));
  g_return_if_fail (path != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_imds_get_async);
  data = g_new0 (GetData, 1);
  while (*path == '/')
    path++;
  data->path = g_strdup (path);
  g_task_set_task_data (task, data, (GDestroyNotify) get_data_free);

  if (self->disabled)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                               "instance metadata '%s': disabled by AWS_EC2_METADATA_DISABLED", data->path);
      g_object_unref (task);
      return;
    }
  start_get (task);
}

char *
ecsa_imds_get_finish (EcsaImds *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, ecsa_imds_get_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------------------------------- */

void
ecsa_instance_identity_free (EcsaInstanceIdentity *identity)
{
  if (identity == NULL)
    return;
  g_free (identity->document);
  g_free (identity->signature);
  g_free (identity->instance_id);
  g_free (identity->region);
  g_free (identity->availability_zone);
  g_free (identity->instance_type);
  g_free (identity);
}

EcsaInstanceIdentity *
ecsa_instance_identity_copy (const EcsaInstanceIdentity *identity)
{
  EcsaInstanceIdentity *copy;

  if (identity == NULL)
    return NULL;
  copy = g_new0 (EcsaInstanceIdentity, 1);
  copy->document = g_strdup (identity->document);
  copy->signature = g_strdup (identity->signature);
  copy->instance_id = g_strdup (identity->instance_id);
  copy->region = g_strdup (identity->region);
  copy->availability_zone = g_strdup (identity->availability_zone);
  copy->instance_type = g_strdup (identity->instance_type);
  return copy;
}

static char *
dup_member_string (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (node));
}

EcsaInstanceIdentity *
ecsa_instance_identity_parse (const char *document, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(EcsaInstanceIdentity) identity = NULL;
  JsonNode *root;
  JsonObject *object;

  if (document == NULL || !json_parser_load_from_data (parser, document, -1, error))
    {
      if (error != NULL && *error != NULL)
        g_prefix_error (error, "instance identity document: ");
      else
        g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "instance identity document: empty");
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "instance identity document: not a JSON object");
      return NULL;
    }
  object = json_node_get_object (root);
  identity = g_new0 (EcsaInstanceIdentity, 1);
  identity->document = g_strdup (document);
  identity->instance_id = dup_member_string (object, "instanceId");
  identity->region = dup_member_string (object, "region");
  identity->availability_zone = dup_member_string (object, "availabilityZone");
  identity->instance_type = dup_member_string (object, "instanceType");
  if (identity->instance_id == NULL || *identity->instance_id == '\0' || identity->region == NULL
      || *identity->region == '\0')
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                           "instance identity document: 'instanceId' or 'region' is missing");
      return NULL;
    }
  return g_steal_pointer (&identity);
}

typedef struct
{
  EcsaInstanceIdentity *identity;
} IdentityData;

static void
identity_data_free (IdentityData *data)
{
  ecsa_instance_identity_free (data->identity);
  g_free (data);
}

static void
signature_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  IdentityData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *signature = ecsa_imds_get_finish (ECSA_IMDS (source), result, &error);

  if (signature == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      g_warning ("Unable to get the instance identity signature: %s", error->message);
    }
  data->identity->signature = g_steal_pointer (&signature);
  if (data->identity->signature != NULL)
    {
      EcsaImds *self = ECSA_IMDS (source);
      g_clear_pointer (&self->identity, ecsa_instance_identity_free);
      self->identity = ecsa_instance_identity_copy (data->identity);
    }
  g_task_return_pointer (task, g_steal_pointer (&data->identity), (GDestroyNotify) ecsa_instance_identity_free);
}

static void
document_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *document = ecsa_imds_get_finish (ECSA_IMDS (source), result, &error);
  EcsaInstanceIdentity *identity;
  IdentityData *data;

  if (document == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  identity = ecsa_instance_identity_parse (document, &error);
  if (identity == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  GCancellable *cancellable = g_task_get_cancellable (task);

  data = g_new0 (IdentityData, 1);
  data->identity = identity;
  g_task_set_task_data (task, data, (GDestroyNotify) identity_data_free);
  ecsa_imds_get_async (ECSA_IMDS (source), "dynamic/instance-identity/signature", cancellable, signature_ready_cb,
                       g_steal_pointer (&task));
}

void
ecsa_imds_get_instance_identity_async (EcsaImds *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data)
{
  GTask *task;

  g_return_if_fail (ECSA_IS_IMDS (self));
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_imds_get_instance_identity_async);
  if (self->identity != NULL)
    {
      g_task_return_pointer (task, ecsa_instance_identity_copy (self->identity),
                             (GDestroyNotify) ecsa_instance_identity_free);
      g_object_unref (task);
      return;
    }
  ecsa_imds_get_async (self, "dynamic/instance-identity/document", cancellable, document_ready_cb, task);
}

EcsaInstanceIdentity *
ecsa_imds_get_instance_identity_finish (EcsaImds *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, ecsa_imds_get_instance_identity_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

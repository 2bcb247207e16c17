/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-tcs-session.h"

#include <string.h>

#include "ecsa-sigv4.h"

struct _EcsaTcsSession
{
  EcsaWsSession parent_instance;

  EcsaTcsSessionHooks hooks;
  GSource *publish_timer;
  GCancellable *cancellable;
  guint64 publishing_on; /* connection id of the round being prepared */
};

G_DEFINE_TYPE (EcsaTcsSession, ecsa_tcs_session, ECSA_TYPE_WS_SESSION)

/* the container metrics of task metrics `m` (plugin ABI: an array of pointers) */
#define TASK_CONTAINER(m, i) ((m)->containers[i])

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

char *
ecsa_tcs_session_build_url (EcsaTcsSession *self, const char *endpoint)
{
  EcsaEcsClient *client = ecsa_ws_session_get_ecs_client (ECSA_WS_SESSION (self));
  const char *arn = ecsa_ecs_client_get_container_instance_arn (client);
  const char *pairs[] = { "cluster", ecsa_ecs_client_get_cluster (client), "containerInstance", arn != NULL ? arn : "",
                          NULL };
  g_autofree char *query = ecsa_ws_query_encode (pairs);

  return g_strconcat (endpoint, g_str_has_suffix (endpoint, "/") ? "" : "/", "ws?", query, NULL);
}

/* ------------------------------------------------------------------------------------------- */
/* frames */

static int
header_name_cmp (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GBytes *
ecsa_tcs_sign_frame (const char *url, GBytes *envelope, const char *region, const EcsaAwsCredentials *credentials,
                     GDateTime *when, GError **error)
{
  g_autoptr(GUri) uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, error);
  g_autoptr(GHashTable) headers = NULL;
  g_autoptr(GPtrArray) names = NULL;
  GString *frame;
  gsize len;
  const char *payload = g_bytes_get_data (envelope, &len);

  if (uri == NULL)
    return NULL;
  headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!ecsa_sigv4_sign_get_with_payload (uri, payload, len, "ecs", region, credentials, when, headers, error))
    return NULL;
  names = g_ptr_array_new ();
  {
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init (&iter, headers);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (names, key);
  }
  g_ptr_array_sort (names, header_name_cmp);
  frame = g_string_new (NULL);
  for (guint i = 0; i < names->len; i++)
    g_string_append_printf (frame, "%s: %s\r\n", (const char *) names->pdata[i],
                            (const char *) g_hash_table_lookup (headers, names->pdata[i]));
  g_string_append (frame, "\r\n");
  g_string_append_len (frame, payload, (gssize) len);
  len = frame->len;
  return g_bytes_new_take (g_string_free (frame, FALSE), len);
}

static GBytes *
tcs_encode_frame (EcsaWsSession *session, GBytes *envelope, GError **error)
{
  EcsaEcsClient *client = ecsa_ws_session_get_ecs_client (session);
  const EcsaAwsCredentials *credentials = ecsa_aws_credentials_provider_peek (ecsa_ecs_client_get_credentials (client));

  if (credentials == NULL)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_AUTH, "TCS: no valid AWS credentials to sign the frame with");
      return NULL;
    }
  return ecsa_tcs_sign_frame (ecsa_ws_session_get_url (session), envelope, ecsa_ecs_client_get_region (client),
                              credentials, NULL, error);
}

/* ------------------------------------------------------------------------------------------- */
/* PublishMetricsRequest */

static void
add_stats_set (JsonBuilder *b, const char *name, const EcsaStatSet *set)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "min");
  json_builder_add_double_value (b, set->min);
  json_builder_set_member_name (b, "max");
  json_builder_add_double_value (b, set->max);
  json_builder_set_member_name (b, "sampleCount");
  json_builder_add_int_value (b, (gint64) MIN (set->sample_count, (guint64) G_MAXINT32));
  json_builder_set_member_name (b, "sum");
  json_builder_add_double_value (b, set->sum);
  json_builder_end_object (b);
}

/* A TaskMetric, or NULL when none of its containers has samples yet. */
static JsonNode *
task_metric (const EcsaTaskMetrics *m)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  guint usable = 0;

  if (m == NULL || m->task_arn == NULL)
    return NULL;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "taskArn");
  json_builder_add_string_value (b, m->task_arn);
  json_builder_set_member_name (b, "taskDefinitionFamily");
  json_builder_add_string_value (b, m->family != NULL ? m->family : "");
  json_builder_set_member_name (b, "taskDefinitionVersion");
  json_builder_add_string_value (b, m->version != NULL ? m->version : "");
  json_builder_set_member_name (b, "containerMetrics");
  json_builder_begin_array (b);
  for (guint i = 0; m->containers != NULL && i < m->n_containers; i++)
    {
      const EcsaContainerMetrics *c = TASK_CONTAINER (m, i);

      if (c == NULL || c->cpu.sample_count == 0 || c->memory.sample_count == 0)
        continue; /* "stats not ready" */
      json_builder_begin_object (b);
      add_stats_set (b, "cpuStatsSet", &c->cpu);
      add_stats_set (b, "memoryStatsSet", &c->memory);
      json_builder_end_object (b);
      usable++;
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return usable > 0 ? json_builder_get_root (b) : NULL;
}

static JsonNode *
publish_request (const char *cluster, const char *container_instance, const char *message_id, gboolean idle,
                 gboolean fin, GPtrArray *task_metrics, guint from, guint to, gint64 now)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "cluster");
  json_builder_add_string_value (b, cluster);
  json_builder_set_member_name (b, "containerInstance");
  json_builder_add_string_value (b, container_instance);
  json_builder_set_member_name (b, "idle");
  json_builder_add_boolean_value (b, idle);
  json_builder_set_member_name (b, "messageId");
  json_builder_add_string_value (b, message_id);
  json_builder_set_member_name (b, "fin");
  json_builder_add_boolean_value (b, fin);
  json_builder_end_object (b);
  if (task_metrics != NULL)
    {
      json_builder_set_member_name (b, "taskMetrics");
      json_builder_begin_array (b);
      for (guint i = from; i < to; i++)
        json_builder_add_value (b, json_node_ref (g_ptr_array_index (task_metrics, i)));
      json_builder_end_array (b);
    }
  json_builder_set_member_name (b, "timestamp");
  json_builder_add_int_value (b, now / G_USEC_PER_SEC);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

GPtrArray *
ecsa_tcs_build_publish_requests (const char *cluster, const char *container_instance, GPtrArray *metrics, gint64 now)
{
  GPtrArray *requests = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  g_autoptr(GPtrArray) task_metrics = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  g_autofree char *message_id = g_uuid_string_random ();

  cluster = cluster != NULL ? cluster : "";
  container_instance = container_instance != NULL ? container_instance : "";
  if (metrics == NULL || metrics->len == 0)
    {
      g_ptr_array_add (requests, publish_request (cluster, container_instance, message_id, TRUE, TRUE, NULL, 0, 0, now));
      return requests;
    }
  for (guint i = 0; i < metrics->len; i++)
    {
      JsonNode *node = task_metric (g_ptr_array_index (metrics, i));
      if (node != NULL)
        g_ptr_array_add (task_metrics, node);
    }
  for (guint from = 0; from < task_metrics->len; from += ECSA_TCS_TASKS_PER_MESSAGE)
    {
      guint to = MIN (from + ECSA_TCS_TASKS_PER_MESSAGE, task_metrics->len);
      g_ptr_array_add (requests, publish_request (cluster, container_instance, message_id, FALSE,
                                                  to == task_metrics->len, task_metrics, from, to, now));
    }
  return requests;
}

typedef struct
{
  EcsaTcsSession *self;
  guint64 connection_id;
} PublishData;

static void
publish_credentials_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PublishData *data = user_data;
  g_autoptr(EcsaTcsSession) self = data->self;
  guint64 connection_id = data->connection_id;
  EcsaWsSession *session = ECSA_WS_SESSION (self);
  EcsaEcsClient *client = ecsa_ws_session_get_ecs_client (session);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaAwsCredentials) credentials = NULL;
  g_autoptr(GPtrArray) metrics = NULL;
  g_autoptr(GPtrArray) requests = NULL;

  g_free (data);
  credentials = ecsa_aws_credentials_provider_get_finish (ECSA_AWS_CREDENTIALS_PROVIDER (source), result, &error);
  if (credentials == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("TCS: error publishing metrics: %s", error->message);
      return;
    }
  if (connection_id != ecsa_ws_session_get_connection_id (session) || !ecsa_ws_session_is_connected (session))
    return;
  metrics = self->hooks.collect != NULL ? self->hooks.collect (self->hooks.metrics) : NULL;
  requests = ecsa_tcs_build_publish_requests (ecsa_ecs_client_get_cluster (client),
                                              ecsa_ecs_client_get_container_instance_arn (client), metrics,
                                              g_get_real_time ());
  if (requests->len == 0)
    g_debug ("TCS: no task metrics ready yet; nothing to publish");
  for (guint i = 0; i < requests->len; i++)
    if (!ecsa_ws_session_send (session, connection_id, "PublishMetricsRequest", g_ptr_array_index (requests, i),
                               &error))
      {
        g_warning ("TCS: error publishing metrics: %s", error->message);
        break;
      }
}

void
ecsa_tcs_session_publish (EcsaTcsSession *self)
{
  EcsaWsSession *session;
  PublishData *data;

  g_return_if_fail (ECSA_IS_TCS_SESSION (self));
  session = ECSA_WS_SESSION (self);
  if (!ecsa_ws_session_is_connected (session))
    return;
  data = g_new0 (PublishData, 1);
  data->self = g_object_ref (self);
  data->connection_id = ecsa_ws_session_get_connection_id (session);
  /* fresh credentials first: the frames are signed with them */
  ecsa_aws_credentials_provider_get_async (ecsa_ecs_client_get_credentials (ecsa_ws_session_get_ecs_client (session)),
                                           self->cancellable, publish_credentials_cb, data);
}

static gboolean
publish_timer_cb (gpointer user_data)
{
  EcsaTcsSession *self = user_data;

  clear_source (&self->publish_timer);
  ecsa_tcs_session_publish (self);
  self->publish_timer = ecsa_ws_session_add_timer (ECSA_WS_SESSION (self), ECSA_WS_TIMER_PUBLISH,
                                                   ECSA_TCS_PUBLISH_INTERVAL, publish_timer_cb, self);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------------------------------- */

static char *
tcs_build_url (EcsaWsSession *session, const EcsaPollEndpoints *endpoints, GError **error)
{
  if (endpoints->telemetry_endpoint == NULL || *endpoints->telemetry_endpoint == '\0')
    {
      g_set_error_literal (error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_HANDSHAKE,
                           "No telemetry endpoint returned; nil");
      return NULL;
    }
  return ecsa_tcs_session_build_url (ECSA_TCS_SESSION (session), endpoints->telemetry_endpoint);
}

static void
tcs_connected (EcsaWsSession *session)
{
  EcsaTcsSession *self = ECSA_TCS_SESSION (session);

  clear_source (&self->publish_timer);
  ecsa_tcs_session_publish (self);
  self->publish_timer = ecsa_ws_session_add_timer (session, ECSA_WS_TIMER_PUBLISH, ECSA_TCS_PUBLISH_INTERVAL,
                                                   publish_timer_cb, self);
}

static void
tcs_disconnected (EcsaWsSession *session, const GError *error)
{
  clear_source (&ECSA_TCS_SESSION (session)->publish_timer);
}

static void
tcs_handle_message (EcsaWsSession *session, const char *type, JsonObject *message)
{
  if (strcmp (type, "HeartbeatMessage") == 0)
    g_debug ("TCS: received HeartbeatMessage");
  else if (strcmp (type, "AckPublishMetric") == 0)
    g_debug ("TCS: received AckPublishMetric");
  else if (strcmp (type, "StopTelemetrySessionMessage") == 0)
    {
      g_info ("TCS: StopTelemetrySessionMessage received; reconnecting");
      ecsa_ws_session_reconnect (session, TRUE, "StopTelemetrySessionMessage");
    }
  else if (g_str_has_suffix (type, "Exception"))
    g_warning ("TCS: %s: %s", type, json_object_get_string_member_with_default (message, "message", ""));
  else
    g_info ("TCS: no handler for message type '%s', ignoring", type);
}

static void
ecsa_tcs_session_dispose (GObject *object)
{
  EcsaTcsSession *self = ECSA_TCS_SESSION (object);

  clear_source (&self->publish_timer);
  g_cancellable_cancel (self->cancellable);
  G_OBJECT_CLASS (ecsa_tcs_session_parent_class)->dispose (object);
}

static void
ecsa_tcs_session_finalize (GObject *object)
{
  g_clear_object (&ECSA_TCS_SESSION (object)->cancellable);
  G_OBJECT_CLASS (ecsa_tcs_session_parent_class)->finalize (object);
}

static void
ecsa_tcs_session_class_init (EcsaTcsSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  EcsaWsSessionClass *ws_class = ECSA_WS_SESSION_CLASS (klass);

  object_class->dispose = ecsa_tcs_session_dispose;
  object_class->finalize = ecsa_tcs_session_finalize;
  ws_class->build_url = tcs_build_url;
  ws_class->connected = tcs_connected;
  ws_class->disconnected = tcs_disconnected;
  ws_class->handle_message = tcs_handle_message;
  ws_class->encode_frame = tcs_encode_frame;
}

static void
ecsa_tcs_session_init (EcsaTcsSession *self)
{
  self->cancellable = g_cancellable_new ();
}

EcsaTcsSession *
ecsa_tcs_session_new (EcsaEcsClient *ecs_client, const EcsaTcsSessionHooks *hooks)
{
  static const EcsaWsSessionParams params = {
    .name = "TCS",
    .backoff_min = 1 * G_USEC_PER_SEC,
    .backoff_max = 60 * G_USEC_PER_SEC,
    .backoff_multiplier = 2.0,
    .backoff_jitter = 0.2,
    .silence_timeout = 60 * G_USEC_PER_SEC,
    .silence_jitter = 60 * G_USEC_PER_SEC,
    .backoff_reset_after = 0,
  };
  EcsaTcsSession *self;

  g_return_val_if_fail (ECSA_IS_ECS_CLIENT (ecs_client), NULL);

  self = g_object_new (ECSA_TYPE_TCS_SESSION, NULL);
  if (hooks != NULL)
    self->hooks = *hooks;
  ecsa_ws_session_setup (ECSA_WS_SESSION (self), &params, ecs_client);
  return self;
}

/* ecsl-tcs.c: the TCS websocket sessions of ecs-local (see ecsl-tcs.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-tcs.h"
#include "ecsl-http.h"
#include "ecsl-state.h"
#include "ecsl-util.h"

#include <string.h>

#define MAX_KEPT 256

struct _EcslTcs
{
  EcslContext *ctx;
  GPtrArray *conns; /* TcsConn* */
  GQueue metrics;   /* JsonNode*, newest last */
  GQueue rejected;  /* JsonNode*, newest last */
};

typedef struct
{
  EcslContext *ctx;
  SoupWebsocketConnection *ws;
  char *instance_arn;
  char *path;
  char *query;
  guint heartbeat_source;
  gulong message_handler;
  gulong closed_handler;
} TcsConn;

static void
conn_free (TcsConn *conn)
{
  if (conn->heartbeat_source != 0)
    g_source_remove (conn->heartbeat_source);
  if (conn->message_handler != 0)
    g_signal_handler_disconnect (conn->ws, conn->message_handler);
  if (conn->closed_handler != 0)
    g_signal_handler_disconnect (conn->ws, conn->closed_handler);
  g_clear_object (&conn->ws);
  g_free (conn->instance_arn);
  g_free (conn->path);
  g_free (conn->query);
  g_free (conn);
}

EcslTcs *
ecsl_tcs_new (EcslContext *ctx)
{
  EcslTcs *self = g_new0 (EcslTcs, 1);

  self->ctx = ctx;
  self->conns = g_ptr_array_new_with_free_func ((GDestroyNotify) conn_free);
  g_queue_init (&self->metrics);
  g_queue_init (&self->rejected);
  return self;
}

void
ecsl_tcs_free (EcslTcs *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->conns);
  g_queue_clear_full (&self->metrics, (GDestroyNotify) json_node_unref);
  g_queue_clear_full (&self->rejected, (GDestroyNotify) json_node_unref);
  g_free (self);
}

static void
keep (GQueue *queue, JsonNode *node)
{
  g_queue_push_tail (queue, node);
  while (g_queue_get_length (queue) > MAX_KEPT)
    json_node_unref (g_queue_pop_head (queue));
}

static void
record (EcslTcs *self, GQueue *queue, const char *instance, const char *type, JsonNode *message, const char *error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  ecsl_json_add_timestamp (b, "receivedAt", ecsl_now_ms ());
  json_builder_set_member_name (b, "containerInstance");
  json_builder_add_string_value (b, instance);
  if (type != NULL)
    {
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, type);
    }
  if (message != NULL)
    {
      json_builder_set_member_name (b, "message");
      json_builder_add_value (b, json_node_copy (message));
    }
  if (error != NULL)
    {
      json_builder_set_member_name (b, "error");
      json_builder_add_string_value (b, error);
    }
  json_builder_end_object (b);
  keep (queue, json_builder_get_root (b));
}

JsonNode *
ecsl_tcs_metrics_view (EcslTcs *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "metrics");
  json_builder_begin_array (b);
  for (GList *l = self->metrics.head; l != NULL; l = l->next)
    json_builder_add_value (b, json_node_copy (l->data));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "rejected");
  json_builder_begin_array (b);
  for (GList *l = self->rejected.head; l != NULL; l = l->next)
    json_builder_add_value (b, json_node_copy (l->data));
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
send_frame (TcsConn *conn, const char *type, JsonNode *message)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  if (soup_websocket_connection_get_state (conn->ws) != SOUP_WEBSOCKET_STATE_OPEN)
    {
      json_node_unref (message);
      return;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, type);
  json_builder_set_member_name (b, "message");
  json_builder_add_value (b, message);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = ecsl_json_to_string (root);
  soup_websocket_connection_send_text (conn->ws, text);
}

static JsonNode *
empty_message (const char *text)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  if (text != NULL)
    {
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, text);
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
reject (TcsConn *conn, const char *reason)
{
  EcslTcs *self = conn->ctx->tcs;

  g_warning ("TCS frame from %s refused: %s", conn->instance_arn, reason);
  record (self, &self->rejected, conn->instance_arn, NULL, NULL, reason);
  soup_websocket_connection_close (conn->ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "frame refused");
}

gboolean
ecsl_tcs_parse_frame (const char *data, gsize len, SoupMessageHeaders *headers, GBytes **out_body, GError **error)
{
  g_autofree char *copy = NULL;
  g_auto (GStrv) lines = NULL;
  char *sep;

  if (memchr (data, '\0', len) != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the frame holds a NUL byte");
      return FALSE;
    }
  copy = g_strndup (data, len);
  sep = strstr (copy, "\r\n\r\n");
  if (sep == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "the frame is not signed headers, a blank line and a JSON message");
      return FALSE;
    }
  *sep = '\0';
  lines = g_strsplit (copy, "\r\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *colon = strchr (lines[i], ':');
      if (colon == NULL || colon == lines[i])
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "header line %u of the frame has no name", i + 1);
          return FALSE;
        }
      *colon = '\0';
      soup_message_headers_append (headers, g_strstrip (lines[i]), g_strstrip (colon + 1));
    }
  *out_body = g_bytes_new (sep + 4, strlen (sep + 4));
  return TRUE;
}

void
ecsl_tcs_handle_message (EcslContext *ctx, const char *instance_arn, const char *type, JsonNode *message,
                         gpointer conn_or_null)
{
  EcslTcs *self = ctx->tcs;
  TcsConn *conn = conn_or_null;

  if (strcmp (type, "PublishMetricsRequest") == 0)
    {
      JsonObject *meta = ecsl_json_object_object (json_node_get_object (message), "metadata");
      JsonArray *tasks = ecsl_json_object_array (json_node_get_object (message), "taskMetrics");
      const char *instance = meta != NULL ? ecsl_json_object_string (meta, "containerInstance") : NULL;
      if (instance != NULL && strcmp (instance, instance_arn) != 0)
        {
          g_autofree char *reason = g_strdup_printf ("metadata.containerInstance %s is not this session's %s",
                                                     instance, instance_arn);
          if (conn != NULL)
            reject (conn, reason);
          return;
        }
      if (tasks != NULL && json_array_get_length (tasks) > 10)
        g_warning ("TCS: %s published metrics of %u tasks in one message (the agent sends at most 10)", instance_arn,
                   json_array_get_length (tasks));
      record (self, &self->metrics, instance_arn, type, message, NULL);
      g_debug ("TCS: metrics from %s (%u tasks)", instance_arn, tasks != NULL ? json_array_get_length (tasks) : 0);
      if (conn != NULL)
        send_frame (conn, "AckPublishMetric", empty_message (NULL));
    }
  else if (strcmp (type, "PublishHealthRequest") == 0 || strcmp (type, "PublishInstanceStatusRequest") == 0)
    {
      record (self, &self->metrics, instance_arn, type, message, NULL);
      if (conn != NULL)
        send_frame (conn, strcmp (type, "PublishHealthRequest") == 0 ? "AckPublishHealth" : "AckPublishInstanceStatus",
                    empty_message (NULL));
    }
  else
    g_message ("TCS: %s sent a message of type %s: ignored", instance_arn, type);
}

static void
message_cb (SoupWebsocketConnection *ws, gint kind, GBytes *data, gpointer user_data)
{
  TcsConn *conn = user_data;
  gsize len = 0;
  const char *text = g_bytes_get_data (data, &len);
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  const char *type;
  JsonObject *frame;
  JsonNode *message;

  if (!ecsl_tcs_parse_frame (text, len, headers, &body, &error))
    {
      reject (conn, error->message);
      return;
    }
  if (!ecsl_verify_signature (conn->ctx, "GET", conn->path, conn->query, headers, body, "ecs", NULL, &error))
    {
      g_autofree char *reason = g_strdup_printf ("%s: %s", ecsl_api_error_type (error), error->message);
      reject (conn, reason);
      return;
    }
  root = ecsl_json_parse (g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), "TCS message", &error);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      reject (conn, error != NULL ? error->message : "the message is not a JSON object");
      return;
    }
  frame = json_node_get_object (root);
  type = ecsl_json_object_string (frame, "type");
  message = json_object_get_member (frame, "message");
  if (type == NULL || message == NULL || !JSON_NODE_HOLDS_OBJECT (message))
    {
      reject (conn, "the message has no type or no message object");
      return;
    }
  ecsl_tcs_handle_message (conn->ctx, conn->instance_arn, type, message, conn);
}

static void
closed_cb (SoupWebsocketConnection *ws, gpointer user_data)
{
  TcsConn *conn = user_data;

  g_message ("TCS session of %s closed (code %u)", conn->instance_arn, soup_websocket_connection_get_close_code (ws));
  g_ptr_array_remove (conn->ctx->tcs->conns, conn);
}

static gboolean
heartbeat_cb (gpointer user_data)
{
  TcsConn *conn = user_data;
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "healthy");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_end_object (b);
  send_frame (conn, "HeartbeatMessage", json_builder_get_root (b));
  return G_SOURCE_CONTINUE;
}

gboolean
ecsl_tcs_check_handshake (EcslContext *ctx, SoupServerMessage *msg)
{
  GUri *uri = soup_server_message_get_uri (msg);
  const char *query = g_uri_get_query (uri);
  g_autoptr(GHashTable) params = query != NULL ? soup_form_decode (query) : NULL;
  const char *cluster_ref = params != NULL ? g_hash_table_lookup (params, "cluster") : NULL;
  const char *instance_ref = params != NULL ? g_hash_table_lookup (params, "containerInstance") : NULL;
  EcslCluster *cluster;
  EcslInstance *inst;

  if (!ecsl_http_verify_handshake (ctx, msg, "TCS"))
    return FALSE;
  if (cluster_ref == NULL || instance_ref == NULL)
    {
      g_message ("TCS handshake refused: no cluster or containerInstance in the query");
      ecsl_http_refuse_handshake (msg, 400, "BadRequestException", "The query must carry cluster and containerInstance.");
      return FALSE;
    }
  cluster = ecsl_state_find_cluster (ctx->state, cluster_ref);
  inst = cluster != NULL ? ecsl_state_find_instance (ctx->state, cluster, instance_ref) : NULL;
  if (inst == NULL || strcmp (inst->status, "INACTIVE") == 0)
    {
      g_message ("TCS handshake refused: no active container instance %s in cluster %s", instance_ref, cluster_ref);
      ecsl_http_refuse_handshake (msg, 400, "ResourceValidationException",
                                  "The container instance is not active in this cluster.");
      return FALSE;
    }
  g_object_set_data_full (G_OBJECT (msg), "ecsl-tcs-instance", g_strdup (inst->arn), g_free);
  return TRUE;
}

void
ecsl_tcs_connected (EcslContext *ctx, SoupServerMessage *msg, SoupWebsocketConnection *ws)
{
  const char *arn = g_object_get_data (G_OBJECT (msg), "ecsl-tcs-instance");
  GUri *uri = soup_server_message_get_uri (msg);
  TcsConn *conn;

  if (arn == NULL)
    {
      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "unknown container instance");
      return;
    }
  conn = g_new0 (TcsConn, 1);
  conn->ctx = ctx;
  conn->ws = g_object_ref (ws);
  conn->instance_arn = g_strdup (arn);
  conn->path = g_strdup (g_uri_get_path (uri));
  conn->query = g_strdup (g_uri_get_query (uri));
  conn->message_handler = g_signal_connect (ws, "message", G_CALLBACK (message_cb), conn);
  conn->closed_handler = g_signal_connect (ws, "closed", G_CALLBACK (closed_cb), conn);
  conn->heartbeat_source = g_timeout_add ((guint) ctx->config.heartbeat_ms, heartbeat_cb, conn);
  g_ptr_array_add (ctx->tcs->conns, conn);
  g_message ("TCS session of %s open", arn);
}

void
ecsl_tcs_close_all (EcslTcs *self)
{
  for (guint i = 0; i < self->conns->len; i++)
    {
      TcsConn *conn = g_ptr_array_index (self->conns, i);
      if (soup_websocket_connection_get_state (conn->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (conn->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "ecs-local is stopping");
    }
}

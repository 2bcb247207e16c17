/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-ws-session.h"

#include <string.h>

#include "ecsa-memory.h"
#include "ecsa-sigv4.h"
#include "ecsa-soup-call.h"

#define MAX_RESPONSE_HEAD (16 * 1024)
#define MAX_REFUSAL_BODY (64 * 1024)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* A clean close this soon after connecting counts as a flap: the next one backs off. */
#define QUICK_CLOSE (1 * G_USEC_PER_SEC)

G_DEFINE_QUARK (ecsa-ws-session-error-quark, ecsa_ws_session_error)

typedef enum
{
  LOCAL_CLOSE_NONE = 0,
  LOCAL_CLOSE_SILENCE,
  LOCAL_CLOSE_STOP,
  LOCAL_CLOSE_RECONNECT_NOW,
  LOCAL_CLOSE_RECONNECT_BACKOFF,
} LocalClose;

typedef struct
{
  EcsaWsSessionParams params;
  char *name;
  EcsaEcsClient *ecs_client;
  EcsaBackoff *backoff;
  GRand *rand;
  EcsaWsTimerFactory factory;
  gpointer factory_data;
  gboolean running;

  /* the attempt in progress */
  GCancellable *attempt;
  gboolean attempt_timed_out;
  char *url;
  GUri *uri;
  char *ws_key;
  GIOStream *stream;
  GString *head;
  char head_byte;
  GByteArray *body;
  guint status;
  SoupMessageHeaders *response_headers;
  GSource *deadline_timer;

  /* the connection */
  SoupWebsocketConnection *conn;
  guint64 connection_id;
  gint64 connected_at;
  gboolean previous_close_was_quick;
  LocalClose local_close;
  char *local_close_why;
  GSource *reconnect_timer;
  GSource *silence_timer;
  GSource *reset_timer;
} EcsaWsSessionPrivate;

G_DEFINE_TYPE_WITH_PRIVATE (EcsaWsSession, ecsa_ws_session, G_TYPE_OBJECT)

#define PRIV(self) ((EcsaWsSessionPrivate *) ecsa_ws_session_get_instance_private (self))

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void begin_attempt (EcsaWsSession *self);
static void drop_connection (EcsaWsSession *self);

/* ------------------------------------------------------------------------------------------- */
/* helpers */

char *
ecsa_ws_query_encode (const char *const *pairs)
{
  g_autoptr(GPtrArray) keys = g_ptr_array_new ();
  g_autoptr(GHashTable) values = g_hash_table_new (g_str_hash, g_str_equal);
  GString *out = g_string_new (NULL);

  for (guint i = 0; pairs[i] != NULL && pairs[i + 1] != NULL; i += 2)
    {
      if (!g_hash_table_contains (values, pairs[i]))
        g_ptr_array_add (keys, (gpointer) pairs[i]);
      g_hash_table_replace (values, (gpointer) pairs[i], (gpointer) pairs[i + 1]);
    }
  /* sort.Strings: byte order (a handful of keys: insertion sort) */
  for (guint i = 1; i < keys->len; i++)
    for (guint j = i; j > 0 && strcmp (keys->pdata[j - 1], keys->pdata[j]) > 0; j--)
      {
        gpointer t = keys->pdata[j];
        keys->pdata[j] = keys->pdata[j - 1];
        keys->pdata[j - 1] = t;
      }
  for (guint i = 0; i < keys->len; i++)
    {
      const char *parts[2] = { keys->pdata[i], g_hash_table_lookup (values, keys->pdata[i]) };

      if (i > 0)
        g_string_append_c (out, '&');
      for (guint k = 0; k < 2; k++)
        {
          for (const guchar *p = (const guchar *) parts[k]; *p != '\0'; p++)
            {
              if (g_ascii_isalnum (*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
                g_string_append_c (out, (char) *p);
              else if (*p == ' ')
                g_string_append_c (out, '+');
              else
                g_string_append_printf (out, "%%%02X", *p);
            }
          if (k == 0)
            g_string_append_c (out, '=');
        }
    }
  return g_string_free (out, FALSE);
}

GBytes *
ecsa_ws_build_envelope (const char *type, JsonNode *message)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  gsize len;
  char *text;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, type);
  json_builder_set_member_name (b, "message");
  if (message != NULL)
    json_builder_add_value (b, json_node_copy (message));
  else
    {
      json_builder_begin_object (b);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, &len);
  return g_bytes_new_take (text, len);
}

gboolean
ecsa_ws_parse_frame (const char *data, gsize len, char **out_type, JsonObject **out_message, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local = NULL;
  JsonNode *root, *type_node, *message_node;
  JsonObject *o;

  if (data == NULL || len == 0)
    {
      g_set_error_literal (error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_BAD_FRAME, "empty frame");
      return FALSE;
    }
  if (len > G_MAXSSIZE || !json_parser_load_from_data (parser, data, (gssize) len, &local))
    {
      g_set_error (error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_BAD_FRAME, "frame is not JSON: %s",
                   local != NULL ? local->message : "too long");
      return FALSE;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_BAD_FRAME,
                           "frame is not a JSON object");
      return FALSE;
    }
  o = json_node_get_object (root);
  type_node = json_object_get_member (o, "type");
  if (type_node != NULL && JSON_NODE_HOLDS_VALUE (type_node) && json_node_get_value_type (type_node) == G_TYPE_STRING
      && *json_node_get_string (type_node) != '\0')
    {
      message_node = json_object_get_member (o, "message");
      if (message_node != NULL && !JSON_NODE_HOLDS_OBJECT (message_node) && !JSON_NODE_HOLDS_NULL (message_node))
        {
          g_set_error (error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_BAD_FRAME,
                       "frame '%s': 'message' is not an object", json_node_get_string (type_node));
          return FALSE;
        }
      *out_type = g_strdup (json_node_get_string (type_node));
      *out_message = message_node != NULL && JSON_NODE_HOLDS_OBJECT (message_node)
                       ? json_object_ref (json_node_get_object (message_node))
                       : json_object_new ();
      return TRUE;
    }
  /* v1.16.2 DecodeConnectionError: a bare {"<ExceptionName>":"<text>"} */
  if (type_node == NULL && json_object_get_size (o) == 1)
    {
      g_autoptr(GList) members = json_object_get_members (o);
      JsonNode *value = json_object_get_member (o, members->data);

      if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING
          && *(const char *) members->data != '\0')
        {
          JsonObject *message = json_object_new ();
          json_object_set_string_member (message, "message", json_node_get_string (value));
          *out_type = g_strdup (members->data);
          *out_message = message;
          return TRUE;
        }
    }
  g_set_error_literal (error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_BAD_FRAME,
                       "frame has no 'type' string");
  return FALSE;
}

/* ------------------------------------------------------------------------------------------- */
/* timers */

GSource *
ecsa_ws_session_add_timer (EcsaWsSession *self, EcsaWsTimer which, GTimeSpan delay, GSourceFunc func,
                           gpointer user_data)
{
  EcsaWsSessionPrivate *priv = PRIV (self);
  GSource *source;

  if (delay < 0)
    delay = 0;
  if (priv->factory != NULL)
    source = priv->factory (which, delay, priv->factory_data);
  else
    source = g_timeout_source_new ((guint) MIN ((delay + 999) / 1000, (GTimeSpan) G_MAXUINT32 / 2));
  g_source_set_callback (source, func, user_data, NULL);
  g_source_attach (source, g_main_context_get_thread_default ());
  return source;
}

void
ecsa_ws_session_set_timer_factory (EcsaWsSession *self, EcsaWsTimerFactory factory, gpointer user_data)
{
  g_return_if_fail (ECSA_IS_WS_SESSION (self));
  PRIV (self)->factory = factory;
  PRIV (self)->factory_data = user_data;
}

void
ecsa_ws_session_set_rand (EcsaWsSession *self, GRand *rand)
{
  g_return_if_fail (ECSA_IS_WS_SESSION (self));
  PRIV (self)->rand = rand;
  if (PRIV (self)->backoff != NULL)
    ecsa_backoff_set_rand (PRIV (self)->backoff, rand);
}

EcsaBackoff *
ecsa_ws_session_get_backoff (EcsaWsSession *self)
{
  g_return_val_if_fail (ECSA_IS_WS_SESSION (self), NULL);
  return PRIV (self)->backoff;
}

/* ------------------------------------------------------------------------------------------- */
/* object */

static void
ecsa_ws_session_dispose (GObject *object)
{
  EcsaWsSession *self = ECSA_WS_SESSION (object);
  EcsaWsSessionPrivate *priv = PRIV (self);

  priv->running = FALSE;
  if (priv->attempt != NULL)
    g_cancellable_cancel (priv->attempt);
  clear_source (&priv->reconnect_timer);
  clear_source (&priv->deadline_timer);
  drop_connection (self);
  G_OBJECT_CLASS (ecsa_ws_session_parent_class)->dispose (object);
}

static void
ecsa_ws_session_finalize (GObject *object)
{
  EcsaWsSessionPrivate *priv = PRIV (ECSA_WS_SESSION (object));

  g_clear_object (&priv->attempt);
  g_clear_object (&priv->stream);
  g_clear_object (&priv->ecs_client);
  g_clear_pointer (&priv->backoff, ecsa_backoff_free);
  g_clear_pointer (&priv->uri, g_uri_unref);
  g_clear_pointer (&priv->response_headers, soup_message_headers_unref);
  if (priv->head != NULL)
    g_string_free (priv->head, TRUE);
  g_clear_pointer (&priv->body, g_byte_array_unref);
  g_free (priv->url);
  g_free (priv->ws_key);
  g_free (priv->name);
  g_free (priv->local_close_why);
  G_OBJECT_CLASS (ecsa_ws_session_parent_class)->finalize (object);
}

static void
ecsa_ws_session_class_init (EcsaWsSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ecsa_ws_session_dispose;
  object_class->finalize = ecsa_ws_session_finalize;
}

static void
ecsa_ws_session_init (EcsaWsSession *self)
{
}

void
ecsa_ws_session_setup (EcsaWsSession *self, const EcsaWsSessionParams *params, EcsaEcsClient *ecs_client)
{
  EcsaWsSessionPrivate *priv;

  g_return_if_fail (ECSA_IS_WS_SESSION (self));
  g_return_if_fail (params != NULL && ECSA_IS_ECS_CLIENT (ecs_client));

  priv = PRIV (self);
  priv->params = *params;
  priv->name = g_strdup (params->name);
  priv->params.name = priv->name;
  g_set_object (&priv->ecs_client, ecs_client);
  g_clear_pointer (&priv->backoff, ecsa_backoff_free);
  priv->backoff = ecsa_backoff_new (params->backoff_min, params->backoff_max, params->backoff_jitter,
                                    params->backoff_multiplier);
  ecsa_backoff_set_rand (priv->backoff, priv->rand);
}

gboolean
ecsa_ws_session_is_connected (EcsaWsSession *self)
{
  g_return_val_if_fail (ECSA_IS_WS_SESSION (self), FALSE);
  return PRIV (self)->conn != NULL
         && soup_websocket_connection_get_state (PRIV (self)->conn) == SOUP_WEBSOCKET_STATE_OPEN;
}

guint64
ecsa_ws_session_get_connection_id (EcsaWsSession *self)
{
  g_return_val_if_fail (ECSA_IS_WS_SESSION (self), 0);
  return PRIV (self)->connection_id;
}

EcsaEcsClient *
ecsa_ws_session_get_ecs_client (EcsaWsSession *self)
{
  g_return_val_if_fail (ECSA_IS_WS_SESSION (self), NULL);
  return PRIV (self)->ecs_client;
}

const char *
ecsa_ws_session_get_name (EcsaWsSession *self)
{
  g_return_val_if_fail (ECSA_IS_WS_SESSION (self), NULL);
  return PRIV (self)->name;
}

const char *
ecsa_ws_session_get_url (EcsaWsSession *self)
{
  g_return_val_if_fail (ECSA_IS_WS_SESSION (self), NULL);
  return PRIV (self)->url;
}

/* ------------------------------------------------------------------------------------------- */
/* scheduling */

static gboolean
reconnect_timer_cb (gpointer user_data)
{
  EcsaWsSession *self = user_data;

  clear_source (&PRIV (self)->reconnect_timer);
  if (PRIV (self)->running)
    begin_attempt (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (EcsaWsSession *self, GTimeSpan delay)
{
  EcsaWsSessionPrivate *priv = PRIV (self);

  clear_source (&priv->reconnect_timer);
  if (!priv->running)
    return;
  if (delay <= 0)
    g_info ("%s: reconnecting now", priv->name);
  else
    g_info ("%s: reconnecting in %.3f s", priv->name, (double) delay / G_USEC_PER_SEC);
  priv->reconnect_timer = ecsa_ws_session_add_timer (self, ECSA_WS_TIMER_RECONNECT, delay, reconnect_timer_cb, self);
}

static void
clear_attempt (EcsaWsSession *self)
{
  EcsaWsSessionPrivate *priv = PRIV (self);

  clear_source (&priv->deadline_timer);
  if (priv->attempt != NULL)
    g_cancellable_cancel (priv->attempt);
  g_clear_object (&priv->attempt);
  if (priv->stream != NULL)
    {
      g_io_stream_close_async (priv->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      g_clear_object (&priv->stream);
    }
  if (priv->head != NULL)
    g_string_free (g_steal_pointer (&priv->head), TRUE);
  g_clear_pointer (&priv->body, g_byte_array_unref);
  g_clear_pointer (&priv->response_headers, soup_message_headers_unref);
  g_clear_pointer (&priv->ws_key, g_free);
}

/* The attempt failed: back off (or wait what the subclass chose) and try again. */
static void
attempt_failed (EcsaWsSession *self, const GError *error, GTimeSpan delay)
{
  EcsaWsSessionPrivate *priv = PRIV (self);
  EcsaWsSessionClass *klass = ECSA_WS_SESSION_GET_CLASS (self);

  clear_attempt (self);
  if (!priv->running)
    return;
  g_warning ("%s: error connecting to '%s': %s", priv->name, priv->url != NULL ? priv->url : "(discovery)",
             error->message);
  if (klass->disconnected != NULL)
    klass->disconnected (self, error);
  schedule_reconnect (self, delay >= 0 ? delay : ecsa_backoff_next (priv->backoff));
}

/* ------------------------------------------------------------------------------------------- */
/* the connection */

static gboolean
silence_timer_cb (gpointer user_data)
{
  EcsaWsSession *self = user_data;
  EcsaWsSessionPrivate *priv = PRIV (self);

  clear_source (&priv->silence_timer);
  g_warning ("%s: connection hasn't had any activity for too long; closing connection", priv->name);
  priv->local_close = LOCAL_CLOSE_SILENCE;
  if (priv->conn != NULL)
    soup_websocket_connection_close (priv->conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "no activity");
  return G_SOURCE_REMOVE;
}

static void
arm_silence_timer (EcsaWsSession *self)
{
  EcsaWsSessionPrivate *priv = PRIV (self);

  clear_source (&priv->silence_timer);
  if (priv->params.silence_timeout <= 0)
    return;
  priv->silence_timer = ecsa_ws_session_add_timer (
    self, ECSA_WS_TIMER_SILENCE, ecsa_add_jitter (priv->params.silence_timeout, priv->params.silence_jitter, priv->rand),
    silence_timer_cb, self);
}

static gboolean
reset_timer_cb (gpointer user_data)
{
  EcsaWsSession *self = user_data;

  clear_source (&PRIV (self)->reset_timer);
  ecsa_backoff_reset (PRIV (self)->backoff);
  return G_SOURCE_REMOVE;
}

static void
handle_frame (EcsaWsSession *self, const char *data, gsize len)
{
  EcsaWsSessionPrivate *priv = PRIV (self);
  EcsaWsSessionClass *klass = ECSA_WS_SESSION_GET_CLASS (self);
  g_autoptr(GError) error = NULL;
  g_autofree char *type = NULL;
  g_autoptr(JsonObject) object = NULL;

  if (!ecsa_ws_parse_frame (data, len, &type, &object, &error))
    {
      /* never the content: it may carry credentials */
      g_warning ("%s: unable to handle a %" G_GSIZE_FORMAT "-byte message: %s, ignoring", priv->name, len,
                 error->message);
      return;
    }
  g_debug ("%s: received message of type '%s'", priv->name, type);
  g_object_ref (self);
  if (klass->handle_message != NULL)
    klass->handle_message (self, type, object);
  g_object_unref (self);
}

void
ecsa_ws_session_feed (EcsaWsSession *self, const char *data, gsize len)
{
  g_return_if_fail (ECSA_IS_WS_SESSION (self));
  handle_frame (self, data, len);
}

static void
ws_message_cb (SoupWebsocketConnection *conn, gint data_type, GBytes *message, gpointer user_data)
{
  EcsaWsSession *self = user_data;
  gsize len;
  const char *data = g_bytes_get_data (message, &len);

  arm_silence_timer (self);
  if (data_type != SOUP_WEBSOCKET_DATA_TEXT)
    g_warning ("%s: unexpected binary frame (%" G_GSIZE_FORMAT " bytes)", PRIV (self)->name, len);
  handle_frame (self, data, len);
}

static void
ws_error_cb (SoupWebsocketConnection *conn, GError *error, gpointer user_data)
{
  EcsaWsSession *self = user_data;

  g_warning ("%s: websocket error: %s", PRIV (self)->name, error->message);
}

static void
drop_connection (EcsaWsSession *self)
{
  EcsaWsSessionPrivate *priv = PRIV (self);

  clear_source (&priv->silence_timer);
  clear_source (&priv->reset_timer);
  if (priv->conn != NULL)
    {
      g_signal_handlers_disconnect_by_data (priv->conn, self);
      if (soup_websocket_connection_get_state (priv->conn) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (priv->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_clear_object (&priv->conn);
    }
}

static void
ws_closed_cb (SoupWebsocketConnection *conn, gpointer user_data)
{
  g_autoptr(EcsaWsSession) self = g_object_ref (ECSA_WS_SESSION (user_data));
  EcsaWsSessionPrivate *priv = PRIV (self);
  EcsaWsSessionClass *klass = ECSA_WS_SESSION_GET_CLASS (self);
  gushort code = soup_websocket_connection_get_close_code (conn);
  const char *data = soup_websocket_connection_get_close_data (conn);
  LocalClose local = priv->local_close;
  gboolean quick = g_get_monotonic_time () - priv->connected_at
                   < (priv->params.flap_window > 0 ? priv->params.flap_window : QUICK_CLOSE);
  gboolean clean;
  g_autoptr(GError) error = NULL;

  if (code == 0)
    code = SOUP_WEBSOCKET_CLOSE_ABNORMAL;
  priv->local_close = LOCAL_CLOSE_NONE;
  drop_connection (self);

  switch (local)
    {
    case LOCAL_CLOSE_SILENCE:
      error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s connection closed after a silence", priv->name);
      clean = FALSE;
      break;
    case LOCAL_CLOSE_STOP:
      clean = TRUE;
      break;
    case LOCAL_CLOSE_RECONNECT_NOW:
      g_info ("%s: connection closed (%s)", priv->name, priv->local_close_why != NULL ? priv->local_close_why : "");
      clean = TRUE;
      break;
    case LOCAL_CLOSE_RECONNECT_BACKOFF:
      error = g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED, "%s connection closed: %s", priv->name,
                           priv->local_close_why != NULL ? priv->local_close_why : "");
      clean = FALSE;
      break;
    case LOCAL_CLOSE_NONE:
    default:
      clean = code == SOUP_WEBSOCKET_CLOSE_NORMAL || code == SOUP_WEBSOCKET_CLOSE_GOING_AWAY
              || code == SOUP_WEBSOCKET_CLOSE_ABNORMAL || code == SOUP_WEBSOCKET_CLOSE_SERVER_ERROR;
      if (clean)
        g_info ("%s websocket connection closed for a valid reason (%u%s%s)", priv->name, code,
                data != NULL && *data != '\0' ? ": " : "", data != NULL ? data : "");
      else
        error = g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "%s connection closed by the server (%u%s%s)",
                             priv->name, code, data != NULL && *data != '\0' ? ": " : "", data != NULL ? data : "");
      break;
    }
  if (error != NULL)
    g_warning ("%s", error->message);
  if (klass->disconnected != NULL)
    klass->disconnected (self, error);
  if (!priv->running || local == LOCAL_CLOSE_STOP)
    return;
  if (clean && !(quick && priv->previous_close_was_quick))
    {
      priv->previous_close_was_quick = quick;
      ecsa_backoff_reset (priv->backoff);
      schedule_reconnect (self, 0);
      return;
    }
  priv->previous_close_was_quick = quick && clean;
  schedule_reconnect (self, ecsa_backoff_next (priv->backoff));
}

static void
connection_established (EcsaWsSession *self)
{
  EcsaWsSessionPrivate *priv = PRIV (self);
  EcsaWsSessionClass *klass = ECSA_WS_SESSION_GET_CLASS (self);
  g_autoptr(GIOStream) stream = g_steal_pointer (&priv->stream);

  clear_attempt (self);
  /* The connect timeout of the socket client stays on the socket; once the websocket is open,
   * silence is the session's silence timer's business (a quiet ACS is not an I/O error). */
  if (G_IS_SOCKET_CONNECTION (stream))
    g_socket_set_timeout (g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream)), 0);
  priv->conn = soup_websocket_connection_new (stream, priv->uri, SOUP_WEBSOCKET_CONNECTION_CLIENT, NULL, NULL, NULL);
  g_object_set (priv->conn, "max-incoming-payload-size", (guint64) ECSA_WS_MAX_FRAME, "keepalive-interval", 0, NULL);
  g_signal_connect (priv->conn, "message", G_CALLBACK (ws_message_cb), self);
  g_signal_connect (priv->conn, "closed", G_CALLBACK (ws_closed_cb), self);
  g_signal_connect (priv->conn, "error", G_CALLBACK (ws_error_cb), self);
  priv->connection_id++;
  priv->connected_at = g_get_monotonic_time ();
  priv->local_close = LOCAL_CLOSE_NONE;
  g_info ("Connected to %s endpoint", priv->name);
  arm_silence_timer (self);
  if (priv->params.backoff_reset_after > 0)
    priv->reset_timer = ecsa_ws_session_add_timer (
      self, ECSA_WS_TIMER_BACKOFF_RESET,
      ecsa_add_jitter (priv->params.backoff_reset_after, priv->params.backoff_reset_jitter, priv->rand), reset_timer_cb,
      self);
  if (klass->connected != NULL)
    klass->connected (self);
  /* the start-up (or a reconnection) and its TLS handshake left freed memory behind */
  ecsa_memory_release_soon ();
}

/* ------------------------------------------------------------------------------------------- */
/* the handshake */

static GTimeSpan
connect_timeout (EcsaWsSession *self)
{
  EcsaWsSessionPrivate *priv = PRIV (self);

  return priv->params.connect_timeout > 0 ? priv->params.connect_timeout : ECSA_WS_CONNECT_TIMEOUT;
}

static GError *
attempt_error (EcsaWsSession *self, GError *error)
{
  EcsaWsSessionPrivate *priv = PRIV (self);

  if (priv->attempt_timed_out && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_error_free (error);
      return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "connecting timed out after %d s",
                          (int) MAX (connect_timeout (self) / G_USEC_PER_SEC, 1));
    }
  return error;
}

/* Callbacks of an attempt carry the attempt's cancellable: a stale one (the attempt was replaced
 * or the session stopped) is ignored. */
typedef struct
{
  EcsaWsSession *self;
  GCancellable *attempt;
} AttemptRef;

static AttemptRef *
attempt_ref (EcsaWsSession *self)
{
  AttemptRef *ref = g_new0 (AttemptRef, 1);

  ref->self = g_object_ref (self);
  ref->attempt = g_object_ref (PRIV (self)->attempt);
  return ref;
}

static gboolean
attempt_current (AttemptRef *ref)
{
  return PRIV (ref->self)->attempt == ref->attempt && !g_cancellable_is_cancelled (ref->attempt);
}

static void
attempt_ref_free (AttemptRef *ref)
{
  g_object_unref (ref->self);
  g_object_unref (ref->attempt);
  g_free (ref);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AttemptRef, attempt_ref_free)

/* A chunked body is complete when its last (zero) chunk and trailer end were read. */
static gboolean
dechunk (const guint8 *data, gsize len, GByteArray *out, gboolean *complete)
{
  gsize pos = 0;

  *complete = FALSE;
  g_byte_array_set_size (out, 0);
  for (;;)
    {
      const guint8 *eol = memchr (data + pos, '\n', len - pos);
      guint64 size;

      if (eol == NULL)
        return TRUE;
      size = g_ascii_strtoull ((const char *) data + pos, NULL, 16);
      pos = (gsize) (eol - data) + 1;
      if (size == 0)
        {
          *complete = memchr (data + pos, '\n', len - pos) != NULL;
          return TRUE;
        }
      if (size > MAX_REFUSAL_BODY || pos + size + 2 > len)
        return size <= MAX_REFUSAL_BODY;
      g_byte_array_append (out, data + pos, (guint) size);
      pos += size + 2;
    }
}

static void refusal_read_next (AttemptRef *ref);

static void
refusal_done (AttemptRef *ref)
{
  EcsaWsSession *self = ref->self;
  EcsaWsSessionPrivate *priv = PRIV (self);
  EcsaWsSessionClass *klass = ECSA_WS_SESSION_GET_CLASS (self);
  const char *encoding = soup_message_headers_get_one (priv->response_headers, "Transfer-Encoding");
  g_autoptr(GByteArray) body = g_byte_array_new ();
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  GTimeSpan delay = -1;
  guint status = priv->status;

  if (encoding != NULL && g_ascii_strcasecmp (encoding, "chunked") == 0)
    {
      gboolean complete;
      dechunk (priv->body->data, priv->body->len, body, &complete);
    }
  else
    g_byte_array_append (body, priv->body->data, priv->body->len);
  text = body->len > 0 ? g_strndup ((const char *) body->data, body->len) : g_strdup ("");
  g_strstrip (text);
  error = g_error_new (ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_REFUSED, "handshake refused with HTTP %u%s%s",
                       status, *text != '\0' ? ": " : "", text);
  if (klass->refused != NULL)
    delay = klass->refused (self, status, text);
  attempt_failed (self, error, delay);
}

static void
refusal_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(AttemptRef) ref = user_data;
  EcsaWsSessionPrivate *priv;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  const char *length_header, *encoding;

  if (!attempt_current (ref))
    return;
  priv = PRIV (ref->self);
  if (chunk == NULL || g_bytes_get_size (chunk) == 0)
    {
      refusal_done (ref); /* EOF or error: what we have is the body */
      return;
    }
  g_byte_array_append (priv->body, g_bytes_get_data (chunk, NULL), (guint) g_bytes_get_size (chunk));
  length_header = soup_message_headers_get_one (priv->response_headers, "Content-Length");
  encoding = soup_message_headers_get_one (priv->response_headers, "Transfer-Encoding");
  if (priv->body->len >= MAX_REFUSAL_BODY
      || (length_header != NULL && priv->body->len >= g_ascii_strtoull (length_header, NULL, 10)))
    {
      refusal_done (ref);
      return;
    }
  if (encoding != NULL && g_ascii_strcasecmp (encoding, "chunked") == 0)
    {
      g_autoptr(GByteArray) tmp = g_byte_array_new ();
      gboolean complete = FALSE;

      dechunk (priv->body->data, priv->body->len, tmp, &complete);
      if (complete)
        {
          refusal_done (ref);
          return;
        }
    }
  refusal_read_next (g_steal_pointer (&ref));
}

static void
refusal_read_next (AttemptRef *ref)
{
  EcsaWsSessionPrivate *priv = PRIV (ref->self);

  g_input_stream_read_bytes_async (g_io_stream_get_input_stream (priv->stream), 4096, G_PRIORITY_DEFAULT,
                                   priv->attempt, refusal_read_cb, ref);
}

static gboolean
header_has_token (SoupMessageHeaders *headers, const char *name, const char *token)
{
  const char *value = soup_message_headers_get_list (headers, name);
  g_auto(GStrv) parts = NULL;

  if (value == NULL)
    return FALSE;
  parts = g_strsplit (value, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (g_ascii_strcasecmp (g_strstrip (parts[i]), token) == 0)
      return TRUE;
  return FALSE;
}

static void
head_complete (AttemptRef *owned_ref)
{
  g_autoptr(AttemptRef) ref = owned_ref;
  EcsaWsSession *self = ref->self;
  EcsaWsSessionPrivate *priv = PRIV (self);
  g_autoptr(GError) error = NULL;
  SoupHTTPVersion version;
  guint status = 0;
  g_autofree char *reason = NULL;
  g_autofree char *expected = NULL;
  const char *accept;

  priv->response_headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  if (!soup_headers_parse_response (priv->head->str, (int) priv->head->len, priv->response_headers, &version, &status,
                                    &reason))
    {
      error = g_error_new_literal (ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_HANDSHAKE,
                                   "the handshake answer is not HTTP");
      attempt_failed (self, error, -1);
      return;
    }
  priv->status = status;
  if (status != SOUP_STATUS_SWITCHING_PROTOCOLS)
    {
      priv->body = g_byte_array_new ();
      if (g_strcmp0 (soup_message_headers_get_one (priv->response_headers, "Content-Length"), "0") == 0)
        refusal_done (ref);
      else
        refusal_read_next (g_steal_pointer (&ref));
      return;
    }
  {
    g_autofree char *concat = g_strconcat (priv->ws_key, WS_GUID, NULL);
    g_autoptr(GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
    guint8 digest[20];
    gsize digest_len = sizeof digest;

    g_checksum_update (sha1, (const guchar *) concat, -1);
    g_checksum_get_digest (sha1, digest, &digest_len);
    expected = g_base64_encode (digest, digest_len);
  }
  accept = soup_message_headers_get_one (priv->response_headers, "Sec-WebSocket-Accept");
  if (!header_has_token (priv->response_headers, "Upgrade", "websocket")
      || !header_has_token (priv->response_headers, "Connection", "upgrade") || g_strcmp0 (accept, expected) != 0)
    {
      error = g_error_new_literal (ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_HANDSHAKE,
                                   "the server's 101 answer is not a valid websocket handshake");
      attempt_failed (self, error, -1);
      return;
    }
  connection_established (self);
}

static void head_read_next (AttemptRef *ref);

static void
head_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(AttemptRef) ref = user_data;
  EcsaWsSessionPrivate *priv;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (!attempt_current (ref))
    return;
  priv = PRIV (ref->self);
  if (n <= 0)
    {
      if (error == NULL)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                     "the server closed the connection during the handshake");
      error = attempt_error (ref->self, g_steal_pointer (&error));
      attempt_failed (ref->self, error, -1);
      return;
    }
  g_string_append_c (priv->head, priv->head_byte);
  if (g_str_has_suffix (priv->head->str, "\r\n\r\n") || g_str_has_suffix (priv->head->str, "\n\n"))
    {
      head_complete (g_steal_pointer (&ref));
      return;
    }
  if (priv->head->len >= MAX_RESPONSE_HEAD)
    {
      error = g_error_new (ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_HANDSHAKE,
                           "the handshake answer's headers exceed %d bytes", MAX_RESPONSE_HEAD);
      attempt_failed (ref->self, error, -1);
      return;
    }
  head_read_next (g_steal_pointer (&ref));
}

/* One byte at a time: nothing past the handshake answer may be consumed, since the websocket
 * frames that follow belong to SoupWebsocketConnection. */
static void
head_read_next (AttemptRef *ref)
{
  EcsaWsSessionPrivate *priv = PRIV (ref->self);

  g_input_stream_read_async (g_io_stream_get_input_stream (priv->stream), &priv->head_byte, 1, G_PRIORITY_DEFAULT,
                             priv->attempt, head_read_cb, ref);
}

static void
request_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(AttemptRef) ref = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      if (attempt_current (ref))
        attempt_failed (ref->self, attempt_error (ref->self, g_steal_pointer (&error)), -1);
      return;
    }
  if (!attempt_current (ref))
    return;
  PRIV (ref->self)->head = g_string_new (NULL);
  head_read_next (g_steal_pointer (&ref));
}

static char *
host_header (GUri *uri)
{
  const char *host = g_uri_get_host (uri);
  int port = g_uri_get_port (uri);
  gboolean ipv6 = strchr (host, ':') != NULL;

  /* as written in the URL (Go signs and sends URL.Host) */
  if (port == -1)
    return ipv6 ? g_strdup_printf ("[%s]", host) : g_strdup (host);
  return ipv6 ? g_strdup_printf ("[%s]:%d", host, port) : g_strdup_printf ("%s:%d", host, port);
}

static GBytes *
build_handshake (EcsaWsSession *self, const EcsaAwsCredentials *credentials)
{
  EcsaWsSessionPrivate *priv = PRIV (self);
  g_autoptr(EcsaSigv4Request) req = NULL;
  g_autofree char *host = host_header (priv->uri);
  g_autofree char *amz_date = ecsa_sigv4_amz_date (NULL);
  g_autofree char *authorization = NULL;
  const char *path = *g_uri_get_path (priv->uri) != '\0' ? g_uri_get_path (priv->uri) : "/";
  const char *query = g_uri_get_query (priv->uri);
  gboolean token = credentials->session_token != NULL && *credentials->session_token != '\0';
  guint8 key[16];
  GString *out;

  for (guint i = 0; i < sizeof key; i++)
    key[i] = (guint8) g_random_int_range (0, 256);
  g_free (priv->ws_key);
  priv->ws_key = g_base64_encode (key, sizeof key);

  req = ecsa_sigv4_request_new ("GET", path, query);
  ecsa_sigv4_request_add_header (req, "host", host);
  ecsa_sigv4_request_add_header (req, "x-amz-date", amz_date);
  if (token)
    ecsa_sigv4_request_add_header (req, "x-amz-security-token", credentials->session_token);
  ecsa_sigv4_request_set_payload_hash (req, ECSA_SIGV4_EMPTY_SHA256);
  authorization = ecsa_sigv4_request_sign (req, amz_date, ecsa_ecs_client_get_region (priv->ecs_client), "ecs",
                                           credentials->access_key_id, credentials->secret_access_key);

  out = g_string_new (NULL);
  g_string_append_printf (out, "GET %s%s%s HTTP/1.1\r\n", path, query != NULL ? "?" : "", query != NULL ? query : "");
  g_string_append_printf (out, "Host: %s\r\n", host);
  g_string_append_printf (out, "User-Agent: %s\r\n", ecsa_ecs_client_user_agent ());
  g_string_append (out, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n");
  g_string_append_printf (out, "Sec-WebSocket-Key: %s\r\n", priv->ws_key);
  g_string_append_printf (out, "X-Amz-Date: %s\r\n", amz_date);
  if (token)
    g_string_append_printf (out, "X-Amz-Security-Token: %s\r\n", credentials->session_token);
  g_string_append_printf (out, "Authorization: %s\r\n\r\n", authorization);
  {
    gsize len = out->len;
    return g_bytes_new_take (g_string_free (out, FALSE), len);
  }
}

static gboolean
accept_any_certificate_cb (GTlsConnection *conn, GTlsCertificate *cert, GTlsCertificateFlags errors,
                           gpointer user_data)
{
  return TRUE;
}

static void
socket_event_cb (GSocketClient *client, GSocketClientEvent event, GSocketConnectable *connectable,
                 GIOStream *connection, gpointer user_data)
{
  EcsaWsSession *self = user_data;
  EcsaWsSessionPrivate *priv = PRIV (self);

  if (event == G_SOCKET_CLIENT_CONNECTED)
    ecsa_tcp_set_nodelay (connection);
  if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING || !G_IS_TLS_CONNECTION (connection))
    return;
  if (ecsa_ecs_client_get_tls_database (priv->ecs_client) != NULL)
    g_tls_connection_set_database (G_TLS_CONNECTION (connection), ecsa_ecs_client_get_tls_database (priv->ecs_client));
  if (ecsa_ecs_client_get_accept_insecure_cert (priv->ecs_client))
    g_signal_connect (connection, "accept-certificate", G_CALLBACK (accept_any_certificate_cb), NULL);
}

typedef struct
{
  AttemptRef *ref;
  EcsaAwsCredentials *credentials;
} ConnectData;

static void
connect_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ConnectData *data = user_data;
  g_autoptr(AttemptRef) ref = data->ref;
  g_autoptr(EcsaAwsCredentials) credentials = data->credentials;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = g_socket_client_connect_to_uri_finish (G_SOCKET_CLIENT (source), result,
                                                                                    &error);
  EcsaWsSessionPrivate *priv;
  g_autoptr(GBytes) request = NULL;

  g_free (data);
  g_signal_handlers_disconnect_by_data (source, ref->self);
  if (!attempt_current (ref))
    return;
  priv = PRIV (ref->self);
  if (connection == NULL)
    {
      attempt_failed (ref->self, attempt_error (ref->self, g_steal_pointer (&error)), -1);
      return;
    }
  priv->stream = G_IO_STREAM (g_steal_pointer (&connection));
  request = build_handshake (ref->self, credentials);
  {
    gsize len;
    gconstpointer bytes = g_bytes_get_data (request, &len);

    /* the bytes live in the task data until the write completes */
    g_object_set_data_full (G_OBJECT (priv->attempt), "request", g_bytes_ref (request), (GDestroyNotify) g_bytes_unref);
    g_output_stream_write_all_async (g_io_stream_get_output_stream (priv->stream), bytes, len, G_PRIORITY_DEFAULT,
                                     priv->attempt, request_written_cb, g_steal_pointer (&ref));
  }
}

static void
credentials_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(AttemptRef) ref = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaAwsCredentials) credentials = NULL;
  g_autoptr(GSocketClient) client = NULL;
  EcsaWsSessionPrivate *priv;
  ConnectData *data;
  gboolean tls;

  credentials = ecsa_aws_credentials_provider_get_finish (ECSA_AWS_CREDENTIALS_PROVIDER (source), result, &error);
  if (!attempt_current (ref))
    return;
  priv = PRIV (ref->self);
  if (credentials == NULL)
    {
      attempt_failed (ref->self, error, -1);
      return;
    }
  tls = g_strcmp0 (g_uri_get_scheme (priv->uri), "https") == 0;
  client = g_socket_client_new ();
  g_socket_client_set_tls (client, tls);
  if (ecsa_ecs_client_get_proxy_resolver (priv->ecs_client) != NULL)
    g_socket_client_set_proxy_resolver (client, ecsa_ecs_client_get_proxy_resolver (priv->ecs_client));
  else
    g_socket_client_set_enable_proxy (client, FALSE); /* no proxy lookup at all (ecsa-proxy.h) */
  g_socket_client_set_timeout (client, (guint) MAX (connect_timeout (ref->self) / G_USEC_PER_SEC, 1));
  g_signal_connect (client, "event", G_CALLBACK (socket_event_cb), ref->self);
  data = g_new0 (ConnectData, 1);
  data->ref = g_steal_pointer (&ref);
  data->credentials = g_steal_pointer (&credentials);
  {
    /* by URI: the proxy is chosen by scheme (https: HTTPS_PROXY) */
    g_autofree char *host = host_header (priv->uri);
    g_autofree char *uri = g_strdup_printf ("%s://%s/", tls ? "https" : "http", host);
    g_socket_client_connect_to_uri_async (client, uri, tls ? 443 : 80, priv->attempt, connect_ready_cb, data);
  }
}

static void
tls_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(AttemptRef) ref = user_data;
  EcsaWsSessionPrivate *priv;

  ecsa_ecs_client_prepare_tls_finish (ECSA_ECS_CLIENT (source), result, NULL);
  if (!attempt_current (ref))
    return;
  priv = PRIV (ref->self);
  ecsa_aws_credentials_provider_get_async (ecsa_ecs_client_get_credentials (priv->ecs_client), priv->attempt,
                                           credentials_ready_cb, g_steal_pointer (&ref));
}

static void
discover_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(AttemptRef) ref = user_data;
  EcsaWsSession *self = ref->self;
  EcsaWsSessionPrivate *priv;
  EcsaWsSessionClass *klass = ECSA_WS_SESSION_GET_CLASS (self);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaPollEndpoints) endpoints = ecsa_ecs_client_discover_poll_endpoint_finish (ECSA_ECS_CLIENT (source),
                                                                                         result, &error);
  g_autofree char *url = NULL;
  g_autoptr(GUri) uri = NULL;

  if (!attempt_current (ref))
    return;
  priv = PRIV (self);
  if (endpoints == NULL)
    {
      g_prefix_error (&error, "unable to discover the poll endpoint: ");
      attempt_failed (self, error, -1);
      return;
    }
  url = klass->build_url (self, endpoints, &error);
  if (url != NULL)
    uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, &error);
  if (uri != NULL && g_strcmp0 (g_uri_get_scheme (uri), "https") != 0 && g_strcmp0 (g_uri_get_scheme (uri), "http") != 0)
    {
      g_set_error (&error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_HANDSHAKE,
                   "endpoint '%s' is neither https:// nor http://", url);
      g_clear_pointer (&uri, g_uri_unref);
    }
  if (uri == NULL || g_uri_get_host (uri) == NULL)
    {
      if (error == NULL)
        g_set_error (&error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_HANDSHAKE, "endpoint '%s' has no host", url);
      attempt_failed (self, error, -1);
      return;
    }
  g_free (priv->url);
  priv->url = g_steal_pointer (&url);
  g_clear_pointer (&priv->uri, g_uri_unref);
  priv->uri = g_steal_pointer (&uri);
  g_debug ("%s: connecting to '%s'", priv->name, priv->url);
  ecsa_ecs_client_prepare_tls_async (priv->ecs_client, priv->attempt, tls_ready_cb, g_steal_pointer (&ref));
}

static gboolean
deadline_cb (gpointer user_data)
{
  EcsaWsSession *self = user_data;
  EcsaWsSessionPrivate *priv = PRIV (self);
  g_autoptr(GError) error = NULL;

  clear_source (&priv->deadline_timer);
  priv->attempt_timed_out = TRUE;
  error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "connecting timed out after %d s",
                       (int) MAX (connect_timeout (self) / G_USEC_PER_SEC, 1));
  attempt_failed (self, error, -1);
  return G_SOURCE_REMOVE;
}

static void
begin_attempt (EcsaWsSession *self)
{
  EcsaWsSessionPrivate *priv = PRIV (self);

  clear_attempt (self);
  priv->attempt = g_cancellable_new ();
  priv->attempt_timed_out = FALSE;
  priv->deadline_timer = ecsa_ws_session_add_timer (self, ECSA_WS_TIMER_CONNECT_DEADLINE, connect_timeout (self),
                                                    deadline_cb, self);
  ecsa_ecs_client_discover_poll_endpoint_async (priv->ecs_client, priv->attempt, discover_ready_cb,
                                                attempt_ref (self));
}

/* ------------------------------------------------------------------------------------------- */
/* public */

void
ecsa_ws_session_start (EcsaWsSession *self)
{
  EcsaWsSessionPrivate *priv;

  g_return_if_fail (ECSA_IS_WS_SESSION (self));
  priv = PRIV (self);
  g_return_if_fail (priv->ecs_client != NULL);
  if (priv->running)
    return;
  priv->running = TRUE;
  begin_attempt (self);
}

void
ecsa_ws_session_stop (EcsaWsSession *self)
{
  EcsaWsSessionPrivate *priv;

  g_return_if_fail (ECSA_IS_WS_SESSION (self));
  priv = PRIV (self);
  priv->running = FALSE;
  clear_source (&priv->reconnect_timer);
  clear_attempt (self);
  if (priv->conn != NULL && soup_websocket_connection_get_state (priv->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      priv->local_close = LOCAL_CLOSE_STOP;
      soup_websocket_connection_close (priv->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    }
}

void
ecsa_ws_session_reconnect (EcsaWsSession *self, gboolean immediately, const char *why)
{
  EcsaWsSessionPrivate *priv;

  g_return_if_fail (ECSA_IS_WS_SESSION (self));
  priv = PRIV (self);
  if (priv->conn == NULL || soup_websocket_connection_get_state (priv->conn) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  priv->local_close = immediately ? LOCAL_CLOSE_RECONNECT_NOW : LOCAL_CLOSE_RECONNECT_BACKOFF;
  g_free (priv->local_close_why);
  priv->local_close_why = g_strdup (why);
  soup_websocket_connection_close (priv->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
}

gboolean
ecsa_ws_session_send (EcsaWsSession *self, guint64 connection_id, const char *type, JsonNode *message, GError **error)
{
  EcsaWsSessionPrivate *priv;
  EcsaWsSessionClass *klass;
  g_autoptr(GBytes) envelope = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autofree char *text = NULL;

  g_return_val_if_fail (ECSA_IS_WS_SESSION (self), FALSE);
  priv = PRIV (self);
  klass = ECSA_WS_SESSION_GET_CLASS (self);
  if (!ecsa_ws_session_is_connected (self) || (connection_id != 0 && connection_id != priv->connection_id))
    {
      g_set_error (error, ECSA_WS_SESSION_ERROR, ECSA_WS_SESSION_ERROR_NOT_CONNECTED,
                   "%s: not connected%s, cannot send '%s'", priv->name,
                   connection_id != 0 && connection_id != priv->connection_id ? " (the connection it answers is gone)"
                                                                               : "",
                   type);
      return FALSE;
    }
  envelope = ecsa_ws_build_envelope (type, message);
  if (klass->encode_frame != NULL)
    {
      frame = klass->encode_frame (self, envelope, error);
      if (frame == NULL)
        return FALSE;
    }
  else
    frame = g_bytes_ref (envelope);
  text = g_strndup (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
  soup_websocket_connection_send_text (priv->conn, text);
  g_debug ("%s: sent '%s'", priv->name, type);
  return TRUE;
}

/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-soup-call.h"

#include "ecsa-plugin.h" /* ECSA_ERROR */

#include <netinet/in.h>
#include <netinet/tcp.h>

#define READ_CHUNK 16384

typedef struct
{
  SoupSession *session;
  SoupMessage *msg;
  char *what;
  guint timeout_ms;
  gsize max_body;
  GCancellable *call_cancellable; /* cancelled by the deadline or the caller's cancellable */
  GCancellable *parent;
  gulong parent_handler;
  GSource *deadline;
  gboolean timed_out;
  GInputStream *stream;
  GByteArray *body;
} CallData;

static void
call_data_free (CallData *data)
{
  if (data->deadline != NULL)
    {
      g_source_destroy (data->deadline);
      g_source_unref (data->deadline);
    }
  if (data->parent_handler != 0)
    g_cancellable_disconnect (data->parent, data->parent_handler);
  g_clear_object (&data->parent);
  g_clear_object (&data->call_cancellable);
  g_clear_object (&data->stream);
  g_clear_pointer (&data->body, g_byte_array_unref);
  g_clear_object (&data->msg);
  g_clear_object (&data->session);
  g_free (data->what);
  g_free (data);
}

static gboolean
deadline_cb (gpointer user_data)
{
  CallData *data = user_data;

  data->timed_out = TRUE;
  g_cancellable_cancel (data->call_cancellable);
  return G_SOURCE_REMOVE;
}

static void
parent_cancelled_cb (GCancellable *parent, gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static void
call_return_error (GTask *task, GError *error)
{
  CallData *data = g_task_get_task_data (task);

  if (data->timed_out && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      && (data->parent == NULL || !g_cancellable_is_cancelled (data->parent)))
    {
      g_error_free (error);
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_TIMEOUT, "%s timed out after %u ms", data->what,
                               data->timeout_ms);
      return;
    }
  g_task_return_error (task, error);
}

static void read_next (GTask *task);

static void
stream_closed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CallData *data = g_task_get_task_data (task);

  g_input_stream_close_finish (G_INPUT_STREAM (source), result, NULL);
  g_task_return_pointer (task, g_byte_array_free_to_bytes (g_steal_pointer (&data->body)),
                         (GDestroyNotify) g_bytes_unref);
}

static void
read_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CallData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);

  if (chunk == NULL)
    {
      call_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (g_bytes_get_size (chunk) == 0)
    {
      g_input_stream_close_async (data->stream, G_PRIORITY_DEFAULT, NULL, stream_closed_cb, g_steal_pointer (&task));
      return;
    }
  if (data->body->len + g_bytes_get_size (chunk) > data->max_body)
    {
      g_cancellable_cancel (data->call_cancellable); /* drop the connection */
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "%s: response body exceeds %" G_GSIZE_FORMAT
                               " bytes", data->what, data->max_body);
      return;
    }
  g_byte_array_append (data->body, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
  read_next (g_steal_pointer (&task));
}

static void
read_next (GTask *task)
{
  CallData *data = g_task_get_task_data (task);

  g_input_stream_read_bytes_async (data->stream, READ_CHUNK, G_PRIORITY_DEFAULT, data->call_cancellable, read_ready_cb,
                                   task);
}

static void
send_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CallData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  data->stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  if (data->stream == NULL)
    {
      call_return_error (task, g_steal_pointer (&error));
      return;
    }
  data->body = g_byte_array_new ();
  read_next (g_steal_pointer (&task));
}

void
ecsa_tcp_set_nodelay (GIOStream *connection)
{
  GSocket *socket;
  GSocketFamily family;

  if (!G_IS_SOCKET_CONNECTION (connection))
    return;
  socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection));
  family = g_socket_get_family (socket);
  if ((family == G_SOCKET_FAMILY_IPV4 || family == G_SOCKET_FAMILY_IPV6)
      && g_socket_get_socket_type (socket) == G_SOCKET_TYPE_STREAM)
    g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

static void
network_event_cb (SoupMessage *msg, GSocketClientEvent event, GIOStream *connection, gpointer user_data)
{
  if (event == G_SOCKET_CLIENT_CONNECTED)
    ecsa_tcp_set_nodelay (connection);
}

void
ecsa_soup_message_set_tcp_nodelay (SoupMessage *msg)
{
  g_return_if_fail (SOUP_IS_MESSAGE (msg));
  g_signal_handlers_disconnect_by_func (msg, network_event_cb, NULL);
  g_signal_connect (msg, "network-event", G_CALLBACK (network_event_cb), NULL);
}

void
ecsa_soup_call_async (SoupSession *session, SoupMessage *msg, const char *what, guint timeout_ms, gsize max_body,
                      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  CallData *data;

  g_return_if_fail (SOUP_IS_SESSION (session) && SOUP_IS_MESSAGE (msg));

  ecsa_soup_message_set_tcp_nodelay (msg);
  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_soup_call_async);
  data = g_new0 (CallData, 1);
  data->session = g_object_ref (session);
  data->msg = g_object_ref (msg);
  data->what = g_strdup (what);
  data->timeout_ms = timeout_ms;
  data->max_body = max_body;
  data->call_cancellable = g_cancellable_new ();
  g_task_set_task_data (task, data, (GDestroyNotify) call_data_free);

  if (cancellable != NULL)
    {
      data->parent = g_object_ref (cancellable);
      data->parent_handler = g_cancellable_connect (cancellable, G_CALLBACK (parent_cancelled_cb),
                                                    data->call_cancellable, NULL);
    }
  if (timeout_ms > 0)
    {
      data->deadline = g_timeout_source_new (timeout_ms);
      g_source_set_callback (data->deadline, deadline_cb, data, NULL);
      g_source_attach (data->deadline, g_main_context_get_thread_default ());
    }
  soup_session_send_async (session, msg, G_PRIORITY_DEFAULT, data->call_cancellable, send_ready_cb,
                           g_steal_pointer (&task));
}

GBytes *
ecsa_soup_call_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, ecsa_soup_call_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------------------------------- */

typedef struct
{
  GSource *timer;
  GCancellable *cancellable;
  gulong handler;
} SleepData;

static void
sleep_data_free (SleepData *data)
{
  if (data->handler != 0)
    g_cancellable_disconnect (data->cancellable, data->handler);
  g_clear_object (&data->cancellable);
  if (data->timer != NULL)
    {
      g_source_destroy (data->timer);
      g_source_unref (data->timer);
    }
  g_free (data);
}

static gboolean
sleep_done_cb (gpointer user_data)
{
  GTask *task = user_data;

  if (!g_task_return_error_if_cancelled (task))
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static void
sleep_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;
  SleepData *data = g_task_get_task_data (task);
  GSource *idle;

  /* May run inside g_cancellable_cancel(): finish from an idle on the task's context. */
  if (data->timer != NULL)
    {
      g_source_destroy (data->timer);
      g_clear_pointer (&data->timer, g_source_unref);
      idle = g_idle_source_new ();
      g_source_set_callback (idle, sleep_done_cb, task, NULL);
      g_source_attach (idle, g_task_get_context (task));
      g_source_unref (idle);
    }
}

void
ecsa_sleep_async (GTimeSpan delay, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  SleepData *data = g_new0 (SleepData, 1);

  g_task_set_source_tag (task, ecsa_sleep_async);
  g_task_set_task_data (task, data, (GDestroyNotify) sleep_data_free);
  data->timer = g_timeout_source_new ((guint) MAX ((delay + 999) / 1000, 0));
  g_source_set_callback (data->timer, sleep_done_cb, task, NULL); /* the timer owns the task ref */
  g_source_attach (data->timer, g_task_get_context (task));
  if (cancellable != NULL)
    {
      data->cancellable = g_object_ref (cancellable);
      data->handler = g_cancellable_connect (cancellable, G_CALLBACK (sleep_cancelled_cb), task, NULL);
    }
}

gboolean
ecsa_sleep_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

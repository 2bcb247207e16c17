/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-http-request.h"

#include "ecsa-backoff.h"
#include "ecsa-log.h"

#include <netinet/in.h>
#include <string.h>

static int
hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

char *
ecsa_http_query_unescape(const char *text, gssize length)
{
  g_autoptr(GString) out = NULL;
  gsize len;

  g_return_val_if_fail(text != NULL, NULL);

  len = length < 0 ? strlen(text) : (gsize)length;
  out = g_string_sized_new(len);
  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];

      if (c == '%')
        {
          int hi, lo;

          if (i + 2 >= len)
            return NULL;
          hi = hex_value(text[i + 1]);
          lo = hex_value(text[i + 2]);
          if (hi < 0 || lo < 0)
            return NULL;
          c = (char)((hi << 4) | lo);
          i += 2;
        }
      else if (c == '+')
        c = ' ';
      if (c == '\0')
        return NULL;
      g_string_append_c(out, c);
    }
  return g_string_free(g_steal_pointer(&out), FALSE);
}

GHashTable *
ecsa_http_query_parse(const char *raw_query)
{
  g_autoptr(GHashTable) table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  const char *p = raw_query;

  while (p != NULL && *p != '\0')
    {
      const char *end = strpbrk(p, "&;");
      gsize pair_len = end != NULL ? (gsize)(end - p) : strlen(p);
      const char *eq = memchr(p, '=', pair_len);
      g_autofree char *key = NULL;
      g_autofree char *value = NULL;

      if (pair_len > 0)
        {
          if (eq != NULL)
            {
              key = ecsa_http_query_unescape(p, eq - p);
              value = ecsa_http_query_unescape(eq + 1, pair_len - (gsize)(eq - p) - 1);
            }
          else
            {
              key = ecsa_http_query_unescape(p, pair_len);
              value = g_strdup("");
            }
          /* Go keeps every value; Get() returns the first, which is all the servers use. */
          if (key != NULL && value != NULL && !g_hash_table_contains(table, key))
            g_hash_table_insert(table, g_steal_pointer(&key), g_steal_pointer(&value));
        }
      p = end != NULL ? end + 1 : NULL;
    }
  return g_steal_pointer(&table);
}

char *
ecsa_http_clean_path(const char *path)
{
  g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);
  g_auto(GStrv) elements = NULL;
  GString *out;
  gboolean trailing_slash;

  if (path == NULL || *path == '\0')
    return g_strdup("/");

  trailing_slash = path[strlen(path) - 1] == '/';
  elements = g_strsplit(path, "/", -1);
  for (guint i = 0; elements[i] != NULL; i++)
    {
      const char *e = elements[i];

      if (*e == '\0' || strcmp(e, ".") == 0)
        continue;
      if (strcmp(e, "..") == 0)
        {
          /* rooted path: ".." at the root is dropped */
          if (parts->len > 0)
            g_ptr_array_remove_index(parts, parts->len - 1);
          continue;
        }
      g_ptr_array_add(parts, g_strdup(e));
    }

  out = g_string_new(NULL);
  for (guint i = 0; i < parts->len; i++)
    {
      g_string_append_c(out, '/');
      g_string_append(out, g_ptr_array_index(parts, i));
    }
  if (out->len == 0)
    g_string_append_c(out, '/');
  else if (trailing_slash)
    g_string_append_c(out, '/');
  return g_string_free(out, FALSE);
}

char *
ecsa_http_redirect_body(const char *location)
{
  GString *out = g_string_new("<a href=\"");

  for (const char *p = location; p != NULL && *p != '\0'; p++)
    {
      switch (*p)
        {
        case '&':
          g_string_append(out, "&amp;");
          break;
        case '\'':
          g_string_append(out, "&#39;");
          break;
        case '<':
          g_string_append(out, "&lt;");
          break;
        case '>':
          g_string_append(out, "&gt;");
          break;
        case '"':
          g_string_append(out, "&#34;");
          break;
        default:
          g_string_append_c(out, *p);
        }
    }
  g_string_append(out, "\">Moved Permanently</a>.\n\n");
  return g_string_free(out, FALSE);
}

void
ecsa_http_append_json_string(GString *out, const char *text)
{
  const char *p = text != NULL ? text : "";
  const char *end = p + strlen(p);

  g_string_append_c(out, '"');
  while (p < end)
    {
      unsigned char c = (unsigned char)*p;
      gunichar u;

      if (c < 0x80)
        {
          switch (c)
            {
            case '"':
              g_string_append(out, "\\\"");
              break;
            case '\\':
              g_string_append(out, "\\\\");
              break;
            case '\n':
              g_string_append(out, "\\n");
              break;
            case '\r':
              g_string_append(out, "\\r");
              break;
            case '\t':
              g_string_append(out, "\\t");
              break;
            case '<':
            case '>':
            case '&':
              g_string_append_printf(out, "\\u%04x", c);
              break;
            default:
              if (c < 0x20)
                g_string_append_printf(out, "\\u%04x", c);
              else
                g_string_append_c(out, (char)c);
            }
          p++;
          continue;
        }
      u = g_utf8_get_char_validated(p, end - p);
      if (u == (gunichar)-1 || u == (gunichar)-2)
        {
          g_string_append(out, "\\ufffd");
          p++;
          continue;
        }
      if (u == 0x2028 || u == 0x2029)
        g_string_append_printf(out, "\\u%04x", u);
      else
        g_string_append_len(out, p, g_utf8_next_char(p) - p);
      p = g_utf8_next_char(p);
    }
  g_string_append_c(out, '"');
}

EcsaHttpResponse *
ecsa_http_response_new(guint status, const char *content_type, GBytes *body)
{
  EcsaHttpResponse *response = g_new0(EcsaHttpResponse, 1);

  response->status = status;
  response->content_type = g_strdup(content_type);
  response->body = body != NULL ? g_bytes_ref(body) : g_bytes_new_static("", 0);
  return response;
}

EcsaHttpResponse *
ecsa_http_response_new_text(guint status, const char *content_type, const char *text)
{
  g_autoptr(GBytes) body = g_bytes_new(text, strlen(text));

  return ecsa_http_response_new(status, content_type, body);
}

EcsaHttpResponse *
ecsa_http_response_new_redirect(const char *method, const char *location)
{
  EcsaHttpResponse *response;

  if (g_strcmp0(method, "GET") == 0)
    {
      g_autofree char *note = ecsa_http_redirect_body(location);
      response = ecsa_http_response_new_text(301, "text/html; charset=utf-8", note);
    }
  else
    response = ecsa_http_response_new(301, NULL, NULL);
  response->location = g_strdup(location);
  return response;
}

EcsaHttpResponse *
ecsa_http_response_new_not_found(void)
{
  EcsaHttpResponse *response = ecsa_http_response_new_text(404, "text/plain; charset=utf-8", "404 page not found\n");

  response->nosniff = TRUE;
  return response;
}

void
ecsa_http_response_free(EcsaHttpResponse *response)
{
  if (response == NULL)
    return;
  g_free(response->content_type);
  g_bytes_unref(response->body);
  g_free(response->location);
  g_free(response);
}

char *
ecsa_http_redirect_target(const char *path, const char *raw_query)
{
  g_autofree char *clean = ecsa_http_clean_path(path);

  if (g_strcmp0(clean, path) == 0)
    return NULL;
  if (raw_query != NULL && *raw_query != '\0')
    return g_strconcat(clean, "?", raw_query, NULL);
  return g_steal_pointer(&clean);
}

/* Silence on a connection: while a request is read, the socket's own timeout applies; between two
 * requests of a kept-alive connection libsoup waits without one, so a timer per idle connection shuts
 * it down. */
typedef struct
{
  GHashTable *idle; /* GSocket* (ref) -> GSource* */
} ServerTimeouts;

static void
server_timeouts_free(ServerTimeouts *t)
{
  g_hash_table_unref(t->idle);
  g_free(t);
}

static void
idle_source_destroy(gpointer data)
{
  g_source_destroy(data);
  g_source_unref(data);
}

typedef struct
{
  ServerTimeouts *timeouts;
  GSocket *socket; /* the table holds the reference */
} IdleTimer;

static gboolean
idle_expired_cb(gpointer user_data)
{
  IdleTimer *timer = user_data;

  /* libsoup sees the end of the stream and drops the connection (a closed one: nothing happens) */
  if (!g_socket_is_closed(timer->socket))
    g_socket_shutdown(timer->socket, TRUE, TRUE, NULL);
  g_hash_table_remove(timer->timeouts->idle, timer->socket); /* destroys this source and `timer` */
  return G_SOURCE_REMOVE;
}

static void
request_started_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  ServerTimeouts *t = user_data;
  GSocket *socket = soup_server_message_get_socket(msg);

  if (socket == NULL)
    return;
  g_socket_set_timeout(socket, ECSA_HTTP_SERVER_TIMEOUT_S);
  g_hash_table_remove(t->idle, socket);
}

static void
request_done_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  ServerTimeouts *t = user_data;
  GSocket *socket = soup_server_message_get_socket(msg);
  IdleTimer *idle;
  GSource *timer;

  if (socket == NULL || g_socket_is_closed(socket))
    return;
  idle = g_new0(IdleTimer, 1);
  idle->timeouts = t;
  idle->socket = socket;
  timer = g_timeout_source_new_seconds(ECSA_HTTP_SERVER_TIMEOUT_S);
  g_source_set_callback(timer, idle_expired_cb, idle, g_free);
  g_source_attach(timer, g_main_context_get_thread_default());
  g_hash_table_replace(t->idle, g_object_ref(socket), timer);
}

SoupServer *
ecsa_http_server_new(void)
{
  SoupServer *server = soup_server_new("server-header", NULL, NULL);
  ServerTimeouts *t = g_new0(ServerTimeouts, 1);

  t->idle = g_hash_table_new_full(g_direct_hash, g_direct_equal, g_object_unref, idle_source_destroy);
  g_object_set_data_full(G_OBJECT(server), "ecsa-http-timeouts", t, (GDestroyNotify)server_timeouts_free);
  g_signal_connect(server, "request-started", G_CALLBACK(request_started_cb), t);
  g_signal_connect(server, "request-finished", G_CALLBACK(request_done_cb), t);
  g_signal_connect(server, "request-aborted", G_CALLBACK(request_done_cb), t);
  return server;
}

void
ecsa_http_response_apply(const EcsaHttpResponse *response, SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);

  soup_server_message_set_status(msg, response->status, NULL);
  if (response->content_type != NULL)
    soup_message_headers_replace(headers, "Content-Type", response->content_type);
  if (response->location != NULL)
    soup_message_headers_replace(headers, "Location", response->location);
  if (response->nosniff)
    soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
  if (g_bytes_get_size(response->body) > 0)
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), response->body);
}

char *
ecsa_http_remote_address(SoupServerMessage *msg)
{
  GSocketAddress *address = soup_server_message_get_remote_address(msg);
  g_autofree char *ip = NULL;

  if (!G_IS_INET_SOCKET_ADDRESS(address))
    return g_strdup("");
  ip = g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address)));
  if (g_inet_address_get_family(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address)))
      == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf("[%s]:%u", ip, g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(address)));
  return g_strdup_printf("%s:%u", ip, g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(address)));
}

void
ecsa_http_request_target(SoupServerMessage *msg, char **out_path, char **out_raw_query)
{
  GUri *uri = soup_server_message_get_uri(msg);
  const char *path = g_uri_get_path(uri);
  const char *query = g_uri_get_query(uri);
  const char *mark = strchr(path, '?');

  if (mark != NULL && query == NULL)
    {
      *out_path = g_strndup(path, mark - path);
      *out_raw_query = g_strdup(mark + 1);
      return;
    }
  *out_path = g_strdup(path);
  *out_raw_query = g_strdup(query);
}

guint16
ecsa_http_server_listen(SoupServer *server, GSocketAddress *address, GError **error)
{
  GSocketFamily family = g_socket_address_get_family(address);
  g_autoptr(GSocket) socket = g_socket_new(family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  g_autoptr(GSocketAddress) bound = NULL;

  if (socket == NULL)
    return 0;
  if (family == G_SOCKET_FAMILY_IPV6 && !g_socket_set_option(socket, IPPROTO_IPV6, IPV6_V6ONLY, 1, error))
    return 0;
  g_socket_set_listen_backlog(socket, ECSA_HTTP_LISTEN_BACKLOG);
  if (!g_socket_bind(socket, address, TRUE, error) || !g_socket_listen(socket, error))
    return 0;
  bound = g_socket_get_local_address(socket, error);
  if (bound == NULL)
    return 0;
  if (!soup_server_listen_socket(server, socket, 0, error))
    return 0;
  return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

struct _EcsaHttpListenRetry
{
  char *what;
  EcsaHttpListenFunc listen;
  gpointer server;
  EcsaBackoff *backoff;
  GSource *timer;
  gboolean listening;
  guint failures;
};

static gboolean listen_retry_cb(gpointer user_data);

static void
listen_retry_try(EcsaHttpListenRetry *retry)
{
  g_autoptr(GError) error = NULL;
  GTimeSpan delay;

  if (retry->listen(retry->server, &error))
    {
      retry->listening = TRUE;
      if (retry->failures > 0)
        ecsa_log_info("%s: listening after %u failed attempts", retry->what, retry->failures);
      return;
    }
  retry->failures++;
  delay = ecsa_backoff_next(retry->backoff);
  ecsa_log_error("%s: %s; trying again in %.1f s", retry->what, error->message, (double)delay / G_USEC_PER_SEC);
  retry->timer = g_timeout_source_new((guint)(delay / 1000));
  g_source_set_callback(retry->timer, listen_retry_cb, retry, NULL);
  g_source_attach(retry->timer, g_main_context_get_thread_default());
}

static gboolean
listen_retry_cb(gpointer user_data)
{
  EcsaHttpListenRetry *retry = user_data;

  g_clear_pointer(&retry->timer, g_source_unref);
  listen_retry_try(retry);
  return G_SOURCE_REMOVE;
}

EcsaHttpListenRetry *
ecsa_http_listen_retry_start(const char *what, EcsaHttpListenFunc listen, gpointer server)
{
  EcsaHttpListenRetry *retry = g_new0(EcsaHttpListenRetry, 1);

  retry->what = g_strdup(what);
  retry->listen = listen;
  retry->server = server;
  retry->backoff = ecsa_backoff_new(G_USEC_PER_SEC, 60 * G_USEC_PER_SEC, 0.2, 2);
  listen_retry_try(retry);
  return retry;
}

gboolean
ecsa_http_listen_retry_is_listening(EcsaHttpListenRetry *retry)
{
  return retry != NULL && retry->listening;
}

void
ecsa_http_listen_retry_free(EcsaHttpListenRetry *retry)
{
  if (retry == NULL)
    return;
  if (retry->timer != NULL)
    {
      g_source_destroy(retry->timer);
      g_source_unref(retry->timer);
    }
  ecsa_backoff_free(retry->backoff);
  g_free(retry->what);
  g_free(retry);
}

/* test-proxy.c: EcsaProxyResolver, the proxy of the agent's own connections (ecsa-proxy.h).
 *
 * The choice of proxy is checked against Go's ProxyFromEnvironment rules, then used for real: a
 * proxy in this test (HTTP CONNECT and absolute-URI requests) sees the libsoup session's https and
 * http requests and a GSocketClient's TLS connection (as ACS and TCS connect) to this host's own
 * non-loopback address, while loopback and NO_PROXY hosts are reached directly.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-build-config.h"

#include <ifaddrs.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <string.h>

#include "ecsa-proxy.h"
#include "ecsa-test-acs.h"
#include "ecsa-test-utils.h"

static char *
lookup (EcsaProxyResolver *r, const char *uri)
{
  return ecsa_proxy_resolver_lookup_uri (r, uri);
}

#define ASSERT_PROXY(r, uri, expected)                                                                                \
  G_STMT_START                                                                                                        \
  {                                                                                                                   \
    g_autofree char *got_ = lookup ((r), (uri));                                                                      \
    g_assert_cmpstr (got_, ==, (expected));                                                                           \
  }                                                                                                                   \
  G_STMT_END

static void
test_choice (void)
{
  g_autoptr(EcsaProxyResolver) both = ecsa_proxy_resolver_new ("http://p1:3128", "https://p2:443", "", NULL);
  g_autoptr(EcsaProxyResolver) http_only = ecsa_proxy_resolver_new ("p1:3128", NULL, "", NULL);
  g_autoptr(EcsaProxyResolver) socks = ecsa_proxy_resolver_new (NULL, "socks5://p3:1080", "", NULL);
  g_autoptr(EcsaProxyResolver) none = ecsa_proxy_resolver_new (NULL, "", "", NULL);

  /* https: HTTPS_PROXY; http: HTTP_PROXY; ws/wss likewise */
  ASSERT_PROXY (both, "https://ecs.us-west-2.amazonaws.com/", "https://p2:443");
  ASSERT_PROXY (both, "wss://ecs-a-1.us-west-2.amazonaws.com/ws", "https://p2:443");
  ASSERT_PROXY (both, "http://example.com:8080/x", "http://p1:3128");
  ASSERT_PROXY (both, "ws://example.com/", "http://p1:3128");
  /* https without HTTPS_PROXY: HTTP_PROXY; a value without scheme is http:// */
  ASSERT_PROXY (http_only, "https://ecs.us-west-2.amazonaws.com/", "http://p1:3128");
  ASSERT_PROXY (http_only, "http://ecs.us-west-2.amazonaws.com/", "http://p1:3128");
  ASSERT_PROXY (socks, "https://ecr.us-west-2.amazonaws.com/", "socks5://p3:1080");
  ASSERT_PROXY (socks, "http://ecr.us-west-2.amazonaws.com/", NULL);
  ASSERT_PROXY (none, "https://ecs.us-west-2.amazonaws.com/", NULL);
  /* other schemes and garbage: direct */
  ASSERT_PROXY (both, "unix:///var/run/docker.sock", NULL);
  ASSERT_PROXY (both, "not a uri", NULL);
}

static void
test_no_proxy (void)
{
  g_autoptr(EcsaProxyResolver) r = ecsa_proxy_resolver_new (
    "http://p:3128", NULL, " Example.COM, .internal.lan ,10.0.0.7:8080,[fd00::1]:443,, exact.host", NULL);
  g_autoptr(EcsaProxyResolver) all = ecsa_proxy_resolver_new ("http://p:3128", NULL, "foo,*", NULL);
  g_autoptr(EcsaProxyResolver) defaults = ecsa_proxy_resolver_new ("http://p:3128", NULL, NULL, "docker.local");
  g_autoptr(EcsaProxyResolver) defaults_unix = ecsa_proxy_resolver_new ("http://p:3128", NULL, NULL, NULL);

  /* never: localhost and loopback */
  ASSERT_PROXY (r, "http://localhost:51678/", NULL);
  ASSERT_PROXY (r, "http://LOCALHOST/", NULL);
  ASSERT_PROXY (r, "http://127.0.0.1:8080/", NULL);
  ASSERT_PROXY (r, "http://127.9.9.9/", NULL);
  ASSERT_PROXY (r, "http://[::1]:80/", NULL);
  /* a name: itself and its subdomains, any case */
  ASSERT_PROXY (r, "http://example.com/", NULL);
  ASSERT_PROXY (r, "http://EXAMPLE.com:80/", NULL);
  ASSERT_PROXY (r, "http://a.b.example.com/", NULL);
  ASSERT_PROXY (r, "http://notexample.com/", "http://p:3128");
  ASSERT_PROXY (r, "http://example.com.evil/", "http://p:3128");
  /* ".name": its subdomains and itself */
  ASSERT_PROXY (r, "http://x.internal.lan/", NULL);
  ASSERT_PROXY (r, "http://internal.lan/", NULL);
  ASSERT_PROXY (r, "http://xinternal.lan/", "http://p:3128");
  /* ports in entries are ignored; addresses match exactly */
  ASSERT_PROXY (r, "http://10.0.0.7:9999/", NULL);
  ASSERT_PROXY (r, "http://10.0.0.70/", "http://p:3128");
  ASSERT_PROXY (r, "http://[fd00::1]:80/", NULL);
  ASSERT_PROXY (r, "http://exact.host/", NULL);
  ASSERT_PROXY (r, "http://sub.exact.host/", NULL);
  /* "*": nothing is proxied */
  ASSERT_PROXY (all, "http://anything.example/", NULL);
  /* NO_PROXY unset: instance metadata, task credentials and the Docker host, as v1.16.2 meant */
  ASSERT_PROXY (defaults, "http://169.254.169.254/latest/meta-data/", NULL);
  ASSERT_PROXY (defaults, "http://169.254.170.2/v2/credentials/x", NULL);
  ASSERT_PROXY (defaults, "http://docker.local:2375/version", NULL);
  ASSERT_PROXY (defaults, "http://ecs.us-west-2.amazonaws.com/", "http://p:3128");
  ASSERT_PROXY (defaults_unix, "http://169.254.170.2/", NULL);
  ASSERT_PROXY (defaults_unix, "https://ecs.us-west-2.amazonaws.com/", "http://p:3128");
}

/* The process's environment: upper case first, read once. */
static void
test_environment (void)
{
  g_autoptr(GProxyResolver) r = NULL;
  g_autoptr(GProxyResolver) again = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) proxies = NULL;

  g_setenv ("HTTPS_PROXY", "upper:1", TRUE);
  g_setenv ("https_proxy", "http://lower:2", TRUE);
  g_unsetenv ("HTTP_PROXY");
  g_setenv ("http_proxy", "http://lower:3", TRUE);
  g_unsetenv ("NO_PROXY");
  g_setenv ("no_proxy", "skip.me", TRUE);
  r = ecsa_proxy_resolver_get_default ("tcp://dockerd.example:2375");
  g_assert_true (g_proxy_resolver_is_supported (r));
  proxies = g_proxy_resolver_lookup (r, "https://ecs.example/", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (proxies[0], ==, "http://upper:1");
  g_assert_null (proxies[1]);
  g_clear_pointer (&proxies, g_strfreev);
  proxies = g_proxy_resolver_lookup (r, "http://ecs.example/", NULL, &error);
  g_assert_cmpstr (proxies[0], ==, "http://lower:3");
  g_clear_pointer (&proxies, g_strfreev);
  /* no_proxy set: the defaults do not apply */
  proxies = g_proxy_resolver_lookup (r, "http://skip.me/", NULL, &error);
  g_assert_cmpstr (proxies[0], ==, "direct://");
  g_clear_pointer (&proxies, g_strfreev);
  proxies = g_proxy_resolver_lookup (r, "http://dockerd.example/", NULL, &error);
  g_assert_cmpstr (proxies[0], ==, "http://lower:3");
  g_clear_pointer (&proxies, g_strfreev);
  g_setenv ("HTTPS_PROXY", "changed:9", TRUE);
  again = ecsa_proxy_resolver_get_default (NULL);
  g_assert_true (again == r);
  g_unsetenv ("HTTPS_PROXY");
  g_unsetenv ("https_proxy");
  g_unsetenv ("http_proxy");
  g_unsetenv ("no_proxy");
}

/* ---- a real proxy ---------------------------------------------------------------------------- */

typedef struct
{
  GMutex lock;
  GPtrArray *requests; /* "CONNECT host:port" or "GET http://..." */
  guint16 port;
} Proxy;

static void
pump (GInputStream *in, GOutputStream *out)
{
  char buf[16384];
  gssize n;

  while ((n = g_input_stream_read (in, buf, sizeof buf, NULL, NULL)) > 0)
    if (!g_output_stream_write_all (out, buf, (gsize) n, NULL, NULL, NULL))
      break;
  g_output_stream_close (out, NULL, NULL);
}

static gpointer
pump_thread (gpointer data)
{
  GIOStream **pair = data;

  pump (g_io_stream_get_input_stream (pair[0]), g_io_stream_get_output_stream (pair[1]));
  return NULL;
}

/* One client, in GThreadedSocketService's thread (blocking I/O). */
static gboolean
proxy_run_cb (GThreadedSocketService *service, GSocketConnection *connection, GObject *source, gpointer user_data)
{
  Proxy *proxy = user_data;
  g_autoptr(GDataInputStream) in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (connection)));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  g_autofree char *request = g_data_input_stream_read_line (in, NULL, NULL, NULL);
  g_auto(GStrv) words = NULL;
  char *line;

  if (request == NULL)
    return TRUE;
  g_strchomp (request);
  while ((line = g_data_input_stream_read_line (in, NULL, NULL, NULL)) != NULL)
    {
      gboolean end = *g_strchomp (line) == '\0';

      g_free (line);
      if (end)
        break;
    }
  words = g_strsplit (request, " ", 3);
  g_mutex_lock (&proxy->lock);
  g_ptr_array_add (proxy->requests, g_strdup_printf ("%s %s", words[0], words[1] != NULL ? words[1] : ""));
  g_mutex_unlock (&proxy->lock);
  g_data_input_stream_set_newline_type (in, G_DATA_STREAM_NEWLINE_TYPE_ANY);
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (in), FALSE);
  if (g_strcmp0 (words[0], "CONNECT") == 0 && words[1] != NULL)
    {
      g_autoptr(GSocketClient) client = g_socket_client_new ();
      g_autoptr(GSocketConnection) upstream = NULL;
      GIOStream *there[2];
      GThread *thread;

      g_socket_client_set_enable_proxy (client, FALSE);
      upstream = g_socket_client_connect_to_host (client, words[1], 443, NULL, NULL);
      if (upstream == NULL)
        {
          g_output_stream_write_all (out, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", 47, NULL, NULL,
                                     NULL);
          return TRUE;
        }
      g_output_stream_write_all (out, "HTTP/1.1 200 Connection established\r\n\r\n", 39, NULL, NULL, NULL);
      there[0] = G_IO_STREAM (connection);
      there[1] = G_IO_STREAM (upstream);
      thread = g_thread_new ("proxy-pump", pump_thread, there);
      /* the buffered input may hold the start of the TLS handshake */
      {
        gsize buffered = 0;
        const void *data = g_buffered_input_stream_peek_buffer (G_BUFFERED_INPUT_STREAM (in), &buffered);

        if (buffered > 0)
          g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (upstream)), data, buffered, NULL,
                                     NULL, NULL);
        g_input_stream_skip (G_INPUT_STREAM (in), buffered, NULL, NULL);
      }
      pump (g_io_stream_get_input_stream (G_IO_STREAM (upstream)), out);
      g_thread_join (thread);
      return TRUE;
    }
  {
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nproxied";

    g_output_stream_write_all (out, answer, strlen (answer), NULL, NULL, NULL);
  }
  return TRUE;
}

static GSocketService *
proxy_start (Proxy *proxy)
{
  GSocketService *service = g_threaded_socket_service_new (8);
  g_autoptr(GError) error = NULL;

  g_mutex_init (&proxy->lock);
  proxy->requests = g_ptr_array_new_with_free_func (g_free);
  {
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    g_assert_true (g_socket_listener_add_address (G_SOCKET_LISTENER (service), addr, G_SOCKET_TYPE_STREAM,
                                                  G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error));
    g_assert_no_error (error);
    proxy->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  }
  g_signal_connect (service, "run", G_CALLBACK (proxy_run_cb), proxy);
  g_socket_service_start (service);
  return service;
}

static guint
proxy_count (Proxy *proxy, const char *request)
{
  guint n = 0;

  g_mutex_lock (&proxy->lock);
  for (guint i = 0; i < proxy->requests->len; i++)
    if (g_strcmp0 (g_ptr_array_index (proxy->requests, i), request) == 0)
      n++;
  g_mutex_unlock (&proxy->lock);
  return n;
}

/* This host's first non-loopback IPv4 address: reached through the kernel, like a remote one, but
 * the packets never leave the machine. */
static char *
own_address (void)
{
  struct ifaddrs *list = NULL, *i;
  char *found = NULL;

  g_assert_cmpint (getifaddrs (&list), ==, 0);
  for (i = list; i != NULL && found == NULL; i = i->ifa_next)
    if (i->ifa_addr != NULL && i->ifa_addr->sa_family == AF_INET)
      {
        g_autoptr(GSocketAddress) sa = g_socket_address_new_from_native (i->ifa_addr, sizeof (struct sockaddr_in));
        GInetAddress *a = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa));

        if (!g_inet_address_get_is_loopback (a))
          found = g_inet_address_to_string (a);
      }
  freeifaddrs (list);
  g_assert_nonnull (found);
  return found;
}

static void
server_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "direct", 6);
}

typedef struct
{
  GBytes *body;
  GError *error;
  gboolean done;
} Result;

static void
sent_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Result *r = user_data;

  r->body = soup_session_send_and_read_finish (SOUP_SESSION (source), res, &r->error);
  r->done = TRUE;
}

static char *
fetch (SoupSession *session, const char *url)
{
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  Result r = { 0 };
  char *text;

  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, sent_cb, &r);
  ecsa_test_wait_for_flag (NULL, &r.done, 20000);
  g_assert_no_error (r.error);
  text = g_strndup (g_bytes_get_data (r.body, NULL), g_bytes_get_size (r.body));
  g_bytes_unref (r.body);
  return text;
}

static gboolean
accept_any_cb (GTlsConnection *conn, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer user_data)
{
  return TRUE;
}

static gboolean
accept_any_msg_cb (SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer user_data)
{
  return TRUE;
}

static void
connected_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Result *r = user_data;
  g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_uri_finish (G_SOCKET_CLIENT (source), res, &r->error);

  r->done = TRUE;
}

static void
socket_event_cb (GSocketClient *client, GSocketClientEvent event, GSocketConnectable *connectable,
                 GIOStream *connection, gpointer user_data)
{
  if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING)
    g_signal_connect (connection, "accept-certificate", G_CALLBACK (accept_any_cb), NULL);
}

static void
test_real_proxy (void)
{
  Proxy proxy = { 0 };
  g_autoptr(GSocketService) service = proxy_start (&proxy);
  g_autoptr(SoupServer) server = soup_server_new (NULL, NULL);
  g_autoptr(SoupServer) plain = soup_server_new (NULL, NULL);
  g_autofree char *cert_dir = ecsa_test_mkdtemp ();
  g_autofree char *ip = own_address ();
  g_autofree char *proxy_url = NULL;
  g_autoptr(EcsaProxyResolver) resolver = NULL;
  g_autoptr(EcsaProxyResolver) skipping = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupSession) direct = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *https_url = NULL;
  g_autofree char *http_url = NULL;
  g_autofree char *connect = NULL;
  g_autofree char *text = NULL;
  guint16 tls_port, plain_port;
  GSList *uris;

  ecsa_test_make_certificates (cert_dir);
  {
    g_autofree char *pem = g_build_filename (cert_dir, "server.pem", NULL);
    g_autofree char *key = g_build_filename (cert_dir, "server.key", NULL);
    g_autoptr(GTlsCertificate) cert = g_tls_certificate_new_from_files (pem, key, &error);

    g_assert_no_error (error);
    soup_server_set_tls_certificate (server, cert);
  }
  soup_server_add_handler (server, NULL, server_cb, NULL, NULL);
  soup_server_add_handler (plain, NULL, server_cb, NULL, NULL);
  g_assert_true (soup_server_listen_all (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY | SOUP_SERVER_LISTEN_HTTPS, &error));
  g_assert_no_error (error);
  g_assert_true (soup_server_listen_all (plain, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (server);
  tls_port = (guint16) g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  uris = soup_server_get_uris (plain);
  plain_port = (guint16) g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  proxy_url = g_strdup_printf ("127.0.0.1:%u", proxy.port);
  resolver = ecsa_proxy_resolver_new (proxy_url, NULL, "", NULL);
  session = soup_session_new_with_options ("proxy-resolver", resolver, NULL);

  /* https to this host's own address: a CONNECT through the proxy (-k: the certificate names
   * 127.0.0.1) */
  https_url = g_strdup_printf ("https://%s:%u/ecs", ip, tls_port);
  {
    g_autoptr(SoupMessage) msg = soup_message_new ("GET", https_url);
    Result r = { 0 };

    g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any_msg_cb), NULL);
    soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, sent_cb, &r);
    ecsa_test_wait_for_flag (NULL, &r.done, 20000);
    g_assert_no_error (r.error);
    g_assert_cmpmem (g_bytes_get_data (r.body, NULL), g_bytes_get_size (r.body), "direct", 6);
    g_bytes_unref (r.body);
  }
  connect = g_strdup_printf ("CONNECT %s:%u", ip, tls_port);
  g_assert_cmpuint (proxy_count (&proxy, connect), ==, 1);

  /* http: the absolute URI to the proxy, which answers itself */
  http_url = g_strdup_printf ("http://%s:%u/x", ip, plain_port);
  text = fetch (session, http_url);
  g_assert_cmpstr (text, ==, "proxied");
  g_clear_pointer (&text, g_free);
  {
    g_autofree char *get = g_strdup_printf ("GET %s", http_url);
    g_assert_cmpuint (proxy_count (&proxy, get), ==, 1);
  }

  /* loopback: direct */
  {
    g_autofree char *lo = g_strdup_printf ("http://127.0.0.1:%u/x", plain_port);
    text = fetch (session, lo);
    g_assert_cmpstr (text, ==, "direct");
    g_clear_pointer (&text, g_free);
  }

  /* as ACS and TCS connect: GSocketClient by URI, TLS, through the proxy */
  {
    g_autoptr(GSocketClient) client = g_socket_client_new ();
    g_autofree char *uri = g_strdup_printf ("https://%s:%u/", ip, tls_port);
    Result r = { 0 };

    g_socket_client_set_tls (client, TRUE);
    g_socket_client_set_proxy_resolver (client, G_PROXY_RESOLVER (resolver));
    g_signal_connect (client, "event", G_CALLBACK (socket_event_cb), NULL);
    g_socket_client_connect_to_uri_async (client, uri, 443, NULL, connected_cb, &r);
    ecsa_test_wait_for_flag (NULL, &r.done, 20000);
    g_assert_no_error (r.error);
    g_assert_cmpuint (proxy_count (&proxy, connect), ==, 2);
  }

  /* NO_PROXY names the address: direct */
  skipping = ecsa_proxy_resolver_new (proxy_url, NULL, ip, NULL);
  direct = soup_session_new_with_options ("proxy-resolver", skipping, NULL);
  text = fetch (direct, http_url);
  g_assert_cmpstr (text, ==, "direct");
  g_assert_cmpuint (proxy.requests->len, ==, 3);

  soup_session_abort (session);
  soup_session_abort (direct);
  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  ecsa_test_rmdir_recursive (cert_dir);
  g_ptr_array_unref (proxy.requests);
}

/* GIO's default resolver, which it builds for every connection, is the inert one: no libproxy,
 * no GSettings; an explicit choice in the environment is kept. */
static void
test_inert_system_resolver (void)
{
  if (g_test_subprocess ())
    {
      g_unsetenv ("GIO_USE_PROXY_RESOLVER");
      ecsa_proxy_use_inert_system_resolver ();
      g_assert_cmpstr (g_getenv ("GIO_USE_PROXY_RESOLVER"), ==, "dummy");
      g_assert_cmpstr (G_OBJECT_TYPE_NAME (g_proxy_resolver_get_default ()), ==, "GDummyProxyResolver");
      g_setenv ("GIO_USE_PROXY_RESOLVER", "libproxy", TRUE);
      ecsa_proxy_use_inert_system_resolver ();
      g_assert_cmpstr (g_getenv ("GIO_USE_PROXY_RESOLVER"), ==, "libproxy");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* The agent's connections get a resolver only when a proxy is set: without one they do no proxy
 * lookup at all (ecsa-proxy.h). The environment is read once per process: one subprocess each. */
static void
test_for_connections (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(GProxyResolver) r = NULL;
      static const char *const names[] = { "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy" };

      for (guint i = 0; i < G_N_ELEMENTS (names); i++)
        g_unsetenv (names[i]);
      g_setenv ("NO_PROXY", "skip.me", TRUE);
      if (g_strcmp0 (g_getenv ("ECSA_TEST_CASE"), "proxy") == 0)
        g_setenv ("https_proxy", "proxy.example:3128", TRUE);
      r = ecsa_proxy_resolver_get_for_connections ("unix:///var/run/docker.sock");
      if (g_getenv ("https_proxy") == NULL)
        g_assert_null (r);
      else
        {
          g_auto(GStrv) proxies = NULL;

          g_assert_nonnull (r);
          proxies = g_proxy_resolver_lookup (r, "https://ecs.example/", NULL, NULL);
          g_assert_cmpstr (proxies[0], ==, "http://proxy.example:3128");
        }
      return;
    }
  g_unsetenv ("ECSA_TEST_CASE");
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  g_setenv ("ECSA_TEST_CASE", "proxy", TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  g_unsetenv ("ECSA_TEST_CASE");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  g_test_add_func ("/proxy/choice", test_choice);
  g_test_add_func ("/proxy/inert-system-resolver", test_inert_system_resolver);
  g_test_add_func ("/proxy/for-connections", test_for_connections);
  g_test_add_func ("/proxy/no-proxy", test_no_proxy);
  g_test_add_func ("/proxy/environment", test_environment);
  g_test_add_func ("/proxy/real", test_real_proxy);
  return g_test_run ();
}

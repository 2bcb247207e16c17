/* test-log-delivery.c: the log-driver plugins' configurations delivered by the real dockerd.
 *
 * Each case prepares a LogConfig through the plugin (fill_defaults + validate_options, as the
 * engine does), creates a container with it through the Docker API (NetworkMode none, the test
 * image, `echo <marker>`), runs it, and checks the line arrived at a listener this test runs on
 * 127.0.0.1: syslog over UDP and TCP, GELF over UDP (gzip) and TCP, fluentd (msgpack), splunk's
 * HTTP event collector; json-file is read back through Docker's /logs. journald and none are
 * checked for what Docker does with them here. A last table checks the plugins' verdicts on
 * options against dockerd's own at create time (never starting a container that would reach out).
 * Nothing leaves loopback: every address is 127.0.0.1, 169.254.0.0/16 is rejected meanwhile, and
 * no name is ever resolved.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-plugins.h"

#include <string.h>
#include <unistd.h>

const EcsaPluginDescriptor *ecsa_plugin_log_json_file_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_none_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_syslog_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_journald_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_gelf_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_fluentd_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_awslogs_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_splunk_get_descriptor (void);
const EcsaPluginDescriptor *ecsa_plugin_log_logentries_get_descriptor (void);

#define O(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define DELIVERY_TIMEOUT_MS 20000
#define SPLUNK_TOKEN "11111111-2222-3333-4444-splunk-secret"

static guint counter;

typedef struct
{
  EcsaTestHost *host;
  GPtrArray *containers; /* IDs to remove */
  char *name;            /* this case's container name */
  char *marker;          /* the line the container prints */
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->host = ecsa_test_host_new ();
  ecsa_test_host_set_region (fx->host, "us-west-2");
  fx->containers = g_ptr_array_new_with_free_func (g_free);
  counter++;
  fx->name = g_strdup_printf ("%s-log-%u", ecsa_test_plugins_prefix (), counter);
  fx->marker = g_strdup_printf ("ecsa-marker-%d-%u-%08x", (int) getpid (), counter, g_random_int ());
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  guint i;

  for (i = 0; i < fx->containers->len; i++)
    ecsa_test_docker_remove_container (g_ptr_array_index (fx->containers, i));
  g_ptr_array_unref (fx->containers);
  ecsa_test_host_free (fx->host);
  g_free (fx->name);
  g_free (fx->marker);
}

#ifndef ECSA_TEST_VS_DOCKERD
/* The plugin's preparation of `kv` for a container of a task, as the engine does it. */
static GHashTable *
prepare (Fixture *fx, const EcsaPluginDescriptor *d, const char *const *kv)
{
  g_autoptr(EcsaTestPlugin) p = NULL;
  g_autoptr(GError) error = NULL;
  GHashTable *options = ecsa_test_options_new (kv);
  EcsaTestTaskView view;

  p = ecsa_test_plugin_init (d, fx->host, &error);
  g_assert_no_error (error);
  ecsa_test_task_view_init (&view, "arn:aws:ecs:us-west-2:123456789012:task/ecsa-test", "app", "", "");
  view.container.log_driver = ((const EcsaLogDriverVTable *) d->vtable)->driver;
  if (!ecsa_test_log_prepare (p, &view.task, &view.container, options, &error))
    g_error ("%s: %s", view.container.log_driver, error->message);
  ecsa_test_task_view_clear (&view);
  return options;
}

/* Create and run `echo <marker>` with the driver and options; returns the container ID. */
static char *
run (Fixture *fx, const char *driver, GHashTable *options)
{
  g_autofree char *script = g_strdup_printf ("echo %s", fx->marker);
  g_autofree char *message = NULL;
  char *id = ecsa_test_docker_create (fx->name, script, driver, options, &message);

  if (id == NULL)
    g_error ("creating a %s container: %s", driver, message);
  g_ptr_array_add (fx->containers, g_strdup (id));
  if (!ecsa_test_docker_start (id, &message))
    g_error ("starting a %s container: %s", driver, message);
  g_assert_cmpint (ecsa_test_docker_wait (id), ==, 0);
  return id;
}

/* ---- listeners on 127.0.0.1 --------------------------------------------------------------------- */

static GSocket *
listen_on_loopback (GSocketType type, guint *out_port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_from_string ("127.0.0.1");
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, type, G_SOCKET_PROTOCOL_DEFAULT, &error);

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (s, any, TRUE, &error));
  g_assert_no_error (error);
  if (type == G_SOCKET_TYPE_STREAM)
    {
      g_assert_true (g_socket_listen (s, &error));
      g_assert_no_error (error);
    }
  bound = g_socket_get_local_address (s, &error);
  g_assert_no_error (error);
  *out_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return s;
}

static gboolean
wait_readable (GSocket *s, gint64 deadline)
{
  gint64 left = deadline - g_get_monotonic_time ();

  if (left <= 0)
    return FALSE;
  return g_socket_condition_timed_wait (s, G_IO_IN, left, NULL, NULL);
}

/* Datagrams until `done` says so; fails after the timeout naming `what`. */
typedef gboolean (*DatagramFunc) (const guint8 *data, gsize len, gpointer user_data);

static void
receive_datagrams (GSocket *s, DatagramFunc done, gpointer user_data, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + DELIVERY_TIMEOUT_MS * 1000;
  guint8 buf[65536];

  for (;;)
    {
      gssize n;

      if (!wait_readable (s, deadline))
        g_error ("%s: nothing matching arrived within %d ms", what, DELIVERY_TIMEOUT_MS);
      n = g_socket_receive (s, (gchar *) buf, sizeof (buf), NULL, NULL);
      if (n > 0 && done (buf, (gsize) n, user_data))
        return;
    }
}

/* Accept one connection and read from it until `done` says the bytes so far suffice. */
typedef gboolean (*StreamFunc) (GByteArray *data, gpointer user_data);

static void
receive_stream (GSocket *listener, StreamFunc done, gpointer user_data, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + DELIVERY_TIMEOUT_MS * 1000;
  g_autoptr(GSocket) conn = NULL;
  g_autoptr(GByteArray) data = g_byte_array_new ();
  guint8 buf[65536];

  if (!wait_readable (listener, deadline))
    g_error ("%s: dockerd did not connect within %d ms", what, DELIVERY_TIMEOUT_MS);
  conn = g_socket_accept (listener, NULL, NULL);
  g_assert_nonnull (conn);
  for (;;)
    {
      gssize n;

      if (!wait_readable (conn, deadline))
        g_error ("%s: nothing matching arrived within %d ms (%u bytes)", what, DELIVERY_TIMEOUT_MS, data->len);
      n = g_socket_receive (conn, (gchar *) buf, sizeof (buf), NULL, NULL);
      if (n <= 0)
        g_error ("%s: the connection closed after %u bytes without the line", what, data->len);
      g_byte_array_append (data, buf, (guint) n);
      if (done (data, user_data))
        return;
    }
}

/* ---- syslog -------------------------------------------------------------------------------------- */

typedef struct
{
  const char *marker;
  const char *tag;
  char *line;
} SyslogWait;

static gboolean
syslog_datagram (const guint8 *data, gsize len, gpointer user_data)
{
  SyslogWait *w = user_data;
  g_autofree char *text = g_strndup ((const char *) data, len);

  if (strstr (text, w->marker) == NULL)
    return FALSE;
  w->line = g_steal_pointer (&text);
  return TRUE;
}

static gboolean
syslog_stream (GByteArray *data, gpointer user_data)
{
  return syslog_datagram (data->data, data->len, user_data);
}

static void
test_syslog_udp (Fixture *fx, gconstpointer data)
{
  guint port;
  g_autoptr(GSocket) s = listen_on_loopback (G_SOCKET_TYPE_DATAGRAM, &port);
  g_autofree char *address = g_strdup_printf ("udp://127.0.0.1:%u", port);
  g_autoptr(GHashTable) options = prepare (
    fx, ecsa_plugin_log_syslog_get_descriptor (),
    O ("syslog-address", address, "tag", "ecsa-syslog-udp", "syslog-facility", "local3"));
  g_autofree char *id = run (fx, "syslog", options);
  SyslogWait w = { .marker = fx->marker };

  receive_datagrams (s, syslog_datagram, &w, "syslog over udp");
  g_test_message ("received: %s", w.line);
  /* local3 (19) * 8 + info (6) = 158; the default (unix) format "<pri>timestamp tag[pid]: msg" */
  g_assert_true (g_str_has_prefix (w.line, "<158>"));
  g_assert_nonnull (strstr (w.line, "ecsa-syslog-udp["));
  g_free (w.line);
}

static void
test_syslog_tcp (Fixture *fx, gconstpointer data)
{
  guint port;
  g_autoptr(GSocket) s = listen_on_loopback (G_SOCKET_TYPE_STREAM, &port);
  g_autofree char *address = g_strdup_printf ("tcp://127.0.0.1:%u", port);
  g_autoptr(GHashTable) options = prepare (
    fx, ecsa_plugin_log_syslog_get_descriptor (),
    O ("syslog-address", address, "tag", "ecsa-syslog-tcp", "syslog-format", "rfc5424"));
  g_autofree char *id = run (fx, "syslog", options);
  SyslogWait w = { .marker = fx->marker };

  receive_stream (s, syslog_stream, &w, "syslog over tcp");
  g_test_message ("received: %s", w.line);
  /* RFC 5424: "<30>1 <timestamp> <host> <tag> <pid> <tag> - <msg>" (daemon.info = 30) */
  g_assert_true (g_str_has_prefix (w.line, "<30>1 "));
  g_assert_nonnull (strstr (w.line, " ecsa-syslog-tcp "));
  g_free (w.line);
}

/* ---- gelf ------------------------------------------------------------------------------------------ */

typedef struct
{
  const char *marker;
  JsonObject *message;
  JsonNode *root;
} GelfWait;

static gboolean
gelf_json (GelfWait *w, const char *json, gsize len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *o;

  if (!json_parser_load_from_data (parser, json, (gssize) len, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return FALSE;
  o = json_node_get_object (json_parser_get_root (parser));
  if (g_strcmp0 (json_object_get_string_member_with_default (o, "short_message", ""), w->marker) != 0)
    return FALSE;
  w->root = json_node_copy (json_parser_get_root (parser));
  w->message = json_node_get_object (w->root);
  return TRUE;
}

static gboolean
gelf_datagram (const guint8 *data, gsize len, gpointer user_data)
{
  g_autoptr(GConverter) gunzip = G_CONVERTER (g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP));
  g_autoptr(GInputStream) raw = g_memory_input_stream_new_from_data (data, (gssize) len, NULL);
  g_autoptr(GInputStream) in = g_converter_input_stream_new (raw, gunzip);
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  gssize n = g_output_stream_splice (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, NULL);

  if (n <= 0)
    return FALSE;
  return gelf_json (user_data, g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (out)),
                    g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (out)));
}

/* GELF over TCP: uncompressed JSON messages, each ended by a NUL byte. */
static gboolean
gelf_stream (GByteArray *data, gpointer user_data)
{
  gsize start = 0;
  gsize i;

  for (i = 0; i < data->len; i++)
    {
      if (data->data[i] != '\0')
        continue;
      if (gelf_json (user_data, (const char *) data->data + start, i - start))
        return TRUE;
      start = i + 1;
    }
  return FALSE;
}

static void
check_gelf (Fixture *fx, GelfWait *w)
{
  g_autofree char *container_name = g_strdup (fx->name);

  g_assert_cmpstr (json_object_get_string_member (w->message, "version"), ==, "1.1");
  g_assert_cmpstr (json_object_get_string_member (w->message, "_container_name"), ==, container_name);
  g_assert_true (json_object_has_member (w->message, "_container_id"));
  g_assert_true (json_object_has_member (w->message, "host"));
  json_node_unref (w->root);
}

static void
test_gelf_udp (Fixture *fx, gconstpointer data)
{
  guint port;
  g_autoptr(GSocket) s = listen_on_loopback (G_SOCKET_TYPE_DATAGRAM, &port);
  g_autofree char *address = g_strdup_printf ("udp://127.0.0.1:%u", port);
  g_autoptr(GHashTable) options = prepare (fx, ecsa_plugin_log_gelf_get_descriptor (),
                                           O ("gelf-address", address, "gelf-compression-type", "gzip"));
  g_autofree char *id = run (fx, "gelf", options);
  GelfWait w = { .marker = fx->marker };

  receive_datagrams (s, gelf_datagram, &w, "gelf over udp");
  check_gelf (fx, &w);
}

static void
test_gelf_tcp (Fixture *fx, gconstpointer data)
{
  guint port;
  g_autoptr(GSocket) s = listen_on_loopback (G_SOCKET_TYPE_STREAM, &port);
  g_autofree char *address = g_strdup_printf ("tcp://127.0.0.1:%u", port);
  g_autoptr(GHashTable) options = prepare (fx, ecsa_plugin_log_gelf_get_descriptor (),
                                           O ("gelf-address", address, "gelf-tcp-max-reconnect", "1"));
  g_autofree char *id = run (fx, "gelf", options);
  GelfWait w = { .marker = fx->marker };

  receive_stream (s, gelf_stream, &w, "gelf over tcp");
  check_gelf (fx, &w);
}

/* ---- fluentd (msgpack forward protocol) ------------------------------------------------------- */

static guint64
read_be (const guint8 **p, guint k)
{
  guint64 n = 0;
  guint i;

  for (i = 0; i < k; i++)
    n = (n << 8) | (*p)[i];
  *p += k;
  return n;
}

/* One msgpack value as JSON (ext values, such as fluentd's EventTime, as null). NULL when the data
 * ends before the value does. */
static JsonNode *
mp_decode (const guint8 **pp, const guint8 *end)
{
  const guint8 *p = *pp;
  JsonNode *node = NULL;
  guint8 b;
  gsize size = 0;
  guint k;
  enum
  {
    SCALAR,
    STR,
    EXT,
    ARRAY,
    MAP
  } kind = SCALAR;

#define NEED(n)                                                                                            \
  if ((gsize) (end - p) < (gsize) (n))                                                                     \
  return NULL

  NEED (1);
  b = *p++;
  if (b <= 0x7f)
    node = json_node_init_int (json_node_alloc (), b);
  else if (b >= 0xe0)
    node = json_node_init_int (json_node_alloc (), (gint8) b);
  else if (b <= 0x8f)
    kind = MAP, size = b & 0x0f;
  else if (b <= 0x9f)
    kind = ARRAY, size = b & 0x0f;
  else if (b <= 0xbf)
    kind = STR, size = b & 0x1f;
  else if (b == 0xc0)
    node = json_node_init_null (json_node_alloc ());
  else if (b == 0xc2 || b == 0xc3)
    node = json_node_init_boolean (json_node_alloc (), b == 0xc3);
  else if (b >= 0xc4 && b <= 0xc6) /* bin 8/16/32 */
    {
      k = 1u << (b - 0xc4);
      NEED (k);
      kind = STR, size = read_be (&p, k);
    }
  else if (b >= 0xc7 && b <= 0xc9) /* ext 8/16/32 */
    {
      k = 1u << (b - 0xc7);
      NEED (k);
      kind = EXT, size = read_be (&p, k);
    }
  else if (b == 0xca || b == 0xcb) /* float 32/64 */
    {
      guint64 bits;
      k = b == 0xca ? 4 : 8;
      NEED (k);
      bits = read_be (&p, k);
      if (k == 4)
        {
          guint32 u = (guint32) bits;
          float f;
          memcpy (&f, &u, 4);
          node = json_node_init_double (json_node_alloc (), f);
        }
      else
        {
          double d;
          memcpy (&d, &bits, 8);
          node = json_node_init_double (json_node_alloc (), d);
        }
    }
  else if (b >= 0xcc && b <= 0xcf) /* uint 8..64 */
    {
      k = 1u << (b - 0xcc);
      NEED (k);
      node = json_node_init_int (json_node_alloc (), (gint64) read_be (&p, k));
    }
  else if (b >= 0xd0 && b <= 0xd3) /* int 8..64 */
    {
      guint64 u;
      k = 1u << (b - 0xd0);
      NEED (k);
      u = read_be (&p, k);
      if (k < 8 && (u >> (8 * k - 1)) != 0)
        u |= ~(guint64) 0 << (8 * k);
      node = json_node_init_int (json_node_alloc (), (gint64) u);
    }
  else if (b >= 0xd4 && b <= 0xd8) /* fixext 1..16 */
    kind = EXT, size = (gsize) 1 << (b - 0xd4);
  else if (b >= 0xd9 && b <= 0xdb) /* str 8/16/32 */
    {
      k = 1u << (b - 0xd9);
      NEED (k);
      kind = STR, size = read_be (&p, k);
    }
  else if (b == 0xdc || b == 0xdd || b == 0xde || b == 0xdf) /* array/map 16/32 */
    {
      k = (b == 0xdc || b == 0xde) ? 2 : 4;
      NEED (k);
      kind = b <= 0xdd ? ARRAY : MAP;
      size = read_be (&p, k);
    }
  else
    g_error ("fluentd listener: msgpack byte 0x%02x is not valid", b);

  if (kind == STR)
    {
      g_autofree char *s = NULL;
      NEED (size);
      s = g_strndup ((const char *) p, size);
      p += size;
      node = json_node_init_string (json_node_alloc (), s);
    }
  else if (kind == EXT)
    {
      NEED (size + 1); /* the type byte, then the data */
      p += size + 1;
      node = json_node_init_null (json_node_alloc ());
    }
  else if (kind == ARRAY || kind == MAP)
    {
      g_autoptr(JsonArray) a = json_array_new ();
      g_autoptr(JsonObject) o = json_object_new ();
      gsize i;

      for (i = 0; i < size; i++)
        {
          g_autoptr(JsonNode) key = NULL;
          JsonNode *value;

          if (kind == MAP && (key = mp_decode (&p, end)) == NULL)
            return NULL;
          if ((value = mp_decode (&p, end)) == NULL)
            return NULL;
          if (kind == ARRAY)
            json_array_add_element (a, value);
          else
            json_object_set_member (o, JSON_NODE_HOLDS_VALUE (key) && json_node_get_value_type (key) == G_TYPE_STRING
                                         ? json_node_get_string (key)
                                         : "?",
                                    value);
        }
      node = json_node_alloc ();
      if (kind == ARRAY)
        json_node_init_array (node, a);
      else
        json_node_init_object (node, o);
    }
#undef NEED
  *pp = p;
  return node;
}

typedef struct
{
  const char *marker;
  char *tag;
  JsonNode *record;
} FluentWait;

static gboolean
fluent_stream (GByteArray *data, gpointer user_data)
{
  FluentWait *w = user_data;
  const guint8 *p = data->data;
  const guint8 *end = data->data + data->len;
  JsonNode *entry;

  while ((entry = mp_decode (&p, end)) != NULL)
    {
      JsonArray *a = JSON_NODE_HOLDS_ARRAY (entry) ? json_node_get_array (entry) : NULL;
      JsonObject *record = NULL;

      if (a != NULL && json_array_get_length (a) >= 3 && JSON_NODE_HOLDS_OBJECT (json_array_get_element (a, 2)))
        record = json_array_get_object_element (a, 2);
      if (record != NULL && g_strcmp0 (json_object_get_string_member_with_default (record, "log", ""), w->marker) == 0)
        {
          w->tag = g_strdup (json_array_get_string_element (a, 0));
          w->record = json_node_copy (json_array_get_element (a, 2));
          json_node_unref (entry);
          return TRUE;
        }
      json_node_unref (entry);
    }
  return FALSE;
}

static void
test_fluentd (Fixture *fx, gconstpointer data)
{
  guint port;
  g_autoptr(GSocket) s = listen_on_loopback (G_SOCKET_TYPE_STREAM, &port);
  g_autofree char *address = g_strdup_printf ("tcp://127.0.0.1:%u", port);
  g_autoptr(GHashTable) options = prepare (
    fx, ecsa_plugin_log_fluentd_get_descriptor (),
    O ("fluentd-address", address, "tag", "ecsa.fluentd", "fluentd-retry-wait", "100ms", "fluentd-max-retries", "3"));
  g_autofree char *id = run (fx, "fluentd", options);
  g_autofree char *expected_name = g_strdup_printf ("/%s", fx->name);
  FluentWait w = { .marker = fx->marker };
  JsonObject *record;

  receive_stream (s, fluent_stream, &w, "fluentd over tcp");
  record = json_node_get_object (w.record);
  g_assert_cmpstr (w.tag, ==, "ecsa.fluentd");
  g_assert_cmpstr (json_object_get_string_member (record, "container_name"), ==, expected_name);
  g_assert_cmpstr (json_object_get_string_member (record, "container_id"), ==, id);
  g_assert_cmpstr (json_object_get_string_member (record, "source"), ==, "stdout");
  json_node_unref (w.record);
  g_free (w.tag);
}

/* ---- splunk (HTTP event collector) ------------------------------------------------------------- */

static void
splunk_handler (const EcsaTestHttpRequest *req, guint *out_status, char **out_content_type, GBytes **out_body,
                gpointer user_data)
{
  static const char ok[] = "{\"text\":\"Success\",\"code\":0}";

  /* dockerd's connection check (OPTIONS) carries no token; events must */
  *out_status = g_strcmp0 (req->method, "OPTIONS") == 0
                    || g_strcmp0 (soup_message_headers_get_one (req->headers, "Authorization"), "Splunk " SPLUNK_TOKEN)
                         == 0
                  ? 200
                  : 403;
  *out_content_type = g_strdup ("application/json");
  *out_body = g_bytes_new_static (ok, sizeof (ok) - 1);
}

static void
test_splunk (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTestHttpServer) server = ecsa_test_http_server_new (0, NULL, NULL, splunk_handler, NULL);
  g_autofree char *url = ecsa_test_http_server_get_url (server);
  g_autoptr(GHashTable) options = prepare (fx, ecsa_plugin_log_splunk_get_descriptor (),
                                           O ("splunk-url", url, "splunk-token", SPLUNK_TOKEN, "splunk-format",
                                              "json", "splunk-source", "ecsa-test", "tag", "ecsa-splunk"));
  g_autofree char *id = run (fx, "splunk", options);
  gboolean found = FALSE;
  guint i = 0;
  gint64 deadline = g_get_monotonic_time () + DELIVERY_TIMEOUT_MS * 1000;

  /* dockerd checks the collector with OPTIONS at start, then POSTs batches (at the latest when the
   * container's logger closes) */
  while (!found)
    {
      g_autoptr(EcsaTestHttpRequest) r = NULL;
      g_autofree char *body = NULL;

      if (g_get_monotonic_time () > deadline)
        g_error ("splunk: no event with the line within %d ms", DELIVERY_TIMEOUT_MS);
      ecsa_test_http_server_wait (server, i + 1, DELIVERY_TIMEOUT_MS);
      r = ecsa_test_http_server_get (server, i++);
      g_test_message ("splunk: %s %s", r->method, r->path);
      g_assert_cmpstr (r->path, ==, "/services/collector/event/1.0");
      if (g_strcmp0 (r->method, "POST") != 0)
        continue;
      g_assert_cmpstr (soup_message_headers_get_one (r->headers, "Authorization"), ==, "Splunk " SPLUNK_TOKEN);
      body = g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
      if (strstr (body, fx->marker) != NULL)
        {
          g_autoptr(JsonNode) event = json_from_string (body, NULL);
          JsonObject *o = json_node_get_object (event);

          g_test_message ("splunk event: %s", body);
          g_assert_cmpstr (json_object_get_string_member (o, "source"), ==, "ecsa-test");
          g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "event"), "line"), ==,
                           fx->marker);
          g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "event"), "tag"), ==,
                           "ecsa-splunk");
          found = TRUE;
        }
    }
  ecsa_test_assert_no_secret (SPLUNK_TOKEN);
}

/* ---- json-file, none, journald ------------------------------------------------------------------- */

static void
test_json_file (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = prepare (fx, ecsa_plugin_log_json_file_get_descriptor (),
                                           O ("max-size", "1m", "max-file", "2", "compress", "true"));
  g_autofree char *id = run (fx, "json-file", options);
  g_autofree char *logs = ecsa_test_docker_logs (id);
  g_autofree char *expected = g_strdup_printf ("%s\n", fx->marker);

  g_assert_cmpstr (logs, ==, expected);
}

static void
test_none (Fixture *fx, gconstpointer data)
{
  g_autoptr(GHashTable) options = prepare (fx, ecsa_plugin_log_none_get_descriptor (), NULL);
  g_autofree char *id = run (fx, "none", options);
  g_autofree char *path = g_strdup_printf ("/containers/%s/logs?stdout=1", id);
  g_autoptr(JsonNode) answer = NULL;
  guint status = 0;

  answer = ecsa_test_docker_json ("GET", path, NULL, &status);
  g_assert_cmpuint (status, >=, 400);
  g_assert_nonnull (strstr (json_object_get_string_member (json_node_get_object (answer), "message"),
                            "does not support reading"));
}

/* The plugin says journald is unavailable here exactly when dockerd fails its containers. */
static void
test_journald (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaTestPlugin) p = ecsa_test_plugin_init (ecsa_plugin_log_journald_get_descriptor (), fx->host, &error);
  g_autofree char *message = NULL;
  g_autofree char *id = NULL;

  id = ecsa_test_docker_create (fx->name, "echo x", "journald", NULL, &message);
  g_assert_nonnull (id);
  g_ptr_array_add (fx->containers, g_strdup (id));
  if (p == NULL)
    {
      g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
      g_assert_false (ecsa_test_docker_start (id, &message));
      g_test_message ("dockerd: %s", message);
      g_assert_nonnull (strstr (message, "journald is not enabled on this host"));
    }
  else
    g_assert_true (ecsa_test_docker_start (id, &message));
}

#endif /* !ECSA_TEST_VS_DOCKERD */

#ifdef ECSA_TEST_VS_DOCKERD
/* ---- the plugins' verdicts against dockerd's --------------------------------------------------- */

typedef enum
{
  BOTH_ACCEPT,      /* plugin and dockerd's create accept */
  BOTH_REFUSE,      /* plugin refuses; dockerd's create refuses with `docker` in its message */
  PLUGIN_AT_CREATE, /* plugin refuses; dockerd creates it and fails it at start with `docker` */
} Verdict;

typedef struct
{
  const char *name;
  const char *driver;
  const char *const *options;
  Verdict verdict;
  const char *docker; /* a fragment of dockerd's message */
} CrossCase;

/* Only BOTH_ACCEPT cases of drivers that reach out are never started: create does not open them. */
static const CrossCase cross_cases[] = {
  { "json-file-ok", "json-file", O ("max-size", "10m", "max-file", "3", "labels", "a"), BOTH_ACCEPT, NULL },
  { "json-file-unknown", "json-file", O ("bogus", "1"), BOTH_REFUSE, "unknown log opt 'bogus' for json-file" },
  { "json-file-max-file", "json-file", O ("max-file", "0"), PLUGIN_AT_CREATE, "max-file cannot be less than 1" },
  { "json-file-mode", "json-file", O ("mode", "sometimes"), BOTH_REFUSE, "logging mode not supported" },
  { "syslog-ok", "syslog", O ("syslog-address", "udp://127.0.0.1:9", "syslog-format", "rfc5424micro"), BOTH_ACCEPT,
    NULL },
  { "syslog-facility", "syslog", O ("syslog-address", "udp://127.0.0.1:9", "syslog-facility", "local9"), BOTH_REFUSE,
    "invalid syslog facility" },
  { "syslog-format", "syslog", O ("syslog-format", "rfc9999"), BOTH_REFUSE, "Invalid syslog format" },
  { "syslog-address", "syslog", O ("syslog-address", "127.0.0.1:514"), BOTH_REFUSE,
    "syslog-address should be in form proto://address" },
  { "gelf-ok", "gelf", O ("gelf-address", "udp://127.0.0.1:9", "gelf-compression-level", "1"), BOTH_ACCEPT, NULL },
  { "gelf-missing", "gelf", NULL, BOTH_REFUSE, "gelf-address is a required parameter" },
  { "gelf-tcp-compression", "gelf", O ("gelf-address", "tcp://127.0.0.1:9", "gelf-compression-type", "gzip"),
    BOTH_REFUSE, "compression is only supported on UDP" },
  { "fluentd-ok", "fluentd", O ("fluentd-address", "127.0.0.1:9", "fluentd-async", "true"), BOTH_ACCEPT, NULL },
  { "fluentd-retry-wait", "fluentd", O ("fluentd-retry-wait", "1000"), BOTH_REFUSE, "missing unit in duration" },
  { "fluentd-both-async", "fluentd", O ("fluentd-async", "true", "fluentd-async-connect", "true"), BOTH_REFUSE,
    "conflicting options" },
  { "awslogs-ok", "awslogs", O ("awslogs-group", "g", "awslogs-endpoint", "http://127.0.0.1:9"), BOTH_ACCEPT, NULL },
  { "awslogs-no-group", "awslogs", O ("awslogs-endpoint", "http://127.0.0.1:9"), BOTH_REFUSE,
    "must specify a value for log opt 'awslogs-group'" },
  { "awslogs-create-group", "awslogs", O ("awslogs-group", "g", "awslogs-create-group", "yes"), BOTH_REFUSE,
    "awslogs-create-group" },
  { "splunk-ok", "splunk", O ("splunk-url", "http://127.0.0.1:9", "splunk-token", "t"), BOTH_ACCEPT, NULL },
  { "splunk-unknown", "splunk", O ("splunk-url", "http://127.0.0.1:9", "splunk-token", "t", "splunk-foo", "x"),
    BOTH_REFUSE, "unknown log opt 'splunk-foo'" },
  { "logentries-ok", "logentries", O ("logentries-token", "t", "line-only", "true"), BOTH_ACCEPT, NULL },
  { "logentries-missing", "logentries", NULL, BOTH_REFUSE, "Missing logentries token" },
  { "journald-unknown", "journald", O ("journald-foo", "x"), BOTH_REFUSE, "unknown log opt 'journald-foo'" },
  { "none-anything", "none", O ("max-size", "1m"), BOTH_ACCEPT, NULL },
};

static const EcsaPluginDescriptor *
descriptor_for (const char *driver)
{
  if (g_strcmp0 (driver, "json-file") == 0)
    return ecsa_plugin_log_json_file_get_descriptor ();
  if (g_strcmp0 (driver, "syslog") == 0)
    return ecsa_plugin_log_syslog_get_descriptor ();
  if (g_strcmp0 (driver, "gelf") == 0)
    return ecsa_plugin_log_gelf_get_descriptor ();
  if (g_strcmp0 (driver, "fluentd") == 0)
    return ecsa_plugin_log_fluentd_get_descriptor ();
  if (g_strcmp0 (driver, "awslogs") == 0)
    return ecsa_plugin_log_awslogs_get_descriptor ();
  if (g_strcmp0 (driver, "splunk") == 0)
    return ecsa_plugin_log_splunk_get_descriptor ();
  if (g_strcmp0 (driver, "logentries") == 0)
    return ecsa_plugin_log_logentries_get_descriptor ();
  if (g_strcmp0 (driver, "journald") == 0)
    return ecsa_plugin_log_journald_get_descriptor ();
  return ecsa_plugin_log_none_get_descriptor ();
}

static void
test_cross (Fixture *fx, gconstpointer data)
{
  const CrossCase *c = data;
  const EcsaPluginDescriptor *d = descriptor_for (c->driver);
  const EcsaLogDriverVTable *vt = d->vtable;
  g_autoptr(GHashTable) options = ecsa_test_options_new (c->options);
  g_autoptr(EcsaTestPlugin) p = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  g_autofree char *id = NULL;
  EcsaTestTaskView view;
  gboolean plugin_ok;

  /* journald's plugin does not load here; its option check needs no state */
  p = ecsa_test_plugin_init (d, fx->host, NULL);
  ecsa_test_task_view_init (&view, "arn:aws:ecs:us-west-2:123456789012:task/ecsa-test", "app", "", "");
  view.container.log_driver = c->driver;
  if (p != NULL)
    plugin_ok = ecsa_test_log_prepare (p, &view.task, &view.container, options, &error);
  else
    plugin_ok = vt->validate_options == NULL || vt->validate_options (NULL, options, &error);
  ecsa_test_task_view_clear (&view);
  g_test_message ("plugin: %s", plugin_ok ? "accepted" : error->message);

  id = ecsa_test_docker_create (fx->name, "true", c->driver, options, &message);
  if (id != NULL)
    g_ptr_array_add (fx->containers, g_strdup (id));
  g_test_message ("dockerd create: %s", id != NULL ? "created" : message);

  switch (c->verdict)
    {
    case BOTH_ACCEPT:
      g_assert_no_error (error);
      g_assert_true (plugin_ok);
      g_assert_nonnull (id);
      break;
    case BOTH_REFUSE:
      g_assert_false (plugin_ok);
      g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      g_assert_null (id);
      g_assert_nonnull (strstr (message, c->docker));
      break;
    case PLUGIN_AT_CREATE:
      g_assert_false (plugin_ok);
      g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      g_assert_nonnull (id);
      g_assert_false (ecsa_test_docker_start (id, &message));
      g_test_message ("dockerd start: %s", message);
      g_assert_nonnull (strstr (message, c->docker));
      break;
    }
}

#endif /* ECSA_TEST_VS_DOCKERD */

int
main (int argc, char **argv)
{
  guint i;
  int rc;

  ecsa_test_plugins_init (&argc, &argv);
  ecsa_test_require_docker ();
  ecsa_test_remove_containers_on_exit ();
  ecsa_test_guard_link_local ();
#define ADD(path, fn, data) g_test_add (path, Fixture, data, fixture_setup, fn, fixture_teardown)
  /* built twice (meson): the deliveries, and the verdicts against dockerd's, which run in parallel */
#ifndef ECSA_TEST_VS_DOCKERD
  ADD ("/log-delivery/syslog/udp", test_syslog_udp, NULL);
  ADD ("/log-delivery/syslog/tcp", test_syslog_tcp, NULL);
  ADD ("/log-delivery/gelf/udp", test_gelf_udp, NULL);
  ADD ("/log-delivery/gelf/tcp", test_gelf_tcp, NULL);
  ADD ("/log-delivery/fluentd", test_fluentd, NULL);
  ADD ("/log-delivery/splunk", test_splunk, NULL);
  ADD ("/log-delivery/json-file", test_json_file, NULL);
  ADD ("/log-delivery/none", test_none, NULL);
  ADD ("/log-delivery/journald", test_journald, NULL);
  (void) i;
#else
  for (i = 0; i < G_N_ELEMENTS (cross_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/log-options/vs-dockerd/%s", cross_cases[i].name);
      ADD (path, test_cross, &cross_cases[i]);
    }
#endif
  rc = g_test_run ();
  ecsa_test_unguard_link_local ();
  return rc;
}

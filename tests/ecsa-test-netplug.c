/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-netplug.h"

#include "ecsa-log.h"

#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DOCKER_SOCKET "/var/run/docker.sock"

/* ---------------------------------------------------------------------------------------------
 * The agent's plugin host
 * ------------------------------------------------------------------------------------------- */

static void
docker_backend_request_async (gpointer backend, const char *method, const char *path, GBytes *body, guint timeout_ms,
                              GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  ecsa_docker_client_request_async (backend, method, path, body, timeout_ms, cancellable, callback, user_data);
}

static GBytes *
docker_backend_request_finish (gpointer backend, GAsyncResult *result, guint *out_status, GError **error)
{
  return ecsa_docker_client_request_finish (backend, result, out_status, error);
}

static const EcsaPluginDockerBackend docker_backend = {
  .request_async = docker_backend_request_async,
  .request_finish = docker_backend_request_finish,
};

static void
capture_cb (EcsaLogLevel level, const char *line, gpointer user_data)
{
  g_ptr_array_add (user_data, g_strdup (line));
}

EcsaNetplugHost *
ecsa_netplug_host_new (guint32 kind, const char *name, const char *const *settings, const char *data_dir)
{
  EcsaNetplugHost *th = g_new0 (EcsaNetplugHost, 1);
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new (DOCKER_SOCKET);
  g_autoptr(JsonNode) version = NULL;
  g_autoptr(GPtrArray) envp = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  guint status = 0;
  guint i;

  ecsa_log_init ();
  ecsa_log_set_level (ECSA_LOG_DEBUG);
  ecsa_log_set_console (STDERR_FILENO); /* stdout is TAP */
  th->logs = g_ptr_array_new_with_free_func (g_free);
  ecsa_log_set_capture (capture_cb, th->logs);

  g_ptr_array_add (envp, g_strdup ("ECS_AGENT_CONFIG_FILE_PATH=/nonexistent/ecsa-test/config.json"));
  if (data_dir != NULL)
    {
      g_ptr_array_add (envp, g_strdup_printf ("ECS_DATADIR=%s", data_dir));
      g_ptr_array_add (envp, g_strdup ("ECS_CHECKPOINT=true"));
    }
  for (i = 0; settings != NULL && settings[i] != NULL; i++)
    g_ptr_array_add (envp, g_strdup (settings[i]));
  g_ptr_array_add (envp, NULL);
  th->config = ecsa_config_new ();
  if (!ecsa_config_load (th->config, (const char *const *) envp->pdata, &error))
    g_error ("test configuration: %s", error->message);

  th->http = soup_session_new_with_options ("timeout", 30, "proxy-resolver", NULL, NULL);
  th->docker_client = ecsa_docker_client_new (NULL, &error);
  g_assert_no_error (error);
  th->services = ecsa_plugin_host_services_new (th->config, NULL, th->http);
  ecsa_plugin_host_services_set_docker_backend (th->services, &docker_backend, th->docker_client);
  th->host = ecsa_plugin_host_new (th->services, kind, name, &error);
  g_assert_no_error (error);

  th->docker = soup_session_new_with_options ("remote-connectable", addr, "timeout", 120, NULL);
  th->docker_api = g_strdup ("v1.24");
  version = ecsa_netplug_docker (th, "GET", "/version", NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  g_free (th->docker_api);
  th->docker_api = g_strdup_printf ("v%s", json_object_get_string_member (json_node_get_object (version), "ApiVersion"));
  return th;
}

void
ecsa_netplug_host_free (EcsaNetplugHost *th)
{
  if (th == NULL)
    return;
  ecsa_log_set_capture (NULL, NULL);
  ecsa_plugin_host_free ((EcsaPluginHost *) th->host);
  ecsa_plugin_host_services_free (th->services);
  g_object_unref (th->docker_client);
  g_object_unref (th->http);
  ecsa_config_free (th->config);
  g_ptr_array_unref (th->logs);
  g_object_unref (th->docker);
  g_free (th->docker_api);
  g_free (th);
}

gboolean
ecsa_netplug_host_logged (EcsaNetplugHost *th, const char *fragment)
{
  guint i;

  for (i = 0; i < th->logs->len; i++)
    if (strstr (g_ptr_array_index (th->logs, i), fragment) != NULL)
      return TRUE;
  return FALSE;
}

/* ---------------------------------------------------------------------------------------------
 * Docker, synchronously (test set-up only)
 * ------------------------------------------------------------------------------------------- */

GBytes *
ecsa_netplug_docker_raw (EcsaNetplugHost *th, const char *method, const char *path, GBytes *body,
                         const char *content_type, guint *out_status)
{
  g_autofree char *uri = g_strdup_printf ("http://docker/%s%s", th->docker_api, path);
  g_autoptr(SoupMessage) msg = soup_message_new (method, uri);
  g_autoptr(GError) error = NULL;
  GBytes *reply;

  g_assert_nonnull (msg);
  if (body != NULL)
    soup_message_set_request_body_from_bytes (msg, content_type, body);
  reply = soup_session_send_and_read (th->docker, msg, NULL, &error);
  g_assert_no_error (error);
  *out_status = soup_message_get_status (msg);
  return reply;
}

static GBytes *
docker_raw (EcsaNetplugHost *th, const char *method, const char *path, const char *body, guint *out_status)
{
  g_autoptr(GBytes) b = body != NULL ? g_bytes_new (body, strlen (body)) : NULL;

  return ecsa_netplug_docker_raw (th, method, path, b, "application/json", out_status);
}

JsonNode *
ecsa_netplug_docker (EcsaNetplugHost *th, const char *method, const char *path, const char *body, guint *out_status)
{
  g_autoptr(GBytes) reply = docker_raw (th, method, path, body, out_status);
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (reply, &len);

  if (len == 0 || !json_parser_load_from_data (parser, data, (gssize) len, NULL))
    return NULL;
  return json_node_copy (json_parser_get_root (parser));
}

char *
ecsa_netplug_docker_run (EcsaNetplugHost *th, const char *name, const char *create_json)
{
  g_autofree char *path = g_strdup_printf ("/containers/create?name=%s", name);
  g_autofree char *start = NULL;
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(JsonNode) started = NULL;
  guint status = 0;
  char *id;

  created = ecsa_netplug_docker (th, "POST", path, create_json, &status);
  if (status != 201)
    g_error ("create '%s': HTTP %u %s", name, status, created ? json_to_string (created, FALSE) : "");
  id = g_strdup (json_object_get_string_member (json_node_get_object (created), "Id"));
  start = g_strdup_printf ("/containers/%s/start", id);
  started = ecsa_netplug_docker (th, "POST", start, NULL, &status);
  if (status != 204)
    g_error ("start '%s': HTTP %u %s", name, status, started ? json_to_string (started, FALSE) : "");
  return id;
}

gint
ecsa_netplug_docker_pid (EcsaNetplugHost *th, const char *id)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/json", id);
  g_autoptr(JsonNode) inspect = NULL;
  guint status = 0;

  inspect = ecsa_netplug_docker (th, "GET", path, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  return (gint) json_object_get_int_member (
    json_object_get_object_member (json_node_get_object (inspect), "State"), "Pid");
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
ecsa_netplug_iterate (guint ms)
{
  gboolean done = FALSE;
  GSource *t = g_timeout_source_new (ms);

  g_source_set_callback (t, set_flag_cb, &done, NULL);
  g_source_attach (t, g_main_context_default ());
  while (!done)
    g_main_context_iteration (g_main_context_default (), TRUE);
  g_source_unref (t);
}

gint
ecsa_netplug_docker_wait (EcsaNetplugHost *th, const char *id, guint timeout_s)
{
  g_autofree char *inspect_path = g_strdup_printf ("/containers/%s/json", id);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  guint status = 0;

  /* Poll inspect (a short, bounded wait) rather than block in /wait without a limit. */
  for (;;)
    {
      g_autoptr(JsonNode) inspect = ecsa_netplug_docker (th, "GET", inspect_path, NULL, &status);
      JsonObject *state;

      g_assert_cmpuint (status, ==, 200);
      state = json_object_get_object_member (json_node_get_object (inspect), "State");
      if (!json_object_get_boolean_member (state, "Running"))
        return (gint) json_object_get_int_member (state, "ExitCode");
      if (g_get_monotonic_time () > deadline)
        g_error ("container %s still running after %u s", id, timeout_s);
      ecsa_netplug_iterate (50); /* the test's own servers keep answering meanwhile */
    }
}

char *
ecsa_netplug_docker_logs (EcsaNetplugHost *th, const char *id)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/logs?stdout=1&stderr=1", id);
  guint status = 0;
  g_autoptr(GBytes) raw = docker_raw (th, "GET", path, NULL, &status);
  GString *out = g_string_new (NULL);
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (raw, &len);

  g_assert_cmpuint (status, ==, 200);
  while (len >= 8)
    {
      guint32 n = ((guint32) p[4] << 24) | ((guint32) p[5] << 16) | ((guint32) p[6] << 8) | p[7];
      if (n > len - 8)
        n = (guint32) (len - 8);
      g_string_append_len (out, (const char *) p + 8, n);
      p += 8 + n;
      len -= 8 + n;
    }
  return g_string_free (out, FALSE);
}

void
ecsa_netplug_docker_remove (EcsaNetplugHost *th, const char *id_or_name)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s?force=1&v=1", id_or_name);
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  reply = ecsa_netplug_docker (th, "DELETE", path, NULL, &status);
  g_assert_true (status == 204 || status == 404);
}

int
ecsa_netplug_sh (char **out, const char *format, ...)
{
  g_autofree char *cmd = NULL;
  g_autofree char *stdout_text = NULL;
  g_autofree char *stderr_text = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "/bin/sh", "-c", NULL, NULL };
  va_list args;
  int status = 0;

  va_start (args, format);
  cmd = g_strdup_vprintf (format, args);
  va_end (args);
  argv[2] = cmd;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &stdout_text, &stderr_text, &status,
                     &error))
    g_error ("cannot run '%s': %s", cmd, error->message);
  if (!g_spawn_check_wait_status (status, NULL))
    g_test_message ("'%s' failed: %s%s", cmd, stdout_text, stderr_text);
  if (out != NULL)
    *out = g_steal_pointer (&stdout_text);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

/* ---------------------------------------------------------------------------------------------
 * awsvpc test networks
 * ------------------------------------------------------------------------------------------- */

static void
sh_ok (const char *cmd)
{
  int rc = ecsa_netplug_sh (NULL, "%s", cmd);

  if (rc != 0)
    g_error ("'%s' failed with %d", cmd, rc);
}

static void
vpc_sweep (const char *area)
{
  /* PIDs in names of this area whose process is gone */
  ecsa_netplug_sh (NULL,
                   "for pid in $( (ip netns list; iptables-save; docker ps -a --format '{{.Names}} {{.Labels}}';"
                   "  docker images --format '{{.Repository}}') 2>/dev/null |"
                   "  sed -n 's/.*ecsa-t\\([0-9]*\\)-%s.*/\\1/p' | sort -u); do"
                   "  [ -d /proc/$pid ] && continue;"
                   "  ip netns del ecsa-t$pid-%s-vpc 2>/dev/null; ip link del et${pid}e 2>/dev/null;"
                   "  ip link del et${pid}b 2>/dev/null;"
                   "  for c in $(docker ps -aq --filter name=ecsa-t$pid-%s-); do docker rm -f $c >/dev/null; done;"
                   "  for c in $(docker ps -aq --filter label=com.amazonaws.ecs.cluster=ecsa-t$pid-%s); do"
                   "    docker rm -f $c >/dev/null; done;"
                   "  for i in $(docker images --format '{{.Repository}}:{{.Tag}}' | grep \"^ecsa-t$pid-%s/\"); do"
                   "    docker rmi -f $i >/dev/null; done;"
                   "  for t in filter nat; do iptables -t $t -S | grep -- \"--comment ecsa-t$pid-%s \" | sed 's/^-A //' |"
                   "    while read -r rule; do eval iptables -t $t -D $rule; done; done;"
                   "done;"
                   /* ENI veths and bridges of dead runs whose namespace is already gone */
                   "for l in $(ip -br link | sed -n 's/^\\(et[0-9]*[eb]\\)[@ ].*/\\1/p'); do"
                   "  pid=${l#et}; pid=${pid%%?}; [ -d /proc/$pid ] || ip link del $l 2>/dev/null;"
                   "done",
                   area, area, area, area, area, area);
}

EcsaNetplugVpc *
ecsa_netplug_vpc_new (const char *area)
{
  EcsaNetplugVpc *v = g_new0 (EcsaNetplugVpc, 1);
  g_autofree char *routes = NULL;
  g_autofree char *cmd = NULL;

  vpc_sweep (area);
  v->pid = (int) getpid ();
  v->prefix = g_strdup_printf ("ecsa-t%d-%s", v->pid, area);
  v->netns = g_strdup_printf ("%s-vpc", v->prefix);
  v->eni = g_strdup_printf ("et%de", v->pid);
  v->eni_peer = g_strdup_printf ("et%dv", v->pid);
  v->bridge = g_strdup_printf ("et%db", v->pid);
  v->eni_mac = g_strdup_printf ("02:ec:5a:%02x:%02x:%02x", (v->pid >> 16) & 0xff, (v->pid >> 8) & 0xff, v->pid & 0xff);
  /* A bridge subnet no other bridge on this host uses (concurrent runs). */
  ecsa_netplug_sh (&routes, "ip -4 route show");
  for (int i = 0; i < 256 && v->subnet == NULL; i++)
    {
      g_autofree char *candidate = g_strdup_printf ("198.19.%d.0/24", (v->pid + i) % 256);
      if (strstr (routes, candidate) == NULL)
        {
          v->subnet = g_steal_pointer (&candidate);
          v->bridge_gw = g_strdup_printf ("198.19.%d.1", (v->pid + i) % 256);
        }
    }
  g_assert_nonnull (v->subnet);
  cmd = g_strdup_printf ("ip netns add %s && ip link add %s address %s type veth peer name %s && "
                         "ip link set %s netns %s && ip -n %s addr add %s/24 dev %s && ip -n %s link set %s up && "
                         "ip -n %s link set lo up",
                         v->netns, v->eni, v->eni_mac, v->eni_peer, v->eni_peer, v->netns, v->netns,
                         ECSA_NETPLUG_VPC_GATEWAY, v->eni_peer, v->netns, v->eni_peer, v->netns);
  sh_ok (cmd);
  g_clear_pointer (&cmd, g_free);
  /* Guard: nothing may reach instance metadata, whatever the routes say. */
  cmd = g_strdup_printf ("iptables -I OUTPUT 1 -d 169.254.169.254/32 -m comment --comment %s -j REJECT && "
                         "iptables -I FORWARD 1 -d 169.254.169.254/32 -m comment --comment %s -j REJECT",
                         v->prefix, v->prefix);
  sh_ok (cmd);
  return v;
}

void
ecsa_netplug_vpc_free (EcsaNetplugVpc *v)
{
  g_autofree char *rules = NULL;
  g_autofree char *left = NULL;
  g_auto(GStrv) lines = NULL;

  if (v == NULL)
    return;
  ecsa_netplug_sh (NULL, "ip link del %s 2>/dev/null; ip link del %s 2>/dev/null; ip netns del %s 2>/dev/null", v->eni,
                   v->bridge, v->netns);
  /* every rule carrying this prefix, in both tables */
  ecsa_netplug_sh (&rules, "iptables -S; iptables -t nat -S | sed 's/^/nat /'");
  lines = g_strsplit (rules, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      gboolean nat = g_str_has_prefix (lines[i], "nat ");
      const char *rule = nat ? lines[i] + 4 : lines[i];
      g_autofree char *needle = g_strdup_printf ("--comment %s ", v->prefix);

      if (strstr (rule, needle) != NULL && g_str_has_prefix (rule, "-A "))
        g_assert_cmpint (ecsa_netplug_sh (NULL, "iptables %s -D %s", nat ? "-t nat" : "", rule + 3), ==, 0);
    }
  ecsa_netplug_sh (&left, "iptables-save; ip -br link; ip netns list");
  g_assert_null (strstr (left, v->prefix));
  g_assert_null (strstr (left, v->bridge));
  g_assert_null (strstr (left, v->eni));
  g_free (v->prefix);
  g_free (v->netns);
  g_free (v->eni);
  g_free (v->eni_peer);
  g_free (v->eni_mac);
  g_free (v->bridge);
  g_free (v->subnet);
  g_free (v->bridge_gw);
  g_free (v);
}

char *
ecsa_netplug_netns_links (const char *netns)
{
  char *out = NULL;

  ecsa_netplug_sh (&out, "nsenter --net=%s ip -br link | cut -d' ' -f1 | cut -d@ -f1 | sort | tr '\\n' ' '", netns);
  return out;
}

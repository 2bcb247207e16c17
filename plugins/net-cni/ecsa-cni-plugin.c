/* The awsvpc network mode through CNI plugin binaries, as agent v1.16.2 does it (agent/ecscni).
 *
 * v1.16.2 runs its own ecs-bridge, ecs-ipam and ecs-eni binaries from ECS_CNI_PLUGINS_PATH on the
 * namespace of the task's pause container: a bridge "ecs-bridge" with an address of 169.254.172.0/22
 * routes 169.254.170.2 (the credentials endpoint) and ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES to the host,
 * and the task's ENI is moved into the namespace with its primary address, a default route through
 * the subnet's gateway and, with ECS_AWSVPC_BLOCK_IMDS, a blackhole route for 169.254.169.254.
 *
 * When those binaries are present (the "ecs" flavour) they are used with v1.16.2's configuration.
 * Otherwise (the "standard" flavour: Debian's containernetworking-plugins) the same network is built
 * from the reference plugins:
 *   - bridge + host-local IPAM on the bridge subnet (interface "ecs-eth0"), routes as above;
 *   - host-device, which moves the ENI found by its MAC address into the namespace and renames it
 *     "eth0", with static IPAM: the ENI's primary address, the subnet's prefix and a default route
 *     through the subnet gateway (from the ENI's subnetGatewayIpv4Address, else from instance
 *     metadata, as ecs-eni does);
 *   - the IMDS blackhole route with `ip` inside the namespace.
 * A failed ADD is followed by DEL of every plugin already run, as the CNI spec wants. teardown()
 * takes the namespace apart (DEL, with a no-op IPAM for the bridge so the address stays reserved)
 * and release() gives the bridge address back (host-local DEL), both idempotent and stateless:
 * everything they need comes from the request, so they work after an agent restart and when the
 * namespace is already gone.
 *
 * Settings: ECS_CNI_PLUGINS_PATH (v1.16.2), ECSA_CNI_BRIDGE and ECSA_CNI_SUBNET (this plugin's:
 * the bridge's name and subnet, "ecs-bridge" and "169.254.172.0/22" by default).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-plugin.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_PLUGINS_PATH "/amazon-ecs-cni-plugins" /* v1.16.2's ECS_CNI_PLUGINS_PATH default */
#define STANDARD_PLUGIN_DIRS "/usr/lib/cni:/usr/libexec/cni:/opt/cni/bin"
#define DEFAULT_BRIDGE "ecs-bridge"
#define DEFAULT_SUBNET "169.254.172.0/22"
#define CREDENTIALS_ROUTE "169.254.170.2/32"
#define IMDS_ADDRESS "169.254.169.254/32"
#define BRIDGE_IFNAME "ecs-eth0" /* v1.16.2's defaultEthName */
#define ENI_IFNAME "eth0"
#define NETWORK_NAME "ecs-awsvpc"
#define STANDARD_CNI_VERSION "0.3.1"
#define ECS_CNI_VERSION "0.3.0" /* v1.16.2's DefaultMinSupportedCNIVersion */
#define CAPABILITY_AWSVPC "awsvpc-network-mode"
#define CNI_TIMEOUT_MS 120000  /* ecs-eni alone may wait 30 s for instance metadata */
#define PROBE_TIMEOUT_MS 10000
#define IMDS_TIMEOUT_S 5

typedef enum
{
  FLAVOUR_STANDARD,
  FLAVOUR_ECS,
} Flavour;

typedef struct
{
  gint ref_count; /* the plugin's own, plus one per operation in flight (they may outlive shutdown) */
  const EcsaPluginHost *host;
  Flavour flavour;
  char *cni_path;      /* CNI_PATH given to the plugins: the directories of the binaries */
  char *bridge_plugin; /* absolute paths */
  char *ipam_plugin;
  char *eni_plugin;
  char *static_plugin; /* standard flavour: the no-op IPAM of teardown */
  char *nsenter;
  char *ip;
  char *bridge;
  char *subnet;
  char *ipam_dir; /* host-local's dataDir, or NULL for its default */
  char *version_attribute;
  gboolean probing;
  gboolean probed;
  GError *probe_error;
  GPtrArray *probe_waiters; /* GTask* waiting for the probe */
  GCancellable *cancellable; /* cancelled at shutdown */
} CniState;

static CniState *cni_state_ref (CniState *st);
static void cni_state_unref (CniState *st);

/* An agent setting, else (this plugin's own settings, the SDKs' AWS_EC2_METADATA_*) the
 * environment. */
static const char *
config_or (const EcsaPluginHost *host, const char *key, const char *fallback)
{
  const char *v = host->config_get != NULL ? host->config_get (host, key) : NULL;

  if (v == NULL || v[0] == '\0')
    v = g_getenv (key);
  return v != NULL && v[0] != '\0' ? v : fallback;
}

/* ---------------------------------------------------------------------------------------------
 * One CNI plugin invocation
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  char *plugin;  /* absolute path */
  char *command; /* "ADD", "DEL", "VERSION", or NULL for a plain argv call (argv[1..]) */
  char *container_id;
  char *netns;
  char *ifname;
  char *config; /* stdin */
  char **argv;  /* extra arguments (--version, --capabilities, nsenter ...) */
  char *what;   /* for messages: "bridge ADD" */
} CniCall;

static void
cni_call_free (CniCall *c)
{
  if (c == NULL) /* a slot already handed over (see run_next) */
    return;
  g_free (c->plugin);
  g_free (c->command);
  g_free (c->container_id);
  g_free (c->netns);
  g_free (c->ifname);
  g_free (c->config);
  g_strfreev (c->argv);
  g_free (c->what);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CniCall, cni_call_free)

static CniCall *
cni_call_new (const char *plugin, const char *command, const char *container_id, const char *netns,
              const char *ifname, char *config /* owned */)
{
  CniCall *c = g_new0 (CniCall, 1);
  g_autofree char *base = g_path_get_basename (plugin);

  c->plugin = g_strdup (plugin);
  c->command = g_strdup (command);
  c->container_id = g_strdup (container_id);
  c->netns = g_strdup (netns);
  c->ifname = g_strdup (ifname);
  c->config = config;
  c->what = g_strdup_printf ("%s %s", base, command);
  return c;
}

static CniCall *
argv_call_new (const char *what, const char *const *argv)
{
  CniCall *c = g_new0 (CniCall, 1);

  c->plugin = g_strdup (argv[0]);
  c->argv = g_strdupv ((char **) argv + 1);
  c->what = g_strdup (what);
  return c;
}

typedef struct
{
  int exit_status;
  GBytes *out;
  GBytes *err;
} CniOutput;

static char *
bytes_text (GBytes *b)
{
  gsize len = 0;
  const char *data = b != NULL ? g_bytes_get_data (b, &len) : NULL;
  char *s = g_strndup (data != NULL ? data : "", len);

  return g_strstrip (s);
}

/* A CNI error is JSON on stdout: {"code": 7, "msg": "...", "details": "..."}. */
static char *
cni_error_text (GBytes *out, GBytes *err)
{
  g_autofree char *text = bytes_text (out);
  g_autofree char *err_text = bytes_text (err);
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (text[0] != '\0' && json_parser_load_from_data (parser, text, -1, NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      JsonObject *o = json_node_get_object (json_parser_get_root (parser));
      const char *msg = json_object_get_string_member_with_default (o, "msg", "");
      const char *details = json_object_get_string_member_with_default (o, "details", "");
      gint64 code = json_object_get_int_member_with_default (o, "code", 0);

      return g_strdup_printf ("%s%s%s (code %" G_GINT64_FORMAT ")", msg, details[0] ? ": " : "", details, code);
    }
  if (text[0] == '\0')
    return g_steal_pointer (&err_text);
  return err_text[0] != '\0' ? g_strdup_printf ("%s; %s", text, err_text) : g_steal_pointer (&text);
}


static void
cni_output_free (CniOutput *o)
{
  if (o == NULL)
    return;
  g_clear_pointer (&o->out, g_bytes_unref);
  g_clear_pointer (&o->err, g_bytes_unref);
  g_free (o);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CniOutput, cni_output_free)

typedef struct
{
  CniState *st;  /* a reference */
  CniCall *call; /* owned */
} CallData;

static void
call_data_free (CallData *d)
{
  cni_state_unref (d->st);
  cni_call_free (d->call);
  g_free (d);
}

static void
call_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CallData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(CniOutput) o = g_new0 (CniOutput, 1);

  if (!d->st->host->spawn_finish (d->st->host, result, &o->exit_status, &o->out, &o->err, &error))
    {
      g_prefix_error (&error, "%s: ", d->call->what);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (o->exit_status != 0)
    {
      g_autofree char *text = cni_error_text (o->out, o->err);
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_FAILED, "%s failed (exit status %d): %s", d->call->what,
                               o->exit_status, text[0] != '\0' ? text : "no output");
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&o), (GDestroyNotify) cni_output_free);
}

/* Run one call (taking ownership of it). The result is a CniOutput* (exit status 0) or an error
 * that names the call and carries the plugin's message. */
static void
call_async (CniState *st, CniCall *call, guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback cb,
            gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, cb, user_data);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) input = NULL;
  CallData *d = g_new0 (CallData, 1);
  guint i;

  d->st = cni_state_ref (st);
  d->call = call;
  g_task_set_task_data (task, d, (GDestroyNotify) call_data_free);
  if (g_cancellable_is_cancelled (st->cancellable))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s: the agent is shutting down", call->what);
      return;
    }
  g_ptr_array_add (argv, call->plugin);
  for (i = 0; call->argv != NULL && call->argv[i] != NULL; i++)
    g_ptr_array_add (argv, call->argv[i]);
  g_ptr_array_add (argv, NULL);

  /* A complete, small environment: the CNI variables and a PATH (ecs-eni runs dhclient). */
  g_ptr_array_add (env, g_strdup ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  if (call->command != NULL)
    {
      g_ptr_array_add (env, g_strdup_printf ("CNI_COMMAND=%s", call->command));
      g_ptr_array_add (env, g_strdup_printf ("CNI_CONTAINERID=%s", call->container_id ? call->container_id : ""));
      g_ptr_array_add (env, g_strdup_printf ("CNI_NETNS=%s", call->netns ? call->netns : ""));
      g_ptr_array_add (env, g_strdup_printf ("CNI_IFNAME=%s", call->ifname ? call->ifname : ""));
      g_ptr_array_add (env, g_strdup_printf ("CNI_PATH=%s", st->cni_path));
      g_ptr_array_add (env, g_strdup_printf ("ECS_CNI_LOGLEVEL=%s", config_or (st->host, "ECS_LOGLEVEL", "info")));
    }
  g_ptr_array_add (env, NULL);
  /* an empty stdin rather than none: a plugin that reads no configuration (VERSION) closes it */
  input = g_bytes_new (call->config, call->config != NULL ? strlen (call->config) : 0);
  st->host->spawn_async (st->host, (const char *const *) argv->pdata, (const char *const *) env->pdata, input,
                         timeout_ms, cancellable, call_ready_cb, g_steal_pointer (&task));
}

static CniOutput *
call_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------------------------------------
 * A sequence of calls: run in order, stopping at the first failure (setup) or running them all
 * and reporting the first failure (teardown, rollback).
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  CniState *st;
  GPtrArray *calls; /* CniCall*, consumed in order (NULL once handed to call_async) */
  guint next;
  gboolean keep_going;
  guint failed_at;  /* index of the first failed call, G_MAXUINT when none */
  GError *first_error;
  GPtrArray *outputs; /* CniOutput* of the successful calls, by index (NULL for failed ones) */
} RunData;

static void
run_data_free (RunData *r)
{
  cni_state_unref (r->st);
  g_ptr_array_unref (r->calls);
  g_ptr_array_unref (r->outputs);
  g_clear_error (&r->first_error);
  g_free (r);
}

static void run_next (GTask *task);

static void
run_call_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  RunData *r = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  CniOutput *o = call_finish (result, &error);

  g_ptr_array_add (r->outputs, o);
  if (o == NULL)
    {
      if (r->first_error == NULL)
        {
          r->failed_at = r->next - 1;
          r->first_error = g_error_copy (error);
        }
      else
        ecsa_plugin_host_logf (r->st->host, ECSA_LOG_WARN, "%s, ignoring", error->message);
      if (!r->keep_going || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_boolean (task, FALSE);
          return;
        }
    }
  run_next (g_steal_pointer (&task));
}

static void
run_next (GTask *task)
{
  RunData *r = g_task_get_task_data (task);
  CniCall *c;

  if (r->next >= r->calls->len)
    {
      g_task_return_boolean (task, r->first_error == NULL);
      g_object_unref (task);
      return;
    }
  c = g_ptr_array_index (r->calls, r->next);
  r->calls->pdata[r->next++] = NULL; /* call_async owns it now */
  call_async (r->st, c, CNI_TIMEOUT_MS, g_task_get_cancellable (task), run_call_ready_cb, task);
}

static void
run_async (CniState *st, GPtrArray *calls /* owned */, gboolean keep_going, GCancellable *cancellable,
           GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, cb, user_data);
  RunData *r = g_new0 (RunData, 1);

  r->st = cni_state_ref (st);
  r->calls = calls;
  r->keep_going = keep_going;
  r->failed_at = G_MAXUINT;
  r->outputs = g_ptr_array_new_with_free_func ((GDestroyNotify) cni_output_free);
  g_task_set_task_data (task, r, (GDestroyNotify) run_data_free);
  run_next (task);
}

/* FALSE with the first error; *out_done is the number of calls that were started. */
static gboolean
run_finish (GAsyncResult *result, guint *out_done, GError **error)
{
  RunData *r = g_task_get_task_data (G_TASK (result));
  gboolean ok = g_task_propagate_boolean (G_TASK (result), NULL);

  if (out_done != NULL)
    *out_done = r->next;
  if (!ok)
    {
      if (r->first_error != NULL)
        g_propagate_error (error, g_steal_pointer (&r->first_error));
      else
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------------------------
 * What a request needs, copied (teardown and setup outlive the caller's request)
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  char *task_arn;
  char *sandbox_id;
  char *netns;      /* "" when the namespace is gone */
  char *eni_id;
  char *mac;
  char *ipv4;       /* primary address, no prefix */
  char *ipv6;       /* or NULL */
  char *gateway;    /* subnet gateway, NULL until known */
  guint prefix;     /* subnet prefix length */
  gboolean block_imds;
  char **routes;    /* additional local routes (CIDRs) */
} NetRequest;

static void
net_request_free (NetRequest *r)
{
  g_free (r->task_arn);
  g_free (r->sandbox_id);
  g_free (r->netns);
  g_free (r->eni_id);
  g_free (r->mac);
  g_free (r->ipv4);
  g_free (r->ipv6);
  g_free (r->gateway);
  g_strfreev (r->routes);
  g_free (r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NetRequest, net_request_free)

static gboolean
parse_ipv4 (const char *text, guint32 *out)
{
  g_autoptr(GInetAddress) a = text != NULL ? g_inet_address_new_from_string (text) : NULL;

  if (a == NULL || g_inet_address_get_family (a) != G_SOCKET_FAMILY_IPV4)
    return FALSE;
  memcpy (out, g_inet_address_to_bytes (a), 4);
  *out = GUINT32_FROM_BE (*out);
  return TRUE;
}

static char *
format_ipv4 (guint32 addr)
{
  return g_strdup_printf ("%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff);
}

/* "10.0.1.0/24" -> network, prefix */
static gboolean
parse_ipv4_cidr (const char *text, guint32 *out_addr, guint *out_prefix)
{
  g_auto(GStrv) parts = text != NULL ? g_strsplit (text, "/", 2) : NULL;
  guint64 prefix = 0;

  if (parts == NULL || g_strv_length (parts) != 2 || !parse_ipv4 (parts[0], out_addr)
      || !g_ascii_string_to_unsigned (parts[1], 10, 1, 31, &prefix, NULL))
    return FALSE;
  *out_prefix = (guint) prefix;
  return TRUE;
}

static gboolean
valid_cidr (const char *text)
{
  g_auto(GStrv) parts = text != NULL ? g_strsplit (text, "/", 2) : NULL;
  g_autoptr(GInetAddress) a = NULL;
  guint64 prefix = 0;

  if (parts == NULL || g_strv_length (parts) != 2)
    return FALSE;
  a = g_inet_address_new_from_string (parts[0]);
  return a != NULL
         && g_ascii_string_to_unsigned (parts[1], 10, 0, g_inet_address_get_family (a) == G_SOCKET_FAMILY_IPV4 ? 32 : 128,
                                        &prefix, NULL);
}

static gboolean
valid_mac (const char *mac)
{
  guint i;

  if (mac == NULL || strlen (mac) != 17)
    return FALSE;
  for (i = 0; i < 17; i++)
    if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit (mac[i]))
      return FALSE;
  return TRUE;
}

/* The request, checked: every value ends up in a plugin's configuration or a command line. */
static NetRequest *
net_request_new (const EcsaNetworkRequest *req, gboolean for_setup, GError **error)
{
  g_autoptr(NetRequest) r = g_new0 (NetRequest, 1);
  const EcsaEniView *eni = req->eni;
  const char *arn = req->task != NULL && req->task->arn != NULL ? req->task->arn : "";
  guint i;

  r->task_arn = g_strdup (arn);
  r->routes = g_new0 (char *, 1);
  if (req->sandbox_container_id == NULL || req->sandbox_container_id[0] == '\0')
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "task '%s': no sandbox container", arn);
      return NULL;
    }
  r->sandbox_id = g_strdup (req->sandbox_container_id);
  r->netns = g_strdup (req->netns_path != NULL ? req->netns_path : "");
  if (for_setup && r->netns[0] == '\0')
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "task '%s': no network namespace to set up", arn);
      return NULL;
    }
  if (eni == NULL)
    {
      /* v1.16.2's BuildCNIConfig: awsvpc needs the task's ENI. Teardown does what it can without. */
      if (!for_setup)
        return g_steal_pointer (&r);
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "task '%s': awsvpc without an ENI", arn);
      return NULL;
    }
  r->eni_id = g_strdup (eni->id != NULL ? eni->id : "");
  if (!valid_mac (eni->mac_address))
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "task '%s': ENI '%s': invalid MAC address '%s'", arn,
                   r->eni_id, eni->mac_address != NULL ? eni->mac_address : "");
      return NULL;
    }
  r->mac = g_ascii_strdown (eni->mac_address, -1);
  if (eni->ipv4_addresses != NULL && eni->ipv4_addresses[0] != NULL)
    {
      guint32 a;
      if (!parse_ipv4 (eni->ipv4_addresses[0], &a))
        {
          g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "task '%s': ENI '%s': invalid IPv4 address '%s'",
                       arn, r->eni_id, eni->ipv4_addresses[0]);
          return NULL;
        }
      r->ipv4 = g_strdup (eni->ipv4_addresses[0]);
    }
  if (for_setup && r->ipv4 == NULL)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "task '%s': ENI '%s' has no IPv4 address", arn,
                   r->eni_id);
      return NULL;
    }
  if (eni->ipv6_addresses != NULL && eni->ipv6_addresses[0] != NULL)
    {
      g_autoptr(GInetAddress) a = g_inet_address_new_from_string (eni->ipv6_addresses[0]);
      if (a == NULL || g_inet_address_get_family (a) != G_SOCKET_FAMILY_IPV6)
        {
          g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "task '%s': ENI '%s': invalid IPv6 address '%s'",
                       arn, r->eni_id, eni->ipv6_addresses[0]);
          return NULL;
        }
      r->ipv6 = g_strdup (eni->ipv6_addresses[0]);
    }
  if (ECSA_VIEW_HAS_FIELD (eni, EcsaEniView, subnet_gateway_ipv4_address) && eni->subnet_gateway_ipv4_address != NULL
      && eni->subnet_gateway_ipv4_address[0] != '\0')
    {
      guint32 gw;
      if (!parse_ipv4_cidr (eni->subnet_gateway_ipv4_address, &gw, &r->prefix))
        {
          g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                       "task '%s': ENI '%s': invalid subnet gateway '%s' (want address/prefix)", arn, r->eni_id,
                       eni->subnet_gateway_ipv4_address);
          return NULL;
        }
      r->gateway = format_ipv4 (gw);
    }
  r->block_imds = req->block_instance_metadata != 0;
  for (i = 0; req->additional_local_routes != NULL && req->additional_local_routes[i] != NULL; i++)
    {
      if (!valid_cidr (req->additional_local_routes[i]))
        {
          g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                       "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES: '%s' is not a CIDR block", req->additional_local_routes[i]);
          return NULL;
        }
      r->routes = g_renew (char *, r->routes, i + 2);
      r->routes[i] = g_strdup (req->additional_local_routes[i]);
      r->routes[i + 1] = NULL;
    }
  return g_steal_pointer (&r);
}

/* ---------------------------------------------------------------------------------------------
 * Plugin configurations
 * ------------------------------------------------------------------------------------------- */

static void
add_routes (JsonBuilder *b, const char *member, const NetRequest *r)
{
  guint i;

  json_builder_set_member_name (b, member);
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "dst");
  json_builder_add_string_value (b, CREDENTIALS_ROUTE);
  json_builder_end_object (b);
  for (i = 0; r->routes[i] != NULL; i++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "dst");
      json_builder_add_string_value (b, r->routes[i]);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static void
member_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

static void
member_bool (JsonBuilder *b, const char *name, gboolean value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_boolean_value (b, value);
}

static char *
builder_text (JsonBuilder *b)
{
  g_autoptr(JsonNode) root = json_builder_get_root (b);

  return json_to_string (root, FALSE);
}

typedef enum
{
  IPAM_ALLOCATE, /* the bridge address: host-local (ecs-ipam) */
  IPAM_KEEP,     /* teardown: leave the reservation alone (static; ecs-bridge without IPAM) */
} IpamMode;

static void
standard_ipam (CniState *st, JsonBuilder *b, const NetRequest *r)
{
  json_builder_set_member_name (b, "ipam");
  json_builder_begin_object (b);
  member_string (b, "type", "host-local");
  json_builder_set_member_name (b, "ranges");
  json_builder_begin_array (b);
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  member_string (b, "subnet", st->subnet);
  json_builder_end_object (b);
  json_builder_end_array (b);
  json_builder_end_array (b);
  add_routes (b, "routes", r);
  if (st->ipam_dir != NULL)
    member_string (b, "dataDir", st->ipam_dir);
  json_builder_end_object (b);
}

static void
ecs_ipam (CniState *st, JsonBuilder *b, const NetRequest *r)
{
  json_builder_set_member_name (b, "ipam");
  json_builder_begin_object (b);
  member_string (b, "type", "ecs-ipam");
  member_string (b, "id", r->mac); /* v1.16.2: the IPAM key is the ENI's MAC */
  member_string (b, "cniVersion", ECS_CNI_VERSION);
  member_string (b, "ipv4-subnet", st->subnet);
  add_routes (b, "ipv4-routes", r);
  json_builder_end_object (b);
}

static char *
bridge_config (CniState *st, const NetRequest *r, IpamMode ipam)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  if (st->flavour == FLAVOUR_ECS)
    {
      /* v1.16.2's BridgeConfig, field for field */
      member_string (b, "type", "ecs-bridge");
      member_string (b, "cniVersion", ECS_CNI_VERSION);
      member_string (b, "name", NETWORK_NAME);
      member_string (b, "bridge", st->bridge);
      member_bool (b, "isGateway", FALSE);
      member_bool (b, "isDefaultGateway", FALSE);
      member_bool (b, "forceAddress", FALSE);
      member_bool (b, "ipMasq", FALSE);
      json_builder_set_member_name (b, "mtu");
      json_builder_add_int_value (b, 0);
      member_bool (b, "hairpinMode", FALSE);
      if (ipam == IPAM_ALLOCATE)
        ecs_ipam (st, b, r);
      else
        {
          json_builder_set_member_name (b, "ipam");
          json_builder_begin_object (b);
          json_builder_end_object (b);
        }
    }
  else
    {
      member_string (b, "cniVersion", STANDARD_CNI_VERSION);
      member_string (b, "name", NETWORK_NAME);
      member_string (b, "type", "bridge");
      member_string (b, "bridge", st->bridge);
      member_bool (b, "isGateway", TRUE);
      member_bool (b, "ipMasq", FALSE);
      if (ipam == IPAM_ALLOCATE)
        standard_ipam (st, b, r);
      else
        {
          json_builder_set_member_name (b, "ipam");
          json_builder_begin_object (b);
          member_string (b, "type", "static");
          json_builder_end_object (b);
        }
    }
  json_builder_end_object (b);
  return builder_text (b);
}

/* The IPAM plugin alone, to give the bridge address back (v1.16.2's ReleaseIPResource). */
static char *
ipam_config (CniState *st, const NetRequest *r)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  member_string (b, "cniVersion", st->flavour == FLAVOUR_ECS ? ECS_CNI_VERSION : STANDARD_CNI_VERSION);
  member_string (b, "name", st->flavour == FLAVOUR_ECS ? "ecs-ipam" : NETWORK_NAME);
  if (st->flavour == FLAVOUR_ECS)
    ecs_ipam (st, b, r);
  else
    standard_ipam (st, b, r);
  json_builder_end_object (b);
  return builder_text (b);
}

static char *
eni_config (CniState *st, const NetRequest *r, JsonNode *prev_result)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  if (st->flavour == FLAVOUR_ECS)
    {
      /* v1.16.2's ENIConfig ("ipv6-address" is always written: its omitempty tag is malformed) */
      member_string (b, "type", "ecs-eni");
      member_string (b, "cniVersion", ECS_CNI_VERSION);
      member_string (b, "name", NETWORK_NAME);
      member_string (b, "eni", r->eni_id);
      member_string (b, "ipv4-address", r->ipv4 != NULL ? r->ipv4 : "");
      member_string (b, "ipv6-address", r->ipv6 != NULL ? r->ipv6 : "");
      member_string (b, "mac", r->mac);
      member_bool (b, "block-instance-metadata", r->block_imds);
      if (prev_result != NULL) /* libcni hands each plugin of a list the previous result */
        {
          json_builder_set_member_name (b, "prevResult");
          json_builder_add_value (b, json_node_copy (prev_result));
        }
    }
  else
    {
      member_string (b, "cniVersion", STANDARD_CNI_VERSION);
      member_string (b, "name", NETWORK_NAME "-eni");
      member_string (b, "type", "host-device");
      member_string (b, "hwaddr", r->mac);
      json_builder_set_member_name (b, "ipam");
      json_builder_begin_object (b);
      member_string (b, "type", "static");
      if (r->ipv4 != NULL && r->gateway != NULL)
        {
          g_autofree char *addr = g_strdup_printf ("%s/%u", r->ipv4, r->prefix);

          json_builder_set_member_name (b, "addresses");
          json_builder_begin_array (b);
          json_builder_begin_object (b);
          member_string (b, "address", addr);
          member_string (b, "gateway", r->gateway);
          json_builder_end_object (b);
          if (r->ipv6 != NULL)
            {
              /* VPC IPv6 subnets are /64; the default route comes from the router's advertisements */
              g_autofree char *addr6 = g_strdup_printf ("%s/64", r->ipv6);
              json_builder_begin_object (b);
              member_string (b, "address", addr6);
              json_builder_end_object (b);
            }
          json_builder_end_array (b);
          json_builder_set_member_name (b, "routes");
          json_builder_begin_array (b);
          json_builder_begin_object (b);
          member_string (b, "dst", "0.0.0.0/0");
          member_string (b, "gw", r->gateway);
          json_builder_end_object (b);
          json_builder_end_array (b);
        }
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  return builder_text (b);
}

static CniCall *
bridge_call (CniState *st, const NetRequest *r, const char *command, IpamMode ipam)
{
  return cni_call_new (st->bridge_plugin, command, r->sandbox_id, r->netns, BRIDGE_IFNAME,
                       bridge_config (st, r, ipam));
}

static CniCall *
eni_call (CniState *st, const NetRequest *r, const char *command, JsonNode *prev_result)
{
  /* ecs-eni keeps the device's name and ignores CNI_IFNAME; v1.16.2 passes "ecs-eth0" to both */
  return cni_call_new (st->eni_plugin, command, r->sandbox_id, r->netns,
                       st->flavour == FLAVOUR_ECS ? BRIDGE_IFNAME : ENI_IFNAME, eni_config (st, r, prev_result));
}

static CniCall *
release_call (CniState *st, const NetRequest *r)
{
  return cni_call_new (st->ipam_plugin, "DEL", r->sandbox_id, "", BRIDGE_IFNAME, ipam_config (st, r));
}

/* ---------------------------------------------------------------------------------------------
 * Probing the binaries: v1.16.2's capability check and the cni-plugin-version attribute
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  CniState *st;
  GPtrArray *calls;  /* CniCall* in order; each one's output is checked by probe_check() */
  guint next;
} ProbeData;

static void
probe_data_free (ProbeData *p)
{
  cni_state_unref (p->st);
  g_ptr_array_unref (p->calls);
  g_free (p);
}

static void
probe_done (CniState *st, GError *error /* owned, or NULL */)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&st->probe_waiters);
  guint i;

  st->probing = FALSE;
  st->probed = TRUE;
  g_clear_error (&st->probe_error);
  st->probe_error = error;
  if (error != NULL)
    ecsa_plugin_host_logf (st->host, ECSA_LOG_ERROR, "CNI plugins in '%s' cannot serve awsvpc: %s", st->cni_path, error->message);
  else
    ecsa_plugin_host_logf (st->host, ECSA_LOG_INFO, "awsvpc through %s CNI plugins in '%s' (version %s)",
              st->flavour == FLAVOUR_ECS ? "the ECS" : "the reference", st->cni_path,
              st->version_attribute != NULL ? st->version_attribute : "unknown");
  st->probe_waiters = g_ptr_array_new ();
  for (i = 0; waiters != NULL && i < waiters->len; i++)
    {
      g_autoptr(GTask) t = g_ptr_array_index (waiters, i);
      if (error != NULL)
        g_task_return_error (t, g_error_copy (error));
      else
        g_task_return_boolean (t, TRUE);
    }
}

/* {"version":"2017.06.0","dirty":true,"gitShortHash":"226db36"} -> "@226db36-2017.06.0" (v1.16.2) */
static char *
ecs_version_string (const char *text, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *o;

  if (!json_parser_load_from_data (parser, text, -1, error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "not a JSON object: '%.64s'", text);
      return NULL;
    }
  o = json_node_get_object (json_parser_get_root (parser));
  return g_strdup_printf ("%s%s-%s", json_object_get_boolean_member_with_default (o, "dirty", FALSE) ? "@" : "",
                          json_object_get_string_member_with_default (o, "gitShortHash", ""),
                          json_object_get_string_member_with_default (o, "version", ""));
}

/* The reference plugins print "CNI host-device plugin version v1.1.1\nCNI protocol versions ..." */
static char *
standard_version_string (const char *text)
{
  const char *v = strstr (text, "plugin version ");
  const char *end;

  if (v == NULL)
    return g_strdup ("unknown");
  v += strlen ("plugin version ");
  end = v + strcspn (v, " \n");
  return end > v ? g_strndup (v, (gsize) (end - v)) : g_strdup ("unknown");
}

static gboolean
probe_check (CniState *st, const CniCall *c, const char *text, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *o;
  JsonArray *list;
  const char *member = NULL;
  const char *want = NULL;
  guint i;

  if (c->argv != NULL && g_strv_contains ((const char *const *) c->argv, "--version"))
    {
      if (st->flavour == FLAVOUR_ECS)
        {
          g_autoptr(GError) local_error = NULL;
          char *v = ecs_version_string (text, &local_error);
          /* v1.16.2 registers without the attribute when the version is unreadable */
          if (v == NULL)
            ecsa_plugin_host_logf (st->host, ECSA_LOG_WARN, "unable to determine the version of '%s': %s", c->plugin,
                      local_error->message);
          g_free (st->version_attribute);
          st->version_attribute = v;
        }
      else
        {
          g_free (st->version_attribute);
          st->version_attribute = standard_version_string (text);
        }
      return TRUE;
    }
  if (c->argv != NULL && g_strv_contains ((const char *const *) c->argv, "--capabilities"))
    {
      member = "capabilities";
      want = CAPABILITY_AWSVPC;
    }
  else
    {
      member = "supportedVersions"; /* CNI_COMMAND=VERSION */
      want = STANDARD_CNI_VERSION;
    }
  if (!json_parser_load_from_data (parser, text, -1, NULL) || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "'%s': unreadable answer '%.64s'", c->plugin, text);
      return FALSE;
    }
  o = json_node_get_object (json_parser_get_root (parser));
  list = json_object_has_member (o, member) ? json_object_get_array_member (o, member) : NULL;
  for (i = 0; list != NULL && i < json_array_get_length (list); i++)
    if (g_strcmp0 (json_array_get_string_element (list, i), want) == 0)
      return TRUE;
  if (st->flavour == FLAVOUR_ECS) /* v1.16.2's verifyCNIPluginsCapabilities */
    g_set_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "plugin '%s' doesn't support the capability: %s",
                 c->plugin, want);
  else
    g_set_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "plugin '%s' doesn't support CNI version %s", c->plugin,
                 want);
  return FALSE;
}

static void probe_next (GTask *task);

static void
probe_call_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ProbeData *p = g_task_get_task_data (task);
  const CniCall *c = g_ptr_array_index (p->calls, p->next - 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(CniOutput) o = call_finish (result, &error);
  g_autofree char *text = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* shutdown: the state is gone */
  if (o == NULL)
    {
      probe_done (p->st, g_error_new (ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "%s", error->message));
      return;
    }
  text = bytes_text (o->out);
  if (text[0] == '\0') /* the reference plugins print --version on stderr */
    {
      g_free (text);
      text = bytes_text (o->err);
    }
  if (!probe_check (p->st, c, text, &error))
    {
      probe_done (p->st, g_steal_pointer (&error));
      return;
    }
  probe_next (g_steal_pointer (&task));
}

static void
probe_next (GTask *task)
{
  ProbeData *p = g_task_get_task_data (task);
  const CniCall *c;
  CniCall *copy;

  if (p->next >= p->calls->len)
    {
      probe_done (p->st, NULL);
      g_object_unref (task);
      return;
    }
  c = g_ptr_array_index (p->calls, p->next++);
  copy = g_new0 (CniCall, 1);
  copy->plugin = g_strdup (c->plugin);
  copy->command = g_strdup (c->command);
  copy->config = g_strdup (c->config);
  copy->argv = g_strdupv (c->argv);
  copy->what = g_strdup (c->what);
  call_async (p->st, copy, PROBE_TIMEOUT_MS, p->st->cancellable, probe_call_ready_cb, task);
}

static void
probe_start (CniState *st)
{
  GTask *task = g_task_new (NULL, st->cancellable, NULL, NULL);
  ProbeData *p = g_new0 (ProbeData, 1);
  const char *standard[] = { st->bridge_plugin, st->eni_plugin, st->ipam_plugin, st->static_plugin };
  guint i;

  p->st = cni_state_ref (st);
  p->calls = g_ptr_array_new_with_free_func ((GDestroyNotify) cni_call_free);
  if (st->flavour == FLAVOUR_ECS)
    {
      const char *ecs[] = { st->eni_plugin, st->bridge_plugin, st->ipam_plugin };
      for (i = 0; i < G_N_ELEMENTS (ecs); i++)
        {
          const char *argv[] = { ecs[i], "--capabilities", NULL };
          g_autofree char *what = g_strdup_printf ("%s --capabilities", ecs[i]);
          g_ptr_array_add (p->calls, argv_call_new (what, argv));
        }
    }
  else
    for (i = 0; i < G_N_ELEMENTS (standard); i++) /* VERSION reads no configuration: nothing on stdin */
      g_ptr_array_add (p->calls, cni_call_new (standard[i], "VERSION", "", "", "", NULL));
  {
    const char *argv[] = { st->eni_plugin, "--version", NULL };
    g_autofree char *what = g_strdup_printf ("%s --version", st->eni_plugin);
    g_ptr_array_add (p->calls, argv_call_new (what, argv));
  }
  g_task_set_task_data (task, p, (GDestroyNotify) probe_data_free);
  st->probing = TRUE;
  probe_next (task);
}

/* Wait for the probe (started at init) and report its outcome. */
static void
probe_wait_async (CniState *st, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, cb, user_data);

  if (st->probed)
    {
      if (st->probe_error != NULL)
        g_task_return_error (task, g_error_copy (st->probe_error));
      else
        g_task_return_boolean (task, TRUE);
      return;
    }
  if (!st->probing)
    probe_start (st);
  g_ptr_array_add (st->probe_waiters, g_steal_pointer (&task));
}

static gboolean
probe_wait_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------------------------------------
 * The subnet gateway from instance metadata (what ecs-eni does when ACS did not send it)
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  CniState *st;
  char *mac;
  char *token;
  GCancellable *timeout_cancellable; /* cancelled by the per-request timer or the caller */
  GSource *timer;
  gulong cancel_id;
  GCancellable *caller;
} ImdsData;

static void
imds_data_free (ImdsData *d)
{
  if (d->timer != NULL)
    {
      g_source_destroy (d->timer);
      g_source_unref (d->timer);
    }
  if (d->caller != NULL && d->cancel_id != 0)
    g_cancellable_disconnect (d->caller, d->cancel_id);
  g_clear_object (&d->caller);
  g_clear_object (&d->timeout_cancellable);
  g_free (d->mac);
  g_free (d->token);
  cni_state_unref (d->st);
  g_free (d);
}

static gboolean
imds_timeout_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
imds_caller_cancelled_cb (GCancellable *caller, gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

/* A fresh cancellable for one request: cancelled by its timer or by the caller's cancellable. */
static void
imds_arm (ImdsData *d)
{
  if (d->timer != NULL)
    {
      g_source_destroy (d->timer);
      g_clear_pointer (&d->timer, g_source_unref);
    }
  if (d->caller != NULL && d->cancel_id != 0)
    g_cancellable_disconnect (d->caller, d->cancel_id);
  d->cancel_id = 0;
  g_clear_object (&d->timeout_cancellable);
  d->timeout_cancellable = g_cancellable_new ();
  if (d->caller != NULL)
    d->cancel_id = g_cancellable_connect (d->caller, G_CALLBACK (imds_caller_cancelled_cb),
                                          g_object_ref (d->timeout_cancellable), g_object_unref);
  d->timer = d->st->host->timeout_add (d->st->host, IMDS_TIMEOUT_S * 1000, imds_timeout_cb,
                                       g_object_ref (d->timeout_cancellable), g_object_unref);
}

static char *
imds_url (CniState *st, const char *path)
{
  const char *endpoint = config_or (st->host, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://169.254.169.254");
  g_autofree char *base = g_strdup (endpoint);

  while (g_str_has_suffix (base, "/"))
    base[strlen (base) - 1] = '\0';
  return g_strdup_printf ("%s%s", base, path);
}

static void
imds_get_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ImdsData *d = g_task_get_task_data (task);
  SoupMessage *msg = g_object_get_data (G_OBJECT (task), "msg");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_autofree char *text = NULL;
  guint32 net;
  guint prefix;

  if (body == NULL)
    {
      if (g_task_return_error_if_cancelled (task))
        return;
      if (g_cancellable_is_cancelled (d->timeout_cancellable))
        g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_TIMEOUT,
                                 "instance metadata: no answer in %d s for the subnet of ENI '%s'", IMDS_TIMEOUT_S,
                                 d->mac);
      else
        g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_RETRY, "instance metadata: %s", error->message);
      return;
    }
  text = bytes_text (body);
  if (soup_message_get_status (msg) != 200)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_RETRY,
                               "instance metadata: HTTP %u for the subnet of ENI '%s'", soup_message_get_status (msg),
                               d->mac);
      return;
    }
  if (!parse_ipv4_cidr (text, &net, &prefix))
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                               "instance metadata: subnet of ENI '%s' is '%.64s', not an IPv4 CIDR block", d->mac, text);
      return;
    }
  /* The VPC router is the subnet's first address. */
  g_object_set_data (G_OBJECT (task), "prefix", GUINT_TO_POINTER (prefix));
  g_task_return_pointer (task, format_ipv4 ((net & ~(G_MAXUINT32 >> prefix)) + 1), g_free);
}

static void
imds_get (GTask *task)
{
  ImdsData *d = g_task_get_task_data (task);
  g_autofree char *path = g_strdup_printf ("/latest/meta-data/network/interfaces/macs/%s/subnet-ipv4-cidr-block",
                                           d->mac);
  g_autofree char *url = imds_url (d->st, path);
  SoupMessage *msg = soup_message_new ("GET", url);

  g_object_set_data_full (G_OBJECT (task), "msg", msg, g_object_unref);
  if (d->token != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-aws-ec2-metadata-token", d->token);
  imds_arm (d);
  soup_session_send_and_read_async (d->st->host->http_session, msg, G_PRIORITY_DEFAULT, d->timeout_cancellable,
                                    imds_get_ready_cb, task);
}

static void
imds_token_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  ImdsData *d = g_task_get_task_data (task);
  SoupMessage *msg = g_object_get_data (G_OBJECT (task), "msg");
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, NULL);

  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }
  /* IMDSv2 when it answers; else IMDSv1 (403/404/405, or no answer), as the SDKs fall back */
  if (body != NULL && soup_message_get_status (msg) == 200)
    d->token = bytes_text (body);
  imds_get (task);
}

static void
imds_subnet_gateway_async (CniState *st, const char *mac, GCancellable *cancellable, GAsyncReadyCallback cb,
                           gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, cb, user_data);
  ImdsData *d = g_new0 (ImdsData, 1);
  g_autofree char *url = imds_url (st, "/latest/api/token");
  SoupMessage *msg;

  d->st = cni_state_ref (st);
  d->mac = g_strdup (mac);
  d->caller = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  g_task_set_task_data (task, d, (GDestroyNotify) imds_data_free);
  if (st->host->http_session == NULL || g_strcmp0 (config_or (st->host, "AWS_EC2_METADATA_DISABLED", ""), "true") == 0)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                               "ENI '%s' came without its subnet gateway and instance metadata is not available", mac);
      g_object_unref (task);
      return;
    }
  msg = soup_message_new ("PUT", url);
  if (msg == NULL)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                               "AWS_EC2_METADATA_SERVICE_ENDPOINT: '%s' is not a URL", url);
      g_object_unref (task);
      return;
    }
  g_object_set_data_full (G_OBJECT (task), "msg", msg, g_object_unref);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-aws-ec2-metadata-token-ttl-seconds", "60");
  imds_arm (d);
  soup_session_send_and_read_async (st->host->http_session, msg, G_PRIORITY_DEFAULT, d->timeout_cancellable,
                                    imds_token_ready_cb, task);
}

static char *
imds_subnet_gateway_finish (GAsyncResult *result, guint *out_prefix, GError **error)
{
  char *gw = g_task_propagate_pointer (G_TASK (result), error);

  if (gw != NULL)
    *out_prefix = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (result), "prefix"));
  return gw;
}

/* ---------------------------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------------------------- */

typedef enum
{
  STAGE_NONE,   /* nothing was run */
  STAGE_BRIDGE, /* the bridge plugin's ADD ran (successfully or not) */
  STAGE_ENI,    /* the ENI plugin's ADD ran too */
} SetupStage;

typedef struct
{
  CniState *st;
  NetRequest *r;
  SetupStage stage;
  JsonNode *bridge_result;
  GError *error; /* what failed, kept while rolling back */
} SetupData;

static void
setup_data_free (SetupData *d)
{
  cni_state_unref (d->st);
  net_request_free (d->r);
  g_clear_pointer (&d->bridge_result, json_node_unref);
  g_clear_error (&d->error);
  g_free (d);
}

/* DEL of what a failed setup ran, in reverse order, the failed plugin included (CNI spec), and
 * the bridge address given back. */
static GPtrArray *
rollback_calls (CniState *st, const NetRequest *r, SetupStage stage)
{
  GPtrArray *calls = g_ptr_array_new_with_free_func ((GDestroyNotify) cni_call_free);

  if (stage >= STAGE_ENI)
    g_ptr_array_add (calls, eni_call (st, r, "DEL", NULL));
  if (stage >= STAGE_BRIDGE)
    {
      if (st->flavour == FLAVOUR_ECS)
        {
          g_ptr_array_add (calls, bridge_call (st, r, "DEL", IPAM_KEEP));
          g_ptr_array_add (calls, release_call (st, r));
        }
      else /* the reference bridge plugin releases the address itself */
        g_ptr_array_add (calls, bridge_call (st, r, "DEL", IPAM_ALLOCATE));
    }
  return calls;
}

static void
rollback_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  SetupData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!run_finish (result, NULL, &error))
    ecsa_plugin_host_logf (d->st->host, ECSA_LOG_WARN, "task '%s': cleaning up after a failed network setup: %s, ignoring",
              d->r->task_arn, error->message);
  g_task_return_error (task, g_steal_pointer (&d->error));
}

static void
setup_fail (GTask *task /* owned */, GError *error /* owned */)
{
  SetupData *d = g_task_get_task_data (task);

  g_prefix_error (&error, "task '%s': awsvpc network setup: ", d->r->task_arn);
  d->error = error;
  if (d->stage == STAGE_NONE || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* cancelled means shutdown: the teardown after the restart cleans up */
      g_task_return_error (task, g_steal_pointer (&d->error));
      g_object_unref (task);
      return;
    }
  /* The rollback is not the caller's to cancel: only the plugin's shutdown stops it. */
  run_async (d->st, rollback_calls (d->st, d->r, d->stage), TRUE, d->st->cancellable, rollback_ready_cb, task);
}

static void
setup_done (GTask *task)
{
  SetupData *d = g_task_get_task_data (task);
  EcsaNetworkResult *res = g_new0 (EcsaNetworkResult, 1);

  res->struct_size = sizeof (EcsaNetworkResult);
  res->ipv4_address = g_strdup (d->r->ipv4);
  res->ipv6_address = g_strdup (d->r->ipv6);
  res->mac_address = g_strdup (d->r->mac);
  ecsa_plugin_host_logf (d->st->host, ECSA_LOG_INFO, "task '%s': ENI '%s' (%s, %s) set up in '%s'", d->r->task_arn, d->r->eni_id,
            d->r->mac, d->r->ipv4, d->r->netns);
  g_task_return_pointer (task, res, (GDestroyNotify) ecsa_network_result_free);
  g_object_unref (task);
}

static void
blackhole_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CniOutput) o = call_finish (result, &error);

  if (o == NULL)
    {
      setup_fail (task, g_steal_pointer (&error));
      return;
    }
  setup_done (task);
}

static void
localnet_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *path = task_data;
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents_full (path, "1", 1, G_FILE_SET_CONTENTS_NONE, 0644, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
localnet_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  SetupData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  /* Not fatal: the credentials endpoint depends on it, the task's own traffic does not. */
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    ecsa_plugin_host_logf (d->st->host, ECSA_LOG_WARN, "bridge '%s': cannot enable route_localnet: %s, ignoring", d->st->bridge,
              error->message);
  if (d->r->block_imds && d->st->flavour == FLAVOUR_STANDARD)
    {
      /* ecs-eni's blackhole route, inside the task's namespace */
      g_autofree char *net = g_strdup_printf ("--net=%s", d->r->netns);
      const char *argv[] = { d->st->nsenter, net, "--", d->st->ip, "route", "replace", "blackhole", IMDS_ADDRESS, NULL };

      call_async (d->st, argv_call_new ("ip route replace blackhole " IMDS_ADDRESS, argv), CNI_TIMEOUT_MS,
                  g_task_get_cancellable (task), blackhole_ready_cb, task);
      return;
    }
  setup_done (task);
}

static void
eni_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  SetupData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(CniOutput) o = call_finish (result, &error);
  g_autoptr(GTask) localnet = NULL;

  if (o == NULL)
    {
      setup_fail (task, g_steal_pointer (&error));
      return;
    }
  /* The credentials endpoint (169.254.170.2) is DNATed to the agent on 127.0.0.1, which the kernel
   * routes only for interfaces with route_localnet: set it on the bridge alone (ecs-init sets it
   * for every interface). */
  localnet = g_task_new (NULL, g_task_get_cancellable (task), localnet_ready_cb, task);
  g_task_set_task_data (localnet, g_strdup_printf ("/proc/sys/net/ipv4/conf/%s/route_localnet", d->st->bridge), g_free);
  g_task_run_in_thread (localnet, localnet_thread);
}

static void
bridge_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  SetupData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(CniOutput) o = call_finish (result, &error);
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data;

  if (o == NULL)
    {
      setup_fail (task, g_steal_pointer (&error));
      return;
    }
  data = g_bytes_get_data (o->out, &len);
  if (data != NULL && json_parser_load_from_data (parser, data, (gssize) len, NULL))
    d->bridge_result = json_node_copy (json_parser_get_root (parser));
  d->stage = STAGE_ENI;
  call_async (d->st, eni_call (d->st, d->r, "ADD", d->bridge_result), CNI_TIMEOUT_MS, g_task_get_cancellable (task),
              eni_ready_cb, task);
}

static void
setup_add (GTask *task)
{
  SetupData *d = g_task_get_task_data (task);

  d->stage = STAGE_BRIDGE;
  call_async (d->st, bridge_call (d->st, d->r, "ADD", IPAM_ALLOCATE), CNI_TIMEOUT_MS, g_task_get_cancellable (task),
              bridge_ready_cb, task);
}

static void
gateway_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  SetupData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  d->r->gateway = imds_subnet_gateway_finish (result, &d->r->prefix, &error);
  if (d->r->gateway == NULL)
    {
      setup_fail (task, g_steal_pointer (&error));
      return;
    }
  setup_add (task);
}

static void
setup_probe_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  SetupData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!probe_wait_finish (result, &error))
    {
      setup_fail (task, g_steal_pointer (&error));
      return;
    }
  /* ecs-eni finds the gateway itself; host-device needs it */
  if (d->st->flavour == FLAVOUR_STANDARD && d->r->gateway == NULL)
    {
      imds_subnet_gateway_async (d->st, d->r->mac, g_task_get_cancellable (task), gateway_ready_cb, task);
      return;
    }
  setup_add (task);
}

static void
cni_setup_async (gpointer state, const EcsaNetworkRequest *req, GCancellable *cancellable, GAsyncReadyCallback cb,
                 gpointer user_data)
{
  CniState *st = state;
  GTask *task = g_task_new (NULL, cancellable, cb, user_data);
  g_autoptr(GError) error = NULL;
  SetupData *d;
  NetRequest *r = net_request_new (req, TRUE, &error);

  g_task_set_source_tag (task, cni_setup_async);
  if (r == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return;
    }
  d = g_new0 (SetupData, 1);
  d->st = cni_state_ref (st);
  d->r = r;
  g_task_set_task_data (task, d, (GDestroyNotify) setup_data_free);
  probe_wait_async (st, cancellable, setup_probe_ready_cb, task);
}

static EcsaNetworkResult *
cni_setup_finish (gpointer state, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---------------------------------------------------------------------------------------------
 * Teardown and release: stateless, idempotent
 * ------------------------------------------------------------------------------------------- */

typedef enum
{
  UNDO_NAMESPACE = 1 << 0, /* DEL of the ENI and bridge plugins, the address kept */
  UNDO_ADDRESS = 1 << 1,   /* the bridge address given back */
} UndoParts;

typedef struct
{
  CniState *st;
  char *task_arn;
  char *what;
} UndoData;

static void
undo_data_free (UndoData *d)
{
  cni_state_unref (d->st);
  g_free (d->task_arn);
  g_free (d->what);
  g_free (d);
}

static void
undo_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  UndoData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!run_finish (result, NULL, &error))
    {
      g_prefix_error (&error, "task '%s': awsvpc network %s: ", d->task_arn, d->what);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  ecsa_plugin_host_logf (d->st->host, ECSA_LOG_INFO, "task '%s': awsvpc network %s done", d->task_arn, d->what);
  g_task_return_boolean (task, TRUE);
}

typedef struct
{
  CniState *st;
  NetRequest *r;
  UndoParts parts;
} UndoPlan;

static void
undo_plan_free (UndoPlan *p)
{
  cni_state_unref (p->st);
  net_request_free (p->r);
  g_free (p);
}

/* Is a device with this MAC address in the host's namespace? (sysfs: a worker thread's job) */
static void
mac_on_host_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *mac = task_data;
  g_autoptr(GDir) dir = g_dir_open ("/sys/class/net", 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/sys/class/net", name, "address", NULL);
      g_autofree char *text = NULL;

      if (g_file_get_contents (path, &text, NULL, NULL) && g_ascii_strncasecmp (g_strstrip (text), mac, 17) == 0)
        {
          g_task_return_boolean (task, TRUE);
          return;
        }
    }
  g_task_return_boolean (task, FALSE);
}

static void
undo_plan_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  UndoData *d = g_task_get_task_data (task);
  UndoPlan *p = g_object_get_data (G_OBJECT (result), "plan");
  CniState *st = p->st;
  NetRequest *r = p->r;
  gboolean eni_home = g_task_propagate_boolean (G_TASK (result), NULL);
  GPtrArray *calls = g_ptr_array_new_with_free_func ((GDestroyNotify) cni_call_free);

  /* host-device's DEL fails when the device is not in the namespace any more: an ENI already back
   * on the host (an earlier teardown) has nothing left to undo. */
  if ((p->parts & UNDO_NAMESPACE) && r->mac != NULL && !eni_home)
    g_ptr_array_add (calls, eni_call (st, r, "DEL", NULL)); /* the ENI goes back to the host */
  if (p->parts & UNDO_NAMESPACE)
    g_ptr_array_add (calls, bridge_call (st, r, "DEL", IPAM_KEEP));
  if ((p->parts & UNDO_ADDRESS) && (r->mac != NULL || st->flavour == FLAVOUR_STANDARD)) /* ecs-ipam's key is the MAC */
    g_ptr_array_add (calls, release_call (st, r));
  (void) d;
  run_async (st, calls, TRUE, g_task_get_cancellable (task), undo_ready_cb, task);
}

static void
undo_async (CniState *st, const EcsaNetworkRequest *req, UndoParts parts, GCancellable *cancellable,
            GAsyncReadyCallback cb, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, cb, user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(NetRequest) r = net_request_new (req, FALSE, &error);
  g_autoptr(GTask) check = NULL;
  UndoPlan *plan;
  UndoData *d;

  if (r == NULL)
    {
      g_prefix_error (&error, "awsvpc network teardown: ");
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* A namespace that is gone has nothing left to undo; the plugins are told so (an empty CNI_NETNS)
   * and only release what lives outside it. */
  if (r->netns[0] != '\0' && !g_file_test (r->netns, G_FILE_TEST_EXISTS))
    {
      g_free (r->netns);
      r->netns = g_strdup ("");
    }
  d = g_new0 (UndoData, 1);
  d->st = cni_state_ref (st);
  d->task_arn = g_strdup (r->task_arn);
  d->what = g_strdup (parts == UNDO_ADDRESS ? "release" : "teardown");
  g_task_set_task_data (task, d, (GDestroyNotify) undo_data_free);

  plan = g_new0 (UndoPlan, 1);
  plan->st = cni_state_ref (st);
  plan->parts = parts;
  check = g_task_new (NULL, NULL, undo_plan_ready_cb, g_steal_pointer (&task));
  g_task_set_task_data (check, g_strdup (r->mac != NULL ? r->mac : "-"), g_free);
  plan->r = g_steal_pointer (&r);
  g_object_set_data_full (G_OBJECT (check), "plan", plan, (GDestroyNotify) undo_plan_free);
  g_task_run_in_thread (check, mac_on_host_thread);
}

/* v1.16.2's cleanupPauseContainerNetwork (CleanupNS): before the sandbox stops */
static void
cni_teardown_async (gpointer state, const EcsaNetworkRequest *req, GCancellable *cancellable, GAsyncReadyCallback cb,
                    gpointer user_data)
{
  undo_async (state, req, UNDO_NAMESPACE, cancellable, cb, user_data);
}

static gboolean
cni_teardown_finish (gpointer state, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* v1.16.2's releaseIPInIPAM (ReleaseIPResource): once the task stopped */
static void
cni_release_async (gpointer state, const EcsaNetworkRequest *req, GCancellable *cancellable, GAsyncReadyCallback cb,
                   gpointer user_data)
{
  undo_async (state, req, UNDO_ADDRESS, cancellable, cb, user_data);
}

static gboolean
cni_release_finish (gpointer state, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* v1.16.2's verifyCNIPluginsCapabilities (and, here, that the reference plugins speak our CNI
 * version), which also learns the version attribute. */
static void
cni_check_async (gpointer state, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  probe_wait_async (state, cancellable, cb, user_data);
}

static gboolean
cni_check_finish (gpointer state, GAsyncResult *result, GError **error)
{
  return probe_wait_finish (result, error);
}

/* ---------------------------------------------------------------------------------------------
 * Registration attributes, init, shutdown
 * ------------------------------------------------------------------------------------------- */

static void
cni_attributes (gpointer state, GPtrArray *out)
{
  CniState *st = state;

  if (st->version_attribute != NULL)
    {
      g_ptr_array_add (out, g_strdup ("ecs.capability.cni-plugin-version"));
      g_ptr_array_add (out, g_strdup (st->version_attribute));
    }
}

static char *
find_binary (const char *const *dirs, const char *name)
{
  guint i;

  for (i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dirs[i], name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE) && !g_file_test (path, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&path);
    }
  return NULL;
}

static gboolean
valid_ifname (const char *name)
{
  gsize len = strlen (name);
  gsize i;

  if (len == 0 || len > 15)
    return FALSE;
  for (i = 0; i < len; i++)
    if (!g_ascii_isalnum (name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
      return FALSE;
  return !g_str_equal (name, ".") && !g_str_equal (name, "..");
}

static CniState *
cni_state_ref (CniState *st)
{
  st->ref_count++;
  return st;
}

static void
cni_state_unref (CniState *st)
{
  if (st == NULL || --st->ref_count > 0)
    return;
  g_free (st->cni_path);
  g_free (st->bridge_plugin);
  g_free (st->ipam_plugin);
  g_free (st->eni_plugin);
  g_free (st->static_plugin);
  g_free (st->nsenter);
  g_free (st->ip);
  g_free (st->bridge);
  g_free (st->subnet);
  g_free (st->ipam_dir);
  g_free (st->version_attribute);
  g_clear_error (&st->probe_error);
  g_clear_pointer (&st->probe_waiters, g_ptr_array_unref);
  g_clear_object (&st->cancellable);
  g_free (st);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CniState, cni_state_unref)

static gboolean
cni_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  g_autoptr(CniState) st = g_new0 (CniState, 1);
  const char *plugins_path = config_or (host, "ECS_CNI_PLUGINS_PATH", DEFAULT_PLUGINS_PATH);
  g_autofree char *search = g_strdup_printf ("%s:%s", plugins_path, STANDARD_PLUGIN_DIRS);
  g_auto(GStrv) dirs = g_strsplit (search, ":", -1);
  const char *ecs_dirs[] = { plugins_path, NULL };
  guint32 net;
  guint prefix;

  st->ref_count = 1;
  st->host = host;
  if (g_strcmp0 (config_or (host, "ECS_ENABLE_TASK_ENI", "false"), "true") != 0)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "awsvpc is off (ECS_ENABLE_TASK_ENI is not true)");
      return FALSE;
    }
  st->bridge = g_strdup (config_or (host, "ECSA_CNI_BRIDGE", DEFAULT_BRIDGE));
  if (!valid_ifname (st->bridge))
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "ECSA_CNI_BRIDGE: '%s' is not an interface name",
                   st->bridge);
      return FALSE;
    }
  st->subnet = g_strdup (config_or (host, "ECSA_CNI_SUBNET", DEFAULT_SUBNET));
  if (!parse_ipv4_cidr (st->subnet, &net, &prefix) || prefix > 30)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "ECSA_CNI_SUBNET: '%s' is not an IPv4 CIDR block",
                   st->subnet);
      return FALSE;
    }

  /* The ECS plugins when they are all there (v1.16.2), else the reference plugins. Files only are
   * looked at here; whether they work is probed asynchronously right after. */
  st->eni_plugin = find_binary (ecs_dirs, "ecs-eni");
  st->bridge_plugin = find_binary (ecs_dirs, "ecs-bridge");
  st->ipam_plugin = find_binary (ecs_dirs, "ecs-ipam");
  if (st->eni_plugin != NULL && st->bridge_plugin != NULL && st->ipam_plugin != NULL)
    {
      st->flavour = FLAVOUR_ECS;
      st->cni_path = g_strdup (plugins_path);
    }
  else
    {
      g_autofree char *bridge_dir = NULL;
      g_autofree char *ipam_dir = NULL;

      g_clear_pointer (&st->eni_plugin, g_free);
      g_clear_pointer (&st->bridge_plugin, g_free);
      g_clear_pointer (&st->ipam_plugin, g_free);
      st->flavour = FLAVOUR_STANDARD;
      st->bridge_plugin = find_binary ((const char *const *) dirs, "bridge");
      st->eni_plugin = find_binary ((const char *const *) dirs, "host-device");
      st->ipam_plugin = find_binary ((const char *const *) dirs, "host-local");
      st->static_plugin = find_binary ((const char *const *) dirs, "static");
      st->nsenter = g_find_program_in_path ("nsenter");
      st->ip = g_find_program_in_path ("ip");
      if (st->bridge_plugin == NULL || st->eni_plugin == NULL || st->ipam_plugin == NULL || st->static_plugin == NULL)
        {
          g_set_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                       "no CNI plugins: neither ecs-eni, ecs-bridge and ecs-ipam in '%s' nor bridge, host-device, "
                       "host-local and static in '%s'",
                       plugins_path, search);
          return FALSE;
        }
      if (st->nsenter == NULL || st->ip == NULL)
        {
          g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                               "'nsenter' (util-linux) and 'ip' (iproute2) are needed on PATH");
          return FALSE;
        }
      /* IPAM plugins are found through CNI_PATH: the directories of the bridge and of host-local */
      bridge_dir = g_path_get_dirname (st->bridge_plugin);
      ipam_dir = g_path_get_dirname (st->ipam_plugin);
      st->cni_path = g_str_equal (bridge_dir, ipam_dir) ? g_strdup (bridge_dir)
                                                        : g_strdup_printf ("%s:%s", bridge_dir, ipam_dir);
      if (host->state_dir != NULL)
        st->ipam_dir = g_build_filename (host->state_dir, "ipam", NULL);
    }
  st->cancellable = g_cancellable_new ();
  st->probe_waiters = g_ptr_array_new ();
  *out_state = g_steal_pointer (&st);
  return TRUE;
}

static void
cni_shutdown (gpointer state)
{
  CniState *st = state;
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&st->probe_waiters);
  guint i;

  g_cancellable_cancel (st->cancellable);
  for (i = 0; waiters != NULL && i < waiters->len; i++)
    {
      g_autoptr(GTask) t = g_ptr_array_index (waiters, i);
      g_task_return_new_error (t, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the agent is shutting down");
    }
  cni_state_unref (st);
}

static const char *const cni_modes[] = { "awsvpc", NULL };

static const EcsaNetworkVTable cni_vtable = {
  .version = ECSA_NETWORK_VTABLE_VERSION,
  .modes = cni_modes,
  .check_async = cni_check_async,
  .check_finish = cni_check_finish,
  .setup_async = cni_setup_async,
  .setup_finish = cni_setup_finish,
  .teardown_async = cni_teardown_async,
  .teardown_finish = cni_teardown_finish,
  .release_async = cni_release_async,
  .release_finish = cni_release_finish,
  .attributes = cni_attributes,
};

/* v1.16.2's agent_capability.go; the registry offers them after a successful check, the second
 * only with ECS_AWSVPC_BLOCK_IMDS. */
static const char *const cni_caps[] = { "ecs.capability.task-eni", "ecs.capability.task-eni-block-instance-metadata",
                                        NULL };

ECSA_PLUGIN_DEFINE (net_cni, .kind = ECSA_PLUGIN_KIND_NETWORK, .name = "cni", .version = PACKAGE_VERSION,
                    .capabilities = cni_caps, .init = cni_init, .shutdown = cni_shutdown, .vtable = &cni_vtable)

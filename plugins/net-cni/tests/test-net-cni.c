/* test-net-cni.c: awsvpc through the real CNI plugins (/usr/lib/cni) on a real pause container.
 *
 * The "VPC" is a network namespace; the task's ENI is a veth whose peer sits in it with the subnet
 * gateway (this kernel has no `dummy`). A pause container runs with NetworkMode none, the plugin sets
 * up its namespace, and a second container joining it must reach the gateway through the ENI and
 * the credentials endpoint 169.254.170.2 through the bridge (DNATed to a listener of this test), and
 * must not reach instance metadata (blackholed; a REJECT guard covers it anyway). Teardown must give
 * the ENI back to the host and the bridge address back to IPAM, also after the namespace died.
 * Every name carries ecsa-t<pid>; everything is removed at the end.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-test-netplug.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

const EcsaPluginDescriptor *ecsa_plugin_net_cni_get_descriptor (void);

#define EXTRA_ROUTE "198.51.100.0/24"

typedef struct
{
  EcsaNetplugHost *th;
  const EcsaPluginDescriptor *desc;
  const EcsaNetworkVTable *vt;
  gpointer state;
  EcsaNetplugVpc *vpc; /* the VPC, the ENI, the bridge's name and subnet */
  char *state_dir;
  char *pause_id;
  GPtrArray *containers; /* names to remove */
  SoupServer *server;    /* the credentials endpoint and instance metadata stand-ins */
  guint port;
  GPtrArray *requests; /* "METHOD path token" seen by the server */
} Fixture;

static void
server_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  Fixture *fx = user_data;
  const char *method = soup_server_message_get_method (msg);
  const char *token = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                    "X-aws-ec2-metadata-token");
  g_autofree char *imds_path = g_strdup_printf ("/latest/meta-data/network/interfaces/macs/%s/subnet-ipv4-cidr-block",
                                                fx->vpc->eni_mac);

  g_ptr_array_add (fx->requests, g_strdup_printf ("%s %s %s", method, path, token ? token : "-"));
  if (g_str_equal (path, "/latest/api/token") && g_str_equal (method, "PUT"))
    soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "tok-123", 7);
  else if (g_str_equal (path, imds_path) && g_strcmp0 (token, "tok-123") == 0)
    soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "198.18.77.0/24", 14);
  else if (g_str_equal (path, "/v2/credentials/test-id"))
    soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, "{\"RoleArn\":\"ok\"}", 16);
  else
    {
      soup_server_message_set_status (msg, 404, NULL);
      return;
    }
  soup_server_message_set_status (msg, 200, NULL);
}

static gboolean
fx_seen (Fixture *fx, const char *request)
{
  guint i;

  for (i = 0; i < fx->requests->len; i++)
    if (g_str_equal (g_ptr_array_index (fx->requests, i), request))
      return TRUE;
  return FALSE;
}

static gboolean check_with (const EcsaNetworkVTable *vt, gpointer state, GError **error);

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cmd = NULL;
  GSList *uris;

  fx->vpc = ecsa_netplug_vpc_new ("netplug");
  fx->state_dir = ecsa_test_mkdtemp ();
  fx->containers = g_ptr_array_new_with_free_func (g_free);
  fx->requests = g_ptr_array_new_with_free_func (g_free);

  /* the credentials endpoint and instance metadata, on loopback */
  fx->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (fx->server, NULL, server_cb, fx, NULL);
  g_assert_true (soup_server_listen_local (fx->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (fx->server);
  fx->port = (guint) g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  /* what ecs-init does for the agent's credentials endpoint, narrowed to this test's bridge */
  cmd = g_strdup_printf ("iptables -t nat -I PREROUTING 1 -i %s -d 169.254.170.2/32 -p tcp --dport 80 "
                         "-m comment --comment %s -j DNAT --to-destination 127.0.0.1:%u",
                         fx->vpc->bridge, fx->vpc->prefix, fx->port);
  g_assert_cmpint (ecsa_netplug_sh (NULL, "%s", cmd), ==, 0);

  {
    const char *settings[] = { "ECS_ENABLE_TASK_ENI=true", "ECS_CNI_PLUGINS_PATH=/nonexistent/amazon-ecs-cni-plugins",
                               NULL };
    g_autofree char *endpoint = g_strdup_printf ("http://127.0.0.1:%u/", fx->port);

    /* this plugin's own settings and the SDKs' metadata endpoint come from the environment */
    g_setenv ("ECSA_CNI_BRIDGE", fx->vpc->bridge, TRUE);
    g_setenv ("ECSA_CNI_SUBNET", fx->vpc->subnet, TRUE);
    g_setenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, TRUE);
    fx->th = ecsa_netplug_host_new (ECSA_PLUGIN_KIND_NETWORK, "cni", settings, fx->state_dir);
  }
  fx->desc = ecsa_plugin_net_cni_get_descriptor ();
  g_assert_cmpuint (fx->desc->kind, ==, ECSA_PLUGIN_KIND_NETWORK);
  fx->vt = fx->desc->vtable;
  g_assert_cmpstr (fx->vt->modes[0], ==, "awsvpc");
  g_assert_true (fx->desc->init (fx->th->host, &fx->state, &error));
  g_assert_no_error (error);
  /* what the agent does at start-up with ECS_ENABLE_TASK_ENI */
  g_assert_true (check_with (fx->vt, fx->state, &error));
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  guint i;

  if (fx->state != NULL)
    {
      fx->desc->shutdown (fx->state);
      ecsa_netplug_iterate (200); /* cancelled calls complete before the host goes */
    }
  for (i = 0; i < fx->containers->len; i++)
    ecsa_netplug_docker_remove (fx->th, g_ptr_array_index (fx->containers, i));
  ecsa_netplug_vpc_free (fx->vpc);
  soup_server_disconnect (fx->server);
  g_object_unref (fx->server);
  ecsa_netplug_host_free (fx->th);
  ecsa_test_rmdir_recursive (fx->state_dir);
  g_ptr_array_unref (fx->containers);
  g_ptr_array_unref (fx->requests);
  g_free (fx->state_dir);
  g_free (fx->pause_id);
}

static char *
run_container (Fixture *fx, const char *suffix, const char *network_mode, const char *cmd_json)
{
  g_autofree char *name = g_strdup_printf ("%s-%s", fx->vpc->prefix, suffix);
  g_autofree char *body = g_strdup_printf ("{\"Image\":\"%s\",\"Cmd\":%s,\"HostConfig\":{\"NetworkMode\":\"%s\"}}",
                                           ECSA_NETPLUG_IMAGE, cmd_json, network_mode);

  g_ptr_array_add (fx->containers, g_strdup (name));
  return ecsa_netplug_docker_run (fx->th, name, body);
}

static char *
pause_netns (Fixture *fx)
{
  fx->pause_id = run_container (fx, "pause", "none", "[\"sleep\",\"600\"]");
  return g_strdup_printf ("/proc/%d/ns/net", ecsa_netplug_docker_pid (fx->th, fx->pause_id));
}

typedef struct
{
  const char *mac;
  const char *ipv4[2];
  const char *gateway;
  const char *routes[2];
  EcsaEniView eni;
  EcsaTaskView task;
  EcsaNetworkRequest req;
} Request;

static void
request_init (Request *rq, const char *sandbox_id, const char *netns, const char *mac, const char *gateway)
{
  memset (rq, 0, sizeof *rq);
  rq->ipv4[0] = ECSA_NETPLUG_ENI_ADDRESS;
  rq->routes[0] = EXTRA_ROUTE;
  rq->task.struct_size = sizeof (EcsaTaskView);
  rq->task.arn = "arn:aws:ecs:us-west-2:123456789012:task/netplug-1";
  rq->task.family = "netplug";
  rq->task.version = "1";
  rq->task.network_mode = "awsvpc";
  rq->eni.struct_size = sizeof (EcsaEniView);
  rq->eni.id = "eni-0123456789abcdef0";
  rq->eni.mac_address = mac;
  rq->eni.ipv4_addresses = rq->ipv4;
  rq->eni.subnet_gateway_ipv4_address = gateway;
  rq->req.struct_size = sizeof (EcsaNetworkRequest);
  rq->req.block_instance_metadata = TRUE;
  rq->req.task = &rq->task;
  rq->req.network_mode = "awsvpc";
  rq->req.sandbox_container_id = sandbox_id;
  rq->req.netns_path = netns;
  rq->req.eni = &rq->eni;
  rq->req.additional_local_routes = rq->routes;
}

typedef struct
{
  gboolean done;
  GAsyncResult *result;
} Waiter;

static void
waiter_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Waiter *w = user_data;

  w->result = g_object_ref (result);
  w->done = TRUE;
}

static EcsaNetworkResult *
setup_with (const EcsaNetworkVTable *vt, gpointer state, const EcsaNetworkRequest *req, GError **error)
{
  Waiter w = { FALSE, NULL };
  EcsaNetworkResult *res;

  vt->setup_async (state, req, NULL, waiter_cb, &w);
  ecsa_test_wait_for_flag (g_main_context_default (), &w.done, 60000);
  res = vt->setup_finish (state, w.result, error);
  g_object_unref (w.result);
  return res;
}

static gboolean
teardown_with (const EcsaNetworkVTable *vt, gpointer state, const EcsaNetworkRequest *req, GError **error)
{
  Waiter w = { FALSE, NULL };
  gboolean ok;

  vt->teardown_async (state, req, NULL, waiter_cb, &w);
  ecsa_test_wait_for_flag (g_main_context_default (), &w.done, 60000);
  ok = vt->teardown_finish (state, w.result, error);
  g_object_unref (w.result);
  if (!ok)
    g_test_message ("teardown: %s", (*error)->message);
  return ok;
}

static gboolean
check_with (const EcsaNetworkVTable *vt, gpointer state, GError **error)
{
  Waiter w = { FALSE, NULL };
  gboolean ok;

  vt->check_async (state, NULL, waiter_cb, &w);
  ecsa_test_wait_for_flag (g_main_context_default (), &w.done, 60000);
  ok = vt->check_finish (state, w.result, error);
  g_object_unref (w.result);
  return ok;
}

static gboolean
release_with (const EcsaNetworkVTable *vt, gpointer state, const EcsaNetworkRequest *req, GError **error)
{
  Waiter w = { FALSE, NULL };
  gboolean ok;

  vt->release_async (state, req, NULL, waiter_cb, &w);
  ecsa_test_wait_for_flag (g_main_context_default (), &w.done, 60000);
  ok = vt->release_finish (state, w.result, error);
  g_object_unref (w.result);
  if (!ok)
    g_test_message ("release: %s", (*error)->message);
  return ok;
}

#define release(fx, req, error) release_with ((fx)->vt, (fx)->state, req, error)
#define setup(fx, req, error) setup_with ((fx)->vt, (fx)->state, req, error)
#define teardown(fx, req, error) teardown_with ((fx)->vt, (fx)->state, req, error)

/* Addresses host-local holds in the bridge network (its dataDir has one file per address). */
static guint
reserved_addresses (Fixture *fx)
{
  g_autofree char *dir = g_build_filename (fx->th->host->state_dir, "ipam", "ecs-awsvpc", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, "198.19."))
      n++;
  return n;
}

static void
test_setup_teardown (Fixture *fx, gconstpointer data)
{
  g_autofree char *netns = pause_netns (fx);
  g_autofree char *mode = g_strdup_printf ("container:%s", fx->pause_id);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  g_autoptr(GPtrArray) attrs = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *probe = NULL;
  g_autofree char *logs = NULL;
  g_autofree char *links = NULL;
  g_autofree char *expect = NULL;
  g_autofree char *host_links = NULL;
  Request rq;
  gint rc;

  request_init (&rq, fx->pause_id, netns, fx->vpc->eni_mac, ECSA_NETPLUG_VPC_GATEWAY "/24");
  res = setup (fx, &rq.req, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (res->ipv4_address, ==, ECSA_NETPLUG_ENI_ADDRESS);
  g_assert_cmpstr (res->mac_address, ==, fx->vpc->eni_mac);
  g_assert_null (res->ipv6_address);
  g_assert_cmpuint (reserved_addresses (fx), ==, 1);

  /* the start-up check learnt the version attribute */
  fx->vt->attributes (fx->state, attrs);
  g_assert_cmpuint (attrs->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (attrs, 0), ==, "ecs.capability.cni-plugin-version");
  g_assert_cmpstr (g_ptr_array_index (attrs, 1), !=, "");

  /* The ENI left the host for the task's namespace, as eth0; the bridge leg is ecs-eth0. */
  g_assert_cmpint (ecsa_netplug_sh (NULL, "ip link show %s", fx->vpc->eni), !=, 0);
  links = ecsa_netplug_netns_links (netns);
  g_assert_cmpstr (links, ==, "ecs-eth0 eth0 lo ");

  /* A container joining the namespace (as the task's containers do) sees it all. */
  probe = run_container (fx, "probe", mode,
                         "[\"sh\",\"-c\",\"ip -4 -o addr show; ip route show; "
                         "ping -c 1 -W 3 " ECSA_NETPLUG_VPC_GATEWAY " >/dev/null && echo GATEWAY-OK; "
                         "printf 'GET /v2/credentials/test-id HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 3 169.254.170.2 80; echo; "
                         "nc -w 2 169.254.169.254 80 </dev/null; echo IMDS-RC=$?\"]");
  rc = ecsa_netplug_docker_wait (fx->th, probe, 30);
  logs = ecsa_netplug_docker_logs (fx->th, probe);
  g_test_message ("probe (rc %d):\n%s", rc, logs);
  g_assert_cmpint (rc, ==, 0);
  g_assert_nonnull (strstr (logs, "eth0    inet " ECSA_NETPLUG_ENI_ADDRESS "/24"));
  expect = g_strdup_printf ("ecs-eth0    inet 198.19.");
  g_assert_nonnull (strstr (logs, expect));
  g_assert_nonnull (strstr (logs, "default via " ECSA_NETPLUG_VPC_GATEWAY " dev eth0"));
  g_clear_pointer (&expect, g_free);
  expect = g_strdup_printf ("169.254.170.2 via %s dev ecs-eth0", fx->vpc->bridge_gw);
  g_assert_nonnull (strstr (logs, expect));
  g_clear_pointer (&expect, g_free);
  expect = g_strdup_printf (EXTRA_ROUTE " via %s dev ecs-eth0", fx->vpc->bridge_gw);
  g_assert_nonnull (strstr (logs, expect));
  g_assert_nonnull (strstr (logs, "blackhole 169.254.169.254"));
  g_assert_nonnull (strstr (logs, "GATEWAY-OK"));
  g_assert_nonnull (strstr (logs, "{\"RoleArn\":\"ok\"}")); /* through the bridge to this test's listener */
  g_assert_true (fx_seen (fx, "GET /v2/credentials/test-id -"));
  g_assert_null (strstr (logs, "IMDS-RC=0"));
  g_assert_nonnull (strstr (logs, "IMDS-RC="));

  /* Teardown: the ENI is back on the host under its name and the namespace has only lo; the
   * bridge address stays reserved until release. Twice each: the second finds nothing to do. */
  g_assert_true (teardown (fx, &rq.req, &error));
  g_assert_no_error (error);
  g_clear_pointer (&links, g_free);
  links = ecsa_netplug_netns_links (netns);
  g_assert_cmpstr (links, ==, "lo ");
  ecsa_netplug_sh (&host_links, "ip -br link show %s", fx->vpc->eni);
  g_assert_nonnull (strstr (host_links, fx->vpc->eni));
  g_assert_cmpuint (reserved_addresses (fx), ==, 1);
  g_assert_true (teardown (fx, &rq.req, &error));
  g_assert_no_error (error);
  g_assert_true (release (fx, &rq.req, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (reserved_addresses (fx), ==, 0);
  g_assert_true (release (fx, &rq.req, &error));
  g_assert_no_error (error);

  /* And after the sandbox is gone (an agent restart finding a stopped task). */
  ecsa_netplug_docker_remove (fx->th, fx->pause_id);
  g_assert_true (teardown (fx, &rq.req, &error));
  g_assert_no_error (error);
  g_assert_true (release (fx, &rq.req, &error));
  g_assert_no_error (error);
}

static void
test_failed_add_rolls_back (Fixture *fx, gconstpointer data)
{
  g_autofree char *netns = pause_netns (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  g_autofree char *links = NULL;
  Request rq;

  /* An ENI that is not on this host: host-device's ADD fails after the bridge's succeeded. */
  request_init (&rq, fx->pause_id, netns, "02:ec:5a:ff:ff:fe", ECSA_NETPLUG_VPC_GATEWAY "/24");
  res = setup (fx, &rq.req, &error);
  g_assert_null (res);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "task 'arn:aws:ecs:us-west-2:123456789012:task/netplug-1': awsvpc"));
  g_assert_nonnull (strstr (error->message, "host-device ADD failed"));
  g_test_message ("%s", error->message);
  /* DEL ran for both plugins: nothing is left in the namespace or in IPAM */
  links = ecsa_netplug_netns_links (netns);
  g_assert_cmpstr (links, ==, "lo ");
  g_assert_cmpuint (reserved_addresses (fx), ==, 0);
  g_assert_cmpint (ecsa_netplug_sh (NULL, "ip link show %s", fx->vpc->eni), ==, 0);
}

static void
test_gateway_from_imds_and_netns_gone (Fixture *fx, gconstpointer data)
{
  g_autofree char *netns = pause_netns (fx);
  g_autofree char *mode = g_strdup_printf ("container:%s", fx->pause_id);
  g_autofree char *probe = NULL;
  g_autofree char *logs = NULL;
  g_autofree char *imds_get = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  Request rq;

  /* ACS of v1.16.2's time sent no subnet gateway: it comes from instance metadata (IMDSv2). */
  request_init (&rq, fx->pause_id, netns, fx->vpc->eni_mac, NULL);
  rq.req.block_instance_metadata = FALSE;
  rq.routes[0] = NULL;
  res = setup (fx, &rq.req, &error);
  g_assert_no_error (error);
  g_assert_true (fx_seen (fx, "PUT /latest/api/token -"));
  imds_get = g_strdup_printf ("GET /latest/meta-data/network/interfaces/macs/%s/subnet-ipv4-cidr-block tok-123",
                              fx->vpc->eni_mac);
  g_assert_true (fx_seen (fx, imds_get));
  probe = run_container (fx, "probe2", mode,
                         "[\"sh\",\"-c\",\"ip route show; ping -c 1 -W 3 " ECSA_NETPLUG_VPC_GATEWAY " >/dev/null && echo GATEWAY-OK\"]");
  g_assert_cmpint (ecsa_netplug_docker_wait (fx->th, probe, 30), ==, 0);
  logs = ecsa_netplug_docker_logs (fx->th, probe);
  g_assert_nonnull (strstr (logs, "GATEWAY-OK"));
  g_assert_null (strstr (logs, "blackhole"));
  g_assert_cmpuint (reserved_addresses (fx), ==, 1);

  /* The sandbox dies without a teardown (the veth ENI dies with its namespace, unlike a real
   * ENI): teardown after the fact still gives the address back. */
  ecsa_netplug_docker_remove (fx->th, probe);
  ecsa_netplug_docker_remove (fx->th, fx->pause_id);
  g_assert_false (g_file_test (netns, G_FILE_TEST_EXISTS));
  g_assert_true (teardown (fx, &rq.req, &error));
  g_assert_no_error (error);
  g_assert_true (release (fx, &rq.req, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (reserved_addresses (fx), ==, 0);
}

static void
test_bad_requests (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  Request rq;
  const char *bad_routes[] = { "10.0.0.0/33", NULL };

  fx->pause_id = g_strdup ("0123456789ab");
  request_init (&rq, fx->pause_id, "/proc/self/ns/net", "not-a-mac", ECSA_NETPLUG_VPC_GATEWAY "/24");
  res = setup (fx, &rq.req, &error);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "invalid MAC address 'not-a-mac'"));
  g_clear_error (&error);

  request_init (&rq, fx->pause_id, "/proc/self/ns/net", fx->vpc->eni_mac, "198.18.77.1");
  res = setup (fx, &rq.req, &error);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "invalid subnet gateway '198.18.77.1'"));
  g_clear_error (&error);

  request_init (&rq, fx->pause_id, "/proc/self/ns/net", fx->vpc->eni_mac, ECSA_NETPLUG_VPC_GATEWAY "/24");
  rq.req.additional_local_routes = bad_routes;
  res = setup (fx, &rq.req, &error);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES: '10.0.0.0/33'"));
  g_clear_error (&error);

  request_init (&rq, fx->pause_id, "/proc/self/ns/net", fx->vpc->eni_mac, ECSA_NETPLUG_VPC_GATEWAY "/24");
  rq.req.eni = NULL;
  res = setup (fx, &rq.req, &error);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "awsvpc without an ENI"));
  g_clear_error (&error);

  request_init (&rq, fx->pause_id, "", fx->vpc->eni_mac, ECSA_NETPLUG_VPC_GATEWAY "/24");
  res = setup (fx, &rq.req, &error);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "no network namespace"));
  g_assert_cmpuint (reserved_addresses (fx), ==, 0);
}

/* ---------------------------------------------------------------------------------------------
 * The ECS plugins (ecs-eni, ecs-bridge, ecs-ipam) are not packaged for Debian: scripts that record
 * their input stand in for them, to check that v1.16.2's configuration reaches them.
 * ------------------------------------------------------------------------------------------- */

static const char ecs_plugin_script[] =
  "#!/bin/sh\n"
  "dir=$(dirname \"$0\"); name=$(basename \"$0\")\n"
  "case \"$1\" in\n"
  "--capabilities) if [ -e \"$dir/no-caps-$name\" ]; then echo '{\"capabilities\":[]}'; "
  "else echo '{\"capabilities\":[\"awsvpc-network-mode\"]}'; fi; exit 0;;\n"
  "--version) echo '{\"version\":\"2017.10.0\",\"dirty\":true,\"gitShortHash\":\"0123abc\"}'; exit 0;;\n"
  "esac\n"
  "cfg=$(cat)\n"
  "echo \"$name $CNI_COMMAND $CNI_IFNAME $CNI_NETNS $CNI_CONTAINERID\" >>\"$dir/calls\"\n"
  "echo \"$cfg\" >>\"$dir/calls\"\n"
  "if [ \"$CNI_COMMAND\" = ADD ] && [ -e \"$dir/fail-$name\" ]; then echo '{\"code\":7,\"msg\":\"boom\"}'; exit 1; fi\n"
  "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"0.3.0\",\"ips\":[{\"version\":\"4\",\"address\":\"169.254.172.2/22\"}]}'\n"
  "exit 0\n";

typedef struct
{
  EcsaNetplugHost *th;
  const EcsaPluginDescriptor *desc;
  const EcsaNetworkVTable *vt;
  gpointer state;
  char *dir;
  char *bridge;
  char *pause_id;
} EcsFixture;

static void
ecs_fixture_setup (EcsFixture *fx, gconstpointer data)
{
  const char *names[] = { "ecs-eni", "ecs-bridge", "ecs-ipam" };
  guint i;

  fx->dir = ecsa_test_mkdtemp ();
  fx->bridge = g_strdup_printf ("et%dx", (int) getpid ()); /* no such interface: route_localnet is skipped */
  fx->pause_id = g_strdup ("ab12cd34ef56");
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (fx->dir, names[i], NULL);
      g_assert_true (g_file_set_contents (path, ecs_plugin_script, -1, NULL));
      g_assert_cmpint (g_chmod (path, 0755), ==, 0);
    }
  if (data != NULL) /* a marker file: "no-caps-ecs-ipam", "fail-ecs-eni" */
    {
      g_autofree char *path = g_build_filename (fx->dir, data, NULL);
      g_assert_true (g_file_set_contents (path, "", 0, NULL));
    }
  {
    g_autofree char *path = g_strdup_printf ("ECS_CNI_PLUGINS_PATH=%s", fx->dir);
    const char *settings[] = { "ECS_ENABLE_TASK_ENI=true", path, NULL };

    g_setenv ("ECSA_CNI_BRIDGE", fx->bridge, TRUE);
    g_unsetenv ("ECSA_CNI_SUBNET");
    fx->th = ecsa_netplug_host_new (ECSA_PLUGIN_KIND_NETWORK, "cni", settings, fx->dir);
  }
  fx->desc = ecsa_plugin_net_cni_get_descriptor ();
  fx->vt = fx->desc->vtable;
  g_assert_true (fx->desc->init (fx->th->host, &fx->state, NULL));
}

static void
ecs_fixture_teardown (EcsFixture *fx, gconstpointer data)
{
  fx->desc->shutdown (fx->state);
  ecsa_netplug_iterate (200);
  ecsa_netplug_host_free (fx->th);
  ecsa_test_rmdir_recursive (fx->dir);
  g_free (fx->dir);
  g_free (fx->bridge);
  g_free (fx->pause_id);
}

/* The recorded calls: "name COMMAND IFNAME NETNS CONTAINERID" lines, each followed by its JSON. */
static GPtrArray *
ecs_calls (EcsFixture *fx)
{
  g_autofree char *path = g_build_filename (fx->dir, "calls", NULL);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  guint i;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return out;
  lines = g_strsplit (text, "\n", -1);
  for (i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '\0')
      g_ptr_array_add (out, g_strdup (lines[i]));
  g_assert_true (g_unlink (path) == 0);
  return out;
}

static JsonObject *
json_object_of (JsonParser *parser, const char *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

static void
expect_call (GPtrArray *calls, guint *i, const char *head, JsonParser *parser, JsonObject **out_config)
{
  g_assert_cmpuint (*i + 1, <, calls->len);
  g_assert_cmpstr (g_ptr_array_index (calls, *i), ==, head);
  *out_config = json_object_of (parser, g_ptr_array_index (calls, *i + 1));
  *i += 2;
}

static void
test_ecs_flavour (EcsFixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  g_autoptr(GPtrArray) calls = NULL;
  g_autoptr(GPtrArray) attrs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonParser) p1 = json_parser_new ();
  g_autoptr(JsonParser) p2 = json_parser_new ();
  g_autoptr(JsonParser) p3 = json_parser_new ();
  g_autofree char *head = NULL;
  JsonObject *o;
  JsonObject *ipam;
  JsonArray *routes;
  Request rq;
  guint i = 0;

  g_assert_true (check_with (fx->vt, fx->state, &error));
  g_assert_no_error (error);
  request_init (&rq, fx->pause_id, "/proc/self/ns/net", "0A:1B:2C:3D:4E:5F", NULL);
  res = setup_with (fx->vt, fx->state, &rq.req, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (res->struct_size, ==, sizeof (EcsaNetworkResult));
  g_assert_cmpstr (res->ipv4_address, ==, ECSA_NETPLUG_ENI_ADDRESS);
  g_assert_cmpstr (res->mac_address, ==, "0a:1b:2c:3d:4e:5f");

  /* v1.16.2's getTaskENIPluginVersionAttribute: "[@]<hash>-<version>" of ecs-eni */
  fx->vt->attributes (fx->state, attrs);
  g_assert_cmpuint (attrs->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (attrs, 1), ==, "@0123abc-2017.10.0");

  /* SetupNS: ecs-bridge with ecs-ipam, then ecs-eni, both with IfName ecs-eth0 */
  calls = ecs_calls (fx);
  head = g_strdup_printf ("ecs-bridge ADD ecs-eth0 /proc/self/ns/net %s", fx->pause_id);
  expect_call (calls, &i, head, p1, &o);
  g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, "ecs-bridge");
  g_assert_cmpstr (json_object_get_string_member (o, "cniVersion"), ==, "0.3.0");
  g_assert_cmpstr (json_object_get_string_member (o, "bridge"), ==, fx->bridge);
  g_assert_false (json_object_get_boolean_member (o, "ipMasq"));
  ipam = json_object_get_object_member (o, "ipam");
  g_assert_cmpstr (json_object_get_string_member (ipam, "type"), ==, "ecs-ipam");
  g_assert_cmpstr (json_object_get_string_member (ipam, "id"), ==, "0a:1b:2c:3d:4e:5f");
  g_assert_cmpstr (json_object_get_string_member (ipam, "ipv4-subnet"), ==, "169.254.172.0/22");
  routes = json_object_get_array_member (ipam, "ipv4-routes");
  g_assert_cmpuint (json_array_get_length (routes), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (routes, 0), "dst"), ==,
                   "169.254.170.2/32");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (routes, 1), "dst"), ==, EXTRA_ROUTE);
  g_clear_pointer (&head, g_free);
  head = g_strdup_printf ("ecs-eni ADD ecs-eth0 /proc/self/ns/net %s", fx->pause_id);
  expect_call (calls, &i, head, p2, &o);
  g_assert_cmpstr (json_object_get_string_member (o, "type"), ==, "ecs-eni");
  g_assert_cmpstr (json_object_get_string_member (o, "eni"), ==, "eni-0123456789abcdef0");
  g_assert_cmpstr (json_object_get_string_member (o, "ipv4-address"), ==, ECSA_NETPLUG_ENI_ADDRESS);
  g_assert_cmpstr (json_object_get_string_member (o, "ipv6-address"), ==, "");
  g_assert_cmpstr (json_object_get_string_member (o, "mac"), ==, "0a:1b:2c:3d:4e:5f");
  g_assert_true (json_object_get_boolean_member (o, "block-instance-metadata"));
  g_assert_true (json_object_has_member (o, "prevResult")); /* libcni passes the bridge's result on */
  g_assert_cmpuint (i, ==, calls->len);
  g_clear_pointer (&calls, g_ptr_array_unref);

  /* CleanupNS (the list in reverse, ecs-bridge without IPAM), then ReleaseIPResource */
  g_assert_true (teardown_with (fx->vt, fx->state, &rq.req, &error));
  g_assert_no_error (error);
  g_assert_true (release_with (fx->vt, fx->state, &rq.req, &error));
  g_assert_no_error (error);
  calls = ecs_calls (fx);
  i = 0;
  g_clear_pointer (&head, g_free);
  head = g_strdup_printf ("ecs-eni DEL ecs-eth0 /proc/self/ns/net %s", fx->pause_id);
  expect_call (calls, &i, head, p1, &o);
  g_assert_cmpstr (json_object_get_string_member (o, "mac"), ==, "0a:1b:2c:3d:4e:5f");
  g_clear_pointer (&head, g_free);
  head = g_strdup_printf ("ecs-bridge DEL ecs-eth0 /proc/self/ns/net %s", fx->pause_id);
  expect_call (calls, &i, head, p2, &o);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (o, "ipam")), ==, 0);
  g_clear_pointer (&head, g_free);
  head = g_strdup_printf ("ecs-ipam DEL ecs-eth0  %s", fx->pause_id);
  expect_call (calls, &i, head, p3, &o);
  ipam = json_object_get_object_member (o, "ipam");
  g_assert_cmpstr (json_object_get_string_member (ipam, "id"), ==, "0a:1b:2c:3d:4e:5f");
  g_assert_cmpuint (i, ==, calls->len);
}

static void
test_ecs_flavour_failed_add (EcsFixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  g_autoptr(GPtrArray) calls = NULL;
  Request rq;
  guint i;

  request_init (&rq, fx->pause_id, "/proc/self/ns/net", "0a:1b:2c:3d:4e:5f", NULL);
  res = setup_with (fx->vt, fx->state, &rq.req, &error);
  g_assert_null (res);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "ecs-eni ADD failed (exit status 1): boom (code 7)"));
  calls = ecs_calls (fx);
  /* ADD, ADD, then DEL of both (the failed one too) and the address released */
  g_assert_cmpuint (calls->len, ==, 10);
  for (i = 0; i < calls->len; i += 2)
    {
      const char *want[] = { "ecs-bridge ADD", "ecs-eni ADD", "ecs-eni DEL", "ecs-bridge DEL", "ecs-ipam DEL" };
      g_assert_true (g_str_has_prefix (g_ptr_array_index (calls, i), want[i / 2]));
    }
}

static void
test_ecs_flavour_missing_capability (EcsFixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;
  g_autoptr(GPtrArray) calls = NULL;
  Request rq;

  /* v1.16.2 refuses to start (exit 5: the registry's check reports NOT_SUPPORTED); a setup
   * attempted anyway fails with the same reason */
  g_assert_false (check_with (fx->vt, fx->state, &error));
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "ecs-ipam' doesn't support the capability: awsvpc-network-mode"));
  g_clear_error (&error);
  request_init (&rq, fx->pause_id, "/proc/self/ns/net", "0a:1b:2c:3d:4e:5f", NULL);
  res = setup_with (fx->vt, fx->state, &rq.req, &error);
  g_assert_null (res);
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "ecs-ipam' doesn't support the capability: awsvpc-network-mode"));
  calls = ecs_calls (fx);
  g_assert_cmpuint (calls->len, ==, 0);
}

static void
test_init_refusals (void)
{
  const char *off[] = { NULL };
  const char *on[] = { "ECS_ENABLE_TASK_ENI=true", NULL };
  g_autoptr(EcsaNetplugHost) th = ecsa_netplug_host_new (ECSA_PLUGIN_KIND_NETWORK, "cni", off, NULL);
  g_autoptr(EcsaNetplugHost) th_on = ecsa_netplug_host_new (ECSA_PLUGIN_KIND_NETWORK, "cni", on, NULL);
  const EcsaPluginDescriptor *desc = ecsa_plugin_net_cni_get_descriptor ();
  g_autoptr(GError) error = NULL;
  gpointer state = NULL;

  /* v1.16.2 offers awsvpc only with ECS_ENABLE_TASK_ENI */
  g_assert_false (desc->init (th->host, &state, &error));
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "ECS_ENABLE_TASK_ENI"));
  g_clear_error (&error);

  g_setenv ("ECSA_CNI_BRIDGE", "a-name-far-too-long", TRUE);
  g_assert_false (desc->init (th_on->host, &state, &error));
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "ECSA_CNI_BRIDGE: 'a-name-far-too-long'"));
  g_clear_error (&error);

  g_unsetenv ("ECSA_CNI_BRIDGE");
  g_setenv ("ECSA_CNI_SUBNET", "169.254.172.0", TRUE);
  g_assert_false (desc->init (th_on->host, &state, &error));
  g_assert_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "ECSA_CNI_SUBNET"));
  g_unsetenv ("ECSA_CNI_SUBNET");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/net-cni/init/refusals", test_init_refusals);
  g_test_add ("/net-cni/ecs-plugins/v1.16.2-configuration", EcsFixture, NULL, ecs_fixture_setup, test_ecs_flavour,
              ecs_fixture_teardown);
  g_test_add ("/net-cni/ecs-plugins/failed-add-rolls-back", EcsFixture, "fail-ecs-eni", ecs_fixture_setup,
              test_ecs_flavour_failed_add, ecs_fixture_teardown);
  g_test_add ("/net-cni/ecs-plugins/missing-capability", EcsFixture, "no-caps-ecs-ipam", ecs_fixture_setup,
              test_ecs_flavour_missing_capability, ecs_fixture_teardown);
  g_test_add ("/net-cni/request/invalid", Fixture, NULL, fixture_setup, test_bad_requests, fixture_teardown);
  g_test_add ("/net-cni/awsvpc/setup-teardown", Fixture, NULL, fixture_setup, test_setup_teardown, fixture_teardown);
  g_test_add ("/net-cni/awsvpc/failed-add-rolls-back", Fixture, NULL, fixture_setup, test_failed_add_rolls_back,
              fixture_teardown);
  g_test_add ("/net-cni/awsvpc/gateway-from-imds-and-netns-gone", Fixture, NULL, fixture_setup,
              test_gateway_from_imds_and_netns_gone, fixture_teardown);
  return g_test_run ();
}

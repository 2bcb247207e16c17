/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"
#include "ecsa-task-network.h"

#include <string.h>
#include <unistd.h>

#include "ecsa-exit-codes.h"
#include "ecsa-log.h"

#define IMAGE_LOAD_TIMEOUT_MS (10 * 60 * 1000) /* v1.16.2's LoadImageTimeout */
#define PAUSE_PATH_IN_IMAGE "pause"

struct _EcsaTaskNetwork
{
  EcsaConfig *config;
  EcsaDockerClient *docker;
  EcsaPluginRegistry *registry;
  char *pause_program;
  char *pause_image; /* name:tag */
  gboolean prepared;
  gboolean enabled; /* after prepare: FALSE when the instance is not in a VPC */
  char *vpc_id;
  char *subnet_id;
  GCancellable *cancellable; /* cancelled by free */
};

const char *
ecsa_task_network_default_pause_program(void)
{
  const char *env = g_getenv("ECSA_PAUSE_PROGRAM");

  return env != NULL && env[0] != '\0' ? env : ECSA_LIBEXECDIR "/ecs-agent-pause";
}

EcsaTaskNetwork *
ecsa_task_network_new(EcsaConfig *config, EcsaDockerClient *docker, EcsaPluginRegistry *registry,
                      const char *pause_program)
{
  EcsaTaskNetwork *self;

  g_return_val_if_fail(config != NULL && docker != NULL && registry != NULL, NULL);
  self = g_new0(EcsaTaskNetwork, 1);
  self->config = config;
  self->docker = docker;
  self->registry = registry;
  self->pause_program = g_strdup(pause_program != NULL ? pause_program : ecsa_task_network_default_pause_program());
  self->pause_image = g_strdup_printf("%s:%s", config->pause_container_image_name, config->pause_container_tag);
  self->cancellable = g_cancellable_new();
  return self;
}

void
ecsa_task_network_free(EcsaTaskNetwork *self)
{
  if (self == NULL)
    return;
  g_cancellable_cancel(self->cancellable);
  g_clear_object(&self->cancellable);
  g_free(self->pause_program);
  g_free(self->pause_image);
  g_free(self->vpc_id);
  g_free(self->subnet_id);
  g_free(self);
}

gboolean
ecsa_task_network_is_enabled(EcsaTaskNetwork *self)
{
  g_return_val_if_fail(self != NULL, FALSE);
  return self->prepared && self->enabled;
}

const char *
ecsa_task_network_get_vpc_id(EcsaTaskNetwork *self)
{
  g_return_val_if_fail(self != NULL, NULL);
  return self->vpc_id;
}

const char *
ecsa_task_network_get_subnet_id(EcsaTaskNetwork *self)
{
  g_return_val_if_fail(self != NULL, NULL);
  return self->subnet_id;
}

const char *
ecsa_task_network_get_pause_image(EcsaTaskNetwork *self)
{
  g_return_val_if_fail(self != NULL, NULL);
  return self->pause_image;
}

/* ---------------------------------------------------------------------------------------------
 * Start-up
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  EcsaTaskNetwork *self; /* valid unless `stop` was cancelled (free) */
  GCancellable *stop;
  EcsaImds *imds;
  char *mac;
  gboolean loaded; /* the pause image was loaded or imported in this prepare */
} Prepare;

static void
prepare_free(Prepare *p)
{
  g_clear_object(&p->stop);
  g_clear_object(&p->imds);
  g_free(p->mac);
  g_free(p);
}

static gboolean
prepare_stopped(GTask *task)
{
  Prepare *p = g_task_get_task_data(task);

  if (!g_cancellable_is_cancelled(p->stop))
    return FALSE;
  g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "task ENI set-up: the agent is shutting down");
  return TRUE;
}

/* v1.16.2: "Unable to initialize Task ENI dependencies: ..." then exit 5 (terminal) or 1 */
static void
prepare_fail(GTask *task /* owned */, gboolean terminal, GError *error /* owned */)
{
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_task_return_error(task, error);
  else
    {
      g_task_return_new_error(task, ECSA_EXIT_CODE_ERROR, terminal ? ECSA_EXIT_TERMINAL : ECSA_EXIT_ERROR,
                              "Unable to initialize Task ENI dependencies: %s", error->message);
      g_error_free(error);
    }
  g_object_unref(task);
}

static void
prepare_done(GTask *task /* owned */)
{
  Prepare *p = g_task_get_task_data(task);

  p->self->prepared = TRUE;
  g_task_return_boolean(task, TRUE);
  g_object_unref(task);
}

static void pause_import(GTask *task);

static void
pause_inspect_again_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Prepare *p = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) image = ecsa_docker_client_inspect_image_finish(ECSA_DOCKER_CLIENT(source), result, &error);

  if (prepare_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (image == NULL)
    {
      g_prefix_error(&error,
                     "pause container load: failed to inspect image '%s' after loading it: ", p->self->pause_image);
      prepare_fail(task, g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND), g_steal_pointer(&error));
      return;
    }
  ecsa_log_info("Pause container image '%s' is ready", p->self->pause_image);
  prepare_done(task);
}

static void
pause_loaded_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Prepare *p = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  guint status = 0;
  g_autoptr(GBytes) body = ecsa_docker_client_request_finish(ECSA_DOCKER_CLIENT(source), result, &status, &error);

  if (prepare_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (body != NULL && status >= 300)
    {
      gsize len = 0;
      const char *text = g_bytes_get_data(body, &len);
      g_set_error(&error, ECSA_ERROR, ECSA_ERROR_FAILED, "Docker answered HTTP %u: %.*s", status, (int)MIN(len, 200),
                  text != NULL ? text : "");
    }
  if (error != NULL)
    {
      g_prefix_error(&error, "pause container load: failed to load the pause container image: ");
      prepare_fail(task, FALSE, g_steal_pointer(&error));
      return;
    }
  ecsa_docker_client_inspect_image_async(p->self->docker, p->self->pause_image, p->stop, pause_inspect_again_ready_cb,
                                         task);
}

/* A ustar archive of one executable file. */
static GBytes *
tar_one_file(const char *name, GBytes *content)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(content, &len);
  gsize size = 512 + (len + 511) / 512 * 512 + 1024;
  guint8 *tar = g_malloc0(size);
  guint sum = 0;

  g_strlcpy((char *)tar, name, 100);
  memcpy(tar + 100, "0000755", 7);
  memcpy(tar + 108, "0000000", 7);
  memcpy(tar + 116, "0000000", 7);
  g_snprintf((char *)tar + 124, 12, "%011" G_GINT64_MODIFIER "o", (guint64)len);
  memcpy(tar + 136, "00000000000", 11);
  memset(tar + 148, ' ', 8);
  tar[156] = '0';
  memcpy(tar + 257, "ustar", 6);
  memcpy(tar + 263, "00", 2);
  for (guint i = 0; i < 512; i++)
    sum += tar[i];
  g_snprintf((char *)tar + 148, 8, "%06o", sum);
  if (len > 0)
    memcpy(tar + 512, data, len);
  return g_bytes_new_take(tar, size);
}

static void
pause_file_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Prepare *p = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) content = g_file_load_bytes_finish(G_FILE(source), result, NULL, &error);
  g_autoptr(GBytes) body = NULL;
  g_autofree char *path = NULL;
  gboolean is_tarball = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(source), "tarball"));

  if (prepare_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (content == NULL)
    {
      g_prefix_error(&error, "pause container load: failed to read '%s': ", g_file_peek_path(G_FILE(source)));
      prepare_fail(task, FALSE, g_steal_pointer(&error));
      return;
    }
  p->loaded = TRUE;
  if (is_tarball)
    {
      ecsa_log_info("Loading the pause container image from '%s'", g_file_peek_path(G_FILE(source)));
      ecsa_docker_client_request_async(p->self->docker, "POST", "/images/load?quiet=1", content, IMAGE_LOAD_TIMEOUT_MS,
                                       p->stop, pause_loaded_ready_cb, task);
      return;
    }
  /* The image: the pause program alone, as /pause, run as its command. */
  {
    g_autofree char *name = g_strdup(p->self->config->pause_container_image_name);
    g_autofree char *repo = g_uri_escape_string(name, "/", FALSE);
    g_autofree char *tag = g_uri_escape_string(p->self->config->pause_container_tag, NULL, FALSE);
    g_autofree char *changes = g_uri_escape_string("CMD [\"/" PAUSE_PATH_IN_IMAGE "\"]", NULL, FALSE);

    body = tar_one_file(PAUSE_PATH_IN_IMAGE, content);
    path = g_strdup_printf("/images/create?fromSrc=-&repo=%s&tag=%s&changes=%s", repo, tag, changes);
  }
  ecsa_log_info("Importing the pause container image '%s' from '%s'", p->self->pause_image,
                g_file_peek_path(G_FILE(source)));
  ecsa_docker_client_request_async(p->self->docker, "POST", path, body, IMAGE_LOAD_TIMEOUT_MS, p->stop,
                                   pause_loaded_ready_cb, task);
}

static void
pause_import(GTask *task)
{
  Prepare *p = g_task_get_task_data(task);
  EcsaConfig *config = p->self->config;
  g_autoptr(GFile) file = NULL;
  const char *tarball = config->pause_container_tarball_path;

  /* v1.16.2 loads the tarball ecs-init ships; Debian has none, so the agent's own pause program
   * makes the image when there is no tarball. */
  if (tarball != NULL && tarball[0] != '\0' && g_file_test(tarball, G_FILE_TEST_IS_REGULAR))
    {
      file = g_file_new_for_path(tarball);
      g_object_set_data(G_OBJECT(file), "tarball", GINT_TO_POINTER(TRUE));
    }
  else if (p->self->pause_program != NULL && g_file_test(p->self->pause_program, G_FILE_TEST_IS_REGULAR))
    file = g_file_new_for_path(p->self->pause_program);
  else
    {
      prepare_fail(task, TRUE,
                   g_error_new(ECSA_ERROR, ECSA_ERROR_NOT_FOUND,
                               "pause container load: failed to read pause container image: neither '%s' nor the "
                               "pause program '%s' exists",
                               tarball != NULL ? tarball : "", p->self->pause_program));
      return;
    }
  g_file_load_bytes_async(file, p->stop, pause_file_ready_cb, task);
}

static void
pause_inspect_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Prepare *p = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) image = ecsa_docker_client_inspect_image_finish(ECSA_DOCKER_CLIENT(source), result, &error);

  if (prepare_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (image != NULL)
    {
      ecsa_log_info("Pause container image '%s' is present", p->self->pause_image);
      prepare_done(task);
      return;
    }
  if (!g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
    {
      g_prefix_error(&error, "pause container load: failed to inspect image '%s': ", p->self->pause_image);
      prepare_fail(task, FALSE, g_steal_pointer(&error));
      return;
    }
  pause_import(task);
}

static void
check_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Prepare *p = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  gboolean ok = ecsa_plugin_registry_network_check_finish((EcsaPluginRegistry *)source, result, &error);

  if (prepare_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (!ok)
    {
      /* v1.16.2's verifyCNIPluginsCapabilities: terminal */
      prepare_fail(task, !g_error_matches(error, ECSA_ERROR, ECSA_ERROR_RETRY), g_steal_pointer(&error));
      return;
    }
  ecsa_docker_client_inspect_image_async(p->self->docker, p->self->pause_image, p->stop, pause_inspect_ready_cb, task);
}

static void
start_check(GTask *task)
{
  Prepare *p = g_task_get_task_data(task);

  p->self->enabled = TRUE;
  ecsa_plugin_registry_network_check_async(p->self->registry, ECSA_TASK_NETWORK_MODE, p->stop, check_ready_cb, task);
}

static void
subnet_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Prepare *p = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autofree char *subnet = ecsa_imds_get_finish(ECSA_IMDS(source), result, &error);

  if (prepare_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (subnet == NULL)
    {
      g_prefix_error(&error, "unable to get subnet id from instance metadata: ");
      prepare_fail(task, FALSE, g_steal_pointer(&error));
      return;
    }
  p->self->subnet_id = g_strstrip(g_steal_pointer(&subnet));
  start_check(task);
}

static void
vpc_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Prepare *p = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autofree char *vpc = ecsa_imds_get_finish(ECSA_IMDS(source), result, &error);
  g_autofree char *path = NULL;

  if (prepare_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (vpc == NULL)
    {
      if (g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND))
        {
          /* v1.16.2: not in a VPC: task ENIs off, the agent goes on */
          ecsa_log_warn("Unable to detect VPC ID for the Instance, disabling Task ENI capability: %s", error->message);
          p->self->enabled = FALSE;
          prepare_done(task);
          return;
        }
      g_prefix_error(&error, "unable to get vpc id from instance metadata: ");
      prepare_fail(task, TRUE, g_steal_pointer(&error)); /* v1.16.2: terminal */
      return;
    }
  p->self->vpc_id = g_strstrip(g_steal_pointer(&vpc));
  path = g_strdup_printf("meta-data/network/interfaces/macs/%s/subnet-id", p->mac);
  ecsa_imds_get_async(p->imds, path, p->stop, subnet_ready_cb, task);
}

static void
mac_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Prepare *p = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autofree char *mac = ecsa_imds_get_finish(ECSA_IMDS(source), result, &error);
  g_autofree char *path = NULL;

  if (prepare_stopped(task))
    {
      g_object_unref(task);
      return;
    }
  if (mac == NULL)
    {
      g_prefix_error(&error, "unable to get mac address of instance's primary ENI from instance metadata: ");
      prepare_fail(task, FALSE, g_steal_pointer(&error));
      return;
    }
  p->mac = g_strstrip(g_steal_pointer(&mac));
  path = g_strdup_printf("meta-data/network/interfaces/macs/%s/vpc-id", p->mac);
  ecsa_imds_get_async(p->imds, path, p->stop, vpc_ready_cb, task);
}

void
ecsa_task_network_prepare_async(EcsaTaskNetwork *self, EcsaImds *imds, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  Prepare *p;

  g_return_if_fail(self != NULL);
  task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_source_tag(task, ecsa_task_network_prepare_async);
  p = g_new0(Prepare, 1);
  p->self = self;
  p->stop = g_object_ref(self->cancellable);
  p->imds = imds != NULL ? g_object_ref(imds) : NULL;
  g_task_set_task_data(task, p, (GDestroyNotify)prepare_free);
  self->prepared = FALSE;
  self->enabled = FALSE;
  g_clear_pointer(&self->vpc_id, g_free);
  g_clear_pointer(&self->subnet_id, g_free);

  if (getpid() == 1)
    {
      /* v1.16.2: the dhclient processes the ENI plugin starts would never be reaped */
      prepare_fail(
        task, TRUE,
        g_error_new_literal(ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "agent is not started with an init system"));
      return;
    }
  if (imds == NULL)
    {
      start_check(task);
      return;
    }
  ecsa_imds_get_async(imds, "meta-data/mac", p->stop, mac_ready_cb, task);
}

gboolean
ecsa_task_network_prepare_finish(EcsaTaskNetwork *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  g_return_val_if_fail(g_async_result_is_tagged(result, ecsa_task_network_prepare_async), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---------------------------------------------------------------------------------------------
 * Per task
 * ------------------------------------------------------------------------------------------- */

gboolean
ecsa_task_network_check_task(EcsaTaskNetwork *self, const EcsaTask *task, GError **error)
{
  g_return_val_if_fail(self != NULL && task != NULL, FALSE);
  if (task->eni == NULL)
    return TRUE;
  if (!ecsa_task_network_is_enabled(self))
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                          "the task uses awsvpc networking (elasticNetworkInterfaces), which is not enabled on this "
                          "instance (ECS_ENABLE_TASK_ENI)");
      return FALSE;
    }
  if (ecsa_plugin_registry_find_network(self->registry, ECSA_TASK_NETWORK_MODE) == NULL)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                          "the task uses awsvpc networking, and no network plugin serves it");
      return FALSE;
    }
  if (task->eni->mac_address == NULL || task->eni->mac_address[0] == '\0' || task->eni->ipv4_addresses == NULL
      || task->eni->ipv4_addresses->len == 0)
    {
      g_set_error(
        error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "ENI '%s': %s", task->eni->id != NULL ? task->eni->id : "",
        task->eni->mac_address == NULL || task->eni->mac_address[0] == '\0' ? "no MAC address" : "no IPv4 address");
      return FALSE;
    }
  return TRUE;
}

char *
ecsa_task_network_sandbox_docker_name(const EcsaTask *task)
{
  EcsaContainer sandbox = { 0 };

  sandbox.name = (char *)ECSA_TASK_NETWORK_SANDBOX_NAME;
  sandbox.task = (EcsaTask *)task;
  return ecsa_container_make_docker_name(task, &sandbox);
}

char *
ecsa_task_network_container_network_mode(const char *sandbox_id)
{
  return g_strdup_printf("container:%s", sandbox_id);
}

static void
add_string_array(JsonBuilder *b, const char *member, GPtrArray *values)
{
  if (values == NULL || values->len == 0)
    return;
  json_builder_set_member_name(b, member);
  json_builder_begin_array(b);
  for (guint i = 0; i < values->len; i++)
    json_builder_add_string_value(b, g_ptr_array_index(values, i));
  json_builder_end_array(b);
}

JsonNode *
ecsa_task_network_sandbox_create_body(EcsaTaskNetwork *self, const EcsaTask *task, const char *cgroup_parent)
{
  g_autoptr(JsonBuilder) b = json_builder_new();

  g_return_val_if_fail(self != NULL && task != NULL, NULL);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "Image");
  json_builder_add_string_value(b, self->pause_image);
  json_builder_set_member_name(b, "Labels");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, ECSA_LABEL_TASK_ARN);
  json_builder_add_string_value(b, task->arn);
  json_builder_set_member_name(b, ECSA_LABEL_CONTAINER_NAME);
  json_builder_add_string_value(b, ECSA_TASK_NETWORK_SANDBOX_NAME);
  json_builder_set_member_name(b, ECSA_LABEL_FAMILY);
  json_builder_add_string_value(b, task->family != NULL ? task->family : "");
  json_builder_set_member_name(b, ECSA_LABEL_VERSION);
  json_builder_add_string_value(b, task->version != NULL ? task->version : "");
  json_builder_set_member_name(b, ECSA_LABEL_CLUSTER);
  json_builder_add_string_value(b, self->config->cluster != NULL ? self->config->cluster : "");
  json_builder_end_object(b);
  json_builder_set_member_name(b, "HostConfig");
  json_builder_begin_object(b);
  /* v1.16.2's shouldOverrideNetworkMode: internal containers run with "none" */
  json_builder_set_member_name(b, "NetworkMode");
  json_builder_add_string_value(b, "none");
  if (task->eni != NULL) /* v1.16.2's overrideDNS: the task's containers share this resolv.conf */
    {
      add_string_array(b, "Dns", task->eni->domain_name_servers);
      add_string_array(b, "DnsSearch", task->eni->domain_name_search);
    }
  if (cgroup_parent != NULL)
    {
      json_builder_set_member_name(b, "CgroupParent");
      json_builder_add_string_value(b, cgroup_parent);
    }
  json_builder_end_object(b);
  json_builder_end_object(b);
  return json_builder_get_root(b);
}

/* An EcsaNetworkRequest and what it points to, for the duration of one registry _async call. */
typedef struct
{
  EcsaEniView eni_view;
  EcsaNetworkRequest req;
  GPtrArray *ipv4; /* NULL-terminated copies of the EcsaEni arrays */
  GPtrArray *ipv6;
  GPtrArray *dns;
  GPtrArray *search;
  char *netns;
} Request;

static GPtrArray *
null_terminated(GPtrArray *src)
{
  GPtrArray *out = g_ptr_array_new();

  for (guint i = 0; src != NULL && i < src->len; i++)
    g_ptr_array_add(out, g_ptr_array_index(src, i));
  g_ptr_array_add(out, NULL);
  return out;
}

static Request *
request_new(EcsaTaskNetwork *self, const EcsaTaskView *task, const EcsaEni *eni, const char *sandbox_id, gint pid)
{
  Request *r = g_new0(Request, 1);

  r->netns = pid > 0 ? g_strdup_printf("/proc/%d/ns/net", pid) : g_strdup("");
  if (eni != NULL)
    {
      r->ipv4 = null_terminated(eni->ipv4_addresses);
      r->ipv6 = null_terminated(eni->ipv6_addresses);
      r->dns = null_terminated(eni->domain_name_servers);
      r->search = null_terminated(eni->domain_name_search);
      r->eni_view.struct_size = sizeof(EcsaEniView);
      r->eni_view.id = eni->id != NULL ? eni->id : "";
      r->eni_view.mac_address = eni->mac_address != NULL ? eni->mac_address : "";
      r->eni_view.ipv4_addresses = (const char *const *)r->ipv4->pdata;
      r->eni_view.ipv6_addresses = (const char *const *)r->ipv6->pdata;
      r->eni_view.subnet_gateway_ipv4_address = NULL; /* v1.16.2's ACS model has none: from metadata */
      r->eni_view.domain_name_servers = (const char *const *)r->dns->pdata;
      r->eni_view.domain_name_search = (const char *const *)r->search->pdata;
      r->req.eni = &r->eni_view;
    }
  r->req.struct_size = sizeof(EcsaNetworkRequest);
  r->req.block_instance_metadata = self->config->awsvpc_block_imds;
  r->req.task = task;
  r->req.network_mode = ECSA_TASK_NETWORK_MODE;
  r->req.sandbox_container_id = sandbox_id;
  r->req.netns_path = r->netns;
  r->req.additional_local_routes = (const char *const *)self->config->awsvpc_additional_local_routes;
  return r;
}

static void
request_free(Request *r)
{
  g_clear_pointer(&r->ipv4, g_ptr_array_unref);
  g_clear_pointer(&r->ipv6, g_ptr_array_unref);
  g_clear_pointer(&r->dns, g_ptr_array_unref);
  g_clear_pointer(&r->search, g_ptr_array_unref);
  g_free(r->netns);
  g_free(r);
}

void
ecsa_task_network_setup_async(EcsaTaskNetwork *self, const EcsaTaskView *task, const EcsaEni *eni,
                              const char *sandbox_id, gint sandbox_pid, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  Request *r;

  g_return_if_fail(self != NULL && task != NULL && sandbox_id != NULL);
  r = request_new(self, task, eni, sandbox_id, sandbox_pid);
  ecsa_log_info("Task '%s': setting up the network namespace of its sandbox '%s'", task->arn, sandbox_id);
  ecsa_plugin_registry_network_setup_async(self->registry, &r->req, cancellable, callback, user_data);
  request_free(r);
}

EcsaNetworkResult *
ecsa_task_network_setup_finish(EcsaTaskNetwork *self, GAsyncResult *result, GError **error)
{
  return ecsa_plugin_registry_network_setup_finish(self->registry, result, error);
}

void
ecsa_task_network_teardown_async(EcsaTaskNetwork *self, const EcsaTaskView *task, const EcsaEni *eni,
                                 const char *sandbox_id, gint sandbox_pid, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  Request *r;

  g_return_if_fail(self != NULL && task != NULL && sandbox_id != NULL);
  r = request_new(self, task, eni, sandbox_id, sandbox_pid);
  ecsa_log_info("Task '%s': cleaning up the network namespace", task->arn);
  ecsa_plugin_registry_network_teardown_async(self->registry, &r->req, cancellable, callback, user_data);
  request_free(r);
}

gboolean
ecsa_task_network_teardown_finish(EcsaTaskNetwork *self, GAsyncResult *result, GError **error)
{
  return ecsa_plugin_registry_network_teardown_finish(self->registry, result, error);
}

void
ecsa_task_network_release_async(EcsaTaskNetwork *self, const EcsaTaskView *task, const EcsaEni *eni,
                                const char *sandbox_id, GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  Request *r;

  g_return_if_fail(self != NULL && task != NULL && sandbox_id != NULL);
  r = request_new(self, task, eni, sandbox_id, 0);
  ecsa_log_info("Releasing ip in the ipam, task: '%s'", task->arn);
  ecsa_plugin_registry_network_release_async(self->registry, &r->req, cancellable, callback, user_data);
  request_free(r);
}

gboolean
ecsa_task_network_release_finish(EcsaTaskNetwork *self, GAsyncResult *result, GError **error)
{
  return ecsa_plugin_registry_network_release_finish(self->registry, result, error);
}

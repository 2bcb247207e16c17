/* ecsa-task-docker.c: what the task model becomes in Docker: names, labels, the create document,
 * the instance policy checks, and network bindings read back from inspect.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-task-private.h"

#include "ecsa-docker-client.h"
#include "ecsa-plugin.h"

#include <string.h>

/* v1.16.2: DockerContainerMinimumMemoryInBytes on Linux */
#define MIN_CONTAINER_MEMORY (4 * 1024 * 1024)
/* v1.16.2: 0 and 1 CPU shares become 2 (Docker turns 0 into 1024, and 1 is invalid) */
#define MIN_CPU_SHARES 2
#define CREDENTIALS_URI_ENV "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
#define CREDENTIALS_PATH "/v2/credentials/"
#define AWSLOGS_CREDENTIALS_ENDPOINT "awslogs-credentials-endpoint"

char *
ecsa_container_make_docker_name(const EcsaTask *task, const EcsaContainer *container)
{
  g_autoptr(GString) name = g_string_new("ecs-");
  guint8 rnd[10];

  g_string_append_printf(name, "%s-%s-", task->family, task->version);
  for (const char *p = container->name; *p != '\0'; p++)
    if (g_ascii_isalnum(*p) || *p == '-')
      g_string_append_c(name, *p);
  g_string_append_c(name, '-');
  for (guint i = 0; i < sizeof(rnd); i++)
    rnd[i] = (guint8)g_random_int_range(0, 256);
  for (guint i = 0; i < sizeof(rnd); i++)
    g_string_append_printf(name, "%02x", rnd[i]);
  return g_string_free(g_steal_pointer(&name), FALSE);
}

/* A top-level member by name ignoring case (Docker's decoder does the same). */
static JsonNode *
ci_member(JsonObject *o, const char *name, const char **out_key)
{
  JsonNode *n = json_object_get_member(o, name);
  g_autoptr(GList) members = NULL;

  *out_key = name;
  if (n != NULL)
    return n;
  members = json_object_get_members(o);
  for (GList *l = members; l != NULL; l = l->next)
    if (g_ascii_strcasecmp(l->data, name) == 0)
      {
        *out_key = l->data;
        return json_object_get_member(o, l->data);
      }
  return NULL;
}

/* The array member `name` (any case), created empty when missing or not an array. */
static JsonArray *
ensure_array_member_ci(JsonObject *o, const char *name)
{
  const char *key;
  JsonNode *n = ci_member(o, name, &key);

  if (n == NULL || !JSON_NODE_HOLDS_ARRAY(n))
    {
      g_autofree char *k = g_strdup(key);
      json_object_set_array_member(o, k, json_array_new());
      n = json_object_get_member(o, k);
    }
  return json_node_get_array(n);
}

static JsonObject *
ensure_object_member_ci(JsonObject *o, const char *name)
{
  const char *key;
  JsonNode *n = ci_member(o, name, &key);

  if (n == NULL || !JSON_NODE_HOLDS_OBJECT(n))
    {
      g_autofree char *k = g_strdup(key);
      json_object_set_object_member(o, k, json_object_new());
      n = json_object_get_member(o, k);
    }
  return json_node_get_object(n);
}

static void
array_take_string(JsonArray *a, char *s)
{
  json_array_add_string_element(a, s);
  g_free(s);
}

static void
object_take_string(JsonObject *o, const char *name, char *s)
{
  json_object_set_string_member(o, name, s);
  g_free(s);
}

static void
set_memory_cpu(JsonObject *o, const EcsaContainer *c)
{
  gint64 mem = (gint64)c->memory * 1024 * 1024;

  if (mem != 0 && mem < MIN_CONTAINER_MEMORY)
    mem = MIN_CONTAINER_MEMORY;
  json_object_set_int_member(o, "Memory", mem);
  json_object_set_int_member(o, "CpuShares", c->cpu <= 1 ? MIN_CPU_SHARES : (gint64)c->cpu);
}

static gboolean
merge_document(JsonObject *base, const char *text, const char *what, GError **error)
{
  g_autoptr(JsonNode) doc = NULL;
  g_autoptr(GError) local = NULL;

  if (text == NULL)
    return TRUE;
  doc = ecsa_json_parse_string(text, &local);
  if (doc == NULL || !JSON_NODE_HOLDS_OBJECT(doc))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "DockerClientConfigError: unable to decode %s: %s", what,
                  local != NULL ? local->message : "not an object");
      return FALSE;
    }
  ecsa_json_merge_object(base, json_node_get_object(doc), TRUE);
  return TRUE;
}

static JsonObject *
build_config(const EcsaTask *task, const EcsaContainer *c, const EcsaCreateContext *ctx, gboolean old_api,
             GError **error)
{
  g_autoptr(JsonObject) config = json_object_new();
  g_autoptr(GPtrArray) keys = NULL;
  JsonArray *env;
  JsonObject *exposed, *labels;

  json_object_set_string_member(config, "Image", c->image);
  if (c->command != NULL)
    {
      JsonArray *a = json_array_new();
      for (guint i = 0; c->command[i] != NULL; i++)
        json_array_add_string_element(a, c->command[i]);
      json_object_set_array_member(config, "Cmd", a);
    }
  if (c->entry_point != NULL)
    {
      JsonArray *a = json_array_new();
      for (guint i = 0; c->entry_point[i] != NULL; i++)
        json_array_add_string_element(a, c->entry_point[i]);
      json_object_set_array_member(config, "Entrypoint", a);
    }
  exposed = json_object_new();
  for (guint i = 0; i < c->port_mappings->len; i++)
    {
      EcsaPortMapping *m = c->port_mappings->pdata[i];
      g_autofree char *key = g_strdup_printf("%u/%s", m->container_port, m->udp ? "udp" : "tcp");
      json_object_set_object_member(exposed, key, json_object_new());
    }
  json_object_set_object_member(config, "ExposedPorts", exposed);
  json_object_set_object_member(config, "Volumes", json_object_new());
  env = json_array_new();
  keys = ecsa_hash_table_sorted_keys(c->environment);
  for (guint i = 0; i < keys->len; i++)
    {
      if (task->credentials_id != NULL && strcmp(keys->pdata[i], CREDENTIALS_URI_ENV) == 0)
        continue;
      array_take_string(env, g_strdup_printf("%s=%s", (char *)keys->pdata[i],
                                             (char *)g_hash_table_lookup(c->environment, keys->pdata[i])));
    }
  /* task IAM role: the SDKs find the credentials endpoint through this variable */
  if (task->credentials_id != NULL)
    array_take_string(env, g_strdup_printf("%s=%s%s", CREDENTIALS_URI_ENV, CREDENTIALS_PATH, task->credentials_id));
  json_object_set_array_member(config, "Env", env);
  if (old_api)
    set_memory_cpu(config, c);

  if (!merge_document(config, c->docker_config, "dockerConfig.config", error))
    return NULL;

  labels = ensure_object_member_ci(config, "Labels");
  json_object_set_string_member(labels, ECSA_LABEL_TASK_ARN, task->arn);
  json_object_set_string_member(labels, ECSA_LABEL_CONTAINER_NAME, c->name);
  json_object_set_string_member(labels, ECSA_LABEL_FAMILY, task->family);
  json_object_set_string_member(labels, ECSA_LABEL_VERSION, task->version);
  json_object_set_string_member(labels, ECSA_LABEL_CLUSTER, ctx->cluster != NULL ? ctx->cluster : "");

  if (ctx->extra_env != NULL)
    {
      JsonArray *e = ensure_array_member_ci(config, "Env");
      for (guint i = 0; ctx->extra_env[i] != NULL; i++)
        json_array_add_string_element(e, ctx->extra_env[i]);
    }
  return g_steal_pointer(&config);
}

static char *
link_docker_name(const EcsaTask *task, const char *link, GError **error)
{
  g_auto(GStrv) parts = g_strsplit(link, ":", 2);
  const char *alias = parts[1] != NULL ? parts[1] : parts[0];
  EcsaContainer *target = ecsa_task_get_container(task, parts[0]);

  if (target == NULL || target->docker_name == NULL)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "HostConfigError: link target not available: %s",
                  parts[0]);
      return NULL;
    }
  return g_strdup_printf("%s:%s", target->docker_name, alias);
}

static JsonObject *
build_host_config(const EcsaTask *task, const EcsaContainer *c, const EcsaCreateContext *ctx, gboolean old_api,
                  GError **error)
{
  g_autoptr(JsonObject) hc = json_object_new();
  JsonArray *links = json_array_new();
  JsonArray *binds = json_array_new();
  JsonArray *volumes_from = json_array_new();
  JsonObject *port_bindings = json_object_new();

  json_object_set_array_member(hc, "Links", links);
  json_object_set_array_member(hc, "Binds", binds);
  json_object_set_object_member(hc, "PortBindings", port_bindings);
  json_object_set_array_member(hc, "VolumesFrom", volumes_from);

  for (guint i = 0; c->links != NULL && c->links[i] != NULL; i++)
    {
      char *l = link_docker_name(task, c->links[i], error);
      if (l == NULL)
        return NULL;
      array_take_string(links, l);
    }
  for (guint i = 0; i < c->port_mappings->len; i++)
    {
      EcsaPortMapping *m = c->port_mappings->pdata[i];
      g_autofree char *key = g_strdup_printf("%u/%s", m->container_port, m->udp ? "udp" : "tcp");
      JsonNode *existing = json_object_get_member(port_bindings, key);
      JsonObject *b = json_object_new();
      JsonArray *list;

      object_take_string(b, "HostPort", g_strdup_printf("%u", m->host_port));
      if (existing == NULL)
        json_object_set_array_member(port_bindings, key, json_array_new());
      list = json_object_get_array_member(port_bindings, key);
      json_array_add_object_element(list, b);
    }
  for (guint i = 0; i < c->volumes_from->len; i++)
    {
      EcsaVolumeFrom *v = c->volumes_from->pdata[i];
      EcsaContainer *target = ecsa_task_get_container(task, v->source_container);
      if (target == NULL || target->docker_name == NULL)
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "HostConfigError: volume target not available: %s",
                      v->source_container);
          return NULL;
        }
      array_take_string(volumes_from,
                        v->read_only ? g_strdup_printf("%s:ro", target->docker_name) : g_strdup(target->docker_name));
    }
  for (guint i = 0; i < c->mount_points->len; i++)
    {
      EcsaMountPoint *m = c->mount_points->pdata[i];
      EcsaVolume *v = ecsa_task_get_volume(task, m->source_volume);
      const char *source = v != NULL ? (v->source_path != NULL ? v->source_path : v->docker_volume) : NULL;

      if (source == NULL)
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                      "HostConfigError: unable to resolve volume mounts for container '%s': volume '%s' has no source",
                      c->name, m->source_volume);
          return NULL;
        }
      array_take_string(binds, g_strdup_printf("%s:%s%s", source, m->container_path, m->read_only ? ":ro" : ""));
    }
  if (!old_api)
    set_memory_cpu(hc, c);

  if (!merge_document(hc, c->docker_host_config, "dockerConfig.hostConfig", error))
    return NULL;

  if (ctx->cgroup_parent != NULL)
    json_object_set_string_member(hc, "CgroupParent", ctx->cgroup_parent);
  if (ctx->network_mode != NULL)
    {
      /* v1.16.2 overrides the network mode of an awsvpc task's containers */
      const char *key;
      if (ci_member(hc, "NetworkMode", &key) != NULL)
        {
          g_autofree char *k = g_strdup(key);
          json_object_remove_member(hc, k);
        }
      json_object_set_string_member(hc, "NetworkMode", ctx->network_mode);
    }

  if (c->logs_auth_strategy != NULL && strcmp(c->logs_auth_strategy, "ExecutionRole") == 0)
    {
      JsonObject *lc, *lcc;
      if (task->execution_credentials_id == NULL)
        {
          g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                              "HostConfigError: no execution credentials set for the task");
          return NULL;
        }
      lc = ensure_object_member_ci(hc, "LogConfig");
      lcc = ensure_object_member_ci(lc, "Config");
      object_take_string(lcc, AWSLOGS_CREDENTIALS_ENDPOINT,
                         g_strdup_printf("%s%s", CREDENTIALS_PATH, task->execution_credentials_id));
    }
  if (ctx->log_options != NULL)
    {
      JsonObject *lc = ensure_object_member_ci(hc, "LogConfig");
      JsonObject *opts = json_object_new();
      GHashTableIter it;
      gpointer k, v;
      const char *key;

      g_hash_table_iter_init(&it, ctx->log_options);
      while (g_hash_table_iter_next(&it, &k, &v))
        json_object_set_string_member(opts, k, v);
      if (ci_member(lc, "Config", &key) != NULL)
        {
          g_autofree char *kk = g_strdup(key);
          json_object_set_object_member(lc, kk, opts);
        }
      else
        json_object_set_object_member(lc, "Config", opts);
    }
  if (ctx->extra_binds != NULL)
    {
      JsonArray *b = ensure_array_member_ci(hc, "Binds");
      for (guint i = 0; ctx->extra_binds[i] != NULL; i++)
        json_array_add_string_element(b, ctx->extra_binds[i]);
    }
  return g_steal_pointer(&hc);
}

JsonNode *
ecsa_task_build_create_body(const EcsaTask *task, const EcsaContainer *container, const EcsaCreateContext *ctx,
                            GError **error)
{
  g_autoptr(JsonObject) config = NULL;
  g_autoptr(JsonObject) hc = NULL;
  JsonNode *root;
  gboolean old_api;
  const char *key;

  g_return_val_if_fail(task != NULL && container != NULL && ctx != NULL, NULL);

  /* Docker copied Memory and CpuShares into HostConfig in API 1.18 */
  old_api = ctx->api_version != NULL && ecsa_docker_api_version_compare(ctx->api_version, "1.18") < 0;
  config = build_config(task, container, ctx, old_api, error);
  if (config == NULL)
    return NULL;
  hc = build_host_config(task, container, ctx, old_api, error);
  if (hc == NULL)
    return NULL;
  /* in another container's namespace (awsvpc) the ports are the sandbox's: Docker refuses to
   * publish or expose any, or links ("conflicting options"), and the task's port mappings are
   * already reachable on the ENI's address, its containers on localhost */
  if (ctx->network_mode != NULL && g_str_has_prefix(ctx->network_mode, "container:"))
    {
      static const char *const hc_members[] = { "PortBindings", "PublishAllPorts", "Links" };
      for (guint i = 0; i < G_N_ELEMENTS(hc_members); i++)
        while (ci_member(hc, hc_members[i], &key) != NULL)
          {
            g_autofree char *k = g_strdup(key);
            json_object_remove_member(hc, k);
          }
      while (ci_member(config, "ExposedPorts", &key) != NULL)
        {
          g_autofree char *k = g_strdup(key);
          json_object_remove_member(config, k);
        }
    }
  /* a HostConfig given inside dockerConfig.config is replaced by the agent's, as in v1.16.2 */
  if (ci_member(config, "HostConfig", &key) != NULL)
    {
      g_autofree char *k = g_strdup(key);
      json_object_remove_member(config, k);
    }
  json_object_set_object_member(config, "HostConfig", g_steal_pointer(&hc));
  root = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(root, g_steal_pointer(&config));
  return root;
}

/* ------------------------------------------------------------------------------------------- */

gboolean
ecsa_task_check_policy(const EcsaTask *task, gboolean privileged_disabled, gboolean selinux_capable,
                       gboolean apparmor_capable, GError **error)
{
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      g_autoptr(JsonNode) doc = NULL;
      JsonObject *hc;
      JsonNode *n;

      if (c->docker_host_config == NULL)
        continue;
      doc = ecsa_json_parse_string(c->docker_host_config, NULL);
      if (doc == NULL || !JSON_NODE_HOLDS_OBJECT(doc))
        continue;
      hc = json_node_get_object(doc);
      n = ecsa_json_member(hc, "Privileged");
      if (privileged_disabled && n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN
          && json_node_get_boolean(n))
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                      "container '%s' is privileged, and privileged containers are disabled on this instance "
                      "(ECS_DISABLE_PRIVILEGED=true)",
                      c->name);
          return FALSE;
        }
      n = ecsa_json_member(hc, "SecurityOpt");
      if (n == NULL || !JSON_NODE_HOLDS_ARRAY(n))
        continue;
      for (guint j = 0; j < json_array_get_length(json_node_get_array(n)); j++)
        {
          JsonNode *e = json_array_get_element(json_node_get_array(n), j);
          const char *opt;

          if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
            continue;
          opt = json_node_get_string(e);
          if (!selinux_capable && (g_str_has_prefix(opt, "label:") || g_str_has_prefix(opt, "label=")))
            {
              g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                          "container '%s' asks for the SELinux option '%s', and this instance is not SELinux capable "
                          "(ECS_SELINUX_CAPABLE=false)",
                          c->name, opt);
              return FALSE;
            }
          if (!apparmor_capable && (g_str_has_prefix(opt, "apparmor:") || g_str_has_prefix(opt, "apparmor=")))
            {
              g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                          "container '%s' asks for the AppArmor option '%s', and this instance is not AppArmor capable "
                          "(ECS_APPARMOR_CAPABLE=false)",
                          c->name, opt);
              return FALSE;
            }
        }
    }
  return TRUE;
}

GPtrArray *
ecsa_network_bindings_from_inspect(JsonObject *inspect)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_network_binding_free);
  JsonNode *ns, *ports;
  g_autoptr(GList) keys = NULL;

  ns = json_object_get_member(inspect, "NetworkSettings");
  if (ns == NULL || !JSON_NODE_HOLDS_OBJECT(ns))
    return out;
  ports = json_object_get_member(json_node_get_object(ns), "Ports");
  if (ports == NULL || !JSON_NODE_HOLDS_OBJECT(ports))
    return out;
  keys = json_object_get_members(json_node_get_object(ports));
  keys = g_list_sort(keys, (GCompareFunc)strcmp);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      const char *key = l->data;
      JsonNode *list = json_object_get_member(json_node_get_object(ports), key);
      const char *slash = strchr(key, '/');
      char *end = NULL;
      guint64 cport = g_ascii_strtoull(key, &end, 10);
      const char *proto = slash != NULL ? slash + 1 : "tcp";

      if (list == NULL || !JSON_NODE_HOLDS_ARRAY(list) || end == key || cport > G_MAXUINT16
          || (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0))
        continue;
      for (guint i = 0; i < json_array_get_length(json_node_get_array(list)); i++)
        {
          JsonNode *e = json_array_get_element(json_node_get_array(list), i);
          JsonObject *b;
          const char *hp, *hip;
          guint64 hport;
          EcsaNetworkBinding *nb;

          if (!JSON_NODE_HOLDS_OBJECT(e))
            continue;
          b = json_node_get_object(e);
          hp = json_object_get_string_member_with_default(b, "HostPort", NULL);
          hip = json_object_get_string_member_with_default(b, "HostIp", "");
          if (hp == NULL)
            continue;
          hport = g_ascii_strtoull(hp, &end, 10);
          if (end == hp || hport > G_MAXUINT16)
            continue;
          nb = g_new0(EcsaNetworkBinding, 1);
          nb->bind_ip = g_strdup(hip);
          nb->container_port = (guint16)cport;
          nb->host_port = (guint16)hport;
          nb->protocol = g_strdup(proto);
          g_ptr_array_add(out, nb);
        }
    }
  return out;
}

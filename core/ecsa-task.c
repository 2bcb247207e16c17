/* ecsa-task.c: the task model: parsing from ACS, the checkpoint form, v1.16.2's state rules and
 * dependency graph. The Docker create document is built in ecsa-task-docker.c.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-task-private.h"

#include "ecsa-plugin.h"

#include <math.h>
#include <string.h>

#define MAX_NAME_LEN 255
#define MAX_CONTAINERS 100 /* ECS allows 10 per task definition; a bound, not a policy */

/* ------------------------------------------------------------------------------------------- */
/* statuses */

static const char *const container_status_names[] = {
  [ECSA_CONTAINER_NONE] = "NONE",
  [ECSA_CONTAINER_PULLED] = "PULLED",
  [ECSA_CONTAINER_CREATED] = "CREATED",
  [ECSA_CONTAINER_RUNNING] = "RUNNING",
  [ECSA_CONTAINER_RESOURCES_PROVISIONED] = "RESOURCES_PROVISIONED",
  [ECSA_CONTAINER_STOPPED] = "STOPPED",
  [ECSA_CONTAINER_ZOMBIE] = "ZOMBIE",
};

static const char *const task_status_names[] = {
  [ECSA_TASK_NONE] = "NONE",       [ECSA_TASK_PULLED] = "PULLED",   [ECSA_TASK_CREATED] = "CREATED",
  [ECSA_TASK_RUNNING] = "RUNNING", [ECSA_TASK_STOPPED] = "STOPPED", [ECSA_TASK_ZOMBIE] = "ZOMBIE",
};

const char *
ecsa_container_status_to_string(EcsaContainerStatus status)
{
  if ((guint)status < G_N_ELEMENTS(container_status_names))
    return container_status_names[status];
  return "NONE";
}

gboolean
ecsa_container_status_from_string(const char *s, EcsaContainerStatus *out_status)
{
  if (s == NULL)
    return FALSE;
  /* v1.0.0 state files: UNKNOWN and DEAD */
  if (strcmp(s, "UNKNOWN") == 0)
    {
      *out_status = ECSA_CONTAINER_NONE;
      return TRUE;
    }
  if (strcmp(s, "DEAD") == 0)
    {
      *out_status = ECSA_CONTAINER_STOPPED;
      return TRUE;
    }
  for (guint i = 0; i < ECSA_CONTAINER_ZOMBIE; i++)
    if (strcmp(s, container_status_names[i]) == 0)
      {
        *out_status = i;
        return TRUE;
      }
  return FALSE;
}

const char *
ecsa_task_status_to_string(EcsaTaskStatus status)
{
  if ((guint)status < G_N_ELEMENTS(task_status_names))
    return task_status_names[status];
  return "NONE";
}

gboolean
ecsa_task_status_from_string(const char *s, EcsaTaskStatus *out_status)
{
  if (s == NULL)
    return FALSE;
  if (strcmp(s, "UNKNOWN") == 0)
    {
      *out_status = ECSA_TASK_NONE;
      return TRUE;
    }
  if (strcmp(s, "DEAD") == 0)
    {
      *out_status = ECSA_TASK_STOPPED;
      return TRUE;
    }
  /* v1.16.2 knows NONE, CREATED, RUNNING and STOPPED (PULLED is internal) */
  if (strcmp(s, "NONE") == 0)
    *out_status = ECSA_TASK_NONE;
  else if (strcmp(s, "CREATED") == 0)
    *out_status = ECSA_TASK_CREATED;
  else if (strcmp(s, "RUNNING") == 0)
    *out_status = ECSA_TASK_RUNNING;
  else if (strcmp(s, "STOPPED") == 0)
    *out_status = ECSA_TASK_STOPPED;
  else if (strcmp(s, "PULLED") == 0)
    *out_status = ECSA_TASK_PULLED;
  else
    return FALSE;
  return TRUE;
}

const char *
ecsa_task_status_to_backend(EcsaTaskStatus status)
{
  if (status == ECSA_TASK_RUNNING)
    return "RUNNING";
  if (status == ECSA_TASK_STOPPED)
    return "STOPPED";
  return "PENDING";
}

/* ------------------------------------------------------------------------------------------- */
/* freeing */

static void
mount_point_free(EcsaMountPoint *m)
{
  g_free(m->source_volume);
  g_free(m->container_path);
  g_free(m);
}

static void
volume_from_free(EcsaVolumeFrom *v)
{
  g_free(v->source_container);
  g_free(v);
}

static void
volume_free(EcsaVolume *v)
{
  g_free(v->name);
  g_free(v->source_path);
  g_free(v->docker_volume);
  g_free(v);
}

static void
registry_auth_free(EcsaRegistryAuth *a)
{
  if (a == NULL)
    return;
  g_free(a->type);
  g_free(a->ecr_registry_id);
  g_free(a->ecr_region);
  g_free(a->ecr_endpoint_override);
  g_free(a);
}

static void
eni_free(EcsaEni *e)
{
  if (e == NULL)
    return;
  g_free(e->id);
  g_free(e->mac_address);
  g_clear_pointer(&e->ipv4_addresses, g_ptr_array_unref);
  g_clear_pointer(&e->ipv6_addresses, g_ptr_array_unref);
  g_clear_pointer(&e->domain_name_servers, g_ptr_array_unref);
  g_clear_pointer(&e->domain_name_search, g_ptr_array_unref);
  g_free(e);
}

static void
container_free(EcsaContainer *c)
{
  if (c == NULL)
    return;
  g_free(c->name);
  g_free(c->image);
  g_strfreev(c->command);
  g_strfreev(c->entry_point);
  g_clear_pointer(&c->environment, g_hash_table_unref);
  g_strfreev(c->links);
  g_clear_pointer(&c->volumes_from, g_ptr_array_unref);
  g_clear_pointer(&c->mount_points, g_ptr_array_unref);
  g_clear_pointer(&c->port_mappings, g_ptr_array_unref);
  g_free(c->docker_config);
  g_free(c->docker_host_config);
  g_free(c->docker_version);
  registry_auth_free(c->registry_auth);
  g_free(c->logs_auth_strategy);
  g_free(c->log_driver);
  g_clear_pointer(&c->log_options, g_hash_table_unref);
  g_free(c->network_mode);
  g_free(c->docker_id);
  g_free(c->docker_name);
  g_clear_pointer(&c->known_port_bindings, g_ptr_array_unref);
  g_free(c->reason);
  g_free(c->image_id);
  g_free(c);
}

static EcsaContainer *
container_new(void)
{
  EcsaContainer *c = g_new0(EcsaContainer, 1);

  c->environment = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  c->volumes_from = g_ptr_array_new_with_free_func((GDestroyNotify)volume_from_free);
  c->mount_points = g_ptr_array_new_with_free_func((GDestroyNotify)mount_point_free);
  c->port_mappings = g_ptr_array_new_with_free_func(g_free);
  c->log_options = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  c->known_port_bindings = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_network_binding_free);
  c->steady_state = ECSA_CONTAINER_RUNNING;
  return c;
}

void
ecsa_task_free(EcsaTask *task)
{
  if (task == NULL)
    return;
  g_free(task->arn);
  g_free(task->family);
  g_free(task->version);
  g_clear_pointer(&task->containers, g_ptr_array_unref);
  g_clear_pointer(&task->volumes, g_ptr_array_unref);
  g_free(task->credentials_id);
  g_free(task->execution_credentials_id);
  eni_free(task->eni);
  g_free(task->reason);
  g_free(task);
}

static EcsaTask *
task_new(void)
{
  EcsaTask *task = g_new0(EcsaTask, 1);

  task->containers = g_ptr_array_new_with_free_func((GDestroyNotify)container_free);
  task->volumes = g_ptr_array_new_with_free_func((GDestroyNotify)volume_free);
  return task;
}

/* ------------------------------------------------------------------------------------------- */
/* JSON helpers */

JsonNode *
ecsa_json_member(JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member(o, name);

  if (n == NULL)
    {
      g_autoptr(GList) members = json_object_get_members(o);
      for (GList *l = members; l != NULL; l = l->next)
        if (g_ascii_strcasecmp(l->data, name) == 0)
          {
            n = json_object_get_member(o, l->data);
            break;
          }
    }
  if (n != NULL && JSON_NODE_HOLDS_NULL(n))
    return NULL;
  return n;
}

JsonNode *
ecsa_json_parse_string(const char *text, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  JsonNode *root;

  if (!json_parser_load_from_data(parser, text, -1, error))
    return NULL;
  root = json_parser_get_root(parser);
  if (root == NULL)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "empty JSON document");
      return NULL;
    }
  return json_node_copy(root);
}

static const char *
node_type_name(JsonNode *n)
{
  switch (json_node_get_node_type(n))
    {
    case JSON_NODE_OBJECT:
      return "an object";
    case JSON_NODE_ARRAY:
      return "an array";
    case JSON_NODE_NULL:
      return "null";
    case JSON_NODE_VALUE:
      {
        GType t = json_node_get_value_type(n);
        if (t == G_TYPE_STRING)
          return "a string";
        if (t == G_TYPE_BOOLEAN)
          return "a boolean";
        return "a number";
      }
    }
  return "something else";
}

static gboolean
get_string(JsonObject *o, const char *name, gboolean required, char **out, GError **error)
{
  JsonNode *n = ecsa_json_member(o, name);

  if (n == NULL)
    {
      if (required)
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is missing", name);
          return FALSE;
        }
      *out = NULL;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' must be a string, not %s", name, node_type_name(n));
      return FALSE;
    }
  if (required && *json_node_get_string(n) == '\0')
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is empty", name);
      return FALSE;
    }
  *out = g_strdup(json_node_get_string(n));
  return TRUE;
}

static gboolean
get_bool(JsonObject *o, const char *name, gboolean *out, GError **error)
{
  JsonNode *n = ecsa_json_member(o, name);

  if (n == NULL)
    {
      *out = FALSE;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' must be a boolean, not %s", name,
                  node_type_name(n));
      return FALSE;
    }
  *out = json_node_get_boolean(n);
  return TRUE;
}

static gboolean
node_get_integer(JsonNode *n, gint64 *out)
{
  GType t;

  if (!JSON_NODE_HOLDS_VALUE(n))
    return FALSE;
  t = json_node_get_value_type(n);
  if (t == G_TYPE_INT64)
    {
      *out = json_node_get_int(n);
      return TRUE;
    }
  if (t == G_TYPE_DOUBLE)
    {
      double d = json_node_get_double(n);
      gint64 iv;
      if (!isfinite(d) || d > 9.0e15 || d < -9.0e15)
        return FALSE;
      iv = (gint64)d;
      if ((double)iv != d)
        return FALSE;
      *out = iv;
      return TRUE;
    }
  return FALSE;
}

static gboolean
get_integer(JsonObject *o, const char *name, gint64 min, gint64 max, gint64 *out, GError **error)
{
  JsonNode *n = ecsa_json_member(o, name);
  gint64 v = 0;

  if (n == NULL)
    {
      *out = 0;
      return TRUE;
    }
  if (!node_get_integer(n, &v))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' must be an integer, not %s", name,
                  node_type_name(n));
      return FALSE;
    }
  if (v < min || v > max)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                  "'%s' is %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, name, v, min, max);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

static gboolean
get_double(JsonObject *o, const char *name, double *out, GError **error)
{
  JsonNode *n = ecsa_json_member(o, name);
  GType t;

  if (n == NULL)
    {
      *out = 0;
      return TRUE;
    }
  t = JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID;
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' must be a number, not %s", name, node_type_name(n));
      return FALSE;
    }
  *out = json_node_get_double(n);
  if (!isfinite(*out) || *out < 0)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' must be a non-negative number", name);
      return FALSE;
    }
  return TRUE;
}

/* An array of strings; NULL when absent. A null element reads as "" (Go's rule). */
static gboolean
get_string_array(JsonObject *o, const char *name, char ***out, GError **error)
{
  JsonNode *n = ecsa_json_member(o, name);
  JsonArray *a;
  g_autoptr(GStrvBuilder) b = NULL;

  *out = NULL;
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY(n))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' must be an array of strings, not %s", name,
                  node_type_name(n));
      return FALSE;
    }
  a = json_node_get_array(n);
  b = g_strv_builder_new();
  for (guint i = 0; i < json_array_get_length(a); i++)
    {
      JsonNode *e = json_array_get_element(a, i);
      if (JSON_NODE_HOLDS_NULL(e))
        g_strv_builder_add(b, "");
      else if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
        g_strv_builder_add(b, json_node_get_string(e));
      else
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s'[%u] must be a string, not %s", name, i,
                      node_type_name(e));
          return FALSE;
        }
    }
  *out = g_strv_builder_end(b);
  return TRUE;
}

static gboolean
get_object(JsonObject *o, const char *name, JsonObject **out, GError **error)
{
  JsonNode *n = ecsa_json_member(o, name);

  *out = NULL;
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT(n))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' must be an object, not %s", name,
                  node_type_name(n));
      return FALSE;
    }
  *out = json_node_get_object(n);
  return TRUE;
}

static gboolean
get_array(JsonObject *o, const char *name, JsonArray **out, GError **error)
{
  JsonNode *n = ecsa_json_member(o, name);

  *out = NULL;
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY(n))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' must be an array, not %s", name, node_type_name(n));
      return FALSE;
    }
  *out = json_node_get_array(n);
  return TRUE;
}

static gboolean
array_object(JsonArray *a, const char *name, guint i, JsonObject **out, GError **error)
{
  JsonNode *e = json_array_get_element(a, i);

  if (!JSON_NODE_HOLDS_OBJECT(e))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s'[%u] must be an object, not %s", name, i,
                  node_type_name(e));
      return FALSE;
    }
  *out = json_array_get_object_element(a, i);
  return TRUE;
}

static int
compare_str_ptrs(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
ecsa_hash_table_sorted_keys(GHashTable *table)
{
  GPtrArray *keys = g_ptr_array_sized_new(g_hash_table_size(table));
  GHashTableIter it;
  gpointer k;

  g_hash_table_iter_init(&it, table);
  while (g_hash_table_iter_next(&it, &k, NULL))
    g_ptr_array_add(keys, k);
  g_ptr_array_sort(keys, compare_str_ptrs);
  return keys;
}

void
ecsa_json_merge_object(JsonObject *base, JsonObject *overlay, gboolean fold_case)
{
  g_autoptr(GList) members = json_object_get_members(overlay);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *value = json_object_get_member(overlay, name);
      const char *target = name;
      JsonNode *existing = json_object_get_member(base, name);

      if (existing == NULL && fold_case)
        {
          g_autoptr(GList) bm = json_object_get_members(base);
          for (GList *b = bm; b != NULL; b = b->next)
            if (g_ascii_strcasecmp(b->data, name) == 0)
              {
                target = b->data;
                existing = json_object_get_member(base, target);
                break;
              }
        }
      if (JSON_NODE_HOLDS_NULL(value))
        {
          if (existing != NULL)
            json_object_remove_member(base, target);
          continue;
        }
      if (existing != NULL && JSON_NODE_HOLDS_OBJECT(existing) && JSON_NODE_HOLDS_OBJECT(value))
        {
          /* nested objects are maps (Labels, PortBindings, ...): exact names */
          ecsa_json_merge_object(json_node_get_object(existing), json_node_get_object(value), FALSE);
          continue;
        }
      {
        g_autofree char *key = g_strdup(target);
        json_object_set_member(base, key, json_node_copy(value));
      }
    }
}

/* ------------------------------------------------------------------------------------------- */
/* validation helpers */

static gboolean
valid_ecs_name(const char *s)
{
  gsize len = s != NULL ? strlen(s) : 0;

  if (len == 0 || len > MAX_NAME_LEN)
    return FALSE;
  for (const char *p = s; *p != '\0'; p++)
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

static gboolean
valid_version(const char *s)
{
  gsize len = s != NULL ? strlen(s) : 0;

  if (len == 0 || len > MAX_NAME_LEN)
    return FALSE;
  for (const char *p = s; *p != '\0'; p++)
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

char *
ecsa_task_id_from_arn(const char *arn, GError **error)
{
  g_auto(GStrv) parts = NULL;
  const char *slash;
  const char *id;

  if (arn == NULL || !g_str_has_prefix(arn, "arn:"))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is not an ARN", arn != NULL ? arn : "");
      return NULL;
    }
  parts = g_strsplit(arn, ":", 6);
  if (g_strv_length(parts) < 6)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is not an ARN (too few sections)", arn);
      return NULL;
    }
  slash = strchr(parts[5], '/');
  if (slash == NULL || slash[1] == '\0')
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' has no task ID in its resource", arn);
      return NULL;
    }
  id = slash + 1;
  /* the ID names directories (cgroups, metadata): nothing that climbs out of them */
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '/')
      {
        g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                    "'%s': the task ID has a character '%c' that is not allowed", arn, *p);
        return NULL;
      }
  if (id[strlen(id) - 1] == '/' || strstr(id, "//") != NULL)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s': malformed task ID", arn);
      return NULL;
    }
  return g_strdup(id);
}

const char *
ecsa_task_get_id(const EcsaTask *task)
{
  const char *resource = task->arn;

  for (int i = 0; i < 5 && resource != NULL; i++)
    {
      resource = strchr(resource, ':');
      if (resource != NULL)
        resource++;
    }
  resource = resource != NULL ? strchr(resource, '/') : NULL;
  return resource != NULL ? resource + 1 : task->arn;
}

/* ------------------------------------------------------------------------------------------- */
/* parsing */

static gboolean
parse_docker_config(EcsaContainer *c, JsonObject *o, GError **error)
{
  JsonObject *dc = NULL;
  const char *names[] = { "config", "hostConfig" };
  char **fields[] = { &c->docker_config, &c->docker_host_config };

  if (!get_object(o, "dockerConfig", &dc, error))
    return FALSE;
  if (dc == NULL)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS(names); i++)
    {
      g_autofree char *text = NULL;
      g_autoptr(JsonNode) doc = NULL;
      g_autoptr(GError) local = NULL;

      if (!get_string(dc, names[i], FALSE, &text, error))
        {
          g_prefix_error(error, "'dockerConfig': ");
          return FALSE;
        }
      if (text == NULL || *g_strstrip(text) == '\0')
        continue;
      doc = ecsa_json_parse_string(text, &local);
      if (doc == NULL || !JSON_NODE_HOLDS_OBJECT(doc))
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'dockerConfig.%s' is not a JSON object%s%s",
                      names[i], local != NULL ? ": " : "", local != NULL ? local->message : "");
          return FALSE;
        }
      *fields[i] = g_steal_pointer(&text);
    }
  if (!get_string(dc, "version", FALSE, &c->docker_version, error))
    {
      g_prefix_error(error, "'dockerConfig': ");
      return FALSE;
    }
  if (c->docker_version != NULL && *c->docker_version == '\0')
    g_clear_pointer(&c->docker_version, g_free);
  if (c->docker_version != NULL)
    {
      const char *p = c->docker_version;
      gboolean ok = g_ascii_isdigit(*p);
      while (g_ascii_isdigit(*p))
        p++;
      ok = ok && *p == '.' && g_ascii_isdigit(p[1]);
      if (ok)
        for (p++; *p != '\0'; p++)
          ok = ok && g_ascii_isdigit(*p);
      if (!ok)
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                      "'dockerConfig.version' is '%s', expected an Engine API version like '1.24'", c->docker_version);
          return FALSE;
        }
    }
  return TRUE;
}

/* Log driver and network mode from the hostConfig document, for views and plugins. */
static void
derive_from_host_config(EcsaContainer *c)
{
  g_autoptr(JsonNode) doc = NULL;
  JsonObject *hc, *lc;
  JsonNode *n;

  if (c->docker_host_config == NULL)
    return;
  doc = ecsa_json_parse_string(c->docker_host_config, NULL);
  if (doc == NULL || !JSON_NODE_HOLDS_OBJECT(doc))
    return;
  hc = json_node_get_object(doc);
  n = ecsa_json_member(hc, "NetworkMode");
  if (n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
      && *json_node_get_string(n) != '\0')
    c->network_mode = g_strdup(json_node_get_string(n));
  n = ecsa_json_member(hc, "LogConfig");
  if (n == NULL || !JSON_NODE_HOLDS_OBJECT(n))
    return;
  lc = json_node_get_object(n);
  n = ecsa_json_member(lc, "Type");
  if (n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
      && *json_node_get_string(n) != '\0')
    c->log_driver = g_strdup(json_node_get_string(n));
  n = ecsa_json_member(lc, "Config");
  if (n != NULL && JSON_NODE_HOLDS_OBJECT(n))
    {
      g_autoptr(GList) members = json_object_get_members(json_node_get_object(n));
      for (GList *l = members; l != NULL; l = l->next)
        {
          JsonNode *v = json_object_get_member(json_node_get_object(n), l->data);
          if (JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING)
            g_hash_table_insert(c->log_options, g_strdup(l->data), g_strdup(json_node_get_string(v)));
        }
    }
}

/* Container overrides: an object, or a JSON object inside a string. Only "command" has an effect
 * (as in v1.16.2); other members are ignored. */
static gboolean
apply_overrides(EcsaContainer *c, JsonObject *o, GError **error)
{
  JsonNode *n = ecsa_json_member(o, "overrides");
  g_autoptr(JsonNode) parsed = NULL;
  JsonObject *ov;
  char **command = NULL;

  if (n == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
    {
      const char *text = json_node_get_string(n);
      g_autoptr(GError) local = NULL;

      if (*text == '\0')
        return TRUE;
      parsed = ecsa_json_parse_string(text, &local);
      if (parsed == NULL)
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'overrides' is not JSON: %s", local->message);
          return FALSE;
        }
      if (JSON_NODE_HOLDS_NULL(parsed))
        return TRUE;
      n = parsed;
    }
  if (!JSON_NODE_HOLDS_OBJECT(n))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'overrides' must be an object, not %s",
                  node_type_name(n));
      return FALSE;
    }
  ov = json_node_get_object(n);
  if (!get_string_array(ov, "command", &command, error))
    {
      g_prefix_error(error, "'overrides': ");
      return FALSE;
    }
  if (command != NULL)
    {
      g_strfreev(c->command);
      c->command = command;
    }
  return TRUE;
}

static gboolean
parse_registry_auth(EcsaContainer *c, JsonObject *o, GError **error)
{
  JsonObject *ra = NULL, *ecr = NULL;
  g_autoptr(GError) local = NULL;
  EcsaRegistryAuth *a;

  if (!get_object(o, "registryAuthentication", &ra, error))
    return FALSE;
  if (ra == NULL)
    return TRUE;
  a = c->registry_auth = g_new0(EcsaRegistryAuth, 1);
  if (!get_string(ra, "type", FALSE, &a->type, &local) || !get_object(ra, "ecrAuthData", &ecr, &local))
    {
      g_propagate_prefixed_error(error, g_steal_pointer(&local), "'registryAuthentication': ");
      return FALSE;
    }
  if (ecr != NULL
      && (!get_string(ecr, "registryId", FALSE, &a->ecr_registry_id, &local)
          || !get_string(ecr, "region", FALSE, &a->ecr_region, &local)
          || !get_string(ecr, "endpointOverride", FALSE, &a->ecr_endpoint_override, &local)
          || !get_bool(ecr, "useExecutionRole", &a->ecr_use_execution_role, &local)))
    {
      g_propagate_prefixed_error(error, g_steal_pointer(&local), "'registryAuthentication.ecrAuthData': ");
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_port_mappings(EcsaContainer *c, JsonObject *o, GError **error)
{
  JsonArray *a = NULL;

  if (!get_array(o, "portMappings", &a, error))
    return FALSE;
  for (guint i = 0; a != NULL && i < json_array_get_length(a); i++)
    {
      JsonObject *pm;
      gint64 cport = 0, hport = 0;
      g_autofree char *proto = NULL;
      g_autoptr(GError) local = NULL;
      EcsaPortMapping *m;

      if (!array_object(a, "portMappings", i, &pm, error))
        return FALSE;
      if (!get_integer(pm, "containerPort", 0, G_MAXUINT16, &cport, &local)
          || !get_integer(pm, "hostPort", 0, G_MAXUINT16, &hport, &local)
          || !get_string(pm, "protocol", FALSE, &proto, &local))
        {
          g_propagate_prefixed_error(error, g_steal_pointer(&local), "'portMappings'[%u]: ", i);
          return FALSE;
        }
      if (proto != NULL && strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                      "'portMappings'[%u]: 'protocol' is '%s', expected \"tcp\" or \"udp\"", i, proto);
          return FALSE;
        }
      m = g_new0(EcsaPortMapping, 1);
      m->container_port = (guint16)cport;
      m->host_port = (guint16)hport;
      m->udp = proto != NULL && strcmp(proto, "udp") == 0;
      g_ptr_array_add(c->port_mappings, m);
    }
  return TRUE;
}

static gboolean
parse_mounts(EcsaContainer *c, JsonObject *o, GError **error)
{
  JsonArray *a = NULL;

  if (!get_array(o, "mountPoints", &a, error))
    return FALSE;
  for (guint i = 0; a != NULL && i < json_array_get_length(a); i++)
    {
      JsonObject *mo;
      g_autoptr(GError) local = NULL;
      EcsaMountPoint *m = g_new0(EcsaMountPoint, 1);

      g_ptr_array_add(c->mount_points, m);
      if (!array_object(a, "mountPoints", i, &mo, error))
        return FALSE;
      if (!get_string(mo, "sourceVolume", TRUE, &m->source_volume, &local)
          || !get_string(mo, "containerPath", TRUE, &m->container_path, &local)
          || !get_bool(mo, "readOnly", &m->read_only, &local))
        {
          g_propagate_prefixed_error(error, g_steal_pointer(&local), "'mountPoints'[%u]: ", i);
          return FALSE;
        }
    }
  if (!get_array(o, "volumesFrom", &a, error))
    return FALSE;
  for (guint i = 0; a != NULL && i < json_array_get_length(a); i++)
    {
      JsonObject *vo;
      g_autoptr(GError) local = NULL;
      EcsaVolumeFrom *v = g_new0(EcsaVolumeFrom, 1);

      g_ptr_array_add(c->volumes_from, v);
      if (!array_object(a, "volumesFrom", i, &vo, error))
        return FALSE;
      if (!get_string(vo, "sourceContainer", TRUE, &v->source_container, &local)
          || !get_bool(vo, "readOnly", &v->read_only, &local))
        {
          g_propagate_prefixed_error(error, g_steal_pointer(&local), "'volumesFrom'[%u]: ", i);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
parse_environment(EcsaContainer *c, JsonObject *o, GError **error)
{
  JsonObject *env = NULL;
  g_autoptr(GList) members = NULL;

  if (!get_object(o, "environment", &env, error))
    return FALSE;
  if (env == NULL)
    return TRUE;
  members = json_object_get_members(env);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *v = json_object_get_member(env, l->data);
      const char *value = "";

      if (JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING)
        value = json_node_get_string(v);
      else if (!JSON_NODE_HOLDS_NULL(v))
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'environment'.'%s' must be a string, not %s",
                      (const char *)l->data, node_type_name(v));
          return FALSE;
        }
      if (*(const char *)l->data == '\0' || strchr(l->data, '=') != NULL)
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'environment': invalid variable name '%s'",
                      (const char *)l->data);
          return FALSE;
        }
      g_hash_table_insert(c->environment, g_strdup(l->data), g_strdup(value));
    }
  return TRUE;
}

static EcsaContainer *
parse_container(JsonObject *o, GError **error)
{
  g_autoptr(GError) local = NULL;
  EcsaContainer *c = container_new();
  gint64 v = 0;
  gboolean ok;

  ok = get_string(o, "name", TRUE, &c->name, &local);
  if (ok && !valid_ecs_name(c->name))
    {
      g_set_error(&local, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                  "'name' is '%s': expected 1 to 255 letters, digits, '-' or '_'", c->name);
      ok = FALSE;
    }
  ok = ok && get_string(o, "image", TRUE, &c->image, &local);
  ok = ok && get_string_array(o, "command", &c->command, &local);
  ok = ok && get_string_array(o, "entryPoint", &c->entry_point, &local);
  ok = ok && parse_environment(c, o, &local);
  ok = ok && get_integer(o, "cpu", 0, G_MAXUINT32, &v, &local);
  c->cpu = (guint)v;
  ok = ok && get_integer(o, "memory", 0, G_MAXUINT32, &v, &local);
  c->memory = (guint)v;
  ok = ok && get_string_array(o, "links", &c->links, &local);
  ok = ok && parse_mounts(c, o, &local);
  ok = ok && parse_port_mappings(c, o, &local);
  ok = ok && get_bool(o, "essential", &c->essential, &local);
  ok = ok && parse_docker_config(c, o, &local);
  ok = ok && parse_registry_auth(c, o, &local);
  ok = ok && get_string(o, "logsAuthStrategy", FALSE, &c->logs_auth_strategy, &local);
  ok = ok && apply_overrides(c, o, &local);
  if (!ok)
    {
      if (c->name != NULL)
        g_prefix_error(&local, "container '%s': ", c->name);
      g_propagate_error(error, g_steal_pointer(&local));
      container_free(c);
      return NULL;
    }
  derive_from_host_config(c);
  return c;
}

static gboolean
parse_volumes(EcsaTask *task, JsonObject *o, GError **error)
{
  JsonArray *a = NULL;

  if (!get_array(o, "volumes", &a, error))
    return FALSE;
  for (guint i = 0; a != NULL && i < json_array_get_length(a); i++)
    {
      JsonObject *vo, *host = NULL;
      g_autoptr(GError) local = NULL;
      EcsaVolume *v = g_new0(EcsaVolume, 1);

      g_ptr_array_add(task->volumes, v);
      if (!array_object(a, "volumes", i, &vo, error))
        return FALSE;
      if (!get_string(vo, "name", TRUE, &v->name, &local) || !get_object(vo, "host", &host, &local)
          || (host != NULL && !get_string(host, "sourcePath", FALSE, &v->source_path, &local)))
        {
          g_propagate_prefixed_error(error, g_steal_pointer(&local), "'volumes'[%u]: ", i);
          return FALSE;
        }
      if (!valid_ecs_name(v->name))
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                      "'volumes'[%u]: 'name' is '%s': expected letters, digits, '-' or '_'", i, v->name);
          return FALSE;
        }
      if (v->source_path != NULL && *v->source_path == '\0')
        g_clear_pointer(&v->source_path, g_free);
      if (v->source_path != NULL && v->source_path[0] != '/')
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                      "'volumes'[%u] ('%s'): 'host.sourcePath' must be an absolute path, not '%s'", i, v->name,
                      v->source_path);
          return FALSE;
        }
      for (guint j = 0; j + 1 < task->volumes->len; j++)
        if (strcmp(((EcsaVolume *)task->volumes->pdata[j])->name, v->name) == 0)
          {
            g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'volumes': the name '%s' is used twice", v->name);
            return FALSE;
          }
    }
  return TRUE;
}

static gboolean
parse_string_list_member(JsonObject *o, const char *name, GPtrArray **out, GError **error)
{
  g_auto(GStrv) v = NULL;

  if (!get_string_array(o, name, &v, error))
    return FALSE;
  *out = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; v != NULL && v[i] != NULL; i++)
    g_ptr_array_add(*out, g_strdup(v[i]));
  return TRUE;
}

static gboolean
parse_eni(EcsaTask *task, JsonObject *o, GError **error)
{
  JsonArray *a = NULL, *v4 = NULL, *v6 = NULL;
  JsonObject *eo;
  g_autoptr(GError) local = NULL;
  EcsaEni *e;

  if (!get_array(o, "elasticNetworkInterfaces", &a, error))
    return FALSE;
  if (a == NULL || json_array_get_length(a) == 0)
    return TRUE;
  /* v1.16.2's ValidateTaskENI */
  if (json_array_get_length(a) != 1)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'elasticNetworkInterfaces': %u ENIs, expected one",
                  json_array_get_length(a));
      return FALSE;
    }
  if (!array_object(a, "elasticNetworkInterfaces", 0, &eo, error))
    return FALSE;
  e = task->eni = g_new0(EcsaEni, 1);
  e->ipv4_addresses = g_ptr_array_new_with_free_func(g_free);
  e->ipv6_addresses = g_ptr_array_new_with_free_func(g_free);
  if (!get_string(eo, "ec2Id", TRUE, &e->id, &local) || !get_string(eo, "macAddress", TRUE, &e->mac_address, &local)
      || !get_array(eo, "ipv4Addresses", &v4, &local) || !get_array(eo, "ipv6Addresses", &v6, &local)
      || !parse_string_list_member(eo, "domainNameServers", &e->domain_name_servers, &local)
      || !parse_string_list_member(eo, "domainName", &e->domain_name_search, &local))
    {
      g_propagate_prefixed_error(error, g_steal_pointer(&local), "'elasticNetworkInterfaces'[0]: ");
      return FALSE;
    }
  if (v4 == NULL || json_array_get_length(v4) != 1 || (v6 != NULL && json_array_get_length(v6) > 1))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                  "'elasticNetworkInterfaces'[0]: expected one IPv4 address and at most one IPv6 address");
      return FALSE;
    }
  for (guint i = 0; i < json_array_get_length(v4); i++)
    {
      JsonObject *ao;
      char *addr = NULL;
      if (!array_object(v4, "ipv4Addresses", i, &ao, error) || !get_string(ao, "privateAddress", TRUE, &addr, error))
        {
          g_prefix_error(error, "'elasticNetworkInterfaces'[0]: ");
          return FALSE;
        }
      g_ptr_array_add(e->ipv4_addresses, addr);
    }
  for (guint i = 0; v6 != NULL && i < json_array_get_length(v6); i++)
    {
      JsonObject *ao;
      char *addr = NULL;
      if (!array_object(v6, "ipv6Addresses", i, &ao, error) || !get_string(ao, "address", TRUE, &addr, error))
        {
          g_prefix_error(error, "'elasticNetworkInterfaces'[0]: ");
          return FALSE;
        }
      g_ptr_array_add(e->ipv6_addresses, addr);
    }
  return TRUE;
}

static gboolean
parse_credentials_id(JsonObject *o, const char *name, char **out, GError **error)
{
  JsonObject *creds = NULL;

  if (!get_object(o, name, &creds, error))
    return FALSE;
  if (creds == NULL)
    return TRUE;
  if (!get_string(creds, "credentialsId", FALSE, out, error))
    {
      g_prefix_error(error, "'%s': ", name);
      return FALSE;
    }
  if (*out != NULL && **out == '\0')
    g_clear_pointer(out, g_free);
  return TRUE;
}

/* References between containers and volumes, and the dependency graph. */
static gboolean
validate_references(EcsaTask *task, GError **error)
{
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];

      for (guint j = 0; j < i; j++)
        if (strcmp(((EcsaContainer *)task->containers->pdata[j])->name, c->name) == 0)
          {
            g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "the container name '%s' is used twice", c->name);
            return FALSE;
          }
    }
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];

      for (guint j = 0; c->links != NULL && c->links[j] != NULL; j++)
        {
          g_auto(GStrv) parts = g_strsplit(c->links[j], ":", -1);
          guint n = g_strv_length(parts);
          if (n == 0 || n > 2 || *parts[0] == '\0' || (n == 2 && *parts[1] == '\0'))
            {
              g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                          "container '%s': link '%s' is not 'name' or 'name:alias'", c->name, c->links[j]);
              return FALSE;
            }
          if (ecsa_task_get_container(task, parts[0]) == NULL || strcmp(parts[0], c->name) == 0)
            {
              g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                          "container '%s': link target '%s' is not another container of the task", c->name, parts[0]);
              return FALSE;
            }
        }
      for (guint j = 0; j < c->volumes_from->len; j++)
        {
          EcsaVolumeFrom *v = c->volumes_from->pdata[j];
          if (ecsa_task_get_container(task, v->source_container) == NULL || strcmp(v->source_container, c->name) == 0)
            {
              g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                          "container '%s': volumesFrom '%s' is not another container of the task", c->name,
                          v->source_container);
              return FALSE;
            }
        }
      for (guint j = 0; j < c->mount_points->len; j++)
        {
          EcsaMountPoint *m = c->mount_points->pdata[j];
          if (ecsa_task_get_volume(task, m->source_volume) == NULL)
            {
              g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                          "container '%s': mount point references volume '%s', which the task does not define", c->name,
                          m->source_volume);
              return FALSE;
            }
          if (m->container_path[0] != '/')
            {
              g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                          "container '%s': mount point path '%s' is not absolute", c->name, m->container_path);
              return FALSE;
            }
        }
    }
  return ecsa_task_dependencies_valid(task, error);
}

static EcsaTask *
parse_task(JsonObject *o, gint64 seq_num, gboolean for_checkpoint, GError **error)
{
  g_autoptr(EcsaTask) task = task_new();
  g_autofree char *desired = NULL;
  g_autofree char *id = NULL;
  JsonArray *containers = NULL;
  gint64 memory = 0;

  if (!get_string(o, "arn", TRUE, &task->arn, error))
    return NULL;
  id = ecsa_task_id_from_arn(task->arn, error);
  if (id == NULL)
    {
      g_prefix_error(error, "'arn': ");
      return NULL;
    }
  if (!get_string(o, "family", TRUE, &task->family, error) || !get_string(o, "version", TRUE, &task->version, error))
    return NULL;
  if (!valid_ecs_name(task->family))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                  "'family' is '%s': expected 1 to 255 letters, digits, '-' or '_'", task->family);
      return NULL;
    }
  if (!valid_version(task->version))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'version' is '%s': expected a revision number",
                  task->version);
      return NULL;
    }
  if (!get_string(o, "desiredStatus", !for_checkpoint, &desired, error))
    return NULL;
  if (desired != NULL && !ecsa_task_status_from_string(desired, &task->desired_status))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'desiredStatus' is '%s', expected RUNNING or STOPPED",
                  desired);
      return NULL;
    }
  if (!get_double(o, "cpu", &task->cpu, error) || !get_integer(o, "memory", 0, G_MAXINT32, &memory, error))
    return NULL;
  task->memory = memory;
  if (!parse_volumes(task, o, error) || !parse_credentials_id(o, "roleCredentials", &task->credentials_id, error)
      || !parse_credentials_id(o, "executionRoleCredentials", &task->execution_credentials_id, error)
      || !parse_eni(task, o, error))
    return NULL;
  if (!get_array(o, "containers", &containers, error))
    return NULL;
  if (containers == NULL || json_array_get_length(containers) == 0)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'containers' is missing or empty");
      return NULL;
    }
  if (json_array_get_length(containers) > MAX_CONTAINERS)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'containers' has %u entries, at most %u are allowed",
                  json_array_get_length(containers), MAX_CONTAINERS);
      return NULL;
    }
  for (guint i = 0; i < json_array_get_length(containers); i++)
    {
      JsonObject *co;
      EcsaContainer *c;

      if (!array_object(containers, "containers", i, &co, error))
        return NULL;
      c = parse_container(co, error);
      if (c == NULL)
        return NULL;
      c->task = task;
      g_ptr_array_add(task->containers, c);
    }
  if (!validate_references(task, error))
    return NULL;

  if (seq_num != 0 && task->desired_status == ECSA_TASK_RUNNING)
    task->start_sequence_number = seq_num;
  else if (seq_num != 0 && task->desired_status == ECSA_TASK_STOPPED)
    task->stop_sequence_number = seq_num;
  return g_steal_pointer(&task);
}

EcsaTask *
ecsa_task_from_acs(JsonNode *node, gint64 seq_num, char **out_arn, GError **error)
{
  JsonObject *o;
  EcsaTask *task;

  g_return_val_if_fail(node != NULL, NULL);

  if (!JSON_NODE_HOLDS_OBJECT(node))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "a task must be an object, not %s", node_type_name(node));
      return NULL;
    }
  o = json_node_get_object(node);
  task = parse_task(o, seq_num, FALSE, error);
  if (task == NULL && out_arn != NULL)
    {
      JsonNode *n = ecsa_json_member(o, "arn");
      if (n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
          && *json_node_get_string(n) != '\0')
        *out_arn = g_strdup(json_node_get_string(n));
    }
  if (task != NULL)
    ecsa_task_update_desired_status(task);
  return task;
}

/* ------------------------------------------------------------------------------------------- */
/* lookups */

EcsaContainer *
ecsa_task_get_container(const EcsaTask *task, const char *name)
{
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      if (strcmp(c->name, name) == 0)
        return c;
    }
  return NULL;
}

EcsaContainer *
ecsa_task_add_sandbox(EcsaTask *task, const char *name, const char *image)
{
  EcsaContainer *c = container_new();

  c->name = g_strdup(name);
  c->image = g_strdup(image);
  c->internal = TRUE;
  c->essential = TRUE;
  c->steady_state = ECSA_CONTAINER_RESOURCES_PROVISIONED;
  c->task = task;
  g_ptr_array_add(task->containers, c);
  ecsa_task_update_desired_status(task);
  return c;
}

EcsaContainer *
ecsa_task_get_sandbox(const EcsaTask *task)
{
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      if (c->internal)
        return c;
    }
  return NULL;
}

EcsaVolume *
ecsa_task_get_volume(const EcsaTask *task, const char *name)
{
  for (guint i = 0; i < task->volumes->len; i++)
    {
      EcsaVolume *v = task->volumes->pdata[i];
      if (strcmp(v->name, name) == 0)
        return v;
    }
  return NULL;
}

const char *
ecsa_task_get_network_mode(const EcsaTask *task)
{
  if (task->eni != NULL)
    return "awsvpc";
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      if (c->network_mode != NULL)
        return c->network_mode;
    }
  return "bridge";
}

/* ------------------------------------------------------------------------------------------- */
/* v1.16.2's state rules */

EcsaTaskStatus
ecsa_container_task_status(const EcsaContainer *c)
{
  EcsaContainerStatus s = c->known_status;

  if (s == ECSA_CONTAINER_NONE)
    return ECSA_TASK_NONE;
  if (s == c->steady_state)
    return ECSA_TASK_RUNNING;
  if (s == ECSA_CONTAINER_CREATED)
    return ECSA_TASK_CREATED;
  if (s == ECSA_CONTAINER_STOPPED)
    return ECSA_TASK_STOPPED;
  if (s == ECSA_CONTAINER_RUNNING && c->steady_state == ECSA_CONTAINER_RESOURCES_PROVISIONED)
    return ECSA_TASK_CREATED;
  return ECSA_TASK_NONE;
}

gboolean
ecsa_container_status_reportable(const EcsaContainer *c, EcsaContainerStatus status)
{
  if (c->internal)
    return FALSE; /* ECS does not know the agent's own containers */
  return status == c->steady_state || status == ECSA_CONTAINER_STOPPED;
}

gboolean
ecsa_task_update_known_status(EcsaTask *task)
{
  EcsaContainerStatus earliest = ECSA_CONTAINER_ZOMBIE;
  EcsaContainer *earliest_c = NULL;
  gboolean essential_stopped = FALSE;
  EcsaTaskStatus earliest_task = ECSA_TASK_ZOMBIE;

  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      if (c->known_status == ECSA_CONTAINER_STOPPED && c->essential)
        essential_stopped = TRUE;
      if (c->known_status < earliest)
        {
          earliest = c->known_status;
          earliest_c = c;
        }
    }
  if (earliest_c == NULL)
    return FALSE;
  /* an essential container stopped while others run: the task stays until they stop too */
  if (earliest_c->known_status == earliest_c->steady_state && essential_stopped)
    return FALSE;
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaTaskStatus s = ecsa_container_task_status(task->containers->pdata[i]);
      if (s < earliest_task)
        earliest_task = s;
    }
  if (task->known_status < earliest_task)
    {
      task->known_status = earliest_task;
      task->known_status_time = g_get_real_time();
      return TRUE;
    }
  return FALSE;
}

static EcsaContainerStatus
task_to_container_status(EcsaTaskStatus ts, EcsaContainerStatus steady)
{
  switch (ts)
    {
    case ECSA_TASK_CREATED:
      return ECSA_CONTAINER_CREATED;
    case ECSA_TASK_RUNNING:
      return steady;
    case ECSA_TASK_STOPPED:
      return ECSA_CONTAINER_STOPPED;
    default:
      return ECSA_CONTAINER_NONE;
    }
}

gboolean
ecsa_task_update_desired_status(EcsaTask *task)
{
  gboolean changed = FALSE;

  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      if (c->essential && (c->known_status == ECSA_CONTAINER_STOPPED || c->desired_status == ECSA_CONTAINER_STOPPED)
          && task->desired_status != ECSA_TASK_STOPPED)
        {
          task->desired_status = ECSA_TASK_STOPPED;
          changed = TRUE;
        }
    }
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      EcsaContainerStatus want = task_to_container_status(task->desired_status, c->steady_state);
      if (c->desired_status < want)
        {
          c->desired_status = want;
          changed = TRUE;
        }
    }
  return changed;
}

/* ------------------------------------------------------------------------------------------- */
/* dependency graph */

static char *
link_target(const char *link)
{
  const char *colon = strchr(link, ':');
  return colon != NULL ? g_strndup(link, colon - link) : g_strdup(link);
}

static gboolean
depends_on(const EcsaContainer *c, const char *name)
{
  for (guint j = 0; c->links != NULL && c->links[j] != NULL; j++)
    {
      g_autofree char *t = link_target(c->links[j]);
      if (strcmp(t, name) == 0)
        return TRUE;
    }
  for (guint j = 0; j < c->volumes_from->len; j++)
    if (strcmp(((EcsaVolumeFrom *)c->volumes_from->pdata[j])->source_container, name) == 0)
      return TRUE;
  return FALSE;
}

gboolean
ecsa_task_dependencies_valid(const EcsaTask *task, GError **error)
{
  guint n = task->containers->len;
  g_autofree gboolean *resolved = g_new0(gboolean, n);
  guint n_resolved = 0;
  gboolean progress = TRUE;

  while (n_resolved < n && progress)
    {
      progress = FALSE;
      for (guint i = 0; i < n; i++)
        {
          EcsaContainer *c = task->containers->pdata[i];
          gboolean ok = TRUE;

          if (resolved[i])
            continue;
          for (guint j = 0; j < n && ok; j++)
            if (!resolved[j] && j != i && depends_on(c, ((EcsaContainer *)task->containers->pdata[j])->name))
              ok = FALSE;
          if (ok)
            {
              resolved[i] = TRUE;
              n_resolved++;
              progress = TRUE;
            }
        }
    }
  if (n_resolved < n)
    {
      g_autoptr(GString) names = g_string_new(NULL);
      for (guint i = 0; i < n; i++)
        if (!resolved[i])
          g_string_append_printf(names, "%s'%s'", names->len > 0 ? ", " : "",
                                 ((EcsaContainer *)task->containers->pdata[i])->name);
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                  "TaskDependencyError: the links and volumesFrom of containers %s form a cycle", names->str);
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_container_dependencies_resolved(const EcsaTask *task, const EcsaContainer *target, const char **out_reason)
{
  EcsaContainerStatus goal = target->desired_status;
  EcsaContainer *sandbox = target->internal ? NULL : ecsa_task_get_sandbox(task);

  /* v1.16.2's transition dependency on the pause container: no pull before it is provisioned */
  if (sandbox != NULL && goal < ECSA_CONTAINER_STOPPED && goal >= ECSA_CONTAINER_PULLED
      && target->known_status < ECSA_CONTAINER_PULLED && sandbox->known_status < ECSA_CONTAINER_RESOURCES_PROVISIONED)
    {
      *out_reason = "waiting for the task's network (awsvpc sandbox)";
      return FALSE;
    }
  /* v1.16.2: the pause container stops after every other container of its task */
  if (target->internal && goal == ECSA_CONTAINER_STOPPED)
    {
      for (guint i = 0; i < task->containers->len; i++)
        {
          const EcsaContainer *other = task->containers->pdata[i];
          if (!other->internal && other->known_status < ECSA_CONTAINER_STOPPED)
            {
              *out_reason = "the task's other containers stop first";
              return FALSE;
            }
        }
      return TRUE;
    }
  /* only a container heading for CREATED or its steady state waits for others */
  if (goal != target->steady_state && goal != ECSA_CONTAINER_CREATED)
    return TRUE;
  for (guint j = 0; j < target->volumes_from->len; j++)
    {
      EcsaContainer *dep
        = ecsa_task_get_container(task, ((EcsaVolumeFrom *)target->volumes_from->pdata[j])->source_container);
      EcsaContainerStatus k;

      if (dep == NULL)
        {
          *out_reason = "volumesFrom target missing";
          return FALSE;
        }
      k = dep->known_status;
      if (k != ECSA_CONTAINER_CREATED && k != dep->steady_state && k != ECSA_CONTAINER_STOPPED)
        {
          *out_reason = "waiting for the volumesFrom container to be created";
          return FALSE;
        }
    }
  for (guint j = 0; target->links != NULL && target->links[j] != NULL; j++)
    {
      g_autofree char *name = link_target(target->links[j]);
      EcsaContainer *dep = ecsa_task_get_container(task, name);

      if (dep == NULL)
        {
          *out_reason = "link target missing";
          return FALSE;
        }
      if (goal == ECSA_CONTAINER_CREATED)
        {
          if (dep->known_status != ECSA_CONTAINER_CREATED && dep->known_status != dep->steady_state)
            {
              *out_reason = "waiting for a linked container to be created";
              return FALSE;
            }
        }
      else if (dep->known_status != dep->steady_state)
        {
          *out_reason = "waiting for a linked container to run";
          return FALSE;
        }
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------------- */
/* checkpoint */

static void
add_string(JsonBuilder *b, const char *name, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name(b, name);
  json_builder_add_string_value(b, value);
}

static void
add_strv(JsonBuilder *b, const char *name, char **v)
{
  if (v == NULL)
    return;
  json_builder_set_member_name(b, name);
  json_builder_begin_array(b);
  for (guint i = 0; v[i] != NULL; i++)
    json_builder_add_string_value(b, v[i]);
  json_builder_end_array(b);
}

static void
add_int(JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, v);
}

static void
add_bool(JsonBuilder *b, const char *name, gboolean v)
{
  json_builder_set_member_name(b, name);
  json_builder_add_boolean_value(b, v);
}

static void
add_string_ptr_array(JsonBuilder *b, const char *name, GPtrArray *a)
{
  json_builder_set_member_name(b, name);
  json_builder_begin_array(b);
  for (guint i = 0; a != NULL && i < a->len; i++)
    json_builder_add_string_value(b, a->pdata[i]);
  json_builder_end_array(b);
}

static void
build_container_definition(JsonBuilder *b, const EcsaContainer *c)
{
  json_builder_begin_object(b);
  add_string(b, "name", c->name);
  add_string(b, "image", c->image);
  add_strv(b, "command", c->command);
  add_strv(b, "entryPoint", c->entry_point);
  json_builder_set_member_name(b, "environment");
  json_builder_begin_object(b);
  {
    g_autoptr(GPtrArray) keys = ecsa_hash_table_sorted_keys(c->environment);
    for (guint i = 0; i < keys->len; i++)
      add_string(b, keys->pdata[i], g_hash_table_lookup(c->environment, keys->pdata[i]));
  }
  json_builder_end_object(b);
  add_int(b, "cpu", c->cpu);
  add_int(b, "memory", c->memory);
  add_strv(b, "links", c->links);
  json_builder_set_member_name(b, "volumesFrom");
  json_builder_begin_array(b);
  for (guint i = 0; i < c->volumes_from->len; i++)
    {
      EcsaVolumeFrom *v = c->volumes_from->pdata[i];
      json_builder_begin_object(b);
      add_string(b, "sourceContainer", v->source_container);
      add_bool(b, "readOnly", v->read_only);
      json_builder_end_object(b);
    }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "mountPoints");
  json_builder_begin_array(b);
  for (guint i = 0; i < c->mount_points->len; i++)
    {
      EcsaMountPoint *m = c->mount_points->pdata[i];
      json_builder_begin_object(b);
      add_string(b, "sourceVolume", m->source_volume);
      add_string(b, "containerPath", m->container_path);
      add_bool(b, "readOnly", m->read_only);
      json_builder_end_object(b);
    }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "portMappings");
  json_builder_begin_array(b);
  for (guint i = 0; i < c->port_mappings->len; i++)
    {
      EcsaPortMapping *m = c->port_mappings->pdata[i];
      json_builder_begin_object(b);
      add_int(b, "containerPort", m->container_port);
      add_int(b, "hostPort", m->host_port);
      add_string(b, "protocol", m->udp ? "udp" : "tcp");
      json_builder_end_object(b);
    }
  json_builder_end_array(b);
  add_bool(b, "essential", c->essential);
  if (c->docker_config != NULL || c->docker_host_config != NULL || c->docker_version != NULL)
    {
      json_builder_set_member_name(b, "dockerConfig");
      json_builder_begin_object(b);
      add_string(b, "config", c->docker_config);
      add_string(b, "hostConfig", c->docker_host_config);
      add_string(b, "version", c->docker_version);
      json_builder_end_object(b);
    }
  if (c->registry_auth != NULL)
    {
      json_builder_set_member_name(b, "registryAuthentication");
      json_builder_begin_object(b);
      add_string(b, "type", c->registry_auth->type);
      json_builder_set_member_name(b, "ecrAuthData");
      json_builder_begin_object(b);
      add_string(b, "registryId", c->registry_auth->ecr_registry_id);
      add_string(b, "region", c->registry_auth->ecr_region);
      add_string(b, "endpointOverride", c->registry_auth->ecr_endpoint_override);
      add_bool(b, "useExecutionRole", c->registry_auth->ecr_use_execution_role);
      json_builder_end_object(b);
      json_builder_end_object(b);
    }
  add_string(b, "logsAuthStrategy", c->logs_auth_strategy);
  json_builder_end_object(b);
}

static void
build_definition(JsonBuilder *b, const EcsaTask *task)
{
  json_builder_begin_object(b);
  add_string(b, "arn", task->arn);
  add_string(b, "family", task->family);
  add_string(b, "version", task->version);
  add_string(b, "desiredStatus", ecsa_task_status_to_string(task->desired_status));
  if (task->cpu > 0)
    {
      json_builder_set_member_name(b, "cpu");
      json_builder_add_double_value(b, task->cpu);
    }
  if (task->memory > 0)
    add_int(b, "memory", task->memory);
  /* credentials: the IDs only, never the secrets */
  if (task->credentials_id != NULL)
    {
      json_builder_set_member_name(b, "roleCredentials");
      json_builder_begin_object(b);
      add_string(b, "credentialsId", task->credentials_id);
      json_builder_end_object(b);
    }
  if (task->execution_credentials_id != NULL)
    {
      json_builder_set_member_name(b, "executionRoleCredentials");
      json_builder_begin_object(b);
      add_string(b, "credentialsId", task->execution_credentials_id);
      json_builder_end_object(b);
    }
  json_builder_set_member_name(b, "volumes");
  json_builder_begin_array(b);
  for (guint i = 0; i < task->volumes->len; i++)
    {
      EcsaVolume *v = task->volumes->pdata[i];
      json_builder_begin_object(b);
      add_string(b, "name", v->name);
      json_builder_set_member_name(b, "host");
      json_builder_begin_object(b);
      add_string(b, "sourcePath", v->source_path);
      json_builder_end_object(b);
      json_builder_end_object(b);
    }
  json_builder_end_array(b);
  if (task->eni != NULL)
    {
      EcsaEni *e = task->eni;
      json_builder_set_member_name(b, "elasticNetworkInterfaces");
      json_builder_begin_array(b);
      json_builder_begin_object(b);
      add_string(b, "ec2Id", e->id);
      add_string(b, "macAddress", e->mac_address);
      json_builder_set_member_name(b, "ipv4Addresses");
      json_builder_begin_array(b);
      for (guint i = 0; i < e->ipv4_addresses->len; i++)
        {
          json_builder_begin_object(b);
          add_string(b, "privateAddress", e->ipv4_addresses->pdata[i]);
          add_bool(b, "primary", i == 0);
          json_builder_end_object(b);
        }
      json_builder_end_array(b);
      json_builder_set_member_name(b, "ipv6Addresses");
      json_builder_begin_array(b);
      for (guint i = 0; i < e->ipv6_addresses->len; i++)
        {
          json_builder_begin_object(b);
          add_string(b, "address", e->ipv6_addresses->pdata[i]);
          json_builder_end_object(b);
        }
      json_builder_end_array(b);
      add_string_ptr_array(b, "domainNameServers", e->domain_name_servers);
      add_string_ptr_array(b, "domainName", e->domain_name_search);
      json_builder_end_object(b);
      json_builder_end_array(b);
    }
  json_builder_set_member_name(b, "containers");
  json_builder_begin_array(b);
  for (guint i = 0; i < task->containers->len; i++)
    if (!((EcsaContainer *)task->containers->pdata[i])->internal)
      build_container_definition(b, task->containers->pdata[i]);
  json_builder_end_array(b);
  json_builder_end_object(b);
}

JsonNode *
ecsa_task_to_checkpoint(const EcsaTask *task)
{
  g_autoptr(JsonBuilder) b = json_builder_new_immutable();

  g_return_val_if_fail(task != NULL, NULL);

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "definition");
  build_definition(b, task);
  add_string(b, "knownStatus", ecsa_task_status_to_string(task->known_status));
  add_string(b, "desiredStatus", ecsa_task_status_to_string(task->desired_status));
  add_string(b, "sentStatus", ecsa_task_status_to_string(task->sent_status));
  add_int(b, "knownStatusTime", task->known_status_time);
  add_int(b, "startSequenceNumber", task->start_sequence_number);
  add_int(b, "stopSequenceNumber", task->stop_sequence_number);
  add_int(b, "pullStartedAt", task->pull_started_at);
  add_int(b, "pullStoppedAt", task->pull_stopped_at);
  add_int(b, "executionStoppedAt", task->execution_stopped_at);
  add_bool(b, "cgroup", task->cgroup_enabled);
  add_bool(b, "recovered", task->recovered);
  add_string(b, "reason", task->reason);
  json_builder_set_member_name(b, "volumes");
  json_builder_begin_object(b);
  for (guint i = 0; i < task->volumes->len; i++)
    {
      EcsaVolume *v = task->volumes->pdata[i];
      if (v->docker_volume == NULL)
        continue;
      json_builder_set_member_name(b, v->name);
      json_builder_begin_object(b);
      add_string(b, "dockerVolume", v->docker_volume);
      json_builder_end_object(b);
    }
  json_builder_end_object(b);
  json_builder_set_member_name(b, "containers");
  json_builder_begin_object(b);
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      json_builder_set_member_name(b, c->name);
      json_builder_begin_object(b);
      if (c->internal)
        {
          /* not in the ACS definition: what it takes to add it back */
          add_bool(b, "internal", TRUE);
          add_string(b, "image", c->image);
        }
      add_string(b, "knownStatus", ecsa_container_status_to_string(c->known_status));
      add_string(b, "desiredStatus", ecsa_container_status_to_string(c->desired_status));
      add_string(b, "sentStatus", ecsa_container_status_to_string(c->sent_status));
      add_string(b, "steadyState", ecsa_container_status_to_string(c->steady_state));
      add_string(b, "dockerId", c->docker_id);
      add_string(b, "dockerName", c->docker_name);
      if (c->has_exit_code)
        add_int(b, "exitCode", c->exit_code);
      add_string(b, "reason", c->reason);
      add_string(b, "imageId", c->image_id);
      add_bool(b, "metadataFileUpdated", c->metadata_file_updated);
      json_builder_set_member_name(b, "networkBindings");
      json_builder_begin_array(b);
      for (guint j = 0; c->known_port_bindings != NULL && j < c->known_port_bindings->len; j++)
        {
          EcsaNetworkBinding *nb = c->known_port_bindings->pdata[j];
          json_builder_begin_object(b);
          add_string(b, "bindIP", nb->bind_ip);
          add_int(b, "containerPort", nb->container_port);
          add_int(b, "hostPort", nb->host_port);
          add_string(b, "protocol", nb->protocol);
          json_builder_end_object(b);
        }
      json_builder_end_array(b);
      json_builder_end_object(b);
    }
  json_builder_end_object(b);
  json_builder_end_object(b);
  return json_builder_get_root(b);
}

static gboolean
read_container_status(JsonObject *o, const char *name, EcsaContainerStatus *out, GError **error)
{
  g_autofree char *s = NULL;

  if (!get_string(o, name, FALSE, &s, error))
    return FALSE;
  if (s == NULL)
    return TRUE;
  if (!ecsa_container_status_from_string(s, out))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is '%s', not a container status", name, s);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_task_status(JsonObject *o, const char *name, EcsaTaskStatus *out, GError **error)
{
  g_autofree char *s = NULL;

  if (!get_string(o, name, FALSE, &s, error))
    return FALSE;
  if (s == NULL)
    return TRUE;
  if (!ecsa_task_status_from_string(s, out))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'%s' is '%s', not a task status", name, s);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_container_state(EcsaContainer *c, JsonObject *so, GError **error)
{
  gint64 exit_code = 0;
  JsonArray *bindings = NULL;

  if (!read_container_status(so, "knownStatus", &c->known_status, error)
      || !read_container_status(so, "desiredStatus", &c->desired_status, error)
      || !read_container_status(so, "sentStatus", &c->sent_status, error)
      || !read_container_status(so, "steadyState", &c->steady_state, error)
      || !get_string(so, "dockerId", FALSE, &c->docker_id, error)
      || !get_string(so, "dockerName", FALSE, &c->docker_name, error)
      || !get_string(so, "reason", FALSE, &c->reason, error) || !get_string(so, "imageId", FALSE, &c->image_id, error)
      || !get_bool(so, "metadataFileUpdated", &c->metadata_file_updated, error)
      || !get_array(so, "networkBindings", &bindings, error))
    return FALSE;
  if (c->steady_state == ECSA_CONTAINER_NONE)
    c->steady_state = ECSA_CONTAINER_RUNNING;
  if (ecsa_json_member(so, "exitCode") != NULL)
    {
      if (!get_integer(so, "exitCode", G_MININT32, G_MAXINT32, &exit_code, error))
        return FALSE;
      c->has_exit_code = TRUE;
      c->exit_code = (int)exit_code;
    }
  for (guint i = 0; bindings != NULL && i < json_array_get_length(bindings); i++)
    {
      JsonObject *bo;
      gint64 cport = 0, hport = 0;
      EcsaNetworkBinding *nb = g_new0(EcsaNetworkBinding, 1);

      g_ptr_array_add(c->known_port_bindings, nb);
      if (!array_object(bindings, "networkBindings", i, &bo, error)
          || !get_string(bo, "bindIP", FALSE, &nb->bind_ip, error)
          || !get_integer(bo, "containerPort", 0, G_MAXUINT16, &cport, error)
          || !get_integer(bo, "hostPort", 0, G_MAXUINT16, &hport, error)
          || !get_string(bo, "protocol", FALSE, &nb->protocol, error))
        return FALSE;
      nb->container_port = (guint16)cport;
      nb->host_port = (guint16)hport;
      if (nb->protocol == NULL)
        nb->protocol = g_strdup("tcp");
    }
  return TRUE;
}

EcsaTask *
ecsa_task_from_checkpoint(JsonNode *node, GError **error)
{
  JsonObject *o, *def = NULL, *containers = NULL, *volumes = NULL;
  g_autoptr(EcsaTask) task = NULL;
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail(node != NULL, NULL);

  if (!JSON_NODE_HOLDS_OBJECT(node))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "a task must be an object, not %s", node_type_name(node));
      return NULL;
    }
  o = json_node_get_object(node);
  if (!get_object(o, "definition", &def, error))
    return NULL;
  if (def == NULL)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "'definition' is missing");
      return NULL;
    }
  task = parse_task(def, 0, TRUE, &local);
  if (task == NULL)
    {
      g_propagate_prefixed_error(error, g_steal_pointer(&local), "'definition': ");
      return NULL;
    }
  if (!read_task_status(o, "knownStatus", &task->known_status, &local)
      || !read_task_status(o, "desiredStatus", &task->desired_status, &local)
      || !read_task_status(o, "sentStatus", &task->sent_status, &local)
      || !get_integer(o, "knownStatusTime", 0, G_MAXINT64, &task->known_status_time, &local)
      || !get_integer(o, "startSequenceNumber", 0, G_MAXINT64, &task->start_sequence_number, &local)
      || !get_integer(o, "stopSequenceNumber", 0, G_MAXINT64, &task->stop_sequence_number, &local)
      || !get_integer(o, "pullStartedAt", 0, G_MAXINT64, &task->pull_started_at, &local)
      || !get_integer(o, "pullStoppedAt", 0, G_MAXINT64, &task->pull_stopped_at, &local)
      || !get_integer(o, "executionStoppedAt", 0, G_MAXINT64, &task->execution_stopped_at, &local)
      || !get_bool(o, "cgroup", &task->cgroup_enabled, &local) || !get_bool(o, "recovered", &task->recovered, &local)
      || !get_string(o, "reason", FALSE, &task->reason, &local) || !get_object(o, "volumes", &volumes, &local)
      || !get_object(o, "containers", &containers, &local))
    {
      g_propagate_prefixed_error(error, g_steal_pointer(&local), "task '%s': ", task->arn);
      return NULL;
    }
  for (guint i = 0; volumes != NULL && i < task->volumes->len; i++)
    {
      EcsaVolume *v = task->volumes->pdata[i];
      JsonObject *vo = NULL;
      if (!get_object(volumes, v->name, &vo, &local)
          || (vo != NULL && !get_string(vo, "dockerVolume", FALSE, &v->docker_volume, &local)))
        {
          g_propagate_prefixed_error(error, g_steal_pointer(&local), "task '%s': volume '%s': ", task->arn, v->name);
          return NULL;
        }
    }
  /* the agent's own containers (the awsvpc sandbox) */
  if (containers != NULL)
    {
      g_autoptr(GList) names = json_object_get_members(containers);
      for (GList *l = names; l != NULL; l = l->next)
        {
          JsonObject *so = NULL;
          gboolean internal = FALSE;
          g_autofree char *image = NULL;

          if (!get_object(containers, l->data, &so, &local) || so == NULL
              || !get_bool(so, "internal", &internal, &local) || !internal
              || ecsa_task_get_container(task, l->data) != NULL)
            {
              g_clear_error(&local);
              continue;
            }
          if (!get_string(so, "image", TRUE, &image, &local))
            {
              g_propagate_prefixed_error(error, g_steal_pointer(&local), "task '%s': container '%s': ", task->arn,
                                         (const char *)l->data);
              return NULL;
            }
          ecsa_task_add_sandbox(task, l->data, image);
        }
    }
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      JsonObject *so = NULL;

      if (containers != NULL && !get_object(containers, c->name, &so, &local))
        {
          g_propagate_prefixed_error(error, g_steal_pointer(&local), "task '%s': ", task->arn);
          return NULL;
        }
      if (so == NULL)
        continue;
      if (!read_container_state(c, so, &local))
        {
          g_propagate_prefixed_error(error, g_steal_pointer(&local), "task '%s': container '%s': ", task->arn, c->name);
          return NULL;
        }
    }
  /* what was emitted is what was acknowledged: after a restart, unsent changes go out again */
  task->emitted_status = task->sent_status;
  for (guint i = 0; i < task->containers->len; i++)
    {
      EcsaContainer *c = task->containers->pdata[i];
      c->emitted_status = c->sent_status;
    }
  return g_steal_pointer(&task);
}

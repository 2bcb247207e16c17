/* ecsl-ecs.c: clusters, task definitions, container instances, poll endpoints, ECR tokens, and the
 * operation table of the ECS API (see ecsl-ecs.h). Tasks are in ecsl-tasks.c.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-ecs.h"
#include "ecsl-acs.h"
#include "ecsl-util.h"

#include <math.h>
#include <string.h>

#define MAX_PAGE 100

char *
ecsl_arn (EcslContext *ctx, const char *resource)
{
  return g_strdup_printf ("arn:aws:ecs:%s:%s:%s", ctx->config.region, ctx->config.account_id, resource);
}

JsonNode *
ecsl_ecs_empty_array (void)
{
  JsonNode *n = json_node_new (JSON_NODE_ARRAY);

  json_node_take_array (n, json_array_new ());
  return n;
}

static void
add_str (JsonBuilder *b, const char *name, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_node_or_empty (JsonBuilder *b, const char *name, JsonNode *node)
{
  json_builder_set_member_name (b, name);
  json_builder_add_value (b, node != NULL ? json_node_copy (node) : ecsl_ecs_empty_array ());
}

static const char *
taskdef_status (EcslTaskDef *d)
{
  return ecsl_json_object_string (json_node_get_object (d->def), "status");
}

static gboolean
valid_name (const char *name, gsize max)
{
  gsize len = name != NULL ? strlen (name) : 0;

  if (len == 0 || len > max)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

static gboolean
has_include (JsonObject *req, const char *what, GError **error, gboolean *out)
{
  g_auto (GStrv) include = NULL;

  *out = FALSE;
  if (!ecsl_req_strv (req, "include", &include, error))
    return FALSE;
  *out = include != NULL && g_strv_contains ((const char *const *) include, what);
  return TRUE;
}

/* ------------------------------------------------------------------------------------------- */
/* pagination */

gboolean
ecsl_ecs_parse_max_results (JsonObject *req, gint64 *out_max, GError **error)
{
  gboolean present = FALSE;
  gint64 max = MAX_PAGE;

  if (!ecsl_req_int (req, "maxResults", &max, &present, error))
    return FALSE;
  if (present && (max < 1 || max > MAX_PAGE))
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                   "maxResults must be between 1 and %d, not %" G_GINT64_FORMAT, MAX_PAGE, max);
      return FALSE;
    }
  *out_max = max;
  return TRUE;
}

gboolean
ecsl_ecs_paginate (JsonObject *req, GPtrArray *keys, GPtrArray *values, gboolean descending, JsonBuilder *b,
                   const char *member, GError **error)
{
  const char *token = NULL;
  gint64 max;
  guint start = 0, i;
  g_autofree char *after = NULL;

  if (!ecsl_req_string (req, "nextToken", &token, error) || !ecsl_ecs_parse_max_results (req, &max, error))
    return FALSE;
  if (token != NULL)
    {
      gsize len = 0;
      g_autofree guint8 *raw = ecsl_base64_decode_strict (token, &len);
      if (raw == NULL || len < 6 || memcmp (raw, "ecsl1:", 6) != 0 || memchr (raw, '\0', len) != NULL)
        {
          g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER, "Invalid nextToken.");
          return FALSE;
        }
      after = g_strndup ((const char *) raw + 6, len - 6);
      for (start = 0; start < keys->len; start++)
        {
          int c = strcmp (g_ptr_array_index (keys, start), after);
          if (descending ? c < 0 : c > 0)
            break;
        }
    }
  json_builder_set_member_name (b, member);
  json_builder_begin_array (b);
  for (i = start; i < keys->len && i < start + (guint) max; i++)
    json_builder_add_string_value (b, g_ptr_array_index (values, i));
  json_builder_end_array (b);
  if (i < keys->len)
    {
      g_autofree char *raw = g_strconcat ("ecsl1:", (const char *) g_ptr_array_index (keys, i - 1), NULL);
      g_autofree char *next = g_base64_encode ((const guint8 *) raw, strlen (raw));
      add_str (b, "nextToken", next);
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------------- */
/* clusters */

EcslCluster *
ecsl_ecs_require_cluster (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *ref = NULL;
  EcslCluster *c;

  if (!ecsl_req_string (req, "cluster", &ref, error))
    return NULL;
  c = ecsl_state_find_cluster (ctx->state, ref);
  if (c == NULL || strcmp (c->status, "ACTIVE") != 0)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_CLUSTER_NOT_FOUND, "Cluster not found.");
      return NULL;
    }
  return c;
}

static void
cluster_counts (EcslContext *ctx, EcslCluster *c, gint64 *instances, gint64 *running, gint64 *pending)
{
  GHashTableIter iter;
  EcslTask *t;

  *instances = *running = *pending = 0;
  for (guint i = 0; i < ctx->state->instances->len; i++)
    {
      EcslInstance *inst = g_ptr_array_index (ctx->state->instances, i);
      if (strcmp (inst->cluster_arn, c->arn) == 0 && strcmp (inst->status, "INACTIVE") != 0)
        (*instances)++;
    }
  g_hash_table_iter_init (&iter, ctx->state->tasks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
    {
      if (strcmp (t->cluster_arn, c->arn) != 0)
        continue;
      if (strcmp (t->last_status, "RUNNING") == 0)
        (*running)++;
      else if (strcmp (t->last_status, "PENDING") == 0)
        (*pending)++;
    }
}

static JsonNode *
render_cluster (EcslContext *ctx, EcslCluster *c, gboolean tags, gboolean settings, gboolean statistics,
                gboolean configuration)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  gint64 instances, running, pending;

  cluster_counts (ctx, c, &instances, &running, &pending);
  json_builder_begin_object (b);
  add_str (b, "clusterArn", c->arn);
  add_str (b, "clusterName", c->name);
  if (configuration && c->configuration != NULL)
    {
      json_builder_set_member_name (b, "configuration");
      json_builder_add_value (b, json_node_copy (c->configuration));
    }
  add_str (b, "status", c->status);
  add_int (b, "registeredContainerInstancesCount", instances);
  add_int (b, "runningTasksCount", running);
  add_int (b, "pendingTasksCount", pending);
  add_int (b, "activeServicesCount", 0);
  if (statistics)
    add_node_or_empty (b, "statistics", NULL);
  if (tags)
    add_node_or_empty (b, "tags", c->tags);
  if (settings)
    add_node_or_empty (b, "settings", c->settings);
  add_node_or_empty (b, "capacityProviders", NULL);
  add_node_or_empty (b, "defaultCapacityProviderStrategy", NULL);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
validate_tags (JsonObject *req, JsonNode **out, GError **error)
{
  JsonArray *tags = NULL;

  if (!ecsl_req_array (req, "tags", &tags, error))
    return FALSE;
  if (tags == NULL)
    return TRUE;
  if (json_array_get_length (tags) > 50)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER, "Too many tags: at most 50.");
      return FALSE;
    }
  for (guint i = 0; i < json_array_get_length (tags); i++)
    {
      JsonObject *t = json_array_get_object_element (tags, i);
      const char *key = NULL, *value = NULL;
      if (t == NULL || !ecsl_req_string (t, "key", &key, error) || !ecsl_req_string (t, "value", &value, error))
        {
          if (error != NULL && *error == NULL)
            g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION, "'tags' must be a list of Tag");
          return FALSE;
        }
      if (key == NULL || strlen (key) == 0 || strlen (key) > 128 || (value != NULL && strlen (value) > 256))
        {
          g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                               "Tag keys must be 1 to 128 characters and values at most 256.");
          return FALSE;
        }
    }
  *out = json_node_copy (json_object_get_member (req, "tags"));
  return TRUE;
}

static JsonNode *
wrap (const char *member, JsonNode *value)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, member);
  json_builder_add_value (b, value);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonNode *
op_create_cluster (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *name = "default";
  JsonNode *tags = NULL;
  JsonArray *settings = NULL;
  JsonObject *configuration = NULL;
  EcslCluster *c;

  if (!ecsl_req_string (req, "clusterName", &name, error) || !ecsl_req_array (req, "settings", &settings, error)
      || !ecsl_req_object (req, "configuration", &configuration, error) || !validate_tags (req, &tags, error))
    return NULL;
  if (!valid_name (name, 255))
    {
      if (tags != NULL)
        json_node_unref (tags);
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                   "Invalid cluster name '%s'. Up to 255 letters (uppercase and lowercase), numbers, hyphens, "
                   "and underscores are allowed.", name);
      return NULL;
    }
  c = ecsl_state_find_cluster (ctx->state, name);
  if (c == NULL)
    {
      g_autofree char *resource = g_strconcat ("cluster/", name, NULL);
      c = ecsl_cluster_new ();
      c->arn = ecsl_arn (ctx, resource);
      c->name = g_strdup (name);
      c->created_ms = ecsl_now_ms ();
      g_ptr_array_add (ctx->state->clusters, c);
      g_message ("created cluster %s", c->arn);
    }
  ecsl_set_str (&c->status, "ACTIVE");
  if (tags != NULL)
    ecsl_set_json (&c->tags, tags);
  if (settings != NULL)
    ecsl_set_json (&c->settings, json_node_copy (json_object_get_member (req, "settings")));
  else if (c->settings == NULL)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      json_builder_begin_array (b);
      json_builder_begin_object (b);
      add_str (b, "name", "containerInsights");
      add_str (b, "value", "disabled");
      json_builder_end_object (b);
      json_builder_end_array (b);
      ecsl_set_json (&c->settings, json_builder_get_root (b));
    }
  if (configuration != NULL)
    ecsl_set_json (&c->configuration, json_node_copy (json_object_get_member (req, "configuration")));
  ecsl_state_changed (ctx->state);
  return wrap ("cluster", render_cluster (ctx, c, TRUE, TRUE, FALSE, TRUE));
}

static JsonNode *
op_delete_cluster (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *ref = NULL;
  EcslCluster *c;
  GHashTableIter iter;
  EcslTask *t;

  if (!ecsl_req_string (req, "cluster", &ref, error))
    return NULL;
  if (ref == NULL)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER, "cluster is required.");
      return NULL;
    }
  c = ecsl_state_find_cluster (ctx->state, ref);
  if (c == NULL || strcmp (c->status, "ACTIVE") != 0)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_CLUSTER_NOT_FOUND, "Cluster not found.");
      return NULL;
    }
  for (guint i = 0; i < ctx->state->instances->len; i++)
    {
      EcslInstance *inst = g_ptr_array_index (ctx->state->instances, i);
      if (strcmp (inst->cluster_arn, c->arn) == 0 && strcmp (inst->status, "INACTIVE") != 0)
        {
          g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_CLUSTER_CONTAINS_INSTANCES,
                               "The Cluster cannot be deleted while Container Instances are active or draining.");
          return NULL;
        }
    }
  g_hash_table_iter_init (&iter, ctx->state->tasks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
    if (strcmp (t->cluster_arn, c->arn) == 0 && strcmp (t->last_status, "STOPPED") != 0)
      {
        g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_CLUSTER_CONTAINS_TASKS,
                             "The Cluster cannot be deleted while Tasks are active.");
        return NULL;
      }
  ecsl_set_str (&c->status, "INACTIVE");
  g_message ("deleted cluster %s", c->arn);
  ecsl_state_changed (ctx->state);
  return wrap ("cluster", render_cluster (ctx, c, TRUE, TRUE, FALSE, TRUE));
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static JsonNode *
op_list_clusters (EcslContext *ctx, JsonObject *req, GError **error)
{
  g_autoptr(GPtrArray) arns = g_ptr_array_new ();
  g_autoptr(JsonBuilder) b = json_builder_new ();

  for (guint i = 0; i < ctx->state->clusters->len; i++)
    {
      EcslCluster *c = g_ptr_array_index (ctx->state->clusters, i);
      if (strcmp (c->status, "ACTIVE") == 0)
        g_ptr_array_add (arns, c->arn);
    }
  g_ptr_array_sort (arns, compare_strings);
  json_builder_begin_object (b);
  if (!ecsl_ecs_paginate (req, arns, arns, FALSE, b, "clusterArns", error))
    return NULL;
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
add_failure (JsonBuilder *b, const char *arn, const char *reason, const char *detail)
{
  json_builder_begin_object (b);
  add_str (b, "arn", arn);
  add_str (b, "reason", reason);
  add_str (b, "detail", detail);
  json_builder_end_object (b);
}

static JsonNode *
op_describe_clusters (EcslContext *ctx, JsonObject *req, GError **error)
{
  g_auto (GStrv) refs = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GPtrArray) missing = g_ptr_array_new_with_free_func (g_free);
  gboolean tags, settings, statistics, configuration;
  static const char *const default_refs[] = { "default", NULL };
  const char *const *list;

  if (!ecsl_req_strv (req, "clusters", &refs, error) || !has_include (req, "TAGS", error, &tags)
      || !has_include (req, "SETTINGS", error, &settings) || !has_include (req, "STATISTICS", error, &statistics)
      || !has_include (req, "CONFIGURATIONS", error, &configuration))
    return NULL;
  list = refs != NULL ? (const char *const *) refs : default_refs;
  if (g_strv_length ((char **) list) > 100)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                           "At most 100 clusters can be described at once.");
      return NULL;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "clusters");
  json_builder_begin_array (b);
  for (guint i = 0; list[i] != NULL; i++)
    {
      EcslCluster *c = ecsl_state_find_cluster (ctx->state, list[i]);
      if (c == NULL)
        {
          g_autofree char *resource = g_strconcat ("cluster/", list[i], NULL);
          g_ptr_array_add (missing, g_str_has_prefix (list[i], "arn:") ? g_strdup (list[i]) : ecsl_arn (ctx, resource));
          continue;
        }
      json_builder_add_value (b, render_cluster (ctx, c, tags, settings, statistics, configuration));
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "failures");
  json_builder_begin_array (b);
  for (guint i = 0; i < missing->len; i++)
    add_failure (b, g_ptr_array_index (missing, i), "MISSING", NULL);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ------------------------------------------------------------------------------------------- */
/* task definitions */

static gboolean
client_error (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
client_error (GError **error, const char *format, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_CLIENT, msg);
  return FALSE;
}

/* Task-level cpu: "256" (units) or "0.25 vCPU"; memory: "512" (MiB) or "1 GB". -1 when invalid. */
static gint64
parse_size (const char *text, const char *unit, gint64 unit_value)
{
  g_autofree char *lower = g_ascii_strdown (text, -1);
  char *end = NULL;
  double v;

  g_strstrip (lower);
  v = g_ascii_strtod (lower, &end);
  if (end == lower || v < 0 || !isfinite (v))
    return -1;
  while (*end == ' ')
    end++;
  if (*end == '\0')
    return v == floor (v) ? (gint64) v : -1;
  if (strcmp (end, unit) == 0)
    return (gint64) llround (v * (double) unit_value);
  return -1;
}

gint64
ecsl_parse_task_cpu (const char *text)
{
  return text != NULL ? parse_size (text, "vcpu", 1024) : 0;
}

gint64
ecsl_parse_task_memory (const char *text)
{
  return text != NULL ? parse_size (text, "gb", 1024) : 0;
}

static gboolean
is_ecr_image (EcslContext *ctx, const char *image)
{
  const char *slash = strchr (image, '/');

  return ctx->config.ecr_registry != NULL && slash != NULL
         && strncmp (image, ctx->config.ecr_registry, slash - image) == 0
         && strlen (ctx->config.ecr_registry) == (gsize) (slash - image);
}

gboolean
ecsl_is_ecr_image (EcslContext *ctx, const char *image)
{
  return image != NULL && is_ecr_image (ctx, image);
}

static void
require_attr (GPtrArray *attrs, const char *name)
{
  for (guint i = 0; i < attrs->len; i++)
    if (strcmp (g_ptr_array_index (attrs, i), name) == 0)
      return;
  g_ptr_array_add (attrs, g_strdup (name));
}

static const char *const log_drivers[] = { "json-file", "syslog", "journald", "gelf", "fluentd", "awslogs",
                                           "splunk", "awsfirelens", "logentries", "none", NULL };

/* Validate one container definition and return it with the defaults AWS fills in. */
static JsonNode *
normalize_container (EcslContext *ctx, JsonObject *in, const char *network_mode, gboolean task_memory,
                     gboolean has_execution_role, GPtrArray *attrs, GHashTable *host_ports, GError **error)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  JsonObject *out;
  const char *name = NULL, *image = NULL;
  gint64 memory = 0, reservation = 0, cpu = 0;
  gboolean has_memory = FALSE, has_reservation = FALSE, has_cpu = FALSE, essential = TRUE;
  JsonArray *ports = NULL;
  JsonObject *log = NULL;
  JsonArray *new_ports;

  if (!ecsl_req_string (in, "name", &name, error) || !ecsl_req_string (in, "image", &image, error)
      || !ecsl_req_int (in, "memory", &memory, &has_memory, error)
      || !ecsl_req_int (in, "memoryReservation", &reservation, &has_reservation, error)
      || !ecsl_req_int (in, "cpu", &cpu, &has_cpu, error) || !ecsl_req_bool (in, "essential", &essential, error)
      || !ecsl_req_array (in, "portMappings", &ports, error) || !ecsl_req_object (in, "logConfiguration", &log, error))
    return NULL;
  if (name == NULL || *name == '\0')
    return client_error (error, "Container.name should not be null or empty."), NULL;
  if (!valid_name (name, 255))
    return client_error (error, "Container name '%s' is invalid: up to 255 letters (uppercase and lowercase), "
                                "numbers, hyphens, and underscores are allowed.", name), NULL;
  if (image == NULL || *image == '\0')
    return client_error (error, "Container.image should not be null or empty."), NULL;
  if (!has_memory && !has_reservation && !task_memory)
    return client_error (error, "Invalid setting for container '%s'. At least one of 'memory' or "
                                "'memoryReservation' must be specified.", name), NULL;
  if (has_memory && memory < 6)
    return client_error (error, "Invalid 'memory' setting for container '%s'. The minimum is 6 MiB.", name), NULL;
  if (has_reservation && (reservation < 6 || (has_memory && reservation > memory)))
    return client_error (error, "Invalid 'memoryReservation' setting for container '%s'. It must be at least 6 "
                                "MiB and no more than 'memory'.", name), NULL;
  if (has_cpu && (cpu < 0 || cpu > 10240))
    return client_error (error, "Invalid 'cpu' setting for container '%s'.", name), NULL;

  json_node_take_object (node, json_object_new ());
  out = json_node_get_object (node);
  /* Copy what was given, then set the defaults AWS shows. */
  {
    GList *members = json_object_get_members (in);
    for (GList *l = members; l != NULL; l = l->next)
      {
        JsonNode *v = json_object_get_member (in, l->data);
        if (v != NULL && !JSON_NODE_HOLDS_NULL (v))
          json_object_set_member (out, l->data, json_node_copy (v));
      }
    g_list_free (members);
  }
  if (!has_cpu)
    json_object_set_int_member (out, "cpu", 0);
  json_object_set_boolean_member (out, "essential", essential);
  if (!json_object_has_member (out, "environment"))
    json_object_set_array_member (out, "environment", json_array_new ());
  if (!json_object_has_member (out, "mountPoints"))
    json_object_set_array_member (out, "mountPoints", json_array_new ());
  if (!json_object_has_member (out, "volumesFrom"))
    json_object_set_array_member (out, "volumesFrom", json_array_new ());

  new_ports = json_array_new ();
  for (guint i = 0; ports != NULL && i < json_array_get_length (ports); i++)
    {
      JsonObject *pm = json_array_get_object_element (ports, i);
      JsonObject *npm;
      gint64 cport = 0, hport = 0;
      gboolean has_cport = FALSE, has_hport = FALSE;
      const char *proto = "tcp";
      g_autofree char *key = NULL;

      if (pm == NULL || !ecsl_req_int (pm, "containerPort", &cport, &has_cport, error)
          || !ecsl_req_int (pm, "hostPort", &hport, &has_hport, error)
          || !ecsl_req_string (pm, "protocol", &proto, error))
        {
          json_array_unref (new_ports);
          if (error != NULL && *error == NULL)
            g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION, "'portMappings' must be a list of PortMapping");
          return NULL;
        }
      if (!has_cport || cport < 1 || cport > 65535 || hport < 0 || hport > 65535
          || (strcmp (proto, "tcp") != 0 && strcmp (proto, "udp") != 0))
        {
          json_array_unref (new_ports);
          return client_error (error, "Invalid port mapping in container '%s': containerPort must be 1-65535, "
                                      "hostPort 0-65535 and protocol tcp or udp.", name), NULL;
        }
      if (strcmp (network_mode, "host") == 0 || strcmp (network_mode, "awsvpc") == 0)
        {
          if (has_hport && hport != 0 && hport != cport)
            {
              json_array_unref (new_ports);
              return client_error (error, "When networkMode=%s, containerPort and hostPort must match "
                                          "(container '%s': %" G_GINT64_FORMAT " != %" G_GINT64_FORMAT ").",
                                   network_mode, name, cport, hport), NULL;
            }
          hport = cport;
        }
      if (hport != 0)
        {
          key = g_strdup_printf ("%s/%" G_GINT64_FORMAT, proto, hport);
          if (g_hash_table_contains (host_ports, key))
            {
              json_array_unref (new_ports);
              return client_error (error, "The host port %" G_GINT64_FORMAT "/%s is mapped more than once in "
                                          "this task definition.", hport, proto), NULL;
            }
          g_hash_table_add (host_ports, g_steal_pointer (&key));
        }
      npm = json_object_new ();
      json_object_set_int_member (npm, "containerPort", cport);
      json_object_set_int_member (npm, "hostPort", hport);
      json_object_set_string_member (npm, "protocol", proto);
      json_array_add_object_element (new_ports, npm);
    }
  json_object_set_array_member (out, "portMappings", new_ports);

  if (log != NULL)
    {
      const char *driver = NULL;
      if (!ecsl_req_string (log, "logDriver", &driver, error))
        return NULL;
      if (driver == NULL || !g_strv_contains (log_drivers, driver))
        return client_error (error, "Invalid logConfiguration for container '%s': logDriver '%s' is not one of "
                                    "json-file, syslog, journald, gelf, fluentd, awslogs, splunk, awsfirelens, "
                                    "logentries, none.", name, driver != NULL ? driver : ""), NULL;
      g_autofree char *attr = g_strconcat ("com.amazonaws.ecs.capability.logging-driver.", driver, NULL);
      require_attr (attrs, attr);
      require_attr (attrs, "com.amazonaws.ecs.capability.docker-remote-api.1.18");
      if (strcmp (driver, "awslogs") == 0 && has_execution_role)
        require_attr (attrs, "ecs.capability.execution-role-awslogs");
    }
  if (json_object_has_member (out, "dockerLabels") || json_object_has_member (out, "ulimits"))
    require_attr (attrs, "com.amazonaws.ecs.capability.docker-remote-api.1.18");
  if (has_reservation)
    require_attr (attrs, "com.amazonaws.ecs.capability.docker-remote-api.1.21");
  if (json_object_has_member (out, "privileged") && json_object_get_boolean_member_with_default (out, "privileged", FALSE))
    require_attr (attrs, "com.amazonaws.ecs.capability.privileged-container");
  if (json_object_has_member (out, "healthCheck"))
    require_attr (attrs, "ecs.capability.container-health-check");
  if (is_ecr_image (ctx, image))
    {
      require_attr (attrs, "com.amazonaws.ecs.capability.ecr-auth");
      if (has_execution_role)
        require_attr (attrs, "ecs.capability.execution-role-ecr-pull");
    }
  if (json_object_has_member (out, "links") && strcmp (network_mode, "bridge") != 0)
    return client_error (error, "Links are not supported when networkMode=%s (container '%s').", network_mode,
                         name), NULL;
  return g_steal_pointer (&node);
}

static gboolean
check_references (JsonArray *containers, JsonArray *volumes, GError **error)
{
  g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) vols = g_hash_table_new (g_str_hash, g_str_equal);
  guint essential = 0;

  for (guint i = 0; volumes != NULL && i < json_array_get_length (volumes); i++)
    {
      JsonObject *v = json_array_get_object_element (volumes, i);
      const char *name = v != NULL ? ecsl_json_object_string (v, "name") : NULL;
      if (name == NULL || !valid_name (name, 255))
        return client_error (error, "Every volume needs a name of letters, numbers, hyphens and underscores.");
      if (!g_hash_table_add (vols, (gpointer) name))
        return client_error (error, "Duplicate volume name '%s'.", name);
    }
  for (guint i = 0; i < json_array_get_length (containers); i++)
    {
      JsonObject *c = json_array_get_object_element (containers, i);
      const char *name = ecsl_json_object_string (c, "name");
      if (!g_hash_table_add (names, (gpointer) name))
        return client_error (error, "Duplicate container name '%s' in the task definition.", name);
      if (json_object_get_boolean_member_with_default (c, "essential", TRUE))
        essential++;
    }
  if (essential == 0)
    return client_error (error, "A task definition must have at least one essential container.");
  for (guint i = 0; i < json_array_get_length (containers); i++)
    {
      JsonObject *c = json_array_get_object_element (containers, i);
      const char *name = ecsl_json_object_string (c, "name");
      JsonArray *mounts = ecsl_json_object_array (c, "mountPoints");
      JsonArray *from = ecsl_json_object_array (c, "volumesFrom");
      JsonArray *links = ecsl_json_object_array (c, "links");

      for (guint k = 0; mounts != NULL && k < json_array_get_length (mounts); k++)
        {
          JsonObject *m = json_array_get_object_element (mounts, k);
          const char *src = m != NULL ? ecsl_json_object_string (m, "sourceVolume") : NULL;
          if (src == NULL || !g_hash_table_contains (vols, src))
            return client_error (error, "Invalid mount point in container '%s': unknown volume '%s'.", name,
                                 src != NULL ? src : "");
        }
      for (guint k = 0; from != NULL && k < json_array_get_length (from); k++)
        {
          JsonObject *f = json_array_get_object_element (from, k);
          const char *src = f != NULL ? ecsl_json_object_string (f, "sourceContainer") : NULL;
          if (src == NULL || !g_hash_table_contains (names, src) || strcmp (src, name) == 0)
            return client_error (error, "Invalid volumesFrom in container '%s': unknown container '%s'.", name,
                                 src != NULL ? src : "");
        }
      for (guint k = 0; links != NULL && k < json_array_get_length (links); k++)
        {
          const char *link = json_array_get_string_element (links, k);
          g_autofree char *target = g_strdup (link != NULL ? link : "");
          char *colon = strchr (target, ':');
          if (colon != NULL)
            *colon = '\0';
          if (!g_hash_table_contains (names, target) || strcmp (target, name) == 0)
            return client_error (error, "Invalid link in container '%s': unknown container '%s'.", name, target);
        }
    }
  return TRUE;
}

static JsonNode *
op_register_task_definition (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *family = NULL, *task_role = NULL, *exec_role = NULL, *network_mode = NULL, *cpu = NULL;
  const char *memory = NULL, *pid_mode = NULL, *ipc_mode = NULL;
  JsonArray *containers = NULL, *volumes = NULL, *constraints = NULL;
  g_auto (GStrv) requires = NULL;
  g_autoptr(JsonNode) tags = NULL;
  g_autoptr(GPtrArray) attrs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GHashTable) host_ports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autofree char *resource = NULL;
  EcslTaskDef *d;
  gint64 revision = 0;
  const char *mode;
  gboolean fargate_ok;

  if (!ecsl_req_string (req, "family", &family, error) || !ecsl_req_string (req, "taskRoleArn", &task_role, error)
      || !ecsl_req_string (req, "executionRoleArn", &exec_role, error)
      || !ecsl_req_string (req, "networkMode", &network_mode, error) || !ecsl_req_string (req, "cpu", &cpu, error)
      || !ecsl_req_string (req, "memory", &memory, error) || !ecsl_req_string (req, "pidMode", &pid_mode, error)
      || !ecsl_req_string (req, "ipcMode", &ipc_mode, error)
      || !ecsl_req_array (req, "containerDefinitions", &containers, error)
      || !ecsl_req_array (req, "volumes", &volumes, error)
      || !ecsl_req_array (req, "placementConstraints", &constraints, error)
      || !ecsl_req_strv (req, "requiresCompatibilities", &requires, error) || !validate_tags (req, &tags, error))
    return NULL;
  if (family == NULL || !valid_name (family, 255))
    return client_error (error, "Family '%s' is invalid: up to 255 letters (uppercase and lowercase), numbers, "
                                "hyphens, and underscores are allowed.", family != NULL ? family : ""), NULL;
  if (containers == NULL || json_array_get_length (containers) == 0)
    return client_error (error, "Container list cannot be empty."), NULL;
  if (json_array_get_length (containers) > 10)
    return client_error (error, "A task definition can have at most 10 containers."), NULL;
  mode = network_mode != NULL ? network_mode : "bridge";
  if (strcmp (mode, "bridge") != 0 && strcmp (mode, "host") != 0 && strcmp (mode, "awsvpc") != 0
      && strcmp (mode, "none") != 0)
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                   "networkMode '%s' is not one of bridge, host, awsvpc, none.", mode);
      return NULL;
    }
  if (cpu != NULL && ecsl_parse_task_cpu (cpu) <= 0)
    return client_error (error, "Invalid 'cpu' setting for task: '%s'.", cpu), NULL;
  if (memory != NULL && ecsl_parse_task_memory (memory) <= 0)
    return client_error (error, "Invalid 'memory' setting for task: '%s'.", memory), NULL;
  fargate_ok = strcmp (mode, "awsvpc") == 0 && cpu != NULL && memory != NULL;
  if (requires != NULL && g_strv_contains ((const char *const *) requires, "FARGATE") && !fargate_ok)
    return client_error (error, "Fargate requires networkMode 'awsvpc' and task-level 'cpu' and 'memory'."), NULL;

  for (guint i = 0; i < ctx->state->taskdefs->len; i++)
    {
      EcslTaskDef *other = g_ptr_array_index (ctx->state->taskdefs, i);
      if (strcmp (other->family, family) == 0)
        revision = MAX (revision, other->revision);
    }
  revision++;
  resource = g_strdup_printf ("task-definition/%s:%" G_GINT64_FORMAT, family, revision);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "taskDefinitionArn");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "containerDefinitions");
  json_builder_begin_array (b);
  for (guint i = 0; i < json_array_get_length (containers); i++)
    {
      JsonObject *c = json_array_get_object_element (containers, i);
      JsonNode *n;
      if (c == NULL)
        {
          g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION,
                               "'containerDefinitions' must be a list of ContainerDefinition");
          return NULL;
        }
      n = normalize_container (ctx, c, mode, memory != NULL, exec_role != NULL, attrs, host_ports, error);
      if (n == NULL)
        return NULL;
      json_builder_add_value (b, n);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "family");
  json_builder_add_string_value (b, family);
  add_str (b, "taskRoleArn", task_role);
  add_str (b, "executionRoleArn", exec_role);
  add_str (b, "networkMode", network_mode);
  add_int (b, "revision", revision);
  add_node_or_empty (b, "volumes", volumes != NULL ? json_object_get_member (req, "volumes") : NULL);
  add_str (b, "status", "ACTIVE");
  if (task_role != NULL)
    {
      require_attr (attrs, "com.amazonaws.ecs.capability.task-iam-role");
      if (strcmp (mode, "host") == 0)
        require_attr (attrs, "com.amazonaws.ecs.capability.task-iam-role-network-host");
    }
  if (strcmp (mode, "awsvpc") == 0)
    require_attr (attrs, "ecs.capability.task-eni");
  json_builder_set_member_name (b, "requiresAttributes");
  json_builder_begin_array (b);
  for (guint i = 0; i < attrs->len; i++)
    {
      json_builder_begin_object (b);
      add_str (b, "name", g_ptr_array_index (attrs, i));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  add_node_or_empty (b, "placementConstraints",
                     constraints != NULL ? json_object_get_member (req, "placementConstraints") : NULL);
  json_builder_set_member_name (b, "compatibilities");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, "EXTERNAL");
  json_builder_add_string_value (b, "EC2");
  if (fargate_ok)
    json_builder_add_string_value (b, "FARGATE");
  json_builder_end_array (b);
  if (requires != NULL)
    {
      json_builder_set_member_name (b, "requiresCompatibilities");
      json_builder_add_value (b, json_node_copy (json_object_get_member (req, "requiresCompatibilities")));
    }
  add_str (b, "cpu", cpu);
  add_str (b, "memory", memory);
  add_str (b, "pidMode", pid_mode);
  add_str (b, "ipcMode", ipc_mode);
  ecsl_json_add_timestamp (b, "registeredAt", ecsl_now_ms ());
  {
    g_autofree char *by = g_strdup_printf ("arn:aws:iam::%s:root", ctx->config.account_id);
    add_str (b, "registeredBy", by);
  }
  json_builder_end_object (b);

  {
    g_autoptr(JsonNode) def = json_builder_get_root (b);
    JsonObject *o = json_node_get_object (def);
    if (!check_references (json_object_get_array_member (o, "containerDefinitions"), volumes, error))
      return NULL;
    d = ecsl_taskdef_new ();
    d->arn = ecsl_arn (ctx, resource);
    d->family = g_strdup (family);
    d->revision = revision;
    json_object_set_string_member (o, "taskDefinitionArn", d->arn);
    d->def = g_steal_pointer (&def);
    d->tags = g_steal_pointer (&tags);
  }
  g_ptr_array_add (ctx->state->taskdefs, d);
  g_message ("registered task definition %s", d->arn);
  ecsl_state_changed (ctx->state);
  {
    g_autoptr(JsonBuilder) rb = json_builder_new ();
    json_builder_begin_object (rb);
    json_builder_set_member_name (rb, "taskDefinition");
    json_builder_add_value (rb, json_node_copy (d->def));
    add_node_or_empty (rb, "tags", d->tags);
    json_builder_end_object (rb);
    return json_builder_get_root (rb);
  }
}

static EcslTaskDef *
require_taskdef (EcslContext *ctx, JsonObject *req, gboolean need_revision, GError **error)
{
  const char *ref = NULL;
  EcslTaskDef *d;

  if (!ecsl_req_string (req, "taskDefinition", &ref, error))
    return NULL;
  if (ref == NULL)
    {
      client_error (error, "taskDefinition is required.");
      return NULL;
    }
  if (need_revision && strchr (g_str_has_prefix (ref, "arn:") ? strstr (ref, "/") : ref, ':') == NULL)
    {
      client_error (error, "The task definition must be given as family:revision or a full ARN, not '%s'.", ref);
      return NULL;
    }
  d = ecsl_state_find_taskdef (ctx->state, ref, TRUE);
  if (d == NULL)
    {
      client_error (error, "Unable to describe task definition.");
      return NULL;
    }
  return d;
}

static JsonNode *
taskdef_response (EcslTaskDef *d, gboolean with_tags)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "taskDefinition");
  json_builder_add_value (b, json_node_copy (d->def));
  if (with_tags)
    add_node_or_empty (b, "tags", d->tags);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonNode *
op_describe_task_definition (EcslContext *ctx, JsonObject *req, GError **error)
{
  gboolean tags;
  EcslTaskDef *d;

  if (!has_include (req, "TAGS", error, &tags))
    return NULL;
  d = require_taskdef (ctx, req, FALSE, error);
  return d != NULL ? taskdef_response (d, tags) : NULL;
}

static JsonNode *
op_deregister_task_definition (EcslContext *ctx, JsonObject *req, GError **error)
{
  EcslTaskDef *d = require_taskdef (ctx, req, TRUE, error);
  JsonObject *o;

  if (d == NULL)
    return NULL;
  o = json_node_get_object (d->def);
  if (g_strcmp0 (ecsl_json_object_string (o, "status"), "INACTIVE") != 0)
    {
      json_object_set_string_member (o, "status", "INACTIVE");
      json_object_set_member (o, "deregisteredAt", ecsl_json_timestamp_node (ecsl_now_ms ()));
      g_message ("deregistered task definition %s", d->arn);
      ecsl_state_changed (ctx->state);
    }
  return taskdef_response (d, FALSE);
}

typedef struct
{
  char *key; /* family, then the revision zero-padded: compares like (family, revision) */
  const char *arn;
} TaskDefKey;

static void
taskdef_key_free (TaskDefKey *k)
{
  g_free (k->key);
  g_free (k);
}

static gint
compare_taskdef_keys (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const TaskDefKey *ka = *(TaskDefKey *const *) a;
  const TaskDefKey *kb = *(TaskDefKey *const *) b;
  int c = strcmp (ka->key, kb->key);

  return GPOINTER_TO_INT (user_data) ? -c : c;
}

static JsonNode *
op_list_task_definitions (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *prefix = NULL, *status = "ACTIVE", *sort = "ASC";
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) taskdef_key_free);
  g_autoptr(GPtrArray) keys = g_ptr_array_new ();
  g_autoptr(GPtrArray) values = g_ptr_array_new ();
  g_autoptr(JsonBuilder) b = json_builder_new ();
  gboolean desc;

  if (!ecsl_req_string (req, "familyPrefix", &prefix, error) || !ecsl_req_string (req, "status", &status, error)
      || !ecsl_req_string (req, "sort", &sort, error))
    return NULL;
  if (strcmp (status, "ACTIVE") != 0 && strcmp (status, "INACTIVE") != 0 && strcmp (status, "DELETE_IN_PROGRESS") != 0)
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER, "status '%s' is not ACTIVE or INACTIVE.",
                   status);
      return NULL;
    }
  if (strcmp (sort, "ASC") != 0 && strcmp (sort, "DESC") != 0)
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER, "sort '%s' is not ASC or DESC.", sort);
      return NULL;
    }
  desc = strcmp (sort, "DESC") == 0;
  for (guint i = 0; i < ctx->state->taskdefs->len; i++)
    {
      EcslTaskDef *d = g_ptr_array_index (ctx->state->taskdefs, i);
      TaskDefKey *k;
      if ((prefix != NULL && !g_str_has_prefix (d->family, prefix)) || g_strcmp0 (taskdef_status (d), status) != 0)
        continue;
      k = g_new0 (TaskDefKey, 1);
      k->key = g_strdup_printf ("%s\x01%010" G_GINT64_FORMAT, d->family, d->revision);
      k->arn = d->arn;
      g_ptr_array_add (items, k);
    }
  g_ptr_array_sort_with_data (items, compare_taskdef_keys, GINT_TO_POINTER (desc));
  for (guint i = 0; i < items->len; i++)
    {
      TaskDefKey *k = g_ptr_array_index (items, i);
      g_ptr_array_add (keys, k->key);
      g_ptr_array_add (values, (gpointer) k->arn);
    }
  json_builder_begin_object (b);
  if (!ecsl_ecs_paginate (req, keys, values, desc, b, "taskDefinitionArns", error))
    return NULL;
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonNode *
op_list_task_definition_families (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *prefix = NULL, *status = "ACTIVE";
  g_autoptr(GHashTable) active = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) all = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) families = g_ptr_array_new ();
  g_autoptr(JsonBuilder) b = json_builder_new ();
  GHashTableIter iter;
  gpointer key;

  if (!ecsl_req_string (req, "familyPrefix", &prefix, error) || !ecsl_req_string (req, "status", &status, error))
    return NULL;
  if (strcmp (status, "ACTIVE") != 0 && strcmp (status, "INACTIVE") != 0 && strcmp (status, "ALL") != 0)
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                   "status '%s' is not ACTIVE, INACTIVE or ALL.", status);
      return NULL;
    }
  for (guint i = 0; i < ctx->state->taskdefs->len; i++)
    {
      EcslTaskDef *d = g_ptr_array_index (ctx->state->taskdefs, i);
      if (prefix != NULL && !g_str_has_prefix (d->family, prefix))
        continue;
      g_hash_table_add (all, d->family);
      if (g_strcmp0 (taskdef_status (d), "ACTIVE") == 0)
        g_hash_table_add (active, d->family);
    }
  g_hash_table_iter_init (&iter, all);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      gboolean is_active = g_hash_table_contains (active, key);
      if (strcmp (status, "ALL") == 0 || (strcmp (status, "ACTIVE") == 0) == is_active)
        g_ptr_array_add (families, key);
    }
  g_ptr_array_sort (families, compare_strings);
  json_builder_begin_object (b);
  if (!ecsl_ecs_paginate (req, families, families, FALSE, b, "families", error))
    return NULL;
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ------------------------------------------------------------------------------------------- */
/* container instances */

static void
add_resource (JsonBuilder *b, const char *name, const char *type, gint64 integer, GArray *ports)
{
  json_builder_begin_object (b);
  add_str (b, "name", name);
  add_str (b, "type", type);
  json_builder_set_member_name (b, "doubleValue");
  json_builder_add_double_value (b, 0.0);
  add_int (b, "longValue", 0);
  add_int (b, "integerValue", integer);
  if (ports != NULL)
    {
      json_builder_set_member_name (b, "stringSetValue");
      json_builder_begin_array (b);
      for (guint i = 0; i < ports->len; i++)
        {
          g_autofree char *s = g_strdup_printf ("%u", g_array_index (ports, guint16, i));
          json_builder_add_string_value (b, s);
        }
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
}

JsonNode *
ecsl_ecs_render_instance (EcslContext *ctx, EcslInstance *inst, gboolean with_tags)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GArray) tcp = g_array_new (FALSE, FALSE, sizeof (guint16));
  g_autoptr(GArray) udp = g_array_new (FALSE, FALSE, sizeof (guint16));
  gint64 cpu = 0, memory = 0;
  guint running = 0, pending = 0;
  JsonArray *registered;

  ecsl_tasks_instance_usage (ctx, inst, &cpu, &memory, tcp, udp, &running, &pending);
  g_array_prepend_vals (tcp, inst->ports_tcp->data, inst->ports_tcp->len);
  g_array_prepend_vals (udp, inst->ports_udp->data, inst->ports_udp->len);

  json_builder_begin_object (b);
  add_str (b, "containerInstanceArn", inst->arn);
  add_str (b, "ec2InstanceId", inst->ec2_instance_id);
  add_int (b, "version", inst->version);
  if (inst->version_info != NULL)
    {
      json_builder_set_member_name (b, "versionInfo");
      json_builder_add_value (b, json_node_copy (inst->version_info));
    }
  json_builder_set_member_name (b, "remainingResources");
  json_builder_begin_array (b);
  registered = inst->registered_resources != NULL ? json_node_get_array (inst->registered_resources) : NULL;
  for (guint i = 0; registered != NULL && i < json_array_get_length (registered); i++)
    {
      JsonObject *r = json_array_get_object_element (registered, i);
      const char *name = ecsl_json_object_string (r, "name");
      if (g_strcmp0 (name, "CPU") == 0)
        add_resource (b, "CPU", "INTEGER", inst->cpu - cpu, NULL);
      else if (g_strcmp0 (name, "MEMORY") == 0)
        add_resource (b, "MEMORY", "INTEGER", inst->memory - memory, NULL);
      else if (g_strcmp0 (name, "PORTS") == 0)
        add_resource (b, "PORTS", "STRINGSET", 0, tcp);
      else if (g_strcmp0 (name, "PORTS_UDP") == 0)
        add_resource (b, "PORTS_UDP", "STRINGSET", 0, udp);
      else
        json_builder_add_value (b, json_node_copy (json_array_get_element (registered, i)));
    }
  json_builder_end_array (b);
  add_node_or_empty (b, "registeredResources", inst->registered_resources);
  add_str (b, "status", inst->status);
  json_builder_set_member_name (b, "agentConnected");
  json_builder_add_boolean_value (b, inst->agent_connected && strcmp (inst->status, "INACTIVE") != 0);
  add_int (b, "runningTasksCount", running);
  add_int (b, "pendingTasksCount", pending);
  add_node_or_empty (b, "attributes", inst->attributes);
  ecsl_json_add_timestamp (b, "registeredAt", inst->registered_ms);
  add_node_or_empty (b, "attachments", NULL);
  if (with_tags)
    add_node_or_empty (b, "tags", inst->tags);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Attribute names: up to 128 letters, numbers, hyphens, underscores, slashes, back slashes or
 * periods; values: up to 128 of those plus @, colons and spaces. */
static gboolean
valid_attribute (const char *name, const char *value)
{
  gsize len = name != NULL ? strlen (name) : 0;

  if (len == 0 || len > 128)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-_/\\.", *p) == NULL)
      return FALSE;
  if (value == NULL)
    return TRUE;
  if (strlen (value) == 0 || strlen (value) > 128)
    return FALSE;
  for (const char *p = value; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-_/\\.@: ", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
parse_resources (JsonArray *resources, EcslInstance *inst, JsonNode **out_normalized, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  gboolean has_cpu = FALSE, has_memory = FALSE;

  g_array_set_size (inst->ports_tcp, 0);
  g_array_set_size (inst->ports_udp, 0);
  json_builder_begin_array (b);
  for (guint i = 0; resources != NULL && i < json_array_get_length (resources); i++)
    {
      JsonObject *r = json_array_get_object_element (resources, i);
      const char *name = NULL, *type = NULL;
      gint64 integer = 0;
      gboolean has_integer = FALSE;
      g_auto (GStrv) set = NULL;

      if (r == NULL || !ecsl_req_string (r, "name", &name, error) || !ecsl_req_string (r, "type", &type, error)
          || !ecsl_req_int (r, "integerValue", &integer, &has_integer, error)
          || !ecsl_req_strv (r, "stringSetValue", &set, error))
        {
          if (error != NULL && *error == NULL)
            g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION,
                                 "'totalResources' must be a list of Resource");
          return FALSE;
        }
      if (g_strcmp0 (name, "CPU") == 0 || g_strcmp0 (name, "MEMORY") == 0)
        {
          if (g_strcmp0 (type, "INTEGER") != 0 || !has_integer || integer < 0)
            {
              g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                           "Resource %s must be of type INTEGER with a non-negative integerValue.", name);
              return FALSE;
            }
          if (strcmp (name, "CPU") == 0)
            {
              inst->cpu = integer;
              has_cpu = TRUE;
            }
          else
            {
              inst->memory = integer;
              has_memory = TRUE;
            }
          add_resource (b, name, "INTEGER", integer, NULL);
        }
      else if (g_strcmp0 (name, "PORTS") == 0 || g_strcmp0 (name, "PORTS_UDP") == 0)
        {
          GArray *ports = strcmp (name, "PORTS") == 0 ? inst->ports_tcp : inst->ports_udp;
          if (g_strcmp0 (type, "STRINGSET") != 0)
            {
              g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                           "Resource %s must be of type STRINGSET.", name);
              return FALSE;
            }
          for (guint k = 0; set != NULL && set[k] != NULL; k++)
            {
              char *end = NULL;
              gint64 p = g_ascii_strtoll (set[k], &end, 10);
              guint16 port;
              if (end == set[k] || *end != '\0' || p < 1 || p > 65535)
                {
                  g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                               "Resource %s: '%s' is not a port number.", name, set[k]);
                  return FALSE;
                }
              port = (guint16) p;
              g_array_append_val (ports, port);
            }
          add_resource (b, name, "STRINGSET", 0, ports);
        }
      else if (name != NULL)
        json_builder_add_value (b, json_node_copy (json_array_get_element (resources, i)));
    }
  json_builder_end_array (b);
  if (!has_cpu || !has_memory)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                           "totalResources must include CPU and MEMORY.");
      return FALSE;
    }
  *out_normalized = json_builder_get_root (b);
  return TRUE;
}

/* Merge attributes by name into an instance's list (existing ones updated, none removed). */
static void
merge_attributes (EcslInstance *inst, JsonArray *given)
{
  JsonArray *mine;

  if (inst->attributes == NULL)
    inst->attributes = ecsl_ecs_empty_array ();
  mine = json_node_get_array (inst->attributes);
  for (guint i = 0; given != NULL && i < json_array_get_length (given); i++)
    {
      JsonObject *a = json_array_get_object_element (given, i);
      const char *name = ecsl_json_object_string (a, "name");
      const char *value = ecsl_json_object_string (a, "value");
      JsonObject *n = json_object_new ();
      guint k;

      json_object_set_string_member (n, "name", name);
      if (value != NULL)
        json_object_set_string_member (n, "value", value);
      for (k = 0; k < json_array_get_length (mine); k++)
        if (g_strcmp0 (ecsl_json_object_string (json_array_get_object_element (mine, k), "name"), name) == 0)
          break;
      if (k < json_array_get_length (mine))
        {
          json_array_remove_element (mine, k);
        }
      json_array_add_object_element (mine, n);
    }
}

static void
add_attribute (EcslInstance *inst, const char *name, const char *value)
{
  g_autoptr(JsonArray) one = json_array_new ();
  JsonObject *a = json_object_new ();

  if (value == NULL)
    return;
  json_object_set_string_member (a, "name", name);
  json_object_set_string_member (a, "value", value);
  json_array_add_object_element (one, a);
  merge_attributes (inst, one);
}

static JsonNode *
op_register_container_instance (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *cluster_ref = NULL, *arn = NULL, *doc = NULL, *sig = NULL;
  JsonArray *resources = NULL, *attributes = NULL;
  JsonObject *version_info = NULL;
  g_autoptr(JsonNode) tags = NULL;
  g_autoptr(JsonNode) normalized = NULL;
  g_autoptr(JsonNode) doc_node = NULL;
  g_autoptr(EcslInstance) fresh = NULL;
  EcslCluster *cluster;
  EcslInstance *inst = NULL;
  JsonObject *doc_obj = NULL;
  const char *ec2_id = NULL;

  if (!ecsl_req_string (req, "cluster", &cluster_ref, error)
      || !ecsl_req_string (req, "containerInstanceArn", &arn, error)
      || !ecsl_req_string (req, "instanceIdentityDocument", &doc, error)
      || !ecsl_req_string (req, "instanceIdentityDocumentSignature", &sig, error)
      || !ecsl_req_array (req, "totalResources", &resources, error)
      || !ecsl_req_array (req, "attributes", &attributes, error)
      || !ecsl_req_object (req, "versionInfo", &version_info, error) || !validate_tags (req, &tags, error))
    return NULL;
  cluster = ecsl_state_find_cluster (ctx->state, cluster_ref);
  if (cluster == NULL || strcmp (cluster->status, "ACTIVE") != 0)
    return client_error (error, "Cluster not found."), NULL;

  for (guint i = 0; attributes != NULL && i < json_array_get_length (attributes); i++)
    {
      JsonObject *a = json_array_get_object_element (attributes, i);
      const char *name = NULL, *value = NULL;
      if (a == NULL || !ecsl_req_string (a, "name", &name, error) || !ecsl_req_string (a, "value", &value, error))
        {
          if (error != NULL && *error == NULL)
            g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION,
                                 "'attributes' must be a list of Attribute");
          return NULL;
        }
      if (!valid_attribute (name, value))
        {
          g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                       "Attribute '%s'%s%s%s is invalid: names are up to 128 letters, numbers, hyphens, underscores, "
                       "slashes, back slashes or periods; values up to 128 of those, @, colons or spaces.",
                       name != NULL ? name : "", value != NULL ? " = '" : "", value != NULL ? value : "",
                       value != NULL ? "'" : "");
          return NULL;
        }
    }

  if (doc != NULL && *doc != '\0')
    {
      if (sig == NULL || *sig == '\0')
        {
          g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                               "instanceIdentityDocumentSignature is required with instanceIdentityDocument.");
          return NULL;
        }
      if (!ecsl_tls_verify_identity (ctx->tls, doc, sig, error))
        return NULL;
      doc_node = ecsl_json_parse (doc, -1, "instanceIdentityDocument", error);
      if (doc_node == NULL || !JSON_NODE_HOLDS_OBJECT (doc_node))
        {
          g_clear_error (error);
          g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                               "instanceIdentityDocument is not a JSON object.");
          return NULL;
        }
      doc_obj = json_node_get_object (doc_node);
      ec2_id = ecsl_json_object_string (doc_obj, "instanceId");
    }

  if (arn != NULL && *arn != '\0')
    {
      inst = ecsl_state_find_instance (ctx->state, cluster, arn);
      if (inst == NULL)
        return client_error (error, "Container instance %s is not registered in cluster %s.", arn, cluster->name),
               NULL;
      if (strcmp (inst->status, "INACTIVE") == 0)
        return client_error (error, "Container instance %s is inactive (deregistered).", arn), NULL;
    }
  else if (ec2_id != NULL)
    {
      /* The same EC2 instance registering again gets its active registration back. */
      for (guint i = 0; i < ctx->state->instances->len; i++)
        {
          EcslInstance *other = g_ptr_array_index (ctx->state->instances, i);
          if (strcmp (other->cluster_arn, cluster->arn) == 0 && g_strcmp0 (other->ec2_instance_id, ec2_id) == 0
              && strcmp (other->status, "INACTIVE") != 0)
            {
              inst = other;
              break;
            }
        }
    }

  if (inst == NULL)
    {
      g_autofree char *resource = NULL;
      fresh = ecsl_instance_new ();
      fresh->id = ecsl_random_hex (32);
      resource = g_strdup_printf ("container-instance/%s/%s", cluster->name, fresh->id);
      fresh->arn = ecsl_arn (ctx, resource);
      fresh->cluster_arn = g_strdup (cluster->arn);
      fresh->status = g_strdup ("ACTIVE");
      fresh->registered_ms = ecsl_now_ms ();
      if (ec2_id != NULL)
        fresh->ec2_instance_id = g_strdup (ec2_id);
      else
        {
          g_autofree char *hex = ecsl_random_hex (17);
          fresh->ec2_instance_id = g_strconcat ("i-", hex, NULL);
        }
      inst = fresh;
    }
  {
    /* Validate resources into a scratch instance first, so a bad request changes nothing. */
    g_autoptr(EcslInstance) scratch = ecsl_instance_new ();
    if (!parse_resources (resources, scratch, &normalized, error))
      return NULL;
    inst->cpu = scratch->cpu;
    inst->memory = scratch->memory;
    g_array_set_size (inst->ports_tcp, 0);
    g_array_append_vals (inst->ports_tcp, scratch->ports_tcp->data, scratch->ports_tcp->len);
    g_array_set_size (inst->ports_udp, 0);
    g_array_append_vals (inst->ports_udp, scratch->ports_udp->data, scratch->ports_udp->len);
  }
  ecsl_set_json (&inst->registered_resources, g_steal_pointer (&normalized));
  merge_attributes (inst, attributes);
  if (doc_obj != NULL)
    {
      ecsl_set_str (&inst->availability_zone, ecsl_json_object_string (doc_obj, "availabilityZone"));
      ecsl_set_str (&inst->instance_type, ecsl_json_object_string (doc_obj, "instanceType"));
      ecsl_set_str (&inst->ami_id, ecsl_json_object_string (doc_obj, "imageId"));
      add_attribute (inst, "ecs.availability-zone", inst->availability_zone);
      add_attribute (inst, "ecs.instance-type", inst->instance_type);
      add_attribute (inst, "ecs.ami-id", inst->ami_id);
      add_attribute (inst, "ecs.cpu-architecture", ecsl_json_object_string (doc_obj, "architecture"));
    }
  if (version_info != NULL)
    ecsl_set_json (&inst->version_info, json_node_copy (json_object_get_member (req, "versionInfo")));
  if (tags != NULL)
    ecsl_set_json (&inst->tags, g_steal_pointer (&tags));
  inst->version++;
  if (fresh != NULL)
    {
      g_ptr_array_add (ctx->state->instances, g_steal_pointer (&fresh));
      g_message ("registered container instance %s (%s, %" G_GINT64_FORMAT " CPU, %" G_GINT64_FORMAT " MiB)",
                 inst->arn, inst->ec2_instance_id, inst->cpu, inst->memory);
    }
  else
    g_message ("re-registered container instance %s", inst->arn);
  ecsl_state_changed (ctx->state);
  return wrap ("containerInstance", ecsl_ecs_render_instance (ctx, inst, FALSE));
}

static JsonNode *
op_discover_poll_endpoint (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *instance = NULL, *cluster = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autofree char *acs = g_strconcat (ctx->endpoint, "/", NULL);
  g_autofree char *tcs = g_strconcat (ctx->tcs_endpoint, "/", NULL);

  if (!ecsl_req_string (req, "containerInstance", &instance, error) || !ecsl_req_string (req, "cluster", &cluster, error))
    return NULL;
  json_builder_begin_object (b);
  add_str (b, "endpoint", acs);
  add_str (b, "telemetryEndpoint", tcs);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
instance_status_matches (EcslInstance *inst, const char *status)
{
  if (status == NULL)
    return strcmp (inst->status, "INACTIVE") != 0;
  return strcmp (inst->status, status) == 0;
}

static JsonNode *
op_list_container_instances (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *filter = NULL, *status = NULL;
  g_autoptr(GPtrArray) arns = g_ptr_array_new ();
  g_autoptr(JsonBuilder) b = json_builder_new ();
  EcslCluster *cluster;
  static const char *const statuses[] = { "ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING",
                                          "REGISTRATION_FAILED", NULL };

  if (!ecsl_req_string (req, "filter", &filter, error) || !ecsl_req_string (req, "status", &status, error))
    return NULL;
  cluster = ecsl_ecs_require_cluster (ctx, req, error);
  if (cluster == NULL)
    return NULL;
  if (status != NULL && !g_strv_contains (statuses, status))
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                   "status '%s' is not one of ACTIVE, DRAINING, REGISTERING, DEREGISTERING, REGISTRATION_FAILED.",
                   status);
      return NULL;
    }
  if (filter != NULL)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_UNSUPPORTED_FEATURE,
                           "ecs-local does not implement the cluster query language ('filter').");
      return NULL;
    }
  for (guint i = 0; i < ctx->state->instances->len; i++)
    {
      EcslInstance *inst = g_ptr_array_index (ctx->state->instances, i);
      if (strcmp (inst->cluster_arn, cluster->arn) == 0 && instance_status_matches (inst, status))
        g_ptr_array_add (arns, inst->arn);
    }
  g_ptr_array_sort (arns, compare_strings);
  json_builder_begin_object (b);
  if (!ecsl_ecs_paginate (req, arns, arns, FALSE, b, "containerInstanceArns", error))
    return NULL;
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonNode *
op_describe_container_instances (EcslContext *ctx, JsonObject *req, GError **error)
{
  g_auto (GStrv) refs = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GPtrArray) missing = g_ptr_array_new ();
  gboolean tags;
  EcslCluster *cluster;

  if (!ecsl_req_strv (req, "containerInstances", &refs, error) || !has_include (req, "TAGS", error, &tags))
    return NULL;
  cluster = ecsl_ecs_require_cluster (ctx, req, error);
  if (cluster == NULL)
    return NULL;
  if (refs == NULL || g_strv_length (refs) == 0 || g_strv_length (refs) > 100)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                           "containerInstances must name 1 to 100 container instances.");
      return NULL;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "containerInstances");
  json_builder_begin_array (b);
  for (guint i = 0; refs[i] != NULL; i++)
    {
      EcslInstance *inst = ecsl_state_find_instance (ctx->state, cluster, refs[i]);
      if (inst == NULL)
        g_ptr_array_add (missing, refs[i]);
      else
        json_builder_add_value (b, ecsl_ecs_render_instance (ctx, inst, tags));
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "failures");
  json_builder_begin_array (b);
  for (guint i = 0; i < missing->len; i++)
    {
      const char *ref = g_ptr_array_index (missing, i);
      g_autofree char *resource = g_strdup_printf ("container-instance/%s/%s", cluster->name, ref);
      g_autofree char *arn = g_str_has_prefix (ref, "arn:") ? g_strdup (ref) : ecsl_arn (ctx, resource);
      add_failure (b, arn, "MISSING", NULL);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonNode *
op_deregister_container_instance (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *ref = NULL;
  gboolean force = FALSE;
  EcslCluster *cluster;
  EcslInstance *inst;
  guint running = 0, pending = 0;
  gint64 cpu, memory;

  if (!ecsl_req_string (req, "containerInstance", &ref, error) || !ecsl_req_bool (req, "force", &force, error))
    return NULL;
  cluster = ecsl_ecs_require_cluster (ctx, req, error);
  if (cluster == NULL)
    return NULL;
  inst = ecsl_state_find_instance (ctx->state, cluster, ref);
  if (inst == NULL || strcmp (inst->status, "INACTIVE") == 0)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                           "The referenced container instance was not found.");
      return NULL;
    }
  ecsl_tasks_instance_usage (ctx, inst, &cpu, &memory, NULL, NULL, &running, &pending);
  if (running + pending > 0 && !force)
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                   "Found %u running or pending tasks on the container instance; stop them or use force.",
                   running + pending);
      return NULL;
    }
  ecsl_tasks_stop_for_instance (ctx, inst, "Container instance deregistration forced by user");
  ecsl_set_str (&inst->status, "INACTIVE");
  inst->version++;
  g_ptr_array_set_size (inst->outbox, 0);
  g_message ("deregistered container instance %s", inst->arn);
  ecsl_acs_instance_deregistered (ctx, inst);
  ecsl_state_changed (ctx->state);
  return wrap ("containerInstance", ecsl_ecs_render_instance (ctx, inst, FALSE));
}

/* ------------------------------------------------------------------------------------------- */
/* ECR */

JsonNode *
ecsl_ecr_get_authorization_token (EcslContext *ctx, JsonObject *req, GError **error)
{
  g_auto (GStrv) ids = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autofree char *proxy = NULL;
  static const char *const none[] = { NULL };
  const char *const *list;

  if (!ecsl_req_strv (req, "registryIds", &ids, error))
    return NULL;
  for (guint i = 0; ids != NULL && ids[i] != NULL; i++)
    {
      gboolean ok = strlen (ids[i]) == 12;
      for (const char *p = ids[i]; ok && *p != '\0'; p++)
        ok = g_ascii_isdigit (*p);
      if (!ok)
        {
          g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_ECR_INVALID_PARAMETER,
                       "Invalid parameter at 'registryIds' failed to satisfy constraint: 'Member must satisfy "
                       "regular expression pattern: [0-9]{12}' ('%s')", ids[i]);
          return NULL;
        }
    }
  if (ctx->config.ecr_registry == NULL || ctx->config.ecr_password == NULL)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERVER,
                           "ecs-local has no ECR registry configured (--ecr-registry and --ecr-password-file).");
      return NULL;
    }
  proxy = g_strconcat ("https://", ctx->config.ecr_registry, NULL);
  list = ids != NULL && ids[0] != NULL ? (const char *const *) ids : none;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "authorizationData");
  json_builder_begin_array (b);
  for (guint i = 0; i == 0 || list[i] != NULL; i++)
    {
      g_autofree char *plain = g_strconcat ("AWS:", ctx->config.ecr_password, NULL);
      g_autofree char *token = g_base64_encode ((const guint8 *) plain, strlen (plain));
      memset (plain, 0, strlen (plain));
      json_builder_begin_object (b);
      add_str (b, "authorizationToken", token);
      memset (token, 0, strlen (token));
      ecsl_json_add_timestamp (b, "expiresAt", ecsl_now_ms () + 12 * 3600 * 1000);
      add_str (b, "proxyEndpoint", proxy);
      json_builder_end_object (b);
      if (list[i] == NULL)
        break;
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ------------------------------------------------------------------------------------------- */

typedef struct
{
  const char *name;
  EcslOpFunc func;
} Op;

static const Op ops[] = {
  { "CreateCluster", op_create_cluster },
  { "DeleteCluster", op_delete_cluster },
  { "ListClusters", op_list_clusters },
  { "DescribeClusters", op_describe_clusters },
  { "RegisterTaskDefinition", op_register_task_definition },
  { "DescribeTaskDefinition", op_describe_task_definition },
  { "DeregisterTaskDefinition", op_deregister_task_definition },
  { "ListTaskDefinitions", op_list_task_definitions },
  { "ListTaskDefinitionFamilies", op_list_task_definition_families },
  { "RegisterContainerInstance", op_register_container_instance },
  { "DeregisterContainerInstance", op_deregister_container_instance },
  { "ListContainerInstances", op_list_container_instances },
  { "DescribeContainerInstances", op_describe_container_instances },
  { "DiscoverPollEndpoint", op_discover_poll_endpoint },
  { "RunTask", ecsl_op_run_task },
  { "StartTask", ecsl_op_start_task },
  { "StopTask", ecsl_op_stop_task },
  { "DescribeTasks", ecsl_op_describe_tasks },
  { "ListTasks", ecsl_op_list_tasks },
  { "SubmitTaskStateChange", ecsl_op_submit_task_state_change },
  { "SubmitContainerStateChange", ecsl_op_submit_container_state_change },
};

EcslOpFunc
ecsl_ecs_lookup (const char *op)
{
  for (gsize i = 0; i < G_N_ELEMENTS (ops); i++)
    if (strcmp (ops[i].name, op) == 0)
      return ops[i].func;
  return NULL;
}

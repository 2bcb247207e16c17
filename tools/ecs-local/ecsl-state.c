/* ecsl-state.c: the model of ecs-local and its state file (see ecsl-state.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-state.h"
#include "ecsl-util.h"

#include <string.h>

#define STATE_VERSION 1
#define SAVE_DELAY_MS 50

void ecsl_task_stop_refresh (EcslContext *ctx, EcslTask *task); /* ecsl-acs.c */

void
ecsl_set_str (char **field, const char *value)
{
  if (*field == value)
    return;
  g_free (*field);
  *field = g_strdup (value);
}

void
ecsl_set_json (JsonNode **field, JsonNode *value)
{
  if (*field == value)
    return;
  if (*field != NULL)
    json_node_unref (*field);
  *field = value;
}

static void
clear_json (JsonNode **node)
{
  if (*node != NULL)
    json_node_unref (*node);
  *node = NULL;
}

EcslCluster *
ecsl_cluster_new (void)
{
  return g_new0 (EcslCluster, 1);
}

void
ecsl_cluster_free (EcslCluster *c)
{
  if (c == NULL)
    return;
  g_free (c->arn);
  g_free (c->name);
  g_free (c->status);
  clear_json (&c->tags);
  clear_json (&c->settings);
  clear_json (&c->configuration);
  g_free (c);
}

EcslTaskDef *
ecsl_taskdef_new (void)
{
  return g_new0 (EcslTaskDef, 1);
}

void
ecsl_taskdef_free (EcslTaskDef *d)
{
  if (d == NULL)
    return;
  g_free (d->arn);
  g_free (d->family);
  clear_json (&d->def);
  clear_json (&d->tags);
  g_free (d);
}

EcslOutboxEntry *
ecsl_outbox_entry_new (EcslOutboxKind kind)
{
  EcslOutboxEntry *e = g_new0 (EcslOutboxEntry, 1);

  e->kind = kind;
  e->message_id = ecsl_random_uuid ();
  e->task_arns = g_ptr_array_new_with_free_func (g_free);
  e->desired = g_ptr_array_new_with_free_func (g_free);
  e->queued_ms = ecsl_now_ms ();
  return e;
}

void
ecsl_outbox_entry_free (EcslOutboxEntry *e)
{
  if (e == NULL)
    return;
  g_free (e->message_id);
  g_ptr_array_unref (e->task_arns);
  g_ptr_array_unref (e->desired);
  g_free (e->task_arn);
  g_free (e->role_type);
  g_free (e->access_key_id);
  g_free (e);
}

EcslInstance *
ecsl_instance_new (void)
{
  EcslInstance *i = g_new0 (EcslInstance, 1);

  i->ports_tcp = g_array_new (FALSE, FALSE, sizeof (guint16));
  i->ports_udp = g_array_new (FALSE, FALSE, sizeof (guint16));
  i->outbox = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsl_outbox_entry_free);
  i->next_seq_num = 1;
  return i;
}

void
ecsl_instance_free (EcslInstance *i)
{
  if (i == NULL)
    return;
  g_free (i->arn);
  g_free (i->id);
  g_free (i->cluster_arn);
  g_free (i->ec2_instance_id);
  g_free (i->status);
  g_free (i->availability_zone);
  g_free (i->instance_type);
  g_free (i->ami_id);
  clear_json (&i->registered_resources);
  clear_json (&i->attributes);
  clear_json (&i->version_info);
  clear_json (&i->tags);
  g_array_unref (i->ports_tcp);
  g_array_unref (i->ports_udp);
  g_ptr_array_unref (i->outbox);
  g_free (i);
}

EcslContainer *
ecsl_container_new (void)
{
  return g_new0 (EcslContainer, 1);
}

void
ecsl_container_free (EcslContainer *c)
{
  if (c == NULL)
    return;
  g_free (c->name);
  g_free (c->arn);
  g_free (c->image);
  g_free (c->last_status);
  g_free (c->reason);
  g_free (c->runtime_id);
  g_free (c->image_digest);
  clear_json (&c->network_bindings);
  g_free (c);
}

EcslTask *
ecsl_task_new (void)
{
  EcslTask *t = g_new0 (EcslTask, 1);

  t->containers = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsl_container_free);
  t->ports_tcp = g_array_new (FALSE, FALSE, sizeof (guint16));
  t->ports_udp = g_array_new (FALSE, FALSE, sizeof (guint16));
  return t;
}

void
ecsl_task_free (EcslTask *t)
{
  if (t == NULL)
    return;
  if (t->refresh_source != 0)
    g_source_remove (t->refresh_source);
  g_free (t->arn);
  g_free (t->id);
  g_free (t->cluster_arn);
  g_free (t->instance_arn);
  g_free (t->taskdef_arn);
  g_free (t->last_status);
  g_free (t->desired_status);
  clear_json (&t->overrides);
  g_free (t->started_by);
  g_free (t->group);
  g_free (t->stopped_reason);
  g_free (t->stop_code);
  g_free (t->availability_zone);
  clear_json (&t->tags);
  g_ptr_array_unref (t->containers);
  g_array_unref (t->ports_tcp);
  g_array_unref (t->ports_udp);
  g_free (t->role_credentials_id);
  g_free (t->execution_credentials_id);
  g_free (t);
}

/* ------------------------------------------------------------------------------------------- */
/* lookups */

EcslCluster *
ecsl_state_cluster_by_arn (EcslState *self, const char *arn)
{
  for (guint i = 0; i < self->clusters->len; i++)
    {
      EcslCluster *c = g_ptr_array_index (self->clusters, i);
      if (g_strcmp0 (c->arn, arn) == 0)
        return c;
    }
  return NULL;
}

EcslCluster *
ecsl_state_find_cluster (EcslState *self, const char *ref)
{
  if (ref == NULL || *ref == '\0')
    ref = "default";
  for (guint i = 0; i < self->clusters->len; i++)
    {
      EcslCluster *c = g_ptr_array_index (self->clusters, i);
      if (g_str_has_prefix (ref, "arn:") ? strcmp (c->arn, ref) == 0 : strcmp (c->name, ref) == 0)
        return c;
    }
  return NULL;
}

EcslInstance *
ecsl_state_instance_by_arn (EcslState *self, const char *arn)
{
  for (guint i = 0; i < self->instances->len; i++)
    {
      EcslInstance *inst = g_ptr_array_index (self->instances, i);
      if (g_strcmp0 (inst->arn, arn) == 0)
        return inst;
    }
  return NULL;
}

EcslInstance *
ecsl_state_find_instance (EcslState *self, EcslCluster *cluster, const char *ref)
{
  if (ref == NULL)
    return NULL;
  for (guint i = 0; i < self->instances->len; i++)
    {
      EcslInstance *inst = g_ptr_array_index (self->instances, i);
      if (cluster != NULL && strcmp (inst->cluster_arn, cluster->arn) != 0)
        continue;
      if (strcmp (inst->arn, ref) == 0 || strcmp (inst->id, ref) == 0)
        return inst;
    }
  return NULL;
}

EcslTask *
ecsl_state_find_task (EcslState *self, EcslCluster *cluster, const char *ref)
{
  EcslTask *t;
  const char *slash;

  if (ref == NULL)
    return NULL;
  t = g_hash_table_lookup (self->tasks, ref);
  if (t == NULL)
    {
      /* A task ID, or an ARN in the old format (task/<id>): match on the ID. */
      GHashTableIter iter;
      slash = strrchr (ref, '/');
      g_hash_table_iter_init (&iter, self->tasks);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
        if (strcmp (t->id, slash != NULL && g_str_has_prefix (ref, "arn:") ? slash + 1 : ref) == 0)
          break;
        else
          t = NULL;
    }
  if (t != NULL && cluster != NULL && strcmp (t->cluster_arn, cluster->arn) != 0)
    return NULL;
  return t;
}

EcslTaskDef *
ecsl_state_taskdef_by_arn (EcslState *self, const char *arn)
{
  for (guint i = 0; i < self->taskdefs->len; i++)
    {
      EcslTaskDef *d = g_ptr_array_index (self->taskdefs, i);
      if (g_strcmp0 (d->arn, arn) == 0)
        return d;
    }
  return NULL;
}

static const char *
taskdef_status (EcslTaskDef *d)
{
  return ecsl_json_object_string (json_node_get_object (d->def), "status");
}

EcslTaskDef *
ecsl_state_find_taskdef (EcslState *self, const char *ref, gboolean latest_active_only)
{
  g_autofree char *family = NULL;
  const char *colon;
  gint64 revision = 0;
  EcslTaskDef *best = NULL;

  if (ref == NULL || *ref == '\0')
    return NULL;
  if (g_str_has_prefix (ref, "arn:"))
    {
      const char *slash = strstr (ref, ":task-definition/");
      if (slash == NULL)
        return NULL;
      ref = slash + strlen (":task-definition/");
    }
  colon = strrchr (ref, ':');
  if (colon != NULL)
    {
      char *end = NULL;
      family = g_strndup (ref, colon - ref);
      revision = g_ascii_strtoll (colon + 1, &end, 10);
      if (end == colon + 1 || *end != '\0' || revision <= 0)
        return NULL;
    }
  else
    family = g_strdup (ref);

  for (guint i = 0; i < self->taskdefs->len; i++)
    {
      EcslTaskDef *d = g_ptr_array_index (self->taskdefs, i);
      if (strcmp (d->family, family) != 0)
        continue;
      if (revision > 0)
        {
          if (d->revision == revision)
            return d;
          continue;
        }
      if (latest_active_only && g_strcmp0 (taskdef_status (d), "ACTIVE") != 0)
        continue;
      if (best == NULL || d->revision > best->revision)
        best = d;
    }
  return best;
}

static gint
compare_task_arn (gconstpointer a, gconstpointer b)
{
  const EcslTask *ta = *(EcslTask *const *) a;
  const EcslTask *tb = *(EcslTask *const *) b;

  return strcmp (ta->arn, tb->arn);
}

GPtrArray *
ecsl_state_sorted_tasks (EcslState *self)
{
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter iter;
  EcslTask *t;

  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
    g_ptr_array_add (out, t);
  g_ptr_array_sort (out, compare_task_arn);
  return out;
}

/* ------------------------------------------------------------------------------------------- */
/* serialisation */

static void
put_str (JsonBuilder *b, const char *name, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

static void
put_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
put_node (JsonBuilder *b, const char *name, JsonNode *node)
{
  if (node == NULL)
    return;
  json_builder_set_member_name (b, name);
  json_builder_add_value (b, json_node_copy (node));
}

static void
put_ports (JsonBuilder *b, const char *name, GArray *ports)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint i = 0; i < ports->len; i++)
    json_builder_add_int_value (b, g_array_index (ports, guint16, i));
  json_builder_end_array (b);
}

static void
get_ports (JsonObject *o, const char *name, GArray *ports)
{
  JsonArray *a = ecsl_json_object_array (o, name);

  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      guint16 p = (guint16) json_array_get_int_element (a, i);
      g_array_append_val (ports, p);
    }
}

static gint64
get_int (JsonObject *o, const char *name)
{
  gint64 v = 0;

  ecsl_json_object_int (o, name, &v);
  return v;
}

static JsonNode *
get_node (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  return n != NULL && !JSON_NODE_HOLDS_NULL (n) ? json_node_copy (n) : NULL;
}

static void
serialize_outbox (JsonBuilder *b, GPtrArray *outbox)
{
  json_builder_set_member_name (b, "outbox");
  json_builder_begin_array (b);
  for (guint i = 0; i < outbox->len; i++)
    {
      EcslOutboxEntry *e = g_ptr_array_index (outbox, i);
      json_builder_begin_object (b);
      put_str (b, "messageId", e->message_id);
      put_int (b, "kind", e->kind);
      put_int (b, "seqNum", e->seq_num);
      put_str (b, "taskArn", e->task_arn);
      put_str (b, "roleType", e->role_type);
      put_str (b, "accessKeyId", e->access_key_id);
      put_int (b, "queuedMs", e->queued_ms);
      json_builder_set_member_name (b, "tasks");
      json_builder_begin_array (b);
      for (guint k = 0; k < e->task_arns->len; k++)
        {
          json_builder_begin_object (b);
          put_str (b, "arn", g_ptr_array_index (e->task_arns, k));
          put_str (b, "desiredStatus", g_ptr_array_index (e->desired, k));
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static void
restore_outbox (JsonObject *o, GPtrArray *outbox)
{
  JsonArray *a = ecsl_json_object_array (o, "outbox");

  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      JsonObject *eo = json_array_get_object_element (a, i);
      EcslOutboxEntry *e;
      JsonArray *tasks;

      if (eo == NULL || ecsl_json_object_string (eo, "messageId") == NULL)
        continue;
      e = ecsl_outbox_entry_new ((EcslOutboxKind) get_int (eo, "kind"));
      ecsl_set_str (&e->message_id, ecsl_json_object_string (eo, "messageId"));
      e->seq_num = get_int (eo, "seqNum");
      e->task_arn = g_strdup (ecsl_json_object_string (eo, "taskArn"));
      e->role_type = g_strdup (ecsl_json_object_string (eo, "roleType"));
      e->access_key_id = g_strdup (ecsl_json_object_string (eo, "accessKeyId"));
      e->queued_ms = get_int (eo, "queuedMs");
      tasks = ecsl_json_object_array (eo, "tasks");
      for (guint k = 0; tasks != NULL && k < json_array_get_length (tasks); k++)
        {
          JsonObject *to = json_array_get_object_element (tasks, k);
          if (to == NULL)
            continue;
          g_ptr_array_add (e->task_arns, g_strdup (ecsl_json_object_string (to, "arn")));
          g_ptr_array_add (e->desired, g_strdup (ecsl_json_object_string (to, "desiredStatus")));
        }
      g_ptr_array_add (outbox, e);
    }
}

static JsonNode *
serialize (EcslState *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GPtrArray) tasks = ecsl_state_sorted_tasks (self);

  json_builder_begin_object (b);
  put_int (b, "version", STATE_VERSION);

  json_builder_set_member_name (b, "clusters");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->clusters->len; i++)
    {
      EcslCluster *c = g_ptr_array_index (self->clusters, i);
      json_builder_begin_object (b);
      put_str (b, "arn", c->arn);
      put_str (b, "name", c->name);
      put_str (b, "status", c->status);
      put_node (b, "tags", c->tags);
      put_node (b, "settings", c->settings);
      put_node (b, "configuration", c->configuration);
      put_int (b, "createdMs", c->created_ms);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "taskDefinitions");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->taskdefs->len; i++)
    {
      EcslTaskDef *d = g_ptr_array_index (self->taskdefs, i);
      json_builder_begin_object (b);
      put_str (b, "arn", d->arn);
      put_str (b, "family", d->family);
      put_int (b, "revision", d->revision);
      put_node (b, "definition", d->def);
      put_node (b, "tags", d->tags);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "containerInstances");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->instances->len; i++)
    {
      EcslInstance *inst = g_ptr_array_index (self->instances, i);
      json_builder_begin_object (b);
      put_str (b, "arn", inst->arn);
      put_str (b, "id", inst->id);
      put_str (b, "clusterArn", inst->cluster_arn);
      put_str (b, "ec2InstanceId", inst->ec2_instance_id);
      put_str (b, "status", inst->status);
      put_str (b, "availabilityZone", inst->availability_zone);
      put_str (b, "instanceType", inst->instance_type);
      put_str (b, "amiId", inst->ami_id);
      put_node (b, "registeredResources", inst->registered_resources);
      put_node (b, "attributes", inst->attributes);
      put_node (b, "versionInfo", inst->version_info);
      put_node (b, "tags", inst->tags);
      put_int (b, "registeredMs", inst->registered_ms);
      put_int (b, "version", inst->version);
      put_int (b, "cpu", inst->cpu);
      put_int (b, "memory", inst->memory);
      put_ports (b, "portsTcp", inst->ports_tcp);
      put_ports (b, "portsUdp", inst->ports_udp);
      put_int (b, "nextSeqNum", inst->next_seq_num);
      serialize_outbox (b, inst->outbox);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "tasks");
  json_builder_begin_array (b);
  for (guint i = 0; i < tasks->len; i++)
    {
      EcslTask *t = g_ptr_array_index (tasks, i);
      json_builder_begin_object (b);
      put_str (b, "arn", t->arn);
      put_str (b, "id", t->id);
      put_str (b, "clusterArn", t->cluster_arn);
      put_str (b, "instanceArn", t->instance_arn);
      put_str (b, "taskDefinitionArn", t->taskdef_arn);
      put_str (b, "lastStatus", t->last_status);
      put_str (b, "desiredStatus", t->desired_status);
      put_node (b, "overrides", t->overrides);
      put_str (b, "startedBy", t->started_by);
      put_str (b, "group", t->group);
      put_str (b, "stoppedReason", t->stopped_reason);
      put_str (b, "stopCode", t->stop_code);
      put_str (b, "availabilityZone", t->availability_zone);
      put_int (b, "createdMs", t->created_ms);
      put_int (b, "startedMs", t->started_ms);
      put_int (b, "stoppingMs", t->stopping_ms);
      put_int (b, "stoppedMs", t->stopped_ms);
      put_int (b, "pullStartedMs", t->pull_started_ms);
      put_int (b, "pullStoppedMs", t->pull_stopped_ms);
      put_int (b, "executionStoppedMs", t->execution_stopped_ms);
      put_int (b, "connectivityMs", t->connectivity_ms);
      put_int (b, "version", t->version);
      put_node (b, "tags", t->tags);
      put_int (b, "cpu", t->cpu);
      put_int (b, "memory", t->memory);
      put_ports (b, "portsTcp", t->ports_tcp);
      put_ports (b, "portsUdp", t->ports_udp);
      put_str (b, "roleCredentialsId", t->role_credentials_id);
      put_str (b, "executionCredentialsId", t->execution_credentials_id);
      json_builder_set_member_name (b, "containers");
      json_builder_begin_array (b);
      for (guint k = 0; k < t->containers->len; k++)
        {
          EcslContainer *c = g_ptr_array_index (t->containers, k);
          json_builder_begin_object (b);
          put_str (b, "name", c->name);
          put_str (b, "arn", c->arn);
          put_str (b, "image", c->image);
          put_str (b, "lastStatus", c->last_status);
          if (c->has_exit_code)
            put_int (b, "exitCode", c->exit_code);
          put_str (b, "reason", c->reason);
          put_str (b, "runtimeId", c->runtime_id);
          put_str (b, "imageDigest", c->image_digest);
          put_node (b, "networkBindings", c->network_bindings);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "credentials");
  json_builder_add_value (b, ecsl_credentials_serialize (self->ctx->creds));
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

#define S(o, name) g_strdup (ecsl_json_object_string ((o), (name)))

static gboolean
restore (EcslState *self, JsonObject *root, GError **error)
{
  JsonArray *a;
  gint64 version = 0;

  if (!ecsl_json_object_int (root, "version", &version) || version != STATE_VERSION)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "state file version %" G_GINT64_FORMAT
                   " is not %d (this ecs-local understands only that one)", version, STATE_VERSION);
      return FALSE;
    }
  a = ecsl_json_object_array (root, "clusters");
  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      EcslCluster *c = ecsl_cluster_new ();
      c->arn = S (o, "arn");
      c->name = S (o, "name");
      c->status = S (o, "status");
      c->tags = get_node (o, "tags");
      c->settings = get_node (o, "settings");
      c->configuration = get_node (o, "configuration");
      c->created_ms = get_int (o, "createdMs");
      if (c->arn == NULL || c->name == NULL || c->status == NULL)
        {
          ecsl_cluster_free (c);
          continue;
        }
      g_ptr_array_add (self->clusters, c);
    }
  a = ecsl_json_object_array (root, "taskDefinitions");
  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      EcslTaskDef *d = ecsl_taskdef_new ();
      d->arn = S (o, "arn");
      d->family = S (o, "family");
      d->revision = get_int (o, "revision");
      d->def = get_node (o, "definition");
      d->tags = get_node (o, "tags");
      if (d->arn == NULL || d->family == NULL || d->def == NULL || !JSON_NODE_HOLDS_OBJECT (d->def))
        {
          ecsl_taskdef_free (d);
          continue;
        }
      g_ptr_array_add (self->taskdefs, d);
    }
  a = ecsl_json_object_array (root, "containerInstances");
  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      EcslInstance *inst = ecsl_instance_new ();
      inst->arn = S (o, "arn");
      inst->id = S (o, "id");
      inst->cluster_arn = S (o, "clusterArn");
      inst->ec2_instance_id = S (o, "ec2InstanceId");
      inst->status = S (o, "status");
      inst->availability_zone = S (o, "availabilityZone");
      inst->instance_type = S (o, "instanceType");
      inst->ami_id = S (o, "amiId");
      inst->registered_resources = get_node (o, "registeredResources");
      inst->attributes = get_node (o, "attributes");
      inst->version_info = get_node (o, "versionInfo");
      inst->tags = get_node (o, "tags");
      inst->registered_ms = get_int (o, "registeredMs");
      inst->version = get_int (o, "version");
      inst->cpu = get_int (o, "cpu");
      inst->memory = get_int (o, "memory");
      get_ports (o, "portsTcp", inst->ports_tcp);
      get_ports (o, "portsUdp", inst->ports_udp);
      inst->next_seq_num = MAX (1, get_int (o, "nextSeqNum"));
      restore_outbox (o, inst->outbox);
      if (inst->arn == NULL || inst->id == NULL || inst->cluster_arn == NULL || inst->status == NULL)
        {
          ecsl_instance_free (inst);
          continue;
        }
      g_ptr_array_add (self->instances, inst);
    }
  a = ecsl_json_object_array (root, "tasks");
  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      EcslTask *t = ecsl_task_new ();
      JsonArray *containers;

      t->arn = S (o, "arn");
      t->id = S (o, "id");
      t->cluster_arn = S (o, "clusterArn");
      t->instance_arn = S (o, "instanceArn");
      t->taskdef_arn = S (o, "taskDefinitionArn");
      t->last_status = S (o, "lastStatus");
      t->desired_status = S (o, "desiredStatus");
      t->overrides = get_node (o, "overrides");
      t->started_by = S (o, "startedBy");
      t->group = S (o, "group");
      t->stopped_reason = S (o, "stoppedReason");
      t->stop_code = S (o, "stopCode");
      t->availability_zone = S (o, "availabilityZone");
      t->created_ms = get_int (o, "createdMs");
      t->started_ms = get_int (o, "startedMs");
      t->stopping_ms = get_int (o, "stoppingMs");
      t->stopped_ms = get_int (o, "stoppedMs");
      t->pull_started_ms = get_int (o, "pullStartedMs");
      t->pull_stopped_ms = get_int (o, "pullStoppedMs");
      t->execution_stopped_ms = get_int (o, "executionStoppedMs");
      t->connectivity_ms = get_int (o, "connectivityMs");
      t->version = get_int (o, "version");
      t->tags = get_node (o, "tags");
      t->cpu = get_int (o, "cpu");
      t->memory = get_int (o, "memory");
      get_ports (o, "portsTcp", t->ports_tcp);
      get_ports (o, "portsUdp", t->ports_udp);
      t->role_credentials_id = S (o, "roleCredentialsId");
      t->execution_credentials_id = S (o, "executionCredentialsId");
      containers = ecsl_json_object_array (o, "containers");
      for (guint k = 0; containers != NULL && k < json_array_get_length (containers); k++)
        {
          JsonObject *co = json_array_get_object_element (containers, k);
          EcslContainer *c = ecsl_container_new ();
          c->name = S (co, "name");
          c->arn = S (co, "arn");
          c->image = S (co, "image");
          c->last_status = S (co, "lastStatus");
          c->has_exit_code = ecsl_json_object_int (co, "exitCode", &c->exit_code);
          c->reason = S (co, "reason");
          c->runtime_id = S (co, "runtimeId");
          c->image_digest = S (co, "imageDigest");
          c->network_bindings = get_node (co, "networkBindings");
          g_ptr_array_add (t->containers, c);
        }
      if (t->arn == NULL || t->id == NULL || t->cluster_arn == NULL || t->last_status == NULL
          || t->desired_status == NULL || t->taskdef_arn == NULL)
        {
          ecsl_task_free (t);
          continue;
        }
      g_hash_table_replace (self->tasks, t->arn, t);
    }
  ecsl_credentials_restore (self->ctx->creds, json_object_get_member (root, "credentials"));
  return TRUE;
}

#undef S

static gboolean
load (EcslState *self, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  g_autoptr(JsonNode) root = NULL;

  if (!g_file_get_contents (self->path, &contents, &len, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: ", self->path);
      return FALSE;
    }
  root = ecsl_json_parse (contents, (gssize) len, "the state file", error);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      if (root != NULL)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not a JSON object");
      g_prefix_error (error, "%s: ", self->path);
      return FALSE;
    }
  if (!restore (self, json_node_get_object (root), error))
    {
      g_prefix_error (error, "%s: ", self->path);
      return FALSE;
    }
  g_message ("restored %u clusters, %u task definitions, %u container instances, %u tasks from %s",
             self->clusters->len, self->taskdefs->len, self->instances->len, g_hash_table_size (self->tasks),
             self->path);
  return TRUE;
}

EcslState *
ecsl_state_new (EcslContext *ctx, GError **error)
{
  EcslState *self = g_new0 (EcslState, 1);

  self->ctx = ctx;
  self->clusters = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsl_cluster_free);
  self->taskdefs = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsl_taskdef_free);
  self->instances = g_ptr_array_new_with_free_func ((GDestroyNotify) ecsl_instance_free);
  self->tasks = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) ecsl_task_free);
  if (ctx->config.persist)
    {
      self->path = g_build_filename (ctx->config.state_dir, "state.json", NULL);
      if (!load (self, error))
        {
          ecsl_state_free (self);
          return NULL;
        }
    }
  return self;
}

void
ecsl_state_free (EcslState *self)
{
  if (self == NULL)
    return;
  if (self->save_source != 0)
    g_source_remove (self->save_source);
  if (self->purge_source != 0)
    g_source_remove (self->purge_source);
  g_hash_table_unref (self->tasks);
  g_ptr_array_unref (self->instances);
  g_ptr_array_unref (self->taskdefs);
  g_ptr_array_unref (self->clusters);
  g_free (self->path);
  g_free (self);
}

/* ------------------------------------------------------------------------------------------- */
/* saving */

typedef struct
{
  char *path;
  char *data;
} SaveJob;

static void
save_job_free (SaveJob *job)
{
  g_free (job->path);
  g_free (job->data);
  g_free (job);
}

static void
save_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  SaveJob *job = task_data;
  GError *error = NULL;

  if (!ecsl_write_file (job->path, job->data, -1, 0600, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void start_save (EcslState *self);

static void
save_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcslState *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("cannot save %s: %s", self->path, error->message);
  self->saving = FALSE;
  if (self->save_again)
    {
      self->save_again = FALSE;
      start_save (self);
    }
}

static void
start_save (EcslState *self)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, save_ready_cb, self);
  g_autoptr(JsonNode) root = serialize (self);
  SaveJob *job = g_new0 (SaveJob, 1);

  job->path = g_strdup (self->path);
  job->data = ecsl_json_to_string (root);
  self->saving = TRUE;
  g_task_set_task_data (task, job, (GDestroyNotify) save_job_free);
  g_task_run_in_thread (task, save_thread);
}

static gboolean
save_timeout_cb (gpointer user_data)
{
  EcslState *self = user_data;

  self->save_source = 0;
  if (self->saving)
    self->save_again = TRUE;
  else
    start_save (self);
  return G_SOURCE_REMOVE;
}

void
ecsl_state_changed (EcslState *self)
{
  if (self->path == NULL || self->save_source != 0)
    return;
  self->save_source = g_timeout_add (SAVE_DELAY_MS, save_timeout_cb, self);
}

void
ecsl_state_flush (EcslState *self)
{
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *data = NULL;
  g_autoptr(GError) error = NULL;

  if (self->path == NULL)
    return;
  /* Let a save in flight finish first, so the last write is this one. */
  while (self->saving)
    g_main_context_iteration (NULL, TRUE);
  if (self->save_source != 0)
    {
      g_source_remove (self->save_source);
      self->save_source = 0;
    }
  root = serialize (self);
  data = ecsl_json_to_string (root);
  if (!ecsl_write_file (self->path, data, -1, 0600, &error))
    g_warning ("cannot save %s: %s", self->path, error->message);
}

/* ------------------------------------------------------------------------------------------- */
/* purging STOPPED tasks */

static gboolean
purge_cb (gpointer user_data)
{
  EcslState *self = user_data;
  gint64 now = ecsl_now_ms ();
  gint64 retention = self->ctx->config.stopped_retention_ms;
  GHashTableIter iter;
  EcslTask *t;
  guint purged = 0;

  self->purge_source = 0;
  self->purge_at_ms = 0;
  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
    {
      if (g_strcmp0 (t->last_status, "STOPPED") != 0 || t->stopped_ms + retention > now)
        continue;
      ecsl_task_stop_refresh (self->ctx, t);
      ecsl_credentials_forget_task (self->ctx->creds, t->arn);
      g_hash_table_iter_remove (&iter);
      purged++;
    }
  if (purged > 0)
    {
      g_debug ("forgot %u stopped tasks past their retention", purged);
      ecsl_state_changed (self);
    }
  ecsl_state_schedule_purge (self);
  return G_SOURCE_REMOVE;
}

void
ecsl_state_schedule_purge (EcslState *self)
{
  GHashTableIter iter;
  EcslTask *t;
  gint64 next = 0;
  gint64 now = ecsl_now_ms ();

  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
    {
      gint64 at;
      if (g_strcmp0 (t->last_status, "STOPPED") != 0)
        continue;
      at = t->stopped_ms + self->ctx->config.stopped_retention_ms;
      if (next == 0 || at < next)
        next = at;
    }
  if (next == 0 || (self->purge_source != 0 && self->purge_at_ms <= next))
    return;
  if (self->purge_source != 0)
    g_source_remove (self->purge_source);
  self->purge_at_ms = next;
  self->purge_source = g_timeout_add ((guint) CLAMP (next - now + 10, 0, G_MAXINT), purge_cb, self);
}

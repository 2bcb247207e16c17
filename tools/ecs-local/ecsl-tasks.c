/* ecsl-tasks.c: RunTask, StartTask, StopTask, DescribeTasks, ListTasks, placement, and the
 * agent's SubmitTaskStateChange / SubmitContainerStateChange (see ecsl-ecs.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-acs.h"
#include "ecsl-ecs.h"
#include "ecsl-util.h"

#include <string.h>

#define MAX_REASON 255

/* What a task needs from an instance. */
typedef struct
{
  gint64 cpu;
  gint64 memory;
  GArray *tcp; /* guint16 host ports */
  GArray *udp;
  JsonArray *requires; /* requiresAttributes of the task definition (borrowed) */
} Needs;

static void
needs_clear (Needs *n)
{
  g_clear_pointer (&n->tcp, g_array_unref);
  g_clear_pointer (&n->udp, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Needs, needs_clear)

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
add_empty_array (JsonBuilder *b, const char *name)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  json_builder_end_array (b);
}

static gboolean
invalid (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *format, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER, msg);
  return FALSE;
}

static EcslTaskDef *
task_def (EcslContext *ctx, EcslTask *task)
{
  return ecsl_state_taskdef_by_arn (ctx->state, task->taskdef_arn);
}

JsonObject *
ecsl_taskdef_container (EcslTaskDef *def, const char *name)
{
  JsonArray *containers = ecsl_json_object_array (json_node_get_object (def->def), "containerDefinitions");

  for (guint i = 0; containers != NULL && i < json_array_get_length (containers); i++)
    {
      JsonObject *c = json_array_get_object_element (containers, i);
      if (g_strcmp0 (ecsl_json_object_string (c, "name"), name) == 0)
        return c;
    }
  return NULL;
}

JsonObject *
ecsl_task_container_override (EcslTask *task, const char *name)
{
  JsonArray *overrides;

  if (task->overrides == NULL)
    return NULL;
  overrides = ecsl_json_object_array (json_node_get_object (task->overrides), "containerOverrides");
  for (guint i = 0; overrides != NULL && i < json_array_get_length (overrides); i++)
    {
      JsonObject *o = json_array_get_object_element (overrides, i);
      if (g_strcmp0 (ecsl_json_object_string (o, "name"), name) == 0)
        return o;
    }
  return NULL;
}

const char *
ecsl_taskdef_network_mode (EcslTaskDef *def)
{
  const char *mode = ecsl_json_object_string (json_node_get_object (def->def), "networkMode");

  return mode != NULL ? mode : "bridge";
}

/* A container's value after overrides; FALSE when neither sets it. */
static gboolean
effective_int (JsonObject *def, JsonObject *override, const char *member, gint64 *out)
{
  if (override != NULL && ecsl_json_object_int (override, member, out))
    return TRUE;
  return ecsl_json_object_int (def, member, out);
}

static const char *
task_level (EcslTaskDef *def, JsonNode *overrides, const char *member)
{
  const char *v = overrides != NULL ? ecsl_json_object_string (json_node_get_object (overrides), member) : NULL;

  return v != NULL ? v : ecsl_json_object_string (json_node_get_object (def->def), member);
}

static void
compute_needs (EcslTaskDef *def, JsonNode *overrides, Needs *needs)
{
  JsonObject *d = json_node_get_object (def->def);
  JsonArray *containers = ecsl_json_object_array (d, "containerDefinitions");
  const char *mode = ecsl_taskdef_network_mode (def);
  const char *cpu = task_level (def, overrides, "cpu");
  const char *memory = task_level (def, overrides, "memory");
  gint64 sum_cpu = 0, sum_memory = 0;

  needs->tcp = g_array_new (FALSE, FALSE, sizeof (guint16));
  needs->udp = g_array_new (FALSE, FALSE, sizeof (guint16));
  needs->requires = ecsl_json_object_array (d, "requiresAttributes");
  for (guint i = 0; containers != NULL && i < json_array_get_length (containers); i++)
    {
      JsonObject *c = json_array_get_object_element (containers, i);
      const char *name = ecsl_json_object_string (c, "name");
      JsonObject *o = NULL;
      JsonArray *ports = ecsl_json_object_array (c, "portMappings");
      gint64 v = 0;

      if (overrides != NULL)
        {
          JsonArray *all = ecsl_json_object_array (json_node_get_object (overrides), "containerOverrides");
          for (guint k = 0; all != NULL && k < json_array_get_length (all); k++)
            if (g_strcmp0 (ecsl_json_object_string (json_array_get_object_element (all, k), "name"), name) == 0)
              o = json_array_get_object_element (all, k);
        }
      if (effective_int (c, o, "cpu", &v))
        sum_cpu += v;
      if (effective_int (c, o, "memoryReservation", &v) || effective_int (c, o, "memory", &v))
        sum_memory += v;
      if (strcmp (mode, "awsvpc") == 0)
        continue;
      for (guint k = 0; ports != NULL && k < json_array_get_length (ports); k++)
        {
          JsonObject *pm = json_array_get_object_element (ports, k);
          gint64 host = 0;
          guint16 port;
          ecsl_json_object_int (pm, "hostPort", &host);
          if (host <= 0)
            continue;
          port = (guint16) host;
          if (g_strcmp0 (ecsl_json_object_string (pm, "protocol"), "udp") == 0)
            g_array_append_val (needs->udp, port);
          else
            g_array_append_val (needs->tcp, port);
        }
    }
  needs->cpu = cpu != NULL ? ecsl_parse_task_cpu (cpu) : sum_cpu;
  needs->memory = memory != NULL ? ecsl_parse_task_memory (memory) : sum_memory;
}

void
ecsl_tasks_instance_usage (EcslContext *ctx, EcslInstance *inst, gint64 *out_cpu, gint64 *out_memory, GArray *out_tcp,
                           GArray *out_udp, guint *out_running, guint *out_pending)
{
  GHashTableIter iter;
  EcslTask *t;

  *out_cpu = *out_memory = 0;
  *out_running = *out_pending = 0;
  g_hash_table_iter_init (&iter, ctx->state->tasks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
    {
      if (g_strcmp0 (t->instance_arn, inst->arn) != 0 || strcmp (t->last_status, "STOPPED") == 0)
        continue;
      *out_cpu += t->cpu;
      *out_memory += t->memory;
      if (out_tcp != NULL)
        g_array_append_vals (out_tcp, t->ports_tcp->data, t->ports_tcp->len);
      if (out_udp != NULL)
        g_array_append_vals (out_udp, t->ports_udp->data, t->ports_udp->len);
      if (strcmp (t->last_status, "RUNNING") == 0)
        (*out_running)++;
      else
        (*out_pending)++;
    }
}

static gboolean
port_taken (GArray *taken, GArray *reserved, guint16 port)
{
  for (guint i = 0; i < taken->len; i++)
    if (g_array_index (taken, guint16, i) == port)
      return TRUE;
  for (guint i = 0; i < reserved->len; i++)
    if (g_array_index (reserved, guint16, i) == port)
      return TRUE;
  return FALSE;
}

static gboolean
has_attribute (EcslInstance *inst, const char *name, const char *value)
{
  JsonArray *attrs = inst->attributes != NULL ? json_node_get_array (inst->attributes) : NULL;

  for (guint i = 0; attrs != NULL && i < json_array_get_length (attrs); i++)
    {
      JsonObject *a = json_array_get_object_element (attrs, i);
      if (g_strcmp0 (ecsl_json_object_string (a, "name"), name) == 0
          && (value == NULL || g_strcmp0 (ecsl_json_object_string (a, "value"), value) == 0))
        return TRUE;
    }
  return FALSE;
}

/* NULL when the task fits on the instance, else the reason AWS gives in a Failure. */
static const char *
check_instance (EcslContext *ctx, EcslInstance *inst, const Needs *needs)
{
  g_autoptr(GArray) tcp = g_array_new (FALSE, FALSE, sizeof (guint16));
  g_autoptr(GArray) udp = g_array_new (FALSE, FALSE, sizeof (guint16));
  gint64 cpu, memory;
  guint running, pending;

  if (strcmp (inst->status, "ACTIVE") != 0)
    return "INACTIVE";
  if (!inst->agent_connected)
    return "AGENT";
  for (guint i = 0; needs->requires != NULL && i < json_array_get_length (needs->requires); i++)
    {
      JsonObject *a = json_array_get_object_element (needs->requires, i);
      if (!has_attribute (inst, ecsl_json_object_string (a, "name"), ecsl_json_object_string (a, "value")))
        return "ATTRIBUTE";
    }
  ecsl_tasks_instance_usage (ctx, inst, &cpu, &memory, tcp, udp, &running, &pending);
  if (inst->cpu - cpu < needs->cpu)
    return "RESOURCE:CPU";
  if (inst->memory - memory < needs->memory)
    return "RESOURCE:MEMORY";
  for (guint i = 0; i < needs->tcp->len; i++)
    if (port_taken (tcp, inst->ports_tcp, g_array_index (needs->tcp, guint16, i)))
      return "RESOURCE:PORTS";
  for (guint i = 0; i < needs->udp->len; i++)
    if (port_taken (udp, inst->ports_udp, g_array_index (needs->udp, guint16, i)))
      return "RESOURCE:PORTS_UDP";
  return NULL;
}

/* ------------------------------------------------------------------------------------------- */
/* rendering */

static void
render_container (JsonBuilder *b, EcslTask *task, EcslContainer *c, EcslTaskDef *def)
{
  JsonObject *cdef = def != NULL ? ecsl_taskdef_container (def, c->name) : NULL;
  JsonObject *o = ecsl_task_container_override (task, c->name);
  gint64 v = 0;

  json_builder_begin_object (b);
  add_str (b, "containerArn", c->arn);
  add_str (b, "taskArn", task->arn);
  add_str (b, "name", c->name);
  add_str (b, "image", c->image);
  add_str (b, "imageDigest", c->image_digest);
  add_str (b, "runtimeId", c->runtime_id);
  add_str (b, "lastStatus", c->last_status);
  if (c->has_exit_code)
    add_int (b, "exitCode", c->exit_code);
  add_str (b, "reason", c->reason);
  json_builder_set_member_name (b, "networkBindings");
  if (c->network_bindings != NULL)
    json_builder_add_value (b, json_node_copy (c->network_bindings));
  else
    {
      json_builder_begin_array (b);
      json_builder_end_array (b);
    }
  add_empty_array (b, "networkInterfaces");
  add_str (b, "healthStatus", "UNKNOWN");
  if (cdef != NULL)
    {
      g_autofree char *cpu = NULL;
      v = 0;
      effective_int (cdef, o, "cpu", &v);
      cpu = g_strdup_printf ("%" G_GINT64_FORMAT, v);
      add_str (b, "cpu", cpu);
      if (effective_int (cdef, o, "memory", &v))
        {
          g_autofree char *s = g_strdup_printf ("%" G_GINT64_FORMAT, v);
          add_str (b, "memory", s);
        }
      if (effective_int (cdef, o, "memoryReservation", &v))
        {
          g_autofree char *s = g_strdup_printf ("%" G_GINT64_FORMAT, v);
          add_str (b, "memoryReservation", s);
        }
    }
  json_builder_end_object (b);
}

static JsonNode *
render_task (EcslContext *ctx, EcslTask *task, gboolean with_tags)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  EcslTaskDef *def = task_def (ctx, task);
  const char *cpu = def != NULL ? task_level (def, task->overrides, "cpu") : NULL;
  const char *memory = def != NULL ? task_level (def, task->overrides, "memory") : NULL;

  json_builder_begin_object (b);
  add_empty_array (b, "attachments");
  json_builder_set_member_name (b, "attributes");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  add_str (b, "name", "ecs.cpu-architecture");
  add_str (b, "value", "x86_64");
  json_builder_end_object (b);
  json_builder_end_array (b);
  add_str (b, "availabilityZone", task->availability_zone);
  add_str (b, "clusterArn", task->cluster_arn);
  if (task->connectivity_ms > 0)
    {
      add_str (b, "connectivity", "CONNECTED");
      ecsl_json_add_timestamp (b, "connectivityAt", task->connectivity_ms);
    }
  add_str (b, "containerInstanceArn", task->instance_arn);
  json_builder_set_member_name (b, "containers");
  json_builder_begin_array (b);
  for (guint i = 0; i < task->containers->len; i++)
    render_container (b, task, g_ptr_array_index (task->containers, i), def);
  json_builder_end_array (b);
  add_str (b, "cpu", cpu);
  ecsl_json_add_timestamp (b, "createdAt", task->created_ms);
  add_str (b, "desiredStatus", task->desired_status);
  json_builder_set_member_name (b, "enableExecuteCommand");
  json_builder_add_boolean_value (b, FALSE);
  ecsl_json_add_timestamp (b, "executionStoppedAt", task->execution_stopped_ms);
  add_str (b, "group", task->group);
  add_str (b, "healthStatus", "UNKNOWN");
  add_str (b, "lastStatus", task->last_status);
  add_str (b, "launchType", "EC2");
  add_str (b, "memory", memory);
  if (task->overrides != NULL)
    {
      json_builder_set_member_name (b, "overrides");
      json_builder_add_value (b, json_node_copy (task->overrides));
    }
  ecsl_json_add_timestamp (b, "pullStartedAt", task->pull_started_ms);
  ecsl_json_add_timestamp (b, "pullStoppedAt", task->pull_stopped_ms);
  ecsl_json_add_timestamp (b, "startedAt", task->started_ms);
  add_str (b, "startedBy", task->started_by);
  add_str (b, "stopCode", task->stop_code);
  ecsl_json_add_timestamp (b, "stoppedAt", task->stopped_ms);
  add_str (b, "stoppedReason", task->stopped_reason);
  ecsl_json_add_timestamp (b, "stoppingAt", task->stopping_ms);
  if (with_tags)
    {
      json_builder_set_member_name (b, "tags");
      if (task->tags != NULL)
        json_builder_add_value (b, json_node_copy (task->tags));
      else
        {
          json_builder_begin_array (b);
          json_builder_end_array (b);
        }
    }
  add_str (b, "taskArn", task->arn);
  add_str (b, "taskDefinitionArn", task->taskdef_arn);
  add_int (b, "version", task->version);
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

/* ------------------------------------------------------------------------------------------- */
/* RunTask / StartTask */

typedef struct
{
  EcslCluster *cluster;
  EcslTaskDef *def;
  JsonNode *overrides; /* normalised TaskOverride */
  const char *started_by;
  const char *group;
  JsonNode *tags;
  const char *task_role;
  const char *execution_role;
} RunRequest;

static void
run_request_clear (RunRequest *r)
{
  if (r->overrides != NULL)
    json_node_unref (r->overrides);
  if (r->tags != NULL)
    json_node_unref (r->tags);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (RunRequest, run_request_clear)

static gboolean
parse_overrides (EcslTaskDef *def, JsonObject *req, RunRequest *r, GError **error)
{
  JsonObject *given = NULL;
  JsonArray *container_overrides = NULL;
  JsonArray *containers = ecsl_json_object_array (json_node_get_object (def->def), "containerDefinitions");
  g_autoptr(JsonBuilder) b = json_builder_new ();
  const char *cpu = NULL, *memory = NULL, *task_role = NULL, *exec_role = NULL;

  if (!ecsl_req_object (req, "overrides", &given, error))
    return FALSE;
  if (given != NULL
      && (!ecsl_req_array (given, "containerOverrides", &container_overrides, error)
          || !ecsl_req_string (given, "cpu", &cpu, error) || !ecsl_req_string (given, "memory", &memory, error)
          || !ecsl_req_string (given, "taskRoleArn", &task_role, error)
          || !ecsl_req_string (given, "executionRoleArn", &exec_role, error)))
    return FALSE;
  if (cpu != NULL && ecsl_parse_task_cpu (cpu) <= 0)
    return invalid (error, "Invalid 'cpu' override: '%s'.", cpu);
  if (memory != NULL && ecsl_parse_task_memory (memory) <= 0)
    return invalid (error, "Invalid 'memory' override: '%s'.", memory);
  for (guint i = 0; container_overrides != NULL && i < json_array_get_length (container_overrides); i++)
    {
      JsonObject *o = json_array_get_object_element (container_overrides, i);
      const char *name = NULL;
      g_auto (GStrv) command = NULL;
      JsonArray *env = NULL;
      gint64 v;
      gboolean present;

      if (o == NULL || !ecsl_req_string (o, "name", &name, error) || !ecsl_req_strv (o, "command", &command, error)
          || !ecsl_req_array (o, "environment", &env, error) || !ecsl_req_int (o, "cpu", &v, &present, error)
          || !ecsl_req_int (o, "memory", &v, &present, error)
          || !ecsl_req_int (o, "memoryReservation", &v, &present, error))
        {
          if (error != NULL && *error == NULL)
            g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION,
                                 "'containerOverrides' must be a list of ContainerOverride");
          return FALSE;
        }
      if (name == NULL || ecsl_taskdef_container (def, name) == NULL)
        return invalid (error, "Override for container named %s is not a container in the TaskDefinition.",
                        name != NULL ? name : "(no name)");
    }

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "containerOverrides");
  json_builder_begin_array (b);
  for (guint i = 0; containers != NULL && i < json_array_get_length (containers); i++)
    {
      const char *name = ecsl_json_object_string (json_array_get_object_element (containers, i), "name");
      JsonObject *match = NULL;
      for (guint k = 0; container_overrides != NULL && k < json_array_get_length (container_overrides); k++)
        if (g_strcmp0 (ecsl_json_object_string (json_array_get_object_element (container_overrides, k), "name"),
                       name) == 0)
          match = json_array_get_object_element (container_overrides, k);
      if (match != NULL)
        {
          JsonNode *n = json_node_new (JSON_NODE_OBJECT);
          json_node_set_object (n, match);
          json_builder_add_value (b, json_node_copy (n));
          json_node_unref (n);
        }
      else
        {
          json_builder_begin_object (b);
          add_str (b, "name", name);
          json_builder_end_object (b);
        }
    }
  json_builder_end_array (b);
  add_str (b, "cpu", cpu);
  add_empty_array (b, "inferenceAcceleratorOverrides");
  add_str (b, "executionRoleArn", exec_role);
  add_str (b, "memory", memory);
  add_str (b, "taskRoleArn", task_role);
  json_builder_end_object (b);
  r->overrides = json_builder_get_root (b);
  r->task_role = task_role != NULL ? task_role : ecsl_json_object_string (json_node_get_object (def->def), "taskRoleArn");
  r->execution_role = exec_role != NULL ? exec_role
                                        : ecsl_json_object_string (json_node_get_object (def->def), "executionRoleArn");
  return TRUE;
}

static gboolean
parse_run_request (EcslContext *ctx, JsonObject *req, RunRequest *r, GError **error)
{
  const char *ref = NULL, *launch_type = NULL;
  JsonArray *tags = NULL;
  JsonObject *network = NULL;
  g_autofree char *default_group = NULL;

  if (!ecsl_req_string (req, "taskDefinition", &ref, error) || !ecsl_req_string (req, "startedBy", &r->started_by, error)
      || !ecsl_req_string (req, "group", &r->group, error) || !ecsl_req_string (req, "launchType", &launch_type, error)
      || !ecsl_req_array (req, "tags", &tags, error) || !ecsl_req_object (req, "networkConfiguration", &network, error))
    return FALSE;
  r->cluster = ecsl_ecs_require_cluster (ctx, req, error);
  if (r->cluster == NULL)
    return FALSE;
  if (ref == NULL)
    return invalid (error, "taskDefinition is required.");
  r->def = ecsl_state_find_taskdef (ctx->state, ref, TRUE);
  if (r->def == NULL)
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_CLIENT, "Unable to find task definition '%s'.", ref);
      return FALSE;
    }
  if (g_strcmp0 (ecsl_json_object_string (json_node_get_object (r->def->def), "status"), "ACTIVE") != 0)
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_CLIENT, "TaskDefinition is inactive: %s.", r->def->arn);
      return FALSE;
    }
  if (launch_type != NULL && strcmp (launch_type, "EC2") != 0)
    {
      g_set_error (error, ECSL_API_ERROR, ECSL_API_ERROR_UNSUPPORTED_FEATURE,
                   "launchType %s is not available: ecs-local runs tasks on registered container instances (EC2).",
                   launch_type);
      return FALSE;
    }
  if (strcmp (ecsl_taskdef_network_mode (r->def), "awsvpc") == 0)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_UNSUPPORTED_FEATURE,
                           "networkMode awsvpc needs elastic network interfaces, which ecs-local does not attach.");
      return FALSE;
    }
  if (r->started_by != NULL && strlen (r->started_by) > 36)
    return invalid (error, "startedBy can be at most 36 characters.");
  if (r->group != NULL && strlen (r->group) > 255)
    return invalid (error, "group can be at most 255 characters.");
  if (tags != NULL)
    r->tags = json_node_copy (json_object_get_member (req, "tags"));
  return parse_overrides (r->def, req, r, error);
}

static EcslTask *
create_task (EcslContext *ctx, RunRequest *r, EcslInstance *inst, const Needs *needs)
{
  EcslTask *t = ecsl_task_new ();
  JsonArray *containers = ecsl_json_object_array (json_node_get_object (r->def->def), "containerDefinitions");
  g_autofree char *resource = NULL;

  t->id = ecsl_random_hex (32);
  resource = g_strdup_printf ("task/%s/%s", r->cluster->name, t->id);
  t->arn = ecsl_arn (ctx, resource);
  t->cluster_arn = g_strdup (r->cluster->arn);
  t->instance_arn = g_strdup (inst->arn);
  t->taskdef_arn = g_strdup (r->def->arn);
  t->last_status = g_strdup ("PENDING");
  t->desired_status = g_strdup ("RUNNING");
  t->overrides = json_node_copy (r->overrides);
  t->started_by = g_strdup (r->started_by);
  t->group = r->group != NULL ? g_strdup (r->group) : g_strconcat ("family:", r->def->family, NULL);
  t->availability_zone = g_strdup (inst->availability_zone);
  t->created_ms = ecsl_now_ms ();
  t->version = 1;
  t->tags = r->tags != NULL ? json_node_copy (r->tags) : NULL;
  t->cpu = needs->cpu;
  t->memory = needs->memory;
  g_array_append_vals (t->ports_tcp, needs->tcp->data, needs->tcp->len);
  g_array_append_vals (t->ports_udp, needs->udp->data, needs->udp->len);
  for (guint i = 0; containers != NULL && i < json_array_get_length (containers); i++)
    {
      JsonObject *cdef = json_array_get_object_element (containers, i);
      EcslContainer *c = ecsl_container_new ();
      g_autofree char *uuid = ecsl_random_uuid ();
      g_autofree char *cres = NULL;
      c->name = g_strdup (ecsl_json_object_string (cdef, "name"));
      c->image = g_strdup (ecsl_json_object_string (cdef, "image"));
      c->last_status = g_strdup ("PENDING");
      cres = g_strdup_printf ("container/%s/%s/%s", r->cluster->name, t->id, uuid);
      c->arn = ecsl_arn (ctx, cres);
      g_ptr_array_add (t->containers, c);
    }
  if (r->task_role != NULL)
    {
      t->role_credentials_id = ecsl_random_uuid ();
      ecsl_credentials_mint (ctx->creds, ECSL_CRED_TASK_ROLE, r->task_role, t->arn, t->role_credentials_id,
                             ctx->config.credentials_ttl_ms);
    }
  if (r->execution_role != NULL)
    {
      t->execution_credentials_id = ecsl_random_uuid ();
      ecsl_credentials_mint (ctx->creds, ECSL_CRED_EXECUTION_ROLE, r->execution_role, t->arn,
                             t->execution_credentials_id, ctx->config.credentials_ttl_ms);
    }
  g_hash_table_replace (ctx->state->tasks, t->arn, t);
  ecsl_acs_schedule_refresh (ctx, t);
  g_message ("placed task %s (%s) on %s", t->arn, r->def->arn, inst->arn);
  return t;
}

/* Group the new tasks by instance and queue one payload per instance. */
static void
deliver (EcslContext *ctx, GPtrArray *tasks)
{
  g_autoptr(GHashTable) by_instance = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                             (GDestroyNotify) g_ptr_array_unref);

  for (guint i = 0; i < tasks->len; i++)
    {
      EcslTask *t = g_ptr_array_index (tasks, i);
      GPtrArray *list = g_hash_table_lookup (by_instance, t->instance_arn);
      if (list == NULL)
        {
          list = g_ptr_array_new ();
          g_hash_table_insert (by_instance, t->instance_arn, list);
        }
      g_ptr_array_add (list, t);
    }
  for (guint i = 0; i < tasks->len; i++)
    {
      EcslTask *t = g_ptr_array_index (tasks, i);
      GPtrArray *list = g_hash_table_lookup (by_instance, t->instance_arn);
      EcslInstance *inst;
      if (list == NULL)
        continue;
      inst = ecsl_state_instance_by_arn (ctx->state, t->instance_arn);
      if (inst != NULL)
        ecsl_acs_queue_payload (ctx, inst, list, "RUNNING");
      g_hash_table_remove (by_instance, t->instance_arn);
    }
}

static JsonNode *
tasks_response (EcslContext *ctx, GPtrArray *tasks, GPtrArray *failures)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "tasks");
  json_builder_begin_array (b);
  for (guint i = 0; i < tasks->len; i++)
    json_builder_add_value (b, render_task (ctx, g_ptr_array_index (tasks, i), TRUE));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "failures");
  json_builder_begin_array (b);
  for (guint i = 0; i + 1 < failures->len; i += 2)
    add_failure (b, g_ptr_array_index (failures, i), g_ptr_array_index (failures, i + 1), NULL);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
add_failure_once (GPtrArray *failures, const char *arn, const char *reason)
{
  for (guint i = 0; i + 1 < failures->len; i += 2)
    if (strcmp (g_ptr_array_index (failures, i), arn) == 0 && strcmp (g_ptr_array_index (failures, i + 1), reason) == 0)
      return;
  g_ptr_array_add (failures, g_strdup (arn));
  g_ptr_array_add (failures, g_strdup (reason));
}

typedef enum
{
  STRATEGY_SPREAD,
  STRATEGY_BINPACK_MEMORY,
  STRATEGY_BINPACK_CPU,
  STRATEGY_RANDOM,
} Strategy;

static gboolean
parse_strategy (JsonObject *req, Strategy *out, GError **error)
{
  JsonArray *strategies = NULL;

  *out = STRATEGY_SPREAD;
  if (!ecsl_req_array (req, "placementStrategy", &strategies, error))
    return FALSE;
  for (guint i = 0; strategies != NULL && i < json_array_get_length (strategies) && i < 1; i++)
    {
      JsonObject *s = json_array_get_object_element (strategies, i);
      const char *type = NULL, *field = NULL;
      if (s == NULL || !ecsl_req_string (s, "type", &type, error) || !ecsl_req_string (s, "field", &field, error))
        {
          if (error != NULL && *error == NULL)
            g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION,
                                 "'placementStrategy' must be a list of PlacementStrategy");
          return FALSE;
        }
      if (g_strcmp0 (type, "random") == 0)
        *out = STRATEGY_RANDOM;
      else if (g_strcmp0 (type, "binpack") == 0)
        *out = g_ascii_strcasecmp (field != NULL ? field : "", "cpu") == 0 ? STRATEGY_BINPACK_CPU
                                                                            : STRATEGY_BINPACK_MEMORY;
      else if (g_strcmp0 (type, "spread") == 0)
        *out = STRATEGY_SPREAD;
      else
        return invalid (error, "placementStrategy type '%s' is not random, spread or binpack.",
                        type != NULL ? type : "");
    }
  return TRUE;
}

static gint64
strategy_score (EcslContext *ctx, EcslInstance *inst, Strategy strategy)
{
  gint64 cpu, memory;
  guint running, pending;

  ecsl_tasks_instance_usage (ctx, inst, &cpu, &memory, NULL, NULL, &running, &pending);
  switch (strategy)
    {
    case STRATEGY_BINPACK_MEMORY:
      return inst->memory - memory;
    case STRATEGY_BINPACK_CPU:
      return inst->cpu - cpu;
    case STRATEGY_RANDOM:
      {
        guint32 r;
        ecsl_random_bytes (&r, sizeof r);
        return r;
      }
    case STRATEGY_SPREAD:
    default:
      return running + pending;
    }
}

JsonNode *
ecsl_op_run_task (EcslContext *ctx, JsonObject *req, GError **error)
{
  g_auto (RunRequest) r = { 0 };
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) candidates = g_ptr_array_new ();
  g_auto (Needs) needs = { 0 };
  gint64 count = 1;
  gboolean present;
  Strategy strategy;

  if (!ecsl_req_int (req, "count", &count, &present, error) || !parse_strategy (req, &strategy, error)
      || !parse_run_request (ctx, req, &r, error))
    return NULL;
  if (count < 1 || count > ctx->config.max_run_count)
    {
      invalid (error, "count must be between 1 and %d.", ctx->config.max_run_count);
      return NULL;
    }
  for (guint i = 0; i < ctx->state->instances->len; i++)
    {
      EcslInstance *inst = g_ptr_array_index (ctx->state->instances, i);
      if (strcmp (inst->cluster_arn, r.cluster->arn) == 0 && strcmp (inst->status, "INACTIVE") != 0)
        g_ptr_array_add (candidates, inst);
    }
  if (candidates->len == 0)
    {
      invalid (error, "No Container Instances were found in your cluster.");
      return NULL;
    }
  compute_needs (r.def, r.overrides, &needs);
  for (gint64 n = 0; n < count; n++)
    {
      EcslInstance *best = NULL;
      gint64 best_score = 0;
      for (guint i = 0; i < candidates->len; i++)
        {
          EcslInstance *inst = g_ptr_array_index (candidates, i);
          const char *reason = check_instance (ctx, inst, &needs);
          gint64 score;
          if (reason != NULL)
            {
              add_failure_once (failures, inst->arn, reason);
              continue;
            }
          score = strategy_score (ctx, inst, strategy);
          if (best == NULL || score < best_score || (score == best_score && strcmp (inst->arn, best->arn) < 0))
            {
              best = inst;
              best_score = score;
            }
        }
      if (best == NULL)
        continue;
      g_ptr_array_add (tasks, create_task (ctx, &r, best, &needs));
    }
  if (tasks->len > 0)
    {
      /* Failures list the instances that could not take a task only when some task went unplaced. */
      if ((gint64) tasks->len == count)
        g_ptr_array_set_size (failures, 0);
      deliver (ctx, tasks);
      ecsl_state_changed (ctx->state);
    }
  return tasks_response (ctx, tasks, failures);
}

JsonNode *
ecsl_op_start_task (EcslContext *ctx, JsonObject *req, GError **error)
{
  g_auto (RunRequest) r = { 0 };
  g_auto (GStrv) refs = NULL;
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func (g_free);
  g_auto (Needs) needs = { 0 };

  if (!ecsl_req_strv (req, "containerInstances", &refs, error) || !parse_run_request (ctx, req, &r, error))
    return NULL;
  if (refs == NULL || g_strv_length (refs) == 0 || g_strv_length (refs) > 10)
    {
      invalid (error, "containerInstances must name 1 to 10 container instances.");
      return NULL;
    }
  compute_needs (r.def, r.overrides, &needs);
  for (guint i = 0; refs[i] != NULL; i++)
    {
      EcslInstance *inst = ecsl_state_find_instance (ctx->state, r.cluster, refs[i]);
      const char *reason;
      if (inst == NULL)
        {
          g_autofree char *resource = g_strdup_printf ("container-instance/%s/%s", r.cluster->name, refs[i]);
          g_autofree char *arn = g_str_has_prefix (refs[i], "arn:") ? g_strdup (refs[i]) : ecsl_arn (ctx, resource);
          add_failure_once (failures, arn, "MISSING");
          continue;
        }
      reason = check_instance (ctx, inst, &needs);
      if (reason != NULL)
        {
          add_failure_once (failures, inst->arn, reason);
          continue;
        }
      g_ptr_array_add (tasks, create_task (ctx, &r, inst, &needs));
    }
  if (tasks->len > 0)
    {
      deliver (ctx, tasks);
      ecsl_state_changed (ctx->state);
    }
  return tasks_response (ctx, tasks, failures);
}

/* ------------------------------------------------------------------------------------------- */
/* stopping */

static void
mark_stopped (EcslContext *ctx, EcslTask *t)
{
  gint64 now = ecsl_now_ms ();

  ecsl_set_str (&t->last_status, "STOPPED");
  ecsl_set_str (&t->desired_status, "STOPPED");
  if (t->stopping_ms == 0)
    t->stopping_ms = now;
  t->stopped_ms = now;
  for (guint i = 0; i < t->containers->len; i++)
    {
      EcslContainer *c = g_ptr_array_index (t->containers, i);
      ecsl_set_str (&c->last_status, "STOPPED");
    }
  ecsl_task_stop_refresh (ctx, t);
  ecsl_state_schedule_purge (ctx->state);
}

void
ecsl_tasks_stop_for_instance (EcslContext *ctx, EcslInstance *inst, const char *reason)
{
  GHashTableIter iter;
  EcslTask *t;

  g_hash_table_iter_init (&iter, ctx->state->tasks);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
    {
      if (g_strcmp0 (t->instance_arn, inst->arn) != 0 || strcmp (t->last_status, "STOPPED") == 0)
        continue;
      if (t->stopped_reason == NULL)
        t->stopped_reason = g_strdup (reason);
      if (t->stop_code == NULL)
        t->stop_code = g_strdup ("UserInitiated");
      mark_stopped (ctx, t);
      t->version++;
    }
}

JsonNode *
ecsl_op_stop_task (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *ref = NULL, *reason = NULL;
  EcslCluster *cluster;
  EcslTask *t;
  EcslInstance *inst;
  g_autoptr(JsonBuilder) b = json_builder_new ();

  if (!ecsl_req_string (req, "task", &ref, error) || !ecsl_req_string (req, "reason", &reason, error))
    return NULL;
  cluster = ecsl_ecs_require_cluster (ctx, req, error);
  if (cluster == NULL)
    return NULL;
  if (ref == NULL)
    {
      invalid (error, "task is required.");
      return NULL;
    }
  if (reason != NULL && strlen (reason) > MAX_REASON)
    {
      invalid (error, "reason can be at most %d characters.", MAX_REASON);
      return NULL;
    }
  t = ecsl_state_find_task (ctx->state, cluster, ref);
  if (t == NULL)
    {
      invalid (error, "The referenced task was not found.");
      return NULL;
    }
  if (strcmp (t->desired_status, "STOPPED") != 0)
    {
      ecsl_set_str (&t->desired_status, "STOPPED");
      ecsl_set_str (&t->stop_code, "UserInitiated");
      ecsl_set_str (&t->stopped_reason, reason != NULL ? reason : "Task stopped by user");
      t->stopping_ms = ecsl_now_ms ();
      t->version++;
      inst = ecsl_state_instance_by_arn (ctx->state, t->instance_arn);
      if (inst == NULL || strcmp (inst->status, "INACTIVE") == 0)
        mark_stopped (ctx, t);
      else
        {
          g_autoptr(GPtrArray) one = g_ptr_array_new ();
          g_ptr_array_add (one, t);
          ecsl_acs_queue_payload (ctx, inst, one, "STOPPED");
        }
      g_message ("stopping task %s: %s", t->arn, t->stopped_reason);
      ecsl_state_changed (ctx->state);
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "task");
  json_builder_add_value (b, render_task (ctx, t, TRUE));
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ------------------------------------------------------------------------------------------- */
/* DescribeTasks / ListTasks */

JsonNode *
ecsl_op_describe_tasks (EcslContext *ctx, JsonObject *req, GError **error)
{
  g_auto (GStrv) refs = NULL;
  g_auto (GStrv) include = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GPtrArray) missing = g_ptr_array_new ();
  EcslCluster *cluster;
  gboolean tags;

  if (!ecsl_req_strv (req, "tasks", &refs, error) || !ecsl_req_strv (req, "include", &include, error))
    return NULL;
  cluster = ecsl_ecs_require_cluster (ctx, req, error);
  if (cluster == NULL)
    return NULL;
  if (refs == NULL || g_strv_length (refs) == 0 || g_strv_length (refs) > 100)
    {
      invalid (error, "tasks must name 1 to 100 tasks.");
      return NULL;
    }
  tags = include != NULL && g_strv_contains ((const char *const *) include, "TAGS");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "tasks");
  json_builder_begin_array (b);
  for (guint i = 0; refs[i] != NULL; i++)
    {
      EcslTask *t = ecsl_state_find_task (ctx->state, cluster, refs[i]);
      if (t == NULL)
        g_ptr_array_add (missing, refs[i]);
      else
        json_builder_add_value (b, render_task (ctx, t, tags));
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "failures");
  json_builder_begin_array (b);
  for (guint i = 0; i < missing->len; i++)
    {
      const char *ref = g_ptr_array_index (missing, i);
      g_autofree char *resource = g_strdup_printf ("task/%s/%s", cluster->name, ref);
      g_autofree char *arn = g_str_has_prefix (ref, "arn:") ? g_strdup (ref) : ecsl_arn (ctx, resource);
      add_failure (b, arn, "MISSING", NULL);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
ecsl_op_list_tasks (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *instance_ref = NULL, *family = NULL, *started_by = NULL, *service = NULL, *desired = "RUNNING";
  const char *launch_type = NULL;
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GPtrArray) arns = g_ptr_array_new ();
  g_autoptr(JsonBuilder) b = json_builder_new ();
  EcslCluster *cluster;
  EcslInstance *inst = NULL;

  if (!ecsl_req_string (req, "containerInstance", &instance_ref, error)
      || !ecsl_req_string (req, "family", &family, error) || !ecsl_req_string (req, "startedBy", &started_by, error)
      || !ecsl_req_string (req, "serviceName", &service, error)
      || !ecsl_req_string (req, "desiredStatus", &desired, error)
      || !ecsl_req_string (req, "launchType", &launch_type, error))
    return NULL;
  cluster = ecsl_ecs_require_cluster (ctx, req, error);
  if (cluster == NULL)
    return NULL;
  if (strcmp (desired, "RUNNING") != 0 && strcmp (desired, "PENDING") != 0 && strcmp (desired, "STOPPED") != 0)
    {
      invalid (error, "desiredStatus '%s' is not RUNNING, PENDING or STOPPED.", desired);
      return NULL;
    }
  if (instance_ref != NULL)
    {
      inst = ecsl_state_find_instance (ctx->state, cluster, instance_ref);
      if (inst == NULL)
        {
          invalid (error, "The referenced container instance was not found.");
          return NULL;
        }
    }
  tasks = ecsl_state_sorted_tasks (ctx->state);
  for (guint i = 0; i < tasks->len; i++)
    {
      EcslTask *t = g_ptr_array_index (tasks, i);
      EcslTaskDef *def;
      if (strcmp (t->cluster_arn, cluster->arn) != 0)
        continue;
      if (inst != NULL && g_strcmp0 (t->instance_arn, inst->arn) != 0)
        continue;
      if (started_by != NULL && g_strcmp0 (t->started_by, started_by) != 0)
        continue;
      if (service != NULL || (launch_type != NULL && strcmp (launch_type, "EC2") != 0))
        continue; /* ecs-local runs no services, and only EC2 tasks */
      /* AWS: filtering on PENDING returns nothing; RUNNING and STOPPED match the desired status. */
      if (strcmp (desired, "PENDING") == 0 || strcmp (t->desired_status, desired) != 0)
        continue;
      def = task_def (ctx, t);
      if (family != NULL && (def == NULL || strcmp (def->family, family) != 0))
        continue;
      g_ptr_array_add (arns, t->arn);
    }
  json_builder_begin_object (b);
  if (!ecsl_ecs_paginate (req, arns, arns, FALSE, b, "taskArns", error))
    return NULL;
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ------------------------------------------------------------------------------------------- */
/* the agent's state changes */

static gboolean
parse_bindings (JsonArray *in, JsonNode **out, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_array (b);
  for (guint i = 0; in != NULL && i < json_array_get_length (in); i++)
    {
      JsonObject *nb = json_array_get_object_element (in, i);
      const char *ip = NULL, *proto = NULL;
      gint64 cport = 0, hport = 0;
      gboolean has_c = FALSE, has_h = FALSE;

      if (nb == NULL || !ecsl_req_string (nb, "bindIP", &ip, error) || !ecsl_req_string (nb, "protocol", &proto, error)
          || !ecsl_req_int (nb, "containerPort", &cport, &has_c, error)
          || !ecsl_req_int (nb, "hostPort", &hport, &has_h, error))
        {
          if (error != NULL && *error == NULL)
            g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION,
                                 "'networkBindings' must be a list of NetworkBinding");
          return FALSE;
        }
      if (proto != NULL && strcmp (proto, "tcp") != 0 && strcmp (proto, "udp") != 0)
        return invalid (error, "networkBindings: protocol '%s' is not tcp or udp.", proto);
      if ((has_c && (cport < 0 || cport > 65535)) || (has_h && (hport < 0 || hport > 65535)))
        return invalid (error, "networkBindings: ports must be 0-65535.");
      json_builder_begin_object (b);
      add_str (b, "bindIP", ip);
      if (has_c)
        add_int (b, "containerPort", cport);
      if (has_h)
        add_int (b, "hostPort", hport);
      add_str (b, "protocol", proto != NULL ? proto : "tcp");
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  *out = json_builder_get_root (b);
  return TRUE;
}

typedef struct
{
  const char *name;
  const char *status;
  const char *reason;
  const char *runtime_id;
  const char *image_digest;
  gint64 exit_code;
  gboolean has_exit_code;
  JsonNode *bindings;
  gboolean has_bindings;
} ContainerChange;

static void
container_change_clear (ContainerChange *c)
{
  if (c->bindings != NULL)
    json_node_unref (c->bindings);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ContainerChange, container_change_clear)

static gboolean
parse_container_change (JsonObject *o, const char *name_member, ContainerChange *c, GError **error)
{
  JsonArray *bindings = NULL;

  if (!ecsl_req_string (o, name_member, &c->name, error) || !ecsl_req_string (o, "status", &c->status, error)
      || !ecsl_req_string (o, "reason", &c->reason, error) || !ecsl_req_string (o, "runtimeId", &c->runtime_id, error)
      || !ecsl_req_string (o, "imageDigest", &c->image_digest, error)
      || !ecsl_req_int (o, "exitCode", &c->exit_code, &c->has_exit_code, error)
      || !ecsl_req_array (o, "networkBindings", &bindings, error))
    return FALSE;
  if (c->name == NULL)
    return invalid (error, "%s is required.", name_member);
  if (c->status != NULL && strcmp (c->status, "PENDING") != 0 && strcmp (c->status, "RUNNING") != 0
      && strcmp (c->status, "STOPPED") != 0)
    return invalid (error, "Container status '%s' is not PENDING, RUNNING or STOPPED.", c->status);
  if (c->reason != NULL && strlen (c->reason) > MAX_REASON)
    return invalid (error, "reason can be at most %d characters.", MAX_REASON);
  c->has_bindings = bindings != NULL;
  return bindings == NULL || parse_bindings (bindings, &c->bindings, error);
}

static EcslContainer *
find_container (EcslTask *t, const char *name)
{
  for (guint i = 0; i < t->containers->len; i++)
    {
      EcslContainer *c = g_ptr_array_index (t->containers, i);
      if (strcmp (c->name, name) == 0)
        return c;
    }
  return NULL;
}

static gboolean
apply_container_change (EcslTask *t, ContainerChange *change, GError **error)
{
  EcslContainer *c = find_container (t, change->name);

  if (c == NULL)
    return invalid (error, "Container '%s' is not part of task %s.", change->name, t->arn);
  /* STOPPED is final; a late RUNNING report does not bring a container back. */
  if (change->status != NULL && !(strcmp (c->last_status, "STOPPED") == 0 && strcmp (change->status, "STOPPED") != 0))
    ecsl_set_str (&c->last_status, change->status);
  if (change->has_exit_code)
    {
      c->has_exit_code = TRUE;
      c->exit_code = change->exit_code;
    }
  if (change->reason != NULL)
    ecsl_set_str (&c->reason, change->reason);
  if (change->runtime_id != NULL)
    ecsl_set_str (&c->runtime_id, change->runtime_id);
  if (change->image_digest != NULL)
    ecsl_set_str (&c->image_digest, change->image_digest);
  if (change->has_bindings)
    ecsl_set_json (&c->network_bindings, g_steal_pointer (&change->bindings));
  return TRUE;
}

static EcslTask *
require_agent_task (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *ref = NULL;
  EcslCluster *cluster;
  EcslTask *t;

  if (!ecsl_req_string (req, "task", &ref, error))
    return NULL;
  cluster = ecsl_ecs_require_cluster (ctx, req, error);
  if (cluster == NULL)
    return NULL;
  if (ref == NULL)
    {
      invalid (error, "task is required.");
      return NULL;
    }
  t = ecsl_state_find_task (ctx->state, cluster, ref);
  if (t == NULL)
    invalid (error, "The referenced task %s was not found in cluster %s.", ref, cluster->name);
  return t;
}

static JsonNode *
ack_response (void)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_str (b, "acknowledgment", "ACK");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
any_essential_exited (EcslContext *ctx, EcslTask *t)
{
  EcslTaskDef *def = task_def (ctx, t);

  for (guint i = 0; def != NULL && i < t->containers->len; i++)
    {
      EcslContainer *c = g_ptr_array_index (t->containers, i);
      JsonObject *cdef = ecsl_taskdef_container (def, c->name);
      if (cdef != NULL && json_object_get_boolean_member_with_default (cdef, "essential", TRUE)
          && g_strcmp0 (c->last_status, "STOPPED") == 0)
        return TRUE;
    }
  return FALSE;
}

JsonNode *
ecsl_op_submit_task_state_change (EcslContext *ctx, JsonObject *req, GError **error)
{
  const char *status = NULL, *reason = NULL;
  JsonArray *containers = NULL, *attachments = NULL, *managed = NULL;
  gint64 pull_started = 0, pull_stopped = 0, exec_stopped = 0;
  g_autoptr(GPtrArray) changes = g_ptr_array_new_with_free_func (g_free);
  EcslTask *t;

  if (!ecsl_req_string (req, "status", &status, error) || !ecsl_req_string (req, "reason", &reason, error)
      || !ecsl_req_array (req, "containers", &containers, error)
      || !ecsl_req_array (req, "attachments", &attachments, error)
      || !ecsl_req_array (req, "managedAgents", &managed, error)
      || !ecsl_req_timestamp (req, "pullStartedAt", &pull_started, error)
      || !ecsl_req_timestamp (req, "pullStoppedAt", &pull_stopped, error)
      || !ecsl_req_timestamp (req, "executionStoppedAt", &exec_stopped, error))
    return NULL;
  t = require_agent_task (ctx, req, error);
  if (t == NULL)
    return NULL;
  if (status != NULL && strcmp (status, "PENDING") != 0 && strcmp (status, "RUNNING") != 0
      && strcmp (status, "STOPPED") != 0)
    {
      invalid (error, "Task status '%s' is not PENDING, RUNNING or STOPPED.", status);
      return NULL;
    }
  if (reason != NULL && strlen (reason) > MAX_REASON)
    {
      invalid (error, "reason can be at most %d characters.", MAX_REASON);
      return NULL;
    }
  /* Parse every container change before applying any. */
  for (guint i = 0; containers != NULL && i < json_array_get_length (containers); i++)
    {
      JsonNode *n = json_array_get_element (containers, i);
      ContainerChange *c;
      if (JSON_NODE_HOLDS_NULL (n))
        continue; /* agent v1.16.2 sends null for container states it does not report */
      if (!JSON_NODE_HOLDS_OBJECT (n))
        {
          g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_SERIALIZATION,
                               "'containers' must be a list of ContainerStateChange");
          return NULL;
        }
      c = g_new0 (ContainerChange, 1);
      g_ptr_array_add (changes, c);
      if (!parse_container_change (json_node_get_object (n), "containerName", c, error))
        return NULL;
      if (find_container (t, c->name) == NULL)
        {
          invalid (error, "Container '%s' is not part of task %s.", c->name, t->arn);
          return NULL;
        }
    }
  for (guint i = 0; i < changes->len; i++)
    {
      ContainerChange *c = g_ptr_array_index (changes, i);
      apply_container_change (t, c, NULL);
      container_change_clear (c);
    }

  if (pull_started > 0)
    t->pull_started_ms = pull_started;
  if (pull_stopped > 0)
    t->pull_stopped_ms = pull_stopped;
  if (exec_stopped > 0)
    t->execution_stopped_ms = exec_stopped;

  if (g_strcmp0 (status, "RUNNING") == 0 && strcmp (t->last_status, "STOPPED") != 0)
    {
      if (strcmp (t->last_status, "RUNNING") != 0)
        g_message ("task %s is RUNNING", t->arn);
      ecsl_set_str (&t->last_status, "RUNNING");
      if (t->started_ms == 0)
        t->started_ms = ecsl_now_ms ();
      if (t->connectivity_ms == 0)
        t->connectivity_ms = t->started_ms;
    }
  else if (g_strcmp0 (status, "STOPPED") == 0 && strcmp (t->last_status, "STOPPED") != 0)
    {
      if (strcmp (t->desired_status, "RUNNING") == 0)
        {
          /* The agent stopped it on its own: an essential container exited, or it failed to start. */
          if (any_essential_exited (ctx, t))
            {
              ecsl_set_str (&t->stop_code, "EssentialContainerExited");
              ecsl_set_str (&t->stopped_reason, reason != NULL ? reason : "Essential container in task exited");
            }
          else
            {
              ecsl_set_str (&t->stop_code, "TaskFailedToStart");
              ecsl_set_str (&t->stopped_reason, reason != NULL ? reason : "Task failed to start");
            }
        }
      else if (t->stopped_reason == NULL && reason != NULL)
        ecsl_set_str (&t->stopped_reason, reason);
      mark_stopped (ctx, t);
      g_message ("task %s is STOPPED (%s)", t->arn, t->stopped_reason != NULL ? t->stopped_reason : "no reason");
    }
  t->version++;
  ecsl_state_changed (ctx->state);
  return ack_response ();
}

JsonNode *
ecsl_op_submit_container_state_change (EcslContext *ctx, JsonObject *req, GError **error)
{
  g_auto (ContainerChange) change = { 0 };
  EcslTask *t;

  if (!parse_container_change (req, "containerName", &change, error))
    return NULL;
  t = require_agent_task (ctx, req, error);
  if (t == NULL || !apply_container_change (t, &change, error))
    return NULL;
  t->version++;
  ecsl_state_changed (ctx->state);
  return ack_response ();
}

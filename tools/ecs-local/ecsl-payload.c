/* ecsl-payload.c: the ACS Task of a task (acs-api-2.json): what the agent receives in a
 * PayloadMessage. Task definition fields that the ACS Task has no member for travel as Docker
 * API documents inside dockerConfig.config / dockerConfig.hostConfig, as the service sends them.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-ecs.h"
#include "ecsl-util.h"

#include <string.h>

static void
add_str (JsonBuilder *b, const char *name, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

static JsonNode *
copy_member (JsonObject *o, const char *member)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, member) : NULL;

  return n != NULL && !JSON_NODE_HOLDS_NULL (n) ? json_node_copy (n) : NULL;
}

JsonNode *
ecsl_payload_credentials (EcslContext *ctx, const EcslCredEntry *entry)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(EcslSecret) secret = ecsl_credentials_secret (ctx->creds, entry);
  g_autoptr(EcslSecret) token = ecsl_credentials_token (ctx->creds, entry);
  g_autofree char *expiration = ecsl_iso8601 (entry->expiration_ms);

  json_builder_begin_object (b);
  add_str (b, "credentialsId", entry->credentials_id);
  add_str (b, "roleArn", entry->role_arn);
  add_str (b, "accessKeyId", entry->access_key_id);
  add_str (b, "secretAccessKey", secret);
  add_str (b, "sessionToken", token);
  add_str (b, "expiration", expiration);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static const EcslCredEntry *
current_credentials (EcslContext *ctx, EcslTask *task, EcslCredKind kind, const char *credentials_id,
                     const char *role_arn)
{
  const EcslCredEntry *e = ecsl_credentials_find_current (ctx->creds, kind, task->arn);

  /* Keep at least half the lifetime in hand when handing credentials out. */
  if (e == NULL || e->expiration_ms - ecsl_now_ms () < ctx->config.credentials_ttl_ms / 2)
    e = ecsl_credentials_mint (ctx->creds, kind, role_arn, task->arn, credentials_id, ctx->config.credentials_ttl_ms);
  return e;
}

/* Docker's Config document for the fields of a container definition that go there. */
static char *
docker_config (JsonObject *cdef)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  JsonNode *n;
  JsonObject *hc = ecsl_json_object_object (cdef, "healthCheck");
  gboolean any = FALSE;

  json_builder_begin_object (b);
  if ((n = copy_member (cdef, "dockerLabels")) != NULL)
    {
      json_builder_set_member_name (b, "Labels");
      json_builder_add_value (b, n);
      any = TRUE;
    }
  if (ecsl_json_object_string (cdef, "user") != NULL)
    {
      add_str (b, "User", ecsl_json_object_string (cdef, "user"));
      any = TRUE;
    }
  if (ecsl_json_object_string (cdef, "workingDirectory") != NULL)
    {
      add_str (b, "WorkingDir", ecsl_json_object_string (cdef, "workingDirectory"));
      any = TRUE;
    }
  if (ecsl_json_object_string (cdef, "hostname") != NULL)
    {
      add_str (b, "Hostname", ecsl_json_object_string (cdef, "hostname"));
      any = TRUE;
    }
  if (json_object_has_member (cdef, "disableNetworking"))
    {
      json_builder_set_member_name (b, "NetworkDisabled");
      json_builder_add_boolean_value (b, json_object_get_boolean_member_with_default (cdef, "disableNetworking", FALSE));
      any = TRUE;
    }
  if (hc != NULL)
    {
      gint64 v;
      json_builder_set_member_name (b, "Healthcheck");
      json_builder_begin_object (b);
      if ((n = copy_member (hc, "command")) != NULL)
        {
          json_builder_set_member_name (b, "Test");
          json_builder_add_value (b, n);
        }
      /* Docker wants nanoseconds; the task definition has seconds. */
      if (ecsl_json_object_int (hc, "interval", &v))
        {
          json_builder_set_member_name (b, "Interval");
          json_builder_add_int_value (b, v * G_GINT64_CONSTANT (1000000000));
        }
      if (ecsl_json_object_int (hc, "timeout", &v))
        {
          json_builder_set_member_name (b, "Timeout");
          json_builder_add_int_value (b, v * G_GINT64_CONSTANT (1000000000));
        }
      if (ecsl_json_object_int (hc, "startPeriod", &v))
        {
          json_builder_set_member_name (b, "StartPeriod");
          json_builder_add_int_value (b, v * G_GINT64_CONSTANT (1000000000));
        }
      if (ecsl_json_object_int (hc, "retries", &v))
        {
          json_builder_set_member_name (b, "Retries");
          json_builder_add_int_value (b, v);
        }
      json_builder_end_object (b);
      any = TRUE;
    }
  json_builder_end_object (b);
  if (!any)
    return NULL;
  root = json_builder_get_root (b);
  return ecsl_json_to_string (root);
}

/* Docker's HostConfig document. */
static char *
docker_host_config (EcslTaskDef *def, JsonObject *cdef, gint64 reservation, gboolean has_reservation)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  JsonObject *d = json_node_get_object (def->def);
  JsonObject *log = ecsl_json_object_object (cdef, "logConfiguration");
  JsonObject *linux_params = ecsl_json_object_object (cdef, "linuxParameters");
  JsonArray *a;
  JsonNode *n;
  gint64 v;

  json_builder_begin_object (b);
  add_str (b, "NetworkMode", ecsl_taskdef_network_mode (def));
  if (log != NULL)
    {
      json_builder_set_member_name (b, "LogConfig");
      json_builder_begin_object (b);
      add_str (b, "Type", ecsl_json_object_string (log, "logDriver"));
      json_builder_set_member_name (b, "Config");
      if ((n = copy_member (log, "options")) != NULL)
        json_builder_add_value (b, n);
      else
        {
          json_builder_begin_object (b);
          json_builder_end_object (b);
        }
      json_builder_end_object (b);
    }
  if (json_object_has_member (cdef, "privileged"))
    {
      json_builder_set_member_name (b, "Privileged");
      json_builder_add_boolean_value (b, json_object_get_boolean_member_with_default (cdef, "privileged", FALSE));
    }
  if (json_object_has_member (cdef, "readonlyRootFilesystem"))
    {
      json_builder_set_member_name (b, "ReadonlyRootfs");
      json_builder_add_boolean_value (b,
                                      json_object_get_boolean_member_with_default (cdef, "readonlyRootFilesystem", FALSE));
    }
  if ((n = copy_member (cdef, "dnsServers")) != NULL)
    {
      json_builder_set_member_name (b, "Dns");
      json_builder_add_value (b, n);
    }
  if ((n = copy_member (cdef, "dnsSearchDomains")) != NULL)
    {
      json_builder_set_member_name (b, "DnsSearch");
      json_builder_add_value (b, n);
    }
  if ((n = copy_member (cdef, "dockerSecurityOptions")) != NULL)
    {
      json_builder_set_member_name (b, "SecurityOpt");
      json_builder_add_value (b, n);
    }
  if ((a = ecsl_json_object_array (cdef, "extraHosts")) != NULL)
    {
      json_builder_set_member_name (b, "ExtraHosts");
      json_builder_begin_array (b);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonObject *h = json_array_get_object_element (a, i);
          g_autofree char *s = g_strdup_printf ("%s:%s", ecsl_json_object_string (h, "hostname"),
                                                ecsl_json_object_string (h, "ipAddress"));
          json_builder_add_string_value (b, s);
        }
      json_builder_end_array (b);
    }
  if ((a = ecsl_json_object_array (cdef, "ulimits")) != NULL)
    {
      json_builder_set_member_name (b, "Ulimits");
      json_builder_begin_array (b);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonObject *u = json_array_get_object_element (a, i);
          gint64 soft = 0, hard = 0;
          ecsl_json_object_int (u, "softLimit", &soft);
          ecsl_json_object_int (u, "hardLimit", &hard);
          json_builder_begin_object (b);
          add_str (b, "Name", ecsl_json_object_string (u, "name"));
          json_builder_set_member_name (b, "Soft");
          json_builder_add_int_value (b, soft);
          json_builder_set_member_name (b, "Hard");
          json_builder_add_int_value (b, hard);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
    }
  if ((a = ecsl_json_object_array (cdef, "systemControls")) != NULL && json_array_get_length (a) > 0)
    {
      JsonArray *sc = a;
      json_builder_set_member_name (b, "Sysctls");
      json_builder_begin_object (b);
      for (guint i = 0; i < json_array_get_length (sc); i++)
        {
          JsonObject *s = json_array_get_object_element (sc, i);
          add_str (b, ecsl_json_object_string (s, "namespace"), ecsl_json_object_string (s, "value"));
        }
      json_builder_end_object (b);
    }
  if (has_reservation)
    {
      json_builder_set_member_name (b, "MemoryReservation");
      json_builder_add_int_value (b, reservation * 1024 * 1024);
    }
  add_str (b, "PidMode", ecsl_json_object_string (d, "pidMode"));
  add_str (b, "IpcMode", ecsl_json_object_string (d, "ipcMode"));
  if (linux_params != NULL)
    {
      JsonObject *caps = ecsl_json_object_object (linux_params, "capabilities");
      if (caps != NULL && (n = copy_member (caps, "add")) != NULL)
        {
          json_builder_set_member_name (b, "CapAdd");
          json_builder_add_value (b, n);
        }
      if (caps != NULL && (n = copy_member (caps, "drop")) != NULL)
        {
          json_builder_set_member_name (b, "CapDrop");
          json_builder_add_value (b, n);
        }
      if (json_object_has_member (linux_params, "initProcessEnabled"))
        {
          json_builder_set_member_name (b, "Init");
          json_builder_add_boolean_value (b,
                                          json_object_get_boolean_member_with_default (linux_params, "initProcessEnabled", FALSE));
        }
      if (ecsl_json_object_int (linux_params, "sharedMemorySize", &v))
        {
          json_builder_set_member_name (b, "ShmSize");
          json_builder_add_int_value (b, v * 1024 * 1024);
        }
      if ((a = ecsl_json_object_array (linux_params, "tmpfs")) != NULL)
        {
          json_builder_set_member_name (b, "Tmpfs");
          json_builder_begin_object (b);
          for (guint i = 0; i < json_array_get_length (a); i++)
            {
              JsonObject *t = json_array_get_object_element (a, i);
              JsonArray *opts = ecsl_json_object_array (t, "mountOptions");
              g_autoptr(GString) s = g_string_new (NULL);
              gint64 size = 0;
              if (ecsl_json_object_int (t, "size", &size))
                g_string_append_printf (s, "size=%" G_GINT64_FORMAT "m", size);
              for (guint k = 0; opts != NULL && k < json_array_get_length (opts); k++)
                g_string_append_printf (s, "%s%s", s->len > 0 ? "," : "", json_array_get_string_element (opts, k));
              add_str (b, ecsl_json_object_string (t, "containerPath"), s->str);
            }
          json_builder_end_object (b);
        }
      if ((a = ecsl_json_object_array (linux_params, "devices")) != NULL)
        {
          json_builder_set_member_name (b, "Devices");
          json_builder_begin_array (b);
          for (guint i = 0; i < json_array_get_length (a); i++)
            {
              JsonObject *dev = json_array_get_object_element (a, i);
              JsonArray *perms = ecsl_json_object_array (dev, "permissions");
              g_autoptr(GString) p = g_string_new (NULL);
              const char *host = ecsl_json_object_string (dev, "hostPath");
              const char *cont = ecsl_json_object_string (dev, "containerPath");
              for (guint k = 0; perms != NULL && k < json_array_get_length (perms); k++)
                g_string_append_c (p, json_array_get_string_element (perms, k)[0]);
              json_builder_begin_object (b);
              add_str (b, "PathOnHost", host);
              add_str (b, "PathInContainer", cont != NULL ? cont : host);
              add_str (b, "CgroupPermissions", p->len > 0 ? p->str : "rwm");
              json_builder_end_object (b);
            }
          json_builder_end_array (b);
        }
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ecsl_json_to_string (root);
}

static void
add_container (EcslContext *ctx, JsonBuilder *b, EcslTask *task, EcslTaskDef *def, JsonObject *cdef,
               gboolean has_execution_role)
{
  const char *name = ecsl_json_object_string (cdef, "name");
  const char *image = ecsl_json_object_string (cdef, "image");
  JsonObject *o = ecsl_task_container_override (task, name);
  JsonArray *env = ecsl_json_object_array (cdef, "environment");
  JsonArray *env_override = o != NULL ? ecsl_json_object_array (o, "environment") : NULL;
  JsonArray *ports = ecsl_json_object_array (cdef, "portMappings");
  JsonArray *mounts = ecsl_json_object_array (cdef, "mountPoints");
  JsonArray *from = ecsl_json_object_array (cdef, "volumesFrom");
  JsonObject *log = ecsl_json_object_object (cdef, "logConfiguration");
  g_autofree char *config = docker_config (cdef);
  g_autofree char *host_config = NULL;
  g_autofree char *overrides = NULL;
  JsonNode *n;
  gint64 v = 0, reservation = 0;
  gboolean has_reservation;
  EcslContainer *c = NULL;

  for (guint i = 0; i < task->containers->len; i++)
    if (strcmp (((EcslContainer *) g_ptr_array_index (task->containers, i))->name, name) == 0)
      c = g_ptr_array_index (task->containers, i);
  has_reservation = (o != NULL && ecsl_json_object_int (o, "memoryReservation", &reservation))
                    || ecsl_json_object_int (cdef, "memoryReservation", &reservation);
  host_config = docker_host_config (def, cdef, reservation, has_reservation);

  json_builder_begin_object (b);
  add_str (b, "name", name);
  add_str (b, "image", image);
  if (c != NULL)
    add_str (b, "containerArn", c->arn);
  json_builder_set_member_name (b, "cpu");
  if (!((o != NULL && ecsl_json_object_int (o, "cpu", &v)) || ecsl_json_object_int (cdef, "cpu", &v)))
    v = 0;
  json_builder_add_int_value (b, v);
  json_builder_set_member_name (b, "memory");
  if (!((o != NULL && ecsl_json_object_int (o, "memory", &v)) || ecsl_json_object_int (cdef, "memory", &v)))
    v = 0;
  json_builder_add_int_value (b, v);
  json_builder_set_member_name (b, "essential");
  json_builder_add_boolean_value (b, json_object_get_boolean_member_with_default (cdef, "essential", TRUE));
  if ((n = copy_member (cdef, "command")) != NULL)
    {
      json_builder_set_member_name (b, "command");
      json_builder_add_value (b, n);
    }
  if ((n = copy_member (cdef, "entryPoint")) != NULL)
    {
      json_builder_set_member_name (b, "entryPoint");
      json_builder_add_value (b, n);
    }
  /* ACS carries the environment as a map; overrides win. */
  json_builder_set_member_name (b, "environment");
  json_builder_begin_object (b);
  {
    g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
    for (int pass = 0; pass < 2; pass++)
      {
        JsonArray *list = pass == 0 ? env_override : env;
        for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
          {
            JsonObject *kv = json_array_get_object_element (list, i);
            const char *key = ecsl_json_object_string (kv, "name");
            const char *value = ecsl_json_object_string (kv, "value");
            if (key == NULL || !g_hash_table_add (seen, (gpointer) key))
              continue;
            add_str (b, key, value != NULL ? value : "");
          }
      }
  }
  json_builder_end_object (b);
  if ((n = copy_member (cdef, "links")) != NULL)
    {
      json_builder_set_member_name (b, "links");
      json_builder_add_value (b, n);
    }
  json_builder_set_member_name (b, "portMappings");
  json_builder_begin_array (b);
  for (guint i = 0; ports != NULL && i < json_array_get_length (ports); i++)
    json_builder_add_value (b, json_node_copy (json_array_get_element (ports, i)));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "mountPoints");
  json_builder_begin_array (b);
  for (guint i = 0; mounts != NULL && i < json_array_get_length (mounts); i++)
    json_builder_add_value (b, json_node_copy (json_array_get_element (mounts, i)));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "volumesFrom");
  json_builder_begin_array (b);
  for (guint i = 0; from != NULL && i < json_array_get_length (from); i++)
    json_builder_add_value (b, json_node_copy (json_array_get_element (from, i)));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "dockerConfig");
  json_builder_begin_object (b);
  add_str (b, "config", config);
  add_str (b, "hostConfig", host_config);
  json_builder_end_object (b);
  /* The command override travels as a JSON document in a string, as v1.16.2 expects it. */
  if (o != NULL && ecsl_json_object_array (o, "command") != NULL)
    {
      g_autoptr(JsonBuilder) ob = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;
      json_builder_begin_object (ob);
      json_builder_set_member_name (ob, "command");
      json_builder_add_value (ob, copy_member (o, "command"));
      json_builder_end_object (ob);
      root = json_builder_get_root (ob);
      overrides = ecsl_json_to_string (root);
    }
  add_str (b, "overrides", overrides != NULL ? overrides : "{}");
  if (ecsl_is_ecr_image (ctx, image))
    {
      json_builder_set_member_name (b, "registryAuthentication");
      json_builder_begin_object (b);
      add_str (b, "type", "ecr");
      json_builder_set_member_name (b, "ecrAuthData");
      json_builder_begin_object (b);
      add_str (b, "registryId", ctx->config.account_id);
      add_str (b, "region", ctx->config.region);
      add_str (b, "endpointOverride", ctx->endpoint);
      json_builder_set_member_name (b, "useExecutionRole");
      json_builder_add_boolean_value (b, has_execution_role);
      json_builder_end_object (b);
      json_builder_end_object (b);
    }
  if (log != NULL && has_execution_role && g_strcmp0 (ecsl_json_object_string (log, "logDriver"), "awslogs") == 0)
    add_str (b, "logsAuthStrategy", "ExecutionRole");
  json_builder_end_object (b);
}

JsonNode *
ecsl_payload_task (EcslContext *ctx, EcslTask *task, const char *desired, gboolean with_credentials)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  EcslTaskDef *def = ecsl_state_taskdef_by_arn (ctx->state, task->taskdef_arn);
  JsonObject *d;
  JsonArray *containers, *volumes;
  g_autofree char *version = NULL;
  JsonObject *overrides = task->overrides != NULL ? json_node_get_object (task->overrides) : NULL;
  const char *cpu, *memory, *task_role, *exec_role;

  if (def == NULL)
    return NULL;
  d = json_node_get_object (def->def);
  containers = ecsl_json_object_array (d, "containerDefinitions");
  volumes = ecsl_json_object_array (d, "volumes");
  cpu = overrides != NULL && ecsl_json_object_string (overrides, "cpu") != NULL
          ? ecsl_json_object_string (overrides, "cpu") : ecsl_json_object_string (d, "cpu");
  memory = overrides != NULL && ecsl_json_object_string (overrides, "memory") != NULL
             ? ecsl_json_object_string (overrides, "memory") : ecsl_json_object_string (d, "memory");
  task_role = overrides != NULL && ecsl_json_object_string (overrides, "taskRoleArn") != NULL
                ? ecsl_json_object_string (overrides, "taskRoleArn") : ecsl_json_object_string (d, "taskRoleArn");
  exec_role = overrides != NULL && ecsl_json_object_string (overrides, "executionRoleArn") != NULL
                ? ecsl_json_object_string (overrides, "executionRoleArn")
                : ecsl_json_object_string (d, "executionRoleArn");
  version = g_strdup_printf ("%" G_GINT64_FORMAT, def->revision);

  json_builder_begin_object (b);
  add_str (b, "arn", task->arn);
  add_str (b, "family", def->family);
  add_str (b, "version", version);
  add_str (b, "desiredStatus", desired);
  add_str (b, "overrides", "{}");
  add_str (b, "taskDefinitionAccountId", ctx->config.account_id);
  add_str (b, "launchType", "EC2");
  add_str (b, "networkMode", ecsl_taskdef_network_mode (def));
  if (cpu != NULL)
    {
      json_builder_set_member_name (b, "cpu");
      json_builder_add_double_value (b, (double) ecsl_parse_task_cpu (cpu) / 1024.0);
    }
  if (memory != NULL)
    {
      json_builder_set_member_name (b, "memory");
      json_builder_add_int_value (b, ecsl_parse_task_memory (memory));
    }
  json_builder_set_member_name (b, "volumes");
  json_builder_begin_array (b);
  for (guint i = 0; volumes != NULL && i < json_array_get_length (volumes); i++)
    {
      JsonObject *v = json_array_get_object_element (volumes, i);
      JsonObject *host = ecsl_json_object_object (v, "host");
      JsonObject *docker = ecsl_json_object_object (v, "dockerVolumeConfiguration");
      json_builder_begin_object (b);
      add_str (b, "name", ecsl_json_object_string (v, "name"));
      if (docker != NULL)
        {
          add_str (b, "type", "docker");
          json_builder_set_member_name (b, "dockerVolumeConfiguration");
          json_builder_add_value (b, copy_member (v, "dockerVolumeConfiguration"));
        }
      else
        {
          add_str (b, "type", "host");
          json_builder_set_member_name (b, "host");
          json_builder_begin_object (b);
          if (host != NULL)
            add_str (b, "sourcePath", ecsl_json_object_string (host, "sourcePath"));
          json_builder_end_object (b);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "containers");
  json_builder_begin_array (b);
  for (guint i = 0; containers != NULL && i < json_array_get_length (containers); i++)
    add_container (ctx, b, task, def, json_array_get_object_element (containers, i), exec_role != NULL);
  json_builder_end_array (b);
  if (with_credentials && strcmp (desired, "RUNNING") == 0)
    {
      if (task->role_credentials_id != NULL && task_role != NULL)
        {
          const EcslCredEntry *e = current_credentials (ctx, task, ECSL_CRED_TASK_ROLE, task->role_credentials_id,
                                                        task_role);
          json_builder_set_member_name (b, "roleCredentials");
          json_builder_add_value (b, ecsl_payload_credentials (ctx, e));
        }
      if (task->execution_credentials_id != NULL && exec_role != NULL)
        {
          const EcslCredEntry *e = current_credentials (ctx, task, ECSL_CRED_EXECUTION_ROLE,
                                                        task->execution_credentials_id, exec_role);
          json_builder_set_member_name (b, "executionRoleCredentials");
          json_builder_add_value (b, ecsl_payload_credentials (ctx, e));
        }
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

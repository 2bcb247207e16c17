/* ecsa-config.c: configuration from environment, JSON file and defaults, graded as agent v1.16.2.
 *
 * One table (`specs`) describes every setting: its environment name, its JSON key in the config
 * file (v1.16.2's Go field name), its type and where it lives in EcsaConfig. Loading runs in
 * layers: defaults, then the file's values, then the environment's; a malformed environment value
 * is one warning and falls through to the file or the default, exactly as v1.16.2's Merge() does.
 * Then the bounds checks of v1.16.2's validateAndOverrideBounds().
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-build-config.h"
#include "ecsa-config.h"

#include "ecsa-log.h"
#include "ecsa-plugin.h"
#include "ecsa-utils.h"

#include <errno.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_US G_GINT64_CONSTANT(1000)

/* v1.16.2 config.go constants */
#define DEFAULT_CLUSTER "default"
#define DEFAULT_DOCKER_ENDPOINT "unix:///var/run/docker.sock"
#define DEFAULT_TASK_CLEANUP_WAIT (3 * G_TIME_SPAN_HOUR)
#define MIN_TASK_CLEANUP_WAIT (1 * G_TIME_SPAN_MINUTE)
#define DEFAULT_DOCKER_STOP_TIMEOUT (30 * G_TIME_SPAN_SECOND)
#define MIN_DOCKER_STOP_TIMEOUT (1 * G_TIME_SPAN_SECOND)
#define DEFAULT_IMAGE_CLEANUP_INTERVAL (30 * G_TIME_SPAN_MINUTE)
#define MIN_IMAGE_CLEANUP_INTERVAL (10 * G_TIME_SPAN_MINUTE)
#define DEFAULT_IMAGE_DELETION_AGE (1 * G_TIME_SPAN_HOUR)
#define DEFAULT_NUM_IMAGES_PER_CYCLE 5
#define MIN_NUM_IMAGES_PER_CYCLE 1

typedef enum
{
  T_STRING,      /* char * */
  T_BOOL,        /* gboolean */
  T_UINT16,      /* guint16 */
  T_INT,         /* int */
  T_DURATION,    /* GTimeSpan */
  T_PORTS,       /* GArray of guint16 */
  T_DRIVERS,     /* char ** */
  T_ATTRIBUTES,  /* GHashTable char* -> char* */
  T_CIDRS,       /* char ** */
  T_CIDR,        /* char * */
  T_CONDITIONAL, /* EcsaConditional */
  T_RAW,         /* char *: raw text (env) or raw JSON (file) */
  T_LOGLEVEL,    /* char *, resolved by ecsa_config_resolve_log_level() */
  T_PRESENCE,    /* not stored: shown as set or unset (AWS credentials) */
} VarType;

enum
{
  F_SECRET = 1 << 0,     /* never printed or logged in clear */
  F_TRIM = 1 << 1,       /* surrounding blanks trimmed (v1.16.2 `trim` tag) */
  F_DEPRECATED = 1 << 2, /* a warning when set */
  F_FLAG = 1 << 3,       /* set by a command-line flag only */
};

typedef struct
{
  const char *env;  /* environment name, NULL for file-only keys */
  const char *json; /* config file key (Go field name), NULL for environment-only settings */
  VarType type;
  gssize offset; /* in EcsaConfig, -1 for none */
  guint flags;
  const char *expect; /* for warnings: what a valid value looks like */
} VarSpec;

#define OFF(field) ((gssize)offsetof(EcsaConfig, field))

static const VarSpec specs[] = {
  { "ECS_CLUSTER", "Cluster", T_STRING, OFF(cluster), F_TRIM, NULL },
  { "AWS_DEFAULT_REGION", "AWSRegion", T_STRING, OFF(aws_region), F_TRIM, NULL },
  { "ECS_BACKEND_HOST", "APIEndpoint", T_STRING, OFF(api_endpoint), F_TRIM, NULL },
  { "DOCKER_HOST", "DockerEndpoint", T_STRING, OFF(docker_endpoint), 0, NULL },
  { "ECS_RESERVED_PORTS", "ReservedPorts", T_PORTS, OFF(reserved_ports), 0, "a JSON array like [1,2,3]" },
  { "ECS_RESERVED_PORTS_UDP", "ReservedPortsUDP", T_PORTS, OFF(reserved_ports_udp), 0, "a JSON array like [1,2,3]" },
  { "ECS_ENGINE_AUTH_TYPE", "EngineAuthType", T_STRING, OFF(engine_auth_type), F_TRIM, NULL },
  { "ECS_ENGINE_AUTH_DATA", "EngineAuthData", T_RAW, OFF(engine_auth_data), F_SECRET, NULL },
  { "ECS_LOGLEVEL", NULL, T_LOGLEVEL, OFF(log_level), 0, "one of crit, error, warn, info, debug" },
  { "ECS_LOGFILE", NULL, T_STRING, OFF(log_file), 0, NULL },
  { "ECS_CHECKPOINT", "Checkpoint", T_BOOL, OFF(checkpoint), 0, "true or false" },
  { "ECS_DATADIR", "DataDir", T_STRING, OFF(data_dir), 0, NULL },
  { "ECS_UPDATES_ENABLED", "UpdatesEnabled", T_BOOL, OFF(updates_enabled), 0, "true or false" },
  { "ECS_UPDATE_DOWNLOAD_DIR", "UpdateDownloadDir", T_STRING, OFF(update_download_dir), 0, NULL },
  { "ECS_DISABLE_METRICS", "DisableMetrics", T_BOOL, OFF(disable_metrics), 0, "true or false" },
  { "ECS_RESERVED_MEMORY", "ReservedMemory", T_UINT16, OFF(reserved_memory), 0,
    "an unsigned integer (MiB) up to 65535" },
  { "ECS_AVAILABLE_LOGGING_DRIVERS", "AvailableLoggingDrivers", T_DRIVERS, OFF(available_logging_drivers), 0,
    "a JSON array like [\"json-file\",\"syslog\"]" },
  { "ECS_DISABLE_PRIVILEGED", "PrivilegedDisabled", T_BOOL, OFF(privileged_disabled), 0, "true or false" },
  { "ECS_SELINUX_CAPABLE", "SELinuxCapable", T_BOOL, OFF(selinux_capable), 0, "true or false" },
  { "ECS_APPARMOR_CAPABLE", "AppArmorCapable", T_BOOL, OFF(apparmor_capable), 0, "true or false" },
  { "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "TaskCleanupWaitDuration", T_DURATION, OFF(task_cleanup_wait_duration), 0,
    "a duration like 3h or 10m (at least 1m)" },
  { "ECS_CONTAINER_STOP_TIMEOUT", "DockerStopTimeout", T_DURATION, OFF(docker_stop_timeout), 0,
    "a duration like 30s or 10m (at least 1s)" },
  { "ECS_ENABLE_TASK_IAM_ROLE", "TaskIAMRoleEnabled", T_BOOL, OFF(task_iam_role_enabled), 0, "true or false" },
  { "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "TaskIAMRoleEnabledForNetworkHost", T_BOOL,
    OFF(task_iam_role_enabled_for_network_host), 0, "true or false" },
  { "ECS_DISABLE_IMAGE_CLEANUP", "ImageCleanupDisabled", T_BOOL, OFF(image_cleanup_disabled), 0, "true or false" },
  { "ECS_IMAGE_CLEANUP_INTERVAL", "ImageCleanupInterval", T_DURATION, OFF(image_cleanup_interval), 0,
    "a duration like 30m (at least 10m)" },
  { "ECS_IMAGE_MINIMUM_CLEANUP_AGE", "MinimumImageDeletionAge", T_DURATION, OFF(minimum_image_deletion_age), 0,
    "a duration like 1h or 30m" },
  { "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "NumImagesToDeletePerCycle", T_INT, OFF(num_images_to_delete_per_cycle), 0,
    "an integer of at least 1" },
  { "ECS_INSTANCE_ATTRIBUTES", "InstanceAttributes", T_ATTRIBUTES, OFF(instance_attributes), 0,
    "a JSON object of strings like {\"stack\": \"prod\"}" },
  { "ECS_ENABLE_TASK_ENI", "TaskENIEnabled", T_BOOL, OFF(task_eni_enabled), 0, "true or false" },
  { "ECS_CNI_PLUGINS_PATH", "CNIPluginsPath", T_STRING, OFF(cni_plugins_path), 0, NULL },
  { "ECS_AWSVPC_BLOCK_IMDS", "AWSVPCBlockInstanceMetdata", T_BOOL, OFF(awsvpc_block_imds), 0, "true or false" },
  { "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES", "AWSVPCAdditionalLocalRoutes", T_CIDRS, OFF(awsvpc_additional_local_routes),
    0, "a JSON array of CIDRs like [\"10.0.15.0/24\"]" },
  { "ECS_ENABLE_CONTAINER_METADATA", "ContainerMetadataEnabled", T_BOOL, OFF(container_metadata_enabled), 0,
    "true or false" },
  { "ECS_HOST_DATA_DIR", "DataDirOnHost", T_STRING, OFF(data_dir_on_host), 0, NULL },
  { "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "TaskCPUMemLimit", T_CONDITIONAL, OFF(task_cpu_mem_limit), 0, "true or false" },
  { "ECS_AUDIT_LOGFILE", "CredentialsAuditLogFile", T_STRING, OFF(credentials_audit_log_file), 0, NULL },
  { "ECS_AUDIT_LOGFILE_DISABLED", "CredentialsAuditLogDisabled", T_BOOL, OFF(credentials_audit_log_disabled), 0,
    "true or false" },
  { "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "OverrideAWSLogsExecutionRole", T_BOOL,
    OFF(override_awslogs_execution_role), 0, "true or false" },
  { NULL, "ClusterArn", T_STRING, -1, F_DEPRECATED, NULL },
  { NULL, "PauseContainerTarballPath", T_STRING, OFF(pause_container_tarball_path), 0, NULL },
  { NULL, "PauseContainerImageName", T_STRING, OFF(pause_container_image_name), 0, NULL },
  { NULL, "PauseContainerTag", T_STRING, OFF(pause_container_tag), 0, NULL },
  { NULL, "OverrideAWSVPCLocalIPv4Address", T_CIDR, OFF(override_awsvpc_local_ipv4_address), 0,
    "a CIDR like \"169.254.172.42/22\"" },
  { "ECS_AGENT_CONFIG_FILE_PATH", NULL, T_STRING, OFF(config_file_path), 0, NULL },
  { "ECSA_PLUGIN_DIR", NULL, T_STRING, OFF(plugin_dir), 0, NULL },
  { "AWS_ACCESS_KEY_ID", NULL, T_PRESENCE, -1, F_SECRET, NULL },
  { "AWS_SECRET_ACCESS_KEY", NULL, T_PRESENCE, -1, F_SECRET, NULL },
  { "AWS_SESSION_TOKEN", NULL, T_PRESENCE, -1, F_SECRET, NULL },
  { NULL, NULL, T_BOOL, OFF(accept_insecure_cert), F_FLAG, NULL },
  { NULL, NULL, T_BOOL, OFF(blackhole_ec2_metadata), F_FLAG, NULL },
};

#define N_SPECS G_N_ELEMENTS(specs)

/* ECS logging driver names v1.16.2 knows (dockerclient.LoggingDriverMinimumVersion). */
static const char *const known_logging_drivers[] = { "json-file", "syslog",  "journald", "gelf",
                                                     "fluentd",   "awslogs", "splunk",   "logentries",
                                                     "sumologic", "none",    NULL };

struct _EcsaConfigPrivate
{
  EcsaConfigSource sources[N_SPECS];
  char *cluster_arn;       /* ClusterArn from the file */
  gboolean file_present;   /* the config file existed and was not blank */
  GHashTable *view;        /* name -> formatted value (ecsa_config_get) */
  GPtrArray *view_retired; /* formatted values replaced since: kept alive for plugins */
  char *presence[3];       /* AWS_ACCESS_KEY_ID, ... as seen at load, or NULL */
};

static const char *const presence_names[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN" };

static int
presence_index(const VarSpec *spec)
{
  for (gsize k = 0; k < G_N_ELEMENTS(presence_names); k++)
    if (g_strcmp0(spec->env, presence_names[k]) == 0)
      return (int)k;
  return -1;
}

static const char *
spec_name(const VarSpec *spec)
{
  if (spec->env != NULL)
    return spec->env;
  if (spec->json != NULL)
    return spec->json;
  if (spec->offset == OFF(accept_insecure_cert))
    return "AcceptInsecureCert";
  return "BlackholeEC2Metadata";
}

static const VarSpec *
spec_lookup(const char *name, gsize *out_index)
{
  for (gsize i = 0; i < N_SPECS; i++)
    {
      if (g_strcmp0(specs[i].env, name) == 0 || g_strcmp0(specs[i].json, name) == 0
          || strcmp(spec_name(&specs[i]), name) == 0)
        {
          if (out_index != NULL)
            *out_index = i;
          return &specs[i];
        }
    }
  return NULL;
}

static gpointer
field_ptr(EcsaConfig *config, const VarSpec *spec)
{
  g_assert(spec->offset >= 0);
  return (char *)config + spec->offset;
}

/* ---------------------------------------------------------------------------------------------
 * Field values: clear, copy, test for "zero" (v1.16.2's ZeroOrNil), format
 * ------------------------------------------------------------------------------------------- */
static void
field_clear(EcsaConfig *config, const VarSpec *spec)
{
  gpointer p;

  if (spec->offset < 0)
    return;
  p = field_ptr(config, spec);
  switch (spec->type)
    {
    case T_STRING:
    case T_CIDR:
    case T_LOGLEVEL:
      g_clear_pointer((char **)p, g_free);
      break;
    case T_RAW:
      g_clear_pointer((char **)p, ecsa_free_secret);
      break;
    case T_BOOL:
      *(gboolean *)p = FALSE;
      break;
    case T_UINT16:
      *(guint16 *)p = 0;
      break;
    case T_INT:
      *(int *)p = 0;
      break;
    case T_DURATION:
      *(GTimeSpan *)p = 0;
      break;
    case T_CONDITIONAL:
      *(EcsaConditional *)p = ECSA_CONDITIONAL_DEFAULT;
      break;
    case T_PORTS:
      g_clear_pointer((GArray **)p, g_array_unref);
      break;
    case T_DRIVERS:
    case T_CIDRS:
      g_clear_pointer((char ***)p, g_strfreev);
      break;
    case T_ATTRIBUTES:
      g_clear_pointer((GHashTable **)p, g_hash_table_unref);
      break;
    case T_PRESENCE:
      break;
    }
}

static GArray *
ports_copy(GArray *ports)
{
  GArray *copy = g_array_sized_new(FALSE, FALSE, sizeof(guint16), ports->len);

  g_array_append_vals(copy, ports->data, ports->len);
  return copy;
}

static GHashTable *
attributes_copy(GHashTable *attributes)
{
  GHashTable *copy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer k, v;

  g_hash_table_iter_init(&iter, attributes);
  while (g_hash_table_iter_next(&iter, &k, &v))
    g_hash_table_insert(copy, g_strdup(k), g_strdup(v));
  return copy;
}

static void
field_copy(EcsaConfig *dst, const EcsaConfig *src, const VarSpec *spec)
{
  gpointer d, s;

  if (spec->offset < 0)
    return;
  field_clear(dst, spec);
  d = field_ptr(dst, spec);
  s = field_ptr((EcsaConfig *)src, spec);
  switch (spec->type)
    {
    case T_STRING:
    case T_CIDR:
    case T_LOGLEVEL:
    case T_RAW:
      *(char **)d = g_strdup(*(char **)s);
      break;
    case T_BOOL:
      *(gboolean *)d = *(gboolean *)s;
      break;
    case T_UINT16:
      *(guint16 *)d = *(guint16 *)s;
      break;
    case T_INT:
      *(int *)d = *(int *)s;
      break;
    case T_DURATION:
      *(GTimeSpan *)d = *(GTimeSpan *)s;
      break;
    case T_CONDITIONAL:
      *(EcsaConditional *)d = *(EcsaConditional *)s;
      break;
    case T_PORTS:
      *(GArray **)d = *(GArray **)s != NULL ? ports_copy(*(GArray **)s) : NULL;
      break;
    case T_DRIVERS:
    case T_CIDRS:
      *(char ***)d = g_strdupv(*(char ***)s);
      break;
    case T_ATTRIBUTES:
      *(GHashTable **)d = *(GHashTable **)s != NULL ? attributes_copy(*(GHashTable **)s) : NULL;
      break;
    case T_PRESENCE:
      break;
    }
}

static void
append_json_string(GString *out, const char *s)
{
  g_autoptr(JsonNode) node = json_node_init_string(json_node_alloc(), s);
  g_autofree char *text = json_to_string(node, FALSE);

  g_string_append(out, text);
}

static int
str_ptr_cmp(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The value as one would write it in the environment; NULL when unset. Secrets in clear. */
static char *
field_format(EcsaConfig *config, const VarSpec *spec)
{
  gpointer p;
  GString *out;

  if (spec->type == T_PRESENCE)
    {
      int k = presence_index(spec);
      return k >= 0 ? g_strdup(config->priv->presence[k]) : NULL;
    }
  if (spec->offset < 0)
    return g_strdup(config->priv->cluster_arn); /* ClusterArn */
  p = field_ptr(config, spec);
  switch (spec->type)
    {
    case T_STRING:
    case T_CIDR:
    case T_LOGLEVEL:
    case T_RAW:
      return g_strdup(*(char **)p);
    case T_BOOL:
      return g_strdup(*(gboolean *)p ? "true" : "false");
    case T_UINT16:
      return g_strdup_printf("%u", *(guint16 *)p);
    case T_INT:
      return g_strdup_printf("%d", *(int *)p);
    case T_DURATION:
      return ecsa_config_duration_to_string(*(GTimeSpan *)p);
    case T_CONDITIONAL:
      switch (*(EcsaConditional *)p)
        {
        case ECSA_CONDITIONAL_ENABLED:
          return g_strdup("true");
        case ECSA_CONDITIONAL_DISABLED:
          return g_strdup("false");
        case ECSA_CONDITIONAL_DEFAULT:
        default:
          return NULL;
        }
    case T_PORTS:
      {
        GArray *ports = *(GArray **)p;
        out = g_string_new("[");
        for (guint i = 0; ports != NULL && i < ports->len; i++)
          g_string_append_printf(out, "%s%u", i > 0 ? "," : "", g_array_index(ports, guint16, i));
        g_string_append_c(out, ']');
        return g_string_free(out, FALSE);
      }
    case T_DRIVERS:
    case T_CIDRS:
      {
        char **list = *(char ***)p;
        out = g_string_new("[");
        for (guint i = 0; list != NULL && list[i] != NULL; i++)
          {
            if (i > 0)
              g_string_append_c(out, ',');
            append_json_string(out, list[i]);
          }
        g_string_append_c(out, ']');
        return g_string_free(out, FALSE);
      }
    case T_ATTRIBUTES:
      {
        GHashTable *attributes = *(GHashTable **)p;
        g_autofree gpointer *keys = NULL;
        guint n = 0;

        out = g_string_new("{");
        if (attributes != NULL)
          {
            keys = g_hash_table_get_keys_as_array(attributes, &n);
            qsort(keys, n, sizeof(gpointer), str_ptr_cmp);
          }
        for (guint i = 0; i < n; i++)
          {
            if (i > 0)
              g_string_append_c(out, ',');
            append_json_string(out, keys[i]);
            g_string_append_c(out, ':');
            append_json_string(out, g_hash_table_lookup(attributes, keys[i]));
          }
        g_string_append_c(out, '}');
        return g_string_free(out, FALSE);
      }
    case T_PRESENCE:
    default:
      return NULL;
    }
}

/* v1.16.2 merges layers with ZeroOrNil(): an empty string, list or map, a zero number or duration,
 * counts as unset and lets the next layer through. Booleans are the exception here: an explicit
 * false in the environment wins over the file (see docs/CONFIGURATION.md). */
static gboolean
field_is_zero(EcsaConfig *config, const VarSpec *spec)
{
  gpointer p = field_ptr(config, spec);

  switch (spec->type)
    {
    case T_STRING:
    case T_CIDR:
    case T_LOGLEVEL:
    case T_RAW:
      return ecsa_str_empty(*(char **)p);
    case T_UINT16:
      return *(guint16 *)p == 0;
    case T_INT:
      return *(int *)p == 0;
    case T_DURATION:
      return *(GTimeSpan *)p == 0;
    case T_CONDITIONAL:
      return *(EcsaConditional *)p == ECSA_CONDITIONAL_DEFAULT;
    case T_PORTS:
      return *(GArray **)p == NULL || (*(GArray **)p)->len == 0;
    case T_DRIVERS:
    case T_CIDRS:
      return *(char ***)p == NULL || (*(char ***)p)[0] == NULL;
    case T_ATTRIBUTES:
      return *(GHashTable **)p == NULL || g_hash_table_size(*(GHashTable **)p) == 0;
    case T_BOOL:
    case T_PRESENCE:
    default:
      return FALSE;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Scalars as Go parses them
 * ------------------------------------------------------------------------------------------- */
gboolean
ecsa_config_parse_bool(const char *text, gboolean *out_value)
{
  static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
  static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
  g_autofree char *s = NULL;

  if (text == NULL)
    return FALSE;
  s = g_strstrip(g_strdup(text));
  for (gsize i = 0; i < G_N_ELEMENTS(yes); i++)
    {
      if (strcmp(s, yes[i]) == 0)
        {
          *out_value = TRUE;
          return TRUE;
        }
      if (strcmp(s, no[i]) == 0)
        {
          *out_value = FALSE;
          return TRUE;
        }
    }
  return FALSE;
}

static gboolean
duration_error(GError **error, const char *text, const char *what)
{
  g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "%s \"%s\"", what, text);
  return FALSE;
}

gboolean
ecsa_config_parse_duration(const char *text, GTimeSpan *out_value, GError **error)
{
  static const struct
  {
    const char *unit;
    guint64 ns;
  } units[] = {
    { "ns", 1 },
    { "us", 1000 },
    { "\xc2\xb5s", 1000 }, /* U+00B5 micro sign */
    { "\xce\xbcs", 1000 }, /* U+03BC greek mu */
    { "ms", 1000000 },
    { "s", G_GUINT64_CONSTANT(1000000000) },
    { "m", G_GUINT64_CONSTANT(60000000000) },
    { "h", G_GUINT64_CONSTANT(3600000000000) },
  };
  const guint64 max = G_MAXINT64;
  const char *s = text;
  guint64 total = 0;
  gboolean neg = FALSE;

  if (text == NULL)
    return duration_error(error, "", "invalid duration");
  if (*s == '-' || *s == '+')
    {
      neg = *s == '-';
      s++;
    }
  if (strcmp(s, "0") == 0)
    {
      *out_value = 0;
      return TRUE;
    }
  if (*s == '\0')
    return duration_error(error, text, "invalid duration");
  while (*s != '\0')
    {
      guint64 v = 0, f = 0;
      double scale = 1.0;
      gboolean pre = FALSE, post = FALSE, overflow = FALSE;
      const char *unit_start;
      gsize unit_len;
      guint64 unit = 0;

      if (!(*s == '.' || g_ascii_isdigit(*s)))
        return duration_error(error, text, "invalid duration");
      for (; g_ascii_isdigit(*s); s++)
        {
          pre = TRUE;
          if (v > (G_MAXINT64 - 9) / 10 + 1 || v * 10 + (guint64)(*s - '0') > max)
            return duration_error(error, text, "invalid duration");
          v = v * 10 + (guint64)(*s - '0');
        }
      if (*s == '.')
        {
          s++;
          for (; g_ascii_isdigit(*s); s++)
            {
              post = TRUE;
              if (overflow)
                continue;
              if (f > (G_MAXINT64 - 9) / 10)
                {
                  overflow = TRUE; /* further digits are dropped, as Go does */
                  continue;
                }
              f = f * 10 + (guint64)(*s - '0');
              scale *= 10;
            }
        }
      if (!pre && !post)
        return duration_error(error, text, "invalid duration");
      unit_start = s;
      while (*s != '\0' && *s != '.' && !g_ascii_isdigit(*s))
        s++;
      unit_len = (gsize)(s - unit_start);
      if (unit_len == 0)
        return duration_error(error, text, "missing unit in duration");
      for (gsize i = 0; i < G_N_ELEMENTS(units); i++)
        if (strlen(units[i].unit) == unit_len && strncmp(units[i].unit, unit_start, unit_len) == 0)
          unit = units[i].ns;
      if (unit == 0)
        {
          g_autofree char *u = g_strndup(unit_start, unit_len);
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "unknown unit \"%s\" in duration \"%s\"", u, text);
          return FALSE;
        }
      if (v > max / unit)
        return duration_error(error, text, "invalid duration");
      v *= unit;
      if (f > 0)
        {
          v += (guint64)((double)f * ((double)unit / scale));
          if (v > max)
            return duration_error(error, text, "invalid duration");
        }
      total += v;
      if (total > max)
        return duration_error(error, text, "invalid duration");
    }
  *out_value = (neg ? -(gint64)total : (gint64)total) / NS_PER_US;
  return TRUE;
}

/* Go's fmtFrac: the fraction of v / 10^prec without trailing zeros (nothing when it is 0). */
static guint64
fmt_frac(GString *rev, guint64 v, int prec)
{
  gboolean print = FALSE;

  for (int i = 0; i < prec; i++)
    {
      int digit = (int)(v % 10);
      print = print || digit != 0;
      if (print)
        g_string_append_c(rev, (char)('0' + digit));
      v /= 10;
    }
  if (print)
    g_string_append_c(rev, '.');
  return v;
}

static void
fmt_int(GString *rev, guint64 v)
{
  if (v == 0)
    {
      g_string_append_c(rev, '0');
      return;
    }
  for (; v > 0; v /= 10)
    g_string_append_c(rev, (char)('0' + v % 10));
}

char *
ecsa_config_duration_to_string(GTimeSpan value)
{
  g_autoptr(GString) rev = g_string_new(NULL); /* built backwards, as Go does */
  gboolean neg = value < 0;
  guint64 u = neg ? (guint64)(-(value + 1)) + 1 : (guint64)value;
  GString *out;

  /* nanoseconds, saturated to the range of Go's time.Duration */
  if (u > (guint64)G_MAXINT64 / (guint64)NS_PER_US)
    u = neg ? (guint64)G_MAXINT64 + 1 : (guint64)G_MAXINT64;
  else
    u *= (guint64)NS_PER_US;
  if (u == 0)
    return g_strdup("0s");
  if (u < G_GUINT64_CONSTANT(1000000000))
    {
      int prec;
      g_string_append_c(rev, 's');
      if (u < 1000)
        {
          prec = 0;
          g_string_append_c(rev, 'n');
        }
      else if (u < 1000000)
        {
          prec = 3;
          g_string_append(rev, "\xb5\xc2"); /* "µ" reversed */
        }
      else
        {
          prec = 6;
          g_string_append_c(rev, 'm');
        }
      u = fmt_frac(rev, u, prec);
      fmt_int(rev, u);
    }
  else
    {
      g_string_append_c(rev, 's');
      u = fmt_frac(rev, u, 9);
      fmt_int(rev, u % 60);
      u /= 60;
      if (u > 0)
        {
          g_string_append_c(rev, 'm');
          fmt_int(rev, u % 60);
          u /= 60;
          if (u > 0)
            {
              g_string_append_c(rev, 'h');
              fmt_int(rev, u);
            }
        }
    }
  if (neg)
    g_string_append_c(rev, '-');
  out = g_string_sized_new(rev->len);
  for (gsize i = rev->len; i > 0; i--)
    g_string_append_c(out, rev->str[i - 1]);
  return g_string_free(out, FALSE);
}

/* strconv.ParseUint (s, 10, 16) */
static gboolean
parse_uint16(const char *text, guint16 *out_value)
{
  guint64 v;

  if (text == NULL || !g_ascii_isdigit(text[0]))
    return FALSE;
  if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT16, &v, NULL))
    return FALSE;
  *out_value = (guint16)v;
  return TRUE;
}

/* strconv.Atoi: optional sign, decimal digits, no blanks */
static gboolean
parse_int(const char *text, int *out_value)
{
  const char *digits = text;
  gint64 v;

  if (text == NULL)
    return FALSE;
  if (*digits == '+' || *digits == '-')
    digits++;
  if (!g_ascii_isdigit(*digits))
    return FALSE;
  for (const char *c = digits; *c; c++)
    if (!g_ascii_isdigit(*c))
      return FALSE;
  if (*text == '+')
    text++;
  if (!g_ascii_string_to_signed(text, 10, G_MININT, G_MAXINT, &v, NULL))
    return FALSE;
  *out_value = (int)v;
  return TRUE;
}

/* net.ParseCIDR: an IPv4 or IPv6 address, "/", a prefix length in range. Host bits may be set. */
static gboolean
cidr_valid(const char *text)
{
  const char *slash;
  g_autofree char *address = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  guint64 prefix;

  if (text == NULL || (slash = strchr(text, '/')) == NULL)
    return FALSE;
  address = g_strndup(text, (gsize)(slash - text));
  inet = g_inet_address_new_from_string(address);
  if (inet == NULL || !g_ascii_isdigit(slash[1]))
    return FALSE;
  if (!g_ascii_string_to_unsigned(slash + 1, 10, 0, g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV4 ? 32 : 128,
                                  &prefix, NULL))
    return FALSE;
  return TRUE;
}

static gboolean
docker_endpoint_valid(const char *endpoint, GError **error)
{
  g_autoptr(GUri) uri = g_uri_parse(endpoint, G_URI_FLAGS_NONE, NULL);
  const char *scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;

  if (scheme != NULL && strcmp(scheme, "unix") == 0 && g_uri_get_path(uri)[0] == '/')
    return TRUE;
  if (scheme != NULL && (strcmp(scheme, "tcp") == 0 || strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)
      && !ecsa_str_empty(g_uri_get_host(uri)))
    return TRUE;
  g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
              "invalid endpoint '%s': expected unix:///path/to/docker.sock or tcp://host:port", endpoint);
  return FALSE;
}

/* ---------------------------------------------------------------------------------------------
 * JSON values (environment lists and maps, and the config file)
 * ------------------------------------------------------------------------------------------- */
static JsonNode *
parse_json_text(const char *text, gssize length, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) local = NULL;

  if (!json_parser_load_from_data(parser, text, length, &local))
    {
      /* "<data>:1:4: Parse error: ..." -> "line 1, column 4: ..." */
      int line = 0, column = 0;
      const char *rest = strstr(local->message, ": ");

      if (g_str_has_prefix(local->message, "<data>:") && sscanf(local->message + 7, "%d:%d", &line, &column) == 2
          && rest != NULL && (rest = strstr(rest + 2, ": ")) != NULL)
        {
          const char *what = g_str_has_prefix(rest + 2, "Parse error: ") ? rest + 15 : rest + 2;
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "line %d, column %d: %s", line, column, what);
        }
      else
        g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, local->message);
      return NULL;
    }
  if (json_parser_get_root(parser) == NULL)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "empty JSON");
      return NULL;
    }
  return json_node_ref(json_parser_get_root(parser));
}

static const char *
json_type_name(JsonNode *node)
{
  if (JSON_NODE_HOLDS_NULL(node))
    return "null";
  if (JSON_NODE_HOLDS_OBJECT(node))
    return "object";
  if (JSON_NODE_HOLDS_ARRAY(node))
    return "array";
  switch (json_node_get_value_type(node))
    {
    case G_TYPE_STRING:
      return "string";
    case G_TYPE_BOOLEAN:
      return "bool";
    default:
      return "number";
    }
}

static gboolean
json_get_int64(JsonNode *node, gint64 *out_value)
{
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
    return FALSE;
  *out_value = json_node_get_int(node);
  return TRUE;
}

static gboolean
json_is_string(JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING;
}

static gboolean
type_error(const VarSpec *spec, JsonNode *node, GError **error)
{
  g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "a JSON %s does not fit (expected %s)", json_type_name(node),
              spec->expect != NULL ? spec->expect : "a string");
  return FALSE;
}

/* Typed JSON values into a field; null leaves the field unset. */
static gboolean
field_set_from_json(EcsaConfig *config, const VarSpec *spec, JsonNode *node, GError **error)
{
  gpointer p;
  gint64 n;

  if (JSON_NODE_HOLDS_NULL(node) && spec->type != T_CONDITIONAL)
    return TRUE;
  if (spec->offset < 0)
    {
      /* ClusterArn */
      if (!json_is_string(node))
        return type_error(spec, node, error);
      g_free(config->priv->cluster_arn);
      config->priv->cluster_arn = g_strdup(json_node_get_string(node));
      return TRUE;
    }
  p = field_ptr(config, spec);
  switch (spec->type)
    {
    case T_STRING:
      if (!json_is_string(node))
        return type_error(spec, node, error);
      field_clear(config, spec);
      *(char **)p = g_strdup(json_node_get_string(node));
      return TRUE;
    case T_CIDR:
      if (!json_is_string(node))
        return type_error(spec, node, error);
      if (!cidr_valid(json_node_get_string(node)))
        {
          g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "invalid CIDR address: %s",
                      json_node_get_string(node));
          return FALSE;
        }
      field_clear(config, spec);
      *(char **)p = g_strdup(json_node_get_string(node));
      return TRUE;
    case T_RAW:
      field_clear(config, spec);
      *(char **)p = json_to_string(node, FALSE);
      return TRUE;
    case T_BOOL:
      if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN)
        return type_error(spec, node, error);
      *(gboolean *)p = json_node_get_boolean(node);
      return TRUE;
    case T_UINT16:
      if (!json_get_int64(node, &n) || n < 0 || n > G_MAXUINT16)
        return type_error(spec, node, error);
      *(guint16 *)p = (guint16)n;
      return TRUE;
    case T_INT:
      if (!json_get_int64(node, &n) || n < G_MININT || n > G_MAXINT)
        return type_error(spec, node, error);
      *(int *)p = (int)n;
      return TRUE;
    case T_DURATION:
      /* time.Duration is an int64 of nanoseconds in JSON */
      if (!json_get_int64(node, &n))
        return type_error(spec, node, error);
      *(GTimeSpan *)p = n / NS_PER_US;
      return TRUE;
    case T_CONDITIONAL:
      /* v1.16.2's Conditional.UnmarshalJSON: strconv.ParseBool of the raw JSON text, null = default */
      if (JSON_NODE_HOLDS_NULL(node))
        {
          *(EcsaConditional *)p = ECSA_CONDITIONAL_DEFAULT;
          return TRUE;
        }
      else
        {
          g_autofree char *raw = json_to_string(node, FALSE);
          gboolean b;
          if (!JSON_NODE_HOLDS_VALUE(node) || json_is_string(node) || !ecsa_config_parse_bool(raw, &b))
            return type_error(spec, node, error);
          *(EcsaConditional *)p = b ? ECSA_CONDITIONAL_ENABLED : ECSA_CONDITIONAL_DISABLED;
          return TRUE;
        }
    case T_PORTS:
      {
        JsonArray *array;
        g_autoptr(GArray) ports = g_array_new(FALSE, FALSE, sizeof(guint16));
        if (!JSON_NODE_HOLDS_ARRAY(node))
          return type_error(spec, node, error);
        array = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(array); i++)
          {
            JsonNode *element = json_array_get_element(array, i);
            guint16 port;
            if (!json_get_int64(element, &n) || n < 0 || n > G_MAXUINT16)
              {
                g_autofree char *raw = json_to_string(element, FALSE);
                g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "element %u is %s, expected a port 0..65535", i,
                            raw);
                return FALSE;
              }
            port = (guint16)n;
            g_array_append_val(ports, port);
          }
        field_clear(config, spec);
        *(GArray **)p = g_steal_pointer(&ports);
        return TRUE;
      }
    case T_DRIVERS:
    case T_CIDRS:
      {
        JsonArray *array;
        g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
        if (!JSON_NODE_HOLDS_ARRAY(node))
          return type_error(spec, node, error);
        array = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(array); i++)
          {
            JsonNode *element = json_array_get_element(array, i);
            if (!json_is_string(element))
              {
                g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "element %u is a JSON %s, expected a string", i,
                            json_type_name(element));
                return FALSE;
              }
            if (spec->type == T_CIDRS && !cidr_valid(json_node_get_string(element)))
              {
                g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "invalid CIDR address: %s",
                            json_node_get_string(element));
                return FALSE;
              }
            g_strv_builder_add(builder, json_node_get_string(element));
          }
        field_clear(config, spec);
        *(char ***)p = g_strv_builder_end(builder);
        return TRUE;
      }
    case T_ATTRIBUTES:
      {
        JsonObject *object;
        g_autoptr(GList) members = NULL;
        g_autoptr(GHashTable) attributes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        if (!JSON_NODE_HOLDS_OBJECT(node))
          return type_error(spec, node, error);
        object = json_node_get_object(node);
        members = json_object_get_members(object);
        for (GList *l = members; l != NULL; l = l->next)
          {
            JsonNode *value = json_object_get_member(object, l->data);
            if (!json_is_string(value))
              {
                g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                            "attribute '%s' is a JSON %s, expected a string", (const char *)l->data,
                            json_type_name(value));
                return FALSE;
              }
            g_hash_table_insert(attributes, g_strdup(l->data), g_strdup(json_node_get_string(value)));
          }
        field_clear(config, spec);
        *(GHashTable **)p = g_steal_pointer(&attributes);
        return TRUE;
      }
    case T_LOGLEVEL:
    case T_PRESENCE:
    default:
      return TRUE;
    }
}

/* One environment value into a field. FALSE with *out_fatal when v1.16.2 treats the problem as fatal. */
static gboolean
field_set_from_env(EcsaConfig *config, const VarSpec *spec, const char *value, gboolean *out_fatal, GError **error)
{
  gpointer p = field_ptr(config, spec);

  *out_fatal = FALSE;
  switch (spec->type)
    {
    case T_STRING:
    case T_RAW:
    case T_LOGLEVEL:
      field_clear(config, spec);
      *(char **)p = g_strdup(value);
      return TRUE;
    case T_BOOL:
      if (!ecsa_config_parse_bool(value, (gboolean *)p))
        {
          g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "not a boolean");
          return FALSE;
        }
      return TRUE;
    case T_CONDITIONAL:
      {
        gboolean b;
        if (!ecsa_config_parse_bool(value, &b))
          {
            g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "not a boolean");
            return FALSE;
          }
        *(EcsaConditional *)p = b ? ECSA_CONDITIONAL_ENABLED : ECSA_CONDITIONAL_DISABLED;
        return TRUE;
      }
    case T_UINT16:
      if (!parse_uint16(value, (guint16 *)p))
        {
          g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "not an unsigned 16-bit integer");
          return FALSE;
        }
      return TRUE;
    case T_INT:
      if (!parse_int(value, (int *)p))
        {
          g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "not an integer");
          return FALSE;
        }
      return TRUE;
    case T_DURATION:
      return ecsa_config_parse_duration(value, (GTimeSpan *)p, error);
    case T_PORTS:
    case T_DRIVERS:
    case T_ATTRIBUTES:
    case T_CIDRS:
      {
        g_autoptr(JsonNode) node = parse_json_text(value, -1, error);
        /* malformed maps and route lists are fatal in v1.16.2; lists of ports and drivers are not */
        *out_fatal = spec->type == T_ATTRIBUTES || spec->type == T_CIDRS;
        if (node == NULL)
          return FALSE;
        if (JSON_NODE_HOLDS_NULL(node))
          {
            field_clear(config, spec);
            return TRUE;
          }
        return field_set_from_json(config, spec, node, error);
      }
    case T_CIDR:
    case T_PRESENCE:
    default:
      return TRUE;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Construction
 * ------------------------------------------------------------------------------------------- */
static void
set_defaults(EcsaConfig *c)
{
  static const guint16 reserved[] = { 22, 2375, 2376, 51678, 51679 };
  static const char *const drivers[] = { "json-file", "none", NULL };

  c->cluster = g_strdup(DEFAULT_CLUSTER);
  c->docker_endpoint = g_strdup(DEFAULT_DOCKER_ENDPOINT);
  c->reserved_ports = g_array_new(FALSE, FALSE, sizeof(guint16));
  g_array_append_vals(c->reserved_ports, reserved, G_N_ELEMENTS(reserved));
  c->reserved_ports_udp = g_array_new(FALSE, FALSE, sizeof(guint16));
  c->data_dir = g_strdup("/data/");
  c->data_dir_on_host = g_strdup("/var/lib/ecs");
  c->available_logging_drivers = g_strdupv((char **)drivers);
  c->task_cleanup_wait_duration = DEFAULT_TASK_CLEANUP_WAIT;
  c->docker_stop_timeout = DEFAULT_DOCKER_STOP_TIMEOUT;
  c->credentials_audit_log_file = g_strdup("/log/audit.log");
  c->minimum_image_deletion_age = DEFAULT_IMAGE_DELETION_AGE;
  c->image_cleanup_interval = DEFAULT_IMAGE_CLEANUP_INTERVAL;
  c->num_images_to_delete_per_cycle = DEFAULT_NUM_IMAGES_PER_CYCLE;
  c->instance_attributes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  c->cni_plugins_path = g_strdup("/amazon-ecs-cni-plugins");
  c->awsvpc_additional_local_routes = g_new0(char *, 1);
  c->task_cpu_mem_limit = ECSA_CONDITIONAL_DEFAULT;
  c->log_level = g_strdup("info");
  c->plugin_dir = g_strdup(ECSA_PLUGINDIR);
  c->pause_container_tarball_path = g_strdup("/images/amazon-ecs-pause.tar");
  c->pause_container_image_name = g_strdup("amazon/amazon-ecs-pause");
  c->pause_container_tag = g_strdup("0.1.0");
  c->config_file_path = g_strdup(ECSA_CONFIG_DEFAULT_FILE);
}

static EcsaConfig *
config_new_empty(void)
{
  EcsaConfig *c = g_new0(EcsaConfig, 1);

  c->priv = g_new0(EcsaConfigPrivate, 1);
  c->priv->view = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
  c->priv->view_retired = g_ptr_array_new_with_free_func(g_free);
  return c;
}

EcsaConfig *
ecsa_config_new(void)
{
  EcsaConfig *c = config_new_empty();

  set_defaults(c);
  return c;
}

void
ecsa_config_free(EcsaConfig *config)
{
  if (config == NULL)
    return;
  for (gsize i = 0; i < N_SPECS; i++)
    field_clear(config, &specs[i]);
  g_free(config->priv->cluster_arn);
  g_hash_table_unref(config->priv->view);
  g_ptr_array_unref(config->priv->view_retired);
  for (gsize i = 0; i < G_N_ELEMENTS(config->priv->presence); i++)
    g_free(config->priv->presence[i]);
  g_free(config->priv);
  g_free(config);
}

/* ---------------------------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------------------------- */
static const char *
env_get(const char *const *envp, const char *name)
{
  if (envp == NULL)
    return g_getenv(name);
  return g_environ_getenv((char **)envp, name);
}

static char *
quote_value(const VarSpec *spec, const char *value)
{
  g_autofree char *valid = NULL;

  if (spec->flags & F_SECRET)
    return g_strdup("'" ECSA_LOG_REDACTED "'");
  valid = g_utf8_make_valid(value, -1); /* the environment holds bytes, not text */
  if (g_utf8_strlen(valid, -1) > 80)
    {
      g_autofree char *head = g_utf8_substring(valid, 0, 77);
      return g_strdup_printf("'%s...'", head);
    }
  return g_strdup_printf("'%s'", valid);
}

static void
add_fatal(GString *fatal, const char *message)
{
  if (fatal->len > 0)
    g_string_append(fatal, "; ");
  g_string_append(fatal, message);
}

/* The file config: a layer of its own (zero = unset). */
static gboolean
file_layer_parse(EcsaConfig *layer, gboolean *set, const char *data, gsize length, GString *fatal)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GList) members = NULL;
  JsonObject *object;
  gboolean ok = TRUE;

  root = parse_json_text(data, (gssize)length, &error);
  if (root == NULL)
    {
      g_autofree char *m = g_strdup_printf("not valid JSON: %s", error->message);
      add_fatal(fatal, m);
      return FALSE;
    }
  if (JSON_NODE_HOLDS_NULL(root))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT(root))
    {
      g_autofree char *m = g_strdup_printf("expected a JSON object, got a JSON %s", json_type_name(root));
      add_fatal(fatal, m);
      return FALSE;
    }
  object = json_node_get_object(root);
  members = json_object_get_members(object);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *key = l->data;
      gsize index = N_SPECS;

      /* encoding/json matches field names exactly, else case-insensitively */
      for (gsize i = 0; i < N_SPECS && index == N_SPECS; i++)
        if (specs[i].json != NULL && strcmp(specs[i].json, key) == 0)
          index = i;
      for (gsize i = 0; i < N_SPECS && index == N_SPECS; i++)
        if (specs[i].json != NULL && g_ascii_strcasecmp(specs[i].json, key) == 0)
          index = i;
      if (index == N_SPECS)
        continue; /* unknown keys are ignored, as encoding/json does */
      if (!field_set_from_json(layer, &specs[index], json_object_get_member(object, key), &error))
        {
          g_autofree char *m = g_strdup_printf("key '%s': %s", key, error->message);
          add_fatal(fatal, m);
          g_clear_error(&error);
          ok = FALSE;
          continue;
        }
      set[index] = !JSON_NODE_HOLDS_NULL(json_object_get_member(object, key));
    }
  return ok;
}

gboolean
ecsa_config_parse_file_data(EcsaConfig *config, const char *data, gsize length, GError **error)
{
  g_autoptr(EcsaConfig) layer = config_new_empty();
  gboolean set[N_SPECS] = { FALSE };
  g_autoptr(GString) fatal = g_string_new(NULL);

  if (!file_layer_parse(layer, set, data, length, fatal))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "%s", fatal->str);
      return FALSE;
    }
  for (gsize i = 0; i < N_SPECS; i++)
    if (set[i] && specs[i].offset >= 0 && (specs[i].type == T_BOOL || !field_is_zero(layer, &specs[i])))
      field_copy(config, layer, &specs[i]);
  if (layer->priv->cluster_arn != NULL)
    ecsa_set_str(&config->priv->cluster_arn, layer->priv->cluster_arn);
  return TRUE;
}

/* Read the file named by ECS_AGENT_CONFIG_FILE_PATH. A missing (or unopenable) file is not an
 * error, as v1.16.2; a read error or bad JSON is fatal. */
static void
load_file_layer(EcsaConfig *config, EcsaConfig *layer, gboolean *set, GString *fatal)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *data = NULL;
  gsize length = 0;
  g_autoptr(GString) problems = g_string_new(NULL);

  if (!g_file_get_contents(config->config_file_path, &data, &length, &error))
    {
      if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT)
          || g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_ACCES)
          || g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR))
        {
          ecsa_log_debug("config file '%s' not read: %s", config->config_file_path, error->message);
          return;
        }
      {
        g_autofree char *m = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH: cannot read config file '%s': %s",
                                             config->config_file_path, error->message);
        add_fatal(fatal, m);
      }
      return;
    }
  {
    g_autofree char *trimmed = g_strstrip(g_strndup(data, length));
    if (*trimmed == '\0')
      return; /* empty file, not an error */
  }
  config->priv->file_present = TRUE;
  if (!file_layer_parse(layer, set, data, length, problems))
    {
      g_autofree char *m
        = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH: config file '%s': %s", config->config_file_path, problems->str);
      add_fatal(fatal, m);
    }
}

static void
warn_invalid(const VarSpec *spec, const char *value, const char *reason, const char *fallback_what,
             const char *fallback)
{
  g_autofree char *quoted = quote_value(spec, value);

  ecsa_log_warn("%s: invalid value %s (%s%s%s); using %s %s", spec_name(spec), quoted, reason,
                spec->expect != NULL ? "; expected " : "", spec->expect != NULL ? spec->expect : "", fallback_what,
                fallback != NULL ? fallback : "(unset)");
}

static char *
fallback_text(EcsaConfig *config, const VarSpec *spec)
{
  g_autofree char *formatted = field_format(config, spec);

  if (formatted == NULL)
    return NULL;
  if (spec->flags & F_SECRET)
    return g_strdup(ECSA_LOG_REDACTED);
  return g_steal_pointer(&formatted);
}

/* v1.16.2 validateAndOverrideBounds(), after the layers merged. */
static void
check_bounds(EcsaConfig *c, GString *fatal)
{
  g_autoptr(GString) bad = g_string_new(NULL);
  gsize index;

  if (c->docker_stop_timeout < MIN_DOCKER_STOP_TIMEOUT)
    {
      g_autofree char *v = ecsa_config_duration_to_string(c->docker_stop_timeout);
      g_autofree char *m = g_strdup_printf("ECS_CONTAINER_STOP_TIMEOUT (DockerStopTimeout): %s is below the "
                                           "minimum of 1s",
                                           v);
      add_fatal(fatal, m);
    }
  for (guint i = 0; c->available_logging_drivers != NULL && c->available_logging_drivers[i] != NULL; i++)
    {
      if (!g_strv_contains(known_logging_drivers, c->available_logging_drivers[i]))
        g_string_append_printf(bad, "%s%s", bad->len > 0 ? ", " : "", c->available_logging_drivers[i]);
    }
  if (bad->len > 0)
    {
      g_autofree char *known = g_strjoinv(", ", (char **)known_logging_drivers);
      g_autofree char *m
        = g_strdup_printf("ECS_AVAILABLE_LOGGING_DRIVERS: Invalid logging drivers: %s (known: %s)", bad->str, known);
      add_fatal(fatal, m);
    }
  if (c->task_cleanup_wait_duration < MIN_TASK_CLEANUP_WAIT)
    {
      g_autofree char *v = ecsa_config_duration_to_string(c->task_cleanup_wait_duration);
      ecsa_log_warn("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION: invalid value %s (below the minimum of 1m0s); using the "
                    "default 3h0m0s",
                    v);
      c->task_cleanup_wait_duration = DEFAULT_TASK_CLEANUP_WAIT;
      spec_lookup("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", &index);
      c->priv->sources[index] = ECSA_CONFIG_SOURCE_DEFAULT;
    }
  if (c->image_cleanup_interval < MIN_IMAGE_CLEANUP_INTERVAL)
    {
      g_autofree char *v = ecsa_config_duration_to_string(c->image_cleanup_interval);
      ecsa_log_warn("ECS_IMAGE_CLEANUP_INTERVAL: invalid value %s (below the minimum of 10m0s); using the default "
                    "30m0s",
                    v);
      c->image_cleanup_interval = DEFAULT_IMAGE_CLEANUP_INTERVAL;
      spec_lookup("ECS_IMAGE_CLEANUP_INTERVAL", &index);
      c->priv->sources[index] = ECSA_CONFIG_SOURCE_DEFAULT;
    }
  if (c->num_images_to_delete_per_cycle < MIN_NUM_IMAGES_PER_CYCLE)
    {
      ecsa_log_warn("ECS_NUM_IMAGES_DELETE_PER_CYCLE: invalid value %d (below the minimum of 1); using the "
                    "default 5",
                    c->num_images_to_delete_per_cycle);
      c->num_images_to_delete_per_cycle = DEFAULT_NUM_IMAGES_PER_CYCLE;
      spec_lookup("ECS_NUM_IMAGES_DELETE_PER_CYCLE", &index);
      c->priv->sources[index] = ECSA_CONFIG_SOURCE_DEFAULT;
    }
  if (!ecsa_str_empty(c->docker_endpoint))
    {
      g_autoptr(GError) error = NULL;
      if (!docker_endpoint_valid(c->docker_endpoint, &error))
        {
          g_autofree char *m = g_strdup_printf("DOCKER_HOST: %s", error->message);
          add_fatal(fatal, m);
        }
    }
}

gboolean
ecsa_config_load(EcsaConfig *config, const char *const *envp, GError **error)
{
  g_autoptr(EcsaConfig) defaults = ecsa_config_new();
  g_autoptr(EcsaConfig) file = config_new_empty();
  g_autoptr(GString) fatal = g_string_new(NULL);
  gboolean file_set[N_SPECS] = { FALSE };
  const char *path = env_get(envp, "ECS_AGENT_CONFIG_FILE_PATH");
  const char *datadir_env = env_get(envp, "ECS_DATADIR");
  gsize index;

  g_return_val_if_fail(config != NULL, FALSE);

  spec_lookup("ECS_AGENT_CONFIG_FILE_PATH", &index);
  if (!ecsa_str_empty(path))
    {
      ecsa_set_str(&config->config_file_path, path);
      config->priv->sources[index] = ECSA_CONFIG_SOURCE_ENVIRONMENT;
    }
  /* Secrets first, so that no warning below can echo one. */
  ecsa_log_add_secrets_from_json(env_get(envp, "ECS_ENGINE_AUTH_DATA"));
  ecsa_log_add_secret(env_get(envp, "AWS_SECRET_ACCESS_KEY"));
  ecsa_log_add_secret(env_get(envp, "AWS_SESSION_TOKEN"));
  load_file_layer(config, file, file_set, fatal);
  ecsa_log_add_secrets_from_json(file->engine_auth_data);

  for (gsize i = 0; i < N_SPECS; i++)
    {
      const VarSpec *spec = &specs[i];
      const char *value = spec->env != NULL ? env_get(envp, spec->env) : NULL;
      gboolean from_env = FALSE;

      if (spec->flags & F_FLAG || spec->type == T_LOGLEVEL || spec->offset == OFF(config_file_path))
        continue;
      if (spec->type == T_PRESENCE)
        {
          int k = presence_index(spec);
          if (k >= 0 && !ecsa_str_empty(value))
            {
              /* only whether it is set: the credential chain reads the value itself */
              ecsa_set_str(&config->priv->presence[k], "(set)");
              config->priv->sources[i] = ECSA_CONFIG_SOURCE_ENVIRONMENT;
            }
          continue;
        }
      if (spec->offset < 0)
        continue; /* ClusterArn: below */

      if (!ecsa_str_empty(value))
        {
          g_autoptr(EcsaConfig) scratch = config_new_empty();
          g_autoptr(GError) local = NULL;
          gboolean is_fatal = FALSE;

          if (!field_set_from_env(scratch, spec, value, &is_fatal, &local))
            {
              g_autofree char *quoted = quote_value(spec, value);
              if (is_fatal)
                {
                  g_autofree char *m = g_strdup_printf("%s: invalid value %s (%s; expected %s)", spec->env, quoted,
                                                       local->message, spec->expect);
                  add_fatal(fatal, m);
                }
              else
                {
                  gboolean use_file = file_set[i] && (spec->type == T_BOOL || !field_is_zero(file, spec));
                  g_autofree char *fb = fallback_text(use_file ? file : defaults, spec);
                  if (spec->offset == OFF(checkpoint) && !ecsa_str_empty(datadir_env))
                    warn_invalid(spec, value, local->message, "the default with ECS_DATADIR set,", "true");
                  else
                    warn_invalid(spec, value, local->message, use_file ? "the config file's value" : "the default", fb);
                }
            }
          else if (spec->type == T_DURATION && spec->offset == OFF(docker_stop_timeout)
                   && *(GTimeSpan *)field_ptr(scratch, spec) != 0
                   && *(GTimeSpan *)field_ptr(scratch, spec) < MIN_DOCKER_STOP_TIMEOUT)
            {
              /* v1.16.2 discards a stop timeout below 1s from the environment (from the file it is fatal) */
              g_autofree char *fb = fallback_text(defaults, spec);
              warn_invalid(spec, value, "below the minimum of 1s", "the default", fb);
            }
          else if (spec->type == T_BOOL || !field_is_zero(scratch, spec))
            {
              field_copy(config, scratch, spec);
              from_env = TRUE;
            }
        }
      if (from_env)
        config->priv->sources[i] = ECSA_CONFIG_SOURCE_ENVIRONMENT;
      else if (file_set[i] && (spec->type == T_BOOL || !field_is_zero(file, spec)))
        {
          field_copy(config, file, spec);
          config->priv->sources[i] = ECSA_CONFIG_SOURCE_FILE;
        }
    }

  /* ECS_CHECKPOINT: with ECS_DATADIR set in the environment it defaults to true there (v1.16.2
   * computes it in the environment layer, so the file cannot turn it off). */
  spec_lookup("ECS_CHECKPOINT", &index);
  if (config->priv->sources[index] != ECSA_CONFIG_SOURCE_ENVIRONMENT && !ecsa_str_empty(datadir_env))
    {
      config->checkpoint = TRUE;
      config->priv->sources[index] = ECSA_CONFIG_SOURCE_ENVIRONMENT;
    }

  /* Deprecated ClusterArn: used when Cluster is set nowhere. */
  if (!ecsa_str_empty(file->priv->cluster_arn))
    {
      ecsa_set_str(&config->priv->cluster_arn, file->priv->cluster_arn);
      ecsa_log_warn("Use of deprecated configuration key, key: ClusterArn message: Please use Cluster instead");
      spec_lookup("ECS_CLUSTER", &index);
      if (config->priv->sources[index] == ECSA_CONFIG_SOURCE_DEFAULT)
        {
          ecsa_set_str(&config->cluster, file->priv->cluster_arn);
          config->priv->sources[index] = ECSA_CONFIG_SOURCE_FILE;
        }
    }

  /* `trim` fields */
  for (gsize i = 0; i < N_SPECS; i++)
    {
      if ((specs[i].flags & F_TRIM) && specs[i].type == T_STRING)
        {
          char **s = field_ptr(config, &specs[i]);
          if (*s != NULL)
            g_strstrip(*s);
          if (*s != NULL && **s == '\0')
            {
              field_copy(config, defaults, &specs[i]);
              config->priv->sources[i] = ECSA_CONFIG_SOURCE_DEFAULT;
            }
        }
    }

  check_bounds(config, fatal);

  /* Known secrets are masked in every later log line, even in free text. */
  ecsa_log_add_secrets_from_json(config->engine_auth_data);

  if (fatal->len > 0)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "%s", fatal->str);
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_config_parse_env_value(EcsaConfig *config, const char *name, const char *value, GError **error)
{
  const VarSpec *spec = spec_lookup(name, NULL);
  g_autoptr(GError) local = NULL;
  gboolean is_fatal = FALSE;

  if (spec == NULL || spec->env == NULL || spec->offset < 0 || (spec->flags & F_FLAG))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND, "'%s' is not an environment setting", name);
      return FALSE;
    }
  if (ecsa_str_empty(value))
    return TRUE;
  if (field_set_from_env(config, spec, value, &is_fatal, &local))
    return TRUE;
  if (is_fatal)
    {
      g_propagate_prefixed_error(error, g_steal_pointer(&local), "%s: invalid value: ", name);
      return FALSE;
    }
  warn_invalid(spec, value, local->message, "the default", NULL);
  return TRUE;
}

int
ecsa_config_resolve_log_level(EcsaConfig *config, const char *const *envp, const char *flag_level)
{
  const char *env = env_get(envp, "ECS_LOGLEVEL");
  gsize index;
  int lvl = ECSA_LOG_INFO;

  spec_lookup("ECS_LOGLEVEL", &index);
  config->priv->sources[index] = ECSA_CONFIG_SOURCE_DEFAULT;
  ecsa_set_str(&config->log_level, "info");
  if (!ecsa_str_empty(flag_level))
    {
      if (ecsa_log_level_from_string(flag_level, &lvl))
        {
          ecsa_set_str(&config->log_level, ecsa_log_level_to_string(lvl));
          config->priv->sources[index] = ECSA_CONFIG_SOURCE_FLAG;
        }
      else
        {
          ecsa_log_warn("-loglevel: invalid value '%s' (expected one of crit, error, warn, info, debug); using the "
                        "default info",
                        flag_level);
          lvl = ECSA_LOG_INFO;
        }
    }
  if (!ecsa_str_empty(env))
    {
      int env_level;
      if (ecsa_log_level_from_string(env, &env_level))
        {
          lvl = env_level;
          ecsa_set_str(&config->log_level, ecsa_log_level_to_string(lvl));
          config->priv->sources[index] = ECSA_CONFIG_SOURCE_ENVIRONMENT;
        }
      else
        {
          ecsa_log_warn("ECS_LOGLEVEL: invalid value '%s' (expected one of crit, error, warn, info, debug); "
                        "using %s %s",
                        env, config->priv->sources[index] == ECSA_CONFIG_SOURCE_FLAG ? "-loglevel" : "the default",
                        config->log_level);
        }
    }
  return lvl;
}

void
ecsa_config_apply_flags(EcsaConfig *config, gboolean accept_insecure_cert, gboolean blackhole_ec2_metadata)
{
  gsize index;

  g_return_if_fail(config != NULL);
  config->accept_insecure_cert = accept_insecure_cert;
  config->blackhole_ec2_metadata = blackhole_ec2_metadata;
  spec_lookup("AcceptInsecureCert", &index);
  config->priv->sources[index] = accept_insecure_cert ? ECSA_CONFIG_SOURCE_FLAG : ECSA_CONFIG_SOURCE_DEFAULT;
  spec_lookup("BlackholeEC2Metadata", &index);
  config->priv->sources[index] = blackhole_ec2_metadata ? ECSA_CONFIG_SOURCE_FLAG : ECSA_CONFIG_SOURCE_DEFAULT;
}

void
ecsa_config_set_region_from_metadata(EcsaConfig *config, const char *region)
{
  gsize index;

  g_return_if_fail(config != NULL);
  if (ecsa_str_empty(region))
    return;
  ecsa_set_str(&config->aws_region, region);
  g_strstrip(config->aws_region);
  spec_lookup("AWS_DEFAULT_REGION", &index);
  config->priv->sources[index] = ECSA_CONFIG_SOURCE_METADATA;
}

gboolean
ecsa_config_check_region(const EcsaConfig *config, GError **error)
{
  if (!ecsa_str_empty(config->aws_region))
    return TRUE;
  g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                      "Missing required fields: AWSRegion (set AWS_DEFAULT_REGION, the config file's AWSRegion, or "
                      "run where EC2 instance metadata answers)");
  return FALSE;
}

char *
ecsa_config_get_api_endpoint_url(const EcsaConfig *config)
{
  if (!ecsa_str_empty(config->api_endpoint))
    {
      if (strstr(config->api_endpoint, "://") != NULL)
        return g_strdup(config->api_endpoint);
      return g_strdup_printf("https://%s", config->api_endpoint);
    }
  if (ecsa_str_empty(config->aws_region))
    return NULL;
  return g_strdup_printf("https://ecs.%s.amazonaws.com%s", config->aws_region,
                         g_str_has_prefix(config->aws_region, "cn-") ? ".cn" : "");
}

gboolean
ecsa_config_task_cpu_mem_limit_enabled(const EcsaConfig *config)
{
  return config->task_cpu_mem_limit != ECSA_CONDITIONAL_DISABLED;
}

const char *
ecsa_config_get(EcsaConfig *config, const char *key)
{
  const VarSpec *spec;
  g_autofree char *value = NULL;
  char *cached;

  g_return_val_if_fail(config != NULL && key != NULL, NULL);
  spec = spec_lookup(key, NULL);
  if (spec == NULL)
    return NULL;
  value = field_format(config, spec);
  if (value == NULL)
    return NULL;
  cached = g_hash_table_lookup(config->priv->view, spec_name(spec));
  if (cached != NULL && strcmp(cached, value) == 0)
    return cached;
  if (cached != NULL) /* a plugin may still hold the old string */
    {
      g_hash_table_steal(config->priv->view, spec_name(spec));
      g_ptr_array_add(config->priv->view_retired, cached);
    }
  cached = g_steal_pointer(&value);
  g_hash_table_insert(config->priv->view, (gpointer)spec_name(spec), cached);
  return cached;
}

EcsaConfigSource
ecsa_config_get_source(const EcsaConfig *config, const char *key)
{
  gsize index;

  if (spec_lookup(key, &index) == NULL)
    return ECSA_CONFIG_SOURCE_DEFAULT;
  return config->priv->sources[index];
}

static const char *
source_name(EcsaConfigSource source)
{
  switch (source)
    {
    case ECSA_CONFIG_SOURCE_ENVIRONMENT:
      return "environment";
    case ECSA_CONFIG_SOURCE_FILE:
      return "config file";
    case ECSA_CONFIG_SOURCE_METADATA:
      return "instance metadata";
    case ECSA_CONFIG_SOURCE_FLAG:
      return "flag";
    case ECSA_CONFIG_SOURCE_DEFAULT:
    default:
      return "default";
    }
}

char *
ecsa_config_to_string(EcsaConfig *config)
{
  GString *out = g_string_new(NULL);

  g_string_append_printf(out, "# config file: %s (%s)\n", config->config_file_path,
                         config->priv->file_present ? "read" : "absent or empty");
  for (gsize i = 0; i < N_SPECS; i++)
    {
      const VarSpec *spec = &specs[i];
      g_autofree char *value = field_format(config, spec);
      g_autofree char *line = NULL;
      const char *note = source_name(config->priv->sources[i]);

      if (spec->flags & F_SECRET && value != NULL)
        ecsa_set_str(&value, ECSA_LOG_REDACTED);
      if (spec->offset == OFF(aws_region) && ecsa_str_empty(value))
        note = "not set: taken from EC2 instance metadata at start-up";
      else if (spec->type == T_CONDITIONAL && value == NULL)
        note = "default: enabled when the host supports it";
      else if (spec->offset < 0 && spec->type != T_PRESENCE && value != NULL)
        note = "deprecated, use Cluster";
      else if (value == NULL)
        note = spec->type == T_PRESENCE ? "not set" : "default: unset";
      line = g_strdup_printf("%s=%s", spec_name(spec), value != NULL ? value : "");
      g_string_append_printf(out, "%-60s # %s\n", line, note);
    }
  return g_string_free(out, FALSE);
}

/* test-config.c: every setting of agent v1.16.2, table-driven: its default, a valid value, a
 * malformed value (one warning naming the variable, then the fallback) or a fatal one (an error
 * naming it), the JSON config file and the precedence environment > file > default; plus Go's
 * duration and boolean syntax.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"
#include "ecsa-config.h"

#include "ecsa-log.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>

/* ---------------------------------------------------------------------------------------------
 * Harness: load a configuration from an explicit environment, capturing warnings
 * ------------------------------------------------------------------------------------------- */
static GPtrArray *warnings; /* char*: WARN and ERROR lines of the last load */
static char *tmpdir;

static void
capture_cb(EcsaLogLevel level, const char *line, gpointer user_data)
{
  if (level <= ECSA_LOG_WARN)
    g_ptr_array_add(warnings, g_strdup(line));
}

static void
reset_log(void)
{
  ecsa_log_shutdown();
  ecsa_log_set_console(STDERR_FILENO);
  ecsa_log_set_capture(capture_cb, NULL);
  g_ptr_array_set_size(warnings, 0);
}

/* envp: NULL-terminated "NAME=value" strings. The config file defaults to a path that does not exist. */
static EcsaConfig *
load(const char *const *vars, gboolean *out_ok, GError **error)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
  g_auto(GStrv) envp = NULL;
  g_autofree char *nofile = g_build_filename(tmpdir, "no-such-config.json", NULL);
  EcsaConfig *config = ecsa_config_new();
  gboolean has_path = FALSE;

  for (guint i = 0; vars != NULL && vars[i] != NULL; i++)
    {
      g_strv_builder_add(builder, vars[i]);
      has_path |= g_str_has_prefix(vars[i], "ECS_AGENT_CONFIG_FILE_PATH=");
    }
  if (!has_path)
    {
      g_autofree char *v = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", nofile);
      g_strv_builder_add(builder, v);
    }
  envp = g_strv_builder_end(builder);
  reset_log();
  *out_ok = ecsa_config_load(config, (const char *const *)envp, error);
  return config;
}

static char *
write_file(const char *name, const char *contents)
{
  char *path = g_build_filename(tmpdir, name, NULL);

  g_assert_true(g_file_set_contents(path, contents, -1, NULL));
  return path;
}

/* ---------------------------------------------------------------------------------------------
 * The table: one row per setting
 * ------------------------------------------------------------------------------------------- */
typedef enum
{
  BAD_NONE,  /* any string is valid */
  BAD_WARN,  /* one warning naming the variable, the default stays */
  BAD_FATAL, /* the load fails with an error naming the variable */
} BadKind;

typedef struct
{
  const char *env;
  const char *json;         /* config file key, NULL: environment only */
  const char *def;          /* ecsa_config_get() of the default; NULL: unset */
  const char *valid;        /* environment value */
  const char *valid_expect; /* ecsa_config_get() after it */
  const char *json_value;   /* JSON text for the file */
  const char *json_expect;  /* ecsa_config_get() after it */
  const char *bad;          /* a malformed environment value */
  BadKind bad_kind;
  const char *bad2; /* another one, same kind */
} Row;

#define BOOL_ROW(env, json)                                                                                            \
  {                                                                                                                    \
    env, json, "false", "true", "true", "true", "true", "yes", BAD_WARN, "2"                                           \
  }

static const Row rows[] = {
  { "ECS_CLUSTER", "Cluster", "default", "my-cluster", "my-cluster", "\"file-cluster\"", "file-cluster", NULL, BAD_NONE,
    NULL },
  { "AWS_DEFAULT_REGION", "AWSRegion", NULL, "us-west-2", "us-west-2", "\"eu-west-1\"", "eu-west-1", NULL, BAD_NONE,
    NULL },
  { "ECS_BACKEND_HOST", "APIEndpoint", NULL, "https://127.0.0.1:4443", "https://127.0.0.1:4443",
    "\"ecs.us-east-1.amazonaws.com\"", "ecs.us-east-1.amazonaws.com", NULL, BAD_NONE, NULL },
  { "DOCKER_HOST", "DockerEndpoint", "unix:///var/run/docker.sock", "tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375",
    "\"unix:///run/docker.sock\"", "unix:///run/docker.sock", "bogus://x", BAD_FATAL, "/var/run/docker.sock" },
  { "ECS_RESERVED_PORTS", "ReservedPorts", "[22,2375,2376,51678,51679]", "[22, 80, 5000, 8080]", "[22,80,5000,8080]",
    "[80]", "[80]", "oops", BAD_WARN, "[22, 70000]" },
  { "ECS_RESERVED_PORTS_UDP", "ReservedPortsUDP", "[]", "[53, 123]", "[53,123]", "[161]", "[161]", "[53,", BAD_WARN,
    "[\"53\"]" },
  { "ECS_ENGINE_AUTH_TYPE", "EngineAuthType", NULL, "dockercfg", "dockercfg", "\"docker\"", "docker", NULL, BAD_NONE,
    NULL },
  { "ECS_ENGINE_AUTH_DATA", "EngineAuthData", NULL,
    "{\"https://r.example\":{\"auth\":\"dXNlcjpwYXNz\",\"email\":\"\"}}",
    "{\"https://r.example\":{\"auth\":\"dXNlcjpwYXNz\",\"email\":\"\"}}",
    "{\"https://r.example\": {\"username\": \"u\", \"password\": \"p\"}}",
    "{\"https://r.example\":{\"username\":\"u\",\"password\":\"p\"}}", NULL, BAD_NONE, NULL },
  { "ECS_LOGFILE", NULL, NULL, "/var/log/ecs/ecs-agent.log", "/var/log/ecs/ecs-agent.log", NULL, NULL, NULL, BAD_NONE,
    NULL },
  BOOL_ROW("ECS_CHECKPOINT", "Checkpoint"),
  { "ECS_DATADIR", "DataDir", "/data/", "/var/lib/ecs/data", "/var/lib/ecs/data", "\"/srv/data\"", "/srv/data", NULL,
    BAD_NONE, NULL },
  BOOL_ROW("ECS_UPDATES_ENABLED", "UpdatesEnabled"),
  { "ECS_UPDATE_DOWNLOAD_DIR", "UpdateDownloadDir", NULL, "/cache", "/cache", "\"/var/cache/ecs\"", "/var/cache/ecs",
    NULL, BAD_NONE, NULL },
  BOOL_ROW("ECS_DISABLE_METRICS", "DisableMetrics"),
  { "ECS_RESERVED_MEMORY", "ReservedMemory", "0", "32", "32", "64", "64", "-1", BAD_WARN, "65536" },
  { "ECS_AVAILABLE_LOGGING_DRIVERS", "AvailableLoggingDrivers", "[\"json-file\",\"none\"]",
    "[\"awslogs\",\"fluentd\",\"gelf\",\"json-file\",\"journald\",\"logentries\",\"splunk\",\"syslog\"]",
    "[\"awslogs\",\"fluentd\",\"gelf\",\"json-file\",\"journald\",\"logentries\",\"splunk\",\"syslog\"]",
    "[\"syslog\"]", "[\"syslog\"]", "[\"json-file\", \"bogus\"]", BAD_FATAL, "[\"sumologic\",\"nosuchdriver\"]" },
  BOOL_ROW("ECS_DISABLE_PRIVILEGED", "PrivilegedDisabled"),
  BOOL_ROW("ECS_SELINUX_CAPABLE", "SELinuxCapable"),
  BOOL_ROW("ECS_APPARMOR_CAPABLE", "AppArmorCapable"),
  { "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "TaskCleanupWaitDuration", "3h0m0s", "10m", "10m0s", "600000000000",
    "10m0s", "ten minutes", BAD_WARN, "30s" },
  { "ECS_CONTAINER_STOP_TIMEOUT", "DockerStopTimeout", "30s", "2m30s", "2m30s", "5000000000", "5s", "fast", BAD_WARN,
    "500ms" },
  BOOL_ROW("ECS_ENABLE_TASK_IAM_ROLE", "TaskIAMRoleEnabled"),
  BOOL_ROW("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "TaskIAMRoleEnabledForNetworkHost"),
  BOOL_ROW("ECS_DISABLE_IMAGE_CLEANUP", "ImageCleanupDisabled"),
  { "ECS_IMAGE_CLEANUP_INTERVAL", "ImageCleanupInterval", "30m0s", "1h", "1h0m0s", "900000000000", "15m0s", "5m",
    BAD_WARN, "1d" },
  { "ECS_IMAGE_MINIMUM_CLEANUP_AGE", "MinimumImageDeletionAge", "1h0m0s", "30m", "30m0s", "7200000000000", "2h0m0s",
    "1d", BAD_WARN, "30" },
  { "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "NumImagesToDeletePerCycle", "5", "10", "10", "3", "3", "five", BAD_WARN, "-1" },
  { "ECS_INSTANCE_ATTRIBUTES", "InstanceAttributes", "{}", "{\"stack\": \"prod\", \"tier\": \"web\"}",
    "{\"stack\":\"prod\",\"tier\":\"web\"}", "{\"a\": \"b\"}", "{\"a\":\"b\"}", "{\"stack\":", BAD_FATAL,
    "{\"count\": 1}" },
  BOOL_ROW("ECS_ENABLE_TASK_ENI", "TaskENIEnabled"),
  { "ECS_CNI_PLUGINS_PATH", "CNIPluginsPath", "/amazon-ecs-cni-plugins", "/ecs/cni", "/ecs/cni", "\"/usr/lib/cni\"",
    "/usr/lib/cni", NULL, BAD_NONE, NULL },
  BOOL_ROW("ECS_AWSVPC_BLOCK_IMDS", "AWSVPCBlockInstanceMetdata"),
  { "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES", "AWSVPCAdditionalLocalRoutes", "[]", "[\"10.0.15.0/24\", \"fd00::/8\"]",
    "[\"10.0.15.0/24\",\"fd00::/8\"]", "[\"192.168.1.0/24\"]", "[\"192.168.1.0/24\"]", "[\"10.0.15.0\"]", BAD_FATAL,
    "10.0.15.0/24" },
  BOOL_ROW("ECS_ENABLE_CONTAINER_METADATA", "ContainerMetadataEnabled"),
  { "ECS_HOST_DATA_DIR", "DataDirOnHost", "/var/lib/ecs", "/srv/ecs", "/srv/ecs", "\"/opt/ecs\"", "/opt/ecs", NULL,
    BAD_NONE, NULL },
  { "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "TaskCPUMemLimit", NULL, "false", "false", "true", "true", "sometimes", BAD_WARN,
    "enabled" },
  { "ECS_AUDIT_LOGFILE", "CredentialsAuditLogFile", "/log/audit.log", "/var/log/ecs/audit.log",
    "/var/log/ecs/audit.log", "\"/tmp/audit.log\"", "/tmp/audit.log", NULL, BAD_NONE, NULL },
  BOOL_ROW("ECS_AUDIT_LOGFILE_DISABLED", "CredentialsAuditLogDisabled"),
  BOOL_ROW("ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "OverrideAWSLogsExecutionRole"),
  { "ECSA_PLUGIN_DIR", NULL, ECSA_PLUGINDIR, "/opt/ecs-agent/plugins", "/opt/ecs-agent/plugins", NULL, NULL, NULL,
    BAD_NONE, NULL },
};

/* The variables of the v1.16.2 README's table, plus those v1.16.2's code reads. */
static const char *const readme_and_code_variables[] = {
  "ECS_CLUSTER",
  "ECS_RESERVED_PORTS",
  "ECS_RESERVED_PORTS_UDP",
  "ECS_ENGINE_AUTH_TYPE",
  "ECS_ENGINE_AUTH_DATA",
  "AWS_DEFAULT_REGION",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "DOCKER_HOST",
  "ECS_LOGLEVEL",
  "ECS_LOGFILE",
  "ECS_CHECKPOINT",
  "ECS_DATADIR",
  "ECS_UPDATES_ENABLED",
  "ECS_UPDATE_DOWNLOAD_DIR",
  "ECS_DISABLE_METRICS",
  "ECS_RESERVED_MEMORY",
  "ECS_AVAILABLE_LOGGING_DRIVERS",
  "ECS_DISABLE_PRIVILEGED",
  "ECS_SELINUX_CAPABLE",
  "ECS_APPARMOR_CAPABLE",
  "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION",
  "ECS_CONTAINER_STOP_TIMEOUT",
  "ECS_ENABLE_TASK_IAM_ROLE",
  "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST",
  "ECS_DISABLE_IMAGE_CLEANUP",
  "ECS_IMAGE_CLEANUP_INTERVAL",
  "ECS_IMAGE_MINIMUM_CLEANUP_AGE",
  "ECS_NUM_IMAGES_DELETE_PER_CYCLE",
  "ECS_INSTANCE_ATTRIBUTES",
  "ECS_ENABLE_TASK_ENI",
  "ECS_CNI_PLUGINS_PATH",
  "ECS_AWSVPC_BLOCK_IMDS",
  "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES",
  "ECS_ENABLE_CONTAINER_METADATA",
  "ECS_HOST_DATA_DIR",
  "ECS_ENABLE_TASK_CPU_MEM_LIMIT",
  /* read by v1.16.2's code, not in the README table */
  "ECS_BACKEND_HOST",
  "ECS_AGENT_CONFIG_FILE_PATH",
  "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE",
  "ECS_AUDIT_LOGFILE",
  "ECS_AUDIT_LOGFILE_DISABLED",
  /* ours */
  "ECSA_PLUGIN_DIR",
};

static void
assert_one_warning_naming(const char *name)
{
  if (warnings->len != 1)
    {
      for (guint i = 0; i < warnings->len; i++)
        g_printerr("warning %u: %s", i, (char *)g_ptr_array_index(warnings, i));
      g_error("%s: expected exactly one warning, got %u", name, warnings->len);
    }
  g_assert_nonnull(strstr(g_ptr_array_index(warnings, 0), "[WARN]"));
  g_assert_nonnull(strstr(g_ptr_array_index(warnings, 0), name));
}

static void
test_row_default(gconstpointer data)
{
  const Row *row = data;
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autoptr(EcsaConfig) config = load(NULL, &ok, &error);

  g_assert_no_error(error);
  g_assert_true(ok);
  g_assert_cmpuint(warnings->len, ==, 0);
  g_assert_cmpstr(ecsa_config_get(config, row->env), ==, row->def);
  g_assert_cmpint(ecsa_config_get_source(config, row->env), ==, ECSA_CONFIG_SOURCE_DEFAULT);
  /* empty counts as unset */
  {
    g_autofree char *var = g_strdup_printf("%s=", row->env);
    const char *vars[] = { var, NULL };
    g_autoptr(EcsaConfig) empty = load(vars, &ok, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ecsa_config_get(empty, row->env), ==, row->def);
    g_assert_cmpuint(warnings->len, ==, 0);
  }
}

static void
test_row_valid(gconstpointer data)
{
  const Row *row = data;
  g_autofree char *var = g_strdup_printf("%s=%s", row->env, row->valid);
  const char *vars[] = { var, NULL };
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autoptr(EcsaConfig) config = load(vars, &ok, &error);

  g_assert_no_error(error);
  g_assert_true(ok);
  g_assert_cmpuint(warnings->len, ==, 0);
  g_assert_cmpstr(ecsa_config_get(config, row->env), ==, row->valid_expect);
  g_assert_cmpint(ecsa_config_get_source(config, row->env), ==, ECSA_CONFIG_SOURCE_ENVIRONMENT);
}

static void
check_bad(const Row *row, const char *bad)
{
  g_autofree char *var = g_strdup_printf("%s=%s", row->env, bad);
  const char *vars[] = { var, NULL };
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autoptr(EcsaConfig) config = load(vars, &ok, &error);

  if (row->bad_kind == BAD_WARN)
    {
      g_assert_no_error(error);
      g_assert_true(ok);
      assert_one_warning_naming(row->env);
      g_assert_cmpstr(ecsa_config_get(config, row->env), ==, row->def);
      g_assert_cmpint(ecsa_config_get_source(config, row->env), ==, ECSA_CONFIG_SOURCE_DEFAULT);
      if (row->def != NULL)
        g_assert_nonnull(strstr(g_ptr_array_index(warnings, 0), row->def)); /* says what it uses instead */
    }
  else
    {
      g_assert_false(ok);
      g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      if (strstr(error->message, row->env) == NULL)
        g_error("%s=%s: error does not name the variable: %s", row->env, bad, error->message);
    }
}

static void
test_row_bad(gconstpointer data)
{
  const Row *row = data;

  check_bad(row, row->bad);
  if (row->bad2 != NULL)
    check_bad(row, row->bad2);
}

static void
test_row_file(gconstpointer data)
{
  const Row *row = data;
  g_autofree char *json = g_strdup_printf("{\"%s\": %s}", row->json, row->json_value);
  g_autofree char *path = write_file("config.json", json);
  g_autofree char *pathvar = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", path);
  g_autofree char *envvar = g_strdup_printf("%s=%s", row->env, row->valid);
  g_autofree char *badvar = row->bad_kind == BAD_WARN ? g_strdup_printf("%s=%s", row->env, row->bad) : NULL;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  {
    /* the file's value */
    const char *vars[] = { pathvar, NULL };
    g_autoptr(EcsaConfig) config = load(vars, &ok, &error);
    g_assert_no_error(error);
    g_assert_true(ok);
    g_assert_cmpstr(ecsa_config_get(config, row->env), ==, row->json_expect);
    g_assert_cmpint(ecsa_config_get_source(config, row->env), ==, ECSA_CONFIG_SOURCE_FILE);
  }
  {
    /* the environment wins over the file */
    const char *vars[] = { pathvar, envvar, NULL };
    g_autoptr(EcsaConfig) config = load(vars, &ok, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ecsa_config_get(config, row->env), ==, row->valid_expect);
    g_assert_cmpint(ecsa_config_get_source(config, row->env), ==, ECSA_CONFIG_SOURCE_ENVIRONMENT);
  }
  if (badvar != NULL && strcmp(row->env, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION") != 0
      && strcmp(row->env, "ECS_IMAGE_CLEANUP_INTERVAL") != 0
      && strcmp(row->env, "ECS_NUM_IMAGES_DELETE_PER_CYCLE") != 0)
    {
      /* a malformed environment value falls through to the file's */
      const char *vars[] = { pathvar, badvar, NULL };
      g_autoptr(EcsaConfig) config = load(vars, &ok, &error);
      g_assert_no_error(error);
      assert_one_warning_naming(row->env);
      g_assert_nonnull(strstr(g_ptr_array_index(warnings, 0), "config file"));
      g_assert_cmpstr(ecsa_config_get(config, row->env), ==, row->json_expect);
    }
  {
    /* a value of the wrong JSON type is fatal and names the key and the file */
    g_autofree char *wrong = g_strdup_printf("{\"%s\": {\"nested\": [1]}}", row->json);
    g_autofree char *wrong_path = write_file("wrong.json", wrong);
    g_autofree char *wrong_var = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", wrong_path);
    const char *vars[] = { wrong_var, NULL };
    g_autoptr(EcsaConfig) config = NULL;

    if (strcmp(row->json, "EngineAuthData") == 0 || strcmp(row->json, "InstanceAttributes") == 0)
      return; /* any JSON is raw auth data; an object is the right type for attributes (checked elsewhere) */
    config = load(vars, &ok, &error);
    g_assert_false(ok);
    g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
    g_assert_nonnull(strstr(error->message, row->json));
    g_assert_nonnull(strstr(error->message, wrong_path));
    g_assert_nonnull(strstr(error->message, "ECS_AGENT_CONFIG_FILE_PATH"));
  }
}

/* Every setting the configuration knows is in the table above, and every variable of the README
 * and of v1.16.2's code is known. */
static void
test_table_complete(void)
{
  g_autoptr(EcsaConfig) config = ecsa_config_new();
  g_autofree char *dump = ecsa_config_to_string(config);
  g_auto(GStrv) lines = g_strsplit(dump, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *name = NULL;
      gboolean found = FALSE;
      const char *eq = strchr(lines[i], '=');

      if (lines[i][0] == '#' || lines[i][0] == '\0' || eq == NULL)
        continue;
      name = g_strndup(lines[i], (gsize)(eq - lines[i]));
      if (!g_str_has_prefix(name, "ECS_") && !g_str_has_prefix(name, "ECSA_") && !g_str_has_prefix(name, "AWS_")
          && strcmp(name, "DOCKER_HOST") != 0)
        continue; /* file-only keys and flags: tested below */
      for (gsize r = 0; r < G_N_ELEMENTS(rows); r++)
        found |= strcmp(rows[r].env, name) == 0;
      found |= strcmp(name, "ECS_LOGLEVEL") == 0 || strcmp(name, "ECS_AGENT_CONFIG_FILE_PATH") == 0
               || g_str_has_prefix(name, "AWS_ACCESS") || g_str_has_prefix(name, "AWS_SECRET")
               || g_str_has_prefix(name, "AWS_SESSION"); /* tested below */
      if (!found)
        g_error("setting %s has no row in the test table", name);
    }
  for (gsize i = 0; i < G_N_ELEMENTS(readme_and_code_variables); i++)
    {
      g_autofree char *needle = g_strdup_printf("\n%s=", readme_and_code_variables[i]);
      if (strstr(dump, needle) == NULL)
        g_error("%s is not a known setting", readme_and_code_variables[i]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Special rules
 * ------------------------------------------------------------------------------------------- */
static void
test_checkpoint_follows_datadir(void)
{
  g_autoptr(GError) error = NULL;
  gboolean ok;

  {
    const char *vars[] = { "ECS_DATADIR=/var/lib/ecs/data", NULL };
    g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
    g_assert_true(c->checkpoint);
  }
  {
    const char *vars[] = { "ECS_DATADIR=/var/lib/ecs/data", "ECS_CHECKPOINT=false", NULL };
    g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
    g_assert_false(c->checkpoint);
  }
  {
    const char *vars[] = { "ECS_DATADIR=/d", "ECS_CHECKPOINT=maybe", NULL };
    g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
    g_assert_true(c->checkpoint);
    assert_one_warning_naming("ECS_CHECKPOINT");
    g_assert_nonnull(strstr(g_ptr_array_index(warnings, 0), "ECS_DATADIR set, true"));
  }
  {
    const char *vars[] = { "ECS_CHECKPOINT=true", NULL };
    g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
    g_assert_true(c->checkpoint);
  }
  {
    /* ECS_DATADIR in the environment turns checkpointing on even when the file says false */
    g_autofree char *path = write_file("cp.json", "{\"Checkpoint\": false}");
    g_autofree char *pathvar = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", path);
    const char *vars[] = { pathvar, "ECS_DATADIR=/d", NULL };
    g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
    g_assert_true(c->checkpoint);
  }
  g_assert_no_error(error);
}

static void
test_log_level_precedence(void)
{
  g_autoptr(EcsaConfig) config = ecsa_config_new();
  const char *env_debug[] = { "ECS_LOGLEVEL=debug", NULL };
  const char *env_bad[] = { "ECS_LOGLEVEL=chatty", NULL };
  const char *env_none[] = { NULL };

  reset_log();
  /* the README: ECS_LOGLEVEL overrides -loglevel (v1.16.2's code does the opposite) */
  g_assert_cmpint(ecsa_config_resolve_log_level(config, env_debug, "crit"), ==, ECSA_LOG_DEBUG);
  g_assert_cmpstr(ecsa_config_get(config, "ECS_LOGLEVEL"), ==, "debug");
  g_assert_cmpint(ecsa_config_get_source(config, "ECS_LOGLEVEL"), ==, ECSA_CONFIG_SOURCE_ENVIRONMENT);
  g_assert_cmpint(ecsa_config_resolve_log_level(config, env_none, "warn"), ==, ECSA_LOG_WARN);
  g_assert_cmpint(ecsa_config_get_source(config, "ECS_LOGLEVEL"), ==, ECSA_CONFIG_SOURCE_FLAG);
  g_assert_cmpint(ecsa_config_resolve_log_level(config, env_none, NULL), ==, ECSA_LOG_INFO);
  g_assert_cmpstr(ecsa_config_get(config, "ECS_LOGLEVEL"), ==, "info");
  g_assert_cmpuint(warnings->len, ==, 0);

  g_assert_cmpint(ecsa_config_resolve_log_level(config, env_bad, "error"), ==, ECSA_LOG_ERROR);
  assert_one_warning_naming("ECS_LOGLEVEL");
  g_assert_nonnull(strstr(g_ptr_array_index(warnings, 0), "'chatty'"));
  g_ptr_array_set_size(warnings, 0);
  g_assert_cmpint(ecsa_config_resolve_log_level(config, env_none, "loud"), ==, ECSA_LOG_INFO);
  assert_one_warning_naming("-loglevel");
  g_ptr_array_set_size(warnings, 0);
  g_assert_cmpint(ecsa_config_resolve_log_level(config, env_bad, NULL), ==, ECSA_LOG_INFO);
  assert_one_warning_naming("ECS_LOGLEVEL");
}

static void
test_trim(void)
{
  const char *vars[] = { "ECS_CLUSTER=  spaced  ", "AWS_DEFAULT_REGION= us-east-1\t", "ECS_ENGINE_AUTH_TYPE= docker ",
                         "ECS_CHECKPOINT= true ", NULL };
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autoptr(EcsaConfig) c = load(vars, &ok, &error);

  g_assert_no_error(error);
  g_assert_cmpstr(c->cluster, ==, "spaced");
  g_assert_cmpstr(c->aws_region, ==, "us-east-1");
  g_assert_cmpstr(c->engine_auth_type, ==, "docker");
  g_assert_true(c->checkpoint);
}

static void
test_struct_values(void)
{
  const char *vars[] = { "ECS_RESERVED_PORTS=[22, 80]",
                         "ECS_CONTAINER_STOP_TIMEOUT=1m30s",
                         "ECS_INSTANCE_ATTRIBUTES={\"stack\":\"prod\"}",
                         "ECS_ENABLE_TASK_CPU_MEM_LIMIT=0",
                         "ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES=[\"10.0.15.0/24\"]",
                         "ECS_RESERVED_MEMORY=256",
                         NULL };
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autoptr(EcsaConfig) c = load(vars, &ok, &error);

  g_assert_no_error(error);
  g_assert_cmpuint(c->reserved_ports->len, ==, 2);
  g_assert_cmpuint(g_array_index(c->reserved_ports, guint16, 1), ==, 80);
  g_assert_cmpint(c->docker_stop_timeout, ==, 90 * G_TIME_SPAN_SECOND);
  g_assert_cmpstr(g_hash_table_lookup(c->instance_attributes, "stack"), ==, "prod");
  g_assert_cmpint(c->task_cpu_mem_limit, ==, ECSA_CONDITIONAL_DISABLED);
  g_assert_false(ecsa_config_task_cpu_mem_limit_enabled(c));
  g_assert_cmpstr(c->awsvpc_additional_local_routes[0], ==, "10.0.15.0/24");
  g_assert_null(c->awsvpc_additional_local_routes[1]);
  g_assert_cmpuint(c->reserved_memory, ==, 256);
  g_assert_cmpstr(c->available_logging_drivers[0], ==, "json-file");
  g_assert_cmpint(c->task_cleanup_wait_duration, ==, 3 * G_TIME_SPAN_HOUR);
  g_assert_cmpint(c->num_images_to_delete_per_cycle, ==, 5);
  g_assert_cmpstr(c->pause_container_image_name, ==, "amazon/amazon-ecs-pause");
  g_assert_cmpstr(c->pause_container_tag, ==, "0.1.0");
}

/* v1.16.2 merges with ZeroOrNil(): zero durations and empty lists count as unset. */
static void
test_zero_is_unset(void)
{
  const char *vars[] = { "ECS_RESERVED_PORTS=[]",
                         "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=0",
                         "ECS_IMAGE_MINIMUM_CLEANUP_AGE=0s",
                         "ECS_NUM_IMAGES_DELETE_PER_CYCLE=0",
                         "ECS_AVAILABLE_LOGGING_DRIVERS=null",
                         NULL };
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autoptr(EcsaConfig) c = load(vars, &ok, &error);

  g_assert_no_error(error);
  g_assert_cmpuint(warnings->len, ==, 0);
  g_assert_cmpstr(ecsa_config_get(c, "ECS_RESERVED_PORTS"), ==, "[22,2375,2376,51678,51679]");
  g_assert_cmpstr(ecsa_config_get(c, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION"), ==, "3h0m0s");
  g_assert_cmpstr(ecsa_config_get(c, "ECS_IMAGE_MINIMUM_CLEANUP_AGE"), ==, "1h0m0s");
  g_assert_cmpstr(ecsa_config_get(c, "ECS_NUM_IMAGES_DELETE_PER_CYCLE"), ==, "5");
  g_assert_cmpstr(ecsa_config_get(c, "ECS_AVAILABLE_LOGGING_DRIVERS"), ==, "[\"json-file\",\"none\"]");
}

static void
test_several_fatal(void)
{
  const char *vars[]
    = { "ECS_INSTANCE_ATTRIBUTES={", "ECS_AVAILABLE_LOGGING_DRIVERS=[\"nope\"]", "ECS_RESERVED_PORTS=bad", NULL };
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autoptr(EcsaConfig) c = load(vars, &ok, &error);

  g_assert_false(ok);
  /* every fatal problem is named, not only the first */
  g_assert_nonnull(strstr(error->message, "ECS_INSTANCE_ATTRIBUTES"));
  g_assert_nonnull(strstr(error->message, "ECS_AVAILABLE_LOGGING_DRIVERS"));
  g_assert_nonnull(strstr(error->message, "nope"));
  /* and the malformed scalar is still only a warning */
  g_assert_null(strstr(error->message, "ECS_RESERVED_PORTS"));
  g_assert_cmpstr(ecsa_config_get(c, "ECS_RESERVED_PORTS"), ==, "[22,2375,2376,51678,51679]");
}

static void
test_secret_not_in_warnings(void)
{
  const char *vars[] = { "ECS_ENGINE_AUTH_DATA={\"https://r\":{\"username\":\"u\",\"password\":\"topsecret-pw\"}}",
                         "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                         "AWS_SESSION_TOKEN=FQoGZXIvYXdzEXAMPLETOKEN", NULL };
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
  g_autofree char *dump = ecsa_config_to_string(c);
  g_autofree char *line = NULL;

  g_assert_no_error(error);
  g_assert_null(strstr(dump, "topsecret-pw"));
  g_assert_null(strstr(dump, "wJalrXUtnFEMI"));
  g_assert_null(strstr(dump, "FQoGZXIvYXdzEXAMPLETOKEN"));
  g_assert_nonnull(strstr(dump, "ECS_ENGINE_AUTH_DATA=<redacted>"));
  g_assert_nonnull(strstr(dump, "AWS_SECRET_ACCESS_KEY=<redacted>"));
  /* config_get gives plugins the auth data in clear, but not the instance's AWS keys */
  g_assert_nonnull(strstr(ecsa_config_get(c, "ECS_ENGINE_AUTH_DATA"), "topsecret-pw"));
  g_assert_null(strstr(ecsa_config_get(c, "AWS_SECRET_ACCESS_KEY"), "wJalr"));
  /* the loaded secrets are masked in any later log line, even in free text */
  reset_log();
  ecsa_log_add_secret(c->engine_auth_data);
  ecsa_log_add_secret("FQoGZXIvYXdzEXAMPLETOKEN");
  ecsa_log_warn("echo %s and FQoGZXIvYXdzEXAMPLETOKEN", c->engine_auth_data);
  g_assert_cmpuint(warnings->len, ==, 1);
  line = g_strdup(g_ptr_array_index(warnings, 0));
  g_assert_null(strstr(line, "topsecret-pw"));
  g_assert_null(strstr(line, "FQoGZXIvYXdzEXAMPLETOKEN"));
}

static void
test_region_and_endpoint(void)
{
  g_autoptr(GError) error = NULL;
  gboolean ok;
  const char *none[] = { NULL };
  g_autoptr(EcsaConfig) c = load(none, &ok, &error);
  g_autofree char *url1 = NULL;
  g_autofree char *url2 = NULL;
  g_autofree char *url3 = NULL;
  g_autofree char *url4 = NULL;

  g_assert_true(ok); /* a missing region is not fatal at load: instance metadata may supply it */
  g_assert_null(ecsa_config_get_api_endpoint_url(c));
  g_assert_false(ecsa_config_check_region(c, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_nonnull(strstr(error->message, "AWSRegion"));
  g_clear_error(&error);
  ecsa_config_set_region_from_metadata(c, "us-west-2");
  g_assert_true(ecsa_config_check_region(c, &error));
  g_assert_cmpint(ecsa_config_get_source(c, "AWS_DEFAULT_REGION"), ==, ECSA_CONFIG_SOURCE_METADATA);
  url1 = ecsa_config_get_api_endpoint_url(c);
  g_assert_cmpstr(url1, ==, "https://ecs.us-west-2.amazonaws.com");
  ecsa_config_set_region_from_metadata(c, "cn-north-1");
  url2 = ecsa_config_get_api_endpoint_url(c);
  g_assert_cmpstr(url2, ==, "https://ecs.cn-north-1.amazonaws.com.cn");
  c->api_endpoint = g_strdup("ecs.example.internal");
  url3 = ecsa_config_get_api_endpoint_url(c);
  g_assert_cmpstr(url3, ==, "https://ecs.example.internal");
  g_free(c->api_endpoint);
  c->api_endpoint = g_strdup("http://127.0.0.1:8080");
  url4 = ecsa_config_get_api_endpoint_url(c);
  g_assert_cmpstr(url4, ==, "http://127.0.0.1:8080");
}

static void
test_get_stable(void)
{
  g_autoptr(EcsaConfig) c = ecsa_config_new();
  const char *a = ecsa_config_get(c, "ECS_CLUSTER");
  const char *b = ecsa_config_get(c, "Cluster"); /* by JSON key too */
  const char *old;

  g_assert_true(a == b);
  g_assert_null(ecsa_config_get(c, "NO_SUCH_SETTING"));
  g_assert_null(ecsa_config_get(c, "ECS_ENGINE_AUTH_DATA"));
  old = ecsa_config_get(c, "ECS_CLUSTER");
  g_free(c->cluster);
  c->cluster = g_strdup("restored");
  g_assert_cmpstr(ecsa_config_get(c, "ECS_CLUSTER"), ==, "restored");
  g_assert_cmpstr(old, ==, "default"); /* still valid: a plugin may hold it */
}

/* ---------------------------------------------------------------------------------------------
 * The config file
 * ------------------------------------------------------------------------------------------- */
static void
test_file_full(void)
{
  g_autofree char *path = write_file("full.json", "{\n"
                                                  "  \"cluster\": \"lower-case-key\",\n"
                                                  "  \"AWSRegion\": \" ap-south-1 \",\n"
                                                  "  \"ReservedPorts\": [22, 8080],\n"
                                                  "  \"DockerStopTimeout\": 45000000000,\n"
                                                  "  \"TaskCPUMemLimit\": 0,\n"
                                                  "  \"EngineAuthData\": {\"r\": {\"auth\": \"abc\"}},\n"
                                                  "  \"InstanceAttributes\": {\"k\": \"v\"},\n"
                                                  "  \"PauseContainerImageName\": \"local/pause\",\n"
                                                  "  \"PauseContainerTag\": \"1.0\",\n"
                                                  "  \"OverrideAWSVPCLocalIPv4Address\": \"169.254.172.42/22\",\n"
                                                  "  \"AcceptInsecureCert\": true,\n"
                                                  "  \"SomethingUnknown\": 1,\n"
                                                  "  \"UpdatesEnabled\": null\n"
                                                  "}\n");
  g_autofree char *pathvar = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", path);
  const char *vars[] = { pathvar, NULL };
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
  g_autofree char *dump = NULL;

  g_assert_no_error(error);
  g_assert_cmpuint(warnings->len, ==, 0);
  g_assert_cmpstr(c->cluster, ==, "lower-case-key"); /* encoding/json matches keys case-insensitively */
  g_assert_cmpstr(c->aws_region, ==, "ap-south-1");
  g_assert_cmpstr(ecsa_config_get(c, "ECS_RESERVED_PORTS"), ==, "[22,8080]");
  g_assert_cmpint(c->docker_stop_timeout, ==, 45 * G_TIME_SPAN_SECOND);
  g_assert_cmpint(c->task_cpu_mem_limit, ==, ECSA_CONDITIONAL_DISABLED);
  g_assert_cmpstr(c->engine_auth_data, ==, "{\"r\":{\"auth\":\"abc\"}}");
  g_assert_cmpstr(g_hash_table_lookup(c->instance_attributes, "k"), ==, "v");
  g_assert_cmpstr(c->pause_container_image_name, ==, "local/pause");
  g_assert_cmpstr(c->pause_container_tag, ==, "1.0");
  g_assert_cmpstr(c->override_awsvpc_local_ipv4_address, ==, "169.254.172.42/22");
  g_assert_false(c->accept_insecure_cert); /* json:"-" in v1.16.2: only -k sets it */
  g_assert_false(c->updates_enabled);
  dump = ecsa_config_to_string(c);
  g_assert_nonnull(strstr(dump, path));
  g_assert_null(strstr(dump, "\"abc\""));
}

static void
test_file_cluster_arn_deprecated(void)
{
  g_autofree char *path = write_file("arn.json", "{\"ClusterArn\": \"arn:aws:ecs:us-west-2:1:cluster/old\"}");
  g_autofree char *pathvar = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", path);
  g_autoptr(GError) error = NULL;
  gboolean ok;

  {
    const char *vars[] = { pathvar, NULL };
    g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
    g_assert_cmpstr(c->cluster, ==, "arn:aws:ecs:us-west-2:1:cluster/old");
    assert_one_warning_naming("ClusterArn");
  }
  {
    const char *vars[] = { pathvar, "ECS_CLUSTER=new", NULL };
    g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
    g_assert_cmpstr(c->cluster, ==, "new");
  }
  g_assert_no_error(error);
}

static void
test_file_fatal(void)
{
  static const struct
  {
    const char *contents;
    const char *fragment;
  } cases[] = {
    { "{\"Cluster\": ", "not valid JSON" },
    { "[1, 2]", "expected a JSON object" },
    { "{\"Cluster\": 5}", "Cluster" },
    { "{\"DockerStopTimeout\": \"30s\"}", "DockerStopTimeout" },         /* Go encodes durations as ns */
    { "{\"DockerStopTimeout\": 500000000}", "below the minimum of 1s" }, /* fatal from the file */
    { "{\"DockerStopTimeout\": 1.5e9}", "DockerStopTimeout" },
    { "{\"ReservedMemory\": 70000}", "ReservedMemory" },
    { "{\"ReservedPorts\": [22, \"80\"]}", "ReservedPorts" },
    { "{\"TaskCPUMemLimit\": \"true\"}", "TaskCPUMemLimit" },
    { "{\"Checkpoint\": \"true\"}", "Checkpoint" },
    { "{\"OverrideAWSVPCLocalIPv4Address\": \"300.1.1.1/22\"}", "OverrideAWSVPCLocalIPv4Address" },
    { "{\"AvailableLoggingDrivers\": [\"bogus\"]}", "bogus" },
    { "{\"InstanceAttributes\": {\"a\": 1}}", "InstanceAttributes" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_autofree char *path = write_file("fatal.json", cases[i].contents);
      g_autofree char *pathvar = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", path);
      const char *vars[] = { pathvar, NULL };
      g_autoptr(GError) error = NULL;
      gboolean ok;
      g_autoptr(EcsaConfig) c = load(vars, &ok, &error);

      g_assert_false(ok);
      g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      if (strstr(error->message, cases[i].fragment) == NULL)
        g_error("%s: error lacks '%s': %s", cases[i].contents, cases[i].fragment, error->message);
    }
}

static void
test_file_absent_empty_unreadable(void)
{
  g_autoptr(GError) error = NULL;
  gboolean ok;
  g_autofree char *empty = write_file("empty.json", " \n\t\n");
  g_autofree char *nul = write_file("null.json", "null");
  const char *cases[] = { empty, nul };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_autofree char *pathvar = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", cases[i]);
      const char *vars[] = { pathvar, NULL };
      g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
      g_assert_no_error(error);
      g_assert_true(ok);
      g_assert_cmpstr(c->cluster, ==, "default");
    }
  {
    /* a directory cannot be read: fatal, as v1.16.2 ("Unable to read cfg file") */
    g_autofree char *pathvar = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", tmpdir);
    const char *vars[] = { pathvar, NULL };
    g_autoptr(EcsaConfig) c = load(vars, &ok, &error);
    g_assert_false(ok);
    g_assert_nonnull(strstr(error->message, "ECS_AGENT_CONFIG_FILE_PATH"));
    g_assert_nonnull(strstr(error->message, tmpdir));
    g_clear_error(&error);
  }
  {
    g_autoptr(EcsaConfig) c = ecsa_config_new();
    g_assert_cmpstr(c->config_file_path, ==, "/etc/ecs_container_agent/config.json");
  }
}

static void
test_parse_file_data(void)
{
  g_autoptr(EcsaConfig) c = ecsa_config_new();
  g_autoptr(GError) error = NULL;
  const char data[] = "{\"Cluster\": \"c1\", \"Checkpoint\": true}";

  g_assert_true(ecsa_config_parse_file_data(c, data, strlen(data), &error));
  g_assert_no_error(error);
  g_assert_cmpstr(c->cluster, ==, "c1");
  g_assert_true(c->checkpoint);
  g_assert_false(ecsa_config_parse_file_data(c, "{", 1, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_clear_error(&error);
  g_assert_true(ecsa_config_parse_env_value(c, "ECS_RESERVED_PORTS", "[1,2]", &error));
  g_assert_cmpstr(ecsa_config_get(c, "ECS_RESERVED_PORTS"), ==, "[1,2]");
  g_assert_false(ecsa_config_parse_env_value(c, "ECS_INSTANCE_ATTRIBUTES", "[", &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_clear_error(&error);
  g_assert_false(ecsa_config_parse_env_value(c, "NOPE", "x", &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND);
}

/* ---------------------------------------------------------------------------------------------
 * Go syntax
 * ------------------------------------------------------------------------------------------- */
static void
test_parse_bool(void)
{
  const char *yes[] = { "1", "t", "T", "TRUE", "true", "True", " true " };
  const char *no[] = { "0", "f", "F", "FALSE", "false", "False" };
  const char *bad[] = { "", "yes", "no", "on", "tRUE", "2", "truee" };
  gboolean v;

  for (gsize i = 0; i < G_N_ELEMENTS(yes); i++)
    {
      v = FALSE;
      g_assert_true(ecsa_config_parse_bool(yes[i], &v));
      g_assert_true(v);
    }
  for (gsize i = 0; i < G_N_ELEMENTS(no); i++)
    {
      v = TRUE;
      g_assert_true(ecsa_config_parse_bool(no[i], &v));
      g_assert_false(v);
    }
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
    g_assert_false(ecsa_config_parse_bool(bad[i], &v));
}

static void
test_parse_duration(void)
{
  /* Go's time.ParseDuration test table (microsecond precision here) */
  static const struct
  {
    const char *text;
    gint64 us;
  } good[] = {
    { "0", 0 },
    { "5s", 5000000 },
    { "30s", 30000000 },
    { "1478s", 1478000000 },
    { "-5s", -5000000 },
    { "+5s", 5000000 },
    { "-0", 0 },
    { "+0", 0 },
    { "5.0s", 5000000 },
    { "5.6s", 5600000 },
    { "5.s", 5000000 },
    { ".5s", 500000 },
    { "1.0s", 1000000 },
    { "1.00s", 1000000 },
    { "1.004s", 1004000 },
    { "1.0040s", 1004000 },
    { "100.00100s", 100001000 },
    { "10ns", 0 },
    { "11us", 11 },
    { "12\xc2\xb5s", 12 },
    { "12\xce\xbcs", 12 },
    { "13ms", 13000 },
    { "14s", 14000000 },
    { "15m", 900000000 },
    { "16h", G_GINT64_CONSTANT(57600000000) },
    { "3h30m", G_GINT64_CONSTANT(12600000000) },
    { "10.5s4m", 250500000 },
    { "-2m3.4s", -123400000 },
    { "1h2m3s4ms5us6ns", G_GINT64_CONSTANT(3723004005) },
    { "39h9m14.425s", G_GINT64_CONSTANT(140954425000) },
    { "52763797000ns", 52763797 },
    { "0.3333333333333333333h", G_GINT64_CONSTANT(1200000000) },
    { "9007199254740993ns", G_GINT64_CONSTANT(9007199254740) },
    { "9223372036854775807ns", G_GINT64_CONSTANT(9223372036854775) },
    { "2562047h", G_GINT64_CONSTANT(9223369200000000) },
  };
  static const char *const bad[] = {
    "",       "3",   "-",      "s",  ".",   "-.", ".s", "+.s", "1d", "3000000h", "9223372036854775808ns",
    "1h 30m", " 1h", "1h-30m", "5x", "1.5",
  };

  for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
    {
      g_autoptr(GError) error = NULL;
      GTimeSpan v = -1;
      if (!ecsa_config_parse_duration(good[i].text, &v, &error))
        g_error("'%s': %s", good[i].text, error->message);
      if (v != good[i].us)
        g_error("'%s': got %" G_GINT64_FORMAT " us, expected %" G_GINT64_FORMAT, good[i].text, v, good[i].us);
    }
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
    {
      g_autoptr(GError) error = NULL;
      GTimeSpan v = 42;
      if (ecsa_config_parse_duration(bad[i], &v, &error))
        g_error("'%s' parsed as %" G_GINT64_FORMAT, bad[i], v);
      g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
      g_assert_nonnull(strstr(error->message, bad[i]));
      g_assert_cmpint(v, ==, 42);
    }
}

static void
test_format_duration(void)
{
  static const struct
  {
    gint64 us;
    const char *text;
  } cases[] = {
    { 0, "0s" },
    { 1, "1\xc2\xb5s" },
    { 1100, "1.1ms" },
    { 2200000, "2.2s" },
    { 90000000, "1m30s" },
    { G_GINT64_CONSTANT(10800000000), "3h0m0s" },
    { 1800000000, "30m0s" },
    { 30000000, "30s" },
    { -1000000, "-1s" },
    { 4000, "4ms" },
    { G_GINT64_CONSTANT(140954425000), "39h9m14.425s" },
    { G_MAXINT64, "2562047h47m16.854775807s" },
    { G_MININT64, "-2562047h47m16.854775808s" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_autofree char *s = ecsa_config_duration_to_string(cases[i].us);
      g_assert_cmpstr(s, ==, cases[i].text);
    }
}

int
main(int argc, char **argv)
{
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  ecsa_log_init();
  warnings = g_ptr_array_new_with_free_func(g_free);
  tmpdir = ecsa_test_mkdtemp();

  for (gsize i = 0; i < G_N_ELEMENTS(rows); i++)
    {
      const Row *row = &rows[i];
      g_autofree char *p_default = g_strdup_printf("/config/env/%s/default", row->env);
      g_autofree char *p_valid = g_strdup_printf("/config/env/%s/valid", row->env);
      g_autofree char *p_bad
        = g_strdup_printf("/config/env/%s/%s", row->env, row->bad_kind == BAD_FATAL ? "fatal" : "malformed");
      g_autofree char *p_file = g_strdup_printf("/config/env/%s/file", row->env);

      g_test_add_data_func(p_default, row, test_row_default);
      g_test_add_data_func(p_valid, row, test_row_valid);
      if (row->bad_kind != BAD_NONE)
        g_test_add_data_func(p_bad, row, test_row_bad);
      if (row->json != NULL)
        g_test_add_data_func(p_file, row, test_row_file);
    }
  g_test_add_func("/config/table-complete", test_table_complete);
  g_test_add_func("/config/checkpoint-follows-datadir", test_checkpoint_follows_datadir);
  g_test_add_func("/config/log-level-precedence", test_log_level_precedence);
  g_test_add_func("/config/trim", test_trim);
  g_test_add_func("/config/struct-values", test_struct_values);
  g_test_add_func("/config/zero-is-unset", test_zero_is_unset);
  g_test_add_func("/config/several-fatal", test_several_fatal);
  g_test_add_func("/config/secrets", test_secret_not_in_warnings);
  g_test_add_func("/config/region-and-endpoint", test_region_and_endpoint);
  g_test_add_func("/config/get-stable", test_get_stable);
  g_test_add_func("/config/file/full", test_file_full);
  g_test_add_func("/config/file/cluster-arn-deprecated", test_file_cluster_arn_deprecated);
  g_test_add_func("/config/file/fatal", test_file_fatal);
  g_test_add_func("/config/file/absent-empty-unreadable", test_file_absent_empty_unreadable);
  g_test_add_func("/config/file/parse-data", test_parse_file_data);
  g_test_add_func("/config/go/parse-bool", test_parse_bool);
  g_test_add_func("/config/go/parse-duration", test_parse_duration);
  g_test_add_func("/config/go/format-duration", test_format_duration);

  rc = g_test_run();
  ecsa_test_rmdir_recursive(tmpdir);
  g_free(tmpdir);
  g_ptr_array_unref(warnings);
  ecsa_log_shutdown();
  return rc;
}

/* ecsa-config.h: the agent's configuration, as agent v1.16.2 reads it.
 *
 * Sources, highest precedence first: environment variables (ECS_*, AWS_DEFAULT_REGION,
 * DOCKER_HOST), the JSON config file (ECS_AGENT_CONFIG_FILE_PATH, default
 * /etc/ecs_container_agent/config.json, keys are v1.16.2's Go field names), instance metadata (the
 * region only, fetched at start-up by the agent, never here), then defaults.
 * Durations are GTimeSpan (microseconds). docs/CONFIGURATION.md documents every variable, its
 * default, how a bad value is graded, and where we differ from v1.16.2.
 *
 * Grading, as v1.16.2: a malformed scalar or list logs one warning naming the variable and the value
 * falls back (to the file's, else the default); what v1.16.2 treats as fatal (malformed
 * ECS_INSTANCE_ATTRIBUTES or ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES, an unknown logging driver, an
 * unreadable or malformed config file, ...) makes ecsa_config_load() fail with an error naming it;
 * the agent then exits with ECSA_EXIT_ERROR (1), as v1.16.2 does.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  ECSA_CONDITIONAL_DEFAULT = 0, /* not set: enabled when the host supports it */
  ECSA_CONDITIONAL_ENABLED,     /* explicitly true: failing to provide it is an error */
  ECSA_CONDITIONAL_DISABLED,    /* explicitly false */
} EcsaConditional;

#define ECSA_CONFIG_DEFAULT_FILE "/etc/ecs_container_agent/config.json"

typedef struct _EcsaConfigPrivate EcsaConfigPrivate;

typedef struct
{
  char *cluster;                        /* ECS_CLUSTER ("default"); the JSON file's ClusterArn is a deprecated alias */
  char *api_endpoint;                   /* ECS_BACKEND_HOST as given (NULL: derived from the region); see
                                         * ecsa_config_get_api_endpoint_url() */
  char *docker_endpoint;                /* DOCKER_HOST ("unix:///var/run/docker.sock") */
  char *aws_region;                     /* AWS_DEFAULT_REGION, else instance metadata; missing is fatal at start */
  GArray *reserved_ports;               /* guint16: ECS_RESERVED_PORTS ([22, 2375, 2376, 51678, 51679]) */
  GArray *reserved_ports_udp;           /* guint16: ECS_RESERVED_PORTS_UDP ([]) */
  char *data_dir;                       /* ECS_DATADIR ("/data/") */
  char *data_dir_on_host;               /* ECS_HOST_DATA_DIR ("/var/lib/ecs") */
  gboolean checkpoint;                  /* ECS_CHECKPOINT (true iff ECS_DATADIR was set non-empty) */
  char *engine_auth_type;               /* ECS_ENGINE_AUTH_TYPE: "docker" | "dockercfg" | NULL */
  char *engine_auth_data;               /* ECS_ENGINE_AUTH_DATA: secret, never logged or printed in clear */
  gboolean updates_enabled;             /* ECS_UPDATES_ENABLED (false) */
  char *update_download_dir;            /* ECS_UPDATE_DOWNLOAD_DIR */
  gboolean disable_metrics;             /* ECS_DISABLE_METRICS (false) */
  guint16 reserved_memory;              /* ECS_RESERVED_MEMORY, MiB (0) */
  GTimeSpan docker_stop_timeout;        /* ECS_CONTAINER_STOP_TIMEOUT (30s, minimum 1s) */
  char **available_logging_drivers;     /* ECS_AVAILABLE_LOGGING_DRIVERS (["json-file","none"]) */
  gboolean privileged_disabled;         /* ECS_DISABLE_PRIVILEGED (false) */
  gboolean selinux_capable;             /* ECS_SELINUX_CAPABLE (false) */
  gboolean apparmor_capable;            /* ECS_APPARMOR_CAPABLE (false) */
  GTimeSpan task_cleanup_wait_duration; /* ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION (3h; < 1 min ignored) */
  gboolean task_iam_role_enabled;       /* ECS_ENABLE_TASK_IAM_ROLE (false) */
  gboolean task_iam_role_enabled_for_network_host; /* ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST (false) */
  EcsaConditional task_cpu_mem_limit;              /* ECS_ENABLE_TASK_CPU_MEM_LIMIT (default: enabled if supported) */
  char *credentials_audit_log_file;                /* ECS_AUDIT_LOGFILE ("/log/audit.log") */
  gboolean credentials_audit_log_disabled;         /* ECS_AUDIT_LOGFILE_DISABLED (false) */
  gboolean task_eni_enabled;                       /* ECS_ENABLE_TASK_ENI (false) */
  gboolean image_cleanup_disabled;                 /* ECS_DISABLE_IMAGE_CLEANUP (false) */
  GTimeSpan minimum_image_deletion_age;            /* ECS_IMAGE_MINIMUM_CLEANUP_AGE (1h) */
  GTimeSpan image_cleanup_interval;                /* ECS_IMAGE_CLEANUP_INTERVAL (30m; < 10 min ignored) */
  int num_images_to_delete_per_cycle;              /* ECS_NUM_IMAGES_DELETE_PER_CYCLE (5; < 1 ignored) */
  GHashTable *instance_attributes;                 /* ECS_INSTANCE_ATTRIBUTES: char* -> char* ({}) */
  gboolean accept_insecure_cert;                   /* -k */
  char *cni_plugins_path;                          /* ECS_CNI_PLUGINS_PATH ("/amazon-ecs-cni-plugins") */
  gboolean awsvpc_block_imds;                      /* ECS_AWSVPC_BLOCK_IMDS (false) */
  char **awsvpc_additional_local_routes;           /* ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES, CIDRs ([]) */
  gboolean container_metadata_enabled;             /* ECS_ENABLE_CONTAINER_METADATA (false) */
  gboolean override_awslogs_execution_role;        /* ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE (false) */
  char *log_level;                                 /* ECS_LOGLEVEL, else -loglevel ("info") */
  char *log_file;                                  /* ECS_LOGFILE (none) */
  char *plugin_dir;                                /* ECSA_PLUGIN_DIR (the installed plugin directory) */

  /* Keys v1.16.2 reads only from the JSON config file. */
  char *pause_container_tarball_path;       /* PauseContainerTarballPath ("/images/amazon-ecs-pause.tar") */
  char *pause_container_image_name;         /* PauseContainerImageName ("amazon/amazon-ecs-pause") */
  char *pause_container_tag;                /* PauseContainerTag ("0.1.0") */
  char *override_awsvpc_local_ipv4_address; /* OverrideAWSVPCLocalIPv4Address, a CIDR (NULL) */

  /* Process settings (flags and where things came from). */
  char *config_file_path;          /* ECS_AGENT_CONFIG_FILE_PATH (ECSA_CONFIG_DEFAULT_FILE) */
  gboolean blackhole_ec2_metadata; /* -blackhole-ec2-metadata: instance metadata never answers */

  EcsaConfigPrivate *priv; /* value sources, the string view of config_get */
} EcsaConfig;

/* Where a setting's value came from. */
typedef enum
{
  ECSA_CONFIG_SOURCE_DEFAULT = 0,
  ECSA_CONFIG_SOURCE_ENVIRONMENT,
  ECSA_CONFIG_SOURCE_FILE,
  ECSA_CONFIG_SOURCE_METADATA, /* instance metadata (the region) */
  ECSA_CONFIG_SOURCE_FLAG,     /* a command-line flag (-loglevel, -k) */
} EcsaConfigSource;

/* The defaults of v1.16.2 on Linux. */
EcsaConfig *ecsa_config_new(void);
void ecsa_config_free(EcsaConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaConfig, ecsa_config_free)

/* Fill `config` (fresh from ecsa_config_new()) from `envp` (an environ-style vector; NULL: the
 * process environment) and the config file. Never touches the network. Warnings are logged (one
 * per bad variable, naming it). Returns FALSE with ECSA_ERROR_INVALID_DATA when a fatal problem was
 * found; the message names every offending variable (not logged here: the caller reports it once).
 * `config` holds the effective values either way (for -check-config). A missing region is not an
 * error here: see ecsa_config_check_region(). */
gboolean ecsa_config_load(EcsaConfig *config, const char *const *envp, GError **error);

/* The log level from ECS_LOGLEVEL (which wins, as the v1.16.2 README says), else -loglevel
 * (`flag_level`, may be NULL), else "info". An invalid value logs one warning naming it. Sets
 * config->log_level and returns the EcsaLogLevel (or ECSA_LOG_LEVEL_NONE). */
int ecsa_config_resolve_log_level(EcsaConfig *config, const char *const *envp, const char *flag_level);

/* -k and -blackhole-ec2-metadata (shown as coming from a flag). */
void ecsa_config_apply_flags(EcsaConfig *config, gboolean accept_insecure_cert, gboolean blackhole_ec2_metadata);

/* Region: set from instance metadata by the agent's start-up; check fails (naming AWS_DEFAULT_REGION,
 * as v1.16.2's "Missing required fields: AWSRegion") when none is known. */
void ecsa_config_set_region_from_metadata(EcsaConfig *config, const char *region);
gboolean ecsa_config_check_region(const EcsaConfig *config, GError **error);

/* https://ecs.<region>.amazonaws.com (.com.cn in cn-*), or ECS_BACKEND_HOST with "https://" added
 * when it has no scheme. NULL when neither the endpoint nor the region is known. */
char *ecsa_config_get_api_endpoint_url(const EcsaConfig *config);

/* TRUE unless task CPU/memory limits are explicitly disabled. */
gboolean ecsa_config_task_cpu_mem_limit_enabled(const EcsaConfig *config);

/* The effective value of a setting by its environment name ("ECS_CLUSTER") or, for file-only keys,
 * its JSON key ("PauseContainerTag"), formatted as the variable would be written ("3h0m0s",
 * "[22,2375]", "true"). NULL when unset. Secrets (ECS_ENGINE_AUTH_DATA) are returned in clear:
 * this backs EcsaPluginHost.config_get. The string lives as long as `config`; main context only. */
const char *ecsa_config_get(EcsaConfig *config, const char *key);
EcsaConfigSource ecsa_config_get_source(const EcsaConfig *config, const char *key);

/* The -check-config report: one "NAME=value  # source" line per setting, secrets redacted. */
char *ecsa_config_to_string(EcsaConfig *config);

/* Go's strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False (surrounding blanks
 * trimmed, as v1.16.2's utils.ParseBool does). */
gboolean ecsa_config_parse_bool(const char *text, gboolean *out_value);
/* Go's time.ParseDuration ("1h30m", "500ms", "-1.5h", "0"); microsecond precision. */
gboolean ecsa_config_parse_duration(const char *text, GTimeSpan *out_value, GError **error);
/* Go's time.Duration.String(): "3h0m0s", "30s", "1.5s", "500ms", "0s". */
char *ecsa_config_duration_to_string(GTimeSpan value);

/* Parse the JSON config file's contents into `config` (overriding only what it sets) without
 * environment; for the fuzzer and tests. */
gboolean ecsa_config_parse_file_data(EcsaConfig *config, const char *data, gsize length, GError **error);
/* Parse one environment value as ecsa_config_load() would (warnings logged); for the fuzzer and
 * tests. Returns FALSE only for fatal problems. */
gboolean ecsa_config_parse_env_value(EcsaConfig *config, const char *name, const char *value, GError **error);

G_END_DECLS

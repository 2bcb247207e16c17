/* ecsa-config.h: the agent's configuration, as agent v1.16.2 reads it.
 *
 * Sources, highest precedence first: environment variables (ECS_*, AWS_*, DOCKER_HOST), the JSON
 * config file (ECS_AGENT_CONFIG_FILE_PATH, default /etc/ecs_container_agent/config.json, read only
 * when the environment leaves a field unset), instance metadata (region), then defaults.
 * Durations are GTimeSpan (microseconds). See docs/CONFIGURATION.md for every variable.
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

typedef struct
{
  char *cluster;           /* ECS_CLUSTER ("default"); the JSON file's ClusterArn is a deprecated alias */
  char *api_endpoint;      /* ECS_BACKEND_HOST: full https:// URL, NULL: derived from the region */
  char *docker_endpoint;   /* DOCKER_HOST ("unix:///var/run/docker.sock") */
  char *aws_region;        /* AWS_DEFAULT_REGION, else instance metadata; missing is fatal at start */
  GArray *reserved_ports;  /* guint16: ECS_RESERVED_PORTS ([22, 2375, 2376, 51678, 51679]) */
  GArray *reserved_ports_udp; /* guint16: ECS_RESERVED_PORTS_UDP ([]) */
  char *data_dir;          /* ECS_DATADIR ("/data/") */
  char *data_dir_on_host;  /* ECS_HOST_DATA_DIR ("/var/lib/ecs") */
  gboolean checkpoint;     /* ECS_CHECKPOINT (true iff ECS_DATADIR was set non-empty) */
  char *engine_auth_type;  /* ECS_ENGINE_AUTH_TYPE: "docker" | "dockercfg" | NULL */
  char *engine_auth_data;  /* ECS_ENGINE_AUTH_DATA: secret, never logged or printed in clear */
  gboolean updates_enabled;       /* ECS_UPDATES_ENABLED (false) */
  char *update_download_dir;      /* ECS_UPDATE_DOWNLOAD_DIR */
  gboolean disable_metrics;       /* ECS_DISABLE_METRICS (false) */
  guint16 reserved_memory;        /* ECS_RESERVED_MEMORY, MiB (0) */
  GTimeSpan docker_stop_timeout;  /* ECS_CONTAINER_STOP_TIMEOUT (30s, minimum 1s) */
  char **available_logging_drivers; /* ECS_AVAILABLE_LOGGING_DRIVERS (["json-file","none"]) */
  gboolean privileged_disabled;   /* ECS_DISABLE_PRIVILEGED (false) */
  gboolean selinux_capable;       /* ECS_SELINUX_CAPABLE (false) */
  gboolean apparmor_capable;      /* ECS_APPARMOR_CAPABLE (false) */
  GTimeSpan task_cleanup_wait_duration; /* ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION (3h; < 1 min ignored) */
  gboolean task_iam_role_enabled;       /* ECS_ENABLE_TASK_IAM_ROLE (false) */
  gboolean task_iam_role_enabled_for_network_host; /* ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST (false) */
  EcsaConditional task_cpu_mem_limit;   /* ECS_ENABLE_TASK_CPU_MEM_LIMIT (default: enabled if supported) */
  char *credentials_audit_log_file;     /* ECS_AUDIT_LOGFILE */
  gboolean credentials_audit_log_disabled; /* ECS_AUDIT_LOGFILE_DISABLED (false) */
  gboolean task_eni_enabled;            /* ECS_ENABLE_TASK_ENI (false) */
  gboolean image_cleanup_disabled;      /* ECS_DISABLE_IMAGE_CLEANUP (false) */
  GTimeSpan minimum_image_deletion_age; /* ECS_IMAGE_MINIMUM_CLEANUP_AGE (1h) */
  GTimeSpan image_cleanup_interval;     /* ECS_IMAGE_CLEANUP_INTERVAL (30m; < 10 min ignored) */
  int num_images_to_delete_per_cycle;   /* ECS_NUM_IMAGES_DELETE_PER_CYCLE (5; < 1 ignored) */
  GHashTable *instance_attributes;      /* ECS_INSTANCE_ATTRIBUTES: char* -> char* ({}) */
  gboolean accept_insecure_cert;        /* -k */
  char *cni_plugins_path;               /* ECS_CNI_PLUGINS_PATH ("/amazon-ecs-cni-plugins") */
  gboolean awsvpc_block_imds;           /* ECS_AWSVPC_BLOCK_IMDS (false) */
  char **awsvpc_additional_local_routes; /* ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES, CIDRs ([]) */
  gboolean container_metadata_enabled;  /* ECS_ENABLE_CONTAINER_METADATA (false) */
  gboolean override_awslogs_execution_role; /* ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE (false) */
  char *log_level;                      /* ECS_LOGLEVEL, else -loglevel ("info") */
  char *log_file;                       /* ECS_LOGFILE (none) */
  char *plugin_dir;                     /* ECSA_PLUGIN_DIR (the installed plugin directory) */
} EcsaConfig;

G_END_DECLS

/* ecsa-task.h: the task model (EcsaTask, EcsaContainer) as agent v1.16.2 has it.
 *
 * A task is parsed from an ACS `Task` object (ecsa_task_from_acs), validated alone: a malformed one
 * is refused with an error naming the field and the reason, and nothing else is lost. Unknown
 * fields are ignored; field names match as v1.16.2's Go decoder matches them (exactly, else
 * ignoring case). The same parser reads the definition back from the checkpoint, which stores it
 * in the ACS shape without any secret (credentials appear only as their IDs).
 *
 * The structs are plain data owned by the task engine on the main context. Fields under "state"
 * are checkpointed; fields under "runtime" live only in memory.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ecsa-state-change.h"

G_BEGIN_DECLS

/* Container statuses, ordered as v1.16.2 orders them (comparisons are meaningful). */
typedef enum
{
  ECSA_CONTAINER_NONE = 0,
  ECSA_CONTAINER_PULLED,
  ECSA_CONTAINER_CREATED,
  ECSA_CONTAINER_RUNNING,
  ECSA_CONTAINER_RESOURCES_PROVISIONED,
  ECSA_CONTAINER_STOPPED,
  ECSA_CONTAINER_ZOMBIE, /* an impossible maximum */
} EcsaContainerStatus;

typedef enum
{
  ECSA_TASK_NONE = 0,
  ECSA_TASK_PULLED,
  ECSA_TASK_CREATED,
  ECSA_TASK_RUNNING,
  ECSA_TASK_STOPPED,
  ECSA_TASK_ZOMBIE,
} EcsaTaskStatus;

const char *ecsa_container_status_to_string(EcsaContainerStatus status);
gboolean ecsa_container_status_from_string(const char *s, EcsaContainerStatus *out_status);
const char *ecsa_task_status_to_string(EcsaTaskStatus status);
gboolean ecsa_task_status_from_string(const char *s, EcsaTaskStatus *out_status);
/* What ECS sees: "PENDING" below RUNNING, then "RUNNING", "STOPPED". */
const char *ecsa_task_status_to_backend(EcsaTaskStatus status);

typedef struct
{
  guint16 container_port;
  guint16 host_port; /* 0: dynamic */
  gboolean udp;
} EcsaPortMapping;

typedef struct
{
  char *source_volume;
  char *container_path;
  gboolean read_only;
} EcsaMountPoint;

typedef struct
{
  char *source_container;
  gboolean read_only;
} EcsaVolumeFrom;

typedef struct
{
  char *name;
  char *source_path;   /* host volume; NULL for an empty (task-scoped) volume */
  char *docker_volume; /* state: the Docker volume backing an empty volume, once named */
} EcsaVolume;

typedef struct
{
  char *type; /* "ecr" */
  char *ecr_registry_id;
  char *ecr_region;
  char *ecr_endpoint_override;
  gboolean ecr_use_execution_role;
} EcsaRegistryAuth;

typedef struct
{
  char *id; /* ec2Id */
  char *mac_address;
  GPtrArray *ipv4_addresses; /* char*, primary first */
  GPtrArray *ipv6_addresses;
  GPtrArray *domain_name_servers;
  GPtrArray *domain_name_search;
} EcsaEni;

typedef struct _EcsaTask EcsaTask;

typedef struct
{
  /* definition */
  char *name;
  char *image;
  char **command;           /* NULL: the image's */
  char **entry_point;       /* NULL: the image's */
  GHashTable *environment;  /* char* -> char* */
  guint cpu;                /* CPU shares */
  guint memory;             /* MiB, 0: no limit */
  char **links;             /* "name[:alias]" */
  GPtrArray *volumes_from;  /* EcsaVolumeFrom* */
  GPtrArray *mount_points;  /* EcsaMountPoint* */
  GPtrArray *port_mappings; /* EcsaPortMapping* */
  gboolean essential;
  char *docker_config;      /* dockerConfig.config: a JSON object in a string, or NULL */
  char *docker_host_config; /* dockerConfig.hostConfig */
  char *docker_version;     /* dockerConfig.version: the Engine API version to create it with */
  EcsaRegistryAuth *registry_auth;
  char *logs_auth_strategy; /* "ExecutionRole" or NULL */
  /* derived from docker_host_config (not stored separately) */
  char *log_driver;        /* LogConfig.Type or NULL */
  GHashTable *log_options; /* LogConfig.Config: char* -> char*, never NULL */
  char *network_mode;      /* NetworkMode or NULL */
  gboolean internal;       /* added by the agent (the awsvpc sandbox), not from ACS: never reported */

  /* state */
  EcsaContainerStatus known_status;
  EcsaContainerStatus desired_status;
  EcsaContainerStatus sent_status;
  EcsaContainerStatus steady_state; /* RUNNING */
  char *docker_id;
  char *docker_name;
  gboolean has_exit_code;
  int exit_code;
  GPtrArray *known_port_bindings; /* EcsaNetworkBinding* */
  char *reason;                   /* "CannotPullContainerError: ..." */
  char *image_id;                 /* "sha256:..." once pulled or inspected */
  gboolean metadata_file_updated;

  /* runtime */
  EcsaTask *task;                      /* owner (weak) */
  EcsaContainerStatus emitted_status;  /* the highest status already emitted as a state change */
  EcsaContainerStatus applying;        /* the transition in flight, NONE when idle */
  gboolean unexpected_restart_handled; /* "came back after STOPPED" is re-stopped once */
  gint64 retry_at;                     /* monotonic: do not retry a failed stop before */
  guint stop_failures;                 /* consecutive failed stops, for the retry backoff */
  gboolean start_unsure;               /* a start failed without Docker's word that it did not run
                                        * (a timeout): Docker may still start it, so it is stopped */
  gint64 creds_wait_started;           /* monotonic: since when the pull waits for execution credentials */
  int pid;                             /* the main process while RUNNING (from inspect), else 0 */
} EcsaContainer;

struct _EcsaTask
{
  /* definition */
  char *arn;
  char *family;
  char *version;
  GPtrArray *containers;          /* EcsaContainer* */
  GPtrArray *volumes;             /* EcsaVolume* */
  double cpu;                     /* vCPU, 0: none */
  gint64 memory;                  /* MiB, 0: none */
  char *credentials_id;           /* roleCredentials.credentialsId */
  char *execution_credentials_id; /* executionRoleCredentials.credentialsId */
  EcsaEni *eni;

  /* state */
  EcsaTaskStatus known_status;
  EcsaTaskStatus desired_status;
  EcsaTaskStatus sent_status;
  gint64 known_status_time; /* unix microseconds */
  gint64 start_sequence_number;
  gint64 stop_sequence_number;
  gint64 pull_started_at; /* unix microseconds, 0: never */
  gint64 pull_stopped_at;
  gint64 execution_stopped_at;
  gboolean cgroup_enabled; /* task cgroup (ECS_ENABLE_TASK_CPU_MEM_LIMIT at acceptance) */
  char *reason;            /* the task's stop reason, if the agent set one */
  gboolean recovered;      /* rebuilt from Docker labels: the definition is partial */

  /* runtime */
  EcsaTaskStatus emitted_status;
  gpointer engine_data; /* the engine's per-task bookkeeping */
};

void ecsa_task_free(EcsaTask *task);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaTask, ecsa_task_free)

/* Parse and validate one ACS `Task` object. `seq_num` is the payload's (0: none): it becomes the
 * start or stop sequence number, as in v1.16.2. The command override is applied. Errors are
 * ECSA_ERROR_INVALID_DATA naming the field ("container 'web': 'portMappings'[0].protocol: ...").
 * On error, *out_arn (if given) receives the task's ARN when it could be read. */
EcsaTask *ecsa_task_from_acs(JsonNode *node, gint64 seq_num, char **out_arn, GError **error);

/* The checkpoint form: the definition in ACS shape (no secret) plus the state. */
JsonNode *ecsa_task_to_checkpoint(const EcsaTask *task);
EcsaTask *ecsa_task_from_checkpoint(JsonNode *node, GError **error);

/* The task ID of an ARN as v1.16.2 takes it: what follows the first '/' of the resource. */
const char *ecsa_task_get_id(const EcsaTask *task);
char *ecsa_task_id_from_arn(const char *arn, GError **error);

EcsaContainer *ecsa_task_get_container(const EcsaTask *task, const char *name);
/* The awsvpc sandbox: an internal container whose steady state is RESOURCES_PROVISIONED, essential,
 * that every other container waits for before its pull (v1.16.2's pause container). */
EcsaContainer *ecsa_task_add_sandbox(EcsaTask *task, const char *name, const char *image);
EcsaContainer *ecsa_task_get_sandbox(const EcsaTask *task);
EcsaVolume *ecsa_task_get_volume(const EcsaTask *task, const char *name);
/* "bridge" (the default), "host", "none", "awsvpc" (the task has an ENI). */
const char *ecsa_task_get_network_mode(const EcsaTask *task);

/* v1.16.2's state rules (agent/api/task.go). Each returns whether something changed. */
gboolean ecsa_task_update_known_status(EcsaTask *task);   /* min over containers */
gboolean ecsa_task_update_desired_status(EcsaTask *task); /* essential stopped -> task STOPPED; then containers */
/* The task status a container's known status stands for. */
EcsaTaskStatus ecsa_container_task_status(const EcsaContainer *container);
/* Whether the container's status is one ECS hears about (RUNNING at steady state, STOPPED). */
gboolean ecsa_container_status_reportable(const EcsaContainer *container, EcsaContainerStatus status);

/* v1.16.2's dependency graph (agent/engine/dependencygraph): FALSE when links and volumesFrom
 * cannot all be resolved (a cycle). */
gboolean ecsa_task_dependencies_valid(const EcsaTask *task, GError **error);
/* Whether `container` may move now, given the known statuses of the others; on FALSE, *out_reason
 * says what it waits for (static string). */
gboolean ecsa_container_dependencies_resolved(const EcsaTask *task, const EcsaContainer *container,
                                              const char **out_reason);

/* Docker names and labels as v1.16.2: "ecs-<family>-<version>-<name>-<20 hex digits>" (the
 * container name keeps only [0-9A-Za-z-]). */
char *ecsa_container_make_docker_name(const EcsaTask *task, const EcsaContainer *container);
#define ECSA_LABEL_PREFIX "com.amazonaws.ecs."
#define ECSA_LABEL_TASK_ARN ECSA_LABEL_PREFIX "task-arn"
#define ECSA_LABEL_CONTAINER_NAME ECSA_LABEL_PREFIX "container-name"
#define ECSA_LABEL_FAMILY ECSA_LABEL_PREFIX "task-definition-family"
#define ECSA_LABEL_VERSION ECSA_LABEL_PREFIX "task-definition-version"
#define ECSA_LABEL_CLUSTER ECSA_LABEL_PREFIX "cluster"

/* What the create document needs besides the task. */
typedef struct
{
  const char *api_version;        /* the Engine API version the container is created with */
  const char *cluster;            /* for the labels */
  const char *cgroup_parent;      /* "/ecs/<task-id>" or NULL */
  GHashTable *log_options;        /* the log options after the log-driver plugin, or NULL to keep the task's */
  const char *const *extra_binds; /* appended to HostConfig.Binds (container metadata), or NULL */
  const char *const *extra_env;   /* appended to Env, or NULL */
  const char *network_mode;       /* replaces HostConfig.NetworkMode ("container:<sandbox>"), or NULL */
} EcsaCreateContext;

/* The POST /containers/create document for `container`, built as v1.16.2 builds it: the agent's
 * Config and HostConfig, then dockerConfig.config and .hostConfig merged over them (objects merge
 * key by key, top-level names match ignoring case, everything else is replaced), then the ECS
 * labels, the cgroup parent and the credentials endpoint. Linked and volumesFrom containers must
 * have Docker names. */
JsonNode *ecsa_task_build_create_body(const EcsaTask *task, const EcsaContainer *container,
                                      const EcsaCreateContext *ctx, GError **error);

/* Instance policy: ECS_DISABLE_PRIVILEGED, ECS_SELINUX_CAPABLE, ECS_APPARMOR_CAPABLE. */
gboolean ecsa_task_check_policy(const EcsaTask *task, gboolean privileged_disabled, gboolean selinux_capable,
                                gboolean apparmor_capable, GError **error);

/* Network bindings from an inspect document's NetworkSettings.Ports. */
GPtrArray *ecsa_network_bindings_from_inspect(JsonObject *inspect);

G_END_DECLS

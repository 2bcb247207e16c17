/* ecsl-state.h: what ecs-local knows: clusters, task definitions, container instances, tasks,
 * and the ACS messages each instance still has to acknowledge. Kept in <state-dir>/state.json
 * when --persist is given (written atomically, from a snapshot, in a worker thread; saves
 * requested while one is writing coalesce into the next).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <json-glib/json-glib.h>

#include "ecsl-context.h"

G_BEGIN_DECLS

typedef struct
{
  char *arn;
  char *name;
  char *status; /* ACTIVE | INACTIVE */
  JsonNode *tags;          /* array of Tag, or NULL */
  JsonNode *settings;      /* array of ClusterSetting */
  JsonNode *configuration; /* ClusterConfiguration, or NULL */
  gint64 created_ms;
} EcslCluster;

typedef struct
{
  char *arn;
  char *family;
  gint64 revision;
  JsonNode *def;  /* the TaskDefinition as DescribeTaskDefinition returns it */
  JsonNode *tags; /* array of Tag, or NULL */
} EcslTaskDef;

typedef enum
{
  ECSL_OUTBOX_PAYLOAD = 0,     /* PayloadMessage */
  ECSL_OUTBOX_CREDENTIALS = 1, /* IAMRoleCredentialsMessage */
} EcslOutboxKind;

/* One ACS message awaiting its acknowledgement. Rendered from the current state when sent; the
 * desired status is the one at the time it was queued. */
typedef struct
{
  char *message_id;
  EcslOutboxKind kind;
  gint64 seq_num;          /* payloads */
  GPtrArray *task_arns;    /* char*, payloads */
  GPtrArray *desired;      /* char*, one per task, payloads */
  char *task_arn;          /* credentials */
  char *role_type;         /* credentials: "TaskApplication" | "TaskExecution" */
  char *access_key_id;     /* credentials: the issued key the message carries */
  gint64 queued_ms;
  gint64 last_sent_ms;     /* 0: never sent */
  guint attempts;
} EcslOutboxEntry;

typedef struct
{
  char *arn;
  char *id;
  char *cluster_arn;
  char *ec2_instance_id;
  char *status;        /* ACTIVE | DRAINING | INACTIVE */
  char *availability_zone;
  char *instance_type;
  char *ami_id;
  JsonNode *registered_resources; /* array of Resource */
  JsonNode *attributes;           /* array of Attribute */
  JsonNode *version_info;         /* VersionInfo or NULL */
  JsonNode *tags;                 /* array of Tag, or NULL */
  gint64 registered_ms;
  gint64 version;
  gint64 cpu;       /* registered CPU units */
  gint64 memory;    /* registered MiB */
  GArray *ports_tcp; /* guint16: registered (reserved) PORTS */
  GArray *ports_udp; /* guint16: registered (reserved) PORTS_UDP */
  gint64 next_seq_num;
  GPtrArray *outbox; /* EcslOutboxEntry*, oldest first */
  /* runtime only */
  gboolean agent_connected;
  gpointer acs_conn;
  gint64 last_disconnect_ms;
  guint connects;          /* ACS sessions opened */
  guint payloads_sent;     /* PayloadMessage frames sent, resends included */
  guint acks;              /* AckRequest received for a pending payload */
  guint credential_acks;   /* IAMRoleCredentialsAckRequest received */
  guint heartbeat_acks;    /* HeartbeatAckRequest received */
} EcslInstance;

typedef struct
{
  char *name;
  char *arn;
  char *image;
  char *last_status;
  gboolean has_exit_code;
  gint64 exit_code;
  char *reason;
  char *runtime_id;
  char *image_digest;
  JsonNode *network_bindings; /* array of NetworkBinding, or NULL */
} EcslContainer;

typedef struct
{
  char *arn;
  char *id;
  char *cluster_arn;
  char *instance_arn;
  char *taskdef_arn;
  char *last_status;    /* PENDING | RUNNING | STOPPED */
  char *desired_status; /* RUNNING | STOPPED */
  JsonNode *overrides;  /* TaskOverride */
  char *started_by;
  char *group;
  char *stopped_reason;
  char *stop_code;
  char *availability_zone;
  gint64 created_ms, started_ms, stopping_ms, stopped_ms;
  gint64 pull_started_ms, pull_stopped_ms, execution_stopped_ms, connectivity_ms;
  gint64 version;
  JsonNode *tags;
  GPtrArray *containers; /* EcslContainer* */
  /* resources it holds on its instance until it stops */
  gint64 cpu;
  gint64 memory;
  GArray *ports_tcp;
  GArray *ports_udp;
  char *role_credentials_id;      /* set when the task definition has a taskRoleArn */
  char *execution_credentials_id; /* set when it has an executionRoleArn */
  /* runtime only */
  guint refresh_source;
} EcslTask;

struct _EcslState
{
  EcslContext *ctx;
  char *path;           /* state.json, or NULL when not persisting */
  GPtrArray *clusters;  /* EcslCluster* */
  GPtrArray *taskdefs;  /* EcslTaskDef* */
  GPtrArray *instances; /* EcslInstance* */
  GHashTable *tasks;    /* arn -> EcslTask* */
  gboolean saving;
  gboolean save_again;
  guint save_source;
  guint purge_source;
  gint64 purge_at_ms;
};

EcslState *ecsl_state_new (EcslContext *ctx, GError **error);
void ecsl_state_free (EcslState *self);

/* Schedule a save (no-op without --persist). */
void ecsl_state_changed (EcslState *self);
/* Write now, synchronously (at shutdown). */
void ecsl_state_flush (EcslState *self);
/* Arrange for STOPPED tasks past their retention to be forgotten. */
void ecsl_state_schedule_purge (EcslState *self);

EcslCluster *ecsl_state_find_cluster (EcslState *self, const char *ref);
EcslInstance *ecsl_state_find_instance (EcslState *self, EcslCluster *cluster, const char *ref);
EcslTask *ecsl_state_find_task (EcslState *self, EcslCluster *cluster, const char *ref);
EcslTaskDef *ecsl_state_find_taskdef (EcslState *self, const char *ref, gboolean latest_active_only);
EcslInstance *ecsl_state_instance_by_arn (EcslState *self, const char *arn);
EcslCluster *ecsl_state_cluster_by_arn (EcslState *self, const char *arn);
EcslTaskDef *ecsl_state_taskdef_by_arn (EcslState *self, const char *arn);

/* The tasks (EcslTask*, borrowed) sorted by ARN. */
GPtrArray *ecsl_state_sorted_tasks (EcslState *self);

EcslCluster *ecsl_cluster_new (void);
void ecsl_cluster_free (EcslCluster *c);
EcslTaskDef *ecsl_taskdef_new (void);
void ecsl_taskdef_free (EcslTaskDef *d);
EcslInstance *ecsl_instance_new (void);
void ecsl_instance_free (EcslInstance *i);
EcslTask *ecsl_task_new (void);
void ecsl_task_free (EcslTask *t);
EcslContainer *ecsl_container_new (void);
void ecsl_container_free (EcslContainer *c);
EcslOutboxEntry *ecsl_outbox_entry_new (EcslOutboxKind kind);
void ecsl_outbox_entry_free (EcslOutboxEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcslTask, ecsl_task_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcslInstance, ecsl_instance_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcslTaskDef, ecsl_taskdef_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcslCluster, ecsl_cluster_free)

/* Replace a string field. */
void ecsl_set_str (char **field, const char *value);
/* Replace a JSON field (takes ownership of value). */
void ecsl_set_json (JsonNode **field, JsonNode *value);

G_END_DECLS

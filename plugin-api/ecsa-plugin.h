/* ecsa-plugin.h: the plugin ABI of ecs-agent.
 *
 * This header, the per-kind headers it includes and ecsa-plugin.map are the only things a plugin
 * is built against. A plugin never links against the agent: every core service reaches it through
 * the EcsaPluginHost it receives in init().
 *
 * Compatibility rules (see docs/PLUGIN-ABI.md):
 *  - ABI major: an incompatible change. The agent refuses a plugin whose major differs.
 *  - ABI minor: a reserved slot, a kind or a vtable slot gained meaning. The agent refuses a plugin
 *    whose minor is newer than its own (the plugin may rely on slots the agent does not know).
 *  - Every struct that crosses the boundary starts with its size or version, and grows only at its end
 *    or by giving a reserved slot a name. Enum values are explicit and append-only.
 *
 * Threading: every vtable slot and every host service is called on the agent's main context
 * (EcsaPluginHost.main_context), never from another thread, and must not block it. Long work goes to
 * GTask threads, subprocesses (host->spawn_async) or async I/O attached to that context.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <gio/gio.h>

G_BEGIN_DECLS

#define ECSA_PLUGIN_ABI_MAJOR 1 /* incompatible change: older plugins are refused */
#define ECSA_PLUGIN_ABI_MINOR 0 /* a reserved slot, kind or vtable slot gained meaning */
#define ECSA_PLUGIN_ENTRY "ecsa_plugin_get_descriptor"

/* Errors crossing the plugin boundary. A string quark, so plugins need no symbol from the agent. */
#define ECSA_ERROR (g_quark_from_static_string ("ecsa-error-quark"))

typedef enum
{                               /* values are ABI: append only */
  ECSA_ERROR_FAILED = 0,        /* anything else; the message says what */
  ECSA_ERROR_RETRY = 1,         /* transient: the same call may succeed later */
  ECSA_ERROR_NOT_SUPPORTED = 2, /* not available on this host or in this configuration */
  ECSA_ERROR_INVALID_DATA = 3,  /* the input (task, option, config value) is wrong; the message names it */
  ECSA_ERROR_AUTH = 4,          /* credentials missing, wrong or expired */
  ECSA_ERROR_TIMEOUT = 5,       /* a wait ran out; the message names the call */
  ECSA_ERROR_NOT_FOUND = 6,     /* the named object does not exist */
} EcsaError;

typedef enum
{ /* values are ABI: append only */
  ECSA_PLUGIN_KIND_INVALID = 0,
  ECSA_PLUGIN_KIND_LOG_DRIVER = 1,    /* ecsa-log-driver.h */
  ECSA_PLUGIN_KIND_REGISTRY_AUTH = 2, /* ecsa-registry-auth.h */
  ECSA_PLUGIN_KIND_NETWORK = 3,       /* ecsa-network.h */
  ECSA_PLUGIN_KIND_METRICS = 4,       /* ecsa-metrics.h */
  ECSA_PLUGIN_KIND_IMAGE_CLEANUP = 5, /* ecsa-image-cleanup.h */
} EcsaPluginKind;
#define ECSA_PLUGIN_KIND_LAST ECSA_PLUGIN_KIND_IMAGE_CLEANUP

typedef enum
{ /* values are ABI: append only; ordered from most to least severe */
  ECSA_LOG_CRIT = 0,
  ECSA_LOG_ERROR = 1,
  ECSA_LOG_WARN = 2,
  ECSA_LOG_INFO = 3,
  ECSA_LOG_DEBUG = 4,
} EcsaLogLevel;

/* ---------------------------------------------------------------------------------------------
 * Read-only views of the agent's tasks.
 *
 * The core builds a view for the duration of one call (or until the matching *_free); a plugin
 * must copy what it keeps. Strings are UTF-8 and never NULL unless documented; status strings
 * are ECS's: "NONE", "PULLED", "CREATED", "RUNNING", "STOPPED" for containers and
 * "NONE", "PENDING", "RUNNING", "STOPPED" for tasks. Fields are appended only: read a field only
 * when struct_size shows it is present (ECSA_VIEW_HAS_FIELD).
 * ------------------------------------------------------------------------------------------- */
#define ECSA_VIEW_HAS_FIELD(view, type, field)                                                             \
  ((view)->struct_size >= G_STRUCT_OFFSET (type, field) + sizeof (((type *) NULL)->field))

typedef struct
{
  guint32 struct_size;
  guint32 essential;          /* boolean */
  const char *name;           /* the container's name in the task definition */
  const char *image;          /* as written in the task definition */
  const char *docker_id;      /* "" until created */
  const char *docker_name;    /* "ecs-<family>-<version>-<name>-<random>", "" until created */
  const char *known_status;   /* what Docker confirmed */
  const char *desired_status; /* what ECS asked for */
  const char *log_driver;     /* hostConfig.LogConfig.Type, "" when unset (Docker's default) */
  GHashTable *log_options;    /* char* -> char*, never NULL; read only */
  const char *logs_auth_strategy; /* ACS logsAuthStrategy: "ExecutionRole" or "" (agent v1.16.2 then
                                   * points awslogs at the execution role's credentials) */
  gint32 pid;                 /* main process while RUNNING, else 0 */
  guint32 padding_;
} EcsaContainerView;

typedef struct
{
  guint32 struct_size;
  guint32 n_containers;
  const char *arn;                      /* arn:aws:ecs:<region>:<account>:task/<id> */
  const char *family;                   /* task definition family */
  const char *version;                  /* task definition revision, decimal */
  const char *network_mode;             /* "bridge", "host", "none", "awsvpc" */
  const char *known_status;
  const char *desired_status;
  const char *credentials_id;           /* task role credentials ID, "" when none */
  const char *execution_credentials_id; /* execution role credentials ID, "" when none */
  const EcsaContainerView *const *containers;
} EcsaTaskView;

/* AWS credentials lent to a plugin (a task's execution role, or the instance's). Secret: never log
 * them, never write them to disk. Valid for the call; copy them if kept, and wipe the copy. */
typedef struct
{
  guint32 struct_size;
  guint32 padding_;
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token; /* "" when none */
  gint64 expiration;         /* unix seconds, 0 when it does not expire */
  const char *role_arn;      /* "" for instance credentials */
} EcsaAwsCredentials;

/* ---------------------------------------------------------------------------------------------
 * Services the core lends to plugins.
 * ------------------------------------------------------------------------------------------- */
#define ECSA_PLUGIN_HOST_VERSION 1

/* Forward declaration so plugins that do no HTTP need not include libsoup. */
typedef struct _SoupSession SoupSession;
typedef struct _SoupMessage SoupMessage;

typedef struct _EcsaPluginHost EcsaPluginHost;

struct _EcsaPluginHost
{
  guint32 version;     /* ECSA_PLUGIN_HOST_VERSION the agent was built with */
  guint32 struct_size; /* sizeof (EcsaPluginHost) in the agent */

  GMainContext *main_context; /* attach every GSource here; never block it */
  SoupSession *http_session;  /* shared libsoup session (HTTPS verification follows the agent's -k) */
  const char *state_dir;      /* a directory private to this plugin that survives restarts; NULL
                               * when the agent does not checkpoint (ECS_CHECKPOINT=false) */
  const char *agent_version;  /* "1.16.2-ecsa.<n>" */
  const char *region;         /* the agent's AWS region, "" when not known yet */
  const char *cluster;        /* ECS_CLUSTER */

  /* The effective value of an agent setting by its environment name ("ECS_ENGINE_AUTH_DATA",
   * "ECS_CNI_PLUGINS_PATH", ...), after defaults and the config file; NULL when unset. Booleans
   * read "true"/"false", lists are JSON arrays, durations are Go-style ("30s", "1500ms"). A name
   * the agent does not know is read from the agent's environment (a site plugin's own setting).
   * The returned string is owned by the agent and lives as long as the plugin. */
  const char *(*config_get) (const EcsaPluginHost *host, const char *key);

  /* One log line, through the agent's logger: timestamped, levelled, secrets redacted, tagged with
   * the plugin's name. Plugins may also use g_log() with their own G_LOG_DOMAIN. */
  void (*log) (const EcsaPluginHost *host, EcsaLogLevel level, const char *message);

  /* A timer on main_context. Returns the attached GSource (a new reference the caller owns:
   * g_source_destroy() + g_source_unref() to cancel). */
  GSource *(*timeout_add) (const EcsaPluginHost *host, guint interval_ms, GSourceFunc func, gpointer data,
                           GDestroyNotify notify);

  /* A Docker Engine API call. `path` is relative to the negotiated API version and carries its query
   * string ("/containers/<id>/json", "/info"). `body` is JSON or NULL. timeout_ms = 0 means the
   * agent's default for the call. The result is the response body (possibly empty); *out_status is
   * the HTTP status, which may be >= 400 with a Docker error body. */
  void (*docker_request_async) (const EcsaPluginHost *host, const char *method, const char *path, GBytes *body,
                                guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
  GBytes *(*docker_request_finish) (const EcsaPluginHost *host, GAsyncResult *result, guint *out_status,
                                    GError **error);

  /* Run a program (CNI plugins) without blocking: argv[0] is an absolute path; envp is the complete
   * environment (NULL: the agent's); stdin_data may be NULL; timeout_ms = 0 means no limit (the
   * cancellable still applies). Finish returns TRUE when the program ran to its end, whatever its
   * exit status (*out_exit_status: the exit code, or 128 + the signal that killed it) and hands
   * over its output. On timeout the child is killed and the error is ECSA_ERROR_TIMEOUT; on
   * cancellation it is killed too (G_IO_ERROR_CANCELLED). */
  void (*spawn_async) (const EcsaPluginHost *host, const char *const *argv, const char *const *envp,
                       GBytes *stdin_data, guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                       gpointer user_data);
  gboolean (*spawn_finish) (const EcsaPluginHost *host, GAsyncResult *result, int *out_exit_status,
                            GBytes **out_stdout, GBytes **out_stderr, GError **error);

  /* A snapshot of one task by ARN, or NULL. Free with task_view_free. */
  EcsaTaskView *(*task_view_lookup) (const EcsaPluginHost *host, const char *task_arn);
  void (*task_view_free) (const EcsaPluginHost *host, EcsaTaskView *view);
  /* The task that owns the container with this Docker ID, or NULL. Free with task_view_free. */
  EcsaTaskView *(*task_view_lookup_by_docker_id) (const EcsaPluginHost *host, const char *docker_id);

  /* The instance's AWS credentials (environment or instance role), refreshed as needed. Finish
   * returns a copy the caller frees with aws_credentials_free (which wipes it). */
  void (*aws_credentials_async) (const EcsaPluginHost *host, GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
  EcsaAwsCredentials *(*aws_credentials_finish) (const EcsaPluginHost *host, GAsyncResult *result, GError **error);
  void (*aws_credentials_free) (const EcsaPluginHost *host, EcsaAwsCredentials *credentials);

  /* Sign an AWS request with SigV4 (adds Authorization, X-Amz-Date, X-Amz-Security-Token).
   * `body` is the exact request body (NULL for none). */
  gboolean (*sigv4_sign) (const EcsaPluginHost *host, SoupMessage *message, GBytes *body, const char *service,
                          const char *region, const EcsaAwsCredentials *credentials, GError **error);

  /* Replace secrets (AWS keys, tokens, passwords) in text with "<redacted>"; returns a new string. */
  char *(*redact) (const EcsaPluginHost *host, const char *text);

  gpointer reserved[15]; /* NULL; host version N may give reserved[k] a name */
};

/* printf-style convenience over host->log (compiled into the plugin; no ABI of its own). */
static inline void ecsa_plugin_host_logf (const EcsaPluginHost *host, EcsaLogLevel level, const char *format, ...)
  G_GNUC_PRINTF (3, 4);
static inline void
ecsa_plugin_host_logf (const EcsaPluginHost *host, EcsaLogLevel level, const char *format, ...)
{
  va_list args;
  char *message;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  host->log (host, level, message);
  g_free (message);
}

/* ---------------------------------------------------------------------------------------------
 * The descriptor: what ecsa_plugin_get_descriptor() returns.
 * ------------------------------------------------------------------------------------------- */
typedef struct
{
  guint32 abi_major, abi_minor;    /* what the plugin was compiled against */
  guint32 struct_size;             /* sizeof (EcsaPluginDescriptor) at build time */
  guint32 kind;                    /* EcsaPluginKind, fixed width on purpose */
  const char *name;                /* "awslogs": [a-z0-9-]+, unique within its kind */
  const char *version;             /* the plugin's own version, for logs */
  const char *const *capabilities; /* NULL-terminated ECS attribute names it enables, or NULL */
  /* Called once on the main context after loading. Return FALSE with ECSA_ERROR_NOT_SUPPORTED when
   * the plugin cannot work on this host (logged at info, not a failure of the agent). */
  gboolean (*init) (const EcsaPluginHost *host, gpointer *out_state, GError **error);
  void (*shutdown) (gpointer state); /* may be NULL; called once at agent exit */
  const void *vtable;                /* per-kind table; its first member is its guint32 version */
  gpointer reserved[8];              /* NULL; ABI 1.N may give reserved[k] a name */
} EcsaPluginDescriptor;

typedef const EcsaPluginDescriptor *(*EcsaPluginGetDescriptorFunc) (void); /* what dlsym() returns */

#if GLIB_SIZEOF_VOID_P == 8 /* pinned: changing these means a major bump */
G_STATIC_ASSERT (sizeof (EcsaPluginDescriptor) == 128);
G_STATIC_ASSERT (G_STRUCT_OFFSET (EcsaPluginDescriptor, vtable) == 56);
G_STATIC_ASSERT (G_STRUCT_OFFSET (EcsaPluginDescriptor, reserved) == 64);
G_STATIC_ASSERT (sizeof (EcsaContainerView) == 88);
G_STATIC_ASSERT (sizeof (EcsaTaskView) == 80);
G_STATIC_ASSERT (sizeof (EcsaAwsCredentials) == 48);
G_STATIC_ASSERT (sizeof (EcsaPluginHost) == 296);
#endif

#ifdef ECSA_PLUGIN_BUILTIN /* static build: one unique symbol per plugin (GStreamer, ModemManager) */
#define ECSA_PLUGIN_ENTRY_(id) const EcsaPluginDescriptor *ecsa_plugin_##id##_get_descriptor (void)
#else /* .so build: the one exported, version-scripted name */
#define ECSA_PLUGIN_ENTRY_(id)                                                                             \
  __attribute__ ((visibility ("default"))) const EcsaPluginDescriptor *ecsa_plugin_get_descriptor (void)
#endif

/* Define the plugin. `id` is a C identifier (log_awslogs); the rest are descriptor fields:
 *   ECSA_PLUGIN_DEFINE (log_awslogs, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "awslogs", ...) */
#define ECSA_PLUGIN_DEFINE(id, ...)                                                                        \
  static const EcsaPluginDescriptor ecsa_plugin_##id##_descriptor_ = {                                     \
    .abi_major = ECSA_PLUGIN_ABI_MAJOR,                                                                    \
    .abi_minor = ECSA_PLUGIN_ABI_MINOR,                                                                    \
    .struct_size = sizeof (EcsaPluginDescriptor),                                                          \
    __VA_ARGS__                                                                                            \
  };                                                                                                       \
  ECSA_PLUGIN_ENTRY_ (id);                                                                                 \
  ECSA_PLUGIN_ENTRY_ (id) { return &ecsa_plugin_##id##_descriptor_; }

G_END_DECLS

#include "ecsa-log-driver.h"
#include "ecsa-registry-auth.h"
#include "ecsa-network.h"
#include "ecsa-metrics.h"
#include "ecsa-image-cleanup.h"

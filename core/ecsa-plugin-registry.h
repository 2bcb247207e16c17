/* ecsa-plugin-registry.h: the loaded plugins, by kind and name, and one wrapper per vtable slot.
 *
 * Callers (engine, agent, TCS) never touch a vtable: every slot is reached through a wrapper here
 * that checks the vtable version and NULL slots and behaves as older plugins expect (STYLE E4),
 * guards asynchronous calls with a timeout that names the call, and checks what plugins return.
 * Everything runs on the agent's main context. The registry does not depend on the engine: callers
 * pass EcsaTaskView/EcsaContainerView snapshots.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

typedef struct _EcsaPluginRegistry EcsaPluginRegistry;
typedef struct _EcsaLoadedPlugin EcsaLoadedPlugin;

/* "log-driver", "registry-auth", "network", "metrics", "image-cleanup"; "unknown" otherwise. */
const char *ecsa_plugin_kind_to_string(guint32 kind);

EcsaPluginRegistry *ecsa_plugin_registry_new(void);
/* Calls every loaded plugin's shutdown() (newest first) and frees the registry; never unloads a
 * module. No wrapper call may be in flight. */
void ecsa_plugin_registry_free(EcsaPluginRegistry *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaPluginRegistry, ecsa_plugin_registry_free)

/* Guard timeout for every asynchronous plugin call, in milliseconds; 0 restores the defaults
 * (check 60 s, network setup/teardown 180 s, release 60 s, get_credentials 120 s). For tests. */
void ecsa_plugin_registry_set_call_timeout(EcsaPluginRegistry *self, guint timeout_ms);

/* Loaded plugins in load order (const EcsaLoadedPlugin *, borrowed); kind 0 lists all kinds. */
GPtrArray *ecsa_plugin_registry_list(EcsaPluginRegistry *self, guint32 kind);
const EcsaLoadedPlugin *ecsa_plugin_registry_lookup(EcsaPluginRegistry *self, guint32 kind, const char *name);

/* Metrics and image cleanup are served by one plugin at a time: the first loaded, unless another
 * is selected by name (ECSA_ERROR_NOT_FOUND when none of that kind and name is loaded). */
gboolean ecsa_plugin_registry_select(EcsaPluginRegistry *self, guint32 kind, const char *name, GError **error);
const EcsaLoadedPlugin *ecsa_plugin_registry_get_selected(EcsaPluginRegistry *self, guint32 kind);

guint32 ecsa_loaded_plugin_get_kind(const EcsaLoadedPlugin *plugin);
const char *ecsa_loaded_plugin_get_name(const EcsaLoadedPlugin *plugin);
const char *ecsa_loaded_plugin_get_version(const EcsaLoadedPlugin *plugin);
/* The .so it came from, or NULL for a plugin linked into the agent. */
const char *ecsa_loaded_plugin_get_path(const EcsaLoadedPlugin *plugin);
const EcsaPluginHost *ecsa_loaded_plugin_get_host(const EcsaLoadedPlugin *plugin);

/* ---- log driver --------------------------------------------------------------------------- */

/* The plugin serving Docker log driver `driver`, or NULL. */
const EcsaLoadedPlugin *ecsa_plugin_registry_find_log_driver(EcsaPluginRegistry *self, const char *driver);

/* Is the driver usable here (for the capability)? probe() when the plugin has one, else whether
 * docker_log_drivers (Docker's /info Plugins.Log, NULL-terminated) lists it. Sets
 * ECSA_ERROR_NOT_SUPPORTED with the reason when not. */
gboolean ecsa_plugin_registry_log_driver_probe(EcsaPluginRegistry *self, const EcsaLoadedPlugin *plugin,
                                               const char *const *docker_log_drivers, GError **error);

/* Before creating `container`: fill_defaults() then validate_options() of the plugin serving
 * container->log_driver, on `options` (char* -> char*, owning its strings, changed in place).
 * A container without a driver (Docker's default), or with a driver no plugin serves, is left
 * alone and TRUE returned: Docker validates it, as for agent v1.16.2. Errors carry the plugin's
 * code (ECSA_ERROR_INVALID_DATA) and are prefixed "log driver '<driver>': ". */
gboolean ecsa_plugin_registry_log_driver_prepare(EcsaPluginRegistry *self, const EcsaTaskView *task,
                                                 const EcsaContainerView *container, GHashTable *options,
                                                 GError **error);

/* ---- registry auth ------------------------------------------------------------------------ */

const EcsaLoadedPlugin *ecsa_plugin_registry_find_auth(EcsaPluginRegistry *self, const char *auth_type);

/* Credentials for req->image from the plugin serving req->auth_type. NULL with no error for an
 * anonymous pull (req->auth_type NULL or "", or the plugin has none for this image).
 * ECSA_ERROR_NOT_SUPPORTED when no plugin serves the type (agent v1.16.2 pulls anonymously for an
 * unknown ECS_ENGINE_AUTH_TYPE; an "ecr" pull must fail), ECSA_ERROR_TIMEOUT when the plugin did
 * not answer in time, else the plugin's error (ECSA_ERROR_AUTH, _RETRY, _INVALID_DATA).
 * `req` need only live for the duration of the _async call. Free the result with
 * ecsa_registry_credentials_free(). */
void ecsa_plugin_registry_auth_get_credentials_async(EcsaPluginRegistry *self, const EcsaAuthRequest *req,
                                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                                     gpointer user_data);
EcsaRegistryCredentials *ecsa_plugin_registry_auth_get_credentials_finish(EcsaPluginRegistry *self,
                                                                          GAsyncResult *result, GError **error);
/* The registry refused credentials for req: let the plugin forget its cached copy. */
void ecsa_plugin_registry_auth_invalidate(EcsaPluginRegistry *self, const EcsaAuthRequest *req);

/* ---- network ------------------------------------------------------------------------------ */

const EcsaLoadedPlugin *ecsa_plugin_registry_find_network(EcsaPluginRegistry *self, const char *mode);

/* Start-up check of the plugin serving `mode` (call it when the agent enables the mode, e.g.
 * ECS_ENABLE_TASK_ENI for "awsvpc"); on success the plugin's capabilities and attributes join the
 * registration. ECSA_ERROR_NOT_SUPPORTED when no plugin serves the mode or the host cannot (terminal),
 * ECSA_ERROR_RETRY for a transient failure. */
void ecsa_plugin_registry_network_check_async(EcsaPluginRegistry *self, const char *mode, GCancellable *cancellable,
                                              GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_plugin_registry_network_check_finish(EcsaPluginRegistry *self, GAsyncResult *result, GError **error);

/* setup/teardown/release of req->task's network by the plugin serving req->network_mode.
 * ECSA_ERROR_NOT_SUPPORTED when no plugin serves it; release succeeds at once for a plugin
 * without release(). `req` need only live for the duration of the _async call. */
void ecsa_plugin_registry_network_setup_async(EcsaPluginRegistry *self, const EcsaNetworkRequest *req,
                                              GCancellable *cancellable, GAsyncReadyCallback callback,
                                              gpointer user_data);
EcsaNetworkResult *ecsa_plugin_registry_network_setup_finish(EcsaPluginRegistry *self, GAsyncResult *result,
                                                             GError **error);
void ecsa_plugin_registry_network_teardown_async(EcsaPluginRegistry *self, const EcsaNetworkRequest *req,
                                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                                 gpointer user_data);
gboolean ecsa_plugin_registry_network_teardown_finish(EcsaPluginRegistry *self, GAsyncResult *result, GError **error);
void ecsa_plugin_registry_network_release_async(EcsaPluginRegistry *self, const EcsaNetworkRequest *req,
                                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                                gpointer user_data);
gboolean ecsa_plugin_registry_network_release_finish(EcsaPluginRegistry *self, GAsyncResult *result, GError **error);

/* ---- metrics (the first loaded metrics plugin) ------------------------------------------- */

gboolean ecsa_plugin_registry_has_metrics(EcsaPluginRegistry *self);
void ecsa_plugin_registry_metrics_container_started(EcsaPluginRegistry *self, const EcsaTaskView *task,
                                                    const EcsaContainerView *container);
void ecsa_plugin_registry_metrics_container_stopped(EcsaPluginRegistry *self, const char *docker_id);
/* EcsaTaskMetrics* (free func ecsa_task_metrics_free) gathered since the previous call; empty, never
 * NULL, without a metrics plugin. Malformed entries are dropped with a warning. */
GPtrArray *ecsa_plugin_registry_metrics_collect(EcsaPluginRegistry *self);

/* ---- image cleanup (the first loaded image-cleanup plugin) -------------------------------- */

/* The image IDs (char*, free func g_free) to remove this cycle, in order. Only IDs among `images`
 * are kept, each once, at most policy->max_delete; anything else the plugin returned is dropped
 * with a warning. ECSA_ERROR_NOT_SUPPORTED without an image-cleanup plugin. */
GPtrArray *ecsa_plugin_registry_image_cleanup_choose(EcsaPluginRegistry *self, const EcsaImageView *const *images,
                                                     guint n_images, const EcsaImageCleanupPolicy *policy,
                                                     GError **error);

/* ---- registration attributes -------------------------------------------------------------- */

/* What the agent knows when it registers; the registry decides which plugin capabilities apply. */
typedef struct
{
  const char *const *available_logging_drivers; /* ECS_AVAILABLE_LOGGING_DRIVERS, NULL-terminated */
  const char *const *docker_log_drivers;        /* Docker's /info Plugins.Log, NULL-terminated */
  const char *docker_api_version;               /* Docker's /version ApiVersion ("1.41") */
  gboolean task_eni_enabled;                    /* ECS_ENABLE_TASK_ENI (and its checks passed) */
  gboolean awsvpc_block_imds;                   /* ECS_AWSVPC_BLOCK_IMDS */
  gboolean override_awslogs_execution_role;     /* ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE */
} EcsaCapabilityInputs;

/* Docker's GET /info answer -> its Plugins.Log list (NULL-terminated; g_strfreev), for
 * EcsaCapabilityInputs.docker_log_drivers. ECSA_ERROR_INVALID_DATA when it is not /info's JSON. */
char **ecsa_plugin_registry_parse_docker_log_drivers(GBytes *info, GError **error);

typedef struct
{
  char *name;
  char *value; /* NULL for a name-only attribute */
} EcsaPluginAttribute;

void ecsa_plugin_attribute_free(EcsaPluginAttribute *attribute);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaPluginAttribute, ecsa_plugin_attribute_free)

/* The attributes the loaded plugins contribute to RegisterContainerInstance (EcsaPluginAttribute*,
 * in load order, each name once), by agent v1.16.2's rules (agent/app/agent_capability.go):
 *  - com.amazonaws.ecs.capability.logging-driver.<d>: only from the log-driver plugin serving <d>,
 *    when <d> is in available_logging_drivers, Docker's API version reaches the driver's minimum,
 *    and the driver is usable (ecsa_plugin_registry_log_driver_probe);
 *  - com.amazonaws.ecs.capability.ecr-auth, ecs.capability.execution-role-ecr-pull: Docker API >= 1.19;
 *  - ecs.capability.execution-role-awslogs: override_awslogs_execution_role;
 *  - network plugins contribute (capabilities, then attributes()) only after a successful check,
 *    ecs.capability.task-eni* and cni-plugin-version only when task_eni_enabled,
 *    ecs.capability.task-eni-block-instance-metadata only with awsvpc_block_imds too;
 *  - names the agent registers itself (privileged-container, docker-remote-api.*, selinux,
 *    apparmor, task-iam-role*, task-cpu-mem-limit, ecs.vpc-id, ecs.subnet-id) are ignored with a
 *    warning; any other well-formed name (a site attribute) is passed through.
 * v1.16.2 tests Docker API versions one by one against a fixed list; this agent compares with the
 * negotiated version, so a Docker whose minimum API is above 1.19 still gets ecr-auth. */
GPtrArray *ecsa_plugin_registry_capabilities(EcsaPluginRegistry *self, const EcsaCapabilityInputs *inputs);

G_END_DECLS

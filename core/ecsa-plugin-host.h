/* ecsa-plugin-host.h: the services the core lends to plugins (the EcsaPluginHost of the ABI).
 *
 * EcsaPluginHostServices holds what is shared: the main context, the HTTP session, the
 * configuration and the backends other modules provide (Docker access, task views, the instance's
 * AWS credentials). config_get, log and redact go through ecsa-config and ecsa-log, sigv4_sign
 * through ecsa-sigv4. Each plugin gets its own EcsaPluginHost copy from ecsa_plugin_host_new(): its
 * name tags its log lines and it has its own state_dir. Backends may be set before or after plugins
 * are loaded; a service whose backend is not set fails with ECSA_ERROR_NOT_SUPPORTED (lookups return
 * NULL). Everything runs on the main context.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-config.h"
#include "ecsa-plugin.h"

G_BEGIN_DECLS

typedef struct _EcsaPluginHostServices EcsaPluginHostServices;

/* Docker Engine API access (the docker client). `path` carries no version prefix. The finish
 * returns the body and the HTTP status as host->docker_request_finish documents. */
typedef struct
{
  void (*request_async)(gpointer backend, const char *method, const char *path, GBytes *body, guint timeout_ms,
                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
  GBytes *(*request_finish)(gpointer backend, GAsyncResult *result, guint *out_status, GError **error);
} EcsaPluginDockerBackend;

/* Read-only task snapshots (the task engine). */
typedef struct
{
  EcsaTaskView *(*lookup)(gpointer backend, const char *task_arn);
  EcsaTaskView *(*lookup_by_docker_id)(gpointer backend, const char *docker_id);
  void (*free)(gpointer backend, EcsaTaskView *view);
} EcsaPluginTaskViewBackend;

/* The instance's AWS credentials (the credential chain). The finish returns credentials the host
 * copies for the plugin (its copy is wiped when freed) and then frees with free_credentials. */
typedef struct
{
  void (*get_async)(gpointer backend, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
  EcsaAwsCredentials *(*get_finish)(gpointer backend, GAsyncResult *result, GError **error);
  void (*free_credentials)(gpointer backend, EcsaAwsCredentials *credentials);
} EcsaPluginAwsCredentialsBackend;

/* `config` (nullable) and `http_session` (nullable) are borrowed and must outlive the services and
 * every host; `context` NULL means the thread-default context. config_get answers from
 * ecsa_config_get(), then (for names outside ECS_*, ECSA_*, AWS_* and DOCKER_*) from the
 * environment. state_dir of each plugin is <config->data_dir>/plugins/<kind>-<name> when
 * config->checkpoint, else NULL. Free the services after every host. */
EcsaPluginHostServices *ecsa_plugin_host_services_new(EcsaConfig *config, GMainContext *context,
                                                      SoupSession *http_session);
void ecsa_plugin_host_services_free(EcsaPluginHostServices *services);
/* The configuration given to ecsa_plugin_host_services_new() (may be NULL). */
EcsaConfig *ecsa_plugin_host_services_get_config(EcsaPluginHostServices *services);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaPluginHostServices, ecsa_plugin_host_services_free)

/* Set (or, with NULL, unset) a backend. The struct is copied; `backend` is passed back to it. */
void ecsa_plugin_host_services_set_docker_backend(EcsaPluginHostServices *services,
                                                  const EcsaPluginDockerBackend *vtable, gpointer backend);
void ecsa_plugin_host_services_set_task_view_backend(EcsaPluginHostServices *services,
                                                     const EcsaPluginTaskViewBackend *vtable, gpointer backend);
void ecsa_plugin_host_services_set_aws_credentials_backend(EcsaPluginHostServices *services,
                                                           const EcsaPluginAwsCredentialsBackend *vtable,
                                                           gpointer backend);
/* Docker access for plugins through the agent's Docker client (a reference is kept; NULL unsets):
 * the docker backend over ecsa_docker_client_request_async(). */
typedef struct _EcsaDockerClient EcsaDockerClient;
void ecsa_plugin_host_services_use_docker_client(EcsaPluginHostServices *services, EcsaDockerClient *client);

/* The agent's HTTP session once created (NULL: none); updates every host. */
void ecsa_plugin_host_services_set_http_session(EcsaPluginHostServices *services, SoupSession *http_session);
/* The region once known (instance metadata); updates every host. NULL means not known (""). */
void ecsa_plugin_host_services_set_region(EcsaPluginHostServices *services, const char *region);

/* A plugin's own host copy; its state_dir is created (0700) here. Free with ecsa_plugin_host_free
 * once the plugin is shut down. */
EcsaPluginHost *ecsa_plugin_host_new(EcsaPluginHostServices *services, guint32 kind, const char *plugin_name,
                                     GError **error);
void ecsa_plugin_host_free(EcsaPluginHost *host);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaPluginHost, ecsa_plugin_host_free)

G_END_DECLS

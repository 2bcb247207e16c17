/* ecsa-docker-auth-plugin.h: the registry-auth plugin shared by "docker" and "dockercfg"
 * (plugins/auth-docker, plugins/auth-dockercfg), which differ only in their type.
 *
 * Such a plugin is enabled when ECS_ENGINE_AUTH_TYPE names its type (else init fails with
 * ECSA_ERROR_NOT_SUPPORTED: not enabled on this host); it parses ECS_ENGINE_AUTH_DATA once, at
 * init (formats and registry matching in ecsa-docker-auth.h; a skipped entry is a warning through
 * the host's log), and answers every image from that map without I/O.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-docker-auth.h"
#include "ecsa-plugin.h"

G_BEGIN_DECLS

/* auth_type: "docker" or "dockercfg" */
gboolean ecsa_docker_auth_plugin_init (const char *auth_type, const EcsaPluginHost *host, gpointer *out_state,
                                       GError **error);
void ecsa_docker_auth_plugin_shutdown (gpointer state);
void ecsa_docker_auth_plugin_get_credentials_async (gpointer state, const EcsaAuthRequest *req,
                                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                                    gpointer user_data);
EcsaRegistryCredentials *ecsa_docker_auth_plugin_get_credentials_finish (gpointer state, GAsyncResult *result,
                                                                         GError **error);

/* Define the plugin `id` (its descriptor and entry point, as ECSA_PLUGIN_DEFINE) for registry auth
 * type `type_name`, a string literal. Use once, in the plugin's own source. */
#define ECSA_DOCKER_AUTH_PLUGIN_DEFINE(id, type_name)                                                           \
  static gboolean id##_init_ (const EcsaPluginHost *host, gpointer *out_state, GError **error)                \
  {                                                                                                           \
    return ecsa_docker_auth_plugin_init (type_name, host, out_state, error);                                  \
  }                                                                                                           \
  static const EcsaRegistryAuthVTable id##_vtable_ = {                                                        \
    .version = ECSA_REGISTRY_AUTH_VTABLE_VERSION,                                                             \
    .auth_type = type_name,                                                                                   \
    .get_credentials_async = ecsa_docker_auth_plugin_get_credentials_async,                                   \
    .get_credentials_finish = ecsa_docker_auth_plugin_get_credentials_finish,                                 \
  };                                                                                                          \
  ECSA_PLUGIN_DEFINE (id, .kind = ECSA_PLUGIN_KIND_REGISTRY_AUTH, .name = type_name, .version = PACKAGE_VERSION, \
                      .init = id##_init_, .shutdown = ecsa_docker_auth_plugin_shutdown, .vtable = &id##_vtable_)

G_END_DECLS

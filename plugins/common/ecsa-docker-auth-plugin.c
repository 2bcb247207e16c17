/* ecsa-docker-auth-plugin.c: the registry-auth plugin of types "docker" and "dockercfg"
 * (ecsa-docker-auth-plugin.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-docker-auth-plugin.h"

typedef struct
{
  const EcsaPluginHost *host;
  EcsaDockerAuthMap *map;
} AuthState;

static void
auth_state_free (AuthState *st)
{
  if (st == NULL)
    return;
  ecsa_docker_auth_map_free (st->map);
  g_free (st);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuthState, auth_state_free)

static void
warn_cb (const char *message, gpointer user_data)
{
  const EcsaPluginHost *host = user_data;

  if (host->log != NULL)
    host->log (host, ECSA_LOG_WARN, message);
}

gboolean
ecsa_docker_auth_plugin_init (const char *auth_type, const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  g_autoptr(AuthState) st = g_new0 (AuthState, 1);
  const char *type = host->config_get != NULL ? host->config_get (host, "ECS_ENGINE_AUTH_TYPE") : NULL;
  const char *data = host->config_get != NULL ? host->config_get (host, "ECS_ENGINE_AUTH_DATA") : NULL;

  if (g_strcmp0 (type, auth_type) != 0)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "ECS_ENGINE_AUTH_TYPE is %s%s%s, not '%s'",
                   type != NULL ? "'" : "", type != NULL ? type : "not set", type != NULL ? "'" : "", auth_type);
      return FALSE;
    }
  st->host = host;
  st->map = ecsa_docker_auth_map_parse (auth_type, data, warn_cb, (gpointer) host, error);
  if (st->map == NULL)
    return FALSE;
  *out_state = g_steal_pointer (&st);
  return TRUE;
}

void
ecsa_docker_auth_plugin_shutdown (gpointer state)
{
  auth_state_free (state);
}

void
ecsa_docker_auth_plugin_get_credentials_async (gpointer state, const EcsaAuthRequest *req, GCancellable *cancellable,
                                               GAsyncReadyCallback callback, gpointer user_data)
{
  AuthState *st = state;
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, ecsa_docker_auth_plugin_get_credentials_async);
  g_task_return_pointer (task, ecsa_docker_auth_map_lookup (st->map, req->image),
                         (GDestroyNotify) ecsa_registry_credentials_free);
}

EcsaRegistryCredentials *
ecsa_docker_auth_plugin_get_credentials_finish (gpointer state, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, ecsa_docker_auth_plugin_get_credentials_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

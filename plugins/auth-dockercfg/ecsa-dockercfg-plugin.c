/* Registry auth "dockercfg": ECS_ENGINE_AUTH_TYPE=dockercfg, credentials from ECS_ENGINE_AUTH_DATA (formats and
 * registry matching in plugins/common/ecsa-docker-auth.h). The data is parsed once at load; a
 * plugin whose ECS_ENGINE_AUTH_TYPE is another type is not enabled.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-docker-auth.h"

#define AUTH_TYPE "dockercfg"

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

static gboolean
auth_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  g_autoptr(AuthState) st = g_new0 (AuthState, 1);
  const char *type = host->config_get != NULL ? host->config_get (host, "ECS_ENGINE_AUTH_TYPE") : NULL;
  const char *data = host->config_get != NULL ? host->config_get (host, "ECS_ENGINE_AUTH_DATA") : NULL;

  if (g_strcmp0 (type, AUTH_TYPE) != 0)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "ECS_ENGINE_AUTH_TYPE is %s%s%s, not '" AUTH_TYPE "'",
                   type != NULL ? "'" : "", type != NULL ? type : "not set", type != NULL ? "'" : "");
      return FALSE;
    }
  st->host = host;
  st->map = ecsa_docker_auth_map_parse (AUTH_TYPE, data, warn_cb, (gpointer) host, error);
  if (st->map == NULL)
    return FALSE;
  *out_state = g_steal_pointer (&st);
  return TRUE;
}

static void
auth_shutdown (gpointer state)
{
  auth_state_free (state);
}

static void
auth_get_credentials_async (gpointer state, const EcsaAuthRequest *req, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  AuthState *st = state;
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, auth_get_credentials_async);
  g_task_return_pointer (task, ecsa_docker_auth_map_lookup (st->map, req->image),
                         (GDestroyNotify) ecsa_registry_credentials_free);
}

static EcsaRegistryCredentials *
auth_get_credentials_finish (gpointer state, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, auth_get_credentials_async), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static const EcsaRegistryAuthVTable auth_vtable = {
  .version = ECSA_REGISTRY_AUTH_VTABLE_VERSION,
  .auth_type = AUTH_TYPE,
  .get_credentials_async = auth_get_credentials_async,
  .get_credentials_finish = auth_get_credentials_finish,
};

ECSA_PLUGIN_DEFINE (auth_dockercfg, .kind = ECSA_PLUGIN_KIND_REGISTRY_AUTH, .name = AUTH_TYPE, .version = PACKAGE_VERSION,
                    .init = auth_init, .shutdown = auth_shutdown, .vtable = &auth_vtable)

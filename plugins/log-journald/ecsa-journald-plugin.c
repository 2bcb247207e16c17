/* The "journald" logging driver. dockerd lists journald in /info even where there is no journal,
 * then fails every container at start ("journald is not enabled on this host"); this plugin makes
 * the same check dockerd makes (a datagram connect to the journal socket) at load, so the
 * capability is not offered and no task is placed here only to fail.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"
#include "ecsa-log-options.h"

#include <gio/gunixsocketaddress.h>

#define DRIVER "journald"
#define JOURNALD_SOCKET "/run/systemd/journal/socket"

static gboolean
journal_socket_usable (const char *path, GError **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) local_error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT, &local_error);
  if (socket != NULL)
    {
      address = g_unix_socket_address_new (path);
      g_socket_connect (socket, address, NULL, &local_error);
    }
  if (local_error != NULL)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "no journald socket at '%s' (%s)", path,
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
journald_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  if (!journal_socket_usable (JOURNALD_SOCKET, error))
    return FALSE;
  *out_state = NULL;
  return TRUE;
}

static gboolean
journald_validate_options (gpointer state, GHashTable *options, GError **error)
{
  static const EcsaLogOption none[] = { { NULL } };

  return ecsa_log_options_validate (DRIVER, options, none, ECSA_LOG_OPTIONS_ATTRS, error);
}

static const EcsaLogDriverVTable journald_vtable = {
  .version = ECSA_LOG_DRIVER_VTABLE_VERSION,
  .driver = DRIVER,
  .min_docker_api_version = "1.19", /* agent v1.16.2's LoggingDriverMinimumVersion */
  .validate_options = journald_validate_options,
};

static const char *const journald_caps[] = { "com.amazonaws.ecs.capability.logging-driver.journald", NULL };

ECSA_PLUGIN_DEFINE (log_journald, .kind = ECSA_PLUGIN_KIND_LOG_DRIVER, .name = "journald",
                    .version = PACKAGE_VERSION, .capabilities = journald_caps, .init = journald_init,
                    .vtable = &journald_vtable)

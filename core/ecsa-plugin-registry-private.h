/* ecsa-plugin-registry-private.h: what the loader (and tests) know of a loaded plugin.
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "ecsa-plugin-registry.h"

G_BEGIN_DECLS

struct _EcsaLoadedPlugin
{
  const EcsaPluginDescriptor *desc;
  gpointer state;       /* what init() returned */
  EcsaPluginHost *host; /* this plugin's own host copy (owned, ecsa_plugin_host_free) */
  char *path;           /* the .so, NULL when built in */
  gpointer module;      /* dlopen() handle, never closed; NULL when built in */
  gboolean initialized; /* init() succeeded: shutdown() is due */
  gboolean checked;     /* network: check() succeeded */
};

/* A vtable slot added in vtable version `since` may be called only when the plugin's vtable is at
 * least that version and the slot is set (STYLE E4). */
#define ECSA_VTABLE_HAS(vt, since, slot) ((vt)->version >= (since) && (vt)->slot != NULL)

/* Takes ownership of `plugin` (even on failure). Fails with ECSA_PLUGIN_ERROR_DUPLICATE (see
 * ecsa-plugin-loader.h) when the kind+name, log driver, auth type or a network mode is taken. */
gboolean ecsa_plugin_registry_check_unique(EcsaPluginRegistry *self, const EcsaPluginDescriptor *desc, GError **error);
void ecsa_plugin_registry_add(EcsaPluginRegistry *self, EcsaLoadedPlugin *plugin);
/* Keep the host copy of a plugin whose init() failed: the plugin may still point at it. */
void ecsa_plugin_registry_keep_host(EcsaPluginRegistry *self, EcsaPluginHost *host);

void ecsa_loaded_plugin_free(EcsaLoadedPlugin *plugin);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaLoadedPlugin, ecsa_loaded_plugin_free)

G_END_DECLS

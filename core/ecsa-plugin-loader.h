/* ecsa-plugin-loader.h: finds, checks, initializes and registers plugins.
 *
 * Plugins come from the table linked into the agent (-Dbuiltin_plugins=true) and from the plugin
 * directory: EcsaConfig.plugin_dir, else $ECSA_PLUGIN_DIR, else ECSA_PLUGINDIR
 * ($libdir/ecs-agent/plugins-<ABI major>). Each file is checked (regular, not group- or
 * world-writable, owned by root or the agent's user), dlopen()ed RTLD_NOW|RTLD_LOCAL, its descriptor
 * checked (ABI, size, reserved fields, kind, name, init, vtable), refused if its kind+name (or log
 * driver, auth type, network mode) is taken, then init() is called with its own EcsaPluginHost.
 * A refused plugin costs one warning line naming the file and the reason; loading goes on. A
 * plugin that is not enabled costs one info line and is unloaded: a log driver that
 * ECS_AVAILABLE_LOGGING_DRIVERS does not list (not initialized), or one whose init() says
 * ECSA_ERROR_NOT_SUPPORTED. Refused and initialized modules are never unloaded
 * (docs/PLUGIN-ABI.md, 4).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin-host.h"
#include "ecsa-plugin-registry.h"

G_BEGIN_DECLS

#define ECSA_PLUGIN_ERROR (ecsa_plugin_error_quark())
GQuark ecsa_plugin_error_quark(void);

typedef enum
{
  ECSA_PLUGIN_ERROR_FILE,        /* not a regular file, writable by others, foreign owner, unreadable */
  ECSA_PLUGIN_ERROR_OPEN,        /* dlopen() failed */
  ECSA_PLUGIN_ERROR_SYMBOL,      /* no entry symbol, or it returned NULL */
  ECSA_PLUGIN_ERROR_ABI,         /* ABI major/minor, struct size, reserved fields, vtable version */
  ECSA_PLUGIN_ERROR_INVALID,     /* kind, name, version, init, vtable or a vtable field */
  ECSA_PLUGIN_ERROR_DUPLICATE,   /* kind+name (or driver, auth type, network mode) already loaded */
  ECSA_PLUGIN_ERROR_INIT,        /* init() failed */
  ECSA_PLUGIN_ERROR_NOT_ENABLED, /* not for this host (init() said ECSA_ERROR_NOT_SUPPORTED) or config */
} EcsaPluginError;

typedef struct _EcsaPluginLoader EcsaPluginLoader;

/* Both borrowed; they must outlive the loader (the registry and services outlive the plugins). */
EcsaPluginLoader *ecsa_plugin_loader_new(EcsaPluginRegistry *registry, EcsaPluginHostServices *services);
void ecsa_plugin_loader_free(EcsaPluginLoader *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaPluginLoader, ecsa_plugin_loader_free)

/* The directory scanned when the configuration names none: $ECSA_PLUGIN_DIR, else ECSA_PLUGINDIR. */
const char *ecsa_plugin_loader_default_dir(void);

/* Load one file / one built-in descriptor. On refusal: FALSE and the reason in `error` (not logged);
 * the message of ECSA_PLUGIN_ERROR_NOT_ENABLED reads "<kind> '<name>' not enabled on this host: ..." (init()) or
 * "log-driver '<name>' not enabled: ..." (ECS_AVAILABLE_LOGGING_DRIVERS).
 * On success the plugin is in the registry and nothing is logged. */
gboolean ecsa_plugin_loader_load_file(EcsaPluginLoader *self, const char *path, GError **error);
gboolean ecsa_plugin_loader_load_builtin(EcsaPluginLoader *self, EcsaPluginGetDescriptorFunc get_descriptor,
                                         GError **error);

/* Load every libecsa-plugin-*.so in `dir` (in name order) / every entry of a NULL-terminated table,
 * logging one line per plugin: "loaded ..." (info), "... not enabled on this host: ..." (info) or
 * "skipping plugin '...': ..." (warning). Never fails; returns how many were loaded. */
guint ecsa_plugin_loader_load_dir(EcsaPluginLoader *self, const char *dir);
guint ecsa_plugin_loader_load_builtin_table(EcsaPluginLoader *self, const EcsaPluginGetDescriptorFunc *table);

/* Start-up: the plugins linked into this binary (if any), then the directory `dir` (NULL: the
 * default). Returns how many were loaded. */
guint ecsa_plugin_loader_load_all(EcsaPluginLoader *self, const char *dir);

G_END_DECLS

/* ecsa-plugin-loader.c: dlopen(), descriptor checks, init(), registration.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-plugin-loader.h"

#include "ecsa-plugin-registry-private.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLUGIN_NAME_MAX 64
#define PLUGIN_FILE_PREFIX "libecsa-plugin-"
#define PLUGIN_FILE_SUFFIX ".so"

/* The table generated into ecs-agent by plugins/meson.build (-Dbuiltin_plugins=true); programs
 * that do not link it (tests) see NULL. */
extern const EcsaPluginGetDescriptorFunc ecsa_builtin_plugins[] __attribute__((weak));

G_DEFINE_QUARK(ecsa - plugin - error - quark, ecsa_plugin_error)

struct _EcsaPluginLoader
{
  EcsaPluginRegistry *registry;
  EcsaPluginHostServices *services;
};

EcsaPluginLoader *
ecsa_plugin_loader_new(EcsaPluginRegistry *registry, EcsaPluginHostServices *services)
{
  EcsaPluginLoader *self;

  g_return_val_if_fail(registry != NULL && services != NULL, NULL);
  self = g_new0(EcsaPluginLoader, 1);
  self->registry = registry;
  self->services = services;
  /* Plugins that are not enabled are unloaded: the quark of ECSA_ERROR, which their init() may
   * use, must hold the agent's copy of its string, not theirs. */
  (void)ECSA_ERROR;
  return self;
}

void
ecsa_plugin_loader_free(EcsaPluginLoader *self)
{
  g_free(self);
}

const char *
ecsa_plugin_loader_default_dir(void)
{
  const char *dir = g_getenv("ECSA_PLUGIN_DIR");

  return dir != NULL && dir[0] != '\0' ? dir : ECSA_PLUGINDIR;
}

/* ---- descriptor checks -------------------------------------------------------------------- */

static gboolean
name_is_valid(const char *name)
{
  gsize len;

  if (name == NULL)
    return FALSE;
  len = strlen(name);
  if (len == 0 || len > PLUGIN_NAME_MAX || name[0] == '-' || name[len - 1] == '-')
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!(g_ascii_islower(name[i]) || g_ascii_isdigit(name[i]) || name[i] == '-'))
      return FALSE;
  return TRUE;
}

/* Docker log driver, auth type and network mode names: [a-z0-9][a-z0-9._-]*, at most 64. */
static gboolean
token_is_valid(const char *token)
{
  gsize len;

  if (token == NULL)
    return FALSE;
  len = strlen(token);
  if (len == 0 || len > PLUGIN_NAME_MAX || !(g_ascii_islower(token[0]) || g_ascii_isdigit(token[0])))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!(g_ascii_islower(token[i]) || g_ascii_isdigit(token[i]) || strchr("._-", token[i]) != NULL))
      return FALSE;
  return TRUE;
}

static gboolean
api_version_is_valid(const char *v)
{
  const char *dot;

  if (v == NULL || !g_ascii_isdigit(v[0]))
    return FALSE;
  dot = strchr(v, '.');
  if (dot == NULL || !g_ascii_isdigit(dot[1]))
    return FALSE;
  for (const char *p = v; *p != '\0'; p++)
    if (!g_ascii_isdigit(*p) && p != dot)
      return FALSE;
  return TRUE;
}

static gboolean
reserved_are_null(const gpointer *reserved, guint n)
{
  for (guint i = 0; i < n; i++)
    if (reserved[i] != NULL)
      return FALSE;
  return TRUE;
}

static guint32
vtable_version_known(guint32 kind)
{
  switch (kind)
    {
    case ECSA_PLUGIN_KIND_LOG_DRIVER:
      return ECSA_LOG_DRIVER_VTABLE_VERSION;
    case ECSA_PLUGIN_KIND_REGISTRY_AUTH:
      return ECSA_REGISTRY_AUTH_VTABLE_VERSION;
    case ECSA_PLUGIN_KIND_NETWORK:
      return ECSA_NETWORK_VTABLE_VERSION;
    case ECSA_PLUGIN_KIND_METRICS:
      return ECSA_METRICS_VTABLE_VERSION;
    case ECSA_PLUGIN_KIND_IMAGE_CLEANUP:
      return ECSA_IMAGE_CLEANUP_VTABLE_VERSION;
    default:
      return 0;
    }
}

static gboolean invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
invalid(GError **error, const char *format, ...)
{
  va_list args;

  va_start(args, format);
  g_propagate_error(error, g_error_new_valist(ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_INVALID, format, args));
  va_end(args);
  return FALSE;
}

/* The per-kind vtable: its slots and fields. The version was checked already. */
static gboolean
vtable_check(const EcsaPluginDescriptor *d, GError **error)
{
  const char *kind = ecsa_plugin_kind_to_string(d->kind);

  switch (d->kind)
    {
    case ECSA_PLUGIN_KIND_LOG_DRIVER:
      {
        const EcsaLogDriverVTable *vt = d->vtable;

        if (!reserved_are_null((const gpointer *)vt->reserved, G_N_ELEMENTS(vt->reserved)))
          break;
        if (!token_is_valid(vt->driver))
          return invalid(error, "%s vtable: driver '%s' is not a Docker log driver name", kind,
                         vt->driver != NULL ? vt->driver : "(null)");
        if (vt->min_docker_api_version != NULL && !api_version_is_valid(vt->min_docker_api_version))
          return invalid(error, "%s vtable: min_docker_api_version '%s' is not like \"1.21\"", kind,
                         vt->min_docker_api_version);
        return TRUE;
      }
    case ECSA_PLUGIN_KIND_REGISTRY_AUTH:
      {
        const EcsaRegistryAuthVTable *vt = d->vtable;

        if (!reserved_are_null((const gpointer *)vt->reserved, G_N_ELEMENTS(vt->reserved)))
          break;
        if (!token_is_valid(vt->auth_type))
          return invalid(error, "%s vtable: auth_type '%s' is not valid", kind,
                         vt->auth_type != NULL ? vt->auth_type : "(null)");
        if (vt->get_credentials_async == NULL || vt->get_credentials_finish == NULL)
          return invalid(error, "%s vtable: get_credentials_async and get_credentials_finish are required", kind);
        return TRUE;
      }
    case ECSA_PLUGIN_KIND_NETWORK:
      {
        const EcsaNetworkVTable *vt = d->vtable;

        if (!reserved_are_null((const gpointer *)vt->reserved, G_N_ELEMENTS(vt->reserved)))
          break;
        if (vt->modes == NULL || vt->modes[0] == NULL)
          return invalid(error, "%s vtable: no network modes", kind);
        for (guint i = 0; vt->modes[i] != NULL; i++)
          if (!token_is_valid(vt->modes[i]))
            return invalid(error, "%s vtable: network mode '%s' is not valid", kind, vt->modes[i]);
        if (vt->setup_async == NULL || vt->setup_finish == NULL || vt->teardown_async == NULL
            || vt->teardown_finish == NULL)
          return invalid(error, "%s vtable: setup_async/_finish and teardown_async/_finish are required", kind);
        if ((vt->check_async == NULL) != (vt->check_finish == NULL))
          return invalid(error, "%s vtable: check_async and check_finish go together", kind);
        if ((vt->release_async == NULL) != (vt->release_finish == NULL))
          return invalid(error, "%s vtable: release_async and release_finish go together", kind);
        return TRUE;
      }
    case ECSA_PLUGIN_KIND_METRICS:
      {
        const EcsaMetricsVTable *vt = d->vtable;

        if (!reserved_are_null((const gpointer *)vt->reserved, G_N_ELEMENTS(vt->reserved)))
          break;
        if (vt->collect == NULL)
          return invalid(error, "%s vtable: collect is required", kind);
        return TRUE;
      }
    case ECSA_PLUGIN_KIND_IMAGE_CLEANUP:
      {
        const EcsaImageCleanupVTable *vt = d->vtable;

        if (!reserved_are_null((const gpointer *)vt->reserved, G_N_ELEMENTS(vt->reserved)))
          break;
        if (vt->choose == NULL)
          return invalid(error, "%s vtable: choose is required", kind);
        return TRUE;
      }
    default:
      g_assert_not_reached();
    }
  g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_ABI,
              "%s vtable has reserved slots set (built for a newer vtable?)", kind);
  return FALSE;
}

/* Everything a descriptor must satisfy before anything of the plugin is called (STYLE E3). */
static gboolean
descriptor_check(const EcsaPluginDescriptor *d, GError **error)
{
  guint32 known;

  if (d->abi_major != ECSA_PLUGIN_ABI_MAJOR || d->abi_minor > ECSA_PLUGIN_ABI_MINOR)
    {
      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_ABI,
                  "built for plugin ABI %u.%u, agent provides %u.%u (major must match, minor must be <= %u)",
                  d->abi_major, d->abi_minor, ECSA_PLUGIN_ABI_MAJOR, ECSA_PLUGIN_ABI_MINOR, ECSA_PLUGIN_ABI_MINOR);
      return FALSE;
    }
  if (d->struct_size != sizeof(EcsaPluginDescriptor))
    {
      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_ABI,
                  "descriptor is %u bytes, agent expects %zu (mismatched headers?)", d->struct_size,
                  sizeof(EcsaPluginDescriptor));
      return FALSE;
    }
  if (!reserved_are_null((const gpointer *)d->reserved, G_N_ELEMENTS(d->reserved)))
    {
      g_set_error_literal(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_ABI,
                          "descriptor has reserved fields set (built for a newer ABI?)");
      return FALSE;
    }
  if (d->kind == ECSA_PLUGIN_KIND_INVALID || d->kind > ECSA_PLUGIN_KIND_LAST)
    return invalid(error, "unknown plugin kind %u (this agent knows 1..%u)", d->kind, ECSA_PLUGIN_KIND_LAST);
  if (!name_is_valid(d->name))
    {
      g_autofree char *shown = d->name != NULL ? g_strescape(d->name, NULL) : g_strdup("(null)");

      return invalid(error, "name '%s' is not valid (1 to %d of [a-z0-9-], not starting or ending with '-')", shown,
                     PLUGIN_NAME_MAX);
    }
  if (d->version == NULL || !g_utf8_validate(d->version, -1, NULL) || d->version[0] == '\0')
    return invalid(error, "%s '%s' has no version", ecsa_plugin_kind_to_string(d->kind), d->name);
  if (d->init == NULL)
    return invalid(error, "%s '%s' has no init()", ecsa_plugin_kind_to_string(d->kind), d->name);
  if (d->vtable == NULL)
    return invalid(error, "%s '%s' has no vtable", ecsa_plugin_kind_to_string(d->kind), d->name);

  known = vtable_version_known(d->kind);
  if (*(const guint32 *)d->vtable == 0)
    {
      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_ABI, "%s '%s' has vtable version 0",
                  ecsa_plugin_kind_to_string(d->kind), d->name);
      return FALSE;
    }
  if (*(const guint32 *)d->vtable > known)
    {
      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_ABI,
                  "%s '%s' has vtable version %u, agent knows %u (built for a newer ABI?)",
                  ecsa_plugin_kind_to_string(d->kind), d->name, *(const guint32 *)d->vtable, known);
      return FALSE;
    }
  return vtable_check(d, error);
}

/* ---- loading ------------------------------------------------------------------------------ */

/* Does the configuration want this plugin? A log driver not listed in ECS_AVAILABLE_LOGGING_DRIVERS
 * is never offered to ECS (agent v1.16.2), and a container using it goes to Docker unchanged, as
 * one whose driver no plugin serves: its plugin is not initialized. */
static gboolean
wanted_by_config(EcsaPluginLoader *self, const EcsaPluginDescriptor *d, GError **error)
{
  const EcsaConfig *config = ecsa_plugin_host_services_get_config(self->services);
  const char *driver;

  if (config == NULL || d->kind != ECSA_PLUGIN_KIND_LOG_DRIVER)
    return TRUE;
  driver = ((const EcsaLogDriverVTable *)d->vtable)->driver;
  if (config->available_logging_drivers != NULL
      && g_strv_contains((const char *const *)config->available_logging_drivers, driver))
    return TRUE;
  g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED,
              "%s '%s' not enabled: '%s' is not in ECS_AVAILABLE_LOGGING_DRIVERS", ecsa_plugin_kind_to_string(d->kind),
              d->name, driver);
  return FALSE;
}

/* Check, register and initialize a descriptor; `path`/`module` are NULL for a built-in one. */
static gboolean
load_descriptor(EcsaPluginLoader *self, const EcsaPluginDescriptor *d, const char *path, gpointer module,
                GError **error)
{
  g_autoptr(EcsaLoadedPlugin) plugin = NULL;
  g_autoptr(GError) local = NULL;
  const char *kind;

  if (d == NULL)
    {
      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_SYMBOL, "%s() returned NULL", ECSA_PLUGIN_ENTRY);
      return FALSE;
    }
  if (!descriptor_check(d, error))
    return FALSE;
  if (!wanted_by_config(self, d, error))
    return FALSE;
  if (!ecsa_plugin_registry_check_unique(self->registry, d, error))
    return FALSE;
  kind = ecsa_plugin_kind_to_string(d->kind);

  plugin = g_new0(EcsaLoadedPlugin, 1);
  plugin->desc = d;
  plugin->path = g_strdup(path);
  plugin->module = module;
  plugin->host = ecsa_plugin_host_new(self->services, d->kind, d->name, &local);
  if (plugin->host == NULL)
    {
      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_INIT, "%s '%s': %s", kind, d->name, local->message);
      return FALSE;
    }
  if (!d->init(plugin->host, &plugin->state, &local))
    {
      /* the plugin may still hold its host: keep it until the registry goes */
      ecsa_plugin_registry_keep_host(self->registry, g_steal_pointer(&plugin->host));
      if (g_error_matches(local, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED))
        g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED, "%s '%s' not enabled on this host: %s",
                    kind, d->name, local->message);
      else
        g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_INIT, "%s '%s' failed to initialize: %s", kind, d->name,
                    local != NULL ? local->message : "init() gave no reason");
      return FALSE;
    }
  plugin->initialized = TRUE;
  ecsa_plugin_registry_add(self->registry, g_steal_pointer(&plugin));
  return TRUE;
}

/* Is the file something we may load? (STYLE E3 step 1) */
static gboolean
file_check(const char *path, GError **error)
{
  struct stat st;

  if (stat(path, &st) != 0)
    {
      int saved_errno = errno;

      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_FILE, "cannot stat it: %s", g_strerror(saved_errno));
      return FALSE;
    }
  if (!S_ISREG(st.st_mode))
    {
      g_set_error_literal(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_FILE, "not a regular file");
      return FALSE;
    }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    {
      g_set_error_literal(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_FILE, "file is group- or world-writable");
      return FALSE;
    }
  if (st.st_uid != 0 && st.st_uid != geteuid())
    {
      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_FILE,
                  "file is owned by uid %u, neither root nor the agent's user", (guint)st.st_uid);
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_plugin_loader_load_file(EcsaPluginLoader *self, const char *path, GError **error)
{
  gpointer module;
  EcsaPluginGetDescriptorFunc get_descriptor;
  GError *local = NULL;

  g_return_val_if_fail(self != NULL && path != NULL, FALSE);
  if (!file_check(path, error))
    return FALSE;
  /* A refused module is never closed: its constructors may have run, its init() may have left
   * something behind. One that is not enabled (by the configuration, or its init() said
   * ECSA_ERROR_NOT_SUPPORTED) is: the ABI forbids both to a plugin (docs/PLUGIN-ABI.md, 4), and
   * its written pages (8 KiB or more) go back. */
  module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (module == NULL)
    {
      const char *why = dlerror();

      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_OPEN, "cannot load it: %s",
                  why != NULL ? why : "dlopen() failed");
      return FALSE;
    }
  dlerror();
  get_descriptor = (EcsaPluginGetDescriptorFunc)dlsym(module, ECSA_PLUGIN_ENTRY);
  if (get_descriptor == NULL)
    {
      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_SYMBOL, "no '%s' symbol (not an ecs-agent plugin?)",
                  ECSA_PLUGIN_ENTRY);
      return FALSE;
    }
  if (load_descriptor(self, get_descriptor(), path, module, &local))
    return TRUE;
  if (g_error_matches(local, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED))
    dlclose(module);
  g_propagate_error(error, local);
  return FALSE;
}

gboolean
ecsa_plugin_loader_load_builtin(EcsaPluginLoader *self, EcsaPluginGetDescriptorFunc get_descriptor, GError **error)
{
  g_return_val_if_fail(self != NULL && get_descriptor != NULL, FALSE);
  return load_descriptor(self, get_descriptor(), NULL, NULL, error);
}

/* One line per plugin, as STYLE E3 shows. */
static void
log_outcome(EcsaPluginLoader *self, const char *origin, gboolean loaded, const GError *error)
{
  const EcsaLoadedPlugin *p;
  GPtrArray *all;

  if (!loaded)
    {
      if (g_error_matches(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED))
        g_info("%s", error->message);
      else
        g_warning("skipping plugin '%s': %s", origin, error->message);
      return;
    }
  all = ecsa_plugin_registry_list(self->registry, 0);
  p = g_ptr_array_index(all, all->len - 1);
  if (p->path != NULL)
    g_info("loaded %s '%s' %s (ABI %u.%u) from '%s'", ecsa_plugin_kind_to_string(p->desc->kind), p->desc->name,
           p->desc->version, p->desc->abi_major, p->desc->abi_minor, p->path);
  else
    g_info("loaded %s '%s' %s (ABI %u.%u), built in", ecsa_plugin_kind_to_string(p->desc->kind), p->desc->name,
           p->desc->version, p->desc->abi_major, p->desc->abi_minor);
  g_ptr_array_unref(all);
}

guint
ecsa_plugin_loader_load_builtin_table(EcsaPluginLoader *self, const EcsaPluginGetDescriptorFunc *table)
{
  guint loaded = 0;

  g_return_val_if_fail(self != NULL, 0);
  for (guint i = 0; table != NULL && table[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      gboolean ok = ecsa_plugin_loader_load_builtin(self, table[i], &error);
      g_autofree char *origin = g_strdup_printf("built-in #%u", i);

      log_outcome(self, origin, ok, error);
      loaded += ok;
    }
  return loaded;
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

guint
ecsa_plugin_loader_load_dir(EcsaPluginLoader *self, const char *dir)
{
  g_autoptr(GDir) d = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  const char *name;
  guint loaded = 0;

  g_return_val_if_fail(self != NULL && dir != NULL, 0);
  d = g_dir_open(dir, 0, &error);
  if (d == NULL)
    {
      if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_info("plugin directory '%s' does not exist, no plugins loaded from it", dir);
      else
        g_warning("cannot read plugin directory '%s': %s, no plugins loaded from it", dir, error->message);
      return 0;
    }
  while ((name = g_dir_read_name(d)) != NULL)
    if (g_str_has_prefix(name, PLUGIN_FILE_PREFIX) && g_str_has_suffix(name, PLUGIN_FILE_SUFFIX))
      g_ptr_array_add(names, g_strdup(name));
  g_ptr_array_sort(names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename(dir, g_ptr_array_index(names, i), NULL);
      g_autoptr(GError) local = NULL;
      gboolean ok = ecsa_plugin_loader_load_file(self, path, &local);

      log_outcome(self, path, ok, local);
      loaded += ok;
    }
  return loaded;
}

/* Kinds served by one plugin at a time: say which one when several are loaded. */
static void
log_singletons(EcsaPluginLoader *self)
{
  const guint32 kinds[] = { ECSA_PLUGIN_KIND_METRICS, ECSA_PLUGIN_KIND_IMAGE_CLEANUP };

  for (guint i = 0; i < G_N_ELEMENTS(kinds); i++)
    {
      g_autoptr(GPtrArray) all = ecsa_plugin_registry_list(self->registry, kinds[i]);
      g_autoptr(GString) others = NULL;
      const EcsaLoadedPlugin *used;

      if (all->len < 2)
        continue;
      used = ecsa_plugin_registry_get_selected(self->registry, kinds[i]);
      others = g_string_new(NULL);
      for (guint j = 0; j < all->len; j++)
        if (g_ptr_array_index(all, j) != used)
          g_string_append_printf(others, "%s'%s'", others->len > 0 ? ", " : "",
                                 ecsa_loaded_plugin_get_name(g_ptr_array_index(all, j)));
      g_warning("%u %s plugins are loaded; using '%s', ignoring %s", all->len, ecsa_plugin_kind_to_string(kinds[i]),
                ecsa_loaded_plugin_get_name(used), others->str);
    }
}

guint
ecsa_plugin_loader_load_all(EcsaPluginLoader *self, const char *dir)
{
  guint loaded = 0;

  g_return_val_if_fail(self != NULL, 0);
  if (ecsa_builtin_plugins != NULL)
    loaded += ecsa_plugin_loader_load_builtin_table(self, ecsa_builtin_plugins);
  loaded += ecsa_plugin_loader_load_dir(self, dir != NULL && dir[0] != '\0' ? dir : ecsa_plugin_loader_default_dir());
  log_singletons(self);
  return loaded;
}

/* ecsa-plugin-registry.c: loaded plugins and the wrappers around their vtables.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin-registry-private.h"

#include "ecsa-log.h"
#include "ecsa-plugin-host.h"
#include "ecsa-plugin-loader.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define CHECK_TIMEOUT_MS (60 * 1000)
#define SETUP_TIMEOUT_MS (180 * 1000)
#define TEARDOWN_TIMEOUT_MS (180 * 1000)
#define RELEASE_TIMEOUT_MS (60 * 1000)
#define AUTH_TIMEOUT_MS (120 * 1000)

struct _EcsaPluginRegistry
{
  GPtrArray *plugins;                                    /* EcsaLoadedPlugin*, owned, in load order */
  GPtrArray *kept_hosts;                                 /* EcsaPluginHost* of plugins whose init() failed */
  GHashTable *calls;                                     /* GTask* of asynchronous plugin calls in flight (not owned) */
  EcsaLoadedPlugin *selected[ECSA_PLUGIN_KIND_LAST + 1]; /* ecsa_plugin_registry_select() */
  guint call_timeout_ms;                                 /* 0: the defaults above */
  GHashTable *auth_secrets; /* char* (wiped on free): what auth plugins handed out, registered with the log */
};

static void plugin_calls_orphan(EcsaPluginRegistry *self);
static EcsaLoadedPlugin *first_of_kind(EcsaPluginRegistry *self, guint32 kind);

const char *
ecsa_plugin_kind_to_string(guint32 kind)
{
  switch (kind)
    {
    case ECSA_PLUGIN_KIND_LOG_DRIVER:
      return "log-driver";
    case ECSA_PLUGIN_KIND_REGISTRY_AUTH:
      return "registry-auth";
    case ECSA_PLUGIN_KIND_NETWORK:
      return "network";
    case ECSA_PLUGIN_KIND_METRICS:
      return "metrics";
    case ECSA_PLUGIN_KIND_IMAGE_CLEANUP:
      return "image-cleanup";
    default:
      return "unknown";
    }
}

void
ecsa_loaded_plugin_free(EcsaLoadedPlugin *plugin)
{
  if (plugin == NULL)
    return;
  g_clear_pointer(&plugin->host, ecsa_plugin_host_free);
  g_free(plugin->path);
  g_free(plugin);
}

/* Secrets that auth plugins obtain at run time (a password from ECS_ENGINE_AUTH_DATA, an ECR
 * token) are registered with the log's redaction the moment they reach the core, whatever the
 * plugin: no later line (a pull error, a debug trace, a plugin's own message) shows them. Each
 * distinct value is registered once, and forgotten (and wiped) with the registry. */
static void
auth_secret_forget(gpointer data)
{
  char *secret = data;

  ecsa_log_remove_secret(secret);
  memset(secret, 0, strlen(secret));
  g_free(secret);
}

static void
auth_secret_register(EcsaPluginRegistry *self, const char *secret)
{
  if (secret == NULL || secret[0] == '\0' || g_hash_table_contains(self->auth_secrets, secret))
    return;
  ecsa_log_add_secret(secret);
  g_hash_table_add(self->auth_secrets, g_strdup(secret));
}

static void
auth_secrets_register(EcsaPluginRegistry *self, const EcsaRegistryCredentials *creds)
{
  auth_secret_register(self, creds->password);
  auth_secret_register(self, creds->identity_token);
  if (creds->password != NULL && creds->password[0] != '\0')
    {
      /* the dockercfg / ECR authorizationToken form: base64("user:password") */
      g_autofree char *pair = g_strdup_printf("%s:%s", creds->username != NULL ? creds->username : "", creds->password);
      g_autofree char *encoded = g_base64_encode((const guchar *)pair, strlen(pair));

      auth_secret_register(self, encoded);
      memset(pair, 0, strlen(pair));
      memset(encoded, 0, strlen(encoded));
    }
}

EcsaPluginRegistry *
ecsa_plugin_registry_new(void)
{
  EcsaPluginRegistry *self = g_new0(EcsaPluginRegistry, 1);

  self->plugins = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_loaded_plugin_free);
  self->kept_hosts = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_plugin_host_free);
  self->calls = g_hash_table_new(NULL, NULL);
  self->auth_secrets = g_hash_table_new_full(g_str_hash, g_str_equal, auth_secret_forget, NULL);
  return self;
}

void
ecsa_plugin_registry_free(EcsaPluginRegistry *self)
{
  if (self == NULL)
    return;
  plugin_calls_orphan(self);
  for (guint i = self->plugins->len; i > 0; i--)
    {
      EcsaLoadedPlugin *p = g_ptr_array_index(self->plugins, i - 1);

      if (p->initialized && p->desc->shutdown != NULL)
        p->desc->shutdown(p->state);
      p->initialized = FALSE;
    }
  g_ptr_array_unref(self->plugins);
  g_ptr_array_unref(self->kept_hosts);
  g_hash_table_unref(self->calls);
  g_hash_table_unref(self->auth_secrets);
  g_free(self);
}

void
ecsa_plugin_registry_set_call_timeout(EcsaPluginRegistry *self, guint timeout_ms)
{
  g_return_if_fail(self != NULL);
  self->call_timeout_ms = timeout_ms;
}

static guint
call_timeout(EcsaPluginRegistry *self, guint default_ms)
{
  return self->call_timeout_ms != 0 ? self->call_timeout_ms : default_ms;
}

GPtrArray *
ecsa_plugin_registry_list(EcsaPluginRegistry *self, guint32 kind)
{
  GPtrArray *out = g_ptr_array_new();

  g_return_val_if_fail(self != NULL, out);
  for (guint i = 0; i < self->plugins->len; i++)
    {
      EcsaLoadedPlugin *p = g_ptr_array_index(self->plugins, i);

      if (kind == 0 || p->desc->kind == kind)
        g_ptr_array_add(out, p);
    }
  return out;
}

static EcsaLoadedPlugin *
lookup(EcsaPluginRegistry *self, guint32 kind, const char *name)
{
  for (guint i = 0; i < self->plugins->len; i++)
    {
      EcsaLoadedPlugin *p = g_ptr_array_index(self->plugins, i);

      if (p->desc->kind == kind && g_strcmp0(p->desc->name, name) == 0)
        return p;
    }
  return NULL;
}

gboolean
ecsa_plugin_registry_select(EcsaPluginRegistry *self, guint32 kind, const char *name, GError **error)
{
  EcsaLoadedPlugin *p;

  g_return_val_if_fail(self != NULL && name != NULL, FALSE);
  g_return_val_if_fail(kind == ECSA_PLUGIN_KIND_METRICS || kind == ECSA_PLUGIN_KIND_IMAGE_CLEANUP, FALSE);
  p = lookup(self, kind, name);
  if (p == NULL)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND, "no %s plugin '%s' is loaded",
                  ecsa_plugin_kind_to_string(kind), name);
      return FALSE;
    }
  self->selected[kind] = p;
  return TRUE;
}

const EcsaLoadedPlugin *
ecsa_plugin_registry_get_selected(EcsaPluginRegistry *self, guint32 kind)
{
  g_return_val_if_fail(self != NULL, NULL);
  g_return_val_if_fail(kind == ECSA_PLUGIN_KIND_METRICS || kind == ECSA_PLUGIN_KIND_IMAGE_CLEANUP, NULL);
  return first_of_kind(self, kind);
}

const EcsaLoadedPlugin *
ecsa_plugin_registry_lookup(EcsaPluginRegistry *self, guint32 kind, const char *name)
{
  g_return_val_if_fail(self != NULL, NULL);
  return lookup(self, kind, name);
}

/* The plugin used for a kind served by one plugin at a time (metrics, image cleanup): the one
 * selected, else the first loaded. */
static EcsaLoadedPlugin *
first_of_kind(EcsaPluginRegistry *self, guint32 kind)
{
  if (kind < G_N_ELEMENTS(self->selected) && self->selected[kind] != NULL)
    return self->selected[kind];
  for (guint i = 0; i < self->plugins->len; i++)
    {
      EcsaLoadedPlugin *p = g_ptr_array_index(self->plugins, i);

      if (p->desc->kind == kind)
        return p;
    }
  return NULL;
}

static EcsaLoadedPlugin *
find_log_driver(EcsaPluginRegistry *self, const char *driver)
{
  for (guint i = 0; driver != NULL && i < self->plugins->len; i++)
    {
      EcsaLoadedPlugin *p = g_ptr_array_index(self->plugins, i);

      if (p->desc->kind == ECSA_PLUGIN_KIND_LOG_DRIVER
          && g_strcmp0(((const EcsaLogDriverVTable *)p->desc->vtable)->driver, driver) == 0)
        return p;
    }
  return NULL;
}

static EcsaLoadedPlugin *
find_auth(EcsaPluginRegistry *self, const char *auth_type)
{
  for (guint i = 0; auth_type != NULL && i < self->plugins->len; i++)
    {
      EcsaLoadedPlugin *p = g_ptr_array_index(self->plugins, i);

      if (p->desc->kind == ECSA_PLUGIN_KIND_REGISTRY_AUTH
          && g_strcmp0(((const EcsaRegistryAuthVTable *)p->desc->vtable)->auth_type, auth_type) == 0)
        return p;
    }
  return NULL;
}

static EcsaLoadedPlugin *
find_network(EcsaPluginRegistry *self, const char *mode)
{
  for (guint i = 0; mode != NULL && i < self->plugins->len; i++)
    {
      EcsaLoadedPlugin *p = g_ptr_array_index(self->plugins, i);

      if (p->desc->kind == ECSA_PLUGIN_KIND_NETWORK
          && g_strv_contains((const char *const *)((const EcsaNetworkVTable *)p->desc->vtable)->modes, mode))
        return p;
    }
  return NULL;
}

const EcsaLoadedPlugin *
ecsa_plugin_registry_find_log_driver(EcsaPluginRegistry *self, const char *driver)
{
  g_return_val_if_fail(self != NULL, NULL);
  return find_log_driver(self, driver);
}

const EcsaLoadedPlugin *
ecsa_plugin_registry_find_auth(EcsaPluginRegistry *self, const char *auth_type)
{
  g_return_val_if_fail(self != NULL, NULL);
  return find_auth(self, auth_type);
}

const EcsaLoadedPlugin *
ecsa_plugin_registry_find_network(EcsaPluginRegistry *self, const char *mode)
{
  g_return_val_if_fail(self != NULL, NULL);
  return find_network(self, mode);
}

static const char *
plugin_origin(const EcsaLoadedPlugin *p)
{
  return p->path != NULL ? p->path : "the agent (built in)";
}

gboolean
ecsa_plugin_registry_check_unique(EcsaPluginRegistry *self, const EcsaPluginDescriptor *desc, GError **error)
{
  const EcsaLoadedPlugin *other = lookup(self, desc->kind, desc->name);

  if (other != NULL)
    {
      g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_DUPLICATE, "%s '%s' is already loaded from '%s'",
                  ecsa_plugin_kind_to_string(desc->kind), desc->name, plugin_origin(other));
      return FALSE;
    }
  switch (desc->kind)
    {
    case ECSA_PLUGIN_KIND_LOG_DRIVER:
      {
        const EcsaLogDriverVTable *vt = desc->vtable;

        other = find_log_driver(self, vt->driver);
        if (other != NULL)
          {
            g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_DUPLICATE,
                        "log driver '%s' is already served by log-driver '%s' from '%s'", vt->driver, other->desc->name,
                        plugin_origin(other));
            return FALSE;
          }
        break;
      }
    case ECSA_PLUGIN_KIND_REGISTRY_AUTH:
      {
        const EcsaRegistryAuthVTable *vt = desc->vtable;

        other = find_auth(self, vt->auth_type);
        if (other != NULL)
          {
            g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_DUPLICATE,
                        "registry auth type '%s' is already served by registry-auth '%s' from '%s'", vt->auth_type,
                        other->desc->name, plugin_origin(other));
            return FALSE;
          }
        break;
      }
    case ECSA_PLUGIN_KIND_NETWORK:
      {
        const EcsaNetworkVTable *vt = desc->vtable;

        for (guint i = 0; vt->modes[i] != NULL; i++)
          {
            other = find_network(self, vt->modes[i]);
            if (other != NULL)
              {
                g_set_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_DUPLICATE,
                            "network mode '%s' is already served by network '%s' from '%s'", vt->modes[i],
                            other->desc->name, plugin_origin(other));
                return FALSE;
              }
          }
        break;
      }
    default:
      break;
    }
  return TRUE;
}

void
ecsa_plugin_registry_add(EcsaPluginRegistry *self, EcsaLoadedPlugin *plugin)
{
  g_ptr_array_add(self->plugins, plugin);
}

void
ecsa_plugin_registry_keep_host(EcsaPluginRegistry *self, EcsaPluginHost *host)
{
  if (host != NULL)
    g_ptr_array_add(self->kept_hosts, host);
}

guint32
ecsa_loaded_plugin_get_kind(const EcsaLoadedPlugin *plugin)
{
  g_return_val_if_fail(plugin != NULL, 0);
  return plugin->desc->kind;
}

const char *
ecsa_loaded_plugin_get_name(const EcsaLoadedPlugin *plugin)
{
  g_return_val_if_fail(plugin != NULL, NULL);
  return plugin->desc->name;
}

const char *
ecsa_loaded_plugin_get_version(const EcsaLoadedPlugin *plugin)
{
  g_return_val_if_fail(plugin != NULL, NULL);
  return plugin->desc->version;
}

const char *
ecsa_loaded_plugin_get_path(const EcsaLoadedPlugin *plugin)
{
  g_return_val_if_fail(plugin != NULL, NULL);
  return plugin->path;
}

const EcsaPluginHost *
ecsa_loaded_plugin_get_host(const EcsaLoadedPlugin *plugin)
{
  g_return_val_if_fail(plugin != NULL, NULL);
  return plugin->host;
}

/* A slot failed: hand its error up prefixed with the plugin, or make one if it gave none. */
static void
propagate_plugin_error(const EcsaLoadedPlugin *p, const char *call, GError *local, GError **error)
{
  if (local == NULL)
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "%s '%s': %s failed without a reason",
                  ecsa_plugin_kind_to_string(p->desc->kind), p->desc->name, call);
      return;
    }
  if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_propagate_error(error, local);
      return;
    }
  g_propagate_prefixed_error(error, local, "%s '%s': ", ecsa_plugin_kind_to_string(p->desc->kind), p->desc->name);
}

/* ---- log driver --------------------------------------------------------------------------- */

/* Is the driver usable? The reason, unprefixed, when not. */
static gboolean
log_driver_usable(const EcsaLoadedPlugin *plugin, const char *const *docker_log_drivers, GError **error)
{
  static const char *const none[] = { NULL };
  const EcsaLogDriverVTable *vt = plugin->desc->vtable;

  if (docker_log_drivers == NULL)
    docker_log_drivers = none;
  if (ECSA_VTABLE_HAS(vt, 1, probe))
    {
      GError *local = NULL;

      if (!vt->probe(plugin->state, docker_log_drivers, &local))
        {
          if (local == NULL)
            local = g_error_new_literal(ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "probe failed without a reason");
          g_propagate_error(error, local);
          return FALSE;
        }
      g_clear_error(&local);
      return TRUE;
    }
  if (!g_strv_contains(docker_log_drivers, vt->driver))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "Docker does not list log driver '%s'", vt->driver);
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_plugin_registry_log_driver_probe(EcsaPluginRegistry *self, const EcsaLoadedPlugin *plugin,
                                      const char *const *docker_log_drivers, GError **error)
{
  GError *local = NULL;

  g_return_val_if_fail(self != NULL && plugin != NULL, FALSE);
  g_return_val_if_fail(plugin->desc->kind == ECSA_PLUGIN_KIND_LOG_DRIVER, FALSE);
  if (!log_driver_usable(plugin, docker_log_drivers, &local))
    {
      propagate_plugin_error(plugin, "probe", local, error);
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_plugin_registry_log_driver_prepare(EcsaPluginRegistry *self, const EcsaTaskView *task,
                                        const EcsaContainerView *container, GHashTable *options, GError **error)
{
  const EcsaLoadedPlugin *p;
  const EcsaLogDriverVTable *vt;
  GError *local = NULL;

  g_return_val_if_fail(self != NULL && container != NULL && options != NULL, FALSE);
  if (container->log_driver == NULL || container->log_driver[0] == '\0')
    return TRUE;
  p = find_log_driver(self, container->log_driver);
  if (p == NULL)
    return TRUE;
  vt = p->desc->vtable;
  if (ECSA_VTABLE_HAS(vt, 1, fill_defaults))
    {
      if (!vt->fill_defaults(p->state, task, container, options, &local))
        {
          propagate_plugin_error(p, "fill_defaults", local, error);
          return FALSE;
        }
      g_clear_error(&local);
    }
  if (ECSA_VTABLE_HAS(vt, 1, validate_options))
    {
      if (!vt->validate_options(p->state, options, &local))
        {
          propagate_plugin_error(p, "validate_options", local, error);
          return FALSE;
        }
      g_clear_error(&local);
    }
  return TRUE;
}

/* ---- asynchronous calls: a GTask of ours around the plugin's, with a guard timeout --------- */

typedef struct
{
  EcsaPluginRegistry *registry;     /* NULL once the registry is gone */
  EcsaLoadedPlugin *plugin;         /* NULL once the registry is gone: a late answer is dropped */
  GTask *task;                      /* the task this is the data of (not owned) */
  const char *call;                 /* "setup", for messages */
  GCancellable *plugin_cancellable; /* handed to the plugin; cancelled on timeout or cancellation */
  GSource *timeout_source;
  GSource *cancel_source;
  guint timeout_ms;
  gboolean returned;
} PluginCall;

static void
plugin_call_drop_sources(PluginCall *c)
{
  if (c->timeout_source != NULL)
    g_source_destroy(c->timeout_source);
  g_clear_pointer(&c->timeout_source, g_source_unref);
  if (c->cancel_source != NULL)
    g_source_destroy(c->cancel_source);
  g_clear_pointer(&c->cancel_source, g_source_unref);
}

static void
plugin_call_free(PluginCall *c)
{
  plugin_call_drop_sources(c);
  if (c->registry != NULL)
    g_hash_table_remove(c->registry->calls, c);
  g_clear_object(&c->plugin_cancellable);
  g_free(c);
}

/* Marks the call answered; FALSE when it already was (a late result from the plugin). The caller
 * holds a reference on the task. */
static gboolean
plugin_call_claim(GTask *task)
{
  PluginCall *c = g_task_get_task_data(task);

  if (c->returned)
    return FALSE;
  c->returned = TRUE;
  plugin_call_drop_sources(c);
  return TRUE;
}

static gboolean
plugin_call_timeout_cb(gpointer user_data)
{
  g_autoptr(GTask) task = g_object_ref(G_TASK(user_data));
  PluginCall *c = g_task_get_task_data(task);
  const EcsaLoadedPlugin *p = c->plugin;
  guint timeout_ms = c->timeout_ms;

  if (!plugin_call_claim(task))
    return G_SOURCE_REMOVE;
  g_cancellable_cancel(c->plugin_cancellable);
  g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_TIMEOUT, "%s '%s': %s did not complete within %u ms",
                          ecsa_plugin_kind_to_string(p->desc->kind), p->desc->name, c->call, timeout_ms);
  return G_SOURCE_REMOVE;
}

static gboolean
plugin_call_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
  g_autoptr(GTask) task = g_object_ref(G_TASK(user_data));
  PluginCall *c = g_task_get_task_data(task);

  if (!plugin_call_claim(task))
    return G_SOURCE_REMOVE;
  g_cancellable_cancel(c->plugin_cancellable);
  g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  return G_SOURCE_REMOVE;
}

/* The registry goes away (agent shutdown): answer the calls still waiting for a plugin, and make
 * the plugins' late answers no-ops (their state is shut down: nothing of them may be called). */
static void
plugin_calls_orphan(EcsaPluginRegistry *self)
{
  g_autoptr(GList) calls = g_hash_table_get_keys(self->calls);

  for (GList *l = calls; l != NULL; l = l->next)
    {
      PluginCall *c = l->data;

      c->registry = NULL;
      c->plugin = NULL;
    }
  g_hash_table_remove_all(self->calls);
  for (GList *l = calls; l != NULL; l = l->next)
    {
      PluginCall *c = l->data;

      if (c->task != NULL)
        {
          g_autoptr(GTask) task = g_object_ref(c->task);

          if (plugin_call_claim(task))
            g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the agent is shutting down");
        }
    }
}

/* A task for one call of `p`; the caller hands g_object_ref (task) to the plugin as user_data. */
static GTask *
plugin_call_new(EcsaPluginRegistry *self, EcsaLoadedPlugin *p, const char *call, guint timeout_ms,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  GTask *task = g_task_new(NULL, cancellable, callback, user_data);
  PluginCall *c = g_new0(PluginCall, 1);
  GMainContext *context = g_task_get_context(task);

  g_task_set_source_tag(task, source_tag);
  g_task_set_task_data(task, c, (GDestroyNotify)plugin_call_free);
  c->registry = self;
  c->plugin = p;
  c->task = task;
  c->call = call;
  g_hash_table_add(self->calls, c);
  c->timeout_ms = call_timeout(self, timeout_ms);
  c->plugin_cancellable = g_cancellable_new();

  c->timeout_source = g_timeout_source_new(c->timeout_ms);
  g_source_set_name(c->timeout_source, "ecsa plugin call timeout");
  g_source_set_callback(c->timeout_source, plugin_call_timeout_cb, g_object_ref(task), g_object_unref);
  g_source_attach(c->timeout_source, context);
  if (cancellable != NULL)
    {
      c->cancel_source = g_cancellable_source_new(cancellable);
      g_source_set_callback(c->cancel_source, G_SOURCE_FUNC(plugin_call_cancelled_cb), g_object_ref(task),
                            g_object_unref);
      g_source_attach(c->cancel_source, context);
    }
  return task;
}

static void
plugin_call_return_error(GTask *task, GError *local)
{
  PluginCall *c = g_task_get_task_data(task);
  GError *error = NULL;

  propagate_plugin_error(c->plugin, c->call, local, &error);
  g_task_return_error(task, error);
}

static GTask *
immediate_task(GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  GTask *task = g_task_new(NULL, cancellable, callback, user_data);

  g_task_set_source_tag(task, source_tag);
  return task;
}

static gboolean
result_is_ours(GAsyncResult *result, gpointer source_tag)
{
  return g_task_is_valid(result, NULL) && g_async_result_is_tagged(result, source_tag);
}

/* ---- registry auth ------------------------------------------------------------------------ */

static void
auth_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  PluginCall *c = g_task_get_task_data(task);
  const EcsaRegistryAuthVTable *vt;
  GError *local = NULL;
  g_autoptr(EcsaRegistryCredentials) creds = NULL;

  if (c->plugin == NULL) /* the registry is gone and the plugin shut down: drop the late answer */
    return;
  vt = c->plugin->desc->vtable;
  creds = vt->get_credentials_finish(c->plugin->state, result, &local);
  /* first of all, even for a late answer: it may be logged from now on */
  if (creds != NULL && creds->struct_size >= sizeof(EcsaRegistryCredentials) && c->registry != NULL)
    auth_secrets_register(c->registry, creds);

  if (!plugin_call_claim(task))
    {
      g_clear_error(&local);
      return;
    }
  if (creds == NULL && local != NULL)
    {
      plugin_call_return_error(task, local);
      return;
    }
  g_clear_error(&local);
  if (creds != NULL && creds->struct_size < sizeof(EcsaRegistryCredentials))
    {
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_FAILED,
                              "%s '%s': get_credentials returned credentials of %u bytes, expected %zu "
                              "(struct_size not set?)",
                              ecsa_plugin_kind_to_string(c->plugin->desc->kind), c->plugin->desc->name,
                              creds->struct_size, sizeof(EcsaRegistryCredentials));
      return;
    }
  g_task_return_pointer(task, g_steal_pointer(&creds), (GDestroyNotify)ecsa_registry_credentials_free);
}

void
ecsa_plugin_registry_auth_get_credentials_async(EcsaPluginRegistry *self, const EcsaAuthRequest *req,
                                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                                gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  EcsaLoadedPlugin *p;
  const EcsaRegistryAuthVTable *vt;

  g_return_if_fail(self != NULL && req != NULL);
  if (req->auth_type == NULL || req->auth_type[0] == '\0')
    {
      task = immediate_task(cancellable, callback, user_data, ecsa_plugin_registry_auth_get_credentials_async);
      g_task_return_pointer(task, NULL, NULL);
      return;
    }
  p = find_auth(self, req->auth_type);
  if (p == NULL)
    {
      task = immediate_task(cancellable, callback, user_data, ecsa_plugin_registry_auth_get_credentials_async);
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                              "registry auth type '%s': no registry-auth plugin serves it", req->auth_type);
      return;
    }
  vt = p->desc->vtable;
  task = plugin_call_new(self, p, "get_credentials", AUTH_TIMEOUT_MS, cancellable, callback, user_data,
                         ecsa_plugin_registry_auth_get_credentials_async);
  vt->get_credentials_async(p->state, req, ((PluginCall *)g_task_get_task_data(task))->plugin_cancellable,
                            auth_ready_cb, g_object_ref(task));
}

EcsaRegistryCredentials *
ecsa_plugin_registry_auth_get_credentials_finish(EcsaPluginRegistry *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(result_is_ours(result, ecsa_plugin_registry_auth_get_credentials_async), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

void
ecsa_plugin_registry_auth_invalidate(EcsaPluginRegistry *self, const EcsaAuthRequest *req)
{
  const EcsaLoadedPlugin *p;
  const EcsaRegistryAuthVTable *vt;

  g_return_if_fail(self != NULL && req != NULL);
  p = find_auth(self, req->auth_type);
  if (p == NULL)
    return;
  vt = p->desc->vtable;
  if (ECSA_VTABLE_HAS(vt, 1, invalidate))
    vt->invalidate(p->state, req);
}

/* ---- network ------------------------------------------------------------------------------ */

static void
network_check_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  PluginCall *c = g_task_get_task_data(task);
  const EcsaNetworkVTable *vt;
  GError *local = NULL;
  gboolean ok;

  if (c->plugin == NULL) /* the registry is gone and the plugin shut down: drop the late answer */
    return;
  vt = c->plugin->desc->vtable;
  ok = vt->check_finish(c->plugin->state, result, &local);

  if (!plugin_call_claim(task))
    {
      g_clear_error(&local);
      return;
    }
  if (!ok)
    {
      plugin_call_return_error(task, local);
      return;
    }
  g_clear_error(&local);
  c->plugin->checked = TRUE;
  g_task_return_boolean(task, TRUE);
}

void
ecsa_plugin_registry_network_check_async(EcsaPluginRegistry *self, const char *mode, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  EcsaLoadedPlugin *p;
  const EcsaNetworkVTable *vt;

  g_return_if_fail(self != NULL && mode != NULL);
  p = find_network(self, mode);
  if (p == NULL)
    {
      task = immediate_task(cancellable, callback, user_data, ecsa_plugin_registry_network_check_async);
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                              "network mode '%s': no network plugin serves it", mode);
      return;
    }
  vt = p->desc->vtable;
  if (!ECSA_VTABLE_HAS(vt, 1, check_async))
    {
      p->checked = TRUE;
      task = immediate_task(cancellable, callback, user_data, ecsa_plugin_registry_network_check_async);
      g_task_return_boolean(task, TRUE);
      return;
    }
  task = plugin_call_new(self, p, "check", CHECK_TIMEOUT_MS, cancellable, callback, user_data,
                         ecsa_plugin_registry_network_check_async);
  vt->check_async(p->state, ((PluginCall *)g_task_get_task_data(task))->plugin_cancellable, network_check_ready_cb,
                  g_object_ref(task));
}

gboolean
ecsa_plugin_registry_network_check_finish(EcsaPluginRegistry *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(result_is_ours(result, ecsa_plugin_registry_network_check_async), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

static void
network_setup_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  PluginCall *c = g_task_get_task_data(task);
  const EcsaNetworkVTable *vt;
  GError *local = NULL;
  g_autoptr(EcsaNetworkResult) res = NULL;

  if (c->plugin == NULL) /* the registry is gone and the plugin shut down: drop the late answer */
    return;
  vt = c->plugin->desc->vtable;
  res = vt->setup_finish(c->plugin->state, result, &local);

  if (!plugin_call_claim(task))
    {
      g_clear_error(&local);
      return;
    }
  if (res == NULL)
    {
      plugin_call_return_error(task, local);
      return;
    }
  g_clear_error(&local);
  if (res->struct_size < sizeof(EcsaNetworkResult))
    {
      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_FAILED,
                              "%s '%s': setup returned a result of %u bytes, expected %zu (struct_size not set?)",
                              ecsa_plugin_kind_to_string(c->plugin->desc->kind), c->plugin->desc->name,
                              res->struct_size, sizeof(EcsaNetworkResult));
      return;
    }
  g_task_return_pointer(task, g_steal_pointer(&res), (GDestroyNotify)ecsa_network_result_free);
}

static void
network_boolean_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  PluginCall *c = g_task_get_task_data(task);
  const EcsaNetworkVTable *vt;
  GError *local = NULL;
  gboolean ok;

  if (c->plugin == NULL) /* the registry is gone and the plugin shut down: drop the late answer */
    return;
  vt = c->plugin->desc->vtable;
  if (g_async_result_is_tagged(G_ASYNC_RESULT(task), ecsa_plugin_registry_network_teardown_async))
    ok = vt->teardown_finish(c->plugin->state, result, &local);
  else
    ok = vt->release_finish(c->plugin->state, result, &local);
  if (!plugin_call_claim(task))
    {
      g_clear_error(&local);
      return;
    }
  if (!ok)
    {
      plugin_call_return_error(task, local);
      return;
    }
  g_clear_error(&local);
  g_task_return_boolean(task, TRUE);
}

/* The plugin serving req->network_mode, or NULL after returning NOT_SUPPORTED on a new task. */
static EcsaLoadedPlugin *
network_for_request(EcsaPluginRegistry *self, const EcsaNetworkRequest *req, GCancellable *cancellable,
                    GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  EcsaLoadedPlugin *p = find_network(self, req->network_mode);

  if (p == NULL)
    {
      g_autoptr(GTask) task = immediate_task(cancellable, callback, user_data, source_tag);

      g_task_return_new_error(task, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED,
                              "network mode '%s': no network plugin serves it",
                              req->network_mode != NULL ? req->network_mode : "(none)");
    }
  return p;
}

void
ecsa_plugin_registry_network_setup_async(EcsaPluginRegistry *self, const EcsaNetworkRequest *req,
                                         GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  EcsaLoadedPlugin *p;

  g_return_if_fail(self != NULL && req != NULL);
  p = network_for_request(self, req, cancellable, callback, user_data, ecsa_plugin_registry_network_setup_async);
  if (p == NULL)
    return;
  task = plugin_call_new(self, p, "setup", SETUP_TIMEOUT_MS, cancellable, callback, user_data,
                         ecsa_plugin_registry_network_setup_async);
  ((const EcsaNetworkVTable *)p->desc->vtable)
    ->setup_async(p->state, req, ((PluginCall *)g_task_get_task_data(task))->plugin_cancellable, network_setup_ready_cb,
                  g_object_ref(task));
}

EcsaNetworkResult *
ecsa_plugin_registry_network_setup_finish(EcsaPluginRegistry *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(result_is_ours(result, ecsa_plugin_registry_network_setup_async), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

void
ecsa_plugin_registry_network_teardown_async(EcsaPluginRegistry *self, const EcsaNetworkRequest *req,
                                            GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  EcsaLoadedPlugin *p;

  g_return_if_fail(self != NULL && req != NULL);
  p = network_for_request(self, req, cancellable, callback, user_data, ecsa_plugin_registry_network_teardown_async);
  if (p == NULL)
    return;
  task = plugin_call_new(self, p, "teardown", TEARDOWN_TIMEOUT_MS, cancellable, callback, user_data,
                         ecsa_plugin_registry_network_teardown_async);
  ((const EcsaNetworkVTable *)p->desc->vtable)
    ->teardown_async(p->state, req, ((PluginCall *)g_task_get_task_data(task))->plugin_cancellable,
                     network_boolean_ready_cb, g_object_ref(task));
}

gboolean
ecsa_plugin_registry_network_teardown_finish(EcsaPluginRegistry *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(result_is_ours(result, ecsa_plugin_registry_network_teardown_async), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

void
ecsa_plugin_registry_network_release_async(EcsaPluginRegistry *self, const EcsaNetworkRequest *req,
                                           GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  EcsaLoadedPlugin *p;
  const EcsaNetworkVTable *vt;

  g_return_if_fail(self != NULL && req != NULL);
  p = network_for_request(self, req, cancellable, callback, user_data, ecsa_plugin_registry_network_release_async);
  if (p == NULL)
    return;
  vt = p->desc->vtable;
  if (!ECSA_VTABLE_HAS(vt, 1, release_async))
    {
      /* A plugin without release() holds nothing outside the namespace. */
      task = immediate_task(cancellable, callback, user_data, ecsa_plugin_registry_network_release_async);
      g_task_return_boolean(task, TRUE);
      return;
    }
  task = plugin_call_new(self, p, "release", RELEASE_TIMEOUT_MS, cancellable, callback, user_data,
                         ecsa_plugin_registry_network_release_async);
  vt->release_async(p->state, req, ((PluginCall *)g_task_get_task_data(task))->plugin_cancellable,
                    network_boolean_ready_cb, g_object_ref(task));
}

gboolean
ecsa_plugin_registry_network_release_finish(EcsaPluginRegistry *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(result_is_ours(result, ecsa_plugin_registry_network_release_async), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- metrics ------------------------------------------------------------------------------ */

gboolean
ecsa_plugin_registry_has_metrics(EcsaPluginRegistry *self)
{
  g_return_val_if_fail(self != NULL, FALSE);
  return first_of_kind(self, ECSA_PLUGIN_KIND_METRICS) != NULL;
}

void
ecsa_plugin_registry_metrics_container_started(EcsaPluginRegistry *self, const EcsaTaskView *task,
                                               const EcsaContainerView *container)
{
  const EcsaLoadedPlugin *p;
  const EcsaMetricsVTable *vt;

  g_return_if_fail(self != NULL && task != NULL && container != NULL);
  p = first_of_kind(self, ECSA_PLUGIN_KIND_METRICS);
  if (p == NULL)
    return;
  vt = p->desc->vtable;
  if (ECSA_VTABLE_HAS(vt, 1, container_started))
    vt->container_started(p->state, task, container);
}

void
ecsa_plugin_registry_metrics_container_stopped(EcsaPluginRegistry *self, const char *docker_id)
{
  const EcsaLoadedPlugin *p;
  const EcsaMetricsVTable *vt;

  g_return_if_fail(self != NULL && docker_id != NULL);
  p = first_of_kind(self, ECSA_PLUGIN_KIND_METRICS);
  if (p == NULL)
    return;
  vt = p->desc->vtable;
  if (ECSA_VTABLE_HAS(vt, 1, container_stopped))
    vt->container_stopped(p->state, docker_id);
}

/* NULL when `m` is well formed, else what is wrong with it. */
static const char *
task_metrics_problem(const EcsaTaskMetrics *m)
{
  if (m == NULL)
    return "a NULL entry";
  if (m->struct_size < sizeof(EcsaTaskMetrics))
    return "an entry without struct_size";
  if (m->task_arn == NULL || m->family == NULL || m->version == NULL)
    return "an entry without task_arn, family or version";
  if (m->n_containers > 0 && m->containers == NULL)
    return "an entry without containers";
  for (guint i = 0; i < m->n_containers; i++)
    {
      const EcsaContainerMetrics *cm = m->containers[i];

      if (cm == NULL || cm->struct_size < sizeof(EcsaContainerMetrics) || cm->container_name == NULL)
        return "a container entry without struct_size or container_name";
    }
  return NULL;
}

GPtrArray *
ecsa_plugin_registry_metrics_collect(EcsaPluginRegistry *self)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_task_metrics_free);
  const EcsaLoadedPlugin *p;
  const EcsaMetricsVTable *vt;
  GPtrArray *got;
  gpointer *entries;
  gsize n = 0;

  g_return_val_if_fail(self != NULL, out);
  p = first_of_kind(self, ECSA_PLUGIN_KIND_METRICS);
  if (p == NULL)
    return out;
  vt = p->desc->vtable;
  if (!ECSA_VTABLE_HAS(vt, 1, collect))
    return out;
  got = vt->collect(p->state);
  if (got == NULL)
    return out;
  entries = g_ptr_array_steal(got, &n);
  g_ptr_array_unref(got);
  for (gsize i = 0; i < n; i++)
    {
      EcsaTaskMetrics *m = entries[i];
      const char *problem = task_metrics_problem(m);

      if (problem != NULL)
        {
          g_warning("metrics '%s': collect returned %s, ignoring it", p->desc->name, problem);
          ecsa_task_metrics_free(m);
          continue;
        }
      g_ptr_array_add(out, m);
    }
  g_free(entries);
  return out;
}

/* ---- image cleanup ------------------------------------------------------------------------ */

GPtrArray *
ecsa_plugin_registry_image_cleanup_choose(EcsaPluginRegistry *self, const EcsaImageView *const *images, guint n_images,
                                          const EcsaImageCleanupPolicy *policy, GError **error)
{
  const EcsaLoadedPlugin *p;
  const EcsaImageCleanupVTable *vt;
  g_autoptr(GPtrArray) chosen = NULL;
  g_autoptr(GHashTable) known = NULL;
  GPtrArray *out;

  g_return_val_if_fail(self != NULL && policy != NULL, NULL);
  g_return_val_if_fail(images != NULL || n_images == 0, NULL);
  p = first_of_kind(self, ECSA_PLUGIN_KIND_IMAGE_CLEANUP);
  if (p == NULL)
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "no image-cleanup plugin is loaded");
      return NULL;
    }
  out = g_ptr_array_new_with_free_func(g_free);
  vt = p->desc->vtable;
  if (!ECSA_VTABLE_HAS(vt, 1, choose) || n_images == 0 || policy->max_delete == 0)
    return out;
  chosen = vt->choose(p->state, images, n_images, policy);
  if (chosen == NULL)
    return out;
  known = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < n_images; i++)
    if (images[i]->image_id != NULL)
      g_hash_table_add(known, (gpointer)images[i]->image_id);
  for (guint i = 0; i < chosen->len; i++)
    {
      const char *id = g_ptr_array_index(chosen, i);

      if (id == NULL || !g_hash_table_contains(known, id))
        {
          g_warning("image-cleanup '%s': chose '%s', which is not among the images offered, ignoring it", p->desc->name,
                    id != NULL ? id : "(null)");
          continue;
        }
      if (out->len >= policy->max_delete)
        {
          g_warning("image-cleanup '%s': chose more than %u images, ignoring the rest", p->desc->name,
                    policy->max_delete);
          break;
        }
      /* each ID once: remove it from the offered set */
      g_hash_table_remove(known, id);
      g_ptr_array_add(out, g_strdup(id));
    }
  return out;
}

/* ---- registration attributes -------------------------------------------------------------- */

#define CAP_PREFIX "com.amazonaws.ecs.capability."
#define ATTR_PREFIX "ecs.capability."
#define LOGGING_DRIVER_PREFIX CAP_PREFIX "logging-driver."

char **
ecsa_plugin_registry_parse_docker_log_drivers(GBytes *info, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GPtrArray) drivers = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GError) local = NULL;
  JsonNode *root, *member;
  JsonObject *plugins;
  JsonArray *log;
  gsize len = 0;
  const char *data;

  g_return_val_if_fail(info != NULL, NULL);
  data = g_bytes_get_data(info, &len);
  if (!json_parser_load_from_data(parser, data != NULL ? data : "", (gssize)len, &local))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "Docker /info: %s", local->message);
      return NULL;
    }
  root = json_parser_get_root(parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
    {
      g_set_error_literal(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "Docker /info: not a JSON object");
      return NULL;
    }
  member = json_object_get_member(json_node_get_object(root), "Plugins");
  plugins = member != NULL && JSON_NODE_HOLDS_OBJECT(member) ? json_node_get_object(member) : NULL;
  member = plugins != NULL ? json_object_get_member(plugins, "Log") : NULL;
  log = member != NULL && JSON_NODE_HOLDS_ARRAY(member) ? json_node_get_array(member) : NULL;
  for (guint i = 0; log != NULL && i < json_array_get_length(log); i++)
    {
      JsonNode *n = json_array_get_element(log, i);

      if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
        g_ptr_array_add(drivers, g_strdup(json_node_get_string(n)));
    }
  g_ptr_array_add(drivers, NULL);
  return (char **)g_ptr_array_free(g_steal_pointer(&drivers), FALSE);
}

void
ecsa_plugin_attribute_free(EcsaPluginAttribute *attribute)
{
  if (attribute == NULL)
    return;
  g_free(attribute->name);
  g_free(attribute->value);
  g_free(attribute);
}

typedef enum
{
  GATE_NONE,
  GATE_AGENT_OWNED,     /* the agent registers it itself */
  GATE_DOCKER_1_19,     /* Docker API >= 1.19 */
  GATE_AWSLOGS_ROLE,    /* override_awslogs_execution_role */
  GATE_TASK_ENI,        /* task_eni_enabled */
  GATE_TASK_ENI_NO_IMDS /* task_eni_enabled && awsvpc_block_imds */
} Gate;

static Gate
gate_for(const char *name)
{
  static const struct
  {
    const char *name;
    Gate gate;
  } rules[] = {
    { CAP_PREFIX "privileged-container", GATE_AGENT_OWNED },
    { CAP_PREFIX "selinux", GATE_AGENT_OWNED },
    { CAP_PREFIX "apparmor", GATE_AGENT_OWNED },
    { CAP_PREFIX "task-iam-role", GATE_AGENT_OWNED },
    { CAP_PREFIX "task-iam-role-network-host", GATE_AGENT_OWNED },
    { ATTR_PREFIX "task-cpu-mem-limit", GATE_AGENT_OWNED },
    { "ecs.vpc-id", GATE_AGENT_OWNED },
    { "ecs.subnet-id", GATE_AGENT_OWNED },
    { CAP_PREFIX "ecr-auth", GATE_DOCKER_1_19 },
    { ATTR_PREFIX "execution-role-ecr-pull", GATE_DOCKER_1_19 },
    { ATTR_PREFIX "execution-role-awslogs", GATE_AWSLOGS_ROLE },
    { ATTR_PREFIX "task-eni", GATE_TASK_ENI },
    { ATTR_PREFIX "cni-plugin-version", GATE_TASK_ENI },
    { ATTR_PREFIX "task-eni-block-instance-metadata", GATE_TASK_ENI_NO_IMDS },
  };

  if (g_str_has_prefix(name, CAP_PREFIX "docker-remote-api."))
    return GATE_AGENT_OWNED;
  for (guint i = 0; i < G_N_ELEMENTS(rules); i++)
    if (strcmp(name, rules[i].name) == 0)
      return rules[i].gate;
  return GATE_NONE;
}

/* "1.41" -> 1041; -1 when malformed. */
static gint
api_version_parse(const char *text)
{
  guint64 major, minor;
  char *end;

  if (text == NULL || !g_ascii_isdigit(text[0]))
    return -1;
  major = g_ascii_strtoull(text, &end, 10);
  if (*end != '.' || !g_ascii_isdigit(end[1]))
    return -1;
  minor = g_ascii_strtoull(end + 1, &end, 10);
  if (*end != '\0' || major > 1000 || minor > 999)
    return -1;
  return (gint)(major * 1000 + minor);
}

static gboolean
docker_api_at_least(const EcsaCapabilityInputs *in, const char *required)
{
  gint have = api_version_parse(in->docker_api_version);
  gint need = api_version_parse(required);

  return have >= 0 && need >= 0 && have >= need;
}

/* ECS attribute names: up to 128 letters, digits, '-', '_', '/', '\\' or '.'. */
static gboolean
attribute_name_is_valid(const char *name)
{
  gsize len = name != NULL ? strlen(name) : 0;

  if (len == 0 || len > 128)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum(name[i]) && strchr("-_/\\.", name[i]) == NULL)
      return FALSE;
  return TRUE;
}

/* ECS attribute values: up to 128 letters, digits, '-', '_', '.', '@', '/', '\\', ':' or ' ', not
 * starting or ending with a space. */
static gboolean
attribute_value_is_valid(const char *value)
{
  gsize len = value != NULL ? strlen(value) : 0;

  if (len == 0 || len > 128 || value[0] == ' ' || value[len - 1] == ' ')
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum(value[i]) && strchr("-_.@/\\: ", value[i]) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
gate_allows(Gate gate, const EcsaCapabilityInputs *in)
{
  switch (gate)
    {
    case GATE_NONE:
      return TRUE;
    case GATE_AGENT_OWNED:
      return FALSE;
    case GATE_DOCKER_1_19:
      return docker_api_at_least(in, "1.19");
    case GATE_AWSLOGS_ROLE:
      return in->override_awslogs_execution_role;
    case GATE_TASK_ENI:
      return in->task_eni_enabled;
    case GATE_TASK_ENI_NO_IMDS:
      return in->task_eni_enabled && in->awsvpc_block_imds;
    default:
      return FALSE;
    }
}

/* Is the log-driver capability `name` of plugin p to be offered? */
static gboolean
log_driver_capability_allowed(EcsaPluginRegistry *self, const EcsaLoadedPlugin *p, const char *name,
                              const EcsaCapabilityInputs *in)
{
  const char *driver = name + strlen(LOGGING_DRIVER_PREFIX);
  const EcsaLogDriverVTable *vt;
  g_autoptr(GError) error = NULL;

  if (p->desc->kind != ECSA_PLUGIN_KIND_LOG_DRIVER
      || g_strcmp0(((const EcsaLogDriverVTable *)p->desc->vtable)->driver, driver) != 0)
    {
      g_warning("%s '%s': declares capability '%s' for a log driver it does not serve, ignoring it",
                ecsa_plugin_kind_to_string(p->desc->kind), p->desc->name, name);
      return FALSE;
    }
  vt = p->desc->vtable;
  if (in->available_logging_drivers == NULL || !g_strv_contains(in->available_logging_drivers, driver))
    {
      g_debug("log driver '%s' not offered: not in ECS_AVAILABLE_LOGGING_DRIVERS", driver);
      return FALSE;
    }
  if (vt->min_docker_api_version != NULL && !docker_api_at_least(in, vt->min_docker_api_version))
    {
      g_info("log driver '%s' not offered: it needs Docker API %s, Docker provides %s", driver,
             vt->min_docker_api_version, in->docker_api_version != NULL ? in->docker_api_version : "(unknown)");
      return FALSE;
    }
  if (!log_driver_usable(p, in->docker_log_drivers, &error))
    {
      g_info("log driver '%s' not offered: %s", driver, error->message);
      return FALSE;
    }
  return TRUE;
}

static void
add_attribute(GPtrArray *out, GHashTable *seen, const char *name, const char *value)
{
  EcsaPluginAttribute *attr;

  if (g_hash_table_contains(seen, name))
    return;
  attr = g_new0(EcsaPluginAttribute, 1);
  attr->name = g_strdup(name);
  attr->value = g_strdup(value);
  g_hash_table_add(seen, attr->name);
  g_ptr_array_add(out, attr);
}

static gboolean
attribute_allowed(EcsaPluginRegistry *self, const EcsaLoadedPlugin *p, const char *name, const char *value,
                  const EcsaCapabilityInputs *in)
{
  Gate gate;

  if (!attribute_name_is_valid(name) || (value != NULL && !attribute_value_is_valid(value)))
    {
      g_warning("%s '%s': attribute '%s' is not a valid ECS attribute, ignoring it",
                ecsa_plugin_kind_to_string(p->desc->kind), p->desc->name, name != NULL ? name : "(null)");
      return FALSE;
    }
  if (g_str_has_prefix(name, LOGGING_DRIVER_PREFIX))
    return log_driver_capability_allowed(self, p, name, in);
  gate = gate_for(name);
  if (gate == GATE_AGENT_OWNED)
    {
      g_warning("%s '%s': attribute '%s' is the agent's own, ignoring it", ecsa_plugin_kind_to_string(p->desc->kind),
                p->desc->name, name);
      return FALSE;
    }
  return gate_allows(gate, in);
}

GPtrArray *
ecsa_plugin_registry_capabilities(EcsaPluginRegistry *self, const EcsaCapabilityInputs *inputs)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_plugin_attribute_free);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

  g_return_val_if_fail(self != NULL && inputs != NULL, out);
  for (guint i = 0; i < self->plugins->len; i++)
    {
      const EcsaLoadedPlugin *p = g_ptr_array_index(self->plugins, i);

      /* a network plugin contributes only once the agent enabled its mode and checked it */
      if (p->desc->kind == ECSA_PLUGIN_KIND_NETWORK && !p->checked)
        continue;
      for (guint j = 0; p->desc->capabilities != NULL && p->desc->capabilities[j] != NULL; j++)
        {
          const char *name = p->desc->capabilities[j];

          if (attribute_allowed(self, p, name, NULL, inputs))
            add_attribute(out, seen, name, NULL);
        }
      if (p->desc->kind == ECSA_PLUGIN_KIND_NETWORK)
        {
          const EcsaNetworkVTable *vt = p->desc->vtable;
          g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(g_free);

          if (!ECSA_VTABLE_HAS(vt, 1, attributes))
            continue;
          vt->attributes(p->state, pairs);
          if (pairs->len % 2 != 0)
            {
              g_warning("network '%s': attributes() gave an odd number of strings, ignoring them", p->desc->name);
              continue;
            }
          for (guint j = 0; j < pairs->len; j += 2)
            {
              const char *name = g_ptr_array_index(pairs, j);
              const char *value = g_ptr_array_index(pairs, j + 1);

              if (attribute_allowed(self, p, name, value, inputs))
                add_attribute(out, seen, name, value);
            }
        }
    }
  return out;
}

/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-proxy.h"

#include <string.h>

struct _EcsaProxyResolver
{
  GObject parent_instance;

  char *http_proxy;  /* normalized URI, NULL: none */
  char *https_proxy; /* likewise */
  gboolean no_proxy_all;
  GStrv no_proxy; /* lower-case entries without port */
};

static void ecsa_proxy_resolver_iface_init (GProxyResolverInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (EcsaProxyResolver, ecsa_proxy_resolver, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_PROXY_RESOLVER, ecsa_proxy_resolver_iface_init))

/* Go: a value that does not parse as a URL with an http(s) scheme is tried again as http://value. */
static char *
normalize_proxy (const char *value)
{
  g_autofree char *scheme = NULL;

  if (value == NULL || *value == '\0')
    return NULL;
  scheme = g_uri_parse_scheme (value);
  if (scheme != NULL && g_uri_is_valid (value, G_URI_FLAGS_NONE, NULL)
      && (g_str_has_prefix (scheme, "http") || g_str_has_prefix (scheme, "socks")))
    return g_strdup (value);
  return g_strconcat ("http://", value, NULL);
}

/* "host:port" -> "host"; "[::1]:80" -> "::1"; lower case. */
static char *
strip_port (const char *entry)
{
  g_autofree char *lower = g_ascii_strdown (entry, -1);
  char *colon;

  if (lower[0] == '[')
    {
      char *end = strchr (lower, ']');

      if (end != NULL)
        *end = '\0';
      return g_strdup (lower + 1);
    }
  colon = strrchr (lower, ':');
  /* one colon: a port; more: a bare IPv6 address */
  if (colon != NULL && strchr (lower, ':') == colon)
    *colon = '\0';
  return g_steal_pointer (&lower);
}

EcsaProxyResolver *
ecsa_proxy_resolver_new (const char *http_proxy, const char *https_proxy, const char *no_proxy,
                         const char *docker_host)
{
  EcsaProxyResolver *self = g_object_new (ECSA_TYPE_PROXY_RESOLVER, NULL);
  g_autofree char *defaults = NULL;
  g_auto(GStrv) entries = NULL;
  g_autoptr(GPtrArray) kept = g_ptr_array_new ();

  self->http_proxy = normalize_proxy (http_proxy);
  self->https_proxy = normalize_proxy (https_proxy);
  if (no_proxy == NULL)
    no_proxy = defaults = docker_host != NULL && *docker_host != '\0'
                            ? g_strconcat (ECSA_PROXY_DEFAULT_NO_PROXY ",", docker_host, NULL)
                            : g_strdup (ECSA_PROXY_DEFAULT_NO_PROXY);
  entries = g_strsplit (no_proxy, ",", -1);
  for (guint i = 0; entries[i] != NULL; i++)
    {
      char *entry = g_strstrip (entries[i]);

      if (*entry == '\0')
        continue;
      if (strcmp (entry, "*") == 0)
        self->no_proxy_all = TRUE;
      g_ptr_array_add (kept, strip_port (entry));
    }
  g_ptr_array_add (kept, NULL);
  self->no_proxy = (GStrv) g_ptr_array_steal (kept, NULL);
  return self;
}

/* Go 1.9's useProxy, for a host without port. */
static gboolean
use_proxy (EcsaProxyResolver *self, const char *host)
{
  g_autofree char *addr = g_ascii_strdown (host, -1);
  g_autoptr(GInetAddress) ip = NULL;
  gsize addr_len = strlen (addr);

  if (addr_len == 0 || strcmp (addr, "localhost") == 0)
    return FALSE;
  ip = g_inet_address_new_from_string (addr);
  if (ip != NULL && g_inet_address_get_is_loopback (ip))
    return FALSE;
  if (self->no_proxy_all)
    return FALSE;
  for (guint i = 0; self->no_proxy[i] != NULL; i++)
    {
      const char *p = self->no_proxy[i];
      gsize p_len = strlen (p);

      if (p_len == 0)
        continue;
      if (strcmp (addr, p) == 0)
        return FALSE;
      if (p[0] == '.' && (g_str_has_suffix (addr, p) || strcmp (addr, p + 1) == 0))
        return FALSE;
      if (p[0] != '.' && addr_len > p_len && g_str_has_suffix (addr, p) && addr[addr_len - p_len - 1] == '.')
        return FALSE;
    }
  return TRUE;
}

char *
ecsa_proxy_resolver_lookup_uri (EcsaProxyResolver *self, const char *uri)
{
  g_autoptr(GUri) parsed = NULL;
  const char *scheme;
  const char *proxy = NULL;

  g_return_val_if_fail (ECSA_IS_PROXY_RESOLVER (self), NULL);
  parsed = g_uri_parse (uri, G_URI_FLAGS_NON_DNS, NULL);
  if (parsed == NULL || g_uri_get_host (parsed) == NULL)
    return NULL;
  scheme = g_uri_get_scheme (parsed);
  if (g_ascii_strcasecmp (scheme, "https") == 0 || g_ascii_strcasecmp (scheme, "wss") == 0)
    proxy = self->https_proxy != NULL ? self->https_proxy : self->http_proxy;
  else if (g_ascii_strcasecmp (scheme, "http") == 0 || g_ascii_strcasecmp (scheme, "ws") == 0)
    proxy = self->http_proxy;
  if (proxy == NULL || !use_proxy (self, g_uri_get_host (parsed)))
    return NULL;
  return g_strdup (proxy);
}

/* GProxyResolver */

static gboolean
resolver_is_supported (GProxyResolver *resolver)
{
  return TRUE;
}

static char **
resolver_lookup (GProxyResolver *resolver, const char *uri, GCancellable *cancellable, GError **error)
{
  g_autofree char *proxy = ecsa_proxy_resolver_lookup_uri (ECSA_PROXY_RESOLVER (resolver), uri);
  char **result = g_new0 (char *, 2);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      g_free (result);
      return NULL;
    }
  result[0] = proxy != NULL ? g_steal_pointer (&proxy) : g_strdup ("direct://");
  return result;
}

static void
resolver_lookup_async (GProxyResolver *resolver, const char *uri, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (resolver, cancellable, callback, user_data);
  GError *error = NULL;
  char **result;

  g_task_set_source_tag (task, resolver_lookup_async);
  /* no I/O: answered at once */
  result = resolver_lookup (resolver, uri, cancellable, &error);
  if (result == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, result, (GDestroyNotify) g_strfreev);
}

static char **
resolver_lookup_finish (GProxyResolver *resolver, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, resolver), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
ecsa_proxy_resolver_iface_init (GProxyResolverInterface *iface)
{
  iface->is_supported = resolver_is_supported;
  iface->lookup = resolver_lookup;
  iface->lookup_async = resolver_lookup_async;
  iface->lookup_finish = resolver_lookup_finish;
}

static void
ecsa_proxy_resolver_finalize (GObject *object)
{
  EcsaProxyResolver *self = ECSA_PROXY_RESOLVER (object);

  g_free (self->http_proxy);
  g_free (self->https_proxy);
  g_strfreev (self->no_proxy);
  G_OBJECT_CLASS (ecsa_proxy_resolver_parent_class)->finalize (object);
}

static void
ecsa_proxy_resolver_class_init (EcsaProxyResolverClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ecsa_proxy_resolver_finalize;
}

static void
ecsa_proxy_resolver_init (EcsaProxyResolver *self)
{
}

/* ------------------------------------------------------------------------------------------- */

/* Go reads the upper-case name first */
static const char *
env_pair (const char *upper, const char *lower)
{
  const char *value = g_getenv (upper);

  return value != NULL && *value != '\0' ? value : g_getenv (lower);
}

GProxyResolver *
ecsa_proxy_resolver_get_default (const char *docker_endpoint)
{
  static GMutex lock;
  static GProxyResolver *resolver;
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&lock);

  if (resolver == NULL)
    {
      const char *no_proxy = env_pair ("NO_PROXY", "no_proxy");
      g_autoptr(GUri) docker = docker_endpoint != NULL ? g_uri_parse (docker_endpoint, G_URI_FLAGS_NONE, NULL) : NULL;
      const char *docker_host = docker != NULL ? g_uri_get_host (docker) : NULL;

      resolver = G_PROXY_RESOLVER (ecsa_proxy_resolver_new (env_pair ("HTTP_PROXY", "http_proxy"),
                                                            env_pair ("HTTPS_PROXY", "https_proxy"),
                                                            no_proxy != NULL && *no_proxy != '\0' ? no_proxy : NULL,
                                                            docker_host));
    }
  return g_object_ref (resolver);
}

GProxyResolver *
ecsa_proxy_resolver_get_for_connections (const char *docker_endpoint)
{
  g_autoptr(GProxyResolver) resolver = ecsa_proxy_resolver_get_default (docker_endpoint);
  EcsaProxyResolver *self = ECSA_PROXY_RESOLVER (resolver);

  return self->http_proxy != NULL || self->https_proxy != NULL ? g_steal_pointer (&resolver) : NULL;
}

void
ecsa_proxy_use_inert_system_resolver (void)
{
  if (g_getenv ("GIO_USE_PROXY_RESOLVER") == NULL)
    g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", FALSE);
}

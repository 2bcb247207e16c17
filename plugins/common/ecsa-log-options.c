/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-log-options.h"

#include <string.h>

void
ecsa_log_options_set_error (GError **error, const char *option, const char *format, ...)
{
  g_autofree char *reason = NULL;
  va_list args;

  va_start (args, format);
  reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "option '%s': %s", option, reason);
}

/* ---- value parsers (Go semantics) ----------------------------------------------------------- */

gboolean
ecsa_log_options_parse_bool (const char *value, gboolean *out_value)
{
  static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
  static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      if (g_strcmp0 (value, yes[i]) == 0)
        {
          *out_value = TRUE;
          return TRUE;
        }
      if (g_strcmp0 (value, no[i]) == 0)
        {
          *out_value = FALSE;
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
ecsa_log_options_is_true (const char *value)
{
  gboolean b = FALSE;

  return value != NULL && ecsa_log_options_parse_bool (value, &b) && b;
}

gboolean
ecsa_log_options_parse_int (const char *value, gint64 *out_value)
{
  const char *p = value;
  guint64 acc = 0;
  gboolean negative = FALSE;

  if (value == NULL)
    return FALSE;
  if (*p == '+' || *p == '-')
    negative = *p++ == '-';
  if (*p == '\0')
    return FALSE;
  for (; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      acc = acc * 10 + (guint64) (*p - '0');
      if (acc > (guint64) G_MAXINT64 + (negative ? 1 : 0))
        return FALSE;
    }
  *out_value = negative ? (gint64) (0 - acc) : (gint64) acc;
  return TRUE;
}

/* docker/go-units: ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$ then ParseFloat on the number. */
gboolean
ecsa_log_options_parse_size (const char *value, gboolean binary, gint64 *out_bytes)
{
  const char *p = value;
  const char *num_start = value;
  g_autofree char *num = NULL;
  double size;
  double mul = 1;
  guint dots = 0;
  char *end = NULL;

  if (value == NULL || !g_ascii_isdigit (*p))
    return FALSE;
  while (g_ascii_isdigit (*p) || (*p == '.' && g_ascii_isdigit (p[1])))
    {
      if (*p == '.')
        dots++;
      p++;
    }
  if (dots > 1) /* the pattern allows "1.2.3"; ParseFloat then refuses it */
    return FALSE;
  num = g_strndup (num_start, (gsize) (p - num_start));
  if (*p == ' ')
    p++;
  if (*p != '\0' && strchr ("kKmMgGtTpP", *p) != NULL)
    {
      double base = binary ? 1024 : 1000;
      const char *units = "kmgtp";
      const char *u = strchr (units, g_ascii_tolower (*p));
      gsize i;

      for (i = 0; i <= (gsize) (u - units); i++)
        mul *= base;
      p++;
    }
  if (*p == 'i' || *p == 'I')
    p++;
  if (*p == 'b' || *p == 'B')
    p++;
  if (*p != '\0')
    return FALSE;
  size = g_ascii_strtod (num, &end);
  if (end == NULL || *end != '\0')
    return FALSE;
  size *= mul;
  if (size >= 9.2e18)
    return FALSE;
  *out_bytes = (gint64) size;
  return TRUE;
}

/* Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0". */
gboolean
ecsa_log_options_parse_duration (const char *value, gint64 *out_usec)
{
  static const struct
  {
    const char *unit;
    double usec;
  } units[] = {
    { "ns", 0.001 }, { "us", 1 }, { "\xc2\xb5s", 1 }, { "\xce\xbcs", 1 }, { "ms", 1000 },
    { "s", 1e6 },    { "m", 6e7 }, { "h", 3.6e9 },
  };
  const char *p = value;
  gboolean negative = FALSE;
  double total = 0;

  if (value == NULL || *value == '\0')
    return FALSE;
  if (*p == '+' || *p == '-')
    negative = *p++ == '-';
  if (g_strcmp0 (p, "0") == 0)
    {
      *out_usec = 0;
      return TRUE;
    }
  if (*p == '\0')
    return FALSE;
  while (*p != '\0')
    {
      const char *start = p;
      g_autofree char *num = NULL;
      gboolean digits = FALSE;
      gboolean found = FALSE;
      guint i;

      while (g_ascii_isdigit (*p))
        {
          p++;
          digits = TRUE;
        }
      if (*p == '.')
        {
          p++;
          while (g_ascii_isdigit (*p))
            {
              p++;
              digits = TRUE;
            }
        }
      if (!digits)
        return FALSE;
      num = g_strndup (start, (gsize) (p - start));
      for (i = 0; i < G_N_ELEMENTS (units); i++)
        {
          gsize len = strlen (units[i].unit);
          /* the longest unit first where prefixes overlap: "ms" before "m", checked by the
           * character after the unit not being a lower-case letter */
          if (strncmp (p, units[i].unit, len) == 0 && !(p[len] >= 'a' && p[len] <= 'z'))
            {
              total += g_ascii_strtod (num, NULL) * units[i].usec;
              p += len;
              found = TRUE;
              break;
            }
        }
      if (!found)
        return FALSE;
    }
  if (total > 9.2e15)
    return FALSE;
  *out_usec = (gint64) (negative ? -total : total);
  return TRUE;
}

/* ---- checkers --------------------------------------------------------------------------------- */

gboolean
ecsa_log_options_check_bool (const char *value, GError **error)
{
  gboolean b;

  if (!ecsa_log_options_parse_bool (value, &b))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be a boolean (true or false)");
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_log_options_check_int (const char *value, GError **error)
{
  gint64 v;

  if (!ecsa_log_options_parse_int (value, &v))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be an integer");
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_log_options_check_positive_int (const char *value, GError **error)
{
  gint64 v;

  if (!ecsa_log_options_parse_int (value, &v) || v <= 0)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be a positive integer");
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_log_options_check_non_negative_int (const char *value, GError **error)
{
  gint64 v;

  if (!ecsa_log_options_parse_int (value, &v) || v < 0)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be an integer >= 0");
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_log_options_check_decimal_size (const char *value, GError **error)
{
  gint64 v;

  if (!ecsa_log_options_parse_size (value, FALSE, &v))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be a size such as 10m or 512k");
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_log_options_check_binary_size (const char *value, GError **error)
{
  gint64 v;

  if (!ecsa_log_options_parse_size (value, TRUE, &v))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be a size such as 1m or 512k");
      return FALSE;
    }
  return TRUE;
}

gboolean
ecsa_log_options_check_duration (const char *value, GError **error)
{
  gint64 v;

  if (!ecsa_log_options_parse_duration (value, &v))
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be a duration such as 1s or 500ms");
      return FALSE;
    }
  return TRUE;
}

/* ---- addresses -------------------------------------------------------------------------------- */

void
ecsa_log_address_free (EcsaLogAddress *address)
{
  if (address == NULL)
    return;
  g_free (address->scheme);
  g_free (address->host);
  g_free (address->path);
  g_free (address);
}

gboolean
ecsa_log_split_host_port (const char *hostport, gboolean missing_port_ok, char **out_host, gint *out_port,
                          GError **error)
{
  g_autofree char *host = NULL;
  const char *port = NULL;
  gint64 port_num = -1;

  if (hostport[0] == '[')
    {
      const char *close = strchr (hostport, ']');
      if (close == NULL)
        {
          g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "lacks ']'");
          return FALSE;
        }
      host = g_strndup (hostport + 1, (gsize) (close - hostport - 1));
      if (close[1] == ':')
        port = close + 2;
      else if (close[1] != '\0')
        {
          g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "has text after ']'");
          return FALSE;
        }
    }
  else
    {
      const char *colon = strrchr (hostport, ':');
      if (colon != NULL)
        {
          if (memchr (hostport, ':', (gsize) (colon - hostport)) != NULL)
            {
              g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                                   "has too many colons (write IPv6 as [address]:port)");
              return FALSE;
            }
          host = g_strndup (hostport, (gsize) (colon - hostport));
          port = colon + 1;
        }
      else
        host = g_strdup (hostport);
    }
  if (port == NULL)
    {
      if (!missing_port_ok)
        {
          g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "has no port");
          return FALSE;
        }
    }
  else if (*port == '\0')
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "has an empty port");
      return FALSE;
    }
  else if (g_ascii_isdigit (*port))
    {
      if (!ecsa_log_options_parse_int (port, &port_num) || port_num < 0 || port_num > 65535)
        {
          g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "has port '%s', not in 0..65535", port);
          return FALSE;
        }
    }
  else
    {
      /* a service name ("syslog"): Go resolves it from /etc/services when dialing */
      const char *c;
      for (c = port; *c != '\0'; c++)
        {
          if (!g_ascii_isalnum (*c) && *c != '-')
            {
              g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "has port '%s', not a number", port);
              return FALSE;
            }
        }
      port_num = 0;
    }
  *out_host = g_steal_pointer (&host);
  *out_port = (gint) port_num;
  return TRUE;
}

static const char *const transport_schemes[] = { "tcp", "tcp+tls", "udp", "unix", "unixgram" };

EcsaLogAddress *
ecsa_log_address_parse (const char *value, gboolean allow_bare, GError **error)
{
  g_autoptr(EcsaLogAddress) addr = g_new0 (EcsaLogAddress, 1);
  const char *sep = strstr (value, "://");
  const char *rest;
  guint i;

  addr->port = -1;
  if (sep != NULL)
    {
      g_autofree char *scheme = g_strndup (value, (gsize) (sep - value));
      for (i = 0; i < G_N_ELEMENTS (transport_schemes); i++)
        {
          if (g_strcmp0 (scheme, transport_schemes[i]) == 0)
            addr->scheme = g_strdup (scheme);
        }
    }
  if (addr->scheme == NULL)
    {
      if (!allow_bare)
        {
          g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA,
                               "must be proto://address (tcp, tcp+tls, udp, unix or unixgram)");
          return NULL;
        }
      addr->scheme = g_strdup ("tcp");
      rest = value;
    }
  else
    rest = sep + 3;

  if (g_str_has_prefix (addr->scheme, "unix"))
    {
      /* url.Parse: the path starts at the first '/' after the authority */
      const char *slash = strchr (rest, '/');
      addr->host = g_strndup (rest, slash != NULL ? (gsize) (slash - rest) : strlen (rest));
      addr->path = g_strdup (slash != NULL ? slash : "");
      if (addr->path[0] == '\0')
        {
          g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "has no socket path");
          return NULL;
        }
      return g_steal_pointer (&addr);
    }

  {
    g_autofree char *hostport = NULL;
    g_autofree char *host = NULL;
    gsize len = strcspn (rest, "/?#");
    gint port = -1;

    if (rest[len] != '\0' && !(rest[len] == '/' && rest[len + 1] == '\0'))
      {
        g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be proto://host:port, with no path");
        return NULL;
      }
    hostport = g_strndup (rest, len);
    if (strchr (hostport, '@') != NULL)
      {
        g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must not carry user information");
        return NULL;
      }
    if (!ecsa_log_split_host_port (hostport, TRUE, &host, &port, error))
      return NULL;
    addr->host = g_steal_pointer (&host);
    addr->port = port;
  }
  return g_steal_pointer (&addr);
}

/* ---- the whole option map --------------------------------------------------------------------- */

static gboolean
check_mode (const char *value, GError **error)
{
  if (g_strcmp0 (value, "") != 0 && g_strcmp0 (value, "blocking") != 0 && g_strcmp0 (value, "non-blocking") != 0)
    {
      g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "must be 'blocking' or 'non-blocking', not '%s'",
                   value);
      return FALSE;
    }
  return TRUE;
}

/* Handled by dockerd for every driver but "none" (daemon/logger/factory.go, log cache). */
static const EcsaLogOption generic_options[] = {
  { "mode", check_mode, 0 },
  { "max-buffer-size", ecsa_log_options_check_binary_size, 0 },
  { "cache-disabled", ecsa_log_options_check_bool, 0 },
  { "cache-max-size", ecsa_log_options_check_decimal_size, 0 },
  { "cache-max-file", ecsa_log_options_check_positive_int, 0 },
  { "cache-compress", ecsa_log_options_check_bool, 0 },
  { NULL },
};

static const EcsaLogOption attr_options[] = {
  { "env", NULL, 0 },    { "env-regex", NULL, 0 }, { "labels", NULL, 0 },
  { "labels-regex", NULL, 0 }, { "tag", NULL, 0 }, { NULL },
};

static const EcsaLogOption tag_options[] = {
  { "tag", NULL, 0 },
  { NULL },
};

static const EcsaLogOption *
find_option (const EcsaLogOption *table, const char *name)
{
  for (; table != NULL && table->name != NULL; table++)
    {
      if (g_strcmp0 (table->name, name) == 0)
        return table;
    }
  return NULL;
}

static int
compare_keys (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

gboolean
ecsa_log_options_validate (const char *driver, GHashTable *options, const EcsaLogOption *driver_options,
                           EcsaLogOptionsFlags flags, GError **error)
{
  g_autofree gpointer *keys = NULL;
  guint n_keys = 0;
  const EcsaLogOption *o;
  guint i;

  /* sorted, so that the first error reported does not depend on hash order */
  keys = g_hash_table_get_keys_as_array (options, &n_keys);
  qsort (keys, n_keys, sizeof (gpointer), compare_keys);

  for (i = 0; i < n_keys; i++)
    {
      const char *key = keys[i];
      const char *value = g_hash_table_lookup (options, key);
      g_autoptr(GError) local_error = NULL;

      o = find_option (driver_options, key);
      if (o == NULL)
        o = find_option (generic_options, key);
      if (o == NULL && (flags & ECSA_LOG_OPTIONS_ATTRS))
        o = find_option (attr_options, key);
      if (o == NULL && (flags & ECSA_LOG_OPTIONS_TAG))
        o = find_option (tag_options, key);
      if (o == NULL)
        {
          ecsa_log_options_set_error (error, key, "unknown option for this driver");
          return FALSE;
        }
      if (value == NULL)
        value = "";
      if (o->check != NULL && !o->check (value, &local_error))
        {
          if (o->flags & ECSA_LOG_OPTION_SECRET)
            ecsa_log_options_set_error (error, key, "%s", local_error->message);
          else
            ecsa_log_options_set_error (error, key, "'%s' %s", value, local_error->message);
          return FALSE;
        }
    }

  for (o = driver_options; o != NULL && o->name != NULL; o++)
    {
      const char *value = g_hash_table_lookup (options, o->name);
      if ((o->flags & ECSA_LOG_OPTION_REQUIRED) && (value == NULL || *value == '\0'))
        {
          ecsa_log_options_set_error (error, o->name, "required");
          return FALSE;
        }
    }

  /* Cross-option rules of dockerd's factory. */
  if (g_hash_table_contains (options, "max-buffer-size")
      && g_strcmp0 (g_hash_table_lookup (options, "mode"), "non-blocking") != 0)
    {
      ecsa_log_options_set_error (error, "max-buffer-size", "only valid with mode=non-blocking");
      return FALSE;
    }
  return TRUE;
}

/* ecsa-log-options.h: option checks shared by the log-driver plugins.
 *
 * Compiled into each log-driver plugin (a static helper library, no agent code): it knows the
 * options Docker accepts for every driver (mode, max-buffer-size, the dual-logging cache-*), the
 * common attribute options (env, env-regex, labels, labels-regex, tag), and parses values the
 * way dockerd does (Go's strconv.ParseBool / Atoi, docker/go-units sizes, time.ParseDuration,
 * proto://host:port addresses), so that a bad option is refused before the container is created,
 * with a message naming the option and the reason.
 *
 * Option values may be secrets (splunk-token, logentries-token): an option marked
 * ECSA_LOG_OPTION_SECRET never has its value quoted in an error.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

typedef enum
{
  ECSA_LOG_OPTION_NONE = 0,
  ECSA_LOG_OPTION_SECRET = 1 << 0,   /* never quote the value */
  ECSA_LOG_OPTION_REQUIRED = 1 << 1, /* must be present and not empty */
} EcsaLogOptionFlags;

/* Checks one value; sets an error whose message is the reason only ("is not a boolean"); the
 * caller prefixes the driver and the option. */
typedef gboolean (*EcsaLogOptionCheckFunc) (const char *value, GError **error);

typedef struct
{
  const char *name;
  EcsaLogOptionCheckFunc check; /* NULL: any value */
  EcsaLogOptionFlags flags;
} EcsaLogOption;

typedef enum
{
  ECSA_LOG_OPTIONS_ATTRS = 1 << 0, /* the driver takes env, env-regex, labels, labels-regex, tag */
  ECSA_LOG_OPTIONS_TAG = 1 << 1,   /* the driver takes tag only (awslogs) */
} EcsaLogOptionsFlags;

/* Check every option in `options` (char* -> char*): the generic ones Docker handles for every
 * driver, the attribute options when `flags` allows them, then `driver_options` (terminated by
 * an entry whose name is NULL). Unknown options, missing required ones and bad values are
 * refused with ECSA_ERROR_INVALID_DATA: "option 'gelf-address': required" (the core prefixes the
 * plugin: "log-driver 'gelf': option 'gelf-address': required"). `driver` is for future use. */
gboolean ecsa_log_options_validate (const char *driver, GHashTable *options, const EcsaLogOption *driver_options,
                                    EcsaLogOptionsFlags flags, GError **error);

/* Set the error for one option, in the common format. */
void ecsa_log_options_set_error (GError **error, const char *option, const char *format, ...) G_GNUC_PRINTF (3, 4);

/* Value checkers, usable in EcsaLogOption tables. */
gboolean ecsa_log_options_check_bool (const char *value, GError **error);         /* Go strconv.ParseBool */
gboolean ecsa_log_options_check_int (const char *value, GError **error);          /* Go strconv.Atoi */
gboolean ecsa_log_options_check_positive_int (const char *value, GError **error); /* Atoi, > 0 */
gboolean ecsa_log_options_check_non_negative_int (const char *value, GError **error);
gboolean ecsa_log_options_check_decimal_size (const char *value, GError **error); /* go-units FromHumanSize */
gboolean ecsa_log_options_check_binary_size (const char *value, GError **error);  /* go-units RAMInBytes */
gboolean ecsa_log_options_check_duration (const char *value, GError **error);     /* Go time.ParseDuration */

/* Parsers behind the checkers. Output parameters are written only on success. */
gboolean ecsa_log_options_parse_bool (const char *value, gboolean *out_value);
gboolean ecsa_log_options_parse_int (const char *value, gint64 *out_value);
gboolean ecsa_log_options_parse_size (const char *value, gboolean binary, gint64 *out_bytes);
gboolean ecsa_log_options_parse_duration (const char *value, gint64 *out_usec);

/* A transport address as Docker's drivers take it: "proto://host:port" (tcp, udp, tcp+tls) or
 * "unix://path" / "unixgram://path". *out_host is "" for unix schemes, *out_port 0 when absent. */
typedef struct
{
  char *scheme; /* "tcp", "udp", "tcp+tls", "unix", "unixgram" */
  char *host;   /* without brackets for IPv6 literals */
  char *path;   /* unix schemes */
  gint port;    /* -1 when the address had none */
} EcsaLogAddress;

void ecsa_log_address_free (EcsaLogAddress *address);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaLogAddress, ecsa_log_address_free)

/* Parse "proto://..." (is_transport_url) or, when allow_bare, "host[:port]". The error message is
 * the reason only. */
EcsaLogAddress *ecsa_log_address_parse (const char *value, gboolean allow_bare, GError **error);

/* Go's net.SplitHostPort: TRUE with *out_host (brackets removed) and *out_port (-1 when missing
 * and missing_port_ok). */
gboolean ecsa_log_split_host_port (const char *hostport, gboolean missing_port_ok, char **out_host, gint *out_port,
                                   GError **error);

/* TRUE when `value` is one of Go's strconv.ParseBool true spellings. */
gboolean ecsa_log_options_is_true (const char *value);

G_END_DECLS

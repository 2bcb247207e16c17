/* ecs-local: a local Amazon ECS control plane, written from the service models, for developing
 * and testing ecs-agent without AWS. See docs/ECS-LOCAL.md.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsl-acs.h"
#include "ecsl-context.h"
#include "ecsl-http.h"
#include "ecsl-imds.h"
#include "ecsl-state.h"
#include "ecsl-tcs.h"
#include "ecsl-util.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "ecsa-build-config.h"

static gboolean verbose;

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *message = NULL;
  const char *domain = NULL;
  const char *tag;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S");

  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
      else if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
    }
  /* Debug lines are ours only, and only with --verbose (libsoup's would drown them). */
  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && (!verbose || g_strcmp0 (domain, G_LOG_DOMAIN) != 0))
    return G_LOG_WRITER_HANDLED;
  if (level & G_LOG_LEVEL_ERROR)
    tag = "CRIT";
  else if (level & G_LOG_LEVEL_CRITICAL)
    tag = "ERROR";
  else if (level & G_LOG_LEVEL_WARNING)
    tag = "WARN";
  else if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    tag = "INFO";
  else
    tag = "DEBUG";
  fprintf (stderr, "%s.%03dZ [%s] %s%s%s\n", stamp, g_date_time_get_microsecond (now) / 1000, tag,
           domain != NULL && strcmp (domain, G_LOG_DOMAIN) != 0 ? domain : "",
           domain != NULL && strcmp (domain, G_LOG_DOMAIN) != 0 ? ": " : "", message != NULL ? message : "");
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

static gboolean
quit_cb (gpointer user_data)
{
  GMainLoop *loop = user_data;

  g_message ("stopping");
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
all_digits (const char *s, gsize len)
{
  if (s == NULL || strlen (s) != len)
    return FALSE;
  for (; *s != '\0'; s++)
    if (!g_ascii_isdigit (*s))
      return FALSE;
  return TRUE;
}

static gboolean
valid_region (const char *s)
{
  if (s == NULL || *s == '\0' || strlen (s) > 32)
    return FALSE;
  for (; *s != '\0'; s++)
    if (!g_ascii_islower (*s) && !g_ascii_isdigit (*s) && *s != '-')
      return FALSE;
  return TRUE;
}

static gboolean
load_instance_id (EcslConfig *c, GError **error)
{
  g_autofree char *path = g_build_filename (c->state_dir, "instance-id", NULL);
  g_autofree char *contents = NULL;

  if (g_file_get_contents (path, &contents, NULL, NULL))
    {
      g_strstrip (contents);
      if (g_str_has_prefix (contents, "i-") && strlen (contents) == 19)
        {
          c->instance_id = g_steal_pointer (&contents);
          return TRUE;
        }
    }
  {
    g_autofree char *hex = ecsl_random_hex (17);
    g_autofree char *line = NULL;
    c->instance_id = g_strconcat ("i-", hex, NULL);
    line = g_strconcat (c->instance_id, "\n", NULL);
    return ecsl_write_file (path, line, -1, 0644, error);
  }
}

static gboolean
read_secret_file (const char *path, char **out, GError **error)
{
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return FALSE;
  g_strchomp (contents);
  if (*contents == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is empty", path);
      return FALSE;
    }
  *out = g_steal_pointer (&contents);
  return TRUE;
}

static gboolean
write_env_files (EcslContext *ctx, GError **error)
{
  const EcslConfig *c = &ctx->config;
  g_autofree char *env_path = g_build_filename (c->state_dir, "env", NULL);
  g_autofree char *agent_path = g_build_filename (c->state_dir, "agent.env", NULL);
  g_autoptr(GString) env = g_string_new ("# ecs-local: source this file to point the AWS CLI at it, then run\n"
                                         "#   aws --endpoint-url \"$ECS_LOCAL_ENDPOINT\" ecs list-clusters\n");
  g_autoptr(GString) agent = g_string_new ("# ecs-local: the environment ecs-agent needs to use it\n");

  g_string_append_printf (env, "export ECS_LOCAL_ENDPOINT=%s\n", ctx->endpoint);
  g_string_append_printf (env, "export AWS_DEFAULT_REGION=%s\nexport AWS_REGION=%s\n", c->region, c->region);
  g_string_append_printf (env, "export AWS_CA_BUNDLE=%s\n", ecsl_tls_get_ca_path (ctx->tls));
  g_string_append_printf (env, "export AWS_SHARED_CREDENTIALS_FILE=%s\n", ecsl_credentials_get_file (ctx->creds));
  g_string_append_printf (env, "export AWS_CONFIG_FILE=%s\n", ecsl_credentials_get_config_file (ctx->creds));
  g_string_append_printf (agent, "ECS_BACKEND_HOST=%s\n", ctx->endpoint);
  g_string_append_printf (agent, "AWS_DEFAULT_REGION=%s\n", c->region);
  g_string_append_printf (agent, "SSL_CERT_FILE=%s\n", ecsl_tls_get_ca_path (ctx->tls));
  if (ctx->imds_endpoint != NULL)
    g_string_append_printf (agent, "AWS_EC2_METADATA_SERVICE_ENDPOINT=%s\n", ctx->imds_endpoint);
  return ecsl_write_file (env_path, env->str, (gssize) env->len, 0644, error)
         && ecsl_write_file (agent_path, agent->str, (gssize) agent->len, 0644, error);
}

/* Run the loop a little so close frames go out, at most for `ms`. */
static void
drain (guint ms)
{
  gint64 until = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < until)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (5000);
}

int
main (int argc, char **argv)
{
  EcslContext ctx = { 0 };
  EcslConfig *c = &ctx.config;
  g_autoptr(GOptionContext) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *ecr_password_file = NULL;
  gboolean no_imds = FALSE, version = FALSE;
  double heartbeat = 30, ack_timeout = 10, credentials_ttl = 6 * 3600, retention = 3600;
  GHashTableIter iter;
  EcslTask *task;
  int rc = 0;
  const GOptionEntry entries[] = {
    { "state-dir", 'd', 0, G_OPTION_ARG_FILENAME, &c->state_dir,
      "Where the CA, credentials, env files and state live (/var/lib/ecs-local)", "DIR" },
    { "persist", 0, 0, G_OPTION_ARG_NONE, &c->persist,
      "Keep clusters, task definitions, instances and tasks across restarts (state.json)", NULL },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &c->listen_address, "Address to listen on (127.0.0.1)", "ADDR" },
    { "advertise-host", 0, 0, G_OPTION_ARG_STRING, &c->advertise_host,
      "Host name or address put in the URLs handed out (the listen address)", "HOST" },
    { "hostname", 0, 0, G_OPTION_ARG_STRING_ARRAY, &c->hostnames,
      "Extra name or address for the server certificate (repeatable)", "NAME" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &c->port, "HTTPS port of the ECS API, ACS and ECR (51680; 0: any)", "PORT" },
    { "tcs-port", 0, 0, G_OPTION_ARG_INT, &c->tcs_port, "HTTPS port of TCS (51681; 0: any)", "PORT" },
    { "imds-port", 0, 0, G_OPTION_ARG_INT, &c->imds_port, "Port of the instance metadata emulation on 127.0.0.1 "
      "(51682; 0: any)", "PORT" },
    { "no-imds", 0, 0, G_OPTION_ARG_NONE, &no_imds, "Do not emulate instance metadata", NULL },
    { "imds-v2-only", 0, 0, G_OPTION_ARG_NONE, &c->imds_v2_only, "Refuse instance metadata requests without a token",
      NULL },
    { "region", 'r', 0, G_OPTION_ARG_STRING, &c->region, "The region (AWS_DEFAULT_REGION, else us-west-2)", "REGION" },
    { "account-id", 0, 0, G_OPTION_ARG_STRING, &c->account_id, "The account in ARNs (123456789012)", "ID" },
    { "instance-role", 0, 0, G_OPTION_ARG_STRING, &c->instance_role,
      "The instance profile role served by the metadata emulation (ecs-local-instance-role)", "NAME" },
    { "instance-type", 0, 0, G_OPTION_ARG_STRING, &c->instance_type, "The emulated instance type (m5.large)", "TYPE" },
    { "availability-zone", 0, 0, G_OPTION_ARG_STRING, &c->availability_zone,
      "The emulated availability zone (<region>a)", "AZ" },
    { "ecr-registry", 0, 0, G_OPTION_ARG_STRING, &c->ecr_registry,
      "host:port of the local registry that ECR stands for", "HOST:PORT" },
    { "ecr-password-file", 0, 0, G_OPTION_ARG_FILENAME, &ecr_password_file,
      "File holding that registry's password for user AWS", "FILE" },
    { "heartbeat-interval", 0, 0, G_OPTION_ARG_DOUBLE, &heartbeat, "Seconds between ACS/TCS heartbeats (30)", "S" },
    { "ack-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &ack_timeout,
      "Seconds before an unacknowledged ACS message is sent again (10)", "S" },
    { "credentials-ttl", 0, 0, G_OPTION_ARG_DOUBLE, &credentials_ttl,
      "Lifetime in seconds of issued role credentials; refreshed at half (21600)", "S" },
    { "stopped-task-retention", 0, 0, G_OPTION_ARG_DOUBLE, &retention,
      "Seconds a STOPPED task stays describable (3600)", "S" },
    { "max-run-count", 0, 0, G_OPTION_ARG_INT, &c->max_run_count,
      "Most tasks one RunTask may start, all in one PayloadMessage (10, as AWS; tools/bench raises it)", "N" },
    { "trace", 0, 0, G_OPTION_ARG_FILENAME, &c->trace_file,
      "Append every API call (secrets removed) to FILE as JSON lines", "FILE" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL },
  };

  setlocale (LC_ALL, "");
  c->port = ECSL_DEFAULT_PORT;
  c->tcs_port = ECSL_DEFAULT_TCS_PORT;
  c->imds_port = ECSL_DEFAULT_IMDS_PORT;
  c->max_run_count = 10;
  g_log_set_writer_func (log_writer, NULL, NULL);

  options = g_option_context_new ("- a local Amazon ECS control plane for ecs-agent");
  g_option_context_add_main_entries (options, entries, NULL);
  g_option_context_set_description (options,
                                    "Serves the ECS API (AWS CLI: --endpoint-url), the ACS and TCS websockets, ECR's\n"
                                    "GetAuthorizationToken and an instance metadata emulation. Writes <state-dir>/env\n"
                                    "(for the AWS CLI) and <state-dir>/agent.env (for ecs-agent). See docs/ECS-LOCAL.md.");
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "ecs-local: %s (see --help)\n", error->message);
      return 2;
    }
  if (version)
    {
      printf ("ecs-local %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (c->state_dir == NULL)
    c->state_dir = g_strdup ("/var/lib/ecs-local");
  if (c->listen_address == NULL)
    c->listen_address = g_strdup ("127.0.0.1");
  if (c->advertise_host == NULL)
    c->advertise_host = g_strdup (strcmp (c->listen_address, "0.0.0.0") == 0 ? "127.0.0.1"
                                  : strcmp (c->listen_address, "::") == 0  ? "::1"
                                                                           : c->listen_address);
  if (c->region == NULL)
    c->region = g_strdup (g_getenv ("AWS_DEFAULT_REGION") != NULL ? g_getenv ("AWS_DEFAULT_REGION")
                          : g_getenv ("AWS_REGION") != NULL       ? g_getenv ("AWS_REGION")
                                                                  : "us-west-2");
  if (c->account_id == NULL)
    c->account_id = g_strdup ("123456789012");
  if (c->instance_role == NULL)
    c->instance_role = g_strdup ("ecs-local-instance-role");
  if (c->instance_type == NULL)
    c->instance_type = g_strdup ("m5.large");
  if (c->availability_zone == NULL)
    c->availability_zone = g_strconcat (c->region, "a", NULL);
  c->ami_id = g_strdup ("ami-0ec5a10ca1ec5a10c");
  c->heartbeat_ms = (gint64) (heartbeat * 1000);
  c->ack_timeout_ms = (gint64) (ack_timeout * 1000);
  c->credentials_ttl_ms = (gint64) (credentials_ttl * 1000);
  c->stopped_retention_ms = (gint64) (retention * 1000);
  if (no_imds)
    c->imds_port = -1;

  if (!valid_region (c->region))
    error = g_error_new (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--region '%s' is not a region name", c->region);
  else if (!all_digits (c->account_id, 12))
    error = g_error_new (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--account-id '%s' is not 12 digits", c->account_id);
  else if (c->port < 0 || c->port > 65535 || c->tcs_port < 0 || c->tcs_port > 65535 || c->imds_port > 65535
           || (c->port != 0 && c->port == c->tcs_port))
    error = g_error_new_literal (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                 "--port, --tcs-port and --imds-port must be distinct ports in 0-65535");
  else if (c->heartbeat_ms < 10 || c->ack_timeout_ms < 10 || c->credentials_ttl_ms < 2000 || c->stopped_retention_ms < 0)
    error = g_error_new_literal (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                 "--heartbeat-interval and --ack-timeout must be at least 0.01 s and "
                                 "--credentials-ttl at least 2 s");
  else if (c->max_run_count < 1 || c->max_run_count > 1000)
    error = g_error_new (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--max-run-count %d is not within 1-1000",
                         c->max_run_count);
  else if ((c->ecr_registry == NULL) != (ecr_password_file == NULL))
    error = g_error_new_literal (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                 "--ecr-registry and --ecr-password-file go together");
  if (error != NULL)
    {
      fprintf (stderr, "ecs-local: %s\n", error->message);
      ecsl_config_clear (c);
      return 2;
    }

  if (g_mkdir_with_parents (c->state_dir, 0700) != 0)
    {
      g_critical ("cannot create the state directory %s: %s", c->state_dir, g_strerror (errno));
      ecsl_config_clear (c);
      return 1;
    }
  if ((ecr_password_file != NULL && !read_secret_file (ecr_password_file, &c->ecr_password, &error))
      || !load_instance_id (c, &error) || (ctx.tls = ecsl_tls_new (c->state_dir, (const char *const *) c->hostnames,
                                                                   TRUE, &error)) == NULL
      || (ctx.creds = ecsl_credentials_new (c->state_dir, c->region, &error)) == NULL
      || (ctx.state = ecsl_state_new (&ctx, &error)) == NULL)
    {
      g_critical ("%s", error->message);
      rc = 1;
    }
  if (rc == 0)
    {
      ctx.acs = ecsl_acs_new (&ctx);
      ctx.tcs = ecsl_tcs_new (&ctx);
      if (!ecsl_http_start (&ctx, &error) || (c->imds_port >= 0 && !ecsl_imds_start (&ctx, &error))
          || !write_env_files (&ctx, &error))
        {
          g_critical ("%s", error->message);
          rc = 1;
        }
    }
  if (rc == 0)
    {
      g_hash_table_iter_init (&iter, ctx.state->tasks);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &task))
        ecsl_acs_schedule_refresh (&ctx, task);
      ecsl_state_schedule_purge (ctx.state);

      loop = g_main_loop_new (NULL, FALSE);
      g_unix_signal_add (SIGINT, quit_cb, loop);
      g_unix_signal_add (SIGTERM, quit_cb, loop);
      g_message ("ECS API, ACS and ECR at %s, TCS at %s, instance metadata at %s, region %s, state in %s%s",
                 ctx.endpoint, ctx.tcs_endpoint, ctx.imds_endpoint != NULL ? ctx.imds_endpoint : "(off)", c->region,
                 c->state_dir, c->persist ? " (persistent)" : "");
      printf ("ECS_LOCAL_READY endpoint=%s telemetry=%s imds=%s state=%s\n", ctx.endpoint, ctx.tcs_endpoint,
              ctx.imds_endpoint != NULL ? ctx.imds_endpoint : "-", c->state_dir);
      fflush (stdout);
      g_main_loop_run (loop);

      ecsl_acs_close_all (ctx.acs, "ecs-local is stopping");
      ecsl_tcs_close_all (ctx.tcs);
      drain (200);
      ecsl_state_flush (ctx.state);
    }

  ecsl_imds_stop (&ctx);
  ecsl_http_stop (&ctx);
  ecsl_acs_free (ctx.acs);
  ecsl_tcs_free (ctx.tcs);
  ecsl_state_free (ctx.state);
  ecsl_credentials_free (ctx.creds);
  ecsl_tls_free (ctx.tls);
  ecsl_trace_close ();
  g_free (ctx.endpoint);
  g_free (ctx.tcs_endpoint);
  g_free (ctx.imds_endpoint);
  ecsl_config_clear (c);
  return rc;
}

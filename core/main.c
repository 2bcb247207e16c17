/* main.c: flags, signals, the loop, the exit code. Nothing else.
 *
 * Flags follow Go's flag package as agent v1.16.2 uses it: one or two dashes, "-flag=value" or
 * "-flag value" (not for booleans), parsing stops at the first non-flag argument or "--". A bad
 * flag exits ECSA_EXIT_TERMINAL (5), as v1.16.2 does.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-build-config.h"

#include "ecsa-agent.h"
#include "ecsa-config.h"
#include "ecsa-exit-codes.h"
#include "ecsa-log.h"
#include "ecsa-memory.h"
#include "ecsa-proxy.h"
#include "ecsa-tls-trust.h"
#include "ecsa-utils.h"
#include "ecsa-version.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct
{
  gboolean version;
  gboolean help;
  gboolean check_config;
  gboolean accept_insecure_cert;
  gboolean license;
  gboolean blackhole_ec2_metadata;
  gboolean windows_service;
  char *log_level;
} Flags;

typedef enum
{
  FLAG_BOOL,
  FLAG_STRING,
} FlagType;

typedef struct
{
  const char *name;
  FlagType type;
  gsize offset;
  const char *usage;
} FlagSpec;

static const FlagSpec flag_specs[] = {
  { "blackhole-ec2-metadata", FLAG_BOOL, G_STRUCT_OFFSET(Flags, blackhole_ec2_metadata),
    "Blackhole the EC2 Metadata requests. Setting this option can cause the ECS Agent to fail to work properly.  "
    "We do not recommend setting this option" },
  { "check-config", FLAG_BOOL, G_STRUCT_OFFSET(Flags, check_config),
    "Validate the configuration, print it with secrets redacted and exit (0: valid); needs no network" },
  { "help", FLAG_BOOL, G_STRUCT_OFFSET(Flags, help), "Print this help and exit" },
  { "k", FLAG_BOOL, G_STRUCT_OFFSET(Flags, accept_insecure_cert),
    "Disable SSL certificate verification. We do not recommend setting this option" },
  { "license", FLAG_BOOL, G_STRUCT_OFFSET(Flags, license), "Print the LICENSE and NOTICE files and exit" },
  { "loglevel", FLAG_STRING, G_STRUCT_OFFSET(Flags, log_level),
    "Loglevel: [<crit>|<error>|<warn>|<info>|<debug>] (ECS_LOGLEVEL overrides it)" },
  { "version", FLAG_BOOL, G_STRUCT_OFFSET(Flags, version), "Print the agent version information and exit" },
  { "windows-service", FLAG_BOOL, G_STRUCT_OFFSET(Flags, windows_service), "Run the ECS agent as a Windows Service" },
};

static void
print_usage(FILE *out)
{
  fprintf(out, "Usage of Amazon ECS Agent:\n");
  for (gsize i = 0; i < G_N_ELEMENTS(flag_specs); i++)
    {
      const FlagSpec *f = &flag_specs[i];
      g_autofree char *head = g_strdup_printf("  -%s%s", f->name, f->type == FLAG_STRING ? " string" : "");
      /* Go prints one-letter boolean flags on one line, the others on two */
      if (strlen(head) <= 4)
        fprintf(out, "%s\t%s\n", head, f->usage);
      else
        fprintf(out, "%s\n    \t%s\n", head, f->usage);
    }
}

static gboolean
parse_flags(int argc, char **argv, Flags *flags, GError **error)
{
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      const char *name;
      const char *eq;
      g_autofree char *key = NULL;
      const FlagSpec *spec = NULL;

      if (arg[0] != '-' || arg[1] == '\0')
        break; /* first non-flag argument: the rest are not flags */
      name = arg + 1;
      if (name[0] == '-')
        {
          name++;
          if (name[0] == '\0')
            break; /* "--" terminates the flags */
        }
      if (name[0] == '-' || name[0] == '=')
        {
          g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "bad flag syntax: %s", arg);
          return FALSE;
        }
      eq = strchr(name, '=');
      key = eq != NULL ? g_strndup(name, (gsize)(eq - name)) : g_strdup(name);
      if (strcmp(key, "h") == 0)
        ecsa_set_str(&key, "help");
      for (gsize k = 0; k < G_N_ELEMENTS(flag_specs); k++)
        if (strcmp(flag_specs[k].name, key) == 0)
          spec = &flag_specs[k];
      if (spec == NULL)
        {
          g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION, "flag provided but not defined: -%s", key);
          return FALSE;
        }
      if (spec->type == FLAG_BOOL)
        {
          gboolean *target = G_STRUCT_MEMBER_P(flags, spec->offset);
          if (eq == NULL)
            *target = TRUE;
          else if (!ecsa_config_parse_bool(eq + 1, target) || g_ascii_isspace(eq[1]))
            {
              g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                          "invalid boolean value \"%s\" for -%s: parse error", eq + 1, key);
              return FALSE;
            }
        }
      else
        {
          char **target = G_STRUCT_MEMBER_P(flags, spec->offset);
          const char *value;
          if (eq != NULL)
            value = eq + 1;
          else if (i + 1 < argc)
            value = argv[++i];
          else
            {
              g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "flag needs an argument: -%s", key);
              return FALSE;
            }
          ecsa_set_str(target, value);
        }
    }
  return TRUE;
}

static int
print_version(void)
{
  printf("Amazon ECS Agent:\n"
         "\tVersion: %s\n"
         "\tCommit: %s\n"
         "\tecs-agent: %s (C/GLib implementation, plugin ABI %d)\n",
         ECSA_COMPAT_VERSION, ECSA_GIT_COMMIT, PACKAGE_VERSION, ECSA_PLUGIN_ABI_MAJOR_BUILD);
  return ECSA_EXIT_SUCCESS;
}

static int
print_license(void)
{
  printf("ecs-agent %s\n"
         "Copyright the ecs-agent authors.\n\n"
         "Licensed under the Apache License, Version 2.0 (the \"License\"); you may not use this software except in\n"
         "compliance with the License. You may obtain a copy of the License at\n\n"
         "    http://www.apache.org/licenses/LICENSE-2.0\n\n"
         "Unless required by applicable law or agreed to in writing, software distributed under the License is\n"
         "distributed on an \"AS IS\" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or\n"
         "implied. See the License for the specific language governing permissions and limitations under the\n"
         "License.\n\n"
         "It reimplements the behaviour of the Amazon ECS Container Agent v%s (Apache License 2.0, Copyright\n"
         "Amazon.com, Inc. or its affiliates) and contains none of its code.\n",
         PACKAGE_VERSION, ECSA_COMPAT_VERSION);
  return ECSA_EXIT_SUCCESS;
}

/* -check-config: the report goes to stdout, log lines to stderr; nothing is created on disk. */
static int
check_config(EcsaConfig *config, gboolean valid, const GError *error)
{
  g_autofree char *report = ecsa_config_to_string(config);

  printf("# ecs-agent %s (Amazon ECS Agent v%s compatible): effective configuration\n%s", PACKAGE_VERSION,
         ECSA_COMPAT_VERSION, report);
  if (!valid)
    {
      g_autofree char *message = ecsa_log_redact(error->message);
      printf("# configuration is NOT valid: %s\n", message);
      fflush(stdout);
      return ECSA_EXIT_ERROR;
    }
  printf("# configuration is valid\n");
  fflush(stdout);
  return ECSA_EXIT_SUCCESS;
}

typedef struct
{
  GMainLoop *loop;
  int exit_code;
} RunState;

static void
agent_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunState *state = user_data;

  state->exit_code = ecsa_agent_run_finish(ECSA_AGENT(source), result);
  g_main_loop_quit(state->loop);
}

static gboolean
sigterm_cb(gpointer user_data)
{
  ecsa_agent_stop(ECSA_AGENT(user_data), ECSA_EXIT_SUCCESS, "received SIGTERM");
  return G_SOURCE_CONTINUE;
}

static gboolean
sigint_cb(gpointer user_data)
{
  ecsa_agent_stop(ECSA_AGENT(user_data), ECSA_EXIT_SUCCESS, "received SIGINT");
  return G_SOURCE_CONTINUE;
}

static int
run_agent(EcsaConfig *config)
{
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(EcsaAgent) agent = NULL;
  g_autoptr(GSource) sigterm = g_unix_signal_source_new(SIGTERM);
  g_autoptr(GSource) sigint = g_unix_signal_source_new(SIGINT);
  RunState state = { .exit_code = ECSA_EXIT_ERROR };

  /* Every TLS connection of the process (ECS, ACS, TCS, ECR, plugins) verifies through one trust
   * store, read once (ecsa-tls-trust.h), not one per connection. */
  ecsa_tls_trust_install_default();
  loop = g_main_loop_new(NULL, FALSE);
  agent = ecsa_agent_new(config);
  state.loop = loop;
  g_source_set_callback(sigterm, sigterm_cb, agent, NULL);
  g_source_attach(sigterm, NULL);
  g_source_set_callback(sigint, sigint_cb, agent, NULL);
  g_source_attach(sigint, NULL);
  ecsa_agent_run_async(agent, agent_done_cb, &state);
  g_main_loop_run(loop);
  g_source_destroy(sigterm);
  g_source_destroy(sigint);
  return state.exit_code;
}

int
main(int argc, char **argv)
{
  Flags flags = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaConfig) config = NULL;
  gboolean valid;
  int level;
  int rc;

  ecsa_memory_tune();                    /* before any thread */
  ecsa_proxy_use_inert_system_resolver(); /* likewise */
  /* Go's runtime ignores SIGPIPE on sockets; a closed peer must be an error, not death. */
  signal(SIGPIPE, SIG_IGN);

  if (!parse_flags(argc, argv, &flags, &error))
    {
      fprintf(stderr, "%s\n", error->message);
      print_usage(stderr);
      g_free(flags.log_level);
      return ECSA_EXIT_TERMINAL;
    }
  if (flags.help)
    {
      print_usage(stdout);
      g_free(flags.log_level);
      return ECSA_EXIT_SUCCESS;
    }
  if (flags.version)
    {
      g_free(flags.log_level);
      return print_version();
    }
  if (flags.license)
    {
      g_free(flags.log_level);
      return print_license();
    }

  ecsa_log_init();
  if (flags.check_config)
    ecsa_log_set_console(STDERR_FILENO);
  config = ecsa_config_new();
  level = ecsa_config_resolve_log_level(config, NULL, flags.log_level);
  g_clear_pointer(&flags.log_level, g_free);
  ecsa_log_set_level(level);
  if (!flags.check_config && !ecsa_str_empty(g_getenv("ECS_LOGFILE")))
    {
      /* v1.16.2's logger is set up from the environment before the configuration is read */
      if (!ecsa_log_set_file(g_getenv("ECS_LOGFILE"), &error))
        {
          ecsa_log_error("ECS_LOGFILE: %s; logging to stdout only", error->message);
          g_clear_error(&error);
        }
    }
  if (flags.windows_service)
    {
      ecsa_log_error("Windows Services are not supported on unspecified platforms");
      ecsa_log_shutdown();
      return ECSA_EXIT_ERROR;
    }

  if (!flags.check_config)
    ecsa_log_info("Loading configuration");
  valid = ecsa_config_load(config, NULL, &error);
  ecsa_config_apply_flags(config, flags.accept_insecure_cert, flags.blackhole_ec2_metadata);
  if (config->accept_insecure_cert)
    ecsa_log_warn("SSL certificate verification disabled. This is not recommended.");

  if (flags.check_config)
    {
      rc = check_config(config, valid, error);
      ecsa_log_shutdown();
      return rc;
    }
  if (!valid)
    {
      /* all required values may yet come from instance metadata: v1.16.2 calls this transient */
      ecsa_log_crit("Error loading config: %s", error->message);
      ecsa_log_shutdown();
      return ECSA_EXIT_ERROR;
    }
  ecsa_log_debug("Loaded config: Cluster: %s, Region: %s, DataDir: %s, Checkpoint: %s, AuthType: %s, "
                 "UpdatesEnabled: %s, DisableMetrics: %s, ReservedMem: %u, TaskCleanupWaitDuration: %s, "
                 "DockerStopTimeout: %s, TaskCPUMemLimit: %s",
                 config->cluster, config->aws_region != NULL ? config->aws_region : "(from instance metadata)",
                 config->data_dir, config->checkpoint ? "true" : "false",
                 config->engine_auth_type != NULL ? config->engine_auth_type : "",
                 config->updates_enabled ? "true" : "false", config->disable_metrics ? "true" : "false",
                 config->reserved_memory, ecsa_config_get(config, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION"),
                 ecsa_config_get(config, "ECS_CONTAINER_STOP_TIMEOUT"),
                 ecsa_config_task_cpu_mem_limit_enabled(config) ? "true" : "false");

  rc = run_agent(g_steal_pointer(&config));
  ecsa_log_shutdown();
  return rc;
}

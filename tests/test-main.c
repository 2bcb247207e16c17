/* test-main.c: the ecs-agent binary: flags, -check-config output and exit status, exit codes,
 * ECS_LOGFILE and ECS_LOGLEVEL, and a clean exit on SIGTERM/SIGINT.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-test-acs.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <signal.h>

static const char *agent_path;

/* Tests that start the agent give it the machine's dockerd (start-up pings it once that step
 * exists); the others get an endpoint that does not exist, to show they do not need Docker. */
#define REAL_DOCKER "DOCKER_HOST=unix:///var/run/docker.sock"
static char *tmpdir;
/* A loopback ECS API for the runs that get through start-up (registration); its poll endpoint
 * refuses connections, so the sessions just back off. */
static EcsaTestEcs *ecs;

typedef struct
{
  int exit_code; /* -1: killed by a signal */
  char *out;
  char *err;
} Run;

static void
run_clear(Run *r)
{
  g_clear_pointer(&r->out, g_free);
  g_clear_pointer(&r->err, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Run, run_clear)

/* A clean environment: no region, no reachable Docker, a config file path that does not exist. */
static char **
base_env(const char *const *extra)
{
  g_autofree char *nofile = g_build_filename(tmpdir, "no-such-config.json", NULL);
  char **env = NULL;

  env = g_environ_setenv(env, "PATH", "/usr/sbin:/usr/bin:/sbin:/bin", TRUE);
  env = g_environ_setenv(env, "ECS_AGENT_CONFIG_FILE_PATH", nofile, TRUE);
  env = g_environ_setenv(env, "DOCKER_HOST", "unix:///nonexistent/docker.sock", TRUE);
  /* never instance metadata from a test; the control plane is the loopback fake */
  env = g_environ_setenv(env, "AWS_EC2_METADATA_DISABLED", "true", TRUE);
  env = g_environ_setenv(env, "ECS_BACKEND_HOST", ecs->url, TRUE);
  env = g_environ_setenv(env, "AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  env = g_environ_setenv(env, "AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  env = g_environ_setenv(env, "AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", TRUE);
  if (g_getenv("ECSA_PLUGIN_DIR") != NULL)
    env = g_environ_setenv(env, "ECSA_PLUGIN_DIR", g_getenv("ECSA_PLUGIN_DIR"), TRUE);
  /* sanitizer settings of the test run carry over to the child, and the servers' test ports (agents
   * of tests do not take 51678/51679, see docs/IAM.md) */
  for (const char *const *v
       = (const char *const[]){ "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "ECSA_TEST_INTROSPECTION_PORT",
                                "ECSA_TEST_CREDENTIALS_PORT", NULL };
       *v; v++)
    if (g_getenv(*v) != NULL)
      env = g_environ_setenv(env, *v, g_getenv(*v), TRUE);
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    {
      const char *eq = strchr(extra[i], '=');
      g_autofree char *name = g_strndup(extra[i], (gsize)(eq - extra[i]));
      env = g_environ_setenv(env, name, eq + 1, TRUE);
    }
  return env;
}

static GSubprocess *
spawn(const char *const *args, const char *const *extra_env, GSubprocessFlags flags)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(flags);
  g_auto(GStrv) env = base_env(extra_env);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_autoptr(GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_set_environ(launcher, env);
  g_ptr_array_add(argv, (gpointer)agent_path);
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add(argv, (gpointer)args[i]);
  g_ptr_array_add(argv, NULL);
  proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
  g_assert_no_error(error);
  return proc;
}

static void
run(const char *const *args, const char *const *extra_env, Run *r)
{
  g_autoptr(GSubprocess) proc = spawn(args, extra_env, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GError) error = NULL;

  g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, &r->out, &r->err, &error));
  g_assert_no_error(error);
  r->exit_code = g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1;
}

static guint
count_lines_with(const char *text, const char *a, const char *b)
{
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr(lines[i], a) != NULL && (b == NULL || strstr(lines[i], b) != NULL))
      n++;
  return n;
}

static char *
line_starting(const char *text, const char *prefix)
{
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix(lines[i], prefix))
      return g_strdup(lines[i]);
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * One-shot flags
 * ------------------------------------------------------------------------------------------- */
static void
test_version(void)
{
  g_auto(Run) r = { 0 };
  const char *args[] = { "-version", NULL };
  const char *args2[] = { "--version", NULL };

  /* no region, no Docker: -version still answers */
  run(args, NULL, &r);
  g_assert_cmpint(r.exit_code, ==, 0);
  g_assert_nonnull(strstr(r.out, "Amazon ECS Agent:\n\tVersion: " ECSA_COMPAT_VERSION "\n"));
  g_assert_nonnull(strstr(r.out, "\tCommit: "));
  g_assert_nonnull(strstr(r.out, PACKAGE_VERSION));
  g_assert_cmpstr(r.err, ==, "");
  run_clear(&r);
  run(args2, NULL, &r);
  g_assert_cmpint(r.exit_code, ==, 0);
  g_assert_nonnull(strstr(r.out, "Version: " ECSA_COMPAT_VERSION));
}

static void
test_help(void)
{
  const char *spellings[] = { "-help", "--help", "-h" };

  for (gsize i = 0; i < G_N_ELEMENTS(spellings); i++)
    {
      g_auto(Run) r = { 0 };
      const char *args[] = { spellings[i], NULL };

      run(args, NULL, &r);
      g_assert_cmpint(r.exit_code, ==, 0);
      g_assert_nonnull(strstr(r.out, "Usage of Amazon ECS Agent:"));
      g_assert_nonnull(strstr(r.out, "  -k\t"));
      g_assert_nonnull(strstr(r.out, "  -loglevel string\n"));
      g_assert_nonnull(strstr(r.out, "  -version\n"));
      g_assert_nonnull(strstr(r.out, "  -check-config\n"));
    }
}

static void
test_license(void)
{
  g_auto(Run) r = { 0 };
  const char *args[] = { "-license", NULL };

  run(args, NULL, &r);
  g_assert_cmpint(r.exit_code, ==, 0);
  g_assert_nonnull(strstr(r.out, "Apache License, Version 2.0"));
}

static void
test_bad_flags(void)
{
  static const struct
  {
    const char *args[3];
    const char *message;
  } cases[] = {
    { { "-bogus", NULL }, "flag provided but not defined: -bogus" },
    { { "--ecs-attributes", NULL }, "flag provided but not defined: -ecs-attributes" },
    { { "-loglevel", NULL }, "flag needs an argument: -loglevel" },
    { { "-k=maybe", NULL }, "invalid boolean value \"maybe\" for -k" },
    { { "---version", NULL }, "bad flag syntax: ---version" },
    { { "-=x", NULL }, "bad flag syntax: -=x" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_auto(Run) r = { 0 };

      run(cases[i].args, NULL, &r);
      /* v1.16.2: a flag parse error is terminal */
      g_assert_cmpint(r.exit_code, ==, 5);
      if (strstr(r.err, cases[i].message) == NULL)
        g_error("%s: stderr lacks '%s':\n%s", cases[i].args[0], cases[i].message, r.err);
      g_assert_nonnull(strstr(r.err, "Usage of Amazon ECS Agent:"));
    }
}

static void
test_flag_syntax(void)
{
  /* "-flag=value", "--flag value", and flags stop at the first non-flag argument */
  const char *cases[][4] = {
    { "-loglevel=debug", "-check-config", NULL },      { "--loglevel", "debug", "--check-config", NULL },
    { "-check-config=true", "-k=false", NULL },        { "-check-config", "--", "-bogus", NULL },
    { "-check-config", "positional", "-bogus", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    {
      g_auto(Run) r = { 0 };

      run(cases[i], NULL, &r);
      if (r.exit_code != 0)
        g_error("case %" G_GSIZE_FORMAT ": exit %d\n%s", i, r.exit_code, r.err);
      g_assert_nonnull(strstr(r.out, "# configuration is valid\n"));
    }
}

static void
test_check_config_flags(void)
{
  g_auto(Run) r = { 0 };
  const char *args[] = { "-k", "-blackhole-ec2-metadata", "-loglevel=debug", "-check-config", NULL };
  g_autofree char *k = NULL;
  g_autofree char *imds = NULL;
  g_autofree char *level = NULL;

  run(args, NULL, &r);
  g_assert_cmpint(r.exit_code, ==, 0);
  k = line_starting(r.out, "AcceptInsecureCert=");
  imds = line_starting(r.out, "BlackholeEC2Metadata=");
  level = line_starting(r.out, "ECS_LOGLEVEL=");
  g_assert_true(g_str_has_prefix(k, "AcceptInsecureCert=true ") && strstr(k, "# flag") != NULL);
  g_assert_true(g_str_has_prefix(imds, "BlackholeEC2Metadata=true ") && strstr(imds, "# flag") != NULL);
  g_assert_true(g_str_has_prefix(level, "ECS_LOGLEVEL=debug ") && strstr(level, "# flag") != NULL);
  g_assert_cmpuint(count_lines_with(r.err, "[WARN] SSL certificate verification disabled", NULL), ==, 1);
}

static void
test_windows_service(void)
{
  g_auto(Run) r = { 0 };
  const char *args[] = { "-windows-service", NULL };

  run(args, NULL, &r);
  g_assert_cmpint(r.exit_code, ==, 1);
  g_assert_nonnull(strstr(r.out, "Windows Services are not supported"));
}

/* ---------------------------------------------------------------------------------------------
 * -check-config
 * ------------------------------------------------------------------------------------------- */
static void
test_check_config_valid(void)
{
  g_auto(Run) r = { 0 };
  const char *args[] = { "-check-config", NULL };
  const char *env[] = { "ECS_CLUSTER=prod", "AWS_DEFAULT_REGION=us-west-2", NULL };
  g_autofree char *cluster = NULL;

  run(args, env, &r);
  g_assert_cmpint(r.exit_code, ==, 0);
  g_assert_cmpstr(r.err, ==, "");
  cluster = line_starting(r.out, "ECS_CLUSTER=");
  g_assert_nonnull(cluster);
  g_assert_true(g_str_has_prefix(cluster, "ECS_CLUSTER=prod "));
  g_assert_nonnull(strstr(cluster, "# environment"));
  g_assert_nonnull(strstr(r.out, "\nECS_CONTAINER_STOP_TIMEOUT=30s "));
  g_assert_nonnull(strstr(r.out, "\nAWS_DEFAULT_REGION=us-west-2 "));
  g_assert_true(g_str_has_suffix(r.out, "# configuration is valid\n"));
}

static void
test_check_config_no_region(void)
{
  g_auto(Run) r = { 0 };
  const char *args[] = { "-check-config", NULL };
  g_autofree char *region = NULL;

  /* no network: the region is reported as coming from instance metadata, and that is valid */
  run(args, NULL, &r);
  g_assert_cmpint(r.exit_code, ==, 0);
  region = line_starting(r.out, "AWS_DEFAULT_REGION=");
  g_assert_nonnull(region);
  g_assert_nonnull(strstr(region, "instance metadata"));
}

static void
test_check_config_reserved_ports_oops(void)
{
  g_auto(Run) r = { 0 };
  const char *args[] = { "-check-config", NULL };
  const char *env[] = { "ECS_RESERVED_PORTS=oops", NULL };
  g_autofree char *ports = NULL;

  run(args, env, &r);
  g_assert_cmpint(r.exit_code, ==, 0);
  /* exactly one warning, naming the variable */
  g_assert_cmpuint(count_lines_with(r.err, "[WARN]", NULL), ==, 1);
  g_assert_cmpuint(count_lines_with(r.err, "[WARN]", "ECS_RESERVED_PORTS"), ==, 1);
  g_assert_cmpuint(count_lines_with(r.err, "[", NULL), ==, 1);
  /* and the default is what is in effect */
  ports = line_starting(r.out, "ECS_RESERVED_PORTS=");
  g_assert_nonnull(ports);
  g_assert_true(g_str_has_prefix(ports, "ECS_RESERVED_PORTS=[22,2375,2376,51678,51679] "));
  g_assert_nonnull(strstr(ports, "# default"));
}

static void
test_check_config_fatal(void)
{
  g_auto(Run) r = { 0 };
  const char *args[] = { "-check-config", NULL };
  const char *env[] = { "ECS_INSTANCE_ATTRIBUTES={\"a\":", "ECS_AVAILABLE_LOGGING_DRIVERS=[\"nope\"]", NULL };

  run(args, env, &r);
  g_assert_cmpint(r.exit_code, ==, 1);
  g_assert_nonnull(strstr(r.out, "# configuration is NOT valid: "));
  g_assert_nonnull(strstr(r.out, "ECS_INSTANCE_ATTRIBUTES"));
  g_assert_nonnull(strstr(r.out, "ECS_AVAILABLE_LOGGING_DRIVERS"));
  /* reported once, in the verdict: no log line repeats it */
  g_assert_cmpuint(count_lines_with(r.err, "ECS_INSTANCE_ATTRIBUTES", NULL), ==, 0);
}

static void
test_check_config_secrets(void)
{
  g_auto(Run) r = { 0 };
  const char *args[] = { "-check-config", NULL };
  const char *env[] = { "ECS_ENGINE_AUTH_TYPE=docker",
                        "ECS_ENGINE_AUTH_DATA={\"https://r.example\":{\"username\":\"u\",\"password\":\"pw-9f8e7d\"}}",
                        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
                        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                        "AWS_SESSION_TOKEN=FQoGZXIvYXdzEXAMPLE",
                        "ECS_RESERVED_MEMORY=pw-9f8e7d",
                        NULL };

  run(args, env, &r);
  g_assert_cmpint(r.exit_code, ==, 0);
  for (const char *const *s
       = (const char *const[]){ "pw-9f8e7d", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "FQoGZXIvYXdzEXAMPLE", NULL };
       *s != NULL; s++)
    {
      if (strstr(r.out, *s) != NULL || strstr(r.err, *s) != NULL)
        g_error("secret '%s' printed:\n%s\n%s", *s, r.out, r.err);
    }
  g_assert_nonnull(strstr(r.out, "\nECS_ENGINE_AUTH_DATA=<redacted> "));
  g_assert_nonnull(strstr(r.out, "\nAWS_SECRET_ACCESS_KEY=<redacted> "));
  g_assert_nonnull(strstr(r.out, "\nECS_ENGINE_AUTH_TYPE=docker "));
  /* the malformed memory value echoing the password is masked in its warning too */
  g_assert_cmpuint(count_lines_with(r.err, "[WARN]", "ECS_RESERVED_MEMORY"), ==, 1);
}

static void
test_check_config_file(void)
{
  g_autofree char *path = g_build_filename(tmpdir, "agent.json", NULL);
  g_autofree char *pathvar = g_strdup_printf("ECS_AGENT_CONFIG_FILE_PATH=%s", path);
  const char *args[] = { "-check-config", NULL };
  const char *env[] = { pathvar, "ECS_CLUSTER=from-env", NULL };
  g_auto(Run) r = { 0 };
  g_autofree char *cluster = NULL;
  g_autofree char *timeout = NULL;

  g_assert_true(g_file_set_contents(path, "{\"Cluster\":\"from-file\",\"DockerStopTimeout\":120000000000}", -1, NULL));
  run(args, env, &r);
  g_assert_cmpint(r.exit_code, ==, 0);
  cluster = line_starting(r.out, "ECS_CLUSTER=");
  g_assert_true(g_str_has_prefix(cluster, "ECS_CLUSTER=from-env "));
  timeout = line_starting(r.out, "ECS_CONTAINER_STOP_TIMEOUT=");
  g_assert_true(g_str_has_prefix(timeout, "ECS_CONTAINER_STOP_TIMEOUT=2m0s "));
  g_assert_nonnull(strstr(timeout, "# config file"));
  g_assert_nonnull(strstr(r.out, path));

  run_clear(&r);
  g_assert_true(g_file_set_contents(path, "{\"Cluster\": 42}", -1, NULL));
  run(args, env, &r);
  g_assert_cmpint(r.exit_code, ==, 1);
  g_assert_nonnull(strstr(r.out, "NOT valid"));
  g_assert_nonnull(strstr(r.out, "'Cluster'"));
}

/* ---------------------------------------------------------------------------------------------
 * Running
 * ------------------------------------------------------------------------------------------- */
static void
test_run_fatal_config_exit_1(void)
{
  g_auto(Run) r = { 0 };
  const char *env[] = { "AWS_DEFAULT_REGION=us-west-2", "ECS_INSTANCE_ATTRIBUTES=not json", NULL };

  run(NULL, env, &r);
  g_assert_cmpint(r.exit_code, ==, 1);
  g_assert_cmpuint(count_lines_with(r.out, "[CRITICAL]", "ECS_INSTANCE_ATTRIBUTES"), ==, 1);
}

static void
test_run_missing_region_exit_1(void)
{
  g_auto(Run) r = { 0 };
  /* -blackhole-ec2-metadata: never ask 169.254.169.254 from a test */
  const char *args[] = { "-blackhole-ec2-metadata", NULL };

  run(args, NULL, &r);
  g_assert_cmpint(r.exit_code, ==, 1);
  g_assert_cmpuint(count_lines_with(r.out, "[CRITICAL]", "AWSRegion"), ==, 1);
}

typedef struct
{
  GSubprocess *proc;
  GDataInputStream *out;
  GString *seen;
  gboolean started;
  gboolean exited;
  gboolean eof;
} Agent;

static void read_line_cb(GObject *source, GAsyncResult *result, gpointer user_data);

static void
read_next(Agent *a)
{
  g_data_input_stream_read_line_async(a->out, G_PRIORITY_DEFAULT, NULL, read_line_cb, a);
}

static void
read_line_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Agent *a = user_data;
  g_autofree char *line = g_data_input_stream_read_line_finish(a->out, result, NULL, NULL);

  if (line == NULL)
    {
      a->eof = TRUE;
      return;
    }
  g_string_append_printf(a->seen, "%s\n", line);
  if (strstr(line, "[INFO] ecs-agent") != NULL && strstr(line, " started") != NULL)
    a->started = TRUE;
  read_next(a);
}

static void
wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Agent *a = user_data;

  g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
  a->exited = TRUE;
}

static void
agent_start(Agent *a, const char *const *args, const char *const *env)
{
  a->proc = spawn(args, env, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  a->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(a->proc));
  a->seen = g_string_new(NULL);
  read_next(a);
  g_subprocess_wait_async(a->proc, NULL, wait_cb, a);
  ecsa_test_wait_for_flag(NULL, &a->started, 10000);
}

static void
agent_stop_with(Agent *a, int signum, guint max_ms)
{
  gint64 t0 = g_get_monotonic_time();

  g_subprocess_send_signal(a->proc, signum);
  ecsa_test_wait_for_flag(NULL, &a->exited, max_ms);
  ecsa_test_wait_for_flag(NULL, &a->eof, max_ms);
  g_test_message("exited %" G_GINT64_FORMAT " ms after signal %d", (g_get_monotonic_time() - t0) / 1000, signum);
}

static void
agent_clear(Agent *a)
{
  g_clear_object(&a->out);
  g_clear_object(&a->proc);
  if (a->seen != NULL)
    g_string_free(g_steal_pointer(&a->seen), TRUE);
}

static void
test_sigterm_clean_exit(void)
{
  const int signals[] = { SIGTERM, SIGINT };

  for (gsize i = 0; i < G_N_ELEMENTS(signals); i++)
    {
      Agent a = { 0 };
      const char *env[] = { "AWS_DEFAULT_REGION=us-west-2", "ECS_CLUSTER=sig", REAL_DOCKER, NULL };

      agent_start(&a, NULL, env);
      agent_stop_with(&a, signals[i], 3000);
      g_assert_true(g_subprocess_get_if_exited(a.proc));
      g_assert_cmpint(g_subprocess_get_exit_status(a.proc), ==, 0);
      g_assert_nonnull(strstr(a.seen->str, "cluster 'sig', region 'us-west-2'"));
      g_assert_nonnull(strstr(a.seen->str, signals[i] == SIGTERM ? "received SIGTERM" : "received SIGINT"));
      g_assert_nonnull(strstr(a.seen->str, "ecs-agent stopped (exit code 0)"));
      agent_clear(&a);
    }
}

static void
test_logfile_and_level(void)
{
  g_autofree char *logfile = g_build_filename(tmpdir, "log", "ecs-agent.log", NULL);
  g_autofree char *logvar = g_strdup_printf("ECS_LOGFILE=%s", logfile);
  g_autofree char *contents = NULL;
  Agent a = { 0 };
  /* README: ECS_LOGLEVEL overrides -loglevel */
  const char *args[] = { "-loglevel", "crit", "-k", NULL };
  const char *env[] = { "AWS_DEFAULT_REGION=us-west-2",
                        "ECS_LOGLEVEL=debug",
                        logvar,
                        REAL_DOCKER,
                        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                        NULL };

  agent_start(&a, args, env);
  agent_stop_with(&a, SIGTERM, 3000);
  g_assert_cmpint(g_subprocess_get_exit_status(a.proc), ==, 0);
  g_assert_nonnull(strstr(a.seen->str, "[DEBUG] "));
  g_assert_nonnull(strstr(a.seen->str, "[WARN] SSL certificate verification disabled"));
  g_assert_true(g_file_get_contents(logfile, &contents, NULL, NULL));
  /* the file gets the same lines as stdout */
  g_assert_cmpstr(contents, ==, a.seen->str);
  g_assert_null(strstr(contents, "wJalrXUtnFEMI"));
  agent_clear(&a);
}

static void
test_loglevel_flag(void)
{
  {
    /* -loglevel alone sets the level */
    Agent a = { 0 };
    const char *args[] = { "-loglevel=debug", NULL };
    const char *env[] = { "AWS_DEFAULT_REGION=us-west-2", REAL_DOCKER, NULL };

    agent_start(&a, args, env);
    agent_stop_with(&a, SIGTERM, 3000);
    g_assert_cmpint(g_subprocess_get_exit_status(a.proc), ==, 0);
    g_assert_nonnull(strstr(a.seen->str, "[DEBUG] "));
    agent_clear(&a);
  }
  {
    g_auto(Run) r = { 0 };
    const char *args[] = { "-loglevel", "crit", "-blackhole-ec2-metadata", NULL };

    run(args, NULL, &r);
    g_assert_cmpint(r.exit_code, ==, 1);
    g_assert_cmpuint(count_lines_with(r.out, "[CRITICAL]", NULL), ==, 1);
    g_assert_cmpuint(count_lines_with(r.out, "[", NULL), ==, 1); /* no INFO line */
  }
}

int
main(int argc, char **argv)
{
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  agent_path = g_getenv("ECSA_TEST_ECS_AGENT");
  g_assert_nonnull(agent_path);
  tmpdir = ecsa_test_mkdtemp();
  ecs = ecsa_test_ecs_new(FALSE, NULL);
  ecs->any_signature = TRUE; /* some runs bring their own secret */
  g_free(ecs->acs_endpoint);
  ecs->acs_endpoint = g_strdup("http://127.0.0.1:9/");
  g_free(ecs->tcs_endpoint);
  ecs->tcs_endpoint = g_strdup("http://127.0.0.1:9/");

  g_test_add_func("/main/version", test_version);
  g_test_add_func("/main/help", test_help);
  g_test_add_func("/main/license", test_license);
  g_test_add_func("/main/bad-flags", test_bad_flags);
  g_test_add_func("/main/flag-syntax", test_flag_syntax);
  g_test_add_func("/main/windows-service", test_windows_service);
  g_test_add_func("/main/check-config/valid", test_check_config_valid);
  g_test_add_func("/main/check-config/no-region", test_check_config_no_region);
  g_test_add_func("/main/check-config/reserved-ports-oops", test_check_config_reserved_ports_oops);
  g_test_add_func("/main/check-config/fatal", test_check_config_fatal);
  g_test_add_func("/main/check-config/secrets", test_check_config_secrets);
  g_test_add_func("/main/check-config/file", test_check_config_file);
  g_test_add_func("/main/check-config/flags", test_check_config_flags);
  g_test_add_func("/main/run/fatal-config-exit-1", test_run_fatal_config_exit_1);
  g_test_add_func("/main/run/missing-region-exit-1", test_run_missing_region_exit_1);
  g_test_add_func("/main/run/sigterm-clean-exit", test_sigterm_clean_exit);
  g_test_add_func("/main/run/logfile-and-level", test_logfile_and_level);
  g_test_add_func("/main/run/loglevel-flag", test_loglevel_flag);

  rc = g_test_run();
  ecsa_test_ecs_free(ecs);
  ecsa_test_rmdir_recursive(tmpdir);
  g_free(tmpdir);
  return rc;
}

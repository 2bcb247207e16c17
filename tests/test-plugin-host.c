/* test-plugin-host.c: the services lent to plugins: identity, config_get, log, redact, timers,
 * subprocesses (output, timeout, cancel), the backends and SigV4.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-log.h"
#include "ecsa-plugin-host.h"
#include "ecsa-sigv4.h"
#include "ecsa-test-utils.h"

#include <errno.h>
#include <libsoup/soup.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

typedef struct
{
  GMainContext *context;
  EcsaPluginHostServices *services;
  EcsaPluginHost *host;
  char *tmp;
} HostFixture;

static void
fixture_setup(HostFixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->context = g_main_context_ref_thread_default();
  fx->tmp = ecsa_test_mkdtemp();
  fx->services = ecsa_plugin_host_services_new(NULL, NULL, NULL);
  fx->host = ecsa_plugin_host_new(fx->services, ECSA_PLUGIN_KIND_NETWORK, "site-net", &error);
  g_assert_no_error(error);
}

static void
fixture_teardown(HostFixture *fx, gconstpointer data)
{
  ecsa_plugin_host_free(fx->host);
  ecsa_plugin_host_services_free(fx->services);
  while (g_main_context_iteration(fx->context, FALSE))
    ;
  g_main_context_unref(fx->context);
  ecsa_test_rmdir_recursive(fx->tmp);
  g_free(fx->tmp);
}

static void
result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref(result);
}

static GAsyncResult *
wait_result(HostFixture *fx, GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration(fx->context, TRUE);
  return *slot;
}

/* ---- identity, state_dir ------------------------------------------------------------------ */

static void
test_identity(HostFixture *fx, gconstpointer data)
{
  const EcsaPluginHost *h = fx->host;

  g_assert_cmpuint(h->version, ==, ECSA_PLUGIN_HOST_VERSION);
  g_assert_cmpuint(h->struct_size, ==, sizeof(EcsaPluginHost));
  g_assert_true(h->main_context == fx->context);
  g_assert_null(h->http_session);
  g_assert_null(h->state_dir); /* no configuration: no checkpoint */
  g_assert_cmpstr(h->agent_version, ==, ECSA_COMPAT_VERSION "-ecsa." PACKAGE_VERSION);
  g_assert_cmpstr(h->region, ==, "");
  g_assert_cmpstr(h->cluster, ==, "");
  for (guint i = 0; i < G_N_ELEMENTS(h->reserved); i++)
    g_assert_null(h->reserved[i]);

  ecsa_plugin_host_services_set_region(fx->services, "eu-west-3");
  g_assert_cmpstr(h->region, ==, "eu-west-3");

  {
    g_autoptr(SoupSession) session = soup_session_new();

    ecsa_plugin_host_services_set_http_session(fx->services, session);
    g_assert_true(h->http_session == session);
    ecsa_plugin_host_services_set_http_session(fx->services, NULL);
    g_assert_null(h->http_session);
  }
}

static void
test_state_dir(HostFixture *fx, gconstpointer data)
{
  g_autoptr(EcsaConfig) config = ecsa_config_new();
  g_autoptr(EcsaPluginHostServices) services = NULL;
  g_autoptr(EcsaPluginHost) host = NULL;
  g_autoptr(EcsaPluginHost) blocked = NULL;
  g_autofree char *expected = g_build_filename(fx->tmp, "plugins", "image-cleanup-keep-tagged", NULL);
  g_autofree char *file = g_build_filename(fx->tmp, "plugins", "log-driver-blocked", NULL);
  g_autoptr(GError) error = NULL;
  struct stat st;

  g_free(config->data_dir);
  config->data_dir = g_strdup(fx->tmp);
  config->checkpoint = TRUE;
  g_free(config->cluster);
  config->cluster = g_strdup("blue");
  services = ecsa_plugin_host_services_new(config, NULL, NULL);
  host = ecsa_plugin_host_new(services, ECSA_PLUGIN_KIND_IMAGE_CLEANUP, "keep-tagged", &error);
  g_assert_no_error(error);
  g_assert_cmpstr(host->state_dir, ==, expected);
  g_assert_cmpint(g_stat(expected, &st), ==, 0);
  g_assert_true(S_ISDIR(st.st_mode));
  g_assert_cmpint(st.st_mode & 0777, ==, 0700);
  g_assert_cmpstr(host->cluster, ==, "blue");

  /* a state directory that cannot be made fails the host, naming it */
  g_assert_true(g_file_set_contents(file, "in the way", -1, NULL));
  blocked = ecsa_plugin_host_new(services, ECSA_PLUGIN_KIND_LOG_DRIVER, "blocked", &error);
  g_assert_null(blocked);
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_FAILED);
  g_assert_true(g_str_has_prefix(error->message, "cannot create its state directory '"));
  g_clear_error(&error);

  /* without checkpointing there is none */
  config->checkpoint = FALSE;
  g_clear_pointer(&host, ecsa_plugin_host_free);
  host = ecsa_plugin_host_new(services, ECSA_PLUGIN_KIND_IMAGE_CLEANUP, "keep-tagged", &error);
  g_assert_no_error(error);
  g_assert_null(host->state_dir);
}

/* ---- config_get --------------------------------------------------------------------------- */

static void
test_config_get(HostFixture *fx, gconstpointer data)
{
  const char *const envp[] = { "ECS_CLUSTER=blue", "ECS_ENGINE_AUTH_TYPE=docker",
                               "ECS_ENGINE_AUTH_DATA={\"10.9.8.7:5000\":{\"username\":\"u\",\"password\":\"p\"}}",
                               "ECS_CONTAINER_STOP_TIMEOUT=45s", NULL };
  g_autoptr(EcsaConfig) config = ecsa_config_new();
  g_autoptr(EcsaPluginHostServices) services = NULL;
  g_autoptr(EcsaPluginHost) host = NULL;
  g_autoptr(GError) error = NULL;
  const char *first;

  g_assert_true(ecsa_config_load(config, envp, &error));
  g_assert_no_error(error);
  services = ecsa_plugin_host_services_new(config, NULL, NULL);
  host = ecsa_plugin_host_new(services, ECSA_PLUGIN_KIND_REGISTRY_AUTH, "docker", &error);
  g_assert_no_error(error);

  g_assert_cmpstr(host->config_get(host, "ECS_CLUSTER"), ==, "blue");
  g_assert_cmpstr(host->config_get(host, "ECS_ENGINE_AUTH_TYPE"), ==, "docker");
  g_assert_nonnull(strstr(host->config_get(host, "ECS_ENGINE_AUTH_DATA"), "\"password\":\"p\""));
  g_assert_cmpstr(host->config_get(host, "ECS_CONTAINER_STOP_TIMEOUT"), ==, "45s");
  g_assert_cmpstr(host->config_get(host, "ECS_DISABLE_METRICS"), ==, "false");
  /* a site setting comes from the environment, and stays put for the plugin's life */
  g_setenv("SITE_KEEP_IMAGES", "amazon/*,10.9.8.7:5000/base*", TRUE);
  first = host->config_get(host, "SITE_KEEP_IMAGES");
  g_assert_cmpstr(first, ==, "amazon/*,10.9.8.7:5000/base*");
  g_setenv("SITE_KEEP_IMAGES", "changed", TRUE);
  g_assert_true(host->config_get(host, "SITE_KEEP_IMAGES") == first);
  g_unsetenv("SITE_KEEP_IMAGES");
  /* the agent's own names never bypass the configuration */
  g_setenv("ECS_NOT_A_SETTING", "x", TRUE);
  g_assert_null(host->config_get(host, "ECS_NOT_A_SETTING"));
  g_unsetenv("ECS_NOT_A_SETTING");
  g_assert_null(host->config_get(host, "SITE_UNSET_SETTING"));
  g_assert_null(host->config_get(host, ""));
}

/* ---- log and redact ----------------------------------------------------------------------- */

static void
capture_cb(EcsaLogLevel level, const char *line, gpointer user_data)
{
  g_ptr_array_add(user_data, g_strdup(line));
}

static void
test_log(HostFixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
  const char *line;

  ecsa_log_init();
  ecsa_log_set_console(-1);
  ecsa_log_set_level(ECSA_LOG_INFO);
  ecsa_log_set_capture(capture_cb, lines);
  fx->host->log(fx->host, ECSA_LOG_INFO, "set up eni-1 with password=hunter2hunter2");
  fx->host->log(fx->host, ECSA_LOG_DEBUG, "below the level");
  ecsa_plugin_host_logf(fx->host, ECSA_LOG_INFO, "%u addresses", 3u);
  ecsa_log_set_capture(NULL, NULL);
  ecsa_log_shutdown();

  g_assert_cmpuint(lines->len, ==, 2);
  line = g_ptr_array_index(lines, 0);
  g_assert_nonnull(strstr(line, "[INFO] ecsa-net-site-net: set up eni-1 with password="));
  g_assert_null(strstr(line, "hunter2"));
  g_assert_nonnull(strstr(g_ptr_array_index(lines, 1), "ecsa-net-site-net: 3 addresses"));
}

static void
test_redact(HostFixture *fx, gconstpointer data)
{
  g_autofree char *out = fx->host->redact(fx->host, "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "
                                                    "and AKIAIOSFODNN7EXAMPLE for eni-1");

  g_assert_null(strstr(out, "wJalrXUtnFEMI"));
  g_assert_null(strstr(out, "AKIAIOSFODNN7EXAMPLE"));
  g_assert_nonnull(strstr(out, "for eni-1"));
  g_assert_nonnull(strstr(out, ECSA_LOG_REDACTED));
}

/* ---- timers ------------------------------------------------------------------------------- */

static gboolean
tick_cb(gpointer user_data)
{
  (*(guint *)user_data)++;
  return G_SOURCE_CONTINUE;
}

static void
test_timeout_add(HostFixture *fx, gconstpointer data)
{
  guint ticks = 0;
  GSource *source = fx->host->timeout_add(fx->host, 10, tick_cb, &ticks, NULL);

  g_assert_true(g_source_get_context(source) == fx->context);
  while (ticks < 3)
    g_main_context_iteration(fx->context, TRUE);
  g_source_destroy(source);
  g_source_unref(source);
}

/* ---- spawn -------------------------------------------------------------------------------- */

typedef struct
{
  gboolean ok;
  int status;
  GBytes *out;
  GBytes *err;
  GError *error;
} SpawnOutcome;

static void
spawn_outcome_clear(SpawnOutcome *o)
{
  g_clear_pointer(&o->out, g_bytes_unref);
  g_clear_pointer(&o->err, g_bytes_unref);
  g_clear_error(&o->error);
}

static void
spawn(HostFixture *fx, const char *const *argv, const char *const *envp, const char *input, guint timeout_ms,
      GCancellable *cancellable, SpawnOutcome *o)
{
  g_autoptr(GBytes) in = input != NULL ? g_bytes_new(input, strlen(input)) : NULL;
  g_autoptr(GAsyncResult) result = NULL;

  memset(o, 0, sizeof *o);
  o->status = -99;
  fx->host->spawn_async(fx->host, argv, envp, in, timeout_ms, cancellable, result_cb, &result);
  o->ok = fx->host->spawn_finish(fx->host, wait_result(fx, &result), &o->status, &o->out, &o->err, &o->error);
}

static void
assert_bytes(GBytes *bytes, const char *expected)
{
  gsize len;
  const char *data = g_bytes_get_data(bytes, &len);

  g_assert_cmpmem(data, len, expected, strlen(expected));
}

static void
test_spawn_output(HostFixture *fx, gconstpointer data)
{
  const char *const argv[] = { "/bin/sh", "-c", "cat; echo oops >&2; exit 3", NULL };
  const char *const env_argv[] = { "/bin/sh", "-c", "echo \"$CNI_COMMAND $CNI_IFNAME\"", NULL };
  const char *const envp[] = { "CNI_COMMAND=ADD", "CNI_IFNAME=eth1", NULL };
  const char *const kill_argv[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
  SpawnOutcome o;

  spawn(fx, argv, NULL, "{\"cniVersion\":\"0.3.1\"}", 10000, NULL, &o);
  g_assert_no_error(o.error);
  g_assert_true(o.ok);
  g_assert_cmpint(o.status, ==, 3);
  assert_bytes(o.out, "{\"cniVersion\":\"0.3.1\"}");
  assert_bytes(o.err, "oops\n");
  spawn_outcome_clear(&o);

  spawn(fx, env_argv, envp, NULL, 0, NULL, &o);
  g_assert_no_error(o.error);
  g_assert_cmpint(o.status, ==, 0);
  assert_bytes(o.out, "ADD eth1\n");
  spawn_outcome_clear(&o);

  spawn(fx, kill_argv, NULL, NULL, 10000, NULL, &o);
  g_assert_no_error(o.error);
  g_assert_cmpint(o.status, ==, 128 + SIGTERM);
  spawn_outcome_clear(&o);
}

static void
test_spawn_bad_program(HostFixture *fx, gconstpointer data)
{
  const char *const relative[] = { "sh", "-c", "true", NULL };
  const char *const missing[] = { "/nonexistent/ecs-eni", "--version", NULL };
  SpawnOutcome o;

  spawn(fx, relative, NULL, NULL, 1000, NULL, &o);
  g_assert_false(o.ok);
  g_assert_error(o.error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  g_assert_cmpstr(o.error->message, ==, "spawn: 'sh' is not an absolute path");
  spawn_outcome_clear(&o);

  spawn(fx, missing, NULL, NULL, 1000, NULL, &o);
  g_assert_false(o.ok);
  g_assert_error(o.error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND);
  g_assert_true(g_str_has_prefix(o.error->message, "cannot run '/nonexistent/ecs-eni': "));
  spawn_outcome_clear(&o);
}

/* Wait (bounded) until `pid` is gone. */
static gboolean
process_gone(HostFixture *fx, GPid pid)
{
  gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

  while (g_get_monotonic_time() < deadline)
    {
      if (kill(pid, 0) != 0 && errno == ESRCH)
        return TRUE;
      g_main_context_iteration(fx->context, FALSE);
      g_usleep(10 * 1000);
    }
  return FALSE;
}

static GPid
read_pid(const char *pidfile)
{
  g_autofree char *text = NULL;

  g_assert_true(g_file_get_contents(pidfile, &text, NULL, NULL));
  return (GPid)g_ascii_strtoll(text, NULL, 10);
}

static void
test_spawn_timeout(HostFixture *fx, gconstpointer data)
{
  g_autofree char *pidfile = g_build_filename(fx->tmp, "pid", NULL);
  g_autofree char *script = g_strdup_printf("echo $$ > '%s'; exec sleep 30", pidfile);
  const char *const argv[] = { "/bin/sh", "-c", script, NULL };
  gint64 start = g_get_monotonic_time();
  SpawnOutcome o;

  spawn(fx, argv, NULL, NULL, 300, NULL, &o);
  g_assert_false(o.ok);
  g_assert_error(o.error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_cmpstr(o.error->message, ==, "'/bin/sh' did not finish within 300 ms and was killed");
  g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
  g_assert_true(process_gone(fx, read_pid(pidfile)));
  spawn_outcome_clear(&o);
}

/* A grandchild keeping the output pipe open does not make the call wait past its timeout. */
static void
test_spawn_timeout_grandchild(HostFixture *fx, gconstpointer data)
{
  const char *const argv[] = { "/bin/sh", "-c", "sleep 2 & exit 0", NULL };
  gint64 start = g_get_monotonic_time();
  SpawnOutcome o;

  spawn(fx, argv, NULL, NULL, 200, NULL, &o);
  g_assert_error(o.error, ECSA_ERROR, ECSA_ERROR_TIMEOUT);
  g_assert_cmpint(g_get_monotonic_time() - start, <, 1500 * 1000);
  spawn_outcome_clear(&o);
}

static gboolean
cancel_cb(gpointer user_data)
{
  g_cancellable_cancel(user_data);
  return G_SOURCE_REMOVE;
}

static void
test_spawn_cancel(HostFixture *fx, gconstpointer data)
{
  g_autofree char *pidfile = g_build_filename(fx->tmp, "pid", NULL);
  g_autofree char *script = g_strdup_printf("echo $$ > '%s'; exec sleep 30", pidfile);
  const char *const argv[] = { "/bin/sh", "-c", script, NULL };
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  SpawnOutcome o;

  g_timeout_add(200, cancel_cb, cancellable);
  spawn(fx, argv, NULL, NULL, 0, cancellable, &o);
  g_assert_false(o.ok);
  g_assert_error(o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true(process_gone(fx, read_pid(pidfile)));
  spawn_outcome_clear(&o);

  /* already cancelled: nothing is started */
  spawn(fx, argv, NULL, NULL, 0, cancellable, &o);
  g_assert_error(o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  spawn_outcome_clear(&o);
}

/* ---- backends ----------------------------------------------------------------------------- */

static void
test_backends_unset(HostFixture *fx, gconstpointer data)
{
  g_autoptr(GAsyncResult) r1 = NULL;
  g_autoptr(GAsyncResult) r2 = NULL;
  g_autoptr(GError) error = NULL;
  guint status = 0;

  fx->host->docker_request_async(fx->host, "GET", "/info", NULL, 0, NULL, result_cb, &r1);
  g_assert_null(fx->host->docker_request_finish(fx->host, wait_result(fx, &r1), &status, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_assert_cmpstr(error->message, ==, "Docker access is not available to plugins in this agent");
  g_clear_error(&error);

  fx->host->aws_credentials_async(fx->host, NULL, result_cb, &r2);
  g_assert_null(fx->host->aws_credentials_finish(fx->host, wait_result(fx, &r2), &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);

  g_assert_null(fx->host->task_view_lookup(fx->host, "arn:aws:ecs:us-west-2:1:task/t"));
  g_assert_null(fx->host->task_view_lookup_by_docker_id(fx->host, "d0cker"));
}

/* A Docker backend answering from a table, as the docker client answers from dockerd. */
typedef struct
{
  char *last_call;
} FakeDocker;

static void
fake_docker_request_async(gpointer backend, const char *method, const char *path, GBytes *body, guint timeout_ms,
                          GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  FakeDocker *d = backend;
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

  g_free(d->last_call);
  d->last_call = g_strdup_printf("%s %s %u %s", method, path, timeout_ms,
                                 body != NULL ? (const char *)g_bytes_get_data(body, NULL) : "-");
  if (strcmp(path, "/broken") == 0)
    {
      g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "connection refused");
      return;
    }
  g_task_set_task_data(task, GUINT_TO_POINTER(strcmp(path, "/info") == 0 ? 200 : 404), NULL);
  g_task_return_pointer(task, g_bytes_new_static("{\"message\":\"x\"}", 15), (GDestroyNotify)g_bytes_unref);
}

static GBytes *
fake_docker_request_finish(gpointer backend, GAsyncResult *result, guint *out_status, GError **error)
{
  GBytes *body = g_task_propagate_pointer(G_TASK(result), error);

  if (body != NULL)
    *out_status = GPOINTER_TO_UINT(g_task_get_task_data(G_TASK(result)));
  return body;
}

static void
test_backend_docker(HostFixture *fx, gconstpointer data)
{
  const EcsaPluginDockerBackend vtable = { fake_docker_request_async, fake_docker_request_finish };
  FakeDocker docker = { 0 };
  g_autoptr(GBytes) request = g_bytes_new_static("{}", 3);
  g_autoptr(GAsyncResult) r1 = NULL;
  g_autoptr(GAsyncResult) r2 = NULL;
  g_autoptr(GAsyncResult) r3 = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  guint status = 0;

  ecsa_plugin_host_services_set_docker_backend(fx->services, &vtable, &docker);
  fx->host->docker_request_async(fx->host, "POST", "/containers/abc/stop?t=5", request, 1000, NULL, result_cb, &r1);
  body = fx->host->docker_request_finish(fx->host, wait_result(fx, &r1), &status, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(status, ==, 404);
  assert_bytes(body, "{\"message\":\"x\"}");
  g_assert_cmpstr(docker.last_call, ==, "POST /containers/abc/stop?t=5 1000 {}");

  fx->host->docker_request_async(fx->host, "GET", "/broken", NULL, 0, NULL, result_cb, &r2);
  g_assert_null(fx->host->docker_request_finish(fx->host, wait_result(fx, &r2), &status, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_error(&error);

  ecsa_plugin_host_services_set_docker_backend(fx->services, NULL, NULL);
  fx->host->docker_request_async(fx->host, "GET", "/info", NULL, 0, NULL, result_cb, &r3);
  g_assert_null(fx->host->docker_request_finish(fx->host, wait_result(fx, &r3), &status, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
  g_free(docker.last_call);
}

/* Task views, as the engine lends them. */
static EcsaTaskView *
fake_view(const char *arn)
{
  EcsaTaskView *v = g_new0(EcsaTaskView, 1);

  v->struct_size = sizeof *v;
  v->arn = g_strdup(arn);
  return v;
}

static EcsaTaskView *
fake_lookup(gpointer backend, const char *task_arn)
{
  return g_str_has_suffix(task_arn, "/known") ? fake_view(task_arn) : NULL;
}

static EcsaTaskView *
fake_lookup_by_docker_id(gpointer backend, const char *docker_id)
{
  return strcmp(docker_id, "d0cker") == 0 ? fake_view("arn:aws:ecs:us-west-2:1:task/by-id") : NULL;
}

static void
fake_view_free(gpointer backend, EcsaTaskView *view)
{
  (*(guint *)backend)++;
  g_free((char *)view->arn);
  g_free(view);
}

static void
test_backend_task_views(HostFixture *fx, gconstpointer data)
{
  const EcsaPluginTaskViewBackend vtable = { fake_lookup, fake_lookup_by_docker_id, fake_view_free };
  guint freed = 0;
  EcsaTaskView *v;

  ecsa_plugin_host_services_set_task_view_backend(fx->services, &vtable, &freed);
  v = fx->host->task_view_lookup(fx->host, "arn:aws:ecs:us-west-2:1:task/known");
  g_assert_nonnull(v);
  g_assert_cmpstr(v->arn, ==, "arn:aws:ecs:us-west-2:1:task/known");
  fx->host->task_view_free(fx->host, v);
  g_assert_null(fx->host->task_view_lookup(fx->host, "arn:aws:ecs:us-west-2:1:task/unknown"));
  v = fx->host->task_view_lookup_by_docker_id(fx->host, "d0cker");
  g_assert_cmpstr(v->arn, ==, "arn:aws:ecs:us-west-2:1:task/by-id");
  fx->host->task_view_free(fx->host, v);
  fx->host->task_view_free(fx->host, NULL);
  g_assert_cmpuint(freed, ==, 2);
}

/* Instance credentials, as the credential chain gives them. */
static void
fake_aws_get_async(gpointer backend, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
  EcsaAwsCredentials *c = g_new0(EcsaAwsCredentials, 1);

  c->struct_size = sizeof *c;
  c->access_key_id = g_strdup("AKIDEXAMPLE");
  c->secret_access_key = g_strdup("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  c->session_token = g_strdup("");
  c->role_arn = NULL;
  c->expiration = 1700000000;
  g_task_return_pointer(task, c, NULL);
}

static EcsaAwsCredentials *
fake_aws_get_finish(gpointer backend, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer(G_TASK(result), error);
}

static void
fake_aws_free(gpointer backend, EcsaAwsCredentials *c)
{
  (*(guint *)backend)++;
  g_free((char *)c->access_key_id);
  g_free((char *)c->secret_access_key);
  g_free((char *)c->session_token);
  g_free(c);
}

static gboolean
lookup_secret(const char *access_key_id, char **out_secret, char **out_token, gpointer user_data)
{
  if (strcmp(access_key_id, "AKIDEXAMPLE") != 0)
    return FALSE;
  *out_secret = g_strdup("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  *out_token = NULL;
  return TRUE;
}

static void
test_backend_aws_and_sigv4(HostFixture *fx, gconstpointer data)
{
  const EcsaPluginAwsCredentialsBackend vtable = { fake_aws_get_async, fake_aws_get_finish, fake_aws_free };
  guint freed = 0;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = g_bytes_new_static("{\"registryIds\":[\"123\"]}", 24);
  g_autofree char *signer = NULL;
  EcsaAwsCredentials *creds;

  ecsa_plugin_host_services_set_aws_credentials_backend(fx->services, &vtable, &freed);
  fx->host->aws_credentials_async(fx->host, NULL, result_cb, &result);
  creds = fx->host->aws_credentials_finish(fx->host, wait_result(fx, &result), &error);
  g_assert_no_error(error);
  g_assert_cmpuint(freed, ==, 1); /* the backend's copy is gone: the plugin has its own */
  g_assert_cmpuint(creds->struct_size, ==, sizeof(EcsaAwsCredentials));
  g_assert_cmpstr(creds->access_key_id, ==, "AKIDEXAMPLE");
  g_assert_cmpstr(creds->role_arn, ==, "");
  g_assert_cmpint(creds->expiration, ==, 1700000000);

  /* sign an ECR call with them; the agent's verifier accepts it */
  msg = soup_message_new("POST", "https://127.0.0.1:4443/");
  soup_message_headers_replace(soup_message_get_request_headers(msg), "Content-Type", "application/x-amz-json-1.1");
  soup_message_headers_replace(soup_message_get_request_headers(msg), "X-Amz-Target",
                               "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken");
  g_assert_true(fx->host->sigv4_sign(fx->host, msg, body, "ecr", "us-west-2", creds, &error));
  g_assert_no_error(error);
  /* verifying as a server would: Host arrives as a header */
  soup_message_headers_replace(soup_message_get_request_headers(msg), "Host", "127.0.0.1:4443");
  g_assert_true(ecsa_sigv4_verify("POST", "/", "", soup_message_get_request_headers(msg), body, "ecr", lookup_secret,
                                  NULL, g_get_real_time() / G_USEC_PER_SEC, &signer, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(signer, ==, "AKIDEXAMPLE");
  g_assert_false(fx->host->sigv4_sign(fx->host, msg, body, "ecr", "us-west-2", NULL, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA);
  fx->host->aws_credentials_free(fx->host, creds);
}

/* ---- lifetimes ---------------------------------------------------------------------------- */

static void
test_services_gone(void)
{
  g_autoptr(EcsaPluginHostServices) services = ecsa_plugin_host_services_new(NULL, NULL, NULL);
  g_autoptr(EcsaPluginHost) host = ecsa_plugin_host_new(services, ECSA_PLUGIN_KIND_METRICS, "late", NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GMainContext *context = g_main_context_get_thread_default();

  ecsa_plugin_host_services_free(g_steal_pointer(&services));
  /* a plugin still holding its host during shutdown gets refusals, not crashes */
  g_assert_cmpstr(host->region, ==, "");
  g_assert_null(host->task_view_lookup(host, "arn"));
  host->docker_request_async(host, "GET", "/info", NULL, 0, NULL, result_cb, &result);
  while (result == NULL)
    g_main_context_iteration(context, TRUE);
  g_assert_null(host->docker_request_finish(host, result, NULL, &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED);
}

#define ADD(path, func) g_test_add(path, HostFixture, NULL, fixture_setup, func, fixture_teardown)

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  ADD("/plugin-host/identity", test_identity);
  ADD("/plugin-host/state-dir", test_state_dir);
  ADD("/plugin-host/config-get", test_config_get);
  ADD("/plugin-host/log", test_log);
  ADD("/plugin-host/redact", test_redact);
  ADD("/plugin-host/timeout-add", test_timeout_add);
  ADD("/plugin-host/spawn/output", test_spawn_output);
  ADD("/plugin-host/spawn/bad-program", test_spawn_bad_program);
  ADD("/plugin-host/spawn/timeout", test_spawn_timeout);
  ADD("/plugin-host/spawn/timeout-grandchild", test_spawn_timeout_grandchild);
  ADD("/plugin-host/spawn/cancel", test_spawn_cancel);
  ADD("/plugin-host/backends/unset", test_backends_unset);
  ADD("/plugin-host/backends/docker", test_backend_docker);
  ADD("/plugin-host/backends/task-views", test_backend_task_views);
  ADD("/plugin-host/backends/aws-credentials-and-sigv4", test_backend_aws_and_sigv4);
  g_test_add_func("/plugin-host/services-gone", test_services_gone);
  return g_test_run();
}

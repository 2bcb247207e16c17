/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-docker.h"

#include "ecsa-test-utils.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define DOCKER_SOCKET "/var/run/docker.sock"

static char *run_argv(const char *const *argv, char **out_stderr, int *out_status);

/* Containers and volumes left by an earlier run of this area that was killed before its teardown
 * (its PID is gone) are removed; live runs of other developers are left alone. */
static void
cleanup_stale(const char *area)
{
  const char *argv[] = { "docker", "ps", "-a", "--format", "{{.Names}}", NULL };
  const char *vargv[] = { "docker", "volume", "ls", "--format", "{{.Name}}", NULL };
  g_autofree char *suffix = g_strdup_printf("-%s-", area);
  g_autofree char *names = run_argv(argv, NULL, NULL);
  g_autofree char *vols = run_argv(vargv, NULL, NULL);
  const char *lists[] = { names, vols };

  for (guint l = 0; l < G_N_ELEMENTS(lists); l++)
    {
      g_auto(GStrv) lines = lists[l] != NULL ? g_strsplit(lists[l], "\n", -1) : NULL;
      for (guint i = 0; lines != NULL && lines[i] != NULL; i++)
        {
          const char *n = lines[i];
          const char *p = g_str_has_prefix(n, "ecs-") ? n + 4 : n; /* the engine's Docker names */
          char *end = NULL;
          guint64 pid;
          g_autofree char *proc = NULL;

          if (!g_str_has_prefix(p, "ecsa-t"))
            continue;
          pid = g_ascii_strtoull(p + strlen("ecsa-t"), &end, 10);
          if (end == NULL || !g_str_has_prefix(end, suffix) || pid == 0)
            continue;
          proc = g_strdup_printf("/proc/%" G_GUINT64_FORMAT, pid);
          if (g_file_test(proc, G_FILE_TEST_EXISTS))
            continue;
          if (l == 0)
            {
              const char *rm[] = { "docker", "rm", "-f", "-v", n, NULL };
              g_free(run_argv(rm, NULL, NULL));
            }
          else
            {
              const char *rm[] = { "docker", "volume", "rm", "-f", n, NULL };
              g_free(run_argv(rm, NULL, NULL));
            }
        }
    }
}

const char *
ecsa_test_docker_prefix(const char *area)
{
  static char *prefix;
  static char *cleaned_area;

  if (g_strcmp0(cleaned_area, area) != 0)
    {
      cleanup_stale(area);
      g_free(cleaned_area);
      cleaned_area = g_strdup(area);
    }
  g_free(prefix);
  prefix = g_strdup_printf("ecsa-t%d-%s-", (int)getpid(), area);
  return prefix;
}

static char *
run_argv(const char *const *argv, char **out_stderr, int *out_status)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;

  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error))
    {
      if (out_stderr != NULL)
        *out_stderr = g_strdup(error->message);
      if (out_status != NULL)
        *out_status = -1;
      return NULL;
    }
  if (out_status != NULL)
    *out_status = status;
  if (!g_spawn_check_wait_status(status, NULL))
    {
      if (out_stderr != NULL)
        *out_stderr = g_strstrip(g_steal_pointer(&err));
      return NULL;
    }
  return g_strstrip(g_steal_pointer(&out));
}

char *
ecsa_test_docker_cli(char **out_stderr, const char *first_arg, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  va_list ap;
  const char *arg;

  g_ptr_array_add(argv, (gpointer) "docker");
  va_start(ap, first_arg);
  for (arg = first_arg; arg != NULL; arg = va_arg(ap, const char *))
    g_ptr_array_add(argv, (gpointer)arg);
  va_end(ap);
  g_ptr_array_add(argv, NULL);
  return run_argv((const char *const *)argv->pdata, out_stderr, NULL);
}

void
ecsa_test_docker_require(void)
{
  g_autofree char *err = NULL;
  g_autofree char *out = ecsa_test_docker_cli(&err, "image", "inspect", "-f", "{{.Id}}", ECSA_TEST_IMAGE, NULL);

  if (out == NULL)
    g_error("dockerd or the test image '%s' is not available (%s): run tools/setup.sh", ECSA_TEST_IMAGE,
            err != NULL ? err : "?");
}

JsonObject *
ecsa_test_docker_inspect(const char *id_or_name)
{
  g_autofree char *out = ecsa_test_docker_cli(NULL, "container", "inspect", id_or_name, NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonNode *root;

  if (out == NULL)
    return NULL;
  g_assert_true(json_parser_load_from_data(parser, out, -1, NULL));
  root = json_parser_get_root(parser);
  g_assert_true(JSON_NODE_HOLDS_ARRAY(root));
  if (json_array_get_length(json_node_get_array(root)) == 0)
    return NULL;
  return json_object_ref(json_array_get_object_element(json_node_get_array(root), 0));
}

GPtrArray *
ecsa_test_docker_list_by_prefix(const char *prefix)
{
  g_autofree char *filter = g_strdup_printf("name=^/%s", prefix);
  g_autofree char *out = ecsa_test_docker_cli(NULL, "ps", "-aq", "--no-trunc", "--filter", filter, NULL);
  GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
  g_auto(GStrv) lines = NULL;

  if (out == NULL || *out == '\0')
    return ids;
  lines = g_strsplit(out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (*g_strstrip(lines[i]) != '\0')
      g_ptr_array_add(ids, g_strdup(lines[i]));
  return ids;
}

void
ecsa_test_docker_cleanup(const char *prefix)
{
  g_autoptr(GPtrArray) ids = ecsa_test_docker_list_by_prefix(prefix);
  g_autofree char *filter = g_strdup_printf("name=%s", prefix);
  g_autofree char *vols = NULL;

  for (guint i = 0; i < ids->len; i++)
    g_free(ecsa_test_docker_cli(NULL, "rm", "-f", "-v", ids->pdata[i], NULL));
  vols = ecsa_test_docker_cli(NULL, "volume", "ls", "-q", "--filter", filter, NULL);
  if (vols != NULL && *vols != '\0')
    {
      g_auto(GStrv) lines = g_strsplit(vols, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        if (g_str_has_prefix(g_strstrip(lines[i]), prefix))
          g_free(ecsa_test_docker_cli(NULL, "volume", "rm", "-f", lines[i], NULL));
    }
}

typedef struct
{
  const char *what;
  guint timeout_ms;
} WaitGuard;

static gboolean
wait_guard_cb(gpointer user_data)
{
  WaitGuard *g = user_data;

  g_error("test guard timeout: '%s' not reached within %u ms", g->what, g->timeout_ms);
  return G_SOURCE_REMOVE;
}

void
ecsa_test_wait_until(GMainContext *context, EcsaTestCondition cond, gpointer user_data, guint timeout_ms,
                     const char *what)
{
  WaitGuard g = { what, timeout_ms };
  g_autoptr(GSource) guard = g_timeout_source_new(timeout_ms);

  g_source_set_callback(guard, wait_guard_cb, &g, NULL);
  g_source_attach(guard, context);
  while (!cond(user_data))
    g_main_context_iteration(context, TRUE);
  g_source_destroy(guard);
}

/* ------------------------------------------------------------------------------------------- */
/* proxy */

struct _EcsaTestDockerProxy
{
  char *dir;
  char *path;
  char *host;
  GSocketService *service;
  GPtrArray *connections; /* GIOStream* of both sides */
  gboolean paused;
  gboolean blackhole;
  guint n_accepted;
};

static void
splice_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_io_stream_splice_finish(result, NULL);
}

static gboolean
proxy_incoming_cb(GSocketService *service, GSocketConnection *connection, GObject *source_object, gpointer user_data)
{
  EcsaTestDockerProxy *proxy = user_data;
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketAddress) addr = NULL;
  g_autoptr(GSocketConnection) upstream = NULL;

  proxy->n_accepted++;
  g_ptr_array_add(proxy->connections, g_object_ref(connection));
  if (proxy->blackhole)
    return TRUE;
  client = g_socket_client_new();
  addr = g_unix_socket_address_new(DOCKER_SOCKET);
  upstream = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, NULL);
  if (upstream == NULL)
    {
      g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
      return TRUE;
    }
  g_ptr_array_add(proxy->connections, g_object_ref(upstream));
  g_io_stream_splice_async(G_IO_STREAM(connection), G_IO_STREAM(upstream),
                           G_IO_STREAM_SPLICE_CLOSE_STREAM1 | G_IO_STREAM_SPLICE_CLOSE_STREAM2, G_PRIORITY_DEFAULT,
                           NULL, splice_done_cb, NULL);
  return TRUE;
}

static void
proxy_listen(EcsaTestDockerProxy *proxy)
{
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(proxy->path);
  g_autoptr(GError) error = NULL;

  g_unlink(proxy->path);
  proxy->service = g_socket_service_new();
  g_socket_listener_add_address(G_SOCKET_LISTENER(proxy->service), addr, G_SOCKET_TYPE_STREAM,
                                G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &error);
  g_assert_no_error(error);
  g_signal_connect(proxy->service, "incoming", G_CALLBACK(proxy_incoming_cb), proxy);
  g_socket_service_start(proxy->service);
}

static void
proxy_drop_connections(EcsaTestDockerProxy *proxy)
{
  for (guint i = 0; i < proxy->connections->len; i++)
    g_io_stream_close(proxy->connections->pdata[i], NULL, NULL);
  g_ptr_array_set_size(proxy->connections, 0);
}

EcsaTestDockerProxy *
ecsa_test_docker_proxy_new(void)
{
  EcsaTestDockerProxy *proxy = g_new0(EcsaTestDockerProxy, 1);

  proxy->dir = ecsa_test_mkdtemp();
  proxy->path = g_build_filename(proxy->dir, "docker.sock", NULL);
  proxy->host = g_strconcat("unix://", proxy->path, NULL);
  proxy->connections = g_ptr_array_new_with_free_func(g_object_unref);
  proxy_listen(proxy);
  return proxy;
}

const char *
ecsa_test_docker_proxy_get_host(EcsaTestDockerProxy *proxy)
{
  return proxy->host;
}

void
ecsa_test_docker_proxy_pause(EcsaTestDockerProxy *proxy)
{
  if (proxy->paused)
    return;
  proxy->paused = TRUE;
  g_socket_service_stop(proxy->service);
  g_socket_listener_close(G_SOCKET_LISTENER(proxy->service));
  g_clear_object(&proxy->service);
  g_unlink(proxy->path);
  proxy_drop_connections(proxy);
}

void
ecsa_test_docker_proxy_resume(EcsaTestDockerProxy *proxy)
{
  if (!proxy->paused)
    return;
  proxy->paused = FALSE;
  proxy_listen(proxy);
}

void
ecsa_test_docker_proxy_set_blackhole(EcsaTestDockerProxy *proxy, gboolean blackhole)
{
  proxy->blackhole = blackhole;
  proxy_drop_connections(proxy);
}

guint
ecsa_test_docker_proxy_get_n_accepted(EcsaTestDockerProxy *proxy)
{
  return proxy->n_accepted;
}

void
ecsa_test_docker_proxy_free(EcsaTestDockerProxy *proxy)
{
  if (proxy == NULL)
    return;
  if (proxy->service != NULL)
    {
      g_socket_service_stop(proxy->service);
      g_socket_listener_close(G_SOCKET_LISTENER(proxy->service));
      g_clear_object(&proxy->service);
    }
  proxy_drop_connections(proxy);
  g_ptr_array_unref(proxy->connections);
  ecsa_test_rmdir_recursive(proxy->dir);
  g_free(proxy->dir);
  g_free(proxy->path);
  g_free(proxy->host);
  g_free(proxy);
}

/* ------------------------------------------------------------------------------------------- */
/* registry */

struct _EcsaTestRegistry
{
  char *dir;
  char *host;
  char *image;
  GSubprocess *process;
};

static gboolean
registry_answers(const char *host)
{
  g_autofree char *url = g_strdup_printf("http://%s/v2/", host);
  const char *argv[] = { "curl", "-sf", "--max-time", "1", url, NULL };
  int status = 0;
  g_autofree char *out = run_argv(argv, NULL, &status);

  return out != NULL;
}

EcsaTestRegistry *
ecsa_test_registry_start(const char *repo)
{
  g_autoptr(GError) error = NULL;
  EcsaTestRegistry *r = g_new0(EcsaTestRegistry, 1);
  g_autofree char *config = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *log_path = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  gint64 deadline;

  r->dir = ecsa_test_mkdtemp();
  r->host = g_strdup_printf("127.0.0.1:%u", ecsa_test_free_port());
  r->image = g_strdup_printf("%s/%s:latest", r->host, repo);
  config = g_strdup_printf("version: 0.1\n"
                           "log: {level: error}\n"
                           "storage: {filesystem: {rootdirectory: %s/data}, delete: {enabled: true}}\n"
                           "http: {addr: %s}\n",
                           r->dir, r->host);
  config_path = g_build_filename(r->dir, "config.yml", NULL);
  g_assert_true(g_file_set_contents(config_path, config, -1, NULL));
  log_path = g_build_filename(r->dir, "registry.log", NULL);
  launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_subprocess_launcher_set_stdout_file_path(launcher, log_path);
  g_subprocess_launcher_set_stderr_file_path(launcher, log_path);
  r->process = g_subprocess_launcher_spawn(launcher, &error, "docker-registry", "serve", config_path, NULL);
  g_assert_no_error(error);
  deadline = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
  while (!registry_answers(r->host))
    {
      if (g_get_monotonic_time() > deadline)
        g_error("docker-registry did not answer on %s within 15 s", r->host);
      g_usleep(50 * 1000);
    }
  out = ecsa_test_docker_cli(&err, "tag", ECSA_TEST_IMAGE, r->image, NULL);
  g_assert_nonnull(out);
  g_clear_pointer(&out, g_free);
  out = ecsa_test_docker_cli(&err, "push", "-q", r->image, NULL);
  if (out == NULL)
    g_error("docker push %s: %s", r->image, err);
  g_clear_pointer(&out, g_free);
  /* drop the tag so a pull really goes to the registry */
  out = ecsa_test_docker_cli(&err, "rmi", r->image, NULL);
  return r;
}

const char *
ecsa_test_registry_get_image(EcsaTestRegistry *registry)
{
  return registry->image;
}

const char *
ecsa_test_registry_get_host(EcsaTestRegistry *registry)
{
  return registry->host;
}

void
ecsa_test_registry_stop(EcsaTestRegistry *registry)
{
  if (registry == NULL)
    return;
  g_free(ecsa_test_docker_cli(NULL, "rmi", registry->image, NULL));
  if (registry->process != NULL)
    {
      g_subprocess_force_exit(registry->process);
      g_subprocess_wait(registry->process, NULL, NULL);
      g_object_unref(registry->process);
    }
  ecsa_test_rmdir_recursive(registry->dir);
  g_free(registry->dir);
  g_free(registry->host);
  g_free(registry->image);
  g_free(registry);
}

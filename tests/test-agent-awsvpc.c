/* test-agent-awsvpc.c: the ecs-agent binary's "task-eni" and "image-cleanup" start-up steps:
 * with ECS_ENABLE_TASK_ENI the net-cni plugin's check and the pause image (imported from
 * ecs-agent-pause), exit 5 when awsvpc cannot work here, and the image cleanup timer.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-test-acs.h"
#include "ecsa-test-netplug.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static char *tmpdir;
static char *pause_image;
/* The agent registers before it starts: a loopback ECS API (its poll endpoint refuses connections). */
static EcsaTestEcs *ecs;

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

/* The agent with awsvpc on; `pause_program` and `plugin_dir` vary per case. */
static void
agent_run(Agent *a, const char *pause_program, const char *plugin_dir)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autofree char *config = g_build_filename(tmpdir, "config.json", NULL);
  g_autofree char *config_text = g_strdup_printf("{\"PauseContainerImageName\":\"%s\",\"PauseContainerTag\":\"0.1.0\","
                                                 "\"PauseContainerTarballPath\":\"/nonexistent/pause.tar\"}",
                                                 pause_image);
  g_autofree char *agent = g_build_filename(g_getenv("ECSA_BUILD_ROOT"), "ecs-agent", NULL);
  const char *argv[] = { agent, "-blackhole-ec2-metadata", NULL };
  g_autoptr(GError) error = NULL;
  char **env = NULL;

  g_assert_true(g_file_set_contents(config, config_text, -1, NULL));
  env = g_environ_setenv(env, "PATH", "/usr/sbin:/usr/bin:/sbin:/bin", TRUE);
  env = g_environ_setenv(env, "AWS_DEFAULT_REGION", "us-west-2", TRUE);
  env = g_environ_setenv(env, "DOCKER_HOST", "unix:///var/run/docker.sock", TRUE);
  env = g_environ_setenv(env, "ECS_AGENT_CONFIG_FILE_PATH", config, TRUE);
  env = g_environ_setenv(env, "ECS_ENABLE_TASK_ENI", "true", TRUE);
  env = g_environ_setenv(env, "ECS_CNI_PLUGINS_PATH", "/nonexistent/amazon-ecs-cni-plugins", TRUE);
  env = g_environ_setenv(env, "ECSA_PLUGIN_DIR", plugin_dir, TRUE);
  env = g_environ_setenv(env, "ECSA_PAUSE_PROGRAM", pause_program, TRUE);
  env = g_environ_setenv(env, "ECS_BACKEND_HOST", ecs->url, TRUE);
  env = g_environ_setenv(env, "AWS_ACCESS_KEY_ID", ECSA_TEST_ACCESS_KEY, TRUE);
  env = g_environ_setenv(env, "AWS_SECRET_ACCESS_KEY", ECSA_TEST_SECRET_KEY, TRUE);
  env = g_environ_setenv(env, "AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", TRUE);
  for (const char *const *v = (const char *const[]){ "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL }; *v; v++)
    if (g_getenv(*v) != NULL)
      env = g_environ_setenv(env, *v, g_getenv(*v), TRUE);
  g_subprocess_launcher_set_environ(launcher, env);
  g_strfreev(env);
  a->proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
  g_assert_no_error(error);
  a->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(a->proc));
  a->seen = g_string_new(NULL);
  read_next(a);
  g_subprocess_wait_async(a->proc, NULL, wait_cb, a);
}

static void
agent_clear(Agent *a)
{
  g_clear_object(&a->out);
  g_clear_object(&a->proc);
  g_string_free(a->seen, TRUE);
}

static void
wait_exit(Agent *a, guint ms)
{
  ecsa_test_wait_for_flag(NULL, &a->exited, ms);
  ecsa_test_wait_for_flag(NULL, &a->eof, ms);
}

static gboolean
pause_image_exists(void)
{
  g_autofree char *cmd = g_strdup_printf("docker image inspect %s:0.1.0 >/dev/null 2>&1", pause_image);

  return ecsa_netplug_sh(NULL, "%s", cmd) == 0;
}

static void
remove_pause_image(void)
{
  ecsa_netplug_sh(NULL, "docker rmi -f %s:0.1.0 >/dev/null 2>&1", pause_image);
}

static void
test_ready(void)
{
  g_autofree char *pause = g_build_filename(g_getenv("ECSA_BUILD_ROOT"), "core", "ecs-agent-pause", NULL);
  g_autofree char *line = NULL;
  Agent a = { 0 };

  remove_pause_image();
  agent_run(&a, pause, g_getenv("ECSA_PLUGIN_DIR"));
  ecsa_test_wait_for_flag(NULL, &a.started, 60000);
  g_test_message("%s", a.seen->str);
  g_assert_nonnull(strstr(a.seen->str, "awsvpc through the reference CNI plugins"));
  line = g_strdup_printf("Pause container image '%s:0.1.0' is ready", pause_image);
  g_assert_nonnull(strstr(a.seen->str, line));
  g_assert_nonnull(strstr(a.seen->str, "Image cleanup every 1800 s: at most 5 images a cycle, older than 3600 s"));
  g_assert_true(pause_image_exists());
  g_subprocess_send_signal(a.proc, SIGTERM);
  wait_exit(&a, 10000);
  g_assert_cmpint(g_subprocess_get_exit_status(a.proc), ==, 0);
  agent_clear(&a);
  remove_pause_image();
}

static void
test_terminal(void)
{
  g_autofree char *no_plugins = g_build_filename(tmpdir, "no-plugins", NULL);
  Agent a = { 0 };
  Agent b = { 0 };

  remove_pause_image();
  /* no pause image anywhere: exit 5, as v1.16.2 without its tarball */
  agent_run(&a, "/nonexistent/ecs-agent-pause", g_getenv("ECSA_PLUGIN_DIR"));
  wait_exit(&a, 60000);
  g_assert_cmpint(g_subprocess_get_exit_status(a.proc), ==, 5);
  g_assert_nonnull(strstr(a.seen->str, "[CRITICAL] Unable to initialize Task ENI dependencies: pause container load"));
  g_assert_false(pause_image_exists());
  agent_clear(&a);

  /* no plugin serves awsvpc (v1.16.2: CNI plugins without the capability): exit 5 */
  g_assert_cmpint(g_mkdir_with_parents(no_plugins, 0755), ==, 0);
  agent_run(&b, "/nonexistent/ecs-agent-pause", no_plugins);
  wait_exit(&b, 60000);
  g_assert_cmpint(g_subprocess_get_exit_status(b.proc), ==, 5);
  g_assert_nonnull(strstr(b.seen->str, "network mode 'awsvpc': no network plugin serves it"));
  agent_clear(&b);
}

int
main(int argc, char **argv)
{
  int rc;

  g_test_init(&argc, &argv, NULL);
  tmpdir = ecsa_test_mkdtemp();
  ecs = ecsa_test_ecs_new(FALSE, NULL);
  g_free(ecs->acs_endpoint);
  ecs->acs_endpoint = g_strdup("http://127.0.0.1:9/");
  g_free(ecs->tcs_endpoint);
  ecs->tcs_endpoint = g_strdup("http://127.0.0.1:9/");
  pause_image = g_strdup_printf("ecsa-t%d-agentnet/pause", (int)getpid());
  g_test_add_func("/agent-awsvpc/task-eni/ready", test_ready);
  g_test_add_func("/agent-awsvpc/task-eni/terminal", test_terminal);
  rc = g_test_run();
  ecsa_test_ecs_free(ecs);
  remove_pause_image();
  ecsa_test_rmdir_recursive(tmpdir);
  g_free(tmpdir);
  g_free(pause_image);
  return rc;
}

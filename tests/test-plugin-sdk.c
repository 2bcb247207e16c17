/* test-plugin-sdk.c: the out-of-tree SDK works. The build is installed into a DESTDIR
 * (meson install --destdir), examples/out-of-tree-plugin is built there with nothing but the
 * installed headers and `pkg-config --cflags --libs ecs-agent-plugin` (PKG_CONFIG_PATH only: the .pc
 * is relocatable; and again through a PKG_CONFIG_SYSROOT_DIR), it exports only its entry point, the
 * installed ecs-agent loads it from ECSA_PLUGIN_DIR and says so, and the policy works.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-plugin-loader.h"
#include "ecsa-test-utils.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define EXAMPLE_SO "libecsa-plugin-image-cleanup-keep-tagged.so"

typedef struct
{
  char *tmp;
  char *destdir;
  char *pcdir;     /* <destdir>/.../pkgconfig */
  char *plugindir; /* <destdir>/.../ecs-agent/plugins-1 */
  char *agent;     /* <destdir>/.../bin/ecs-agent */
} Sdk;

static Sdk sdk;

/* Run argv (in `cwd`, with `envp` or the test's environment); fail the test unless it exits 0.
 * Returns stdout+stderr. */
static char *
run(const char *const *argv, const char *cwd, const char *const *envp)
{
  g_autoptr(GSubprocessLauncher) launcher
    = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *output = NULL;

  if (cwd != NULL)
    g_subprocess_launcher_set_cwd(launcher, cwd);
  if (envp != NULL)
    g_subprocess_launcher_set_environ(launcher, (char **)envp);
  process = g_subprocess_launcher_spawnv(launcher, argv, &error);
  g_assert_no_error(error);
  g_subprocess_communicate_utf8(process, NULL, NULL, &output, NULL, &error);
  g_assert_no_error(error);
  if (!g_subprocess_get_successful(process))
    {
      g_autofree char *cmd = g_strjoinv(" ", (char **)argv);

      g_test_message("%s", output);
      g_error("'%s' failed", cmd);
    }
  return g_steal_pointer(&output);
}

static char *
find_file(const char *dir, const char *name)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *entry;

  while (d != NULL && (entry = g_dir_read_name(d)) != NULL)
    {
      g_autofree char *path = g_build_filename(dir, entry, NULL);
      char *found;

      if (strcmp(entry, name) == 0 && g_file_test(path, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer(&path);
      if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)
          && (found = find_file(path, name)) != NULL)
        return found;
    }
  return NULL;
}

static void
copy_file(const char *src, const char *dst)
{
  g_autofree char *contents = NULL;
  gsize length;
  g_autoptr(GError) error = NULL;

  g_assert_true(g_file_get_contents(src, &contents, &length, &error));
  g_assert_true(g_file_set_contents(dst, contents, length, &error));
  g_assert_no_error(error);
}

/* Environment for the example's build: the test's, with PKG_CONFIG_* set as asked and nothing that
 * could reach the source tree's headers. */
static char **
build_env(const char *pkg_config_path, const char *sysroot)
{
  char **envp = g_get_environ();

  envp = g_environ_setenv(envp, "PKG_CONFIG_PATH", pkg_config_path, TRUE);
  envp = g_environ_unsetenv(envp, "PKG_CONFIG_LIBDIR");
  envp = g_environ_unsetenv(envp, "C_INCLUDE_PATH");
  envp = g_environ_unsetenv(envp, "CPATH");
  envp = g_environ_unsetenv(envp, "CFLAGS");
  if (sysroot != NULL)
    envp = g_environ_setenv(envp, "PKG_CONFIG_SYSROOT_DIR", sysroot, TRUE);
  else
    envp = g_environ_unsetenv(envp, "PKG_CONFIG_SYSROOT_DIR");
  return envp;
}

/* ---- install into a DESTDIR --------------------------------------------------------------- */

static void
test_install(void)
{
  const char *meson = g_getenv("ECSA_MESON");
  const char *build_root = g_getenv("ECSA_BUILD_ROOT");
  g_autofree char *pc = NULL;
  g_autofree char *out = NULL;
  g_autofree char *header = NULL;
  g_autofree char *map = NULL;

  g_assert_nonnull(meson);
  g_assert_nonnull(build_root);
  {
    const char *const argv[]
      = { meson, "install", "-C", build_root, "--destdir", sdk.destdir, "--no-rebuild", "--quiet", NULL };

    out = run(argv, NULL, NULL);
  }
  pc = find_file(sdk.destdir, "ecs-agent-plugin.pc");
  g_assert_nonnull(pc);
  sdk.pcdir = g_path_get_dirname(pc);
  sdk.agent = find_file(sdk.destdir, "ecs-agent");
  g_assert_nonnull(sdk.agent);
  g_assert_true(g_file_test(sdk.agent, G_FILE_TEST_IS_EXECUTABLE));
  header = find_file(sdk.destdir, "ecsa-plugin.h");
  g_assert_nonnull(header);
  map = find_file(sdk.destdir, "ecsa-plugin.map");
  g_assert_nonnull(map);
}

/* ---- pkg-config --------------------------------------------------------------------------- */

static void
test_pkg_config(void)
{
  g_auto(GStrv) envp = build_env(sdk.pcdir, NULL);
  const char *const flags[] = { "pkg-config", "--cflags", "--libs", "ecs-agent-plugin", NULL };
  const char *const var[] = { "pkg-config", "--variable=plugindir", "ecs-agent-plugin", NULL };
  g_autofree char *out = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *canonical = NULL;
  g_autofree char *expected_include = NULL;

  g_assert_nonnull(sdk.pcdir);
  out = run(flags, NULL, (const char *const *)envp);
  /* the headers and the version script come from the DESTDIR, nothing from the source tree */
  expected_include = g_strdup_printf("-I%s/", sdk.pcdir);
  g_assert_nonnull(strstr(out, expected_include));
  g_assert_nonnull(strstr(out, "ecsa-plugin.map"));
  g_assert_nonnull(strstr(out, "-fvisibility=hidden"));
  g_assert_null(strstr(out, g_getenv("ECSA_SOURCE_ROOT")));
  g_assert_nonnull(strstr(out, "-I/usr/include/glib-2.0")); /* GLib's own .pc is untouched */

  dir = run(var, NULL, (const char *const *)envp);
  g_strstrip(dir);
  canonical = g_canonicalize_filename(dir, NULL);
  g_assert_true(g_str_has_prefix(canonical, sdk.destdir));
  g_assert_true(g_str_has_suffix(canonical, "/ecs-agent/plugins-1"));
#ifdef ECSA_TEST_HAVE_LOG_NONE
  g_assert_true(g_file_test(canonical, G_FILE_TEST_IS_DIR)); /* log-none is installed there */
#else
  g_assert_cmpint(g_mkdir_with_parents(canonical, 0755), ==, 0); /* -Dplugin_log_none=disabled */
#endif
  sdk.plugindir = g_steal_pointer(&canonical);
}

/* ---- build the example out of tree -------------------------------------------------------- */

static char *
copy_example(const char *name)
{
  const char *files[] = { "Makefile", "keep-tagged.c" };
  char *dir = g_build_filename(sdk.tmp, name, NULL);

  g_assert_cmpint(g_mkdir(dir, 0755), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS(files); i++)
    {
      g_autofree char *src
        = g_build_filename(g_getenv("ECSA_SOURCE_ROOT"), "examples", "out-of-tree-plugin", files[i], NULL);
      g_autofree char *dst = g_build_filename(dir, files[i], NULL);

      copy_file(src, dst);
    }
  return dir;
}

static void
assert_exports_only_entry(const char *so)
{
  g_autofree char *script = g_build_filename(g_getenv("ECSA_SOURCE_ROOT"), "tests", "tools", "check-exports.sh", NULL);
  const char *const argv[] = { "/bin/sh", script, so, NULL };
  g_autofree char *out = run(argv, NULL, NULL);

  g_assert_nonnull(strstr(out, "exports only ecsa_plugin_get_descriptor"));
}

static void
test_build_example(void)
{
  g_autofree char *dir = copy_example("example");
  g_auto(GStrv) envp = build_env(sdk.pcdir, NULL);
  const char *const make[] = { "make", "-C", dir, NULL };
  const char *const install[] = { "make", "-C", dir, "install", NULL };
  g_autofree char *so = g_build_filename(dir, EXAMPLE_SO, NULL);
  g_autofree char *installed = NULL;
  g_autofree char *out = NULL;
  GStatBuf st;

  g_assert_nonnull(sdk.plugindir);
  out = run(make, NULL, (const char *const *)envp);
  g_test_message("%s", out);
  g_assert_true(g_file_test(so, G_FILE_TEST_EXISTS));
  assert_exports_only_entry(so);

  /* make install puts it into the DESTDIR's plugin directory, not writable by others */
  g_free(out);
  out = run(install, NULL, (const char *const *)envp);
  installed = g_build_filename(sdk.plugindir, EXAMPLE_SO, NULL);
  g_assert_cmpint(g_stat(installed, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0022, ==, 0);
}

/* The same build through a sysroot: pkg-config prefixes every path with it, except ours, which
 * already lies inside (no double prefix). The sysroot lends the system's GLib by symlinks. */
static void
test_build_example_sysroot(void)
{
  g_autofree char *dir = copy_example("example-sysroot");
  g_autofree char *sysroot = g_build_filename(sdk.tmp, "sysroot", NULL);
  g_autofree char *usr = g_build_filename(sysroot, "usr", NULL);
  g_autofree char *pcdir_in_sysroot = NULL;
  g_auto(GStrv) envp = NULL;
  const char *const make[] = { "make", "-C", dir, NULL };
  g_autofree char *so = g_build_filename(dir, EXAMPLE_SO, NULL);
  g_autofree char *out = NULL;
  const char *links[] = { "include", "lib" };

  g_assert_nonnull(sdk.pcdir);
  /* <sysroot>/usr/{include,lib} -> the system's; <sysroot>/sdk -> the DESTDIR */
  g_assert_cmpint(g_mkdir_with_parents(usr, 0755), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS(links); i++)
    {
      g_autofree char *target = g_build_filename("/usr", links[i], NULL);
      g_autofree char *link = g_build_filename(usr, links[i], NULL);

      g_assert_cmpint(symlink(target, link), ==, 0);
    }
  {
    g_autofree char *link = g_build_filename(sysroot, "sdk", NULL);

    g_assert_cmpint(symlink(sdk.destdir, link), ==, 0);
    pcdir_in_sysroot = g_strconcat(link, sdk.pcdir + strlen(sdk.destdir), NULL);
  }
  envp = build_env(pcdir_in_sysroot, sysroot);
  out = run(make, NULL, (const char *const *)envp);
  g_test_message("%s", out);
  g_assert_true(g_file_test(so, G_FILE_TEST_EXISTS));
  assert_exports_only_entry(so);
}

/* ---- the installed agent loads it --------------------------------------------------------- */

typedef struct
{
  GDataInputStream *lines;
  GString *seen;
  const char *wanted[3];
  guint found;
  gboolean done;
} AgentOutput;

static void
read_line_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  AgentOutput *o = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8(o->lines, result, NULL, &error);

  if (line == NULL)
    {
      o->done = TRUE; /* EOF or error: the agent exited */
      return;
    }
  g_string_append_printf(o->seen, "%s\n", line);
  for (guint i = 0; i < G_N_ELEMENTS(o->wanted); i++)
    if (o->wanted[i] != NULL && strstr(line, o->wanted[i]) != NULL)
      {
        o->wanted[i] = NULL;
        o->found++;
      }
  if (o->found == G_N_ELEMENTS(o->wanted))
    {
      o->done = TRUE;
      return;
    }
  g_data_input_stream_read_line_async(o->lines, G_PRIORITY_DEFAULT, NULL, read_line_cb, o);
}

static void
test_agent_loads_it(void)
{
  g_autoptr(GSubprocessLauncher) launcher
    = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocess) agent = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *loaded = NULL;
  g_autofree char *none = NULL;
  g_autofree char *ecs_agent_data = g_build_filename(sdk.tmp, "data", NULL);
  const char *const argv[] = { sdk.agent, "-blackhole-ec2-metadata", NULL };
  AgentOutput o = { 0 };

  g_assert_nonnull(sdk.plugindir);
  g_assert_nonnull(sdk.agent);
  loaded = g_strdup_printf("[INFO] loaded image-cleanup 'keep-tagged' 1.0.0 (ABI 1.0) from '%s/%s'", sdk.plugindir,
                           EXAMPLE_SO);
  none = g_strdup_printf("loaded log-driver 'none' %s (ABI 1.0) from '%s/libecsa-plugin-log-none.so'", PACKAGE_VERSION,
                         sdk.plugindir);
  o.wanted[0] = loaded;
#ifdef ECSA_TEST_HAVE_LOG_NONE
  o.wanted[1] = none;
#else
  o.found++; /* -Dplugin_log_none=disabled: no log-none to load */
#endif
  o.wanted[2] = "keeping images matching 2 pattern(s) of SITE_IMAGE_CLEANUP_KEEP";
  o.seen = g_string_new(NULL);

  /* Nothing may leave the machine: no instance metadata, credentials and endpoints on loopback. */
  g_subprocess_launcher_setenv(launcher, "ECSA_PLUGIN_DIR", sdk.plugindir, TRUE);
  g_subprocess_launcher_setenv(launcher, "SITE_IMAGE_CLEANUP_KEEP", "amazon/*, 10.0.0.5:5000/base/*", TRUE);
  g_subprocess_launcher_setenv(launcher, "AWS_DEFAULT_REGION", "us-west-2", TRUE);
  g_subprocess_launcher_setenv(launcher, "AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", TRUE);
  g_subprocess_launcher_setenv(launcher, "AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_BACKEND_HOST", "http://127.0.0.1:9", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_DATADIR", ecs_agent_data, TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_CHECKPOINT", "false", TRUE);
  g_subprocess_launcher_setenv(launcher, "ECS_LOGLEVEL", "info", TRUE);
  g_subprocess_launcher_unsetenv(launcher, "ECS_AGENT_CONFIG_FILE_PATH");
  agent = g_subprocess_launcher_spawnv(launcher, argv, &error);
  g_assert_no_error(error);
  o.lines = g_data_input_stream_new(g_subprocess_get_stdout_pipe(agent));
  g_data_input_stream_read_line_async(o.lines, G_PRIORITY_DEFAULT, NULL, read_line_cb, &o);
  ecsa_test_wait_for_flag(NULL, &o.done, 20000);
  g_subprocess_send_signal(agent, SIGTERM);
  g_subprocess_wait(agent, NULL, NULL);
  g_test_message("ecs-agent said:\n%s", o.seen->str);
  g_assert_cmpuint(o.found, ==, G_N_ELEMENTS(o.wanted));
  g_assert_null(strstr(o.seen->str, "skipping plugin"));
  g_object_unref(o.lines);
  g_string_free(o.seen, TRUE);
}

/* ---- and the policy does what it says ----------------------------------------------------- */

static void
test_policy(void)
{
  g_autoptr(EcsaPluginRegistry) registry = ecsa_plugin_registry_new();
  g_autoptr(EcsaPluginHostServices) services = ecsa_plugin_host_services_new(NULL, NULL, NULL);
  g_autoptr(EcsaPluginLoader) loader = ecsa_plugin_loader_new(registry, services);
  g_autofree char *so = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) chosen = NULL;
  const char *const base[] = { "10.0.0.5:5000/base/debian:12", NULL };
  const char *const agent_image[] = { "amazon/amazon-ecs-pause:0.1.0", NULL };
  const char *const app_a[] = { "10.0.0.5:5000/app/a:1", NULL };
  const char *const app_b[] = { "10.0.0.5:5000/app/b:1", "10.0.0.5:5000/app/b:latest", NULL };
  const char *const app_c[] = { "10.0.0.5:5000/app/c:1", NULL };
  const char *const young[] = { "10.0.0.5:5000/app/new:1", NULL };
  /* now = 100000 s, minimum age 3600 s */
  EcsaImageView images[] = {
    { sizeof(EcsaImageView), 0, "sha256:base", base, 1, 1000, 1000, 0, 0 },         /* kept by pattern */
    { sizeof(EcsaImageView), 0, "sha256:pause", agent_image, 1, 1000, 1000, 0, 0 }, /* kept by pattern */
    { sizeof(EcsaImageView), 0, "sha256:b", app_b, 1, 2000, 9000, 0, 0 },           /* used later */
    { sizeof(EcsaImageView), 0, "sha256:a", app_a, 1, 2000, 5000, 0, 0 },           /* least recently used */
    { sizeof(EcsaImageView), 1, "sha256:c", app_c, 1, 2000, 3000, 0, 0 },           /* a container uses it */
    { sizeof(EcsaImageView), 0, "sha256:outside", app_c, 1, 2000, 2000, 1, 0 },     /* used outside ECS */
    { sizeof(EcsaImageView), 0, "sha256:young", young, 1, 99000, 99000, 0, 0 },     /* too young */
  };
  const EcsaImageView *offered[G_N_ELEMENTS(images)];
  EcsaImageCleanupPolicy policy = { sizeof policy, 5, 100000, 3600 };

  g_assert_nonnull(sdk.plugindir);
  for (guint i = 0; i < G_N_ELEMENTS(images); i++)
    offered[i] = &images[i];
  so = g_build_filename(sdk.plugindir, EXAMPLE_SO, NULL);
  g_setenv("SITE_IMAGE_CLEANUP_KEEP", "amazon/*,10.0.0.5:5000/base/*", TRUE);
  g_assert_true(ecsa_plugin_loader_load_file(loader, so, &error));
  g_assert_no_error(error);
  g_unsetenv("SITE_IMAGE_CLEANUP_KEEP");

  chosen = ecsa_plugin_registry_image_cleanup_choose(registry, offered, G_N_ELEMENTS(offered), &policy, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(chosen->len, ==, 2);
  g_assert_cmpstr(g_ptr_array_index(chosen, 0), ==, "sha256:a");
  g_assert_cmpstr(g_ptr_array_index(chosen, 1), ==, "sha256:b");

  /* at most max_delete per cycle */
  policy.max_delete = 1;
  g_clear_pointer(&chosen, g_ptr_array_unref);
  chosen = ecsa_plugin_registry_image_cleanup_choose(registry, offered, G_N_ELEMENTS(offered), &policy, &error);
  g_assert_cmpuint(chosen->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(chosen, 0), ==, "sha256:a");
}

int
main(int argc, char **argv)
{
  int rc;

  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  sdk.tmp = ecsa_test_mkdtemp();
  sdk.destdir = g_build_filename(sdk.tmp, "destdir", NULL);

  /* in order: each step uses the previous one's result */
  g_test_add_func("/plugin-sdk/install-destdir", test_install);
  g_test_add_func("/plugin-sdk/pkg-config", test_pkg_config);
  g_test_add_func("/plugin-sdk/build-example", test_build_example);
  g_test_add_func("/plugin-sdk/build-example-sysroot", test_build_example_sysroot);
  g_test_add_func("/plugin-sdk/agent-loads-it", test_agent_loads_it);
  g_test_add_func("/plugin-sdk/policy", test_policy);
  rc = g_test_run();

  ecsa_test_rmdir_recursive(sdk.tmp);
  g_free(sdk.tmp);
  g_free(sdk.destdir);
  g_free(sdk.pcdir);
  g_free(sdk.plugindir);
  g_free(sdk.agent);
  return rc;
}

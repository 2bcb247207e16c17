/* test-plugin-loader.c: the loader refuses every broken plugin with one clear line and goes on.
 * Fixtures: tests/fixtures/plugins/fixture-<case>.c, built as libecsa-plugin-fixture-<case>.so.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-plugin-loader.h"
#include "ecsa-plugin-registry-private.h"
#include "ecsa-test-utils.h"

#include <dlfcn.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  char *tmp;
  char *fixture_dir;
  EcsaPluginRegistry *registry;
  EcsaPluginHostServices *services;
  EcsaPluginLoader *loader;
} LoaderFixture;

static void
fixture_setup(LoaderFixture *fx, gconstpointer data)
{
  fx->tmp = ecsa_test_mkdtemp();
  fx->fixture_dir = g_build_filename(g_getenv("G_TEST_BUILDDIR"), "fixtures", "plugins", NULL);
  fx->registry = ecsa_plugin_registry_new();
  fx->services = ecsa_plugin_host_services_new(NULL, NULL, NULL);
  fx->loader = ecsa_plugin_loader_new(fx->registry, fx->services);
}

static void
fixture_teardown(LoaderFixture *fx, gconstpointer data)
{
  ecsa_plugin_loader_free(fx->loader);
  ecsa_plugin_registry_free(fx->registry);
  ecsa_plugin_host_services_free(fx->services);
  ecsa_test_rmdir_recursive(fx->tmp);
  g_free(fx->tmp);
  g_free(fx->fixture_dir);
}

static char *
fixture_path(LoaderFixture *fx, const char *fixture_case)
{
  g_autofree char *name = g_strdup_printf("libecsa-plugin-fixture-%s.so", fixture_case);

  return g_build_filename(fx->fixture_dir, name, NULL);
}

/* Copy a fixture into the temp dir as `name` with `mode`; returns the new path. */
static char *
copy_fixture(LoaderFixture *fx, const char *fixture_case, const char *name, mode_t mode)
{
  g_autofree char *src = fixture_path(fx, fixture_case);
  char *dst = g_build_filename(fx->tmp, name, NULL);
  g_autofree char *contents = NULL;
  gsize length;
  g_autoptr(GError) error = NULL;

  g_assert_true(g_file_get_contents(src, &contents, &length, &error));
  g_assert_no_error(error);
  g_assert_true(g_file_set_contents(dst, contents, length, &error));
  g_assert_no_error(error);
  g_assert_cmpint(chmod(dst, mode), ==, 0);
  return dst;
}

/* ---- a good plugin ------------------------------------------------------------------------ */

static void
test_load_good(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *path = fixture_path(fx, "good");
  g_autoptr(GError) error = NULL;
  const EcsaLoadedPlugin *p;

  g_assert_true(ecsa_plugin_loader_load_file(fx->loader, path, &error));
  g_assert_no_error(error);
  p = ecsa_plugin_registry_lookup(fx->registry, ECSA_PLUGIN_KIND_IMAGE_CLEANUP, "fixture-good");
  g_assert_nonnull(p);
  g_assert_cmpstr(ecsa_loaded_plugin_get_path(p), ==, path);
  g_assert_cmpstr(ecsa_loaded_plugin_get_version(p), ==, "1.0.0");
  g_assert_nonnull(ecsa_loaded_plugin_get_host(p));
  g_assert_cmpuint(ecsa_loaded_plugin_get_host(p)->version, ==, ECSA_PLUGIN_HOST_VERSION);
}

/* ---- refusals, one per rule --------------------------------------------------------------- */

typedef struct
{
  const char *fixture_case;
  EcsaPluginError code;
  const char *message; /* the exact reason */
} RejectCase;

static const RejectCase reject_cases[] = {
  { "bad-major", ECSA_PLUGIN_ERROR_ABI,
    "built for plugin ABI 2.0, agent provides 1.0 (major must match, minor must be <= 0)" },
  { "newer-minor", ECSA_PLUGIN_ERROR_ABI,
    "built for plugin ABI 1.99, agent provides 1.0 (major must match, minor must be <= 0)" },
  { "wrong-size", ECSA_PLUGIN_ERROR_ABI, "descriptor is 120 bytes, agent expects 128 (mismatched headers?)" },
  { "reserved-set", ECSA_PLUGIN_ERROR_ABI, "descriptor has reserved fields set (built for a newer ABI?)" },
  { "no-symbol", ECSA_PLUGIN_ERROR_SYMBOL, "no 'ecsa_plugin_get_descriptor' symbol (not an ecs-agent plugin?)" },
  { "null-descriptor", ECSA_PLUGIN_ERROR_SYMBOL, "ecsa_plugin_get_descriptor() returned NULL" },
  { "unknown-kind", ECSA_PLUGIN_ERROR_INVALID, "unknown plugin kind 99 (this agent knows 1..5)" },
  { "bad-name", ECSA_PLUGIN_ERROR_INVALID,
    "name 'Fixture_Bad' is not valid (1 to 64 of [a-z0-9-], not starting or ending with '-')" },
  { "no-init", ECSA_PLUGIN_ERROR_INVALID, "image-cleanup 'fixture-no-init' has no init()" },
  { "no-vtable", ECSA_PLUGIN_ERROR_INVALID, "image-cleanup 'fixture-no-vtable' has no vtable" },
  { "vtable-zero", ECSA_PLUGIN_ERROR_ABI, "image-cleanup 'fixture-vtable-zero' has vtable version 0" },
  { "vtable-newer", ECSA_PLUGIN_ERROR_ABI,
    "image-cleanup 'fixture-vtable-newer' has vtable version 7, agent knows 1 (built for a newer ABI?)" },
  { "no-choose", ECSA_PLUGIN_ERROR_INVALID, "image-cleanup vtable: choose is required" },
  { "init-fails", ECSA_PLUGIN_ERROR_INIT,
    "image-cleanup 'fixture-init-fails' failed to initialize: SITE_WIDGET_MODE: must be fast or slow" },
  { "init-unsupported", ECSA_PLUGIN_ERROR_NOT_ENABLED,
    "image-cleanup 'fixture-unsupported' not enabled on this host: no widget socket at /run/widget" },
};

static void
test_reject(LoaderFixture *fx, gconstpointer data)
{
  const RejectCase *rc = data;
  g_autofree char *path = fixture_path(fx, rc->fixture_case);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) loaded = NULL;

  g_assert_false(ecsa_plugin_loader_load_file(fx->loader, path, &error));
  g_assert_error(error, ECSA_PLUGIN_ERROR, (gint)rc->code);
  g_assert_cmpstr(error->message, ==, rc->message);
  loaded = ecsa_plugin_registry_list(fx->registry, 0);
  g_assert_cmpuint(loaded->len, ==, 0);
}

static void
test_reject_not_regular(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *path = g_build_filename(fx->tmp, "libecsa-plugin-dir.so", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint(g_mkdir(path, 0755), ==, 0);
  g_assert_false(ecsa_plugin_loader_load_file(fx->loader, path, &error));
  g_assert_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_FILE);
  g_assert_cmpstr(error->message, ==, "not a regular file");
}

static void
test_reject_writable(LoaderFixture *fx, gconstpointer data)
{
  const mode_t modes[] = { 0664, 0646, 0666 };

  for (guint i = 0; i < G_N_ELEMENTS(modes); i++)
    {
      g_autofree char *name = g_strdup_printf("libecsa-plugin-writable-%u.so", i);
      g_autofree char *path = copy_fixture(fx, "good", name, modes[i]);
      g_autoptr(GError) error = NULL;

      g_assert_false(ecsa_plugin_loader_load_file(fx->loader, path, &error));
      g_assert_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_FILE);
      g_assert_cmpstr(error->message, ==, "file is group- or world-writable");
    }
}

static void
test_reject_foreign_owner(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *path = copy_fixture(fx, "good", "libecsa-plugin-foreign.so", 0644);
  g_autoptr(GError) error = NULL;

  if (geteuid() != 0)
    {
      g_test_skip("needs root to give the file away");
      return;
    }
  g_assert_cmpint(chown(path, 65534, 65534), ==, 0);
  g_assert_false(ecsa_plugin_loader_load_file(fx->loader, path, &error));
  g_assert_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_FILE);
  g_assert_cmpstr(error->message, ==, "file is owned by uid 65534, neither root nor the agent's user");
}

static void
test_reject_not_elf(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *path = g_build_filename(fx->tmp, "libecsa-plugin-text.so", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true(g_file_set_contents(path, "not a shared object\n", -1, NULL));
  g_assert_false(ecsa_plugin_loader_load_file(fx->loader, path, &error));
  g_assert_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_OPEN);
  g_assert_true(g_str_has_prefix(error->message, "cannot load it: "));
  g_assert_nonnull(strstr(error->message, "libecsa-plugin-text.so"));
}

static void
test_reject_missing(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *path = g_build_filename(fx->tmp, "libecsa-plugin-gone.so", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_false(ecsa_plugin_loader_load_file(fx->loader, path, &error));
  g_assert_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_FILE);
  g_assert_cmpstr(error->message, ==, "cannot stat it: No such file or directory");
}

static void
test_reject_duplicate(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *first = fixture_path(fx, "good");
  g_autofree char *second = copy_fixture(fx, "good", "libecsa-plugin-good-again.so", 0755);
  g_autofree char *expected = g_strdup_printf("image-cleanup 'fixture-good' is already loaded from '%s'", first);
  g_autoptr(GError) error = NULL;

  g_assert_true(ecsa_plugin_loader_load_file(fx->loader, first, &error));
  g_assert_no_error(error);
  g_assert_false(ecsa_plugin_loader_load_file(fx->loader, second, &error));
  g_assert_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_DUPLICATE);
  g_assert_cmpstr(error->message, ==, expected);
}

/* ---- the directory scan: one line per plugin, never aborting ------------------------------ */

static void
test_dir_scan(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *good = copy_fixture(fx, "good", "libecsa-plugin-a-good.so", 0755);
  g_autofree char *minor = copy_fixture(fx, "newer-minor", "libecsa-plugin-b-minor.so", 0755);
  g_autofree char *dup = copy_fixture(fx, "good", "libecsa-plugin-c-dup.so", 0755);
  g_autofree char *unsupported = copy_fixture(fx, "init-unsupported", "libecsa-plugin-d-unsupported.so", 0755);
  g_autofree char *writable = copy_fixture(fx, "good", "libecsa-plugin-e-writable.so", 0666);
  g_autofree char *ignored = copy_fixture(fx, "bad-major", "not-a-plugin-name.so", 0755);
  g_autofree char *pattern = NULL;

  pattern = g_strdup_printf("loaded image-cleanup 'fixture-good' 1.0.0 (ABI 1.0) from '%s'", good);
  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO, pattern);
  g_free(pattern);
  pattern = g_strdup_printf("skipping plugin '%s': built for plugin ABI 1.99, agent provides 1.0 "
                            "(major must match, minor must be <= 0)",
                            minor);
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING, pattern);
  g_free(pattern);
  pattern
    = g_strdup_printf("skipping plugin '%s': image-cleanup 'fixture-good' is already loaded from '%s'", dup, good);
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING, pattern);
  g_test_expect_message(
    "ecsa", G_LOG_LEVEL_INFO,
    "image-cleanup 'fixture-unsupported' not enabled on this host: no widget socket at /run/widget");
  g_free(pattern);
  pattern = g_strdup_printf("skipping plugin '%s': file is group- or world-writable", writable);
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING, pattern);

  g_assert_cmpuint(ecsa_plugin_loader_load_dir(fx->loader, fx->tmp), ==, 1);
  g_test_assert_expected_messages();
  g_assert_nonnull(ecsa_plugin_registry_lookup(fx->registry, ECSA_PLUGIN_KIND_IMAGE_CLEANUP, "fixture-good"));
  g_assert_null(ecsa_plugin_registry_lookup(fx->registry, ECSA_PLUGIN_KIND_IMAGE_CLEANUP, "fixture-unsupported"));
}

static void
test_dir_missing(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *dir = g_build_filename(fx->tmp, "nowhere", NULL);
  g_autofree char *pattern = g_strdup_printf("plugin directory '%s' does not exist, no plugins loaded from it", dir);

  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO, pattern);
  g_assert_cmpuint(ecsa_plugin_loader_load_dir(fx->loader, dir), ==, 0);
  g_test_assert_expected_messages();
}

static void
test_default_dir(void)
{
  g_autofree char *saved = g_strdup(g_getenv("ECSA_PLUGIN_DIR"));

  g_setenv("ECSA_PLUGIN_DIR", "/srv/site-plugins", TRUE);
  g_assert_cmpstr(ecsa_plugin_loader_default_dir(), ==, "/srv/site-plugins");
  g_setenv("ECSA_PLUGIN_DIR", "", TRUE);
  g_assert_cmpstr(ecsa_plugin_loader_default_dir(), ==, ECSA_PLUGINDIR);
  g_unsetenv("ECSA_PLUGIN_DIR");
  g_assert_cmpstr(ecsa_plugin_loader_default_dir(), ==, ECSA_PLUGINDIR);
  g_assert_true(g_str_has_suffix(ECSA_PLUGINDIR, "/ecs-agent/plugins-1"));
  if (saved != NULL)
    g_setenv("ECSA_PLUGIN_DIR", saved, TRUE);
}

/* ---- built-in plugins --------------------------------------------------------------------- */

#ifdef ECSA_TEST_HAVE_LOG_NONE
const EcsaPluginDescriptor *ecsa_plugin_log_none_get_descriptor(void);
#endif

static GString *shutdown_log;

static gboolean
builtin_init(const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  *out_state = g_strdup("state-of-builtin");
  return TRUE;
}

static void
builtin_shutdown(gpointer state)
{
  if (shutdown_log != NULL)
    g_string_append_printf(shutdown_log, "[%s]", (const char *)state);
  g_free(state);
}

static GPtrArray *
builtin_choose(gpointer state, const EcsaImageView *const *images, guint n_images, const EcsaImageCleanupPolicy *policy)
{
  return g_ptr_array_new_with_free_func(g_free);
}

static const EcsaImageCleanupVTable builtin_vtable = {
  .version = ECSA_IMAGE_CLEANUP_VTABLE_VERSION,
  .choose = builtin_choose,
};

#undef ECSA_PLUGIN_ENTRY_
#define ECSA_PLUGIN_ENTRY_(id) static const EcsaPluginDescriptor *ecsa_plugin_##id##_get_descriptor(void)
ECSA_PLUGIN_DEFINE(fixture_good_builtin, .kind = ECSA_PLUGIN_KIND_IMAGE_CLEANUP, .name = "fixture-good",
                   .version = "2.0.0", .init = builtin_init, .shutdown = builtin_shutdown, .vtable = &builtin_vtable)

#ifdef ECSA_TEST_HAVE_LOG_NONE /* -Dplugin_log_none=disabled: not built */
static void
test_builtin_table(LoaderFixture *fx, gconstpointer data)
{
  const EcsaPluginGetDescriptorFunc table[] = {
    ecsa_plugin_log_none_get_descriptor,
    ecsa_plugin_fixture_good_builtin_get_descriptor,
    ecsa_plugin_log_none_get_descriptor, /* twice: the second is refused */
    NULL,
  };
  g_autofree char *so = copy_fixture(fx, "good", "libecsa-plugin-good.so", 0755);
  g_autofree char *pattern = NULL;
  const EcsaLoadedPlugin *p;

  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO, "loaded log-driver 'none' " PACKAGE_VERSION " (ABI 1.0), built in");
  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO, "loaded image-cleanup 'fixture-good' 2.0.0 (ABI 1.0), built in");
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "skipping plugin 'built-in #2': log-driver 'none' is already loaded from "
                        "'the agent (built in)'");
  g_assert_cmpuint(ecsa_plugin_loader_load_builtin_table(fx->loader, table), ==, 2);
  g_test_assert_expected_messages();

  p = ecsa_plugin_registry_find_log_driver(fx->registry, "none");
  g_assert_nonnull(p);
  g_assert_null(ecsa_loaded_plugin_get_path(p));

  /* a .so of the same kind and name after the built-ins is refused */
  pattern = g_strdup_printf("skipping plugin '%s': image-cleanup 'fixture-good' is already loaded from "
                            "'the agent (built in)'",
                            so);
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING, pattern);
  g_assert_cmpuint(ecsa_plugin_loader_load_dir(fx->loader, fx->tmp), ==, 0);
  g_test_assert_expected_messages();
}
#endif

/* load_all without a linked table scans the directory from $ECSA_PLUGIN_DIR. */
static void
test_load_all_env(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *good = copy_fixture(fx, "good", "libecsa-plugin-good.so", 0755);
  g_autofree char *saved = g_strdup(g_getenv("ECSA_PLUGIN_DIR"));
  g_autofree char *pattern = g_strdup_printf("loaded image-cleanup 'fixture-good' 1.0.0 (ABI 1.0) from '%s'", good);

  g_setenv("ECSA_PLUGIN_DIR", fx->tmp, TRUE);
  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO, pattern);
  g_assert_cmpuint(ecsa_plugin_loader_load_all(fx->loader, NULL), ==, 1);
  g_test_assert_expected_messages();
  if (saved != NULL)
    g_setenv("ECSA_PLUGIN_DIR", saved, TRUE);
  else
    g_unsetenv("ECSA_PLUGIN_DIR");
}

/* Image cleanup is served by one plugin: with two, one line says which. */
static void
test_load_all_singleton(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *a = copy_fixture(fx, "good", "libecsa-plugin-a.so", 0755);
  g_autofree char *b = copy_fixture(fx, "second", "libecsa-plugin-b.so", 0755);
  g_autofree char *la = g_strdup_printf("loaded image-cleanup 'fixture-good' 1.0.0 (ABI 1.0) from '%s'", a);
  g_autofree char *lb = g_strdup_printf("loaded image-cleanup 'fixture-second' 1.0.0 (ABI 1.0) from '%s'", b);
  g_autoptr(GError) error = NULL;

  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO, la);
  g_test_expect_message("ecsa", G_LOG_LEVEL_INFO, lb);
  g_test_expect_message("ecsa", G_LOG_LEVEL_WARNING,
                        "2 image-cleanup plugins are loaded; using 'fixture-good', ignoring 'fixture-second'");
  g_assert_cmpuint(ecsa_plugin_loader_load_all(fx->loader, fx->tmp), ==, 2);
  g_test_assert_expected_messages();
  g_assert_cmpstr(
    ecsa_loaded_plugin_get_name(ecsa_plugin_registry_get_selected(fx->registry, ECSA_PLUGIN_KIND_IMAGE_CLEANUP)), ==,
    "fixture-good");
  g_assert_true(ecsa_plugin_registry_select(fx->registry, ECSA_PLUGIN_KIND_IMAGE_CLEANUP, "fixture-second", &error));
  g_assert_no_error(error);
  g_assert_cmpstr(
    ecsa_loaded_plugin_get_name(ecsa_plugin_registry_get_selected(fx->registry, ECSA_PLUGIN_KIND_IMAGE_CLEANUP)), ==,
    "fixture-second");
  g_assert_false(ecsa_plugin_registry_select(fx->registry, ECSA_PLUGIN_KIND_IMAGE_CLEANUP, "lru", &error));
  g_assert_error(error, ECSA_ERROR, ECSA_ERROR_NOT_FOUND);
  g_assert_cmpstr(error->message, ==, "no image-cleanup plugin 'lru' is loaded");
  g_assert_null(ecsa_plugin_registry_get_selected(fx->registry, ECSA_PLUGIN_KIND_METRICS));
}

/* shutdown() once per initialized plugin, newest first; modules stay loaded. */
static void
test_shutdown_and_resident(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *so = fixture_path(fx, "good");
  g_autoptr(GError) error = NULL;
  gpointer handle;

  shutdown_log = g_string_new(NULL);
  g_assert_true(ecsa_plugin_loader_load_builtin(fx->loader, ecsa_plugin_fixture_good_builtin_get_descriptor, &error));
  g_assert_no_error(error);
#ifdef ECSA_TEST_HAVE_LOG_NONE /* a plugin without shutdown() */
  g_assert_true(ecsa_plugin_loader_load_builtin(fx->loader, ecsa_plugin_log_none_get_descriptor, &error));
  g_assert_no_error(error);
#endif
  ecsa_plugin_loader_free(fx->loader);
  fx->loader = NULL;
  ecsa_plugin_registry_free(fx->registry);
  fx->registry = ecsa_plugin_registry_new();
  g_assert_cmpstr(shutdown_log->str, ==, "[state-of-builtin]");
  g_string_free(shutdown_log, TRUE);
  shutdown_log = NULL;

  /* a loaded .so is never unloaded, even after its registry is gone */
  fx->loader = ecsa_plugin_loader_new(fx->registry, fx->services);
  g_assert_true(ecsa_plugin_loader_load_file(fx->loader, so, &error));
  g_assert_no_error(error);
  ecsa_plugin_registry_free(fx->registry);
  fx->registry = ecsa_plugin_registry_new();
  handle = dlopen(so, RTLD_NOW | RTLD_NOLOAD);
  g_assert_nonnull(handle);
  dlclose(handle); /* drops only the reference RTLD_NOLOAD took */
}

static gboolean
is_mapped(const char *so)
{
  gpointer handle = dlopen(so, RTLD_NOW | RTLD_NOLOAD);

  if (handle == NULL)
    return FALSE;
  dlclose(handle); /* drops only the reference RTLD_NOLOAD took */
  return TRUE;
}

/* A plugin that is not enabled is unloaded: a log driver ECS_AVAILABLE_LOGGING_DRIVERS does not
 * list (never initialized), one whose init() says ECSA_ERROR_NOT_SUPPORTED. One whose init()
 * fails otherwise stays mapped (it may have left something behind). */
static void
test_not_enabled_unloaded(LoaderFixture *fx, gconstpointer data)
{
  g_autofree char *log_so = copy_fixture(fx, "log-driver", "libecsa-plugin-log.so", 0755);
  g_autofree char *unsupported_so = copy_fixture(fx, "init-unsupported", "libecsa-plugin-unsupported.so", 0755);
  g_autofree char *fails_so = copy_fixture(fx, "init-fails", "libecsa-plugin-fails.so", 0755);
  const char *const json_only[] = { "json-file", NULL };
  const char *const with_fixture[] = { "json-file", "fixture-log", NULL };
  EcsaConfig config = { 0 };
  g_autoptr(GError) error = NULL;

  ecsa_plugin_loader_free(fx->loader);
  ecsa_plugin_host_services_free(fx->services);
  fx->services = ecsa_plugin_host_services_new(&config, NULL, NULL);
  fx->loader = ecsa_plugin_loader_new(fx->registry, fx->services);

  config.available_logging_drivers = (char **)json_only;
  g_assert_false(ecsa_plugin_loader_load_file(fx->loader, log_so, &error));
  g_assert_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED);
  g_assert_cmpstr(error->message, ==,
                  "log-driver 'fixture-log' not enabled: 'fixture-log' is not in ECS_AVAILABLE_LOGGING_DRIVERS");
  g_clear_error(&error);
  g_assert_false(is_mapped(log_so));
  g_assert_null(ecsa_plugin_registry_find_log_driver(fx->registry, "fixture-log"));

  g_assert_false(ecsa_plugin_loader_load_file(fx->loader, unsupported_so, &error));
  g_assert_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_NOT_ENABLED);
  g_clear_error(&error);
  g_assert_false(is_mapped(unsupported_so));
  g_assert_cmpstr(g_quark_to_string(ECSA_ERROR), ==, "ecsa-error-quark"); /* not the unloaded copy */

  g_assert_false(ecsa_plugin_loader_load_file(fx->loader, fails_so, &error));
  g_assert_error(error, ECSA_PLUGIN_ERROR, ECSA_PLUGIN_ERROR_INIT);
  g_clear_error(&error);
  g_assert_true(is_mapped(fails_so));

  config.available_logging_drivers = (char **)with_fixture;
  g_assert_true(ecsa_plugin_loader_load_file(fx->loader, log_so, &error));
  g_assert_no_error(error);
  g_assert_true(is_mapped(log_so));
  g_assert_nonnull(ecsa_plugin_registry_find_log_driver(fx->registry, "fixture-log"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add("/plugin-loader/load/good", LoaderFixture, NULL, fixture_setup, test_load_good, fixture_teardown);
  for (guint i = 0; i < G_N_ELEMENTS(reject_cases); i++)
    {
      g_autofree char *path = g_strdup_printf("/plugin-loader/reject/%s", reject_cases[i].fixture_case);

      g_test_add(path, LoaderFixture, &reject_cases[i], fixture_setup, test_reject, fixture_teardown);
    }
  g_test_add("/plugin-loader/reject/not-regular", LoaderFixture, NULL, fixture_setup, test_reject_not_regular,
             fixture_teardown);
  g_test_add("/plugin-loader/reject/writable", LoaderFixture, NULL, fixture_setup, test_reject_writable,
             fixture_teardown);
  g_test_add("/plugin-loader/reject/foreign-owner", LoaderFixture, NULL, fixture_setup, test_reject_foreign_owner,
             fixture_teardown);
  g_test_add("/plugin-loader/reject/not-elf", LoaderFixture, NULL, fixture_setup, test_reject_not_elf,
             fixture_teardown);
  g_test_add("/plugin-loader/reject/missing", LoaderFixture, NULL, fixture_setup, test_reject_missing,
             fixture_teardown);
  g_test_add("/plugin-loader/reject/duplicate", LoaderFixture, NULL, fixture_setup, test_reject_duplicate,
             fixture_teardown);
  g_test_add("/plugin-loader/dir/scan", LoaderFixture, NULL, fixture_setup, test_dir_scan, fixture_teardown);
  g_test_add("/plugin-loader/dir/missing", LoaderFixture, NULL, fixture_setup, test_dir_missing, fixture_teardown);
  g_test_add_func("/plugin-loader/dir/default", test_default_dir);
#ifdef ECSA_TEST_HAVE_LOG_NONE
  g_test_add("/plugin-loader/builtin/table", LoaderFixture, NULL, fixture_setup, test_builtin_table, fixture_teardown);
#endif
  g_test_add("/plugin-loader/load-all/env", LoaderFixture, NULL, fixture_setup, test_load_all_env, fixture_teardown);
  g_test_add("/plugin-loader/load-all/singleton", LoaderFixture, NULL, fixture_setup, test_load_all_singleton,
             fixture_teardown);
  g_test_add("/plugin-loader/shutdown-and-resident", LoaderFixture, NULL, fixture_setup, test_shutdown_and_resident,
             fixture_teardown);
  g_test_add("/plugin-loader/not-enabled-unloaded", LoaderFixture, NULL, fixture_setup, test_not_enabled_unloaded,
             fixture_teardown);
  return g_test_run();
}

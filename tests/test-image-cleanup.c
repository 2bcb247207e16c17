/* test-image-cleanup.c: the image cleanup cycle (core/ecsa-image-cleanup.c) with the LRU policy
 * plugin, against real images (distinct one-layer images imported into Docker, each under
 * ecsa-t<pid>-imgclean/..., some with extra tags), and a stand-in for the task engine's image state.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-image-cleanup.h"
#include "ecsa-plugin-loader.h"
#include "ecsa-test-netplug.h"
#include "ecsa-test-utils.h"

#include <string.h>
#include <unistd.h>

const EcsaPluginDescriptor *ecsa_plugin_image_cleanup_lru_get_descriptor(void);

#define HOUR ((gint64)3600)

/* What the engine would know of one image. */
typedef struct
{
  char *id;
  char **names;
  gint64 pulled_at;
  gint64 last_used_at;
  guint n_containers;
} Tracked;

typedef struct
{
  EcsaNetplugHost *th;
  EcsaPluginRegistry *registry;
  EcsaPluginLoader *loader;
  EcsaImageCleanup *cleanup;
  char *prefix;
  GPtrArray *tracked;    /* Tracked* */
  GHashTable *owned;     /* container ids "the engine" owns */
  GPtrArray *forgotten;  /* ids */
  GPtrArray *images;     /* names to remove at teardown */
  GPtrArray *containers; /* ids to remove at teardown */
} Fixture;

static void
tracked_free(Tracked *t)
{
  g_free(t->id);
  g_strfreev(t->names);
  g_free(t);
}

/* ---- the engine's side ----------------------------------------------------------------------- */

static void
view_free(EcsaImageView *v)
{
  g_free((char *)v->image_id);
  g_strfreev((char **)v->names);
  g_free(v);
}

static GPtrArray *
source_list_images(gpointer data)
{
  Fixture *fx = data;
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)view_free);

  for (guint i = 0; i < fx->tracked->len; i++)
    {
      Tracked *t = g_ptr_array_index(fx->tracked, i);
      EcsaImageView *v = g_new0(EcsaImageView, 1);

      v->struct_size = sizeof(EcsaImageView);
      v->image_id = g_strdup(t->id);
      v->names = (const char *const *)g_strdupv(t->names);
      v->n_containers = t->n_containers;
      v->pulled_at = t->pulled_at;
      v->last_used_at = t->last_used_at;
      g_ptr_array_add(out, v);
    }
  return out;
}

static gboolean
source_owns_container(gpointer data, const char *docker_id)
{
  return g_hash_table_contains(((Fixture *)data)->owned, docker_id);
}

static void
source_forget_image(gpointer data, const char *image_id)
{
  Fixture *fx = data;

  g_ptr_array_add(fx->forgotten, g_strdup(image_id));
  for (guint i = 0; i < fx->tracked->len; i++)
    if (g_str_equal(((Tracked *)g_ptr_array_index(fx->tracked, i))->id, image_id))
      {
        g_ptr_array_remove_index(fx->tracked, i);
        return;
      }
}

static const EcsaImageCleanupSource source = {
  .list_images = source_list_images,
  .owns_container = source_owns_container,
  .forget_image = source_forget_image,
};

/* ---- images ------------------------------------------------------------------------------------ */

/* A one-file tar archive (ustar): the layer of a distinct image. */
static GBytes *
tiny_tar(const char *content)
{
  gsize len = strlen(content);
  gsize size = 512 + (len + 511) / 512 * 512 + 1024;
  guint8 *tar = g_malloc0(size);
  guint sum = 0;

  memcpy(tar, "stamp", 5);         /* name */
  memcpy(tar + 100, "0000644", 7); /* mode */
  memcpy(tar + 108, "0000000", 7); /* uid */
  memcpy(tar + 116, "0000000", 7); /* gid */
  g_snprintf((char *)tar + 124, 12, "%011o", (guint)len);
  memcpy(tar + 136, "00000000000", 11); /* mtime */
  memset(tar + 148, ' ', 8);            /* checksum, counted as spaces */
  tar[156] = '0';                       /* regular file */
  memcpy(tar + 257, "ustar", 6);
  memcpy(tar + 263, "00", 2);
  for (guint i = 0; i < 512; i++)
    sum += tar[i];
  g_snprintf((char *)tar + 148, 8, "%06o", sum);
  memcpy(tar + 512, content, len);
  return g_bytes_new_take(tar, size);
}

/* A distinct image (its own layer, imported), known as prefix/<name>:v1 and any extra tags. */
static char *
make_image(Fixture *fx, const char *name, const char *const *extra_tags)
{
  g_autofree char *path = g_strdup_printf("/images/create?fromSrc=-&repo=%s/%s&tag=v1", fx->prefix, name);
  g_autofree char *ref = g_strdup_printf("%s/%s:v1", fx->prefix, name);
  g_autofree char *inspect_path = g_strdup_printf("/images/%s/json", ref);
  g_autoptr(GBytes) layer = tiny_tar(name);
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(JsonNode) inspect = NULL;
  guint status = 0;

  reply = ecsa_netplug_docker_raw(fx->th, "POST", path, layer, "application/x-tar", &status);
  g_assert_cmpuint(status, ==, 200);
  g_ptr_array_add(fx->images, g_strdup(ref));
  for (guint i = 0; extra_tags != NULL && extra_tags[i] != NULL; i++)
    {
      g_autoptr(JsonNode) tagged = NULL;
      g_autofree char *tag_path = g_strdup_printf("/images/%s/tag?repo=%s/%s&tag=v1", ref, fx->prefix, extra_tags[i]);
      tagged = ecsa_netplug_docker(fx->th, "POST", tag_path, NULL, &status);
      g_assert_cmpuint(status, ==, 201);
      g_ptr_array_add(fx->images, g_strdup_printf("%s/%s:v1", fx->prefix, extra_tags[i]));
    }
  inspect = ecsa_netplug_docker(fx->th, "GET", inspect_path, NULL, &status);
  g_assert_cmpuint(status, ==, 200);
  return g_strdup(json_object_get_string_member(json_node_get_object(inspect), "Id"));
}

/* A container of `image`, created (never started: the image has no program), removed at teardown. */
static char *
create_container(Fixture *fx, const char *suffix, const char *image)
{
  g_autofree char *path = g_strdup_printf("/containers/create?name=%s-%s", fx->prefix, suffix);
  g_autofree char *body = g_strdup_printf("{\"Image\":\"%s\",\"Cmd\":[\"/nothing\"],"
                                          "\"HostConfig\":{\"NetworkMode\":\"none\"}}",
                                          image);
  g_autoptr(JsonNode) created = NULL;
  guint status = 0;
  char *id;

  created = ecsa_netplug_docker(fx->th, "POST", path, body, &status);
  g_assert_cmpuint(status, ==, 201);
  id = g_strdup(json_object_get_string_member(json_node_get_object(created), "Id"));
  g_ptr_array_add(fx->containers, g_strdup(id));
  return id;
}

static gboolean
image_exists(Fixture *fx, const char *ref)
{
  g_autofree char *path = g_strdup_printf("/images/%s/json", ref);
  g_autoptr(JsonNode) inspect = NULL;
  guint status = 0;

  inspect = ecsa_netplug_docker(fx->th, "GET", path, NULL, &status);
  g_assert_true(status == 200 || status == 404);
  return status == 200;
}

/* The engine tracks `id` under the names given, pulled 10 h ago, last used `used_ago` ago. */
static void
track(Fixture *fx, const char *id, const char *const *names, gint64 used_ago, guint n_containers)
{
  Tracked *t = g_new0(Tracked, 1);
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  g_autoptr(GStrvBuilder) b = g_strv_builder_new();

  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *ref = g_str_has_prefix(names[i], "sha256:") ? g_strdup(names[i])
                                                                   : g_strdup_printf("%s/%s:v1", fx->prefix, names[i]);
      g_strv_builder_add(b, ref);
    }
  t->id = g_strdup(id);
  t->names = g_strv_builder_end(b);
  t->pulled_at = now - 10 * HOUR;
  t->last_used_at = now - used_ago;
  t->n_containers = n_containers;
  g_ptr_array_add(fx->tracked, t);
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->prefix = g_strdup_printf("ecsa-t%d-imgclean", (int)getpid());
  /* what an earlier, crashed run left (its PID is gone) */
  ecsa_netplug_sh(NULL,
                  "for r in $(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^ecsa-t[0-9]*-imgclean/'); do "
                  "pid=${r#ecsa-t}; pid=${pid%%%%-*}; [ -d /proc/$pid ] || docker rmi -f $r >/dev/null; done; "
                  "for c in $(docker ps -a --format '{{.Names}}' | grep '^ecsa-t[0-9]*-imgclean-'); do "
                  "pid=${c#ecsa-t}; pid=${pid%%%%-*}; [ -d /proc/$pid ] || docker rm -f $c >/dev/null; done");
  fx->th = ecsa_netplug_host_new(ECSA_PLUGIN_KIND_IMAGE_CLEANUP, "lru", NULL, NULL);
  fx->th->config->num_images_to_delete_per_cycle = 2;
  fx->th->config->minimum_image_deletion_age = HOUR * G_USEC_PER_SEC;
  fx->registry = ecsa_plugin_registry_new();
  fx->loader = ecsa_plugin_loader_new(fx->registry, fx->th->services);
  g_assert_true(ecsa_plugin_loader_load_builtin(fx->loader, ecsa_plugin_image_cleanup_lru_get_descriptor, &error));
  g_assert_no_error(error);
  fx->tracked = g_ptr_array_new_with_free_func((GDestroyNotify)tracked_free);
  fx->owned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  fx->forgotten = g_ptr_array_new_with_free_func(g_free);
  fx->images = g_ptr_array_new_with_free_func(g_free);
  fx->containers = g_ptr_array_new_with_free_func(g_free);
  fx->cleanup = ecsa_image_cleanup_new(fx->th->config, fx->th->docker_client, fx->registry, &source, fx);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
  ecsa_image_cleanup_free(fx->cleanup);
  for (guint i = 0; i < fx->containers->len; i++)
    ecsa_netplug_docker_remove(fx->th, g_ptr_array_index(fx->containers, i));
  for (guint i = 0; i < fx->images->len; i++)
    {
      g_autofree char *path = g_strdup_printf("/images/%s?force=1", (char *)g_ptr_array_index(fx->images, i));
      g_autoptr(JsonNode) reply = NULL;
      guint status = 0;

      reply = ecsa_netplug_docker(fx->th, "DELETE", path, NULL, &status);
      g_assert_true(status == 200 || status == 404);
    }
  ecsa_plugin_loader_free(fx->loader);
  ecsa_plugin_registry_free(fx->registry);
  ecsa_netplug_host_free(fx->th);
  g_ptr_array_unref(fx->tracked);
  g_hash_table_unref(fx->owned);
  g_ptr_array_unref(fx->forgotten);
  g_ptr_array_unref(fx->images);
  g_ptr_array_unref(fx->containers);
  g_free(fx->prefix);
}

typedef struct
{
  gboolean done;
  GAsyncResult *result;
} Waiter;

static void
waiter_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Waiter *w = user_data;

  w->result = g_object_ref(result);
  w->done = TRUE;
}

static EcsaImageCleanupReport *
run_cycle(Fixture *fx)
{
  Waiter w = { FALSE, NULL };
  g_autoptr(GError) error = NULL;
  EcsaImageCleanupReport *report;

  ecsa_image_cleanup_run_async(fx->cleanup, NULL, waiter_cb, &w);
  ecsa_test_wait_for_flag(g_main_context_default(), &w.done, 60000);
  report = ecsa_image_cleanup_run_finish(fx->cleanup, w.result, &error);
  g_object_unref(w.result);
  g_assert_no_error(error);
  g_assert_nonnull(report);
  return report;
}

static char *
joined(GPtrArray *a)
{
  g_ptr_array_add(a, NULL);
  char *s = g_strjoinv(",", (char **)a->pdata);
  g_ptr_array_remove_index(a, a->len - 1);
  return s;
}

static void
test_lru_and_limit(Fixture *fx, gconstpointer data)
{
  const char *a_tags[] = { "a-alias", NULL };
  g_autofree char *a = make_image(fx, "a", a_tags);
  g_autofree char *b = make_image(fx, "b", NULL);
  g_autofree char *c = make_image(fx, "c", NULL);
  g_autofree char *d = make_image(fx, "d", NULL);
  g_autoptr(EcsaImageCleanupReport) report = NULL;
  g_autofree char *removed = NULL;
  g_autofree char *forgotten = NULL;
  g_autofree char *want = NULL;
  g_autofree char *a_ref = g_strdup_printf("%s/a:v1", fx->prefix);
  g_autofree char *a_alias = g_strdup_printf("%s/a-alias:v1", fx->prefix);
  g_autofree char *b_ref = g_strdup_printf("%s/b:v1", fx->prefix);
  g_autofree char *c_ref = g_strdup_printf("%s/c:v1", fx->prefix);
  g_autofree char *d_ref = g_strdup_printf("%s/d:v1", fx->prefix);

  track(fx, c, (const char *[]){ "c", NULL }, 1 * HOUR, 0);
  track(fx, b, (const char *[]){ "b", NULL }, 4 * HOUR, 0);
  track(fx, a, (const char *[]){ "a", "a-alias", NULL }, 5 * HOUR, 0);
  track(fx, d, (const char *[]){ "d", NULL }, 9 * HOUR, 1); /* a task's container uses it */

  /* ECS_NUM_IMAGES_DELETE_PER_CYCLE=2: the two least recently used unused images go, A by both
   * of its names */
  report = run_cycle(fx);
  removed = joined(report->removed);
  want = g_strdup_printf("%s,%s", a, b);
  g_assert_cmpstr(removed, ==, want);
  g_assert_cmpuint(report->failed->len, ==, 0);
  forgotten = joined(fx->forgotten);
  g_assert_cmpstr(forgotten, ==, want);
  g_assert_false(image_exists(fx, a_ref));
  g_assert_false(image_exists(fx, a_alias));
  g_assert_false(image_exists(fx, b_ref));
  g_assert_true(image_exists(fx, c_ref));
  g_assert_true(image_exists(fx, d_ref));
  g_assert_true(ecsa_netplug_host_logged(fx->th, "Image removed: '"));

  /* next cycle: C (D is in use) */
  g_clear_pointer(&report, ecsa_image_cleanup_report_free);
  g_clear_pointer(&removed, g_free);
  report = run_cycle(fx);
  removed = joined(report->removed);
  g_assert_cmpstr(removed, ==, c);
  g_assert_false(image_exists(fx, c_ref));
  g_assert_true(image_exists(fx, d_ref));
}

static void
test_outside_ecs_and_failure(Fixture *fx, gconstpointer data)
{
  g_autofree char *e = make_image(fx, "e", NULL);
  g_autofree char *f = make_image(fx, "f", NULL);
  g_autofree char *g = make_image(fx, "g", NULL);
  g_autofree char *e_ref = g_strdup_printf("%s/e:v1", fx->prefix);
  g_autofree char *f_ref = g_strdup_printf("%s/f:v1", fx->prefix);
  g_autofree char *g_ref = g_strdup_printf("%s/g:v1", fx->prefix);
  g_autofree char *outside = create_container(fx, "outside", e_ref);
  g_autofree char *stale = create_container(fx, "stale", f_ref);
  g_autoptr(EcsaImageCleanupReport) report = NULL;
  g_autofree char *removed = NULL;

  /* E: a container the agent does not own uses it (v1.16.2 would retry it forever);
   * F: the engine's state says unused, but one of its containers still exists: Docker refuses;
   * G: free. With two removals a cycle: F fails, G still goes, E is never attempted. */
  g_hash_table_add(fx->owned, g_strdup(stale));
  track(fx, e, (const char *[]){ "e", NULL }, 9 * HOUR, 0);
  track(fx, f, (const char *[]){ "f", NULL }, 8 * HOUR, 0);
  track(fx, g, (const char *[]){ "g", NULL }, 7 * HOUR, 0);
  report = run_cycle(fx);
  removed = joined(report->removed);
  g_assert_cmpstr(removed, ==, g);
  g_assert_cmpuint(report->failed->len, ==, 1);
  g_assert_true(g_str_has_prefix(g_ptr_array_index(report->failed, 0), f));
  g_test_message("failed: %s", (char *)g_ptr_array_index(report->failed, 0));
  g_assert_nonnull(strstr(g_ptr_array_index(report->failed, 0), "conflict"));
  g_assert_true(image_exists(fx, e_ref));
  g_assert_true(image_exists(fx, f_ref));
  g_assert_false(image_exists(fx, g_ref));
  g_assert_cmpuint(fx->tracked->len, ==, 2); /* E and F still tracked */
  g_assert_true(ecsa_netplug_host_logged(fx->th, "Error removing image"));
  (void)outside;
}

static void
test_gone_images_forgotten(Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaImageCleanupReport) report = NULL;
  const char *gone = "sha256:00000000000000000000000000000000000000000000000000000000deadbeef";

  track(fx, gone, (const char *[]){ "gone", NULL }, 9 * HOUR, 0);
  report = run_cycle(fx);
  g_assert_cmpuint(report->removed->len, ==, 0);
  g_assert_cmpuint(report->forgotten->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(report->forgotten, 0), ==, gone);
  g_assert_cmpuint(fx->tracked->len, ==, 0);
}

static void
test_timer(Fixture *fx, gconstpointer data)
{
  g_autofree char *h = make_image(fx, "h", NULL);
  g_autofree char *h_ref = g_strdup_printf("%s/h:v1", fx->prefix);
  gint64 deadline;

  /* ECS_DISABLE_IMAGE_CLEANUP: no timer */
  fx->th->config->image_cleanup_disabled = TRUE;
  ecsa_image_cleanup_start(fx->cleanup);
  g_assert_false(ecsa_image_cleanup_is_running(fx->cleanup));

  fx->th->config->image_cleanup_disabled = FALSE;
  track(fx, h, (const char *[]){ "h", NULL }, 9 * HOUR, 0);
  ecsa_image_cleanup_set_interval(fx->cleanup, 300);
  ecsa_image_cleanup_start(fx->cleanup);
  g_assert_true(ecsa_image_cleanup_is_running(fx->cleanup));
  deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (fx->tracked->len > 0)
    {
      g_assert_cmpint(g_get_monotonic_time(), <, deadline);
      ecsa_netplug_iterate(100);
    }
  g_assert_false(image_exists(fx, h_ref));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add("/image-cleanup/cycle/lru-and-limit", Fixture, NULL, fixture_setup, test_lru_and_limit, fixture_teardown);
  g_test_add("/image-cleanup/cycle/outside-ecs-and-failure", Fixture, NULL, fixture_setup, test_outside_ecs_and_failure,
             fixture_teardown);
  g_test_add("/image-cleanup/cycle/gone-images-forgotten", Fixture, NULL, fixture_setup, test_gone_images_forgotten,
             fixture_teardown);
  g_test_add("/image-cleanup/timer", Fixture, NULL, fixture_setup, test_timer, fixture_teardown);
  return g_test_run();
}

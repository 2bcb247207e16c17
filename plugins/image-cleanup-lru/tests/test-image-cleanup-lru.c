/* test-image-cleanup-lru.c: the v1.16.2 image-cleanup policy, through the plugin's descriptor.
 * (The core side, with real images, is tests/test-image-cleanup.c.)
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-plugin.h"

const EcsaPluginDescriptor *ecsa_plugin_image_cleanup_lru_get_descriptor (void);

#define NOW ((gint64) 1700000000)
#define HOUR ((gint64) 3600)

typedef struct
{
  const EcsaPluginDescriptor *desc;
  const EcsaImageCleanupVTable *vt;
  EcsaPluginHost host;
  gpointer state;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  fx->desc = ecsa_plugin_image_cleanup_lru_get_descriptor ();
  g_assert_cmpuint (fx->desc->kind, ==, ECSA_PLUGIN_KIND_IMAGE_CLEANUP);
  g_assert_cmpstr (fx->desc->name, ==, "lru");
  fx->vt = fx->desc->vtable;
  g_assert_cmpuint (fx->vt->version, ==, ECSA_IMAGE_CLEANUP_VTABLE_VERSION);
  fx->host.version = ECSA_PLUGIN_HOST_VERSION;
  fx->host.struct_size = sizeof (EcsaPluginHost);
  fx->host.main_context = g_main_context_default ();
  g_assert_true (fx->desc->init (&fx->host, &fx->state, &error));
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  fx->desc->shutdown (fx->state);
}

static EcsaImageView
image (const char *id, gint64 pulled_ago, gint64 used_ago, guint n_containers, gboolean outside)
{
  static const char *const no_names[] = { NULL };
  EcsaImageView v = { .struct_size = sizeof (EcsaImageView),
                      .n_containers = n_containers,
                      .image_id = id,
                      .names = no_names,
                      .size = 1024,
                      .pulled_at = NOW - pulled_ago,
                      .last_used_at = NOW - used_ago,
                      .used_outside_ecs = outside };
  return v;
}

static char *
choose (Fixture *fx, const EcsaImageView *images, guint n, guint max_delete, gint64 minimum_age)
{
  g_autofree const EcsaImageView **ptrs = g_new0 (const EcsaImageView *, n + 1);
  EcsaImageCleanupPolicy policy = { .struct_size = sizeof (policy), .max_delete = max_delete, .now = NOW,
                                    .minimum_age = minimum_age };
  g_autoptr(GPtrArray) chosen = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  guint i;

  for (i = 0; i < n; i++)
    ptrs[i] = &images[i];
  chosen = fx->vt->choose (fx->state, ptrs, n, &policy);
  g_assert_nonnull (chosen);
  g_assert_cmpuint (chosen->len, <=, max_delete);
  for (i = 0; i < chosen->len; i++)
    g_string_append_printf (out, "%s%s", i ? "," : "", (const char *) g_ptr_array_index (chosen, i));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
test_lru_order (Fixture *fx, gconstpointer data)
{
  EcsaImageView images[] = {
    image ("sha256:b", 5 * HOUR, 2 * HOUR, 0, FALSE),
    image ("sha256:a", 5 * HOUR, 4 * HOUR, 0, FALSE),
    image ("sha256:c", 5 * HOUR, 1 * HOUR, 0, FALSE),
  };
  g_autofree char *got = choose (fx, images, G_N_ELEMENTS (images), 5, HOUR);

  g_assert_cmpstr (got, ==, "sha256:a,sha256:b,sha256:c");
}

static void
test_max_per_cycle (Fixture *fx, gconstpointer data)
{
  EcsaImageView images[] = {
    image ("sha256:1", 9 * HOUR, 9 * HOUR, 0, FALSE), image ("sha256:2", 9 * HOUR, 8 * HOUR, 0, FALSE),
    image ("sha256:3", 9 * HOUR, 7 * HOUR, 0, FALSE), image ("sha256:4", 9 * HOUR, 6 * HOUR, 0, FALSE),
    image ("sha256:5", 9 * HOUR, 5 * HOUR, 0, FALSE), image ("sha256:6", 9 * HOUR, 4 * HOUR, 0, FALSE),
    image ("sha256:7", 9 * HOUR, 3 * HOUR, 0, FALSE),
  };
  g_autofree char *five = choose (fx, images, G_N_ELEMENTS (images), 5, HOUR);
  g_autofree char *two = choose (fx, images, G_N_ELEMENTS (images), 2, HOUR);
  g_autofree char *none = choose (fx, images, G_N_ELEMENTS (images), 0, HOUR);

  g_assert_cmpstr (five, ==, "sha256:1,sha256:2,sha256:3,sha256:4,sha256:5");
  g_assert_cmpstr (two, ==, "sha256:1,sha256:2");
  g_assert_cmpstr (none, ==, "");
}

static void
test_minimum_age (Fixture *fx, gconstpointer data)
{
  /* Age counts from the pull, strictly greater than the minimum (v1.16.2's isImageOldEnough); a
   * recent use does not protect an old image, an old last use does not age a fresh pull. */
  EcsaImageView images[] = {
    image ("sha256:exactly-min", HOUR, HOUR, 0, FALSE),
    image ("sha256:young", HOUR - 1, 10 * HOUR, 0, FALSE),
    image ("sha256:old-used-now", HOUR + 1, 0, 0, FALSE),
  };
  g_autofree char *got = choose (fx, images, G_N_ELEMENTS (images), 5, HOUR);
  g_autofree char *zero_age = choose (fx, images, G_N_ELEMENTS (images), 5, 0);

  g_assert_cmpstr (got, ==, "sha256:old-used-now");
  g_assert_cmpstr (zero_age, ==, "sha256:young,sha256:exactly-min,sha256:old-used-now");
}

static void
test_in_use_and_outside (Fixture *fx, gconstpointer data)
{
  /* The two least recently used images are unavailable (one used by a task, one by a container
   * the agent does not own): the cycle's budget goes to the next ones instead. */
  EcsaImageView images[] = {
    image ("sha256:task-uses", 9 * HOUR, 9 * HOUR, 2, FALSE),
    image ("sha256:outside", 9 * HOUR, 8 * HOUR, 0, TRUE),
    image ("sha256:free1", 9 * HOUR, 7 * HOUR, 0, FALSE),
    image ("sha256:free2", 9 * HOUR, 6 * HOUR, 0, FALSE),
  };
  g_autofree char *got = choose (fx, images, G_N_ELEMENTS (images), 2, HOUR);

  g_assert_cmpstr (got, ==, "sha256:free1,sha256:free2");
}

static void
test_ties_and_bad_entries (Fixture *fx, gconstpointer data)
{
  EcsaImageView images[] = {
    image ("sha256:z", 9 * HOUR, 5 * HOUR, 0, FALSE),
    image ("sha256:y", 8 * HOUR, 5 * HOUR, 0, FALSE), /* same last use, pulled later */
    image ("sha256:x", 9 * HOUR, 5 * HOUR, 0, FALSE), /* same last use and pull: by ID */
    image ("", 9 * HOUR, 9 * HOUR, 0, FALSE),         /* no ID: never chosen */
  };
  g_autofree char *got = choose (fx, images, G_N_ELEMENTS (images), 5, HOUR);
  g_autofree char *empty = choose (fx, images, 0, 5, HOUR);

  g_assert_cmpstr (got, ==, "sha256:x,sha256:z,sha256:y");
  g_assert_cmpstr (empty, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add ("/image-cleanup-lru/order/least-recently-used-first", Fixture, NULL, fixture_setup, test_lru_order,
              fixture_teardown);
  g_test_add ("/image-cleanup-lru/order/max-per-cycle", Fixture, NULL, fixture_setup, test_max_per_cycle,
              fixture_teardown);
  g_test_add ("/image-cleanup-lru/filter/minimum-age", Fixture, NULL, fixture_setup, test_minimum_age,
              fixture_teardown);
  g_test_add ("/image-cleanup-lru/filter/in-use-and-outside-ecs", Fixture, NULL, fixture_setup,
              test_in_use_and_outside, fixture_teardown);
  g_test_add ("/image-cleanup-lru/order/ties-and-bad-entries", Fixture, NULL, fixture_setup, test_ties_and_bad_entries,
              fixture_teardown);
  return g_test_run ();
}

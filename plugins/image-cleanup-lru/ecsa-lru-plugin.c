/* The image-cleanup policy of agent v1.16.2 (agent/engine/docker_image_manager.go), improved.
 *
 * v1.16.2 removes, every cleanup interval, up to ECS_NUM_IMAGES_DELETE_PER_CYCLE images it pulled
 * itself, least recently used first, among those pulled more than ECS_IMAGE_MINIMUM_CLEANUP_AGE ago
 * that no container of its tasks references. Two things users suffered are fixed here:
 *  - an image that a container outside ECS uses can never be removed (Docker answers 409), yet
 *    v1.16.2 kept choosing it, spending the cycle's budget on it every time: such images are skipped;
 *  - the order is total (last use, then pull time, then ID), so a cycle is reproducible.
 * The core removes what this returns and goes on after a failure (one never stops the rest).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-plugin.h"

typedef struct
{
  const EcsaPluginHost *host;
} LruState;

static gboolean
lru_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  LruState *st = g_new0 (LruState, 1);

  st->host = host;
  *out_state = st;
  return TRUE;
}

static void
lru_shutdown (gpointer state)
{
  g_free (state);
}

/* v1.16.2's isImageOldEnough: strictly older than the minimum age, counted from the pull. */
static gboolean
old_enough (const EcsaImageView *image, const EcsaImageCleanupPolicy *policy)
{
  return policy->now - image->pulled_at > policy->minimum_age;
}

static int
compare_lru (gconstpointer a, gconstpointer b)
{
  const EcsaImageView *x = *(const EcsaImageView *const *) a;
  const EcsaImageView *y = *(const EcsaImageView *const *) b;

  if (x->last_used_at != y->last_used_at)
    return x->last_used_at < y->last_used_at ? -1 : 1;
  if (x->pulled_at != y->pulled_at)
    return x->pulled_at < y->pulled_at ? -1 : 1;
  return g_strcmp0 (x->image_id, y->image_id);
}

static GPtrArray *
lru_choose (gpointer state, const EcsaImageView *const *images, guint n_images, const EcsaImageCleanupPolicy *policy)
{
  g_autoptr(GPtrArray) candidates = g_ptr_array_new ();
  GPtrArray *chosen = g_ptr_array_new_with_free_func (g_free);
  guint i;

  for (i = 0; i < n_images; i++)
    {
      const EcsaImageView *image = images[i];

      if (image == NULL || image->image_id == NULL || image->image_id[0] == '\0')
        continue;
      if (image->n_containers > 0) /* v1.16.2's HasNoAssociatedContainers */
        continue;
      if (image->used_outside_ecs) /* Docker would refuse it: do not spend the cycle on it */
        continue;
      if (!old_enough (image, policy))
        continue;
      g_ptr_array_add (candidates, (gpointer) image);
    }
  g_ptr_array_sort (candidates, compare_lru);

  for (i = 0; i < candidates->len && chosen->len < policy->max_delete; i++)
    {
      const EcsaImageView *image = g_ptr_array_index (candidates, i);
      g_ptr_array_add (chosen, g_strdup (image->image_id));
    }
  return chosen;
}

static const EcsaImageCleanupVTable lru_vtable = {
  .version = ECSA_IMAGE_CLEANUP_VTABLE_VERSION,
  .choose = lru_choose,
};

ECSA_PLUGIN_DEFINE (image_cleanup_lru, .kind = ECSA_PLUGIN_KIND_IMAGE_CLEANUP, .name = "lru",
                    .version = PACKAGE_VERSION, .init = lru_init, .shutdown = lru_shutdown, .vtable = &lru_vtable)

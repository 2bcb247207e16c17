/* keep-tagged.c: an image-cleanup policy for ecs-agent, built out of tree.
 *
 * What agent v1.16.2 does (least recently used first, only images no container uses, older than
 * ECS_IMAGE_MINIMUM_CLEANUP_AGE, at most ECS_NUM_IMAGES_DELETE_PER_CYCLE per cycle), plus two site
 * rules:
 *  - never an image a container outside ECS uses;
 *  - never an image with a name matching one of the glob patterns in SITE_IMAGE_CLEANUP_KEEP
 *    (comma-separated; '*' and '?' as in g_pattern_spec, so the pattern amazon/ followed by
 *    a star keeps the agent's own images), read once at start-up.
 *
 * It includes only the SDK (ecsa-plugin.h via pkg-config) and links nothing of the agent.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <ecsa-plugin.h>

#include <string.h>

#define KEEP_SETTING "SITE_IMAGE_CLEANUP_KEEP"
#define MAX_PATTERN 255

typedef struct
{
  const EcsaPluginHost *host;
  GPtrArray *keep; /* GPatternSpec* */
} KeepTagged;

static void
keep_tagged_free (KeepTagged *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->keep);
  g_free (self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KeepTagged, keep_tagged_free)

static gboolean
keep_tagged_init (const EcsaPluginHost *host, gpointer *out_state, GError **error)
{
  g_autoptr(KeepTagged) self = g_new0 (KeepTagged, 1);
  const char *setting = host->config_get (host, KEEP_SETTING);
  g_auto(GStrv) patterns = g_strsplit (setting != NULL ? setting : "", ",", -1);

  self->host = host;
  self->keep = g_ptr_array_new_with_free_func ((GDestroyNotify) g_pattern_spec_free);
  for (guint i = 0; patterns[i] != NULL; i++)
    {
      const char *pattern = g_strstrip (patterns[i]);

      if (pattern[0] == '\0')
        continue;
      if (strlen (pattern) > MAX_PATTERN)
        {
          g_set_error (error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA, "%s: pattern %u is longer than %d characters",
                       KEEP_SETTING, i + 1, MAX_PATTERN);
          return FALSE;
        }
      g_ptr_array_add (self->keep, g_pattern_spec_new (pattern));
    }
  ecsa_plugin_host_logf (host, ECSA_LOG_INFO, "keeping images matching %u pattern(s) of %s", self->keep->len,
                         KEEP_SETTING);
  *out_state = g_steal_pointer (&self);
  return TRUE;
}

static void
keep_tagged_shutdown (gpointer state)
{
  keep_tagged_free (state);
}

static gboolean
is_kept (const KeepTagged *self, const EcsaImageView *image)
{
  for (guint i = 0; image->names != NULL && image->names[i] != NULL; i++)
    for (guint j = 0; j < self->keep->len; j++)
      if (g_pattern_spec_match_string (g_ptr_array_index (self->keep, j), image->names[i]))
        return TRUE;
  return FALSE;
}

static int
least_recently_used_first (gconstpointer a, gconstpointer b)
{
  const EcsaImageView *x = *(const EcsaImageView *const *) a;
  const EcsaImageView *y = *(const EcsaImageView *const *) b;

  if (x->last_used_at != y->last_used_at)
    return x->last_used_at < y->last_used_at ? -1 : 1;
  return x->pulled_at < y->pulled_at ? -1 : x->pulled_at > y->pulled_at;
}

static GPtrArray *
keep_tagged_choose (gpointer state, const EcsaImageView *const *images, guint n_images,
                    const EcsaImageCleanupPolicy *policy)
{
  KeepTagged *self = state;
  g_autoptr(GPtrArray) candidates = g_ptr_array_new ();
  GPtrArray *chosen = g_ptr_array_new_with_free_func (g_free);
  guint kept = 0;

  for (guint i = 0; i < n_images; i++)
    {
      const EcsaImageView *image = images[i];

      if (image->n_containers > 0 || image->used_outside_ecs)
        continue;
      if (policy->now - image->pulled_at <= policy->minimum_age)
        continue;
      if (is_kept (self, image))
        {
          kept++;
          continue;
        }
      g_ptr_array_add (candidates, (gpointer) image);
    }
  g_ptr_array_sort (candidates, least_recently_used_first);
  for (guint i = 0; i < candidates->len && chosen->len < policy->max_delete; i++)
    g_ptr_array_add (chosen, g_strdup (((const EcsaImageView *) g_ptr_array_index (candidates, i))->image_id));
  if (kept > 0)
    ecsa_plugin_host_logf (self->host, ECSA_LOG_DEBUG, "kept %u unused image(s) matching %s", kept, KEEP_SETTING);
  return chosen;
}

static const EcsaImageCleanupVTable keep_tagged_vtable = {
  .version = ECSA_IMAGE_CLEANUP_VTABLE_VERSION,
  .choose = keep_tagged_choose,
};

ECSA_PLUGIN_DEFINE (image_cleanup_keep_tagged, .kind = ECSA_PLUGIN_KIND_IMAGE_CLEANUP, .name = "keep-tagged",
                    .version = "1.0.0", .init = keep_tagged_init, .shutdown = keep_tagged_shutdown,
                    .vtable = &keep_tagged_vtable)

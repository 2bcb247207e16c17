/* ecsa-image-cleanup.h: the image-cleanup plugin kind (ECSA_PLUGIN_KIND_IMAGE_CLEANUP).
 *
 * Every ECS_IMAGE_CLEANUP_INTERVAL (unless ECS_DISABLE_IMAGE_CLEANUP) the core lists the images the
 * agent pulled with what it knows of their use, asks the policy plugin which to remove, and removes
 * them itself; one failure never stops the rest. Images used by containers the agent does not own
 * are marked, so a policy can leave them alone. Only the first loaded image-cleanup plugin is used.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

#define ECSA_IMAGE_CLEANUP_VTABLE_VERSION 1

typedef struct
{
  guint32 struct_size;
  guint32 n_containers;      /* containers of the agent's tasks that use it, stopped ones included */
  const char *image_id;      /* "sha256:..." */
  const char *const *names;  /* references the agent pulled it by, NULL-terminated */
  guint64 size;              /* bytes */
  gint64 pulled_at;          /* unix seconds */
  gint64 last_used_at;       /* unix seconds: last container created from it, else pulled_at */
  guint32 used_outside_ecs;  /* boolean: a container the agent does not own uses it */
  guint32 padding_;
} EcsaImageView;

typedef struct
{
  guint32 struct_size;
  guint32 max_delete;        /* ECS_NUM_IMAGES_DELETE_PER_CYCLE */
  gint64 now;                /* unix seconds */
  gint64 minimum_age;        /* ECS_IMAGE_MINIMUM_CLEANUP_AGE, seconds */
} EcsaImageCleanupPolicy;

typedef struct
{
  guint32 version; /* ECSA_IMAGE_CLEANUP_VTABLE_VERSION the plugin was built with */
  guint32 padding_;

  /* since 1: the image IDs to remove this cycle, at most policy->max_delete, as a new GPtrArray of
   * g_strdup'ed IDs (free func g_free), in the order to remove them. */
  GPtrArray *(*choose) (gpointer state, const EcsaImageView *const *images, guint n_images,
                        const EcsaImageCleanupPolicy *policy);

  gpointer reserved[4];
} EcsaImageCleanupVTable;

#if GLIB_SIZEOF_VOID_P == 8
G_STATIC_ASSERT (sizeof (EcsaImageCleanupVTable) == 48);
#endif

G_END_DECLS

/* ecsa-image-cleanup.h: removing the images the agent pulled and no longer uses.
 *
 * Agent v1.16.2 (agent/engine/docker_image_manager.go) removes, every ECS_IMAGE_CLEANUP_INTERVAL
 * unless ECS_DISABLE_IMAGE_CLEANUP, up to ECS_NUM_IMAGES_DELETE_PER_CYCLE of the images it pulled,
 * least recently used first, among those older than ECS_IMAGE_MINIMUM_CLEANUP_AGE that no
 * container of its tasks references. Here the choice is the image-cleanup plugin's
 * (ecsa_plugin_registry_image_cleanup_choose); this module gathers what the plugin decides on and
 * carries the decision out:
 *  - the images come from the engine's image state (what it pulled, with pull time, last use and
 *    how many of its containers use each), through EcsaImageCleanupSource;
 *  - Docker's image list gives the sizes and tells which images are gone (those are forgotten);
 *    Docker's container list tells which images a container the agent does not own uses
 *    (EcsaImageView.used_outside_ecs: Docker would refuse to remove them);
 *  - each chosen image is removed by each name the agent pulled it by (by ID when it has none),
 *    as v1.16.2 does; "no such image" counts as removed; a failure is logged and the next image
 *    is tried: one failure never stops the rest. An image whose names are all gone is forgotten.
 * Every result is logged. Everything runs on the main context; Docker calls are asynchronous.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-config.h"
#include "ecsa-docker-client.h"
#include "ecsa-plugin-registry.h"

G_BEGIN_DECLS

/* What the task engine knows of its images (it owns the "images" state-store section). */
typedef struct
{
  /* EcsaImageView* the agent pulled or ran, freed with the array. */
  GPtrArray *(*list_images)(gpointer source);
  /* Does a task of the agent own this Docker container? */
  gboolean (*owns_container)(gpointer source, const char *docker_id);
  /* The image is gone (removed, or removed behind the agent's back): forget it. */
  void (*forget_image)(gpointer source, const char *image_id);
} EcsaImageCleanupSource;

typedef struct _EcsaImageCleanup EcsaImageCleanup;

/* All borrowed; they must outlive the cleanup. */
EcsaImageCleanup *ecsa_image_cleanup_new(EcsaConfig *config, EcsaDockerClient *docker, EcsaPluginRegistry *registry,
                                         const EcsaImageCleanupSource *source, gpointer source_data);
/* Stops the timer and cancels a cycle in flight. */
void ecsa_image_cleanup_free(EcsaImageCleanup *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaImageCleanup, ecsa_image_cleanup_free)

/* Run a cycle every ECS_IMAGE_CLEANUP_INTERVAL from now (v1.16.2's ticker: the first one interval
 * after start-up). Nothing with ECS_DISABLE_IMAGE_CLEANUP. A cycle still running when the timer
 * fires is not doubled. */
void ecsa_image_cleanup_start(EcsaImageCleanup *self);
gboolean ecsa_image_cleanup_is_running(EcsaImageCleanup *self); /* the timer is armed */
/* The timer's period in milliseconds (tests; 0 restores the configured interval). */
void ecsa_image_cleanup_set_interval(EcsaImageCleanup *self, guint interval_ms);

/* What one cycle did. */
typedef struct
{
  GPtrArray *removed;   /* char* image IDs, in the order they were removed */
  GPtrArray *failed;    /* char* "<image id>: <reason>" */
  GPtrArray *forgotten; /* char* image IDs Docker no longer had */
} EcsaImageCleanupReport;

void ecsa_image_cleanup_report_free(EcsaImageCleanupReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaImageCleanupReport, ecsa_image_cleanup_report_free)

/* One cycle now. Fails only when Docker could not be listed or the agent has no image-cleanup
 * plugin (ECSA_ERROR_NOT_SUPPORTED); removal failures are in the report. */
void ecsa_image_cleanup_run_async(EcsaImageCleanup *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
EcsaImageCleanupReport *ecsa_image_cleanup_run_finish(EcsaImageCleanup *self, GAsyncResult *result, GError **error);

G_END_DECLS

/* ecsa-task-engine.h: runs ECS tasks on the local Docker engine as agent v1.16.2 does.
 *
 * The engine owns every task (EcsaTask) on the main context and moves each container through
 * NONE -> PULLED -> CREATED -> RUNNING -> STOPPED with asynchronous Docker calls (an awsvpc
 * task's sandbox has RESOURCES_PROVISIONED after RUNNING); tasks progress
 * independently (a slow pull never holds another task). It follows v1.16.2's rules: start order from
 * links and volumesFrom, a stopped essential container stops its task, a desired STOPPED stops every
 * container with ECS_CONTAINER_STOP_TIMEOUT (then Docker kills it), new tasks wait for the stops
 * that ECS sequenced before them, stopped tasks are removed after
 * ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION (once ECS acknowledged STOPPED) and forgotten.
 *
 * Durability: the engine's state is the "tasks" section of the state store (and "images": what it
 * knows of the images it pulled, for the image cleanup). A payload completes only once its tasks
 * are in a durable checkpoint, and a container's Docker name is durable before the container is
 * created, so a crash at any point neither loses a task nor creates a container twice. On start the
 * engine restores the checkpoint, then reconciles with Docker: every known container is inspected
 * (one that vanished is STOPPED with a reason), containers found by their ECS labels are adopted,
 * and containers of tasks the checkpoint lost are rebuilt as "recovered" tasks.
 *
 * State changes ("state-change", const EcsaStateChange *): container RUNNING and STOPPED, task
 * RUNNING and STOPPED, in order per task (core/ecsa-state-change.h). The reporter calls
 * ecsa_task_engine_mark_sent() once ECS accepted one; what was not acknowledged is emitted again
 * after a restart. Tasks refused by apply_payload are not reported by the engine: the ACS session
 * reports them STOPPED (v1.16.2's payload handler).
 * "task-removed" (const char *task_arn) follows a task's cleanup, when the engine forgets it.
 * "reset" () follows ecsa_task_engine_reset(), after a "task-removed" for each task it forgot.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "ecsa-config.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-docker-client.h"
#include "ecsa-plugin-registry.h"
#include "ecsa-plugin.h"
#include "ecsa-state-change.h"
#include "ecsa-state-store.h"
#include "ecsa-task-network.h"

G_BEGIN_DECLS

/* Image pulls. v1.16.2 always pulls and runs a cached image when the pull fails (DEFAULT); later
 * agents added ECS_IMAGE_PULL_BEHAVIOR with these values. */
typedef enum
{
  ECSA_IMAGE_PULL_DEFAULT = 0,   /* pull; on failure use the cached image (v1.16.2) */
  ECSA_IMAGE_PULL_ALWAYS,        /* pull; a failed pull fails the container */
  ECSA_IMAGE_PULL_ONCE,          /* pull only images this agent has not pulled before */
  ECSA_IMAGE_PULL_PREFER_CACHED, /* pull only images Docker does not have */
} EcsaImagePullBehavior;

#define ECSA_TYPE_TASK_ENGINE (ecsa_task_engine_get_type())
G_DECLARE_FINAL_TYPE(EcsaTaskEngine, ecsa_task_engine, ECSA, TASK_ENGINE, GObject)

/* `config` is borrowed and must outlive the engine. `store` may be NULL (no checkpoint). */
EcsaTaskEngine *ecsa_task_engine_new(EcsaConfig *config, EcsaDockerClient *docker, EcsaStateStore *store);

/* Optional collaborators (borrowed; set before start): the plugins (log-driver options before
 * create, registry credentials before pull, metrics), and the container instance ARN for
 * container metadata files. */
void ecsa_task_engine_set_plugin_registry(EcsaTaskEngine *self, EcsaPluginRegistry *registry);
/* The task credentials (borrowed): an ECR pull "with the execution role" gets the task's execution
 * role credentials from it, waiting up to 1 min for ACS to send them, as v1.16.2 does. */
void ecsa_task_engine_set_credentials_manager(EcsaTaskEngine *self, EcsaCredentialsManager *credentials);
/* awsvpc (borrowed; set once its prepare succeeded with task ENIs enabled): a task with an ENI
 * gets v1.16.2's pause container as its network sandbox (core/ecsa-task-network.h): started first,
 * set up by the network plugin, the task's containers in its namespace, torn down after them, the
 * ENI released when the task is STOPPED. Without it, tasks with an ENI are refused. */
void ecsa_task_engine_set_task_network(EcsaTaskEngine *self, EcsaTaskNetwork *network);
void ecsa_task_engine_set_container_instance_arn(EcsaTaskEngine *self, const char *arn);
void ecsa_task_engine_set_image_pull_behavior(EcsaTaskEngine *self, EcsaImagePullBehavior behavior);
/* Parse ECS_IMAGE_PULL_BEHAVIOR's values ("default", "always", "once", "prefer-cached"). */
gboolean ecsa_image_pull_behavior_from_string(const char *s, EcsaImagePullBehavior *out);

/* --- start-up, in this order ---------------------------------------------------------------- */

/* Read the "tasks" and "images" sections of the (loaded) store and register the engine's sections.
 * A task the checkpoint holds but that cannot be read is skipped with a warning (its containers are
 * recovered from Docker labels at start). Does no I/O. */
void ecsa_task_engine_restore(EcsaTaskEngine *self);

/* The checkpoint belongs to another EC2 instance (v1.16.2 resets its state then): forget every
 * restored task and image, as if the checkpoint had none, before start. The containers Docker has
 * with ECS labels at the next start belong to that instance: they are left alone (neither adopted
 * nor recovered), now and after later restarts, while they exist (their task ARNs are kept in the
 * checkpoint). Emits "task-removed" for each task forgotten, then "reset". Does no I/O. */
void ecsa_task_engine_reset(EcsaTaskEngine *self);

/* ECS_ENABLE_TASK_CPU_MEM_LIMIT: create the '/ecs' cgroup. When the setting was left to its default
 * and the host cannot, the feature is disabled with a warning and this succeeds; when it was
 * explicitly enabled, this fails (v1.16.2 exits terminally). Without this call, task cgroups stay
 * off. */
void ecsa_task_engine_init_cgroups_async(EcsaTaskEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
gboolean ecsa_task_engine_init_cgroups_finish(EcsaTaskEngine *self, GAsyncResult *result, GError **error);
gboolean ecsa_task_engine_get_cgroups_enabled(EcsaTaskEngine *self);

/* Follow Docker's events, reconcile the restored tasks with Docker, then run. Completes once
 * reconciled. `cancellable` (the agent's root) stops the engine's Docker work when cancelled. */
void ecsa_task_engine_start_async(EcsaTaskEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean ecsa_task_engine_start_finish(EcsaTaskEngine *self, GAsyncResult *result, GError **error);

/* Stop following events, abandon Docker calls in flight (containers keep running, as with
 * v1.16.2) and write a final checkpoint. */
void ecsa_task_engine_shutdown_async(EcsaTaskEngine *self, GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_task_engine_shutdown_finish(EcsaTaskEngine *self, GAsyncResult *result, GError **error);

/* --- ACS ------------------------------------------------------------------------------------ */

/* Record the tasks of one ACS PayloadMessage (a JsonArray of ACS `Task` objects). Each task is
 * validated alone; a malformed one is refused with a reason and the others go on. Completes once
 * every accepted task is durable in the checkpoint (so the payload may be acked); fails when the
 * checkpoint could not be written (the tasks still run; do not ack). */
void ecsa_task_engine_apply_payload_async(EcsaTaskEngine *self, JsonArray *tasks, gint64 seq_num,
                                          GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_task_engine_apply_payload_finish(EcsaTaskEngine *self, GAsyncResult *result,
                                               GPtrArray **out_rejected /* char* "task '<arn>': reason" */,
                                               GError **error);

/* ECS accepted `change`: record its status as sent (checkpointed). */
void ecsa_task_engine_mark_sent(EcsaTaskEngine *self, const EcsaStateChange *change);

/* --- views ---------------------------------------------------------------------------------- */

/* Read-only snapshots (plugin-api EcsaTaskView), freed with ecsa_task_view_free(). */
GPtrArray *ecsa_task_engine_list_task_views(EcsaTaskEngine *self); /* free func ecsa_task_view_free */
EcsaTaskView *ecsa_task_engine_get_task_view(EcsaTaskEngine *self, const char *task_arn);
EcsaTaskView *ecsa_task_engine_get_task_view_by_docker_id(EcsaTaskEngine *self, const char *docker_id);
guint ecsa_task_engine_get_n_tasks(EcsaTaskEngine *self);

/* The images the agent pulled or ran, for the image-cleanup plugin (EcsaImageView*, freed with the
 * array). */
GPtrArray *ecsa_task_engine_list_images(EcsaTaskEngine *self);
/* The image was removed: forget it. */
void ecsa_task_engine_forget_image(EcsaTaskEngine *self, const char *image_id);
/* Does a task of the engine own this Docker container (full ID)? */
gboolean ecsa_task_engine_owns_container(EcsaTaskEngine *self, const char *docker_id);

G_END_DECLS

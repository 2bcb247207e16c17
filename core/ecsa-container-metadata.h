/* ecsa-container-metadata.h: container metadata files (ECS_ENABLE_CONTAINER_METADATA).
 *
 * As agent v1.16.2 (agent/containermetadata): before a container is created, the agent writes
 * <ECS_DATADIR>/metadata/<task-id>/<container-name>/ecs-container-metadata.json with the cluster,
 * container instance, task ARN and container name (no MetadataFileStatus: "INITIAL" is Go's zero
 * value and omitted), binds that directory into the container at /opt/ecs/metadata/<uuid> and sets
 * ECS_CONTAINER_METADATA_FILE to the file inside. Once the container runs, the file is rewritten
 * from `docker inspect` with the Docker ID and name, image, port mappings, networks and
 * "MetadataFileStatus": "READY". The task's metadata directory is removed when the task is cleaned
 * up. Files are written to a temporary file and renamed, mode 0644, tab-indented as v1.16.2 writes
 * them.
 *
 * The bind's host path: v1.16.2 runs in a container and prefixes the data directory with
 * ECS_HOST_DATA_DIR. This agent may run on the host itself; then the data directory already is the
 * host path. The prefixed path is used when it names the same directory, or when the data
 * directory is seen through a bind mount (an agent in a container); otherwise the data
 * directory's own path.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define ECSA_CONTAINER_METADATA_FILE "ecs-container-metadata.json"
#define ECSA_CONTAINER_METADATA_MOUNT "/opt/ecs/metadata"
#define ECSA_CONTAINER_METADATA_ENV "ECS_CONTAINER_METADATA_FILE"

typedef struct _EcsaContainerMetadata EcsaContainerMetadata;

EcsaContainerMetadata *ecsa_container_metadata_new(const char *data_dir, const char *data_dir_on_host,
                                                   const char *cluster);
void ecsa_container_metadata_free(EcsaContainerMetadata *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaContainerMetadata, ecsa_container_metadata_free)

void ecsa_container_metadata_set_container_instance_arn(EcsaContainerMetadata *self, const char *arn);

/* "<data_dir>/metadata/<task_id>/<container_name>" */
char *ecsa_container_metadata_dir(EcsaContainerMetadata *self, const char *task_id, const char *container_name);

/* Before create: write the initial file. Results: the bind ("<host dir>:/opt/ecs/metadata/<uuid>")
 * and the environment entry ("ECS_CONTAINER_METADATA_FILE=/opt/ecs/metadata/<uuid>/...") to add. */
void ecsa_container_metadata_create_async(EcsaContainerMetadata *self, const char *task_arn, const char *task_id,
                                          const char *container_name, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_container_metadata_create_finish(EcsaContainerMetadata *self, GAsyncResult *result, char **out_bind,
                                               char **out_env, GError **error);

/* Once running: rewrite the file from `inspect` (Docker's inspect document of the container). */
void ecsa_container_metadata_update_async(EcsaContainerMetadata *self, const char *task_arn, const char *task_id,
                                          const char *container_name, JsonObject *inspect, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_container_metadata_update_finish(EcsaContainerMetadata *self, GAsyncResult *result, GError **error);

/* At cleanup: remove <data_dir>/metadata/<task_id>. */
void ecsa_container_metadata_clean_async(EcsaContainerMetadata *self, const char *task_id, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_container_metadata_clean_finish(EcsaContainerMetadata *self, GAsyncResult *result, GError **error);

/* The document as v1.16.2 serialises it (for tests): inspect NULL gives the initial form. */
char *ecsa_container_metadata_render(EcsaContainerMetadata *self, const char *task_arn, const char *container_name,
                                     JsonObject *inspect);

G_END_DECLS

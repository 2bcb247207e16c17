/* ecsa-test-engine.h: a task engine on the real dockerd for tests, with the state changes it
 * emitted, and helpers to build ACS tasks.
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "ecsa-config.h"
#include "ecsa-docker-client.h"
#include "ecsa-state-store.h"
#include "ecsa-task-engine.h"
#include "ecsa-test-docker.h"

G_BEGIN_DECLS

typedef struct
{
  char *dir;          /* ECS_DATADIR */
  char *prefix;       /* "ecsa-t<pid>-<area>-" */
  EcsaConfig *config; /* cluster = prefix without the dash */
  EcsaDockerClient *docker;
  EcsaStateStore *store;
  EcsaTaskEngine *engine;
  GPtrArray *changes;          /* EcsaStateChange* copies, in order */
  gboolean auto_ack;           /* acknowledge every change at once (a reporter that always succeeds) */
  char *store_error;           /* the load error of the last start, if any */
  EcsaPluginRegistry *plugins; /* borrowed; given to the engine at start when set */
  EcsaTaskNetwork *network;    /* set before start for awsvpc (borrowed) */
} EcsaTestEngine;

/* A fresh data dir and configuration (stop timeout 2 s, no cgroups, no metadata). */
EcsaTestEngine *ecsa_test_engine_new(const char *area);
/* Create (or re-create, on the same data dir) the store, engine and client; restore and start;
 * wait until running. docker_host NULL: the default socket. */
void ecsa_test_engine_start(EcsaTestEngine *te, const char *docker_host);
/* Shut the engine down cleanly (final checkpoint) and drop it; containers keep running. */
void ecsa_test_engine_stop(EcsaTestEngine *te);
void ecsa_test_engine_free(EcsaTestEngine *te);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaTestEngine, ecsa_test_engine_free)

/* apply_payload and wait for it; returns the rejected list (never NULL). */
GPtrArray *ecsa_test_engine_apply(EcsaTestEngine *te, const char *tasks_json, gint64 seq, GError **error);

/* The last change for (arn, container or NULL for the task) with `status`, or NULL. */
const EcsaStateChange *ecsa_test_engine_find(EcsaTestEngine *te, const char *arn, const char *container,
                                             const char *status);
/* Wait until such a change was emitted (fails the test after timeout_ms). */
const EcsaStateChange *ecsa_test_engine_wait(EcsaTestEngine *te, const char *arn, const char *container,
                                             const char *status, guint timeout_ms);
guint ecsa_test_engine_count(EcsaTestEngine *te, const char *arn, const char *container, const char *status);

/* "arn:aws:ecs:us-west-2:123456789012:task/<prefix><name>" */
char *ecsa_test_engine_arn(EcsaTestEngine *te, const char *name);
/* One ACS task: containers_json is the JSON array of its containers. */
char *ecsa_test_engine_task_json(EcsaTestEngine *te, const char *name, const char *desired,
                                 const char *containers_json);
/* The IDs of the Docker containers labelled with the task's ARN (and container name, or NULL). */
GPtrArray *ecsa_test_engine_docker_ids(const char *arn, const char *container);

/* Run the main context for ms milliseconds. */
void ecsa_test_run_for(guint ms);

G_END_DECLS

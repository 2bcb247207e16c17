/* ecsa-test-netplug.h: helpers for the tests of the net-cni, metrics-cgroup and image-cleanup
 * plugins: an EcsaPluginHost whose services are real (GSubprocess, dockerd over its socket, GLib
 * timers) for driving a plugin through its descriptor, and synchronous Docker and shell helpers
 * for test set-up and teardown.
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-glib/json-glib.h>

#include "ecsa-plugin.h"

G_BEGIN_DECLS

#define ECSA_TEST_IMAGE "ecsa-test/busybox:latest"

typedef struct
{
  EcsaPluginHost host; /* first, so a const EcsaPluginHost * is an EcsaTestHost * */
  GHashTable *config;  /* config_get(): char* -> char* */
  GPtrArray *logs;     /* every host->log line, "LEVEL message" */
  char *state_dir;
  SoupSession *docker;
  char *docker_api;    /* "v1.41" */
} EcsaTestHost;

EcsaTestHost *ecsa_test_host_new (const char *state_dir);
void ecsa_test_host_free (EcsaTestHost *host);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaTestHost, ecsa_test_host_free)
void ecsa_test_host_set_config (EcsaTestHost *host, const char *key, const char *value);
/* TRUE when a logged line contains `fragment`. */
gboolean ecsa_test_host_logged (EcsaTestHost *host, const char *fragment);

/* A synchronous Docker Engine API call (test code only). `body` is JSON text or NULL. Returns the
 * parsed JSON body (NULL when empty) and the HTTP status. */
JsonNode *ecsa_test_docker (EcsaTestHost *host, const char *method, const char *path, const char *body,
                            guint *out_status);
/* Create and start a container from `create_json`; returns its ID (asserts on failure). */
char *ecsa_test_docker_run (EcsaTestHost *host, const char *name, const char *create_json);
/* The main process of a running container. */
gint ecsa_test_docker_pid (EcsaTestHost *host, const char *id);
/* Wait for a container to exit (at most timeout_s) and return its exit code; the default main
 * context runs meanwhile (servers of the test keep answering). */
gint ecsa_test_docker_wait (EcsaTestHost *host, const char *id, guint timeout_s);
/* The container's stdout+stderr (json-file log driver), demultiplexed. */
char *ecsa_test_docker_logs (EcsaTestHost *host, const char *id);
/* Remove a container by ID or name (forced; no error when missing). */
void ecsa_test_docker_remove (EcsaTestHost *host, const char *id_or_name);

/* Run the default main context for `ms` (to let late callbacks of a shut down plugin finish). */
void ecsa_test_iterate (guint ms);

/* Run a command synchronously (set-up and teardown); returns its exit status, stdout in *out. */
int ecsa_test_sh (char **out, const char *format, ...) G_GNUC_PRINTF (2, 3);

G_END_DECLS

/* ecsa-test-docker.h: helpers for tests that use the real dockerd.
 *
 * Names: every container, volume and image a test creates starts with ecsa_test_docker_prefix()
 * ("ecsa-t<pid>-<area>-"), and ecsa_test_docker_cleanup() removes them, so test runs of several
 * developers can share the machine.
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define ECSA_TEST_IMAGE "ecsa-test/busybox:latest"

/* "ecsa-t<pid>-<area>-" (static storage until the next call with another area). */
const char *ecsa_test_docker_prefix(const char *area);

/* Skip-free check: dockerd answers and the test image exists; aborts the test program with a
 * clear message otherwise (tools/setup.sh prepares both). */
void ecsa_test_docker_require(void);

/* Run the docker CLI synchronously (an independent observer of what the agent did).
 * Returns stdout (trimmed) or NULL with *out_stderr set when the command fails. */
char *ecsa_test_docker_cli(char **out_stderr, const char *first_arg, ...) G_GNUC_NULL_TERMINATED;

/* docker inspect of a container, parsed; NULL when it does not exist. */
JsonObject *ecsa_test_docker_inspect(const char *id_or_name);

/* IDs of the containers (all states) whose name starts with prefix. */
GPtrArray *ecsa_test_docker_list_by_prefix(const char *prefix);

/* Remove every container and volume whose name starts with prefix (force). */
void ecsa_test_docker_cleanup(const char *prefix);

/* Run the main context until cond(user_data) is TRUE, failing the test after timeout_ms. */
typedef gboolean (*EcsaTestCondition)(gpointer user_data);
void ecsa_test_wait_until(GMainContext *context, EcsaTestCondition cond, gpointer user_data, guint timeout_ms,
                          const char *what);

/* A unix-socket proxy in front of /var/run/docker.sock that a test can interrupt, so a client
 * sees dockerd "go away" and "come back" without stopping the real dockerd. */
typedef struct _EcsaTestDockerProxy EcsaTestDockerProxy;
EcsaTestDockerProxy *ecsa_test_docker_proxy_new(void);
const char *ecsa_test_docker_proxy_get_host(EcsaTestDockerProxy *proxy); /* "unix:///tmp/.../docker.sock" */
/* Drop every open connection and refuse new ones (socket removed), until resumed. */
void ecsa_test_docker_proxy_pause(EcsaTestDockerProxy *proxy);
void ecsa_test_docker_proxy_resume(EcsaTestDockerProxy *proxy);
/* Accept connections but never answer (a hung daemon). */
void ecsa_test_docker_proxy_set_blackhole(EcsaTestDockerProxy *proxy, gboolean blackhole);
guint ecsa_test_docker_proxy_get_n_accepted(EcsaTestDockerProxy *proxy);
void ecsa_test_docker_proxy_free(EcsaTestDockerProxy *proxy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaTestDockerProxy, ecsa_test_docker_proxy_free)

/* A local docker-registry (plain HTTP on 127.0.0.1:<free port>, no auth) holding the test image as
 * <host>/<repo>:latest. Docker treats 127.0.0.0/8 registries as insecure, so no TLS is needed. */
typedef struct _EcsaTestRegistry EcsaTestRegistry;
EcsaTestRegistry *ecsa_test_registry_start(const char *repo);
const char *ecsa_test_registry_get_image(EcsaTestRegistry *registry); /* "127.0.0.1:port/repo:latest" */
const char *ecsa_test_registry_get_host(EcsaTestRegistry *registry);  /* "127.0.0.1:port" */
void ecsa_test_registry_stop(EcsaTestRegistry *registry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaTestRegistry, ecsa_test_registry_stop)

G_END_DECLS

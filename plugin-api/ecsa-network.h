/* ecsa-network.h: the network plugin kind (ECSA_PLUGIN_KIND_NETWORK).
 *
 * Docker itself serves the "bridge", "host" and "none" network modes; the core passes them through
 * unless a network plugin claims them. For a mode a plugin serves (awsvpc), the core does what agent
 * v1.16.2 does: it creates a sandbox ("pause") container with NetworkMode "none" before the task's
 * containers, runs them in its network namespace (NetworkMode "container:<sandbox>"), calls setup()
 * once the sandbox runs, teardown() once the task's other containers have stopped (before the
 * sandbox is stopped) and release() once the task is stopped. teardown() and release() must be
 * idempotent: after a restart they may be called for a task whose setup never finished or whose
 * namespace is already gone.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsa-plugin.h"

G_BEGIN_DECLS

#define ECSA_NETWORK_VTABLE_VERSION 1

/* An elastic network interface attached to the task (ACS ElasticNetworkInterface). */
typedef struct
{
  guint32 struct_size;
  guint32 padding_;
  const char *id;                            /* "eni-..." */
  const char *mac_address;                   /* "0a:1b:..." */
  const char *const *ipv4_addresses;         /* primary first, NULL-terminated */
  const char *const *ipv6_addresses;         /* NULL-terminated, may be empty */
  const char *subnet_gateway_ipv4_address;   /* "10.0.0.1/24" */
  const char *const *domain_name_servers;    /* NULL-terminated, may be empty */
  const char *const *domain_name_search;     /* NULL-terminated, may be empty */
} EcsaEniView;

typedef struct
{
  guint32 struct_size;
  guint32 block_instance_metadata;           /* boolean: ECS_AWSVPC_BLOCK_IMDS */
  const EcsaTaskView *task;
  const char *network_mode;                  /* the mode that selected this plugin */
  const char *sandbox_container_id;          /* Docker ID of the sandbox container */
  const char *netns_path;                    /* "/proc/<pid>/ns/net" of the sandbox, "" at teardown
                                              * when the namespace is gone */
  const EcsaEniView *eni;                    /* NULL when the task has no ENI */
  const char *const *additional_local_routes;/* ECS_AWSVPC_ADDITIONAL_LOCAL_ROUTES, NULL-terminated */
} EcsaNetworkRequest;

/* What setup() reports back (shown in the task's state and the introspection API). The plugin
 * allocates it with g_new0 and sets struct_size = sizeof (EcsaNetworkResult); the core frees it with
 * ecsa_network_result_free(). */
typedef struct
{
  guint32 struct_size;
  guint32 padding_;
  char *ipv4_address; /* "10.0.0.5" or NULL */
  char *ipv6_address; /* or NULL */
  char *mac_address;  /* or NULL */
} EcsaNetworkResult;

static inline void
ecsa_network_result_free (EcsaNetworkResult *r)
{
  if (r == NULL)
    return;
  g_free (r->ipv4_address);
  g_free (r->ipv6_address);
  g_free (r->mac_address);
  g_free (r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaNetworkResult, ecsa_network_result_free)

typedef struct
{
  guint32 version; /* ECSA_NETWORK_VTABLE_VERSION the plugin was built with */
  guint32 padding_;
  const char *const *modes; /* network modes served ("awsvpc"), NULL-terminated, not empty */

  /* since 1: can this host serve the modes? Called once at start-up, only when the agent enables
   * the mode (ECS_ENABLE_TASK_ENI for awsvpc), before registration: agent v1.16.2 runs each CNI
   * plugin with --capabilities and refuses to start (exit 5) when one lacks "awsvpc-network-mode".
   * Fail with ECSA_ERROR_NOT_SUPPORTED (terminal) or ECSA_ERROR_RETRY (the agent exits 1 to be
   * restarted). Gather what attributes() reports here. May be NULL: always ready. */
  void (*check_async) (gpointer state, GCancellable *cancellable, GAsyncReadyCallback callback,
                       gpointer user_data);
  gboolean (*check_finish) (gpointer state, GAsyncResult *result, GError **error);

  /* since 1: configure the sandbox's namespace. Result: EcsaNetworkResult* (never NULL on success). */
  void (*setup_async) (gpointer state, const EcsaNetworkRequest *req, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data);
  EcsaNetworkResult *(*setup_finish) (gpointer state, GAsyncResult *result, GError **error);

  /* since 1: undo setup() in the namespace (interfaces, routes, dhclient), idempotently. Called
   * before the sandbox container is stopped; netns_path is "" when the namespace is already gone.
   * Addresses stay reserved until release(). */
  void (*teardown_async) (gpointer state, const EcsaNetworkRequest *req, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);
  gboolean (*teardown_finish) (gpointer state, GAsyncResult *result, GError **error);

  /* since 1: give back what setup() reserved outside the namespace (the IPAM address), once the
   * task has stopped, idempotently (agent v1.16.2's releaseIPInIPAM). May be NULL. */
  void (*release_async) (gpointer state, const EcsaNetworkRequest *req, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data);
  gboolean (*release_finish) (gpointer state, GAsyncResult *result, GError **error);

  /* since 1: extra registration attributes with values (name, value pairs, e.g.
   * "ecs.capability.cni-plugin-version" -> "<hash>-2017.10.0"), added to `out` as g_strdup'ed
   * strings, alternating name and value. Called after check() succeeded. May be NULL. */
  void (*attributes) (gpointer state, GPtrArray *out);

  gpointer reserved[4];
} EcsaNetworkVTable;

#if GLIB_SIZEOF_VOID_P == 8
G_STATIC_ASSERT (sizeof (EcsaNetworkVTable) == 120);
#endif

G_END_DECLS

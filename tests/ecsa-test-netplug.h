/* ecsa-test-netplug.h: helpers for the tests of the net-cni, metrics-cgroup and image-cleanup
 * plugins: the agent's plugin host for driving a plugin through its descriptor, and synchronous
 * Docker and shell helpers for test set-up and teardown.
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <json-glib/json-glib.h>

#include "ecsa-config.h"
#include "ecsa-docker-client.h"
#include "ecsa-plugin-host.h"
#include "ecsa-plugin.h"

G_BEGIN_DECLS

#define ECSA_NETPLUG_IMAGE "ecsa-test/busybox:latest"

/* The agent's own plugin host (core/ecsa-plugin-host.c) for one plugin, on the default main
 * context, with its configuration loaded from `settings` and Docker reached through the agent's
 * Docker client. Log lines of the whole process are captured (level debug) for
 * ecsa_netplug_host_logged(). */
typedef struct
{
  const EcsaPluginHost *host;
  EcsaConfig *config;
  EcsaPluginHostServices *services;
  EcsaDockerClient *docker_client;
  SoupSession *http;
  GPtrArray *logs;   /* every log line */
  SoupSession *docker; /* for the synchronous helpers below */
  char *docker_api;  /* "v1.41" */
} EcsaNetplugHost;

/* settings: NULL-terminated "NAME=value" (ECS_ENABLE_TASK_ENI=true, ...); data_dir non-NULL turns
 * checkpointing on there (the plugin's state_dir is <data_dir>/plugins/<kind>-<name>). */
EcsaNetplugHost *ecsa_netplug_host_new (guint32 kind, const char *name, const char *const *settings,
                                  const char *data_dir);
void ecsa_netplug_host_free (EcsaNetplugHost *host);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaNetplugHost, ecsa_netplug_host_free)
/* TRUE when a logged line contains `fragment`. */
gboolean ecsa_netplug_host_logged (EcsaNetplugHost *host, const char *fragment);

/* A synchronous Docker Engine API call (test code only). `body` is JSON text or NULL. Returns the
 * parsed JSON body (NULL when empty) and the HTTP status. */
JsonNode *ecsa_netplug_docker (EcsaNetplugHost *host, const char *method, const char *path, const char *body,
                            guint *out_status);
/* The same with a body of any type (a tar for an import); returns the raw reply. */
GBytes *ecsa_netplug_docker_raw (EcsaNetplugHost *host, const char *method, const char *path, GBytes *body,
                                 const char *content_type, guint *out_status);
/* Create and start a container from `create_json`; returns its ID (asserts on failure). */
char *ecsa_netplug_docker_run (EcsaNetplugHost *host, const char *name, const char *create_json);
/* The main process of a running container. */
gint ecsa_netplug_docker_pid (EcsaNetplugHost *host, const char *id);
/* Wait for a container to exit (at most timeout_s) and return its exit code; the default main
 * context runs meanwhile (servers of the test keep answering). */
gint ecsa_netplug_docker_wait (EcsaNetplugHost *host, const char *id, guint timeout_s);
/* The container's stdout+stderr (json-file log driver), demultiplexed. */
char *ecsa_netplug_docker_logs (EcsaNetplugHost *host, const char *id);
/* Remove a container by ID or name (forced; no error when missing). */
void ecsa_netplug_docker_remove (EcsaNetplugHost *host, const char *id_or_name);

/* Run the default main context for `ms` (to let late callbacks of a shut down plugin finish). */
void ecsa_netplug_iterate (guint ms);

/* Run a command synchronously (set-up and teardown); returns its exit status, stdout in *out. */
int ecsa_netplug_sh (char **out, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* ---- awsvpc test networks ---------------------------------------------------------------------
 * A "VPC" network namespace holding the subnet gateway 198.18.77.1/24, an "ENI" veth on the host
 * (its peer in the VPC) with a MAC derived from the PID, a bridge name and bridge subnet no other
 * bridge on this host uses, and REJECT guards on anything towards 169.254.169.254. Every name and
 * iptables comment carries `prefix` ("ecsa-t<pid>-<area>"); interfaces are "et<pid><letter>". */
#define ECSA_NETPLUG_VPC_GATEWAY "198.18.77.1"
#define ECSA_NETPLUG_ENI_ADDRESS "198.18.77.10"

typedef struct
{
  int pid;
  char *prefix;    /* ecsa-t<pid>-<area> */
  char *netns;     /* the VPC */
  char *eni;       /* host side of the ENI veth */
  char *eni_peer;  /* its peer in the VPC */
  char *eni_mac;
  char *bridge;    /* for ECSA_CNI_BRIDGE */
  char *subnet;    /* for ECSA_CNI_SUBNET */
  char *bridge_gw; /* the subnet's .1 */
} EcsaNetplugVpc;

/* Removes first what a crashed run of the same area left (its PID is gone). */
EcsaNetplugVpc *ecsa_netplug_vpc_new (const char *area);
/* Removes the namespace, the interfaces and every iptables rule carrying the prefix, and checks
 * that none is left. Containers are the caller's. */
void ecsa_netplug_vpc_free (EcsaNetplugVpc *vpc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaNetplugVpc, ecsa_netplug_vpc_free)
/* The links of a namespace, sorted: "ecs-eth0 eth0 lo ". */
char *ecsa_netplug_netns_links (const char *netns_path);

G_END_DECLS

/* ecsa-credentials-caller.h: who is asking the credentials endpoint?
 *
 * A request reaches 127.0.0.1:51679 from a source address and port. To tell which container (if any)
 * opened that connection, the agent asks the kernel for the client's end of the connection
 * (NETLINK_SOCK_DIAG, an exact lookup by address and port), never trusting anything the client says:
 *
 *  1. In the network namespace of each container of the task that owns the credentials ID that has
 *     a namespace of its own (bridge mode; awsvpc, where the task's containers share the pause
 *     container's): a TCP socket there whose local end is the request's source and whose remote end
 *     is 169.254.170.2:80 (what the container dialled before the DNAT) or the server's address means
 *     the caller lives in that task (ECSA_CALLER_TASK_NETNS).
 *  2. Otherwise in the host's (the agent's) namespace. A socket there belongs to a host process or a
 *     container in host network mode: its inode leads to the process holding it (/proc/<pid>/fd),
 *     whose cgroup names its container, if any (ECSA_CALLER_TASK_HOST_PROCESS,
 *     ECSA_CALLER_OTHER_CONTAINER, ECSA_CALLER_HOST_PROCESS; uid is the socket's owner).
 *  3. Nothing found: ECSA_CALLER_UNKNOWN (a container of another task, or a client already gone).
 *
 * The decision (who may read what) is the credentials server's; see docs/IAM.md.
 *
 * Threads: the lookups enter other network namespaces (setns), which changes the calling thread.
 * Run them only in an EcsaCallerPool (dedicated threads), never the main context or GLib's shared
 * pool. A thread that fails to return to the host namespace refuses every later lookup.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The address the containers dial; the README's DNAT sends it to 127.0.0.1:51679. */
#define ECSA_CREDENTIALS_ENDPOINT_IP "169.254.170.2"
#define ECSA_CREDENTIALS_ENDPOINT_PORT 80

typedef enum
{
  ECSA_CALLER_UNKNOWN = 0,
  ECSA_CALLER_TASK_NETNS,
  ECSA_CALLER_TASK_HOST_PROCESS,
  ECSA_CALLER_OTHER_CONTAINER,
  ECSA_CALLER_HOST_PROCESS,
} EcsaCallerKind;

typedef struct
{
  char *docker_id; /* 64 hex characters */
  int pid;         /* main process, 0 when not running */
} EcsaCallerContainer;

typedef struct
{
  guint8 peer_ip[4]; /* the request's source (network order) */
  guint16 peer_port;
  guint8 local_ip[4]; /* the server's end of the connection */
  guint16 local_port;
  GArray *containers; /* EcsaCallerContainer: the containers of the task owning the ID */
  char *proc_root;    /* "/proc" */
} EcsaCallerQuery;

typedef struct
{
  EcsaCallerKind kind;
  guint32 uid;        /* socket owner, else G_MAXUINT32 */
  int pid;            /* process holding the socket (host namespace only), else 0 */
  char *container_id; /* the caller's container when known, else NULL */
} EcsaCaller;

EcsaCallerQuery *ecsa_caller_query_new(GSocketAddress *peer, GSocketAddress *local, GError **error);
void ecsa_caller_query_add_container(EcsaCallerQuery *query, const char *docker_id, int pid);
void ecsa_caller_query_free(EcsaCallerQuery *query);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaCallerQuery, ecsa_caller_query_free)

void ecsa_caller_free(EcsaCaller *caller);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaCaller, ecsa_caller_free)

const char *ecsa_caller_kind_to_string(EcsaCallerKind kind);

/* Dedicated threads for the lookups. identify_async() takes the query; the result (an EcsaCaller,
 * never NULL unless cancelled) comes back on the caller's thread-default main context. */
typedef struct _EcsaCallerPool EcsaCallerPool;

EcsaCallerPool *ecsa_caller_pool_new(guint max_threads);
void ecsa_caller_pool_free(EcsaCallerPool *pool); /* waits for running lookups */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaCallerPool, ecsa_caller_pool_free)

void ecsa_caller_pool_identify_async(EcsaCallerPool *pool, gpointer source_object, EcsaCallerQuery *query,
                                     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
EcsaCaller *ecsa_caller_pool_identify_finish(GAsyncResult *result, GError **error);

/* The container ID (64 lowercase hex) named by a /proc/<pid>/cgroup text ("/docker/<id>",
 * "/ecs/<task>/<id>", "docker-<id>.scope"), or NULL. Exposed for tests and the fuzz harness. */
char *ecsa_cgroup_container_id(const char *cgroup_text);

G_END_DECLS

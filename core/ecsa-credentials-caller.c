/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* setns */
#include "ecsa-credentials-caller.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <glib/gstdio.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOCKER_ID_LEN 64

const char *
ecsa_caller_kind_to_string(EcsaCallerKind kind)
{
  switch (kind)
    {
    case ECSA_CALLER_TASK_NETNS:
      return "a container of the task";
    case ECSA_CALLER_TASK_HOST_PROCESS:
      return "a host-network container of the task";
    case ECSA_CALLER_OTHER_CONTAINER:
      return "a container of another task";
    case ECSA_CALLER_HOST_PROCESS:
      return "a host process";
    case ECSA_CALLER_UNKNOWN:
    default:
      return "not a container of the task";
    }
}

static gboolean
socket_address_ipv4(GSocketAddress *address, guint8 out_ip[4], guint16 *out_port, GError **error)
{
  GInetAddress *inet;
  const guint8 *bytes;

  if (!G_IS_INET_SOCKET_ADDRESS(address))
    {
      g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "not an internet socket address");
      return FALSE;
    }
  inet = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address));
  bytes = g_inet_address_to_bytes(inet);
  if (g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV4)
    memcpy(out_ip, bytes, 4);
  else
    {
      static const guint8 mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
      if (memcmp(bytes, mapped_prefix, sizeof mapped_prefix) != 0)
        {
          g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "not an IPv4 address");
          return FALSE;
        }
      memcpy(out_ip, bytes + 12, 4);
    }
  *out_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(address));
  return TRUE;
}

EcsaCallerQuery *
ecsa_caller_query_new(GSocketAddress *peer, GSocketAddress *local, GError **error)
{
  g_autoptr(EcsaCallerQuery) query = g_new0(EcsaCallerQuery, 1);

  query->containers = g_array_new(FALSE, TRUE, sizeof(EcsaCallerContainer));
  query->proc_root = g_strdup("/proc");
  if (!socket_address_ipv4(peer, query->peer_ip, &query->peer_port, error))
    {
      g_prefix_error(error, "request source: ");
      return NULL;
    }
  if (!socket_address_ipv4(local, query->local_ip, &query->local_port, error))
    {
      g_prefix_error(error, "server address: ");
      return NULL;
    }
  return g_steal_pointer(&query);
}

void
ecsa_caller_query_add_container(EcsaCallerQuery *query, const char *docker_id, int pid)
{
  EcsaCallerContainer c = { .docker_id = g_ascii_strdown(docker_id != NULL ? docker_id : "", -1), .pid = pid };

  g_array_append_val(query->containers, c);
}

void
ecsa_caller_query_free(EcsaCallerQuery *query)
{
  if (query == NULL)
    return;
  for (guint i = 0; query->containers != NULL && i < query->containers->len; i++)
    g_free(g_array_index(query->containers, EcsaCallerContainer, i).docker_id);
  g_clear_pointer(&query->containers, g_array_unref);
  g_free(query->proc_root);
  g_free(query);
}

void
ecsa_caller_free(EcsaCaller *caller)
{
  if (caller == NULL)
    return;
  g_free(caller->container_id);
  g_free(caller);
}

/* ---- processes and cgroups -------------------------------------------------------------------- */

static gboolean
is_docker_id(const char *text, gsize len)
{
  if (len != DOCKER_ID_LEN)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isxdigit(text[i]))
        return FALSE;
    }
  return TRUE;
}

char *
ecsa_cgroup_container_id(const char *cgroup_text)
{
  g_auto(GStrv) lines = NULL;
  char *found = NULL;

  if (cgroup_text == NULL)
    return NULL;
  lines = g_strsplit(cgroup_text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      /* hierarchy-ID:controllers:path */
      const char *path = strchr(lines[i], ':');
      g_auto(GStrv) parts = NULL;

      path = path != NULL ? strchr(path + 1, ':') : NULL;
      if (path == NULL)
        continue;
      parts = g_strsplit(path + 1, "/", -1);
      for (guint j = 0; parts[j] != NULL; j++)
        {
          const char *c = parts[j];
          gsize len = strlen(c);

          if (g_str_has_prefix(c, "docker-") && g_str_has_suffix(c, ".scope"))
            {
              c += strlen("docker-");
              len -= strlen("docker-") + strlen(".scope");
            }
          if (is_docker_id(c, len))
            {
              g_free(found);
              found = g_ascii_strdown(c, (gssize)len);
            }
        }
    }
  return found;
}

static gboolean
is_pid_name(const char *name)
{
  if (*name == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit(*p))
        return FALSE;
    }
  return TRUE;
}

/* Does process `pid_name` (owned by `uid`) hold `needle` ("socket:[inode]")? */
static gboolean
process_holds(const char *proc_root, const char *pid_name, guint32 uid, const char *needle)
{
  g_autofree char *pid_dir = g_build_filename(proc_root, pid_name, NULL);
  g_autofree char *fd_dir = NULL;
  g_autoptr(GDir) fds = NULL;
  const char *fd_name;
  GStatBuf st;

  if (g_stat(pid_dir, &st) != 0 || st.st_uid != uid)
    return FALSE;
  fd_dir = g_build_filename(pid_dir, "fd", NULL);
  fds = g_dir_open(fd_dir, 0, NULL);
  if (fds == NULL)
    return FALSE;
  while ((fd_name = g_dir_read_name(fds)) != NULL)
    {
      char link_path[PATH_MAX];
      char target[64];
      gssize n;

      if (g_snprintf(link_path, sizeof link_path, "%s/%s", fd_dir, fd_name) >= (int)sizeof link_path)
        continue;
      n = readlink(link_path, target, sizeof target - 1);
      if (n <= 0)
        continue;
      target[n] = '\0';
      if (strcmp(target, needle) == 0)
        return TRUE;
    }
  return FALSE;
}

/* Processes that opened connections lately (the same SDK or dockerd asks again): checked first,
 * since a full scan of /proc costs tens of milliseconds. */
#define RECENT_OWNERS 8
static GMutex recent_lock;
static int recent_owners[RECENT_OWNERS];

static void
remember_owner(int pid)
{
  g_mutex_lock(&recent_lock);
  memmove(recent_owners + 1, recent_owners, sizeof recent_owners - sizeof recent_owners[0]);
  recent_owners[0] = pid;
  g_mutex_unlock(&recent_lock);
}

/* The process holding socket `inode`, looking only at processes owned by `uid`; 0 when none. */
static int
find_socket_owner(const char *proc_root, guint64 inode, guint32 uid)
{
  g_autofree char *needle = g_strdup_printf("socket:[%" G_GUINT64_FORMAT "]", inode);
  g_autoptr(GDir) proc = NULL;
  int recent[RECENT_OWNERS];
  const char *name;

  g_mutex_lock(&recent_lock);
  memcpy(recent, recent_owners, sizeof recent);
  g_mutex_unlock(&recent_lock);
  for (guint i = 0; i < RECENT_OWNERS; i++)
    {
      char pid_name[16];

      if (recent[i] <= 0)
        continue;
      g_snprintf(pid_name, sizeof pid_name, "%d", recent[i]);
      if (process_holds(proc_root, pid_name, uid, needle))
        {
          if (i > 0)
            remember_owner(recent[i]);
          return recent[i];
        }
    }

  proc = g_dir_open(proc_root, 0, NULL);
  if (proc == NULL)
    return 0;
  while ((name = g_dir_read_name(proc)) != NULL)
    {
      if (is_pid_name(name) && process_holds(proc_root, name, uid, needle))
        {
          remember_owner(atoi(name));
          return atoi(name);
        }
    }
  return 0;
}

/* ---- the kernel's view of a TCP socket (NETLINK_SOCK_DIAG) ------------------------------------- */

typedef struct
{
  guint state;
  guint32 uid;
  guint64 inode;
} SocketInfo;

#define TCP_STATE_LISTEN 10

/* Exact lookup of the socket whose local end is local_ip:local_port and remote end
 * remote_ip:remote_port, as IPv4 or as IPv4-mapped IPv6 (dual-stack clients). */
static gboolean
diag_lookup_one(int nl, int family, const guint8 local_ip[4], guint16 local_port, const guint8 remote_ip[4],
                guint16 remote_port, SocketInfo *out_info)
{
  struct
  {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } request;
  static guint32 seq;
  union
  {
    struct nlmsghdr nlh;
    char bytes[8192];
  } reply;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  gssize n;

  memset(&request, 0, sizeof request);
  request.nlh.nlmsg_len = sizeof request;
  request.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.nlh.nlmsg_flags = NLM_F_REQUEST;
  request.nlh.nlmsg_seq = g_atomic_int_add((gint *)&seq, 1) + 1;
  request.req.sdiag_family = (guint8)family;
  request.req.sdiag_protocol = IPPROTO_TCP;
  request.req.idiag_states = ~0U;
  request.req.id.idiag_sport = g_htons(local_port);
  request.req.id.idiag_dport = g_htons(remote_port);
  request.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  request.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  if (family == AF_INET)
    {
      memcpy(&request.req.id.idiag_src[0], local_ip, 4);
      memcpy(&request.req.id.idiag_dst[0], remote_ip, 4);
    }
  else
    {
      request.req.id.idiag_src[2] = g_htonl(0xffff);
      memcpy(&request.req.id.idiag_src[3], local_ip, 4);
      request.req.id.idiag_dst[2] = g_htonl(0xffff);
      memcpy(&request.req.id.idiag_dst[3], remote_ip, 4);
    }

  if (sendto(nl, &request, sizeof request, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
    return FALSE;
  do
    n = recv(nl, &reply, sizeof reply, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return FALSE;
  for (struct nlmsghdr *h = &reply.nlh; NLMSG_OK(h, (guint)n); h = NLMSG_NEXT(h, n))
    {
      const struct inet_diag_msg *msg;

      if (h->nlmsg_seq != request.nlh.nlmsg_seq)
        continue;
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof *msg))
        return FALSE; /* NLMSG_ERROR: ENOENT when there is no such socket */
      msg = NLMSG_DATA(h);
      /* the lookup falls back to listening sockets: only a connection's own end counts */
      if (msg->idiag_state == TCP_STATE_LISTEN || msg->id.idiag_sport != request.req.id.idiag_sport
          || msg->id.idiag_dport != request.req.id.idiag_dport
          || memcmp(msg->id.idiag_dst, request.req.id.idiag_dst, sizeof msg->id.idiag_dst) != 0)
        return FALSE;
      out_info->state = msg->idiag_state;
      out_info->uid = msg->idiag_uid;
      out_info->inode = msg->idiag_inode;
      return TRUE;
    }
  return FALSE;
}

static const guint8 endpoint_ip[4] = { 169, 254, 170, 2 };

/* The client's socket in the namespace `nl` was opened in. */
static gboolean
diag_find_client(int nl, const EcsaCallerQuery *q, SocketInfo *out_info)
{
  static const int families[] = { AF_INET, AF_INET6 };

  for (guint f = 0; f < G_N_ELEMENTS(families); f++)
    {
      if (diag_lookup_one(nl, families[f], q->peer_ip, q->peer_port, endpoint_ip, ECSA_CREDENTIALS_ENDPOINT_PORT,
                          out_info)
          || diag_lookup_one(nl, families[f], q->peer_ip, q->peer_port, q->local_ip, q->local_port, out_info))
        return TRUE;
    }
  return FALSE;
}

static int
diag_socket_new(void)
{
  int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  struct timeval timeout = { .tv_sec = 2 };

  if (nl >= 0)
    setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return nl;
}

/* Per worker thread: its way back to the host namespace, and whether it lost it. */
typedef struct
{
  int host_ns;
  gboolean poisoned;
} ThreadNs;

static void
thread_ns_free(gpointer data)
{
  ThreadNs *t = data;

  if (t->host_ns >= 0)
    close(t->host_ns);
  g_free(t);
}

static GPrivate thread_ns_key = G_PRIVATE_INIT(thread_ns_free);

static ThreadNs *
thread_ns(void)
{
  ThreadNs *t = g_private_get(&thread_ns_key);

  if (t == NULL)
    {
      t = g_new0(ThreadNs, 1);
      /* a fresh pool thread is still in the namespace the agent started in */
      t->host_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      g_private_set(&thread_ns_key, t);
    }
  return t;
}

/* A sock_diag socket inside the namespace `ns_fd`; the thread comes back to the host namespace. */
static int
diag_socket_in(int ns_fd)
{
  ThreadNs *t = thread_ns();
  int nl, errsv;

  if (t->poisoned || t->host_ns < 0)
    return -1;
  if (setns(ns_fd, CLONE_NEWNET) != 0)
    return -1;
  nl = diag_socket_new();
  errsv = errno;
  if (setns(t->host_ns, CLONE_NEWNET) != 0)
    {
      /* never answer from the wrong namespace: this thread refuses from now on */
      t->poisoned = TRUE;
      g_critical("credentials: cannot return to the host network namespace: %s; refusing lookups in this thread",
                 g_strerror(errno));
      if (nl >= 0)
        close(nl);
      return -1;
    }
  errno = errsv;
  return nl;
}

static EcsaCaller *
identify(const EcsaCallerQuery *q)
{
  g_autoptr(EcsaCaller) caller = g_new0(EcsaCaller, 1);
  g_autoptr(GArray) seen = g_array_new(FALSE, FALSE, sizeof(ino_t));
  g_autofree char *cgroup_path = NULL;
  g_autofree char *cgroup_text = NULL;
  g_autofree char *cid = NULL;
  struct stat host_st;
  gboolean have_host = FALSE;
  ThreadNs *t = thread_ns();
  SocketInfo info;
  int nl;

  caller->kind = ECSA_CALLER_UNKNOWN;
  caller->uid = G_MAXUINT32;
  if (t->poisoned || t->host_ns < 0)
    return g_steal_pointer(&caller);
  have_host = fstat(t->host_ns, &host_st) == 0;

  /* 1. the network namespaces of the task's own containers */
  for (guint i = 0; i < q->containers->len; i++)
    {
      const EcsaCallerContainer *c = &g_array_index(q->containers, EcsaCallerContainer, i);
      g_autofree char *ns_path = NULL;
      struct stat st;
      gboolean dup = FALSE, found;
      int ns_fd;

      if (c->pid <= 0)
        continue;
      ns_path = g_strdup_printf("%s/%d/ns/net", q->proc_root, c->pid);
      ns_fd = open(ns_path, O_RDONLY | O_CLOEXEC);
      if (ns_fd < 0)
        continue;
      if (fstat(ns_fd, &st) != 0 || (have_host && st.st_ino == host_st.st_ino && st.st_dev == host_st.st_dev))
        {
          close(ns_fd); /* host network mode: step 2 */
          continue;
        }
      for (guint j = 0; j < seen->len; j++)
        dup = dup || g_array_index(seen, ino_t, j) == st.st_ino;
      if (dup)
        {
          close(ns_fd);
          continue;
        }
      g_array_append_val(seen, st.st_ino);
      nl = diag_socket_in(ns_fd);
      close(ns_fd);
      if (nl < 0)
        continue;
      found = diag_find_client(nl, q, &info);
      close(nl);
      if (found)
        {
          caller->kind = ECSA_CALLER_TASK_NETNS;
          caller->uid = info.uid;
          caller->container_id = g_strdup(c->docker_id);
          return g_steal_pointer(&caller);
        }
    }

  /* 2. the host's namespace: a host process, or a container in host network mode */
  nl = diag_socket_new();
  if (nl < 0)
    return g_steal_pointer(&caller);
  if (!diag_find_client(nl, q, &info))
    {
      close(nl);
      return g_steal_pointer(&caller);
    }
  close(nl);
  caller->uid = info.uid;
  if (info.inode == 0)
    return g_steal_pointer(&caller); /* the client is gone (orphaned or TIME_WAIT) */
  caller->pid = find_socket_owner(q->proc_root, info.inode, info.uid);
  if (caller->pid <= 0)
    return g_steal_pointer(&caller);

  cgroup_path = g_strdup_printf("%s/%d/cgroup", q->proc_root, caller->pid);
  if (!g_file_get_contents(cgroup_path, &cgroup_text, NULL, NULL))
    return g_steal_pointer(&caller);
  cid = ecsa_cgroup_container_id(cgroup_text);
  if (cid == NULL)
    {
      caller->kind = ECSA_CALLER_HOST_PROCESS;
      return g_steal_pointer(&caller);
    }
  caller->kind = ECSA_CALLER_OTHER_CONTAINER;
  for (guint i = 0; i < q->containers->len; i++)
    {
      const EcsaCallerContainer *c = &g_array_index(q->containers, EcsaCallerContainer, i);
      if (strcmp(c->docker_id, cid) == 0)
        caller->kind = ECSA_CALLER_TASK_HOST_PROCESS;
    }
  caller->container_id = g_steal_pointer(&cid);
  return g_steal_pointer(&caller);
}

/* ---- the worker pool -------------------------------------------------------------------------- */

struct _EcsaCallerPool
{
  GThreadPool *pool;
};

static void
pool_run(gpointer data, gpointer user_data)
{
  GTask *task = data;

  if (!g_task_return_error_if_cancelled(task))
    g_task_return_pointer(task, identify(g_task_get_task_data(task)), (GDestroyNotify)ecsa_caller_free);
  g_object_unref(task);
}

EcsaCallerPool *
ecsa_caller_pool_new(guint max_threads)
{
  EcsaCallerPool *pool = g_new0(EcsaCallerPool, 1);
  g_autoptr(GError) error = NULL;

  /* exclusive: these threads enter other namespaces, nothing else may run on them */
  pool->pool = g_thread_pool_new(pool_run, NULL, (gint)MAX(max_threads, 1), TRUE, &error);
  if (pool->pool == NULL)
    g_error("credentials: cannot start the caller lookup threads: %s", error->message);
  return pool;
}

void
ecsa_caller_pool_free(EcsaCallerPool *pool)
{
  if (pool == NULL)
    return;
  g_thread_pool_free(pool->pool, FALSE, TRUE);
  g_free(pool);
}

void
ecsa_caller_pool_identify_async(EcsaCallerPool *pool, gpointer source_object, EcsaCallerQuery *query,
                                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(source_object, cancellable, callback, user_data);

  g_task_set_source_tag(task, ecsa_caller_pool_identify_async);
  g_task_set_task_data(task, query, (GDestroyNotify)ecsa_caller_query_free);
  g_thread_pool_push(pool->pool, task, NULL);
}

EcsaCaller *
ecsa_caller_pool_identify_finish(GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(result, ecsa_caller_pool_identify_async), NULL);

  return g_task_propagate_pointer(G_TASK(result), error);
}

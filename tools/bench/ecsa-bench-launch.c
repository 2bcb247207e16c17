/* ecsa-bench-launch: the benchmark's baseline. Creates and starts N containers straight through the
 * Docker Engine API on its unix socket, with the agent's concurrency (at most C requests in flight on
 * C keep-alive connections, one FIFO queue: a create's completion queues that container's start
 * behind whatever is already waiting, as libsoup does for the agent), and prints one JSON object with
 * the timings. `remove` deletes the containers whose name starts with a prefix, untimed.
 *
 * The HTTP client is deliberately minimal (nonblocking sockets, epoll, no library) so that the
 * baseline is the floor: what Docker itself costs.
 *
 *   ecsa-bench-launch launch --count N --prefix P --body-file F [--concurrency 32] [--socket PATH]
 *   ecsa-bench-launch remove --prefix P [--concurrency 32] [--socket PATH]
 *
 * The body file is the create document; every "@I@" in it becomes the container's index (0..N-1).
 * Names are P-<index>.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/var/run/docker.sock"
#define DEFAULT_CONCURRENCY 32
#define MAX_RESPONSE (4 * 1024 * 1024)
/* Every request must finish within this, or the run fails naming the call. */
#define REQUEST_TIMEOUT_S 240

typedef enum
{
  OP_CREATE,
  OP_START,
  OP_LIST,
  OP_REMOVE,
} Op;

static const char *const op_names[] = { "create", "start", "list", "remove" };

typedef struct
{
  Op op;
  guint index;
} Job;

typedef struct
{
  int fd;
  gboolean connected;
  gboolean busy;
  Job job;
  GString *out;   /* request bytes not yet written */
  gsize out_done; /* how many of them were written */
  GString *in;    /* response bytes read so far */
  gint64 sent_ns;
} Conn;

typedef struct
{
  char *id;
  gint64 queued_ns;
  gint64 create_done_ns;
  gint64 start_done_ns;
} Item;

typedef struct
{
  const char *socket_path;
  const char *prefix;
  char *api;        /* "/v1.41" */
  char **body_parts; /* the body split at "@I@" */
  guint concurrency;
  guint count;
  int epfd;
  Conn *conns;
  GQueue queue; /* Job* */
  Item *items;
  guint outstanding; /* jobs queued or in flight */
  GPtrArray *remove_ids;
  GArray *create_ms;
  GArray *start_ms;
  gint64 t0;
  gint64 t_first_running;
  gint64 t_last;
  guint connections_opened;
  char *error;
} Bench;

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
fail (Bench *b, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
fail (Bench *b, const char *fmt, ...)
{
  va_list ap;

  if (b->error != NULL)
    return;
  va_start (ap, fmt);
  b->error = g_strdup_vprintf (fmt, ap);
  va_end (ap);
}

/* A connected, then nonblocking, stream socket to dockerd. */
static int
unix_connect (const char *path, gboolean nonblocking, GError **error)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof sa.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "socket path '%s' is too long", path);
      return -1;
    }
  strcpy (sa.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) != 0
      || (nonblocking && fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK) != 0))
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "cannot connect to '%s': %s", path,
                   g_strerror (errsv));
      return -1;
    }
  return fd;
}

static void
build_request (Bench *b, Conn *c)
{
  const Job *j = &c->job;

  g_string_truncate (c->out, 0);
  c->out_done = 0;
  switch (j->op)
    {
    case OP_CREATE:
      {
        g_autoptr(GString) body = g_string_new (NULL);
        for (guint i = 0; b->body_parts[i] != NULL; i++)
          {
            if (i > 0)
              g_string_append_printf (body, "%u", j->index);
            g_string_append (body, b->body_parts[i]);
          }
        g_string_append_printf (c->out,
                                "POST %s/containers/create?name=%s-%u HTTP/1.1\r\nHost: docker\r\n"
                                "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                                b->api, b->prefix, j->index, body->len);
        g_string_append_len (c->out, body->str, (gssize) body->len);
        break;
      }
    case OP_START:
      g_string_append_printf (c->out, "POST %s/containers/%s/start HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
                              b->api, b->items[j->index].id);
      break;
    case OP_REMOVE:
      g_string_append_printf (c->out, "DELETE %s/containers/%s?force=1&v=1 HTTP/1.1\r\nHost: docker\r\n\r\n", b->api,
                              (const char *) g_ptr_array_index (b->remove_ids, j->index));
      break;
    case OP_LIST:
    default:
      g_assert_not_reached ();
    }
}

/* Parses a complete response in c->in. Returns 1 when complete (status and body set), 0 when more
 * bytes are needed, -1 on a malformed one. */
static int
parse_response (GString *in, guint *out_status, const char **out_body, gsize *out_body_len, gboolean *out_close,
                GString *chunked_body)
{
  const char *end = g_strstr_len (in->str, (gssize) in->len, "\r\n\r\n");
  g_auto (GStrv) lines = NULL;
  gsize header_len;
  gint64 content_length = -1;
  gboolean chunked = FALSE;
  guint status = 0;

  if (end == NULL)
    return in->len > 64 * 1024 ? -1 : 0;
  header_len = (gsize) (end - in->str) + 4;
  {
    g_autofree char *head = g_strndup (in->str, header_len - 4);
    lines = g_strsplit (head, "\r\n", -1);
  }
  if (lines[0] == NULL || sscanf (lines[0], "HTTP/1.%*d %u", &status) != 1)
    return -1;
  *out_close = FALSE;
  for (guint i = 1; lines[i] != NULL; i++)
    {
      char *colon = strchr (lines[i], ':');
      const char *value;
      if (colon == NULL)
        continue;
      *colon = '\0';
      value = colon + 1;
      while (*value == ' ')
        value++;
      if (g_ascii_strcasecmp (lines[i], "Content-Length") == 0)
        content_length = g_ascii_strtoll (value, NULL, 10);
      else if (g_ascii_strcasecmp (lines[i], "Transfer-Encoding") == 0 && g_ascii_strcasecmp (value, "chunked") == 0)
        chunked = TRUE;
      else if (g_ascii_strcasecmp (lines[i], "Connection") == 0 && g_ascii_strcasecmp (value, "close") == 0)
        *out_close = TRUE;
    }
  *out_status = status;
  if (chunked)
    {
      gsize pos = header_len;
      g_string_truncate (chunked_body, 0);
      for (;;)
        {
          const char *eol = g_strstr_len (in->str + pos, (gssize) (in->len - pos), "\r\n");
          guint64 size;
          if (eol == NULL)
            return 0;
          size = g_ascii_strtoull (in->str + pos, NULL, 16);
          pos = (gsize) (eol - in->str) + 2;
          if (size == 0)
            {
              /* no trailers from Docker: the final CRLF */
              if (in->len < pos + 2)
                return 0;
              *out_body = chunked_body->str;
              *out_body_len = chunked_body->len;
              return 1;
            }
          if (in->len < pos + size + 2)
            return 0;
          g_string_append_len (chunked_body, in->str + pos, (gssize) size);
          pos += size + 2;
        }
    }
  if (status == 204 || status == 304 || (status >= 100 && status < 200))
    content_length = 0;
  if (content_length < 0)
    return -1; /* Docker always frames its answers */
  if (in->len < header_len + (gsize) content_length)
    return 0;
  *out_body = in->str + header_len;
  *out_body_len = (gsize) content_length;
  return 1;
}

static void
enqueue (Bench *b, Op op, guint index)
{
  Job *j = g_new (Job, 1);

  j->op = op;
  j->index = index;
  g_queue_push_tail (&b->queue, j);
  b->outstanding++;
}

static gboolean
conn_open (Bench *b, Conn *c)
{
  g_autoptr(GError) error = NULL;
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c };

  c->fd = unix_connect (b->socket_path, TRUE, &error);
  if (c->fd < 0)
    {
      fail (b, "%s", error->message);
      return FALSE;
    }
  if (epoll_ctl (b->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
    {
      fail (b, "epoll_ctl: %s", g_strerror (errno));
      return FALSE;
    }
  c->connected = TRUE;
  b->connections_opened++;
  return TRUE;
}

static void
conn_close (Bench *b, Conn *c)
{
  if (c->fd >= 0)
    {
      epoll_ctl (b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
      close (c->fd);
    }
  c->fd = -1;
  c->connected = FALSE;
}

static gboolean
conn_write (Bench *b, Conn *c)
{
  while (c->out_done < c->out->len)
    {
      ssize_t n = write (c->fd, c->out->str + c->out_done, c->out->len - c->out_done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return TRUE;
      if (n <= 0)
        {
          fail (b, "docker %s: write to '%s' failed: %s", op_names[c->job.op], b->socket_path, g_strerror (errno));
          return FALSE;
        }
      c->out_done += (gsize) n;
    }
  return TRUE;
}

/* Hands queued jobs to idle connections, opening connections up to the concurrency. */
static void
dispatch (Bench *b)
{
  for (guint i = 0; i < b->concurrency && !g_queue_is_empty (&b->queue) && b->error == NULL; i++)
    {
      Conn *c = &b->conns[i];
      g_autofree Job *j = NULL;
      if (c->busy)
        continue;
      if (!c->connected && !conn_open (b, c))
        return;
      j = g_queue_pop_head (&b->queue);
      c->job = *j;
      c->busy = TRUE;
      g_string_truncate (c->in, 0);
      build_request (b, c);
      c->sent_ns = now_ns ();
      conn_write (b, c);
    }
}

static void
complete (Bench *b, Conn *c, guint status, const char *body, gsize body_len)
{
  const Job *j = &c->job;
  gint64 t = now_ns ();
  double ms = (double) (t - c->sent_ns) / 1e6;

  switch (j->op)
    {
    case OP_CREATE:
      {
        g_autoptr(JsonParser) p = json_parser_new ();
        JsonObject *o;
        if (status != 201 || !json_parser_load_from_data (p, body, (gssize) body_len, NULL)
            || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p))
            || (o = json_node_get_object (json_parser_get_root (p)), !json_object_has_member (o, "Id")))
          {
            fail (b, "docker create '%s-%u': HTTP %u: %.*s", b->prefix, j->index, status, (int) MIN (body_len, 400),
                  body);
            return;
          }
        b->items[j->index].id = g_strdup (json_object_get_string_member (o, "Id"));
        b->items[j->index].create_done_ns = t;
        g_array_append_val (b->create_ms, ms);
        enqueue (b, OP_START, j->index);
        break;
      }
    case OP_START:
      if (status != 204 && status != 304)
        {
          fail (b, "docker start '%s-%u': HTTP %u: %.*s", b->prefix, j->index, status, (int) MIN (body_len, 400), body);
          return;
        }
      b->items[j->index].start_done_ns = t;
      if (b->t_first_running == 0)
        b->t_first_running = t;
      b->t_last = t;
      g_array_append_val (b->start_ms, ms);
      break;
    case OP_REMOVE:
      if (status != 204 && status != 404)
        fail (b, "docker remove '%s': HTTP %u: %.*s", (const char *) g_ptr_array_index (b->remove_ids, j->index), status,
              (int) MIN (body_len, 400), body);
      b->t_last = t;
      break;
    case OP_LIST:
    default:
      g_assert_not_reached ();
    }
}


static void
conn_read (Bench *b, Conn *c, GString *scratch)
{
  char buf[16384];
  gboolean eof = FALSE, close_after = FALSE;
  const char *body = NULL;
  gsize body_len = 0;
  guint status = 0;
  int r;

  for (;;)
    {
      ssize_t n = read (c->fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n < 0)
        {
          fail (b, "docker %s: read from '%s' failed: %s", op_names[c->job.op], b->socket_path, g_strerror (errno));
          return;
        }
      if (n == 0)
        {
          eof = TRUE;
          break;
        }
      g_string_append_len (c->in, buf, n);
      if (c->in->len > MAX_RESPONSE)
        {
          fail (b, "docker %s: an answer of more than %d bytes", op_names[c->job.op], MAX_RESPONSE);
          return;
        }
    }
  if (!c->busy)
    {
      /* an idle keep-alive connection that the daemon closed: open a new one when needed */
      conn_close (b, c);
      return;
    }
  r = parse_response (c->in, &status, &body, &body_len, &close_after, scratch);
  if (r < 0)
    {
      fail (b, "docker %s: malformed HTTP answer: %.*s", op_names[c->job.op], (int) MIN (c->in->len, 200), c->in->str);
      return;
    }
  if (r == 0)
    {
      if (eof)
        fail (b, "docker %s: the daemon closed the connection before answering", op_names[c->job.op]);
      return;
    }
  complete (b, c, status, body, body_len);
  c->busy = FALSE;
  b->outstanding--;
  if (close_after || eof)
    conn_close (b, c);
}

static gboolean
run_loop (Bench *b)
{
  g_autoptr(GString) scratch = g_string_new (NULL);
  struct epoll_event evs[64];

  dispatch (b);
  while (b->outstanding > 0 && b->error == NULL)
    {
      int n = epoll_wait (b->epfd, evs, G_N_ELEMENTS (evs), 1000);
      gint64 t = now_ns ();

      if (n < 0 && errno != EINTR)
        {
          fail (b, "epoll_wait: %s", g_strerror (errno));
          break;
        }
      for (int i = 0; i < n && b->error == NULL; i++)
        {
          Conn *c = evs[i].data.ptr;
          if (c->fd < 0)
            continue;
          if ((evs[i].events & EPOLLOUT) && c->busy && c->out_done < c->out->len)
            conn_write (b, c);
          if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            conn_read (b, c, scratch);
        }
      for (guint i = 0; i < b->concurrency && b->error == NULL; i++)
        {
          Conn *c = &b->conns[i];
          if (c->busy && t - c->sent_ns > (gint64) REQUEST_TIMEOUT_S * 1000000000)
            fail (b, "docker %s (job %u): no answer after %d s", op_names[c->job.op], c->job.index, REQUEST_TIMEOUT_S);
        }
      dispatch (b);
    }
  return b->error == NULL;
}

/* One blocking request on a connection of its own (setup calls: version, list). */
static JsonNode *
simple_request (Bench *b, const char *method, const char *path, GError **error)
{
  g_autoptr(GString) in = g_string_new (NULL);
  g_autoptr(GString) scratch = g_string_new (NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *req = g_strdup_printf ("%s %s HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n", method, path);
  const char *body = NULL;
  gsize body_len = 0, done = 0;
  guint status = 0;
  gboolean close_after;
  int fd = unix_connect (b->socket_path, FALSE, error);
  int r = 0;

  if (fd < 0)
    return NULL;
  while (done < strlen (req))
    {
      ssize_t n = write (fd, req + done, strlen (req) - done);
      if (n <= 0 && errno != EINTR)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "docker %s %s: %s", method, path,
                       g_strerror (errno));
          close (fd);
          return NULL;
        }
      if (n > 0)
        done += (gsize) n;
    }
  while (r == 0)
    {
      char buf[16384];
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n > 0)
        g_string_append_len (in, buf, n);
      r = parse_response (in, &status, &body, &body_len, &close_after, scratch);
      if (r == 0 && n <= 0)
        r = -1;
    }
  close (fd);
  if (r < 0 || status != 200)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "docker %s %s: HTTP %u: %.*s", method, path, status,
                   (int) MIN (in->len, 300), in->str);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, body, (gssize) body_len, error))
    {
      g_prefix_error (error, "docker %s %s: ", method, path);
      return NULL;
    }
  return json_node_copy (json_parser_get_root (parser));
}

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y ? 1 : 0;
}

static void
add_stats (JsonBuilder *jb, const char *name, GArray *values)
{
  json_builder_set_member_name (jb, name);
  json_builder_begin_object (jb);
  if (values->len > 0)
    {
      double sum = 0;
      g_array_sort (values, compare_double);
      for (guint i = 0; i < values->len; i++)
        sum += g_array_index (values, double, i);
      json_builder_set_member_name (jb, "mean");
      json_builder_add_double_value (jb, sum / values->len);
      json_builder_set_member_name (jb, "p50");
      json_builder_add_double_value (jb, g_array_index (values, double, values->len / 2));
      json_builder_set_member_name (jb, "p90");
      json_builder_add_double_value (jb, g_array_index (values, double, (values->len * 9) / 10));
      json_builder_set_member_name (jb, "max");
      json_builder_add_double_value (jb, g_array_index (values, double, values->len - 1));
    }
  json_builder_end_object (jb);
}

static void
print_json (JsonBuilder *jb)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (jb);
  g_autofree char *text = NULL;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

static gboolean
do_launch (Bench *b, const char *body_file, GError **error)
{
  g_autofree char *body = NULL;
  g_autoptr(JsonParser) check = json_parser_new ();
  g_autoptr(JsonBuilder) jb = json_builder_new ();
  double elapsed_ms, first_ms;

  if (!g_file_get_contents (body_file, &body, NULL, error))
    return FALSE;
  {
    /* the document must be JSON once indices are in */
    g_autoptr(GString) sample = g_string_new (body);
    g_string_replace (sample, "@I@", "0", 0);
    if (!json_parser_load_from_data (check, sample->str, -1, error))
      {
        g_prefix_error (error, "create body '%s': ", body_file);
        return FALSE;
      }
  }
  b->body_parts = g_strsplit (body, "@I@", -1);
  b->items = g_new0 (Item, b->count);
  b->create_ms = g_array_new (FALSE, FALSE, sizeof (double));
  b->start_ms = g_array_new (FALSE, FALSE, sizeof (double));

  b->t0 = now_ns ();
  for (guint i = 0; i < b->count; i++)
    enqueue (b, OP_CREATE, i);
  if (!run_loop (b))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, b->error);
      return FALSE;
    }
  elapsed_ms = (double) (b->t_last - b->t0) / 1e6;
  first_ms = (double) (b->t_first_running - b->t0) / 1e6;

  json_builder_begin_object (jb);
  json_builder_set_member_name (jb, "mode");
  json_builder_add_string_value (jb, "launch");
  json_builder_set_member_name (jb, "count");
  json_builder_add_int_value (jb, b->count);
  json_builder_set_member_name (jb, "concurrency");
  json_builder_add_int_value (jb, b->concurrency);
  json_builder_set_member_name (jb, "connections");
  json_builder_add_int_value (jb, b->connections_opened);
  json_builder_set_member_name (jb, "api");
  json_builder_add_string_value (jb, b->api);
  json_builder_set_member_name (jb, "elapsed_ms");
  json_builder_add_double_value (jb, elapsed_ms);
  json_builder_set_member_name (jb, "first_running_ms");
  json_builder_add_double_value (jb, first_ms);
  json_builder_set_member_name (jb, "per_second");
  json_builder_add_double_value (jb, elapsed_ms > 0 ? b->count * 1000.0 / elapsed_ms : 0);
  add_stats (jb, "create_ms", b->create_ms);
  add_stats (jb, "start_ms", b->start_ms);
  json_builder_end_object (jb);
  print_json (jb);
  return TRUE;
}

static gboolean
do_remove (Bench *b, GError **error)
{
  g_autofree char *filter = g_strdup_printf ("{\"name\":[\"^/%s-\"]}", b->prefix);
  g_autofree char *escaped = g_uri_escape_string (filter, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("%s/containers/json?all=1&filters=%s", b->api, escaped);
  g_autoptr(JsonNode) list = simple_request (b, "GET", path, error);
  g_autoptr(JsonBuilder) jb = json_builder_new ();
  JsonArray *a;

  if (list == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_ARRAY (list))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "docker list: not an array");
      return FALSE;
    }
  a = json_node_get_array (list);
  b->remove_ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      if (o != NULL && json_object_has_member (o, "Id"))
        g_ptr_array_add (b->remove_ids, g_strdup (json_object_get_string_member (o, "Id")));
    }
  b->t0 = now_ns ();
  b->t_last = b->t0;
  for (guint i = 0; i < b->remove_ids->len; i++)
    enqueue (b, OP_REMOVE, i);
  if (!run_loop (b))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, b->error);
      return FALSE;
    }
  json_builder_begin_object (jb);
  json_builder_set_member_name (jb, "mode");
  json_builder_add_string_value (jb, "remove");
  json_builder_set_member_name (jb, "removed");
  json_builder_add_int_value (jb, b->remove_ids->len);
  json_builder_set_member_name (jb, "elapsed_ms");
  json_builder_add_double_value (jb, (double) (b->t_last - b->t0) / 1e6);
  json_builder_end_object (jb);
  print_json (jb);
  return TRUE;
}

static gboolean
valid_prefix (const char *p)
{
  if (p == NULL || *p == '\0' || strlen (p) > 64 || !g_ascii_isalnum (*p))
    return FALSE;
  for (; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

int
main (int argc, char **argv)
{
  Bench b = { 0 };
  g_autoptr(GOptionContext) options = g_option_context_new ("launch|remove - the benchmark's Docker baseline");
  g_autoptr(GError) error = NULL;
  g_autofree char *socket_path = NULL, *prefix = NULL, *body_file = NULL;
  int count = 0, concurrency = DEFAULT_CONCURRENCY;
  g_autoptr(JsonNode) version = NULL;
  const char *mode;
  gboolean ok;
  const GOptionEntry entries[] = {
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_path, "dockerd's socket (" DEFAULT_SOCKET ")", "PATH" },
    { "prefix", 0, 0, G_OPTION_ARG_STRING, &prefix, "Container names are PREFIX-<index>", "PREFIX" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &count, "How many containers (launch)", "N" },
    { "concurrency", 'c', 0, G_OPTION_ARG_INT, &concurrency, "Requests in flight at most (32, as the agent)", "C" },
    { "body-file", 0, 0, G_OPTION_ARG_FILENAME, &body_file, "The create document; @I@ becomes the index", "FILE" },
    { NULL },
  };

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "ecsa-bench-launch: %s\n", error->message);
      return 2;
    }
  mode = argc > 1 ? argv[1] : "";
  if ((strcmp (mode, "launch") != 0 && strcmp (mode, "remove") != 0) || !valid_prefix (prefix)
      || concurrency < 1 || concurrency > 1024 || (strcmp (mode, "launch") == 0 && (count < 1 || body_file == NULL)))
    {
      fprintf (stderr, "ecsa-bench-launch: usage: launch --prefix P --count N --body-file F [--concurrency C] | "
                       "remove --prefix P (prefix: letters, digits, '-', '_', '.')\n");
      return 2;
    }
  b.socket_path = socket_path != NULL ? socket_path : DEFAULT_SOCKET;
  b.prefix = prefix;
  b.count = (guint) count;
  b.concurrency = (guint) concurrency;
  b.conns = g_new0 (Conn, b.concurrency);
  for (guint i = 0; i < b.concurrency; i++)
    {
      b.conns[i].fd = -1;
      b.conns[i].out = g_string_new (NULL);
      b.conns[i].in = g_string_new (NULL);
    }
  g_queue_init (&b.queue);
  b.epfd = epoll_create1 (EPOLL_CLOEXEC);

  version = simple_request (&b, "GET", "/version", &error);
  if (version != NULL && JSON_NODE_HOLDS_OBJECT (version)
      && json_object_has_member (json_node_get_object (version), "ApiVersion"))
    b.api = g_strdup_printf ("/v%s", json_object_get_string_member (json_node_get_object (version), "ApiVersion"));
  else if (error == NULL)
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "docker GET /version: no ApiVersion");

  ok = error == NULL && (strcmp (mode, "launch") == 0 ? do_launch (&b, body_file, &error) : do_remove (&b, &error));
  if (!ok)
    fprintf (stderr, "ecsa-bench-launch: %s\n", error->message);

  for (guint i = 0; i < b.concurrency; i++)
    {
      conn_close (&b, &b.conns[i]);
      g_string_free (b.conns[i].out, TRUE);
      g_string_free (b.conns[i].in, TRUE);
    }
  g_free (b.conns);
  g_queue_clear_full (&b.queue, g_free);
  for (guint i = 0; b.items != NULL && i < b.count; i++)
    g_free (b.items[i].id);
  g_free (b.items);
  g_strfreev (b.body_parts);
  g_clear_pointer (&b.create_ms, g_array_unref);
  g_clear_pointer (&b.start_ms, g_array_unref);
  g_clear_pointer (&b.remove_ids, g_ptr_array_unref);
  g_free (b.api);
  g_free (b.error);
  close (b.epfd);
  return ok ? 0 : 1;
}

/* ecsa-state-store.c: the checkpoint file (see the header for the contract).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-state-store.h"

#include "ecsa-build-config.h"
#include "ecsa-plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEMP_PREFIX "." ECSA_STATE_STORE_FILE ".tmp-"
/* A checkpoint bigger than this is not ours (250 tasks take well under 1 MiB). */
#define MAX_FILE_SIZE (256 * 1024 * 1024)

typedef struct
{
  EcsaStateStoreSerializeFunc func;          /* a tree, or */
  EcsaStateStoreSerializeTextFunc text_func; /* the JSON text, or */
  EcsaStateStoreComposeFunc compose_func;    /* parts */
  gpointer user_data;
} Section;

/* A fragment of a composed section, on the main context only. */
typedef struct
{
  GBytes *text;   /* not yet in a durable checkpoint, or NULL: then it is in the file at */
  goffset offset; /* ... this offset, */
  gsize length;
  guint64 hash; /* with this fragment_hash() */
  guint64 seen; /* the last snapshot that used it */
} Fragment;

static void
fragment_free(Fragment *f)
{
  g_clear_pointer(&f->text, g_bytes_unref);
  g_free(f);
}

typedef enum
{
  PART_LITERAL,
  PART_NEW,  /* a fragment's new text */
  PART_COPY, /* a fragment copied from the current checkpoint file */
} PartKind;

/* A part of a composed section in a snapshot. The worker reads it and records where a fragment
 * went in the new file; `fragment` is only touched on the main context (the table is not changed
 * while a write runs: only a snapshot changes it). */
typedef struct
{
  PartKind kind;
  gsize lit_offset, lit_length; /* LITERAL: in the piece's literals */
  Fragment *fragment;           /* NEW, COPY */
  GBytes *text;                 /* NEW (a reference) */
  goffset offset;               /* COPY: in the current file; after the write, in the new one */
  gsize length;
  guint64 hash;
} Part;

/* One section of a snapshot: a tree, JSON text written as it is, or parts. */
typedef struct
{
  char *name;
  JsonNode *node;
  GBytes *text;
  GString *literals;
  GArray *parts; /* Part */
} Piece;

static void
piece_free(Piece *p)
{
  g_free(p->name);
  g_clear_pointer(&p->node, json_node_unref);
  g_clear_pointer(&p->text, g_bytes_unref);
  if (p->literals != NULL)
    g_string_free(p->literals, TRUE);
  for (guint i = 0; p->parts != NULL && i < p->parts->len; i++)
    g_clear_pointer(&g_array_index(p->parts, Part, i).text, g_bytes_unref);
  g_clear_pointer(&p->parts, g_array_unref);
  g_free(p);
}

struct _EcsaStateStoreComposer
{
  EcsaStateStore *store;
  Piece *piece;
  GString *key; /* the fragment's key in the store's table */
  gsize section_len;
  gboolean needs_file; /* a part is copied from the current file */
};

struct _EcsaStateStore
{
  GObject parent_instance;

  char *data_dir;
  char *path;
  gboolean enabled;
  GHashTable *sections;  /* name -> Section* */
  GHashTable *restored;  /* name -> JsonNode* */
  GHashTable *fragments; /* "<length of section>:<section><key>" -> Fragment* */
  guint64 generation;    /* of the snapshots */
  /* the identity of the file the fragments without text are in */
  dev_t file_dev;
  ino_t file_ino;
  goffset file_size;
  GMainContext *context;
  GThread *owner_thread;

  GPtrArray *pending;  /* GTask* waiting for the next write */
  GPtrArray *inflight; /* GTask* waiting for the running write */
  GSource *kick;       /* the snapshot is taken from here, batching requests of one dispatch */
  gboolean writing;

  guint64 n_writes;
  gint64 last_write_us;
  gint64 max_write_us;
  guint64 n_on_main_thread;
};

G_DEFINE_TYPE(EcsaStateStore, ecsa_state_store, G_TYPE_OBJECT)

static void
ecsa_state_store_finalize(GObject *object)
{
  EcsaStateStore *self = ECSA_STATE_STORE(object);

  if (self->kick != NULL)
    {
      g_source_destroy(self->kick);
      g_source_unref(self->kick);
    }
  g_free(self->data_dir);
  g_free(self->path);
  g_hash_table_unref(self->sections);
  g_hash_table_unref(self->restored);
  g_hash_table_unref(self->fragments);
  g_ptr_array_unref(self->pending);
  g_ptr_array_unref(self->inflight);
  g_main_context_unref(self->context);
  G_OBJECT_CLASS(ecsa_state_store_parent_class)->finalize(object);
}

static void
ecsa_state_store_class_init(EcsaStateStoreClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = ecsa_state_store_finalize;
}

static void
ecsa_state_store_init(EcsaStateStore *self)
{
  self->sections = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  self->restored = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)json_node_unref);
  self->fragments = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)fragment_free);
  self->pending = g_ptr_array_new();
  self->inflight = g_ptr_array_new();
  self->context = g_main_context_ref_thread_default();
  self->owner_thread = g_thread_self();
}

EcsaStateStore *
ecsa_state_store_new(const char *data_dir, gboolean enabled)
{
  EcsaStateStore *self;

  g_return_val_if_fail(data_dir != NULL, NULL);

  self = g_object_new(ECSA_TYPE_STATE_STORE, NULL);
  self->data_dir = g_strdup(data_dir);
  self->path = g_build_filename(data_dir, ECSA_STATE_STORE_FILE, NULL);
  self->enabled = enabled;
  return self;
}

gboolean
ecsa_state_store_get_enabled(EcsaStateStore *self)
{
  g_return_val_if_fail(ECSA_IS_STATE_STORE(self), FALSE);
  return self->enabled;
}

const char *
ecsa_state_store_get_path(EcsaStateStore *self)
{
  g_return_val_if_fail(ECSA_IS_STATE_STORE(self), NULL);
  return self->path;
}

/* ------------------------------------------------------------------------------------------- */
/* load */

/* Keep a refused file: rename it aside with a suffix saying why. Returns the new path or NULL. */
static char *
move_aside(EcsaStateStore *self, const char *why)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
  char *aside = g_strdup_printf("%s.%s-%s", self->path, why, stamp);

  if (g_rename(self->path, aside) != 0)
    {
      g_free(aside);
      return NULL;
    }
  return aside;
}

static void
remove_stale_temps(EcsaStateStore *self)
{
  g_autoptr(GDir) dir = g_dir_open(self->data_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name(dir)) != NULL)
    if (g_str_has_prefix(name, TEMP_PREFIX))
      {
        g_autofree char *p = g_build_filename(self->data_dir, name, NULL);
        g_unlink(p);
      }
}

static gboolean
refuse(EcsaStateStore *self, int code, const char *why, const char *suffix, GError **error)
{
  g_autofree char *aside = move_aside(self, suffix);

  g_hash_table_remove_all(self->restored);
  g_set_error(error, ECSA_ERROR, code, "checkpoint '%s' refused: %s; %s%s%s; starting without it", self->path, why,
              aside != NULL ? "kept as '" : "it could not be moved aside", aside != NULL ? aside : "",
              aside != NULL ? "'" : "");
  return FALSE;
}

gboolean
ecsa_state_store_load(EcsaStateStore *self, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root, *version_node, *sections_node;
  JsonObject *o;
  gint64 version;
  struct stat st;

  g_return_val_if_fail(ECSA_IS_STATE_STORE(self), FALSE);

  g_hash_table_remove_all(self->restored);
  if (!self->enabled)
    return TRUE;
  if (g_mkdir_with_parents(self->data_dir, 0700) != 0)
    {
      int errsv = errno;
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot create the data directory '%s' (ECS_DATADIR): %s",
                  self->data_dir, g_strerror(errsv));
      return FALSE;
    }
  remove_stale_temps(self);
  if (g_stat(self->path, &st) != 0)
    {
      int errsv = errno;
      if (errsv == ENOENT)
        return TRUE;
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot read checkpoint '%s': %s", self->path,
                  g_strerror(errsv));
      return FALSE;
    }
  if (st.st_size > MAX_FILE_SIZE)
    return refuse(self, ECSA_ERROR_INVALID_DATA, "it is too large to be a checkpoint", "corrupt", error);
  if (!g_file_get_contents(self->path, &contents, &len, &local))
    {
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot read checkpoint '%s': %s", self->path, local->message);
      return FALSE;
    }
  if (len == 0)
    return refuse(self, ECSA_ERROR_INVALID_DATA, "it is empty", "corrupt", error);
  parser = json_parser_new_immutable();
  if (!json_parser_load_from_data(parser, contents, len, &local))
    {
      g_autofree char *why = g_strdup_printf("it is not valid JSON (%s)", local->message);
      return refuse(self, ECSA_ERROR_INVALID_DATA, why, "corrupt", error);
    }
  root = json_parser_get_root(parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
    return refuse(self, ECSA_ERROR_INVALID_DATA, "it is not a JSON object", "corrupt", error);
  o = json_node_get_object(root);
  version_node = json_object_get_member(o, "version");
  if (version_node == NULL || !JSON_NODE_HOLDS_VALUE(version_node)
      || json_node_get_value_type(version_node) != G_TYPE_INT64)
    return refuse(self, ECSA_ERROR_INVALID_DATA, "it has no schema version", "corrupt", error);
  version = json_node_get_int(version_node);
  if (version > ECSA_STATE_STORE_VERSION)
    {
      const char *writer = json_object_get_string_member_with_default(o, "writer", "an unknown agent");
      g_autofree char *why = g_strdup_printf("it was written by %s with schema version %" G_GINT64_FORMAT
                                             ", newer than this agent reads (%d)",
                                             writer, version, ECSA_STATE_STORE_VERSION);
      g_autofree char *suffix = g_strdup_printf("newer-v%" G_GINT64_FORMAT, version);
      return refuse(self, ECSA_ERROR_NOT_SUPPORTED, why, suffix, error);
    }
  if (version < 1)
    return refuse(self, ECSA_ERROR_INVALID_DATA, "its schema version is not valid", "corrupt", error);
  /* version 1 is the first: older versions would be migrated here */
  sections_node = json_object_get_member(o, "sections");
  if (sections_node == NULL || !JSON_NODE_HOLDS_OBJECT(sections_node))
    return refuse(self, ECSA_ERROR_INVALID_DATA, "it has no 'sections' object", "corrupt", error);
  {
    JsonObject *so = json_node_get_object(sections_node);
    g_autoptr(GList) names = json_object_get_members(so);
    for (GList *l = names; l != NULL; l = l->next)
      g_hash_table_insert(self->restored, g_strdup(l->data), json_node_ref(json_object_get_member(so, l->data)));
  }
  g_info("restored checkpoint '%s' (schema version %" G_GINT64_FORMAT ", %u sections)", self->path, version,
         g_hash_table_size(self->restored));
  return TRUE;
}

JsonNode *
ecsa_state_store_get_section(EcsaStateStore *self, const char *name)
{
  g_return_val_if_fail(ECSA_IS_STATE_STORE(self), NULL);
  g_return_val_if_fail(name != NULL, NULL);
  return g_hash_table_lookup(self->restored, name);
}

/* Registering hands the section to its owner: the restored tree (about 10 KiB a task for
 * "tasks") is not kept for the run. */
static void
register_section(EcsaStateStore *self, const char *name, const Section *how)
{
  g_hash_table_replace(self->sections, g_strdup(name), g_memdup2(how, sizeof *how));
  g_hash_table_remove(self->restored, name);
}

void
ecsa_state_store_register_section(EcsaStateStore *self, const char *name, EcsaStateStoreSerializeFunc func,
                                  gpointer user_data)
{
  g_return_if_fail(ECSA_IS_STATE_STORE(self));
  g_return_if_fail(name != NULL && func != NULL);
  register_section(self, name, &(Section){ .func = func, .user_data = user_data });
}

void
ecsa_state_store_register_text_section(EcsaStateStore *self, const char *name, EcsaStateStoreSerializeTextFunc func,
                                       gpointer user_data)
{
  g_return_if_fail(ECSA_IS_STATE_STORE(self));
  g_return_if_fail(name != NULL && func != NULL);
  register_section(self, name, &(Section){ .text_func = func, .user_data = user_data });
}

void
ecsa_state_store_register_composed_section(EcsaStateStore *self, const char *name, EcsaStateStoreComposeFunc func,
                                           gpointer user_data)
{
  g_return_if_fail(ECSA_IS_STATE_STORE(self));
  g_return_if_fail(name != NULL && func != NULL);
  register_section(self, name, &(Section){ .compose_func = func, .user_data = user_data });
}

void
ecsa_state_store_unregister_section(EcsaStateStore *self, const char *name)
{
  g_return_if_fail(ECSA_IS_STATE_STORE(self));
  g_hash_table_remove(self->sections, name);
}

/* ------------------------------------------------------------------------------------------- */
/* save */

typedef struct
{
  char *data_dir;
  char *path;
  gint64 saved_at;   /* unix seconds */
  GPtrArray *pieces; /* Piece*: the sections */
  GThread *owner_thread;
  gint64 duration_us;
  gboolean on_owner_thread;
  gboolean needs_file; /* parts are copied from the current file, whose identity must be: */
  dev_t file_dev;
  ino_t file_ino;
  goffset file_size;
  /* results */
  gboolean renamed; /* the new file is the checkpoint (even if a later step failed) */
  gboolean stale;   /* nothing can be copied from the current file: replaced, changed or unreadable */
  dev_t new_dev;
  ino_t new_ino;
  goffset new_size;
} WriteJob;

static void
write_job_free(WriteJob *job)
{
  g_free(job->data_dir);
  g_free(job->path);
  g_ptr_array_unref(job->pieces);
  g_free(job);
}

/* The file being written, through a buffer: a composed section is hundreds of small parts. */
#define OUT_BUFFER_SIZE (32 * 1024)

typedef struct
{
  int fd;
  goffset written; /* bytes given, buffered or not */
  char *buf;
  gsize used;
} Out;

static gboolean
write_fd(int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write(fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = EIO;
          return FALSE;
        }
      data += n;
      len -= (gsize)n;
    }
  return TRUE;
}

static gboolean
out_flush(Out *out)
{
  gboolean ok = write_fd(out->fd, out->buf, out->used);

  out->used = 0;
  return ok;
}

static gboolean
write_all(Out *out, const char *data, gsize len)
{
  out->written += (goffset)len;
  if (out->used + len <= OUT_BUFFER_SIZE)
    {
      memcpy(out->buf + out->used, data, len);
      out->used += len;
      return TRUE;
    }
  return out_flush(out) && write_fd(out->fd, data, len);
}

static gboolean
write_failed(GError **error)
{
  int errsv = errno;

  g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "%s", g_strerror(errsv));
  return FALSE;
}

/* A check that a fragment in the file is still what was written there (not a defence against
 * anyone: the file is root's). Eight bytes a step: a tenth of the time of a byte-wise FNV-1a. */
static guint64
fragment_hash(const char *data, gsize len)
{
  guint64 h = G_GUINT64_CONSTANT(0xcbf29ce484222325) ^ len;
  gsize i = 0;

  for (; i + 8 <= len; i += 8)
    {
      guint64 w;
      memcpy(&w, data + i, 8);
      h = (h ^ w) * G_GUINT64_CONSTANT(0x9e3779b97f4a7c15);
      h ^= h >> 29;
    }
  for (; i < len; i++)
    h = (h ^ (guchar)data[i]) * G_GUINT64_CONSTANT(0x100000001b3);
  return h ^ (h >> 32);
}

/* The current checkpoint, opened, when it is the file the store wrote last; -1 (and job->stale)
 * otherwise. Fragments are read back with pread(), not mapped: a file truncated behind the agent's
 * back then reads short (stale) instead of raising SIGBUS. */
static int
open_current_file(WriteJob *job, GError **error)
{
  struct stat st;
  int fd = open(job->path, O_RDONLY | O_CLOEXEC);

  if (fd < 0 || fstat(fd, &st) != 0 || st.st_dev != job->file_dev || st.st_ino != job->file_ino
      || st.st_size != job->file_size)
    {
      if (fd >= 0)
        close(fd);
      job->stale = TRUE;
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED,
                  "'%s' is not the file the agent wrote last (replaced or changed by something else)", job->path);
      return -1;
    }
  return fd;
}

static gboolean
pread_all(int fd, char *buf, gsize len, goffset offset)
{
  while (len > 0)
    {
      ssize_t n = pread(fd, buf, len, (off_t)offset);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      buf += n;
      len -= (gsize)n;
      offset += n;
    }
  return TRUE;
}

/* A fragment from the current file (current_fd) to the new one, read into the write buffer. Any
 * failure to read back what was written there makes the job stale: the next write copies nothing. */
static gboolean
copy_fragment(Out *out, int current_fd, Part *part, const char *section, WriteJob *job, GError **error)
{
  gsize len = part->length;
  g_autofree char *big = NULL;
  char *dst;

  if (len > OUT_BUFFER_SIZE - out->used && !out_flush(out))
    return write_failed(error);
  dst = len <= OUT_BUFFER_SIZE ? out->buf + out->used : (big = g_malloc(len));
  if (current_fd < 0 || part->offset < 0 || !pread_all(current_fd, dst, len, part->offset)
      || fragment_hash(dst, len) != part->hash)
    {
      job->stale = TRUE;
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED,
                  "section '%s' of '%s' does not hold what the agent wrote (changed by something else)", section,
                  job->path);
      return FALSE;
    }
  part->offset = out->written;
  out->written += (goffset)len;
  if (big == NULL)
    {
      out->used += len;
      return TRUE;
    }
  return write_fd(out->fd, big, len) || write_failed(error);
}

static gboolean
write_parts(Out *out, Piece *p, int current_fd, WriteJob *job, GError **error)
{
  for (guint i = 0; i < p->parts->len; i++)
    {
      Part *part = &g_array_index(p->parts, Part, i);
      const char *data;
      gsize len = 0;

      switch (part->kind)
        {
        case PART_COPY:
          if (!copy_fragment(out, current_fd, part, p->name, job, error))
            return FALSE;
          continue;
        case PART_NEW:
          data = g_bytes_get_data(part->text, &len);
          part->hash = fragment_hash(data, len);
          part->offset = out->written;
          part->length = len;
          break;
        case PART_LITERAL:
        default:
          data = p->literals->str + part->lit_offset;
          len = part->lit_length;
          break;
        }
      if (!write_all(out, data, len))
        return write_failed(error);
    }
  return TRUE;
}

static char *
json_string(const char *s)
{
  g_autoptr(JsonNode) n = json_node_init_string(json_node_alloc(), s);

  return json_to_string(n, FALSE);
}

/* {"version":N,"writer":"...","savedAt":N,"sections":{"name":<section>,...}}, compact, written
 * section by section: the file is never assembled in memory. */
static gboolean
write_sections(Out *out, WriteJob *job, int current, GError **error)
{
  g_autofree char *writer = json_string("ecs-agent " PACKAGE_VERSION " (Amazon ECS agent " ECSA_COMPAT_VERSION ")");
  g_autofree char *head
    = g_strdup_printf("{\"version\":%d,\"writer\":%s,\"savedAt\":%" G_GINT64_FORMAT ",\"sections\":{",
                      ECSA_STATE_STORE_VERSION, writer, job->saved_at);

  if (!write_all(out, head, strlen(head)))
    return write_failed(error);
  for (guint i = 0; i < job->pieces->len; i++)
    {
      Piece *p = job->pieces->pdata[i];
      g_autofree char *name = json_string(p->name);
      g_autofree char *key = g_strdup_printf("%s%s:", i > 0 ? "," : "", name);
      g_autofree char *tree = NULL;
      const char *data;
      gsize len = 0;

      if (!write_all(out, key, strlen(key)))
        return write_failed(error);
      if (p->parts != NULL)
        {
          if (!write_parts(out, p, current, job, error))
            return FALSE;
          continue;
        }
      if (p->text != NULL)
        data = g_bytes_get_data(p->text, &len);
      else
        {
          tree = json_to_string(p->node, FALSE);
          data = tree;
          len = strlen(tree);
        }
      if (!write_all(out, data, len))
        return write_failed(error);
    }
  if (!write_all(out, "}}", 2) || !out_flush(out))
    return write_failed(error);
  return TRUE;
}

static gboolean
write_pieces(int fd, WriteJob *job, GError **error)
{
  g_autofree char *buf = g_malloc(OUT_BUFFER_SIZE);
  Out out = { .fd = fd, .written = 0, .buf = buf, .used = 0 };
  int current = -1;
  gboolean ok;

  if (job->needs_file && (current = open_current_file(job, error)) < 0)
    return FALSE;
  ok = write_sections(&out, job, current, error);
  if (current >= 0)
    close(current);
  return ok;
}

/* In the worker thread: temp file, fsync, rename, directory fsync. */
static gboolean
write_file(WriteJob *job, GError **error)
{
  g_autofree char *tmp = g_build_filename(job->data_dir, TEMP_PREFIX "XXXXXX", NULL);
  g_autoptr(GError) local = NULL;
  struct stat st;
  int fd, dfd, errsv;

  fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      errsv = errno;
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot create a temporary file in '%s': %s", job->data_dir,
                  g_strerror(errsv));
      return FALSE;
    }
  if (!write_pieces(fd, job, &local) || fsync(fd) != 0 || fstat(fd, &st) != 0)
    {
      errsv = errno;
      close(fd);
      g_unlink(tmp);
      if (job->stale)
        g_propagate_error(error, g_steal_pointer(&local));
      else
        g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot write '%s': %s", tmp,
                    local != NULL ? local->message : g_strerror(errsv));
      return FALSE;
    }
  job->new_dev = st.st_dev;
  job->new_ino = st.st_ino;
  job->new_size = st.st_size;
  if (close(fd) != 0)
    {
      errsv = errno;
      g_unlink(tmp);
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot write '%s': %s", tmp, g_strerror(errsv));
      return FALSE;
    }
  if (g_rename(tmp, job->path) != 0)
    {
      errsv = errno;
      g_unlink(tmp);
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot rename '%s' to '%s': %s", tmp, job->path,
                  g_strerror(errsv));
      return FALSE;
    }
  job->renamed = TRUE;
  dfd = open(job->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0)
    {
      errsv = errno;
      if (dfd >= 0)
        close(dfd);
      g_set_error(error, ECSA_ERROR, ECSA_ERROR_FAILED, "cannot sync the directory '%s': %s", job->data_dir,
                  g_strerror(errsv));
      return FALSE;
    }
  close(dfd);
  return TRUE;
}

static void
write_thread(GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  WriteJob *job = task_data;
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time();

  job->on_owner_thread = g_thread_self() == job->owner_thread;
  if (!write_file(job, &error))
    {
      g_prefix_error(&error, "saving checkpoint: ");
      g_task_return_error(task, g_steal_pointer(&error));
      return;
    }
  job->duration_us = g_get_monotonic_time() - t0;
  g_task_return_boolean(task, TRUE);
}

static void start_write(EcsaStateStore *self);

static gboolean
kick_cb(gpointer user_data)
{
  EcsaStateStore *self = user_data;

  g_clear_pointer(&self->kick, g_source_unref);
  start_write(self);
  return G_SOURCE_REMOVE;
}

static void
schedule_kick(EcsaStateStore *self)
{
  if (self->kick != NULL || self->writing || self->pending->len == 0)
    return;
  self->kick = g_timeout_source_new(0);
  g_source_set_callback(self->kick, kick_cb, self, NULL);
  g_source_set_name(self->kick, "ecsa-state-store-save");
  g_source_attach(self->kick, self->context);
}

/* The new file is the checkpoint (renamed into place; its directory's fsync may still have
 * failed): its fragments are read from there now, and no longer need their text. */
static void
record_fragments(EcsaStateStore *self, WriteJob *job)
{
  self->file_dev = job->new_dev;
  self->file_ino = job->new_ino;
  self->file_size = job->new_size;
  for (guint i = 0; i < job->pieces->len; i++)
    {
      Piece *p = job->pieces->pdata[i];
      for (guint j = 0; p->parts != NULL && j < p->parts->len; j++)
        {
          Part *part = &g_array_index(p->parts, Part, j);
          Fragment *f = part->fragment;

          if (part->kind == PART_LITERAL)
            continue;
          if (f->text != part->text)
            continue; /* not the fragment's text now: its key was used twice in one snapshot */
          g_clear_pointer(&f->text, g_bytes_unref);
          f->offset = part->offset;
          f->length = part->length;
          f->hash = part->hash;
        }
    }
}

static void
write_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcsaStateStore *self = ECSA_STATE_STORE(source);
  WriteJob *job = g_task_get_task_data(G_TASK(result));
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) waiters = g_steal_pointer(&self->inflight);
  gboolean ok = g_task_propagate_boolean(G_TASK(result), &error);

  self->inflight = g_ptr_array_new();
  self->writing = FALSE;
  if (job->renamed)
    record_fragments(self, job);
  else if (job->stale)
    {
      /* the fragments kept in the file are lost: the owners give them again, and the waiters are
       * served by that write (which copies nothing, so it cannot be stale) */
      g_warning("%s; writing every section again", error->message);
      g_hash_table_remove_all(self->fragments);
      g_ptr_array_extend_and_steal(self->pending, g_steal_pointer(&waiters));
      waiters = g_ptr_array_new();
      ok = FALSE;
    }
  if (ok)
    {
      self->n_writes++;
      self->last_write_us = job->duration_us;
      self->max_write_us = MAX(self->max_write_us, job->duration_us);
      if (job->on_owner_thread)
        self->n_on_main_thread++;
    }
  for (guint i = 0; i < waiters->len; i++)
    {
      g_autoptr(GTask) t = waiters->pdata[i];
      if (ok)
        g_task_return_boolean(t, TRUE);
      else
        g_task_return_error(t, g_error_copy(error));
    }
  schedule_kick(self);
}

static void
add_piece(GPtrArray *pieces, const char *name, JsonNode *node, GBytes *text)
{
  Piece *p = g_new0(Piece, 1);

  p->name = g_strdup(name);
  p->node = node;
  p->text = text;
  if (p->node == NULL && p->text == NULL)
    p->node = json_node_new(JSON_NODE_NULL);
  g_ptr_array_add(pieces, p);
}

void
ecsa_state_store_composer_append(EcsaStateStoreComposer *c, const char *text, gssize len)
{
  Piece *p;
  gsize n;

  g_return_if_fail(c != NULL && text != NULL);

  p = c->piece;
  n = len < 0 ? strlen(text) : (gsize)len;
  if (p->parts->len > 0 && g_array_index(p->parts, Part, p->parts->len - 1).kind == PART_LITERAL)
    g_array_index(p->parts, Part, p->parts->len - 1).lit_length += n;
  else
    {
      Part part = { .kind = PART_LITERAL, .lit_offset = p->literals->len, .lit_length = n };
      g_array_append_val(p->parts, part);
    }
  g_string_append_len(p->literals, text, (gssize)n);
}

static Fragment *
composer_fragment(EcsaStateStoreComposer *c, const char *key, gboolean create)
{
  Fragment *f;

  g_string_truncate(c->key, c->section_len);
  g_string_append(c->key, key);
  f = g_hash_table_lookup(c->store->fragments, c->key->str);
  if (f == NULL && create)
    {
      f = g_new0(Fragment, 1);
      g_hash_table_insert(c->store->fragments, g_strdup(c->key->str), f);
    }
  if (f != NULL)
    f->seen = c->store->generation;
  return f;
}

gboolean
ecsa_state_store_composer_append_kept(EcsaStateStoreComposer *c, const char *key)
{
  Fragment *f;
  Part part = { 0 };

  g_return_val_if_fail(c != NULL && key != NULL, FALSE);

  f = composer_fragment(c, key, FALSE);
  if (f == NULL)
    return FALSE;
  part.fragment = f;
  if (f->text != NULL)
    {
      part.kind = PART_NEW;
      part.text = g_bytes_ref(f->text);
    }
  else
    {
      part.kind = PART_COPY;
      part.offset = f->offset;
      part.length = f->length;
      part.hash = f->hash;
      c->needs_file = TRUE;
    }
  g_array_append_val(c->piece->parts, part);
  return TRUE;
}

void
ecsa_state_store_composer_append_fragment(EcsaStateStoreComposer *c, const char *key, GBytes *text)
{
  Fragment *f;
  Part part = { .kind = PART_NEW };

  g_return_if_fail(c != NULL && key != NULL && text != NULL);

  f = composer_fragment(c, key, TRUE);
  if (f->text != text)
    {
      g_clear_pointer(&f->text, g_bytes_unref);
      f->text = g_bytes_ref(text);
    }
  part.fragment = f;
  part.text = g_bytes_ref(text);
  g_array_append_val(c->piece->parts, part);
}

/* The parts of a composed section; TRUE when one is copied from the current file. */
static gboolean
add_composed_piece(EcsaStateStore *self, GPtrArray *pieces, const char *name, Section *s)
{
  Piece *p = g_new0(Piece, 1);
  EcsaStateStoreComposer c = { .store = self, .piece = p };

  p->name = g_strdup(name);
  p->literals = g_string_new(NULL);
  p->parts = g_array_new(FALSE, FALSE, sizeof(Part));
  /* "<length of the name>:<name><key>": no two (section, key) pairs give the same string */
  c.key = g_string_new(NULL);
  g_string_printf(c.key, "%zu:%s", strlen(name), name);
  c.section_len = c.key->len;
  s->compose_func(&c, s->user_data);
  g_string_free(c.key, TRUE);
  if (p->parts->len == 0)
    ecsa_state_store_composer_append(&c, "null", -1);
  g_ptr_array_add(pieces, p);
  return c.needs_file;
}

static gboolean
fragment_unseen(gpointer key, gpointer value, gpointer user_data)
{
  return ((Fragment *)value)->seen != *(guint64 *)user_data;
}

/* On the main context: every section's state. Trees are written out in the worker. */
static GPtrArray *
snapshot(EcsaStateStore *self, gboolean *out_needs_file)
{
  GPtrArray *pieces = g_ptr_array_new_with_free_func((GDestroyNotify)piece_free);
  GHashTableIter it;
  gpointer k, v;

  self->generation++;
  *out_needs_file = FALSE;
  /* sections restored from the file that nobody owns are written back unchanged */
  g_hash_table_iter_init(&it, self->restored);
  while (g_hash_table_iter_next(&it, &k, &v))
    if (!g_hash_table_contains(self->sections, k))
      add_piece(pieces, k, json_node_ref(v), NULL);
  g_hash_table_iter_init(&it, self->sections);
  while (g_hash_table_iter_next(&it, &k, &v))
    {
      Section *s = v;
      if (s->compose_func != NULL)
        *out_needs_file |= add_composed_piece(self, pieces, k, s);
      else if (s->text_func != NULL)
        add_piece(pieces, k, NULL, s->text_func(s->user_data));
      else
        add_piece(pieces, k, s->func(s->user_data), NULL);
    }
  /* fragments no section used any more (a task forgotten, a section gone) */
  g_hash_table_foreach_remove(self->fragments, fragment_unseen, &self->generation);
  return pieces;
}

static void
start_write(EcsaStateStore *self)
{
  g_autoptr(GTask) task = NULL;
  WriteJob *job;

  if (self->writing || self->pending->len == 0)
    return;
  /* everyone waiting now is served by this write, whose snapshot is taken after their request */
  g_ptr_array_extend_and_steal(self->inflight, g_steal_pointer(&self->pending));
  self->pending = g_ptr_array_new();
  self->writing = TRUE;
  job = g_new0(WriteJob, 1);
  job->data_dir = g_strdup(self->data_dir);
  job->path = g_strdup(self->path);
  job->saved_at = g_get_real_time() / G_USEC_PER_SEC;
  job->pieces = snapshot(self, &job->needs_file);
  job->owner_thread = self->owner_thread;
  job->file_dev = self->file_dev;
  job->file_ino = self->file_ino;
  job->file_size = self->file_size;
  /* the task holds the store until the write is done */
  task = g_task_new(self, NULL, write_done_cb, NULL);
  g_task_set_source_tag(task, start_write);
  g_task_set_task_data(task, job, (GDestroyNotify)write_job_free);
  g_task_run_in_thread(task, write_thread);
}

void
ecsa_state_store_save_async(EcsaStateStore *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail(ECSA_IS_STATE_STORE(self));

  task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(task, ecsa_state_store_save_async);
  if (!self->enabled)
    {
      g_task_return_boolean(task, TRUE);
      return;
    }
  g_ptr_array_add(self->pending, g_steal_pointer(&task));
  schedule_kick(self);
}

gboolean
ecsa_state_store_save_finish(EcsaStateStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  g_return_val_if_fail(g_async_result_is_tagged(result, ecsa_state_store_save_async), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

void
ecsa_state_store_get_stats(EcsaStateStore *self, guint64 *out_writes, gint64 *out_last_us, gint64 *out_max_us,
                           guint64 *out_on_main_thread)
{
  g_return_if_fail(ECSA_IS_STATE_STORE(self));
  if (out_writes != NULL)
    *out_writes = self->n_writes;
  if (out_last_us != NULL)
    *out_last_us = self->last_write_us;
  if (out_max_us != NULL)
    *out_max_us = self->max_write_us;
  if (out_on_main_thread != NULL)
    *out_on_main_thread = self->n_on_main_thread;
}

void
ecsa_state_store_get_fragment_stats(EcsaStateStore *self, guint *out_fragments, gsize *out_bytes_in_memory)
{
  GHashTableIter it;
  gpointer v;
  gsize bytes = 0;

  g_return_if_fail(ECSA_IS_STATE_STORE(self));
  g_hash_table_iter_init(&it, self->fragments);
  while (g_hash_table_iter_next(&it, NULL, &v))
    if (((Fragment *)v)->text != NULL)
      bytes += g_bytes_get_size(((Fragment *)v)->text);
  if (out_fragments != NULL)
    *out_fragments = g_hash_table_size(self->fragments);
  if (out_bytes_in_memory != NULL)
    *out_bytes_in_memory = bytes;
}

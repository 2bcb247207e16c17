/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-audit-log.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ecsa-credentials-manager.h"

#define AUDIT_LOG_VERSION 2
#define HOUR_KEY_LEN 13 /* YYYY-MM-DD-HH */

typedef enum
{
  ITEM_LINE,
  ITEM_FLUSH,
  ITEM_STOP,
} ItemKind;

typedef struct
{
  ItemKind kind;
  char *line;    /* ITEM_LINE, with its newline */
  gboolean done; /* ITEM_FLUSH: set by the worker under the lock */
} Item;

struct _EcsaAuditLog
{
  GObject parent_instance;

  char *path; /* NULL: lines are dropped */
  char *cluster;
  char *container_instance_arn;

  GMutex lock;
  GCond cond;
  GQueue queue; /* Item*, guarded by lock */
  GThread *worker;

  /* worker-only state */
  int fd;
  char *hour_key;
  gboolean write_failed;

  guint64 written;          /* guarded by lock */
  guint64 dropped;          /* guarded by lock */
  guint64 dropped_reported; /* main context */
};

G_DEFINE_FINAL_TYPE(EcsaAuditLog, ecsa_audit_log, G_TYPE_OBJECT)

static void
item_free(Item *item)
{
  if (item == NULL)
    return;
  g_free(item->line);
  g_free(item);
}

static char *
hour_key_for(gint64 unix_seconds)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(unix_seconds);
  g_autoptr(GDateTime) local = utc != NULL ? g_date_time_to_local(utc) : NULL;

  return local != NULL ? g_date_time_format(local, "%Y-%m-%d-%H") : g_strdup("0000-00-00-00");
}

static gboolean
is_roll_suffix(const char *suffix)
{
  static const char pattern[] = "dddd-dd-dd-dd";

  if (strlen(suffix) < HOUR_KEY_LEN)
    return FALSE;
  for (guint i = 0; i < HOUR_KEY_LEN; i++)
    {
      if (pattern[i] == 'd' ? !g_ascii_isdigit(suffix[i]) : suffix[i] != pattern[i])
        return FALSE;
    }
  return suffix[HOUR_KEY_LEN] == '\0' || suffix[HOUR_KEY_LEN] == '.';
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
delete_old_rolls(EcsaAuditLog *self)
{
  g_autofree char *dir_name = g_path_get_dirname(self->path);
  g_autofree char *base = g_path_get_basename(self->path);
  g_autoptr(GPtrArray) rolls = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GDir) dir = g_dir_open(dir_name, 0, NULL);
  gsize base_len = strlen(base);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name(dir)) != NULL)
    {
      if (strncmp(name, base, base_len) == 0 && name[base_len] == '.' && is_roll_suffix(name + base_len + 1))
        g_ptr_array_add(rolls, g_strdup(name));
    }
  if (rolls->len <= ECSA_AUDIT_LOG_MAX_ROLLS)
    return;
  g_ptr_array_sort(rolls, compare_names);
  for (guint i = 0; i + ECSA_AUDIT_LOG_MAX_ROLLS < rolls->len; i++)
    {
      g_autofree char *victim = g_build_filename(dir_name, g_ptr_array_index(rolls, i), NULL);
      if (g_unlink(victim) != 0 && errno != ENOENT)
        g_warning("audit log: cannot remove old file '%s': %s, ignoring", victim, g_strerror(errno));
    }
}

/* Move the current file aside as <path>.<hour it covers>. */
static void
roll_current(EcsaAuditLog *self, const char *covered_hour)
{
  g_autofree char *target = g_strdup_printf("%s.%s", self->path, covered_hour);

  for (guint n = 1; g_file_test(target, G_FILE_TEST_EXISTS) && n < 1000; n++)
    {
      g_free(target);
      target = g_strdup_printf("%s.%s.%u", self->path, covered_hour, n);
    }
  if (g_rename(self->path, target) != 0 && errno != ENOENT)
    g_warning("audit log: cannot roll '%s' to '%s': %s, ignoring", self->path, target, g_strerror(errno));
  delete_old_rolls(self);
}

static gboolean
open_current(EcsaAuditLog *self, gint64 now)
{
  g_autofree char *dir_name = g_path_get_dirname(self->path);
  g_autofree char *now_key = hour_key_for(now);
  GStatBuf st;

  if (g_mkdir_with_parents(dir_name, 0755) != 0)
    {
      if (!self->write_failed)
        g_warning("audit log: cannot create directory '%s': %s", dir_name, g_strerror(errno));
      self->write_failed = TRUE;
      return FALSE;
    }
  /* A file left by an earlier run in an earlier hour is rolled first. */
  if (g_stat(self->path, &st) == 0 && st.st_size > 0)
    {
      g_autofree char *file_key = hour_key_for((gint64)st.st_mtime);
      if (strcmp(file_key, now_key) < 0)
        roll_current(self, file_key);
    }
  self->fd = open(self->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (self->fd < 0)
    {
      if (!self->write_failed)
        g_warning("audit log: cannot open '%s': %s", self->path, g_strerror(errno));
      self->write_failed = TRUE;
      return FALSE;
    }
  g_free(self->hour_key);
  self->hour_key = g_steal_pointer(&now_key);
  return TRUE;
}

static guint64
count(EcsaAuditLog *self, guint64 *counter)
{
  guint64 value;

  g_mutex_lock(&self->lock);
  value = ++*counter;
  g_mutex_unlock(&self->lock);
  return value;
}

static void
write_line(EcsaAuditLog *self, const char *line)
{
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  gsize len = strlen(line), done = 0;

  if (self->fd >= 0)
    {
      g_autofree char *now_key = hour_key_for(now);
      if (strcmp(now_key, self->hour_key) != 0)
        {
          close(self->fd);
          self->fd = -1;
          roll_current(self, self->hour_key);
        }
    }
  if (self->fd < 0 && !open_current(self, now))
    {
      count(self, &self->dropped);
      return;
    }
  while (done < len)
    {
      gssize n = write(self->fd, line + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (!self->write_failed)
            g_warning("audit log: cannot write to '%s': %s", self->path, g_strerror(errno));
          self->write_failed = TRUE;
          close(self->fd);
          self->fd = -1;
          return;
        }
      done += (gsize)n;
    }
  if (self->write_failed)
    g_message("audit log: writing to '%s' again", self->path);
  self->write_failed = FALSE;
  count(self, &self->written);
}

static gpointer
worker_main(gpointer data)
{
  EcsaAuditLog *self = data;

  for (;;)
    {
      Item *item;

      g_mutex_lock(&self->lock);
      while ((item = g_queue_peek_head(&self->queue)) == NULL)
        g_cond_wait(&self->cond, &self->lock);
      if (item->kind == ITEM_FLUSH)
        {
          g_queue_pop_head(&self->queue);
          item->done = TRUE;
          g_cond_broadcast(&self->cond);
          g_mutex_unlock(&self->lock);
          continue;
        }
      if (item->kind == ITEM_STOP)
        {
          g_queue_pop_head(&self->queue);
          g_mutex_unlock(&self->lock);
          item_free(item);
          break;
        }
      g_queue_pop_head(&self->queue);
      g_mutex_unlock(&self->lock);

      write_line(self, item->line);
      item_free(item);
    }
  if (self->fd >= 0)
    close(self->fd);
  self->fd = -1;
  return NULL;
}

static void
ecsa_audit_log_finalize(GObject *object)
{
  EcsaAuditLog *self = ECSA_AUDIT_LOG(object);

  if (self->worker != NULL)
    {
      Item *stop = g_new0(Item, 1);

      stop->kind = ITEM_STOP;
      g_mutex_lock(&self->lock);
      g_queue_push_tail(&self->queue, stop);
      g_cond_broadcast(&self->cond);
      g_mutex_unlock(&self->lock);
      g_thread_join(g_steal_pointer(&self->worker));
    }
  g_queue_clear_full(&self->queue, (GDestroyNotify)item_free);
  g_mutex_clear(&self->lock);
  g_cond_clear(&self->cond);
  g_free(self->path);
  g_free(self->cluster);
  g_free(self->container_instance_arn);
  g_free(self->hour_key);
  G_OBJECT_CLASS(ecsa_audit_log_parent_class)->finalize(object);
}

static void
ecsa_audit_log_class_init(EcsaAuditLogClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = ecsa_audit_log_finalize;
}

static void
ecsa_audit_log_init(EcsaAuditLog *self)
{
  g_mutex_init(&self->lock);
  g_cond_init(&self->cond);
  g_queue_init(&self->queue);
  self->fd = -1;
  self->hour_key = g_strdup("");
}

EcsaAuditLog *
ecsa_audit_log_new(const char *path, gboolean disabled, const char *cluster)
{
  EcsaAuditLog *self = g_object_new(ECSA_TYPE_AUDIT_LOG, NULL);

  if (!disabled && path != NULL && *path != '\0')
    self->path = g_strdup(path);
  self->cluster = g_strdup(cluster != NULL ? cluster : "");
  self->container_instance_arn = g_strdup("");
  return self;
}

void
ecsa_audit_log_set_container_instance_arn(EcsaAuditLog *self, const char *arn)
{
  g_return_if_fail(ECSA_IS_AUDIT_LOG(self));

  g_free(self->container_instance_arn);
  self->container_instance_arn = g_strdup(arn != NULL ? arn : "");
}

static void
append_field(GString *out, const char *value)
{
  g_string_append(out, value != NULL && *value != '\0' ? value : "-");
}

/* A plain token (address, ARN, cluster): anything that is not printable and space-free is escaped,
 * so a field can never split into two or start a new line. */
static void
append_token(GString *out, const char *value)
{
  if (value == NULL || *value == '\0')
    {
      g_string_append_c(out, '-');
      return;
    }
  for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++)
    {
      if (*p <= 0x20 || *p == 0x7f || *p == '\\' || *p == '"')
        g_string_append_printf(out, "\\x%02x", *p);
      else
        g_string_append_c(out, (char)*p);
    }
}

static void
append_quoted(GString *out, const char *value)
{
  g_string_append_c(out, '"');
  for (const unsigned char *p = (const unsigned char *)(value != NULL ? value : ""); *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        {
          g_string_append_c(out, '\\');
          g_string_append_c(out, (char)*p);
        }
      else if (*p < 0x20 || *p == 0x7f)
        g_string_append_printf(out, "\\x%02x", *p);
      else
        g_string_append_c(out, (char)*p);
    }
  g_string_append_c(out, '"');
}

/* Never write the credentials ID: /v2/credentials/<id> is logged as /v2/credentials. */
static const char *
audit_path(const char *path)
{
  if (path != NULL && g_str_has_prefix(path, ECSA_CREDENTIALS_V2_PATH "/"))
    return ECSA_CREDENTIALS_V2_PATH;
  if (path != NULL && g_str_has_prefix(path, ECSA_CREDENTIALS_V1_PATH))
    return ECSA_CREDENTIALS_V1_PATH;
  return path;
}

char *
ecsa_audit_log_format_line(EcsaAuditLog *self, gint64 now, guint status, const char *source_address, const char *path,
                           const char *user_agent, const char *task_arn, const char *role_type)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc(now);
  g_autofree char *stamp = time != NULL ? g_date_time_format(time, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("-");
  GString *out = g_string_sized_new(256);

  g_return_val_if_fail(ECSA_IS_AUDIT_LOG(self), NULL);

  append_field(out, stamp);
  g_string_append_printf(out, " %u ", status);
  append_token(out, source_address);
  g_string_append_c(out, ' ');
  append_quoted(out, audit_path(path));
  g_string_append_c(out, ' ');
  append_quoted(out, user_agent);
  g_string_append_c(out, ' ');
  append_token(out, task_arn);
  g_string_append_printf(out, " %s %d ",
                         g_strcmp0(role_type, ECSA_CREDENTIALS_ROLE_EXECUTION) == 0
                           ? ECSA_AUDIT_EVENT_GET_CREDENTIALS_EXECUTION_ROLE
                           : ECSA_AUDIT_EVENT_GET_CREDENTIALS,
                         AUDIT_LOG_VERSION);
  append_token(out, self->cluster);
  g_string_append_c(out, ' ');
  append_token(out, self->container_instance_arn);
  return g_string_free(out, FALSE);
}

void
ecsa_audit_log_record(EcsaAuditLog *self, guint status, const char *source_address, const char *path,
                      const char *user_agent, const char *task_arn, const char *role_type)
{
  g_autofree char *line = NULL;
  Item *item;
  gboolean full;
  guint64 dropped = 0;

  g_return_if_fail(ECSA_IS_AUDIT_LOG(self));

  if (self->path == NULL)
    {
      count(self, &self->dropped);
      return;
    }
  line = ecsa_audit_log_format_line(self, g_get_real_time() / G_USEC_PER_SEC, status, source_address, path, user_agent,
                                    task_arn, role_type);

  g_mutex_lock(&self->lock);
  full = self->queue.length >= ECSA_AUDIT_LOG_MAX_QUEUED;
  if (full)
    dropped = ++self->dropped;
  else
    {
      item = g_new0(Item, 1);
      item->kind = ITEM_LINE;
      item->line = g_strconcat(line, "\n", NULL);
      g_queue_push_tail(&self->queue, item);
      g_cond_broadcast(&self->cond);
    }
  g_mutex_unlock(&self->lock);

  if (full)
    {
      /* Say so once per thousand, not once per line. */
      if (dropped - self->dropped_reported >= 1000 || self->dropped_reported == 0)
        {
          g_warning("audit log: %" G_GUINT64_FORMAT " lines dropped so far (%u lines waiting to be written)", dropped,
                    (guint)ECSA_AUDIT_LOG_MAX_QUEUED);
          self->dropped_reported = dropped;
        }
      return;
    }
  if (self->worker == NULL)
    self->worker = g_thread_new("ecsa-audit-log", worker_main, self);
}

void
ecsa_audit_log_flush(EcsaAuditLog *self)
{
  Item *marker;

  g_return_if_fail(ECSA_IS_AUDIT_LOG(self));

  if (self->worker == NULL)
    return;
  marker = g_new0(Item, 1);
  marker->kind = ITEM_FLUSH;
  g_mutex_lock(&self->lock);
  g_queue_push_tail(&self->queue, marker);
  g_cond_broadcast(&self->cond);
  while (!marker->done)
    g_cond_wait(&self->cond, &self->lock);
  g_mutex_unlock(&self->lock);
  item_free(marker);
}

static guint64
read_counter(EcsaAuditLog *self, const guint64 *counter)
{
  guint64 value;

  g_mutex_lock(&self->lock);
  value = *counter;
  g_mutex_unlock(&self->lock);
  return value;
}

guint64
ecsa_audit_log_get_written(EcsaAuditLog *self)
{
  g_return_val_if_fail(ECSA_IS_AUDIT_LOG(self), 0);
  return read_counter(self, &self->written);
}

guint64
ecsa_audit_log_get_dropped(EcsaAuditLog *self)
{
  g_return_val_if_fail(ECSA_IS_AUDIT_LOG(self), 0);
  return read_counter(self, &self->dropped);
}

/* ecsa-utils.h: tiny equivalents of what GLib 2.74 (Debian 12) lacks, and nothing else.
 *
 * When the project moves to a newer GLib baseline, replace each helper with the GLib one named in
 * its comment and delete it here.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <errno.h>
#include <gio/gio.h>
#include <gmodule.h>
#include <string.h>
#include <unistd.h>

G_BEGIN_DECLS

/* g_clear_fd() (GLib 2.76): close *fd_ptr if it is >= 0 and set it to -1. Returns FALSE and sets
 * error (G_FILE_ERROR from errno) when close() fails. EINTR counts as closed (Linux). */
static inline gboolean
ecsa_clear_fd(int *fd_ptr, GError **error)
{
  int fd = *fd_ptr;

  *fd_ptr = -1;
  if (fd < 0)
    return TRUE;
  if (close(fd) < 0 && errno != EINTR)
    {
      int errsv = errno;
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv), "close (%d): %s", fd, g_strerror(errsv));
      return FALSE;
    }
  return TRUE;
}

static inline void
ecsa_autofd_cleanup_(int *fd_ptr)
{
  int errsv = errno;

  ecsa_clear_fd(fd_ptr, NULL);
  errno = errsv;
}

/* g_autofd (GLib 2.76): `ecsa_autofd int fd = open (...);` closes fd when it leaves scope.
 * Hand it off with g_steal_fd (&fd) (GLib 2.70). */
#define ecsa_autofd __attribute__((cleanup(ecsa_autofd_cleanup_)))

/* g_string_free_and_steal() (GLib 2.76). */
static inline char *
ecsa_string_free_and_steal(GString *string)
{
  return g_string_free(string, FALSE);
}

/* g_set_str() (GLib 2.76): replace *str_pointer with a copy of new_str; TRUE if it changed. */
static inline gboolean
ecsa_set_str(char **str_pointer, const char *new_str)
{
  char *copy;

  if (*str_pointer == new_str || g_strcmp0(*str_pointer, new_str) == 0)
    return FALSE;
  copy = g_strdup(new_str);
  g_free(*str_pointer);
  *str_pointer = copy;
  return TRUE;
}

/* g_module_open_full() (GLib 2.76): g_module_open() with a GError (G_IO_ERROR_FAILED) carrying
 * dlerror()'s message instead of the global g_module_error(). */
static inline GModule *
ecsa_module_open_full(const char *file_name, GModuleFlags flags, GError **error)
{
  GModule *module = g_module_open(file_name, flags);

  if (module == NULL)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", g_module_error());
  return module;
}

/* g_task_return_new_error_literal() (GLib 2.80). */
static inline void
ecsa_task_return_new_error_literal(GTask *task, GQuark domain, int code, const char *message)
{
  g_task_return_error(task, g_error_new_literal(domain, code, message));
}

/* TRUE for NULL and "". */
static inline gboolean
ecsa_str_empty(const char *s)
{
  return s == NULL || *s == '\0';
}

/* Overwrite a secret in memory before freeing it (credentials, passwords); NULL-safe. */
static inline void
ecsa_free_secret(char *secret)
{
  if (secret != NULL)
    {
      explicit_bzero(secret, strlen(secret));
      g_free(secret);
    }
}

typedef char EcsaSecretString;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EcsaSecretString, ecsa_free_secret)

G_END_DECLS

/* ecsa-memory.c: malloc arenas and trimming (see the header).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-memory.h"

#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

/* One arena: the worker threads (checkpoint writes, TLS handshakes, the resolver) allocate little,
 * and rarely at the same time as the main loop. A second arena kept 64 KiB idle and 128 KiB after a
 * churn; with one, idle RssAnon was 40 KiB lower, a churn's CPU no higher (docs/PERFORMANCE.md). */
#define ARENA_MAX 1

static GSource *release_source; /* pending release, or NULL */
static guint n_releases;

static gboolean
release_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
  return callback(user_data);
}

static GSourceFuncs release_funcs = { .dispatch = release_dispatch };

void
ecsa_memory_tune(void)
{
#ifdef __GLIBC__
  const char *tunables = g_getenv("GLIBC_TUNABLES");

  /* the unit's GLIBC_TUNABLES turns the thread cache off; only an arena_max there overrides ours */
  if (g_getenv("MALLOC_ARENA_MAX") == NULL && (tunables == NULL || strstr(tunables, "arena_max") == NULL))
    mallopt(M_ARENA_MAX, ARENA_MAX);
#endif
}

static gboolean
release_cb(gpointer user_data)
{
  g_source_destroy(release_source);
  g_clear_pointer(&release_source, g_source_unref);
  n_releases++;
#ifdef __GLIBC__
  /* every arena, and the free pages in the middle of each heap too (madvise), not only its top:
   * well under a millisecond for the agent's heap */
  malloc_trim(0);
#endif
  return G_SOURCE_REMOVE;
}

void
ecsa_memory_release_after(guint delay_ms)
{
  gint64 when = g_get_monotonic_time() + delay_ms * (gint64)1000;

  if (release_source != NULL && !g_source_is_destroyed(release_source))
    {
      /* pushed back, never brought forward: a burst is one release, after all it freed */
      if (when > g_source_get_ready_time(release_source))
        g_source_set_ready_time(release_source, when);
      return;
    }
  g_clear_pointer(&release_source, g_source_unref);
  release_source = g_source_new(&release_funcs, sizeof(GSource));
  g_source_set_name(release_source, "ecsa-memory-release");
  g_source_set_priority(release_source, G_PRIORITY_LOW);
  g_source_set_callback(release_source, release_cb, NULL, NULL);
  g_source_set_ready_time(release_source, when);
  g_source_attach(release_source, g_main_context_get_thread_default());
}

void
ecsa_memory_release_soon(void)
{
  ecsa_memory_release_after(ECSA_MEMORY_RELEASE_DELAY_MS);
}

guint
ecsa_memory_get_n_releases(void)
{
  return n_releases;
}

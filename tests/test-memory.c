/* test-memory.c: the memory release after a burst of work (core/ecsa-memory.c): one release per
 * burst, after the quiet delay, and it really hands freed heap pages back to the system.
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-memory.h"

#include <stdio.h>
#include <string.h>

#include "ecsa-test-asan.h"

static void
run_for(guint ms)
{
  gint64 end = g_get_monotonic_time() + ms * (gint64)1000;

  while (g_get_monotonic_time() < end)
    {
      if (!g_main_context_pending(NULL))
        g_usleep(10 * 1000);
      g_main_context_iteration(NULL, FALSE);
    }
}

/* RssAnon of this process, KiB */
static guint64
rss_anon_kib(void)
{
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true(g_file_get_contents("/proc/self/status", &status, NULL, NULL));
  line = strstr(status, "RssAnon:");
  g_assert_nonnull(line);
  return g_ascii_strtoull(line + strlen("RssAnon:"), NULL, 10);
}

/* Calls within the delay push the release back: a burst is released once, when it is over. */
static void
test_debounced(void)
{
  guint before = ecsa_memory_get_n_releases();

  ecsa_memory_release_soon();
  run_for(ECSA_MEMORY_RELEASE_DELAY_MS / 2);
  ecsa_memory_release_soon();
  ecsa_memory_release_soon();
  run_for(ECSA_MEMORY_RELEASE_DELAY_MS * 3 / 4);
  g_assert_cmpuint(ecsa_memory_get_n_releases(), ==, before); /* 1.25 delays after the first call */
  run_for(ECSA_MEMORY_RELEASE_DELAY_MS / 2 + 500);
  g_assert_cmpuint(ecsa_memory_get_n_releases(), ==, before + 1);
  run_for(ECSA_MEMORY_RELEASE_DELAY_MS + 500);
  g_assert_cmpuint(ecsa_memory_get_n_releases(), ==, before + 1); /* nothing more to do */
  ecsa_memory_release_soon();
  run_for(ECSA_MEMORY_RELEASE_DELAY_MS + 500);
  g_assert_cmpuint(ecsa_memory_get_n_releases(), ==, before + 2);
}

/* A later release (ecsa_memory_release_after) is not brought forward by a sooner one. */
static void
test_release_after(void)
{
  guint before = ecsa_memory_get_n_releases();

  ecsa_memory_release_after(ECSA_MEMORY_RELEASE_DELAY_MS * 2);
  ecsa_memory_release_soon();
  run_for(ECSA_MEMORY_RELEASE_DELAY_MS + 500);
  g_assert_cmpuint(ecsa_memory_get_n_releases(), ==, before);
  run_for(ECSA_MEMORY_RELEASE_DELAY_MS);
  g_assert_cmpuint(ecsa_memory_get_n_releases(), ==, before + 1);
}

/* Freed blocks below a live one stay in malloc's heap (it only trims its top by itself); the
 * release hands their pages back. */
static void
test_hands_back(void)
{
  enum { N = 1024, SIZE = 16 * 1024 }; /* 16 MiB in blocks below the mmap threshold */
  g_autofree gpointer *blocks = g_new0(gpointer, N);
  guint64 full, freed, released;

#ifdef UNDER_ASAN
  g_test_skip("AddressSanitizer's allocator is not glibc's malloc");
  return;
#endif
#ifndef __GLIBC__
  g_test_skip("not glibc");
  return;
#endif
  for (guint i = 0; i < N; i++)
    {
      blocks[i] = g_malloc(SIZE);
      memset(blocks[i], 0x5a, SIZE);
    }
  full = rss_anon_kib();
  for (guint i = 0; i + 1 < N; i++) /* the last one pins the heap's top */
    g_clear_pointer(&blocks[i], g_free);
  freed = rss_anon_kib();
  ecsa_memory_release_soon();
  run_for(ECSA_MEMORY_RELEASE_DELAY_MS + 500);
  released = rss_anon_kib();
  g_test_message("RssAnon: %" G_GUINT64_FORMAT " KiB full, %" G_GUINT64_FORMAT " KiB freed, %" G_GUINT64_FORMAT
                 " KiB released",
                 full, freed, released);
  g_assert_cmpuint(freed + 1024, >, full);   /* free() alone kept the pages */
  g_assert_cmpuint(released + 8192, <, freed); /* at least half of the 16 MiB went back */
  g_free(blocks[N - 1]);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  ecsa_memory_tune();
  g_test_add_func("/memory/debounced", test_debounced);
  g_test_add_func("/memory/release-after", test_release_after);
  g_test_add_func("/memory/hands-back", test_hands_back);
  return g_test_run();
}

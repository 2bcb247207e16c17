/* ecsa-memory.h: handing freed memory back to the system.
 *
 * The agent's live heap is small (a few MiB with hundreds of tasks), but glibc's malloc keeps what
 * was freed: one arena per thread that ever allocated (the checkpoint worker, glib-networking's
 * TLS threads, the resolver), and the free pages inside each heap. After a burst of tasks, the
 * process kept several times its live heap. Measured in docs/PERFORMANCE.md.
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* First thing in main(), before any thread: a single malloc arena, unless the environment
 * (MALLOC_ARENA_MAX, or glibc.malloc.arena_max in GLIBC_TUNABLES) already says. A no-op without
 * glibc.
 *
 * More settings can only come from the environment, read before main() runs; the systemd unit
 * sets them (executing the agent again with them would redo the dynamic loading at every start):
 *  - G_SLICE=always-malloc: GLib < 2.76 (Debian 12 has 2.74) keeps GSlice's own slabs for good;
 *  - GLIBC_TUNABLES=glibc.malloc.tcache_count=0: malloc's per-thread cache holds up to 7 freed
 *    chunks of each small size outside the heap's free lists, where neither coalescing nor
 *    malloc_trim() reaches them; the pages they pin cost about 150 KiB idle (docs/PERFORMANCE.md).
 *    There is no mallopt() for it.
 *  - ...:glibc.pthread.stack_cache_size=0: glibc keeps the stacks of exited threads for reuse, with
 *    16 KiB or more of each still resident; GLib's pool threads exit after 15 s idle, and two or
 *    three such stacks stayed (about 40 KiB idle). Creating a thread again costs microseconds. */
void ecsa_memory_tune(void);

/* A burst of work just ended (tasks stopped, were forgotten, a payload was applied): return the
 * heap's free pages to the system once things are quiet, ECSA_MEMORY_RELEASE_DELAY_MS after the
 * last call, on the thread-default main context of the first call. Cheap to call often. */
#define ECSA_MEMORY_RELEASE_DELAY_MS 2000
void ecsa_memory_release_soon(void);

/* The same, once `delay_ms` have passed (something frees memory later by itself, e.g. a connection
 * closed when idle). A pending release is pushed back, never brought forward. */
void ecsa_memory_release_after(guint delay_ms);

/* How many releases ran (for tests). */
guint ecsa_memory_get_n_releases(void);

G_END_DECLS

/* ecsa-state-store.h: the checkpoint file (ECS_CHECKPOINT, ECS_DATADIR).
 *
 * One JSON file, <data_dir>/ecsa_agent_data.json: {"version": N, "writer": "...", "sections": {...}}.
 * Modules register named sections ("tasks": engine, "agent": ECS client, "images": image state)
 * with a function that snapshots their state as a JSON tree.
 *
 * Saving: ecsa_state_store_save_async() snapshots every section on the main context (a tree, the
 * JSON text of a section registered with ecsa_state_store_register_text_section(), or the parts of
 * a composed section), then a worker thread serializes the trees, writes a temporary file, fsyncs
 * it, renames it over the checkpoint and fsyncs the directory. Requests made while a write is running coalesce into the
 * next write; a request completes once a write that began after it is durable. Nothing blocks
 * the main context.
 *
 * Loading (at start-up, before the main loop serves anything): a missing file is a fresh start.
 * A corrupt file, or one written with a newer schema version, is refused with an error that says
 * so; the file is moved aside (never overwritten) and the store starts empty, so the owner can
 * recover what it can from Docker. Sections present in the file that nobody registered are kept
 * and written back unchanged.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define ECSA_STATE_STORE_VERSION 1
#define ECSA_STATE_STORE_FILE "ecsa_agent_data.json"

/* Returns a new JSON tree (transfer full) describing the section's current state. Called on the
 * main context. Must never include a secret. */
typedef JsonNode *(*EcsaStateStoreSerializeFunc)(gpointer user_data);

/* The same, as JSON text: one complete, valid JSON value (transfer full), written into the file
 * as it is. For sections that keep their state serialized between saves (a text is much smaller
 * than its tree). Called on the main context. Must never include a secret. */
typedef GBytes *(*EcsaStateStoreSerializeTextFunc)(gpointer user_data);

/* A composed section: literal text and keyed fragments (one task's JSON each, say). A fragment's
 * text is handed to the store when it changes; once a checkpoint holding it has been renamed into
 * place, the store forgets the text and only remembers where it lies in that file (offset, length,
 * hash), from which the next write copies it. A file replaced, edited or unreadable is noticed,
 * and the section is then composed again with every text. The section's unchanged parts cost no
 * memory between saves and nothing on the main context but their keys. Use each key once per
 * compose. Composers live for one call of an EcsaStateStoreComposeFunc. */
typedef struct _EcsaStateStoreComposer EcsaStateStoreComposer;

/* Appends the section's parts, in order, on the main context; together they must make one
 * complete, valid JSON value. Must never include a secret. */
typedef void (*EcsaStateStoreComposeFunc)(EcsaStateStoreComposer *composer, gpointer user_data);

/* Literal text (len -1: NUL-terminated). */
void ecsa_state_store_composer_append(EcsaStateStoreComposer *composer, const char *text, gssize len);
/* The fragment `key` of this section as the store last got it. FALSE when the store has no copy
 * (first save, or the last checkpoint file was replaced behind the store's back): then give its
 * text with ecsa_state_store_composer_append_fragment(). Keys unused by a save are forgotten. */
gboolean ecsa_state_store_composer_append_kept(EcsaStateStoreComposer *composer, const char *key);
/* The fragment `key`'s new text (JSON, transfer none: the store takes a reference). */
void ecsa_state_store_composer_append_fragment(EcsaStateStoreComposer *composer, const char *key, GBytes *text);

#define ECSA_TYPE_STATE_STORE (ecsa_state_store_get_type())
G_DECLARE_FINAL_TYPE(EcsaStateStore, ecsa_state_store, ECSA, STATE_STORE, GObject)

/* enabled = FALSE (ECS_CHECKPOINT=false): load finds nothing and saves succeed without writing. */
EcsaStateStore *ecsa_state_store_new(const char *data_dir, gboolean enabled);

gboolean ecsa_state_store_get_enabled(EcsaStateStore *self);
/* The checkpoint's path (even when disabled). */
const char *ecsa_state_store_get_path(EcsaStateStore *self);

/* Read the checkpoint. FALSE with ECSA_ERROR_INVALID_DATA (corrupt) or ECSA_ERROR_NOT_SUPPORTED
 * (newer schema) when it was refused and moved aside; the store is then empty. I/O errors other
 * than a missing file are ECSA_ERROR_FAILED. Creates the data directory when missing. */
gboolean ecsa_state_store_load(EcsaStateStore *self, GError **error);

/* The section as restored by load, or NULL (transfer none). Valid until the section is registered:
 * registering it hands the section to its owner, and the store drops its restored copy. */
JsonNode *ecsa_state_store_get_section(EcsaStateStore *self, const char *name);

/* Register (or replace) the serializer of a section. The restored copy of the section, if any, is
 * dropped (read it before). */
void ecsa_state_store_register_section(EcsaStateStore *self, const char *name, EcsaStateStoreSerializeFunc func,
                                       gpointer user_data);
void ecsa_state_store_register_text_section(EcsaStateStore *self, const char *name,
                                            EcsaStateStoreSerializeTextFunc func, gpointer user_data);
void ecsa_state_store_register_composed_section(EcsaStateStore *self, const char *name, EcsaStateStoreComposeFunc func,
                                                gpointer user_data);
void ecsa_state_store_unregister_section(EcsaStateStore *self, const char *name);

void ecsa_state_store_save_async(EcsaStateStore *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean ecsa_state_store_save_finish(EcsaStateStore *self, GAsyncResult *result, GError **error);

/* For measurements: how many files were written, and how long the last and the longest write
 * took in the worker thread (microseconds). out_on_main_thread counts writes that ran on the
 * thread that created the store (always 0 by construction; the benchmark checks it). */
void ecsa_state_store_get_stats(EcsaStateStore *self, guint64 *out_writes, gint64 *out_last_us, gint64 *out_max_us,
                                guint64 *out_on_main_thread);
/* The fragments of composed sections the store knows, and the bytes of their text it holds in
 * memory (those not yet in a durable checkpoint). */
void ecsa_state_store_get_fragment_stats(EcsaStateStore *self, guint *out_fragments, gsize *out_bytes_in_memory);

G_END_DECLS

/* ecsa-task-private.h: JSON helpers shared by the task model files inside core/.
 * SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "ecsa-task.h"

G_BEGIN_DECLS

/* The member `name` of `o`: exactly, else ignoring ASCII case (Go's encoding/json rule); NULL when
 * absent or JSON null. */
JsonNode *ecsa_json_member(JsonObject *o, const char *name);

/* Parse a JSON document held in a string (dockerConfig.config, overrides); NULL on error. */
JsonNode *ecsa_json_parse_string(const char *text, GError **error);

/* Merge `overlay` into `base` as Go's json.Unmarshal into an existing struct does: objects merge
 * member by member (top-level names ignoring case when `fold_case`), anything else replaces, and
 * null removes. */
void ecsa_json_merge_object(JsonObject *base, JsonObject *overlay, gboolean fold_case);

/* The keys of a string-keyed table, sorted (borrowed pointers). */
GPtrArray *ecsa_hash_table_sorted_keys(GHashTable *table);

G_END_DECLS

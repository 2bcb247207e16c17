/* ecsl-credentials.h: the credentials ecs-local accepts and issues.
 *
 * Root credentials: the key pair in <state-dir>/credentials (an AWS shared credentials file,
 * created with fresh random keys when missing), and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of
 * ecs-local's own environment when set. Temporary credentials (instance role through the IMDS
 * emulation, task and execution roles through ACS) carry a session token and expire. Their secret
 * and token are derived from <state-dir>/master.key (HMAC-SHA256 of the access key ID), so the
 * state file never holds a secret and a restarted ecs-local still accepts them.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum
{
  ECSL_CRED_ROOT = 0,
  ECSL_CRED_INSTANCE_ROLE = 1,
  ECSL_CRED_TASK_ROLE = 2,      /* ACS roleType "TaskApplication" */
  ECSL_CRED_EXECUTION_ROLE = 3, /* ACS roleType "TaskExecution" */
} EcslCredKind;

typedef struct
{
  char *access_key_id;
  EcslCredKind kind;
  char *role_arn;       /* roles only */
  char *task_arn;       /* task and execution roles */
  char *credentials_id; /* task and execution roles */
  gint64 expiration_ms; /* 0: never */
} EcslCredEntry;

typedef enum
{
  ECSL_CRED_LOOKUP_OK,
  ECSL_CRED_LOOKUP_UNKNOWN,
  ECSL_CRED_LOOKUP_EXPIRED,
} EcslCredLookup;

typedef struct _EcslCredentials EcslCredentials;

EcslCredentials *ecsl_credentials_new (const char *state_dir, const char *region, GError **error);
void ecsl_credentials_free (EcslCredentials *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcslCredentials, ecsl_credentials_free)

const char *ecsl_credentials_get_file (EcslCredentials *self);        /* <state-dir>/credentials */
const char *ecsl_credentials_get_config_file (EcslCredentials *self); /* <state-dir>/config */

/* Issue temporary credentials valid for ttl_ms. */
const EcslCredEntry *ecsl_credentials_mint (EcslCredentials *self, EcslCredKind kind, const char *role_arn,
                                            const char *task_arn, const char *credentials_id, gint64 ttl_ms);
/* The secret and session token of an entry (NULL token for root keys). Free with g_free after
 * wiping: they are secrets. */
char *ecsl_credentials_secret (EcslCredentials *self, const EcslCredEntry *entry);
char *ecsl_credentials_token (EcslCredentials *self, const EcslCredEntry *entry);

EcslCredLookup ecsl_credentials_lookup (EcslCredentials *self, const char *access_key_id,
                                        const EcslCredEntry **out_entry);
/* The newest unexpired entry of a kind for a task (or, for the instance role, any task). */
const EcslCredEntry *ecsl_credentials_find_current (EcslCredentials *self, EcslCredKind kind, const char *task_arn);

/* Forget the temporary credentials of a task (it was purged). */
void ecsl_credentials_forget_task (EcslCredentials *self, const char *task_arn);

/* The temporary entries, without secrets, for the state file; and back. */
JsonNode *ecsl_credentials_serialize (EcslCredentials *self);
void ecsl_credentials_restore (EcslCredentials *self, JsonNode *node);

/* A secret string, overwritten when freed: g_autoptr(EcslSecret) s = ecsl_credentials_secret (...). */
typedef char EcslSecret;
void ecsl_secret_free (EcslSecret *secret);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcslSecret, ecsl_secret_free)

G_END_DECLS

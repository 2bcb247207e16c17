/* ecsa-log.h: the agent's one log writer.
 *
 * Everything the agent and its plugins log ends here: g_message()/g_warning()/g_debug() from any
 * G_LOG_DOMAIN, g_log_structured() with extra fields, the ecsa_log_*() macros below for the levels
 * GLib lacks (crit, error), and the plugin host's log slot (ecsa_log_write()). The writer
 *  - filters by level (crit < error < warn < info < debug; "none" silences everything),
 *  - redacts secrets (ecsa_log_redact()) in the message and in every extra field,
 *  - writes one line per event, "2017-11-27T19:26:11Z [INFO] message", to stdout and to the
 *    ECS_LOGFILE (rolled hourly, 24 files kept, as agent v1.16.2's seelog does),
 *  - sends the event with its fields to journald when stdout is a journal stream
 *    ($JOURNAL_STREAM, as systemd sets it): MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, ECSA_LEVEL,
 *    GLIB_DOMAIN, CODE_* and the caller's own fields (TASK_ARN=..., CONTAINER=...).
 * It is thread-safe; GTask threads may log.
 *
 * GLib levels map to ours: ERROR -> crit, CRITICAL -> error, WARNING -> warn, MESSAGE and INFO ->
 * info, DEBUG -> debug. Never log G_IO_ERROR_CANCELLED (shutdown is not an error): use
 * ecsa_log_gerror(), which drops it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

#include "ecsa-plugin.h" /* EcsaLogLevel: ECSA_LOG_CRIT .. ECSA_LOG_DEBUG */

G_BEGIN_DECLS

#define ECSA_LOG_LEVEL_NONE (-1)          /* "none": nothing is logged */
#define ECSA_LOG_FIELD_LEVEL "ECSA_LEVEL" /* structured field carrying "crit".."debug" */
#define ECSA_LOG_REDACTED "<redacted>"

/* Install the writer (g_log_set_writer_func) with level info and stdout only. Idempotent; call it
 * first thing in main() and in test programs that check log output. */
void ecsa_log_init(void);

/* Level. "crit", "error", "warn", "info", "debug", "none" (case-insensitive; also "critical",
 * "warning"). Parsing returns FALSE for anything else and leaves *out_level untouched. */
gboolean ecsa_log_level_from_string(const char *text, int *out_level);
const char *ecsa_log_level_to_string(int level); /* "crit" .. "debug", "none" */
void ecsa_log_set_level(int level);              /* EcsaLogLevel or ECSA_LOG_LEVEL_NONE */
int ecsa_log_get_level(void);
gboolean ecsa_log_level_enabled(EcsaLogLevel level);

/* Also write to `path` (appending; created 0644 with its directory), rolled every hour into
 * path.YYYY-MM-DD-HH with the newest 24 kept. NULL or "" stops writing to a file. */
gboolean ecsa_log_set_file(const char *path, GError **error);

/* Where the console lines go: STDOUT_FILENO (the default, as agent v1.16.2), STDERR_FILENO
 * (-check-config keeps stdout for its report) or -1 (none). */
void ecsa_log_set_console(int fd);

/* Send to journald at this socket path instead of detecting $JOURNAL_STREAM (tests); NULL: detect. */
void ecsa_log_set_journal_socket(const char *path);

/* Redaction. Returns a new string in which every secret is replaced by "<redacted>":
 *  - values registered with ecsa_log_add_secret(), wherever they appear;
 *  - AWS access key IDs (AKIA..., ASIA..., 20 characters) and 40-character secret keys;
 *  - the value of any JSON member or key=value / key: value pair whose key names a secret
 *    (password, passwd, secret, token, auth, authorization, credential(s) ..., e.g.
 *    "SecretAccessKey": "...", AWS_SESSION_TOKEN=..., X-Amz-Security-Token: ...,
 *    Authorization: AWS4-HMAC-SHA256 ..., ECS_ENGINE_AUTH_DATA=...);
 *  - the password of a URL (scheme://user:password@host).
 * NULL gives NULL. */
char *ecsa_log_redact(const char *text);

/* Register a secret value known at run time (task credentials, registry passwords, the engine
 * auth data) so that it is masked even in free text. Values shorter than 4 bytes are ignored
 * (they would mask ordinary words). Registering is counted: remove as often as added. */
void ecsa_log_add_secret(const char *secret);
void ecsa_log_remove_secret(const char *secret);

/* Register a JSON document (ECS_ENGINE_AUTH_DATA, a task's registry auth) as a secret, and every
 * string in it whose key names a secret ("password", "auth", "token", ...), including the password
 * inside a dockercfg "auth" (base64 of user:password). Invalid JSON registers the text only. */
void ecsa_log_add_secrets_from_json(const char *json);

/* One event at our level from `domain` (NULL: "ecsa"); the plugin host's log slot. */
void ecsa_log_write(EcsaLogLevel level, const char *domain, const char *message);
void ecsa_log_at(EcsaLogLevel level, const char *domain, const char *format, ...) G_GNUC_PRINTF(3, 4);

/* "<message>: <error->message>" at `level`, unless error is G_IO_ERROR_CANCELLED (dropped). */
void ecsa_log_gerror_at(EcsaLogLevel level, const char *domain, const GError *error, const char *format, ...)
  G_GNUC_PRINTF(4, 5);

#define ecsa_log_crit(...) ecsa_log_at(ECSA_LOG_CRIT, G_LOG_DOMAIN, __VA_ARGS__)
#define ecsa_log_error(...) ecsa_log_at(ECSA_LOG_ERROR, G_LOG_DOMAIN, __VA_ARGS__)
#define ecsa_log_warn(...) ecsa_log_at(ECSA_LOG_WARN, G_LOG_DOMAIN, __VA_ARGS__)
#define ecsa_log_info(...) ecsa_log_at(ECSA_LOG_INFO, G_LOG_DOMAIN, __VA_ARGS__)
#define ecsa_log_debug(...) ecsa_log_at(ECSA_LOG_DEBUG, G_LOG_DOMAIN, __VA_ARGS__)
#define ecsa_log_gerror(level, error, ...) ecsa_log_gerror_at((level), G_LOG_DOMAIN, (error), __VA_ARGS__)

/* The writer itself (installed by ecsa_log_init()). */
GLogWriterOutput ecsa_log_writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data);

/* Tests: receive every formatted line (after filtering and redaction) in addition to the outputs.
 * NULL removes it. Called with the writer's lock held: do not log from it. */
typedef void (*EcsaLogCaptureFunc)(EcsaLogLevel level, const char *line, gpointer user_data);
void ecsa_log_set_capture(EcsaLogCaptureFunc func, gpointer user_data);

/* Close the file and forget secrets and settings (tests, and the end of main()). */
void ecsa_log_shutdown(void);

G_END_DECLS

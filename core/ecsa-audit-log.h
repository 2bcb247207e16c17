/* ecsa-audit-log.h: the credentials audit log (ECS_AUDIT_LOGFILE, ECS_AUDIT_LOGFILE_DISABLED).
 *
 * One line per answer of the credentials endpoint, in v1.16.2's format (version 2):
 *
 *   <time> <status> <source ip:port> "<path>" "<user agent>" <task ARN> <event type> 2 <cluster> <instance ARN>
 *
 * time is RFC 3339 in UTC; the path never carries the credentials ID (/v2/credentials/<id> is written
 * "/v2/credentials", the v1 query is left out); event type is GetCredentials (task role) or
 * GetCredentialsExecutionRole; an empty field is written "-". No secret and no credentials ID is
 * ever written. Where v1.16.2 wrote a truncated line for refused requests (no event type, cluster or
 * instance), every line here has all ten fields, and characters that could forge a field or a line
 * (quotes, backslashes, control bytes in the user agent) are escaped as \" \\ \xHH.
 *
 * The file is rolled every hour into <path>.YYYY-MM-DD-HH (local time of the hour it covers) and the
 * newest 24 are kept, like v1.16.2's seelog configuration. Lines are written by one worker thread in
 * order; the main context only queues them. At most ECSA_AUDIT_LOG_MAX_QUEUED lines wait; beyond that
 * lines are dropped and the count is logged.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ECSA_AUDIT_LOG_MAX_QUEUED 10000
#define ECSA_AUDIT_LOG_MAX_ROLLS 24

#define ECSA_AUDIT_EVENT_GET_CREDENTIALS "GetCredentials"
#define ECSA_AUDIT_EVENT_GET_CREDENTIALS_EXECUTION_ROLE "GetCredentialsExecutionRole"

#define ECSA_TYPE_AUDIT_LOG (ecsa_audit_log_get_type())
G_DECLARE_FINAL_TYPE(EcsaAuditLog, ecsa_audit_log, ECSA, AUDIT_LOG, GObject)

/* `path` NULL or "" or `disabled`: lines are counted and dropped (v1.16.2 also echoed them to
 * stdout; this agent does not mix them into its own log). */
EcsaAuditLog *ecsa_audit_log_new(const char *path, gboolean disabled, const char *cluster);

/* The container instance ARN written in every line (known after registration). */
void ecsa_audit_log_set_container_instance_arn(EcsaAuditLog *self, const char *arn);

/* Queue one line. `role_type` is the ACS role type of the credentials asked for ("" or NULL when
 * unknown: the line says GetCredentials). */
void ecsa_audit_log_record(EcsaAuditLog *self, guint status, const char *source_address, const char *path,
                           const char *user_agent, const char *task_arn, const char *role_type);

/* The line that record() would queue, without its newline (tests). `now` is unix seconds. */
char *ecsa_audit_log_format_line(EcsaAuditLog *self, gint64 now, guint status, const char *source_address,
                                 const char *path, const char *user_agent, const char *task_arn, const char *role_type);

/* Wait until every queued line is written (tests, shutdown). Blocks the caller. */
void ecsa_audit_log_flush(EcsaAuditLog *self);

/* Lines written and lines dropped so far. */
guint64 ecsa_audit_log_get_written(EcsaAuditLog *self);
guint64 ecsa_audit_log_get_dropped(EcsaAuditLog *self);

G_END_DECLS

/* ecsa-credentials-server.h: the task credentials endpoint on 127.0.0.1:51679 (ECS_ENABLE_TASK_IAM_ROLE).
 *
 *   GET /v1/credentials?id=<credentials ID>
 *   GET /v2/credentials/<credentials ID>      (what containers get in AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)
 *
 * 200 {"RoleArn","AccessKeyId","SecretAccessKey","Token","Expiration"} (application/json), or
 * v1.16.2's errors as {"code":…,"message":…}:
 *   400 NoIdInRequest            no ID ("CredentialsV2Request: No ID in the request")
 *   400 InvalidIdInRequest       unknown ID, or an ID the caller may not read ("…: ID not found")
 *   503 CredentialsUninitialized the ID is expected after a restart but ACS has not resent it yet
 *   404 "404 page not found"     other paths; 301 to the canonical path for unclean paths
 *
 * Who may read an ID (v1.16.2 served any ID to anyone who knew it; see docs/IAM.md):
 *  - task role: a process in a network namespace of one of the owning task's containers (bridge,
 *    awsvpc); a process in a container of the owning task in host network mode, only with
 *    ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST; a root process on the host outside every container
 *    (dockerd, the operator);
 *  - execution role: only root host processes outside containers (dockerd's awslogs driver, the
 *    agent); a task's containers never get the execution role.
 * Anyone else gets the answer an unknown ID gets, so IDs cannot be probed.
 *
 * Every answer to a request for /v1/credentials or /v2/credentials/… goes to the audit log. The
 * caller lookup reads procfs in a worker thread; the main context never waits.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

#include "ecsa-audit-log.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-http-request.h"
#include "ecsa-task-view-source.h"

G_BEGIN_DECLS

#define ECSA_CREDENTIALS_PORT 51679
/* Requests waiting for their caller lookup at once; more are answered 503 right away. */
#define ECSA_CREDENTIALS_SERVER_MAX_PENDING 1024
/* Threads that look callers up (they enter containers' network namespaces). */
#define ECSA_CREDENTIALS_SERVER_LOOKUP_THREADS 2

#define ECSA_TYPE_CREDENTIALS_SERVER (ecsa_credentials_server_get_type())
G_DECLARE_FINAL_TYPE(EcsaCredentialsServer, ecsa_credentials_server, ECSA, CREDENTIALS_SERVER, GObject)

EcsaCredentialsServer *ecsa_credentials_server_new(EcsaCredentialsManager *manager, EcsaAuditLog *audit_log,
                                                   const EcsaTaskViewSource *tasks, gboolean host_network_allowed);

/* Listen on 127.0.0.1:`port` (the README's DNAT and REDIRECT rules lead 169.254.170.2:80 there).
 * The agent passes ECSA_CREDENTIALS_PORT; port 0 picks a free one (unit tests). */
gboolean ecsa_credentials_server_listen(EcsaCredentialsServer *self, guint16 port, GError **error);
/* The agent's way: listen, or keep trying in the background with v1.16.2's backoff when the port is
 * taken (the agent never stops for it). */
void ecsa_credentials_server_start(EcsaCredentialsServer *self, guint16 port);
guint16 ecsa_credentials_server_get_port(EcsaCredentialsServer *self);
void ecsa_credentials_server_stop(EcsaCredentialsServer *self);

/* Requests answered so far (tests). */
guint64 ecsa_credentials_server_get_served(EcsaCredentialsServer *self);

/* The part of the router that needs no caller (tests, fuzzing). Returns a finished response (301,
 * 404, 400 without or with an unknown ID), or NULL with *out_credentials_id set when the answer
 * depends on who asks. *out_api_version is 1 or 2 for the credentials paths, else 0. `remote`
 * ("ip:port", may be NULL) is named in v1.16.2's info line about a refused request. */
EcsaHttpResponse *ecsa_credentials_server_route(EcsaCredentialsServer *self, const char *method, const char *path,
                                                const char *raw_query, const char *remote, int *out_api_version,
                                                char **out_credentials_id);

G_END_DECLS

/* ecsa-introspection-server.h: the agent introspection API on port 51678, as agent v1.16.2 serves it.
 *
 *   /v1/metadata             {"Cluster":…,"ContainerInstanceArn":…|null,"Version":…}
 *   /v1/tasks                {"Tasks":[task, …]}
 *   /v1/tasks?dockerid=ID    one task (a full ID, or a prefix of at most 12 characters); 404 unknown,
 *                            400 when a short ID matches containers of several tasks
 *   /v1/tasks?taskarn=ARN    one task; 404 unknown
 *   /v1/tasks?dockerid&taskarn  400, empty body
 *   /license                 the agent's LICENSE and NOTICE
 *   anything else            {"AvailableCommands":["/v1/metadata","/v1/tasks","/license"]}
 *
 * task = {"Arn","DesiredStatus" (left out when it would mislead, as v1.16.2),"KnownStatus","Family",
 * "Version","Containers":[{"DockerId","DockerName","Name"}]}; a 404 carries a task with empty fields
 * and "Containers":null. Bodies are Go-encoded JSON with v1.16.2's Content-Type
 * ("text/plain; charset=utf-8"); paths that are not canonical get Go's 301 to the clean path.
 *
 * Like v1.16.2 it listens on every interface (tools in containers read it through the docker0
 * gateway or the instance's address); it serves only what the task list already shows and never a
 * credential. All work happens on the main context; nothing blocks.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

#include "ecsa-http-request.h"
#include "ecsa-task-view-source.h"

G_BEGIN_DECLS

#define ECSA_INTROSPECTION_PORT 51678

#define ECSA_TYPE_INTROSPECTION_SERVER (ecsa_introspection_server_get_type())
G_DECLARE_FINAL_TYPE(EcsaIntrospectionServer, ecsa_introspection_server, ECSA, INTROSPECTION_SERVER, GObject)

/* `version` is what /v1/metadata reports (NULL: "Amazon ECS Agent - v1.16.2 (ecs-agent <version>)"). */
EcsaIntrospectionServer *ecsa_introspection_server_new(const EcsaTaskViewSource *tasks, const char *cluster,
                                                       const char *version);

/* Known after registration; until then /v1/metadata reports null, as v1.16.2 would. */
void ecsa_introspection_server_set_container_instance_arn(EcsaIntrospectionServer *self, const char *arn);

/* Listen on `port` of every interface (IPv4 and IPv6), or of 127.0.0.1 only when `loopback_only`.
 * port 0 picks a free port (tests); the agent always passes ECSA_INTROSPECTION_PORT. */
gboolean ecsa_introspection_server_listen(EcsaIntrospectionServer *self, guint16 port, gboolean loopback_only,
                                          GError **error);
/* The agent's way: listen on every interface, or keep trying in the background with v1.16.2's
 * backoff when the port is taken (the agent never stops for it). */
void ecsa_introspection_server_start(EcsaIntrospectionServer *self, guint16 port);
guint16 ecsa_introspection_server_get_port(EcsaIntrospectionServer *self);
void ecsa_introspection_server_stop(EcsaIntrospectionServer *self);

/* The router without the socket (tests, fuzzing): `path` is the decoded path, `raw_query` the query
 * as received (or NULL). */
EcsaHttpResponse *ecsa_introspection_server_route(EcsaIntrospectionServer *self, const char *method, const char *path,
                                                  const char *raw_query);

G_END_DECLS

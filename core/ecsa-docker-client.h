/* ecsa-docker-client.h: the Docker Engine API over DOCKER_HOST (unix:// or tcp://), with libsoup.
 *
 * Every call is asynchronous on the thread-default main context of the caller that created the
 * client, and carries agent v1.16.2's timeout for that call (pull 2 h overall and 5 min to the first
 * progress line, create 4 min, start 3 min, stop 30 s plus the container's stop timeout, inspect
 * 30 s, remove 5 min, ...). A timeout fails with ECSA_ERROR_TIMEOUT and a message naming the call
 * and its target. The API version is negotiated from GET /version before the first versioned call
 * (the daemon's version, capped at the newest this client knows), never hard-coded.
 *
 * Errors (domain ECSA_ERROR):
 *   ECSA_ERROR_TIMEOUT    the call's timeout ran out
 *   ECSA_ERROR_RETRY      dockerd could not be reached (connection refused, socket missing, reset)
 *   ECSA_ERROR_NOT_FOUND  Docker answered 404 (no such container or image)
 *   ECSA_ERROR_INVALID_DATA  Docker answered 400 (bad parameter), or sent JSON we cannot read
 *   ECSA_ERROR_FAILED     any other Docker error; the message is Docker's
 *
 * The event stream (ecsa_docker_client_watch_events) follows container events and reconnects,
 * with backoff, when dockerd goes away; it replays what happened meanwhile (`since`) and emits
 * "events-connected" each time it is (re)established so the owner can resynchronise.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "ecsa-plugin.h"

G_BEGIN_DECLS

/* The newest Engine API version this client was written against; a newer daemon is spoken to
 * at this version, an older one at its own. */
#define ECSA_DOCKER_API_VERSION_MAX "1.44"
/* The oldest daemon API this client accepts (Docker 1.12). */
#define ECSA_DOCKER_API_VERSION_MIN "1.24"
/* The negotiation pings dockerd at this version (the oldest of v1.16.2's known versions): the
 * answer says whether the daemon still speaks it, and if not, which version is its oldest. */
#define ECSA_DOCKER_API_VERSION_PROBED "1.17"

typedef enum
{
  ECSA_DOCKER_CALL_VERSION = 0,
  ECSA_DOCKER_CALL_PULL,       /* overall */
  ECSA_DOCKER_CALL_PULL_BEGIN, /* until the first progress line */
  ECSA_DOCKER_CALL_CREATE,
  ECSA_DOCKER_CALL_START,
  ECSA_DOCKER_CALL_STOP, /* plus the stop timeout of the call */
  ECSA_DOCKER_CALL_INSPECT,
  ECSA_DOCKER_CALL_REMOVE,
  ECSA_DOCKER_CALL_LIST,
  ECSA_DOCKER_CALL_INSPECT_IMAGE,
  ECSA_DOCKER_CALL_REMOVE_IMAGE,
  ECSA_DOCKER_CALL_VOLUME,
  ECSA_DOCKER_CALL_OTHER,
  ECSA_DOCKER_CALL_LAST_,
} EcsaDockerCall;

#define ECSA_TYPE_DOCKER_CLIENT (ecsa_docker_client_get_type())
G_DECLARE_FINAL_TYPE(EcsaDockerClient, ecsa_docker_client, ECSA, DOCKER_CLIENT, GObject)

/* docker_host: "unix:///var/run/docker.sock", "tcp://127.0.0.1:2375" (NULL: the default unix
 * socket). Fails with ECSA_ERROR_INVALID_DATA naming the value when it cannot be used. No I/O. */
EcsaDockerClient *ecsa_docker_client_new(const char *docker_host, GError **error);

/* Override a call's timeout (tests; 0 restores v1.16.2's value). */
void ecsa_docker_client_set_timeout(EcsaDockerClient *self, EcsaDockerCall call, guint timeout_ms);
guint ecsa_docker_client_get_timeout(EcsaDockerClient *self, EcsaDockerCall call);

/* The negotiated API version ("1.41") and the daemon's version ("20.10.24"), NULL before the
 * first successful negotiation. */
const char *ecsa_docker_client_get_api_version(EcsaDockerClient *self);
const char *ecsa_docker_client_get_server_version(EcsaDockerClient *self);
/* The daemon's oldest API version ("1.24"), or NULL when it is ECSA_DOCKER_API_VERSION_PROBED or
 * older (the ping does not say more) or was not reported. */
const char *ecsa_docker_client_get_min_api_version(EcsaDockerClient *self);

/* Ask dockerd its API versions (GET /v1.17/_ping; GET /version when the ping's answer does not
 * tell) and pick the one to speak. Done implicitly before the first versioned call. */
void ecsa_docker_client_negotiate_async(EcsaDockerClient *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean ecsa_docker_client_negotiate_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* Any call: `path` is relative to the API version ("/containers/json?all=1"); `body` is JSON or
 * NULL; timeout_ms 0 means ECSA_DOCKER_CALL_OTHER's. The result is the body (maybe empty) and the
 * HTTP status, which may be >= 400 (Docker's error body): only transport failures and timeouts
 * are errors. This is what plugins get through EcsaPluginHost.docker_request_async. */
void ecsa_docker_client_request_async(EcsaDockerClient *self, const char *method, const char *path, GBytes *body,
                                      guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
/* The same without an API version in the path ("/info"): dockerd answers in its own latest
 * version, at once, without waiting for the negotiation. For what reads the same in every
 * version. Finished with ecsa_docker_client_request_finish(). */
void ecsa_docker_client_request_unversioned_async(EcsaDockerClient *self, const char *method, const char *path,
                                                  guint timeout_ms, GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
GBytes *ecsa_docker_client_request_finish(EcsaDockerClient *self, GAsyncResult *result, guint *out_status,
                                          GError **error);

/* POST /containers/create?name=; body is the create document (Config + HostConfig). api_version
 * overrides the negotiated one (a task's dockerConfig.version), or NULL. Result: the new ID. */
void ecsa_docker_client_create_container_async(EcsaDockerClient *self, const char *name, JsonNode *body,
                                               const char *api_version, GCancellable *cancellable,
                                               GAsyncReadyCallback callback, gpointer user_data);
char *ecsa_docker_client_create_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* POST /containers/<id>/start; "already started" (304) is success. */
void ecsa_docker_client_start_container_async(EcsaDockerClient *self, const char *id, const char *api_version,
                                              GCancellable *cancellable, GAsyncReadyCallback callback,
                                              gpointer user_data);
gboolean ecsa_docker_client_start_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* POST /containers/<id>/stop?t=stop_timeout_s: SIGTERM, then SIGKILL after stop_timeout_s. The
 * call's timeout is ECSA_DOCKER_CALL_STOP's plus stop_timeout_s. "Already stopped" (304) is success. */
void ecsa_docker_client_stop_container_async(EcsaDockerClient *self, const char *id, guint stop_timeout_s,
                                             GCancellable *cancellable, GAsyncReadyCallback callback,
                                             gpointer user_data);
gboolean ecsa_docker_client_stop_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* GET /containers/<id or name>/json. Result: the inspect document (a JSON object). */
void ecsa_docker_client_inspect_container_async(EcsaDockerClient *self, const char *id_or_name,
                                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                                gpointer user_data);
JsonNode *ecsa_docker_client_inspect_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* DELETE /containers/<id>?v=&force=. A container already gone (404) fails with NOT_FOUND. */
void ecsa_docker_client_remove_container_async(EcsaDockerClient *self, const char *id, gboolean remove_volumes,
                                               gboolean force, GCancellable *cancellable, GAsyncReadyCallback callback,
                                               gpointer user_data);
gboolean ecsa_docker_client_remove_container_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* GET /containers/json?all=1[&filters={"label":[label]}]. Result: a JSON array. */
void ecsa_docker_client_list_containers_async(EcsaDockerClient *self, const char *label_filter,
                                              GCancellable *cancellable, GAsyncReadyCallback callback,
                                              gpointer user_data);
JsonNode *ecsa_docker_client_list_containers_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* POST /images/create?fromImage=<image> (":latest" added when the reference has no tag or
 * digest), streamed: progress at debug, a summary at info. registry_auth is the X-Registry-Auth
 * value (ecsa_docker_client_encode_registry_auth) or NULL. An error inside the stream fails the
 * call with Docker's message. */
void ecsa_docker_client_pull_image_async(EcsaDockerClient *self, const char *image, const char *registry_auth,
                                         GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_docker_client_pull_image_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* GET /images/<name>/json. Result: a JSON object. */
void ecsa_docker_client_inspect_image_async(EcsaDockerClient *self, const char *image, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);
JsonNode *ecsa_docker_client_inspect_image_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* DELETE /images/<name or id>. */
void ecsa_docker_client_remove_image_async(EcsaDockerClient *self, const char *image, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_docker_client_remove_image_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* POST /volumes/create (local driver) with labels (char* -> char*, or NULL); DELETE /volumes/<name>.
 * Creating a volume that exists succeeds (Docker returns it). */
void ecsa_docker_client_create_volume_async(EcsaDockerClient *self, const char *name, GHashTable *labels,
                                            GCancellable *cancellable, GAsyncReadyCallback callback,
                                            gpointer user_data);
gboolean ecsa_docker_client_create_volume_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);
void ecsa_docker_client_remove_volume_async(EcsaDockerClient *self, const char *name, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);
gboolean ecsa_docker_client_remove_volume_finish(EcsaDockerClient *self, GAsyncResult *result, GError **error);

/* Follow GET /events (containers only; with a label filter such as "com.amazonaws.ecs.task-arn", only
 * those carrying it) until ecsa_docker_client_unwatch_events() or dispose.
 * Signals, on the client's main context:
 *   "container-event" (const char *id, const char *action, JsonObject *attributes, gint64 time_nano)
 *       action: "create", "start", "die", "stop", "kill", "oom", "destroy", ...
 *   "events-connected" (gboolean reconnected): the stream is (again) established; after a
 *       reconnect, events missed while it was down are replayed first. */
void ecsa_docker_client_watch_events(EcsaDockerClient *self, const char *label_filter);
void ecsa_docker_client_unwatch_events(EcsaDockerClient *self);
gboolean ecsa_docker_client_events_connected(EcsaDockerClient *self);

/* X-Registry-Auth for credentials: their JSON, in URL-safe base64 WITH padding (dockerd decodes it
 * with Go's base64.URLEncoding and silently ignores a value it cannot decode). Secret. */
char *ecsa_docker_client_encode_registry_auth(const EcsaRegistryCredentials *credentials);

/* "busybox" -> "busybox:latest"; "repo:tag", "repo@sha256:..." unchanged; "host:5000/repo" ->
 * "host:5000/repo:latest". */
char *ecsa_docker_image_reference_with_tag(const char *image);
/* The registry host of an image reference ("index.docker.io" for Docker Hub). */
char *ecsa_docker_image_registry(const char *image);

/* Compare "1.41" and "1.24"-style versions: <0, 0, >0. */
int ecsa_docker_api_version_compare(const char *a, const char *b);
/* oldest <= version <= newest ("1.24", "1.41", "1.30"); oldest NULL: no lower bound. FALSE when
 * version or newest is not like "1.41". */
gboolean ecsa_docker_api_version_range_contains(const char *oldest, const char *newest, const char *version);

G_END_DECLS

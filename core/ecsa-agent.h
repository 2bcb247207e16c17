/* ecsa-agent.h: the agent object. It owns the configuration, the root GCancellable and every
 * part (plugin registry, Docker client, state store, task engine, credentials manager, ECS client,
 * ACS/TCS sessions, state reporter, HTTP servers), runs the start-up sequence of v1.16.2's
 * app/agent.go as a chain of async steps, and shuts everything down through the root cancellable.
 *
 * Life cycle:
 *   agent = ecsa_agent_new (config);
 *   ecsa_agent_run_async (agent, done_cb, ...);   start-up steps, then run until stopped
 *   ecsa_agent_stop (agent, ECSA_EXIT_SUCCESS, "SIGTERM");  from a signal handler or a part
 *   -> root cancellable cancelled -> parts finish and release their hold -> shutdown steps
 *      (final save) -> run completes with the exit code (ecsa_agent_run_finish()).
 * Shutdown has an upper bound (ECSA_AGENT_SHUTDOWN_TIMEOUT_MS): a part that does not finish in
 * time is named in a crit line and the agent exits ECSA_EXIT_TERMINAL, as v1.16.2's FinalSave.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

#include "ecsa-config.h"
#include "ecsa-docker-client.h"
#include "ecsa-exit-codes.h"
#include "ecsa-plugin-host.h"
#include "ecsa-plugin-registry.h"
#include "ecsa-state-store.h"
#include "ecsa-task-engine.h"

G_BEGIN_DECLS

/* v1.16.2 gives the engine 5 s to settle and the final save 3 s. */
#define ECSA_AGENT_SHUTDOWN_TIMEOUT_MS 8000

#define ECSA_TYPE_AGENT (ecsa_agent_get_type())
G_DECLARE_FINAL_TYPE(EcsaAgent, ecsa_agent, ECSA, AGENT, GObject)

/* Takes ownership of `config` (loaded and valid, bar a missing region). Attaches to the
 * thread-default main context. */
EcsaAgent *ecsa_agent_new(EcsaConfig *config);

EcsaConfig *ecsa_agent_get_config(EcsaAgent *self);
/* The root cancellable: chain every wait to it (g_cancellable_connect or pass it, or a child). */
GCancellable *ecsa_agent_get_cancellable(EcsaAgent *self);
GMainContext *ecsa_agent_get_main_context(EcsaAgent *self);
/* The loaded plugins (filled by the "plugins" start-up step) and the services they are lent: set
 * your module's backend there when you create it (ecsa_plugin_host_services_set_docker_backend()...). */
EcsaPluginRegistry *ecsa_agent_get_plugin_registry(EcsaAgent *self);
/* The Docker client ("docker" step), the state store and the task engine ("checkpoint" step; the
 * engine runs from the "engine" step). NULL before their step. */
EcsaDockerClient *ecsa_agent_get_docker_client(EcsaAgent *self);
EcsaStateStore *ecsa_agent_get_state_store(EcsaAgent *self);
EcsaTaskEngine *ecsa_agent_get_task_engine(EcsaAgent *self);
/* The shared HTTPS session for AWS calls, lent to plugins as host->http_session. */
SoupSession *ecsa_agent_get_http_session(EcsaAgent *self);
EcsaPluginHostServices *ecsa_agent_get_plugin_host_services(EcsaAgent *self);
/* Task IAM role credentials (created with the agent, in memory only): the ACS session stores what
 * ACS sends, the engine marks restored tasks' IDs as expected, the credentials endpoint serves them. */
typedef struct _EcsaCredentialsManager EcsaCredentialsManager;
EcsaCredentialsManager *ecsa_agent_get_credentials_manager(EcsaAgent *self);
/* awsvpc ("task-eni" step, with ECS_ENABLE_TASK_ENI; NULL otherwise): its VPC and subnet IDs and
 * whether task ENIs are usable are for the registration; ACS's AttachTaskNetworkInterfacesMessage
 * goes to the ENI attachments (ecsa_eni_attachments_handle_acs_message), which report through the
 * submitter set on them (the ECS client). */
typedef struct _EcsaTaskNetwork EcsaTaskNetwork;
typedef struct _EcsaEniAttachments EcsaEniAttachments;
EcsaTaskNetwork *ecsa_agent_get_task_network(EcsaAgent *self);
EcsaEniAttachments *ecsa_agent_get_eni_attachments(EcsaAgent *self);
/* TRUE once every start-up step succeeded (and until stop). */
gboolean ecsa_agent_is_running(EcsaAgent *self);

/* Run: the start-up steps in order, then wait until stopped. The callback runs once everything has
 * shut down; ecsa_agent_run_finish() returns the process exit code (EcsaExitCode). Call once. */
void ecsa_agent_run_async(EcsaAgent *self, GAsyncReadyCallback callback, gpointer user_data);
int ecsa_agent_run_finish(EcsaAgent *self, GAsyncResult *result);

/* Ask the agent to shut down and exit with `exit_code`: SIGTERM (ECSA_EXIT_SUCCESS), an update
 * staged by ACS (ECSA_EXIT_UPDATE), an unrecoverable error of a part (ECSA_EXIT_ERROR or
 * ECSA_EXIT_TERMINAL). The first request decides the exit code; later ones are logged and ignored.
 * Safe to call during start-up. */
void ecsa_agent_stop(EcsaAgent *self, int exit_code, const char *reason);

/* The upper bound of the shutdown (default ECSA_AGENT_SHUTDOWN_TIMEOUT_MS); before stop. */
void ecsa_agent_set_shutdown_timeout(EcsaAgent *self, guint timeout_ms);

/* Long-running parts (sessions, servers, the engine) hold the agent while they run: take a hold
 * when started, release it once finished after the root cancellable fired. Shutdown waits for
 * every hold (bounded). Holds are counted per name. */
void ecsa_agent_hold(EcsaAgent *self, const char *part);
void ecsa_agent_release(EcsaAgent *self, const char *part);

G_END_DECLS

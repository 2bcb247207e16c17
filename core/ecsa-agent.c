/* ecsa-agent.c: start-up sequence, ownership of the parts, shutdown.
 *
 * The start-up follows v1.16.2's app/agent.go (newAgent, then doStart):
 *   1. region       config is loaded by main(); the region comes from instance metadata if unset
 *   2. docker       ping + version negotiation               (docker client)
 *   3. plugins      load the plugin directory, init plugins  (plugin loader/registry)
 *   4. checkpoint   restore the state file: tasks, container instance ARN, cluster (cluster
 *                   mismatch is terminal), EC2 instance ID   (state store, task engine)
 *   5. cgroups      '/ecs' root when task CPU/memory limits are enabled (terminal if explicit)
 *   6. task-eni     CNI/ENI dependencies when ECS_ENABLE_TASK_ENI
 *   7. register     RegisterContainerInstance, or re-register the restored ARN; save
 *                   (transient failure: exit 1, otherwise 5)  (ECS client). A checkpoint of
 *                   another EC2 instance is dropped first: new registration, the engine reset
 *   8. engine       Docker events, reconcile restored tasks   (task engine)
 *   9. servers      introspection :51678, credentials :51679, state reporter, image cleanup
 *  10. sessions     TCS (metrics) and ACS (payloads)           (ACS/TCS sessions)
 * Each step is an async pair in `startup_steps` below; a step exists only once its module has landed
 * (add yours at its place in the table, keeping this order). A step fails with a GError: an
 * ECSA_EXIT_CODE_ERROR carries the exit code, anything else means ECSA_EXIT_ERROR (restart).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-build-config.h"
#include "ecsa-agent.h"
#include "ecsa-audit-log.h"
#include "ecsa-credentials-manager.h"
#include "ecsa-control-plane.h"
#include "ecsa-credentials-server.h"
#include "ecsa-introspection-server.h"

#include "ecsa-docker-client.h"
#include "ecsa-ecs-client.h"
#include "ecsa-eni-attachments.h"
#include "ecsa-image-cleanup.h"
#include "ecsa-imds.h"
#include "ecsa-log.h"
#include "ecsa-plugin-loader.h"
#include "ecsa-proxy.h"
#include "ecsa-state-store.h"
#include "ecsa-task-engine.h"
#include "ecsa-task-network.h"
#include "ecsa-task-view.h"
#include "ecsa-utils.h"

#include <libsoup/soup.h>

typedef void (*StepStartFunc)(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);
typedef gboolean (*StepFinishFunc)(EcsaAgent *self, GAsyncResult *result, GError **error);

typedef struct
{
  const char *name;
  StepStartFunc start;
  StepFinishFunc finish;
} AgentStep;

struct _EcsaAgent
{
  GObject parent_instance;

  EcsaConfig *config;
  GCancellable *cancellable; /* root: SIGTERM cancels it */
  GMainContext *context;

  GTask *run_task; /* completes with the exit code */
  guint next_step; /* index into startup_steps */
  gboolean step_in_flight;
  gboolean running; /* every start-up step succeeded */
  gboolean stopping;
  gboolean shutdown_steps_started;
  gboolean done;
  int exit_code;
  GHashTable *holds; /* part name -> count */
  GSource *shutdown_timeout;
  guint shutdown_timeout_ms;
  GSource *idle;
  guint next_shutdown_step;

  /* The parts, in start-up order. Each module adds its field here and creates it in its step. */
  SoupSession *http_session;               /* shared HTTPS session for AWS calls (plugins: ECR) */
  EcsaPluginHostServices *plugin_services; /* created with the agent: backends may be set any time */
  EcsaPluginRegistry *plugins;             /* filled by the "plugins" step */
  EcsaCredentialsManager *credentials;     /* task IAM role credentials, in memory (ACS fills, engine expects) */
  EcsaTaskViewSource task_views;           /* the engine's tasks, as the HTTP servers read them */
  EcsaIntrospectionServer *introspection;  /* :51678, "servers" step */
  EcsaAuditLog *audit_log;                 /* ECS_AUDIT_LOGFILE, with the credentials endpoint */
  EcsaCredentialsServer *credentials_server; /* :51679 when ECS_ENABLE_TASK_IAM_ROLE, "servers" step */
  EcsaDockerClient *docker;                /* "docker" step */
  EcsaStateStore *store;                   /* "checkpoint" step */
  EcsaTaskEngine *engine;                  /* "checkpoint" step; started by the "engine" step */
  EcsaTaskNetwork *task_network;           /* "task-eni" step, with ECS_ENABLE_TASK_ENI */
  EcsaEniAttachments *eni_attachments;     /* "task-eni" step, when task ENIs are usable */
  EcsaImageCleanup *image_cleanup;         /* "image-cleanup" step */
  EcsaControlPlane *control_plane;         /* IMDS, credential chain, ECS client, reporter, ACS, TCS */
  gulong control_plane_stop_handler;
};

G_DEFINE_FINAL_TYPE(EcsaAgent, ecsa_agent, G_TYPE_OBJECT)

static void run_next_step(EcsaAgent *self);
static void maybe_finish_shutdown(EcsaAgent *self);

/* ---------------------------------------------------------------------------------------------
 * Start-up steps
 * ------------------------------------------------------------------------------------------- */

/* 1. region: v1.16.2 takes AWS_DEFAULT_REGION, else the config file's AWSRegion, else the instance
 * identity document from instance metadata; without one it exits 1 ("Missing required fields:
 * AWSRegion"). */
static void
region_resolved_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_control_plane_resolve_region_finish(ECSA_CONTROL_PLANE(source), result, &error))
    g_task_return_error(task, g_steal_pointer(&error));
  else
    g_task_return_boolean(task, TRUE);
}

static void
step_region_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

  g_task_set_source_tag(task, step_region_async);
  /* AWS_DEFAULT_REGION (or the config file), else the instance identity document (control plane) */
  ecsa_control_plane_resolve_region_async(self->control_plane, cancellable, region_resolved_cb, g_steal_pointer(&task));
}

static gboolean
step_region_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* 3. plugins: the built-in table, then the plugin directory (ECSA_PLUGIN_DIR or the installed
 * one). One line per plugin; a refused plugin never stops the agent. */
static void
step_plugins_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
  g_autoptr(EcsaPluginLoader) loader = ecsa_plugin_loader_new(self->plugins, self->plugin_services);

  g_task_set_source_tag(task, step_plugins_async);
  ecsa_plugin_loader_load_all(loader, self->config->plugin_dir);
  g_task_return_boolean(task, TRUE);
}

static gboolean
step_plugins_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* 2. docker: the Engine API client; the API version is negotiated now, so a Docker that does not
 * answer stops the start-up (v1.16.2: exit 1, Docker may come up later). */
static void
docker_negotiated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_docker_client_negotiate_finish(ECSA_DOCKER_CLIENT(source), result, &error))
    {
      g_task_return_new_error(task, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_ERROR, "Error creating Docker client: %s",
                              error->message);
      return;
    }
  g_task_return_boolean(task, TRUE);
}

static void
step_docker_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;

  g_task_set_source_tag(task, step_docker_async);
  self->docker = ecsa_docker_client_new(self->config->docker_endpoint, &error);
  if (self->docker == NULL)
    {
      g_task_return_new_error(task, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_ERROR, "Error creating Docker client: %s",
                              error->message);
      return;
    }
  ecsa_plugin_host_services_use_docker_client(self->plugin_services, self->docker);
  ecsa_docker_client_negotiate_async(self->docker, cancellable, docker_negotiated_cb, g_steal_pointer(&task));
  /* what the registration needs from Docker, IMDS and the credential chain comes in beside the
   * version negotiation and while the plugins, the checkpoint and the cgroups are set up */
  ecsa_control_plane_prefetch(self->control_plane, self->docker, cancellable);
}

static gboolean
step_docker_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* Task views for plugins (EcsaPluginHost.task_view_lookup). */
static EcsaTaskView *
agent_task_view_lookup(gpointer backend, const char *task_arn)
{
  return ecsa_task_engine_get_task_view(backend, task_arn);
}

static EcsaTaskView *
agent_task_view_lookup_by_docker_id(gpointer backend, const char *docker_id)
{
  return ecsa_task_engine_get_task_view_by_docker_id(backend, docker_id);
}

static void
agent_task_view_free(gpointer backend, EcsaTaskView *view)
{
  ecsa_task_view_free(view);
}

static void
engine_task_removed_cb(EcsaTaskEngine *engine, const char *task_arn, gpointer user_data)
{
  ecsa_credentials_manager_remove_task(ECSA_CREDENTIALS_MANAGER(user_data), task_arn);
}

/* v1.16.2's deleteTask: a forgotten task's ENI attachment is no longer tracked */
static void
engine_task_removed_eni_cb(EcsaTaskEngine *engine, const char *task_arn, gpointer user_data)
{
  EcsaAgent *self = user_data;

  if (self->eni_attachments != NULL)
    ecsa_eni_attachments_forget_task(self->eni_attachments, task_arn);
}

/* v1.16.2's state.Reset() (the checkpoint was another EC2 instance's): its ENI attachments go too */
static void
engine_reset_eni_cb(EcsaTaskEngine *engine, gpointer user_data)
{
  EcsaAgent *self = user_data;

  if (self->eni_attachments != NULL)
    ecsa_eni_attachments_forget_all(self->eni_attachments);
}

/* A task known STOPPED has no process left that may use its role: its task role credentials go
 * at once, as v1.16.2's (task_manager.go, cleanupCredentials), not hours later with the task. The
 * execution role's stay until the task is removed, as there. */
static void
engine_state_change_cb(EcsaTaskEngine *engine, const EcsaStateChange *change, gpointer user_data)
{
  EcsaTaskView *view;

  if (change->kind != ECSA_STATE_CHANGE_TASK || g_strcmp0(change->status, "STOPPED") != 0)
    return;
  view = ecsa_task_engine_get_task_view(engine, change->task_arn);
  if (view != NULL && *view->credentials_id != '\0')
    ecsa_credentials_manager_remove(ECSA_CREDENTIALS_MANAGER(user_data), view->credentials_id);
  g_clear_pointer(&view, ecsa_task_view_free);
}

/* 4. checkpoint: load the state file and restore the engine's tasks. v1.16.2 exits terminally on a
 * state file it cannot read; this agent keeps the file aside, says so, and recovers the tasks from
 * their Docker labels when the engine starts. (The "agent" section, with the container instance
 * and the cluster check, belongs to the ECS client.) */
static void
step_checkpoint_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  static const EcsaPluginTaskViewBackend views = { agent_task_view_lookup, agent_task_view_lookup_by_docker_id,
                                                   agent_task_view_free };
  g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;

  g_task_set_source_tag(task, step_checkpoint_async);
  self->store = ecsa_state_store_new(self->config->data_dir, self->config->checkpoint);
  if (!ecsa_state_store_load(self->store, &error))
    {
      if (!g_error_matches(error, ECSA_ERROR, ECSA_ERROR_INVALID_DATA)
          && !g_error_matches(error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED))
        {
          g_task_return_new_error(task, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_TERMINAL, "%s", error->message);
          return;
        }
      ecsa_log_crit("%s", error->message);
    }
  if (!self->config->checkpoint)
    ecsa_log_info("Checkpointing not enabled; a new container instance will be created each time the agent is run");
  self->engine = ecsa_task_engine_new(self->config, self->docker, self->store);
  ecsa_task_engine_set_plugin_registry(self->engine, self->plugins);
  ecsa_task_engine_set_credentials_manager(self->engine, self->credentials);
  /* later agents' ECS_IMAGE_PULL_BEHAVIOR (unset: v1.16.2's, always pull) */
  {
    const char *pull = g_getenv("ECS_IMAGE_PULL_BEHAVIOR");
    EcsaImagePullBehavior behavior = ECSA_IMAGE_PULL_DEFAULT;
    if (pull != NULL && *pull != '\0' && !ecsa_image_pull_behavior_from_string(pull, &behavior))
      ecsa_log_warn("ECS_IMAGE_PULL_BEHAVIOR '%s' is not one of default, always, once, prefer-cached: using default",
                    pull);
    ecsa_task_engine_set_image_pull_behavior(self->engine, behavior);
  }
  ecsa_task_engine_restore(self->engine);
  ecsa_plugin_host_services_set_task_view_backend(self->plugin_services, &views, self->engine);
  /* restored tasks own credentials whose secrets ACS sends again: until then the endpoint says 503
   * (not for a task already STOPPED: ACS sends nothing for it, its IDs are unknown) */
  {
    g_autoptr(GPtrArray) restored = ecsa_task_engine_list_task_views(self->engine);
    for (guint i = 0; i < restored->len; i++)
      {
        EcsaTaskView *v = restored->pdata[i];
        if (g_strcmp0(v->known_status, "STOPPED") == 0)
          continue;
        if (*v->credentials_id != '\0')
          ecsa_credentials_manager_expect(self->credentials, v->credentials_id, v->arn);
        if (*v->execution_credentials_id != '\0')
          ecsa_credentials_manager_expect(self->credentials, v->execution_credentials_id, v->arn);
      }
  }
  g_signal_connect_object(self->engine, "task-removed", G_CALLBACK(engine_task_removed_cb), self->credentials, 0);
  g_signal_connect_object(self->engine, "state-change", G_CALLBACK(engine_state_change_cb), self->credentials, 0);
  g_task_return_boolean(task, TRUE);
}

static gboolean
step_checkpoint_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* 5. cgroups: '/ecs' when ECS_ENABLE_TASK_CPU_MEM_LIMIT allows it (terminal when explicitly
 * enabled and impossible, as v1.16.2). */
static void
cgroups_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_task_engine_init_cgroups_finish(ECSA_TASK_ENGINE(source), result, &error))
    {
      g_task_return_new_error(task, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_TERMINAL, "Unable to setup '/ecs' cgroup: %s",
                              error->message);
      return;
    }
  g_task_return_boolean(task, TRUE);
}

static void
step_cgroups_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, cancellable, callback, user_data);

  g_task_set_source_tag(task, step_cgroups_async);
  ecsa_task_engine_init_cgroups_async(self->engine, cancellable, cgroups_ready_cb, task);
}

static gboolean
step_cgroups_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* 6. task-eni: with ECS_ENABLE_TASK_ENI, v1.16.2's initializeTaskENIDependencies
 * (core/ecsa-task-network.h): init system, VPC and subnet from instance metadata, the awsvpc
 * plugin's check, the pause image; then the ENI attachments are followed. Outside a VPC task ENIs
 * turn off and the agent goes on; any other failure ends the start-up (exit 5 or 1). */
static void
task_eni_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EcsaAgent *self = g_task_get_source_object(task);
  g_autoptr(GError) error = NULL;

  if (!ecsa_task_network_prepare_finish(self->task_network, result, &error))
    {
      if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        ecsa_log_crit("%s", error->message);
      g_task_return_error(task, g_steal_pointer(&error));
      return;
    }
  if (ecsa_task_network_is_enabled(self->task_network))
    {
      if (self->engine != NULL)
        ecsa_task_engine_set_task_network(self->engine, self->task_network);
      self->eni_attachments = ecsa_eni_attachments_new(self->config->checkpoint ? self->store : NULL);
      if (!ecsa_eni_attachments_start(self->eni_attachments, &error))
        ecsa_log_warn("ENI attachments will not be reported: %s", error->message);
      if (self->engine != NULL)
        {
          g_signal_connect_object(self->engine, "task-removed", G_CALLBACK(engine_task_removed_eni_cb), self, 0);
          g_signal_connect_object(self->engine, "reset", G_CALLBACK(engine_reset_eni_cb), self, 0);
        }
    }
  g_task_return_boolean(task, TRUE);
}

static void
step_task_eni_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
  g_autoptr(EcsaImds) imds = NULL;

  g_task_set_source_tag(task, step_task_eni_async);
  if (!self->config->task_eni_enabled)
    {
      g_task_return_boolean(task, TRUE);
      return;
    }
  self->task_network = ecsa_task_network_new(self->config, self->docker, self->plugins, NULL);
  /* -blackhole-ec2-metadata: no VPC and subnet attributes */
  if (!self->config->blackhole_ec2_metadata)
    imds = ecsa_imds_new();
  ecsa_task_network_prepare_async(self->task_network, imds, cancellable, task_eni_ready_cb, g_steal_pointer(&task));
}

static gboolean
step_task_eni_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* 8. engine: follow Docker's events and reconcile the restored tasks with Docker. */
static void
engine_started_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_task_engine_start_finish(ECSA_TASK_ENGINE(source), result, &error))
    g_task_return_error(task, g_steal_pointer(&error));
  else
    g_task_return_boolean(task, TRUE);
}

static void
step_engine_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, cancellable, callback, user_data);

  g_task_set_source_tag(task, step_engine_async);
  ecsa_task_engine_start_async(self->engine, cancellable, engine_started_cb, task);
}

static gboolean
step_engine_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* 9. image cleanup (with the servers): every ECS_IMAGE_CLEANUP_INTERVAL the image-cleanup plugin
 * chooses among the images the engine pulled (core/ecsa-image-cleanup.h). */
static GPtrArray *
image_source_list(gpointer engine)
{
  return ecsa_task_engine_list_images(engine);
}

static gboolean
image_source_owns(gpointer engine, const char *docker_id)
{
  return ecsa_task_engine_owns_container(engine, docker_id);
}

static void
image_source_forget(gpointer engine, const char *image_id)
{
  ecsa_task_engine_forget_image(engine, image_id);
}

static void
step_image_cleanup_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  static const EcsaImageCleanupSource source = { image_source_list, image_source_owns, image_source_forget };
  g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
  g_autoptr(GPtrArray) policies = ecsa_plugin_registry_list(self->plugins, ECSA_PLUGIN_KIND_IMAGE_CLEANUP);

  g_task_set_source_tag(task, step_image_cleanup_async);
  if (policies->len == 0)
    ecsa_log_info("No image-cleanup plugin is loaded: images are never removed");
  else
    {
      self->image_cleanup = ecsa_image_cleanup_new(self->config, self->docker, self->plugins, &source, self->engine);
      ecsa_image_cleanup_start(self->image_cleanup);
    }
  g_task_return_boolean(task, TRUE);
}

static gboolean
step_image_cleanup_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* Shutdown: the engine's final checkpoint (v1.16.2's FinalSave). */
static void
engine_shut_down_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_task_engine_shutdown_finish(ECSA_TASK_ENGINE(source), result, &error))
    g_task_return_error(task, g_steal_pointer(&error));
  else
    g_task_return_boolean(task, TRUE);
}

static void
shutdown_engine_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, cancellable, callback, user_data);

  g_task_set_source_tag(task, shutdown_engine_async);
  if (self->engine == NULL)
    {
      g_task_return_boolean(task, TRUE);
      g_object_unref(task);
      return;
    }
  ecsa_task_engine_shutdown_async(self->engine, engine_shut_down_cb, task);
}

static gboolean
shutdown_engine_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* 9. servers: the introspection API (:51678) and, with ECS_ENABLE_TASK_IAM_ROLE, the credentials
 * endpoint (:51679) with its audit log (docs/IAM.md). As in v1.16.2 a taken port never stops the
 * agent: each server keeps trying in the background. Tests start agents side by side:
 * ECSA_TEST_INTROSPECTION_PORT and ECSA_TEST_CREDENTIALS_PORT move the ports (for tests only; the
 * test environment sets 0, a free port). */
static guint16
server_port(const char *test_variable, guint16 port)
{
  const char *value = g_getenv(test_variable);
  guint64 parsed;

  if (value != NULL && g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT16, &parsed, NULL))
    return (guint16)parsed;
  return port;
}

static GPtrArray *
servers_list_views(gpointer engine)
{
  return engine != NULL ? ecsa_task_engine_list_task_views(engine)
                        : g_ptr_array_new_with_free_func((GDestroyNotify)ecsa_task_view_free);
}

static EcsaTaskView *
servers_lookup_view(gpointer engine, const char *task_arn)
{
  return engine != NULL ? ecsa_task_engine_get_task_view(engine, task_arn) : NULL;
}

static EcsaTaskView *
servers_lookup_view_by_docker_id(gpointer engine, const char *docker_id)
{
  return engine != NULL ? ecsa_task_engine_get_task_view_by_docker_id(engine, docker_id) : NULL;
}

static void
step_servers_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
  EcsaConfig *c = self->config;
  const char *cluster;
  const char *arn;

  g_task_set_source_tag(task, step_servers_async);
  self->task_views = (EcsaTaskViewSource){ .list = servers_list_views,
                                           .lookup = servers_lookup_view,
                                           .lookup_by_docker_id = servers_lookup_view_by_docker_id,
                                           .free_view = ecsa_task_view_free,
                                           .user_data = self->engine };
  /* The register step ran: the cluster (the restored one, or "default") and the container instance
   * ARN are known; /v1/metadata and the audit log report them. */
  cluster = ecsa_ecs_client_get_cluster(ecsa_control_plane_get_ecs_client(self->control_plane));
  if (cluster == NULL || *cluster == '\0')
    cluster = c->cluster;
  arn = ecsa_control_plane_get_container_instance_arn(self->control_plane);
  self->introspection = ecsa_introspection_server_new(&self->task_views, cluster, NULL);
  if (arn != NULL)
    ecsa_introspection_server_set_container_instance_arn(self->introspection, arn);
  ecsa_introspection_server_start(self->introspection,
                                  server_port("ECSA_TEST_INTROSPECTION_PORT", ECSA_INTROSPECTION_PORT));
  if (c->task_iam_role_enabled)
    {
      self->audit_log = ecsa_audit_log_new(c->credentials_audit_log_file, c->credentials_audit_log_disabled, cluster);
      if (arn != NULL)
        ecsa_audit_log_set_container_instance_arn(self->audit_log, arn);
      self->credentials_server = ecsa_credentials_server_new(self->credentials, self->audit_log, &self->task_views,
                                                             c->task_iam_role_enabled_for_network_host);
      ecsa_credentials_server_start(self->credentials_server,
                                    server_port("ECSA_TEST_CREDENTIALS_PORT", ECSA_CREDENTIALS_PORT));
    }
  g_task_return_boolean(task, TRUE);
}

static gboolean
step_servers_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* 7. register: the "agent" checkpoint section, capabilities, RegisterContainerInstance (or the
 * restored instance again), the state reporter on the engine's changes (control plane). */
static void
registered_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  EcsaAgent *self = g_task_get_source_object(task);
  GTlsDatabase *trust;

  if (!ecsa_control_plane_register_finish(ECSA_CONTROL_PLANE(source), result, &error))
    {
      g_task_return_error(task, g_steal_pointer(&error));
      return;
    }
  /* The shared HTTPS session (plugins: ECR) trusts what the ECS client trusts: SSL_CERT_FILE and
   * SSL_CERT_DIR as Go's crypto/x509 reads them (v1.16.2's ECR client used the same defaults). The
   * ECS client loaded them for the registration. */
  trust = ecsa_ecs_client_get_tls_database(ecsa_control_plane_get_ecs_client(self->control_plane));
  if (trust != NULL)
    g_object_set(self->http_session, "tls-database", trust, NULL);
  g_task_return_boolean(task, TRUE);
}

static void
step_register_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, cancellable, callback, user_data);

  g_task_set_source_tag(task, step_register_async);
  ecsa_control_plane_set_task_network(self->control_plane, self->task_network, self->eni_attachments);
  ecsa_control_plane_register_async(self->control_plane, self->store, self->engine, self->docker, self->plugins,
                                    cancellable, registered_cb, task);
}

static gboolean
step_register_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* 10. sessions: TCS and ACS, until the root cancellable fires. */
static void
control_plane_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
  EcsaAgent *self = user_data;

  ecsa_control_plane_stop(self->control_plane);
  ecsa_agent_release(self, "control-plane");
}

static void
step_sessions_async(EcsaAgent *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

  g_task_set_source_tag(task, step_sessions_async);
  ecsa_control_plane_start_sessions(self->control_plane, self->credentials);
  ecsa_agent_hold(self, "control-plane");
  self->control_plane_stop_handler =
    g_cancellable_connect(self->cancellable, G_CALLBACK(control_plane_cancelled_cb), self, NULL);
  g_task_return_boolean(task, TRUE);
}

static gboolean
step_sessions_finish(EcsaAgent *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

static const AgentStep startup_steps[] = {
  { "region", step_region_async, step_region_finish },
  { "docker", step_docker_async, step_docker_finish },
  { "plugins", step_plugins_async, step_plugins_finish },
  { "checkpoint", step_checkpoint_async, step_checkpoint_finish },
  { "cgroups", step_cgroups_async, step_cgroups_finish },
  { "task-eni", step_task_eni_async, step_task_eni_finish },
  { "register", step_register_async, step_register_finish },
  { "engine", step_engine_async, step_engine_finish },
  { "image-cleanup", step_image_cleanup_async, step_image_cleanup_finish },
  { "servers", step_servers_async, step_servers_finish },
  { "sessions", step_sessions_async, step_sessions_finish },
};

/* Run after every part released its hold, before exiting: the engine's last state and the final
 * checkpoint save (v1.16.2 FinalSave). Same shape as start-up steps; each is bounded by the
 * shutdown deadline. */
static const AgentStep shutdown_steps[] = {
  { "engine", shutdown_engine_async, shutdown_engine_finish },
  { NULL, NULL, NULL }, /* placeholder terminator; real steps go before it */
};

/* ---------------------------------------------------------------------------------------------
 * Running the steps
 * ------------------------------------------------------------------------------------------- */
static void
complete_run(EcsaAgent *self)
{
  g_autoptr(GTask) task = NULL;

  if (self->done)
    return;
  self->done = TRUE;
  if (self->shutdown_timeout != NULL)
    {
      g_source_destroy(self->shutdown_timeout);
      g_clear_pointer(&self->shutdown_timeout, g_source_unref);
    }
  self->running = FALSE;
  ecsa_log_info("ecs-agent stopped (exit code %d)", self->exit_code);
  task = g_steal_pointer(&self->run_task);
  if (task != NULL)
    g_task_return_int(task, self->exit_code);
}

static void
step_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcsaAgent *self = ECSA_AGENT(source);
  const AgentStep *step = &startup_steps[self->next_step];
  g_autoptr(GError) error = NULL;

  self->step_in_flight = FALSE;
  if (!step->finish(self, result, &error))
    {
      if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *reason = g_strdup_printf("start-up step '%s' failed", step->name);
          ecsa_log_crit("%s: %s", reason, error->message);
          ecsa_agent_stop(self, ecsa_exit_code_for_error(error), reason);
        }
      maybe_finish_shutdown(self);
      g_object_unref(self);
      return;
    }
  ecsa_log_debug("start-up step '%s' done", step->name);
  self->next_step++;
  run_next_step(self);
  g_object_unref(self);
}

static void
run_next_step(EcsaAgent *self)
{
  const AgentStep *step;

  if (self->stopping)
    {
      maybe_finish_shutdown(self);
      return;
    }
  if (self->next_step >= G_N_ELEMENTS(startup_steps))
    {
      self->running = TRUE;
      ecsa_log_info("ecs-agent %s (Amazon ECS Agent v%s compatible) started: cluster '%s', region '%s'",
                    PACKAGE_VERSION, ECSA_COMPAT_VERSION, self->config->cluster, self->config->aws_region);
      return;
    }
  step = &startup_steps[self->next_step];
  ecsa_log_debug("start-up step '%s'", step->name);
  self->step_in_flight = TRUE;
  step->start(self, self->cancellable, step_ready_cb, g_object_ref(self));
}

static void shutdown_step_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data);

static void
run_next_shutdown_step(EcsaAgent *self)
{
  const AgentStep *step = &shutdown_steps[self->next_shutdown_step];

  if (self->done)
    return;
  if (step->name == NULL)
    {
      complete_run(self);
      return;
    }
  ecsa_log_debug("shutdown step '%s'", step->name);
  /* The root cancellable is cancelled by now: shutdown steps get none, the deadline bounds them. */
  step->start(self, NULL, shutdown_step_ready_cb, g_object_ref(self));
}

static void
shutdown_step_ready_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
  EcsaAgent *self = ECSA_AGENT(source);
  const AgentStep *step = &shutdown_steps[self->next_shutdown_step];
  g_autoptr(GError) error = NULL;

  if (!step->finish(self, result, &error))
    {
      ecsa_log_crit("shutdown step '%s' failed: %s", step->name, error->message);
      /* v1.16.2: an error saving state before final shutdown is terminal */
      self->exit_code = ECSA_EXIT_TERMINAL;
    }
  self->next_shutdown_step++;
  run_next_shutdown_step(self);
  g_object_unref(self);
}

static gboolean
shutdown_idle_cb(gpointer user_data)
{
  EcsaAgent *self = user_data;

  g_clear_pointer(&self->idle, g_source_unref);
  maybe_finish_shutdown(self);
  return G_SOURCE_REMOVE;
}

static void
schedule_shutdown_check(EcsaAgent *self)
{
  if (self->idle != NULL || self->done)
    return;
  self->idle = g_idle_source_new();
  g_source_set_callback(self->idle, shutdown_idle_cb, self, NULL);
  g_source_attach(self->idle, self->context);
}

/* Once stopping: wait for the step in flight and every hold, then the shutdown steps. */
static void
maybe_finish_shutdown(EcsaAgent *self)
{
  if (!self->stopping || self->done || self->step_in_flight || self->run_task == NULL)
    return;
  if (g_hash_table_size(self->holds) > 0)
    return;
  if (self->shutdown_steps_started)
    return;
  self->shutdown_steps_started = TRUE;
  run_next_shutdown_step(self);
}

static gboolean
shutdown_timeout_cb(gpointer user_data)
{
  EcsaAgent *self = user_data;
  g_autoptr(GString) pending = g_string_new(NULL);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init(&iter, self->holds);
  while (g_hash_table_iter_next(&iter, &key, NULL))
    g_string_append_printf(pending, "%s'%s'", pending->len > 0 ? ", " : "", (const char *)key);
  if (self->step_in_flight)
    g_string_append_printf(pending, "%sstart-up step '%s'", pending->len > 0 ? ", " : "",
                           startup_steps[self->next_step].name);
  if (self->shutdown_steps_started && shutdown_steps[self->next_shutdown_step].name != NULL)
    g_string_append_printf(pending, "%sshutdown step '%s'", pending->len > 0 ? ", " : "",
                           shutdown_steps[self->next_shutdown_step].name);
  ecsa_log_crit("shutdown timed out after %u ms waiting for %s", self->shutdown_timeout_ms, pending->str);
  self->exit_code = ECSA_EXIT_TERMINAL;
  g_clear_pointer(&self->shutdown_timeout, g_source_unref);
  complete_run(self);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------------------- */
void
ecsa_agent_stop(EcsaAgent *self, int exit_code, const char *reason)
{
  g_return_if_fail(ECSA_IS_AGENT(self));

  if (self->stopping)
    {
      ecsa_log_info("already shutting down, ignoring: %s", reason != NULL ? reason : "stop request");
      return;
    }
  self->stopping = TRUE;
  self->exit_code = exit_code;
  ecsa_log_info("shutting down (%s), exit code %d", reason != NULL ? reason : "stop request", exit_code);
  self->shutdown_timeout = g_timeout_source_new(self->shutdown_timeout_ms);
  g_source_set_callback(self->shutdown_timeout, shutdown_timeout_cb, self, NULL);
  g_source_attach(self->shutdown_timeout, self->context);
  g_cancellable_cancel(self->cancellable);
  schedule_shutdown_check(self);
}

void
ecsa_agent_set_shutdown_timeout(EcsaAgent *self, guint timeout_ms)
{
  g_return_if_fail(ECSA_IS_AGENT(self));
  g_return_if_fail(!self->stopping);
  self->shutdown_timeout_ms = timeout_ms;
}

void
ecsa_agent_hold(EcsaAgent *self, const char *part)
{
  guint count;

  g_return_if_fail(ECSA_IS_AGENT(self) && part != NULL);
  count = GPOINTER_TO_UINT(g_hash_table_lookup(self->holds, part));
  g_hash_table_replace(self->holds, g_strdup(part), GUINT_TO_POINTER(count + 1));
}

void
ecsa_agent_release(EcsaAgent *self, const char *part)
{
  guint count;

  g_return_if_fail(ECSA_IS_AGENT(self) && part != NULL);
  count = GPOINTER_TO_UINT(g_hash_table_lookup(self->holds, part));
  g_return_if_fail(count > 0);
  if (count == 1)
    g_hash_table_remove(self->holds, part);
  else
    g_hash_table_replace(self->holds, g_strdup(part), GUINT_TO_POINTER(count - 1));
  if (self->stopping)
    schedule_shutdown_check(self);
}

void
ecsa_agent_run_async(EcsaAgent *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(ECSA_IS_AGENT(self));
  g_return_if_fail(self->run_task == NULL && !self->done);

  self->run_task = g_task_new(self, NULL, callback, user_data);
  g_task_set_source_tag(self->run_task, ecsa_agent_run_async);
  g_task_set_name(self->run_task, "ecsa-agent-run");
  run_next_step(self);
}

int
ecsa_agent_run_finish(EcsaAgent *self, GAsyncResult *result)
{
  g_autoptr(GError) error = NULL;
  gssize code;

  g_return_val_if_fail(g_task_is_valid(result, self), ECSA_EXIT_ERROR);
  g_return_val_if_fail(g_async_result_is_tagged(result, ecsa_agent_run_async), ECSA_EXIT_ERROR);
  code = g_task_propagate_int(G_TASK(result), &error);
  return error != NULL ? ECSA_EXIT_ERROR : (int)code;
}

EcsaConfig *
ecsa_agent_get_config(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->config;
}

GCancellable *
ecsa_agent_get_cancellable(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->cancellable;
}

EcsaPluginRegistry *
ecsa_agent_get_plugin_registry(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->plugins;
}

EcsaDockerClient *
ecsa_agent_get_docker_client(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->docker;
}

EcsaStateStore *
ecsa_agent_get_state_store(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->store;
}

EcsaTaskEngine *
ecsa_agent_get_task_engine(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->engine;
}

SoupSession *
ecsa_agent_get_http_session(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->http_session;
}

EcsaTaskNetwork *
ecsa_agent_get_task_network(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->task_network;
}

EcsaEniAttachments *
ecsa_agent_get_eni_attachments(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->eni_attachments;
}

EcsaCredentialsManager *
ecsa_agent_get_credentials_manager(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->credentials;
}

EcsaPluginHostServices *
ecsa_agent_get_plugin_host_services(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->plugin_services;
}

GMainContext *
ecsa_agent_get_main_context(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), NULL);
  return self->context;
}

gboolean
ecsa_agent_is_running(EcsaAgent *self)
{
  g_return_val_if_fail(ECSA_IS_AGENT(self), FALSE);
  return self->running && !self->stopping;
}

EcsaAgent *
ecsa_agent_new(EcsaConfig *config)
{
  EcsaAgent *self;

  g_return_val_if_fail(config != NULL, NULL);
  self = g_object_new(ECSA_TYPE_AGENT, NULL);
  self->config = config;
  {
    g_autoptr(GProxyResolver) proxy = ecsa_proxy_resolver_get_for_connections(config->docker_endpoint);

    /* lent to plugins (ECR, log drivers): the agent's proxy (ecsa-proxy.h), or none at all */
    self->http_session
      = soup_session_new_with_options("user-agent", "Amazon ECS Agent - v" ECSA_COMPAT_VERSION " (ecs-agent " PACKAGE_VERSION ")",
                                      "timeout", 60, "proxy-resolver", proxy, NULL);
  }
  self->plugin_services = ecsa_plugin_host_services_new(config, self->context, self->http_session);
  self->plugins = ecsa_plugin_registry_new();
  self->credentials = ecsa_credentials_manager_new();
  self->control_plane = ecsa_control_plane_new(config, self->plugin_services);
  return self;
}

static void
ecsa_agent_dispose(GObject *object)
{
  EcsaAgent *self = ECSA_AGENT(object);

  /* parts are released here in reverse start-up order */
  if (self->control_plane_stop_handler != 0)
    g_cancellable_disconnect(self->cancellable, self->control_plane_stop_handler);
  self->control_plane_stop_handler = 0;
  g_clear_object(&self->control_plane);
  if (self->credentials_server != NULL)
    ecsa_credentials_server_stop(self->credentials_server);
  g_clear_object(&self->credentials_server);
  g_clear_object(&self->audit_log); /* writes what is queued */
  if (self->introspection != NULL)
    ecsa_introspection_server_stop(self->introspection);
  g_clear_object(&self->introspection);
  if (self->plugin_services != NULL)
    ecsa_plugin_host_services_set_task_view_backend(self->plugin_services, NULL, NULL);
  g_clear_pointer(&self->image_cleanup, ecsa_image_cleanup_free);
  g_clear_pointer(&self->eni_attachments, ecsa_eni_attachments_free);
  if (self->engine != NULL)
    ecsa_task_engine_set_task_network(self->engine, NULL);
  g_clear_pointer(&self->task_network, ecsa_task_network_free);
  g_clear_object(&self->engine);
  g_clear_object(&self->store);
  g_clear_object(&self->docker);
  g_clear_object(&self->credentials); /* wipes every secret */
  g_clear_pointer(&self->plugins, ecsa_plugin_registry_free); /* plugins' shutdown() */
  g_clear_pointer(&self->plugin_services, ecsa_plugin_host_services_free);
  g_clear_object(&self->http_session);
  if (self->shutdown_timeout != NULL)
    {
      g_source_destroy(self->shutdown_timeout);
      g_clear_pointer(&self->shutdown_timeout, g_source_unref);
    }
  if (self->idle != NULL)
    {
      g_source_destroy(self->idle);
      g_clear_pointer(&self->idle, g_source_unref);
    }
  G_OBJECT_CLASS(ecsa_agent_parent_class)->dispose(object);
}

static void
ecsa_agent_finalize(GObject *object)
{
  EcsaAgent *self = ECSA_AGENT(object);

  g_clear_object(&self->run_task);
  g_clear_object(&self->cancellable);
  g_clear_pointer(&self->holds, g_hash_table_unref);
  g_clear_pointer(&self->config, ecsa_config_free);
  g_clear_pointer(&self->context, g_main_context_unref);
  G_OBJECT_CLASS(ecsa_agent_parent_class)->finalize(object);
}

static void
ecsa_agent_init(EcsaAgent *self)
{
  self->cancellable = g_cancellable_new();
  self->context = g_main_context_ref_thread_default();
  self->holds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  self->exit_code = ECSA_EXIT_SUCCESS;
  self->shutdown_timeout_ms = ECSA_AGENT_SHUTDOWN_TIMEOUT_MS;
}

static void
ecsa_agent_class_init(EcsaAgentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->dispose = ecsa_agent_dispose;
  object_class->finalize = ecsa_agent_finalize;
}

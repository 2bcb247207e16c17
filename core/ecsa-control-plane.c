/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-control-plane.h"

#include "ecsa-capabilities.h"
#include "ecsa-eni-attachments.h"
#include "ecsa-task-network.h"
#include "ecsa-exit-codes.h"
#include "ecsa-imds.h"
#include "ecsa-log.h"
#include "ecsa-task-view.h"
#include "ecsa-utils.h"

struct _EcsaControlPlane
{
  GObject parent_instance;

  EcsaConfig *config;
  EcsaPluginHostServices *services;
  EcsaImds *imds;
  EcsaAwsCredentialsProvider *aws_credentials;
  EcsaEcsClient *ecs_client;
  EcsaStateReporter *reporter;
  EcsaAcsSession *acs;
  EcsaTcsSession *tcs;

  /* borrowed from the agent (step 7) */
  EcsaStateStore *store;
  EcsaTaskEngine *engine;
  EcsaPluginRegistry *plugins;
  EcsaCredentialsManager *credentials;
  EcsaTaskNetwork *task_network;
  EcsaEniAttachments *eni_attachments;
  gulong state_change_handler;
  gulong inactive_handler;
  gboolean stopped;

  /* ecsa_control_plane_prefetch: Docker's GET /info */
  gboolean info_requested;
  gboolean info_done;
  char **info_log_drivers; /* NULL when /info failed */
  GTask *info_waiter;      /* the registration, when it came first (a reference of its own) */
};

G_DEFINE_FINAL_TYPE (EcsaControlPlane, ecsa_control_plane, G_TYPE_OBJECT)

/* ---- the plugins' aws_credentials service -------------------------------------------------- */

static void
creds_backend_get_async (gpointer backend, GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
  ecsa_aws_credentials_provider_get_async (backend, cancellable, callback, user_data);
}

static EcsaAwsCredentials *
creds_backend_get_finish (gpointer backend, GAsyncResult *result, GError **error)
{
  return ecsa_aws_credentials_provider_get_finish (backend, result, error);
}

static void
creds_backend_free (gpointer backend, EcsaAwsCredentials *credentials)
{
  ecsa_aws_credentials_free (credentials);
}

static const EcsaPluginAwsCredentialsBackend creds_backend = { creds_backend_get_async, creds_backend_get_finish,
                                                               creds_backend_free };

/* ---- object -------------------------------------------------------------------------------- */

static void
ecsa_control_plane_dispose (GObject *object)
{
  EcsaControlPlane *self = ECSA_CONTROL_PLANE (object);

  ecsa_control_plane_stop (self);
  if (self->services != NULL)
    ecsa_plugin_host_services_set_aws_credentials_backend (self->services, NULL, NULL);
  if (self->store != NULL)
    ecsa_state_store_unregister_section (self->store, ECSA_CONTROL_PLANE_STATE_SECTION);
  g_clear_pointer (&self->info_log_drivers, g_strfreev);
  g_clear_object (&self->info_waiter);
  g_clear_object (&self->acs);
  g_clear_object (&self->tcs);
  g_clear_object (&self->reporter);
  g_clear_object (&self->ecs_client);
  g_clear_object (&self->aws_credentials);
  g_clear_object (&self->imds);
  self->store = NULL;
  self->engine = NULL;
  self->plugins = NULL;
  self->credentials = NULL;
  self->task_network = NULL;
  self->eni_attachments = NULL;
  self->services = NULL;
  G_OBJECT_CLASS (ecsa_control_plane_parent_class)->dispose (object);
}

static void
ecsa_control_plane_class_init (EcsaControlPlaneClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = ecsa_control_plane_dispose;
}

static void
ecsa_control_plane_init (EcsaControlPlane *self)
{
}

EcsaControlPlane *
ecsa_control_plane_new (EcsaConfig *config, EcsaPluginHostServices *services)
{
  EcsaControlPlane *self;

  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (ECSA_TYPE_CONTROL_PLANE, NULL);
  self->config = config;
  self->services = services;
  self->imds = config->blackhole_ec2_metadata ? ecsa_imds_new_full (NULL, TRUE) : ecsa_imds_new ();
  self->aws_credentials = ecsa_aws_credentials_provider_new (self->imds);
  if (services != NULL)
    ecsa_plugin_host_services_set_aws_credentials_backend (services, &creds_backend, self->aws_credentials);
  return self;
}

EcsaEcsClient *
ecsa_control_plane_get_ecs_client (EcsaControlPlane *self)
{
  g_return_val_if_fail (ECSA_IS_CONTROL_PLANE (self), NULL);
  return self->ecs_client;
}

EcsaAwsCredentialsProvider *
ecsa_control_plane_get_aws_credentials (EcsaControlPlane *self)
{
  g_return_val_if_fail (ECSA_IS_CONTROL_PLANE (self), NULL);
  return self->aws_credentials;
}

EcsaStateReporter *
ecsa_control_plane_get_state_reporter (EcsaControlPlane *self)
{
  g_return_val_if_fail (ECSA_IS_CONTROL_PLANE (self), NULL);
  return self->reporter;
}

EcsaAcsSession *
ecsa_control_plane_get_acs_session (EcsaControlPlane *self)
{
  g_return_val_if_fail (ECSA_IS_CONTROL_PLANE (self), NULL);
  return self->acs;
}

EcsaTcsSession *
ecsa_control_plane_get_tcs_session (EcsaControlPlane *self)
{
  g_return_val_if_fail (ECSA_IS_CONTROL_PLANE (self), NULL);
  return self->tcs;
}

const char *
ecsa_control_plane_get_container_instance_arn (EcsaControlPlane *self)
{
  g_return_val_if_fail (ECSA_IS_CONTROL_PLANE (self), NULL);
  return self->ecs_client != NULL ? ecsa_ecs_client_get_container_instance_arn (self->ecs_client) : NULL;
}

/* ---- awsvpc ------------------------------------------------------------------------------- */

static void
eni_submitted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_ecs_client_submit_attachment_state_change_finish (ECSA_ECS_CLIENT (source), result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
eni_submit_async (gpointer user_data, const char *task_arn, const char *attachment_arn, const char *status,
                  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer callback_data)
{
  EcsaControlPlane *self = user_data;
  GTask *task = g_task_new (self, cancellable, callback, callback_data);

  if (self->ecs_client == NULL)
    {
      g_task_return_new_error (task, ECSA_ERROR, ECSA_ERROR_RETRY, "not registered yet");
      g_object_unref (task);
      return;
    }
  ecsa_ecs_client_submit_attachment_state_change_async (self->ecs_client, task_arn, attachment_arn, status,
                                                        cancellable, eni_submitted_cb, task);
}

static gboolean
eni_submit_finish (gpointer user_data, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static const EcsaEniAttachmentSubmitter eni_submitter = { eni_submit_async, eni_submit_finish };

static gboolean
acs_attach_eni (gpointer eni_attachments, JsonObject *message, char **out_message_id, GError **error)
{
  return ecsa_eni_attachments_handle_acs_message (eni_attachments, message, out_message_id, error);
}

void
ecsa_control_plane_set_task_network (EcsaControlPlane *self, EcsaTaskNetwork *network,
                                     EcsaEniAttachments *eni_attachments)
{
  g_return_if_fail (ECSA_IS_CONTROL_PLANE (self));
  self->task_network = network;
  self->eni_attachments = eni_attachments;
  if (eni_attachments != NULL)
    ecsa_eni_attachments_set_submitter (eni_attachments, &eni_submitter, self);
}

/* ---- step 1: region ------------------------------------------------------------------------ */

static void
region_identity_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EcsaControlPlane *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) check = NULL;
  g_autoptr(EcsaInstanceIdentity) identity = ecsa_imds_get_instance_identity_finish (ECSA_IMDS (source), result,
                                                                                      &error);

  if (identity == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      ecsa_log_crit ("Unable to communicate with EC2 Metadata service to infer region: %s", error->message);
    }
  else
    {
      ecsa_config_set_region_from_metadata (self->config, identity->region);
      if (self->services != NULL)
        ecsa_plugin_host_services_set_region (self->services, identity->region);
    }
  if (!ecsa_config_check_region (self->config, &check))
    {
      g_task_return_new_error (task, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_ERROR, "Error loading config: %s",
                               check->message);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
ecsa_control_plane_resolve_region_async (EcsaControlPlane *self, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) check = NULL;

  g_return_if_fail (ECSA_IS_CONTROL_PLANE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_control_plane_resolve_region_async);
  if (ecsa_str_empty (self->config->aws_region) && !ecsa_imds_is_disabled (self->imds))
    {
      ecsa_imds_get_instance_identity_async (self->imds, cancellable, region_identity_cb, g_steal_pointer (&task));
      return;
    }
  if (!ecsa_config_check_region (self->config, &check))
    {
      g_task_return_new_error (task, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_ERROR, "Error loading config: %s",
                               check->message);
      return;
    }
  if (self->services != NULL)
    ecsa_plugin_host_services_set_region (self->services, self->config->aws_region);
  g_task_return_boolean (task, TRUE);
}

gboolean
ecsa_control_plane_resolve_region_finish (EcsaControlPlane *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- step 7: register ---------------------------------------------------------------------- */

static JsonNode *
serialize_agent_section (gpointer user_data)
{
  EcsaControlPlane *self = user_data;

  return self->ecs_client != NULL ? ecsa_ecs_client_save_state (self->ecs_client) : json_node_new (JSON_NODE_NULL);
}

static void
engine_mark_sent (gpointer engine, const EcsaStateChange *change)
{
  ecsa_task_engine_mark_sent (engine, change);
}

static char *
engine_task_known_status (gpointer engine, const char *task_arn)
{
  EcsaTaskView *view = ecsa_task_engine_get_task_view (engine, task_arn);
  char *status;

  if (view == NULL)
    return NULL;
  status = g_strdup (view->known_status);
  ecsa_task_view_free (view);
  return status;
}

static void
state_change_cb (EcsaTaskEngine *engine, const EcsaStateChange *change, gpointer user_data)
{
  EcsaControlPlane *self = user_data;

  if (self->reporter != NULL && !self->stopped)
    ecsa_state_reporter_add (self->reporter, change);
}

typedef struct
{
  EcsaDockerClient *docker;
  char **docker_log_drivers;
  gboolean info_done; /* GET /info answered (it runs beside the instance identity and the checkpoint) */
  gboolean restored;  /* the "agent" section is loaded: registration waits only for /info */
} RegisterData;

static void
register_data_free (RegisterData *data)
{
  g_clear_object (&data->docker);
  g_strfreev (data->docker_log_drivers);
  g_free (data);
}

static void
register_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ecsa_state_store_save_finish (ECSA_STATE_STORE (source), result, &error)
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    ecsa_log_error ("Unable to save the container instance ARN in the checkpoint: %s", error->message);
  g_task_return_boolean (task, TRUE);
}

static void
registered_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  EcsaControlPlane *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *arn = ecsa_ecs_client_register_finish (ECSA_ECS_CLIENT (source), result, &error);

  if (arn == NULL)
    {
      int code = ecsa_ecs_client_registration_exit_code (self->ecs_client, error);

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_new_error (task, ECSA_EXIT_CODE_ERROR, code, "Error registering: %s", error->message);
      return;
    }
  ecsa_log_info ("Registration completed successfully. I am running as '%s' in cluster '%s'", arn,
                 ecsa_ecs_client_get_cluster (self->ecs_client));
  ecsa_task_engine_set_container_instance_arn (self->engine, arn);
  /* the reporter needs the instance registered; it hears the engine from now on */
  ecsa_state_reporter_start (self->reporter);
  /* v1.16.2 saves right after registering: the ARN must survive a crash */
  {
    GCancellable *cancellable = g_task_get_cancellable (task);
    ecsa_state_store_save_async (self->store, cancellable, register_saved_cb, g_steal_pointer (&task));
  }
}

static void
register_with_capabilities (GTask *task)
{
  EcsaControlPlane *self = g_task_get_source_object (task);
  RegisterData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) capabilities = NULL;
  EcsaCapabilitiesInputs inputs = {
    .config = self->config,
    .plugins = self->plugins,
    .docker_api_version = ecsa_docker_client_get_api_version (data->docker),
    .docker_min_api_version = ecsa_docker_client_get_min_api_version (data->docker),
    .docker_log_drivers = (const char *const *) data->docker_log_drivers,
    .cgroups_enabled = ecsa_task_engine_get_cgroups_enabled (self->engine),
    .task_eni_usable = self->task_network != NULL && ecsa_task_network_is_enabled (self->task_network),
  };

  capabilities = ecsa_capabilities_build (&inputs, &error);
  if (capabilities == NULL)
    {
      g_task_return_new_error (task, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_TERMINAL, "%s", error->message);
      g_object_unref (task);
      return;
    }
  /* v1.16.2 constructVPCSubnetAttributes */
  if (self->task_network != NULL && ecsa_task_network_is_enabled (self->task_network))
    {
      g_ptr_array_add (capabilities,
                       ecsa_ecs_attribute_new ("ecs.vpc-id", ecsa_task_network_get_vpc_id (self->task_network)));
      g_ptr_array_add (capabilities,
                       ecsa_ecs_attribute_new ("ecs.subnet-id", ecsa_task_network_get_subnet_id (self->task_network)));
    }
  ecsa_ecs_client_register_async (self->ecs_client, capabilities, cancellable, registered_cb, task);
}

/* Docker's log drivers are known (NULL: /info failed): the registration goes on once the
 * checkpoint is restored too. `task` is the reference /info held: restore_and_register holds the
 * other one. */
static void
info_ready (GTask *task, char **log_drivers)
{
  RegisterData *data = g_task_get_task_data (task);

  data->docker_log_drivers = log_drivers;
  data->info_done = TRUE;
  if (data->restored)
    register_with_capabilities (task);
  g_object_unref (task);
}

static void
prefetch_info_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(EcsaControlPlane) self = user_data;
  g_autoptr(GError) error = NULL;
  guint status = 0;
  g_autoptr(GBytes) body = ecsa_docker_client_request_finish (ECSA_DOCKER_CLIENT (source), result, &status, &error);
  char **drivers = NULL;

  if (body != NULL && status == 200)
    drivers = ecsa_plugin_registry_parse_docker_log_drivers (body, &error);
  else if (body != NULL && error == NULL)
    g_set_error (&error, ECSA_ERROR, ECSA_ERROR_FAILED, "HTTP status %u", status);
  if (drivers == NULL && error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    ecsa_log_warn ("Unable to read Docker's log driver plugins (GET /info): %s", error->message);
  self->info_done = TRUE;
  self->info_log_drivers = drivers; /* kept: a later registration (after a reset) uses them too */
  if (self->info_waiter != NULL)
    info_ready (g_steal_pointer (&self->info_waiter), g_strdupv (drivers));
}

/* What every dockerd lists in /info's Plugins.Log: json-file is its default log driver, built in
 * since Docker 1.6. ("none" is built in too, but never listed: its plugin does not ask.) */
static const char *const always_listed_log_drivers[] = { "json-file", NULL };

/* GET /info takes dockerd 50 to 80 ms (it runs runc and docker-init to print their versions), and
 * the registration waits for it. It is asked only when ECS_AVAILABLE_LOGGING_DRIVERS names a driver
 * that a dockerd may lack (v1.16.2 never asked, and offered whatever the variable named). */
static gboolean
log_drivers_need_docker_info (const EcsaConfig *config)
{
  for (guint i = 0; config->available_logging_drivers != NULL && config->available_logging_drivers[i] != NULL; i++)
    {
      const char *driver = config->available_logging_drivers[i];

      if (strcmp (driver, "none") != 0 && !g_strv_contains (always_listed_log_drivers, driver))
        return TRUE;
    }
  return FALSE;
}

static void
identity_prefetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaInstanceIdentity) identity = ecsa_imds_get_instance_identity_finish (ECSA_IMDS (source), result,
                                                                                      &error);
}

/* The registration signs its request: the credentials are fetched meanwhile (the provider keeps
 * them, and a registration that asks while this is in flight shares the lookup). A failure is the
 * registration's to report. */
static void
credentials_prefetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaAwsCredentials) credentials
    = ecsa_aws_credentials_provider_get_finish (ECSA_AWS_CREDENTIALS_PROVIDER (source), result, &error);
}

static void
preconnected_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!ecsa_ecs_client_preconnect_finish (ECSA_ECS_CLIENT (source), result, &error)
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    ecsa_log_debug ("Connecting ahead to the ECS endpoint failed (the registration will try again): %s",
                    error->message);
}

void
ecsa_control_plane_prefetch (EcsaControlPlane *self, EcsaDockerClient *docker, GCancellable *cancellable)
{
  g_return_if_fail (ECSA_IS_CONTROL_PLANE (self));
  g_return_if_fail (ECSA_IS_DOCKER_CLIENT (docker));

  if (self->info_requested)
    return;
  self->info_requested = TRUE;
  if (log_drivers_need_docker_info (self->config))
    {
      /* its Plugins.Log reads the same in every API version: asked beside the version negotiation */
      ecsa_docker_client_request_unversioned_async (docker, "GET", "/info", 0, cancellable, prefetch_info_cb,
                                                    g_object_ref (self));
    }
  else
    {
      ecsa_log_debug ("ECS_AVAILABLE_LOGGING_DRIVERS names only drivers built into every dockerd: not asking GET /info");
      self->info_done = TRUE;
      self->info_log_drivers = g_strdupv ((char **) always_listed_log_drivers);
    }
  /* the connection to ECS is opened now (a TLS handshake off the registration's path); a bad
   * endpoint is the registration's to report */
  if (self->ecs_client == NULL)
    self->ecs_client = ecsa_ecs_client_new (self->config, self->aws_credentials, self->imds, NULL);
  if (self->ecs_client != NULL)
    ecsa_ecs_client_preconnect_async (self->ecs_client, cancellable, preconnected_cb, NULL);
  /* IMDS keeps the identity once read: the registration's requests find it there */
  if (!ecsa_imds_is_disabled (self->imds))
    ecsa_imds_get_instance_identity_async (self->imds, cancellable, identity_prefetched_cb, NULL);
  ecsa_aws_credentials_provider_get_async (self->aws_credentials, cancellable, credentials_prefetched_cb, NULL);
}

static void
restore_and_register (GTask *task, const char *ec2_instance_id)
{
  EcsaControlPlane *self = g_task_get_source_object (task);
  RegisterData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  gboolean instance_changed = FALSE;
  JsonNode *section = self->store != NULL && ecsa_state_store_get_enabled (self->store)
                        ? ecsa_state_store_get_section (self->store, ECSA_CONTROL_PLANE_STATE_SECTION)
                        : NULL;

  if (!ecsa_ecs_client_load_state (self->ecs_client, section, ec2_instance_id, &instance_changed, &error))
    {
      ecsa_log_crit ("%s", error->message);
      g_task_return_new_error (task, ECSA_EXIT_CODE_ERROR, ecsa_ecs_client_registration_exit_code (self->ecs_client,
                                                                                                  error),
                               "%s", error->message);
      g_object_unref (task);
      return;
    }
  if (instance_changed)
    {
      /* v1.16.2 resets its state: nothing of the other instance is started, reported or saved again */
      ecsa_log_warn ("The checkpoint belongs to another EC2 instance (this one is '%s'): registering as a new "
                     "container instance, without the previous instance's tasks",
                     ec2_instance_id);
      ecsa_task_engine_reset (self->engine);
    }
  ecsa_state_store_register_section (self->store, ECSA_CONTROL_PLANE_STATE_SECTION, serialize_agent_section, self);
  data->restored = TRUE;
  if (data->info_done)
    register_with_capabilities (task);
}

static void
instance_id_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(EcsaInstanceIdentity) identity = ecsa_imds_get_instance_identity_finish (ECSA_IMDS (source), result,
                                                                                      &error);

  if (identity == NULL)
    {
      if (g_task_return_error_if_cancelled (task))
        {
          g_object_unref (task);
          return;
        }
      ecsa_log_crit ("Unable to access EC2 Metadata service to determine EC2 ID: %s", error->message);
    }
  restore_and_register (task, identity != NULL ? identity->instance_id : NULL);
}

void
ecsa_control_plane_register_async (EcsaControlPlane *self, EcsaStateStore *store, EcsaTaskEngine *engine,
                                   EcsaDockerClient *docker, EcsaPluginRegistry *plugins, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  RegisterData *data;
  g_autoptr(GError) error = NULL;
  EcsaStateReporterHooks hooks = { engine, engine_mark_sent, engine_task_known_status };

  g_return_if_fail (ECSA_IS_CONTROL_PLANE (self));
  g_return_if_fail (ECSA_IS_STATE_STORE (store) && ECSA_IS_TASK_ENGINE (engine) && ECSA_IS_DOCKER_CLIENT (docker));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ecsa_control_plane_register_async);
  data = g_new0 (RegisterData, 1);
  data->docker = g_object_ref (docker);
  g_task_set_task_data (task, data, (GDestroyNotify) register_data_free);
  self->store = store;
  self->engine = engine;
  self->plugins = plugins;

  if (self->ecs_client == NULL)
    self->ecs_client = ecsa_ecs_client_new (self->config, self->aws_credentials, self->imds, &error);
  if (self->ecs_client == NULL)
    {
      g_task_return_new_error (task, ECSA_EXIT_CODE_ERROR, ECSA_EXIT_ERROR, "%s", error->message);
      g_object_unref (task);
      return;
    }
  /* ECS_CLUSTER unset: the "default" cluster, created when registering fails (v1.16.2) */
  if (ecsa_config_get_source (self->config, "ECS_CLUSTER") == ECSA_CONFIG_SOURCE_DEFAULT)
    ecsa_ecs_client_set_cluster_is_default (self->ecs_client, TRUE);
  ecsa_ecs_client_set_docker_version (self->ecs_client, ecsa_docker_client_get_server_version (docker));

  /* Before the engine starts: the changes it emits while reconciling are the ones still owed. */
  self->reporter = ecsa_state_reporter_new (self->ecs_client, &hooks);
  self->state_change_handler = g_signal_connect (engine, "state-change", G_CALLBACK (state_change_cb), self);

  /* Docker's log drivers (for the capabilities) and the credentials, while the instance identity
   * is fetched: asked for at the Docker step already, unless the agent did not */
  ecsa_control_plane_prefetch (self, docker, cancellable);
  if (self->info_done)
    {
      data->docker_log_drivers = g_strdupv (self->info_log_drivers);
      data->info_done = TRUE;
    }
  else
    self->info_waiter = g_object_ref (task);
  if (!ecsa_imds_is_disabled (self->imds))
    ecsa_imds_get_instance_identity_async (self->imds, cancellable, instance_id_cb, task);
  else
    restore_and_register (task, NULL);
}

gboolean
ecsa_control_plane_register_finish (EcsaControlPlane *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- step 10: sessions --------------------------------------------------------------------- */

static void
acs_apply_payload_async (gpointer engine, JsonArray *tasks, gint64 seq_num, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  ecsa_task_engine_apply_payload_async (engine, tasks, seq_num, cancellable, callback, user_data);
}

static gboolean
acs_apply_payload_finish (gpointer engine, GAsyncResult *result, GPtrArray **out_rejected, GError **error)
{
  return ecsa_task_engine_apply_payload_finish (engine, result, out_rejected, error);
}

static gboolean
acs_has_task (gpointer engine, const char *task_arn)
{
  EcsaTaskView *view = ecsa_task_engine_get_task_view (engine, task_arn);

  if (view == NULL)
    return FALSE;
  ecsa_task_view_free (view);
  return TRUE;
}

static gboolean
acs_set_credentials (gpointer credentials, JsonObject *iam_role_credentials, const char *task_arn,
                     const char *role_type, GError **error)
{
  if (credentials == NULL)
    {
      g_set_error_literal (error, ECSA_ERROR, ECSA_ERROR_NOT_SUPPORTED, "task IAM role credentials are not handled");
      return FALSE;
    }
  return ecsa_credentials_manager_set_from_acs (credentials, iam_role_credentials, task_arn, role_type, error);
}

static void
acs_remove_credentials (gpointer credentials, const char *task_arn)
{
  if (credentials != NULL)
    ecsa_credentials_manager_remove_task (credentials, task_arn);
}

static GPtrArray *
tcs_collect (gpointer plugins)
{
  return plugins != NULL ? ecsa_plugin_registry_metrics_collect (plugins) : NULL;
}

static void
inactive_instance_cb (EcsaAcsSession *acs, gpointer user_data)
{
  EcsaControlPlane *self = user_data;

  /* v1.16.2's deregister event stream: the telemetry connection goes too */
  if (self->tcs != NULL)
    ecsa_ws_session_reconnect (ECSA_WS_SESSION (self->tcs), FALSE, "the container instance is inactive");
}

void
ecsa_control_plane_start_sessions (EcsaControlPlane *self, EcsaCredentialsManager *credentials)
{
  EcsaAcsSessionHooks acs_hooks = { self->engine,
                                    acs_apply_payload_async,
                                    acs_apply_payload_finish,
                                    acs_has_task,
                                    credentials,
                                    acs_set_credentials,
                                    acs_remove_credentials,
                                    self->eni_attachments,
                                    self->eni_attachments != NULL ? acs_attach_eni : NULL };

  g_return_if_fail (ECSA_IS_CONTROL_PLANE (self));
  g_return_if_fail (self->ecs_client != NULL && self->engine != NULL);

  self->credentials = credentials;
  if (!self->config->disable_metrics)
    {
      EcsaTcsSessionHooks tcs_hooks = { self->plugins, tcs_collect };

      self->tcs = ecsa_tcs_session_new (self->ecs_client, &tcs_hooks);
      ecsa_ws_session_start (ECSA_WS_SESSION (self->tcs));
    }
  else
    ecsa_log_info ("Metric collection disabled");
  self->acs = ecsa_acs_session_new (self->ecs_client, &acs_hooks, self->reporter);
  self->inactive_handler = g_signal_connect (self->acs, "inactive-instance", G_CALLBACK (inactive_instance_cb), self);
  ecsa_log_info ("Beginning Polling for updates");
  ecsa_ws_session_start (ECSA_WS_SESSION (self->acs));
}

void
ecsa_control_plane_stop (EcsaControlPlane *self)
{
  g_return_if_fail (ECSA_IS_CONTROL_PLANE (self));

  if (self->stopped)
    return;
  self->stopped = TRUE;
  if (self->acs != NULL)
    {
      g_clear_signal_handler (&self->inactive_handler, self->acs);
      ecsa_ws_session_stop (ECSA_WS_SESSION (self->acs));
    }
  if (self->tcs != NULL)
    ecsa_ws_session_stop (ECSA_WS_SESSION (self->tcs));
  if (self->engine != NULL)
    g_clear_signal_handler (&self->state_change_handler, self->engine);
  if (self->reporter != NULL)
    ecsa_state_reporter_stop (self->reporter);
  ecsa_aws_credentials_provider_stop (self->aws_credentials);
}

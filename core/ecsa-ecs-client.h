/* ecsa-ecs-client.h: the ECS JSON 1.1 API calls the agent makes, as agent v1.16.2 makes them.
 *
 * Wire (PROTOCOL-NOTES.md): POST / with Content-Type application/x-amz-json-1.1 and X-Amz-Target
 * AmazonEC2ContainerServiceV20141113.<Op>, SigV4 service "ecs" over content-length, content-type,
 * host, x-amz-date, x-amz-target (and x-amz-security-token).
 *
 * Endpoint: ECS_BACKEND_HOST (a full URL; "https://" is added when it has no scheme), else
 * https://ecs.<region>.amazonaws.com (.com.cn in China regions).
 *
 * TLS: the certificates Go's crypto/x509 trusts on Linux, SSL_CERT_FILE and SSL_CERT_DIR included
 * (ecsa-tls-trust.h), so that a local control plane's CA can be trusted without -k. -k
 * (accept_insecure_cert) accepts any certificate, as v1.16.2 does.
 *
 * Calls:
 *  - RegisterContainerInstance: CPU (cores x 1024), MEMORY (MiB less ECS_RESERVED_MEMORY), PORTS and
 *    PORTS_UDP (STRINGSET, PORTS_UDP always sent), the attributes (ECS_INSTANCE_ATTRIBUTES on the
 *    first registration only, then the capabilities, then ecs.os-type=linux), the instance identity
 *    document and signature ("" when instance metadata has none) and versionInfo. The response must
 *    echo every attribute sent (else ECSA_ECS_CLIENT_ERROR_ATTRIBUTE). With no cluster configured
 *    the "default" cluster is used and created (CreateCluster) when registering fails.
 *  - DiscoverPollEndpoint: cached 20 minutes per container instance, shared by ACS and TCS.
 *  - SubmitTaskStateChange (container changes inside containers[]) and SubmitContainerStateChange:
 *    one attempt each; the state reporter retries.
 *  Standard calls are retried on transient errors (3 retries, 2^n x 30-60 ms) as the AWS SDK does.
 *
 * The "agent" section of the state store: {"ContainerInstanceArn", "Cluster", "EC2InstanceID"}.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "ecsa-aws-credentials.h"
#include "ecsa-config.h"
#include "ecsa-imds.h"
#include "ecsa-state-change.h"

G_BEGIN_DECLS

#define ECSA_ECS_TARGET_PREFIX "AmazonEC2ContainerServiceV20141113"
#define ECSA_ECS_DEFAULT_CLUSTER "default"
#define ECSA_ECS_POLL_ENDPOINT_CACHE_TTL (20 * 60 * G_USEC_PER_SEC)
#define ECSA_ECS_MAX_REASON_LENGTH 255
#define ECSA_ECS_OS_TYPE "linux"

#define ECSA_ECS_CLIENT_ERROR (ecsa_ecs_client_error_quark ())
GQuark ecsa_ecs_client_error_quark (void);

typedef enum
{
  ECSA_ECS_CLIENT_ERROR_TRANSPORT,         /* no answer: connection, TLS, timeout */
  ECSA_ECS_CLIENT_ERROR_SERVER,            /* 5xx or throttling: may succeed later */
  ECSA_ECS_CLIENT_ERROR_CLIENT,            /* a 4xx exception; the message is "<Code>: <message>" */
  ECSA_ECS_CLIENT_ERROR_INVALID_PARAMETER, /* InvalidParameterException */
  ECSA_ECS_CLIENT_ERROR_ATTRIBUTE,         /* the registration did not echo our attributes */
  ECSA_ECS_CLIENT_ERROR_INSTANCE_TYPE_CHANGED, /* "Container instance type changes are not supported." */
  ECSA_ECS_CLIENT_ERROR_INVALID_RESPONSE,  /* a 2xx answer we cannot read */
  ECSA_ECS_CLIENT_ERROR_CREDENTIALS,       /* nothing to sign with */
  ECSA_ECS_CLIENT_ERROR_CONFIG,            /* the configuration makes the call impossible */
  ECSA_ECS_CLIENT_ERROR_CLUSTER_MISMATCH,  /* the saved cluster is not the configured one */
} EcsaEcsClientError;

/* TRUE for errors that may go away on their own (transport, server, throttling, credentials). */
gboolean ecsa_ecs_client_error_is_transient (const GError *error);
/* The exception name of a CLIENT/SERVER/INVALID_PARAMETER error ("ClientException"), else NULL. */
const char *ecsa_ecs_client_error_code (const GError *error);

typedef struct
{
  char *name;
  char *value; /* NULL: a name-only attribute (capabilities) */
} EcsaEcsAttribute;

EcsaEcsAttribute *ecsa_ecs_attribute_new (const char *name, const char *value);
void ecsa_ecs_attribute_free (EcsaEcsAttribute *attribute);
/* A GPtrArray of EcsaEcsAttribute*, freeing them. */
GPtrArray *ecsa_ecs_attributes_new (void);

#define ECSA_TYPE_ECS_CLIENT (ecsa_ecs_client_get_type ())
G_DECLARE_FINAL_TYPE (EcsaEcsClient, ecsa_ecs_client, ECSA, ECS_CLIENT, GObject)

/* `config` must outlive the client (cluster, api_endpoint, aws_region, reserved ports and memory,
 * instance_attributes, accept_insecure_cert are read). `imds` may be NULL (no identity document).
 * Fails with ECSA_ECS_CLIENT_ERROR_CONFIG when there is no usable endpoint (no region and no
 * ECS_BACKEND_HOST, or a bad URL). */
EcsaEcsClient *ecsa_ecs_client_new (const EcsaConfig *config, EcsaAwsCredentialsProvider *credentials, EcsaImds *imds,
                                    GError **error);

const char *ecsa_ecs_client_get_endpoint (EcsaEcsClient *self);
const char *ecsa_ecs_client_get_region (EcsaEcsClient *self);
EcsaAwsCredentialsProvider *ecsa_ecs_client_get_credentials (EcsaEcsClient *self);
const char *ecsa_ecs_client_get_docker_version (EcsaEcsClient *self);
/* The cluster in use: the configured one, "default" when none is, or the restored one. */
const char *ecsa_ecs_client_get_cluster (EcsaEcsClient *self);
/* The container instance ARN, NULL until registered or restored. */
const char *ecsa_ecs_client_get_container_instance_arn (EcsaEcsClient *self);
const char *ecsa_ecs_client_get_ec2_instance_id (EcsaEcsClient *self);
/* What follows the SoupSession's TLS setup: -k, the trust database (the process's EcsaTlsTrust for
 * SSL_CERT_FILE/SSL_CERT_DIR, ecsa-tls-trust.h; never NULL). */
gboolean ecsa_ecs_client_get_accept_insecure_cert (EcsaEcsClient *self);
GTlsDatabase *ecsa_ecs_client_get_tls_database (EcsaEcsClient *self);
/* The proxy of its connections, and of ACS and TCS (ecsa-proxy.h), or NULL: direct connections,
 * without any proxy lookup (ecsa_proxy_resolver_get_for_connections). */
GProxyResolver *ecsa_ecs_client_get_proxy_resolver (EcsaEcsClient *self);
/* Reads the trusted certificates in a worker thread, once (so that no handshake has to). */
void ecsa_ecs_client_prepare_tls_async (EcsaEcsClient *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean ecsa_ecs_client_prepare_tls_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error);
/* Opens a connection to the endpoint now (TCP, proxy, TLS handshake), kept open for the first
 * call (the registration) while the start-up's other steps run. Its failure needs no handling:
 * the first call connects again and reports it. */
void ecsa_ecs_client_preconnect_async (EcsaEcsClient *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
gboolean ecsa_ecs_client_preconnect_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error);

/* The cluster is "default" because none was configured: create it when registering fails. */
void ecsa_ecs_client_set_cluster_is_default (EcsaEcsClient *self, gboolean is_default);
/* Per-attempt deadline of every call (default 10 s; tests). */
void ecsa_ecs_client_set_timeout (EcsaEcsClient *self, guint timeout_ms);
/* Docker's version ("20.10.24"), for versionInfo.dockerVersion ("DockerVersion: 20.10.24"). */
void ecsa_ecs_client_set_docker_version (EcsaEcsClient *self, const char *docker_version);
/* Host resources, when not read from this machine (tests): cpu units and memory in MiB. */
void ecsa_ecs_client_set_host_resources (EcsaEcsClient *self, gint64 cpu, gint64 memory_mib);

/* The "agent" section of the checkpoint. */
JsonNode *ecsa_ecs_client_save_state (EcsaEcsClient *self);
/* Restore it (NULL: nothing saved). `current_ec2_instance_id` is this instance's ID ("" or NULL
 * when unknown). A different saved instance ID means the checkpoint came from another instance:
 * nothing is restored and *out_instance_changed is TRUE (the caller forgets the old tasks, as
 * v1.16.2 does). A saved cluster that differs from the configured one is an error
 * (ECSA_ECS_CLIENT_ERROR_CLUSTER_MISMATCH, terminal in v1.16.2). */
gboolean ecsa_ecs_client_load_state (EcsaEcsClient *self, JsonNode *section, const char *current_ec2_instance_id,
                                     gboolean *out_instance_changed, GError **error);
void ecsa_ecs_client_set_ec2_instance_id (EcsaEcsClient *self, const char *ec2_instance_id);

/* Register (or re-register, when an ARN was restored) with `capabilities` (EcsaEcsAttribute*).
 * Returns the container instance ARN, also kept by the client. */
void ecsa_ecs_client_register_async (EcsaEcsClient *self, GPtrArray *capabilities, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
char *ecsa_ecs_client_register_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error);
/* The exit code for a failed registration, as v1.16.2 decides it: 5 (terminal) for an invalid
 * parameter or attribute on the first registration, an attribute or instance type change on a
 * re-registration, a cluster mismatch; else 1 (restart me). */
int ecsa_ecs_client_registration_exit_code (EcsaEcsClient *self, const GError *error);

typedef struct
{
  char *endpoint;           /* ACS, https://... */
  char *telemetry_endpoint; /* TCS, or NULL when the answer had none */
} EcsaPollEndpoints;

void ecsa_poll_endpoints_free (EcsaPollEndpoints *endpoints);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcsaPollEndpoints, ecsa_poll_endpoints_free)

void ecsa_ecs_client_discover_poll_endpoint_async (EcsaEcsClient *self, GCancellable *cancellable,
                                                   GAsyncReadyCallback callback, gpointer user_data);
EcsaPollEndpoints *ecsa_ecs_client_discover_poll_endpoint_finish (EcsaEcsClient *self, GAsyncResult *result,
                                                                  GError **error);
/* Drop the cached endpoints (tests). */
void ecsa_ecs_client_forget_poll_endpoint (EcsaEcsClient *self);

/* A task change (with its containers) / a container change. Only RUNNING and STOPPED go out. */
void ecsa_ecs_client_submit_task_state_change_async (EcsaEcsClient *self, const EcsaStateChange *change,
                                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                                     gpointer user_data);
gboolean ecsa_ecs_client_submit_task_state_change_finish (EcsaEcsClient *self, GAsyncResult *result, GError **error);
void ecsa_ecs_client_submit_container_state_change_async (EcsaEcsClient *self, const EcsaStateChange *change,
                                                          GCancellable *cancellable, GAsyncReadyCallback callback,
                                                          gpointer user_data);
gboolean ecsa_ecs_client_submit_container_state_change_finish (EcsaEcsClient *self, GAsyncResult *result,
                                                               GError **error);

/* An ENI attachment's state (v1.16.2: SubmitTaskStateChange with only cluster, task and
 * attachments [{attachmentArn, status}]). One attempt. */
void ecsa_ecs_client_submit_attachment_state_change_async (EcsaEcsClient *self, const char *task_arn,
                                                           const char *attachment_arn, const char *status,
                                                           GCancellable *cancellable, GAsyncReadyCallback callback,
                                                           gpointer user_data);
gboolean ecsa_ecs_client_submit_attachment_state_change_finish (EcsaEcsClient *self, GAsyncResult *result,
                                                                GError **error);

/* An AWS JSON error answer ({"__type":"...#Code","message":"..."}, or the x-amzn-ErrorType
 * header) into an ECSA_ECS_CLIENT_ERROR (fuzzed). */
GError *ecsa_ecs_client_error_from_response (const char *op, guint status, GBytes *body, const char *error_type);

/* The request bodies, for tests and the fuzzers. */
JsonNode *ecsa_ecs_client_build_task_state_change (const char *cluster, const EcsaStateChange *change);
JsonNode *ecsa_ecs_client_build_container_state_change (const char *cluster, const EcsaStateChange *change);

/* The agent hash sent in versionInfo and ACS's agentHash. */
const char *ecsa_ecs_client_agent_hash (void);

/* "Amazon ECS Agent - v1.16.2 (ecsa-<version>) (linux) (+http://aws.amazon.com/ecs/)" */
const char *ecsa_ecs_client_user_agent (void);

G_END_DECLS

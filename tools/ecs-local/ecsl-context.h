/* ecsl-context.h: the configuration of ecs-local and the context every part of it shares.
 *
 * ecs-local is single-threaded: all state lives on the main context; only the state file is
 * written from a worker thread, from a snapshot.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <libsoup/soup.h>

#include "ecsl-credentials.h"
#include "ecsl-tls.h"

G_BEGIN_DECLS

#define ECSL_DEFAULT_PORT 51680
#define ECSL_DEFAULT_TCS_PORT 51681
#define ECSL_DEFAULT_IMDS_PORT 51682

typedef struct
{
  char *state_dir;
  char *listen_address;   /* where the servers listen ("127.0.0.1") */
  char *advertise_host;   /* the host in the URLs handed out (listen address, or 127.0.0.1 for 0.0.0.0) */
  char **hostnames;       /* extra names for the server certificate */
  int port;               /* API, ACS, ECR: 0 picks a free one */
  int tcs_port;           /* TCS: 0 picks a free one */
  int imds_port;          /* instance metadata (plain HTTP): 0 picks a free one, -1 disables it */
  char *region;
  char *account_id;
  gboolean persist;       /* keep clusters, task definitions, instances and tasks in state.json */
  char *ecr_registry;     /* "host:port" of the local registry ECR stands for, or NULL */
  char *ecr_password;     /* its password for user "AWS" (secret), or NULL */
  gint64 heartbeat_ms;    /* ACS HeartbeatMessage interval */
  gint64 ack_timeout_ms;  /* resend an unacknowledged ACS message after this */
  gint64 credentials_ttl_ms; /* lifetime of issued temporary credentials */
  gint64 stopped_retention_ms; /* how long STOPPED tasks stay describable */
  int max_run_count;      /* RunTask's `count` limit: AWS's 10, raised by the benchmark (tools/bench) */
  char *instance_role;    /* the IMDS role name */
  gboolean imds_v2_only;  /* refuse IMDSv1 (no token) requests */
  char *instance_id;      /* the emulated EC2 instance ID (kept in the state dir) */
  char *instance_type;
  char *availability_zone;
  char *ami_id;
  char *trace_file;       /* JSON lines of every API call (secrets removed), for tests */
} EcslConfig;

void ecsl_config_clear (EcslConfig *config);

typedef struct _EcslState EcslState;
typedef struct _EcslAcs EcslAcs;
typedef struct _EcslTcs EcslTcs;

typedef struct
{
  EcslConfig config;
  EcslTls *tls;
  EcslCredentials *creds;
  EcslState *state;
  EcslAcs *acs;
  EcslTcs *tcs;
  SoupServer *server;      /* HTTPS: API, ACS, ECR, TCS (two listeners) */
  SoupServer *imds_server; /* plain HTTP on loopback */
  guint port, tcs_port, imds_port;
  char *endpoint;          /* https://host:port */
  char *tcs_endpoint;      /* https://host:tcs_port */
  char *imds_endpoint;     /* http://127.0.0.1:imds_port, or NULL */
  GCancellable *cancellable;
} EcslContext;

/* ARNs in AWS's format. */
char *ecsl_arn (EcslContext *ctx, const char *resource);

G_END_DECLS

/* ecsl-imds.h: an EC2 instance metadata emulation on loopback (plain HTTP, like IMDS).
 *
 * IMDSv2 (PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds, then the token in
 * X-aws-ec2-metadata-token) and v1 (no token; refused with --imds-v2-only). Serves
 * meta-data/{instance-id, instance-type, ami-id, local-ipv4, mac, hostname, placement/region,
 * placement/availability-zone, iam/info, iam/security-credentials/[<role>], network/interfaces/…}
 * and dynamic/instance-identity/{document, signature}. The role credentials are temporary
 * credentials that ecs-local itself accepts, so an agent can run on the instance role alone.
 * Point an AWS SDK (or the agent) at it with AWS_EC2_METADATA_SERVICE_ENDPOINT.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "ecsl-context.h"

G_BEGIN_DECLS

gboolean ecsl_imds_start (EcslContext *ctx, GError **error);
void ecsl_imds_stop (EcslContext *ctx);

G_END_DECLS

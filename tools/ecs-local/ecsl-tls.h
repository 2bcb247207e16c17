/* ecsl-tls.h: the certificates of ecs-local.
 *
 * A CA (ca.pem, ca.key) kept in the state directory and reused across restarts, so the agent
 * (SSL_CERT_FILE) and the AWS CLI (--ca-bundle / AWS_CA_BUNDLE) can trust ecs-local; a server
 * certificate issued by it at every start for 127.0.0.1, ::1, localhost and any extra names; and
 * the RSA key that signs the emulated instance identity document (imds-signing.pem is its
 * certificate, as AWS publishes one per region).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _EcslTls EcslTls;

/* with_server_certificate FALSE: only the CA and the identity key (no TLS backend needed). */
EcslTls *ecsl_tls_new (const char *state_dir, const char *const *extra_names, gboolean with_server_certificate,
                       GError **error);
void ecsl_tls_free (EcslTls *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcslTls, ecsl_tls_free)

GTlsCertificate *ecsl_tls_get_server_certificate (EcslTls *self);
const char *ecsl_tls_get_ca_path (EcslTls *self);

/* The base64 RSA-SHA256 signature of an instance identity document (64-column lines, as IMDS). */
char *ecsl_tls_sign_identity (EcslTls *self, const char *document, GError **error);
gboolean ecsl_tls_verify_identity (EcslTls *self, const char *document, const char *signature, GError **error);

G_END_DECLS

/* ecsl-tls.c: CA, server certificate and identity-document signing key (see ecsl-tls.h).
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsl-tls.h"
#include "ecsl-util.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

/* g_autoptr for the GnuTLS handles. */
typedef struct gnutls_x509_crt_int EcslX509Crt;
typedef struct gnutls_x509_privkey_int EcslX509Key;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcslX509Crt, gnutls_x509_crt_deinit)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcslX509Key, gnutls_x509_privkey_deinit)

#define CA_DAYS (10 * 365)
#define SERVER_DAYS 397

struct _EcslTls
{
  char *ca_path;
  gnutls_x509_crt_t ca_crt;
  gnutls_x509_privkey_t ca_key;
  GTlsCertificate *server_cert;
  gnutls_privkey_t identity_key;
  gnutls_pubkey_t identity_pub;
};

static gboolean
tls_fail (int rc, const char *what, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, gnutls_strerror (rc));
  return FALSE;
}

#define CHECK(call, what)                                                                                              \
  G_STMT_START                                                                                                         \
  {                                                                                                                    \
    int rc_ = (call);                                                                                                  \
    if (rc_ < 0)                                                                                                       \
      return tls_fail (rc_, what, error);                                                                              \
  }                                                                                                                    \
  G_STMT_END

static char *
datum_to_string (gnutls_datum_t *d)
{
  char *s = g_strndup ((const char *) d->data, d->size);
  gnutls_free (d->data);
  d->data = NULL;
  return s;
}

static gboolean
set_serial_and_validity (gnutls_x509_crt_t crt, int days, GError **error)
{
  guint8 serial[16];
  time_t now = time (NULL);

  ecsl_random_bytes (serial, sizeof serial);
  serial[0] &= 0x7f;
  serial[0] |= 0x01;
  CHECK (gnutls_x509_crt_set_version (crt, 3), "certificate version");
  CHECK (gnutls_x509_crt_set_serial (crt, serial, sizeof serial), "certificate serial");
  CHECK (gnutls_x509_crt_set_activation_time (crt, now - 3600), "certificate activation time");
  CHECK (gnutls_x509_crt_set_expiration_time (crt, now + (time_t) days * 86400), "certificate expiration time");
  return TRUE;
}

static gboolean
set_subject_key_id (gnutls_x509_crt_t crt, GError **error)
{
  guint8 id[64];
  size_t size = sizeof id;

  CHECK (gnutls_x509_crt_get_key_id (crt, GNUTLS_KEYID_USE_SHA1, id, &size), "certificate key id");
  CHECK (gnutls_x509_crt_set_subject_key_id (crt, id, size), "certificate subject key id");
  return TRUE;
}

static gboolean
load_ca (EcslTls *self, const char *cert_path, const char *key_path)
{
  g_autofree char *cert_pem = NULL;
  g_autofree char *key_pem = NULL;
  g_autoptr(EcslX509Crt) crt = NULL;
  g_autoptr(EcslX509Key) key = NULL;
  gsize cert_len, key_len;
  gnutls_datum_t cd, kd;

  if (!g_file_get_contents (cert_path, &cert_pem, &cert_len, NULL)
      || !g_file_get_contents (key_path, &key_pem, &key_len, NULL))
    return FALSE;
  gnutls_x509_crt_init (&crt);
  gnutls_x509_privkey_init (&key);
  cd.data = (unsigned char *) cert_pem;
  cd.size = (unsigned) cert_len;
  kd.data = (unsigned char *) key_pem;
  kd.size = (unsigned) key_len;
  /* Reuse it only while it has more than a month to live. */
  if (gnutls_x509_crt_import (crt, &cd, GNUTLS_X509_FMT_PEM) < 0
      || gnutls_x509_privkey_import2 (key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0) < 0
      || gnutls_x509_crt_get_expiration_time (crt) < time (NULL) + 30 * 86400)
    {
      g_warning ("ignoring the CA in %s (unreadable or expiring): creating a new one", cert_path);
      return FALSE;
    }
  self->ca_crt = g_steal_pointer (&crt);
  self->ca_key = g_steal_pointer (&key);
  return TRUE;
}

static gboolean
create_ca (EcslTls *self, const char *cert_path, const char *key_path, GError **error)
{
  static const char cn[] = "ecs-local CA";
  gnutls_datum_t out = { NULL, 0 };
  g_autofree char *cert_pem = NULL;
  g_autofree char *key_pem = NULL;

  g_clear_pointer (&self->ca_crt, gnutls_x509_crt_deinit);
  g_clear_pointer (&self->ca_key, gnutls_x509_privkey_deinit);
  gnutls_x509_crt_init (&self->ca_crt);
  gnutls_x509_privkey_init (&self->ca_key);
  CHECK (gnutls_x509_privkey_generate (self->ca_key, GNUTLS_PK_ECDSA,
                                       GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0),
         "CA key");
  if (!set_serial_and_validity (self->ca_crt, CA_DAYS, error))
    return FALSE;
  CHECK (gnutls_x509_crt_set_dn_by_oid (self->ca_crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen (cn)), "CA name");
  CHECK (gnutls_x509_crt_set_key (self->ca_crt, self->ca_key), "CA key");
  CHECK (gnutls_x509_crt_set_basic_constraints (self->ca_crt, 1, -1), "CA constraints");
  CHECK (gnutls_x509_crt_set_key_usage (self->ca_crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
                                                          | GNUTLS_KEY_DIGITAL_SIGNATURE),
         "CA key usage");
  if (!set_subject_key_id (self->ca_crt, error))
    return FALSE;
  CHECK (gnutls_x509_crt_sign2 (self->ca_crt, self->ca_crt, self->ca_key, GNUTLS_DIG_SHA256, 0), "CA signature");

  CHECK (gnutls_x509_crt_export2 (self->ca_crt, GNUTLS_X509_FMT_PEM, &out), "CA export");
  cert_pem = datum_to_string (&out);
  CHECK (gnutls_x509_privkey_export2_pkcs8 (self->ca_key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out),
         "CA key export");
  key_pem = datum_to_string (&out);
  if (!ecsl_write_file (key_path, key_pem, -1, 0600, error) || !ecsl_write_file (cert_path, cert_pem, -1, 0644, error))
    return FALSE;
  g_message ("created a new CA: %s", cert_path);
  return TRUE;
}

static gboolean
add_san (gnutls_x509_crt_t crt, const char *name, GError **error)
{
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (name);

  if (addr != NULL)
    {
      gsize size = g_inet_address_get_native_size (addr);
      CHECK (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS, g_inet_address_to_bytes (addr),
                                                   (unsigned) size, GNUTLS_FSAN_APPEND),
             "server certificate IP name");
    }
  else
    CHECK (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_DNSNAME, name, (unsigned) strlen (name),
                                                 GNUTLS_FSAN_APPEND),
           "server certificate DNS name");
  return TRUE;
}

static gboolean
create_server_cert (EcslTls *self, const char *const *extra_names, GError **error)
{
  static const char cn[] = "ecs-local";
  static const char *const names[] = { "127.0.0.1", "::1", "localhost", NULL };
  g_autoptr(EcslX509Crt) crt = NULL;
  g_autoptr(EcslX509Key) key = NULL;
  gnutls_datum_t out = { NULL, 0 };
  guint8 ca_id[64];
  size_t ca_id_size = sizeof ca_id;
  g_autofree char *cert_pem = NULL;
  g_autofree char *key_pem = NULL;
  g_autofree char *ca_pem = NULL;
  g_autofree char *bundle = NULL;

  gnutls_x509_crt_init (&crt);
  gnutls_x509_privkey_init (&key);
  CHECK (gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0),
         "server key");
  if (!set_serial_and_validity (crt, SERVER_DAYS, error))
    return FALSE;
  CHECK (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen (cn)), "server name");
  CHECK (gnutls_x509_crt_set_key (crt, key), "server key");
  CHECK (gnutls_x509_crt_set_basic_constraints (crt, 0, -1), "server constraints");
  CHECK (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_AGREEMENT),
         "server key usage");
  CHECK (gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "server key purpose");
  for (guint i = 0; names[i] != NULL; i++)
    if (!add_san (crt, names[i], error))
      return FALSE;
  for (guint i = 0; extra_names != NULL && extra_names[i] != NULL; i++)
    if (!add_san (crt, extra_names[i], error))
      return FALSE;
  if (!set_subject_key_id (crt, error))
    return FALSE;
  if (gnutls_x509_crt_get_subject_key_id (self->ca_crt, ca_id, &ca_id_size, NULL) >= 0)
    gnutls_x509_crt_set_authority_key_id (crt, ca_id, ca_id_size);
  CHECK (gnutls_x509_crt_sign2 (crt, self->ca_crt, self->ca_key, GNUTLS_DIG_SHA256, 0), "server signature");
  CHECK (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &out), "server certificate export");
  cert_pem = datum_to_string (&out);
  CHECK (gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out),
         "server key export");
  key_pem = datum_to_string (&out);
  CHECK (gnutls_x509_crt_export2 (self->ca_crt, GNUTLS_X509_FMT_PEM, &out), "CA export");
  ca_pem = datum_to_string (&out);
  /* The chain: leaf, then its issuer; then the key. */
  bundle = g_strconcat (cert_pem, ca_pem, key_pem, NULL);
  self->server_cert = g_tls_certificate_new_from_pem (bundle, -1, error);
  return self->server_cert != NULL;
}

static gboolean
create_identity_key (const char *key_path, const char *cert_path, EcslX509Key **out_key, GError **error)
{
  static const char cn[] = "ecs-local instance identity";
  g_autoptr(EcslX509Crt) crt = NULL;
  g_autoptr(EcslX509Key) key = NULL;
  gnutls_datum_t out = { NULL, 0 };
  g_autofree char *cert_pem = NULL;
  g_autofree char *key_pem = NULL;

  gnutls_x509_privkey_init (&key);
  gnutls_x509_crt_init (&crt);
  CHECK (gnutls_x509_privkey_generate (key, GNUTLS_PK_RSA, 2048, 0), "identity key");
  if (!set_serial_and_validity (crt, CA_DAYS, error))
    return FALSE;
  CHECK (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen (cn)), "identity name");
  CHECK (gnutls_x509_crt_set_key (crt, key), "identity key");
  CHECK (gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_SHA256, 0), "identity certificate signature");
  CHECK (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &out), "identity certificate export");
  cert_pem = datum_to_string (&out);
  CHECK (gnutls_x509_privkey_export2_pkcs8 (key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out),
         "identity key export");
  key_pem = datum_to_string (&out);
  if (!ecsl_write_file (key_path, key_pem, -1, 0600, error) || !ecsl_write_file (cert_path, cert_pem, -1, 0644, error))
    return FALSE;
  *out_key = g_steal_pointer (&key);
  return TRUE;
}

static gboolean
load_or_create_identity_key (EcslTls *self, const char *key_path, const char *cert_path, GError **error)
{
  g_autofree char *key_pem = NULL;
  gsize key_len = 0;
  g_autoptr(EcslX509Key) key = NULL;

  if (g_file_get_contents (key_path, &key_pem, &key_len, NULL))
    {
      gnutls_datum_t d = { (unsigned char *) key_pem, (unsigned) key_len };
      gnutls_x509_privkey_init (&key);
      if (gnutls_x509_privkey_import2 (key, &d, GNUTLS_X509_FMT_PEM, NULL, 0) < 0
          || gnutls_x509_privkey_get_pk_algorithm (key) != GNUTLS_PK_RSA)
        {
          g_warning ("ignoring unreadable %s: creating a new identity signing key", key_path);
          g_clear_pointer (&key, gnutls_x509_privkey_deinit);
        }
    }
  if (key == NULL && !create_identity_key (key_path, cert_path, &key, error))
    return FALSE;
  gnutls_privkey_init (&self->identity_key);
  gnutls_pubkey_init (&self->identity_pub);
  CHECK (gnutls_privkey_import_x509 (self->identity_key, key, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE),
         "identity signing key");
  key = NULL; /* owned by identity_key now */
  CHECK (gnutls_pubkey_import_privkey (self->identity_pub, self->identity_key, 0, 0), "identity public key");
  return TRUE;
}

EcslTls *
ecsl_tls_new (const char *state_dir, const char *const *extra_names, gboolean with_server_certificate,
              GError **error)
{
  g_autoptr(EcslTls) self = g_new0 (EcslTls, 1);
  g_autofree char *key_path = g_build_filename (state_dir, "ca.key", NULL);
  g_autofree char *id_key_path = g_build_filename (state_dir, "imds-signing.key", NULL);
  g_autofree char *id_cert_path = g_build_filename (state_dir, "imds-signing.pem", NULL);

  self->ca_path = g_build_filename (state_dir, "ca.pem", NULL);
  if (!load_ca (self, self->ca_path, key_path) && !create_ca (self, self->ca_path, key_path, error))
    {
      g_prefix_error (error, "CA in %s: ", state_dir);
      return NULL;
    }
  if (with_server_certificate && !create_server_cert (self, extra_names, error))
    {
      g_prefix_error (error, "server certificate: ");
      return NULL;
    }
  if (!load_or_create_identity_key (self, id_key_path, id_cert_path, error))
    {
      g_prefix_error (error, "%s: ", id_key_path);
      return NULL;
    }
  return g_steal_pointer (&self);
}

void
ecsl_tls_free (EcslTls *self)
{
  if (self == NULL)
    return;
  g_free (self->ca_path);
  if (self->ca_crt != NULL)
    gnutls_x509_crt_deinit (self->ca_crt);
  if (self->ca_key != NULL)
    gnutls_x509_privkey_deinit (self->ca_key);
  g_clear_object (&self->server_cert);
  if (self->identity_key != NULL)
    gnutls_privkey_deinit (self->identity_key);
  if (self->identity_pub != NULL)
    gnutls_pubkey_deinit (self->identity_pub);
  g_free (self);
}

GTlsCertificate *
ecsl_tls_get_server_certificate (EcslTls *self)
{
  return self->server_cert;
}

const char *
ecsl_tls_get_ca_path (EcslTls *self)
{
  return self->ca_path;
}

char *
ecsl_tls_sign_identity (EcslTls *self, const char *document, GError **error)
{
  gnutls_datum_t data = { (unsigned char *) document, (unsigned) strlen (document) };
  gnutls_datum_t sig = { NULL, 0 };
  g_autofree char *b64 = NULL;
  GString *out;
  gsize len;
  int rc = gnutls_privkey_sign_data2 (self->identity_key, GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig);

  if (rc < 0)
    {
      tls_fail (rc, "signing the instance identity document", error);
      return NULL;
    }
  b64 = g_base64_encode (sig.data, sig.size);
  gnutls_free (sig.data);
  len = strlen (b64);
  out = g_string_sized_new (len + len / 64 + 1);
  for (gsize i = 0; i < len; i += 64)
    {
      if (i > 0)
        g_string_append_c (out, '\n');
      g_string_append_len (out, b64 + i, MIN (64, len - i));
    }
  return g_string_free (out, FALSE);
}

gboolean
ecsl_tls_verify_identity (EcslTls *self, const char *document, const char *signature, GError **error)
{
  gsize sig_len = 0;
  g_autofree guint8 *sig_bytes = ecsl_base64_decode_strict (signature, &sig_len);
  gnutls_datum_t data = { (unsigned char *) document, (unsigned) strlen (document) };
  gnutls_datum_t sig;

  if (sig_bytes == NULL)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                           "instanceIdentityDocumentSignature is not base64");
      return FALSE;
    }
  sig.data = sig_bytes;
  sig.size = (unsigned) sig_len;
  if (gnutls_pubkey_verify_data2 (self->identity_pub, GNUTLS_SIGN_RSA_SHA256, 0, &data, &sig) < 0)
    {
      g_set_error_literal (error, ECSL_API_ERROR, ECSL_API_ERROR_INVALID_PARAMETER,
                           "instanceIdentityDocumentSignature does not verify against the instance identity document");
      return FALSE;
    }
  return TRUE;
}

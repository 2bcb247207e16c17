/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-tls-trust.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------- */
/* The certificates, as Go's crypto/x509 loads them on Linux, kept as DER by subject */

static const char *const go_cert_files[] = {
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/ca-bundle.pem",
  "/etc/pki/tls/cacert.pem",
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
  "/etc/ssl/cert.pem",
  NULL,
};
static const char *const go_cert_dirs[] = { "/etc/ssl/certs", "/etc/pki/tls/certs", NULL };

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"
#define MAX_CHAIN 16

struct _EcsaTlsTrust
{
  GTlsDatabase parent_instance;

  char *file; /* SSL_CERT_FILE, NULL when unset or empty */
  char *dir;  /* SSL_CERT_DIR, likewise */

  GMutex lock; /* guards what follows: handshakes run in glib-networking's threads */
  gboolean loaded;
  GHashTable *by_subject; /* raw subject DN (GBytes) -> GPtrArray of DER (GBytes) */
  GHashTable *seen;       /* DER (GBytes) set: each certificate once */
  guint n_certificates;
};

G_DEFINE_FINAL_TYPE (EcsaTlsTrust, ecsa_tls_trust, G_TYPE_TLS_DATABASE)

static GBytes *
datum_to_bytes (const gnutls_datum_t *datum)
{
  return g_bytes_new (datum->data, datum->size);
}

/* One DER TLV at *p (before end): its tag (low-tag-number form only), and where its contents
 * and the whole TLV end. FALSE when it does not fit or is not DER (indefinite length). */
static gboolean
der_next (const guint8 **p, const guint8 *end, guint8 *tag, const guint8 **contents, const guint8 **tlv_end)
{
  const guint8 *q = *p;
  gsize len;

  if (end - q < 2 || (q[0] & 0x1f) == 0x1f)
    return FALSE;
  *tag = *q++;
  len = *q++;
  if (len & 0x80)
    {
      guint n = len & 0x7f;

      if (n == 0 || n > 4 || (gsize) (end - q) < n)
        return FALSE;
      len = 0;
      while (n-- > 0)
        len = (len << 8) | *q++;
    }
  if ((gsize) (end - q) < len)
    return FALSE;
  *contents = q;
  *tlv_end = q + len;
  *p = *tlv_end;
  return TRUE;
}

gboolean
ecsa_tls_der_certificate_subject (const guint8 *der, gsize len, const guint8 **subject, gsize *subject_len)
{
  static const guint8 tbs_fields[] = { 0x02 /* serialNumber */, 0x30 /* signature */, 0x30 /* issuer */,
                                       0x30 /* validity */, 0x30 /* subject */ };
  const guint8 *p = der, *end = der + len, *contents, *tlv_end, *start;
  guint8 tag;

  g_return_val_if_fail (der != NULL || len == 0, FALSE);
  /* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
   * signature, issuer, validity, subject, ... }, ... } (RFC 5280 4.1) */
  if (!der_next (&p, end, &tag, &contents, &tlv_end) || tag != 0x30)
    return FALSE;
  p = contents;
  end = tlv_end;
  if (!der_next (&p, end, &tag, &contents, &tlv_end) || tag != 0x30)
    return FALSE;
  p = contents;
  end = tlv_end;
  for (guint i = 0; i < G_N_ELEMENTS (tbs_fields); i++)
    {
      start = p;
      if (!der_next (&p, end, &tag, &contents, &tlv_end))
        return FALSE;
      if (i == 0 && tag == 0xa0) /* the version: skipped */
        {
          start = p;
          if (!der_next (&p, end, &tag, &contents, &tlv_end))
            return FALSE;
        }
      if (tag != tbs_fields[i])
        return FALSE;
    }
  *subject = start;
  *subject_len = (gsize) (tlv_end - start);
  return TRUE;
}

/* Keeps one certificate (DER) under its subject, unless already kept or not a certificate (Go's
 * AppendCertsFromPEM skips what does not parse). Only the DER and the subject stay in memory: the
 * certificate is parsed, alone, when a chain names its subject as an issuer. Here only the DER
 * framing is walked to the subject: a full parse of every certificate (libtasn1) made reading the
 * store cost 30 ms of CPU at each start-up, before the first TLS handshake could begin. */
static gboolean
add_certificate (EcsaTlsTrust *self, const gnutls_datum_t *der)
{
  g_autoptr(GBytes) bytes = datum_to_bytes (der);
  g_autoptr(GBytes) subject = NULL;
  const guint8 *dn;
  gsize dn_len;
  GPtrArray *same_subject;

  /* the bundle and the hashed directory hold the same certificates */
  if (g_hash_table_contains (self->seen, bytes))
    return FALSE;
  if (!ecsa_tls_der_certificate_subject (der->data, der->size, &dn, &dn_len))
    return FALSE;
  subject = g_bytes_new (dn, dn_len);
  g_hash_table_add (self->seen, g_bytes_ref (bytes));
  same_subject = g_hash_table_lookup (self->by_subject, subject);
  if (same_subject == NULL)
    {
      same_subject = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      g_hash_table_insert (self->by_subject, g_bytes_ref (subject), same_subject);
    }
  g_ptr_array_add (same_subject, g_steal_pointer (&bytes));
  return TRUE;
}

/* Adds each CERTIFICATE block of `data`; returns how many were new. */
static guint
add_pem (EcsaTlsTrust *self, const char *data, gsize len)
{
  g_autofree char *text = g_strndup (data, len);
  const char *p = text;
  guint added = 0;

  while ((p = strstr (p, PEM_BEGIN)) != NULL)
    {
      const char *end = strstr (p, PEM_END);
      gnutls_datum_t pem, der = { NULL, 0 };

      if (end == NULL)
        break;
      end += strlen (PEM_END);
      pem.data = (unsigned char *) p;
      pem.size = (unsigned int) (end - p);
      p = end;
      if (gnutls_pem_base64_decode2 ("CERTIFICATE", &pem, &der) < 0)
        continue;
      if (add_certificate (self, &der))
        added++;
      gnutls_free (der.data);
    }
  return added;
}

static guint
add_file (EcsaTlsTrust *self, const char *path, gboolean *readable)
{
  g_autofree char *data = NULL;
  gsize len;

  *readable = g_file_get_contents (path, &data, &len, NULL);
  return *readable ? add_pem (self, data, len) : 0;
}

/* Reads `file` and `dir` (NULL: Go's defaults); returns how many certificates were new. */
static guint
add_certificates (EcsaTlsTrust *self, const char *file, const char *dir)
{
  g_auto(GStrv) dirs = dir != NULL ? g_strsplit (dir, ":", -1) : g_strdupv ((char **) go_cert_dirs);
  gboolean readable;
  guint count = 0;

  if (file != NULL)
    count += add_file (self, file, &readable);
  else
    for (guint i = 0; go_cert_files[i] != NULL; i++)
      {
        count += add_file (self, go_cert_files[i], &readable);
        if (readable)
          break;
      }
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autoptr(GDir) d = *dirs[i] != '\0' ? g_dir_open (dirs[i], 0, NULL) : NULL;
      const char *name;

      if (d == NULL)
        continue;
      while ((name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *path = g_build_filename (dirs[i], name, NULL);

          if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
            count += add_file (self, path, &readable);
        }
    }
  return count;
}

static gboolean
load_locked (EcsaTlsTrust *self, GError **error)
{
  guint count;

  if (self->loaded)
    return TRUE;
  count = add_certificates (self, self->file, self->dir);
  if (count == 0 && (self->file != NULL || self->dir != NULL))
    {
      g_warning ("No certificate found in SSL_CERT_FILE '%s' or SSL_CERT_DIR '%s': using the system trust store",
                 self->file != NULL ? self->file : "", self->dir != NULL ? self->dir : "");
      count = add_certificates (self, NULL, NULL);
    }
  if (count == 0)
    {
      g_set_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC, "no trusted certificate: the system trust store (%s) is empty",
                   go_cert_files[0]);
      return FALSE;
    }
  self->n_certificates = count;
  self->loaded = TRUE;
  g_debug ("Trusting %u certificates%s", count,
           self->file != NULL || self->dir != NULL ? " from SSL_CERT_FILE/SSL_CERT_DIR" : "");
  return TRUE;
}

gboolean
ecsa_tls_trust_load (EcsaTlsTrust *self, GError **error)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (ECSA_IS_TLS_TRUST (self), FALSE);
  locker = g_mutex_locker_new (&self->lock);
  return load_locked (self, error);
}

guint
ecsa_tls_trust_get_n_certificates (EcsaTlsTrust *self)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (ECSA_IS_TLS_TRUST (self), 0);
  locker = g_mutex_locker_new (&self->lock);
  load_locked (self, NULL);
  return self->n_certificates;
}

/* The trusted certificates (DER) whose subject is `subject`, appended to `out` (new references). */
static void
anchors_for_subject (EcsaTlsTrust *self, GBytes *subject, GPtrArray *out)
{
  GPtrArray *same_subject = g_hash_table_lookup (self->by_subject, subject);

  for (guint i = 0; same_subject != NULL && i < same_subject->len; i++)
    g_ptr_array_add (out, g_bytes_ref (g_ptr_array_index (same_subject, i)));
}

static gboolean
import_der (gnutls_x509_crt_t *crt, const guint8 *data, gsize size)
{
  gnutls_datum_t datum = { (unsigned char *) data, (unsigned int) size };

  if (gnutls_x509_crt_init (crt) < 0)
    return FALSE;
  if (gnutls_x509_crt_import (*crt, &datum, GNUTLS_X509_FMT_DER) < 0)
    {
      gnutls_x509_crt_deinit (*crt);
      return FALSE;
    }
  return TRUE;
}

static GBytes *
raw_dn (gnutls_x509_crt_t crt, gboolean issuer)
{
  gnutls_datum_t dn = { NULL, 0 };
  GBytes *bytes;

  if ((issuer ? gnutls_x509_crt_get_raw_issuer_dn (crt, &dn) : gnutls_x509_crt_get_raw_dn (crt, &dn)) < 0)
    return NULL;
  bytes = datum_to_bytes (&dn);
  gnutls_free (dn.data);
  return bytes;
}

static const struct
{
  unsigned int gnutls_flag;
  GTlsCertificateFlags flag;
} status_map[] = {
  { GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA, G_TLS_CERTIFICATE_UNKNOWN_CA },
  { GNUTLS_CERT_NOT_ACTIVATED, G_TLS_CERTIFICATE_NOT_ACTIVATED },
  { GNUTLS_CERT_EXPIRED, G_TLS_CERTIFICATE_EXPIRED },
  { GNUTLS_CERT_REVOKED, G_TLS_CERTIFICATE_REVOKED },
  { GNUTLS_CERT_INSECURE_ALGORITHM, G_TLS_CERTIFICATE_INSECURE },
  { GNUTLS_CERT_UNEXPECTED_OWNER, G_TLS_CERTIFICATE_BAD_IDENTITY },
};

/* GnuTLS's verification status as GTlsCertificateFlags; anything unnamed is a generic error. */
static GTlsCertificateFlags
flags_from_status (unsigned int status)
{
  GTlsCertificateFlags flags = 0;

  if (status != GNUTLS_CERT_INVALID)
    status &= ~GNUTLS_CERT_INVALID;
  for (guint i = 0; i < G_N_ELEMENTS (status_map); i++)
    if (status & status_map[i].gnutls_flag)
      {
        flags |= status_map[i].flag;
        status &= ~status_map[i].gnutls_flag;
      }
  if (status != 0)
    flags |= G_TLS_CERTIFICATE_GENERIC_ERROR;
  return flags;
}

/* The host name or address `identity` names, NULL if none. */
static char *
identity_hostname (GSocketConnectable *identity)
{
  if (G_IS_NETWORK_ADDRESS (identity))
    return g_strdup (g_network_address_get_hostname (G_NETWORK_ADDRESS (identity)));
  if (G_IS_NETWORK_SERVICE (identity))
    return g_strdup (g_network_service_get_domain (G_NETWORK_SERVICE (identity)));
  if (G_IS_INET_SOCKET_ADDRESS (identity))
    return g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (identity)));
  return NULL;
}

/* Verifies `chain` (leaf first) against a trust list made of only the trusted certificates that
 * could have issued one of its certificates, parsed for this verification alone. */
static GTlsCertificateFlags
trust_verify_chain (GTlsDatabase *database, GTlsCertificate *chain, const char *purpose, GSocketConnectable *identity,
                    GTlsInteraction *interaction, GTlsDatabaseVerifyFlags flags, GCancellable *cancellable,
                    GError **error)
{
  EcsaTlsTrust *self = ECSA_TLS_TRUST (database);
  g_autoptr(GPtrArray) anchors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  gnutls_x509_crt_t crts[MAX_CHAIN];
  gnutls_x509_trust_list_t list = NULL;
  gnutls_typed_vdata_st vdata[1];
  unsigned int n = 0, n_vdata = 0, status = 0;
  GTlsCertificateFlags result = G_TLS_CERTIFICATE_GENERIC_ERROR;
  g_autofree char *hostname = NULL;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return G_TLS_CERTIFICATE_GENERIC_ERROR;
  for (GTlsCertificate *c = chain; c != NULL && n < MAX_CHAIN; c = g_tls_certificate_get_issuer (c))
    {
      g_autoptr(GByteArray) der = NULL;

      g_object_get (c, "certificate", &der, NULL);
      if (der == NULL || !import_der (&crts[n], der->data, der->len))
        {
          g_set_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                       "certificate %u of the peer's chain could not be read", n);
          goto out;
        }
      n++;
    }
  {
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

    if (!load_locked (self, error))
      goto out;
    for (unsigned int i = 0; i < n; i++)
      {
        g_autoptr(GBytes) issuer = raw_dn (crts[i], TRUE);

        if (issuer != NULL)
          anchors_for_subject (self, issuer, anchors);
      }
  }
  if (gnutls_x509_trust_list_init (&list, 0) < 0)
    goto out;
  for (guint i = 0; i < anchors->len; i++)
    {
      gsize size;
      const guint8 *data = g_bytes_get_data (g_ptr_array_index (anchors, i), &size);
      gnutls_x509_crt_t anchor;

      /* the list owns what it takes; GNUTLS_TL_NO_DUPLICATES frees a repeated one */
      if (import_der (&anchor, data, size) && gnutls_x509_trust_list_add_cas (list, &anchor, 1, GNUTLS_TL_NO_DUPLICATES) != 1)
        gnutls_x509_crt_deinit (anchor);
    }
  if (purpose != NULL)
    {
      vdata[n_vdata].type = GNUTLS_DT_KEY_PURPOSE_OID;
      vdata[n_vdata].data = (unsigned char *) purpose;
      vdata[n_vdata].size = 0;
      n_vdata++;
    }
  if (gnutls_x509_trust_list_verify_crt2 (list, crts, n, vdata, n_vdata, 0, &status, NULL) < 0
      || g_cancellable_set_error_if_cancelled (cancellable, error))
    goto out;
  result = flags_from_status (status);
  if (identity != NULL)
    {
      hostname = identity_hostname (identity);
      if (hostname == NULL || !gnutls_x509_crt_check_hostname (crts[0], hostname))
        result |= G_TLS_CERTIFICATE_BAD_IDENTITY;
    }

out:
  if (list != NULL)
    gnutls_x509_trust_list_deinit (list, 1);
  for (unsigned int i = 0; i < n; i++)
    gnutls_x509_crt_deinit (crts[i]);
  return result;
}

/* The trusted certificates, as GTlsCertificates, for the lookups (rare: not used by handshakes). */
static GTlsCertificate *
certificate_new (GBytes *der)
{
  g_autoptr(GByteArray) array = g_byte_array_new ();
  gsize size;
  const guint8 *data = g_bytes_get_data (der, &size);

  g_byte_array_append (array, data, (guint) size);
  return g_initable_new (g_tls_backend_get_certificate_type (g_tls_backend_get_default ()), NULL, NULL, "certificate",
                         array, NULL);
}

static char *
handle_for_der (GBytes *der)
{
  g_autofree char *sum = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, der);

  return g_strconcat ("ecsa-trust:#", sum, NULL);
}

static char *
trust_create_certificate_handle (GTlsDatabase *database, GTlsCertificate *certificate)
{
  EcsaTlsTrust *self = ECSA_TLS_TRUST (database);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  g_autoptr(GByteArray) der = NULL;
  g_autoptr(GBytes) bytes = NULL;

  g_object_get (certificate, "certificate", &der, NULL);
  if (der == NULL || !load_locked (self, NULL))
    return NULL;
  bytes = g_bytes_new (der->data, der->len);
  return g_hash_table_contains (self->seen, bytes) ? handle_for_der (bytes) : NULL;
}

static GTlsCertificate *
trust_lookup_certificate_for_handle (GTlsDatabase *database, const char *handle, GTlsInteraction *interaction,
                                     GTlsDatabaseLookupFlags flags, GCancellable *cancellable, GError **error)
{
  EcsaTlsTrust *self = ECSA_TLS_TRUST (database);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  GHashTableIter iter;
  GBytes *der;

  if (!load_locked (self, error))
    return NULL;
  g_hash_table_iter_init (&iter, self->seen);
  while (g_hash_table_iter_next (&iter, (gpointer *) &der, NULL))
    {
      g_autofree char *candidate = handle_for_der (der);

      if (g_strcmp0 (candidate, handle) == 0)
        return certificate_new (der);
    }
  return NULL;
}

/* The trusted certificates issued by the raw DN `dn` (TRUE) or whose subject is `dn` (FALSE). */
static GList *
lookup_by_dn (EcsaTlsTrust *self, GBytes *dn, gboolean issued_by, GError **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  GList *certificates = NULL;

  if (!load_locked (self, error))
    return NULL;
  if (!issued_by)
    anchors_for_subject (self, dn, found);
  else
    {
      GHashTableIter iter;
      GBytes *der;

      g_hash_table_iter_init (&iter, self->seen);
      while (g_hash_table_iter_next (&iter, (gpointer *) &der, NULL))
        {
          gnutls_x509_crt_t crt;
          gsize size;
          const guint8 *data = g_bytes_get_data (der, &size);

          if (import_der (&crt, data, size))
            {
              g_autoptr(GBytes) issuer = raw_dn (crt, TRUE);

              if (issuer != NULL && g_bytes_equal (issuer, dn))
                g_ptr_array_add (found, g_bytes_ref (der));
              gnutls_x509_crt_deinit (crt);
            }
        }
    }
  g_clear_pointer (&locker, g_mutex_locker_free);
  for (guint i = found->len; i > 0; i--)
    {
      GTlsCertificate *certificate = certificate_new (g_ptr_array_index (found, i - 1));

      if (certificate != NULL)
        certificates = g_list_prepend (certificates, certificate);
    }
  return certificates;
}

static GTlsCertificate *
trust_lookup_certificate_issuer (GTlsDatabase *database, GTlsCertificate *certificate, GTlsInteraction *interaction,
                                 GTlsDatabaseLookupFlags flags, GCancellable *cancellable, GError **error)
{
  g_autoptr(GByteArray) der = NULL;
  g_autoptr(GBytes) issuer = NULL;
  GList *candidates;
  GTlsCertificate *found = NULL;
  gnutls_x509_crt_t crt;

  g_object_get (certificate, "certificate", &der, NULL);
  if (der == NULL || !import_der (&crt, der->data, der->len))
    return NULL;
  issuer = raw_dn (crt, TRUE);
  gnutls_x509_crt_deinit (crt);
  if (issuer == NULL)
    return NULL;
  candidates = lookup_by_dn (ECSA_TLS_TRUST (database), issuer, FALSE, error);
  if (candidates != NULL)
    found = g_object_ref (candidates->data);
  g_list_free_full (candidates, g_object_unref);
  return found;
}

static GList *
trust_lookup_certificates_issued_by (GTlsDatabase *database, GByteArray *issuer_raw_dn, GTlsInteraction *interaction,
                                     GTlsDatabaseLookupFlags flags, GCancellable *cancellable, GError **error)
{
  g_autoptr(GBytes) dn = g_bytes_new (issuer_raw_dn->data, issuer_raw_dn->len);

  return lookup_by_dn (ECSA_TLS_TRUST (database), dn, TRUE, error);
}

static void
ecsa_tls_trust_finalize (GObject *object)
{
  EcsaTlsTrust *self = ECSA_TLS_TRUST (object);

  g_hash_table_unref (self->by_subject);
  g_hash_table_unref (self->seen);
  g_mutex_clear (&self->lock);
  g_free (self->file);
  g_free (self->dir);
  G_OBJECT_CLASS (ecsa_tls_trust_parent_class)->finalize (object);
}

static void
ecsa_tls_trust_class_init (EcsaTlsTrustClass *klass)
{
  GTlsDatabaseClass *database_class = G_TLS_DATABASE_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = ecsa_tls_trust_finalize;
  database_class->verify_chain = trust_verify_chain;
  database_class->create_certificate_handle = trust_create_certificate_handle;
  database_class->lookup_certificate_for_handle = trust_lookup_certificate_for_handle;
  database_class->lookup_certificate_issuer = trust_lookup_certificate_issuer;
  database_class->lookup_certificates_issued_by = trust_lookup_certificates_issued_by;
}

static void
ecsa_tls_trust_init (EcsaTlsTrust *self)
{
  g_mutex_init (&self->lock);
  self->by_subject = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref,
                                            (GDestroyNotify) g_ptr_array_unref);
  self->seen = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
}

/* ------------------------------------------------------------------------------------------- */

static GMutex current_lock;
static EcsaTlsTrust *current;

static char *
env_or_null (const char *name)
{
  const char *value = g_getenv (name);

  return value != NULL && *value != '\0' ? g_strdup (value) : NULL;
}

EcsaTlsTrust *
ecsa_tls_trust_get (void)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&current_lock);
  g_autofree char *file = env_or_null ("SSL_CERT_FILE");
  g_autofree char *dir = env_or_null ("SSL_CERT_DIR");

  /* the latest one is kept: a process whose environment changes (tests) gets a new one */
  if (current == NULL || g_strcmp0 (current->file, file) != 0 || g_strcmp0 (current->dir, dir) != 0)
    {
      g_clear_object (&current);
      current = g_object_new (ECSA_TYPE_TLS_TRUST, NULL);
      current->file = g_steal_pointer (&file);
      current->dir = g_steal_pointer (&dir);
    }
  return g_object_ref (current);
}

static void
preload_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  g_autoptr(GError) error = NULL;

  /* a failure is told by the first connection that needs the trust */
  ecsa_tls_trust_load (ECSA_TLS_TRUST (source_object), &error);
  g_task_return_boolean (task, TRUE);
}

void
ecsa_tls_trust_install_default (void)
{
  g_autoptr(EcsaTlsTrust) trust = ecsa_tls_trust_get ();
  g_autoptr(GTask) preload = g_task_new (trust, NULL, NULL, NULL);

  g_tls_backend_set_default_database (g_tls_backend_get_default (), G_TLS_DATABASE (trust));
  /* read the certificates now, beside the start-up's first steps, rather than when the first
   * connection needs them */
  g_task_run_in_thread (preload, preload_thread);
}

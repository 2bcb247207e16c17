/* test-tls-trust.c: EcsaTlsTrust, the process's trust store (ecsa-tls-trust.h).
 *
 * Certificates are made with certtool (gnutls-bin): a root CA, an intermediate it signed, leaves for
 * 127.0.0.1/localhost signed by each, an expired leaf, a client-only leaf, and a second CA with the
 * same subject as the root but another key. Verification is checked directly (chains, identities,
 * purposes, dates) and through real HTTPS connections of a libsoup session. The store keeps only an
 * index of where the certificates lie: files rewritten or removed after the load, and the heap the
 * loaded store holds, are checked too.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "ecsa-build-config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libsoup/soup.h>
#include <malloc.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ecsa-test-acs.h"
#include "ecsa-test-utils.h"
#include "ecsa-tls-trust.h"

#define SERVER_OID G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER

typedef struct
{
  char *dir;
} Fixture;

static char *
path (Fixture *fx, const char *name)
{
  return g_build_filename (fx->dir, name, NULL);
}

static void
certtool (const char *const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("certtool %s failed: %s", argv[1], err);
}

/* name.key and name.pem, signed by `issuer` (NULL: self-signed) from `template_text`. */
static void
make_cert (Fixture *fx, const char *name, const char *issuer, const char *template_text)
{
  g_autofree char *base = g_strdup_printf ("%s.tmpl", name);
  g_autofree char *tmpl = path (fx, base);
  g_autofree char *key = NULL;
  g_autofree char *pem = NULL;
  g_autofree char *issuer_key = NULL;
  g_autofree char *issuer_pem = NULL;

  g_free (base);
  base = g_strdup_printf ("%s.key", name);
  key = path (fx, base);
  g_free (base);
  base = g_strdup_printf ("%s.pem", name);
  pem = path (fx, base);
  g_assert_true (g_file_set_contents (tmpl, template_text, -1, NULL));
  {
    const char *argv[] = { "certtool", "--generate-privkey", "--key-type=ecdsa", "--no-text", "--outfile", key, NULL };
    certtool (argv);
  }
  if (issuer == NULL)
    {
      const char *argv[] = { "certtool", "--generate-self-signed", "--load-privkey", key, "--template", tmpl,
                             "--no-text", "--outfile", pem, NULL };
      certtool (argv);
      return;
    }
  g_free (base);
  base = g_strdup_printf ("%s.key", issuer);
  issuer_key = path (fx, base);
  g_free (base);
  base = g_strdup_printf ("%s.pem", issuer);
  issuer_pem = path (fx, base);
  {
    const char *argv[] = { "certtool", "--generate-certificate", "--load-privkey", key, "--load-ca-certificate",
                           issuer_pem, "--load-ca-privkey", issuer_key, "--template", tmpl, "--no-text", "--outfile",
                           pem, NULL };
    certtool (argv);
  }
}

#define CA_TEMPLATE "cn = \"ecsa trust test root\"\nca\ncert_signing_key\nexpiration_days = 2\n"
#define LEAF_TEMPLATE                                                                                                 \
  "cn = \"127.0.0.1\"\nip_address = \"127.0.0.1\"\ndns_name = \"localhost\"\ntls_www_server\nsigning_key\n"          \
  "expiration_days = 2\n"

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->dir = ecsa_test_mkdtemp ();
  make_cert (fx, "root", NULL, CA_TEMPLATE);
  /* same subject as root, another key: a look-alike that signed nothing */
  make_cert (fx, "twin", NULL, CA_TEMPLATE);
  make_cert (fx, "inter", "root", "cn = \"ecsa trust test intermediate\"\nca\ncert_signing_key\nexpiration_days = 2\n");
  make_cert (fx, "leaf", "root", LEAF_TEMPLATE);
  make_cert (fx, "leaf2", "inter", LEAF_TEMPLATE);
  make_cert (fx, "expired", "root",
             "cn = \"127.0.0.1\"\nip_address = \"127.0.0.1\"\ntls_www_server\nsigning_key\n"
             "activation_date = \"2001-01-01 00:00:00 UTC\"\nexpiration_date = \"2002-01-01 00:00:00 UTC\"\n");
  make_cert (fx, "client", "root",
             "cn = \"127.0.0.1\"\nip_address = \"127.0.0.1\"\ntls_www_client\nsigning_key\nexpiration_days = 2\n");
  g_unsetenv ("SSL_CERT_FILE");
  g_unsetenv ("SSL_CERT_DIR");
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_unsetenv ("SSL_CERT_FILE");
  g_unsetenv ("SSL_CERT_DIR");
  ecsa_test_rmdir_recursive (fx->dir);
  g_free (fx->dir);
}

/* The trust for SSL_CERT_FILE=dir/file (NULL: unset) and SSL_CERT_DIR (NULL: "/nonexistent"). */
static EcsaTlsTrust *
trust_for (Fixture *fx, const char *file, const char *dir)
{
  if (file != NULL)
    {
      g_autofree char *p = path (fx, file);
      g_setenv ("SSL_CERT_FILE", p, TRUE);
    }
  else
    g_unsetenv ("SSL_CERT_FILE");
  g_setenv ("SSL_CERT_DIR", dir != NULL ? dir : "/nonexistent", TRUE);
  return ecsa_tls_trust_get ();
}

/* A chain: the PEM files concatenated, leaf first. */
static GTlsCertificate *
chain_of (Fixture *fx, const char *const *names)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *file = path (fx, "chain.pem");
  GTlsCertificate *chain;

  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autofree char *base = g_strdup_printf ("%s.pem", names[i]);
      g_autofree char *p = path (fx, base);
      g_autofree char *data = NULL;

      g_assert_true (g_file_get_contents (p, &data, NULL, NULL));
      g_string_append (text, data);
    }
  g_assert_true (g_file_set_contents (file, text->str, -1, NULL));
  chain = g_tls_certificate_new_from_file (file, &error);
  g_assert_no_error (error);
  return chain;
}

static GTlsCertificateFlags
verify (EcsaTlsTrust *trust, GTlsCertificate *chain, const char *purpose, const char *host)
{
  g_autoptr(GSocketConnectable) identity = host != NULL ? g_network_address_new (host, 443) : NULL;
  g_autoptr(GError) error = NULL;
  GTlsCertificateFlags flags;

  flags = g_tls_database_verify_chain (G_TLS_DATABASE (trust), chain, purpose, identity, NULL,
                                       G_TLS_DATABASE_VERIFY_NONE, NULL, &error);
  g_assert_no_error (error);
  return flags;
}

/* The contents of dir/name.pem. */
static char *
pem_of (Fixture *fx, const char *name)
{
  g_autofree char *base = g_strdup_printf ("%s.pem", name);
  g_autofree char *file = path (fx, base);
  char *pem = NULL;

  g_assert_true (g_file_get_contents (file, &pem, NULL, NULL));
  return pem;
}

/* `text` and newlines up to `size` bytes. */
static char *
padded (const char *text, gsize size)
{
  GString *s = g_string_new (text);

  g_assert_cmpuint (s->len, <=, size);
  while (s->len < size)
    g_string_append_c (s, '\n');
  return g_string_free (s, FALSE);
}

/* Writes `text` over the start of `file`, in place: same inode, same size when as long. */
static void
overwrite (const char *file, const char *text)
{
  int fd = open (file, O_WRONLY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pwrite (fd, text, strlen (text), 0), ==, (gssize) strlen (text));
  g_assert_cmpint (close (fd), ==, 0);
}

static void
test_verify (Fixture *fx, gconstpointer data)
{
  g_autoptr(EcsaTlsTrust) trust = trust_for (fx, "root.pem", NULL);
  g_autoptr(EcsaTlsTrust) twin = NULL;
  g_autoptr(EcsaTlsTrust) inter = NULL;
  const char *leaf[] = { "leaf", NULL };
  const char *leaf2_alone[] = { "leaf2", NULL };
  const char *leaf2_chain[] = { "leaf2", "inter", NULL };
  const char *leaf_with_root[] = { "leaf", "root", NULL };
  const char *expired[] = { "expired", NULL };
  const char *client[] = { "client", NULL };
  g_autoptr(GTlsCertificate) c_leaf = chain_of (fx, leaf);
  g_autoptr(GTlsCertificate) c_leaf2_alone = chain_of (fx, leaf2_alone);
  g_autoptr(GTlsCertificate) c_leaf2_chain = chain_of (fx, leaf2_chain);
  g_autoptr(GTlsCertificate) c_leaf_with_root = chain_of (fx, leaf_with_root);
  g_autoptr(GTlsCertificate) c_expired = chain_of (fx, expired);
  g_autoptr(GTlsCertificate) c_client = chain_of (fx, client);

  g_assert_nonnull (g_tls_certificate_get_issuer (c_leaf2_chain));
  g_assert_cmpuint (ecsa_tls_trust_get_n_certificates (trust), ==, 1);

  /* signed by the root, for 127.0.0.1 and localhost */
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, "127.0.0.1"), ==, 0);
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, "localhost"), ==, 0);
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, NULL), ==, 0);
  g_assert_cmpint (verify (trust, c_leaf_with_root, SERVER_OID, "127.0.0.1"), ==, 0);
  /* another name or address */
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, "ecs.us-west-2.amazonaws.com"), ==,
                   G_TLS_CERTIFICATE_BAD_IDENTITY);
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, "127.0.0.2"), ==, G_TLS_CERTIFICATE_BAD_IDENTITY);
  /* through the intermediate: only when the peer sends it */
  g_assert_cmpint (verify (trust, c_leaf2_chain, SERVER_OID, "127.0.0.1"), ==, 0);
  g_assert_cmpint (verify (trust, c_leaf2_alone, SERVER_OID, "127.0.0.1"), ==, G_TLS_CERTIFICATE_UNKNOWN_CA);
  /* dates */
  g_assert_cmpint (verify (trust, c_expired, SERVER_OID, "127.0.0.1"), ==, G_TLS_CERTIFICATE_EXPIRED);
  /* a client certificate is no server's */
  g_assert_cmpint (verify (trust, c_client, SERVER_OID, "127.0.0.1") & G_TLS_CERTIFICATE_GENERIC_ERROR, !=, 0);
  g_assert_cmpint (verify (trust, c_client, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_CLIENT, NULL), ==, 0);

  /* the look-alike root (same subject, other key) vouches for nothing */
  twin = trust_for (fx, "twin.pem", NULL);
  g_assert_true (twin != trust);
  g_assert_cmpint (verify (twin, c_leaf, SERVER_OID, "127.0.0.1"), !=, 0);
  g_assert_cmpint (verify (twin, c_leaf2_chain, SERVER_OID, "127.0.0.1"), !=, 0);

  /* a trusted intermediate is an anchor of its own */
  inter = trust_for (fx, "inter.pem", NULL);
  g_assert_cmpint (verify (inter, c_leaf2_alone, SERVER_OID, "127.0.0.1"), ==, 0);
  g_assert_cmpint (verify (inter, c_leaf, SERVER_OID, "127.0.0.1"), ==, G_TLS_CERTIFICATE_UNKNOWN_CA);
}

/* The raw subject DN of dir/name.pem. */
static GByteArray *
raw_subject (Fixture *fx, const char *name)
{
  g_autofree char *base = g_strdup_printf ("%s.pem", name);
  g_autofree char *file = path (fx, base);
  g_autofree char *pem = NULL;
  gnutls_datum_t datum, dn = { NULL, 0 };
  gnutls_x509_crt_t crt;
  GByteArray *out;
  gsize len;

  g_assert_true (g_file_get_contents (file, &pem, &len, NULL));
  datum.data = (unsigned char *) pem;
  datum.size = (unsigned int) len;
  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_import (crt, &datum, GNUTLS_X509_FMT_PEM), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_get_raw_dn (crt, &dn), ==, 0);
  out = g_byte_array_new ();
  g_byte_array_append (out, dn.data, dn.size);
  gnutls_free (dn.data);
  gnutls_x509_crt_deinit (crt);
  return out;
}

static void
test_lookups (Fixture *fx, gconstpointer data)
{
  g_autofree char *bundle = path (fx, "bundle.pem");
  g_autoptr(EcsaTlsTrust) trust = NULL;
  const char *leaf[] = { "leaf", NULL };
  const char *leaf2[] = { "leaf2", NULL };
  const char *root[] = { "root", NULL };
  const char *inter[] = { "inter", NULL };
  g_autoptr(GTlsCertificate) c_leaf = chain_of (fx, leaf);
  g_autoptr(GTlsCertificate) c_leaf2 = chain_of (fx, leaf2);
  g_autoptr(GTlsCertificate) c_root = chain_of (fx, root);
  g_autoptr(GTlsCertificate) c_inter = chain_of (fx, inter);
  g_autoptr(GTlsCertificate) issuer = NULL;
  g_autoptr(GTlsCertificate) by_handle = NULL;
  g_autoptr(GByteArray) root_dn = raw_subject (fx, "root");
  g_autoptr(GByteArray) leaf_dn = raw_subject (fx, "leaf");
  g_autofree char *handle = NULL;
  GTlsDatabase *db;
  GList *issued;
  GError *error = NULL;

  {
    g_autofree char *r = path (fx, "root.pem");
    g_autofree char *i = path (fx, "inter.pem");
    g_autofree char *rd = NULL;
    g_autofree char *id = NULL;
    g_autofree char *both = NULL;

    g_assert_true (g_file_get_contents (r, &rd, NULL, NULL));
    g_assert_true (g_file_get_contents (i, &id, NULL, NULL));
    both = g_strconcat (rd, id, NULL);
    g_assert_true (g_file_set_contents (bundle, both, -1, NULL));
  }
  trust = trust_for (fx, "bundle.pem", NULL);
  db = G_TLS_DATABASE (trust);

  issuer = g_tls_database_lookup_certificate_issuer (db, c_leaf, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (issuer);
  g_assert_true (g_tls_certificate_is_same (issuer, c_root));
  g_clear_object (&issuer);
  issuer = g_tls_database_lookup_certificate_issuer (db, c_leaf2, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_tls_certificate_is_same (issuer, c_inter));

  handle = g_tls_database_create_certificate_handle (db, c_root);
  g_assert_nonnull (handle);
  g_assert_null (g_tls_database_create_certificate_handle (db, c_leaf));
  by_handle = g_tls_database_lookup_certificate_for_handle (db, handle, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL,
                                                            &error);
  g_assert_no_error (error);
  g_assert_true (g_tls_certificate_is_same (by_handle, c_root));
  g_assert_null (g_tls_database_lookup_certificate_for_handle (db, "ecsa-trust:#00", NULL,
                                                               G_TLS_DATABASE_LOOKUP_NONE, NULL, &error));
  g_assert_no_error (error);

  /* the root issued itself and the intermediate; nothing trusted was issued by the leaf */
  issued = g_tls_database_lookup_certificates_issued_by (db, root_dn, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_length (issued), ==, 2);
  g_list_free_full (issued, g_object_unref);
  issued = g_tls_database_lookup_certificates_issued_by (db, leaf_dn, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (issued);
}

/* What is read, as Go's crypto/x509 reads it: SSL_CERT_FILE, every file of each SSL_CERT_DIR entry,
 * CERTIFICATE blocks only, each certificate once. */
static void
test_loading (Fixture *fx, gconstpointer data)
{
  g_autofree char *certs = path (fx, "certs");
  g_autofree char *mixed = path (fx, "mixed.pem");
  g_autofree char *empty = path (fx, "empty.pem");
  g_autofree char *dirs = NULL;
  g_autoptr(EcsaTlsTrust) trust = NULL;
  g_autoptr(EcsaTlsTrust) again = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir (certs, 0700), ==, 0);
  {
    const char *names[] = { "root", "inter", "twin", NULL };
    g_autoptr(GString) text = g_string_new ("garbage before\n");

    for (guint i = 0; names[i] != NULL; i++)
      {
        g_autofree char *base = g_strdup_printf ("%s.pem", names[i]);
        g_autofree char *src = path (fx, base);
        g_autofree char *dst = g_build_filename (certs, base, NULL);
        g_autofree char *pem = NULL;

        g_assert_true (g_file_get_contents (src, &pem, NULL, NULL));
        g_assert_true (g_file_set_contents (dst, pem, -1, NULL));
        if (i < 2)
          g_string_append_printf (text, "%s%s", pem, pem); /* twice: counted once */
      }
    {
      g_autofree char *key = path (fx, "root.key");
      g_autofree char *pem = NULL;

      g_assert_true (g_file_get_contents (key, &pem, NULL, NULL)); /* not a CERTIFICATE block */
      g_string_append (text, pem);
    }
    g_string_append (text, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    g_assert_true (g_file_set_contents (mixed, text->str, -1, NULL));
    g_assert_true (g_file_set_contents (empty, "no certificate here\n", -1, NULL));
  }

  trust = trust_for (fx, "mixed.pem", NULL);
  g_assert_true (ecsa_tls_trust_load (trust, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ecsa_tls_trust_get_n_certificates (trust), ==, 2);
  /* same environment, same object */
  again = ecsa_tls_trust_get ();
  g_assert_true (again == trust);
  g_clear_object (&again);
  g_clear_object (&trust);

  /* SSL_CERT_DIR, a ':' list: every file of each directory, beside SSL_CERT_FILE */
  dirs = g_strconcat ("/nonexistent:", certs, NULL);
  trust = trust_for (fx, "mixed.pem", dirs);
  g_assert_cmpuint (ecsa_tls_trust_get_n_certificates (trust), ==, 3);
  g_clear_object (&trust);
  g_unsetenv ("SSL_CERT_FILE");
  g_setenv ("SSL_CERT_DIR", certs, TRUE);
  trust = ecsa_tls_trust_get ();
  /* no SSL_CERT_FILE: the first system bundle file, then the directory */
  g_assert_cmpuint (ecsa_tls_trust_get_n_certificates (trust), >=, 3);
  g_clear_object (&trust);

  /* names nothing: said, and the system store is used instead */
  trust = trust_for (fx, "empty.pem", NULL);
  g_test_expect_message ("ecsa", G_LOG_LEVEL_WARNING, "No certificate found in SSL_CERT_FILE '*empty.pem'*");
  if (g_file_test ("/etc/ssl/certs/ca-certificates.crt", G_FILE_TEST_EXISTS))
    {
      g_assert_true (ecsa_tls_trust_load (trust, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (ecsa_tls_trust_get_n_certificates (trust), >, 10);
    }
  else
    {
      g_assert_false (ecsa_tls_trust_load (trust, &error));
      g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC);
    }
  g_test_assert_expected_messages ();
}

/* The store keeps where each certificate lies, not the certificate: a file rewritten after the load
 * never yields another certificate than the one read then, not even the look-alike (same subject,
 * other key) written over the root, at its offset, in the same inode, the file keeping its size.
 * A certificate that moved is found where it is now. */
static void
test_rewritten (Fixture *fx, gconstpointer data)
{
  g_autofree char *bundle = path (fx, "bundle.pem");
  g_autofree char *root = pem_of (fx, "root");
  g_autofree char *twin = pem_of (fx, "twin");
  g_autofree char *inter = pem_of (fx, "inter");
  gsize slot = MAX (strlen (root), strlen (twin)) + 8;
  g_autofree char *root_slot = padded (root, slot);
  g_autofree char *twin_slot = padded (twin, slot);
  g_autofree char *loaded = g_strconcat (root_slot, inter, NULL);
  g_autofree char *swapped = g_strconcat (twin_slot, inter, NULL);
  g_autofree char *moved = g_strconcat (twin, inter, root, NULL);
  g_autofree char *root_handle = NULL;
  g_autofree char *handle = NULL;
  const char *leaf[] = { "leaf", NULL };
  const char *leaf2[] = { "leaf2", NULL };
  const char *twinleaf[] = { "twinleaf", NULL };
  const char *root_only[] = { "root", NULL };
  const char *twin_only[] = { "twin", NULL };
  const char *inter_only[] = { "inter", NULL };
  g_autoptr(GTlsCertificate) c_leaf = chain_of (fx, leaf);
  g_autoptr(GTlsCertificate) c_leaf2 = chain_of (fx, leaf2);
  g_autoptr(GTlsCertificate) c_twinleaf = NULL;
  g_autoptr(GTlsCertificate) c_root = chain_of (fx, root_only);
  g_autoptr(GTlsCertificate) c_twin = chain_of (fx, twin_only);
  g_autoptr(GTlsCertificate) c_inter = chain_of (fx, inter_only);
  g_autoptr(GTlsCertificate) found = NULL;
  g_autoptr(GByteArray) root_dn = raw_subject (fx, "root");
  g_autoptr(EcsaTlsTrust) trust = NULL;
  GTlsDatabase *db;
  GError *error = NULL;
  GList *issued;

  make_cert (fx, "twinleaf", "twin", LEAF_TEMPLATE);
  c_twinleaf = chain_of (fx, twinleaf);
  g_assert_true (g_file_set_contents (bundle, loaded, -1, NULL));
  trust = trust_for (fx, "bundle.pem", NULL);
  db = G_TLS_DATABASE (trust);
  g_assert_cmpuint (ecsa_tls_trust_get_n_certificates (trust), ==, 2);
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, "127.0.0.1"), ==, 0);
  g_assert_cmpint (verify (trust, c_leaf2, SERVER_OID, "127.0.0.1"), ==, 0);
  g_assert_cmpint (verify (trust, c_twinleaf, SERVER_OID, "127.0.0.1"), ==, G_TLS_CERTIFICATE_UNKNOWN_CA);
  root_handle = g_tls_database_create_certificate_handle (db, c_root);
  g_assert_nonnull (root_handle);

  /* the look-alike where the root was */
  g_assert_cmpuint (strlen (swapped), ==, strlen (loaded));
  overwrite (bundle, swapped);
  g_test_expect_message ("ecsa", G_LOG_LEVEL_WARNING,
                         "Trusted certificate files changed: 1 of the 2 certificates read at start-up from "
                         "SSL_CERT_FILE '*bundle.pem'* are no longer found, no longer trusted");
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, "127.0.0.1"), ==, G_TLS_CERTIFICATE_UNKNOWN_CA);
  g_test_assert_expected_messages ();
  g_assert_cmpint (verify (trust, c_twinleaf, SERVER_OID, "127.0.0.1"), ==, G_TLS_CERTIFICATE_UNKNOWN_CA);
  g_assert_cmpint (verify (trust, c_leaf2, SERVER_OID, "127.0.0.1"), ==, 0); /* the intermediate is still there */
  found = g_tls_database_lookup_certificate_issuer (db, c_leaf, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (found);
  g_assert_null (g_tls_database_create_certificate_handle (db, c_root));
  g_assert_null (g_tls_database_create_certificate_handle (db, c_twin));
  g_assert_null (g_tls_database_lookup_certificate_for_handle (db, root_handle, NULL, G_TLS_DATABASE_LOOKUP_NONE,
                                                               NULL, &error));
  g_assert_no_error (error);
  /* issued by the root's name: the intermediate, not the look-alike (which issued itself) */
  issued = g_tls_database_lookup_certificates_issued_by (db, root_dn, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_length (issued), ==, 1);
  g_assert_true (g_tls_certificate_is_same (issued->data, c_inter));
  g_list_free_full (issued, g_object_unref);
  g_assert_cmpuint (ecsa_tls_trust_get_n_certificates (trust), ==, 2);

  /* the root back, after the others: a new file, every offset moved */
  g_assert_true (g_file_set_contents (bundle, moved, -1, NULL));
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, "127.0.0.1"), ==, 0);
  g_assert_cmpint (verify (trust, c_leaf2, SERVER_OID, "127.0.0.1"), ==, 0);
  g_assert_cmpint (verify (trust, c_twinleaf, SERVER_OID, "127.0.0.1"), ==, G_TLS_CERTIFICATE_UNKNOWN_CA);
  found = g_tls_database_lookup_certificate_issuer (db, c_leaf, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_tls_certificate_is_same (found, c_root));
  handle = g_tls_database_create_certificate_handle (db, c_root);
  g_assert_cmpstr (handle, ==, root_handle);
}

typedef struct
{
  GError *error;
  gboolean done;
} Get;

static void
get_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Get *get = user_data;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &get->error);

  g_assert_true ((body != NULL) == (get->error == NULL));
  get->done = TRUE;
}

static void
server_cb (SoupServer *server, SoupServerMessage *msg, const char *path_, GHashTable *query, gpointer user_data)
{
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "ok", 2);
}

/* One GET over a new connection; the error (NULL: it worked). */
static GError *
get (SoupSession *session, const char *url)
{
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  Get result = { NULL, FALSE };
  GError *error;

  soup_message_add_flags (msg, SOUP_MESSAGE_NEW_CONNECTION);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, get_cb, &result);
  ecsa_test_wait_for_flag (NULL, &result.done, 20000);
  error = result.error;
  if (error == NULL && soup_message_get_status (msg) != 200)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "HTTP %u", soup_message_get_status (msg));
  return error;
}

/* Real handshakes: the process's default database is the trust; a libsoup session that names no
 * database uses it; each new connection verifies through it. */
static void
test_https (Fixture *fx, gconstpointer data)
{
  g_autoptr(SoupServer) server = soup_server_new (NULL, NULL);
  g_autoptr(SoupServer) twin_server = soup_server_new (NULL, NULL);
  g_autoptr(EcsaTlsTrust) trust = NULL;
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(GTlsDatabase) installed = NULL;
  g_autofree char *url = NULL;
  g_autofree char *twin_url = NULL;
  g_autofree char *localhost_url = NULL;
  g_autofree char *server_pem = path (fx, "server.pem");
  g_autofree char *server_key = path (fx, "server.key");
  g_autofree char *twin_dir = path (fx, "twin-server");
  GError *error;

  /* ecsa_test_server_listen_tls serves dir/server.pem: the leaf signed by the root */
  {
    g_autofree char *leaf = path (fx, "leaf.pem");
    g_autofree char *key = path (fx, "leaf.key");
    g_autofree char *pem = NULL;
    g_autofree char *k = NULL;

    g_assert_true (g_file_get_contents (leaf, &pem, NULL, NULL));
    g_assert_true (g_file_get_contents (key, &k, NULL, NULL));
    g_assert_true (g_file_set_contents (server_pem, pem, -1, NULL));
    g_assert_true (g_file_set_contents (server_key, k, -1, NULL));
  }
  soup_server_add_handler (server, NULL, server_cb, NULL, NULL);
  url = ecsa_test_server_listen_tls (server, fx->dir);
  localhost_url = g_strdup_printf ("https://localhost:%s", strrchr (url, ':') + 1);
  /* a server whose certificate names 127.0.0.1 but was signed by the look-alike root */
  g_assert_cmpint (g_mkdir (twin_dir, 0700), ==, 0);
  {
    Fixture twin = { .dir = twin_dir };
    g_autofree char *src = path (fx, "twin.pem");
    g_autofree char *src_key = path (fx, "twin.key");
    g_autofree char *dst = path (&twin, "twin.pem");
    g_autofree char *dst_key = path (&twin, "twin.key");
    g_autofree char *pem = NULL;
    g_autofree char *k = NULL;

    g_assert_true (g_file_get_contents (src, &pem, NULL, NULL));
    g_assert_true (g_file_get_contents (src_key, &k, NULL, NULL));
    g_assert_true (g_file_set_contents (dst, pem, -1, NULL));
    g_assert_true (g_file_set_contents (dst_key, k, -1, NULL));
    make_cert (&twin, "server", "twin", LEAF_TEMPLATE);
  }
  soup_server_add_handler (twin_server, NULL, server_cb, NULL, NULL);
  twin_url = ecsa_test_server_listen_tls (twin_server, twin_dir);

  trust = trust_for (fx, "root.pem", NULL);
  ecsa_tls_trust_install_default ();
  installed = g_tls_backend_get_default_database (g_tls_backend_get_default ());
  g_assert_true (installed == G_TLS_DATABASE (trust));

  session = soup_session_new ();
  for (guint i = 0; i < 20; i++)
    {
      error = get (session, i % 2 == 0 ? url : localhost_url);
      g_assert_no_error (error);
    }
  error = get (session, twin_url);
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_clear_error (&error);
  g_assert_no_error (get (session, url));
}

/* A trusted file removed after the load: a handshake fails cleanly, a warning naming the file says
 * why, and so does the error of a verification; the trust is back with the file. */
static void
test_removed (Fixture *fx, gconstpointer data)
{
  g_autoptr(SoupServer) server = soup_server_new (NULL, NULL);
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(EcsaTlsTrust) trust = NULL;
  g_autofree char *file = path (fx, "only.pem");
  g_autofree char *root = pem_of (fx, "root");
  g_autofree char *leaf_pem = pem_of (fx, "leaf");
  g_autofree char *url = NULL;
  g_autofree char *expected = NULL;
  const char *leaf[] = { "leaf", NULL };
  g_autoptr(GTlsCertificate) c_leaf = chain_of (fx, leaf);
  g_autoptr(GTlsCertificate) found = NULL;
  GTlsDatabase *db;
  GError *error = NULL;

  {
    g_autofree char *server_pem = path (fx, "server.pem");
    g_autofree char *server_key = path (fx, "server.key");
    g_autofree char *leaf_key = path (fx, "leaf.key");
    g_autofree char *key = NULL;

    g_assert_true (g_file_get_contents (leaf_key, &key, NULL, NULL));
    g_assert_true (g_file_set_contents (server_pem, leaf_pem, -1, NULL));
    g_assert_true (g_file_set_contents (server_key, key, -1, NULL));
  }
  soup_server_add_handler (server, NULL, server_cb, NULL, NULL);
  url = ecsa_test_server_listen_tls (server, fx->dir);

  g_assert_true (g_file_set_contents (file, root, -1, NULL));
  trust = trust_for (fx, "only.pem", NULL);
  db = G_TLS_DATABASE (trust);
  session = soup_session_new_with_options ("tls-database", db, NULL);
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, "127.0.0.1"), ==, 0);
  g_assert_no_error (get (session, url));

  g_assert_cmpint (g_unlink (file), ==, 0);
  expected = g_strdup_printf ("Trusted certificate files changed: 1 of the 1 certificates read at start-up from "
                              "SSL_CERT_FILE '%s' * are no longer found, no longer trusted",
                              file);
  g_test_expect_message ("ecsa", G_LOG_LEVEL_WARNING, expected);
  error = get (session, url); /* the warning comes from the handshake's thread */
  g_test_assert_expected_messages ();
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_clear_error (&error);
  g_assert_cmpint (g_tls_database_verify_chain (db, c_leaf, SERVER_OID, NULL, NULL, G_TLS_DATABASE_VERIFY_NONE, NULL,
                                                &error),
                   !=, 0);
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC);
  g_assert_nonnull (strstr (error->message, "no trusted certificate: none of the 1 read at start-up"));
  g_assert_nonnull (strstr (error->message, file));
  g_clear_error (&error);
  /* the same again (nothing changed since: no warning), and from the lookups */
  g_assert_cmpint (g_tls_database_verify_chain (db, c_leaf, SERVER_OID, NULL, NULL, G_TLS_DATABASE_VERIFY_NONE, NULL,
                                                &error),
                   !=, 0);
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC);
  g_clear_error (&error);
  found = g_tls_database_lookup_certificate_issuer (db, c_leaf, NULL, G_TLS_DATABASE_LOOKUP_NONE, NULL, &error);
  g_assert_null (found);
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC);
  g_clear_error (&error);
  g_assert_cmpuint (ecsa_tls_trust_get_n_certificates (trust), ==, 1);
  error = get (session, url);
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_clear_error (&error);

  /* back */
  g_assert_true (g_file_set_contents (file, root, -1, NULL));
  g_assert_cmpint (verify (trust, c_leaf, SERVER_OID, "127.0.0.1"), ==, 0);
  g_assert_no_error (get (session, url));
}

#include "ecsa-test-asan.h"
#ifdef UNDER_ASAN
size_t __sanitizer_get_current_allocated_bytes (void);
#endif

/* What a loaded store may hold. The index takes 48 bytes per certificate, one record per file that
 * holds some, and the object: about 7 KiB for Debian's bundle of 140 certificates (the DERs it
 * kept before took about 205 KiB). 32 KiB leaves room for a bundle several times larger, while
 * keeping even 20 of its DERs would not fit. */
#define MAX_STORE_HEAP (32 * 1024)

/* Bytes of heap in use: ASan's own count under ASan, else glibc's (see test_memory). */
static gint64
heap_in_use (void)
{
#ifdef UNDER_ASAN
  return (gint64) __sanitizer_get_current_allocated_bytes ();
#else
  return (gint64) mallinfo2 ().uordblks;
#endif
}

/* `n` self-signed CA certificates in PEM, each with a name of its own. */
static char *
generated_bundle (guint n)
{
  GString *text = g_string_new (NULL);
  gnutls_x509_privkey_t key;
  time_t now = time (NULL);

  g_assert_cmpint (gnutls_x509_privkey_init (&key), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA,
                                                 GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0),
                   ==, 0);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *cn = g_strdup_printf ("ecsa trust memory test CA %u", i);
      guint8 serial[4] = { 0x01, (guint8) (i >> 16), (guint8) (i >> 8), (guint8) i };
      gnutls_datum_t pem = { NULL, 0 };
      gnutls_x509_crt_t crt;

      g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
      g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), ==, 0);
      g_assert_cmpint (gnutls_x509_crt_set_serial (crt, serial, sizeof serial), ==, 0);
      g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, now - 3600), ==, 0);
      g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, now + 86400), ==, 0);
      g_assert_cmpint (gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen (cn)), ==, 0);
      g_assert_cmpint (gnutls_x509_crt_set_key (crt, key), ==, 0);
      g_assert_cmpint (gnutls_x509_crt_set_basic_constraints (crt, 1, -1), ==, 0);
      g_assert_cmpint (gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_SHA256, 0), ==, 0);
      g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &pem), ==, 0);
      g_string_append_len (text, (const char *) pem.data, pem.size);
      gnutls_free (pem.data);
      gnutls_x509_crt_deinit (crt);
    }
  gnutls_x509_privkey_deinit (key);
  return g_string_free (text, FALSE);
}

/* Loads a store from `file` alone and checks the heap it holds, then after a lookup that reads one
 * of its certificates back. The store is returned: kept alive while others are measured. */
static EcsaTlsTrust *
check_store_heap (const char *file)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsCertificate) first = g_tls_certificate_new_from_file (file, &error);
  g_autoptr(GTlsCertificate) issuer = NULL;
  g_autofree char *issuer_name = NULL;
  g_autofree char *subject_name = NULL;
  EcsaTlsTrust *trust;
  gint64 before, loaded, after_lookup;
  guint n;

  g_assert_no_error (error);
  g_setenv ("SSL_CERT_FILE", file, TRUE);
  g_setenv ("SSL_CERT_DIR", "/nonexistent", TRUE);
  before = heap_in_use ();
  trust = ecsa_tls_trust_get ();
  g_assert_true (ecsa_tls_trust_load (trust, &error));
  loaded = heap_in_use () - before;
  g_assert_no_error (error);
  n = ecsa_tls_trust_get_n_certificates (trust);
  /* the file's first certificate is a root: its issuer is a certificate of the store */
  issuer = g_tls_database_lookup_certificate_issuer (G_TLS_DATABASE (trust), first, NULL, G_TLS_DATABASE_LOOKUP_NONE,
                                                     NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (issuer);
  issuer_name = g_tls_certificate_get_issuer_name (first);
  subject_name = g_tls_certificate_get_subject_name (issuer);
  g_assert_cmpstr (subject_name, ==, issuer_name);
  g_clear_object (&issuer);
  after_lookup = heap_in_use () - before;
  g_printerr ("%s: %u certificates, the loaded store holds %" G_GINT64_FORMAT " bytes of heap (%" G_GINT64_FORMAT
              " after a lookup)\n",
              file, n, loaded, after_lookup);
  g_assert_cmpuint (n, >=, 100);
  g_assert_cmpint (loaded, <, MAX_STORE_HEAP);
  g_assert_cmpint (after_lookup, <, MAX_STORE_HEAP);
  return trust;
}

/* The heap a loaded store holds, for Debian's bundle (when there, as setup.sh installs it) and a
 * generated one of 150 certificates. Measured in a subprocess without glibc's per-thread cache
 * (whose chunks mallinfo2() counts as in use, freed or not) and with GLib's slices off (2.74 keeps
 * them), so that what is counted is what is held. */
static void
test_memory (Fixture *fx, gconstpointer data)
{
  g_autofree char *generated = path (fx, "generated.pem");
  g_autofree char *bundle = NULL;
  g_autoptr(EcsaTlsTrust) warm = NULL;
  g_autoptr(EcsaTlsTrust) first = NULL;
  g_autoptr(EcsaTlsTrust) second = NULL;

  if (!g_test_subprocess ())
    {
      g_setenv ("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", TRUE);
      g_setenv ("G_SLICE", "always-malloc", TRUE);
      g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_unsetenv ("GLIBC_TUNABLES");
      g_unsetenv ("G_SLICE");
      g_test_trap_assert_passed ();
      return;
    }
  bundle = generated_bundle (150);
  g_assert_true (g_file_set_contents (generated, bundle, -1, NULL));
  /* the first store pays for what is made once per process (types, GnuTLS's digests) */
  warm = trust_for (fx, "root.pem", NULL);
  g_assert_true (ecsa_tls_trust_load (warm, NULL));
  first = check_store_heap (generated);
  if (g_file_test ("/etc/ssl/certs/ca-certificates.crt", G_FILE_TEST_EXISTS))
    second = check_store_heap ("/etc/ssl/certs/ca-certificates.crt");
}

/* The subject found by walking the DER is GnuTLS's raw DN, for every certificate of the system's
 * bundle, the test's own and a version 1 certificate (no [0] version field); every truncation and
 * a few broken framings of a certificate are refused or stay inside the input. */
static void
check_subject_against_gnutls (const gnutls_datum_t *der)
{
  gnutls_x509_crt_t crt;
  gnutls_datum_t dn = { NULL, 0 };
  const guint8 *subject = NULL;
  gsize subject_len = 0;

  g_assert_cmpint (gnutls_x509_crt_init (&crt), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_import (crt, der, GNUTLS_X509_FMT_DER), >=, 0);
  g_assert_cmpint (gnutls_x509_crt_get_raw_dn (crt, &dn), >=, 0);
  g_assert_true (ecsa_tls_der_certificate_subject (der->data, der->size, &subject, &subject_len));
  g_assert_cmpmem (subject, subject_len, dn.data, dn.size);
  gnutls_free (dn.data);
  gnutls_x509_crt_deinit (crt);
}

static guint
check_pem_file (const char *file)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  gnutls_x509_crt_t *crts = NULL;
  unsigned int n = 0;
  gnutls_datum_t pem;

  g_assert_true (g_file_get_contents (file, &data, &len, NULL));
  pem.data = (unsigned char *) data;
  pem.size = (unsigned int) len;
  g_assert_cmpint (gnutls_x509_crt_list_import2 (&crts, &n, &pem, GNUTLS_X509_FMT_PEM, 0), >=, 0);
  for (unsigned int i = 0; i < n; i++)
    {
      gnutls_datum_t der = { NULL, 0 };

      g_assert_cmpint (gnutls_x509_crt_export2 (crts[i], GNUTLS_X509_FMT_DER, &der), >=, 0);
      check_subject_against_gnutls (&der);
      gnutls_free (der.data);
      gnutls_x509_crt_deinit (crts[i]);
    }
  gnutls_free (crts);
  return n;
}

static void
test_der_subject (Fixture *fx, gconstpointer data)
{
  static const char *const names[] = { "root", "inter", "leaf", "leaf2", "expired", "client", "v1" };
  static const guint8 broken[][8] = {
    { 0x30, 0x80, 0x00, 0x00 },             /* indefinite length */
    { 0x30, 0x84, 0xff, 0xff, 0xff, 0xff }, /* longer than the input */
    { 0x30, 0x85, 0x00, 0x00, 0x00, 0x00 }, /* a 5-byte length */
    { 0x1f, 0x81, 0x01, 0x00 },             /* high tag number */
    { 0x30, 0x02, 0x02, 0x00 },             /* a Certificate holding an INTEGER */
  };
  g_autofree char *der_file = path (fx, "leaf.der");
  g_autofree char *leaf_pem = path (fx, "leaf.pem");
  g_autofree guint8 *der = NULL;
  gsize der_len = 0;
  const guint8 *subject;
  gsize subject_len;

  make_cert (fx, "v1root", NULL, CA_TEMPLATE);
  {
    g_autofree char *key = path (fx, "v1root.key");
    g_autofree char *tmpl = path (fx, "v1root.tmpl");
    g_autofree char *pem = path (fx, "v1.pem");
    const char *argv[] = { "certtool", "--generate-self-signed", "--v1", "--load-privkey", key, "--template", tmpl,
                           "--no-text", "--outfile", pem, NULL };
    certtool (argv);
  }
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *base = g_strdup_printf ("%s.pem", names[i]);
      g_autofree char *p = path (fx, base);
      g_assert_cmpuint (check_pem_file (p), ==, 1);
    }
  if (g_file_test ("/etc/ssl/certs/ca-certificates.crt", G_FILE_TEST_EXISTS))
    g_assert_cmpuint (check_pem_file ("/etc/ssl/certs/ca-certificates.crt"), >, 100);

  {
    const char *argv[] = { "certtool", "--certificate-info", "--infile", leaf_pem, "--outder", "--outfile", der_file,
                           NULL };
    certtool (argv);
  }
  g_assert_true (g_file_get_contents (der_file, (char **) &der, &der_len, NULL));
  g_assert_true (ecsa_tls_der_certificate_subject (der, der_len, &subject, &subject_len));
  for (gsize cut = 0; cut < der_len; cut++)
    {
      g_autofree guint8 *part = g_memdup2 (der, cut);
      const guint8 *s = NULL;
      gsize s_len = 0;

      /* the outer SEQUENCE no longer fits: refused at any cut */
      g_assert_false (ecsa_tls_der_certificate_subject (part, cut, &s, &s_len));
    }
  for (guint i = 0; i < G_N_ELEMENTS (broken); i++)
    g_assert_false (ecsa_tls_der_certificate_subject (broken[i], sizeof broken[i], &subject, &subject_len));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  g_test_add ("/tls-trust/verify", Fixture, NULL, fixture_setup, test_verify, fixture_teardown);
  g_test_add ("/tls-trust/der-subject", Fixture, NULL, fixture_setup, test_der_subject, fixture_teardown);
  g_test_add ("/tls-trust/lookups", Fixture, NULL, fixture_setup, test_lookups, fixture_teardown);
  g_test_add ("/tls-trust/loading", Fixture, NULL, fixture_setup, test_loading, fixture_teardown);
  g_test_add ("/tls-trust/index/memory", Fixture, NULL, fixture_setup, test_memory, fixture_teardown);
  g_test_add ("/tls-trust/index/rewritten", Fixture, NULL, fixture_setup, test_rewritten, fixture_teardown);
  g_test_add ("/tls-trust/index/removed", Fixture, NULL, fixture_setup, test_removed, fixture_teardown);
  g_test_add ("/tls-trust/https", Fixture, NULL, fixture_setup, test_https, fixture_teardown);
  return g_test_run ();
}

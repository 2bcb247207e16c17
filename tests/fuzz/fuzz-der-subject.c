/* fuzz-der-subject.c: libFuzzer harness for the DER walk that finds a certificate's subject in
 * the trust store's files (ecsa_tls_der_certificate_subject). The subject must lie inside the
 * input; when GnuTLS parses the input as a certificate, the walk must find the subject GnuTLS
 * reports.
 *
 *   build-fuzz/tests/fuzz/fuzz-der-subject tests/fuzz/corpus/der-subject
 *
 * SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-tls-trust.h"

#include <gnutls/x509.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree guint8 *copy = g_memdup2 (data, size); /* exactly `size` bytes: reads past it are caught */
  const guint8 *subject = NULL;
  gsize subject_len = 0;
  gboolean found = ecsa_tls_der_certificate_subject (copy, size, &subject, &subject_len);
  gnutls_x509_crt_t crt;
  gnutls_datum_t der = { copy, (unsigned int) size };
  gnutls_datum_t dn = { NULL, 0 };

  if (found)
    g_assert_true (subject >= copy && subject_len >= 2 && subject + subject_len <= copy + size);
  if (size == 0 || gnutls_x509_crt_init (&crt) < 0)
    return 0;
  if (gnutls_x509_crt_import (crt, &der, GNUTLS_X509_FMT_DER) >= 0 && gnutls_x509_crt_get_raw_dn (crt, &dn) >= 0)
    {
      g_assert_true (found);
      g_assert_cmpmem (subject, subject_len, dn.data, dn.size);
    }
  gnutls_free (dn.data);
  gnutls_x509_crt_deinit (crt);
  return 0;
}

/* ecsa-tls-trust.h: the certificates the agent trusts, read once per process.
 *
 * What is trusted: the certificates Go's crypto/x509 loads on Linux, as v1.16.2 did. SSL_CERT_FILE
 * replaces the list of bundle files (else the first readable of /etc/ssl/certs/ca-certificates.crt,
 * /etc/pki/tls/certs/ca-bundle.crt, ...); SSL_CERT_DIR, a ':'-separated list, replaces
 * /etc/ssl/certs and /etc/pki/tls/certs, whose files are all read. Only CERTIFICATE blocks count,
 * each once. When SSL_CERT_FILE or SSL_CERT_DIR is set but names no certificate, a warning says so
 * and the defaults are used.
 *
 * Why a database of our own: glib-networking's GnuTLS backend (2.74) builds a new trust list for
 * every TLS connection from a GnuTLS database's anchors, parsing the whole CA bundle again (about
 * 1.5 MiB of heap per connection for the 140 certificates of Debian's bundle, held as long as the
 * connection), and even a single parsed bundle costs about 4 MiB. EcsaTlsTrust is not a GnuTLS
 * database, so connections verify through g_tls_database_verify_chain(), which is rare (a few
 * handshakes an hour). So the store keeps no certificate, only an index of where each lies: its
 * file, the offset and length of its PEM block, a hash of its subject and the SHA-256 of its DER
 * (48 bytes a certificate, about 7 KiB for that bundle where the DERs took 205 KiB). Per
 * verification it reads back, parses and trusts just the certificates whose subject issued a
 * certificate of the peer's chain, and only when what it reads is still, byte for byte, the
 * certificate indexed there (same SHA-256, same subject). GnuTLS verifies the chain (signatures,
 * CA constraints, validity dates, name constraints and the key purpose: server authentication for
 * a client), then the leaf against the host name or address the connection was made to. Stapled
 * OCSP responses are not looked at (v1.16.2 did not either).
 *
 * Files that change after the load: what is trusted stays what was read at the load (v1.16.2 read
 * the certificates once per process). When a read-back finds a file changed since indexed (inode,
 * size, mtime or ctime) or a block that is no longer its certificate, the files are indexed again,
 * looking only for the certificates read at the load: one that moved is trusted where it is now,
 * one that is gone is no longer trusted (a warning names the files) until its file changes again,
 * one added since is not trusted. When none is left, verifications fail with G_TLS_ERROR_MISC.
 *
 * One EcsaTlsTrust exists per distinct (SSL_CERT_FILE, SSL_CERT_DIR) value. The certificates are
 * read at the first use (a handshake runs in glib-networking's own thread) or when
 * ecsa_tls_trust_load() is called, which does file I/O: call it in a worker thread. Verifications
 * and lookups read files too (a few blocks; all the files when re-indexing): they run in
 * glib-networking's handshake threads, never on the main context.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ECSA_TYPE_TLS_TRUST (ecsa_tls_trust_get_type ())
G_DECLARE_FINAL_TYPE (EcsaTlsTrust, ecsa_tls_trust, ECSA, TLS_TRUST, GTlsDatabase)

/* The trust for the current SSL_CERT_FILE / SSL_CERT_DIR (a new reference; cheap: nothing is read
 * yet). Thread-safe. */
EcsaTlsTrust *ecsa_tls_trust_get (void);

/* Reads the certificates now and keeps their index, if not yet done (blocking: file I/O). TRUE when
 * at least one certificate is trusted. */
gboolean ecsa_tls_trust_load (EcsaTlsTrust *self, GError **error);

/* The number of distinct certificates read at the load (loads them first). */
guint ecsa_tls_trust_get_n_certificates (EcsaTlsTrust *self);

/* Where the subject Name (its whole DER TLV, as gnutls_x509_crt_get_raw_dn() gives it) lies in
 * the DER certificate `der`: found by walking the DER framing only, without a full parse. FALSE
 * when `der` is not framed as a certificate. Bounded by `len` whatever the input. */
gboolean ecsa_tls_der_certificate_subject (const guint8 *der, gsize len, const guint8 **subject, gsize *subject_len);

/* Makes ecsa_tls_trust_get() the TLS backend's default database, so that every TLS connection of
 * the process (libsoup sessions, websockets, plugins) uses it unless told otherwise, and starts
 * reading the certificates in a worker thread. Call once, early, on the main thread. */
void ecsa_tls_trust_install_default (void);

G_END_DECLS

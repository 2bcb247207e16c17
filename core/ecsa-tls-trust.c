/* SPDX-License-Identifier: Apache-2.0 */
#include "ecsa-build-config.h"

#include "ecsa-tls-trust.h"
#include "ecsa-utils.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------- */
/* The certificates, as Go's crypto/x509 loads them on Linux, indexed by where they lie */

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
#define SHA256_LEN 32
#define HANDLE_PREFIX "ecsa-trust:#"
#define NO_INDEX G_MAXUINT32

/* A trusted certificate as the store keeps it: where its PEM block lies and two digests, 48 bytes
 * where its DER and subject took about 1.5 KiB of heap. Its DER is read again, from that block,
 * when a verification or a lookup needs it, and used only when its SHA-256 is still this one. */
typedef struct
{
  guint8 der_sha256[SHA256_LEN]; /* each certificate once; its handle; what a read-back must match */
  guint32 subject_hash;          /* of the raw subject DN: the entries that may be an issuer */
  guint32 file;                  /* in files[]: where it is, or where it was last */
  guint32 offset;                /* of its PEM block, from the BEGIN line to the end of the END line */
  guint32 length;                /* 0: no longer found (in `file` or elsewhere) at the last re-index */
} Entry;
G_STATIC_ASSERT (sizeof (Entry) == 48);

/* A file that holds trusted certificates (or held one no longer found), and what it was when
 * indexed: all zero when it did not exist. Reading from a file that changed since (another inode,
 * size, mtime or ctime; created or removed) re-indexes. */
typedef struct
{
  char *path;
  guint64 dev, ino, size;
  gint64 mtime_ns, ctime_ns;
} IndexedFile;

struct _EcsaTlsTrust
{
  GTlsDatabase parent_instance;

  char *file; /* SSL_CERT_FILE, NULL when unset or empty */
  char *dir;  /* SSL_CERT_DIR, likewise */

  GMutex lock; /* guards what follows: handshakes run in glib-networking's threads */
  gboolean loaded;
  gboolean fell_back;      /* SSL_CERT_FILE/SSL_CERT_DIR named no certificate: the system's are used */
  const char *system_file; /* the bundle of go_cert_files read, if any */
  Entry *entries;          /* the certificates read at load, in the order read */
  guint n_certificates;
  guint n_found; /* entries whose file is known */
  IndexedFile *files;
  guint n_files;
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

static guint32
dn_hash (const guint8 *dn, gsize len)
{
  guint32 hash = 2166136261u; /* FNV-1a: only picks candidates, whose DN is then compared */

  for (gsize i = 0; i < len; i++)
    hash = (hash ^ dn[i]) * 16777619u;
  return hash;
}

static guint
sha256_hash (gconstpointer key)
{
  guint hash;

  memcpy (&hash, key, sizeof hash); /* a digest's first bytes are as good as any hash */
  return hash;
}

static gboolean
sha256_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, SHA256_LEN) == 0;
}

static void
file_identity (IndexedFile *f, const struct stat *st)
{
  f->dev = st->st_dev;
  f->ino = st->st_ino;
  f->size = (guint64) st->st_size;
  f->mtime_ns = (gint64) st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;
  f->ctime_ns = (gint64) st->st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_ctim.tv_nsec;
}

/* Whether `st` (NULL: the file does not exist) is still what `f` was when indexed. */
static gboolean
file_unchanged (const IndexedFile *f, const struct stat *st)
{
  IndexedFile now = { NULL };

  if (st != NULL)
    file_identity (&now, st);
  return f->dev == now.dev && f->ino == now.ino && f->size == now.size && f->mtime_ns == now.mtime_ns
         && f->ctime_ns == now.ctime_ns;
}

static void
indexed_file_clear (gpointer data)
{
  g_free (((IndexedFile *) data)->path);
}

static void
files_clear (EcsaTlsTrust *self)
{
  for (guint i = 0; i < self->n_files; i++)
    indexed_file_clear (&self->files[i]);
  g_clear_pointer (&self->files, g_free);
  self->n_files = 0;
}

/* The array's elements in a block of their own size (a GArray keeps room to grow). */
static gpointer
array_steal_exact (GArray *array, guint *out_len)
{
  gsize len;
  gpointer data = g_array_steal (array, &len);

  *out_len = (guint) len;
  return g_realloc (data, len * g_array_get_element_size (array));
}

/* The whole file (NUL-terminated, as g_file_get_contents() gives it) and what it was when read,
 * both from one descriptor. FALSE when it cannot be opened or read. */
static gboolean
read_file (const char *path, char **out_data, gsize *out_len, struct stat *out_st)
{
  ecsa_autofd int fd = open (path, O_RDONLY | O_CLOEXEC);
  g_autofree char *data = NULL;
  gsize len = 0, size;

  if (fd < 0 || fstat (fd, out_st) < 0 || S_ISDIR (out_st->st_mode))
    return FALSE;
  /* room for the contents, the NUL and one byte more: the read that meets the end needs no growth */
  size = S_ISREG (out_st->st_mode) && out_st->st_size > 0 ? (gsize) out_st->st_size + 2 : 8192;
  data = g_malloc (size);
  for (;;)
    {
      gssize n;

      if (len + 1 == size)
        data = g_realloc (data, size *= 2);
      n = read (fd, data + len, size - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      if (n == 0)
        break;
      len += (gsize) n;
    }
  data[len] = '\0';
  *out_data = g_steal_pointer (&data);
  *out_len = len;
  return TRUE;
}

/* One pass over the files. At load each new certificate becomes an entry; a re-index looks only
 * for the certificates read at load and notes where each is first found now. */
typedef struct
{
  gboolean reindex;
  GHashTable *seen;        /* SHA-256 of a DER -> at load: nothing; re-indexing: entry index + 1 */
  GArray *entries;         /* Entry */
  GArray *files;           /* IndexedFile: those that hold at least one entry */
  GHashTable *read;        /* re-indexing: path -> IndexedFile (its identity), each file read */
  const char *system_file; /* the bundle of go_cert_files read, if any */
  guint count;             /* entries added (load) or found (re-index) */
} Scan;

static void
scan_init (Scan *scan, gboolean reindex)
{
  scan->reindex = reindex;
  scan->seen = reindex ? g_hash_table_new (sha256_hash, sha256_equal)
                       : g_hash_table_new_full (sha256_hash, sha256_equal, g_free, NULL);
  scan->entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  scan->files = g_array_new (FALSE, FALSE, sizeof (IndexedFile));
  g_array_set_clear_func (scan->files, indexed_file_clear);
  scan->read = reindex ? g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free) : NULL;
}

static void
scan_clear (Scan *scan)
{
  g_clear_pointer (&scan->seen, g_hash_table_unref);
  g_clear_pointer (&scan->entries, g_array_unref);
  g_clear_pointer (&scan->files, g_array_unref);
  g_clear_pointer (&scan->read, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Scan, scan_clear)

/* A file being scanned: indexed when the first certificate is taken from it. */
typedef struct
{
  const char *path;
  struct stat st;
  guint32 index; /* in scan->files, NO_INDEX until then */
} ScanFile;

static guint32
scan_file_index (Scan *scan, ScanFile *f)
{
  if (f->index == NO_INDEX)
    {
      IndexedFile indexed = { .path = g_strdup (f->path) };

      file_identity (&indexed, &f->st);
      f->index = scan->files->len;
      g_array_append_val (scan->files, indexed);
    }
  return f->index;
}

/* The certificate `der`, whose PEM block lies at `offset` in `f`: a new entry unless already seen
 * or not a certificate (Go's AppendCertsFromPEM skips what does not parse). Only the DER framing
 * is walked to the subject: a full parse of every certificate (libtasn1) made reading the store
 * cost 30 ms of CPU at each start-up, before the first TLS handshake could begin. */
static void
scan_certificate (Scan *scan, ScanFile *f, const gnutls_datum_t *der, gsize offset, gsize length)
{
  guint8 sha[SHA256_LEN];
  const guint8 *dn;
  gsize dn_len;
  gpointer value;
  Entry entry = { .offset = (guint32) offset, .length = (guint32) length };

  if (gnutls_hash_fast (GNUTLS_DIG_SHA256, der->data, der->size, sha) < 0)
    return;
  if (scan->reindex)
    {
      Entry *e;

      /* read at load, and not found yet in this pass: certificates added since are not trusted */
      if (!g_hash_table_lookup_extended (scan->seen, sha, NULL, &value))
        return;
      e = &g_array_index (scan->entries, Entry, GPOINTER_TO_UINT (value) - 1);
      if (e->length != 0)
        return;
      e->file = scan_file_index (scan, f);
      e->offset = entry.offset;
      e->length = entry.length;
      scan->count++;
      return;
    }
  /* the bundle and the hashed directory hold the same certificates */
  if (g_hash_table_contains (scan->seen, sha)
      || !ecsa_tls_der_certificate_subject (der->data, der->size, &dn, &dn_len))
    return;
  memcpy (entry.der_sha256, sha, SHA256_LEN);
  entry.subject_hash = dn_hash (dn, dn_len);
  entry.file = scan_file_index (scan, f);
  g_hash_table_add (scan->seen, g_memdup2 (sha, SHA256_LEN));
  g_array_append_val (scan->entries, entry);
  scan->count++;
}

/* Each CERTIFICATE block of the file at `path`. */
static void
scan_file (Scan *scan, const char *path, gboolean *readable)
{
  ScanFile f = { .path = path, .index = NO_INDEX };
  g_autofree char *data = NULL;
  gsize len;
  const char *p;

  *readable = read_file (path, &data, &len, &f.st);
  if (!*readable)
    return;
  if (scan->read != NULL)
    {
      IndexedFile *identity = g_new0 (IndexedFile, 1);

      file_identity (identity, &f.st);
      g_hash_table_replace (scan->read, g_strdup (path), identity);
    }
  if (len > G_MAXUINT32)
    {
      g_debug ("Not reading certificates from '%s': larger than 4 GiB, ignoring", path);
      return;
    }
  /* as strstr() reads it: up to the first NUL, like the copy made by g_strndup() before */
  p = data;
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
      scan_certificate (scan, &f, &der, (gsize) ((const char *) pem.data - data), pem.size);
      gnutls_free (der.data);
    }
}

/* TRUE the first time the file `st` describes is seen, whatever its name. */
static gboolean
first_read (GHashTable *files_read, const struct stat *st)
{
  return g_hash_table_add (files_read, g_strdup_printf ("%ju:%ju", (uintmax_t) st->st_dev, (uintmax_t) st->st_ino));
}

/* Reads `file` and `dir` (NULL: Go's defaults); returns how many certificates were new (load) or
 * found (re-index). */
static guint
scan_sources (Scan *scan, const char *file, const char *dir)
{
  g_auto(GStrv) dirs = dir != NULL ? g_strsplit (dir, ":", -1) : g_strdupv ((char **) go_cert_dirs);
  /* "dev:ino" of each file read: the hashed directory links every certificate twice (name.pem and
   * its subject hash's link), and holds the bundle too. A file is read once, whatever its names. */
  g_autoptr(GHashTable) files_read = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gboolean readable;
  guint before = scan->count;
  struct stat st;

  if (file != NULL)
    {
      scan_file (scan, file, &readable);
      if (readable && stat (file, &st) == 0)
        first_read (files_read, &st);
    }
  else
    for (guint i = 0; go_cert_files[i] != NULL; i++)
      {
        scan_file (scan, go_cert_files[i], &readable);
        if (readable)
          {
            scan->system_file = go_cert_files[i];
            if (stat (go_cert_files[i], &st) == 0)
              first_read (files_read, &st);
            break;
          }
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

          if (stat (path, &st) != 0 || !S_ISREG (st.st_mode) || !first_read (files_read, &st))
            continue;
          scan_file (scan, path, &readable);
        }
    }
  return scan->count - before;
}

/* Reads the certificates and keeps the index: where each lies, its subject's hash and its
 * SHA-256. Nothing else stays (for Debian's bundle, 7 KiB where the DERs took 216 KiB). */
static gboolean
load_locked (EcsaTlsTrust *self, GError **error)
{
  g_auto (Scan) scan = { 0 };
  gboolean fell_back = FALSE;
  guint count;

  if (self->loaded)
    return TRUE;
  scan_init (&scan, FALSE);
  count = scan_sources (&scan, self->file, self->dir);
  if (count == 0 && (self->file != NULL || self->dir != NULL))
    {
      g_warning ("No certificate found in SSL_CERT_FILE '%s' or SSL_CERT_DIR '%s': using the system trust store",
                 self->file != NULL ? self->file : "", self->dir != NULL ? self->dir : "");
      count = scan_sources (&scan, NULL, NULL);
      fell_back = TRUE;
    }
  if (count == 0)
    {
      g_set_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC, "no trusted certificate: the system trust store (%s) is empty",
                   go_cert_files[0]);
      return FALSE;
    }
  self->entries = array_steal_exact (scan.entries, &self->n_certificates);
  self->files = array_steal_exact (scan.files, &self->n_files);
  self->n_found = count;
  self->fell_back = fell_back;
  self->system_file = scan.system_file;
  self->loaded = TRUE;
  g_debug ("Trusting %u certificates%s", count,
           self->file != NULL || self->dir != NULL ? " from SSL_CERT_FILE/SSL_CERT_DIR" : "");
  return TRUE;
}

static gchar *
describe_sources (EcsaTlsTrust *self)
{
  if (self->fell_back || (self->file == NULL && self->dir == NULL))
    return g_strdup_printf ("the system trust store (%s, %s, %s)",
                            self->system_file != NULL ? self->system_file : go_cert_files[0], go_cert_dirs[0],
                            go_cert_dirs[1]);
  return g_strdup_printf ("SSL_CERT_FILE '%s' or SSL_CERT_DIR '%s'", self->file != NULL ? self->file : "",
                          self->dir != NULL ? self->dir : "");
}

/* Finds the certificates read at load again, after a file changed: where each is first found now,
 * reading the files in the same order as the load. Those no longer found are no longer trusted; each
 * keeps the file it was last in, so that it is looked for again when that file changes. Those added
 * since are not trusted (v1.16.2 read the certificates once per process). */
static void
reindex_locked (EcsaTlsTrust *self)
{
  g_auto (Scan) scan = { 0 };
  g_autoptr(GHashTable) new_files = g_hash_table_new (g_str_hash, g_str_equal); /* path -> index + 1 */
  guint before = self->n_found;

  scan_init (&scan, TRUE);
  g_array_append_vals (scan.entries, self->entries, self->n_certificates);
  for (guint i = 0; i < self->n_certificates; i++)
    {
      Entry *e = &g_array_index (scan.entries, Entry, i);

      e->length = 0; /* not found yet; e->file is still the old one */
      g_hash_table_insert (scan.seen, e->der_sha256, GUINT_TO_POINTER (i + 1));
    }
  scan_sources (&scan, self->file, self->dir);
  if (self->fell_back)
    scan_sources (&scan, NULL, NULL);
  for (guint i = 0; i < scan.files->len; i++)
    {
      IndexedFile *f = &g_array_index (scan.files, IndexedFile, i);

      if (!g_hash_table_contains (new_files, f->path))
        g_hash_table_insert (new_files, f->path, GUINT_TO_POINTER (i + 1));
    }
  /* the files of those not found, as they are now (as read by the scan, else as stat() sees them) */
  for (guint i = 0; i < self->n_certificates; i++)
    {
      Entry *e = &g_array_index (scan.entries, Entry, i);
      const char *last = self->files[e->file].path;
      guint index;

      if (e->length != 0)
        continue;
      index = GPOINTER_TO_UINT (g_hash_table_lookup (new_files, last));
      if (index == 0)
        {
          IndexedFile *as_read = g_hash_table_lookup (scan.read, last);
          IndexedFile f = { NULL };
          struct stat st;

          if (as_read != NULL)
            f = *as_read;
          else if (stat (last, &st) == 0)
            file_identity (&f, &st);
          f.path = g_strdup (last);
          g_array_append_val (scan.files, f);
          index = scan.files->len;
          g_hash_table_insert (new_files, g_array_index (scan.files, IndexedFile, index - 1).path,
                               GUINT_TO_POINTER (index));
        }
      e->file = index - 1;
    }
  memcpy (self->entries, scan.entries->data, self->n_certificates * sizeof (Entry));
  files_clear (self);
  self->files = array_steal_exact (scan.files, &self->n_files);
  self->n_found = scan.count;
  if (self->n_found < before)
    {
      g_autofree char *sources = describe_sources (self);

      g_warning ("Trusted certificate files changed: %u of the %u certificates read at start-up from %s are no "
                 "longer found, no longer trusted",
                 self->n_certificates - self->n_found, self->n_certificates, sources);
    }
  else
    g_debug ("Trusted certificate files changed: %u of the %u certificates read at start-up found", self->n_found,
             self->n_certificates);
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

/* Reads entries back, keeping the last file open. */
typedef struct
{
  int fd;
  guint32 file;
  gboolean stale; /* a file changed or is gone, or a block is not what was indexed: re-index */
} Reader;

static void
reader_clear (Reader *reader)
{
  ecsa_clear_fd (&reader->fd, NULL);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Reader, reader_clear)

/* Opens files[file] (unless open already): stale when it changed since indexed. */
static void
reader_open (EcsaTlsTrust *self, Reader *reader, guint32 file)
{
  const IndexedFile *f = &self->files[file];
  struct stat st;

  if (reader->file == file)
    return;
  ecsa_clear_fd (&reader->fd, NULL);
  reader->file = file;
  reader->fd = open (f->path, O_RDONLY | O_CLOEXEC);
  if (reader->fd >= 0 && fstat (reader->fd, &st) < 0)
    ecsa_clear_fd (&reader->fd, NULL);
  if (!file_unchanged (f, reader->fd >= 0 ? &st : NULL))
    {
      g_debug ("Trusted certificate file '%s' changed since indexed%s", f->path, reader->fd < 0 ? " (gone)" : "");
      reader->stale = TRUE;
    }
}

/* The DER of `e`, read back from its PEM block; NULL (and reader->stale) when that block no
 * longer holds the certificate indexed there. */
static GBytes *
reader_read (EcsaTlsTrust *self, Reader *reader, const Entry *e)
{
  g_autofree char *block = NULL;
  gnutls_datum_t pem, der = { NULL, 0 };
  guint8 sha[SHA256_LEN];
  gsize done = 0;
  GBytes *bytes;

  reader_open (self, reader, e->file);
  if (reader->fd < 0)
    return NULL;
  block = g_malloc (e->length);
  while (done < e->length)
    {
      gssize n = pread (reader->fd, block + done, e->length - done, (off_t) (e->offset + done));

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += (gsize) n;
    }
  pem.data = (unsigned char *) block;
  pem.size = (unsigned int) done;
  if (done != e->length || gnutls_pem_base64_decode2 ("CERTIFICATE", &pem, &der) < 0)
    {
      reader->stale = TRUE;
      return NULL;
    }
  if (gnutls_hash_fast (GNUTLS_DIG_SHA256, der.data, der.size, sha) < 0
      || memcmp (sha, e->der_sha256, SHA256_LEN) != 0)
    {
      gnutls_free (der.data);
      reader->stale = TRUE;
      return NULL;
    }
  bytes = datum_to_bytes (&der);
  gnutls_free (der.data);
  return bytes;
}

typedef enum
{
  MATCH_SUBJECT, /* key: a raw DN, the certificate's subject */
  MATCH_ISSUER,  /* key: a raw DN, the certificate's issuer */
  MATCH_DER,     /* key: a DER certificate, the same */
  MATCH_SHA256,  /* key: the SHA-256 of the certificate's DER */
} Match;

/* Whether `der`, read back, is what `match` and `key` ask for, byte for byte. */
static gboolean
der_matches (GBytes *der, Match match, GBytes *key)
{
  gsize size, key_size;
  const guint8 *data = g_bytes_get_data (der, &size);
  const guint8 *key_data = g_bytes_get_data (key, &key_size);
  const guint8 *dn;
  gsize dn_len;
  gnutls_x509_crt_t crt;
  g_autoptr(GBytes) issuer = NULL;

  switch (match)
    {
    case MATCH_SUBJECT:
      return ecsa_tls_der_certificate_subject (data, size, &dn, &dn_len) && dn_len == key_size
             && memcmp (dn, key_data, dn_len) == 0;
    case MATCH_ISSUER:
      if (!import_der (&crt, data, size))
        return FALSE;
      issuer = raw_dn (crt, TRUE);
      gnutls_x509_crt_deinit (crt);
      return issuer != NULL && g_bytes_equal (issuer, key);
    case MATCH_DER:
      return g_bytes_equal (der, key);
    case MATCH_SHA256:
      return TRUE; /* reader_read() compared it */
    }
  return FALSE;
}

/* Appends to `out` the trusted certificates (DER) that `match` `key`, in the order they were read,
 * each read back from its file and compared with the index and with `key`. Finding one of their
 * files changed since indexed (or a block that is no longer the certificate) re-indexes, then looks
 * again. FALSE when no trusted certificate is left at all. */
static gboolean
find_locked (EcsaTlsTrust *self, Match match, GBytes *key, GPtrArray *out, GError **error)
{
  gsize key_size;
  const guint8 *key_data = g_bytes_get_data (key, &key_size);
  guint8 key_sha[SHA256_LEN] = { 0 };
  guint32 key_hash = match == MATCH_SUBJECT ? dn_hash (key_data, key_size) : 0;
  guint start = out->len;

  if (!load_locked (self, error))
    return FALSE;
  if (match == MATCH_SHA256)
    {
      if (key_size != SHA256_LEN)
        return TRUE;
      memcpy (key_sha, key_data, SHA256_LEN);
    }
  else if (match == MATCH_DER && gnutls_hash_fast (GNUTLS_DIG_SHA256, key_size > 0 ? key_data : (const guint8 *) "",
                                                   key_size, key_sha) < 0)
    return TRUE;
  for (guint attempt = 0; attempt < 2; attempt++)
    {
      g_auto (Reader) reader = { .fd = -1, .file = NO_INDEX };

      for (guint i = 0; i < self->n_certificates; i++)
        {
          const Entry *e = &self->entries[i];
          g_autoptr(GBytes) der = NULL;

          if ((match == MATCH_SUBJECT && e->subject_hash != key_hash)
              || ((match == MATCH_DER || match == MATCH_SHA256) && memcmp (e->der_sha256, key_sha, SHA256_LEN) != 0))
            continue;
          if (e->length == 0)
            {
              reader_open (self, &reader, e->file); /* no longer found: back if its file changed */
              continue;
            }
          der = reader_read (self, &reader, e);
          if (der != NULL && der_matches (der, match, key))
            g_ptr_array_add (out, g_steal_pointer (&der));
        }
      if (!reader.stale)
        break;
      if (attempt == 0)
        {
          g_ptr_array_set_size (out, start);
          reindex_locked (self);
        }
    }
  if (self->n_found == 0)
    {
      g_autofree char *sources = describe_sources (self);

      g_set_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC,
                   "no trusted certificate: none of the %u read at start-up from %s is there anymore (changed or "
                   "removed since)",
                   self->n_certificates, sources);
      return FALSE;
    }
  return TRUE;
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
 * could have issued one of its certificates, read back and parsed for this verification alone. */
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

        if (issuer != NULL && !find_locked (self, MATCH_SUBJECT, issuer, anchors, error))
          goto out;
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

  return g_strconcat (HANDLE_PREFIX, sum, NULL);
}

static char *
trust_create_certificate_handle (GTlsDatabase *database, GTlsCertificate *certificate)
{
  EcsaTlsTrust *self = ECSA_TLS_TRUST (database);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GByteArray) der = NULL;
  g_autoptr(GBytes) bytes = NULL;

  g_object_get (certificate, "certificate", &der, NULL);
  if (der == NULL)
    return NULL;
  bytes = g_bytes_new (der->data, der->len);
  if (!find_locked (self, MATCH_DER, bytes, found, NULL) || found->len == 0)
    return NULL;
  return handle_for_der (bytes);
}

/* The SHA-256 a handle names: 64 lowercase hex digits, as handle_for_der() writes them. */
static GBytes *
handle_sha256 (const char *handle)
{
  guint8 sha[SHA256_LEN];

  if (!g_str_has_prefix (handle, HANDLE_PREFIX))
    return NULL;
  handle += strlen (HANDLE_PREFIX);
  if (strlen (handle) != 2 * SHA256_LEN)
    return NULL;
  for (guint i = 0; i < 2 * SHA256_LEN; i++)
    if (!g_ascii_isdigit (handle[i]) && (handle[i] < 'a' || handle[i] > 'f'))
      return NULL;
  for (guint i = 0; i < SHA256_LEN; i++)
    sha[i] = (guint8) (g_ascii_xdigit_value (handle[2 * i]) << 4 | g_ascii_xdigit_value (handle[2 * i + 1]));
  return g_bytes_new (sha, SHA256_LEN);
}

static GTlsCertificate *
trust_lookup_certificate_for_handle (GTlsDatabase *database, const char *handle, GTlsInteraction *interaction,
                                     GTlsDatabaseLookupFlags flags, GCancellable *cancellable, GError **error)
{
  EcsaTlsTrust *self = ECSA_TLS_TRUST (database);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GBytes) sha = NULL;

  if (!load_locked (self, error))
    return NULL;
  sha = handle_sha256 (handle);
  if (sha == NULL || !find_locked (self, MATCH_SHA256, sha, found, error) || found->len == 0)
    return NULL;
  g_clear_pointer (&locker, g_mutex_locker_free);
  return certificate_new (g_ptr_array_index (found, 0));
}

/* The trusted certificates issued by the raw DN `dn` (TRUE) or whose subject is `dn` (FALSE). */
static GList *
lookup_by_dn (EcsaTlsTrust *self, GBytes *dn, gboolean issued_by, GError **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  GList *certificates = NULL;

  if (!find_locked (self, issued_by ? MATCH_ISSUER : MATCH_SUBJECT, dn, found, error))
    return NULL;
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

  g_free (self->entries);
  files_clear (self);
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

/*  hpt_tls -- the REST API's X.509 files (GnuTLS's x509 API)

    Loading checks, in order, what an operator gets wrong: a file that
    cannot be read, a file that is not PEM (a DER file, the wrong file), a
    key that is encrypted, a key of another certificate (compared by the
    SHA-256 ids of their public keys), and last whatever else the TLS
    library refuses when it builds credentials from the pair, which is
    what libmicrohttpd will do with them.

    certgen builds both certificates with the extensions verifiers look
    at: the CA has basicConstraints CA:TRUE (path length 0: it signs
    servers, not other CAs) and keyCertSign; the server has CA:FALSE,
    digitalSignature (ECDSA keys sign, they never encrypt), extended key
    usage serverAuth, one subjectAltName per host (DNS names, IP
    addresses as IP SANs: clients match names against SANs only), and the
    subject/authority key ids that tie it to its CA. Serial numbers are
    128 random bits. Both start an hour in the past, so a client whose
    clock is a little behind the master's accepts a fresh certificate.
*/
#include "hpt_tls.h"
#include "hpt_alloc.h"
#include "hpt_fs.h"
#include "hpt_tree.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  A PEM file larger than this is not a certificate chain or a key.
#define S_MAX_PEM (1024 * 1024)

//  Clock skew allowed for at the start of a certificate's validity.
#define S_BACKDATE_S 3600

//  ---------------------------------------------------------------------
//  Loading a pair

//  Reads a PEM file into a fresh string; -1 with error naming field.
static char *
s_read_pem (const char *path, const char *field, hpt_error_t *error)
{
    hpt_error_t problem;
    size_t size = 0;
    char *text = hpt_read_file (path, S_MAX_PEM, &size, &problem);
    if (!text) {
        hpt_error_set (error, HPT_E_INVALID, "%s: %s: %s", field, path, problem.message);
        return NULL;
    }
    //  A DER file is binary: say so, rather than "no certificate found".
    if (strlen (text) != size) {
        hpt_error_set (error, HPT_E_INVALID,
                       "%s: %s is binary, not PEM text (convert a DER file with openssl x509 "
                       "-inform der, or openssl pkey -inform der for a key)",
                       field, path);
        free (text);
        return NULL;
    }
    return text;
}

static gnutls_datum_t
s_datum (const char *text)
{
    return (gnutls_datum_t){(unsigned char *)text, (unsigned int)strlen (text)};
}

//  Whether the key's public half is the certificate's (SHA-256 key ids).
static bool
s_key_matches (gnutls_x509_crt_t cert, gnutls_x509_privkey_t key)
{
    unsigned char cert_id[64], key_id[64];
    size_t cert_size = sizeof (cert_id), key_size = sizeof (key_id);
    return gnutls_x509_crt_get_key_id (cert, GNUTLS_KEYID_USE_SHA256, cert_id, &cert_size) == 0 &&
           gnutls_x509_privkey_get_key_id (key, GNUTLS_KEYID_USE_SHA256, key_id, &key_size) == 0 &&
           cert_size == key_size && memcmp (cert_id, key_id, cert_size) == 0;
}

//  Checks the pair's text; sets not_after. Messages name the field of
//  the file at fault.
static int
s_check_pair (hpt_tls_pair_t *pair, const char *cert_path, const char *cert_field,
              const char *key_path, const char *key_field, hpt_error_t *error)
{
    gnutls_datum_t cert_data = s_datum (pair->cert_pem), key_data = s_datum (pair->key_pem);
    gnutls_x509_crt_t *certs = NULL;
    unsigned int count = 0;
    int rc = gnutls_x509_crt_list_import2 (&certs, &count, &cert_data, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || count == 0)
        return hpt_error_set (error, HPT_E_INVALID,
                              "%s: %s holds no usable PEM certificate (-----BEGIN "
                              "CERTIFICATE-----): %s",
                              cert_field, cert_path, gnutls_strerror (rc < 0 ? rc : 0));
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_privkey_init (&key);
    rc = gnutls_x509_privkey_import2 (key, &key_data, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
    if (rc < 0)
        hpt_error_set (error, HPT_E_INVALID,
                       "%s: %s is not an unencrypted PEM private key (the master cannot ask for "
                       "a passphrase): %s",
                       key_field, key_path, gnutls_strerror (rc));
    else if (!s_key_matches (certs[0], key))
        rc = hpt_error_set (error, HPT_E_INVALID,
                            "%s: %s does not belong to the certificate in %s (%s): give the key "
                            "made with that certificate",
                            key_field, key_path, cert_path, cert_field);
    else {
        //  What libmicrohttpd will do with the pair: anything else the
        //  library refuses is caught here, at start.
        gnutls_certificate_credentials_t credentials;
        gnutls_certificate_allocate_credentials (&credentials);
        rc = gnutls_certificate_set_x509_key_mem2 (credentials, &cert_data, &key_data,
                                                   GNUTLS_X509_FMT_PEM, NULL, 0);
        gnutls_certificate_free_credentials (credentials);
        if (rc < 0)
            hpt_error_set (error, HPT_E_INVALID, "%s and %s: GnuTLS refuses the pair: %s",
                           cert_field, key_field, gnutls_strerror (rc));
        pair->not_after = gnutls_x509_crt_get_expiration_time (certs[0]);
    }
    gnutls_x509_privkey_deinit (key);
    for (unsigned int i = 0; i < count; i++)
        gnutls_x509_crt_deinit (certs[i]);
    gnutls_free (certs);
    return rc < 0 ? -1 : 0;
}

int
hpt_tls_pair_load (hpt_tls_pair_t *pair, const char *cert_path, const char *cert_field,
                   const char *key_path, const char *key_field, hpt_error_t *error)
{
    memset (pair, 0, sizeof (*pair));
    pair->cert_pem = s_read_pem (cert_path, cert_field, error);
    if (pair->cert_pem) pair->key_pem = s_read_pem (key_path, key_field, error);
    if (!pair->key_pem ||
        s_check_pair (pair, cert_path, cert_field, key_path, key_field, error) != 0) {
        hpt_tls_pair_clear (pair);
        return -1;
    }
    return 0;
}

void
hpt_tls_pair_clear (hpt_tls_pair_t *pair)
{
    if (pair->key_pem) explicit_bzero (pair->key_pem, strlen (pair->key_pem));
    free (pair->key_pem);
    free (pair->cert_pem);
    memset (pair, 0, sizeof (*pair));
}

//  ---------------------------------------------------------------------
//  Host names

//  The address inside optional brackets, into buf; false when too long.
static bool
s_unbracket (const char *text, char *buf, size_t size)
{
    size_t len = strlen (text);
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
    }
    if (len >= size) return false;
    memcpy (buf, text, len);
    buf[len] = 0;
    return true;
}

//  The address's bytes (4 or 16) into ip; 0 when text is not an address.
static size_t
s_ip_address (const char *text, unsigned char ip[16])
{
    char bare[64];
    if (!s_unbracket (text, bare, sizeof (bare))) return 0;
    if (text[0] != '[' && inet_pton (AF_INET, bare, ip) == 1) return 4;
    return inet_pton (AF_INET6, bare, ip) == 1 ? 16 : 0;
}

//  A DNS name (RFC 1123): labels of letters, digits and '-', not at
//  either end. The last label is never all digits, so a mistyped address
//  ("10.0.0.256") is refused instead of becoming a name nobody resolves.
static bool
s_dns_name_ok (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > 253) return false;
    //  A wildcard only as the whole first label, as verifiers match it.
    if (strncmp (name, "*.", 2) == 0) name += 2;
    size_t label = 0;
    bool digits = true; //  the current label is all digits so far
    for (const char *c = name;; c++) {
        if (*c == '.' || *c == 0) {
            //  No empty label, none over 63, no '-' at either end.
            if (label == 0 || label > 63 || c[-1] == '-' || c[-label] == '-') return false;
            if (*c == 0) return !digits;
            label = 0;
            digits = true;
        } else if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                   (*c >= '0' && *c <= '9') || *c == '-') {
            label++;
            digits = digits && *c >= '0' && *c <= '9';
        } else
            return false;
    }
}

bool
hpt_tls_host_ok (const char *text)
{
    unsigned char ip[16];
    return text && (s_ip_address (text, ip) > 0 || s_dns_name_ok (text));
}

//  ---------------------------------------------------------------------
//  Making certificates

//  A certificate and its key, made or loaded.
typedef struct {
    gnutls_x509_crt_t cert;
    gnutls_x509_privkey_t key;
} s_issued_t;

static void
s_issued_clear (s_issued_t *issued)
{
    if (issued->cert) gnutls_x509_crt_deinit (issued->cert);
    if (issued->key) gnutls_x509_privkey_deinit (issued->key);
    memset (issued, 0, sizeof (*issued));
}

//  A fresh ECDSA P-256 key and an unsigned v3 certificate for it, valid
//  for days, with subject CN=cn, O=hpt and its subject key id. GnuTLS's
//  result code (negative on failure).
static int
s_start (s_issued_t *issued, const char *cn, int days)
{
    unsigned char serial[16];
    unsigned char key_id[64];
    size_t key_id_size = sizeof (key_id);
    time_t now = time (NULL);
    int rc = gnutls_x509_privkey_init (&issued->key);
    if (rc >= 0)
        rc = gnutls_x509_privkey_generate (issued->key, GNUTLS_PK_ECDSA,
                                           GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (rc >= 0) rc = gnutls_x509_crt_init (&issued->cert);
    if (rc >= 0) rc = gnutls_x509_crt_set_version (issued->cert, 3);
    if (rc >= 0) rc = gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof (serial));
    //  Positive (the top bit clear) and without a leading zero byte.
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
    if (rc >= 0) rc = gnutls_x509_crt_set_serial (issued->cert, serial, sizeof (serial));
    if (rc >= 0) rc = gnutls_x509_crt_set_activation_time (issued->cert, now - S_BACKDATE_S);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_expiration_time (issued->cert, now + (time_t)days * 86400);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_dn_by_oid (issued->cert, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
                                            "hpt", 3);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_dn_by_oid (issued->cert, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                            (unsigned int)strlen (cn));
    if (rc >= 0) rc = gnutls_x509_crt_set_key (issued->cert, issued->key);
    if (rc >= 0) rc = gnutls_x509_crt_get_key_id (issued->cert, 0, key_id, &key_id_size);
    if (rc >= 0) rc = gnutls_x509_crt_set_subject_key_id (issued->cert, key_id, key_id_size);
    return rc;
}

//  A common name of at most 64 bytes (X.520's limit): prefix + host, or
//  fallback when the host does not fit. The caller frees it.
static char *
s_common_name (const char *prefix, const char *host, const char *fallback)
{
    return strlen (prefix) + strlen (host) <= 64 ? hpt_asprintf ("%s%s", prefix, host)
                                                 : hpt_strdup (fallback);
}

static int
s_make_ca (s_issued_t *ca, const char *first_host)
{
    char *cn = s_common_name ("hpt CA ", first_host, "hpt CA");
    int rc = s_start (ca, cn, HPT_TLS_CA_DAYS);
    free (cn);
    //  Path length 0: this CA signs servers, never another CA.
    if (rc >= 0) rc = gnutls_x509_crt_set_basic_constraints (ca->cert, 1, 0);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_usage (ca->cert,
                                            GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
    if (rc >= 0) rc = gnutls_x509_crt_sign2 (ca->cert, ca->cert, ca->key, GNUTLS_DIG_SHA256, 0);
    return rc;
}

//  Adds host as a subjectAltName: an IP SAN for an address, else DNS.
static int
s_add_san (gnutls_x509_crt_t cert, const char *host)
{
    unsigned char ip[16];
    size_t ip_size = s_ip_address (host, ip);
    if (ip_size)
        return gnutls_x509_crt_set_subject_alt_name (cert, GNUTLS_SAN_IPADDRESS, ip,
                                                     (unsigned int)ip_size, GNUTLS_FSAN_APPEND);
    return gnutls_x509_crt_set_subject_alt_name (cert, GNUTLS_SAN_DNSNAME, host,
                                                 (unsigned int)strlen (host), GNUTLS_FSAN_APPEND);
}

static int
s_make_server (s_issued_t *server, s_issued_t *ca, const char *const *hosts, size_t host_count)
{
    char *cn = s_common_name ("", hosts[0], "hpt master");
    unsigned char ca_id[64];
    size_t ca_id_size = sizeof (ca_id);
    int rc = s_start (server, cn, HPT_TLS_SERVER_DAYS);
    free (cn);
    if (rc >= 0) rc = gnutls_x509_crt_set_basic_constraints (server->cert, 0, -1);
    if (rc >= 0) rc = gnutls_x509_crt_set_key_usage (server->cert, GNUTLS_KEY_DIGITAL_SIGNATURE);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_purpose_oid (server->cert, GNUTLS_KP_TLS_WWW_SERVER, 0);
    for (size_t i = 0; rc >= 0 && i < host_count; i++)
        rc = s_add_san (server->cert, hosts[i]);
    if (rc >= 0) rc = gnutls_x509_crt_get_subject_key_id (ca->cert, ca_id, &ca_id_size, NULL);
    if (rc >= 0) rc = gnutls_x509_crt_set_authority_key_id (server->cert, ca_id, ca_id_size);
    if (rc >= 0) rc = gnutls_x509_crt_sign2 (server->cert, ca->cert, ca->key, GNUTLS_DIG_SHA256, 0);
    return rc;
}

//  Loads an existing CA to sign with: its certificate must be a CA's and
//  its key must be that certificate's.
static int
s_load_ca (s_issued_t *ca, const char *cert_path, const char *key_path, hpt_error_t *error)
{
    hpt_tls_pair_t pair;
    if (hpt_tls_pair_load (&pair, cert_path, "certgen", key_path, "certgen", error)) return -1;
    gnutls_datum_t cert_data = s_datum (pair.cert_pem), key_data = s_datum (pair.key_pem);
    unsigned int is_ca = 0, critical = 0;
    int path_length = -1;
    int rc = gnutls_x509_crt_init (&ca->cert);
    if (rc >= 0) rc = gnutls_x509_crt_import (ca->cert, &cert_data, GNUTLS_X509_FMT_PEM);
    if (rc >= 0) rc = gnutls_x509_privkey_init (&ca->key);
    if (rc >= 0)
        rc = gnutls_x509_privkey_import2 (ca->key, &key_data, GNUTLS_X509_FMT_PEM, NULL,
                                          GNUTLS_PKCS_PLAIN);
    if (rc >= 0)
        rc = gnutls_x509_crt_get_basic_constraints (ca->cert, &critical, &is_ca, &path_length);
    hpt_tls_pair_clear (&pair);
    if (rc >= 0 && is_ca) return 0;
    return hpt_error_set (error, HPT_E_INVALID,
                          "certgen: %s is not a CA certificate (%s): move ca.pem and ca.key away "
                          "to make a new CA",
                          cert_path, rc < 0 ? gnutls_strerror (rc) : "no CA:TRUE");
}

//  ---------------------------------------------------------------------
//  Writing the files

//  One file to write: where, what, with which mode.
typedef struct {
    char *path;
    gnutls_datum_t pem;
    mode_t mode;
    bool written;
} s_file_t;

//  Creates path (never an existing file, never through a link) with
//  exactly mode, and writes data into it.
static int
s_write (s_file_t *file, hpt_error_t *error)
{
    int fd =
        open (file->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, file->mode & 0600);
    if (fd < 0)
        return hpt_error_set (error, errno == EEXIST ? HPT_E_EXISTS : HPT_E_UNAVAILABLE,
                              "certgen: cannot create %s: %s", file->path, strerror (errno));
    file->written = true;
    //  The umask may have taken bits from a certificate's 0644; a key
    //  was never more than 0600.
    bool ok = fchmod (fd, file->mode) == 0;
    size_t done = 0;
    while (ok && done < file->pem.size) {
        ssize_t n = write (fd, file->pem.data + done, file->pem.size - done);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) done += (size_t)n;
    }
    int code = errno;
    if (close (fd) != 0 && ok) {
        ok = false;
        code = errno;
    }
    return ok ? 0
              : hpt_error_set (error, HPT_E_UNAVAILABLE, "certgen: cannot write %s: %s", file->path,
                               strerror (code));
}

//  Writes every file, or none: on a failure the ones written are removed.
static int
s_write_all (s_file_t *files, size_t count, hpt_error_t *error)
{
    for (size_t i = 0; i < count; i++) {
        if (s_write (&files[i], error) == 0) continue;
        for (size_t j = 0; j <= i; j++)
            if (files[j].written) unlink (files[j].path);
        return -1;
    }
    return 0;
}

static int
s_export (s_issued_t *issued, gnutls_datum_t *cert, gnutls_datum_t *key)
{
    int rc = gnutls_x509_crt_export2 (issued->cert, GNUTLS_X509_FMT_PEM, cert);
    if (rc >= 0)
        rc = gnutls_x509_privkey_export2_pkcs8 (issued->key, GNUTLS_X509_FMT_PEM, NULL,
                                                GNUTLS_PKCS_PLAIN, key);
    return rc;
}

//  ---------------------------------------------------------------------
//  certgen

//  Checks the hosts; -1 with error naming the first bad one.
static int
s_check_hosts (const char *const *hosts, size_t host_count, hpt_error_t *error)
{
    if (host_count == 0 || host_count > HPT_TLS_MAX_HOSTS)
        return hpt_error_set (error, HPT_E_INVALID,
                              "certgen: give 1 to %d --host NAME (the names and addresses clients "
                              "use in the master's URL)",
                              HPT_TLS_MAX_HOSTS);
    for (size_t i = 0; i < host_count; i++)
        if (!hpt_tls_host_ok (hosts[i]))
            return hpt_error_set (error, HPT_E_INVALID,
                                  "certgen: --host '%s' is neither an IP address nor a DNS name "
                                  "(letters, digits, '-' and '.'; no scheme or port)",
                                  hosts[i]);
    return 0;
}

//  Which files exist; -1 with error when the directory cannot be used as
//  it is (nothing is overwritten). *make_ca: the CA is to be made.
static int
s_check_targets (s_file_t files[4], bool *make_ca, hpt_error_t *error)
{
    struct stat info;
    bool exists[4];
    for (size_t i = 0; i < 4; i++) {
        exists[i] = lstat (files[i].path, &info) == 0;
        if (!exists[i] && errno != ENOENT)
            return hpt_error_set (error, HPT_E_UNAVAILABLE, "certgen: cannot check %s: %s",
                                  files[i].path, strerror (errno));
    }
    for (size_t i = 2; i < 4; i++)
        if (exists[i])
            return hpt_error_set (error, HPT_E_EXISTS,
                                  "certgen: %s already exists; not overwritten (move it away to "
                                  "make a new server certificate)",
                                  files[i].path);
    if (exists[0] != exists[1])
        return hpt_error_set (error, HPT_E_EXISTS,
                              "certgen: %s exists without %s: give a directory with both (to "
                              "sign with that CA) or neither (to make a new one)",
                              files[exists[0] ? 0 : 1].path, files[exists[0] ? 1 : 0].path);
    *make_ca = !exists[0];
    return 0;
}

int
hpt_tls_certgen (const char *dir, const char *const *hosts, size_t host_count, bool *ca_made,
                 hpt_error_t *error)
{
    if (ca_made) *ca_made = false;
    if (s_check_hosts (hosts, host_count, error) || hpt_mkdirs (dir, 0700, error)) return -1;
    s_file_t files[4] = {{hpt_asprintf ("%s/ca.pem", dir), {0}, 0644, false},
                         {hpt_asprintf ("%s/ca.key", dir), {0}, 0600, false},
                         {hpt_asprintf ("%s/server.pem", dir), {0}, 0644, false},
                         {hpt_asprintf ("%s/server.key", dir), {0}, 0600, false}};
    s_issued_t ca = {0}, server = {0};
    bool make_ca = false;
    int rc = s_check_targets (files, &make_ca, error);
    if (rc == 0 && !make_ca) rc = s_load_ca (&ca, files[0].path, files[1].path, error);
    int tls = 0;
    if (rc == 0 && make_ca) tls = s_make_ca (&ca, hosts[0]);
    if (rc == 0 && tls >= 0) tls = s_make_server (&server, &ca, hosts, host_count);
    if (rc == 0 && tls >= 0 && make_ca) tls = s_export (&ca, &files[0].pem, &files[1].pem);
    if (rc == 0 && tls >= 0) tls = s_export (&server, &files[2].pem, &files[3].pem);
    if (rc == 0 && tls < 0)
        rc = hpt_error_set (error, HPT_E_INTERNAL, "certgen: GnuTLS: %s", gnutls_strerror (tls));
    //  Only the CA's files when it was made: an existing CA stays as it is.
    if (rc == 0) rc = make_ca ? s_write_all (files, 4, error) : s_write_all (files + 2, 2, error);
    if (rc == 0 && ca_made) *ca_made = make_ca;
    for (size_t i = 0; i < 4; i++) {
        if (files[i].pem.data) explicit_bzero (files[i].pem.data, files[i].pem.size);
        gnutls_free (files[i].pem.data);
        free (files[i].path);
    }
    s_issued_clear (&ca);
    s_issued_clear (&server);
    return rc;
}

/*  hpt_tls -- the REST API's X.509 files: loading a server's certificate
    and key, and `hptmaster certgen` for sites without a PKI

    The master serves HTTPS when cluster.yaml has master.tls {cert, key}
    (docs/security.md, "TLS"). hpt_tls_pair_load reads the two PEM files
    once at start and checks them the way the TLS library will use them,
    so a bad file is an error naming its config field at start, not a
    handshake failure on every connection later.

    hpt_tls_certgen makes a small private PKI in a directory: a CA
    (ca.pem, ca.key) and a server certificate for the given host names and
    IP addresses (server.pem, server.key) signed by it. The CLI trusts the
    CA with --ca-cert DIR/ca.pem. Keys are ECDSA P-256 (fast handshakes,
    accepted by every current TLS stack), written as unencrypted PKCS#8.

    Invariants:
    - certgen never overwrites a file: it checks every target first and
      creates each with O_EXCL; when it fails halfway, the files it wrote
      are removed again, so a directory is never left half-made;
    - key files are 0600 from the moment they exist (created with that
      mode, then set exactly, whatever the umask); certificates are 0644;
    - a loaded pair's key belongs to the first certificate of its chain
      (same public key), and the TLS library accepted the pair.
*/
#ifndef HPT_TLS_H_INCLUDED
#define HPT_TLS_H_INCLUDED

#include "hpt_error.h"
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

//  Validity of what certgen makes: the CA ten years; the server
//  certificate 825 days, the most some TLS clients accept for a server
//  certificate, even from a private CA.
#define HPT_TLS_CA_DAYS 3650
#define HPT_TLS_SERVER_DAYS 825

//  Most --host values certgen takes.
#define HPT_TLS_MAX_HOSTS 64

//  A server's certificate (chain) and key, as PEM text the caller owns.
typedef struct {
    char *cert_pem;   //  the certificate file's text, NUL-terminated
    char *key_pem;    //  the key file's text, NUL-terminated
    time_t not_after; //  when the server certificate expires
} hpt_tls_pair_t;

//  Reads and checks a certificate file (PEM, the server's certificate
//  first, then any intermediates) and its key file (PEM, unencrypted).
//  cert_field and key_field name the two in messages (e.g.
//  "master.tls.cert"): "master.tls.key: /etc/hpt/server.key does not
//  belong to the certificate in /etc/hpt/server.pem (master.tls.cert)".
//  Returns 0 with *pair filled (free with hpt_tls_pair_clear), or -1 with
//  *error (HPT_E_INVALID) and *pair empty.
int hpt_tls_pair_load (hpt_tls_pair_t *pair, const char *cert_path, const char *cert_field,
                       const char *key_path, const char *key_field, hpt_error_t *error);

//  Frees the pair's text, overwriting the key first. Safe on an empty or
//  cleared pair.
void hpt_tls_pair_clear (hpt_tls_pair_t *pair);

//  Whether text is a host certgen accepts: an IPv4 or IPv6 address (an
//  IP SAN; IPv6 may be bracketed) or a DNS name (letters, digits and '-'
//  in labels of at most 63, at most 253 in all, the last not all digits,
//  optionally "*." first).
bool hpt_tls_host_ok (const char *text);

//  Makes dir (0700 when missing) and in it a server certificate for hosts
//  (host_count of them, 1 to HPT_TLS_MAX_HOSTS, each hpt_tls_host_ok)
//  signed by the CA in dir: dir/server.pem and dir/server.key (0600).
//  When neither dir/ca.pem nor dir/ca.key exists, the CA is made first
//  (dir/ca.pem, dir/ca.key 0600) and *ca_made is set; when both exist,
//  they sign the new certificate (a renewal keeps the CA the clients
//  trust). Returns 0, or -1 with *error: HPT_E_INVALID for bad hosts or
//  an unusable existing CA, HPT_E_EXISTS when server.pem or server.key
//  exists or only one half of the CA does (nothing is overwritten),
//  HPT_E_UNAVAILABLE when the files cannot be written.
int hpt_tls_certgen (const char *dir, const char *const *hosts, size_t host_count, bool *ca_made,
                     hpt_error_t *error);

#endif

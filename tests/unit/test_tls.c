/*  Unit tests for hpt_tls: what certgen writes (files, modes, the
    certificates' extensions and SANs, read back with GnuTLS), what it
    refuses (existing files, half a CA, bad hosts), renewal with an
    existing CA, and the checks of hpt_tls_pair_load with the field each
    message names.
*/
#include "hpt_tls.h"
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct {
    char dir[64];  //  the test's temporary directory
    char pki[128]; //  dir/pki, where certgen writes
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *fixture = calloc (1, sizeof (s_fixture_t));
    strcpy (fixture->dir, "/tmp/hpt-test-tls-XXXXXX");
    assert_non_null (mkdtemp (fixture->dir));
    snprintf (fixture->pki, sizeof (fixture->pki), "%s/pki", fixture->dir);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fixture = *state;
    char cmd[128];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", fixture->dir);
    assert_int_equal (system (cmd), 0);
    free (fixture);
    return 0;
}

static char *
s_path (s_fixture_t *fixture, const char *name, char *buf, size_t size)
{
    snprintf (buf, size, "%s/%s", fixture->pki, name);
    return buf;
}

static mode_t
s_mode (s_fixture_t *fixture, const char *name)
{
    char path[256];
    struct stat info;
    assert_int_equal (stat (s_path (fixture, name, path, sizeof (path)), &info), 0);
    return info.st_mode & 07777;
}

//  A file's whole text (caller frees).
static char *
s_slurp (const char *path)
{
    FILE *file = fopen (path, "rb");
    assert_non_null (file);
    char *text = calloc (1, 65536);
    size_t n = fread (text, 1, 65535, file);
    fclose (file);
    text[n] = 0;
    return text;
}

static gnutls_x509_crt_t
s_load_cert (s_fixture_t *fixture, const char *name)
{
    char path[256];
    char *text = s_slurp (s_path (fixture, name, path, sizeof (path)));
    gnutls_datum_t data = {(unsigned char *)text, (unsigned int)strlen (text)};
    gnutls_x509_crt_t cert;
    assert_int_equal (gnutls_x509_crt_init (&cert), 0);
    assert_int_equal (gnutls_x509_crt_import (cert, &data, GNUTLS_X509_FMT_PEM), 0);
    free (text);
    return cert;
}

static const char *const s_hosts[] = {"hpt.lab.example", "127.0.0.1", "[::1]", "*.gpu.lab.example"};
#define S_HOST_COUNT (sizeof (s_hosts) / sizeof (s_hosts[0]))

static void
s_certgen_ok (s_fixture_t *fixture, bool expect_ca_made)
{
    hpt_error_t error;
    bool ca_made = !expect_ca_made;
    if (hpt_tls_certgen (fixture->pki, s_hosts, S_HOST_COUNT, &ca_made, &error) != 0)
        fail_msg ("certgen: %s", error.message);
    assert_int_equal (ca_made, expect_ca_made);
}

//  Keys are 0600 and certificates 0644 whatever the umask: a umask of 0
//  must not widen a key, and 077 must not hide the CA from its readers.
static void
test_certgen_modes (void **state)
{
    s_fixture_t *fixture = *state;
    mode_t old_mask = umask (0);
    s_certgen_ok (fixture, true);
    umask (old_mask);
    assert_int_equal (s_mode (fixture, "ca.key"), 0600);
    assert_int_equal (s_mode (fixture, "server.key"), 0600);
    assert_int_equal (s_mode (fixture, "ca.pem"), 0644);
    assert_int_equal (s_mode (fixture, "server.pem"), 0644);
    struct stat info;
    assert_int_equal (stat (fixture->pki, &info), 0);
    assert_int_equal (info.st_mode & 07777, 0700);
    //  The written pair is one hpt_tls_pair_load accepts.
    char cert[256], key[256];
    hpt_tls_pair_t pair;
    hpt_error_t error;
    assert_int_equal (hpt_tls_pair_load (&pair, s_path (fixture, "server.pem", cert, 256), "c",
                                         s_path (fixture, "server.key", key, 256), "k", &error),
                      0);
    time_t now = time (NULL);
    assert_true (pair.not_after > now + (HPT_TLS_SERVER_DAYS - 1) * 86400LL);
    assert_true (pair.not_after <= now + HPT_TLS_SERVER_DAYS * 86400LL);
    assert_non_null (strstr (pair.key_pem, "-----BEGIN PRIVATE KEY-----"));
    hpt_tls_pair_clear (&pair);
    assert_null (pair.key_pem);
}

//  The CA: CA:TRUE with path length 0, keyCertSign, self-signed.
static void
test_certgen_ca (void **state)
{
    s_fixture_t *fixture = *state;
    s_certgen_ok (fixture, true);
    gnutls_x509_crt_t ca = s_load_cert (fixture, "ca.pem");
    unsigned int critical = 0, is_ca = 0, usage = 0;
    int path_length = -2;
    assert_true (gnutls_x509_crt_get_basic_constraints (ca, &critical, &is_ca, &path_length) >= 0);
    assert_true (is_ca);
    assert_true (critical);
    assert_int_equal (path_length, 0);
    assert_true (gnutls_x509_crt_get_key_usage (ca, &usage, &critical) >= 0);
    assert_true (usage & GNUTLS_KEY_KEY_CERT_SIGN);
    assert_true (gnutls_x509_crt_check_issuer (ca, ca));
    assert_int_equal (gnutls_x509_crt_get_pk_algorithm (ca, NULL), GNUTLS_PK_ECDSA);
    gnutls_x509_crt_deinit (ca);
}

//  The server certificate: CA:FALSE, serverAuth, one SAN per host in
//  order (addresses as IP SANs), signed by the CA, valid for its names.
static void
test_certgen_server (void **state)
{
    s_fixture_t *fixture = *state;
    s_certgen_ok (fixture, true);
    gnutls_x509_crt_t ca = s_load_cert (fixture, "ca.pem");
    gnutls_x509_crt_t server = s_load_cert (fixture, "server.pem");
    unsigned int critical = 0, is_ca = 1;
    assert_true (gnutls_x509_crt_get_basic_constraints (server, &critical, &is_ca, NULL) >= 0);
    assert_false (is_ca);
    char oid[128];
    size_t oid_size = sizeof (oid);
    assert_int_equal (gnutls_x509_crt_get_key_purpose_oid (server, 0, oid, &oid_size, NULL), 0);
    assert_string_equal (oid, GNUTLS_KP_TLS_WWW_SERVER);

    const int kinds[] = {GNUTLS_SAN_DNSNAME, GNUTLS_SAN_IPADDRESS, GNUTLS_SAN_IPADDRESS,
                         GNUTLS_SAN_DNSNAME};
    const size_t sizes[] = {15, 4, 16, 17};
    for (unsigned int i = 0; i < 4; i++) {
        unsigned char san[256];
        size_t size = sizeof (san);
        int kind = gnutls_x509_crt_get_subject_alt_name (server, i, san, &size, NULL);
        assert_int_equal (kind, kinds[i]);
        assert_int_equal (size, sizes[i]);
    }
    unsigned char san[256];
    size_t size = sizeof (san);
    assert_int_equal (gnutls_x509_crt_get_subject_alt_name (server, 4, san, &size, NULL),
                      GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);

    unsigned int status = 1;
    assert_int_equal (gnutls_x509_crt_verify (server, &ca, 1, 0, &status), 0);
    assert_int_equal (status, 0);
    assert_true (gnutls_x509_crt_check_hostname (server, "hpt.lab.example"));
    assert_true (gnutls_x509_crt_check_hostname (server, "node1.gpu.lab.example"));
    assert_true (gnutls_x509_crt_check_hostname (server, "127.0.0.1"));
    assert_true (gnutls_x509_crt_check_hostname (server, "::1"));
    assert_false (gnutls_x509_crt_check_hostname (server, "other.example"));
    assert_false (gnutls_x509_crt_check_hostname (server, "127.0.0.2"));
    gnutls_x509_crt_deinit (server);
    gnutls_x509_crt_deinit (ca);
}

//  Nothing is overwritten; half a CA is refused; a failed run writes
//  nothing.
static void
test_certgen_refuses (void **state)
{
    s_fixture_t *fixture = *state;
    s_certgen_ok (fixture, true);
    char path[256], moved[256];
    char *before = s_slurp (s_path (fixture, "server.pem", path, sizeof (path)));
    hpt_error_t error;
    assert_int_equal (hpt_tls_certgen (fixture->pki, s_hosts, 1, NULL, &error), -1);
    assert_int_equal (error.code, HPT_E_EXISTS);
    assert_non_null (strstr (error.message, "server.pem already exists; not overwritten"));
    char *after = s_slurp (path);
    assert_string_equal (before, after);
    free (before);
    free (after);

    //  The server files moved away and the CA's key lost: refused too.
    snprintf (moved, sizeof (moved), "%s/server.pem", fixture->dir);
    assert_int_equal (rename (s_path (fixture, "server.pem", path, 256), moved), 0);
    snprintf (moved, sizeof (moved), "%s/server.key", fixture->dir);
    assert_int_equal (rename (s_path (fixture, "server.key", path, 256), moved), 0);
    assert_int_equal (unlink (s_path (fixture, "ca.key", path, 256)), 0);
    assert_int_equal (hpt_tls_certgen (fixture->pki, s_hosts, 1, NULL, &error), -1);
    assert_int_equal (error.code, HPT_E_EXISTS);
    assert_non_null (strstr (error.message, "ca.pem exists without"));
    assert_int_equal (access (s_path (fixture, "server.pem", path, 256), F_OK), -1);
    assert_int_equal (access (s_path (fixture, "server.key", path, 256), F_OK), -1);
}

//  With ca.pem and ca.key there and no server files, the CA signs a new
//  server certificate and stays as it was.
static void
test_certgen_renews (void **state)
{
    s_fixture_t *fixture = *state;
    s_certgen_ok (fixture, true);
    char path[256];
    char *ca_before = s_slurp (s_path (fixture, "ca.pem", path, sizeof (path)));
    char *server_before = s_slurp (s_path (fixture, "server.pem", path, sizeof (path)));
    assert_int_equal (unlink (s_path (fixture, "server.pem", path, 256)), 0);
    assert_int_equal (unlink (s_path (fixture, "server.key", path, 256)), 0);
    s_certgen_ok (fixture, false);
    char *ca_after = s_slurp (s_path (fixture, "ca.pem", path, sizeof (path)));
    char *server_after = s_slurp (s_path (fixture, "server.pem", path, sizeof (path)));
    assert_string_equal (ca_before, ca_after);
    assert_string_not_equal (server_before, server_after);
    gnutls_x509_crt_t ca = s_load_cert (fixture, "ca.pem");
    gnutls_x509_crt_t server = s_load_cert (fixture, "server.pem");
    unsigned int status = 1;
    assert_int_equal (gnutls_x509_crt_verify (server, &ca, 1, 0, &status), 0);
    assert_int_equal (status, 0);
    assert_int_equal (s_mode (fixture, "server.key"), 0600);
    gnutls_x509_crt_deinit (server);
    gnutls_x509_crt_deinit (ca);
    free (ca_before);
    free (ca_after);
    free (server_before);
    free (server_after);

    //  A "CA" that is not one (a server certificate) is refused.
    char other[96];
    snprintf (other, sizeof (other), "%s/other", fixture->dir);
    char cmd[1024];
    snprintf (cmd, sizeof (cmd),
              "mkdir -p %s && cp %s/server.pem %s/ca.pem && cp %s/server.key %s/ca.key", other,
              fixture->pki, other, fixture->pki, other);
    assert_int_equal (system (cmd), 0);
    hpt_error_t error;
    assert_int_equal (hpt_tls_certgen (other, s_hosts, 1, NULL, &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "is not a CA certificate"));
}

static void
test_hosts (void **state)
{
    s_fixture_t *fixture = *state;
    const char *good[] = {"localhost",
                          "a",
                          "10.0.0.1",
                          "::1",
                          "[fe80::1]",
                          "*.lab.example",
                          "xn--bcher-kva.example",
                          "gpu-07.lab",
                          "3com.example"};
    for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++)
        if (!hpt_tls_host_ok (good[i])) fail_msg ("'%s' should be accepted", good[i]);
    char long_label[80], long_name[300];
    memset (long_label, 'a', 64);
    long_label[64] = 0;
    for (size_t i = 0; i < 254; i++)
        long_name[i] = i % 2 ? '.' : 'a';
    long_name[254] = 0;
    const char *bad[] = {"",           "http://x", "a..b",       "-a.b",  "a-.b",      "host:7470",
                         "a b",        "a.b.",     "*",          "a.*.b", long_label,  long_name,
                         "[::1]:7470", "a_b",      "10.0.0.256", "1.2.3", "[10.0.0.1]"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
        if (hpt_tls_host_ok (bad[i])) fail_msg ("'%s' should be refused", bad[i]);

    hpt_error_t error;
    const char *one_bad[] = {"ok.example", "http://x"};
    assert_int_equal (hpt_tls_certgen (fixture->pki, one_bad, 2, NULL, &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_non_null (strstr (error.message, "--host 'http://x' is neither"));
    assert_int_equal (hpt_tls_certgen (fixture->pki, one_bad, 0, NULL, &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    //  Refused before anything is made.
    assert_int_equal (access (fixture->pki, F_OK), -1);
}

//  Writes text to dir/name and returns the path in buf.
static char *
s_write (s_fixture_t *fixture, const char *name, const void *text, size_t size, char *buf)
{
    snprintf (buf, 256, "%s/%s", fixture->dir, name);
    FILE *file = fopen (buf, "wb");
    assert_non_null (file);
    assert_int_equal (fwrite (text, 1, size, file), size);
    fclose (file);
    return buf;
}

//  Loads cert and key and expects an error naming field with fragment.
static void
s_expect_load_error (const char *cert, const char *key, const char *field, const char *fragment)
{
    hpt_tls_pair_t pair;
    hpt_error_t error;
    assert_int_equal (
        hpt_tls_pair_load (&pair, cert, "master.tls.cert", key, "master.tls.key", &error), -1);
    assert_int_equal (error.code, HPT_E_INVALID);
    assert_null (pair.cert_pem);
    assert_null (pair.key_pem);
    char prefix[64];
    snprintf (prefix, sizeof (prefix), "%s: ", field);
    if (strncmp (error.message, prefix, strlen (prefix)) != 0 || !strstr (error.message, fragment))
        fail_msg ("expected '%s...%s', got '%s'", prefix, fragment, error.message);
}

static void
test_pair_load_errors (void **state)
{
    s_fixture_t *fixture = *state;
    s_certgen_ok (fixture, true);
    char cert[256], key[256], ca_key[256], path[256];
    s_path (fixture, "server.pem", cert, sizeof (cert));
    s_path (fixture, "server.key", key, sizeof (key));
    s_path (fixture, "ca.key", ca_key, sizeof (ca_key));
    s_expect_load_error ("/nonexistent/server.pem", key, "master.tls.cert", "cannot open");
    s_expect_load_error (cert, "/nonexistent/server.key", "master.tls.key", "cannot open");
    s_expect_load_error (cert, ca_key, "master.tls.key", "does not belong to the certificate");
    s_expect_load_error (key, key, "master.tls.cert", "holds no usable PEM certificate");
    s_expect_load_error (cert, cert, "master.tls.key", "is not an unencrypted PEM private key");
    s_expect_load_error (s_write (fixture, "empty.pem", "", 0, path), key, "master.tls.cert",
                         "holds no usable PEM certificate");
    const unsigned char der[] = {0x30, 0x82, 0x01, 0x00, 0x00, 0x01};
    s_expect_load_error (s_write (fixture, "server.der", der, sizeof (der), path), key,
                         "master.tls.cert", "is binary, not PEM text");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_certgen_modes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_certgen_ca, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_certgen_server, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_certgen_refuses, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_certgen_renews, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_hosts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_pair_load_errors, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}

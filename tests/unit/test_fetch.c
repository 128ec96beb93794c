/*  Unit tests for the agent's package fetcher: a tiny trainer package is
    built at test time as an sdist-style .tar.gz, a flat .tgz and a .whl,
    fetched through file:// URLs and imported with python3; then the cache,
    change detection, and the errors (missing file, unsupported kind, closed
    port, broken archive, escaping members). No network: file:// and
    127.0.0.1 only. */
#include "hpt_fetch.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cmocka.h>

//  The test's scratch directory: src/ (package sources), pkg/ (archives),
//  cache/ (the fetcher's cache).
static char s_dir[] = "/tmp/hpt-fetch-XXXXXX";
//  The http.server test_http started (stopped in teardown if still there).
static int s_http_pid = 0;

static void
s_sh (const char *format, ...)
{
    char command[2048];
    va_list args;
    va_start (args, format);
    int length = vsnprintf (command, sizeof (command), format, args);
    va_end (args);
    assert_true (length > 0 && length < (int)sizeof (command));
    assert_int_equal (system (command), 0);
}

static void
s_write (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs (text, file);
    assert_int_equal (fclose (file), 0);
}

static int
s_setup (void **state)
{
    (void)state;
    if (!mkdtemp (s_dir)) return -1;
    char path[512];
    snprintf (path, sizeof (path), "%s/src/trainer-0.1/trainer", s_dir);
    zsys_dir_create ("%s", path);
    zsys_dir_create ("%s/pkg", s_dir);
    snprintf (path, sizeof (path), "%s/src/trainer-0.1/trainer/__init__.py", s_dir);
    s_write (path, "");
    snprintf (path, sizeof (path), "%s/src/trainer-0.1/trainer/task.py", s_dir);
    s_write (path, "VALUE = 42\n");
    snprintf (path, sizeof (path), "%s/src/trainer-0.1/setup.py", s_dir);
    s_write (path, "from setuptools import setup\nsetup(name='trainer', version='0.1')\n");
    //  sdist style: one top directory trainer-0.1/ holding setup.py and trainer/.
    s_sh ("/bin/tar -czf %s/pkg/trainer-0.1.tar.gz -C %s/src trainer-0.1", s_dir, s_dir);
    //  flat: the package directory itself at the top.
    s_sh ("/bin/tar -czf %s/pkg/flat.tgz -C %s/src/trainer-0.1 trainer", s_dir, s_dir);
    s_sh ("cd %s/src/trainer-0.1 && /usr/bin/python3 -m zipfile -c "
          "%s/pkg/trainer-0.1-py3-none-any.whl trainer",
          s_dir, s_dir);
    return 0;
}

static int
s_teardown (void **state)
{
    (void)state;
    if (s_http_pid > 0) kill (s_http_pid, SIGTERM);
    char command[600];
    snprintf (command, sizeof (command), "rm -rf %s", s_dir);
    return system (command) == 0 ? 0 : -1;
}

//  A fetcher on the test's cache with a size cap (0: the default).
static hpt_fetch_t *
s_new_fetch_capped (int64_t max_bytes)
{
    char cache[512];
    snprintf (cache, sizeof (cache), "%s/cache", s_dir);
    hpt_error_t error;
    hpt_fetch_t *fetch = hpt_fetch_new (cache, max_bytes, &error);
    if (!fetch) print_message ("%s\n", error.message);
    assert_non_null (fetch);
    return fetch;
}

static hpt_fetch_t *
s_new_fetch (void)
{
    return s_new_fetch_capped (0);
}

//  The code of the last failed fetch.
static hpt_error_code_t s_last_code;

//  Fetches count URIs for task_id and waits (at most timeout_ms) for the
//  result. Returns ok; *text is the PYTHONPATH or the error (caller frees),
//  s_last_code the error's code.
static bool
s_fetch (hpt_fetch_t *fetch, const char *task_id, const char *const *uris, size_t count,
         int timeout_ms, char **text)
{
    assert_int_equal (hpt_fetch_request (fetch, task_id, uris, count), 0);
    zpoller_t *poller = zpoller_new (hpt_fetch_socket (fetch), NULL);
    void *which = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    assert_ptr_equal (which, hpt_fetch_socket (fetch));
    char *id = NULL, *pythonpath = NULL;
    hpt_error_t error;
    bool ok = false;
    assert_int_equal (hpt_fetch_result_recv (fetch, &id, &ok, &pythonpath, &error), 0);
    assert_string_equal (id, task_id);
    free (id);
    if (ok) {
        assert_non_null (pythonpath);
        *text = pythonpath;
    } else {
        assert_null (pythonpath);
        print_message ("%s: %s (%s)\n", task_id, error.message, hpt_error_code_name (error.code));
        s_last_code = error.code;
        *text = strdup (error.message);
    }
    return ok;
}

static char *
s_url (const char *name)
{
    char *url;
    assert_true (asprintf (&url, "file://%s/pkg/%s", s_dir, name) > 0);
    return url;
}

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

static void
s_assert_imports (const char *pythonpath)
{
    //  As the agent runs tasks with packages: byte code elsewhere, so the
    //  import leaves the verified cache as it was.
    s_sh ("PYTHONDONTWRITEBYTECODE=1 PYTHONPATH='%s' /usr/bin/python3 -c 'import trainer.task; "
          "assert trainer.task.VALUE == 42'",
          pythonpath);
}

static void
test_sdist_tarball (void **state)
{
    (void)state;
    hpt_fetch_t *fetch = s_new_fetch ();
    char *url = s_url ("trainer-0.1.tar.gz");
    const char *uris[] = {url};
    char *path = NULL;
    int64_t start = zclock_mono ();
    assert_true (s_fetch (fetch, "t1", uris, 1, 20000, &path));
    int64_t cold = zclock_mono () - start;
    //  The sdist's top directory, not the unpacked directory, is the entry.
    assert_non_null (strstr (path, "/unpacked/trainer-0.1"));
    assert_non_null (strstr (path, s_dir));
    assert_true (s_is_dir (path));
    s_assert_imports (path);
    //  The cache directory is named by the package's SHA-256.
    char command[600], digest[80] = "";
    snprintf (command, sizeof (command), "sha256sum %s/pkg/trainer-0.1.tar.gz", s_dir);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    assert_non_null (fgets (digest, sizeof (digest), pipe));
    pclose (pipe);
    digest[64] = '\0';
    char expected[100];
    snprintf (expected, sizeof (expected), "/%s/unpacked/", digest);
    assert_non_null (strstr (path, expected));

    //  Again: the cache is hit (same path, nothing unpacked again: the
    //  files are the same inodes), also from a fresh fetcher that reads
    //  the index. The tree is the tasks' to read, never to write.
    char module[600];
    snprintf (module, sizeof (module), "%s/trainer/task.py", path);
    struct stat before, after;
    assert_int_equal (stat (module, &before), 0);
    assert_int_equal (before.st_mode & 07777, 0644);
    assert_int_equal (stat (path, &after), 0);
    assert_int_equal (after.st_mode & 07777, 0755);
    char *again = NULL;
    start = zclock_mono ();
    assert_true (s_fetch (fetch, "t2", uris, 1, 20000, &again));
    print_message ("file:// tar.gz fetch: %lld ms cold, %lld ms cached\n", (long long)cold,
                   (long long)(zclock_mono () - start));
    assert_string_equal (again, path);
    free (again);
    hpt_fetch_destroy (&fetch);
    assert_null (fetch);
    fetch = s_new_fetch ();
    assert_true (s_fetch (fetch, "t3", uris, 1, 20000, &again));
    assert_string_equal (again, path);
    assert_int_equal (stat (module, &after), 0);
    assert_int_equal (after.st_ino, before.st_ino);
    free (again);

    //  Every reuse checks the cache against its hashes: a changed unpacked
    //  file is unpacked again from the verified package, ...
    s_sh ("echo 'VALUE = 666' > %s", module);
    assert_true (s_fetch (fetch, "t3b", uris, 1, 20000, &again));
    assert_string_equal (again, path);
    s_assert_imports (again);
    free (again);
    //  ... and a changed package file is fetched again.
    char cached[700];
    snprintf (cached, sizeof (cached), "%s/cache/%s/trainer-0.1.tar.gz", s_dir, digest);
    s_write (cached, "not the package");
    assert_true (s_fetch (fetch, "t3c", uris, 1, 20000, &again));
    assert_string_equal (again, path);
    s_assert_imports (again);
    free (again);
    char hash_dir[700];
    snprintf (hash_dir, sizeof (hash_dir), "%s/cache/%s", s_dir, digest);
    assert_int_equal (stat (hash_dir, &after), 0);
    assert_int_equal (after.st_mode & 07777, 0711);
    snprintf (hash_dir, sizeof (hash_dir), "%s/cache", s_dir);
    assert_int_equal (stat (hash_dir, &after), 0);
    assert_int_equal (after.st_mode & 07777, 0711);

    //  A changed package (new content, new mtime) is noticed: new hash.
    s_sh ("cp -a %s/src/trainer-0.1 %s/src/v2 && echo 'VALUE = 43' > "
          "%s/src/v2/trainer/task.py && /bin/tar -czf %s/pkg/changed-0.1.tar.gz -C %s/src v2",
          s_dir, s_dir, s_dir, s_dir, s_dir);
    char *changed_url = s_url ("changed-0.1.tar.gz");
    const char *changed_uris[] = {changed_url};
    char *first = NULL, *second = NULL;
    assert_true (s_fetch (fetch, "t4", changed_uris, 1, 20000, &first));
    sleep (1); //  a distinct mtime even on coarse file systems
    s_sh ("echo 'VALUE = 44' > %s/src/v2/trainer/task.py && /bin/tar -czf "
          "%s/pkg/changed-0.1.tar.gz -C %s/src v2",
          s_dir, s_dir, s_dir);
    assert_true (s_fetch (fetch, "t5", changed_uris, 1, 20000, &second));
    assert_string_not_equal (first, second);
    s_sh ("PYTHONPATH='%s' /usr/bin/python3 -c 'import trainer.task; "
          "assert trainer.task.VALUE == 44'",
          second);
    free (first);
    free (second);
    free (changed_url);

    //  An unpack a crash interrupted (no marker) is redone from scratch.
    hpt_fetch_destroy (&fetch);
    char marker[700];
    snprintf (marker, sizeof (marker), "%s/cache/%s/unpacked.done", s_dir, digest);
    //  A file the half-done unpack left must be gone afterwards (an inode
    //  number could be reused, so it proves nothing).
    char leftover[720];
    snprintf (leftover, sizeof (leftover), "%s.leftover", module);
    s_sh ("touch '%s'", leftover);
    assert_int_equal (unlink (marker), 0);
    fetch = s_new_fetch ();
    assert_true (s_fetch (fetch, "t6", uris, 1, 20000, &again));
    assert_string_equal (again, path);
    assert_int_equal (stat (module, &after), 0);
    assert_int_not_equal (access (leftover, F_OK), 0);
    assert_int_equal (access (marker, F_OK), 0);
    s_assert_imports (again);
    free (again);

    free (path);
    free (url);
    hpt_fetch_destroy (&fetch);
}

static void
test_wheel_and_flat (void **state)
{
    (void)state;
    hpt_fetch_t *fetch = s_new_fetch ();
    char *wheel = s_url ("trainer-0.1-py3-none-any.whl");
    char *flat = s_url ("flat.tgz");
    const char *uris[] = {wheel, flat};
    char *pythonpath = NULL;
    assert_true (s_fetch (fetch, "w1", uris, 2, 20000, &pythonpath));
    //  Two entries, in order; each is an unpacked directory itself (a wheel,
    //  and an archive whose only top directory is the package).
    char *colon = strchr (pythonpath, ':');
    assert_non_null (colon);
    *colon = '\0';
    assert_true (s_is_dir (pythonpath));
    assert_true (s_is_dir (colon + 1));
    size_t length = strlen (pythonpath);
    assert_true (length > 9 && !strcmp (pythonpath + length - 9, "/unpacked"));
    length = strlen (colon + 1);
    assert_true (length > 9 && !strcmp (colon + 1 + length - 9, "/unpacked"));
    assert_string_not_equal (pythonpath, colon + 1);
    s_assert_imports (pythonpath);
    s_assert_imports (colon + 1);
    free (pythonpath);

    //  No packages: ok, empty path.
    assert_true (s_fetch (fetch, "w2", NULL, 0, 5000, &pythonpath));
    assert_string_equal (pythonpath, "");
    free (pythonpath);
    free (wheel);
    free (flat);
    hpt_fetch_destroy (&fetch);
}

static void
test_errors (void **state)
{
    (void)state;
    hpt_fetch_t *fetch = s_new_fetch ();
    char *error = NULL;

    //  A missing file is named.
    char *missing = s_url ("missing-1.0.tar.gz");
    const char *missing_uris[] = {missing};
    assert_false (s_fetch (fetch, "e1", missing_uris, 1, 10000, &error));
    assert_non_null (strstr (error, missing));
    assert_non_null (strstr (error, "No such file"));
    assert_int_equal (s_last_code, HPT_E_NOT_FOUND);
    free (error);

    //  An unsupported kind fails before anything is read.
    char *rar = s_url ("trainer.rar");
    const char *rar_uris[] = {rar};
    assert_false (s_fetch (fetch, "e2", rar_uris, 1, 10000, &error));
    assert_non_null (strstr (error, rar));
    assert_non_null (strstr (error, "unsupported package kind"));
    assert_int_equal (s_last_code, HPT_E_INVALID);
    free (error);

    //  Other schemes are refused.
    const char *ftp_uris[] = {"ftp://127.0.0.1/pkg.tar.gz"};
    assert_false (s_fetch (fetch, "e3", ftp_uris, 1, 10000, &error));
    assert_non_null (strstr (error, "unsupported scheme"));
    free (error);
    const char *gs_uris[] = {"gs://bucket/trainer-0.1.tar.gz"};
    assert_false (s_fetch (fetch, "e3", gs_uris, 1, 10000, &error));
    assert_non_null (strstr (error, "gs://bucket/trainer-0.1.tar.gz: unsupported scheme 'gs'"));
    free (error);

    //  A closed local port fails quickly with curl's reason and the URL.
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t size = sizeof (address);
    assert_int_equal (bind (fd, (struct sockaddr *)&address, size), 0);
    assert_int_equal (getsockname (fd, (struct sockaddr *)&address, &size), 0);
    close (fd); //  nothing listens there now
    char http[128];
    snprintf (http, sizeof (http), "http://127.0.0.1:%d/pkg-1.0.tar.gz", ntohs (address.sin_port));
    const char *http_uris[] = {http};
    int64_t start = zclock_mono ();
    assert_false (s_fetch (fetch, "e4", http_uris, 1, 10000, &error));
    assert_true (zclock_mono () - start < 5000);
    assert_non_null (strstr (error, http));
    assert_non_null (strstr (error, "onnect")); //  "Failed to connect ..."
    assert_int_equal (s_last_code, HPT_E_UNAVAILABLE);
    free (error);

    //  A broken archive: the unpack fails, with tar's reason.
    char path[600];
    snprintf (path, sizeof (path), "%s/pkg/broken-1.0.tar.gz", s_dir);
    s_write (path, "this is not a tarball\n");
    char *broken = s_url ("broken-1.0.tar.gz");
    const char *broken_uris[] = {broken};
    assert_false (s_fetch (fetch, "e5", broken_uris, 1, 10000, &error));
    assert_non_null (strstr (error, broken));
    assert_non_null (strstr (error, "cannot unpack"));
    assert_non_null (strstr (error, "/bin/tar exited"));
    free (error);

    //  The first failing URI fails the whole task, even after a good one.
    char *good = s_url ("trainer-0.1.tar.gz");
    const char *mixed_uris[] = {good, missing};
    assert_false (s_fetch (fetch, "e6", mixed_uris, 2, 20000, &error));
    assert_non_null (strstr (error, missing));
    free (error);

    //  Invalid requests are refused at once.
    const char *empty_uris[] = {""};
    assert_int_equal (hpt_fetch_request (fetch, "e7", empty_uris, 1), -1);
    assert_int_equal (hpt_fetch_request (fetch, "", mixed_uris, 1), -1);
    assert_int_equal (hpt_fetch_request (fetch, NULL, mixed_uris, 1), -1);
    const char *newline_uris[] = {"file:///x\n.tar.gz"};
    assert_int_equal (hpt_fetch_request (fetch, "e8", newline_uris, 1), -1);

    free (good);
    free (broken);
    free (rar);
    free (missing);
    hpt_fetch_destroy (&fetch);

    //  A cache directory that cannot go on PYTHONPATH.
    hpt_error_t refused;
    assert_null (hpt_fetch_new ("/tmp/a:b", 0, &refused));
    assert_int_equal (refused.code, HPT_E_INVALID);
    assert_non_null (strstr (refused.message, "':'"));
}

static void
test_escaping_members (void **state)
{
    (void)state;
    hpt_fetch_t *fetch = s_new_fetch ();
    char *error = NULL;

    //  A symbolic link to an absolute path fails the package.
    s_sh ("mkdir -p %s/src/evil && ln -sf /etc/passwd %s/src/evil/passwd && "
          "/bin/tar -czf %s/pkg/link-1.0.tar.gz -C %s/src evil",
          s_dir, s_dir, s_dir, s_dir);
    char *link = s_url ("link-1.0.tar.gz");
    const char *link_uris[] = {link};
    assert_false (s_fetch (fetch, "x1", link_uris, 1, 10000, &error));
    assert_non_null (strstr (error, "leaves the package"));
    free (error);

    //  Special files (a fifo here; device nodes when the agent is root).
    s_sh ("mkdir -p %s/src/fifo && mkfifo %s/src/fifo/pipe && "
          "/bin/tar -czf %s/pkg/fifo-1.0.tar.gz -C %s/src fifo",
          s_dir, s_dir, s_dir, s_dir);
    char *fifo = s_url ("fifo-1.0.tar.gz");
    const char *fifo_uris[] = {fifo};
    assert_false (s_fetch (fetch, "x4", fifo_uris, 1, 10000, &error));
    assert_non_null (strstr (error, "fifo/pipe is not a regular file"));
    free (error);
    free (fifo);

    //  A `..` member is refused by tar; nothing lands outside.
    s_sh ("cd %s/src && /usr/bin/python3 -c \"import tarfile; "
          "t = tarfile.open('%s/pkg/dots-1.0.tar.gz', 'w:gz'); "
          "t.add('trainer-0.1/setup.py', arcname='../../escaped.py'); t.close()\"",
          s_dir, s_dir);
    char *dots = s_url ("dots-1.0.tar.gz");
    const char *dots_uris[] = {dots};
    assert_false (s_fetch (fetch, "x2", dots_uris, 1, 10000, &error));
    assert_non_null (strstr (error, "cannot unpack"));
    free (error);
    char escaped[600];
    snprintf (escaped, sizeof (escaped), "%s/cache/escaped.py", s_dir);
    assert_int_not_equal (access (escaped, F_OK), 0);
    snprintf (escaped, sizeof (escaped), "%s/escaped.py", s_dir);
    assert_int_not_equal (access (escaped, F_OK), 0);

    //  A zip member with `..` is kept inside by zipfile.
    s_sh ("cd %s/src && /usr/bin/python3 -c \"import zipfile; "
          "z = zipfile.ZipFile('%s/pkg/dots-1.0.zip', 'w'); "
          "z.writestr('../../zescaped.py', 'x = 1'); z.close()\"",
          s_dir, s_dir);
    char *zip = s_url ("dots-1.0.zip");
    const char *zip_uris[] = {zip};
    char *pythonpath = NULL;
    assert_true (s_fetch (fetch, "x3", zip_uris, 1, 10000, &pythonpath));
    char inside[700];
    snprintf (inside, sizeof (inside), "%s/zescaped.py", pythonpath);
    assert_int_equal (access (inside, F_OK), 0);
    snprintf (escaped, sizeof (escaped), "%s/zescaped.py", s_dir);
    assert_int_not_equal (access (escaped, F_OK), 0);
    free (pythonpath);

    free (zip);
    free (dots);
    free (link);
    hpt_fetch_destroy (&fetch);
}

//  Starts python's http.server on a free loopback port serving pkg/, its
//  log in http.log. Returns the port; *pid the server's pid.
static int
s_start_http (int *pid)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t size = sizeof (address);
    assert_int_equal (bind (fd, (struct sockaddr *)&address, size), 0);
    assert_int_equal (getsockname (fd, (struct sockaddr *)&address, &size), 0);
    close (fd);
    int port = ntohs (address.sin_port);
    s_sh ("/usr/bin/python3 -m http.server %d --bind 127.0.0.1 --directory %s/pkg "
          ">%s/http.log 2>&1 </dev/null & echo $! >%s/http.pid",
          port, s_dir, s_dir, s_dir);
    char path[600];
    snprintf (path, sizeof (path), "%s/http.pid", s_dir);
    FILE *file = fopen (path, "r");
    assert_non_null (file);
    assert_int_equal (fscanf (file, "%d", pid), 1);
    fclose (file);
    //  Wait until it accepts connections.
    for (int tries = 0; tries < 200; tries++) {
        fd = socket (AF_INET, SOCK_STREAM, 0);
        int connected = connect (fd, (struct sockaddr *)&address, sizeof (address));
        close (fd);
        if (connected == 0) return port;
        zclock_sleep (50);
    }
    fail_msg ("http.server did not start on port %d", port);
    return -1;
}

//  How many GET requests for name the server logged.
static int
s_http_gets (const char *name)
{
    char command[700];
    snprintf (command, sizeof (command), "grep -c 'GET /%s ' %s/http.log", name, s_dir);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    int count = -1;
    if (fscanf (pipe, "%d", &count) != 1) count = -1;
    pclose (pipe);
    return count;
}

static void
test_http (void **state)
{
    (void)state;
    int port = s_start_http (&s_http_pid);
    hpt_fetch_t *fetch = s_new_fetch ();
    char url[200];
    snprintf (url, sizeof (url), "http://127.0.0.1:%d/trainer-0.1.tar.gz", port);
    const char *uris[] = {url};
    char *path = NULL, *again = NULL, *error = NULL;
    assert_true (s_fetch (fetch, "h1", uris, 1, 20000, &path));
    s_assert_imports (path);
    //  Same content as through file://: the same cache entry.
    char *file_url = s_url ("trainer-0.1.tar.gz");
    const char *file_uris[] = {file_url};
    char *file_path = NULL;
    assert_true (s_fetch (fetch, "h2", file_uris, 1, 20000, &file_path));
    assert_string_equal (path, file_path);
    //  Within HPT_FETCH_FRESH_S the URL is not downloaded again.
    assert_true (s_fetch (fetch, "h3", uris, 1, 20000, &again));
    assert_string_equal (again, path);
    free (again);
    assert_int_equal (s_http_gets ("trainer-0.1.tar.gz"), 1);

    //  HTTP status >= 400 fails with the status.
    char missing[200];
    snprintf (missing, sizeof (missing), "http://127.0.0.1:%d/nothere-1.0.tar.gz", port);
    const char *missing_uris[] = {missing};
    assert_false (s_fetch (fetch, "h4", missing_uris, 1, 10000, &error));
    assert_non_null (strstr (error, missing));
    assert_non_null (strstr (error, "HTTP status 404"));
    assert_int_equal (s_last_code, HPT_E_NOT_FOUND);
    free (error);

    //  The size cap, over http and file.
    hpt_fetch_destroy (&fetch);
    fetch = s_new_fetch_capped (100);
    char flat[200];
    snprintf (flat, sizeof (flat), "http://127.0.0.1:%d/flat.tgz", port);
    const char *flat_uris[] = {flat};
    assert_false (s_fetch (fetch, "h5", flat_uris, 1, 10000, &error));
    assert_non_null (strstr (error, flat));
    assert_non_null (strstr (error, "larger than the 100-byte limit"));
    free (error);
    char *flat_file = s_url ("flat.tgz");
    const char *flat_file_uris[] = {flat_file};
    assert_false (s_fetch (fetch, "h6", flat_file_uris, 1, 10000, &error));
    assert_non_null (strstr (error, "larger than the 100-byte limit"));
    free (error);
    hpt_fetch_destroy (&fetch);
    fetch = s_new_fetch ();
    assert_true (s_fetch (fetch, "h7", flat_uris, 1, 10000, &again));
    free (again);

    free (flat_file);
    free (file_path);
    free (file_url);
    free (path);
    hpt_fetch_destroy (&fetch);
    kill (s_http_pid, SIGTERM);
    s_http_pid = 0;
}

static void
test_index (void **state)
{
    (void)state;
    hpt_fetch_t *fetch = s_new_fetch ();
    char *url = s_url ("trainer-0.1.tar.gz");
    const char *uris[] = {url};
    char *path = NULL, *again = NULL;
    assert_true (s_fetch (fetch, "i1", uris, 1, 20000, &path));
    hpt_fetch_destroy (&fetch);
    //  A long history, garbage and a torn last line: the next fetcher
    //  ignores the junk, keeps the last entry per URL and compacts the file.
    s_sh ("cd %s/cache && tail -n 1 index > last && for i in $(seq 200); do cat last >> index; "
          "done && echo 'garbage line' >> index && printf 'abc 1 2' >> index && rm last",
          s_dir);
    fetch = s_new_fetch ();
    assert_true (s_fetch (fetch, "i2", uris, 1, 20000, &again));
    assert_string_equal (again, path);
    hpt_fetch_destroy (&fetch);
    char command[600];
    snprintf (command, sizeof (command), "wc -l < %s/cache/index", s_dir);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    int lines = -1;
    assert_int_equal (fscanf (pipe, "%d", &lines), 1);
    pclose (pipe);
    assert_true (lines > 0 && lines < 20);
    free (again);
    free (path);
    free (url);
}

static void
test_readonly_redo (void **state)
{
    (void)state;
    //  An archive with a read-only directory: a redone unpack can still
    //  clear what the first one left.
    s_sh ("mkdir -p %s/src/ro/locked && echo x > %s/src/ro/locked/f && chmod 555 %s/src/ro/locked "
          "&& /bin/tar -czf %s/pkg/ro-1.0.tar.gz -C %s/src ro && chmod 755 %s/src/ro/locked",
          s_dir, s_dir, s_dir, s_dir, s_dir, s_dir);
    hpt_fetch_t *fetch = s_new_fetch ();
    char *url = s_url ("ro-1.0.tar.gz");
    const char *uris[] = {url};
    char *path = NULL, *again = NULL;
    assert_true (s_fetch (fetch, "r1", uris, 1, 20000, &path));
    hpt_fetch_destroy (&fetch);
    //  Forget that the unpack completed.
    s_sh ("rm %s/../../unpacked.done", path);
    fetch = s_new_fetch ();
    assert_true (s_fetch (fetch, "r2", uris, 1, 20000, &again));
    assert_string_equal (again, path);
    char marker[700];
    snprintf (marker, sizeof (marker), "%s/../../unpacked.done", path);
    assert_int_equal (access (marker, F_OK), 0);
    hpt_fetch_destroy (&fetch);
    free (again);
    free (path);
    free (url);
}

static void
test_destroy_while_busy (void **state)
{
    (void)state;
    //  Destroying with requests queued returns promptly.
    hpt_fetch_t *fetch = s_new_fetch ();
    char *url = s_url ("trainer-0.1.tar.gz");
    const char *uris[] = {url, url, url};
    for (int i = 0; i < 20; i++)
        assert_int_equal (hpt_fetch_request (fetch, "busy", uris, 3), 0);
    int64_t start = zclock_mono ();
    hpt_fetch_destroy (&fetch);
    assert_null (fetch);
    assert_true (zclock_mono () - start < 5000);
    free (url);

    //  A server that accepts (the kernel does, from the backlog) but never
    //  answers: the download would wait out its 600 s; destroy aborts it.
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t size = sizeof (address);
    assert_int_equal (bind (fd, (struct sockaddr *)&address, size), 0);
    assert_int_equal (listen (fd, 8), 0);
    assert_int_equal (getsockname (fd, (struct sockaddr *)&address, &size), 0);
    char http[128];
    snprintf (http, sizeof (http), "http://127.0.0.1:%d/stuck-1.0.tar.gz",
              ntohs (address.sin_port));
    const char *http_uris[] = {http};
    fetch = s_new_fetch ();
    assert_int_equal (hpt_fetch_request (fetch, "stuck", http_uris, 1), 0);
    zpoller_t *poller = zpoller_new (hpt_fetch_socket (fetch), NULL);
    assert_null (zpoller_wait (poller, 1500)); //  still waiting for an answer
    zpoller_destroy (&poller);
    start = zclock_mono ();
    hpt_fetch_destroy (&fetch);
    int64_t took = zclock_mono () - start;
    print_message ("destroy during a stalled download took %lld ms\n", (long long)took);
    assert_true (took < 3000);
    close (fd);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sdist_tarball), cmocka_unit_test (test_wheel_and_flat),
        cmocka_unit_test (test_errors),        cmocka_unit_test (test_escaping_members),
        cmocka_unit_test (test_http),          cmocka_unit_test (test_index),
        cmocka_unit_test (test_readonly_redo), cmocka_unit_test (test_destroy_while_busy),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}

/*  hpt_fetch -- the agent's package fetcher for pythonModule jobs

    The caller's side (hpt_fetch_t) owns a zactor whose pipe carries
    requests one way and results the other:
        request  ["FETCH", task_id, uri...]
        result   [task_id, "OK" | error code name, pythonpath | error text]
    The actor serves one request at a time: for each URI it resolves a
    content hash (s_resolve: from the index when the freshness rule allows,
    else by downloading with libcurl while hashing), makes sure that hash
    is unpacked (s_unpack), and computes the PYTHONPATH entry.

    Stopping. A download can take minutes, during which the actor does not
    read its pipe, so hpt_fetch_destroy first sets a shared stop flag that
    curl's progress callback and the unpack's wait loop check; the actor
    then sees $TERM promptly and zactor_destroy returns.

    Children. tar and python run with posix_spawn (safe in a threaded
    process), stdin from /dev/null and stdout+stderr into HASH/unpack.log,
    whose first line becomes the error text on failure. The actor reaps
    only the pid it spawned (the launcher must see its own children's
    status), polling so that a stop can kill a long unpack.
*/
#include "hpt_fetch.h"
#include "hpt_alloc.h"
#include "hpt_log.h"
#include "hpt_fs.h"
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define S_TAR "/bin/tar"
#define S_PYTHON "/usr/bin/python3"
#define S_MAX_REDIRECTS 5
#define S_CONNECT_TIMEOUT_S 30L
#define S_TOTAL_TIMEOUT_S 600L
#define S_MAX_NAME 200        //  longest file name kept from a URL
#define S_MAX_DEPTH 64        //  deepest directory walked after an unpack
#define S_MAX_INDEX_LINE 8192 //  longest index line read

//  State shared by the caller's thread and the actor.
typedef struct {
    char *cache_dir;   //  absolute, resolved, no ':'
    atomic_bool stop;  //  set by destroy: abort downloads and unpacks
    int64_t max_bytes; //  size cap for one package (set before the actor starts)
} s_shared_t;

struct _hpt_fetch_t {
    zactor_t *actor;    //  the fetcher's thread
    s_shared_t *shared; //  read by the actor, freed after it ended
};

typedef enum { S_KIND_TAR, S_KIND_ZIP, S_KIND_WHEEL } s_kind_t;

//  What the index remembers about a URL.
typedef struct {
    char hash[65];    //  SHA-256 in hex
    int64_t size;     //  file URL: size when copied
    int64_t mtime_ns; //  file URL: modification time when copied
    int64_t fetched;  //  when downloaded (seconds since the epoch)
} s_entry_t;

//  The actor's state.
typedef struct {
    s_shared_t *shared; //  borrowed
    zhashx_t *index;    //  URL -> s_entry_t, owned
    char *index_path;   //  cache_dir/index
} s_actor_t;

//  Formats a path into buffer (PATH_MAX bytes). Returns 0, or -1 when it
//  does not fit (never with the cache directory bounded to PATH_MAX / 4,
//  a hash and a name of at most S_MAX_NAME, but checked all the same).
static int
s_path (char *buffer, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    int length = vsnprintf (buffer, PATH_MAX, format, args);
    va_end (args);
    return length < 0 || length >= PATH_MAX ? -1 : 0;
}

//  ---------------------------------------------------------------------
//  SHA-256 (FIPS 180-4), streaming

typedef struct {
    uint32_t state[8];       //  running hash
    uint64_t length;         //  bytes hashed so far
    unsigned char block[64]; //  partial block
    size_t used;             //  bytes in block
} s_sha256_t;

static const uint32_t s_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t
s_ror (uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void
s_sha256_block (s_sha256_t *sha, const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = s_ror (w[i - 15], 7) ^ s_ror (w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = s_ror (w[i - 2], 17) ^ s_ror (w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t v[8];
    memcpy (v, sha->state, sizeof (v));
    for (int i = 0; i < 64; i++) {
        uint32_t s1 = s_ror (v[4], 6) ^ s_ror (v[4], 11) ^ s_ror (v[4], 25);
        uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t t1 = v[7] + s1 + ch + s_k[i] + w[i];
        uint32_t s0 = s_ror (v[0], 2) ^ s_ror (v[0], 13) ^ s_ror (v[0], 22);
        uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        memmove (v + 1, v, 7 * sizeof (uint32_t));
        v[4] += t1;
        v[0] = t1 + s0 + maj;
    }
    for (int i = 0; i < 8; i++)
        sha->state[i] += v[i];
}

static void
s_sha256_init (s_sha256_t *sha)
{
    static const uint32_t initial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy (sha->state, initial, sizeof (initial));
    sha->length = 0;
    sha->used = 0;
}

static void
s_sha256_update (s_sha256_t *sha, const void *data, size_t size)
{
    const unsigned char *p = data;
    sha->length += size;
    while (size > 0) {
        size_t take = 64 - sha->used < size ? 64 - sha->used : size;
        memcpy (sha->block + sha->used, p, take);
        sha->used += take;
        p += take;
        size -= take;
        if (sha->used == 64) {
            s_sha256_block (sha, sha->block);
            sha->used = 0;
        }
    }
}

//  Writes the digest as 64 hex digits and a NUL into hex.
static void
s_sha256_hex (s_sha256_t *sha, char hex[65])
{
    uint64_t bits = sha->length * 8;
    unsigned char pad = 0x80;
    s_sha256_update (sha, &pad, 1);
    pad = 0;
    while (sha->used != 56)
        s_sha256_update (sha, &pad, 1);
    unsigned char tail[8];
    for (int i = 0; i < 8; i++)
        tail[i] = (unsigned char)(bits >> (56 - 8 * i));
    s_sha256_update (sha, tail, 8);
    for (int i = 0; i < 8; i++)
        snprintf (hex + 8 * i, 9, "%08x", sha->state[i]);
}

//  ---------------------------------------------------------------------
//  Files and directories

static int
s_remove_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove (path);
    return 0;
}

static int
s_open_up (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR) chmod (path, (st->st_mode & 07777) | S_IRWXU);
    return 0;
}

//  Removes path and everything under it, never following links. Directories
//  are opened up first: an archive may have unpacked read-only ones.
static void
s_remove_tree (const char *path)
{
    nftw (path, s_open_up, 16, FTW_PHYS);
    nftw (path, s_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

//  ---------------------------------------------------------------------
//  What tasks may read, and proof that it did not change

static bool s_valid_hash (const char *hash);

//  Makes an unpacked tree readable by every task user and writable by
//  none (directories 0755, files 0644, or 0755 with an execute bit);
//  links are left as they are (their own mode is never used).
static int
s_share_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DP)
        chmod (path, 0755);
    else if (flag == FTW_F && S_ISREG (st->st_mode))
        chmod (path, st->st_mode & 0111 ? 0755 : 0644);
    return 0;
}

//  Hashes the file at fd into sha. 0, or -1 (errno set).
static int
s_hash_fd (int fd, s_sha256_t *sha)
{
    char buffer[65536];
    ssize_t got;
    while ((got = read (fd, buffer, sizeof (buffer))) != 0) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        s_sha256_update (sha, buffer, (size_t)got);
    }
    return 0;
}

//  Writes the SHA-256 of the file at path into hex. 0, or -1.
static int
s_hash_file (const char *path, char hex[65])
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return -1;
    s_sha256_t sha;
    s_sha256_init (&sha);
    int rc = s_hash_fd (fd, &sha);
    close (fd);
    if (rc == 0) s_sha256_hex (&sha, hex);
    return rc;
}

//  Adds the tree under dir (path relative names, in name order) to sha:
//  per entry its name, kind, mode, and a file's contents or a link's
//  target, so any change a task could see changes the digest. 0, or -1.
static int
s_digest_tree (const char *dir, const char *relative, int depth, s_sha256_t *sha)
{
    if (depth > S_MAX_DEPTH) return -1;
    struct dirent **entries = NULL;
    int count = scandir (dir, &entries, NULL, alphasort);
    if (count < 0) return -1;
    int rc = 0;
    for (int i = 0; i < count; i++) {
        const char *name = entries[i]->d_name;
        char path[PATH_MAX], rel[PATH_MAX];
        struct stat st;
        if (rc || !strcmp (name, ".") || !strcmp (name, "..")) continue;
        if (s_path (path, "%s/%s", dir, name) || s_path (rel, "%s/%s", relative, name) ||
            lstat (path, &st)) {
            rc = -1;
            continue;
        }
        char head[64];
        int length = snprintf (head, sizeof (head), "%o %lld ", (unsigned)st.st_mode,
                               S_ISREG (st.st_mode) ? (long long)st.st_size : 0LL);
        s_sha256_update (sha, rel, strlen (rel) + 1);
        s_sha256_update (sha, head, (size_t)length);
        if (S_ISDIR (st.st_mode))
            rc = s_digest_tree (path, rel, depth + 1, sha);
        else if (S_ISLNK (st.st_mode)) {
            char target[PATH_MAX];
            ssize_t got = readlink (path, target, sizeof (target));
            if (got < 0)
                rc = -1;
            else
                s_sha256_update (sha, target, (size_t)got);
        } else if (S_ISREG (st.st_mode)) {
            int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
            rc = fd < 0 || s_hash_fd (fd, sha) ? -1 : 0;
            if (fd >= 0) close (fd);
        }
    }
    for (int i = 0; i < count; i++)
        free (entries[i]);
    free (entries);
    return rc;
}

//  The digest of the unpacked tree dir into hex. 0, or -1.
static int
s_tree_hex (const char *dir, char hex[65])
{
    s_sha256_t sha;
    s_sha256_init (&sha);
    if (s_digest_tree (dir, ".", 0, &sha) != 0) return -1;
    s_sha256_hex (&sha, hex);
    return 0;
}

//  True when marker (unpacked.done) holds the digest dir has now.
static bool
s_tree_intact (const char *dir, const char *marker)
{
    char want[72] = "", have[65];
    FILE *file = fopen (marker, "r");
    if (!file) return false;
    bool read = fgets (want, sizeof (want), file) != NULL;
    fclose (file);
    want[strcspn (want, "\n")] = '\0';
    return read && s_valid_hash (want) && s_tree_hex (dir, have) == 0 && !strcmp (want, have);
}

//  Checks that nothing under dir (depth levels down) is a symbolic link
//  that is absolute or resolves outside root. Returns 0, or -1 with *error.
static int
s_check_tree (const char *root, const char *dir, int depth, hpt_error_t *error)
{
    if (depth > S_MAX_DEPTH) {
        hpt_error_set (error, HPT_E_INVALID, "nested deeper than %d directories", S_MAX_DEPTH);
        return -1;
    }
    DIR *handle = opendir (dir);
    if (!handle) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot read %s: %s", dir, strerror (errno));
        return -1;
    }
    size_t root_length = strlen (root);
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir (handle))) {
        if (!strcmp (entry->d_name, ".") || !strcmp (entry->d_name, "..")) continue;
        char path[PATH_MAX];
        if (s_path (path, "%s/%s", dir, entry->d_name)) {
            hpt_error_set (error, HPT_E_INVALID, "a member's path is too long");
            rc = -1;
            break;
        }
        struct stat st;
        if (lstat (path, &st)) continue;
        if (S_ISLNK (st.st_mode)) {
            char target[PATH_MAX];
            ssize_t length = readlink (path, target, sizeof (target) - 1);
            char resolved[PATH_MAX];
            if (length < 0 || (target[0] == '/' && length > 0) ||
                (realpath (path, resolved) &&
                 (strncmp (resolved, root, root_length) ||
                  (resolved[root_length] != '/' && resolved[root_length] != '\0')))) {
                hpt_error_set (error, HPT_E_INVALID, "member %s is a link that leaves the package",
                               path + root_length + 1);
                rc = -1;
            }
        } else if (S_ISDIR (st.st_mode))
            rc = s_check_tree (root, path, depth + 1, error);
        else if (!S_ISREG (st.st_mode)) {
            //  Device nodes and fifos (tar makes them when run as root).
            hpt_error_set (error, HPT_E_INVALID,
                           "member %s is not a regular file, directory or link",
                           path + root_length + 1);
            rc = -1;
        }
    }
    closedir (handle);
    return rc;
}

//  Keeps the file name safe for the cache: letters, digits and ._+- stay,
//  anything else becomes '_'. Returns a fresh string or NULL (invalid).
static char *
s_safe_name (const char *name)
{
    size_t length = strlen (name);
    if (length == 0 || length > S_MAX_NAME || !strcmp (name, ".") || !strcmp (name, ".."))
        return NULL;
    char *safe = hpt_strdup (name);
    for (char *c = safe; *c; c++)
        if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') && !(*c >= '0' && *c <= '9') &&
            !strchr ("._+-", *c))
            *c = '_';
    return safe;
}

static bool
s_ends_with (const char *text, const char *suffix)
{
    size_t length = strlen (text), suffix_length = strlen (suffix);
    return length > suffix_length && !strcasecmp (text + length - suffix_length, suffix);
}

//  The kind a file name says, or -1.
static int
s_kind (const char *name)
{
    if (s_ends_with (name, ".tar.gz") || s_ends_with (name, ".tgz") || s_ends_with (name, ".tar"))
        return S_KIND_TAR;
    if (s_ends_with (name, ".whl")) return S_KIND_WHEEL;
    if (s_ends_with (name, ".zip")) return S_KIND_ZIP;
    return -1;
}

//  ---------------------------------------------------------------------
//  The index: URL -> what it last resolved to

static void
s_entry_free (void **item)
{
    free (*item);
    *item = NULL;
}

static bool
s_valid_hash (const char *hash)
{
    if (strlen (hash) != 64) return false;
    for (const char *c = hash; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return false;
    return true;
}

static void
s_index_write_line (FILE *file, const char *url, const s_entry_t *entry)
{
    fprintf (file, "%s %lld %lld %lld %s\n", entry->hash, (long long)entry->size,
             (long long)entry->mtime_ns, (long long)entry->fetched, url);
}

//  Rewrites the index with one line per URL (replacing it atomically).
static void
s_index_rewrite (s_actor_t *self)
{
    char temp[PATH_MAX];
    if (s_path (temp, "%s.new", self->index_path)) return;
    FILE *file = fopen (temp, "w");
    if (!file) return;
    for (s_entry_t *entry = zhashx_first (self->index); entry; entry = zhashx_next (self->index))
        s_index_write_line (file, zhashx_cursor (self->index), entry);
    if (fclose (file) == 0)
        rename (temp, self->index_path);
    else
        unlink (temp);
}

//  Loads the index, ignoring malformed lines (a torn last line included),
//  and compacts it when most lines were superseded.
static void
s_index_load (s_actor_t *self)
{
    FILE *file = fopen (self->index_path, "r");
    if (!file) return;
    char *line = hpt_malloc (S_MAX_INDEX_LINE);
    size_t lines = 0;
    while (fgets (line, S_MAX_INDEX_LINE, file)) {
        lines++;
        size_t length = strlen (line);
        if (length == 0 || line[length - 1] != '\n') continue; //  torn or over-long
        line[length - 1] = '\0';
        s_entry_t entry;
        char hash[65];
        int offset = 0;
        long long size, mtime_ns, fetched;
        if (sscanf (line, "%64s %lld %lld %lld %n", hash, &size, &mtime_ns, &fetched, &offset) !=
                4 ||
            offset == 0 || !s_valid_hash (hash) || line[offset] == '\0')
            continue;
        memcpy (entry.hash, hash, sizeof (entry.hash));
        entry.size = size;
        entry.mtime_ns = mtime_ns;
        entry.fetched = fetched;
        s_entry_t *copy = hpt_malloc (sizeof (entry));
        *copy = entry;
        zhashx_update (self->index, line + offset, copy);
    }
    free (line);
    fclose (file);
    if (lines > 2 * zhashx_size (self->index) + 64) s_index_rewrite (self);
}

//  Remembers what url resolved to, in memory and appended to the index.
static void
s_index_put (s_actor_t *self, const char *url, const s_entry_t *entry)
{
    s_entry_t *copy = hpt_malloc (sizeof (*entry));
    *copy = *entry;
    zhashx_update (self->index, url, copy);
    FILE *file = fopen (self->index_path, "a");
    if (!file) return; //  only the reuse across restarts is lost
    s_index_write_line (file, url, entry);
    fclose (file);
}

//  ---------------------------------------------------------------------
//  Download

//  One download in progress.
typedef struct {
    FILE *file;         //  the temporary file
    s_sha256_t sha;     //  hash of what was written
    int64_t bytes;      //  written so far
    int64_t max_bytes;  //  the size cap
    bool too_big;       //  stopped at the size cap
    bool write_failed;  //  the disk refused
    int write_errno;    //  why
    s_shared_t *shared; //  for the stop flag
} s_download_t;

static size_t
s_on_data (char *data, size_t size, size_t count, void *arg)
{
    s_download_t *download = arg;
    size_t length = size * count;
    if (download->bytes + (int64_t)length > download->max_bytes) {
        download->too_big = true;
        return 0;
    }
    if (fwrite (data, 1, length, download->file) != length) {
        download->write_failed = true;
        download->write_errno = errno;
        return 0;
    }
    s_sha256_update (&download->sha, data, length);
    download->bytes += (int64_t)length;
    return length;
}

static int
s_on_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
               curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    s_download_t *download = arg;
    return atomic_load (&download->shared->stop) ? 1 : 0;
}

static void
s_curl_setup (CURL *curl, const char *url, s_download_t *download)
{
    curl_easy_setopt (curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt (curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE);
    curl_easy_setopt (curl, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt (curl, CURLOPT_MAXREDIRS, (long)S_MAX_REDIRECTS);
    curl_easy_setopt (curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, S_CONNECT_TIMEOUT_S);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, S_TOTAL_TIMEOUT_S);
    curl_easy_setopt (curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)download->max_bytes);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L); //  we are one thread among many
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, download);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_on_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, download);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "hpt-agent");
}

//  Downloads url into cache/HASH/name, writing HASH into hash. Returns 0,
//  or -1 with *error naming the URL and the cause.
static int
s_download (s_actor_t *self, const char *url, const char *name, char hash[65], hpt_error_t *error)
{
    const char *cache = self->shared->cache_dir;
    char temp[PATH_MAX];
    s_path (temp, "%s/tmp/download-XXXXXX", cache);
    int fd = mkstemp (temp);
    if (fd < 0) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: cannot create a file in %s/tmp: %s", url,
                       cache, strerror (errno));
        return -1;
    }
    s_download_t download = {
        .file = fdopen (fd, "w"), .shared = self->shared, .max_bytes = self->shared->max_bytes};
    s_sha256_init (&download.sha);
    CURL *curl = curl_easy_init ();
    if (!download.file || !curl) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: cannot start the download", url);
        if (download.file)
            fclose (download.file);
        else
            close (fd);
        if (curl) curl_easy_cleanup (curl);
        unlink (temp);
        return -1;
    }
    char curl_error[CURL_ERROR_SIZE] = "";
    s_curl_setup (curl, url, &download);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);
    CURLcode code = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup (curl);
    //  Durable before it is named by its hash: a crash must not leave a
    //  truncated file under a valid name.
    bool closed = fflush (download.file) == 0 && fsync (fileno (download.file)) == 0;
    if (!closed && !download.write_failed) download.write_errno = errno;
    if (fclose (download.file) && closed) {
        closed = false;
        download.write_errno = errno;
    }
    int rc = -1;
    if (download.too_big || code == CURLE_FILESIZE_EXCEEDED)
        hpt_error_set (error, HPT_E_INVALID, "%s: larger than the %lld-byte limit for a package",
                       url, (long long)download.max_bytes);
    else if (download.write_failed || (code == CURLE_OK && !closed))
        hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: cannot write to %s: %s", url, cache,
                       strerror (download.write_errno));
    else if (code == CURLE_ABORTED_BY_CALLBACK && atomic_load (&self->shared->stop))
        hpt_error_set (error, HPT_E_ABORTED, "%s: download stopped (agent shutting down)", url);
    else if (code == CURLE_HTTP_RETURNED_ERROR)
        hpt_error_set (error, status == 404 || status == 410 ? HPT_E_NOT_FOUND : HPT_E_UNAVAILABLE,
                       "%s: HTTP status %ld", url, status);
    else if (code != CURLE_OK)
        hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: %s", url,
                       curl_error[0] ? curl_error : curl_easy_strerror (code));
    else
        rc = 0;
    if (rc) {
        unlink (temp);
        return -1;
    }
    s_sha256_hex (&download.sha, hash);
    char path[PATH_MAX];
    s_path (path, "%s/%s", cache, hash);
    hpt_error_t why;
    //  Task users pass through to HASH/unpacked/, and see nothing else.
    if (hpt_mkdirs (path, 0711, &why) != 0 ||
        (chmod (path, 0711) != 0 &&
         hpt_error_set (&why, HPT_E_UNAVAILABLE, "cannot set the mode of %s: %s", path,
                        strerror (errno)))) {
        hpt_error_set (error, why.code, "%s: %s", url, why.message);
        unlink (temp);
        return -1;
    }
    s_path (path, "%s/%s/%s", cache, hash, name);
    if (rename (temp, path)) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: cannot move the download to %s: %s", url,
                       path, strerror (errno));
        unlink (temp);
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Unpack

//  Runs argv with output into log; waits, killing it if the fetcher is
//  stopped. Returns 0 when it exited with 0, else -1 with *error.
static int
s_run (s_actor_t *self, char *const argv[], const char *log, hpt_error_t *error)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&actions, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC,
                                      0644);
    posix_spawn_file_actions_adddup2 (&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid;
    int rc = posix_spawn (&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    if (rc) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot run %s: %s", argv[0], strerror (rc));
        return -1;
    }
    int status = 0;
    bool killed = false;
    while (true) {
        pid_t done = waitpid (pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) {
            hpt_error_set (error, HPT_E_UNAVAILABLE, "lost %s (pid %d): %s", argv[0], (int)pid,
                           strerror (errno));
            return -1;
        }
        if (!killed && atomic_load (&self->shared->stop)) {
            kill (pid, SIGKILL);
            killed = true;
        }
        zclock_sleep (10);
    }
    if (killed) {
        hpt_error_set (error, HPT_E_ABORTED, "unpack stopped (agent shutting down)");
        return -1;
    }
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0) return 0;
    //  The tool's first lines say why (tar may warn before it fails).
    char why[400] = "";
    FILE *file = fopen (log, "r");
    if (file) {
        size_t got = fread (why, 1, sizeof (why) - 1, file);
        why[got] = '\0';
        fclose (file);
    }
    size_t length = strlen (why);
    while (length > 0 && (why[length - 1] == '\n' || why[length - 1] == ' '))
        why[--length] = '\0';
    for (char *c = why; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
    if (WIFEXITED (status))
        hpt_error_set (error, HPT_E_INVALID, "%s exited with %d%s%s", argv[0], WEXITSTATUS (status),
                       why[0] ? ": " : "", why);
    else
        hpt_error_set (error, HPT_E_UNAVAILABLE, "%s killed by signal %d", argv[0],
                       WTERMSIG (status));
    return -1;
}

//  Makes sure cache/HASH/unpacked holds the package. Returns 0, or -1 with
//  *error (without the URL; the caller adds it).
static int
s_unpack (s_actor_t *self, const char *hash, const char *name, s_kind_t kind, hpt_error_t *error)
{
    const char *cache = self->shared->cache_dir;
    char base[PATH_MAX], file[PATH_MAX], dir[PATH_MAX], marker[PATH_MAX], log[PATH_MAX];
    if (s_path (base, "%s/%s", cache, hash) || s_path (file, "%s/%s", base, name) ||
        s_path (dir, "%s/unpacked", base) || s_path (marker, "%s/unpacked.done", base) ||
        s_path (log, "%s/unpack.log", base)) {
        hpt_error_set (error, HPT_E_INVALID, "cache path too long");
        return -1;
    }
    //  Done before, and nothing in it changed since: a task gets it as is.
    if (s_exists (marker) && s_tree_intact (dir, marker)) return 0;
    if (s_exists (marker))
        hpt_log_warning ("cached package %s changed since it was unpacked; unpacking it "
                         "again",
                         hash);
    unlink (marker);
    s_remove_tree (dir); //  what a crash halfway (or a change) left
    if (hpt_mkdirs (dir, 0755, error) != 0) return -1;
    int rc;
    if (kind == S_KIND_TAR) {
        char *argv[] = {
            S_TAR, "-x", "-f", file, "-C", dir, "--no-same-owner", "--no-same-permissions", NULL};
        rc = s_run (self, argv, log, error);
    } else {
        //  -I: isolated from the agent's PYTHON* variables and user site.
        char *argv[] = {S_PYTHON, "-I", "-m", "zipfile", "-e", file, dir, NULL};
        rc = s_run (self, argv, log, error);
    }
    if (rc == 0) rc = s_check_tree (dir, dir, 0, error);
    char digest[65];
    if (rc == 0) {
        nftw (dir, s_share_one, 16, FTW_PHYS);
        if (s_tree_hex (dir, digest) != 0)
            rc = hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot read back %s", dir);
    }
    if (rc == 0) {
        FILE *done = fopen (marker, "w");
        if (!done || fprintf (done, "%s\n", digest) < 0 || fclose (done)) {
            hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot write %s: %s", marker,
                           strerror (errno));
            rc = -1;
        }
    }
    if (rc) s_remove_tree (dir);
    return rc;
}

//  The PYTHONPATH entry for an unpacked package (see the header). Returns
//  a fresh string, or NULL with *error.
static char *
s_entry_path (s_actor_t *self, const char *hash, s_kind_t kind, hpt_error_t *error)
{
    char dir[PATH_MAX];
    s_path (dir, "%s/%s/unpacked", self->shared->cache_dir, hash);
    if (kind == S_KIND_WHEEL) return hpt_strdup (dir);
    DIR *handle = opendir (dir);
    if (!handle) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "cannot read %s: %s", dir, strerror (errno));
        return NULL;
    }
    char top[NAME_MAX + 1] = "";
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (handle)))
        if (strcmp (entry->d_name, ".") && strcmp (entry->d_name, "..") && count++ == 0)
            snprintf (top, sizeof (top), "%s", entry->d_name);
    closedir (handle);
    if (count != 1) return hpt_strdup (dir);
    char path[PATH_MAX], init[PATH_MAX];
    struct stat st;
    if (s_path (path, "%s/%s", dir, top) || lstat (path, &st) || !S_ISDIR (st.st_mode))
        return hpt_strdup (dir);
    s_path (init, "%s/__init__.py", path);
    if (s_exists (init)) return hpt_strdup (dir); //  an archive of the package itself
    if (strchr (top, ':')) {
        hpt_error_set (error, HPT_E_INVALID,
                       "top directory '%s' contains ':' and cannot go on PYTHONPATH", top);
        return NULL;
    }
    return hpt_strdup (path);
}

//  ---------------------------------------------------------------------
//  One URI

//  Splits url into its scheme (lowercase, fresh), its decoded path (fresh)
//  and host (fresh, may be NULL). Returns 0 or -1 with *error.
static int
s_parse (const char *url, char **scheme, char **path, char **host, hpt_error_t *error)
{
    *scheme = *path = *host = NULL;
    CURLU *parsed = curl_url ();
    if (!parsed) return hpt_error_set (error, HPT_E_UNAVAILABLE, "%s: cannot parse", url);
    int rc = -1;
    //  Any scheme parses, so that gs:// and s3:// get a clear answer.
    if (curl_url_set (parsed, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
        hpt_error_set (error, HPT_E_INVALID, "%s: not a valid URL", url);
    else if (curl_url_get (parsed, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK)
        hpt_error_set (error, HPT_E_INVALID, "%s: no scheme", url);
    else if (strcasecmp (*scheme, "http") && strcasecmp (*scheme, "https") &&
             strcasecmp (*scheme, "file"))
        hpt_error_set (error, HPT_E_INVALID,
                       "%s: unsupported scheme '%s' (http, https and file are)", url, *scheme);
    else if (curl_url_get (parsed, CURLUPART_PATH, path, CURLU_URLDECODE) != CURLUE_OK)
        hpt_error_set (error, HPT_E_INVALID, "%s: no path", url);
    else {
        if (curl_url_get (parsed, CURLUPART_HOST, host, 0) != CURLUE_OK) *host = NULL;
        rc = 0;
    }
    curl_url_cleanup (parsed);
    if (rc) {
        curl_free (*scheme);
        curl_free (*path);
        *scheme = *path = NULL;
    }
    return rc;
}

//  True when cache/HASH has name and a complete unpack.
static bool
s_cached (s_actor_t *self, const char *hash, const char *name)
{
    char path[PATH_MAX];
    if (s_path (path, "%s/%s/%s", self->shared->cache_dir, hash, name) || !s_exists (path))
        return false;
    return s_path (path, "%s/%s/unpacked.done", self->shared->cache_dir, hash) == 0 &&
           s_exists (path);
}

//  Checks a cached package before reuse: its file against the SHA-256 it
//  is named by, and its unpacked tree against the digest taken when it
//  was unpacked (re-unpacking from the verified file when that changed).
//  0, or -1 when the file changed: the caller fetches it again, after
//  removing the whole entry.
static int
s_verify (s_actor_t *self, const char *hash, const char *name, s_kind_t kind, hpt_error_t *error)
{
    char base[PATH_MAX], file[PATH_MAX], actual[65];
    if (s_path (base, "%s/%s", self->shared->cache_dir, hash) ||
        s_path (file, "%s/%s", base, name) || s_hash_file (file, actual) != 0 ||
        strcmp (actual, hash) != 0) {
        s_remove_tree (base);
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "%s changed", file);
    }
    return s_unpack (self, hash, name, kind, error);
}

//  Resolves url (a package file called name, of kind; st is its stat for a
//  file URL, zeros otherwise) to an unpacked hash directory: from the
//  index when the freshness rule allows, else by downloading and
//  unpacking. Writes the hash into hash. Returns 0, or -1 with *error.
static int
s_resolve (s_actor_t *self, const char *url, const char *name, s_kind_t kind, bool is_file,
           const struct stat *st, char hash[65], hpt_error_t *error)
{
    int64_t mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    int64_t now = (int64_t)time (NULL);
    s_entry_t *known = zhashx_lookup (self->index, url);
    bool reuse = known && s_cached (self, known->hash, name) &&
                 (is_file ? known->size == (int64_t)st->st_size && known->mtime_ns == mtime_ns
                          : now - known->fetched >= 0 && now - known->fetched < HPT_FETCH_FRESH_S);
    //  Every reuse proves the cached copy is still what was fetched.
    const char *changed = NULL;
    if (reuse && s_verify (self, known->hash, name, kind, error) == 0) {
        memcpy (hash, known->hash, 65);
        return 0;
    }
    if (reuse) {
        changed = "the cached copy no longer matches its sha256 and fetching it again failed: ";
        hpt_log_warning ("%s: the cached copy no longer matches its sha256 %s; fetching "
                         "it again",
                         url, known->hash);
    }
    s_entry_t entry = {"", (int64_t)st->st_size, mtime_ns, now};
    hpt_error_t why;
    if (s_download (self, url, name, entry.hash, &why)) {
        hpt_error_set (error, why.code, "%s%s", changed ? changed : "", why.message);
        return -1;
    }
    hpt_error_t cause;
    int rc = s_unpack (self, entry.hash, name, kind, &cause);
    if (rc)
        hpt_error_set (error, cause.code, "%s: cannot unpack: %s", url, cause.message);
    else
        s_index_put (self, url, &entry);
    memcpy (hash, entry.hash, 65);
    return rc;
}

//  Fetches and unpacks one URI. Returns its PYTHONPATH entry (fresh) or
//  NULL with *error naming the URL.
static char *
s_fetch_one (s_actor_t *self, const char *url, hpt_error_t *error)
{
    char *scheme, *path, *host;
    if (s_parse (url, &scheme, &path, &host, error)) return NULL;
    bool is_file = !strcasecmp (scheme, "file");
    const char *slash = strrchr (path, '/');
    char *name = s_safe_name (slash ? slash + 1 : path);
    int kind = name ? s_kind (name) : -1;
    int64_t max_bytes = self->shared->max_bytes;
    struct stat st;
    memset (&st, 0, sizeof (st));
    char hash[65];
    char *result = NULL;
    if (!name)
        hpt_error_set (error, HPT_E_INVALID, "%s: no usable file name at the end of the path", url);
    else if (kind < 0)
        hpt_error_set (error, HPT_E_INVALID,
                       "%s: unsupported package kind (.tar.gz, .tgz, .tar, .whl and .zip are)",
                       url);
    else if (is_file && host && *host && strcasecmp (host, "localhost"))
        hpt_error_set (error, HPT_E_INVALID, "%s: a file URL must name a local file (host '%s')",
                       url, host);
    else if (is_file && stat (path, &st))
        hpt_error_set (error, errno == ENOENT ? HPT_E_NOT_FOUND : HPT_E_UNAVAILABLE, "%s: %s: %s",
                       url, path, strerror (errno));
    else if (is_file && !S_ISREG (st.st_mode))
        hpt_error_set (error, HPT_E_INVALID, "%s: %s is not a regular file", url, path);
    else if (is_file && st.st_size > max_bytes)
        hpt_error_set (error, HPT_E_INVALID, "%s: larger than the %lld-byte limit for a package",
                       url, (long long)max_bytes);
    else if (s_resolve (self, url, name, (s_kind_t)kind, is_file, &st, hash, error) == 0) {
        hpt_error_t cause;
        result = s_entry_path (self, hash, (s_kind_t)kind, &cause);
        if (!result) hpt_error_set (error, cause.code, "%s: %s", url, cause.message);
    }
    free (name);
    curl_free (scheme);
    curl_free (path);
    curl_free (host);
    return result;
}

//  ---------------------------------------------------------------------
//  The actor

//  Serves one FETCH message and sends its result on the pipe.
static void
s_serve (s_actor_t *self, zsock_t *pipe, zmsg_t *request)
{
    char *task_id = zmsg_popstr (request);
    if (!task_id) return;
    zchunk_t *joined = zchunk_new (NULL, 0);
    hpt_error_t error;
    bool failed = false, first = true;
    char *url;
    while (!failed && (url = zmsg_popstr (request))) {
        char *entry = s_fetch_one (self, url, &error);
        failed = entry == NULL;
        if (entry) {
            if (!first) zchunk_extend (joined, ":", 1);
            zchunk_extend (joined, entry, strlen (entry));
            first = false;
            free (entry);
        }
        free (url);
    }
    zmsg_t *result = zmsg_new ();
    zmsg_addstr (result, task_id);
    zmsg_addstr (result, failed ? hpt_error_code_name (error.code) : "OK");
    if (failed)
        zmsg_addstr (result, error.message);
    else
        zmsg_addmem (result, zchunk_data (joined), zchunk_size (joined));
    zmsg_send (&result, pipe);
    zchunk_destroy (&joined);
    free (task_id);
}

static void
s_actor (zsock_t *pipe, void *args)
{
    s_actor_t self = {args, zhashx_new (), NULL};
    zhashx_set_destructor (self.index, s_entry_free);
    self.index_path = hpt_asprintf ("%s/index", self.shared->cache_dir);
    //  The URLs may carry credentials; task users can reach the cache by
    //  name (0711), so the index is the agent's alone, also one an older
    //  agent left.
    chmod (self.index_path, 0600);
    s_index_load (&self);
    zsock_signal (pipe, 0);
    while (!atomic_load (&self.shared->stop)) {
        zmsg_t *msg = zmsg_recv (pipe);
        //  A signal caught by a handler in this thread interrupts the wait;
        //  anything else means the pipe is gone.
        if (!msg && zmq_errno () == EINTR) continue;
        if (!msg) break;
        char *command = zmsg_popstr (msg);
        bool term = command && !strcmp (command, "$TERM");
        if (command && !strcmp (command, "FETCH")) s_serve (&self, pipe, msg);
        free (command);
        zmsg_destroy (&msg);
        if (term) break;
    }
    zhashx_destroy (&self.index);
    free (self.index_path);
}

//  ---------------------------------------------------------------------
//  The caller's side

//  Checks the cache directory and makes it and an empty tmp/ in it;
//  writes its resolved path (PATH_MAX bytes).
static int
s_prepare_cache (const char *cache_dir, char *resolved, hpt_error_t *error)
{
    if (!cache_dir || !*cache_dir)
        return hpt_error_set (error, HPT_E_INVALID, "fetch: no cache directory");
    if (strchr (cache_dir, ':'))
        return hpt_error_set (error, HPT_E_INVALID,
                              "fetch: cache directory %s contains ':' (it goes into PYTHONPATH)",
                              cache_dir);
    if (strlen (cache_dir) > PATH_MAX / 4)
        return hpt_error_set (error, HPT_E_INVALID, "fetch: cache directory path too long");
    hpt_error_t why;
    if (hpt_mkdirs (cache_dir, 0711, &why) != 0)
        return hpt_error_set (error, why.code, "fetch: %s", why.message);
    //  Task users reach their packages' unpacked trees, and list nothing.
    struct stat st;
    if (stat (cache_dir, &st) == 0 && st.st_uid == geteuid ()) chmod (cache_dir, 0711);
    if (!realpath (cache_dir, resolved))
        return hpt_error_set (error, HPT_E_UNAVAILABLE, "fetch: cannot resolve %s: %s", cache_dir,
                              strerror (errno));
    if (strchr (resolved, ':') || strlen (resolved) > PATH_MAX / 4)
        return hpt_error_set (error, HPT_E_INVALID,
                              "fetch: cache directory %s resolves to an unusable path", cache_dir);
    //  Downloads a crash interrupted are worthless: start tmp/ empty.
    char tmp[PATH_MAX];
    s_path (tmp, "%s/tmp", resolved);
    s_remove_tree (tmp);
    if (hpt_mkdirs (tmp, 0700, &why) != 0)
        return hpt_error_set (error, why.code, "fetch: %s", why.message);
    return 0;
}

hpt_fetch_t *
hpt_fetch_new (const char *cache_dir, int64_t max_bytes, hpt_error_t *error)
{
    char resolved[PATH_MAX];
    if (s_prepare_cache (cache_dir, resolved, error) != 0) return NULL;
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "fetch: cannot initialize libcurl");
        return NULL;
    }
    hpt_fetch_t *self = hpt_calloc (1, sizeof (hpt_fetch_t));
    self->shared = hpt_calloc (1, sizeof (s_shared_t));
    self->shared->cache_dir = hpt_strdup (resolved);
    atomic_init (&self->shared->stop, false);
    self->shared->max_bytes = max_bytes > 0 ? max_bytes : HPT_FETCH_MAX_BYTES;
    self->actor = zactor_new (s_actor, self->shared);
    if (!self->actor) {
        hpt_error_set (error, HPT_E_UNAVAILABLE, "fetch: cannot start the fetcher's thread");
        hpt_fetch_destroy (&self);
    }
    return self;
}

void
hpt_fetch_destroy (hpt_fetch_t **self_p)
{
    if (!self_p || !*self_p) return;
    hpt_fetch_t *self = *self_p;
    atomic_store (&self->shared->stop, true);
    zactor_destroy (&self->actor);
    free (self->shared->cache_dir);
    free (self->shared);
    free (self);
    curl_global_cleanup ();
    *self_p = NULL;
}

int
hpt_fetch_request (hpt_fetch_t *self, const char *task_id, const char *const *uris, size_t count)
{
    if (!self || !task_id || !*task_id || strlen (task_id) > HPT_FETCH_MAX_TASK_ID ||
        (count > 0 && !uris) || count > HPT_FETCH_MAX_URIS)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (!uris[i] || !*uris[i] || strlen (uris[i]) > HPT_FETCH_MAX_URL ||
            strpbrk (uris[i], "\r\n"))
            return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "FETCH");
    zmsg_addstr (msg, task_id);
    for (size_t i = 0; i < count; i++)
        zmsg_addstr (msg, uris[i]);
    return zmsg_send (&msg, self->actor);
}

zsock_t *
hpt_fetch_socket (hpt_fetch_t *self)
{
    return self ? zactor_sock (self->actor) : NULL;
}

int
hpt_fetch_result_recv (hpt_fetch_t *self, char **task_id, bool *ok, char **pythonpath,
                       hpt_error_t *error)
{
    zmsg_t *msg = zmsg_recv (self->actor);
    if (!msg) return -1;
    if (zmsg_size (msg) != 3) {
        zmsg_destroy (&msg);
        return -1;
    }
    char *id = zmsg_popstr (msg);
    char *status = zmsg_popstr (msg);
    char *text = zmsg_popstr (msg);
    zmsg_destroy (&msg);
    *task_id = id;
    *ok = status && !strcmp (status, "OK");
    *pythonpath = *ok ? text : NULL;
    if (!*ok) {
        hpt_error_code_t code = HPT_E_INTERNAL;
        hpt_error_code_parse (status, &code);
        hpt_error_set (error, code, "%s", text ? text : "");
        free (text);
    }
    free (status);
    return 0;
}

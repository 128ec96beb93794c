/*  hpt auth, hpt users -- who you are, and the master's users

        auth whoami          GET  /v1/auth/whoami         {name, role}
        users list           GET  /v1/users               {users: [{name, role, created,
                                                           revoked}]}
        users add NAME       POST /v1/users {name, role}  {name, role, token}
        users revoke NAME    POST /v1/users/NAME:revoke   {}
        users token NAME     POST /v1/users/NAME:token    {name, role, token}

    The users commands are an admin's, over the API, and do what
    `hptmaster users ... --cluster FILE` does on the master's host without
    it. A new token prints as hptmaster prints it: alone on the last line
    of stdout, so a script takes `| tail -n 1`, and nowhere else (the
    master keeps only its hash: this is the one chance to see it).

    The master checks names and roles too; the CLI checks the role first
    only to answer a typo with usage (exit 2) instead of a round trip.
*/
#include "hpt_cli.h"
#include "hpt_alloc.h"
#include "hpt_client.h"
#include "hpt_format.h"
#include <stdlib.h>
#include <string.h>

//  Calls method on /v1/users[/NAME[:VERB]]; prints errors. The caller
//  owns *reply.
static int
s_user_call (hpt_client_t *client, const char *method, const char *name, const char *verb,
             json_t *body, json_t **reply)
{
    *reply = NULL;
    char *escaped = name ? hpt_client_escape (client, name) : hpt_strdup ("");
    if (!escaped) { //  libcurl allocates the escaped text itself, and may fail
        hpt_client_error (client, "out of memory");
        return 1;
    }
    char *path = hpt_asprintf ("/v1/users%s%s%s%s", name ? "/" : "", escaped, verb ? ":" : "",
                               verb ? verb : "");
    hpt_client_result_t result = hpt_client_call (client, method, path, body, false, reply);
    free (escaped);
    free (path);
    return result == HPT_CLIENT_OK ? 0 : 1;
}

//  Prints a user's new token the way hptmaster users add does: the token
//  alone on the last line of stdout.
static int
s_print_token (hpt_client_t *client, json_t *reply, const char *name)
{
    const char *token = json_string_value (json_object_get (reply, "token"));
    const char *role = json_string_value (json_object_get (reply, "role"));
    if (!token) {
        hpt_client_error (client, "the master's answer has no token");
        return 1;
    }
    printf ("user %s (%s); its token, shown only now:\n%s\n", name, role ? role : "?", token);
    fprintf (stderr,
             "Give it to %s for HPT_TOKEN, or token: in ~/.config/hpt/config.yaml (chmod 600).\n",
             name);
    return 0;
}

static int
s_whoami (hpt_cli_context_t *context, int argc, char *argv[])
{
    hpt_cli_option_t options[] = {{NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "auth whoami", .options = options, .positional_max = 0};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    hpt_client_t *client = hpt_client_new (context, "hpt.auth.whoami");
    if (!client) return 1;
    json_t *reply = NULL;
    hpt_client_result_t result =
        hpt_client_call (client, "GET", "/v1/auth/whoami", NULL, false, &reply);
    int rc = result == HPT_CLIENT_OK ? 0 : 1;
    const char *name = json_string_value (json_object_get (reply, "name"));
    const char *role = json_string_value (json_object_get (reply, "role"));
    if (rc == 0 && (!name || !role)) {
        hpt_client_error (client, "the master's answer has no name or role");
        rc = 1;
    }
    if (rc == 0) {
        printf ("name: %s\nrole: %s\n", name, role);
        fprintf (stderr, "Master %s (from %s); %s%s.\n", hpt_client_url (client),
                 context->master_from ? context->master_from : "the default",
                 context->token_from ? "token from " : "no token sent",
                 context->token_from ? context->token_from : "");
    }
    json_decref (reply);
    hpt_client_destroy (&client);
    return rc;
}

int
hpt_cli_auth (hpt_cli_context_t *context, int argc, char *argv[])
{
    if (argc < 1 || strcmp (argv[0], "--help") == 0 || strcmp (argv[0], "-h") == 0) {
        hpt_cli_usage ("auth", argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp (argv[0], "whoami") == 0) return s_whoami (context, argc - 1, argv + 1);
    fprintf (stderr, "hpt auth: unknown command '%s' (see hpt auth --help)\n", argv[0]);
    return 2;
}

static int
s_list (hpt_cli_context_t *context, int argc, char *argv[])
{
    hpt_cli_option_t options[] = {{NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "users list", .options = options, .positional_max = 0};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    hpt_client_t *client = hpt_client_new (context, "hpt.users.list");
    if (!client) return 1;
    json_t *reply = NULL;
    int rc = s_user_call (client, "GET", NULL, NULL, NULL, &reply);
    json_t *users = json_object_get (reply, "users");
    if (rc == 0 && !json_is_array (users)) {
        hpt_client_error (client, "the master's answer has no list of users");
        rc = 1;
    }
    if (rc == 0 && json_array_size (users) == 0)
        fprintf (stderr, "Listed 0 items.\n");
    else if (rc == 0) {
        const char *headings[] = {"NAME", "ROLE", "STATE", "CREATED"};
        hpt_format_table_t *table = hpt_format_table_new (headings, 4);
        size_t i;
        json_t *user;
        json_array_foreach (users, i, user) {
            char name[128], role[32], created[64];
            const char *cells[] = {
                hpt_format_cell (json_object_get (user, "name"), name, sizeof (name)),
                hpt_format_cell (json_object_get (user, "role"), role, sizeof (role)),
                json_is_true (json_object_get (user, "revoked")) ? "revoked" : "active",
                hpt_format_time_ms (json_object_get (user, "created"), created, sizeof (created))};
            hpt_format_table_add (table, cells);
        }
        hpt_format_table_print (table, stdout);
        hpt_format_table_destroy (&table);
    }
    json_decref (reply);
    hpt_client_destroy (&client);
    return rc;
}

//  add, revoke and token: one NAME; add also --role.
static int
s_change (hpt_cli_context_t *context, int argc, char *argv[], const char *verb)
{
    const char *role = NULL;
    hpt_cli_option_t add_options[] = {{"--role", &role, NULL}, {NULL, NULL, NULL}};
    hpt_cli_option_t no_options[] = {{NULL, NULL, NULL}};
    bool add = strcmp (verb, "add") == 0;
    char command[32], label[32];
    snprintf (command, sizeof (command), "users %s", verb);
    snprintf (label, sizeof (label), "hpt.users.%s", verb);
    hpt_cli_args_t args = {
        .command = command, .options = add ? add_options : no_options, .positional_max = 1};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 1) {
        fprintf (stderr, "hpt %s: NAME is required (see hpt %s --help)\n", command, command);
        return 2;
    }
    if (add && (!role || (strcmp (role, "viewer") != 0 && strcmp (role, "user") != 0 &&
                          strcmp (role, "admin") != 0))) {
        fprintf (stderr, "hpt users add: --role must be viewer, user or admin%s%s%s\n",
                 role ? ", not '" : "", role ? role : "", role ? "'" : "");
        return 2;
    }
    const char *name = args.positional[0];
    hpt_client_t *client = hpt_client_new (context, label);
    if (!client) return 1;
    json_t *body = add ? json_pack ("{s:s, s:s}", "name", name, "role", role) : NULL;
    json_t *reply = NULL;
    int rc = 1;
    if (add && !body)
        hpt_client_error (client, "the name is not valid UTF-8");
    else
        rc = s_user_call (client, "POST", add ? NULL : name, add ? NULL : verb, body, &reply);
    if (rc == 0 && strcmp (verb, "revoke") == 0)
        fprintf (stderr, "Revoked user [%s]: its token no longer works.\n", name);
    else if (rc == 0)
        rc = s_print_token (client, reply, name);
    json_decref (body);
    json_decref (reply);
    hpt_client_destroy (&client);
    return rc;
}

int
hpt_cli_users (hpt_cli_context_t *context, int argc, char *argv[])
{
    if (argc < 1 || strcmp (argv[0], "--help") == 0 || strcmp (argv[0], "-h") == 0) {
        hpt_cli_usage ("users", argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp (argv[0], "list") == 0) return s_list (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "add") == 0 || strcmp (argv[0], "revoke") == 0 ||
        strcmp (argv[0], "token") == 0)
        return s_change (context, argc - 1, argv + 1, argv[0]);
    fprintf (stderr, "hpt users: unknown command '%s' (see hpt users --help)\n", argv[0]);
    return 2;
}

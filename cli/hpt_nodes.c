/*  hpt nodes -- the operator's view of the agents, and node drain

        nodes list            GET  /v1/nodes, every page
        nodes describe NODE   GET  /v1/nodes/NODE
        nodes drain NODE      POST /v1/nodes/NODE:drain   {"reason", "now", "by"}
        nodes undrain NODE    POST /v1/nodes/NODE:undrain
        nodes delete NODE     DELETE /v1/nodes/NODE (a LOST node)

    Drain follows Slurm: the master stops placing tasks on the node, which
    is DRAINING while its tasks still run and DRAINED once they are gone;
    --now stops its tasks and requeues their trials. The CLI only asks and
    reports the state the master answers with; who asked ($USER, else the
    login name of the uid) travels in "by" so the master can record it.
*/
#include "hpt_cli.h"
#include "hpt_alloc.h"
#include "hpt_client.h"
#include "hpt_format.h"
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Calls method on /v1/nodes[/NODE][SUFFIX]; prints errors. The caller
//  owns *reply.
static int
s_node_call (hpt_client_t *client, const char *method, const char *node, const char *suffix,
             json_t *body, json_t **reply)
{
    *reply = NULL;
    char *escaped = node ? hpt_client_escape (client, node) : hpt_strdup ("");
    if (!escaped) { //  libcurl allocates the escaped text itself, and may fail
        hpt_client_error (client, "out of memory");
        return 1;
    }
    char *path = hpt_asprintf ("/v1/nodes%s%s%s", node ? "/" : "", escaped, suffix);
    hpt_client_result_t result = hpt_client_call (client, method, path, body, false, reply);
    free (escaped);
    free (path);
    return result == HPT_CLIENT_OK ? 0 : 1;
}

//  "free/total TYPE" of a node's accelerators, "-" when it has none.
static const char *
s_accelerators (json_t *node, char *buf, size_t size)
{
    json_t *list = json_object_get (node, "accelerators");
    size_t total = json_array_size (list), free_count = 0;
    const char *type = NULL;
    bool mixed = false;
    size_t i;
    json_t *accel;
    json_array_foreach (list, i, accel) {
        if (json_is_true (json_object_get (accel, "free"))) free_count++;
        const char *t = json_string_value (json_object_get (accel, "type"));
        if (t && type && strcmp (t, type) != 0) mixed = true;
        if (t && !type) type = t;
    }
    if (total == 0)
        snprintf (buf, size, "-");
    else
        snprintf (buf, size, "%zu/%zu %s", free_count, total,
                  mixed  ? "mixed"
                  : type ? type
                         : "unknown");
    return buf;
}

static int
s_list (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *page_size = NULL;
    hpt_cli_option_t options[] = {{"--page-size", &page_size, NULL}, {NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "nodes list", .options = options, .positional_max = 0};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    char *end = NULL;
    long size = page_size ? strtol (page_size, &end, 10) : 0;
    if (page_size && (end == page_size || *end || size < 1)) {
        fprintf (stderr, "hpt nodes list: --page-size must be a positive number, not '%s'\n",
                 page_size);
        return 2;
    }
    hpt_client_t *client = hpt_client_new (context, "hpt.nodes.list");
    if (!client) return 1;
    //  Every page, so that no node is left out of the table.
    json_t *nodes = NULL;
    int rc =
        hpt_client_list (client, "/v1/nodes", "nodes", size, 0, &nodes) == HPT_CLIENT_OK ? 0 : 1;
    if (rc == 0 && json_array_size (nodes) == 0)
        fprintf (stderr, "Listed 0 items.\n");
    else if (rc == 0) {
        const char *headings[] = {"NAME",      "STATE", "DRAIN", "CPUS", "FREE_CPUS",
                                  "MEMORY_GB", "GPUS",  "TASKS", "LOAD", "REASON"};
        hpt_format_table_t *table = hpt_format_table_new (headings, 10);
        size_t i;
        json_t *node;
        json_array_foreach (nodes, i, node) {
            char text[10][128];
            const char *keys[] = {"name",     "state", "drainState",   "cpus", "freeCpus",
                                  "memoryGb", NULL,    "runningTasks", "load", "drainReason"};
            const char *cells[10];
            //  Agents report memory to the byte (4.7998046875) and load to
            //  many digits: a tenth of a GB and two decimals of load are
            //  what a reader of the table compares.
            json_t *memory = json_object_get (node, "memoryGb");
            json_t *load = json_object_get (node, "load");
            if (json_is_real (memory))
                snprintf (text[5], sizeof (text[5]), "%.1f", json_real_value (memory));
            if (json_is_number (load))
                snprintf (text[8], sizeof (text[8]), "%.2f", json_number_value (load));
            for (int k = 0; k < 10; k++)
                cells[k] = (k == 5 && json_is_real (memory)) || (k == 8 && json_is_number (load))
                               ? text[k]
                           : keys[k] ? hpt_format_cell (json_object_get (node, keys[k]), text[k],
                                                        sizeof (text[k]))
                                     : s_accelerators (node, text[k], sizeof (text[k]));
            hpt_format_table_add (table, cells);
        }
        hpt_format_table_print (table, stdout);
        hpt_format_table_destroy (&table);
    }
    json_decref (nodes);
    hpt_client_destroy (&client);
    return rc;
}

static int
s_describe (hpt_cli_context_t *context, int argc, char *argv[])
{
    const char *format = "yaml";
    hpt_cli_option_t options[] = {{"--format", &format, NULL}, {NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "nodes describe", .options = options, .positional_max = 1};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 1) {
        fprintf (stderr, "hpt nodes describe: NODE is required (see hpt nodes describe --help)\n");
        return 2;
    }
    hpt_format_style_t style;
    if (!hpt_format_style_option ("nodes describe", format, &style)) return 2;
    hpt_client_t *client = hpt_client_new (context, "hpt.nodes.describe");
    if (!client) return 1;
    json_t *reply = NULL;
    int rc = s_node_call (client, "GET", args.positional[0], "", NULL, &reply);
    if (rc == 0 && !hpt_format_print (reply, style, stdout)) {
        hpt_client_error (client, "cannot print the master's answer");
        rc = 1;
    }
    json_decref (reply);
    hpt_client_destroy (&client);
    return rc;
}

//  Who is asking: $USER, else the login name of the uid, else "unknown".
static const char *
s_user (void)
{
    const char *user = getenv ("USER");
    if (user && *user) return user;
    struct passwd *pw = getpwuid (getuid ());
    return pw && pw->pw_name ? pw->pw_name : "unknown";
}

//  drain and undrain: the same call with a different verb and body.
static int
s_drain (hpt_cli_context_t *context, int argc, char *argv[], bool drain)
{
    const char *reason = NULL;
    bool now = false;
    hpt_cli_option_t drain_options[] = {
        {"--reason", &reason, NULL}, {"--now", NULL, &now}, {NULL, NULL, NULL}};
    hpt_cli_option_t undrain_options[] = {{NULL, NULL, NULL}};
    const char *command = drain ? "nodes drain" : "nodes undrain";
    hpt_cli_args_t args = {.command = command,
                           .options = drain ? drain_options : undrain_options,
                           .positional_max = 1};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 1) {
        fprintf (stderr, "hpt %s: NODE is required (see hpt %s --help)\n", command, command);
        return 2;
    }
    const char *name = args.positional[0];
    hpt_client_t *client =
        hpt_client_new (context, drain ? "hpt.nodes.drain" : "hpt.nodes.undrain");
    if (!client) return 1;
    json_t *body = NULL;
    if (drain) {
        body = json_pack ("{s:s, s:b, s:s}", "reason", reason ? reason : "", "now", now, "by",
                          s_user ());
        if (!body) {
            hpt_client_error (client, "the reason is not valid UTF-8");
            hpt_client_destroy (&client);
            return 2;
        }
    }
    json_t *reply = NULL;
    int rc = s_node_call (client, "POST", name, drain ? ":drain" : ":undrain", body, &reply);
    if (rc == 0) {
        const char *state = json_string_value (json_object_get (reply, "drainState"));
        if (drain)
            fprintf (stderr, "Node [%s] is %s.\n", name, state ? state : "DRAINING");
        else
            fprintf (stderr, "Node [%s] is back in service (drain state %s).\n", name,
                     state ? state : "NONE");
    }
    json_decref (body);
    json_decref (reply);
    hpt_client_destroy (&client);
    return rc;
}

//  delete: forget a LOST node (its place under maxAgents is free again).
static int
s_delete (hpt_cli_context_t *context, int argc, char *argv[])
{
    hpt_cli_option_t options[] = {{NULL, NULL, NULL}};
    hpt_cli_args_t args = {.command = "nodes delete", .options = options, .positional_max = 1};
    int parsed = hpt_cli_parse (context, &args, argc, argv);
    if (parsed >= 0) return parsed;
    if (args.positional_count != 1) {
        fprintf (stderr, "hpt nodes delete: NODE is required (see hpt nodes delete --help)\n");
        return 2;
    }
    hpt_client_t *client = hpt_client_new (context, "hpt.nodes.delete");
    if (!client) return 1;
    json_t *reply = NULL;
    int rc = s_node_call (client, "DELETE", args.positional[0], "", NULL, &reply);
    if (rc == 0) fprintf (stderr, "Deleted node [%s].\n", args.positional[0]);
    json_decref (reply);
    hpt_client_destroy (&client);
    return rc;
}

int
hpt_cli_nodes (hpt_cli_context_t *context, int argc, char *argv[])
{
    if (argc < 1 || strcmp (argv[0], "--help") == 0 || strcmp (argv[0], "-h") == 0) {
        hpt_cli_usage ("nodes", argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp (argv[0], "list") == 0) return s_list (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "describe") == 0) return s_describe (context, argc - 1, argv + 1);
    if (strcmp (argv[0], "drain") == 0) return s_drain (context, argc - 1, argv + 1, true);
    if (strcmp (argv[0], "undrain") == 0) return s_drain (context, argc - 1, argv + 1, false);
    if (strcmp (argv[0], "delete") == 0) return s_delete (context, argc - 1, argv + 1);
    fprintf (stderr, "hpt nodes: unknown command '%s' (see hpt nodes --help)\n", argv[0]);
    return 2;
}

/*  Unit tests for hpt_container: the run command line a task gets (no
    value on it but checked ones, env through a file, limits, GPUs), CDI
    specs (which GPUs a spec names, and the error that says how to make
    one), and what an agent without its runtime reports. Nothing here runs
    a container. */
#include "hpt_container.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char s_dir[64];

static int
s_setup (void **state)
{
    snprintf (s_dir, sizeof (s_dir), "/tmp/hpt-container-XXXXXX");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    char command[128];
    snprintf (command, sizeof (command), "rm -rf '%s'", s_dir);
    return system (command) == 0 ? 0 : -1;
}

//  The index of word in argv, or -1.
static int
s_find (char **argv, const char *word)
{
    for (int i = 0; argv[i]; i++)
        if (strcmp (argv[i], word) == 0) return i;
    return -1;
}

static hpt_container_t *
s_runtime (const char *gpu_kind)
{
    const char *run_args[] = {"--ulimit=nofile=1024:1024", NULL};
    hpt_container_config_t config = {.runtime = "/bin/true --runtime runc",
                                     .run_args = run_args,
                                     .gpu_kind = gpu_kind,
                                     .cdi_dirs = s_dir,
                                     .workdir = "/w",
                                     .agent = "a1"};
    return hpt_container_new (&config);
}

static void
test_run_argv (void **state)
{
    hpt_container_t *runtime = s_runtime (NULL);
    assert_null (hpt_container_problem (runtime));
    char *name = hpt_container_name (runtime, "job:3:master:0");
    assert_non_null (strstr (name, "-job_3_master_0"));
    const char *command[] = {"python3", "-m", "trainer.task"};
    const char *args[] = {"--lr=0.1"};
    const char *mounts[] = {"/w/tasks/t", "/w/tasks/t", "/w/tasks/t/hypertune", "/tmp/hypertune",
                            NULL};
    const char *labels[] = {"hpt.job=job", NULL};
    const int64_t gpus[] = {1, 3};
    hpt_container_run_t run = {.name = name,
                               .image = "localhost/t:1",
                               .command = command,
                               .command_count = 3,
                               .args = args,
                               .arg_count = 1,
                               .env_file = "/w/containers/x.env",
                               .mounts = mounts,
                               .workdir = "/w/tasks/t",
                               .user = "1000:1000",
                               .labels = labels,
                               .cpus = 2,
                               .memory_mb = 512,
                               .gpus = gpus,
                               .gpu_count = 2};
    char **argv = hpt_container_run_argv (runtime, &run);
    //  The prefix, then run; the image after every option, its args last.
    assert_string_equal (argv[0], "/bin/true");
    assert_string_equal (argv[2], "runc");
    assert_string_equal (argv[3], "run");
    int image = s_find (argv, "localhost/t:1");
    assert_true (image > 3);
    assert_string_equal (argv[image + 1], "--lr=0.1");
    assert_null (argv[image + 2]);
    const char *options[] = {"--rm",
                             "--network=host",
                             "--label=hpt.workdir=/w",
                             "--label=hpt.agent=a1",
                             "--label=hpt.job=job",
                             "--env-file=/w/containers/x.env",
                             "--mount=type=bind,source=/w/tasks/t,destination=/w/tasks/t",
                             "--mount=type=bind,source=/w/tasks/t/hypertune,destination=/tmp/"
                             "hypertune",
                             "--workdir=/w/tasks/t",
                             "--user=1000:1000",
                             "--cpus=2",
                             "--memory=512m",
                             "--device=nvidia.com/gpu=1",
                             "--device=nvidia.com/gpu=3",
                             "--ulimit=nofile=1024:1024",
                             "--entrypoint=[\"python3\",\"-m\",\"trainer.task\"]"};
    for (size_t i = 0; i < sizeof (options) / sizeof (options[0]); i++) {
        int at = s_find (argv, options[i]);
        if (at < 0 || at > image) fail_msg ("'%s' not among the options", options[i]);
    }
    hpt_container_argv_free (&argv);
    //  Pinned CPUs replace the quota.
    run.cpuset = "0-1";
    run.command_count = 0;
    argv = hpt_container_run_argv (runtime, &run);
    assert_true (s_find (argv, "--cpuset-cpus=0-1") > 0);
    assert_int_equal (s_find (argv, "--cpus=2"), -1);
    for (int i = 0; argv[i]; i++)
        assert_null (strstr (argv[i], "--entrypoint"));
    hpt_container_argv_free (&argv);
    free (name);
    hpt_container_destroy (&runtime);
}

static void
s_write (const char *name, const char *text)
{
    char path[256];
    snprintf (path, sizeof (path), "%s/%s", s_dir, name);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs (text, file);
    fclose (file);
}

static void
test_cdi_specs (void **state)
{
    hpt_container_t *runtime = s_runtime ("hpt.test/gpu");
    const int64_t gpus[] = {0, 1};
    hpt_error_t error;
    assert_int_equal (hpt_container_check_gpus (runtime, gpus, 2, &error), -1);
    assert_non_null (strstr (error.message, "nvidia-ctk cdi generate"));
    json_t *resources = hpt_container_resources (runtime, gpus, 2);
    assert_false (json_is_true (json_object_get (resources, "gpus")));
    assert_non_null (json_object_get (resources, "gpuProblem"));
    json_decref (resources);
    //  Another kind's spec does not count; ours names GPU 0 only.
    s_write ("other.json", "{\"cdiVersion\": \"0.5.0\", \"kind\": \"other.com/gpu\", "
                           "\"devices\": [{\"name\": \"1\"}]}");
    s_write ("ours.yaml", "cdiVersion: 0.5.0\nkind: hpt.test/gpu\ndevices:\n- name: \"0\"\n"
                          "  containerEdits: {deviceNodes: [{path: /dev/null}]}\n"
                          "- name: all\n");
    assert_int_equal (hpt_container_check_gpus (runtime, gpus, 1, &error), 0);
    assert_int_equal (hpt_container_check_gpus (runtime, gpus, 2, &error), -1);
    assert_non_null (strstr (error.message, "GPU 1"));
    s_write ("more.yml", "kind: hpt.test/gpu\ndevices: [{name: '1'}]\n");
    assert_int_equal (hpt_container_check_gpus (runtime, gpus, 2, &error), 0);
    resources = hpt_container_resources (runtime, gpus, 2);
    assert_true (json_is_true (json_object_get (resources, "gpus")));
    assert_string_equal (json_string_value (json_object_get (resources, "runtime")),
                         "/bin/true --runtime runc");
    json_decref (resources);
    hpt_container_destroy (&runtime);
}

//  MIG instances in containers: the CDI name is the MIG UUID when a spec
//  names it so (nvidia-ctk --device-name-strategy=uuid), else GPU:SLOT
//  (its default index naming); the run line gets --device KIND=NAME.
static void
test_cdi_mig_devices (void **state)
{
    hpt_container_t *runtime = s_runtime ("hpt.test/gpu");
    hpt_error_t error;
    assert_null (hpt_container_mig_device (runtime, "MIG-a", 0, 1, &error));
    assert_non_null (strstr (error.message, "hpt.test/gpu=0:1"));
    s_write ("mig.yaml", "kind: hpt.test/gpu\ndevices: [{name: '0'}, {name: '0:1'}, "
                         "{name: MIG-b}]\n");
    char *name = hpt_container_mig_device (runtime, "MIG-a", 0, 1, &error);
    assert_string_equal (name, "0:1");
    free (name);
    name = hpt_container_mig_device (runtime, "MIG-b", 0, 2, &error);
    assert_string_equal (name, "MIG-b");
    free (name);
    assert_null (hpt_container_mig_device (runtime, "MIG-c", 1, 0, &error));
    const char *devices[] = {"0:1", NULL};
    hpt_container_run_t run = {.name = "c",
                               .image = "localhost/t:1",
                               .env_file = "/w/e.env",
                               .workdir = "/w",
                               .devices = devices};
    char **argv = hpt_container_run_argv (runtime, &run);
    int at = s_find (argv, "--device=hpt.test/gpu=0:1");
    assert_true (at > 0 && at < s_find (argv, "localhost/t:1"));
    hpt_container_argv_free (&argv);
    hpt_container_destroy (&runtime);
}

static void
test_no_runtime (void **state)
{
    hpt_container_config_t config = {.runtime = "hpt-no-such-runtime run"};
    hpt_container_t *runtime = hpt_container_new (&config);
    assert_non_null (strstr (hpt_container_problem (runtime), "'hpt-no-such-runtime'"));
    assert_null (hpt_container_resources (runtime, NULL, 0));
    assert_int_equal (hpt_container_pull (runtime, "x"), -1);
    hpt_error_t error;
    assert_int_equal (hpt_container_reap (runtime, &error), 0);
    hpt_container_destroy (&runtime);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_run_argv),
        cmocka_unit_test_setup_teardown (test_cdi_specs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cdi_mig_devices, s_setup, s_teardown),
        cmocka_unit_test (test_no_runtime),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}

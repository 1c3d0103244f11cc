/* test_config.c — unit tests of the config table and file parser: defaults, overrides,
 * accounts, and the clear error a bad line gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/ferry-conf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    config c;
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8480");
    assert_string_equal(c.data_dir, "./var");
    assert_int_equal(c.task_quota, 200);
    assert_int_equal(c.task_window_max_s, 7 * 24 * 3600);
    assert_int_equal(c.retry_interval_min_s, 60);
    assert_int_equal(c.n_accounts, 0);
}

static void test_file_with_accounts(void **state)
{
    config c;
    config_defaults(&c);
    char err[256];
    char *path = write_temp("# comment\nlisten = 127.0.0.1:9999\nstall_timeout=3\n"
                            "[account alice]\ntoken = t-alice\ntask_quota = 5\n"
                            "tc_secret_id = AKID1\n[account bob]\ntoken = t-bob\n");
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
    unlink(path);
    assert_string_equal(c.listen, "127.0.0.1:9999");
    assert_int_equal(c.stall_timeout_s, 3);
    assert_int_equal(c.n_accounts, 2);
    const config_account *a = config_find_account_by_token(&c, "t-alice");
    assert_non_null(a);
    assert_string_equal(a->name, "alice");
    assert_string_equal(a->tc_secret_id, "AKID1");
    assert_int_equal(config_account_quota(&c, a), 5);
    assert_int_equal(config_account_quota(&c, config_find_account(&c, "bob")), 200);
    assert_null(config_find_account_by_token(&c, "t-nobody"));
    assert_null(config_find_account_by_token(&c, ""));
}

static void test_bad_lines(void **state)
{
    const char *bad[] = {"nonsense\n",
                         "no_such_key = 1\n",
                         "stall_timeout = abc\n",
                         "[account a]\nbogus = 1\n",
                         "[account a]\n[account a]\n",
                         "task_quota = -4\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        config c;
        config_defaults(&c);
        char err[256] = "";
        char *path = write_temp(bad[i]);
        assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -1);
        assert_non_null(strstr(err, path)); /* the message names the file and line */
        unlink(path);
    }
}

static void test_example_file_parses(void **state)
{
    config c;
    config_defaults(&c);
    char err[256] = "";
    const char *src = getenv("FERRY_SOURCE_ROOT");
    char path[512];
    snprintf(path, sizeof(path), "%s/docs/ferry.conf.example", src ? src : ".");
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
    assert_int_equal(c.n_accounts, 1);
    assert_string_equal(c.listen, "127.0.0.1:8480");
}

/* store: the embedded SQLite store in data_dir by default, or a PostgreSQL URL; anything
 * else is refused with the key's name; a password in the URL counts as a secret. */
static void test_store_key(void **state)
{
    config c;
    char err[256];
    config_defaults(&c);
    assert_string_equal(c.store, "sqlite");
    assert_string_equal(config_store_location(&c), "./var");
    assert_false(config_holds_secrets(&c));
    assert_int_equal(
        config_set(&c, "store", "postgresql://ferry@127.0.0.1:5433/ferry", err, sizeof(err)), 0);
    assert_string_equal(config_store_location(&c), "postgresql://ferry@127.0.0.1:5433/ferry");
    assert_false(config_holds_secrets(&c));
    const char *bad[] = {"", "mysql://db/ferry", "postgresql://", "/var/lib/ferry", "SQLite"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(config_set(&c, "store", bad[i], err, sizeof(err)), -1);
        assert_non_null(strstr(err, "store"));
    }
    assert_string_equal(c.store, "postgresql://ferry@127.0.0.1:5433/ferry"); /* unchanged */
    assert_int_equal(
        config_set(&c, "store", "postgres://ferry:pw@db.example/ferry", err, sizeof(err)), 0);
    assert_true(config_holds_secrets(&c));
    assert_int_equal(
        config_set(&c, "store", "postgres://db.example/ferry?password=pw", err, sizeof(err)), 0);
    assert_true(config_holds_secrets(&c));
    assert_int_equal(config_set(&c, "store", "sqlite", err, sizeof(err)), 0);
    assert_string_equal(config_store_location(&c), "./var");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),  cmocka_unit_test(test_file_with_accounts),
        cmocka_unit_test(test_bad_lines), cmocka_unit_test(test_example_file_parses),
        cmocka_unit_test(test_store_key),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}

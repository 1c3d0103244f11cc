/* test_addr_policy.c — the address policy: special ranges and their names, CIDR allow lists,
 * URL hosts, literal hosts refused without a lookup, and the per-account lists of the config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sys/socket.h>

#include "common/addr_policy.h"
#include "common/config.h"

static const char *kind_of(const char *text)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, text, a) == 1)
        return addr_special_kind(AF_INET, a);
    assert_int_equal(inet_pton(AF_INET6, text, a), 1);
    return addr_special_kind(AF_INET6, a);
}

static void test_special_kinds(void **state)
{
    (void)state;
    assert_string_equal(kind_of("127.0.0.1"), "loopback");
    assert_string_equal(kind_of("10.20.30.40"), "private");
    assert_string_equal(kind_of("172.31.255.1"), "private");
    assert_string_equal(kind_of("192.168.0.1"), "private");
    assert_string_equal(kind_of("169.254.169.254"), "link-local");
    assert_string_equal(kind_of("100.64.0.1"), "shared (CGN)");
    assert_string_equal(kind_of("224.0.0.1"), "multicast");
    assert_string_equal(kind_of("0.0.0.0"), "unspecified");
    assert_string_equal(kind_of("::1"), "loopback");
    assert_string_equal(kind_of("fd12::1"), "private");
    assert_string_equal(kind_of("fe80::1"), "link-local");
    assert_string_equal(kind_of("::ffff:127.0.0.1"), "loopback"); /* judged as its IPv4 */
    assert_null(kind_of("93.184.216.34"));
    assert_null(kind_of("172.32.0.1"));
    assert_null(kind_of("2606:2800:220:1::1"));
}

static void test_url_hosts(void **state)
{
    (void)state;
    char host[256];
    int port;
    assert_true(addr_url_host("rtmp://push.example:1936/live/key", host, sizeof(host), &port));
    assert_string_equal(host, "push.example");
    assert_int_equal(port, 1936);
    assert_true(addr_url_host("http://user:pw@10.0.0.1/a.mp4?x=1", host, sizeof(host), &port));
    assert_string_equal(host, "10.0.0.1");
    assert_int_equal(port, 0);
    assert_true(addr_url_host("rtmps://[fd00::1]:443/app/s", host, sizeof(host), &port));
    assert_string_equal(host, "fd00::1");
    assert_int_equal(port, 443);
    assert_true(addr_url_host("srt://h?mode=caller", host, sizeof(host), &port));
    assert_string_equal(host, "h");
    assert_false(addr_url_host("file:///etc/passwd", host, sizeof(host), &port));
    assert_false(addr_url_host("/etc/passwd", host, sizeof(host), &port));
}

static void test_literal_hosts(void **state)
{
    (void)state;
    char why[200];
    assert_int_equal(
        addr_literal_checked("push.example", "", "destination_allow", why, sizeof(why)),
        1); /* a name: checked when opened */
    assert_int_equal(addr_literal_checked("93.184.216.34", "", "source_allow", why, sizeof(why)),
                     0);
    assert_int_equal(addr_literal_checked("10.0.0.1", "", "destination_allow", why, sizeof(why)),
                     -1);
    assert_string_equal(why, "refused by the address policy: 10.0.0.1 is a private address, not "
                             "in destination_allow");
    assert_int_equal(addr_literal_checked("localhost", "", "source_allow", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "loopback"));
    assert_int_equal(
        addr_literal_checked("localhost", "127.0.0.0/8", "source_allow", why, sizeof(why)), 0);
    assert_int_equal(addr_literal_checked("::1", "::1/128", "source_allow", why, sizeof(why)), 0);
}

static void test_resolve_checks_every_address(void **state)
{
    (void)state;
    char ip[64], why[200];
    /* "localhost" goes through the resolver here: its address is what gets checked */
    assert_int_equal(
        addr_resolve_checked("localhost", "", "source_allow", ip, sizeof(ip), why, sizeof(why)),
        -1);
    assert_non_null(strstr(why, "loopback"));
    assert_int_equal(addr_resolve_checked("localhost", "127.0.0.0/8,::1/128", "source_allow", ip,
                                          sizeof(ip), why, sizeof(why)),
                     0);
    assert_true(strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0);
}

static void test_lists_valid_and_per_account(void **state)
{
    (void)state;
    assert_true(addr_list_valid(""));
    assert_true(addr_list_valid("10.0.0.0/8, ::1/128 192.168.1.1"));
    assert_false(addr_list_valid("10.0.0.0/33"));
    assert_false(addr_list_valid("garbage"));
    config c;
    char err[256], out[2 * CONFIG_STR_MAX];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "source_allow", "10.0.0.0/8", err, sizeof(err)), 0);
    assert_int_not_equal(config_set(&c, "destination_allow", "10.0.0.0/99", err, sizeof(err)), 0);
    c.n_accounts = 1;
    snprintf(c.accounts[0].name, sizeof(c.accounts[0].name), "studio");
    snprintf(c.accounts[0].source_allow, sizeof(c.accounts[0].source_allow), "192.168.50.0/24");
    config_allow_list(&c, "studio", ADDR_SOURCE, out, sizeof(out));
    assert_string_equal(out, "10.0.0.0/8,192.168.50.0/24");
    config_allow_list(&c, "other", ADDR_SOURCE, out, sizeof(out));
    assert_string_equal(out, "10.0.0.0/8");
    config_allow_list(&c, "studio", ADDR_DESTINATION, out, sizeof(out));
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_special_kinds),
        cmocka_unit_test(test_url_hosts),
        cmocka_unit_test(test_literal_hosts),
        cmocka_unit_test(test_resolve_checks_every_address),
        cmocka_unit_test(test_lists_valid_and_per_account),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

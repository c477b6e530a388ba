/* Component names: defaults from what is observed, server ports, endpoints seen
 * from clients, loopback kept per namespace, operator rules and their errors. */
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

#include "names.h"

static void v4(uint8_t a[16], int x, int y, int z, int w)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = (uint8_t)x; a[13] = (uint8_t)y; a[14] = (uint8_t)z; a[15] = (uint8_t)w;
}

static uint32_t self_netns(void)
{
	struct stat sb;
	assert_int_equal(stat("/proc/self/ns/net", &sb), 0);
	return (uint32_t)sb.st_ino;
}

static void test_defaults(void **st)
{
	struct names *n = names_new();
	char host[64], want[200];
	uint8_t a[16];
	(void)st;
	gethostname(host, sizeof host);
	uint32_t ns = self_netns();

	const char *c = names_node(n, ns, 100, "curl", 0);
	snprintf(want, sizeof want, "curl@%s", host);
	assert_string_equal(c, want);
	assert_ptr_equal(c, names_node(n, ns, 100, "curl", 0)); /* interned */

	/* unknown server: named by address */
	v4(a, 10, 0, 0, 2);
	assert_string_equal(names_endpoint(n, ns, a, 80), "10.0.0.2:80");
	/* once seen serving, clients name it like it names itself */
	names_server_seen(n, 12345, 200, "nginx", 0, a, 80);
	const char *srv = names_node(n, 12345, 200, "nginx", 0);
	assert_string_equal(srv, "nginx@ns12345:80");
	assert_ptr_equal(names_endpoint(n, ns, a, 80), srv);

	/* loopback addresses are per namespace */
	v4(a, 127, 0, 0, 1);
	names_server_seen(n, 111, 300, "redis-server", 0, a, 6379);
	assert_string_equal(names_endpoint(n, 111, a, 6379), "redis-server@ns111:6379");
	assert_string_equal(names_endpoint(n, 222, a, 6379), "127.0.0.1:6379");

	/* comm with a space becomes a valid report name */
	assert_string_equal(names_node(n, 5, 9, "my prog", 0), "my_prog@ns5");
	names_free(n);
}

static char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/insitu-names-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_rules(void **st)
{
	struct names *n = names_new();
	char err[256];
	uint8_t a[16];
	(void)st;
	char *p = write_tmp("[{\"name\":\"cache\",\"port\":6379},\n"
			    " {\"name\":\"pay\",\"addr\":\"10.0.0.7\",\"port\":8443},\n"
			    " {\"name\":\"tools\",\"comm\":\"curl\"}]");
	assert_int_equal(names_load_rules(n, p, err, sizeof err), 0);
	unlink(p);
	assert_string_equal(names_node(n, 1, 2, "curl", 0), "tools");
	v4(a, 10, 0, 0, 7);
	assert_string_equal(names_endpoint(n, 1, a, 8443), "pay");
	v4(a, 10, 0, 0, 9);
	names_server_seen(n, 1, 3, "redis-server", 0, a, 6379);
	assert_string_equal(names_node(n, 1, 3, "redis-server", 0), "cache");
	assert_string_equal(names_endpoint(n, 4, a, 6379), "cache");
	names_free(n);
}

static void expect_error(const char *text, const char *want)
{
	struct names *n = names_new();
	char err[256];
	char *p = write_tmp(text);
	assert_int_equal(names_load_rules(n, p, err, sizeof err), -1);
	unlink(p);
	const char *msg = strchr(err, ':'); /* skip the temporary path */
	assert_non_null(msg);
	assert_string_equal(msg + 1, want);
	names_free(n);
}

static void test_rule_errors(void **st)
{
	(void)st;
	expect_error("{}", "1:1: expected an array of rules, found object");
	expect_error("[{\"name\":\"x\"}]", "1:2: [0]: a rule needs at least one of netns, comm, cgroup, addr, port");
	expect_error("[\n {\"name\":\"x\",\"port\":70000}]", "2:21: [0].port: expected a port number 1-65535");
	expect_error("[{\"nmae\":\"x\",\"port\":1}]",
		     "1:10: [0]: unknown key \"nmae\" (expected name, netns, comm, cgroup, addr, port)");
	expect_error("[{\"name\":\"a b\",\"port\":1}]",
		     "1:10: [0].name: expected 1-127 characters without spaces or control characters");
	expect_error("[{\"name\":\"x\",\"addr\":\"10.0.0.300\"}]", "1:21: [0].addr: expected an IPv4 or IPv6 address");
	expect_error("[{\"port\":1}]", "1:2: [0]: missing \"name\"");
}

/* cgroup rules: the rule matches the cgroup directory's inode (the cgroup v2 id the
 * observer's events carry); a process first named without its cgroup (a hop's side)
 * is renamed when an event shows it, and its server endpoint follows. */
static void test_cgroup_rules(void **st)
{
	struct names *n = names_new();
	char dir[] = "/tmp/insitu-names-cg-XXXXXX", rule[512], err[256], host[64];
	struct stat sb;
	uint8_t a[16];
	(void)st;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(stat(dir, &sb), 0);
	snprintf(rule, sizeof rule, "[{\"name\":\"batch\",\"cgroup\":\"%s\"}]", dir);
	char *p = write_tmp(rule);
	assert_false(names_cgroups_matter(n));
	assert_int_equal(names_load_rules(n, p, err, sizeof err), 0);
	unlink(p);
	rmdir(dir);
	assert_true(names_cgroups_matter(n));
	gethostname(host, sizeof host);
	uint32_t ns = self_netns();

	/* known from the start */
	assert_string_equal(names_node(n, ns, 10, "python3", sb.st_ino), "batch");
	/* seen first without its cgroup, as a server: default name, then the rule */
	v4(a, 10, 0, 0, 5);
	names_server_seen(n, ns, 11, "python3", 0, a, 8000);
	assert_string_not_equal(names_node(n, ns, 11, "python3", 0), "batch");
	names_cgroup_seen(n, ns, 11, "python3", sb.st_ino);
	assert_string_equal(names_node(n, ns, 11, "python3", 0), "batch");
	assert_string_equal(names_endpoint(n, 99, a, 8000), "batch");
	assert_int_equal(names_stats(n)->cgroup_renames, 1);
	/* another cgroup: the default name */
	names_cgroup_seen(n, ns, 12, "python3", sb.st_ino + 1);
	char want[200];
	snprintf(want, sizeof want, "python3@%s", host);
	assert_string_equal(names_node(n, ns, 12, "python3", 0), want);
	names_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_rule_errors),
		cmocka_unit_test(test_cgroup_rules),
	};
	return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}

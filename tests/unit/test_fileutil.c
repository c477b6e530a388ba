/* fopen_private: regular files end up 0600, devices are left alone (a bug once made
 * /dev/null 0600 for the whole host). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fileutil.h"

static void test_regular_file_private(void **st)
{
	char path[] = "/tmp/insitu-fileutil-XXXXXX";
	struct stat sb;
	int fd = mkstemp(path);
	(void)st;
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	FILE *f = fopen_private(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	unlink(path);
	/* a new file too */
	f = fopen_private(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	unlink(path);
}

static void test_device_untouched(void **st)
{
	struct stat before, after;
	(void)st;
	assert_int_equal(stat("/dev/null", &before), 0);
	FILE *f = fopen_private("/dev/null", "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(stat("/dev/null", &after), 0);
	assert_int_equal(before.st_mode, after.st_mode);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regular_file_private),
		cmocka_unit_test(test_device_untouched),
	};
	return cmocka_run_group_tests_name("fileutil", tests, NULL, NULL);
}

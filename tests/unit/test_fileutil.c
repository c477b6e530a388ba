/* fopen_private: regular files end up 0600, devices are left alone (a bug once made
 * /dev/null 0600 for the whole host).  read_file_max: the bound is exact, errors
 * come back as errno. */
#include <errno.h>
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

static void test_read_file_max(void **st)
{
	char path[] = "/tmp/insitu-fileutil-XXXXXX";
	int fd = mkstemp(path);
	size_t len = 99;
	char *b;
	(void)st;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	close(fd);

	b = read_file_max(path, 10, &len); /* exactly the bound: read, NUL-terminated */
	assert_non_null(b);
	assert_int_equal(len, 10);
	assert_string_equal(b, "0123456789");
	free(b);

	errno = 0;
	len = 99;
	assert_null(read_file_max(path, 9, &len)); /* one byte over */
	assert_int_equal(errno, EFBIG);
	assert_int_equal(len, 99); /* untouched on failure */

	assert_int_equal(truncate(path, 0), 0); /* empty: an empty string, not an error */
	b = read_file_max(path, 10, &len);
	assert_non_null(b);
	assert_int_equal(len, 0);
	assert_string_equal(b, "");
	free(b);
	unlink(path);

	errno = 0;
	assert_null(read_file_max(path, 10, &len));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_null(read_file_max("/tmp", 10, &len)); /* a directory: fread fails */
	assert_int_equal(errno, EISDIR);
	errno = 0;
	assert_null(read_file_max("/dev/zero", 4096, &len)); /* endless: bounded */
	assert_int_equal(errno, EFBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regular_file_private),
		cmocka_unit_test(test_device_untouched),
		cmocka_unit_test(test_read_file_max),
	};
	return cmocka_run_group_tests_name("fileutil", tests, NULL, NULL);
}

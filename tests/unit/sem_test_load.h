/* For the semantics unit tests (test_framer, test_extract): load one protocol from
 * a JSON string; any validation problem is printed and fails the test.  Include
 * after <cmocka.h> and "semantics.h". */
#ifndef SEM_TEST_LOAD_H
#define SEM_TEST_LOAD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sem_set *load(const char *json)
{
	struct sem_diags *d = calloc(1, sizeof(*d));
	struct sem_set *s = sem_load_buffer("t.json", json, strlen(json), d);
	if (!s)
		sem_diags_print(d, stderr);
	free(d);
	assert_non_null(s);
	return s;
}

#endif

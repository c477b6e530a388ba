/* The insitu CLI: shared state between its files. */
#ifndef INSITU_CLI_H
#define INSITU_CLI_H

#include <stdint.h>

struct insitud_client;
struct cJSON;

struct cli {
	const char *socket;
	struct insitud_client *c; /* connected lazily */
	int json;                 /* --json: print answers as JSON lines */
	int interactive;
	char observer[128];       /* "me" */
	uint64_t handle;          /* its registration, 0 = not yet */
};

/* Runs one command line (argv form).  Returns the exit status: 0 ok, 1 the daemon
 * said no / not found, 2 usage error (nothing sent), 3 cannot reach insitud. */
int cli_run(struct cli *cli, int argc, char **argv);
void cli_help(void);
/* insitu mkconfig ... (cli_mkconfig.c) */
int cli_mkconfig(int argc, char **argv);
/* insitu paths ... (cli_paths.c) */
int cli_paths(struct cli *cli, int argc, char **argv);

#endif

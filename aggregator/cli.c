/* insitu: the command-line client of insitud (one-shot, interactive, or commands
 * piped on standard input), and the entry point of insitu-* tools (git-style). */
#include <editline/readline.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_table.h"
#include "insitud_client.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: insitu [OPTIONS] [COMMAND [ARGS...]]\n"
"\n"
"Talks to insitud, the insitu aggregator, over its Unix socket.  Without a command it\n"
"reads commands interactively (line editing, history in ~/.insitu_history), or one per\n"
"line from standard input when that is not a terminal.\n"
"\n"
"Options:\n"
"  -s, --socket PATH   insitud's socket (default $INSITUD_SOCKET or /run/insitu/insitud.sock)\n"
"  -j, --json          print the daemon's answers as JSON, one per line (for scripts)\n"
"  -a, --as OBSERVER   report as OBSERVER (same as the `me` command)\n"
"  -h, --help          this text\n"
"\n");
	if (f == stdout)
		cli_help();
	fprintf(f,
"\n"
"Exit status: 0 ok; 1 insitud refused or found nothing; 2 invalid command or\n"
"arguments (nothing was sent); 3 insitud unreachable.\n"
"\n"
"Examples:\n"
"  insitu status\n"
"  insitu --as FE_1 report peer@1 snapshot:u:30 cpu:h:90\n"
"  insitu --json get inference peer@1 | jq .inference.overall\n"
"  printf 'me FE_1\\nreport peer@1 snapshot:u:30\\n' | insitu\n");
}

/* Splits a line on blanks into argv (in place); returns argc. */
static int split(char *line, char **argv, int max)
{
	int n = 0;
	for (char *tok = strtok(line, " \t\r\n"); tok && n < max; tok = strtok(NULL, " \t\r\n"))
		argv[n++] = tok;
	return n;
}

/* insitu FOO args: runs insitu-FOO from the directory of this binary. */
static int exec_tool(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 64], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n <= 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	snprintf(path, sizeof path, "%s/insitu-%s", self, argv[0]);
	if (access(path, X_OK))
		return -1;
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "insitu: cannot run %s: %s\n", path, strerror(errno));
	return 126;
}

static int run_line(struct cli *cli, char *line, int *quit)
{
	char *argv[64];
	int argc = split(line, argv, 64), rc;

	if (!argc || argv[0][0] == '#')
		return 0;
	if (!strcmp(argv[0], "exit") || !strcmp(argv[0], "quit")) {
		*quit = 1;
		return 0;
	}
	rc = cli_run(cli, argc, argv);
	if (rc < 0) {
		fprintf(stderr, "insitu: unknown command '%s' (type help)\n", argv[0]);
		rc = 2;
	}
	return rc;
}

static int interactive(struct cli *cli)
{
	char hist[PATH_MAX] = "";
	const char *home = getenv("HOME");
	char *line;
	int quit = 0, rc = 0;

	cli->interactive = 1;
	if (home) {
		snprintf(hist, sizeof hist, "%s/.insitu_history", home);
		read_history(hist);
	}
	stifle_history(1000);
	while (!quit && (line = readline("insitu> "))) {
		if (*line)
			add_history(line);
		rc = run_line(cli, line, &quit);
		free(line);
	}
	if (*hist)
		write_history(hist);
	return rc;
}

static int from_stdin(struct cli *cli)
{
	char line[8192];
	int quit = 0, rc = 0, r;
	while (!quit && fgets(line, sizeof line, stdin))
		if ((r = run_line(cli, line, &quit)))
			rc = r; /* keep going, like the original client; report the last failure */
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", 1, 0, 's'}, {"json", 0, 0, 'j'}, {"as", 1, 0, 'a'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0},
	};
	struct cli cli = {0};
	int o, rc;

	/* "insitu mkconfig ..." has its own flags */
	if (argc > 1 && !strcmp(argv[1], "mkconfig"))
		return cli_mkconfig(argc - 1, argv + 1);
	while ((o = getopt_long(argc, argv, "+s:ja:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			cli.socket = optarg;
			break;
		case 'j':
			cli.json = 1;
			break;
		case 'a':
			if (!insitu_name_valid(optarg, sizeof cli.observer)) {
				fprintf(stderr, "insitu: --as '%s': expected a name without spaces\n", optarg);
				return 2;
			}
			snprintf(cli.observer, sizeof cli.observer, "%s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	cli_color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !cli.json;
	if (optind < argc) {
		rc = cli_run(&cli, argc - optind, argv + optind);
		if (rc < 0) {
			rc = exec_tool(argc - optind, argv + optind);
			if (rc < 0) {
				fprintf(stderr, "insitu: unknown command '%s' (see insitu --help)\n", argv[optind]);
				rc = 2;
			}
		}
	} else if (isatty(STDIN_FILENO)) {
		rc = interactive(&cli);
	} else {
		rc = from_stdin(&cli);
	}
	if (cli.c)
		insitud_close(cli.c);
	return rc;
}

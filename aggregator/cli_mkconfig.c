/* insitu mkconfig: writes insitud's JSON configuration, like Panorama's hview-mkrc. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: insitu mkconfig [OPTIONS]\n"
"\n"
"Prints (and with --output, writes) insitud's configuration for one instance of a\n"
"group of N aggregators named and addressed by patterns, like Panorama's hview-mkrc.\n"
"\n"
"  -p, --port N           peer port every instance listens on (default 6688)\n"
"  -n, --nserver N        number of instances (default 1)\n"
"  -A, --addressp PAT     address pattern, %%d = instance number (default localhost)\n"
"  -N, --namep PAT        name pattern, %%d = instance number (default insitu%%d)\n"
"  -i, --id NAME          this instance's name (default: the first name)\n"
"  -f, --filter           accept peers' reports only about the watched subjects\n"
"  -S, --subjects A,B,..  subjects to watch from the start\n"
"  -d, --db FILE          database (default /var/lib/insitu/insitud.db)\n"
"  -k, --key-file FILE    pre-shared peer key file (64 hex digits)\n"
"  -l, --log-level LEVEL  error, warn, info or debug (default info)\n"
"  -o, --output FILE      also write the configuration to FILE\n"
"  -h, --help             this text\n"
"\n"
"Example (10 instances razor0..9, this one pano0):\n"
"  insitu mkconfig -p 6688 -n 10 -A razor%%d -N pano%%d -i pano0 -f -S nn1,dn1,dn2\n");
}

/* The pattern must contain exactly one %d and no other conversion. */
static int pattern_ok(const char *p)
{
	const char *d = strstr(p, "%d");
	if (!d)
		return !strchr(p, '%');
	return !strchr(p, '%') || (strchr(p, '%') == d && !strchr(d + 2, '%'));
}

static void expand(char *out, size_t n, const char *pat, int i)
{
	const char *d = strstr(pat, "%d");
	if (!d)
		snprintf(out, n, "%s", pat);
	else
		snprintf(out, n, "%.*s%d%s", (int)(d - pat), pat, i, d + 2);
}

int cli_mkconfig(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", 1, 0, 'p'}, {"fix_port", 1, 0, 'p'}, {"nserver", 1, 0, 'n'}, {"addressp", 1, 0, 'A'},
		{"namep", 1, 0, 'N'}, {"id", 1, 0, 'i'}, {"filter", 0, 0, 'f'}, {"subjects", 1, 0, 'S'},
		{"db", 1, 0, 'd'}, {"key-file", 1, 0, 'k'}, {"log-level", 1, 0, 'l'}, {"output", 1, 0, 'o'},
		{"help", 0, 0, 'h'}, {0, 0, 0, 0},
	};
	const char *addrp = "localhost", *namep = "insitu%d", *id = NULL, *subjects = NULL,
		   *db = "/var/lib/insitu/insitud.db", *key = NULL, *level = "info", *output = NULL;
	long port = 6688, nserver = 1;
	int filter = 0, o, self = -1;
	char *end, name[128], addr[192];
	cJSON *root, *peers, *subj;
	char *text;

	optind = 1;
	while ((o = getopt_long(argc, argv, "p:n:A:N:i:fS:d:k:l:o:h", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*end || port < 1 || port > 65535) {
				fprintf(stderr, "insitu mkconfig: --port '%s': expected 1-65535\n", optarg);
				return 2;
			}
			break;
		case 'n':
			nserver = strtol(optarg, &end, 10);
			if (*end || nserver < 1 || nserver > 64) {
				fprintf(stderr, "insitu mkconfig: --nserver '%s': expected 1-64\n", optarg);
				return 2;
			}
			break;
		case 'A': addrp = optarg; break;
		case 'N': namep = optarg; break;
		case 'i': id = optarg; break;
		case 'f': filter = 1; break;
		case 'S': subjects = optarg; break;
		case 'd': db = optarg; break;
		case 'k': key = optarg; break;
		case 'l':
			level = optarg;
			if (strcmp(level, "error") && strcmp(level, "warn") && strcmp(level, "info") && strcmp(level, "debug")) {
				fprintf(stderr, "insitu mkconfig: --log-level '%s': expected error, warn, info or debug\n", level);
				return 2;
			}
			break;
		case 'o': output = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "insitu mkconfig: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!pattern_ok(addrp) || !pattern_ok(namep)) {
		fprintf(stderr, "insitu mkconfig: patterns may contain one %%d and no other %% conversion\n");
		return 2;
	}
	if (nserver > 1 && !strstr(namep, "%d")) {
		fprintf(stderr, "insitu mkconfig: --namep '%s' needs %%d to name %ld instances apart\n", namep, nserver);
		return 2;
	}
	peers = cJSON_CreateObject();
	for (int i = 0; i < nserver; i++) {
		expand(name, sizeof name, namep, i);
		expand(addr, sizeof addr, addrp, i);
		snprintf(addr + strlen(addr), sizeof addr - strlen(addr), ":%ld", port);
		if (!insitu_name_valid(name, 64)) {
			fprintf(stderr, "insitu mkconfig: instance name '%s' is not a valid name\n", name);
			cJSON_Delete(peers);
			return 2;
		}
		if (id ? !strcmp(id, name) : i == 0)
			self = i;
		cJSON_AddStringToObject(peers, name, addr);
	}
	if (self < 0) {
		fprintf(stderr, "insitu mkconfig: --id '%s' is not one of the %ld instance names (%s)\n", id, nserver, namep);
		cJSON_Delete(peers);
		return 2;
	}
	expand(name, sizeof name, namep, self);
	expand(addr, sizeof addr, addrp, self);
	snprintf(addr + strlen(addr), sizeof addr - strlen(addr), ":%ld", port);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "Addr", addr);
	cJSON_AddStringToObject(root, "Id", name);
	subj = cJSON_AddArrayToObject(root, "Subjects");
	if (subjects) {
		char *copy = strdup(subjects), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (!insitu_name_valid(t, INSITU_NAME_MAX)) {
				fprintf(stderr, "insitu mkconfig: --subjects: '%s' is not a valid subject name\n", t);
				free(copy);
				cJSON_Delete(root);
				cJSON_Delete(peers);
				return 2;
			}
			cJSON_AddItemToArray(subj, cJSON_CreateString(t));
		}
		free(copy);
	}
	cJSON_AddItemToObject(root, "Peers", peers);
	cJSON_AddBoolToObject(root, "FilterSubmission", filter);
	cJSON_AddStringToObject(root, "LogLevel", level);
	cJSON_AddStringToObject(root, "DBFile", db);
	if (key)
		cJSON_AddStringToObject(root, "KeyFile", key);
	text = cJSON_Print(root);
	cJSON_Delete(root);
	puts(text);
	if (output) {
		FILE *f = fopen(output, "w");
		if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f)) {
			fprintf(stderr, "insitu mkconfig: %s: %s\n", output, strerror(errno));
			free(text);
			return 1;
		}
	}
	free(text);
	return 0;
}

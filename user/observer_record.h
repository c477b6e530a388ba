/* --record / --replay: the raw event stream in a zstd-compressed file.
 *
 * Decompressed layout (docs/events.md): a 32-byte file header
 *   "INSITUEV" | u16 file_version (1) | u16 event_version | u32 header_len (>= 32)
 *   | u64 start_mono_ns | u64 start_wall_ns
 * then the records exactly as the kernel wrote them, each starting with
 * struct insitu_ev_hdr.  Little-endian (the machine's order; x86_64/arm64).
 *
 * The reader treats the file as outside input: every length is checked and the
 * first malformed byte stops it with "FILE:OFFSET: what was expected" (OFFSET in
 * the decompressed stream).
 */
#ifndef INSITU_OBSERVER_RECORD_H
#define INSITU_OBSERVER_RECORD_H

#include <stdio.h>
#include <zstd.h>

#include "observer_sink.h"

#define OBS_FILE_MAGIC "INSITUEV"
#define OBS_FILE_VERSION 1
#define OBS_FILE_HEADER_LEN 32

struct obs_file_header {
	char magic[8];
	uint16_t file_version;
	uint16_t event_version;
	uint32_t header_len;
	uint64_t start_mono_ns;
	uint64_t start_wall_ns;
};

struct obs_recorder {
	FILE *f;
	ZSTD_CCtx *cctx;
	uint8_t *in, *out;
	size_t inlen, incap, outcap;
	uint64_t records, bytes_in, bytes_out, errors;
};

/* Creates path and writes the file header; 0 or -1 with a message in err. */
int obs_recorder_open(struct obs_recorder *r, const char *path, int level, char *err,
		      size_t errlen);
/* The sink that appends every record (on_raw) and flushes a zstd block at flush(). */
void obs_recorder_sink(struct obs_recorder *r, struct obs_sink *sink);
/* Ends the zstd frame and closes; returns -1 if any write failed. */
int obs_recorder_close(struct obs_recorder *r);

struct obs_reader {
	const char *name;     /* for messages */
	FILE *f;              /* NULL: raw in-memory mode */
	ZSTD_DCtx *dctx;
	uint8_t *zin;         /* compressed input */
	size_t zin_cap;
	ZSTD_inBuffer zb;
	const uint8_t *raw;   /* raw mode: the decompressed stream itself */
	size_t raw_len, raw_pos;
	uint8_t *buf;         /* decompressed window */
	size_t start, end, cap;
	uint64_t offset;      /* decompressed offset of buf[start] */
	int in_eof;
	size_t zlast;         /* last ZSTD_decompressStream result: 0 = frame complete */
	uint64_t *rec;        /* aligned copy of the current record */
	struct obs_file_header hdr;
	char err[256];
};

/* Opens a record file (zstd) or, with obs_reader_open_raw, an already
 * decompressed stream in memory (tests, fuzzing).  Both read and check the file
 * header.  0, or -1 with r->err set. */
int obs_reader_open(struct obs_reader *r, const char *path);
int obs_reader_open_raw(struct obs_reader *r, const char *name, const uint8_t *data, size_t len);
/* Next record: 1 (rec/len set, valid until the next call), 0 at a clean end, -1 on
 * malformed input (r->err says where and what). */
int obs_reader_next(struct obs_reader *r, const void **rec, size_t *len);
void obs_reader_close(struct obs_reader *r);

/* Reads every record into the pipeline; returns records fed, or -1 (message in r->err). */
long obs_replay(struct obs_reader *r, struct obs_pipeline *p);

#endif

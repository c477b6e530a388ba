/* Record files: writer (a sink) and checked reader (replay). */
#include "observer_record.h"

#include "fileutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

#define REC_INBUF (256 * 1024)
#define READ_CHUNK (64 * 1024)

static int write_out(struct obs_recorder *r, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {r->in, r->inlen, 0};
	int finished;

	do {
		ZSTD_outBuffer out = {r->out, r->outcap, 0};
		size_t left = ZSTD_compressStream2(r->cctx, &out, &in, mode);
		if (ZSTD_isError(left)) {
			r->errors++;
			return -1;
		}
		if (out.pos && fwrite(r->out, 1, out.pos, r->f) != out.pos) {
			r->errors++;
			return -1;
		}
		r->bytes_out += out.pos;
		finished = mode == ZSTD_e_continue ? in.pos == in.size : left == 0;
	} while (!finished);
	r->inlen = 0;
	return 0;
}

int obs_recorder_open(struct obs_recorder *r, const char *path, int level, char *err,
		      size_t errlen)
{
	struct obs_file_header h = {.file_version = OBS_FILE_VERSION,
				    .event_version = INSITU_EVENT_VERSION,
				    .header_len = OBS_FILE_HEADER_LEN};

	memset(r, 0, sizeof(*r));
	r->f = fopen_private(path, "wb"); /* payload bytes: owner only */
	if (!r->f) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	r->cctx = ZSTD_createCCtx();
	r->incap = REC_INBUF;
	r->outcap = ZSTD_CStreamOutSize();
	r->in = malloc(r->incap);
	r->out = malloc(r->outcap);
	if (!r->cctx || !r->in || !r->out) {
		snprintf(err, errlen, "%s: out of memory", path);
		obs_recorder_close(r);
		return -1;
	}
	ZSTD_CCtx_setParameter(r->cctx, ZSTD_c_compressionLevel, level);
	memcpy(h.magic, OBS_FILE_MAGIC, 8);
	h.start_mono_ns = mono_ns();
	h.start_wall_ns = wall_ns();
	_Static_assert(sizeof(h) == OBS_FILE_HEADER_LEN, "file header layout");
	memcpy(r->in, &h, sizeof(h));
	r->inlen = sizeof(h);
	return 0;
}

static void rec_on_raw(void *ctx, const void *rec, size_t len)
{
	struct obs_recorder *r = ctx;

	if (r->inlen + len > r->incap && write_out(r, ZSTD_e_continue))
		return;
	memcpy(r->in + r->inlen, rec, len); /* len <= OBS_RECORD_MAX < incap */
	r->inlen += len;
	r->records++;
	r->bytes_in += len;
}

static void rec_flush(void *ctx)
{
	struct obs_recorder *r = ctx;

	if (r->inlen == 0)
		return;
	if (write_out(r, ZSTD_e_flush) == 0)
		fflush(r->f);
}

void obs_recorder_sink(struct obs_recorder *r, struct obs_sink *sink)
{
	memset(sink, 0, sizeof(*sink));
	sink->name = "record";
	sink->ctx = r;
	sink->on_raw = rec_on_raw;
	sink->flush = rec_flush;
}

int obs_recorder_close(struct obs_recorder *r)
{
	int rc = 0;

	if (r->f && r->cctx && r->in && r->out)
		rc = write_out(r, ZSTD_e_end);
	if (r->f && fclose(r->f))
		rc = -1;
	ZSTD_freeCCtx(r->cctx);
	free(r->in);
	free(r->out);
	r->f = NULL;
	r->cctx = NULL;
	r->in = r->out = NULL;
	return rc || r->errors ? -1 : 0;
}

/* ------------------------------------------------------------------ reader */

static int rd_fail(struct obs_reader *r, uint64_t off, const char *what)
{
	snprintf(r->err, sizeof(r->err), "%s:%llu: %s", r->name, (unsigned long long)off, what);
	return -1;
}

/* Makes at least `need` bytes available at buf[start]; returns bytes available
 * (may be less at end of input), or -1 on a decompression/read error. */
static long rd_fill(struct obs_reader *r, size_t need)
{
	if (r->end - r->start >= need)
		return (long)(r->end - r->start);
	if (r->start) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	while (r->end < need) {
		if (!r->f) { /* raw mode */
			size_t n = r->raw_len - r->raw_pos;
			if (!n)
				break;
			if (n > r->cap - r->end)
				n = r->cap - r->end;
			memcpy(r->buf + r->end, r->raw + r->raw_pos, n);
			r->raw_pos += n;
			r->end += n;
			continue;
		}
		if (r->zb.pos == r->zb.size) {
			if (r->in_eof)
				break;
			r->zb.size = fread(r->zin, 1, r->zin_cap, r->f);
			r->zb.pos = 0;
			if (r->zb.size == 0) {
				if (ferror(r->f))
					return rd_fail(r, r->offset + r->end, "read error");
				r->in_eof = 1;
				break;
			}
		}
		ZSTD_outBuffer out = {r->buf + r->end, r->cap - r->end, 0};
		size_t rc = ZSTD_decompressStream(r->dctx, &out, &r->zb);
		if (ZSTD_isError(rc)) {
			snprintf(r->err, sizeof(r->err), "%s:%llu: corrupt zstd data (%s)", r->name,
				 (unsigned long long)(r->offset + r->end), ZSTD_getErrorName(rc));
			return -1;
		}
		r->zlast = rc;
		r->end += out.pos;
	}
	return (long)(r->end - r->start);
}

static int rd_init(struct obs_reader *r)
{
	long n;

	r->cap = 2 * OBS_RECORD_MAX + READ_CHUNK;
	r->buf = malloc(r->cap);
	r->rec = malloc(OBS_RECORD_MAX);
	if (!r->buf || !r->rec)
		return rd_fail(r, 0, "out of memory");
	n = rd_fill(r, OBS_FILE_HEADER_LEN);
	if (n < 0)
		return -1;
	if (n < OBS_FILE_HEADER_LEN)
		return rd_fail(r, 0, "file too short: expected a 32-byte insitu event file header");
	memcpy(&r->hdr, r->buf, sizeof(r->hdr));
	if (memcmp(r->hdr.magic, OBS_FILE_MAGIC, 8))
		return rd_fail(r, 0, "not an insitu event file: expected magic \"INSITUEV\"");
	if (r->hdr.file_version != OBS_FILE_VERSION)
		return rd_fail(r, 8, "unsupported file version: expected 1");
	if (r->hdr.event_version != INSITU_EVENT_VERSION)
		return rd_fail(r, 10, "unsupported event version: expected 1");
	if (r->hdr.header_len < OBS_FILE_HEADER_LEN || r->hdr.header_len > 4096)
		return rd_fail(r, 12, "header length out of range: expected 32..4096");
	n = rd_fill(r, r->hdr.header_len);
	if (n < 0)
		return -1;
	if ((size_t)n < r->hdr.header_len)
		return rd_fail(r, (uint64_t)n, "file ends inside its header");
	r->start += r->hdr.header_len;
	r->offset += r->hdr.header_len;
	return 0;
}

int obs_reader_open(struct obs_reader *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->name = path;
	r->f = fopen(path, "rb");
	if (!r->f) {
		snprintf(r->err, sizeof(r->err), "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	r->dctx = ZSTD_createDCtx();
	r->zin_cap = ZSTD_DStreamInSize();
	r->zin = malloc(r->zin_cap);
	if (!r->dctx || !r->zin)
		return rd_fail(r, 0, "out of memory");
	r->zb.src = r->zin;
	return rd_init(r);
}

int obs_reader_open_raw(struct obs_reader *r, const char *name, const uint8_t *data, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->raw = data;
	r->raw_len = len;
	return rd_init(r);
}

int obs_reader_next(struct obs_reader *r, const void **rec, size_t *len)
{
	struct insitu_ev_hdr h;
	const char *why;
	long n = rd_fill(r, sizeof(h));

	if (n < 0)
		return -1;
	if (n == 0) {
		if (r->f && r->zlast != 0)
			return rd_fail(r, r->offset, "file ends inside a zstd frame (truncated file?)");
		return 0;
	}
	if ((size_t)n < sizeof(h))
		return rd_fail(r, r->offset, "file ends inside a record header (truncated file?)");
	memcpy(&h, r->buf + r->start, sizeof(h));
	if (h.size < sizeof(h) || h.size > OBS_RECORD_MAX)
		return rd_fail(r, r->offset + 4, "record size out of range: expected 8..65536");
	n = rd_fill(r, h.size);
	if (n < 0)
		return -1;
	if ((size_t)n < h.size)
		return rd_fail(r, r->offset, "file ends inside a record (truncated file?)");
	memcpy(r->rec, r->buf + r->start, h.size); /* aligned copy for struct access */
	if (obs_record_check(r->rec, h.size, &why))
		return rd_fail(r, r->offset, why);
	r->start += h.size;
	r->offset += h.size;
	*rec = r->rec;
	*len = h.size;
	return 1;
}

void obs_reader_close(struct obs_reader *r)
{
	if (r->f)
		fclose(r->f);
	ZSTD_freeDCtx(r->dctx);
	free(r->zin);
	free(r->buf);
	free(r->rec);
	memset(r, 0, sizeof(*r));
}

long obs_replay(struct obs_reader *r, struct obs_pipeline *p)
{
	const void *rec;
	size_t len;
	long n = 0;
	int rc;

	while ((rc = obs_reader_next(r, &rec, &len)) == 1) {
		obs_pipeline_feed(p, rec, len);
		if (++n % 4096 == 0)
			obs_pipeline_flush(p);
	}
	obs_pipeline_flush(p);
	return rc < 0 ? -1 : n;
}

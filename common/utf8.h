/* UTF-8 validation at the boundaries where outside bytes become JSON (insitud's socket
 * requests and peer frames, config files), and repair where refusing would cost more
 * than it protects (a batch of reports with one odd process name).  Strict RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF.  Header-only so that every program and fuzz
 * target that links the checked code gets it without another object file. */
#ifndef INSITU_UTF8_H
#define INSITU_UTF8_H

#include <stddef.h>

/* Offset of the first byte that does not start a valid UTF-8 sequence, or n when all
 * n bytes at s are valid (NUL bytes included as U+0000). */
static inline size_t utf8_check(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		unsigned c = *p, need, cp;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			break; /* continuation byte first, overlong 2-byte lead, or > U+10FFFF */
		}
		if ((size_t)(end - p) <= need)
			break;
		unsigned i;
		for (i = 1; i <= need && (p[i] & 0xc0) == 0x80; i++)
			cp = (cp << 6) | (p[i] & 0x3f);
		if (i <= need || (need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			break;
		p += need + 1;
	}
	return (size_t)(p - (const unsigned char *)s);
}

static inline int utf8_valid(const char *s, size_t n) { return utf8_check(s, n) == n; }

/* Replaces, in place, every byte that does not belong to a valid UTF-8 sequence with
 * '?' (one byte for one: lengths and offsets stay).  Returns how many were replaced. */
static inline size_t utf8_sanitize(char *s, size_t n)
{
	size_t fixed = 0, off = 0;

	while ((off += utf8_check(s + off, n - off)) < n) {
		s[off++] = '?';
		fixed++;
	}
	return fixed;
}

#endif

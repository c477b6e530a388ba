/* UTF-8 validation at the boundaries where outside bytes become JSON (insitud's socket
 * requests and peer frames, config files).  Strict RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF.  Header-only so that every program and fuzz
 * target that links the checked code gets it without another object file. */
#ifndef INSITU_UTF8_H
#define INSITU_UTF8_H

#include <stddef.h>

/* 1 when the n bytes at s are valid UTF-8 (NUL bytes included as U+0000). */
static inline int utf8_valid(const char *s, size_t n)
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
			return 0; /* continuation byte first, overlong 2-byte lead, or > U+10FFFF */
		}
		if ((size_t)(end - p) <= need)
			return 0;
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		p += need + 1;
	}
	return 1;
}

#endif

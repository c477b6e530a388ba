/* insitu-dns.so: the DNS question as an id ("www.example.com. A"), Rake's example
 * of an id too complex for patterns.  Built against include/insitu/idfunc.h.
 *
 * The name is decoded from its length-prefixed labels, following compression
 * pointers (bounded: at most 16 jumps, 255 bytes of name), and lowercased, because
 * resolvers randomise letter case (DNS 0x20) and a forwarded query must give the
 * same id as the original.  arg "tcp": the message starts with the 2-byte length
 * of DNS over TCP. */
#include <stdlib.h>
#include <string.h>

#include "insitu/idfunc.h"

static void *dns_init(const char *arg)
{
	/* the state is the header offset, stored in the pointer itself */
	return (void *)(uintptr_t)(arg && !strcmp(arg, "tcp") ? 2 : 0);
}

static const char *type_name(unsigned t, char *buf, size_t n)
{
	static const struct { unsigned t; const char *s; } names[] = {
		{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" }, { 15, "MX" },
		{ 16, "TXT" }, { 28, "AAAA" }, { 33, "SRV" }, { 41, "OPT" }, { 43, "DS" }, { 48, "DNSKEY" },
		{ 64, "SVCB" }, { 65, "HTTPS" }, { 255, "ANY" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == t)
			return names[i].s;
	/* RFC 3597 generic form */
	static const char d[] = "0123456789";
	char tmp[8];
	size_t k = 0;
	do {
		tmp[k++] = d[t % 10];
		t /= 10;
	} while (t && k < sizeof(tmp));
	size_t o = 0;
	buf[o++] = 'T', buf[o++] = 'Y', buf[o++] = 'P', buf[o++] = 'E';
	while (k && o + 1 < n)
		buf[o++] = tmp[--k];
	buf[o] = '\0';
	return buf;
}

static int64_t dns_question(void *state, const uint8_t *msg, size_t cap, uint64_t len, uint8_t *out,
			    size_t room)
{
	size_t base = (size_t)(uintptr_t)state;
	if (cap < base + 12)
		return len >= base + 12 ? INSITU_IDFUNC_TRUNCATED : 0;
	const uint8_t *m = msg + base;
	size_t n = cap - base;
	if (((unsigned)m[4] << 8 | m[5]) == 0)
		return 0; /* no question */
	size_t p = 12, o = 0, end = 0;
	int jumps = 0;
	for (;;) {
		if (p >= n)
			return len > cap ? INSITU_IDFUNC_TRUNCATED : 0;
		uint8_t l = m[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= n)
				return len > cap ? INSITU_IDFUNC_TRUNCATED : 0;
			if (!end)
				end = p + 2;
			if (++jumps > 16)
				return 0;
			p = (size_t)(l & 0x3f) << 8 | m[p + 1];
			continue;
		}
		if (l & 0xc0)
			return 0; /* reserved label types */
		p++;
		if (l == 0)
			break;
		if (p + l > n)
			return len > cap ? INSITU_IDFUNC_TRUNCATED : 0;
		if (o + l + 1 > room || o + l + 1 > 255)
			return 0;
		for (size_t i = 0; i < l; i++) {
			uint8_t ch = m[p + i];
			out[o++] = ch >= 'A' && ch <= 'Z' ? (uint8_t)(ch + 32) : ch;
		}
		out[o++] = '.';
		p += l;
	}
	if (o == 0) {
		if (room < 1)
			return 0;
		out[o++] = '.'; /* the root */
	}
	if (!end)
		end = p;
	if (end + 2 > n)
		return len > cap ? INSITU_IDFUNC_TRUNCATED : 0;
	char tb[16];
	const char *t = type_name((unsigned)m[end] << 8 | m[end + 1], tb, sizeof(tb));
	size_t tl = strlen(t);
	if (o + 1 + tl > room)
		return 0;
	out[o++] = ' ';
	memcpy(out + o, t, tl);
	return (int64_t)(o + tl);
}

static const struct insitu_idfunc funcs[] = {
	{ "dns_question", dns_init, NULL, dns_question },
};

INSITU_IDFUNC_EXPORT(funcs, "DNS question (name and type) as an id");

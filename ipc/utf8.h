/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * utf8.h - one UTF-8 check for twitchd and its tools (not installed):
 * every text that reaches the journal, a terminal, JSON, MQTT or an EDF+
 * annotation is well-formed UTF-8.
 */
#ifndef TWITCH_UTF8_H
#define TWITCH_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * twitch_utf8_len() - bytes of the well-formed UTF-8 character at @s (at
 * most @n bytes; SIZE_MAX for a NUL-terminated string, where a NUL ends any
 * sequence), or 0 for an ill-formed one: a stray continuation byte, a
 * sequence cut short, an overlong form, a surrogate or a code point past
 * U+10FFFF. @ret_cp (may be NULL) gets the code point.
 */
static inline size_t twitch_utf8_len(const unsigned char *s, size_t n, uint32_t *ret_cp)
{
	uint32_t cp;
	size_t k, len;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		len = 1, cp = s[0];
	else if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (ret_cp)
		*ret_cp = cp;
	return len;
}

#endif

# SPDX-License-Identifier: GPL-2.0
# `perf script -F ip,sym` (one "ip symbol" line per frame, leaf first, a
# blank line between samples) -> "count root;...;leaf" for the samples
# whose stack holds ROOT, and "count OTHER" for the rest.
function flush(	i, s, keep) {
	if (n > 0) {
		s = ""
		keep = 0
		for (i = n; i >= 1; i--) {
			if (f[i] == ROOT)
				keep = 1
			if (keep)
				s = (s == "" ? f[i] : s ";" f[i])
		}
		if (keep)
			c[s]++
		else
			other++
	}
	n = 0
}
/^[ \t]*$/ { flush(); next }
$1 ~ /^[0-9a-f]+$/ && NF >= 2 { f[++n] = $2; next }
{ flush() }
END {
	flush()
	for (s in c)
		print c[s], s
	print other + 0, "OTHER"
}

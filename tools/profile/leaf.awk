# SPDX-License-Identifier: GPL-2.0
# `perf script -F ip,sym` -> "count ip symbol" of the samples' leaf frames
# in the library or vgpu (gpumirror_* and vgpu_* symbols).
/^[ \t]*$/ { first = 1; next }
first && $1 ~ /^[0-9a-f]+$/ && $2 ~ /^(gpumirror|vgpu)_/ { c[$1 " " $2]++ }
{ first = 0 }
END {
	for (k in c)
		print c[k], k
}

#!/usr/bin/env bash
# test/exports.sh [LIBRARY] - imcheck.so (default: the checkout's build)
# exports its entry points and nothing else: _PG_init, the magic block, and
# each SQL-callable function that sql/ names with its pg_finfo_ record.  An
# internal name exported would share the backend's namespace with every
# other library's.  Prints one "ok - " / "not ok - " line.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
library=${1:-$root/imcheck.so}
label=${2:-imcheck.so}

want=$( {
	echo _PG_init
	echo Pg_magic_func
	grep -ho "MODULE_PATHNAME', '[a-z_0-9]*'" "$root"/sql/*.sql | sed "s/.*', '//; s/'$//" |
		sort -u | sed 'p; s/^/pg_finfo_/'
} | sort -u)
got=$(nm -D --defined-only "$library" 2>&1 | awk '{ print $NF }' | sort -u)
if [ "$got" = "$want" ]; then
	echo "ok - $label exports only its $(echo "$want" | wc -l) entry points"
else
	echo "not ok - $label exports: $(comm -13 <(echo "$want") <(echo "$got") | head -20 | tr '\n' ' ')lacks: $(comm -23 <(echo "$want") <(echo "$got") | tr '\n' ' ')"
fi
[ "$got" = "$want" ]

#!/usr/bin/env bash
# test/pg/archive - prints the URI of the machine's Debian archive: the
# first deb source for its own release in the apt sources, deb822
# (.sources) or one-line (sources.list) form.  test/pg/headers and
# test/pg/build fetch other suites from it, so no host name is written
# into the repository.
set -uo pipefail
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
archive=$(
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] && awk -v c="$codename" 'BEGIN { RS = "" }
				$0 ~ "(^|\n)Types:[^\n]*deb" && $0 ~ "(^|\n)Suites:[^\n]*" c "([ \t\n]|$)" {
					if (match($0, /URIs:[ \t]*[^ \t\n]+/)) {
						u = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", u); print u
					}
				}' "$f"
		done
		if [ -f /etc/apt/sources.list ]; then
			# deb [options] URI SUITE COMPONENTS...
			sed -e 's/\[[^]]*\]//' /etc/apt/sources.list |
				awk -v c="$codename" '$1 == "deb" && $3 == c { print $2 }'
		fi
	} | grep -v security | head -1
)
if [ -z "$archive" ]; then
	echo "test/pg/archive: found no Debian archive for $codename in the apt sources" >&2
	exit 1
fi
echo "$archive"

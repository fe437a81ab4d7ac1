# test/pg/apt.sh - sourced by test/pg/root: the machine's Debian archive.
#
# The archive is the machine's own (the first deb source for its release in
# the apt sources, deb822 or one-line form), so no host name is written
# into the repository.  The machine's own sources, lists and pins are only
# read.

# Prints the URI of the machine's Debian archive, or fails.
imcheck_debian_archive() {
	local codename archive f
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
		} | grep -v security | head -1 || :
	)
	if [ -z "$archive" ]; then
		echo "found no Debian archive for $codename in the apt sources" >&2
		return 1
	fi
	echo "$archive"
}

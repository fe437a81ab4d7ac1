# test/pg/apt.sh - sourced by test/pg/build and test/pg/root: apt state
# of their own for one suite of the machine's Debian archive.
#
# The archive is the machine's own (the first deb source for its release in
# the apt sources, deb822 or one-line form), so no host name is written
# into the repository.  The sources file, lists and cache live under a
# directory of the caller's: the machine's sources, lists and pins are never
# touched, and nothing on it can be upgraded or installed from that suite.

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

# imcheck_private_apt DIR TYPE SUITE: apt state under DIR for TYPE (deb or
# deb-src) entries of SUITE, read with apt-get update; sets IMCHECK_APT,
# the options to give apt-get.
imcheck_private_apt() {
	local dir=$1 type=$2 suite=$3 archive
	archive=$(imcheck_debian_archive) || return 1
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	cat >"$dir/imcheck.sources" <<SOURCES
Types: $type
URIs: $archive
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
	IMCHECK_APT=(-o "Dir::Etc::SourceList=$dir/imcheck.sources" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
		-o APT::Sandbox::User=root -qq)
	if ! apt-get "${IMCHECK_APT[@]}" update >"$dir/update.log" 2>&1; then
		cat "$dir/update.log" >&2
		echo "could not read $suite ($type) from $archive" >&2
		return 1
	fi
}

# tests/kernel/progress.sh: progress lines on stderr for the long steps of tests/kernel/build, which
# sources it: a download's bytes and rate, a build's heartbeat (what it builds, the time it has
# taken, and an estimate from the previous build). Each is one full line, every few seconds, so it
# reads the same on a terminal and in a log (cargo test shows stderr line by line).
#
# The sourcing script defines log(), which prints one line on stderr.

# How often a download says how far it is, and a build that it is alive, in seconds.
download_interval=2
heartbeat_interval=30

# with_progress SECONDS STATUS COMMAND...: runs COMMAND; every SECONDS while it runs, calls the
# function STATUS with the whole seconds elapsed, to print a line. Returns COMMAND's status.
with_progress() {
	local every=$1 status=$2
	shift 2
	(
		start=$SECONDS
		sleeper=
		trap '[[ -z $sleeper ]] || kill "$sleeper" 2>/dev/null; exit 0' TERM
		while :; do
			# A sleep waited for in the background, so that TERM ends the loop at once.
			sleep "$every" &
			sleeper=$!
			wait "$sleeper" || exit 0
			"$status" $((SECONDS - start)) || true
		done
	) &
	local reporter=$! result=0
	"$@" || result=$?
	kill "$reporter" 2>/dev/null || true
	wait "$reporter" 2>/dev/null || true
	return "$result"
}

# mib BYTES: BYTES in MiB, with one decimal.
mib() {
	printf '%d.%d MiB' $(($1 / 1048576)) $(($1 * 10 / 1048576 % 10))
}

# duration SECONDS: `45s`, `12m05s`.
duration() {
	if (($1 < 60)); then
		printf '%ds' "$1"
	else
		printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
	fi
}

# The time in microseconds.
now_us() {
	echo "${EPOCHREALTIME/./}"
}

# per_second BYTES MICROSECONDS: the rate, in MiB/s.
per_second() {
	echo "$(mib $(($1 * 1000000 / ($2 > 0 ? $2 : 1))))/s"
}

# The bytes the files under a directory hold.
bytes_in() {
	du -sb "$1" 2>/dev/null | cut -f1 || echo 0
}

# watch_download LABEL DIR TOTAL COMMAND...: runs COMMAND, which downloads TOTAL bytes (0 if not
# known) into the files of DIR; every $download_interval seconds a line says how many bytes are
# there and at what rate they come, and at the end one says how long it took.
watch_download() {
	local label=$1 dir=$2 total=$3
	shift 3
	local before_bytes=0 before_us started_us result=0
	started_us=$(now_us)
	before_us=$started_us
	with_progress "$download_interval" download_status "$@" || result=$?
	if ((result == 0)); then
		local bytes us
		bytes=$(bytes_in "$dir")
		us=$(($(now_us) - started_us))
		log "$label: $(mib "$bytes") in $(duration $((us / 1000000))) ($(per_second "$bytes" "$us"))"
	fi
	return "$result"
}

# The line of watch_download (its variables are the caller's): the rate is that since the line
# before.
download_status() {
	local bytes of=
	bytes=$(bytes_in "$dir")
	((total == 0)) || of=" of $(mib "$total") ($((bytes * 100 / total))%)"
	local now
	now=$(now_us)
	log "$label: $(mib "$bytes")$of, $(per_second $((bytes - before_bytes)) $((now - before_us)))"
	before_bytes=$bytes
	before_us=$now
}

# build_with_heartbeat KIND LOG TIMES COMMAND...: runs COMMAND, a build writing its output to the
# file LOG; every $heartbeat_interval seconds a line says what it builds (LOG's last line that
# names a target, `CC kernel/fork.o`), how long it has taken, and how long the previous build of
# KIND (`full`, `drivers`) took, from the file TIMES, whose line for KIND it then updates when the
# command succeeds.
build_with_heartbeat() {
	local kind=$1 build_log=$2 times=$3
	shift 3
	local previous started=$SECONDS result=0
	previous=$(sed -n "s/^$kind //p" "$times" 2>/dev/null | tail -n 1)
	with_progress "$heartbeat_interval" heartbeat_status "$@" || result=$?
	if ((result == 0)); then
		local others
		others=$(grep -v "^$kind " "$times" 2>/dev/null || true)
		printf '%s\n' ${others:+"$others"} "$kind $((SECONDS - started))" >"$times.new"
		mv "$times.new" "$times"
	fi
	return "$result"
}

# The line of build_with_heartbeat, given the seconds elapsed (its variables are the caller's).
heartbeat_status() {
	local estimate="no estimate yet (the first $kind build)" now last
	if [[ -n $previous ]]; then
		last=$(duration "$previous")
		if (($1 < previous)); then
			estimate="about $(duration $((previous - $1))) left (the last $kind build took $last)"
		else
			estimate="longer than the last $kind build ($last)"
		fi
	fi
	# kbuild's quiet lines: two spaces, a word in capitals, the target.
	now=$(grep -E '^  [A-Z]' "$build_log" 2>/dev/null | tail -n 1 | tr -s ' ' | sed 's/^ //')
	log "still building ($kind), $(duration "$1") so far, $estimate${now:+; now: $now}"
}

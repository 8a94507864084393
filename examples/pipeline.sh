#!/usr/bin/env bash
# pipeline.sh: a three-stage lineage pipeline on `sluice local`, then a lost executor and
# a recompute.
#
#   gentext ──/text──▶ wordcount ──/counts──▶ topn ──/top
#
# Steps:
#   1. build sluice and the example programs (go build -o) into a temporary folder;
#   2. with --start, start `sluice local` in a temporary data directory on free ports
#      (otherwise use the cluster SLUICE_MASTER names, or 127.0.0.1:19998);
#   3. submit the three jobs with --input/--output, so that the master records their
#      lineage, and wait for each to complete (`sluice job wait` polls its status);
#   4. print the top-N words;
#   5. SIGKILL the executor process that holds the final output's blocks (found with
#      `sluice fs location` and the PIDs of `sluice report`), before the outputs are
#      checkpointed: the local backend replaces it with an empty one, and the outputs
#      that lived only there are LOST;
#   6. read the final output again — the read waits while the master reruns the jobs
#      that made the lost files, inputs first — check it is identical (cmp), and show
#      which jobs were rerun (`sluice job list`: ATTEMPTS above 1).
#
# Usage: examples/pipeline.sh [--start] [--size MIB] [--top N] [--prefix PATH] [--keep]
#   --start        start a `sluice local` of its own (stopped on exit)
#   --size MIB     size of the generated text in MiB (default 8)
#   --top N        number of words in the result (default 10)
#   --prefix PATH  Sluice folder of the outputs (default /examples/pipeline-<time>-<pid>)
#   --keep         keep the temporary folder (binaries, logs, data) and print its name
# Environment:
#   SLUICE_MASTER        the cluster to use without --start
#   SLUICE_LOCAL_FLAGS   extra flags for `sluice local` with --start; by default
#                        "--checkpoint-bandwidth 1" (one byte a second) holds checkpoints
#                        back so that the kill surely comes before them; set it empty to
#                        watch checkpoints race the kill at full speed
#   SLUICE_BIN           a sluice binary to use instead of building one (tests pass theirs)
#   TIMEOUT              seconds to wait for a job or a read (default 300)
#
# Exit status: 0 when the final output read after the loss is identical; 1 otherwise.
set -euo pipefail

start=0 size=8 top=10 keep=0 prefix=""
while [ $# -gt 0 ]; do
	case "$1" in
	--start) start=1 ;;
	--size) size="$2"; shift ;;
	--top) top="$2"; shift ;;
	--prefix) prefix="$2"; shift ;;
	--keep) keep=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "pipeline.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
timeout="${TIMEOUT:-300}"
prefix="${prefix:-/examples/pipeline-$(date +%s)-$$}"

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/sluice-pipeline.XXXXXX")"
bin="$work/bin"
local_pid=""

step() { printf '\n== %s\n' "$*"; }
die() { echo "pipeline.sh: $*" >&2; exit 1; }

cleanup() {
	local status=$?
	if [ -n "$local_pid" ] && kill -0 "$local_pid" 2>/dev/null; then
		kill -INT "$local_pid" 2>/dev/null || true
		wait "$local_pid" 2>/dev/null || true
	fi
	if [ "$keep" = 1 ]; then
		echo "kept $work"
	else
		# The MEM tiers of our `sluice local` live in /dev/shm, named in its banner.
		if [ -n "$local_pid" ] && [ -f "$work/local.out" ]; then
			awk '$1 ~ /^executor-/ { for (i = 1; i < NF; i++) if ($i == "MEM") print $(i + 1) }' "$work/local.out" |
				while read -r mem; do rm -rf "$(dirname "$mem")"; done
		fi
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT

step "1. build sluice and the example programs into $bin"
mkdir -p "$bin"
(
	cd "$repo"
	if [ -n "${SLUICE_BIN:-}" ]; then
		ln -s "$(cd "$(dirname "$SLUICE_BIN")" && pwd)/$(basename "$SLUICE_BIN")" "$bin/sluice"
	else
		go build -o "$bin/sluice" ./cmd/sluice
	fi
	for p in gentext wordcount topn; do go build -o "$bin/$p" "./examples/$p"; done
)
sluice() { "$bin/sluice" "$@"; }

if [ "$start" = 1 ]; then
	step "2. start sluice local in $work/data (free ports)"
	# shellcheck disable=SC2086 # SLUICE_LOCAL_FLAGS holds several flags.
	"$bin/sluice" local --data-dir "$work/data" --master-port 0 --web-port 0 --executor-port 0 \
		${SLUICE_LOCAL_FLAGS---checkpoint-bandwidth 1} >"$work/local.out" 2>"$work/local.err" &
	local_pid=$!
	addr=""
	for _ in $(seq 1 200); do
		addr="$(awk '$1 == "master" { print $2; exit }' "$work/local.out")"
		[ -n "$addr" ] && break
		kill -0 "$local_pid" 2>/dev/null || { cat "$work/local.err" >&2; die "sluice local exited"; }
		sleep 0.1
	done
	[ -n "$addr" ] || die "sluice local did not print its master address within 20 s"
	export SLUICE_MASTER="$addr"
	sed 's/^/   /' "$work/local.out"
else
	step "2. use the running cluster at ${SLUICE_MASTER:-127.0.0.1:19998}"
	sluice report >/dev/null || die "no cluster answers; start 'sluice local' or pass --start"
fi

# wait_job ID waits until the job ends (`sluice job wait` polls its status); a job that
# does not complete ends the script with its status, log tail included.
wait_job() {
	if ! sluice job wait --timeout "${timeout}s" "$1" | sed 's/^/   /'; then
		sluice job status "$1" >&2 || true
		die "job $1 did not complete"
	fi
}

text="$prefix/text" counts="$prefix/counts" result="$prefix/top"
step "3. submit gentext → wordcount → topn under $prefix"
gen=$(sluice job submit --name gentext --output "$text" -- "$bin/gentext" --size "$size" --seed 42)
echo "   gentext   job $gen: $size MiB of text → $text"
wcj=$(sluice job submit --name wordcount --input "$text" --output "$counts" -- "$bin/wordcount")
echo "   wordcount job $wcj: $text → $counts"
tn=$(sluice job submit --name topn --input "$counts" --output "$result" -- "$bin/topn" -n "$top")
echo "   topn      job $tn: $counts → $result"
for id in "$gen" "$wcj" "$tn"; do wait_job "$id"; done
sluice lineage show "$counts" | sed 's/^/   /'

step "4. the top $top words"
sluice fs cat "$result" | tee "$work/top.before" | sed 's/^/   /'

step "5. SIGKILL the executor holding $result before it is checkpointed"
sluice checkpoint status "$prefix" | sed 's/^/   /'
for id in "$gen" "$wcj" "$tn"; do
	echo "   job $id ran $(sluice job status "$id" | awk '$1 == "Run" && $2 == "time:" { print $3; exit }')"
done
# A file checkpointed already (PERSISTED) survives the kill: it is read from the UFS and
# its job does not rerun.
sluice fs stat -f '   %N: %p' "$text" "$counts" "$result"
persisted_before="$(sluice fs stat -f %p "$result")"
addrs="$(sluice fs location "$result" | awk '$1 == "executor" { print $3 }' | sort -u)"
[ -n "$addrs" ] || die "$result has no cached copy (already checkpointed and freed?)"
for a in $addrs; do
	pid="$(sluice report | awk -v a="$a" '$2 == a { print $4; exit }')"
	case "$pid" in
	'' | - | 0) die "no process ID for executor $a: it is not on this host" ;;
	esac
	for f in "$text" "$counts" "$result"; do
		# Count the file's blocks and those with a copy on executor a, and whether each
		# of those has another copy elsewhere.
		sluice fs location "$f" | awk -v a="$a" -v f="$f" '
			function done_block() { if (here) { k++; if (others) spared++ } }
			$1 == "block" { done_block(); n++; here = 0; others = 0 }
			$1 == "executor" { if ($3 == a) here = 1; else others = 1 }
			END {
				done_block()
				if (k > 0) printf "   executor %s holds %d of the %d blocks of %s%s\n", a, k, n, f,
					(spared < k ? "" : " (all with other copies)")
			}'
	done
	echo "   kill -9 $pid (executor $a)"
	kill -9 "$pid"
done
if [ "$persisted_before" = PERSISTED ]; then
	echo "   note: $result was checkpointed before the kill: it reads from the UFS, nothing to recompute"
fi

step "6. read $result again: the master recomputes what was lost"
deadline=$((SECONDS + timeout))
read_start=$(date +%s%N)
until sluice fs cat "$result" >"$work/top.after" 2>"$work/read.err"; do
	# A read of a LOST file waits for its recompute; retry while the loss is being noticed.
	[ $SECONDS -lt $deadline ] || { cat "$work/read.err" >&2; die "could not read $result again"; }
	sleep 0.5
done
read_ms=$((($(date +%s%N) - read_start) / 1000000))
if cmp "$work/top.before" "$work/top.after"; then
	echo "   identical: $(wc -c <"$work/top.after") bytes, cmp finds no difference"
	echo "   read back in ${read_ms} ms, waiting for the recompute included"
else
	die "the output read after the loss differs from the original"
fi
echo "   jobs after the loss:"
rerun=""
for id in "$gen" "$wcj" "$tn"; do
	st="$(sluice job status "$id")"
	attempts="$(awk '$1 == "Attempts:" { print $2; exit }' <<<"$st")"
	name="$(awk '$1 == "Name:" { print $2; exit }' <<<"$st")"
	state="$(awk '$1 == "State:" { $1 = ""; sub(/^ /, ""); print; exit }' <<<"$st")"
	echo "   job $id $name: $state, $attempts attempt(s)"
	if [ "${attempts:-1}" -gt 1 ]; then rerun="${rerun:+$rerun, }$id ($name)"; fi
done
echo "   rerun: ${rerun:-none}"
sluice job list | sed 's/^/   /'

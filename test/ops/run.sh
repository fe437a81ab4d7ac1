#!/usr/bin/env bash
# test/ops/run.sh - the README's operational recipes, run for real:
#
#  1. "Nightly reconciliation with pg_cron": the status table and the job,
#     taken from README.md as they are (only the schedule becomes
#     '* * * * *'), run by pg_cron 1.4 in two clusters at once: one with
#     background-worker jobs (job owned by the superuser), one with libpq
#     jobs (pg_cron logs in over the socket as the job's user, here a
#     non-superuser role granted EXECUTE as the README says).
#  2. In the same minute, in each cluster, a second job (same command, in a
#     second database whose imsim has been killed) must fail, be recorded as
#     failed with a clear message, and leave its status table as it was.
#  3. "Migration scripts": the README's psql script with a real migration,
#     refused (non-zero exit, "N users are not imported", nothing committed)
#     while users are not imported, committed once all are.
#  4. "Importing the missing ones first": the README's script that checks,
#     imports the missing users, checks again and migrates: committed with
#     every user imported; refused with nothing committed when the service
#     refuses an account, and when the app's account limit is reached.
#
# Prints "ok - NAME" / "not ok - NAME: REASON"; exits non-zero on failure.
# Waits for one minute boundary (at most ~70 s); the migration checks run
# while waiting.  Must run as root (the clusters run as postgres).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
trap imcheck_cleanup EXIT

NUSERS=${IMCHECK_OPS_USERS:-5000}	# rows of each reconciliation users table
NMIG=1000				# rows of each migration users table

passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
notok() { echo "not ok - $1: $2"; failed=$((failed + 1)); }
# check NAME REASON COMMAND...: ok when COMMAND succeeds
check() { local n=$1 r=$2; shift 2; if "$@"; then ok "$n"; else notok "$n" "$r"; fi; }
die() { notok "$1" "$2"; echo "$passed passed, $failed failed"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	echo "test/ops/run.sh must run as root (it runs PostgreSQL as postgres)" >&2
	exit 1
fi
[ -f "$PG_BIN/../lib/pg_cron.so" ] || [ -f /usr/lib/postgresql/15/lib/pg_cron.so ] ||
	die "setup" "pg_cron is not installed (postgresql-15-cron)"
[ -x "$IMCHECK_ROOT/test/imsim/imsim" ] || make -s -C "$IMCHECK_ROOT/test/imsim" >/dev/null ||
	die "setup" "could not build imsim"
t0=$(date +%s)

# ---------------------------------------------------------------- recipes
# The README's blocks, extracted at run time so that this test follows the
# README: the SQL block under "Nightly reconciliation with pg_cron" and the
# sh block under "Migration scripts".
imcheck_tmpdir || exit 1
work=$IMCHECK_TMP
readme_block() {	# readme_block HEADING LANG
	python3 - "$IMCHECK_ROOT/README.md" "$1" "$2" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
head, lang = "### " + sys.argv[2], "```" + sys.argv[3]
i = lines.index(head)
while lines[i].strip() != lang:
    i += 1
j = i + 1
while lines[j].strip() != "```":
    j += 1
print("\n".join(lines[i + 1:j]))
PY
}
readme_block "Nightly reconciliation with pg_cron" sql >"$work/recon.sql" 2>/dev/null &&
	readme_block "Migration scripts" sh >"$work/migration.sh" 2>/dev/null &&
	readme_block "Importing the missing ones first" sh >"$work/import.sh" 2>/dev/null ||
	die "README recipes" "could not find the recipe blocks in README.md"
# the status table part, the cron.schedule part, and the job's command
python3 - "$work" <<'PY' || die "README recipes" "unexpected shape of the reconciliation recipe"
import sys, re
w = sys.argv[1]
s = open(w + "/recon.sql").read()
k = s.index("SELECT cron.schedule(")
table, sched = s[:k], s[k:]
assert "CREATE TABLE im_account_status" in table
assert sched.count("$$") == 2 and "'0 3 * * *'" in sched
open(w + "/recon_table.sql", "w").write(table)
open(w + "/recon_schedule.sql", "w").write(sched.replace("'0 3 * * *'", "'* * * * *'"))
open(w + "/recon_command.sql", "w").write(sched.split("$$")[1])
PY
for f in migration import; do
	grep -qx -- '-- \.\.\. the migration \.\.\.' "$work/$f.sh" &&
		grep -q '^psql -v ON_ERROR_STOP=1' "$work/$f.sh" ||
		die "README recipes" "unexpected shape of the $f recipe"
done
ok "README recipes found (reconciliation, migration, import then migration)"

# ---------------------------------------------------------------- imsim
key=$(openssl rand -hex 32)
imcheck_write_key_file "$work/imcheck.key" "$key" || exit 1
sim() {	# sim NAME ARGS... : sets URL_<NAME>, PID_<NAME>
	local n=$1; shift
	imcheck_start_imsim "$work/imsim-$n.out" --secret-key "$key" --threads 1 "$@" ||
		die "setup" "imsim $n did not start"
	printf -v "URL_$n" %s "$IMSIM_URL"
	printf -v "PID_$n" %s "$IMSIM_PID"
}
sim bgw			# the app's API for the background-worker cluster (even rule)
sim libpq		# ... for the libpq cluster
sim down		# fills the failing job's table, then is killed
sim migsome		# migration: even rule, half the users are not imported
sim migimport		# import then migration: even rule, imports kept by imsim
# (migall, with --imported-file, is started once its users exist)

# ---------------------------------------------------------------- clusters
declare -A HOST PORT LOG_DIR
start() {	# start NAME MODE(on|off)
	imcheck_tmpdir || exit 1
	local d=$IMCHECK_TMP url_var="URL_$1"
	# ('app' is created below: until then pg_cron's launcher logs FATAL
	# "database "app" does not exist" and is restarted every second)
	imcheck_start_cluster "$d" "
shared_preload_libraries = 'imcheck,pg_cron'
max_worker_processes = 16
cron.database_name = 'app'
cron.use_background_workers = $2
cron.host = '$d'
imcheck.sdkappid = '1400000000'
imcheck.identifier = 'administrator'
imcheck.secret_key_file = '$work/imcheck.key'
imcheck.endpoint = '${!url_var}'
" || die "setup" "cluster $1 did not start"
	HOST[$1]=$PGHOST PORT[$1]=$PGPORT
	LOG_DIR[$1]=$d
}
start bgw on
start libpq off

q() {	# q CLUSTER DB SQL [psql options] : one value per line; statements autocommit
	local c=$1 db=$2 sql=$3; shift 3
	PGHOST=${HOST[$c]} PGPORT=${PORT[$c]} psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@" -f - <<<"$sql"
}
qf() {	# qf CLUSTER DB FILE [psql options]
	local c=$1 db=$2 f=$3; shift 3
	PGHOST=${HOST[$c]} PGPORT=${PORT[$c]} psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@" -f "$f"
}

# The users tables: NUSERS rows; four IDs the API answers one by one or that
# need escaping (valid, under 32 bytes).  Other IDs differ per database.
users_sql() {	# users_sql PREFIX
	cat <<SQL
CREATE TABLE users (id text PRIMARY KEY, name text NOT NULL);
INSERT INTO users
  SELECT '$1' || lpad(g::text, 6, '0'), 'Customer ' || g
    FROM generate_series(1, $NUSERS - 4) g;
INSERT INTO users VALUES ('', 'empty ID'),
  (repeat('x', 32) || '7', 'too long (33 bytes)'),
  ('quote"back\\slash-é-42', 'escaped, even'),
  ('tab' || chr(9) || '-3', 'escaped, odd');
SQL
}
# What imsim answers (its README): 70402 for empty or over 32 bytes,
# otherwise Imported iff the trailing decimal number is even.
expect_sql="
  SELECT id AS user_id,
         CASE WHEN id = '' OR octet_length(id) > 32 THEN 70402 ELSE 0 END AS result_code,
         CASE WHEN id = '' OR octet_length(id) > 32 THEN NULL
              WHEN coalesce(substring(id from '([0-9]{1,18})\$')::bigint % 2 = 0, false)
              THEN 'Imported' ELSE 'NotImported' END AS account_status
    FROM users"
status_sum="SELECT count(*) || ':' || coalesce(md5(string_agg(
    concat_ws('|', quote_nullable(user_id), result_code, quote_nullable(account_status),
              checked_at), ',' ORDER BY user_id)), '') FROM im_account_status"

# job user per cluster: the superuser with background workers, a
# non-superuser (logging in over the socket) with libpq
declare -A JOBUSER SUM_BEFORE
JOBUSER=([bgw]=postgres [libpq]=reconciler)

setup_cluster() {	# setup_cluster NAME
	local c=$1 u=${JOBUSER[$1]} db
	q "$c" postgres "
CREATE ROLE reconciler LOGIN;
CREATE DATABASE app OWNER $u;
CREATE DATABASE app_down OWNER $u;
ALTER DATABASE app_down SET imcheck.endpoint = '$URL_down';" >/dev/null || return 1
	for db in app app_down; do
		q "$c" "$db" "CREATE EXTENSION imcheck;
GRANT EXECUTE ON FUNCTION im_account_check(text[], boolean) TO reconciler;
GRANT EXECUTE ON PROCEDURE im_account_check_table(text, text, text, interval, integer)
   TO reconciler;" >/dev/null || return 1
		users_sql "$c-$db-" | qf "$c" "$db" - -U "$u" >/dev/null || return 1
		qf "$c" "$db" "$work/recon_table.sql" -U "$u" >/dev/null || return 1
	done
	# (the failing job goes to another database: pg_cron leaves granting
	# schedule_in_database to the admin)
	q "$c" app "CREATE EXTENSION pg_cron; GRANT USAGE ON SCHEMA cron TO reconciler;
GRANT EXECUTE ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean)
   TO reconciler;" >/dev/null || return 1
	# stale answers for a fifth of the users, to be overwritten by the job
	q "$c" app "INSERT INTO im_account_status
  SELECT id, 70500, 'Stale', 'stale', '2000-01-01' FROM users WHERE random() < 0.2" -U "$u" >/dev/null || return 1
	# yesterday's answers for the failing job's table, from the imsim about to die
	qf "$c" app_down "$work/recon_command.sql" -U "$u" >/dev/null || return 1
	SUM_BEFORE[$c]=$(q "$c" app_down "$status_sum") || return 1
}
for c in bgw libpq; do
	setup_cluster "$c" || die "setup" "could not set up cluster $c"
done

# the failing job's API goes down
kill "$PID_down" && wait "$PID_down" 2>/dev/null
curl -s -m 2 "$URL_down/_imsim/stats" >/dev/null 2>&1 &&
	die "setup" "imsim 'down' still answers"

# ---------------------------------------------------------------- schedule
# Jobs must be in pg_cron's cache before the boundary (not in a minute's
# last 10 s), and not scheduled in its first seconds either, when pg_cron may
# still run them for the minute that just began: then they run twice.
secs_in_minute() { date +%S.%N | awk '{print $1 + 0}'; }
s=$(secs_in_minute)
if awk "BEGIN{exit !($s > 50)}"; then
	sleep "$(awk "BEGIN{print 65 - $s}")"
elif awk "BEGIN{exit !($s < 5)}"; then
	sleep "$(awk "BEGIN{print 5 - $s}")"
fi
for c in bgw libpq; do
	u=${JOBUSER[$c]}
	curl -s -XPOST "$(eval echo "\$URL_$c")/_imsim/stats/reset" >/dev/null
	qf "$c" app "$work/recon_schedule.sql" -U "$u" >/dev/null &&
		{ printf "SELECT cron.schedule_in_database('imcheck-nightly-down', '* * * * *', \$cmd\$"
		  cat "$work/recon_command.sql"
		  printf "\$cmd\$, 'app_down');\n"; } | qf "$c" app - -U "$u" >/dev/null ||
		die "schedule ($c)" "cron.schedule failed"
done
boundary=$(( ($(date +%s) / 60 + 1) * 60 ))
echo "# jobs scheduled; they run at $(date -d "@$boundary" +%T) (in $((boundary - $(date +%s))) s)"

# ---------------------------------------------------------------- 3. migration
# Runs while waiting.  The README's script with a real migration in place of
# "-- ... the migration ...": a new table filled from users, and an update.
migration='CREATE TABLE im_profile (user_id text PRIMARY KEY REFERENCES users (id),
                         im_ready boolean NOT NULL);
INSERT INTO im_profile SELECT id, true FROM users;
UPDATE users SET name = upper(name);'
for f in migration import; do
	awk -v m="$migration" '$0 == "-- ... the migration ..." { print m; next } { print }' \
		"$work/$f.sh" >"$work/${f}_run.sh"
done

mig_users() {	# mig_users DB PREFIX
	q bgw postgres "CREATE DATABASE $1" >/dev/null &&
		q bgw "$1" "CREATE EXTENSION imcheck;
CREATE TABLE users (id text PRIMARY KEY, name text NOT NULL);
INSERT INTO users SELECT '$2' || g, 'person ' || g FROM generate_series(1, $NMIG) g;" >/dev/null
}
mig_run() {	# mig_run DB [SCRIPT] : runs the script as README shows it; sets rc, err
	PGHOST=${HOST[bgw]} PGPORT=${PORT[bgw]} PGDATABASE=$1 PSQLRC=/dev/null \
		bash "$work/${2:-migration}_run.sh" >"$work/mig-$1.out" 2>"$work/mig-$1.err"
	rc=$?
	err=$(cat "$work/mig-$1.err")
}
users_sum="SELECT md5(string_agg(id || '=' || name, ',' ORDER BY id)) FROM users"

# 3a: the even rule: the odd-numbered half is not imported
mig_users mig_some "m" || die "migration setup" "could not create mig_some"
q bgw postgres "ALTER DATABASE mig_some SET imcheck.endpoint = '$URL_migsome'" >/dev/null
missing=$(q bgw mig_some "SELECT count(*) FROM ($expect_sql) e WHERE account_status IS DISTINCT FROM 'Imported'")
before=$(q bgw mig_some "$users_sum")
mig_run mig_some
check "migration refused while users are not imported: psql exits non-zero" \
	"exit status $rc, stderr: $err" [ "$rc" -ne 0 ]
check "migration refused: the error says how many ($missing) users are not imported" \
	"stderr: $err" grep -q "ERROR:  $missing users are not imported into IM yet" "$work/mig-mig_some.err"
check "migration refused: nothing committed (no new table, users unchanged)" \
	"im_profile: $(q bgw mig_some "SELECT to_regclass('im_profile')"), users md5 $before -> $(q bgw mig_some "$users_sum")" \
	[ -z "$(q bgw mig_some "SELECT to_regclass('im_profile')")" -a "$(q bgw mig_some "$users_sum")" = "$before" ]

# 3b: every user listed in imsim's --imported-file (rule none)
mig_users mig_all "acct-" || die "migration setup" "could not create mig_all"
q bgw mig_all "SELECT id FROM users" >"$work/imported.txt"
sim migall --imported-file "$work/imported.txt" --rule none
q bgw postgres "ALTER DATABASE mig_all SET imcheck.endpoint = '$URL_migall'" >/dev/null
mig_run mig_all
check "migration with all users imported: psql exits 0" "exit status $rc, stderr: $err" [ "$rc" -eq 0 ]
n_profile=$(q bgw mig_all "SELECT count(*) FROM im_profile WHERE im_ready" 2>/dev/null)
n_upper=$(q bgw mig_all "SELECT count(*) FROM users WHERE name = upper(name)")
check "migration with all users imported: changes committed" \
	"im_profile rows: ${n_profile:-none}, updated users: $n_upper (want $NMIG)" \
	[ "${n_profile:-x}" = "$NMIG" -a "$n_upper" = "$NMIG" ]

# 3c: one user more, not in the file: refused, "1 users ..."
q bgw mig_all "DROP TABLE im_profile; INSERT INTO users VALUES ('acct-1001', 'not imported')" >/dev/null
before=$(q bgw mig_all "$users_sum")
mig_run mig_all
check "migration refused for a single user not imported (rule none)" \
	"exit status $rc, stderr: $err" \
	[ "$rc" -ne 0 -a -z "$(q bgw mig_all "SELECT to_regclass('im_profile')")" -a \
	  "$(q bgw mig_all "$users_sum")" = "$before" ]
grep -q "ERROR:  1 users are not imported into IM yet" "$work/mig-mig_all.err" ||
	notok "migration refused for a single user: message" "stderr: $err"

# 4a: import the missing (odd-numbered) half, check again, migrate
mig_users mig_imp "i" || die "import setup" "could not create mig_imp"
q bgw postgres "ALTER DATABASE mig_imp SET imcheck.endpoint = '$URL_migimport'" >/dev/null
imsim_cfg() { curl -s "$URL_migimport/_imsim/config" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
mig_run mig_imp import
check "import then migration: psql exits 0" "exit status $rc, stderr: $err" [ "$rc" -eq 0 ]
n_profile=$(q bgw mig_imp "SELECT count(*) FROM im_profile WHERE im_ready" 2>/dev/null)
n_imported=$(q bgw mig_imp "SELECT count(*) FROM im_account_check(ARRAY(SELECT id FROM users))
 WHERE account_status = 'Imported'")
check "import then migration: the $((NMIG / 2)) missing users imported (imsim), every user imported now, migration committed" \
	"imported by the API: $(imsim_cfg imported_by_api), imported: $n_imported, im_profile rows: ${n_profile:-none}" \
	[ "$(imsim_cfg imported_by_api)" = "$((NMIG / 2))" -a "$n_imported" = "$NMIG" -a "${n_profile:-x}" = "$NMIG" ]

# 4b: a user the service refuses to import: stopped, nothing committed
q bgw mig_imp "DROP TABLE im_profile; INSERT INTO users VALUES ('reject-1001', 'refused')" >/dev/null
before=$(q bgw mig_imp "$users_sum")
mig_run mig_imp import
refused_run() { [ "$rc" -ne 0 ] && grep -q "$1" "$work/mig-mig_imp.err"; }
check "import then migration: an account the service refuses stops it (psql exits non-zero, says how many)" \
	"exit status $rc, stderr: $err" refused_run "ERROR:  1 users could not be imported into IM"
check "import then migration: refused account: nothing committed" \
	"im_profile: $(q bgw mig_imp "SELECT to_regclass('im_profile')"), users md5 $before -> $(q bgw mig_imp "$users_sum")" \
	[ -z "$(q bgw mig_imp "SELECT to_regclass('im_profile')")" -a "$(q bgw mig_imp "$users_sum")" = "$before" ]

# 4c: the app's account limit (70398): stopped, nothing committed, nothing imported
q bgw mig_imp "DELETE FROM users WHERE id = 'reject-1001'; INSERT INTO users VALUES ('i1001', 'new')" >/dev/null
curl -s -XPOST "$URL_migimport/_imsim/config" -d "{\"account_limit\": $(imsim_cfg imported_by_api)}" >/dev/null
before=$(q bgw mig_imp "$users_sum")
mig_run mig_imp import
check "import then migration: the account limit stops it with the API's error (70398)" \
	"exit status $rc, stderr: $err" \
	refused_run "ERROR:  the IM API refused the multiaccount_import call"
check "import then migration: the account limit: the error names 70398" "stderr: $err" \
	refused_run "ErrorCode 70398"
check "import then migration: account limit: nothing committed, nothing imported" \
	"im_profile: $(q bgw mig_imp "SELECT to_regclass('im_profile')"), users md5 $before -> $(q bgw mig_imp "$users_sum"), imported by the API: $(imsim_cfg imported_by_api)" \
	[ -z "$(q bgw mig_imp "SELECT to_regclass('im_profile')")" -a "$(q bgw mig_imp "$users_sum")" = "$before" -a \
	  "$(imsim_cfg imported_by_api)" = "$((NMIG / 2))" ]

# ---------------------------------------------------------------- wait
runs_done="SELECT count(*) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')"
deadline=$((boundary + 45))
for c in bgw libpq; do
	while [ "$(q "$c" app "$runs_done")" -lt 2 ] && [ "$(date +%s)" -lt "$deadline" ]; do
		sleep 0.5
	done
	# no second run while we look (jobs kept: their names are looked up below)
	q "$c" app "SELECT cron.alter_job(jobid, active := false) FROM cron.job" >/dev/null
done
echo "# waited until $(date +%T)"

# ---------------------------------------------------------------- 1. and 2.
for c in bgw libpq; do
	mode=$([ "$c" = bgw ] && echo "background workers" || echo "libpq as non-superuser")
	u=${JOBUSER[$c]}
	run() {	# run JOBNAME FIELD
		q "$c" app "SELECT $2 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
 WHERE j.jobname = '$1' ORDER BY runid LIMIT 1"
	}

	# 1. the job succeeded, as the right user, and the table is imsim's answers
	st=$(run imcheck-nightly "status || ' / ' || coalesce(return_message, '')")
	check "reconciliation job ($mode): succeeded in cron.job_run_details" \
		"got '${st:-no run}'" [ "$st" = "succeeded / CALL" ]
	ju=$(run imcheck-nightly "d.username")
	check "reconciliation job ($mode): ran as $u" "ran as '$ju'" [ "$ju" = "$u" ]
	diff=$(q "$c" app "
SELECT count(*) FROM ($expect_sql) e FULL JOIN im_account_status s USING (user_id)
 WHERE e.user_id IS NULL OR s.user_id IS NULL
    OR e.result_code IS DISTINCT FROM s.result_code
    OR e.account_status IS DISTINCT FROM s.account_status")
	nrows=$(q "$c" app "SELECT count(*) FROM im_account_status")
	check "reconciliation job ($mode): status table matches imsim for all $NUSERS users" \
		"$diff rows differ ($nrows rows)" [ "$diff" = 0 -a "$nrows" = "$NUSERS" ]
	# checked_at: every row's in the job's run, stale rows overwritten.  The
	# run's end is the procedure's own record: with background workers,
	# pg_cron 1.4 may record an end_time from before the job ended (it reads
	# the clock, then waits for the worker's last message).
	tm=$(q "$c" app "
SELECT count(*) FILTER (WHERE s.result_info = 'stale') || ' ' ||
       bool_and(s.checked_at BETWEEN d.start_time - interval '1 s' AND r.finished) ||
       ' (checked ' || min(s.checked_at) || ' to ' || max(s.checked_at) ||
       ', run ' || min(d.start_time) || ' to ' || min(r.finished) || ')'
  FROM im_account_status s,
       (SELECT start_time FROM cron.job_run_details JOIN cron.job USING (jobid)
         WHERE jobname = 'imcheck-nightly' ORDER BY runid LIMIT 1) d,
       (SELECT finished FROM imcheck_table_runs WHERE target = 'public.im_account_status'
         ORDER BY run_id DESC LIMIT 1) r")
	check "reconciliation job ($mode): every row's checked_at is in the run's time (stale rows updated)" \
		"stale rows left / all within run: $tm" [ "${tm%% (*}" = "0 true" ]
	stats=$(curl -s "$(eval echo "\$URL_$c")/_imsim/stats")
	check "reconciliation job ($mode): imsim answered the calls, all OK" "imsim stats: $stats" \
		python3 -c 'import json,sys; s=json.loads(sys.argv[1]); n=int(sys.argv[2])
sys.exit(not (s["calls"] == (n + 99) // 100 and list(s["calls_by_code"]) == ["0"] and s["items"] == n))' \
		"$stats" "$NUSERS"

	# 2. the job whose API is down
	st=$(run imcheck-nightly-down "status")
	msg=$(run imcheck-nightly-down "coalesce(return_message, '')")
	check "failing job ($mode): status failed in cron.job_run_details" \
		"status '${st:-no run}', message: $msg" [ "$st" = failed ]
	case "$msg" in
	*"could not connect to the IM API"*) ok "failing job ($mode): error message says the API could not be reached ($(echo "$msg" | head -n 1))" ;;
	*) notok "failing job ($mode): error message" "got '$msg'" ;;
	esac
	case "$msg" in
	*"connect"*) ok "failing job ($mode): error message says why (could not connect)" ;;
	*) notok "failing job ($mode): error message says why" "no reason in '$msg'" ;;
	esac
	echo "$msg" | sed "s/^/# $c job_run_details.return_message: /"
	after=$(q "$c" app_down "$status_sum")
	check "failing job ($mode): status table exactly as before" \
		"checksum ${SUM_BEFORE[$c]} -> $after" [ "$after" = "${SUM_BEFORE[$c]}" ]
done

# the server logs must never hold the key
for c in bgw libpq; do
	if grep -q -e "$key" -e "usersig=" "${LOG_DIR[$c]}/server.log"; then
		notok "server log ($c) free of secrets" "it contains the key or a UserSig"
	else
		ok "server log ($c) free of secrets"
	fi
done
# IMCHECK_OPS_KEEP=DIR keeps the server logs
if [ -n "${IMCHECK_OPS_KEEP:-}" ]; then
	mkdir -p "$IMCHECK_OPS_KEEP" && cp "${LOG_DIR[bgw]}/server.log" "$IMCHECK_OPS_KEEP/bgw.log" &&
		cp "${LOG_DIR[libpq]}/server.log" "$IMCHECK_OPS_KEEP/libpq.log"
fi
echo "# $(( $(date +%s) - t0 )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

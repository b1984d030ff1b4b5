#!/usr/bin/env bash
# The backup and restore drill (docs/operations.md, "Backup and restore"): proves that a backup of the
# database restores to the same data.
#
#   deploy/backup-drill.sh --yes [--data-dir DIR] [--backup FILE]
#
# Against the database every `loyalty` command uses: DATABASE_URL when set, else the embedded one in
# --data-dir (or LOYALTY_DATA_DIR, or the user data folder). It checks the ledger (`loyalty verify`), writes
# down the revision, every table's row count, the ledger's totals and every member's balance, backs up
# (`loyalty backup`), takes the data away (the schema renamed aside: nothing is lost), restores (`loyalty
# restore`), checks the ledger again and compares. Any difference, or any failing step, exits non-zero with
# what went wrong, after giving the data set aside back; a drill that passes drops it.
#
# The data is away while the drill runs: run it on a copy or a staging database, with the service stopped.
set -euo pipefail

usage() { echo "usage: $0 --yes [--data-dir DIR] [--backup FILE]" >&2; exit 2; }
confirmed="" backup_file=""
while [ $# -gt 0 ]; do
  case "$1" in
    --yes) confirmed=1 ;;
    --data-dir) [ $# -ge 2 ] || usage; export LOYALTY_DATA_DIR="$2"; shift ;;
    --backup) [ $# -ge 2 ] || usage; backup_file="$2"; shift ;;
    *) usage ;;
  esac
  shift
done
if [ -z "$confirmed" ]; then
  echo "The drill takes the database's data away while it runs (it gives it back): run it with --yes." >&2
  exit 2
fi

# `loyalty` when it is installed (the image, a virtual environment on PATH), else this checkout's, through uv.
if command -v loyalty >/dev/null 2>&1; then
  loyalty=(loyalty)
  python=("$(dirname "$(readlink -f "$(command -v loyalty)")")/python")
  [ -x "${python[0]}" ] || python=(python3)
else
  checkout="$(cd "$(dirname "$0")/.." && pwd)"
  loyalty=(uv run --project "$checkout" loyalty)
  python=(uv run --project "$checkout" python)
fi
step() { "${python[@]}" -m loyalty.backup "$@"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/loyalty-drill.XXXXXX")"
trap 'rm -rf "$work"' EXIT
backup_file="${backup_file:-$work/loyalty.dump}"
aside="loyalty_drill_$(date -u +%Y%m%d%H%M%S)"
set_aside=""

fail() {
  echo "DRILL FAILED: $*" >&2
  if [ -n "$set_aside" ]; then
    if step put-back "$aside" --yes; then
      echo "The data as it was before the drill is back in place." >&2
    else
      echo "The data as it was before the drill is in schema $aside: put it back with" \
        "\`python -m loyalty.backup put-back $aside --yes\`." >&2
    fi
  fi
  exit 1
}

echo "== 1/7 checking the ledger before the drill"
"${loyalty[@]}" verify || fail "the ledger fails \`loyalty verify\` before the drill: see docs/operations.md, \"When \`loyalty verify\` fails\"."
echo "== 2/7 writing down the balances and the ledger's totals"
step fingerprint "$work/before.txt" || fail "could not read the database."
echo "== 3/7 backing up to $backup_file"
"${loyalty[@]}" backup "$backup_file" || fail "the backup failed."
echo "== 4/7 taking the data away (schema set aside as $aside)"
step set-aside "$aside" --yes || fail "could not set the data aside (the service's role must own the schema)."
set_aside=1
echo "== 5/7 restoring $backup_file"
"${loyalty[@]}" restore --yes "$backup_file" || fail "the restore failed."
echo "== 6/7 checking the restored ledger"
"${loyalty[@]}" verify || fail "the restored ledger fails \`loyalty verify\`."
echo "== 7/7 comparing the balances and the ledger's totals"
step fingerprint "$work/after.txt" || fail "could not read the restored database."
if ! diff -u "$work/before.txt" "$work/after.txt" >"$work/differences.txt"; then
  head -n 40 "$work/differences.txt" >&2
  fail "the restored data differs from the data backed up (above: - before, + after)."
fi
step discard "$aside" --yes || echo "The drill passed, but schema $aside could not be dropped: drop it by hand." >&2
members=$(grep -c '^balance ' "$work/after.txt" || true)
entries=$(awk '$1 == "table" && $2 == "ledger_transaction" { print $3 }' "$work/after.txt")
echo "DRILL PASSED: $members members' balances and $entries ledger entries restored as they were backed up."

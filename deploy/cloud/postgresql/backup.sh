#!/bin/sh
# A consistent backup of medfix's database: pg_dump's custom format (compressed, restorable table by table,
# one snapshot, no downtime), checked readable, then only the newest MEDFIX_BACKUP_KEEP are kept.
# Run daily by medfix-backup.timer as the postgres OS user (peer authentication, no password to store).
# libpq's variables choose the server and database (PGHOST, PGPORT, PGUSER, PGDATABASE; default medfix).
#
# Uploaded files live in MEDFIX_DATA_DIR, not in the database: back that folder up alongside (docs/deploy.md).
set -eu

dir=${MEDFIX_BACKUP_DIR:-/var/backups/medfix}
keep=${MEDFIX_BACKUP_KEEP:-14}
db=${PGDATABASE:-medfix}

umask 077  # a dump holds everything: accounts, phone numbers, tokens' hashes
mkdir -p "$dir"
out="$dir/$db-$(date -u +%Y%m%dT%H%M%SZ).dump"

# Written under another name and renamed when complete and readable, so a crash or a full disk never
# leaves a file that looks like a backup (and never rotates a good one away in favour of it).
pg_dump --format=custom --compress=6 --no-password --dbname="$db" --file="$out.part"
pg_restore --list "$out.part" >/dev/null
mv "$out.part" "$out"
echo "backup: $out ($(du -h "$out" | cut -f1))"

# Rotation: the newest $keep dumps stay (names sort by time); stale partial files go after a day.
ls -1 "$dir/$db"-*.dump | sort -r | tail -n +"$((keep + 1))" | while read -r old; do
  rm -f -- "$old" && echo "rotated out: $old"
done
find "$dir" -maxdepth 1 -name "$db-*.dump.part" -mtime +0 -delete

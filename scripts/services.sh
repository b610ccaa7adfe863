#!/usr/bin/env bash
# Start the local PostgreSQL, Redis and Mosquitto the integration tests use, when they are not running.
# On a developer's machine without root these are left alone (the tests then skip what needs them, except in CI).
set -u

have() { command -v "$1" >/dev/null 2>&1; }
say() { echo "services: $*"; }

if [ "$(id -u)" != "0" ]; then
  say "not root; leaving services as they are"
  exit 0
fi

if have pg_isready && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  say "starting PostgreSQL"
  if have pg_ctlcluster && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

if have redis-cli && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi

if have mosquitto && ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  say "starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
fi

pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && say "PostgreSQL up" || say "PostgreSQL DOWN"
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && say "Redis up" || say "Redis DOWN"
(exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && say "Mosquitto up" || say "Mosquitto DOWN"
exit 0

#!/usr/bin/env bash
# Make sure Postgres and Redis answer on localhost; start the local ones if they are down.
set -euo pipefail

pg_host="${PGHOST:-127.0.0.1}"
if ! pg_isready -q -h "$pg_host" -p 5432; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
  for _ in $(seq 30); do pg_isready -q -h "$pg_host" -p 5432 && break; sleep 1; done
fi
pg_isready -h "$pg_host" -p 5432

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
echo "redis: $(redis-cli -h 127.0.0.1 -p 6379 ping)"

#!/usr/bin/env bash
# One database and one login role per service, each owning only its own database.
# Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d), or by
# hand against any cluster: PGHOST=... POSTGRES_USER=postgres bash init-databases.sh
# Passwords come from the env file: <SERVICE>_DB_PASSWORD (e.g. PAYMENTS_DB_PASSWORD).
# SWITCHBOARD_DATABASE_PREFIX (default empty) prefixes database and role names, so several
# stacks can share one cluster.
set -euo pipefail

SERVICES="${SWITCHBOARD_DATABASES:-gateway email payments orders reports integrations}"
PREFIX="${SWITCHBOARD_DATABASE_PREFIX:-}"

for service in ${SERVICES}; do
  password_var="${service^^}_DB_PASSWORD"
  password="${!password_var:?set ${password_var} in the env file}"
  name="${PREFIX}${service}"
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v name="${name}" -v password="${password}" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
  echo "database and role ${name} ready"
done

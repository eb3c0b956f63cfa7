#!/bin/sh
# kafka-init: one SCRAM-SHA-512 principal per service and the least-privilege ACLs, both from
# files generated out of schemas/topic_ownership.py (principals.txt, acls.txt). It shares the
# broker's network namespace and talks to its loopback-only admin listener. Safe to run again:
# credentials are upserted, ACLs added once.
#
# The passwords (compose secrets, /run/secrets/kafka-<principal>) are hex from
# make-dev-certs.sh or your secret store: kafka-configs' syntax reserves ',', '[' and ']'. They
# appear in kafka-configs' argument list, inside this short-lived container's own process table.
set -eu
BOOTSTRAP=127.0.0.1:9094
BIN=/opt/kafka/bin

grep -v '^#' /kafka-init/principals.txt | while read -r principal; do
  password=$(head -n 1 "/run/secrets/kafka-$principal")
  case "$password" in
    ""|*[],[]*) echo "kafka-init: unusable password for $principal (empty, or , [ ])" >&2; exit 1 ;;
  esac
  "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter --entity-type users \
    --entity-name "$principal" --add-config "SCRAM-SHA-512=[iterations=8192,password=$password]" >/dev/null
  echo "kafka-init: principal $principal"
done

grep -v '^#' /kafka-init/acls.txt | while read -r grant; do
  # shellcheck disable=SC2086  # a line is a list of kafka-acls arguments
  "$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" $grant >/dev/null
done
echo "kafka-init: $(grep -vc '^#' /kafka-init/acls.txt) ACL grants"

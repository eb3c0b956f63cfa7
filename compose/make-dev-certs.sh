#!/bin/sh
# Development TLS material and Kafka passwords for compose/docker-compose.yml; never for
# production (use your CA and secret store there, same file names).
#
#   compose/make-dev-certs.sh [DIR]      # DIR defaults to compose/
#
# Writes, keeping whatever already exists (delete a file to make it anew):
#   DIR/certs/ca.pem, DIR/certs/ca.key        a development CA (10 years)
#   DIR/certs/kafka.pem                       Kafka's key + certificate (PEM keystore), names
#                                             kafka, localhost, 127.0.0.1, signed by the CA
#   DIR/secrets/kafka-<principal>.password    a random password per principal of
#                                             compose/kafka/principals.txt
# Compose passes the files to the containers as secrets (bind mounts that keep these modes):
# the directories are the owner's only, the files readable by the containers' own users
# (kafka runs as uid 1000, framegate as 10001); the CA key never leaves DIR/certs.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
CERTS=$OUT/certs
SECRETS=$OUT/secrets
umask 077
mkdir -p "$CERTS" "$SECRETS"
chmod 700 "$CERTS" "$SECRETS"

if [ ! -f "$CERTS/ca.pem" ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=framegate development CA" \
    -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" 2>/dev/null
  echo "made $CERTS/ca.pem"
fi

if [ ! -f "$CERTS/kafka.pem" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/kafka.key" 2>/dev/null
  openssl req -new -key "$work/kafka.key" -subj "/CN=kafka" -out "$work/kafka.csr"
  printf '%s\n' "subjectAltName=DNS:kafka,DNS:localhost,IP:127.0.0.1" \
    "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" > "$work/kafka.ext"
  openssl x509 -req -in "$work/kafka.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
    -CAcreateserial -days 825 -extfile "$work/kafka.ext" -out "$work/kafka.crt" 2>/dev/null
  # Kafka's PEM keystore: the unencrypted PKCS#8 key, then the certificate chain
  cat "$work/kafka.key" "$work/kafka.crt" > "$CERTS/kafka.pem"
  echo "made $CERTS/kafka.pem"
fi
chmod 644 "$CERTS/ca.pem" "$CERTS/kafka.pem"

grep -v '^#' "$HERE/kafka/principals.txt" | while read -r principal; do
  file=$SECRETS/kafka-$principal.password
  if [ ! -f "$file" ]; then
    openssl rand -hex 24 > "$file"
    echo "made $file"
  fi
  chmod 644 "$file"
done

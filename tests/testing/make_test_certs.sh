#!/bin/sh
# Writes the certificates the TLS tests use into DIR (created if missing),
# with the `openssl` command, in about a second:
#   ca.pem / ca.key                 the test CA
#   server.pem / server.key         CN=localhost, SAN DNS:localhost,
#                                   IP:127.0.0.1, IP:::1; signed by the CA
#   client.pem / client.key         CN=alice,O=dualrpc (subject printed in
#                                   client.subject, RFC 2253); signed by the CA
#   expired.pem / expired.key       like server.pem, valid only in 2020
#   otherhost.pem / otherhost.key   CN=other.example, SAN DNS:other.example
#                                   only; signed by the CA
#   untrusted.pem / untrusted.key   like server.pem, signed by another CA
#                                   (rogue-ca.pem) that clients do not trust
#   server2.pem / server2.key       a second server certificate (CN=localhost,
#                                   serial differs) for reload tests
# Usage: make_test_certs.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() {  # NAME CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -out "$1.pem"
}

# NAME SUBJECT EXTENSIONS CA [startdate enddate]
make_leaf() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf '%s\n' "$3" > "$1.ext"
  if [ $# -ge 6 ]; then
    # `openssl x509 -req` cannot backdate; `openssl ca` can.
    mkdir -p ca-db && : > ca-db/index.txt && echo 1000 > ca-db/serial
    cat > ca-db/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
    openssl ca -batch -config ca-db/ca.cnf -cert "$4.pem" -keyfile "$4.key" \
      -in "$1.csr" -out "$1.pem" -startdate "$5" -enddate "$6" \
      -extfile "$1.ext" -notext 2>/dev/null
  else
    openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" \
      -CAcreateserial -sha256 -days 3650 -extfile "$1.ext" -out "$1.pem" \
      2>/dev/null
  fi
  rm -f "$1.csr" "$1.ext"
}

server_ext='subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth'
make_ca ca "dualrpc test CA"
make_ca rogue-ca "rogue CA"
make_leaf server "/CN=localhost" "$server_ext" ca
make_leaf server2 "/CN=localhost" "$server_ext" ca
make_leaf client "/O=dualrpc/CN=alice" "extendedKeyUsage=clientAuth" ca
make_leaf otherhost "/CN=other.example" \
  "subjectAltName=DNS:other.example
extendedKeyUsage=serverAuth" ca
make_leaf untrusted "/CN=localhost" "$server_ext" rogue-ca
make_leaf expired "/CN=localhost" "$server_ext" ca 20200101000000Z 20200102000000Z
openssl x509 -in client.pem -noout -subject -nameopt RFC2253 |
  sed 's/^subject=//' > client.subject
rm -rf ca-db ca.srl rogue-ca.srl

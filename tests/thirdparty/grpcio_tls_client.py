#!/usr/bin/python3
"""A third-party gRPC client over TLS for dualrpc's tests: grpcio (Debian's
python3-grpcio, so run it with /usr/bin/python3) with
grpc.ssl_channel_credentials.

Usage: grpcio_tls_client.py HOST:PORT CA_FILE [CERT_FILE KEY_FILE]

Calls dualrpc.v1.FileService/Echo with payload "over tls" (the protobuf
encoded by hand: field 1, bytes, so no generated module is needed) and
prints the echoed payload (exit 0), or "ERROR <status code name>" (exit 1).
"""
import sys

import grpc

PAYLOAD = b"over tls"


def encode_payload(payload):
    assert len(payload) < 128
    return b"\x0a" + bytes([len(payload)]) + payload


def decode_payload(message):
    if not message:
        return b""
    assert message[0] == 0x0A and message[1] < 128
    return message[2:2 + message[1]]


def main(argv):
    target, ca_file = argv[1], argv[2]
    with open(ca_file, "rb") as f:
        root = f.read()
    key = chain = None
    if len(argv) > 4:
        with open(argv[3], "rb") as f:
            chain = f.read()
        with open(argv[4], "rb") as f:
            key = f.read()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root, private_key=key, certificate_chain=chain)
    with grpc.secure_channel(target, credentials) as channel:
        echo = channel.unary_unary("/dualrpc.v1.FileService/Echo")
        try:
            response = echo(encode_payload(PAYLOAD), timeout=10)
        except grpc.RpcError as error:
            print("ERROR", error.code().name)
            print(error.details(), file=sys.stderr)
            return 1
    print(decode_payload(response).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

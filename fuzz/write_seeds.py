#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (fuzz/corpus/<fuzzer>/) from the
annotated examples in docs/PROTOCOL.md section 9, so the seeds are the bytes
the spec shows (tests/raw/protocol_examples_test.cc checks those against the
codec and a running server). Deterministic: running it again rewrites the same
files, and `write_seeds.py --check` fails if the committed corpus differs
(scripts/test runs that).

Each example block is a table "offset  bytes  meaning"; the bytes column is
hex pairs separated by single spaces, ended by two spaces or the line's end.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "PROTOCOL.md"
CORPUS = ROOT / "fuzz" / "corpus"

ROW = re.compile(r"^[0-9a-f]{4} +((?:[0-9a-f]{2} )*[0-9a-f]{2})(?:  |$)")
PREFACE_BYTES = 8
FRAME_HEADER_BYTES = 12


def examples():
    """[(direction, bytes)] in the order section 9 lists them."""
    text = SPEC.read_text(encoding="utf-8")
    start = text.index("## 9. Annotated examples")
    end = text.index("\n## ", start + 1)
    blocks, direction, current, in_code = [], None, None, False
    for line in text[start:end].splitlines():
        if line.startswith("Client → server"):
            direction = "client"
        elif line.startswith("Server → client"):
            direction = "server"
        elif line.startswith("```"):
            if in_code and current:
                blocks.append((direction, bytes(current)))
            in_code, current = not in_code, []
        elif in_code:
            match = ROW.match(line)
            if match:
                current.extend(int(b, 16) for b in match.group(1).split())
    if not blocks:
        sys.exit(f"write_seeds: no examples found in {SPEC}")
    return blocks


def frames(stream):
    """Splits a preface-less byte string into whole frames."""
    out = []
    while len(stream) >= FRAME_HEADER_BYTES:
        length = int.from_bytes(stream[0:4], "big")
        out.append(stream[: FRAME_HEADER_BYTES + length])
        stream = stream[FRAME_HEADER_BYTES + length:]
    return out


def corpora():
    """{fuzzer: {file name: bytes}}."""
    blocks = examples()
    seeds = {"frame_decoder": {}, "call_payload": {}, "server_connection": {},
             "page_token": {}, "served_root": {}}
    for direction in ("client", "server"):
        stream = b"".join(b for d, b in blocks if d == direction)
        if not stream.startswith(b"DRPC"):
            sys.exit(f"write_seeds: the {direction}'s first example has no preface")
        preface, rest = stream[:PREFACE_BYTES], stream[PREFACE_BYTES:]
        seeds["frame_decoder"][f"{direction}_stream"] = stream
        for index, frame in enumerate(frames(rest), 1):
            seeds["frame_decoder"][f"{direction}_frame_{index}"] = preface + frame
            frame_type = frame[4]
            if frame_type in (1, 2):  # REQUEST, RESPONSE: header codec seeds
                kind = "request" if frame_type == 1 else "response"
                seeds["call_payload"][f"{kind}_{index}"] = (
                    bytes([frame_type]) + frame[FRAME_HEADER_BYTES:])
            if direction == "client":
                seeds["server_connection"][f"frame_{index}"] = preface + frame
        if direction == "client":
            seeds["server_connection"]["client_stream"] = stream
    # Page tokens: fuzz_page_token.cc reads "<path>\n<token>". Tokens are
    # version 1, u16 path length, path, u16 name length, name, base64url.
    import base64
    for name, (path, last) in {"root": (b".", b"b"),
                               "nested": (b"a/b", b"\xff\xfename"),
                               "empty_name": (b".", b"")}.items():
        raw = (b"\x01" + len(path).to_bytes(2, "big") + path +
               len(last).to_bytes(2, "big") + last)
        token = base64.urlsafe_b64encode(raw).rstrip(b"=")
        seeds["page_token"][name] = path + b"\n" + token
    # Paths under the tree fuzz_served_root.cc makes (see its comment).
    for name, path in {"root": b"", "dot": b".", "dir": b"dir/sub",
                       "escape": b"../..", "link_out": b"link_out",
                       "link_in": b"link_in/sub", "file": b"dir/file",
                       "absolute": b"/etc", "loop": b"loop"}.items():
        seeds["served_root"][name] = path
    return seeds


def main():
    check = sys.argv[1:] == ["--check"]
    stale = []
    for fuzzer, files in corpora().items():
        directory = CORPUS / fuzzer
        for name, data in files.items():
            path = directory / name
            if check:
                if not path.exists() or path.read_bytes() != data:
                    stale.append(str(path.relative_to(ROOT)))
            else:
                directory.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    if stale:
        sys.exit("write_seeds: out of date with docs/PROTOCOL.md (run "
                 "fuzz/write_seeds.py): " + ", ".join(stale))


if __name__ == "__main__":
    main()

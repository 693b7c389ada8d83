#!/usr/bin/env python3
"""Regenerate fuzz/seeds/: real frames from the reference transcripts for
decode/roundtrip, and op byte strings (see gateway_proto::testing::ops::ByteReader)
that drive handshakes for the stateful targets."""
import json, os, pathlib, struct

root = pathlib.Path(__file__).resolve().parent
seeds = root / "seeds"
transcripts = pathlib.Path("/work/shared/reference/transcripts")

def write(target, name, data):
    d = seeds / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())

# decode / roundtrip: client frames sent in the transcripts, plus a few server frames.
picked = {}
for f in sorted(transcripts.glob("*/*.ndjson")):
    for line in f.read_text().splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if v.get("dir") == "send" and "raw" in v:
            raw = v["raw"]
            try:
                method = json.loads(raw).get("method")
            except (ValueError, AttributeError):
                method = "garbage"
            key = (method, f.stem)
            picked.setdefault(key, (f"{f.parent.name}-{f.stem}", raw))
        elif v.get("dir") == "recv" and "frame" in v:
            fr = v["frame"]
            key = ("recv-" + str(fr.get("event") or fr.get("type")), "")
            picked.setdefault(key, (f"{f.parent.name}-{f.stem}-recv", json.dumps(fr, separators=(",", ":"))))
items = sorted(picked.items(), key=lambda kv: (kv[0][0] != "connect", kv[1][0]))
# A spread: connects of different transcripts, then other methods and garbage, then server frames.
chosen = [kv for kv in items if kv[0][0] == "connect" and "v4-server" in kv[1][0]][:5] + [kv for kv in items if kv[0][0] == "connect" and "v3-server" in kv[1][0]][:3] + \
    [kv for kv in items if kv[0][0] not in ("connect",) and not str(kv[0][0]).startswith("recv-")][:6] + \
    [kv for kv in items if str(kv[0][0]).startswith("recv-") and len(kv[1][1]) < 4000][:4]
for i, ((_, _), (name, raw)) in enumerate(chosen):
    write("decode", f"{i:02}-{name}", raw)
    if not name.endswith("-recv"):
        write("roundtrip", f"{i:02}-{name}", raw)
extra = {
    "escaped-id": r'{"type":"req","id":"a\"b\u00e9","method":"health","params":{"x":[1,2.5,"\n"]}}',
    "traceparent": '{"type":"req","id":"t1","method":"status","traceparent":"00-abc-def-01"}',
    "dup-key": '{"type":"req","id":"1","id":"2","method":"health"}',
    "array": '[{"type":"req","id":"1","method":"health"}]',
    "not-json": "hello {",
}
for name, raw in extra.items():
    write("decode", name, raw)
    write("roundtrip", name, raw)

# Stateful targets: ops as bytes.
def u16(n): return struct.pack("<H", n)
OPEN, OPEN_R = b"\x00\x00", b"\x00\x01"
def open_(slot, remote=False): return bytes([slot << 4, 1 if remote else 0])
def connect(slot, spec=0): return bytes([(slot << 4) | 2, spec])
def req(slot, kind): return bytes([(slot << 4) | 4, kind])
def garbage(slot, kind): return bytes([(slot << 4) | 6, kind])
def binary(slot): return bytes([(slot << 4) | 7])
def stall(slot): return bytes([(slot << 4) | 8])
def resume(slot): return bytes([(slot << 4) | 9])
def advance(ms_raw): return b"\x0a" + u16(ms_raw)
FIRE = b"\x0c"
def disconnect(slot): return bytes([(slot << 4) | 13])
SHUTDOWN = b"\x0f\x00"
# spec bits: 1=v3, tokens (b>>1)%4: 0 good, 2 bad (0x04), 3 missing (0x06); 8=cli; (b>>4)%3: 0 admin,1 read,2 none
V4_ADMIN, V3, BAD, MISSING, CLI, READ, NONE = 0x00, 0x01, 0x04, 0x06, 0x08, 0x10, 0x20
PARAMS_SMALL = b"\x00"   # 1 KiB buffer, presence_max 1, one auth failure
PARAMS_MID = b"\x15"     # 4 KiB, presence_max 2, two failures
gw = {
    "handshake-health": PARAMS_MID + open_(0) + connect(0) + req(0, 0) + req(0, 1) + req(0, 2),
    "two-clients-tick": PARAMS_MID + open_(0) + connect(0) + open_(1) + connect(1, V3 | CLI) + advance(30000 // 4 * 4 + 2) + FIRE + FIRE,
    "slow-consumer": PARAMS_SMALL + open_(0) + connect(0) + stall(0) + open_(1) + connect(1) + FIRE + FIRE + FIRE + req(0, 0),
    "slow-then-resume": PARAMS_SMALL + open_(0) + connect(0, READ) + stall(0) + req(1, 3) + open_(1) + connect(1) + req(1, 3) + req(1, 3) + resume(0) + FIRE,
    "bad-token-remote": PARAMS_SMALL + open_(0, True) + connect(0, BAD) + open_(1, True) + connect(1, BAD) + advance(1000) + open_(2, True) + connect(2),
    "missing-token": PARAMS_MID + open_(0) + connect(0, MISSING) + disconnect(0) + open_(0) + connect(0, NONE),
    "preauth-garbage": PARAMS_MID + open_(0) + garbage(0, 0) + open_(1) + binary(1) + open_(2) + garbage(2, 2) + open_(3) + req(3, 0),
    "handshake-timeout": PARAMS_MID + open_(0) + advance(15001 // 1 * 0 + 2 + 4 * 3800) + FIRE,
    "system-events": PARAMS_SMALL + open_(0) + connect(0) + req(0, 3) + req(0, 3) + req(0, 3) + req(0, 7) + req(0, 6) + req(0, 5),
    "shutdown": PARAMS_MID + open_(0) + connect(0) + open_(1) + stall(1) + connect(1) + SHUTDOWN + open_(2) + FIRE,
    "disconnect-presence": PARAMS_MID + open_(0) + connect(0, READ) + open_(1) + connect(1) + disconnect(1) + advance(3) + FIRE,
}
for name, data in gw.items():
    write("gateway", name, data)

def c_connect(spec=0): return bytes([0, spec])
def c_req(kind): return bytes([3, kind])
def c_garbage(kind): return bytes([6, kind])
C_BINARY, C_STALL, C_RESUME, C_DIRECT = b"\x07", b"\x08", b"\x09", b"\x0e"
def c_advance(raw): return b"\x0a" + u16(raw)
C_PEER_CLOSED, C_CLOSE = b"\x0b\x00", b"\x0b\xff"
def c_broadcast(droppable): return bytes([12, 1 if droppable else 0])
C_ACCEPT, C_REJECT = b"\x0f\x01", b"\x0f\x00"
sc = {
    "accept-requests": PARAMS_MID + c_connect() + C_ACCEPT + c_req(0) + c_req(6) + c_req(7) + c_broadcast(True),
    "slow-broadcasts": PARAMS_SMALL + c_connect() + C_ACCEPT + C_STALL + c_broadcast(True) * 12 + c_broadcast(False),
    "slow-resume-gap": PARAMS_SMALL + c_connect() + C_ACCEPT + C_STALL + c_broadcast(True) * 20 + C_RESUME + c_broadcast(True),
    "bad-token-delay": PARAMS_MID + c_connect(BAD) + c_req(0) + c_advance(4 * 60 + 1) + c_advance(4 * 60 + 1),
    "reject": PARAMS_MID + c_connect(V3) + C_REJECT + c_broadcast(False) + C_DIRECT,
    "preauth-garbage": PARAMS_MID + c_garbage(0) + C_DIRECT,
    "preauth-binary": PARAMS_MID + C_BINARY + C_CLOSE,
    "handshake-timeout": PARAMS_MID + c_advance(2 + 4 * 3800),
    "peer-closed": PARAMS_MID + c_connect() + C_ACCEPT + C_PEER_CLOSED + c_broadcast(False) + C_DIRECT,
    "second-connect": PARAMS_MID + c_connect() + C_ACCEPT + c_connect() + c_garbage(1) + c_garbage(2),
}
for name, data in sc.items():
    write("server_connection", name, data)

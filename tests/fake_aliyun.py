#!/usr/bin/env python3
"""Fake Alibaba Cloud workorder API (2016-08-30) and OSS bucket, on loopback.

Purpose
    The mail2ticket tests, the Postfix end-to-end tests, the fault matrix
    and the README demo talk to this program instead of Alibaba Cloud.  It
    imitates, as /work/shared/PROTOCOLS.md A.1-A.6, B.3 and C describe:
      - the RPC gateway (POST or GET /): common parameters, the V1 HMAC-SHA1
        signature, timestamp window, nonce reuse, gateway error bodies;
      - the old workorder actions Add, getOSSTempAuthor and QuestionList,
        with their old-API error bodies (-101, -104, -121, -153);
      - an OSS bucket taking PostObject form uploads (POST /oss/), checking
        the form, the policy signature, its expiry, the key prefix and the
        content-length-range, with OSS XML errors.
    It records every request and can be told to fail in each documented
    way.  Standard library only.

Command line
    fake_aliyun.py serve --port-file FILE [--port N] [--state-file FILE]
        [--access-key-id ID] [--access-key-secret S] [--security-token T]
        [--oss-secret S] [--ali-uid UID] [--log FILE]
    fake_aliyun.py ctl --port-file FILE set JSON   (POST /_control)
    fake_aliyun.py ctl --port-file FILE reset      (POST /_reset)
    fake_aliyun.py ctl --port-file FILE state      (print GET /_state)
    fake_aliyun.py ctl --port-file FILE wait       (up to 10 s for an answer)

    `serve` binds 127.0.0.1 only and writes the port to --port-file
    (temp file + rename) once it listens; it stops on SIGTERM/SIGINT and
    then removes the port file if it still names its port.  With
    --state-file every change is saved (temp file + rename) and reloaded
    at start.  --log gets one line per request, never a secret, a
    signature or a parameter value.

Control (not part of the imitated API)
    POST /_control  JSON object merged into the settings (a key replaces
                    the previous value; "faults": [] clears the faults):
        faults             [{"target": Add|getOSSTempAuthor|QuestionList|oss|*,
                             "mode": M, "count": N (default 1, -1 = until
                             reset), "delay": s (slow, default 5),
                             "param": name (illegal_param, default content)}]
        fail_every         N: every Nth request reaching the fault stage
                           fails with fail_mode (default http500); 0 = off.
                           Setting it restarts the count.
        fail_ratio, seed   probability p of fail_mode per request (seeded).
        fail_mode          any mode below.
        fail_delay, fail_param   delay / param for fail_mode (extensions).
        questionlist_shape "example" (default) or "table".
      Modes: system_busy, system_busy_alt, illegal_auth, illegal_param,
      http500, http503, throttling, not_json, slow, drop, drop_after_create,
      expired (oss only).
    POST /_reset    forget everything (faults, settings, tickets, uploads,
                    requests, nonces, counters).
    GET  /_state    {"tickets", "uploads", "requests", "counts", "settings"}.
                    counts.Add etc. count every request naming that action
                    (any spelling, any outcome); counts.oss every upload
                    request; tickets_created and uploads the successes (a
                    repeated key counts again, and its upload's "count"
                    grows).  Tickets are {"id", "action" (spelling sent),
                    "add_time_ms", "seq", "question_status", "params" (all
                    but the common signing parameters)}.

Where faults apply
    Only to authenticated requests: an RPC request after its common
    parameters, signature and nonce were accepted (the nonce is then used
    up, even if the fault drops the answer), an OSS upload after its form,
    access id and policy signature were accepted.  Explicit faults come
    first (first matching entry in list order, consumed when used), then
    fail_every, then fail_ratio.  Every request reaching that stage counts
    for fail_every.  For OSS the old-API modes map to OSS errors:
    system_busy, system_busy_alt, throttling and http503 give 503
    ServiceUnavailable, illegal_auth 403 AccessDenied, illegal_param 400
    InvalidArgument, and not_json a 502 HTML page (a 200 would read as a
    successful upload).

Known limits
    One bucket, one pair of RPC credentials; the RPC side answers JSON
    only (Format=XML is refused); QuestionList lists every ticket, not
    only the caller's; uploaded bytes are not kept, only their size and MD5.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_VERSION = "2016-08-30"
RPC_HOST_ID = "workorder.aliyuncs.com"
OSS_ACCESS_ID = "LTAIfakeossaccessid"
OSS_BUCKET = "work-order"
TIMESTAMP_SKEW = 15 * 60
NONCE_KEEP = 60 * 60
POLICY_LIFETIME = 120
ATTACH_MAX = 2097152
ATTACH_MAX_COUNT = 3
BODY_MAX = 64 * 1024 * 1024
REQUESTS_KEPT = 5000

COMMON_PARAMS = ("Action", "Version", "AccessKeyId", "Signature",
                 "SignatureMethod", "SignatureNonce", "SignatureVersion",
                 "Timestamp")
SIGNING_PARAMS = frozenset(COMMON_PARAMS + ("Format", "SecurityToken",
                                            "SignatureType"))
MASKED_PARAMS = frozenset(("signature", "securitytoken",
                           "x-oss-security-token"))
ACTIONS = {"add": "Add", "getosstempauthor": "getOSSTempAuthor",
           "questionlist": "QuestionList"}
TARGETS = frozenset(list(ACTIONS.values()) + ["oss", "*"])
MODES = frozenset(("system_busy", "system_busy_alt", "illegal_auth",
                   "illegal_param", "http500", "http503", "throttling",
                   "not_json", "slow", "drop", "drop_after_create",
                   "expired"))
SETTING_KEYS = frozenset(("faults", "fail_every", "fail_ratio", "seed",
                          "fail_mode", "fail_delay", "fail_param",
                          "questionlist_shape"))
OLD_ERRORS = {
    "ILLEGAL_PARAM": (-101, "illegal parameter, param is {}"),
    "ILLEGAL_PARAM_EMPTY": (-104, "{} must not be null or empty"),
    "ILLEGAL_AUTH": (-121, "illegal auth"),
    "SYSTEM_BUSY": (-153, "the system is busy"),
}
GATEWAY_ERRORS = {
    "MissingParameter": (400, 'The input parameter "{}" that is mandatory '
                              'for processing this request is not supplied.'),
    "InvalidParameter": (400, 'The specified parameter "{}" is not valid.'),
    "InvalidVersion": (400, "Specified parameter Version is not valid."),
    "InvalidTimeStamp.Format": (400, "Specified time stamp or date value "
                                     "is not well formatted."),
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value "
                                      "is expired."),
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not "
                                         "found."),
    "InvalidSecurityToken.Missing": (400, "SecurityToken is required for "
                                          "this access key."),
    "InvalidSecurityToken.MismatchWithAccessKey": (
        400, "Specified SecurityToken mismatch with the AccessKey."),
    "SignatureDoesNotMatch": (400, "Specified signature is not matched "
                                   "with our calculation."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used "
                                "already."),
    "InvalidAction.NotFound": (404, "Specified api is not found, please "
                                    "check your url and method."),
    "Throttling.User": (400, "Request was denied due to user flow "
                             "control."),
    "InternalError": (500, "The request processing has failed due to some "
                           "unknown error, exception or failure."),
    "ServiceUnavailable": (503, "The request has failed due to a "
                                "temporary failure of the server."),
}
NOT_JSON_BODY = b"<html><body>502 Bad Gateway</body></html>"
TICKET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        b"0123456789-_.~")


# ---------------------------------------------------------------------------
# Signing

def to_bytes(text):
    """UTF-8 bytes of a parameter string, restoring undecodable bytes."""
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", "surrogateescape")


def percent_encode(text):
    """RFC 3986 encoding of PROTOCOLS.md A.2 step 3 (%20, %2A, ~ literal)."""
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b
                   for b in to_bytes(text))


def rpc_string_to_sign(method, params):
    """StringToSign of A.2: METHOD&%2F&enc(sorted canonical query)."""
    pairs = sorted(((to_bytes(k), k, v) for k, v in params.items()
                    if k != "Signature"), key=lambda item: item[0])
    canonical = "&".join(percent_encode(k) + "=" + percent_encode(v)
                         for _, k, v in pairs)
    return method + "&" + percent_encode("/") + "&" + percent_encode(canonical)


def rpc_signature(method, params, secret):
    """Base64 HMAC-SHA1 with key secret + "&" (A.2 step 6)."""
    digest = hmac.new(to_bytes(secret + "&"),
                      to_bytes(rpc_string_to_sign(method, params)),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def oss_signature(policy_b64, secret):
    """PostObject signature of C.3: base64 HMAC-SHA1(secret, policy)."""
    digest = hmac.new(to_bytes(secret), to_bytes(policy_b64),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def self_check():
    """Check the encoder and signers against PROTOCOLS.md vectors."""
    def expect(label, got, want):
        """Raise AssertionError unless got == want."""
        if got != want:
            raise AssertionError("self-check %s: got %r, want %r"
                                 % (label, got, want))
    v21 = {"AccessKeyId": "testid", "Action": "DescribeRegions",
           "Format": "XML", "SignatureMethod": "HMAC-SHA1",
           "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
           "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z",
           "Version": "2014-05-26"}
    expect("V2-1 string", rpc_string_to_sign("GET", v21),
           "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26"
           "Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D"
           "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26"
           "Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26")
    expect("V2-1", rpc_signature("GET", v21, "testsecret"),
           "OLeaidS1JvxuMvnyHOwuJ+uX5qY=")
    v2x = {"AccessKeyId": "testid", "Action": "Add", "Format": "JSON",
           "SignatureMethod": "HMAC-SHA1",
           "SignatureNonce": "00000000-0000-0000-0000-000000000001",
           "SignatureVersion": "1.0", "Timestamp": "2024-01-02T03:04:05Z",
           "Version": "2016-08-30", "productId": "12",
           "content": "\u6d4b\u8bd5 a*b~c", "aliUid": "1018"}
    expect("V2-X content", percent_encode(v2x["content"]),
           "%E6%B5%8B%E8%AF%95%20a%2Ab~c")
    expect("V2-X", rpc_signature("GET", v2x, "testsecret"),
           "VKlIkUpAZViGUQgEOK36T9bN7E8=")
    expect("encode", percent_encode("a b*c~d/\u00e9+=&"),
           "a%20b%2Ac~d%2F%C3%A9%2B%3D%26")
    expect("OSS policy", oss_signature(
        "eyJleHBpcmF0aW9uIjoiMjAxMy0xMi0wMVQxMjowMDowMFoiLCJjb25kaXRpb25zIjpb"
        "WyJjb250ZW50LWxlbmd0aC1yYW5nZSIsIDAsIDEwNDg1NzYwXSx7ImJ1Y2tldCI6ImFo"
        "YWhhIn0sIHsiQSI6ICJhIn0seyJrZXkiOiAiQUJDIn1dfQ==",
        "OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV"),
        "BgRcDqgNsBCQtbrBAphnACiP3yw=")


# ---------------------------------------------------------------------------
# Small helpers

def now_ms():
    """Current time in Unix milliseconds."""
    return int(time.time() * 1000)


def iso_millis(seconds):
    """ISO 8601 UTC time with milliseconds and Z, as OSS policies use."""
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (stamp.microsecond // 1000)


def parse_iso(text, allow_fraction):
    """Unix seconds of YYYY-MM-DDThh:mm:ss[.fff]Z, or None if malformed."""
    pattern = r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)"
    pattern += r"(\.\d{1,9})?Z" if allow_fraction else "Z"
    match = re.fullmatch(pattern, text)
    if not match:
        return None
    try:
        stamp = datetime.datetime(*(int(g) for g in match.groups()[:6]),
                                  tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    fraction = float(match.group(7)) if allow_fraction and match.group(7) \
        else 0.0
    return stamp.timestamp() + fraction


def is_valid_utf8(text):
    """True if a decoded parameter held no undecodable bytes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_integer(text):
    """True for a plain non-negative decimal integer of sane length."""
    return bool(re.fullmatch(r"[0-9]{1,19}", text or ""))


def xml_escape(text):
    """Escape text for an XML element (quotes may stay)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_atomic(path, data):
    """Write data to path through a temporary file and a rename."""
    tmp = "%s.tmp.%d.%d" % (path, os.getpid(), threading.get_ident())
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def mask_params(params):
    """Copy of a parameter dict with signatures and tokens masked."""
    return {k: ("***" if k.lower() in MASKED_PARAMS else v)
            for k, v in params.items()}


def parse_header_value(value):
    """Split 'type; a=b; c="d"' into ('type', {'a': 'b', 'c': 'd'})."""
    items, current, quoted, escaped = [], [], False, False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    params = {}
    for item in items[1:]:
        name, sep, val = item.partition("=")
        if sep:
            params[name.strip().lower()] = val.strip()
    return items[0].strip().lower(), params


def rfc5987_decode(value):
    """Decode charset'lang'%XX (RFC 5987) into text, or None."""
    parts = value.split("'", 2)
    if len(parts) != 3:
        return None
    try:
        return urllib.parse.unquote(parts[2], encoding=parts[0] or "utf-8",
                                    errors="surrogateescape")
    except LookupError:
        return None


class MultipartError(Exception):
    """The body is not well-formed multipart/form-data."""


def parse_multipart(body, content_type):
    """Parts of a multipart/form-data body as dicts, in order."""
    kind, params = parse_header_value(content_type or "")
    boundary = params.get("boundary", "")
    if kind != "multipart/form-data" or not boundary:
        raise MultipartError("not multipart/form-data with a boundary")
    delim = b"--" + boundary.encode("latin-1")
    sep = b"\r\n" + delim
    if body.startswith(delim):
        pos = len(delim)
    else:
        start = body.find(sep)
        if start < 0:
            raise MultipartError("no boundary in body")
        pos = start + len(sep)
    parts = []
    while True:
        if body[pos:pos + 2] == b"--":
            return parts
        eol = body.find(b"\r\n", pos)
        if eol < 0 or body[pos:eol].strip(b" \t"):
            raise MultipartError("bad text after a boundary")
        pos = eol + 2
        end = body.find(sep, pos)
        if end < 0:
            raise MultipartError("no closing boundary")
        parts.append(parse_part(body[pos:end]))
        pos = end + len(sep)


def parse_part(raw):
    """One multipart part: name, filename, content type and data."""
    if raw.startswith(b"\r\n"):
        head, data = b"", raw[2:]
    else:
        split = raw.find(b"\r\n\r\n")
        if split < 0:
            raise MultipartError("part without a header end")
        head, data = raw[:split], raw[split + 4:]
    headers = {}
    for line in head.decode("utf-8", "surrogateescape").split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError("bad part header line")
        headers[name.strip().lower()] = value.strip()
    disposition, dparams = parse_header_value(
        headers.get("content-disposition", ""))
    if disposition != "form-data" or not dparams.get("name"):
        raise MultipartError("part without form-data name")
    filename = dparams.get("filename")
    if "filename*" in dparams:
        filename = rfc5987_decode(dparams["filename*"]) or filename
    return {"name": dparams["name"].lower(), "filename": filename,
            "content_type": headers.get("content-type", ""), "data": data}


# ---------------------------------------------------------------------------
# Replies

class Reply:
    """One HTTP answer: status, body, headers and a short code to record."""

    def __init__(self, status, body=b"", ctype=None, headers=None, code=None,
                 server="fake-aliyun"):
        """Keep the parts of the answer."""
        self.status = status
        self.body = body
        self.ctype = ctype
        self.headers = dict(headers or {})
        self.code = code
        self.server = server


def json_reply(status, obj, request_id, code=None):
    """JSON answer from the RPC side."""
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8",
                                                      "surrogateescape")
    return Reply(status, body, "application/json;charset=utf-8",
                 {"x-acs-request-id": request_id}, code)


def gateway_error(code, request_id, detail=""):
    """Gateway error body {RequestId, HostId, Code, Message} and status."""
    status, message = GATEWAY_ERRORS[code]
    return json_reply(status, {"RequestId": request_id,
                               "HostId": RPC_HOST_ID, "Code": code,
                               "Message": message.format(detail)},
                      request_id, code)


def old_error(name, request_id, detail=""):
    """Old workorder API error: HTTP 200 {success:false, code:-1xx}."""
    number, message = OLD_ERRORS[name]
    return json_reply(200, {"success": False, "code": number,
                            "message": message.format(detail),
                            "data": None}, request_id, str(number))


def old_success(data, request_id):
    """Old workorder API success body, with code as a string."""
    return json_reply(200, {"message": "successful", "data": data,
                            "code": "200", "success": True}, request_id,
                      "200")


def oss_error(status, code, message, request_id, host):
    """OSS XML error answer."""
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
            "  <Code>%s</Code>\n  <Message>%s</Message>\n"
            "  <RequestId>%s</RequestId>\n  <HostId>%s</HostId>\n</Error>\n"
            % (code, xml_escape(message), request_id, host))
    return Reply(status, body.encode("utf-8"), "application/xml",
                 {"x-oss-request-id": request_id}, code, "AliyunOSS")


def rpc_fault_reply(fault, request_id):
    """The RPC answer a fault mode stands for."""
    mode = fault["mode"]
    if mode == "system_busy":
        return old_error("SYSTEM_BUSY", request_id)
    if mode == "system_busy_alt":
        return json_reply(200, {"Success": "false", "Code": "SYSTEM_BUSY",
                                "Message": "the system is busy"},
                          request_id, "SYSTEM_BUSY")
    if mode == "illegal_auth":
        return old_error("ILLEGAL_AUTH", request_id)
    if mode == "illegal_param":
        return old_error("ILLEGAL_PARAM", request_id, fault["param"])
    if mode == "http500":
        return gateway_error("InternalError", request_id)
    if mode == "http503":
        return gateway_error("ServiceUnavailable", request_id)
    if mode == "throttling":
        return gateway_error("Throttling.User", request_id)
    if mode == "not_json":
        return Reply(200, NOT_JSON_BODY, "text/html", code="not_json")
    raise ValueError("no canned RPC reply for mode " + mode)


def oss_fault_reply(fault, request_id, host):
    """The OSS answer a fault mode stands for."""
    mode = fault["mode"]
    if mode in ("system_busy", "system_busy_alt", "throttling", "http503"):
        return oss_error(503, "ServiceUnavailable", "Please reduce your "
                         "request rate.", request_id, host)
    if mode == "illegal_auth":
        return oss_error(403, "AccessDenied", "You have no right to access "
                         "this object.", request_id, host)
    if mode == "illegal_param":
        return oss_error(400, "InvalidArgument", "Invalid argument: "
                         + fault["param"], request_id, host)
    if mode == "http500":
        return oss_error(500, "InternalError", "We encountered an internal "
                         "error. Please try again.", request_id, host)
    if mode == "expired":
        return oss_error(403, "AccessDenied", "Invalid according to Policy: "
                         "Policy expired.", request_id, host)
    if mode == "not_json":
        reply = Reply(502, NOT_JSON_BODY, "text/html", code="not_json")
        return reply
    raise ValueError("no canned OSS reply for mode " + mode)


# ---------------------------------------------------------------------------
# Settings and state

def default_settings():
    """Settings after start or reset."""
    return {"faults": [], "fail_every": 0, "fail_ratio": 0.0, "seed": None,
            "fail_mode": "http500", "fail_delay": 5.0,
            "fail_param": "content", "questionlist_shape": "example"}


def empty_state():
    """The whole recorded state after start or reset."""
    return {"tickets": [], "uploads": {}, "requests": [], "nonces": {},
            "counts": {"Add": 0, "getOSSTempAuthor": 0, "QuestionList": 0,
                       "oss": 0, "tickets_created": 0, "uploads": 0},
            "settings": default_settings(), "fail_counter": 0,
            "dir_seq": 0, "ticket_seq": 0, "rng": None}


def normalise_fault(fault):
    """Checked copy of one fault entry with defaults filled in."""
    if not isinstance(fault, dict):
        raise ValueError("each fault must be an object")
    unknown = set(fault) - {"target", "mode", "count", "delay", "param"}
    if unknown:
        raise ValueError("unknown fault keys: " + ", ".join(sorted(unknown)))
    target = fault.get("target", "*")
    mode = fault.get("mode")
    if target not in TARGETS:
        raise ValueError("bad fault target %r" % (target,))
    if mode not in MODES:
        raise ValueError("bad fault mode %r" % (mode,))
    if mode == "expired" and target not in ("oss", "*"):
        raise ValueError("mode expired applies to target oss only")
    count = fault.get("count", 1)
    delay = fault.get("delay", 5.0)
    param = fault.get("param", "content")
    if not isinstance(count, int) or isinstance(count, bool) or count < -1:
        raise ValueError("fault count must be an integer >= -1")
    if not isinstance(delay, (int, float)) or delay < 0:
        raise ValueError("fault delay must be a number >= 0")
    if not isinstance(param, str) or not param:
        raise ValueError("fault param must be a non-empty string")
    return {"target": target, "mode": mode, "count": count,
            "delay": float(delay), "param": param}


def check_settings(update):
    """Checked copy of a /_control object, or ValueError."""
    if not isinstance(update, dict):
        raise ValueError("control body must be a JSON object")
    unknown = set(update) - SETTING_KEYS
    if unknown:
        raise ValueError("unknown control keys: "
                         + ", ".join(sorted(unknown)))
    out = dict(update)
    if "faults" in out:
        if not isinstance(out["faults"], list):
            raise ValueError("faults must be a list")
        out["faults"] = [normalise_fault(f) for f in out["faults"]]
        out["faults"] = [f for f in out["faults"] if f["count"] != 0]
    every = out.get("fail_every", 0)
    if not isinstance(every, int) or isinstance(every, bool) or every < 0:
        raise ValueError("fail_every must be an integer >= 0")
    ratio = out.get("fail_ratio", 0.0)
    if not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise ValueError("fail_ratio must be a number in 0..1")
    if out.get("seed") is not None and not isinstance(out["seed"], int):
        raise ValueError("seed must be an integer")
    if out.get("fail_mode", "http500") not in MODES:
        raise ValueError("bad fail_mode")
    delay = out.get("fail_delay", 0)
    if not isinstance(delay, (int, float)) or delay < 0:
        raise ValueError("fail_delay must be a number >= 0")
    if not isinstance(out.get("fail_param", "x"), str):
        raise ValueError("fail_param must be a string")
    if out.get("questionlist_shape", "example") not in ("example", "table"):
        raise ValueError('questionlist_shape must be "example" or "table"')
    return out


def mode_applies(mode, target):
    """Whether a fault mode can hit a request of this target."""
    return mode != "expired" or target == "oss"


class State:
    """Tickets, uploads, requests, nonces, counters and faults, saved."""

    def __init__(self, path):
        """Load the state file if there is one."""
        self.path = path
        self.lock = threading.RLock()
        self.data = empty_state()
        self.rng = random.Random(0)
        if path and os.path.exists(path):
            with open(path, "rb") as handle:
                self.data = json.loads(handle.read().decode("utf-8"))
            base = empty_state()
            for key, value in base.items():
                self.data.setdefault(key, value)
            for key, value in base["counts"].items():
                self.data["counts"].setdefault(key, value)
            for key, value in base["settings"].items():
                self.data["settings"].setdefault(key, value)
            saved = self.data.get("rng")
            if saved:
                self.rng.setstate((saved[0], tuple(saved[1]), saved[2]))

    def save(self):
        """Write the state file, if any (caller holds the lock)."""
        if not self.path:
            return
        rng = self.rng.getstate()
        self.data["rng"] = [rng[0], list(rng[1]), rng[2]]
        write_atomic(self.path, json.dumps(self.data).encode("utf-8"))

    def reset(self):
        """Forget everything."""
        with self.lock:
            self.data = empty_state()
            self.rng = random.Random(0)
            self.save()

    def apply_settings(self, update):
        """Merge a checked /_control object into the settings."""
        with self.lock:
            settings = self.data["settings"]
            settings.update(update)
            if "fail_every" in update:
                self.data["fail_counter"] = 0
            if "seed" in update or "fail_ratio" in update:
                self.rng = random.Random(settings.get("seed") or 0)
            self.save()
            return json.loads(json.dumps(settings))

    def public(self):
        """The /_state view."""
        with self.lock:
            return {"tickets": self.data["tickets"],
                    "uploads": list(self.data["uploads"].values()),
                    "requests": self.data["requests"],
                    "counts": self.data["counts"],
                    "settings": self.data["settings"]}

    def record(self, entry):
        """Append one request record (caller holds the lock)."""
        requests = self.data["requests"]
        requests.append(entry)
        del requests[:-REQUESTS_KEPT]

    def use_nonce(self, nonce):
        """Remember a nonce; False if it was already used."""
        nonces = self.data["nonces"]
        now = time.time()
        if nonce in nonces:
            return False
        for old in [n for n, t in nonces.items() if now - t > NONCE_KEEP]:
            del nonces[old]
        nonces[nonce] = now
        return True

    def take_fault(self, target):
        """The fault for one authenticated request, consumed; or None."""
        settings = self.data["settings"]
        chosen = None
        for fault in settings["faults"]:
            if fault["target"] in (target, "*") and \
                    mode_applies(fault["mode"], target):
                if fault["count"] > 0:
                    fault["count"] -= 1
                chosen = dict(fault, source="fault")
                break
        settings["faults"] = [f for f in settings["faults"]
                              if f["count"] != 0]
        self.data["fail_counter"] += 1
        mode = settings["fail_mode"]
        generic = {"mode": mode, "delay": settings["fail_delay"],
                   "param": settings["fail_param"], "target": target}
        every = settings["fail_every"]
        if chosen is None and every and \
                self.data["fail_counter"] % every == 0 and \
                mode_applies(mode, target):
            chosen = dict(generic, source="fail_every")
        if chosen is None and settings["fail_ratio"] > 0 and \
                self.rng.random() < settings["fail_ratio"] and \
                mode_applies(mode, target):
            chosen = dict(generic, source="fail_ratio")
        return chosen


# ---------------------------------------------------------------------------
# The service (independent of HTTP plumbing)

class Service:
    """RPC and OSS behaviour on top of a State."""

    def __init__(self, config, state):
        """Keep the credentials and the state; port is set later."""
        self.config = config
        self.state = state
        self.port = 0
        self.log_lock = threading.Lock()

    # -- logging ----------------------------------------------------------

    def log(self, method, path, action, reply, fault, request_id, started):
        """One log line per request; no parameter values, no secrets."""
        if not self.config.log:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = reply.status if reply else "dropped"
        code = reply.code if reply and reply.code else "-"
        line = ("%s %s %s action=%s status=%s code=%s fault=%s rid=%s "
                "ms=%d\n" % (stamp, method, path,
                             re.sub(r"[^\w.-]", "?", action or "-")[:40],
                             status, code, fault or "-", request_id,
                             (time.time() - started) * 1000))
        with self.log_lock:
            with open(self.config.log, "a", encoding="utf-8") as handle:
                handle.write(line)

    # -- RPC --------------------------------------------------------------

    def check_common(self, method, params, request_id):
        """Gateway checks of A.1/A.2; an error Reply or None."""
        for name in COMMON_PARAMS:
            if not params.get(name):
                return gateway_error("MissingParameter", request_id, name)
        if params.get("Format", "JSON").upper() != "JSON":
            return gateway_error("InvalidParameter", request_id, "Format")
        if params["Version"] != API_VERSION:
            return gateway_error("InvalidVersion", request_id)
        if params["SignatureMethod"] != "HMAC-SHA1":
            return gateway_error("InvalidParameter", request_id,
                                 "SignatureMethod")
        if params["SignatureVersion"] != "1.0":
            return gateway_error("InvalidParameter", request_id,
                                 "SignatureVersion")
        stamp = parse_iso(params["Timestamp"], allow_fraction=False)
        if stamp is None:
            return gateway_error("InvalidTimeStamp.Format", request_id)
        if abs(time.time() - stamp) > TIMESTAMP_SKEW:
            return gateway_error("InvalidTimeStamp.Expired", request_id)
        if params["AccessKeyId"] != self.config.access_key_id:
            return gateway_error("InvalidAccessKeyId.NotFound", request_id)
        token = self.config.security_token
        if token and not params.get("SecurityToken"):
            return gateway_error("InvalidSecurityToken.Missing", request_id)
        if token and not hmac.compare_digest(
                to_bytes(params["SecurityToken"]), to_bytes(token)):
            return gateway_error(
                "InvalidSecurityToken.MismatchWithAccessKey", request_id)
        want = rpc_signature(method, params, self.config.access_key_secret)
        if not hmac.compare_digest(to_bytes(params["Signature"]),
                                   to_bytes(want)):
            return gateway_error("SignatureDoesNotMatch", request_id)
        if not self.state.use_nonce(params["SignatureNonce"]):
            return gateway_error("SignatureNonceUsed", request_id)
        return None

    def handle_rpc(self, method, params, request_id):
        """Answer one RPC request; returns (Reply or None to drop, fault)."""
        started = time.time()
        spelled = params.get("Action") or ""
        action = ACTIONS.get(spelled.lower())
        entry = {"time": round(started, 3), "path": "/", "action": spelled,
                 "status": None, "fault": None,
                 "params": mask_params(params)}
        with self.state.lock:
            if action:
                self.state.data["counts"][action] += 1
            self.state.record(entry)
            reply = self.check_common(method, params, request_id)
            fault = None
            if reply is None:
                fault = self.state.take_fault(action or "")
            if reply is not None or fault is None or \
                    fault["mode"] not in ("slow", "drop",
                                          "drop_after_create"):
                if reply is None and fault is not None:
                    reply = rpc_fault_reply(fault, request_id)
                elif reply is None:
                    reply = self.run_action(action, spelled, params,
                                            request_id, entry)
                return self.finish(entry, reply, fault, method, started)
            self.state.save()
        # slow or drop: outside the lock.
        entry["fault"] = fault["mode"]
        if fault["mode"] == "drop":
            return self.finish(entry, None, fault, method, started)
        if fault["mode"] == "slow":
            time.sleep(fault["delay"])
        with self.state.lock:
            reply = self.run_action(action, spelled, params, request_id,
                                    entry)
            if fault["mode"] == "drop_after_create":
                reply = None
            return self.finish(entry, reply, fault, method, started)

    def finish(self, entry, reply, fault, method, started):
        """Record the outcome of a request, save and log; return it."""
        with self.state.lock:
            entry["status"] = reply.status if reply else None
            entry["code"] = reply.code if reply else None
            entry["fault"] = fault["mode"] if fault else None
            self.state.save()
        rid = (reply.headers.get("x-acs-request-id")
               or reply.headers.get("x-oss-request-id")) if reply else "-"
        self.log(method, entry["path"], entry["action"], reply,
                 entry["fault"], rid or "-", started)
        return reply, fault

    def run_action(self, action, spelled, params, request_id, entry):
        """Dispatch an authenticated RPC action (caller holds the lock)."""
        if action == "Add":
            return self.action_add(spelled, params, request_id, entry)
        if action == "getOSSTempAuthor":
            return self.action_oss_author(request_id)
        if action == "QuestionList":
            return self.action_question_list(params, request_id)
        return gateway_error("InvalidAction.NotFound", request_id)

    def check_add(self, params, request_id):
        """Old-API validation of Add's parameters; a Reply or None."""
        product = params.get("productId", "")
        common_q = params.get("customerCommonQuestionId", "")
        if not product and not common_q:
            return old_error("ILLEGAL_PARAM_EMPTY", request_id, "productId")
        for name, value in (("productId", product),
                            ("customerCommonQuestionId", common_q)):
            if value and not is_integer(value):
                return old_error("ILLEGAL_PARAM", request_id, name)
        content = params.get("content", "")
        if not content.strip():
            return old_error("ILLEGAL_PARAM_EMPTY", request_id, "content")
        for name in ("content", "title"):
            if not is_valid_utf8(params.get(name, "")):
                return old_error("ILLEGAL_PARAM", request_id, name)
        uid = params.get("aliUid", "")
        if not uid:
            return old_error("ILLEGAL_PARAM_EMPTY", request_id, "aliUid")
        if not is_integer(uid):
            return old_error("ILLEGAL_PARAM", request_id, "aliUid")
        if self.config.ali_uid and uid != self.config.ali_uid:
            return old_error("ILLEGAL_AUTH", request_id)
        if "smsAlertTime" in params and \
                not re.fullmatch(r"\w+", params["smsAlertTime"]):
            return old_error("ILLEGAL_PARAM", request_id, "smsAlertTime")
        attachments = params.get("attachments", "")
        if attachments:
            keys = attachments.split(",")
            uploads = self.state.data["uploads"]
            if len(keys) > ATTACH_MAX_COUNT or \
                    any(k not in uploads for k in keys):
                return old_error("ILLEGAL_PARAM", request_id, "attachments")
        return None

    def action_add(self, spelled, params, request_id, entry):
        """Add: validate, then store a new ticket."""
        error = self.check_add(params, request_id)
        if error:
            return error
        tickets = self.state.data["tickets"]
        taken = {t["id"] for t in tickets}
        while True:
            ticket_id = "".join(secrets.choice(TICKET_ALPHABET)
                                for _ in range(10))
            if ticket_id not in taken:
                break
        self.state.data["ticket_seq"] += 1
        tickets.append({
            "id": ticket_id, "action": spelled, "add_time_ms": now_ms(),
            "seq": self.state.data["ticket_seq"],
            "question_status": "dealing",
            "params": {k: v for k, v in params.items()
                       if k not in SIGNING_PARAMS}})
        self.state.data["counts"]["tickets_created"] += 1
        entry["ticket"] = ticket_id
        return old_success(ticket_id, request_id)

    def action_oss_author(self, request_id):
        """getOSSTempAuthor: a fresh dir and a 2-minute signed policy."""
        self.state.data["dir_seq"] += 1
        upload_dir = "pop_temp%05d/" % (10000 + self.state.data["dir_seq"])
        expire = time.time() + POLICY_LIFETIME
        policy = json.dumps({
            "expiration": iso_millis(expire),
            "conditions": [["content-length-range", 0, ATTACH_MAX],
                           ["starts-with", "$key", upload_dir]]},
            separators=(",", ":"))
        policy_b64 = base64.b64encode(policy.encode()).decode("ascii")
        return old_success({
            "accessId": OSS_ACCESS_ID, "policy": policy_b64,
            "signature": oss_signature(policy_b64, self.config.oss_secret),
            "dir": upload_dir,
            "host": "http://127.0.0.1:%d/oss/" % self.port,
            "expire": str(int(expire))}, request_id)

    def action_question_list(self, params, request_id):
        """QuestionList: filter, sort newest first, page, and shape."""
        def pick(pascal):
            """A parameter in PascalCase or camelCase spelling, or ""."""
            camel = pascal[0].lower() + pascal[1:]
            return params.get(pascal) or params.get(camel) or ""

        def integers(name, text):
            """Comma-separated integers, or ValueError(name)."""
            items = [x.strip() for x in text.split(",") if x.strip()]
            if not all(is_integer(x) for x in items):
                raise ValueError(name)
            return items

        try:
            ids = [x.strip() for x in pick("Ids").split(",") if x.strip()]
            if len(ids) > 200:
                raise ValueError("ids")
            start = pick("AddStartTime")
            end = pick("AddEndTime")
            for name, value in (("addStartTime", start),
                                ("addEndTime", end)):
                if value and not is_integer(value):
                    raise ValueError(name)
            products = integers("productIds", pick("ProductIds"))
            size = pick("PageSize") or "20"
            page = pick("PageStart") or "1"
            if not is_integer(size) or not 20 <= int(size) <= 100:
                raise ValueError("pageSize")
            if not is_integer(page) or int(page) < 1:
                raise ValueError("pageStart")
        except ValueError as bad:
            return old_error("ILLEGAL_PARAM", request_id, str(bad))
        status = pick("QuestionStatus")
        found = []
        for ticket in self.state.data["tickets"]:
            p = ticket["params"]
            if (ids and ticket["id"] not in ids) or \
                    (start and ticket["add_time_ms"] < int(start)) or \
                    (end and ticket["add_time_ms"] > int(end)) or \
                    (products and p.get("productId") not in products) or \
                    (status and ticket["question_status"] != status):
                continue
            found.append(ticket)
        found.sort(key=lambda t: (t["add_time_ms"], t["seq"]), reverse=True)
        first = (int(page) - 1) * int(size)
        rows = [self.ticket_row(t) for t in found[first:first + int(size)]]
        if self.state.data["settings"]["questionlist_shape"] == "table":
            body = {"success": True, "code": 200, "message": "successful",
                    "data": [{"id": r[0], "productId": r[1], "title": r[2],
                              "uid": r[3], "questionStatus": r[4],
                              "addTime": r[5]} for r in rows],
                    "count": len(found)}
        else:
            body = {"Count": len(found), "ListResult": {"QuestionDetail": [
                {"Id": r[0], "Uid": r[3], "ProductId": r[1], "Title": r[2],
                 "QuestionStatus": r[4], "AddTime": r[5]} for r in rows]},
                "Message": "successful", "Success": True, "Code": "200"}
        return json_reply(200, body, request_id, "200")

    @staticmethod
    def ticket_row(ticket):
        """(id, productId, title, uid, status, addTime) of a ticket."""
        p = ticket["params"]
        title = p.get("title") or p.get("content", "")[:30]
        product = int(p["productId"]) if is_integer(p.get("productId")) \
            else None
        uid = int(p["aliUid"]) if is_integer(p.get("aliUid")) else None
        return (ticket["id"], product, title, uid,
                ticket["question_status"], ticket["add_time_ms"])

    # -- OSS ----------------------------------------------------------------

    def handle_oss(self, content_type, body, request_id):
        """Answer one PostObject upload; (Reply or None to drop, fault)."""
        started = time.time()
        host = "%s.127.0.0.1" % OSS_BUCKET
        entry = {"time": round(started, 3), "path": "/oss/",
                 "action": "oss", "status": None, "fault": None,
                 "params": {}}
        with self.state.lock:
            self.state.data["counts"]["oss"] += 1
            self.state.record(entry)
        try:
            parts = parse_multipart(body, content_type)
        except MultipartError:
            return self.finish(entry, oss_error(
                400, "MalformedPOSTRequest", "The body of your POST request "
                "is not well-formed multipart/form-data.", request_id, host),
                None, "POST", started)
        fields = {}
        for part in parts:
            if part["name"] != "file":
                fields.setdefault(part["name"], part["data"].decode(
                    "utf-8", "surrogateescape"))
        files = [p for p in parts if p["name"] == "file"]
        entry["params"] = mask_params(fields)
        if files:
            entry["params"]["file"] = {"filename": files[0]["filename"],
                                       "size": len(files[0]["data"]),
                                       "content_type":
                                           files[0]["content_type"]}
        reply = self.check_oss_auth(parts, fields, files, request_id, host)
        fault = None
        if reply is None:
            with self.state.lock:
                fault = self.state.take_fault("oss")
                self.state.save()
        if reply is None and fault is not None and \
                fault["mode"] not in ("slow", "drop", "drop_after_create"):
            reply = oss_fault_reply(fault, request_id, host)
        if reply is not None or (fault and fault["mode"] == "drop"):
            return self.finish(entry, reply, fault, "POST", started)
        if fault and fault["mode"] == "slow":
            time.sleep(fault["delay"])
        with self.state.lock:
            reply = self.store_upload(fields, files[0], request_id, host)
            if fault and fault["mode"] == "drop_after_create":
                reply = None
            return self.finish(entry, reply, fault, "POST", started)

    def check_oss_auth(self, parts, fields, files, request_id, host):
        """Form, access id and signature checks; an error Reply or None."""
        needed = ("key", "ossaccesskeyid", "policy", "signature")
        missing = [n for n in needed if n not in fields]
        if len(missing) == len(needed):
            return oss_error(403, "AccessDenied", "You have no right to "
                             "access this object because of bucket acl.",
                             request_id, host)
        if missing:
            return oss_error(400, "InvalidArgument", "Missing form field: "
                             + ", ".join(missing), request_id, host)
        if not files:
            return oss_error(400, "MalformedPOSTRequest", "The body of your "
                             "POST request is not well-formed "
                             "multipart/form-data: no file field.",
                             request_id, host)
        if len(files) > 1 or parts[-1]["name"] != "file":
            return oss_error(400, "InvalidArgument", "file must be the last "
                             "form field", request_id, host)
        if not files[0]["filename"]:
            return oss_error(400, "InvalidArgument", "The file field has no "
                             "filename.", request_id, host)
        if fields["ossaccesskeyid"] != OSS_ACCESS_ID:
            return oss_error(403, "InvalidAccessKeyId", "The OSS Access Key "
                             "Id you provided does not exist in our "
                             "records.", request_id, host)
        want = oss_signature(fields["policy"], self.config.oss_secret)
        if not hmac.compare_digest(to_bytes(fields["signature"]),
                                   to_bytes(want)):
            return oss_error(403, "SignatureDoesNotMatch", "The request "
                             "signature we calculated does not match the "
                             "signature you provided.", request_id, host)
        return None

    def check_policy(self, fields, key, size, request_id, host):
        """Policy document checks (C.2); (error Reply or None, prefix)."""
        try:
            policy = json.loads(base64.b64decode(fields["policy"],
                                                 validate=True))
            expires = parse_iso(policy["expiration"], allow_fraction=True)
            conditions = policy["conditions"]
            if expires is None or not isinstance(conditions, list):
                raise ValueError("bad policy")
        except (ValueError, KeyError, TypeError):
            return oss_error(400, "InvalidPolicyDocument", "Invalid Policy: "
                             "Invalid Simple-Json Format.", request_id,
                             host), ""
        if time.time() > expires:
            return oss_error(403, "AccessDenied", "Invalid according to "
                             "Policy: Policy expired.", request_id,
                             host), ""
        prefix = ""
        values = dict(fields, key=key, bucket=OSS_BUCKET)
        for cond in conditions:
            failed = False
            if isinstance(cond, dict):
                failed = any(values.get(k.lower().lstrip("$")) != v
                             for k, v in cond.items())
            elif isinstance(cond, list) and len(cond) == 3 and \
                    cond[0] == "content-length-range":
                if size > cond[2]:
                    return oss_error(400, "EntityTooLarge", "Your proposed "
                                     "upload exceeds the maximum allowed "
                                     "size.", request_id, host), ""
                if size < cond[1]:
                    return oss_error(400, "EntityTooSmall", "Your proposed "
                                     "upload is smaller than the minimum "
                                     "allowed size.", request_id, host), ""
            elif isinstance(cond, list) and len(cond) == 3 and \
                    cond[0] in ("starts-with", "eq"):
                have = values.get(str(cond[1]).lower().lstrip("$"), "")
                failed = not have.startswith(cond[2]) \
                    if cond[0] == "starts-with" else have != cond[2]
                if cond[0] == "starts-with" and cond[1] == "$key":
                    prefix = cond[2]
            if failed:
                return oss_error(403, "AccessDenied", "Invalid according to "
                                 "Policy: Policy Condition failed: "
                                 + json.dumps(cond, ensure_ascii=False),
                                 request_id, host), ""
        return None, prefix

    def store_upload(self, fields, file_part, request_id, host):
        """Check key and policy, store the upload, answer (lock held)."""
        data = file_part["data"]
        key = fields["key"].replace("${filename}", file_part["filename"])
        if not key or len(to_bytes(key)) > 1023 or not is_valid_utf8(key) \
                or key.startswith("/"):
            return oss_error(400, "InvalidObjectName", "The specified object "
                             "is not valid.", request_id, host)
        error, prefix = self.check_policy(fields, key, len(data),
                                          request_id, host)
        if error:
            return error
        md5 = hashlib.md5(data).hexdigest()
        uploads = self.state.data["uploads"]
        previous = uploads.get(key, {}).get("count", 0)
        uploads[key] = {"key": key, "size": len(data), "md5": md5,
                        "content_type": file_part["content_type"],
                        "filename": file_part["filename"], "dir": prefix,
                        "time": round(time.time(), 3),
                        "count": previous + 1}
        self.state.data["counts"]["uploads"] += 1
        etag = '"%s"' % md5.upper()
        headers = {"x-oss-request-id": request_id, "ETag": etag}
        status = fields.get("success_action_status", "")
        if status == "201":
            location = "http://127.0.0.1:%d/oss/%s" % (
                self.port, urllib.parse.quote(to_bytes(key)))
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
                    "<Bucket>%s</Bucket><Location>%s</Location><Key>%s</Key>"
                    "<ETag>%s</ETag></PostResponse>\n"
                    % (OSS_BUCKET, xml_escape(location), xml_escape(key),
                       xml_escape(etag)))
            return Reply(201, body.encode("utf-8"), "application/xml",
                         headers, "201", "AliyunOSS")
        return Reply(200 if status == "200" else 204, b"", None, headers,
                     "200" if status == "200" else "204", "AliyunOSS")


# ---------------------------------------------------------------------------
# HTTP plumbing

class BodyTooLarge(Exception):
    """The request body is larger than BODY_MAX."""


class Handler(BaseHTTPRequestHandler):
    """Routes requests to the Service and writes its replies."""

    protocol_version = "HTTP/1.1"
    timeout = 60
    server_name_value = "fake-aliyun"

    def version_string(self):
        """Server header: AliyunOSS for OSS answers."""
        return self.server_name_value

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        """Silence the default stderr access log."""

    def read_body(self):
        """The request body (Content-Length or chunked), bounded."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    return b"".join(chunks)
                total += size
                if total > BODY_MAX:
                    raise BodyTooLarge()
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length") or 0)
        if length > BODY_MAX:
            raise BodyTooLarge()
        return self.rfile.read(length) if length > 0 else b""

    def send(self, reply):
        """Write a Reply; None closes the connection without an answer."""
        if reply is None:
            self.close_connection = True
            return
        self.server_name_value = reply.server
        self.send_response(reply.status)
        if reply.ctype:
            self.send_header("Content-Type", reply.ctype)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def do_GET(self):
        """GET: RPC at /, state at /_state."""
        self.dispatch(b"")

    def do_POST(self):
        """POST: RPC at /, OSS at /oss/, control endpoints."""
        try:
            body = self.read_body()
        except (BodyTooLarge, ValueError):
            self.close_connection = True
            self.send(oss_error(400, "EntityTooLarge", "Request body too "
                                "large for this fake.", "-", "127.0.0.1"))
            return
        self.dispatch(body)

    def dispatch(self, body):
        """Route one request by path and method."""
        service = self.server.service
        path, _, query = self.path.partition("?")
        try:
            if path == "/":
                self.rpc(service, query, body)
            elif path in ("/oss", "/oss/") and self.command == "POST":
                rid = secrets.token_hex(12).upper()
                reply, _ = service.handle_oss(
                    self.headers.get("Content-Type", ""), body, rid)
                self.send(reply)
            elif path == "/_state" and self.command == "GET":
                self.send(self.control_reply(200, service.state.public()))
            elif path == "/_reset" and self.command == "POST":
                service.state.reset()
                self.send(self.control_reply(200, {"ok": True}))
            elif path == "/_control" and self.command == "POST":
                self.control(service, body)
            else:
                self.send(gateway_error("InvalidAction.NotFound",
                                        str(uuid.uuid4()).upper()))
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # report, answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            self.send(gateway_error("InternalError",
                                    str(uuid.uuid4()).upper()))

    def rpc(self, service, query, body):
        """Collect RPC parameters from query and form body, then answer."""
        request_id = str(uuid.uuid4()).upper()
        raw_query = query.encode("latin-1", "replace")
        pairs = self.form_pairs(raw_query)
        ctype = self.headers.get("Content-Type", "").lower()
        if body and ctype.startswith("application/x-www-form-urlencoded"):
            pairs += self.form_pairs(body)
        params = {}
        for name, value in pairs:
            if name in params:
                self.send(gateway_error("InvalidParameter", request_id,
                                        name))
                return
            params[name] = value
        reply, _ = service.handle_rpc(self.command, params, request_id)
        self.send(reply)

    @staticmethod
    def form_pairs(raw):
        """Name/value pairs of urlencoded bytes, keeping undecodable bytes."""
        return urllib.parse.parse_qsl(
            raw.decode("utf-8", "surrogateescape"), keep_blank_values=True,
            encoding="utf-8", errors="surrogateescape")

    def control(self, service, body):
        """POST /_control: merge checked settings."""
        try:
            update = check_settings(json.loads(body.decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as bad:
            self.send(self.control_reply(400, {"ok": False,
                                               "error": str(bad)}))
            return
        settings = service.state.apply_settings(update)
        self.send(self.control_reply(200, {"ok": True,
                                           "settings": settings}))

    @staticmethod
    def control_reply(status, obj):
        """JSON answer of the control endpoints."""
        return Reply(status, json.dumps(obj).encode("utf-8"),
                     "application/json")


class FakeServer(ThreadingHTTPServer):
    """Threaded HTTP server carrying the Service."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


# ---------------------------------------------------------------------------
# Commands

def cmd_serve(args):
    """Run the fake until SIGTERM or SIGINT."""
    self_check()
    state = State(args.state_file)
    service = Service(args, state)
    server = FakeServer(("127.0.0.1", args.port), Handler)
    server.service = service
    service.port = server.server_address[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    write_atomic(args.port_file, b"%d\n" % service.port)
    while not stop.wait(0.2):
        pass
    server.shutdown()
    server.server_close()
    try:
        with open(args.port_file, "rb") as handle:
            if handle.read().strip() == b"%d" % service.port:
                os.unlink(args.port_file)
    except OSError:
        pass
    return 0


def read_port(port_file):
    """The port named in the port file, or None."""
    try:
        with open(port_file, "rb") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def control_call(port, method, path, body=None, timeout=10):
    """One loopback request to the control endpoints, no proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                     data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with opener.open(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def cmd_ctl(args):
    """Talk to a running fake: set, reset, state or wait."""
    if args.verb == "wait":
        deadline = time.time() + 10
        while time.time() < deadline:
            port = read_port(args.port_file)
            if port:
                try:
                    control_call(port, "GET", "/_state", timeout=1)
                    return 0
                except (OSError, http.client.HTTPException):
                    pass
            time.sleep(0.05)
        print("fake_aliyun: no answer within 10 s", file=sys.stderr)
        return 1
    port = read_port(args.port_file)
    if not port:
        print("fake_aliyun: no port in %s" % args.port_file, file=sys.stderr)
        return 1
    try:
        if args.verb == "set":
            if len(args.json) != 1:
                print("fake_aliyun: set takes one JSON argument",
                      file=sys.stderr)
                return 2
            status, body = control_call(port, "POST", "/_control",
                                        args.json[0].encode("utf-8"))
        elif args.verb == "reset":
            status, body = control_call(port, "POST", "/_reset", b"")
        else:
            status, body = control_call(port, "GET", "/_state")
    except (OSError, http.client.HTTPException) as error:
        print("fake_aliyun: %s" % error, file=sys.stderr)
        return 1
    sys.stdout.write(body.decode("utf-8") + "\n")
    return 0 if status == 200 else 1


def main(argv=None):
    """Parse the command line and run a command."""
    parser = argparse.ArgumentParser(
        description="Fake Alibaba Cloud workorder API and OSS bucket.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the fake on 127.0.0.1")
    serve.add_argument("--port-file", required=True)
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--state-file")
    serve.add_argument("--access-key-id", default="LTAIfakeid")
    serve.add_argument("--access-key-secret", default="fakesecret")
    serve.add_argument("--security-token")
    serve.add_argument("--oss-secret", default="fakeosssecret")
    serve.add_argument("--ali-uid")
    serve.add_argument("--log")
    ctl = sub.add_parser("ctl", help="control a running fake")
    ctl.add_argument("--port-file", required=True)
    ctl.add_argument("verb", choices=("set", "reset", "state", "wait"))
    ctl.add_argument("json", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return cmd_serve(args)
    return cmd_ctl(args)


if __name__ == "__main__":
    sys.exit(main())

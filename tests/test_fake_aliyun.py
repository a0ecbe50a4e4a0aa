#!/usr/bin/env python3
"""Tests for tests/fake_aliyun.py, printed as TAP.

Starts the fake on a free loopback port in a subprocess (temporary port,
state and log files), talks to it with http.client and a request signer
written here independently of the fake's own, and checks the RPC gateway
checks, the Add/getOSSTempAuthor/QuestionList actions, every fault mode,
fail_every/fail_ratio, OSS PostObject uploads and their errors, state
kept across a restart, the ctl command and the log's discretion.

Usage: python3 tests/test_fake_aliyun.py     (exit 0 only if all pass)
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_aliyun.py")
AK_ID = "LTAIfakeid"
AK_SECRET = "fakesecret"
OSS_SECRET = "fakeosssecret"
CONTENT = "\u6d4b\u8bd5 content a*b~c"


# ---------------------------------------------------------------------------
# Helpers: the fake as a subprocess, signing, requests

class FakeProcess:
    """One fake_aliyun.py serve process with its own files."""

    def __init__(self, workdir, name, extra=()):
        """Remember paths and extra command-line arguments."""
        self.port_file = os.path.join(workdir, name + ".port")
        self.state_file = os.path.join(workdir, name + ".state")
        self.log_file = os.path.join(workdir, name + ".log")
        self.extra = list(extra)
        self.proc = None
        self.port = None

    def start(self):
        """Start the server and wait for its port file."""
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, "serve", "--port-file", self.port_file,
             "--state-file", self.state_file, "--log", self.log_file]
            + self.extra, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if os.path.exists(self.port_file):
                with open(self.port_file) as handle:
                    self.port = int(handle.read())
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("fake did not start")

    def stop(self):
        """SIGTERM the server and wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def enc(text):
    """RFC 3986 percent-encoding via urllib (space %20, * %2A, ~ kept)."""
    return urllib.parse.quote(text, safe="~")


def sign(method, params, secret=AK_SECRET):
    """V1 signature of PROTOCOLS.md A.2, written independently."""
    canonical = "&".join(enc(k) + "=" + enc(v)
                         for k, v in sorted(params.items()))
    to_sign = method + "&" + enc("/") + "&" + enc(canonical)
    digest = hmac.new((secret + "&").encode(), to_sign.encode(),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def common(action, **extra):
    """Common parameters of a fresh request plus extra ones."""
    params = {"Action": action, "Version": "2016-08-30", "Format": "JSON",
              "AccessKeyId": AK_ID, "SignatureMethod": "HMAC-SHA1",
              "SignatureVersion": "1.0", "SignatureNonce": str(uuid.uuid4()),
              "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                         time.gmtime())}
    params.update(extra)
    return params


def http_call(port, method, path, body=None, headers=None, timeout=10):
    """One HTTP request; returns (status, headers dict, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return (answer.status, {k.lower(): v for k, v in
                                answer.getheaders()}, answer.read())
    finally:
        conn.close()


def rpc(port, params, method="POST", secret=AK_SECRET, signature=None):
    """Signed RPC call; returns (status, headers, parsed JSON or bytes)."""
    params = dict(params)
    params["Signature"] = signature or sign(method, params, secret)
    encoded = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    if method == "GET":
        status, headers, body = http_call(port, "GET", "/?" + encoded)
    else:
        status, headers, body = http_call(
            port, "POST", "/", encoded.encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
    try:
        return status, headers, json.loads(body)
    except ValueError:
        return status, headers, body


def multipart(fields, boundary="----faketestboundary7MA4YWxk"):
    """Body and content type of a form; file fields are 4-tuples."""
    chunks = []
    for field in fields:
        chunks.append(b"--" + boundary.encode() + b"\r\n")
        if len(field) == 4:
            name, filename, ctype, data = field
            chunks.append(('Content-Disposition: form-data; name="%s"; '
                           'filename="%s"\r\nContent-Type: %s\r\n\r\n'
                           % (name, filename, ctype)).encode())
            chunks.append(data + b"\r\n")
        else:
            chunks.append(('Content-Disposition: form-data; name="%s"'
                           '\r\n\r\n%s\r\n' % field).encode())
    chunks.append(b"--" + boundary.encode() + b"--\r\n")
    return b"".join(chunks), "multipart/form-data; boundary=" + boundary


def oss_post(port, fields):
    """POST a form to the fake OSS; (status, headers, body)."""
    body, ctype = multipart(fields)
    return http_call(port, "POST", "/oss/", body, {"Content-Type": ctype})


def oss_fields(auth, key, data=b"hello", status=None, file_last=True,
               policy=None, signature=None):
    """PostObject fields from a getOSSTempAuthor answer."""
    fields = [("key", key), ("OSSAccessKeyId", auth["accessId"]),
              ("policy", policy or auth["policy"]),
              ("Signature", signature or auth["signature"])]
    if status:
        fields.append(("success_action_status", status))
    file_field = ("file", os.path.basename(key), "text/plain", data)
    return fields + [file_field] if file_last else [file_field] + fields


# ---------------------------------------------------------------------------
# The tests

WORKDIR = tempfile.TemporaryDirectory(prefix="fake_aliyun_test.")
SERVER = FakeProcess(WORKDIR.name, "main")


class FakeAliyunTest(unittest.TestCase):
    """Behaviour of the fake workorder API and OSS bucket."""

    def setUp(self):
        """Forget everything between tests."""
        self.assertEqual(self.control_raw("POST", "/_reset", b"")[0], 200)

    # -- small wrappers -------------------------------------------------

    @property
    def port(self):
        """Port of the shared server."""
        return SERVER.port

    def control_raw(self, method, path, body=None):
        """Call a control endpoint."""
        return http_call(self.port, method, path, body,
                         {"Content-Type": "application/json"})

    def control(self, **settings):
        """POST /_control with keyword settings; must succeed."""
        status, _, body = self.control_raw(
            "POST", "/_control", json.dumps(settings).encode())
        self.assertEqual(status, 200, body)

    def state(self):
        """GET /_state as JSON."""
        return json.loads(self.control_raw("GET", "/_state")[2])

    def add(self, method="POST", action="Add", **extra):
        """Signed Add with good defaults."""
        params = {"productId": "12", "content": CONTENT, "aliUid": "1018"}
        params.update(extra)
        params = {k: v for k, v in params.items() if v is not None}
        return rpc(self.port, common(action, **params), method)

    def author(self):
        """getOSSTempAuthor data."""
        status, _, body = rpc(self.port, common("getOSSTempAuthor"))
        self.assertEqual(status, 200)
        self.assertIs(body["success"], True)
        return body["data"]

    def assert_gateway(self, answer, status, code):
        """Check a gateway error answer."""
        self.assertEqual(answer[0], status, answer[2])
        self.assertEqual(answer[2]["Code"], code)
        self.assertEqual(answer[2]["HostId"], "workorder.aliyuncs.com")
        self.assertTrue(answer[2]["RequestId"])

    def assert_old_error(self, answer, number, message):
        """Check an old-API error answer (HTTP 200)."""
        self.assertEqual(answer[0], 200)
        self.assertEqual(answer[2], {"success": False, "code": number,
                                     "message": message, "data": None})

    # -- signing and the gateway ------------------------------------------

    def test_signer_matches_documented_vectors(self):
        """The test's own signer reproduces V2-1 and V2-X."""
        v21 = {"AccessKeyId": "testid", "Action": "DescribeRegions",
               "Format": "XML", "SignatureMethod": "HMAC-SHA1",
               "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
               "SignatureVersion": "1.0",
               "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}
        self.assertEqual(sign("GET", v21, "testsecret"),
                         "OLeaidS1JvxuMvnyHOwuJ+uX5qY=")
        v2x = {"AccessKeyId": "testid", "Action": "Add", "Format": "JSON",
               "SignatureMethod": "HMAC-SHA1",
               "SignatureNonce": "00000000-0000-0000-0000-000000000001",
               "SignatureVersion": "1.0",
               "Timestamp": "2024-01-02T03:04:05Z", "Version": "2016-08-30",
               "productId": "12", "content": "\u6d4b\u8bd5 a*b~c",
               "aliUid": "1018"}
        self.assertEqual(sign("GET", v2x, "testsecret"),
                         "VKlIkUpAZViGUQgEOK36T9bN7E8=")

    def test_add_good(self):
        """Add creates a ticket and answers the documented shape."""
        status, headers, body = self.add(title="T", smsAlertTime="normal")
        self.assertEqual(status, 200)
        self.assertEqual(set(body), {"message", "data", "code", "success"})
        self.assertEqual((body["message"], body["code"], body["success"]),
                         ("successful", "200", True))
        self.assertRegex(body["data"], r"^[A-Z0-9]{10}$")
        self.assertIn("application/json", headers["content-type"])
        state = self.state()
        self.assertEqual(len(state["tickets"]), 1)
        ticket = state["tickets"][0]
        self.assertEqual(ticket["id"], body["data"])
        self.assertEqual(ticket["action"], "Add")
        self.assertEqual(ticket["params"],
                         {"productId": "12", "content": CONTENT,
                          "aliUid": "1018", "title": "T",
                          "smsAlertTime": "normal"})
        self.assertAlmostEqual(ticket["add_time_ms"] / 1000, time.time(),
                               delta=5)
        self.assertEqual(state["counts"]["Add"], 1)
        self.assertEqual(state["counts"]["tickets_created"], 1)
        self.assertEqual(state["requests"][0]["params"]["Signature"], "***")

    def test_add_lowercase_get_and_unique_ids(self):
        """Action "add" by GET works, its spelling is recorded."""
        ids = set()
        for _ in range(5):
            status, _, body = self.add(method="GET", action="add")
            self.assertEqual(status, 200, body)
            ids.add(body["data"])
        self.assertEqual(len(ids), 5)
        self.assertEqual({t["action"] for t in self.state()["tickets"]},
                         {"add"})

    def test_query_and_body_union(self):
        """Parameters split between query and body are signed together."""
        params = common("Add", productId="12", content=CONTENT,
                        aliUid="1018")
        params["Signature"] = sign("POST", params)
        query = {k: params.pop(k) for k in ("Action", "Signature",
                                            "Timestamp")}
        status, _, body = http_call(
            self.port, "POST", "/?" + urllib.parse.urlencode(query),
            urllib.parse.urlencode(params).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, body)
        self.assertIs(json.loads(body)["success"], True)

    def test_bad_signature(self):
        """A wrong secret or a tampered value gives SignatureDoesNotMatch."""
        self.assert_gateway(rpc(self.port, common("Add"), secret="wrong"),
                            400, "SignatureDoesNotMatch")
        params = common("Add", productId="12", content="x", aliUid="1")
        good = sign("POST", params)
        params["content"] = "y"
        self.assert_gateway(rpc(self.port, params, signature=good),
                            400, "SignatureDoesNotMatch")
        params = common("Add", productId="12", content="x", aliUid="1")
        self.assert_gateway(rpc(self.port, params, method="GET",
                                signature=sign("POST", params)),
                            400, "SignatureDoesNotMatch")
        self.assertEqual(self.state()["tickets"], [])

    def test_nonce_reuse(self):
        """A reused SignatureNonce gives SignatureNonceUsed."""
        params = common("Add", productId="12", content="x", aliUid="1")
        self.assertEqual(rpc(self.port, params)[0], 200)
        self.assert_gateway(rpc(self.port, params), 400,
                            "SignatureNonceUsed")
        self.assertEqual(len(self.state()["tickets"]), 1)

    def test_timestamp_expired_and_malformed(self):
        """Timestamps off by 16 minutes or badly written are refused."""
        for offset in (-16 * 60, 16 * 60):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                  time.gmtime(time.time() + offset))
            self.assert_gateway(rpc(self.port, common("Add",
                                                      Timestamp=stamp)),
                                400, "InvalidTimeStamp.Expired")
        for stamp in ("2024-01-02 03:04:05", "2024-13-02T03:04:05Z",
                      "2024-01-02T03:04:05.123Z"):
            self.assert_gateway(rpc(self.port, common("Add",
                                                      Timestamp=stamp)),
                                400, "InvalidTimeStamp.Format")

    def test_missing_parameter_named(self):
        """Each missing common parameter is named in MissingParameter."""
        for name in ("Version", "AccessKeyId", "SignatureNonce",
                     "Timestamp"):
            params = common("Add")
            del params[name]
            answer = rpc(self.port, params)
            self.assert_gateway(answer, 400, "MissingParameter")
            self.assertIn('"%s"' % name, answer[2]["Message"])
        status, _, body = http_call(self.port, "GET", "/?Action=Add")
        self.assertEqual((status, json.loads(body)["Code"]),
                         (400, "MissingParameter"))

    def test_gateway_other_errors(self):
        """Unknown key, bad version, XML format, unknown action."""
        self.assert_gateway(rpc(self.port, common("Add", AccessKeyId="x")),
                            404, "InvalidAccessKeyId.NotFound")
        self.assert_gateway(rpc(self.port, common("Add",
                                                  Version="2021-06-10")),
                            400, "InvalidVersion")
        self.assert_gateway(rpc(self.port, common("Add", Format="XML")),
                            400, "InvalidParameter")
        self.assert_gateway(rpc(self.port, common("CreateTicket")),
                            404, "InvalidAction.NotFound")

    def test_add_parameter_errors(self):
        """Old-API errors for Add's own parameters."""
        bad = "illegal parameter, param is "
        cases = [
            ({"productId": None}, -104, "productId must not be null or "
                                        "empty"),
            ({"productId": "abc"}, -101, bad + "productId"),
            ({"content": ""}, -104, "content must not be null or empty"),
            ({"aliUid": "10x"}, -101, bad + "aliUid"),
            ({"aliUid": None}, -104, "aliUid must not be null or empty"),
            ({"smsAlertTime": ""}, -101, bad + "smsAlertTime"),
            ({"attachments": "a,b,c,d"}, -101, bad + "attachments"),
            ({"attachments": "pop_temp1/never.txt"}, -101,
             bad + "attachments"),
        ]
        for extra, number, message in cases:
            with self.subTest(extra=extra):
                self.assert_old_error(self.add(**extra), number, message)
        ok = self.add(productId=None, customerCommonQuestionId="77")
        self.assertIs(ok[2]["success"], True)

    def test_add_invalid_utf8(self):
        """Content that is not UTF-8 gives ILLEGAL_PARAM content."""
        params = common("Add", productId="12", aliUid="1")
        raw = dict(params)
        raw["content"] = "\udcff\udcfe"            # bytes FF FE
        signature = rpc_signature_bytes(raw)
        body = (urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
                + "&content=%FF%FE&Signature="
                + urllib.parse.quote(signature, safe=""))
        status, _, answer = http_call(
            self.port, "POST", "/", body.encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assert_old_error((status, None, json.loads(answer)), -101,
                              "illegal parameter, param is content")

    # -- faults ------------------------------------------------------------

    def fault_once(self, mode, **fault):
        """Set one fault on Add and make an Add."""
        self.control(faults=[dict(target="Add", mode=mode, **fault)])
        return self.add()

    def assert_next_add_ok(self):
        """The fault is consumed: the next Add succeeds."""
        self.assertIs(self.add()[2]["success"], True)

    def test_fault_system_busy(self):
        """system_busy: HTTP 200 old-API -153, no ticket."""
        self.assert_old_error(self.fault_once("system_busy"), -153,
                              "the system is busy")
        self.assertEqual(self.state()["tickets"], [])
        self.assert_next_add_ok()

    def test_fault_system_busy_alt(self):
        """system_busy_alt: PascalCase string-typed body."""
        status, _, body = self.fault_once("system_busy_alt")
        self.assertEqual(status, 200)
        self.assertEqual((body["Success"], body["Code"], body["Message"]),
                         ("false", "SYSTEM_BUSY", "the system is busy"))
        self.assert_next_add_ok()

    def test_fault_illegal_auth(self):
        """illegal_auth: -121."""
        answer = self.fault_once("illegal_auth")
        self.assertEqual((answer[0], answer[2]["code"],
                          answer[2]["success"]), (200, -121, False))
        self.assert_next_add_ok()

    def test_fault_illegal_param(self):
        """illegal_param names the configured parameter."""
        self.assert_old_error(self.fault_once("illegal_param",
                                              param="title"), -101,
                              "illegal parameter, param is title")
        self.assert_next_add_ok()

    def test_fault_http500(self):
        """http500: gateway InternalError."""
        self.assert_gateway(self.fault_once("http500"), 500,
                            "InternalError")
        self.assert_next_add_ok()

    def test_fault_http503(self):
        """http503: gateway ServiceUnavailable."""
        self.assert_gateway(self.fault_once("http503"), 503,
                            "ServiceUnavailable")
        self.assert_next_add_ok()

    def test_fault_throttling(self):
        """throttling: HTTP 400 Throttling.User."""
        self.assert_gateway(self.fault_once("throttling"), 400,
                            "Throttling.User")
        self.assert_next_add_ok()

    def test_fault_not_json(self):
        """not_json: HTTP 200 with an HTML page."""
        status, headers, body = self.fault_once("not_json")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"<html><body>502 Bad Gateway</body></html>")
        self.assertIn("text/html", headers["content-type"])
        self.assert_next_add_ok()

    def test_fault_slow(self):
        """slow: answers normally after the delay."""
        started = time.time()
        answer = self.fault_once("slow", delay=0.5)
        self.assertGreaterEqual(time.time() - started, 0.5)
        self.assertIs(answer[2]["success"], True)
        self.assertEqual(len(self.state()["tickets"]), 1)

    def test_fault_drop(self):
        """drop: connection closed, nothing done."""
        self.control(faults=[{"target": "Add", "mode": "drop"}])
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.add()
        state = self.state()
        self.assertEqual(state["tickets"], [])
        self.assertEqual(state["requests"][-1]["fault"], "drop")
        self.assertIsNone(state["requests"][-1]["status"])
        self.assert_next_add_ok()

    def test_fault_drop_after_create(self):
        """drop_after_create: ticket stored, answer lost."""
        self.control(faults=[{"target": "Add", "mode": "drop_after_create"}])
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.add()
        state = self.state()
        self.assertEqual(len(state["tickets"]), 1)
        self.assertEqual(state["counts"]["tickets_created"], 1)

    def test_fault_drop_after_create_oss(self):
        """drop_after_create on oss: upload stored, answer lost."""
        auth = self.author()
        self.control(faults=[{"target": "oss", "mode": "drop_after_create"}])
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            oss_post(self.port, oss_fields(auth, auth["dir"] + "a.txt"))
        self.assertEqual([u["key"] for u in self.state()["uploads"]],
                         [auth["dir"] + "a.txt"])

    def test_fault_expired(self):
        """expired: OSS policy-expired AccessDenied for a fresh policy."""
        auth = self.author()
        self.control(faults=[{"target": "oss", "mode": "expired"}])
        status, headers, body = oss_post(
            self.port, oss_fields(auth, auth["dir"] + "a.txt"))
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        self.assertIn(b"Policy expired.", body)
        self.assertEqual(headers["server"], "AliyunOSS")
        self.assertEqual(self.state()["uploads"], [])
        status, _, _ = oss_post(self.port,
                                oss_fields(auth, auth["dir"] + "a.txt"))
        self.assertEqual(status, 204)

    def test_fault_count_target_and_order(self):
        """Counts, list order, targets and -1 (until reset)."""
        self.control(faults=[
            {"target": "QuestionList", "mode": "http500", "count": -1},
            {"target": "Add", "mode": "system_busy", "count": 2},
            {"target": "*", "mode": "http503"}])
        self.assertEqual(self.add()[2]["code"], -153)
        self.assertEqual(rpc(self.port, common("getOSSTempAuthor"))[0], 503)
        self.assertEqual(self.add()[2]["code"], -153)
        self.assertIs(self.add()[2]["success"], True)
        for _ in range(3):
            self.assertEqual(rpc(self.port, common("QuestionList"))[0], 500)
        self.assertEqual(len(self.state()["settings"]["faults"]), 1)

    def test_fault_not_used_by_bad_request(self):
        """A badly signed request does not consume a fault."""
        self.control(faults=[{"target": "Add", "mode": "http500"}])
        self.assertEqual(rpc(self.port, common("Add"), secret="x")[0], 400)
        self.assertEqual(self.add()[0], 500)

    def test_fail_every(self):
        """fail_every 3: every 3rd request fails, OSS uploads included."""
        self.control(fail_every=3)
        codes = [rpc(self.port, common("getOSSTempAuthor"))[0]
                 for _ in range(3)]
        self.assertEqual(codes, [200, 200, 500])
        auth = self.author()
        fields = oss_fields(auth, auth["dir"] + "a")
        self.assertEqual(oss_post(self.port, fields)[0], 204)
        status, _, body = oss_post(self.port, fields)
        self.assertEqual(status, 500)
        self.assertIn(b"<Code>InternalError</Code>", body)
        self.control(fail_every=2, fail_mode="system_busy")
        self.assertIs(self.add()[2]["success"], True)
        self.assertEqual(self.add()[2]["code"], -153)
        self.control(fail_every=0)
        self.assertIs(self.add()[2]["success"], True)

    def test_fail_ratio_seeded(self):
        """fail_ratio 1 fails all, 0.5 with a seed is repeatable."""
        self.control(fail_ratio=1.0, seed=7, fail_mode="http503")
        self.assertEqual(rpc(self.port, common("QuestionList"))[0], 503)

        def run():
            """Twelve QuestionLists under a 0.5 ratio seeded 42."""
            self.control(fail_ratio=0.5, seed=42)
            return [rpc(self.port, common("QuestionList"))[0]
                    for _ in range(12)]
        first, second = run(), run()
        self.assertEqual(first, second)
        self.assertEqual(set(first), {200, 503})

    def test_control_rejects_bad_settings(self):
        """Unknown keys, modes and targets are refused with 400."""
        for body in ({"nonsense": 1}, {"faults": [{"mode": "boom"}]},
                     {"faults": [{"target": "Add", "mode": "expired"}]},
                     {"questionlist_shape": "round"}, [1]):
            status, _, _ = self.control_raw("POST", "/_control",
                                            json.dumps(body).encode())
            self.assertEqual(status, 400, body)

    # -- QuestionList ------------------------------------------------------

    def make_tickets(self):
        """Three tickets with distinct products; ids oldest first."""
        ids = []
        for product in ("12", "13", "12"):
            ids.append(self.add(productId=product,
                                content="c" * 40 + product)[2]["data"])
            time.sleep(0.002)
        return ids

    def test_questionlist_example_shape(self):
        """Default shape, newest first, filters in both spellings."""
        ids = self.make_tickets()
        status, _, body = rpc(self.port, common("QuestionList"))
        self.assertEqual(status, 200)
        self.assertEqual((body["Count"], body["Success"], body["Code"],
                          body["Message"]), (3, True, "200", "successful"))
        rows = body["ListResult"]["QuestionDetail"]
        self.assertEqual([r["Id"] for r in rows], ids[::-1])
        self.assertEqual(rows[0]["Title"], "c" * 30)
        self.assertEqual(set(rows[0]), {"Id", "Uid", "ProductId", "Title",
                                        "QuestionStatus", "AddTime"})
        self.assertEqual((rows[1]["ProductId"], rows[1]["Uid"],
                          rows[1]["QuestionStatus"]), (13, 1018, "dealing"))
        body = rpc(self.port, common("QuestionList", ProductIds="12"))[2]
        self.assertEqual(body["Count"], 2)
        body = rpc(self.port, common("questionlist",
                                     ids=ids[1] + "," + ids[2]))[2]
        self.assertEqual([r["Id"] for r in
                          body["ListResult"]["QuestionDetail"]],
                         [ids[2], ids[1]])
        later = str(rows[0]["AddTime"] + 1)
        body = rpc(self.port, common("QuestionList", AddStartTime=later))[2]
        self.assertEqual(body["Count"], 0)
        answer = rpc(self.port, common("QuestionList", PageSize="10"))
        self.assert_old_error(answer, -101,
                              "illegal parameter, param is pageSize")

    def test_questionlist_table_shape(self):
        """Table shape when questionlist_shape is "table"."""
        ids = self.make_tickets()
        self.control(questionlist_shape="table")
        status, _, body = rpc(self.port, common("QuestionList",
                                                pageSize="20",
                                                pageStart="1"))
        self.assertEqual(status, 200)
        self.assertEqual((body["success"], body["code"], body["count"]),
                         (True, 200, 3))
        self.assertEqual([r["id"] for r in body["data"]], ids[::-1])
        self.assertEqual(set(body["data"][0]),
                         {"id", "productId", "title", "uid",
                          "questionStatus", "addTime"})
        body = rpc(self.port, common("QuestionList", pageStart="2"))[2]
        self.assertEqual((body["count"], body["data"]), (3, []))

    # -- OSS ------------------------------------------------------------------

    def test_oss_author_shape(self):
        """getOSSTempAuthor: fields, fresh dir, signed 2-minute policy."""
        first, second = self.author(), self.author()
        self.assertNotEqual(first["dir"], second["dir"])
        self.assertRegex(first["dir"], r"^pop_temp\d{5}/$")
        self.assertEqual(first["host"], "http://127.0.0.1:%d/oss/"
                         % self.port)
        policy = json.loads(base64.b64decode(first["policy"]))
        self.assertEqual(policy["conditions"],
                         [["content-length-range", 0, 2097152],
                          ["starts-with", "$key", first["dir"]]])
        self.assertRegex(policy["expiration"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertAlmostEqual(int(first["expire"]), time.time() + 120,
                               delta=5)
        expected = base64.b64encode(hmac.new(
            OSS_SECRET.encode(), first["policy"].encode(),
            hashlib.sha1).digest()).decode()
        self.assertEqual(first["signature"], expected)

    def test_oss_upload_good(self):
        """Uploads answer 204/200/201, record size/MD5, count repeats."""
        auth = self.author()
        key = auth["dir"] + "report.txt"
        data = b"attachment bytes\r\n--not a boundary\r\n"
        status, headers, body = oss_post(self.port,
                                         oss_fields(auth, key, data))
        md5 = hashlib.md5(data).hexdigest()
        self.assertEqual((status, body), (204, b""))
        self.assertEqual(headers["etag"], '"%s"' % md5.upper())
        self.assertEqual(headers["server"], "AliyunOSS")
        self.assertTrue(headers["x-oss-request-id"])
        status, _, body = oss_post(self.port, oss_fields(auth, key, data,
                                                         status="200"))
        self.assertEqual((status, body), (200, b""))
        status, _, body = oss_post(self.port, oss_fields(auth, key, data,
                                                         status="201"))
        self.assertEqual(status, 201)
        self.assertIn(("<Key>%s</Key>" % key).encode(), body)
        self.assertIn(b"<PostResponse>", body)
        state = self.state()
        self.assertEqual(len(state["uploads"]), 1)
        upload = state["uploads"][0]
        self.assertEqual((upload["key"], upload["size"], upload["md5"],
                          upload["filename"], upload["dir"],
                          upload["count"]),
                         (key, len(data), md5, "report.txt", auth["dir"], 3))
        self.assertEqual(state["counts"]["uploads"], 3)
        self.assertEqual(state["counts"]["oss"], 3)
        answer = self.add(attachments=key)
        self.assertIs(answer[2]["success"], True)
        self.assertEqual(self.add(attachments=",".join([key] * 4))[2]["code"],
                         -101)

    def test_oss_expired_policy(self):
        """A signed but expired policy gives AccessDenied Policy expired."""
        auth = self.author()
        policy = base64.b64encode(json.dumps({
            "expiration": "2020-01-01T00:00:00.000Z",
            "conditions": [["starts-with", "$key", auth["dir"]]]}).encode()
        ).decode()
        signature = base64.b64encode(hmac.new(
            OSS_SECRET.encode(), policy.encode(), hashlib.sha1).digest()
        ).decode()
        status, _, body = oss_post(self.port, oss_fields(
            auth, auth["dir"] + "x", policy=policy, signature=signature))
        self.assertEqual(status, 403)
        self.assertIn(b"Invalid according to Policy: Policy expired.", body)

    def test_oss_too_large(self):
        """2097153 bytes give EntityTooLarge; 2097152 are accepted."""
        auth = self.author()
        key = auth["dir"] + "big.bin"
        status, _, body = oss_post(self.port, oss_fields(
            auth, key, b"x" * 2097153))
        self.assertEqual(status, 400)
        self.assertIn(b"<Code>EntityTooLarge</Code>", body)
        status, _, _ = oss_post(self.port, oss_fields(auth, key,
                                                      b"x" * 2097152))
        self.assertEqual(status, 204)

    def test_oss_key_outside_dir(self):
        """A key outside the dir fails the starts-with condition."""
        auth = self.author()
        status, _, body = oss_post(self.port, oss_fields(auth, "other/a"))
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        self.assertIn(('Policy Condition failed: ["starts-with", "$key", '
                       '"%s"]' % auth["dir"]).encode(), body)

    def test_oss_file_not_last(self):
        """file before the other fields is refused."""
        auth = self.author()
        status, _, body = oss_post(self.port, oss_fields(
            auth, auth["dir"] + "a", file_last=False))
        self.assertEqual(status, 400)
        self.assertIn(b"file must be the last form field", body)

    def test_oss_form_and_signature_errors(self):
        """Missing fields, wrong access id, bad signature, bad body."""
        auth = self.author()
        key = auth["dir"] + "a"
        fields = oss_fields(auth, key)
        status, _, body = oss_post(self.port, [fields[0], fields[-1]])
        self.assertEqual(status, 400)
        self.assertIn(b"InvalidArgument", body)
        status, _, body = oss_post(self.port, fields[-1:])
        self.assertEqual(status, 403)
        self.assertIn(b"AccessDenied", body)
        status, _, body = oss_post(self.port, oss_fields(
            auth, key, signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
        self.assertEqual(status, 403)
        self.assertIn(b"SignatureDoesNotMatch", body)
        lower = [(n.lower(), v) for n, v in fields[:-1]] + [fields[-1]]
        self.assertEqual(oss_post(self.port, lower)[0], 204)
        status, _, body = http_call(self.port, "POST", "/oss/", b"junk", {
            "Content-Type": "multipart/form-data; boundary=zz"})
        self.assertEqual(status, 400)
        self.assertIn(b"MalformedPOSTRequest", body)

    # -- persistence, options, tools ---------------------------------------

    def test_state_survives_restart(self):
        """Tickets, uploads, nonces and faults survive a restart."""
        params = common("Add", productId="12", content="x", aliUid="1")
        ticket = rpc(self.port, params)[2]["data"]
        auth = self.author()
        oss_post(self.port, oss_fields(auth, auth["dir"] + "kept"))
        self.control(faults=[{"target": "Add", "mode": "http503"}])
        SERVER.stop()
        SERVER.start()
        state = self.state()
        self.assertEqual([t["id"] for t in state["tickets"]], [ticket])
        self.assertEqual([u["key"] for u in state["uploads"]],
                         [auth["dir"] + "kept"])
        self.assert_gateway(rpc(self.port, params), 400,
                            "SignatureNonceUsed")
        self.assertEqual(self.add()[0], 503)
        self.assertNotEqual(self.author()["dir"], auth["dir"])

    def test_security_token_and_ali_uid(self):
        """--security-token and --ali-uid are enforced."""
        other = FakeProcess(WORKDIR.name, "sts", [
            "--access-key-id", "STS.fakeid", "--access-key-secret", "s2",
            "--security-token", "tok3n", "--ali-uid", "555"])
        other.start()
        try:
            base = {"AccessKeyId": "STS.fakeid", "productId": "1",
                    "content": "x"}
            answer = rpc(other.port, common("Add", aliUid="555", **base),
                         secret="s2")
            self.assert_gateway(answer, 400, "InvalidSecurityToken.Missing")
            answer = rpc(other.port, common("Add", aliUid="555",
                                            SecurityToken="bad", **base),
                         secret="s2")
            self.assertEqual(answer[2]["Code"],
                             "InvalidSecurityToken.MismatchWithAccessKey")
            answer = rpc(other.port, common("Add", aliUid="556",
                                            SecurityToken="tok3n", **base),
                         secret="s2")
            self.assertEqual(answer[2]["code"], -121)
            answer = rpc(other.port, common("Add", aliUid="555",
                                            SecurityToken="tok3n", **base),
                         secret="s2")
            self.assertIs(answer[2]["success"], True)
            state = json.loads(http_call(other.port, "GET", "/_state")[2])
            self.assertEqual(state["requests"][-1]["params"]
                             ["SecurityToken"], "***")
        finally:
            other.stop()
        with open(other.log_file) as handle:
            self.assertNotIn("tok3n", handle.read())

    def test_log_has_no_secrets(self):
        """The log has one line per request and no secret or signature."""
        params = common("Add", productId="12", content="secret-ish",
                        aliUid="1")
        signature = sign("POST", params)
        rpc(self.port, params)
        rpc(self.port, common("Add"), secret="wrong")
        auth = self.author()
        oss_post(self.port, oss_fields(auth, auth["dir"] + "f"))
        with open(SERVER.log_file) as handle:
            log = handle.read()
        for secret in (AK_SECRET, OSS_SECRET, signature, auth["signature"],
                       "secret-ish"):
            self.assertNotIn(secret, log)
        self.assertRegex(log, r"action=Add status=400 "
                              r"code=SignatureDoesNotMatch")

    def test_ctl_commands(self):
        """ctl set/state/reset/wait work against the running server."""
        def ctl(*words):
            """Run fake_aliyun.py ctl with these words."""
            return subprocess.run(
                [sys.executable, FAKE, "ctl", "--port-file",
                 SERVER.port_file] + list(words), capture_output=True,
                text=True, timeout=20)
        self.assertEqual(ctl("wait").returncode, 0)
        done = ctl("set", json.dumps({"questionlist_shape": "table"}))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.add()
        shown = json.loads(ctl("state").stdout)
        self.assertEqual(shown["settings"]["questionlist_shape"], "table")
        self.assertEqual(len(shown["tickets"]), 1)
        self.assertEqual(ctl("set", '{"bogus": 1}').returncode, 1)
        self.assertEqual(ctl("reset").returncode, 0)
        self.assertEqual(json.loads(ctl("state").stdout)["tickets"], [])


def rpc_signature_bytes(params):
    """Signature over parameters that may hold raw bytes (surrogates)."""
    def enc_bytes(text):
        """Percent-encode the original bytes of a parameter."""
        return urllib.parse.quote_from_bytes(
            text.encode("utf-8", "surrogateescape"), safe="~")
    canonical = "&".join(enc_bytes(k) + "=" + enc_bytes(v)
                         for k, v in sorted(params.items()))
    to_sign = "POST&%2F&" + enc(canonical)
    return base64.b64encode(hmac.new((AK_SECRET + "&").encode(),
                                     to_sign.encode(),
                                     hashlib.sha1).digest()).decode()


# ---------------------------------------------------------------------------
# TAP runner

class TapResult(unittest.TestResult):
    """Prints one TAP line per test, with diagnostics for failures."""

    def __init__(self):
        """Start numbering at 1."""
        super().__init__()
        self.number = 0
        self.problems = []

    def startTest(self, test):
        """Reset the per-test problem list."""
        super().startTest(test)
        self.problems = []

    def note(self, err):
        """Keep a formatted failure."""
        self.problems.append("".join(traceback.format_exception(*err)))

    def addFailure(self, test, err):
        """Record a failed assertion."""
        super().addFailure(test, err)
        self.note(err)

    def addError(self, test, err):
        """Record an unexpected exception."""
        super().addError(test, err)
        self.note(err)

    def addSubTest(self, test, subtest, err):
        """Record a failed sub-test."""
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.note(err)

    def stopTest(self, test):
        """Print the TAP line."""
        super().stopTest(test)
        self.number += 1
        name = test.id().rsplit(".", 1)[-1].replace("test_", "", 1)
        status = "not ok" if self.problems else "ok"
        print("%s %d - %s" % (status, self.number, name), flush=True)
        for problem in self.problems:
            for line in problem.rstrip().splitlines():
                print("# " + line)


def main():
    """Run every test against a fresh fake; exit 1 on any failure."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(FakeAliyunTest)
    print("1..%d" % suite.countTestCases(), flush=True)
    result = TapResult()
    try:
        SERVER.start()
        suite.run(result)
    finally:
        SERVER.stop()
        WORKDIR.cleanup()
    return 0 if result.wasSuccessful() and \
        result.testsRun == suite.countTestCases() else 1


if __name__ == "__main__":
    sys.exit(main())

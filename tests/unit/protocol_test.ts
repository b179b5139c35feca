import assert from "node:assert/strict";
import { ImError } from "../../src/errors.ts";
import {
  CloseCode,
  Code,
  codeMessage,
  echoKey,
  encodePush,
  encodeReply,
  entryFrame,
  entryFramePrefix,
  nextPushSeq,
  normaliseKeys,
  parseRequest,
} from "../../src/protocol.ts";

/** The ImError thrown by parseRequest(text). */
function parseError(text: string): ImError {
  try {
    parseRequest(text);
  } catch (error) {
    assert.ok(error instanceof ImError, String(error));
    return error;
  }
  return assert.fail(`parsed: ${text}`);
}

Deno.test("protocol: a well-formed request parses; absent or null data is {}", () => {
  assert.deepEqual(parseRequest('{"seq":"1","cmd":"ping"}'), { seq: "1", cmd: "ping", data: {} });
  assert.deepEqual(parseRequest('{"seq":"","cmd":"x","data":null}').data, {});
  const req = parseRequest(
    '{"seq":"1565336219141-266129","cmd":"login","data":{"userId":"alice","appId":101}}',
  );
  assert.equal(req.seq, "1565336219141-266129");
  assert.deepEqual(req.data, { userId: "alice", appId: 101 });
});

Deno.test("protocol: every malformed kind is 1001", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /not valid JSON/],
    ["not json", /not valid JSON/],
    ["{", /not valid JSON/],
    ['{"seq":"1",}', /not valid JSON/],
    ["[]", /JSON object/],
    ['[{"seq":"1","cmd":"ping"}]', /JSON object/],
    ["42", /JSON object/],
    ['"str"', /JSON object/],
    ["null", /JSON object/],
    ["true", /JSON object/],
    ['{"cmd":"ping"}', /seq must be a string/],
    ['{"seq":1,"cmd":"ping"}', /seq must be a string/],
    ['{"seq":null,"cmd":"ping"}', /seq must be a string/],
    ['{"seq":["1"],"cmd":"ping"}', /seq must be a string/],
    ['{"seq":"1"}', /cmd must be a string/],
    ['{"seq":"1","cmd":7}', /cmd must be a string/],
    ['{"seq":"1","cmd":{}}', /cmd must be a string/],
    ['{"seq":"1","cmd":"login","data":[]}', /data must be an object/],
    ['{"seq":"1","cmd":"login","data":"x"}', /data must be an object/],
    ['{"seq":"1","cmd":"login","data":5}', /data must be an object/],
    ['{"seq":"1","cmd":"login","data":false}', /data must be an object/],
  ];
  for (const [text, message] of cases) {
    const error = parseError(text);
    assert.equal(error.code, Code.ParameterIllegal, text);
    assert.match(error.message, message, text);
  }
});

Deno.test("protocol: errors carry the seq/cmd parsed so far, for the reply", () => {
  assert.deepEqual(parseError('{"seq":"s1","cmd":3}').options, { seq: "s1" });
  assert.deepEqual(parseError('{"seq":"s1","cmd":"c","data":[]}').options, { seq: "s1", cmd: "c" });
  assert.deepEqual(parseError("[]").options, {});
});

Deno.test("protocol: userID/appID/msgID are read as userId/appId/msgId", () => {
  const data = parseRequest('{"seq":"1","cmd":"login","data":{"userID":"bob","appID":102,"msgID":"m"}}').data;
  assert.deepEqual(data, { userId: "bob", appId: 102, msgId: "m" });
  // When both spellings are present the canonical one wins.
  assert.deepEqual(normaliseKeys({ userId: "a", userID: "b" }), { userId: "a" });
  // Objects without aliases are returned as they are.
  const plain = { userId: "a" };
  assert.equal(normaliseKeys(plain), plain);
  // Lookalikes are not aliases.
  assert.deepEqual(normaliseKeys({ userid: "x", USERID: "y" }), { userid: "x", USERID: "y" });
});

Deno.test("protocol: echoKey answers in the spelling the client used", () => {
  const upper = parseRequest('{"seq":"1","cmd":"login","data":{"userID":"bob","appID":102}}').data;
  assert.equal(echoKey(upper, "userId"), "userID");
  assert.equal(echoKey(upper, "appId"), "appID");
  assert.equal(echoKey(upper, "msgId"), "msgId");
  const lower = parseRequest('{"seq":"1","cmd":"login","data":{"userId":"bob","appId":102}}').data;
  assert.equal(echoKey(lower, "userId"), "userId");
  assert.equal(echoKey(lower, "appId"), "appId");
  const mixed = parseRequest('{"seq":"1","cmd":"login","data":{"userId":"bob","appID":102}}').data;
  assert.equal(echoKey(mixed, "userId"), "userId");
  assert.equal(echoKey(mixed, "appId"), "appID");
});

Deno.test("protocol: encodeReply has the Go envelope shape and key order", () => {
  const text = encodeReply("1565336219141-266129", "login", Code.Success, null);
  assert.equal(
    text,
    '{"seq":"1565336219141-266129","cmd":"login","response":{"code":200,"codeMsg":"Success","data":null}}',
  );
  const err = JSON.parse(encodeReply("", "", Code.ParameterIllegal, { error: "x" }));
  assert.deepEqual(err, {
    seq: "",
    cmd: "",
    response: { code: 1001, codeMsg: "Parameter illegal", data: { error: "x" } },
  });
  assert.equal(JSON.parse(encodeReply("a", "b", 200, "pong", "custom")).response.codeMsg, "custom");
});

Deno.test("protocol: encodePush uses code 200, codeMsg Ok and a fresh server seq", () => {
  const a = JSON.parse(encodePush("msg", { target: "", type: "text", msg: "hello", from: "alice" }));
  const b = JSON.parse(encodePush("msg", {}));
  assert.equal(a.cmd, "msg");
  assert.deepEqual(a.response, {
    code: 200,
    codeMsg: "Ok",
    data: { target: "", type: "text", msg: "hello", from: "alice" },
  });
  assert.equal(typeof a.seq, "string");
  assert.notEqual(a.seq, b.seq);
  assert.notEqual(nextPushSeq(), nextPushSeq());
  assert.equal(JSON.parse(encodePush("kick", null, "fixed")).seq, "fixed");
});

Deno.test("protocol: entry frames equal a plain JSON encoding with the recipient's seq", () => {
  const e = { msgId: 'm"1', from: "a", to: "b", target: "", type: "text", msg: "hé\n\u2028", time: 5 };
  const frame = JSON.parse(entryFrame(entryFramePrefix(e), 42));
  assert.deepEqual(frame, {
    seq: 'm"1',
    cmd: "msg",
    response: { code: 200, codeMsg: "Ok", data: { ...e, seq: 42 } },
  });
});

Deno.test("protocol: every code has a message; close codes are distinct and in range", () => {
  for (const code of Object.values(Code)) assert.notEqual(codeMessage(code), "Unknown", String(code));
  assert.equal(codeMessage(12345), "Unknown");
  assert.equal(new Set(Object.values(Code)).size, Object.values(Code).length);
  const closes = Object.values(CloseCode);
  assert.equal(new Set(closes).size, closes.length);
  for (const c of closes) assert.ok((c >= 1000 && c < 1016) || (c >= 4000 && c < 5000), String(c));
});

Deno.test("protocol: docs/PROTOCOL.md documents every code, close code and command", async () => {
  const { createRouter } = await import("../../src/server.ts");
  const doc = await Deno.readTextFile(new URL("../../docs/PROTOCOL.md", import.meta.url));
  for (const code of Object.values(Code)) assert.match(doc, new RegExp(`^\\| ${code} `, "m"), `code ${code}`);
  const closeSection = doc.slice(doc.indexOf("## 4. WebSocket close codes"), doc.indexOf("## 5. Commands"));
  for (const close of Object.values(CloseCode)) {
    assert.match(closeSection, new RegExp(`^\\| ${close} `, "m"), `close ${close}`);
  }
  for (const cmd of createRouter().commands) assert.ok(doc.includes(`\`${cmd}\``), `command ${cmd}`);
});

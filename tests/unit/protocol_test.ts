import assert from "node:assert/strict";
import { messageCommands } from "../../src/commands/messages.ts";
import { roomCommands } from "../../src/commands/rooms.ts";
import { sessionCommands } from "../../src/commands/session.ts";
import { CloseCode, Code, codeMessage } from "../../src/protocol/codes.ts";
import {
  echoKey,
  encodeReply,
  MalformedRequest,
  normaliseKeys,
  parseRequest,
  withEchoKey,
} from "../../src/protocol/envelope.ts";
import { entryFrame, entryFramePrefix, Pushes } from "../../src/protocol/pushes.ts";
import type { ReplyError } from "../../src/protocol/errors.ts";
import { userIdField } from "../../src/protocol/validate.ts";
import { testConfig } from "../support/helpers.ts";

/** The MalformedRequest thrown by parseRequest(text). */
function parseError(text: string): MalformedRequest {
  try {
    parseRequest(text);
  } catch (error) {
    assert.ok(error instanceof MalformedRequest, String(error));
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

Deno.test("protocol: a lone surrogate anywhere in a request is 1001; pairs and plain escapes are fine", () => {
  const bad = [
    '{"seq":"1","cmd":"login","data":{"userId":"\\ud800x"}}',
    '{"seq":"1","cmd":"sendMsg","data":{"to":"bob","msg":"a \\uDC00 b"}}',
    '{"seq":"1","cmd":"x","data":{"deep":[[[{"k":"\\udbff"}]]]}}',
    '{"seq":"1","cmd":"x","data":{"\\ud800":1}}',
    '{"seq":"\\ud800","cmd":"ping"}',
  ];
  for (const text of bad) {
    const error = parseError(text);
    assert.equal(error.code, Code.ParameterIllegal, text);
    assert.match(error.message, /valid Unicode/, text);
  }
  assert.equal(parseError(bad[0]).seq, "1");
  assert.equal(parseError(bad[4]).seq, "", "a seq that is not well-formed is not echoed");
  const ok = parseRequest('{"seq":"1","cmd":"sendMsg","data":{"to":"bob","msg":"\\ud83d\\ude00 \\u00e9"}}');
  assert.equal(ok.data.msg, "\u{1F600} \u00e9");
  // deep nesting cannot exhaust the stack of the walk
  const deep = "[".repeat(20_000) + '"\\ud800"' + "]".repeat(20_000);
  assert.match(parseError(`{"seq":"1","cmd":"x","data":{"a":${deep}}}`).message, /valid Unicode/);
});

Deno.test("protocol: ids refuse C1 control characters and lone surrogates", () => {
  for (const id of ["a\u0085b", "a\u009fb", "\ud800x"]) {
    assert.throws(() => userIdField({ userId: id }, "userId", 19), (e: ReplyError) => e.code === 1002, id);
  }
  assert.equal(userIdField({ userId: "\u00e9\u{1F600}" }, "userId", 19), "\u00e9\u{1F600}");
});

Deno.test("protocol: errors carry the seq/cmd parsed so far, for the reply", () => {
  const a = parseError('{"seq":"s1","cmd":3}');
  assert.deepEqual([a.seq, a.cmd], ["s1", ""]);
  const b = parseError('{"seq":"s1","cmd":"c","data":[]}');
  assert.deepEqual([b.seq, b.cmd], ["s1", "c"]);
  const c = parseError("[]");
  assert.deepEqual([c.seq, c.cmd], ["", ""]);
});

Deno.test("protocol: userID/appID/msgID are read as userId/appId/msgId", () => {
  const data = parseRequest('{"seq":"1","cmd":"login","data":{"userID":"bob","appID":102,"msgID":"m"}}').data;
  assert.deepEqual(data, { userId: "bob", appId: 102, msgId: "m" });
  // When both spellings are present the canonical one wins.
  assert.deepEqual(normaliseKeys({ userId: "a", userID: "b" }).data, { userId: "a" });
  // Objects without aliases are returned as they are.
  const plain = { userId: "a" };
  assert.equal(normaliseKeys(plain).data, plain);
  assert.equal(normaliseKeys(plain).spellings, undefined);
  // Lookalikes are not aliases.
  assert.deepEqual(normaliseKeys({ userid: "x", USERID: "y" }).data, { userid: "x", USERID: "y" });
});

Deno.test("protocol: echoKey answers in the spelling the client used", () => {
  const upper = parseRequest('{"seq":"1","cmd":"login","data":{"userID":"bob","appID":102}}');
  assert.equal(echoKey(upper, "userId"), "userID");
  assert.equal(echoKey(upper, "appId"), "appID");
  assert.equal(echoKey(upper, "msgId"), "msgId");
  const lower = parseRequest('{"seq":"1","cmd":"login","data":{"userId":"bob","appId":102}}');
  assert.equal(echoKey(lower, "userId"), "userId");
  assert.equal(echoKey(lower, "appId"), "appId");
  const mixed = parseRequest('{"seq":"1","cmd":"login","data":{"userId":"bob","appID":102}}');
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

Deno.test("protocol: pushes use code 200, codeMsg Ok, a fresh server seq and the Go fields", () => {
  const pushes = new Pushes();
  const a = JSON.parse(pushes.enter("alice"));
  const b = JSON.parse(pushes.exit("alice"));
  assert.equal(a.cmd, "enter");
  assert.deepEqual(a.response, {
    code: 200,
    codeMsg: "Ok",
    data: { target: "", type: "enter", msg: "", from: "alice" },
  });
  assert.deepEqual(b.response.data, { target: "", type: "exit", msg: "", from: "alice" });
  assert.equal(typeof a.seq, "string");
  assert.notEqual(a.seq, b.seq);
  assert.notEqual(pushes.nextSeq(), pushes.nextSeq());
  assert.deepEqual(JSON.parse(pushes.kick("x")).response.data, {
    target: "",
    type: "kick",
    msg: "x",
    from: "",
  });
  const gap = JSON.parse(pushes.gap(0, 4, 3));
  assert.deepEqual([gap.seq, gap.cmd, gap.response.code], ["", "sync", 1016]);
  assert.deepEqual(JSON.parse(pushes.presence({ enter: ["a"], exit: [], truncated: 0 })).response.data, {
    enter: ["a"],
    exit: [],
    truncated: 0,
  });
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
  for (const c of closes as number[]) {
    assert.ok((c >= 1000 && c < 1016) || (c >= 4000 && c < 5000), String(c));
  }
});

Deno.test("protocol: docs/PROTOCOL.md documents every code, close code and command", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/PROTOCOL.md", import.meta.url));
  for (const code of Object.values(Code)) assert.match(doc, new RegExp(`^\\| ${code} `, "m"), `code ${code}`);
  const closeSection = doc.slice(doc.indexOf("## 4. WebSocket close codes"), doc.indexOf("## 5. Commands"));
  for (const close of Object.values(CloseCode)) {
    assert.match(closeSection, new RegExp(`^\\| ${close} `, "m"), `close ${close}`);
  }
  // The route tables only close over their dependencies: building them with none lists the commands.
  const commands = [sessionCommands, messageCommands, roomCommands].flatMap((f) =>
    Object.keys(f({ config: testConfig() } as never))
  );
  assert.ok(commands.length > 10);
  for (const cmd of commands) assert.ok(doc.includes(`\`${cmd}\``), `command ${cmd}`);
});

Deno.test("protocol: withEchoKey renames the echoed key only when the client used the alias, keeping key order", () => {
  const upper = parseRequest('{"seq":"1","cmd":"recallMsg","data":{"msgID":"m"}}');
  assert.deepEqual(Object.entries(withEchoKey(upper, "msgId", { msgId: "m", at: 1 })), [["msgID", "m"], [
    "at",
    1,
  ]]);
  const lower = parseRequest('{"seq":"1","cmd":"recallMsg","data":{"msgId":"m"}}');
  const data = { msgId: "m", at: 1 };
  assert.equal(withEchoKey(lower, "msgId", data), data, "no copy when nothing is renamed");
  assert.deepEqual(withEchoKey(upper, "msgId", { at: 1 }), { at: 1 });
});

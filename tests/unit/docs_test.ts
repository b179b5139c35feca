/**
 * The README's configuration reference lists every key of the schema with its environment
 * variable and default, so the docs cannot drift from the code.
 * @module
 */
import assert from "node:assert/strict";
import { type FieldSpec, SCHEMA } from "../../src/config/schema.ts";
import { envName } from "../../src/config/load.ts";

Deno.test("README: the config reference has every key with its env variable and default", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const rows = new Map<string, string>();
  for (const line of readme.split("\n")) {
    const key = line.match(/^\| `([a-zA-Z]+\.[a-zA-Z]+)`/)?.[1];
    if (key) rows.set(key, line);
  }
  for (const [section, fields] of Object.entries(SCHEMA)) {
    for (const [key, spec] of Object.entries(fields as Record<string, FieldSpec>)) {
      const row = rows.get(`${section}.${key}`);
      assert.ok(row, `README lacks a row for ${section}.${key}`);
      assert.ok(row.includes(`\`${envName(section, key)}\``), `${section}.${key}: env name`);
      const d = Array.isArray(spec.default) ? `[${spec.default.join(", ")}]` : JSON.stringify(spec.default);
      assert.ok(row.includes(`\`${d}\``), `${section}.${key}: default ${d} in ${row}`);
      rows.delete(`${section}.${key}`);
    }
  }
  assert.deepEqual([...rows.keys()], [], "README rows for keys the schema does not have");
});

/**
 * Writes the README's configuration reference (between `<!-- config-table -->` and
 * `<!-- /config-table -->`) from the schema, so the docs cannot drift from the code:
 * `deno run --allow-read=README.md --allow-write=README.md tests/support/config_table.ts`.
 * tests/unit/docs_test.ts checks that the README holds exactly this table.
 * @module
 */
import { type FieldSpec, SCHEMA } from "../../src/config/schema.ts";
import { envName } from "../../src/config/load.ts";

/** The markdown table of every configuration key. */
export function configTable(): string {
  const rows = [["key", "env", "default", "meaning"]];
  for (const [section, fields] of Object.entries(SCHEMA)) {
    for (const [key, spec] of Object.entries(fields as Record<string, FieldSpec>)) {
      const d = Array.isArray(spec.default) ? `[${spec.default.join(", ")}]` : JSON.stringify(spec.default);
      const values = spec.type === "enum" ? ` (${spec.values.join(" \\| ")})` : "";
      rows.push([
        `\`${section}.${key}\``,
        `\`${envName(section, key)}\``,
        `\`${d}\``,
        spec.doc.replaceAll("|", "\\|") + values,
      ]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(rows[0]), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.slice(1).map(line)]
    .join("\n");
}

/** `readme` with its config table replaced. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf("<!-- config-table -->");
  const end = readme.indexOf("<!-- /config-table -->");
  if (start < 0 || end < start) throw new Error("README has no <!-- config-table --> markers");
  return `${readme.slice(0, start)}<!-- config-table -->\n\n${configTable()}\n\n${readme.slice(end)}`;
}

if (import.meta.main) {
  const path = new URL("../../README.md", import.meta.url);
  await Deno.writeTextFile(path, withConfigTable(await Deno.readTextFile(path)));
}

/**
 * The Prometheus histogram of src/ops/metrics.ts: cumulative buckets, `+Inf`, `_sum`, `_count`.
 * @module
 */
import assert from "node:assert/strict";
import { Metrics } from "../../src/ops/metrics.ts";

Deno.test("histogram: cumulative buckets, +Inf, sum and count in the text format", () => {
  const m = new Metrics();
  const h = m.histogram("im_test_ms", "A test histogram", [1, 5, 10]);
  assert.equal(m.histogram("im_test_ms", "again", [2]), h, "the same name gives the same histogram");
  for (const v of [0.5, 1, 3, 7, 20]) h.observe(v);
  assert.equal(h.count, 5);
  assert.equal(h.sum, 31.5);
  const text = m.render();
  for (
    const line of [
      "# HELP im_test_ms A test histogram",
      "# TYPE im_test_ms histogram",
      'im_test_ms_bucket{le="1"} 2',
      'im_test_ms_bucket{le="5"} 3',
      'im_test_ms_bucket{le="10"} 4',
      'im_test_ms_bucket{le="+Inf"} 5',
      "im_test_ms_sum 31.5",
      "im_test_ms_count 5",
    ]
  ) assert.ok(text.split("\n").includes(line), `${line}\n${text}`);
  assert.equal(h.quantile(0.5), 5, "the median lies in the (1, 5] bucket: its upper bound");
  assert.equal(h.quantile(1), Infinity);
  assert.equal(new Metrics().histogram("x", "x", [1]).quantile(0.99), 0, "empty: 0");
});

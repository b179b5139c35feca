// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/admin_test.ts.
/**
 * The console's live charts, drawn by uPlot (served by the server at /admin/uplot.js, a classic script
 * that defines `uPlot`): connections, messages in/out and inbox appends, drops by reason with
 * slow-consumer closes, store p50/p99 and memory. {@linkcode SampleHistory} keeps the samples the page
 * has (at most the server's ring capacity) and merges each poll's new ones.
 *
 * @example
 * ```js
 * const history = new SampleHistory();
 * history.merge(await api.get("/series", { since: history.last }));
 * const charts = new Charts(document.getElementById("charts"));
 * charts.update(history);
 * ```
 */

/** @typedef {{ interval: number, capacity: number, t: number[], series: Record<string, (number | null)[]>, drops: Record<string, (number | null)[]> }} SeriesReply */

const COLORS = ["#2f6fed", "#1a7f37", "#b54708", "#b42318", "#7a5af8", "#0e9384", "#c11574", "#667085"];
const MB = 1 / (1024 * 1024);

/** @type {Array<{ id: string, title: string, series?: Array<[string, string]>, scale?: number, empty?: string }>} */
const CHARTS = [
  {
    id: "connections",
    title: "Connections",
    series: [["connections", "open"], ["loggedIn", "logged in"], ["users", "users"]],
  },
  {
    id: "messages",
    title: "Messages per second",
    series: [["msgsIn", "in (accepted)"], ["msgsOut", "out (live pushes)"], ["deliveries", "inbox appends"]],
  },
  { id: "drops", title: "Drops by reason and slow-consumer closes per second" },
  {
    id: "store",
    title: "Store latency (ms)",
    series: [["storeP50", "p50"], ["storeP99", "p99"]],
    empty: "This store reports no latency (the memory store answers in-process).",
  },
  { id: "memory", title: "Memory (MB)", series: [["rss", "RSS"], ["heapUsed", "heap used"]], scale: MB },
];

/** The samples the page holds, oldest first. */
export class SampleHistory {
  constructor() {
    /** @type {number[]} */
    this.t = [];
    /** @type {Record<string, (number | null)[]>} */
    this.series = {};
    /** @type {Record<string, (number | null)[]>} */
    this.drops = {};
    this.capacity = 600;
  }

  /** Time of the newest sample (ms), 0 before any: the next poll's `since`. */
  get last() {
    return this.t.length ? this.t[this.t.length - 1] : 0;
  }

  /** @param {SeriesReply} reply samples after {@linkcode last} */
  merge(reply) {
    this.capacity = reply.capacity;
    const before = this.t.length;
    this.t.push(...reply.t);
    for (const [name, values] of Object.entries(reply.series)) {
      (this.series[name] ??= new Array(before).fill(null)).push(...values);
    }
    for (const [reason, values] of Object.entries(reply.drops)) {
      (this.drops[reason] ??= new Array(before).fill(0)).push(...values);
    }
    for (const values of Object.values(this.drops)) {
      while (values.length < this.t.length) values.push(0);
    }
    const extra = this.t.length - this.capacity;
    if (extra > 0) {
      this.t.splice(0, extra);
      for (const a of [...Object.values(this.series), ...Object.values(this.drops)]) a.splice(0, extra);
    }
  }
}

/** The chart panels in a container. */
export class Charts {
  /** @param {HTMLElement} container */
  constructor(container) {
    this.container = container;
    /** @type {Map<string, { plot: any, key: string, note: HTMLElement, box: HTMLElement }>} */
    this.plots = new Map();
    globalThis.addEventListener("resize", () => this.#resize());
  }

  /** Redraw every chart from `history`. @param {SampleHistory} history */
  update(history) {
    const x = history.t.map((t) => t / 1000);
    for (const def of CHARTS) {
      /** @type {Array<[string, (number | null)[]]>} */
      const lines = def.series
        ? def.series.map(([name, label]) => [label, scaled(history.series[name] ?? [], def.scale)])
        : [
          ["slow-consumer closes", history.series.slowCloses ?? []],
          ...Object.entries(history.drops).map((
            [reason, v],
          ) => /** @type {[string, number[]]} */ ([reason, v])),
        ];
      const key = lines.map(([label]) => label).join("|");
      let panel = this.plots.get(def.id);
      if (panel && panel.key !== key) {
        panel.plot.destroy();
        panel.box.remove();
        panel = undefined;
      }
      if (!panel) panel = this.#create(def, lines, key);
      panel.plot.setData([x, ...lines.map(([, v]) => v)]);
      const blank = lines.every(([, v]) => v.every((n) => n === null));
      panel.note.textContent = blank && def.empty ? def.empty : "";
    }
  }

  /**
   * @param {{ id: string, title: string }} def
   * @param {Array<[string, (number | null)[]]>} lines
   * @param {string} key
   */
  #create(def, lines, key) {
    const uPlot = /** @type {any} */ (globalThis).uPlot;
    const box = document.createElement("figure");
    box.className = "chart";
    box.dataset.chart = def.id;
    const title = document.createElement("figcaption");
    title.textContent = def.title;
    const note = document.createElement("p");
    note.className = "chart-note";
    box.append(title, note);
    this.#insert(box, def.id);
    const plot = new uPlot(
      {
        width: width(box),
        height: 180,
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          y: {
            range: (
              /** @type {any} */ _u,
              /** @type {number} */ _min,
              /** @type {number} */ max,
            ) => [0, Math.max(1, max * 1.1)],
          },
        },
        series: [
          {},
          ...lines.map(([label], i) => ({
            label,
            stroke: COLORS[i % COLORS.length],
            width: 1.5,
            spanGaps: false,
          })),
        ],
        axes: [{}, { size: 50 }],
      },
      [[], ...lines.map(() => [])],
      box,
    );
    const panel = { plot, key, note, box };
    this.plots.set(def.id, panel);
    return panel;
  }

  /** Keep the panels in the order of CHARTS. @param {HTMLElement} box @param {string} id */
  #insert(box, id) {
    const order = CHARTS.map((c) => c.id);
    const next = [...this.container.children].find((el) =>
      order.indexOf(/** @type {HTMLElement} */ (el).dataset.chart ?? "") > order.indexOf(id)
    );
    this.container.insertBefore(box, next ?? null);
  }

  #resize() {
    for (const { plot, box } of this.plots.values()) plot.setSize({ width: width(box), height: 180 });
  }
}

/** The plot width that fits a panel (its padding is 0.5rem on each side). @param {HTMLElement} box */
function width(box) {
  return Math.max(200, (box.clientWidth || 600) - 16);
}

/**
 * @param {(number | null)[]} values
 * @param {number | undefined} factor
 */
function scaled(values, factor) {
  if (!factor) return values;
  return values.map((v) => v === null ? null : Math.round(v * factor * 10) / 10);
}

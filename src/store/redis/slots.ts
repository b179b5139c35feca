/**
 * Redis Cluster hash slots, computed here as Redis does (CRC16/XMODEM of the key's hash tag, mod 16384),
 * so a batch can be split into one script call per slot before it is sent, and a key can be made to land
 * in a given slot (the per-slot write counters of store/redis/write_counters.ts).
 *
 * @example
 * ```ts
 * keySlot("im:{101:bob}:i") === keySlot("im:{101:bob}:m"); // true: same hash tag
 * keySlot(`x{${slotTags()[42]}}`); // 42
 * ```
 * @module
 */

/** Slots of a Redis Cluster. */
export const SLOTS = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

const encoder = new TextEncoder();

function crc16(bytes: ArrayLike<number>, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]) & 0xff];
  return crc;
}

/** The slot of `key`: only the part between the first `{` and the next `}` counts when it is not empty. */
export function keySlot(key: string): number {
  const bytes = asciiCodes(key) ?? encoder.encode(key);
  let start = 0, end = bytes.length;
  let open = -1;
  for (let i = 0; i < end; i++) {
    if (bytes[i] === 0x7b) {
      open = i;
      break;
    }
  }
  if (open >= 0) {
    for (let close = open + 1; close < end; close++) {
      if (bytes[close] !== 0x7d) continue;
      if (close > open + 1) [start, end] = [open + 1, close];
      break;
    }
  }
  return crc16(bytes, start, end) % SLOTS;
}

/** The key's char codes when it is plain ASCII (then they are its UTF-8 bytes), else undefined. */
function asciiCodes(key: string): number[] | undefined {
  const codes = new Array<number>(key.length);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > 0x7f) return undefined;
    codes[i] = c;
  }
  return codes;
}

/**
 * slot → a short hash tag (without braces) whose keys land in that slot. Built by trying tags until every
 * slot has one (~170k CRCs, a few ms): call once and keep the table (write_counters.ts does).
 */
export function slotTags(): string[] {
  const out = new Array<string>(SLOTS);
  let missing = SLOTS;
  for (let i = 0; missing > 0; i++) {
    const tag = `s${i.toString(36)}`;
    const slot = keySlot(tag);
    if (out[slot] === undefined) {
      out[slot] = tag;
      missing--;
    }
  }
  return out;
}

/** Group items by the slot `keyOf` gives them, keeping their order within a slot. */
export function bySlot<T>(items: readonly T[], keyOf: (item: T) => string): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = keySlot(keyOf(item));
    const group = groups.get(slot);
    if (group) group.push(item);
    else groups.set(slot, [item]);
  }
  return groups;
}

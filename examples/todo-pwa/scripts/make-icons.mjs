// Draws the app's icons (public/icon-192.png, public/icon-512.png) from the same shapes as
// public/icon.svg: a white check mark on an indigo rounded square. Run after changing the design:
//   node scripts/make-icons.mjs
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const INDIGO = [79, 70, 229];
const WHITE = [255, 255, 255];
// In a 100×100 box, like icon.svg.
const RADIUS = 22;
const CHECK = [
  [27, 52],
  [43, 68],
  [74, 35],
];
const STROKE = 6.5; // half the stroke width

function distanceToSegment(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

function insideRoundedSquare(x, y) {
  const cx = Math.min(Math.max(x, RADIUS), 100 - RADIUS);
  const cy = Math.min(Math.max(y, RADIUS), 100 - RADIUS);
  return Math.hypot(x - cx, y - cy) <= RADIUS;
}

/** Colour of one pixel, 4×4 supersampled. */
function pixel(size, x, y) {
  let background = 0;
  let mark = 0;
  for (let sy = 0; sy < 4; sy++) {
    for (let sx = 0; sx < 4; sx++) {
      const u = ((x + (sx + 0.5) / 4) / size) * 100;
      const v = ((y + (sy + 0.5) / 4) / size) * 100;
      if (!insideRoundedSquare(u, v)) continue;
      background++;
      const d = Math.min(distanceToSegment(u, v, CHECK[0], CHECK[1]), distanceToSegment(u, v, CHECK[1], CHECK[2]));
      if (d <= STROKE) mark++;
    }
  }
  const alpha = background / 16;
  const white = background === 0 ? 0 : mark / background;
  const rgb = INDIGO.map((c, i) => Math.round(c * (1 - white) + WHITE[i] * white));
  return [...rgb, Math.round(alpha * 255)];
}

function crc32(bytes) {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function png(size) {
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 4); // filter byte 0, then RGBA
    for (let x = 0; x < size; x++) Buffer.from(pixel(size, x, y)).copy(row, 1 + x * 4);
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

for (const size of [192, 512]) {
  writeFileSync(new URL(`../public/icon-${size}.png`, import.meta.url), png(size));
}

'use strict';
// The sharp side of `cargo bench -p drake-tests --bench thumb`: one
// thread, no cache. Reads "FILE WIDTH QUALITY OUT" lines on stdin, makes
// the thumbnail (EXIF orientation applied, as drake does), writes it to
// OUT and answers one line: the milliseconds it took, file read included.
const fs = require('fs');
const readline = require('readline');
const sharp = require('sharp');

sharp.concurrency(1);
sharp.cache(false);
console.log(JSON.stringify({ sharp: sharp.versions.sharp, vips: sharp.versions.vips }));

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const [file, width, quality, out] = line.trim().split(' ');
  const t0 = process.hrtime.bigint();
  const data = await sharp(file)
    .rotate()
    .resize({ width: parseInt(width, 10) })
    .jpeg({ quality: parseInt(quality, 10) })
    .toBuffer();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  fs.writeFileSync(out, data);
  console.log(ms.toFixed(3));
});

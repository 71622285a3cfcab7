'use strict';
// The sharp side of `cargo bench -p drake-tests --bench thumb`: no cache.
// Reads lines on stdin and answers one line each:
//   "FILE WIDTH QUALITY OUT": one thumbnail (EXIF orientation applied, as
//     drake does) with one libvips thread, written to OUT; answers the
//     milliseconds it took, file read included.
//   "batch N FILE WIDTH QUALITY": N thumbnails of FILE at once, as a
//     server would run them: sharp's own pool (libuv's threads, one
//     libvips thread per image); answers the milliseconds for all N.
//   "make FILE FORMAT OUT": FILE re-encoded for the matrix (jpeg444,
//     jpeg420 baseline q90, png, webp q85); answers "ok".
//   "as FILE WIDTH FORMAT OUT": one thumbnail written as FORMAT (png:
//     the lossless reference; webp q90, avif at drake's settings: AV1
//     quantizer 12 (sharp's quality 80), 4:2:0), one libvips thread;
//     answers the milliseconds.
const fs = require('fs');
const readline = require('readline');
const sharp = require('sharp');

sharp.concurrency(1);
sharp.cache(false);
console.log(JSON.stringify({ sharp: sharp.versions.sharp, vips: sharp.versions.vips }));

const thumb = (file, width, quality) =>
  sharp(file).rotate().resize({ width }).jpeg({ quality }).toBuffer();

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(() => handle(line.trim().split(' ')));
});

async function handle(args) {
  if (args[0] === 'batch') {
    const [, n, file, width, quality] = args;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: parseInt(n, 10) }, () =>
        thumb(file, parseInt(width, 10), parseInt(quality, 10))),
    );
    console.log((Number(process.hrtime.bigint() - t0) / 1e6).toFixed(3));
    return;
  }
  if (args[0] === 'make') {
    const [, file, format, out] = args;
    let img = sharp(file, { limitInputPixels: false });
    if (format === 'jpeg444') img = img.jpeg({ quality: 90, chromaSubsampling: '4:4:4' });
    else if (format === 'jpeg420') img = img.jpeg({ quality: 90, chromaSubsampling: '4:2:0' });
    else if (format === 'png') img = img.png();
    else if (format === 'webp') img = img.webp({ quality: 85 });
    await img.toFile(out);
    console.log('ok');
    return;
  }
  if (args[0] === 'as') {
    const [, file, width, format, out] = args;
    const t0 = process.hrtime.bigint();
    let img = sharp(file).rotate().resize({ width: parseInt(width, 10) });
    if (format === 'png') img = img.png();
    else if (format === 'webp') img = img.webp({ quality: 90 });
    else if (format === 'avif') img = img.avif({ quality: 80, chromaSubsampling: '4:2:0' });
    const data = await img.toBuffer();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    fs.writeFileSync(out, data);
    console.log(ms.toFixed(3));
    return;
  }
  const [file, width, quality, out] = args;
  const t0 = process.hrtime.bigint();
  const data = await thumb(file, parseInt(width, 10), parseInt(quality, 10));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  fs.writeFileSync(out, data);
  console.log(ms.toFixed(3));
}

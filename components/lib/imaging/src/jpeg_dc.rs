//! JPEG at 1/8 scale from the DC coefficients alone — libjpeg's
//! "shrink-on-load" at its smallest scale, made fast — at 1/4 from the DC
//! and the lowest AC coefficients (each block's four quadrant means,
//! `Quadrants`), and at 1/2 from the top-left 4×4 (libjpeg's reduced
//! transform).
//!
//! At 1/8 each 8×8 block becomes one pixel, its mean: the DC coefficient
//! times its quantiser, over 8, plus 128 (libjpeg's 1×1 inverse DCT). So:
//!
//! - baseline: every Huffman symbol must still be read to find the next
//!   block, but AC symbols are only *skipped* (code and extra bits
//!   consumed, no value built, nothing stored), several per table lookup
//!   (a `Skip` entry says what the next 13 bits hold);
//! - progressive: only the DC scans are read; AC scans (the bulk of the
//!   file) are jumped over to the next marker without decoding a bit.
//!
//! At 1/4 and 1/2 baseline files keep the first AC symbols of each block
//! (up to zigzag 4 or 24) and skip the rest as above; progressive files
//! decode every AC scan's symbols but keep only those coefficients'
//! values and, for the others, a bit saying they are nonzero — so a
//! refinement scan's correction bits for them are passed over in bulk
//! (`decode_ac_scan`), where `jpeg-decoder` reads them one at a time.
//!
//! Chroma planes are replicated to the luma grid (libjpeg also turns fancy
//! upsampling off at this scale) and converted from YCbCr (or taken as
//! RGB with an Adobe `transform = 0` marker or `R`,`G`,`B` component ids).
//!
//! [`decode`] answers `Ok(None)` for what it does not handle — arithmetic
//! coding, lossless or 12-bit JPEG, CMYK — and the caller uses its general
//! decoder. Damaged entropy data decodes as far as it goes (the rest is
//! flat), as viewers show it.

use image::DynamicImage;

/// What a frame header (SOF) says about one component.
#[derive(Debug, Clone, Copy)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
}

/// A Huffman table: a lookahead table for codes up to [`LOOKAHEAD`] bits,
/// and the canonical-code limits for longer ones.
#[derive(Clone)]
struct Huffman {
    /// Indexed by the next LOOKAHEAD bits: (code length, symbol); length
    /// 0 = longer code.
    fast: Box<[(u8, u8); 1 << LOOKAHEAD]>,
    /// Largest code of each length (1..=16), -1 when none.
    maxcode: [i32; 18],
    /// Offset from a code of each length to its index in `symbols`.
    valoffset: [i32; 18],
    symbols: Vec<u8>,
    /// For AC tables of baseline scans: every whole symbol (code *and*
    /// extra bits) in the next [`SKIP_BITS`] bits, as one [`Skip`] entry.
    /// Built by [`Huffman::build_skip`] when a scan needs it (progressive
    /// files never skip AC symbols, and may define a table per scan).
    skip: Option<Box<SkipTable>>,
}

type SkipTable = [Skip; 1 << SKIP_BITS];

const LOOKAHEAD: u32 = 11;

/// Bits of the AC skip table's index: 2^13 two-byte entries (16 KiB) per
/// table keep both AC tables in L1 while most lookups still pass two or
/// three symbols at once.
const SKIP_BITS: u32 = 13;

/// Skip lookups per refill: 3 × 13 bits fit in the ≥ 56 a refill leaves.
const LOOKUPS: u32 = 3;

/// What the next [`SKIP_BITS`] bits of an AC run hold: the bits of the
/// whole symbols in them (code and extra bits, up to and including an end
/// of block), how far they reach in the block, and whether the last is the
/// end of block. When not even the first symbol fits, the reach is 127:
/// the entry is never taken and that symbol goes the slow way.
#[derive(Clone, Copy, Default)]
struct Skip(u16);

impl Skip {
    const EOB: u16 = 1 << 15;

    #[inline]
    fn bits(self) -> u32 {
        u32::from(self.0 & 31)
    }

    /// Coefficients advanced, plus one for an end of block: the entry is
    /// taken whole only when `k + reach() <= 64` (never when it holds no
    /// symbol: its reach is then 127).
    #[inline]
    fn reach(self) -> usize {
        usize::from((self.0 >> 5) & 127)
    }

    #[inline]
    fn ends_block(self) -> bool {
        self.0 & Self::EOB != 0
    }
}

impl Huffman {
    /// From a DHT's 16 counts and its symbols; `None` when the counts do
    /// not describe a prefix code.
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Option<Huffman> {
        let mut fast = Box::new([(0u8, 0u8); 1 << LOOKAHEAD]);
        let mut maxcode = [-1i32; 18];
        let mut valoffset = [0i32; 18];
        let mut code: i32 = 0;
        let mut k = 0usize;
        for len in 1..=16usize {
            let n = usize::from(counts[len - 1]);
            if n > 0 {
                valoffset[len] = k as i32 - code;
                for _ in 0..n {
                    let symbol = *symbols.get(k)?;
                    if len as u32 <= LOOKAHEAD {
                        let shift = LOOKAHEAD - len as u32;
                        let first = (code as usize) << shift;
                        for e in fast.get_mut(first..first + (1 << shift))? {
                            *e = (len as u8, symbol);
                        }
                    }
                    code += 1;
                    k += 1;
                }
                maxcode[len] = code - 1;
                if code > (1 << len) {
                    return None;
                }
            }
            code <<= 1;
        }
        maxcode[17] = i32::MAX; // sentinel: ends the slow search
        Some(Huffman {
            fast,
            maxcode,
            valoffset,
            symbols: symbols.to_vec(),
            skip: None,
        })
    }

    /// Build the [`Skip`] table, once.
    fn build_skip(&mut self) {
        if self.skip.is_none() {
            let mut skip = Box::new([Skip::default(); 1 << SKIP_BITS]);
            for (window, entry) in (0..).zip(skip.iter_mut()) {
                *entry = Self::skip_entry(&self.fast, window);
            }
            self.skip = Some(skip);
        }
    }

    /// The [`Skip`] entry of a [`SKIP_BITS`]-bit window, read with the
    /// single-symbol `fast` table: symbols are taken while code and extra
    /// bits fit in what is left of the window, up to an end of block, and
    /// no further once they pass the 63 coefficients of a block (such an
    /// entry is never taken whole).
    fn skip_entry(fast: &[(u8, u8); 1 << LOOKAHEAD], window: u32) -> Skip {
        let (mut used, mut advance, mut eob) = (0u32, 0u32, false);
        while advance <= 64 {
            let rest = (window << used) & ((1 << SKIP_BITS) - 1);
            let (len, rs) = fast[(rest >> (SKIP_BITS - LOOKAHEAD)) as usize];
            let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
            let total = u32::from(len) + size;
            if len == 0 || used + total > SKIP_BITS {
                break; // a code longer than LOOKAHEAD, or cut by the window
            }
            used += total;
            match (size, run) {
                (0, 15) => advance += 16, // a run of 16 zeros
                (0, _) => {
                    eob = true;
                    break;
                }
                _ => advance += run + 1,
            }
        }
        let reach = match (used, eob) {
            (0, _) => 127,
            (_, true) => advance + 1,
            (_, false) => advance,
        };
        Skip(used as u16 | (reach as u16) << 5 | if eob { Skip::EOB } else { 0 })
    }
}

/// Entropy-coded bits: byte stuffing undone, stops (feeding zeros) at a
/// marker.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
    /// Zero bits put in `acc` past the end of the data (or at a marker)
    /// since the last restart: more of them than `n` have been read as
    /// data, which a complete scan never does.
    pad: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Bits {
            data,
            pos,
            acc: 0,
            n: 0,
            pad: 0,
        }
    }

    /// Whether bits past the end of the scan's data have been read.
    fn overran(&self) -> bool {
        self.pad > self.n
    }

    #[inline]
    fn refill(&mut self) {
        // Fast path: whole bytes at once while none of them is 0xFF.
        if self.n <= 56
            && let Some(chunk) = self.data.get(self.pos..self.pos + 8)
        {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let x = u64::from_be_bytes(word);
            let v = !x; // a 0xFF byte of x is a zero byte of v
            if v.wrapping_sub(0x0101_0101_0101_0101) & !v & 0x8080_8080_8080_8080 == 0 {
                let take = (64 - self.n) / 8;
                self.acc |= (x >> (64 - 8 * take)) << (64 - 8 * take - self.n);
                self.pos += take as usize;
                self.n += 8 * take;
                return;
            }
        }
        while self.n <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(&0xFF) => match self.data.get(self.pos + 1) {
                    Some(0x00) => {
                        self.pos += 2;
                        0xFF
                    }
                    // A marker (or the end): zeros from here on.
                    _ => {
                        self.pad = self.pad.saturating_add(8);
                        0
                    }
                },
                Some(&b) => {
                    self.pos += 1;
                    b
                }
                None => {
                    self.pad = self.pad.saturating_add(8);
                    0
                }
            };
            self.acc |= u64::from(byte) << (56 - self.n);
            self.n += 8;
        }
    }

    #[inline]
    fn peek(&self, bits: u32) -> u32 {
        (self.acc >> (64 - bits)) as u32
    }

    #[inline]
    fn consume(&mut self, bits: u32) {
        self.acc <<= bits;
        self.n -= bits;
    }

    /// `bits` (≤ 16) bits as an unsigned number.
    #[inline]
    fn get(&mut self, bits: u32) -> u32 {
        if bits == 0 {
            return 0;
        }
        self.refill();
        let v = self.peek(bits);
        self.consume(bits);
        v
    }

    /// One Huffman symbol; `None` on an invalid code.
    #[inline]
    fn symbol(&mut self, table: &Huffman) -> Option<u8> {
        self.refill();
        self.refilled_symbol(table)
    }

    /// A code longer than [`LOOKAHEAD`] bits (≤ 16 bits in `acc`): rare,
    /// kept out of line so the fast path inlines into the block loops.
    #[cold]
    #[inline(never)]
    fn long_symbol(&mut self, table: &Huffman) -> Option<u8> {
        let mut len = LOOKAHEAD as usize + 1;
        let mut code = self.peek(len as u32) as i32;
        while code > table.maxcode[len] {
            len += 1;
            if len > 16 {
                return None;
            }
            code = self.peek(len as u32) as i32;
        }
        self.consume(len as u32);
        let i = usize::try_from(code + table.valoffset[len]).ok()?;
        table.symbols.get(i).copied()
    }

    /// A block's DC difference: its size symbol and that many bits.
    #[inline]
    fn dc_diff(&mut self, table: &Huffman) -> Option<i32> {
        if self.n < 32 {
            self.refill();
        }
        // ≥ 16 bits left after a code of ≤ 16 from ≥ 32: no refill.
        let size = u32::from(self.refilled_symbol(table)? & 15);
        Some(self.value(size))
    }

    /// One Huffman symbol when at least 16 bits are in `acc`: from the
    /// lookahead table, or the slow way for a longer code.
    #[inline(always)]
    fn refilled_symbol(&mut self, table: &Huffman) -> Option<u8> {
        let (len, symbol) = table.fast[self.peek(LOOKAHEAD) as usize];
        if len > 0 {
            self.consume(u32::from(len));
            return Some(symbol);
        }
        self.long_symbol(table)
    }

    /// A coefficient of `size` bits (≤ 15, already in `acc`), sign-extended
    /// as JPEG codes it.
    #[inline]
    fn value(&mut self, size: u32) -> i32 {
        let v = ((self.acc >> 1) >> (63 - size)) as i32; // the top `size` bits
        self.consume(size);
        if v < (1 << size) >> 1 {
            v + 1 - (1 << size)
        } else {
            v
        }
    }

    /// Read past the 63 AC coefficients of a block (baseline): mostly
    /// several symbols per [`Skip`] lookup, one at a time near the end of
    /// a block without an end-of-block code and for long codes.
    #[inline]
    fn skip_ac(&mut self, ac: &Huffman, skip: &SkipTable, from: usize) -> Result<(), &'static str> {
        let mut k = from;
        while k < 64 {
            if self.n < LOOKUPS * SKIP_BITS {
                self.refill();
            }
            // Up to LOOKUPS lookups per refill check (unrolled): the
            // loop's branches are most of its cost.
            let mut whole = false;
            for _ in 0..LOOKUPS {
                let entry = skip[self.peek(SKIP_BITS) as usize];
                if k + entry.reach() > 64 {
                    break;
                }
                self.consume(entry.bits());
                if entry.ends_block() {
                    return Ok(());
                }
                k += entry.reach();
                whole = true;
            }
            if whole {
                continue;
            }
            let rs = self.symbol(ac).ok_or("invalid Huffman code")?;
            let (run, size) = (rs >> 4, u32::from(rs & 15));
            if size == 0 {
                if run != 15 {
                    return Ok(()); // end of block
                }
                k += 16;
                continue;
            }
            self.refill();
            self.consume(size);
            k += usize::from(run) + 1;
        }
        Ok(())
    }

    /// Read a block's AC coefficients (baseline), keeping those at zigzag
    /// 1..=`low.len()` in `low`, one symbol at a time, then skipping the
    /// rest.
    fn low_ac(
        &mut self,
        ac: &Huffman,
        skip: &SkipTable,
        low: &mut [i16],
    ) -> Result<(), &'static str> {
        low.fill(0);
        let mut k = 1;
        while k <= low.len() {
            // ≥ 32 bits: a code from the fast table (≤ LOOKAHEAD) and its
            // value (≤ 15) need no refill in between (a longer code goes
            // through `symbol`, which refills).
            if self.n < 32 {
                self.refill();
            }
            let rs = self.refilled_symbol(ac).ok_or("invalid Huffman code")?;
            let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run != 15 {
                    return Ok(()); // end of block
                }
                k += 16;
                continue;
            }
            k += run;
            let v = self.value(size);
            if let Some(slot) = low.get_mut(k.wrapping_sub(1)) {
                *slot = v as i16;
            }
            k += 1;
        }
        self.skip_ac(ac, skip, k)
    }

    /// One block of a progressive first AC scan (Ah = 0), G.1.2.2.
    fn first_ac(
        &mut self,
        ac: &Huffman,
        band: Band,
        eobrun: &mut u32,
        mask: &mut u64,
        kept: &mut [i16],
    ) -> Result<(), &'static str> {
        if *eobrun > 0 {
            *eobrun -= 1;
            return Ok(());
        }
        let mut k = band.start;
        while k <= band.end {
            if self.n < 32 {
                self.refill();
            }
            let rs = self.refilled_symbol(ac).ok_or("invalid Huffman code")?;
            let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run < 15 {
                    // End of band, for this block and 2^run - 1 + bits more.
                    *eobrun = (1 << run) - 1 + self.get(run);
                    return Ok(());
                }
                k += 16;
                continue;
            }
            k += run as usize;
            let v = self.value(size).wrapping_shl(band.low);
            if k > band.end {
                return Err("a coefficient past the scan's band");
            }
            *mask |= 1 << k;
            if let Some(slot) = kept.get_mut(k.wrapping_sub(1)) {
                *slot = v as i16;
            }
            k += 1;
        }
        Ok(())
    }

    /// One block of a progressive refinement AC scan (Ah > 0), G.1.2.3:
    /// a correction bit for each coefficient already nonzero, new ones of
    /// ±2^Al placed after runs of zero ones.
    fn refine_ac(
        &mut self,
        ac: &Huffman,
        band: Band,
        eobrun: &mut u32,
        mask: &mut u64,
        kept: &mut [i16],
    ) -> Result<(), &'static str> {
        let bit = 1i16.wrapping_shl(band.low);
        let mut k = band.start;
        if *eobrun == 0 {
            while k <= band.end {
                if self.n < 32 {
                    self.refill();
                }
                let rs = self.refilled_symbol(ac).ok_or("invalid Huffman code")?;
                let (mut run, size) = (u32::from(rs >> 4), rs & 15);
                let mut new = 0i16;
                if size == 0 {
                    if run < 15 {
                        *eobrun = (1 << run) + self.get(run);
                        break;
                    }
                } else {
                    // Size is 1 in a valid file; libjpeg reads a sign bit
                    // whatever it says, and so does this.
                    new = if self.get(1) == 1 {
                        bit
                    } else {
                        bit.wrapping_neg()
                    };
                }
                // Past `run` zero coefficients (correcting nonzero ones on
                // the way) to the zero one the new value goes in.
                while k <= band.end {
                    if k > kept.len() {
                        // Past the kept ones: found with the mask, the
                        // corrections on the way skipped all at once.
                        let ahead = (u64::MAX << k) & (u64::MAX >> (63 - band.end));
                        let mut zeros = !*mask & ahead;
                        for _ in 0..run {
                            zeros &= zeros.wrapping_sub(1);
                        }
                        let target = match zeros {
                            0 => band.end + 1,
                            z => z.trailing_zeros() as usize,
                        };
                        let before = u64::MAX.checked_shr(64 - target as u32).unwrap_or(0);
                        self.skip((*mask & ahead & before).count_ones());
                        k = target;
                        break;
                    }
                    if *mask & (1 << k) != 0 {
                        self.correct(k, bit, kept);
                    } else if run == 0 {
                        break;
                    } else {
                        run -= 1;
                    }
                    k += 1;
                }
                if new != 0 && k <= band.end {
                    *mask |= 1 << k;
                    if let Some(slot) = kept.get_mut(k.wrapping_sub(1)) {
                        *slot = new;
                    }
                }
                k += 1;
            }
        }
        if *eobrun > 0 {
            // The rest of the band: only corrections. Those of kept
            // coefficients are applied; the others skipped all at once.
            while k <= band.end.min(kept.len()) {
                if *mask & (1 << k) != 0 {
                    self.correct(k, bit, kept);
                }
                k += 1;
            }
            if k <= band.end {
                let rest = (u64::MAX << k) & (u64::MAX >> (63 - band.end));
                self.skip((*mask & rest).count_ones());
            }
            *eobrun -= 1;
        }
        Ok(())
    }

    /// The correction bit of nonzero coefficient `k`: kept ones gain it in
    /// magnitude.
    #[inline]
    fn correct(&mut self, k: usize, bit: i16, kept: &mut [i16]) {
        if self.n == 0 {
            self.refill();
        }
        let set = self.acc >> 63 == 1;
        self.consume(1);
        if let Some(slot) = kept.get_mut(k.wrapping_sub(1))
            && set
            && *slot & bit == 0
        {
            *slot = if *slot >= 0 {
                slot.wrapping_add(bit)
            } else {
                slot.wrapping_sub(bit)
            };
        }
    }

    /// Read past `count` bits.
    fn skip(&mut self, mut count: u32) {
        while count > 0 {
            if self.n < 32 {
                self.refill();
            }
            let take = count.min(32);
            self.consume(take);
            count -= take;
        }
    }

    /// Skip to the byte after the next RSTn marker (restart interval end).
    fn restart(&mut self) {
        self.acc = 0;
        self.n = 0;
        self.pad = 0;
        while let Some(&b) = self.data.get(self.pos) {
            if b == 0xFF
                && let Some(&m) = self.data.get(self.pos + 1)
                && (0xD0..=0xD7).contains(&m)
            {
                self.pos += 2;
                return;
            }
            if b == 0xFF
                && self
                    .data
                    .get(self.pos + 1)
                    .is_some_and(|&m| m != 0 && m != 0xFF)
            {
                return; // another marker: damaged, stop here
            }
            self.pos += 1;
        }
    }
}

/// Position of the next marker (0xFF followed by neither 0x00, 0xFF fill
/// nor an RSTn) at or after `pos`: the end of a scan's entropy data.
fn next_marker(data: &[u8], mut pos: usize) -> usize {
    while pos + 1 < data.len() {
        if data[pos] == 0xFF {
            let m = data[pos + 1];
            if m != 0 && m != 0xFF && !(0xD0..=0xD7).contains(&m) {
                return pos;
            }
        }
        pos += 1;
    }
    data.len()
}

/// The whole-image state while scans are read.
struct Frame {
    width: usize,
    height: usize,
    components: Vec<Component>,
    hmax: usize,
    vmax: usize,
    mcus_x: usize,
    mcus_y: usize,
    progressive: bool,
    /// Per component, quantised DC coefficients of every block (padded to
    /// whole MCUs), row-major.
    /// (i16: a quantised DC of an 8-bit JPEG fits in 12 bits; half the
    /// memory of i32 to touch.)
    dc: Vec<Vec<i16>>,
    /// At 1/4 (baseline only), per component, the quantised AC
    /// coefficients at zigzag 1..=`Scale::low()` of every block, one block
    /// after another. Empty at 1/8.
    ac: Vec<Vec<i16>>,
    /// AC coefficients kept per block (`Scale::low`).
    low: usize,
    /// Progressive files at 1/4: per component, which of each block's
    /// coefficients (bit k for zigzag k) are nonzero so far — what a
    /// refinement scan needs to know to read its correction bits. Empty
    /// otherwise.
    nonzero: Vec<Vec<u64>>,
}

impl Frame {
    fn blocks_per_line(&self, c: usize) -> usize {
        self.mcus_x * self.components[c].h
    }

    /// Blocks of component `c` that a non-interleaved scan covers.
    fn scan_blocks(&self, c: usize) -> (usize, usize) {
        let comp = self.components[c];
        let w = (self.width * comp.h).div_ceil(self.hmax);
        let h = (self.height * comp.v).div_ceil(self.vmax);
        (w.div_ceil(8), h.div_ceil(8))
    }
}

/// One scan's component: frame index, DC table, predictor.
struct ScanComponent {
    c: usize,
    dc_table: usize,
    ac_table: usize,
}

fn be16(data: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *data.get(at)?,
        *data.get(at + 1)?,
    ])))
}

/// Largest DC-scale image decoded here: 40 Mpx of source is 625 kpx.
const MAX_BLOCKS: usize = 1 << 22;

/// Decode `data` at 1/8 scale: `ceil(w/8)` × `ceil(h/8)` pixels, L8 or
/// Rgb8. `Ok(None)`: a JPEG this decoder leaves to the general one.
pub fn decode(data: &[u8]) -> Result<Option<DynamicImage>, String> {
    decode_at(data, Scale::Eighth)
}

/// The scales this decoder draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// 1/8: a pixel per block, from the DC coefficient.
    Eighth,
    /// 1/4: 2×2 pixels per block, the means of its quadrants, from the DC
    /// and the three lowest AC coefficients (in baseline files every other
    /// AC symbol is skipped unread).
    Quarter,
    /// 1/2: 4×4 pixels per block, libjpeg's reduced inverse DCT of its
    /// top-left 4×4 coefficients (in fixed point; in baseline files the
    /// AC symbols past zigzag 24 are skipped unread).
    Half,
}

impl Scale {
    /// Pixels per block side.
    fn per_block(self) -> usize {
        match self {
            Scale::Eighth => 1,
            Scale::Quarter => 2,
            Scale::Half => 4,
        }
    }

    /// AC coefficients kept per block, in zigzag order from 1: up to
    /// (1,1) at 1/4.
    fn low(self) -> usize {
        match self {
            Scale::Eighth => 0,
            Scale::Quarter => 4,
            Scale::Half => 24,
        }
    }
}

/// Decode `data` at `scale`: `ceil(w·s/8)` × `ceil(h·s/8)` pixels for `s`
/// pixels per block side. `Ok(None)`: a JPEG this decoder leaves to the
/// general one.
pub fn decode_at(data: &[u8], scale: Scale) -> Result<Option<DynamicImage>, String> {
    if data.get(..2) != Some(&[0xFF, 0xD8][..]) {
        return Err("not a JPEG".into());
    }
    let mut pos = 2;
    // Quantisers in zigzag order, as DQT lists them.
    let mut quant = [[0i32; 64]; 4];
    let mut dc_tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac_tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut restart_interval = 0usize;
    let mut adobe_transform: Option<u8> = None;
    let mut frame: Option<Frame> = None;
    let truncated = || "truncated JPEG header".to_owned();
    loop {
        // Markers may be preceded by fill bytes.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
            break; // no EOI: decode what was read
        };
        pos += 2;
        if marker == 0xD9 {
            break;
        }
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            continue;
        }
        let len = be16(data, pos).ok_or_else(truncated)?;
        let seg = data.get(pos + 2..pos + len).ok_or_else(truncated)?;
        let next = pos + len;
        match marker {
            // SOF0/1 (Huffman, sequential) and SOF2 (Huffman, progressive).
            0xC0..=0xC2 => {
                if seg.len() < 6 || seg[0] != 8 {
                    return Ok(None); // 12-bit
                }
                let height = be16(seg, 1).ok_or_else(truncated)?;
                let width = be16(seg, 3).ok_or_else(truncated)?;
                let n = usize::from(seg[5]);
                if !(n == 1 || n == 3) || width == 0 || height == 0 {
                    return Ok(None);
                }
                let mut components = Vec::with_capacity(n);
                for i in 0..n {
                    let c = seg.get(6 + 3 * i..9 + 3 * i).ok_or_else(truncated)?;
                    let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
                    if !(1..=4).contains(&h) || !(1..=4).contains(&v) || c[2] > 3 {
                        return Err("invalid sampling factors".into());
                    }
                    components.push(Component {
                        id: c[0],
                        h,
                        v,
                        tq: usize::from(c[2]),
                    });
                }
                let hmax = components.iter().map(|c| c.h).max().unwrap_or(1);
                let vmax = components.iter().map(|c| c.v).max().unwrap_or(1);
                let (mcus_x, mcus_y) = if n == 1 {
                    // A single component is never interleaved: 8×8 units.
                    (width.div_ceil(8), height.div_ceil(8))
                } else {
                    (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax))
                };
                if n == 1 {
                    components[0].h = 1;
                    components[0].v = 1;
                }
                let blocks: usize = components.iter().map(|c| mcus_x * c.h * mcus_y * c.v).sum();
                if blocks > MAX_BLOCKS {
                    return Ok(None);
                }
                let dc = components
                    .iter()
                    .map(|c| vec![0; mcus_x * c.h * mcus_y * c.v])
                    .collect();
                let ac = components
                    .iter()
                    .map(|c| vec![0; mcus_x * c.h * mcus_y * c.v * scale.low()])
                    .collect();
                let nonzero = components
                    .iter()
                    .map(|c| match (marker, scale) {
                        (0xC2, Scale::Quarter | Scale::Half) => {
                            vec![0; mcus_x * c.h * mcus_y * c.v]
                        }
                        _ => Vec::new(),
                    })
                    .collect();
                frame = Some(Frame {
                    width,
                    height,
                    hmax: if n == 1 { 1 } else { hmax },
                    vmax: if n == 1 { 1 } else { vmax },
                    components,
                    mcus_x,
                    mcus_y,
                    progressive: marker == 0xC2,
                    dc,
                    ac,
                    nonzero,
                    low: scale.low(),
                });
            }
            // Lossless, hierarchical, arithmetic coding: not here.
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None),
            0xC4 => {
                let mut at = 0;
                while at < seg.len() {
                    let class_id = seg[at];
                    let counts: [u8; 16] = seg
                        .get(at + 1..at + 17)
                        .and_then(|c| c.try_into().ok())
                        .ok_or_else(truncated)?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let symbols = seg.get(at + 17..at + 17 + total).ok_or_else(truncated)?;
                    let table = Huffman::new(&counts, symbols)
                        .ok_or_else(|| "invalid Huffman table".to_owned())?;
                    let id = usize::from(class_id & 3);
                    if class_id >> 4 == 0 {
                        dc_tables[id] = Some(table);
                    } else {
                        ac_tables[id] = Some(table);
                    }
                    at += 17 + total;
                }
            }
            0xDB => {
                let mut at = 0;
                while at < seg.len() {
                    let (pq, tq) = (seg[at] >> 4, usize::from(seg[at] & 3));
                    for (k, q) in quant[tq].iter_mut().enumerate() {
                        *q = if pq == 0 {
                            i32::from(*seg.get(at + 1 + k).ok_or_else(truncated)?)
                        } else {
                            be16(seg, at + 1 + 2 * k).ok_or_else(truncated)? as i32
                        };
                    }
                    at += 1 + 64 * (1 + usize::from(pq));
                }
            }
            0xDD => restart_interval = be16(seg, 0).ok_or_else(truncated)?,
            0xEE if seg.starts_with(b"Adobe") && seg.len() >= 12 => {
                adobe_transform = Some(seg[11]);
            }
            0xDA => {
                let f = frame.as_mut().ok_or("scan before frame header")?;
                let ns = usize::from(*seg.first().ok_or_else(truncated)?);
                let mut scan = Vec::with_capacity(ns);
                for i in 0..ns {
                    let s = seg.get(1 + 2 * i..3 + 2 * i).ok_or_else(truncated)?;
                    let c = f
                        .components
                        .iter()
                        .position(|c| c.id == s[0])
                        .ok_or("scan names an unknown component")?;
                    scan.push(ScanComponent {
                        c,
                        dc_table: usize::from(s[1] >> 4) & 3,
                        ac_table: usize::from(s[1] & 15) & 3,
                    });
                }
                let tail = seg.get(1 + 2 * ns..4 + 2 * ns).ok_or_else(truncated)?;
                let (ss, se, ah, al) = (tail[0], tail[1], tail[2] >> 4, tail[2] & 15);
                let start = next;
                let end = if f.progressive && ss > 0 && scale == Scale::Eighth {
                    // An AC scan: not needed at this scale.
                    next_marker(data, start)
                } else if f.progressive && ss > 0 {
                    let [s] = scan.as_slice() else {
                        return Err("a progressive AC scan of several components".into());
                    };
                    let ac = ac_tables[s.ac_table]
                        .as_ref()
                        .ok_or("a scan uses a missing Huffman table")?;
                    let band = Band {
                        start: usize::from(ss),
                        end: usize::from(se),
                        high: u32::from(ah),
                        low: u32::from(al),
                    };
                    decode_ac_scan(f, s.c, ac, band, restart_interval, data, start)?
                } else {
                    let skip_ac = !f.progressive && se > 0;
                    if skip_ac {
                        for s in &scan {
                            if let Some(table) = ac_tables[s.ac_table].as_mut() {
                                table.build_skip();
                            }
                        }
                    }
                    let ctx = ScanCtx {
                        dc_tables: &dc_tables,
                        ac_tables: &ac_tables,
                        restart_interval,
                        skip_ac,
                        refine: f.progressive && ah > 0,
                        al: u32::from(al),
                    };
                    decode_scan(f, &scan, &ctx, data, start)?
                };
                pos = end;
                continue;
            }
            _ => {}
        }
        pos = next;
    }
    let Some(f) = frame else {
        return Err("no frame header".into());
    };
    Ok(Some(render(&f, &quant, adobe_transform, scale)))
}

struct ScanCtx<'a> {
    dc_tables: &'a [Option<Huffman>; 4],
    ac_tables: &'a [Option<Huffman>; 4],
    restart_interval: usize,
    /// Baseline: read and drop the 63 AC coefficients of each block.
    skip_ac: bool,
    /// Progressive DC refinement: one bit per block.
    refine: bool,
    /// Successive-approximation shift.
    al: u32,
}

/// One block of a scan's unit (an MCU, or a single block when the scan
/// is not interleaved), in coding order, with everything its decode needs.
struct Block<'t> {
    /// Index in the scan (whose DC predictor it updates).
    scan: usize,
    /// Frame component (plane) it belongs to.
    plane: usize,
    dc: Option<&'t Huffman>,
    /// The AC table (and its skip table) of a baseline scan, whose
    /// coefficients are skipped.
    ac: Option<(&'t Huffman, &'t SkipTable)>,
    /// Blocks per unit across and down, and this block's place in it.
    across: usize,
    down: usize,
    dx: usize,
    dy: usize,
    /// Blocks per line of its plane.
    per_line: usize,
}

/// Read one scan's DC data; returns the position after its entropy data.
fn decode_scan(
    f: &mut Frame,
    scan: &[ScanComponent],
    ctx: &ScanCtx<'_>,
    data: &[u8],
    start: usize,
) -> Result<usize, String> {
    let missing = || "a scan uses a missing Huffman table".to_owned();
    let interleaved = scan.len() > 1;
    let mut blocks = Vec::new();
    for (i, s) in scan.iter().enumerate() {
        let dc = ctx.dc_tables[s.dc_table].as_ref();
        let ac = ctx.ac_tables[s.ac_table]
            .as_ref()
            .and_then(|t| Some((t, t.skip.as_deref()?)));
        if (!ctx.refine && dc.is_none()) || (ctx.skip_ac && ac.is_none()) {
            return Err(missing());
        }
        let comp = f.components[s.c];
        let (across, down) = if interleaved {
            (comp.h, comp.v)
        } else {
            (1, 1)
        };
        for dy in 0..down {
            for dx in 0..across {
                blocks.push(Block {
                    scan: i,
                    plane: s.c,
                    dc,
                    ac: if ctx.skip_ac { ac } else { None },
                    across,
                    down,
                    dx,
                    dy,
                    per_line: f.blocks_per_line(s.c),
                });
            }
        }
    }
    let mut bits = Bits::new(data, start);
    let mut preds = vec![0i32; scan.len()];
    let (units_x, units_y) = if interleaved {
        (f.mcus_x, f.mcus_y)
    } else {
        f.scan_blocks(scan[0].c)
    };
    let mut done = 0usize;
    for uy in 0..units_y {
        for ux in 0..units_x {
            if ctx.restart_interval > 0 && done > 0 && done.is_multiple_of(ctx.restart_interval) {
                if bits.overran() {
                    return Err(TRUNCATED.into());
                }
                bits.restart();
                preds.fill(0);
            }
            done += 1;
            for b in &blocks {
                let (x, y) = (ux * b.across + b.dx, uy * b.down + b.dy);
                let at = y * b.per_line + x;
                let Some(slot) = f.dc[b.plane].get_mut(at) else {
                    return Err("block outside the frame".into());
                };
                if ctx.refine {
                    if bits.get(1) == 1 {
                        *slot |= 1i16.wrapping_shl(ctx.al);
                    }
                    continue;
                }
                let (Some(dc), Some(pred)) = (b.dc, preds.get_mut(b.scan)) else {
                    return Err(missing());
                };
                *pred = pred.wrapping_add(bits.dc_diff(dc).ok_or("invalid Huffman code")?);
                *slot = pred.wrapping_shl(ctx.al) as i16;
                if let Some((ac, skip)) = b.ac {
                    let kept = f.low;
                    match f.ac[b.plane].get_mut(at * kept..(at + 1) * kept) {
                        Some(low) if kept > 0 => bits.low_ac(ac, skip, low)?,
                        _ => bits.skip_ac(ac, skip, 1)?,
                    }
                }
            }
        }
    }
    if bits.overran() {
        return Err(TRUNCATED.into());
    }
    Ok(next_marker(data, bits.pos.min(data.len())))
}

/// A progressive AC scan's spectral band (zigzag `start..=end`) and
/// successive-approximation bits (`high` = Ah, `low` = Al).
#[derive(Clone, Copy)]
struct Band {
    start: usize,
    end: usize,
    high: u32,
    low: u32,
}

/// Read one progressive AC scan (one component) at 1/4: every symbol is
/// decoded, as the next block starts after them, but only the values of
/// zigzag 1..=`Scale::low` are kept; of the others only whether they are nonzero,
/// for the refinement scans' correction bits, which are then skipped in
/// bulk (libjpeg reads them one at a time). Data that ends inside the
/// scan leaves the remaining detail out, as at any other scale (see
/// `jpeg_with_end` in decode.rs). Returns the position after the scan.
fn decode_ac_scan(
    f: &mut Frame,
    c: usize,
    ac: &Huffman,
    band: Band,
    restart_interval: usize,
    data: &[u8],
    start: usize,
) -> Result<usize, String> {
    if band.start > band.end || band.end > 63 || band.low > 13 {
        return Err("a progressive scan with an invalid spectral band".into());
    }
    let (per_line, n) = (f.blocks_per_line(c), f.low);
    let (units_x, units_y) = f.scan_blocks(c);
    let (Some(low), Some(nonzero)) = (f.ac.get_mut(c), f.nonzero.get_mut(c)) else {
        return Err("a scan names an unknown component".into());
    };
    let mut bits = Bits::new(data, start);
    let mut eobrun = 0u32;
    let mut done = 0usize;
    for by in 0..units_y {
        for bx in 0..units_x {
            if restart_interval > 0 && done > 0 && done.is_multiple_of(restart_interval) {
                bits.restart();
                eobrun = 0;
            }
            done += 1;
            let at = by * per_line + bx;
            let (Some(mask), Some(kept)) = (nonzero.get_mut(at), low.get_mut(at * n..at * n + n))
            else {
                return Err("block outside the frame".into());
            };
            let read = if band.high == 0 {
                bits.first_ac(ac, band, &mut eobrun, mask, kept)
            } else {
                bits.refine_ac(ac, band, &mut eobrun, mask, kept)
            };
            read.map_err(str::to_owned)?;
            if bits.overran() {
                return Ok(next_marker(data, bits.pos.min(data.len())));
            }
        }
    }
    Ok(next_marker(data, bits.pos.min(data.len())))
}

/// A scan whose data ends before its last block: the file was cut short
/// (or damaged so that its data runs out early).
pub const TRUNCATED: &str = "the image data ends before its last rows (the file is cut short)";

/// The means of a block's four quadrants (top left, top right, bottom
/// left, bottom right) from its quantised DC and its coefficients at
/// (0,1), (1,0) and (1,1): each basis function averaged over a quadrant,
/// which for these is `M` per direction, signed by side. The higher odd
/// frequencies add to the means as well; they are left out (their weights
/// are at most a third of the first's, and a photo holds less there), and
/// the resize after this scale smooths what remains. The weights fold in
/// the component's quantisers, once per plane.
struct Quadrants {
    /// Per coefficient, its weight in [`FIX_BITS`] fixed point.
    dc: i64,
    h: i64,
    v: i64,
    d: i64,
}

impl Quadrants {
    fn new(q: &[i32; 64]) -> Self {
        /// The mean of cos((2x+1)π/16) over x = 0..3.
        const M: f64 = 0.640_728_861_935_920_3;
        let side = M / (4.0 * std::f64::consts::SQRT_2);
        let weight = |x: f64| (x * f64::from(1 << FIX_BITS)).round() as i64;
        Quadrants {
            dc: weight(f64::from(q[0]) / 8.0),
            h: weight(f64::from(q[1]) * side),
            v: weight(f64::from(q[2]) * side),
            d: weight(f64::from(q[4]) * M * M / 4.0),
        }
    }

    /// `low`: the coefficients at zigzag 1..=4 ((0,1), (1,0), (2,0) unused,
    /// (1,1)).
    #[inline]
    fn of(&self, dc: i16, low: &[i16; 4]) -> [u8; 4] {
        let mean = i64::from(dc) * self.dc + ((128 << FIX_BITS) + (1 << (FIX_BITS - 1)));
        let h = i64::from(low[0]) * self.h;
        let v = i64::from(low[1]) * self.v;
        let d = i64::from(low[3]) * self.d;
        [
            mean + h + v + d,
            mean - h + v - d,
            mean + h - v - d,
            mean - h - v + d,
        ]
        .map(|x| (x >> FIX_BITS).clamp(0, 255) as u8)
    }
}

/// Zigzag index of each coefficient (row = vertical frequency, column =
/// horizontal) of the top-left 4×4.
const ZIGZAG_4X4: [[usize; 4]; 4] = [[0, 1, 5, 6], [2, 4, 7, 13], [3, 8, 12, 17], [9, 11, 18, 24]];

/// Fraction bits of the fixed-point transforms (libjpeg's `CONST_BITS`):
/// integers throughout, as a float-to-byte conversion costs more in wasm
/// than the transform's products.
const FIX_BITS: u32 = 13;

/// `x` in [`FIX_BITS`] fixed point.
const fn fix(x: f64) -> i64 {
    (x * (1 << FIX_BITS) as f64 + 0.5) as i64
}

/// The 4-point inverse transform of libjpeg's reduced 4×4 IDCT: the
/// 8-point basis `C(u)·cos((2j+1)uπ/8)` sampled at the centres of pixel
/// pairs (`C(0)` = 1/√2), as even and odd halves — 6 products, not 16.
/// The result is scaled by 2^[`FIX_BITS`].
#[inline(always)]
fn idct4_1d([f0, f1, f2, f3]: [i64; 4]) -> [i64; 4] {
    const H: i64 = fix(std::f64::consts::FRAC_1_SQRT_2);
    const A: i64 = fix(0.923_879_532_511_286_7); // cos(π/8)
    const B: i64 = fix(0.382_683_432_365_089_8); // cos(3π/8)
    let (e0, e1) = (H * (f0 + f2), H * (f0 - f2));
    let (o0, o1) = (A * f1 + B * f3, B * f1 - A * f3);
    [e0 + o0, e1 + o1, e1 - o1, e0 - o0]
}

/// A plane at 1/2: each block the 8×8 inverse DCT sampled at the centres
/// of its 2×2 pixel groups, from its top-left 4×4 coefficients (libjpeg's
/// reduced 4×4 transform); `low` holds zigzag 1..=24 of every block.
fn half_plane(dc: &[i16], low: &[i16], per_line: usize, q: &[i32; 64]) -> Vec<u8> {
    let line = per_line * 4;
    let mut px = vec![0u8; dc.len() * 16];
    let quant = ZIGZAG_4X4.map(|row| row.map(|k| i64::from(q[k])));
    let block_rows = px
        .chunks_exact_mut(4 * line)
        .zip(dc.chunks_exact(per_line))
        .zip(low.chunks_exact(24 * per_line));
    for ((rows, dcs), lows) in block_rows {
        for (bx, (&d, low)) in dcs.iter().zip(lows.chunks_exact(24)).enumerate() {
            let block = idct4(d, low, &quant);
            for (y, pixels) in block.iter().enumerate() {
                let at = y * line + bx * 4;
                if let Some(out) = rows.get_mut(at..at + 4) {
                    out.copy_from_slice(pixels);
                }
            }
        }
    }
    px
}

/// One block at 1/2 (see [`half_plane`]); `quant` the quantisers of the
/// top-left 4×4 in natural order.
#[inline]
fn idct4(dc: i16, low: &[i16], quant: &[[i64; 4]; 4]) -> [[u8; 4]; 4] {
    let Ok(low) = <&[i16; 24]>::try_from(low) else {
        return [[128; 4]; 4];
    };
    let mut f = [[0i64; 4]; 4];
    let mut flat = true;
    for (v, row) in ZIGZAG_4X4.iter().enumerate() {
        for (u, &k) in row.iter().enumerate() {
            let c = match k {
                0 => dc,
                k => {
                    let c = low[k - 1];
                    flat &= c == 0;
                    c
                }
            };
            f[v][u] = i64::from(c) * quant[v][u];
        }
    }
    if flat {
        let level = ((f[0][0] + 4) >> 3) + 128;
        return [[level.clamp(0, 255) as u8; 4]; 4];
    }
    // Rows (horizontal frequencies → columns), kept with 2 more bits, then
    // columns; the sum over 4×4 is over 4, and 128 is the level shift.
    const PASS1: u32 = FIX_BITS - 2;
    let t = f.map(|row| idct4_1d(row).map(|x| (x + (1 << (PASS1 - 1))) >> PASS1));
    let mut out = [[0u8; 4]; 4];
    const PASS2: u32 = FIX_BITS + 2 + 2;
    for j in 0..4 {
        let column = idct4_1d([t[0][j], t[1][j], t[2][j], t[3][j]]);
        for (row, x) in out.iter_mut().zip(column) {
            row[j] = (((x + (1 << (PASS2 - 1))) >> PASS2) + 128).clamp(0, 255) as u8;
        }
    }
    out
}

/// JFIF YCbCr → RGB in 16.16 fixed point, as libjpeg's tables: each
/// chroma value's share of R, G and B, rounding folded in, so a pixel is
/// three additions (the same values as computing it whole).
struct YccTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    /// Fixed point, summed then shifted: `(cb_g[cb] + cr_g[cr]) >> 16`.
    cb_g: [i32; 256],
    cr_g: [i32; 256],
}

impl YccTables {
    fn new() -> Self {
        let mut t = YccTables {
            cr_r: [0; 256],
            cb_b: [0; 256],
            cb_g: [0; 256],
            cr_g: [0; 256],
        };
        for (i, c) in (-128..128).enumerate() {
            t.cr_r[i] = (91_881 * c + 32_768) >> 16;
            t.cb_b[i] = (116_130 * c + 32_768) >> 16;
            t.cb_g[i] = -22_554 * c;
            t.cr_g[i] = -46_802 * c + 32_768;
        }
        t
    }

    #[inline]
    fn rgb(&self, y: u8, cb: u8, cr: u8) -> [u8; 3] {
        let (y, cb, cr) = (i32::from(y), usize::from(cb), usize::from(cr));
        [
            y + self.cr_r[cr],
            y + ((self.cb_g[cb] + self.cr_g[cr]) >> 16),
            y + self.cb_b[cb],
        ]
        .map(|v| v.clamp(0, 255) as u8)
    }
}

/// The DC planes as pixels.
fn render(
    f: &Frame,
    quant: &[[i32; 64]; 4],
    adobe_transform: Option<u8>,
    scale: Scale,
) -> DynamicImage {
    let s = scale.per_block();
    let (w, h) = ((f.width * s).div_ceil(8), (f.height * s).div_ceil(8));
    // Each component's pixels, `s` per block side: at 1/8 a block's mean
    // level (libjpeg's 1×1 inverse DCT, rounded), at 1/4 its quadrants',
    // at 1/2 the 4×4 inverse DCT of its lowest coefficients.
    let planes: Vec<Vec<u8>> = f
        .components
        .iter()
        .enumerate()
        .map(|(c, comp)| {
            let q = &quant[comp.tq];
            let dc = &f.dc[c];
            if scale == Scale::Eighth {
                return dc
                    .iter()
                    .map(|&d| {
                        ((i32::from(d).wrapping_mul(q[0]).wrapping_add(4) >> 3) + 128).clamp(0, 255)
                            as u8
                    })
                    .collect();
            }
            let per_line = f.blocks_per_line(c);
            if scale == Scale::Half {
                return half_plane(dc, &f.ac[c], per_line, q);
            }
            // Two pixel rows per block row, two pixels per block.
            let line = per_line * 2;
            let weights = Quadrants::new(q);
            let mut px = vec![0u8; dc.len() * 4];
            let block_rows = px
                .chunks_exact_mut(2 * line)
                .zip(dc.chunks_exact(per_line))
                .zip(f.ac[c].chunks_exact(4 * per_line));
            for ((rows, dcs), lows) in block_rows {
                let (top, bottom) = rows.split_at_mut(line);
                let blocks = top
                    .chunks_exact_mut(2)
                    .zip(bottom.chunks_exact_mut(2))
                    .zip(dcs)
                    .zip(lows.chunks_exact(4));
                for (((t, b), &d), low) in blocks {
                    let Ok(low) = <&[i16; 4]>::try_from(low) else {
                        continue;
                    };
                    let [tl, tr, bl, br] = weights.of(d, low);
                    t.copy_from_slice(&[tl, tr]);
                    b.copy_from_slice(&[bl, br]);
                }
            }
            px
        })
        .collect();
    // Column → block column, per component (chroma replicated).
    let columns: Vec<Vec<usize>> = f
        .components
        .iter()
        .map(|comp| (0..w).map(|x| x * comp.h / f.hmax).collect())
        .collect();
    let row = |c: usize, y: usize| -> &[u8] {
        let per_line = f.blocks_per_line(c) * s;
        let by = y * f.components[c].v / f.vmax;
        planes[c]
            .get(by * per_line..(by + 1) * per_line)
            .unwrap_or(&[])
    };
    let at = |line: &[u8], i: usize| line.get(i).copied().unwrap_or(128);
    if f.components.len() == 1 {
        let mut px = Vec::with_capacity(w * h);
        for y in 0..h {
            let line = row(0, y);
            px.extend(columns[0].iter().map(|&bx| at(line, bx)));
        }
        return image::GrayImage::from_raw(w as u32, h as u32, px)
            .map_or_else(|| DynamicImage::new_luma8(1, 1), DynamicImage::ImageLuma8);
    }
    let ids: Vec<u8> = f.components.iter().map(|c| c.id).collect();
    let rgb = match adobe_transform {
        Some(t) => t == 0,
        None => ids == b"RGB",
    };
    let ycc = YccTables::new();
    let mut px = vec![0u8; w * h * 3];
    for (y, out) in px.chunks_exact_mut(w * 3).enumerate() {
        let (l0, l1, l2) = (row(0, y), row(1, y), row(2, y));
        let pixels = out
            .chunks_exact_mut(3)
            .zip(&columns[0])
            .zip(&columns[1])
            .zip(&columns[2]);
        if rgb {
            for (((o, &x0), &x1), &x2) in pixels {
                o.copy_from_slice(&[at(l0, x0), at(l1, x1), at(l2, x2)]);
            }
        } else {
            for (((o, &x0), &x1), &x2) in pixels {
                o.copy_from_slice(&ycc.rgb(at(l0, x0), at(l1, x1), at(l2, x2)));
            }
        }
    }
    image::RgbImage::from_raw(w as u32, h as u32, px)
        .map_or_else(|| DynamicImage::new_rgb8(1, 1), DynamicImage::ImageRgb8)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    /// drake's DC decode against jpeg-decoder's own 1/8 decode: mean
    /// absolute luma difference. jpeg-decoder truncates the 1×1 inverse
    /// DCT where libjpeg (and this decoder) round, so up to 1 per pixel
    /// is expected; a block out of place costs far more.
    fn compare(jpeg: &[u8]) -> f64 {
        compare_at(jpeg, Scale::Eighth)
    }

    /// The same at `scale` (at 1/4 jpeg-decoder's 2×2 inverse DCT samples
    /// the block where this decoder averages its quadrants: they differ
    /// by under a level on average, more on fine detail).
    fn compare_at(jpeg: &[u8], scale: Scale) -> f64 {
        let ours = decode_at(jpeg, scale).unwrap().unwrap();
        let mut d = jpeg_decoder::Decoder::new(jpeg);
        d.read_info().unwrap();
        let info = d.info().unwrap();
        let div = 8 / scale.per_block() as u16;
        d.scale(info.width.div_ceil(div), info.height.div_ceil(div))
            .unwrap();
        let theirs = d.decode().unwrap();
        let info = d.info().unwrap();
        assert_eq!(
            (ours.width(), ours.height()),
            (u32::from(info.width), u32::from(info.height))
        );
        let (ours, theirs) = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => (ours.to_luma8().into_raw(), theirs),
            // Luma only: jpeg-decoder interpolates subsampled chroma where
            // libjpeg (and this decoder) replicate it at 1/8, so colours
            // legitimately differ at chroma edges; luma must not.
            _ => {
                let (w, h) = (u32::from(info.width), u32::from(info.height));
                let theirs = image::RgbImage::from_raw(w, h, theirs).unwrap();
                (
                    ours.to_luma8().into_raw(),
                    DynamicImage::ImageRgb8(theirs).to_luma8().into_raw(),
                )
            }
        };
        mean_difference(&ours, &theirs)
    }

    /// The mean absolute difference of two same-sized sample buffers.
    fn mean_difference(ours: &[u8], theirs: &[u8]) -> f64 {
        assert_eq!(ours.len(), theirs.len());
        let diff: u64 = ours
            .iter()
            .zip(theirs)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        diff as f64 / ours.len() as f64
    }

    fn noisy(w: u32, h: u32) -> DynamicImage {
        let mut img = crate::samples::gradient(w, h).to_rgb8();
        for (i, p) in img.pixels_mut().enumerate() {
            let n = ((i as u32).wrapping_mul(2_654_435_761) >> 27) as u8;
            p.0[0] = p.0[0].wrapping_add(n);
        }
        DynamicImage::ImageRgb8(img)
    }

    /// Colours, not only luma: a smooth colour gradient in every chroma
    /// sampling agrees with `jpeg-decoder` channel by channel at every
    /// scale (a swapped or misplaced chroma plane would be off by tens).
    #[test]
    fn colours_agree_with_the_general_decoder() {
        use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
        let img = crate::samples::gradient(331, 247).to_rgb8();
        for sampling in [
            SamplingFactor::F_1_1,
            SamplingFactor::F_2_1,
            SamplingFactor::F_2_2,
            SamplingFactor::F_4_1,
        ] {
            let mut jpeg = Vec::new();
            let mut e = Encoder::new(&mut jpeg, 90);
            e.set_sampling_factor(sampling);
            e.encode(img.as_raw(), 331, 247, ColorType::Rgb).unwrap();
            for scale in [Scale::Eighth, Scale::Quarter, Scale::Half] {
                let ours = decode_at(&jpeg, scale).unwrap().unwrap().to_rgb8();
                let mut d = jpeg_decoder::Decoder::new(jpeg.as_slice());
                d.read_info().unwrap();
                let div = 8 / scale.per_block() as u16;
                d.scale(331u16.div_ceil(div), 247u16.div_ceil(div)).unwrap();
                let theirs = d.decode().unwrap();
                let mean = mean_difference(ours.as_raw(), &theirs);
                // Replicated chroma (libjpeg's at these scales) against
                // jpeg-decoder's interpolated: up to ~2.4 on a ramp.
                assert!(mean <= 3.0, "{sampling:?} {scale:?}: {mean}");
            }
        }
    }

    #[test]
    fn equals_the_general_decoder_at_one_eighth() {
        for (w, h) in [(333, 250), (64, 64), (17, 9), (1, 1), (800, 17)] {
            let rgb = crate::samples::encode(&noisy(w, h), image::ImageFormat::Jpeg);
            let mean = compare(&rgb);
            assert!(mean <= 1.0, "{w}×{h} rgb: {mean}");
            let gray = DynamicImage::ImageLuma8(noisy(w, h).to_luma8());
            let gray = crate::samples::encode(&gray, image::ImageFormat::Jpeg);
            let mean = compare(&gray);
            assert!(mean <= 1.0, "{w}×{h} gray: {mean}");
        }
    }

    #[test]
    fn quarter_and_half_scales_agree_with_the_general_decoder() {
        use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
        let smooth = crate::samples::gradient(333, 250);
        let rgb = crate::samples::encode(&smooth, image::ImageFormat::Jpeg);
        let mean = compare_at(&rgb, Scale::Quarter);
        assert!(mean <= 0.5, "smooth: {mean}");
        let img = noisy(301, 203).to_rgb8();
        // Every sampling, baseline and progressive (spectral selection
        // alone, as jpeg-encoder writes it), with and without restarts.
        let samplings = [
            SamplingFactor::F_1_1,
            SamplingFactor::F_2_1,
            SamplingFactor::F_2_2,
            SamplingFactor::F_4_1,
        ];
        for (sampling, progressive) in samplings.iter().flat_map(|&s| [(s, false), (s, true)]) {
            for restart in [0, 3] {
                let mut jpeg = Vec::new();
                let mut e = Encoder::new(&mut jpeg, 85);
                e.set_sampling_factor(sampling);
                e.set_progressive(progressive);
                e.set_restart_interval(restart);
                e.encode(img.as_raw(), 301, 203, ColorType::Rgb).unwrap();
                let mean = compare_at(&jpeg, Scale::Quarter);
                let what = format!("{sampling:?} progressive {progressive} restart {restart}");
                assert!(mean <= 1.5, "{what}: {mean}");
                let mean = compare_at(&jpeg, Scale::Half);
                assert!(mean <= 1.0, "{what} at 1/2: {mean}");
            }
        }
        // libjpeg's progressive script, with successive approximation
        // (refinement scans), colour and grey, from sharp.
        for name in ["progressive-420.jpg", "progressive-gray.jpg"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name);
            let jpeg = std::fs::read(&path).unwrap();
            let mean = compare_at(&jpeg, Scale::Quarter);
            // ~0.9; without the correction bits 1.57.
            assert!(mean <= 1.2, "{name}: {mean}");
            let mean = compare_at(&jpeg, Scale::Half);
            assert!(mean <= 1.0, "{name} at 1/2: {mean}");
        }
    }

    #[test]
    fn progressive_and_subsampled_files() {
        // Made by sharp (mozjpeg) from a real photo; see
        // tests/fixtures/README.md.
        for name in [
            "progressive-420.jpg",
            "baseline-444.jpg",
            "progressive-gray.jpg",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name);
            let jpeg = std::fs::read(&path).unwrap();
            let mean = compare(&jpeg);
            assert!(mean <= 1.0, "{name}: {mean}");
        }
    }

    #[test]
    fn restart_intervals_and_sampling_factors() {
        use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
        let img = noisy(301, 203).to_rgb8();
        for sampling in [
            SamplingFactor::F_1_1,
            SamplingFactor::F_2_1,
            SamplingFactor::F_1_2,
            SamplingFactor::F_2_2,
            SamplingFactor::F_4_1,
        ] {
            for (restart, progressive) in [(0, false), (3, false), (0, true), (5, true)] {
                let mut jpeg = Vec::new();
                let mut e = Encoder::new(&mut jpeg, 85);
                e.set_sampling_factor(sampling);
                e.set_restart_interval(restart);
                e.set_progressive(progressive);
                e.encode(img.as_raw(), 301, 203, ColorType::Rgb).unwrap();
                let mean = compare(&jpeg);
                assert!(
                    mean <= 1.0,
                    "{sampling:?} restart {restart} progressive {progressive}: {mean}"
                );
            }
        }
    }

    #[test]
    fn full_blocks_and_long_codes() {
        // White noise at quality 100: most blocks code all 63 AC
        // coefficients (no end of block, so a skip entry would run into
        // the next block's DC) and many codes exceed the lookup tables.
        use jpeg_encoder::{ColorType, Encoder};
        let (w, h) = (160u16, 96u16);
        let mut seed = 0x2545_f491_u32;
        let noise: Vec<u8> = (0..usize::from(w) * usize::from(h) * 3)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (seed >> 24) as u8
            })
            .collect();
        for restart in [0, 7] {
            let mut jpeg = Vec::new();
            let mut e = Encoder::new(&mut jpeg, 100);
            e.set_restart_interval(restart);
            e.encode(&noise, w, h, ColorType::Rgb).unwrap();
            let mean = compare(&jpeg);
            assert!(mean <= 1.0, "restart {restart}: {mean}");
        }
    }

    /// A progressive file whose data ends inside a detail (AC) scan has
    /// every pixel, at less detail, at every reduced scale (as at 1/8, and
    /// as browsers show a progressive image still loading); one cut in its
    /// first (DC) scan is cut short.
    #[test]
    fn a_progressive_file_cut_in_a_detail_scan_shows_what_it_has() {
        let jpeg = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/progressive-420.jpg"),
        )
        .unwrap();
        // The start of the fourth scan: past the DC scan and two AC ones.
        let scans: Vec<usize> = (0..jpeg.len() - 1)
            .filter(|&i| jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA)
            .collect();
        let cut = &jpeg[..scans[3] + 200];
        for scale in [Scale::Eighth, Scale::Quarter, Scale::Half] {
            let whole = decode_at(&jpeg, scale).unwrap().unwrap();
            let part = decode_at(cut, scale).unwrap().unwrap();
            let size = |i: &DynamicImage| (i.width(), i.height());
            assert_eq!(size(&part), size(&whole), "{scale:?}");
            // Less detail, the same picture.
            let mean = mean_difference(part.to_luma8().as_raw(), whole.to_luma8().as_raw());
            assert!(mean < 12.0, "{scale:?}: {mean}");
        }
        let in_dc = &jpeg[..scans[0] + 300];
        assert_eq!(decode_at(in_dc, Scale::Quarter).unwrap_err(), TRUNCATED);
    }

    #[test]
    fn damaged_files_do_not_panic() {
        let baseline = crate::samples::encode(&noisy(200, 120), image::ImageFormat::Jpeg);
        // Refinement scans (successive approximation) too.
        let progressive = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/progressive-420.jpg"),
        )
        .unwrap();
        for jpeg in [&baseline, &progressive] {
            for scale in [Scale::Eighth, Scale::Quarter, Scale::Half] {
                for cut in (3..jpeg.len()).step_by(jpeg.len() / 40) {
                    let _ = decode_at(&jpeg[..cut], scale);
                }
                // Bytes flipped all through the entropy data, at several
                // strides and patterns.
                for (stride, pattern) in [(97, 0x5A), (31, 0xFF), (1013, 0x01), (7, 0x80)] {
                    let mut flipped = jpeg.clone();
                    for i in (400..flipped.len()).step_by(stride) {
                        flipped[i] ^= pattern;
                    }
                    let _ = decode_at(&flipped, scale);
                }
            }
        }
        assert!(decode(b"\xFF\xD8").is_err());
        assert!(decode(b"GIF89a").is_err());
    }
}

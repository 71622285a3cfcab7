//! The AVIF container (HEIF/ISOBMFF, ISO/IEC 23008-12 and the AV1 Image
//! File Format), read here so the pixels alone go to a native AV1 decoder
//! ([`crate::native`]): the primary item's AV1 data, its alpha auxiliary
//! item, size (`ispe`), the turn and mirror (`irot`, `imir`), the ICC
//! profile (`colr`), bit depth (`pixi`) and the EXIF item.
//!
//! Every offset and length is checked against the file; a box, an item or
//! a property that does not fit is "damaged headers", never a panic.
//! Grid images (tiles, `grid` items) and image sequences without a
//! still primary item are refused with a message naming what is missing;
//! a sequence with one is read as that still.

use image::metadata::Orientation;

/// Most items or properties one file may list: real files have a handful;
/// a few thousand bounds the work a hostile header can ask for.
const MAX_ENTRIES: usize = 4096;

/// What the container says of its primary image.
#[derive(Debug, Clone, PartialEq)]
pub struct Avif {
    /// Stored width (`ispe`, before the turn).
    pub width: u32,
    /// Stored height.
    pub height: u32,
    /// Bits per sample (`pixi`, else 8).
    pub depth: u8,
    /// The primary item's AV1 data (OBUs, sequence header first).
    pub color: Vec<u8>,
    /// The alpha plane's AV1 data (a monochrome auxiliary image).
    pub alpha: Option<Vec<u8>>,
    /// The turn and mirror (`irot`, `imir`) as an EXIF orientation.
    /// An EXIF orientation tag in the file is ignored, as MIAF requires
    /// and browsers do.
    pub orientation: Orientation,
    /// The ICC profile (`colr` of type `prof` or `rICC`).
    pub icc: Option<Vec<u8>>,
    /// The EXIF TIFF block (the `Exif` item, after its offset prefix).
    pub exif: Option<Vec<u8>>,
}

/// Why a file cannot be read as AVIF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn damaged(what: &str) -> Error {
    Error(format!("damaged AVIF headers ({what})"))
}

/// Whether `bytes` starts like an AVIF file (`ftyp` naming `avif`/`avis`).
pub fn sniff(bytes: &[u8]) -> bool {
    let Some(ftyp) = Boxes::new(bytes).next().and_then(Result::ok) else {
        return false;
    };
    ftyp.kind == *b"ftyp" && brands(ftyp.body).any(|b| b == *b"avif" || b == *b"avis")
}

/// The major and compatible brands of an `ftyp` body.
fn brands(body: &[u8]) -> impl Iterator<Item = [u8; 4]> + '_ {
    let major = body.get(..4).into_iter();
    let compatible = body.get(8..).unwrap_or_default().chunks_exact(4);
    major
        .chain(compatible)
        .filter_map(|b| <[u8; 4]>::try_from(b).ok())
}

/// One box: its four-character type and body.
struct Bx<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

/// The boxes laid end to end in `data`.
struct Boxes<'a> {
    data: &'a [u8],
}

impl<'a> Boxes<'a> {
    fn new(data: &'a [u8]) -> Self {
        Boxes { data }
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<Bx<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let parsed = (|| {
            let mut r = Reader::new(self.data);
            let size = r.u32()?;
            let kind = r.four()?;
            let (header, size) = match size {
                0 => (8, self.data.len() as u64),
                1 => (16, r.u64()?),
                n => (8, u64::from(n)),
            };
            let size = usize::try_from(size).ok()?;
            let body = self.data.get(header..size)?;
            let rest = self.data.get(size..)?;
            Some((Bx { kind, body }, rest))
        })();
        match parsed {
            Some((bx, rest)) => {
                self.data = rest;
                Some(Ok(bx))
            }
            None => {
                self.data = &[];
                Some(Err(damaged("a box runs past its parent")))
            }
        }
    }
}

/// A big-endian reader over a box body.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.data.split_at_checked(n)?;
        self.data = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn four(&mut self) -> Option<[u8; 4]> {
        self.take(4)?.try_into().ok()
    }

    /// An unsigned integer of `size` bytes (0, 4 or 8 in `iloc`).
    fn sized(&mut self, size: u8) -> Option<u64> {
        match size {
            0 => Some(0),
            4 => self.u32().map(u64::from),
            8 => self.u64(),
            _ => None,
        }
    }

    /// A 16-bit id in version 0 of a box, 32-bit after.
    fn id(&mut self, wide: bool) -> Option<u32> {
        if wide {
            self.u32()
        } else {
            self.u16().map(u32::from)
        }
    }

    /// A full box's version and flags.
    fn full(&mut self) -> Option<(u8, u32)> {
        let v = self.u32()?;
        Some(((v >> 24) as u8, v & 0x00FF_FFFF))
    }

    /// A NUL-terminated string (the rest when unterminated).
    fn cstr(&mut self) -> &'a [u8] {
        let end = self.data.iter().position(|&b| b == 0);
        let s = &self.data[..end.unwrap_or(self.data.len())];
        self.data = &self.data[end.map_or(self.data.len(), |e| e + 1)..];
        s
    }
}

/// Where an item's bytes are.
struct Location {
    item: u32,
    /// 0: file offsets, 1: offsets in `idat`.
    method: u8,
    extents: Vec<(u64, u64)>,
}

/// A property of `ipco` (only the ones drake reads).
#[derive(Clone)]
enum Property<'a> {
    Size(u32, u32),
    Turn(u8),
    Mirror(u8),
    Icc(&'a [u8]),
    Depth(u8),
    AlphaAux,
    Other,
}

/// Everything `meta` lists.
#[derive(Default)]
struct Meta<'a> {
    primary: Option<u32>,
    types: Vec<(u32, [u8; 4])>,
    locations: Vec<Location>,
    /// Extents listed by every location (bounded like the entries).
    extents: usize,
    /// `(kind, from, to)` item references.
    refs: Vec<([u8; 4], u32, u32)>,
    properties: Vec<Property<'a>>,
    /// `(item, property indexes from 1)`.
    associations: Vec<(u32, Vec<u16>)>,
    idat: &'a [u8],
}

/// Read the container of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Avif, Error> {
    // An image sequence (`avis`) is read as its primary still.
    let mut meta = None;
    for bx in Boxes::new(bytes) {
        // At the top level, a box past the end is a file cut short.
        let bx =
            bx.map_err(|_| Error("the file ends inside a box (it is cut short)".to_owned()))?;
        if bx.kind == *b"meta" {
            meta = Some(read_meta(bx.body)?);
        }
    }
    let meta = meta.ok_or_else(|| {
        Error("the AVIF file has no still image (an image sequence only)".to_owned())
    })?;
    let primary = meta.primary.ok_or_else(|| damaged("no primary item"))?;
    match meta.kind(primary) {
        Some(b"av01") => {}
        Some(b"grid") => {
            return Err(Error(
                "AVIF grid images (tiled) are not supported; save it as one AV1 image".to_owned(),
            ));
        }
        Some(other) => {
            return Err(Error(format!(
                "the AVIF primary item is {:?}, not AV1",
                String::from_utf8_lossy(other)
            )));
        }
        None => return Err(damaged("the primary item is not listed")),
    }
    let (width, height) = meta
        .props(primary)
        .find_map(|p| match p {
            Property::Size(w, h) => Some((w, h)),
            _ => None,
        })
        .ok_or_else(|| damaged("the primary item has no size"))?;
    let turn = meta.props(primary).find_map(|p| match p {
        Property::Turn(t) => Some(t),
        _ => None,
    });
    let mirror = meta.props(primary).find_map(|p| match p {
        Property::Mirror(m) => Some(m),
        _ => None,
    });
    let depth = meta
        .props(primary)
        .find_map(|p| match p {
            Property::Depth(d) => Some(d),
            _ => None,
        })
        .unwrap_or(8);
    let icc = meta.props(primary).find_map(|p| match p {
        Property::Icc(icc) => Some(icc.to_vec()),
        _ => None,
    });
    let alpha = meta
        .refs
        .iter()
        .filter(|(kind, _, to)| kind == b"auxl" && *to == primary)
        .map(|&(_, from, _)| from)
        .find(|&item| {
            meta.kind(item) == Some(b"av01")
                && meta.props(item).any(|p| matches!(p, Property::AlphaAux))
        });
    let alpha = alpha.map(|item| meta.data(bytes, item)).transpose()?;
    let exif = meta
        .refs
        .iter()
        .filter(|(kind, _, to)| kind == b"cdsc" && *to == primary)
        .map(|&(_, from, _)| from)
        .find(|&item| meta.kind(item) == Some(b"Exif"))
        .and_then(|item| meta.data(bytes, item).ok())
        .and_then(|data| exif_tiff(&data));
    Ok(Avif {
        width,
        height,
        depth,
        color: meta.data(bytes, primary)?,
        alpha,
        orientation: orientation(turn, mirror),
        icc,
        exif,
    })
}

/// The TIFF block of an `Exif` item: a 4-byte offset to the TIFF header,
/// then the data.
fn exif_tiff(data: &[u8]) -> Option<Vec<u8>> {
    let offset = usize::try_from(u32::from_be_bytes(data.get(..4)?.try_into().ok()?)).ok()?;
    Some(data.get(4usize.checked_add(offset)?..)?.to_vec())
}

/// The EXIF orientation of a turn (`irot`: quarter turns anticlockwise)
/// followed by a mirror (`imir`: 0 about the vertical axis, top and bottom
/// swapped; 1 about the horizontal one, left and right swapped) — the
/// mapping libavif and Pillow use.
fn orientation(turn: Option<u8>, mirror: Option<u8>) -> Orientation {
    let exif = match (turn.unwrap_or(0) & 3, mirror.map(|m| m & 1)) {
        (0, None) => 1,
        (0, Some(1)) => 2,
        (0, Some(_)) => 4,
        (1, None) => 8,
        (1, Some(1)) => 7,
        (1, Some(_)) => 5,
        (2, None) => 3,
        (2, Some(1)) => 4,
        (2, Some(_)) => 2,
        (_, None) => 6,
        (_, Some(1)) => 5,
        (_, Some(_)) => 7,
    };
    Orientation::from_exif(exif).unwrap_or(Orientation::NoTransforms)
}

impl<'a> Meta<'a> {
    fn kind(&self, item: u32) -> Option<&[u8; 4]> {
        self.types
            .iter()
            .find(|(id, _)| *id == item)
            .map(|(_, t)| t)
    }

    fn props(&self, item: u32) -> impl Iterator<Item = Property<'a>> + '_ {
        self.associations
            .iter()
            .filter(move |(id, _)| *id == item)
            .flat_map(|(_, indexes)| indexes.iter())
            .filter_map(|&i| self.properties.get(usize::from(i).checked_sub(1)?).cloned())
    }

    /// An item's bytes, its extents joined.
    fn data(&self, file: &[u8], item: u32) -> Result<Vec<u8>, Error> {
        let loc = self
            .locations
            .iter()
            .find(|l| l.item == item)
            .ok_or_else(|| damaged("an item has no location"))?;
        let source = match loc.method {
            0 => file,
            1 => self.idat,
            _ => return Err(damaged("an item stored in another item")),
        };
        let mut out = Vec::new();
        for &(offset, len) in &loc.extents {
            let start = usize::try_from(offset).map_err(|_| damaged("an item offset"))?;
            // A length of 0 means "to the end of the file".
            let end = if len == 0 {
                source.len()
            } else {
                usize::try_from(
                    offset
                        .checked_add(len)
                        .ok_or_else(|| damaged("an item length"))?,
                )
                .map_err(|_| damaged("an item length"))?
            };
            let part = source.get(start..end).ok_or_else(|| {
                Error("an image's data runs past the end of the file (it is cut short)".to_owned())
            })?;
            // Extents may overlap, but an item larger than its source is a
            // hostile header (4096 whole-file extents: gigabytes to copy).
            if out.len() + part.len() > source.len() {
                return Err(damaged("an item's extents add up to more than the file"));
            }
            out.extend_from_slice(part);
        }
        if out.is_empty() {
            return Err(damaged("an item has no data"));
        }
        Ok(out)
    }
}

fn read_meta(body: &[u8]) -> Result<Meta<'_>, Error> {
    let mut r = Reader::new(body);
    r.full().ok_or_else(|| damaged("meta"))?;
    let mut meta = Meta::default();
    for bx in Boxes::new(r.data) {
        let bx = bx?;
        let what = String::from_utf8_lossy(&bx.kind).into_owned();
        let ok = match &bx.kind {
            b"pitm" => read_pitm(bx.body, &mut meta),
            b"iinf" => read_iinf(bx.body, &mut meta),
            b"iloc" => read_iloc(bx.body, &mut meta),
            b"iref" => read_iref(bx.body, &mut meta),
            b"iprp" => read_iprp(bx.body, &mut meta),
            b"idat" => {
                meta.idat = bx.body;
                Some(())
            }
            _ => Some(()),
        };
        ok.ok_or_else(|| damaged(&what))?;
    }
    Ok(meta)
}

fn read_pitm(body: &[u8], meta: &mut Meta<'_>) -> Option<()> {
    let mut r = Reader::new(body);
    let (version, _) = r.full()?;
    meta.primary = Some(r.id(version > 0)?);
    Some(())
}

fn read_iinf(body: &[u8], meta: &mut Meta<'_>) -> Option<()> {
    let mut r = Reader::new(body);
    let (version, _) = r.full()?;
    r.id(version > 0)?;
    for infe in Boxes::new(r.data).take(MAX_ENTRIES) {
        let infe = infe.ok()?;
        if infe.kind != *b"infe" {
            continue;
        }
        let mut r = Reader::new(infe.body);
        let (version, _) = r.full()?;
        if version < 2 {
            // Versions 0 and 1 have no item type (no AVIF writer uses them).
            continue;
        }
        let item = r.id(version > 2)?;
        r.u16()?;
        meta.types.push((item, r.four()?));
    }
    Some(())
}

fn read_iloc(body: &[u8], meta: &mut Meta<'_>) -> Option<()> {
    let mut r = Reader::new(body);
    let (version, _) = r.full()?;
    let sizes = r.u16()?;
    let offset_size = (sizes >> 12) as u8;
    let length_size = ((sizes >> 8) & 15) as u8;
    let base_size = ((sizes >> 4) & 15) as u8;
    let index_size = if version > 0 { (sizes & 15) as u8 } else { 0 };
    let count = if version < 2 {
        u32::from(r.u16()?)
    } else {
        r.u32()?
    };
    for _ in 0..count.min(MAX_ENTRIES as u32) {
        let item = r.id(version >= 2)?;
        let method = if version > 0 {
            (r.u16()? & 15) as u8
        } else {
            0
        };
        r.u16()?; // data_reference_index: 0, this file
        let base = r.sized(base_size)?;
        let extents = r.u16()?;
        let mut location = Location {
            item,
            method,
            extents: Vec::new(),
        };
        // Zero-sized fields read no bytes: 65535 extents per item could be
        // listed for free, so they count against the same bound.
        if meta.extents + usize::from(extents) > MAX_ENTRIES {
            return None;
        }
        meta.extents += usize::from(extents);
        for _ in 0..extents {
            r.sized(index_size)?;
            let offset = base.checked_add(r.sized(offset_size)?)?;
            location.extents.push((offset, r.sized(length_size)?));
        }
        meta.locations.push(location);
    }
    Some(())
}

fn read_iref(body: &[u8], meta: &mut Meta<'_>) -> Option<()> {
    let mut r = Reader::new(body);
    let (version, _) = r.full()?;
    for bx in Boxes::new(r.data).take(MAX_ENTRIES) {
        let bx = bx.ok()?;
        let mut r = Reader::new(bx.body);
        let from = r.id(version > 0)?;
        let count = r.u16()?;
        for _ in 0..count {
            let to = r.id(version > 0)?;
            if meta.refs.len() < MAX_ENTRIES {
                meta.refs.push((bx.kind, from, to));
            }
        }
    }
    Some(())
}

fn read_iprp<'a>(body: &'a [u8], meta: &mut Meta<'a>) -> Option<()> {
    for bx in Boxes::new(body) {
        let bx = bx.ok()?;
        match &bx.kind {
            b"ipco" => {
                for prop in Boxes::new(bx.body).take(MAX_ENTRIES) {
                    let prop = prop.ok()?;
                    meta.properties
                        .push(read_property(&prop).unwrap_or(Property::Other));
                }
            }
            b"ipma" => {
                let mut r = Reader::new(bx.body);
                let (version, flags) = r.full()?;
                let count = r.u32()?;
                for _ in 0..count.min(MAX_ENTRIES as u32) {
                    let item = r.id(version > 0)?;
                    let n = r.u8()?;
                    let mut indexes = Vec::with_capacity(usize::from(n));
                    for _ in 0..n {
                        let index = if flags & 1 == 1 {
                            r.u16()? & 0x7FFF
                        } else {
                            u16::from(r.u8()? & 0x7F)
                        };
                        indexes.push(index);
                    }
                    meta.associations.push((item, indexes));
                }
            }
            _ => {}
        }
    }
    Some(())
}

/// One property, when it is one drake reads and it parses.
fn read_property<'a>(bx: &Bx<'a>) -> Option<Property<'a>> {
    let mut r = Reader::new(bx.body);
    Some(match &bx.kind {
        b"ispe" => {
            r.full()?;
            Property::Size(r.u32()?, r.u32()?)
        }
        b"irot" => Property::Turn(r.u8()? & 3),
        b"imir" => Property::Mirror(r.u8()? & 1),
        b"colr" => match &r.four()? {
            b"prof" | b"rICC" => Property::Icc(r.data),
            _ => Property::Other,
        },
        b"pixi" => {
            r.full()?;
            let channels = r.u8()?;
            if channels == 0 {
                return None;
            }
            Property::Depth(r.u8()?)
        }
        b"auxC" => {
            r.full()?;
            let urn = r.cstr();
            if urn == b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha"
                || urn == b"urn:mpeg:hevc:2015:auxid:1"
            {
                Property::AlphaAux
            } else {
                Property::Other
            }
        }
        _ => Property::Other,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn turns_and_mirrors_map_as_libavif_does() {
        use Orientation::*;
        assert_eq!(orientation(None, None), NoTransforms);
        assert_eq!(orientation(Some(1), None), Rotate270);
        assert_eq!(orientation(Some(2), None), Rotate180);
        assert_eq!(orientation(Some(3), None), Rotate90);
        assert_eq!(orientation(None, Some(1)), FlipHorizontal);
        assert_eq!(orientation(None, Some(0)), FlipVertical);
        assert_eq!(orientation(Some(1), Some(0)), Rotate90FlipH);
        assert_eq!(orientation(Some(3), Some(0)), Rotate270FlipH);
    }

    #[test]
    fn garbage_is_damaged_headers_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\0\0\0\x08ftyp",
            b"\0\0\0\x14ftypavif\0\0\0\0avif\xff\xff\xff\xffmeta",
            b"\0\0\0\x01ftyp\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            assert!(parse(bytes).is_err());
        }
        assert!(sniff(b"\0\0\0\x14ftypavif\0\0\0\0mif1"));
        assert!(!sniff(b"\0\0\0\x14ftypheic\0\0\0\0mif1"));
    }

    /// A box of `kind` around `body`.
    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len() + 8)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    /// A full box (version 0, no flags).
    fn full(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        bx(kind, &[&[0, 0, 0, 0][..], body].concat())
    }

    /// A one-item AVIF file: item 1 of `item_type`, 64x48, its data the
    /// `extents` (offset, length) of the file, or 4 bytes of `mdat`.
    fn file(item_type: &[u8; 4], extents: Option<&[(u32, u32)]>) -> Vec<u8> {
        let ftyp = bx(b"ftyp", b"avif\0\0\0\0avifmif1");
        let infe = bx(
            b"infe",
            &[&[2, 0, 0, 0, 0, 1, 0, 0][..], item_type, b"\0"].concat(),
        );
        let iinf = full(b"iinf", &[&[0, 1][..], &infe].concat());
        let pitm = full(b"pitm", &[0, 1]);
        let ispe = full(b"ispe", &[0, 0, 0, 64, 0, 0, 0, 48]);
        let ipco = bx(b"ipco", &ispe);
        let ipma = full(b"ipma", &[0, 0, 0, 1, 0, 1, 1, 0x81]);
        let iprp = bx(b"iprp", &[ipco, ipma].concat());
        // The iloc's size is the same whatever the offsets: build it once
        // to learn where mdat's body lands.
        let iloc = |offsets: &[(u32, u32)]| {
            let count = u16::try_from(offsets.len()).unwrap();
            let mut body = vec![0x44, 0x00, 0, 1, 0, 1, 0, 0];
            body.extend_from_slice(&count.to_be_bytes());
            for (offset, len) in offsets {
                body.extend_from_slice(&offset.to_be_bytes());
                body.extend_from_slice(&len.to_be_bytes());
            }
            full(b"iloc", &body)
        };
        let mdat_body = [1u8, 2, 3, 4];
        let meta_with = |iloc: &[u8]| full(b"meta", &[&pitm[..], &iinf, iloc, &iprp].concat());
        let probe = meta_with(&iloc(&[(0, 4)]));
        let at = u32::try_from(ftyp.len() + probe.len() + 8).unwrap();
        let extents = extents.map_or_else(|| vec![(at, 4)], <[_]>::to_vec);
        let meta = meta_with(&iloc(&extents));
        [ftyp, meta, bx(b"mdat", &mdat_body)].concat()
    }

    #[test]
    fn a_synthetic_file_reads_and_grid_or_other_items_are_named() {
        let ok = parse(&file(b"av01", None)).unwrap();
        assert_eq!((ok.width, ok.height, ok.depth), (64, 48, 8));
        assert_eq!(ok.color, [1, 2, 3, 4]);
        let grid = parse(&file(b"grid", None)).unwrap_err();
        assert!(
            grid.0.contains("grid images (tiled) are not supported"),
            "{grid}"
        );
        let hevc = parse(&file(b"hvc1", None)).unwrap_err();
        assert!(hevc.0.contains("\"hvc1\", not AV1"), "{hevc}");
    }

    #[test]
    fn hostile_extents_are_refused_before_any_large_copy() {
        // 2000 extents each covering the whole file (length 0: "to the
        // end"): more bytes than the file holds.
        let whole = vec![(0, 0); 2000];
        let err = parse(&file(b"av01", Some(&whole))).unwrap_err();
        assert!(err.0.contains("more than the file"), "{err}");
        // More extents than the bound: damaged iloc, not 65535 x 4096 entries.
        let many = vec![(0, 1); MAX_ENTRIES + 1];
        let err = parse(&file(b"av01", Some(&many))).unwrap_err();
        assert!(err.0.contains("iloc"), "{err}");
        // Overlapping extents within the file's size are fine.
        let ok = parse(&file(b"av01", Some(&[(0, 4), (0, 4)]))).unwrap();
        assert_eq!(ok.color.len(), 8);
        // An extent past the end: cut short.
        let err = parse(&file(b"av01", Some(&[(1 << 20, 4)]))).unwrap_err();
        assert!(err.0.contains("cut short"), "{err}");
    }
}

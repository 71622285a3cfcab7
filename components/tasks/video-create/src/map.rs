//! `<image type="map">` (sxml.md §8.1): a still drawn from slippy-map
//! tiles, then used like any picture.
//!
//! The server names its tile source (`[maps] tile_url`, OpenStreetMap's
//! `{z}/{x}/{y}` scheme of 256-pixel Web Mercator tiles) and, for place
//! names, a Nominatim-style geocoder (`[maps] geocoder_url`); both are
//! fetched under the network policy, each tile and each place once per
//! task. One small ffmpeg job per map stitches its tiles, cuts the view,
//! scales it (a fractional zoom: the tiles of its integer part, scaled by
//! 2^fraction), draws the markers and the attribution, and writes a PNG.

use std::collections::BTreeMap;
use std::f64::consts::PI;

use drake_sdk::media::{JobInput, opts};
use drake_sdk::{Ctx, FfmpegError, Input, Job, TaskError};
use drake_sxml::Node;

use crate::render::Asset;
use crate::text;

/// Tile side in pixels (the slippy-map scheme's).
const TILE: f64 = 256.0;
/// Deepest zoom: OpenStreetMap's tile servers stop at 19.
const MAX_ZOOM: f64 = 19.0;
/// Zoom without a `zoom`: a city and its surroundings.
const DEFAULT_ZOOM: f64 = 10.0;
/// Size without a `size`: the 720p frame the map is usually shown in.
const DEFAULT_SIZE: (u32, u32) = (1280, 720);
/// Largest side: 2048 px needs at most 9 × 9 tiles at an integer zoom.
const MAX_SIDE: u32 = 2048;
/// Tiles per map: 2048 px at a zoom fraction near 1 needs 9 × 9; a few
/// more for the edges. Bounds one map's ffmpeg inputs.
const MAX_TILES_PER_MAP: usize = 100;
/// Distinct tiles per task: four maps at the largest size. Tile servers
/// are shared (OpenStreetMap's policy forbids heavy use): one document
/// must not turn into thousands of requests.
const MAX_TILES_PER_TASK: usize = 400;
/// Distinct place names per task: Nominatim-style geocoders ask for about
/// one request a second.
const MAX_PLACES_PER_TASK: usize = 20;
/// Bytes per tile (a 256-px PNG or JPEG is far smaller).
const MAX_TILE_BYTES: u64 = 2 << 20;
/// Bytes of a geocoder answer (a JSON list of a few places).
const MAX_GEOCODER_BYTES: u64 = 1 << 20;
/// Web Mercator's latitude limit (the square world).
const MAX_LAT: f64 = 85.051_128_78;
/// Colour where there is no tile (beyond the poles): a neutral grey.
const NO_TILE: &str = "0xDDDDDD";

/// Tiles and places fetched so far in this task.
#[derive(Default)]
pub struct Maps {
    tiles: BTreeMap<String, Box<dyn Input>>,
    places: BTreeMap<String, (f64, f64)>,
}

/// A map's view, in pixels of the whole world at zoom `z` (an integer).
struct View {
    z: u32,
    /// Output pixels per world pixel (2^fraction of the zoom).
    scale: f64,
    /// World pixel of the view's top left corner.
    left: f64,
    top: f64,
    width: u32,
    height: u32,
}

impl View {
    fn world(&self, (lat, lon): (f64, f64)) -> (f64, f64) {
        world(self.z, lat, lon)
    }
}

/// World pixel of a place at integer zoom `z` (Web Mercator).
fn world(z: u32, lat: f64, lon: f64) -> (f64, f64) {
    let n = TILE * f64::from(1u32 << z);
    let phi = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / PI) / 2.0 * n;
    (x, y)
}

impl Maps {
    /// Draw `node` as a PNG: the picture and its asset record.
    pub fn draw(
        &mut self,
        ctx: &mut dyn Ctx,
        node: &Node,
        input: usize,
    ) -> Result<(Box<dyn Input>, Asset), TaskError> {
        let place = node.place();
        let bad = |m: String| {
            TaskError::parameter(
                "definition",
                format!(
                    "line {}, column {}: <image type=\"map\">: {m}",
                    node.line, node.column
                ),
            )
        };
        let satellite = matches!(node.attr("maptype"), Some("satellite" | "hybrid"));
        let template = setting(if satellite {
            "DRAKE_MAPS_SATELLITE_TILE_URL"
        } else {
            "DRAKE_MAPS_TILE_URL"
        })
        .or_else(|| setting("DRAKE_MAPS_TILE_URL"))
        .ok_or_else(|| {
            TaskError::Failed(format!(
                "{place}: maps are not set up on this server: its operator sets [maps] tile_url (an OpenStreetMap-style {{z}}/{{x}}/{{y}} tile URL)"
            ))
        })?;
        let zoom = match node.attr("zoom") {
            None => DEFAULT_ZOOM,
            Some(z) => match z.trim().parse::<f64>() {
                Ok(z) if (0.0..=MAX_ZOOM).contains(&z) => z,
                _ => {
                    return Err(bad(format!(
                        "zoom {z:?} is not a number from 0 to {MAX_ZOOM}"
                    )));
                }
            },
        };
        let (width, height) = match node.attr("size") {
            None => DEFAULT_SIZE,
            Some(s) => parse_size(s).ok_or_else(|| {
                bad(format!(
                    "size {s:?} is not WIDTHxHEIGHT in pixels, each 16 to {MAX_SIDE}"
                ))
            })?,
        };
        let mut markers = Vec::new();
        for m in node
            .attr("markers")
            .unwrap_or("")
            .split(['|', ';'])
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            markers.push(self.locate(ctx, node, m)?);
        }
        let center = match node.attr("center").map(str::trim) {
            Some(c) if !c.is_empty() => self.locate(ctx, node, c)?,
            _ => *markers
                .first()
                .ok_or_else(|| bad("center is missing (a place name or lat,lng)".into()))?,
        };
        let z = zoom.floor() as u32;
        let scale = 2f64.powf(zoom - f64::from(z));
        let (cx, cy) = world(z, center.0, center.1);
        let (vw, vh) = (f64::from(width) / scale, f64::from(height) / scale);
        let view = View {
            z,
            scale,
            left: cx - vw / 2.0,
            top: cy - vh / 2.0,
            width,
            height,
        };
        let png = self.compose(ctx, &template, &view, &markers, &place)?;
        Ok((png, Asset::still(input, (width, height), false)))
    }

    /// `lat,lng`, or a place name through the geocoder (once per name).
    fn locate(
        &mut self,
        ctx: &mut dyn Ctx,
        node: &Node,
        at: &str,
    ) -> Result<(f64, f64), TaskError> {
        if let Some(p) = parse_lat_lng(at) {
            return Ok(p);
        }
        if let Some(p) = self.places.get(at) {
            return Ok(*p);
        }
        let place = node.place();
        if self.places.len() == MAX_PLACES_PER_TASK {
            return Err(TaskError::Limit(format!(
                "{place}: more than {MAX_PLACES_PER_TASK} place names to look up; give \"lat,lng\" for the others"
            )));
        }
        let template = setting("DRAKE_MAPS_GEOCODER_URL").ok_or_else(|| {
            TaskError::Failed(format!(
                "{place}: {at:?} is a place name, and this server has no geocoder: give \"lat,lng\", or its operator sets [maps] geocoder_url"
            ))
        })?;
        let url = template.replace("{query}", &drake_sdk::http::percent(at));
        let answer = ctx
            .fetch(&url, Some(MAX_GEOCODER_BYTES))
            .map_err(|e| TaskError::Failed(format!("{place}: the geocoder: {e}")))?;
        let found: serde_json::Value = serde_json::from_slice(&answer.read_all()).map_err(|e| {
            TaskError::Failed(format!("{place}: the geocoder's answer is not JSON: {e}"))
        })?;
        let first = found.as_array().and_then(|a| a.first());
        let coordinate = |k: &str| -> Option<f64> {
            let v = first?.get(k)?;
            v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())
        };
        let p = match (coordinate("lat"), coordinate("lon")) {
            (Some(lat), Some(lon)) if lat.abs() <= 90.0 && lon.abs() <= 180.0 => (lat, lon),
            _ => {
                return Err(TaskError::parameter(
                    "definition",
                    format!(
                        "line {}, column {}: <image type=\"map\">: no place called {at:?} was found",
                        node.line, node.column
                    ),
                ));
            }
        };
        self.places.insert(at.to_owned(), p);
        Ok(p)
    }

    /// Fetch the view's tiles (each once per task) and draw the map.
    fn compose(
        &mut self,
        ctx: &mut dyn Ctx,
        template: &str,
        view: &View,
        markers: &[(f64, f64)],
        place: &str,
    ) -> Result<Box<dyn Input>, TaskError> {
        let n = 1i64 << view.z;
        let (vw, vh) = (
            f64::from(view.width) / view.scale,
            f64::from(view.height) / view.scale,
        );
        let tx0 = (view.left / TILE).floor() as i64;
        let ty0 = (view.top / TILE).floor() as i64;
        let tx1 = ((view.left + vw) / TILE).ceil() as i64 - 1;
        let ty1 = ((view.top + vh) / TILE).ceil() as i64 - 1;
        let (cols, rows) = (tx1 - tx0 + 1, ty1 - ty0 + 1);
        if usize::try_from(cols * rows).unwrap_or(usize::MAX) > MAX_TILES_PER_MAP {
            return Err(TaskError::Limit(format!(
                "{place}: the map needs {} tiles; the limit is {MAX_TILES_PER_MAP}",
                cols * rows
            )));
        }
        // (input index, column, row) of every tile in the view.
        let mut urls: Vec<String> = Vec::new();
        let mut placed = Vec::new();
        for ty in ty0..=ty1 {
            // Beyond the poles: no tile.
            if !(0..n).contains(&ty) {
                continue;
            }
            for tx in tx0..=tx1 {
                // The world repeats east and west.
                let x = tx.rem_euclid(n);
                let url = template
                    .replace("{z}", &view.z.to_string())
                    .replace("{x}", &x.to_string())
                    .replace("{y}", &ty.to_string());
                let i = match urls.iter().position(|u| *u == url) {
                    Some(i) => i,
                    None => {
                        urls.push(url.clone());
                        urls.len() - 1
                    }
                };
                placed.push((i, tx - tx0, ty - ty0));
                if self.tiles.len() == MAX_TILES_PER_TASK && !self.tiles.contains_key(&url) {
                    return Err(TaskError::Limit(format!(
                        "{place}: the maps need more than {MAX_TILES_PER_TASK} tiles in all; the limit per task is {MAX_TILES_PER_TASK}"
                    )));
                }
                if let std::collections::btree_map::Entry::Vacant(slot) = self.tiles.entry(url) {
                    let tile = ctx.fetch(slot.key(), Some(MAX_TILE_BYTES)).map_err(|e| {
                        TaskError::Failed(format!("{place}: the map tile {}: {e}", slot.key()))
                    })?;
                    slot.insert(tile);
                }
            }
        }
        // One frame holds the tiles (`xstack`; chaining an `overlay` per
        // tile kept a full canvas per step: 81 tiles at 2048 px needed
        // over 4 GiB). A tile used twice (the world repeating) is split.
        let (cw, ch) = (cols * 256, rows * 256);
        let mut uses: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, _, _) in &placed {
            *uses.entry(*i).or_default() += 1;
        }
        let mut g = String::new();
        for (i, n) in &uses {
            let outs: String = (0..*n).map(|k| format!("[t{i}_{k}]")).collect();
            g.push_str(&format!(
                "[{i}:v]format=rgb24,scale=256:256,split={n}{outs};"
            ));
        }
        let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
        let mut labels = String::new();
        let mut layout = Vec::new();
        for (i, col, row) in &placed {
            let k = taken.entry(*i).or_default();
            labels.push_str(&format!("[t{i}_{k}]"));
            *k += 1;
            layout.push(format!("{}_{}", col * 256, row * 256));
        }
        match placed.as_slice() {
            [] => g.push_str(&format!(
                "color=c={NO_TILE}:s={cw}x{ch}:r=1:d=1,format=rgb24[c0]"
            )),
            [(_, col, row)] => g.push_str(&format!(
                "{labels}pad={cw}:{ch}:{}:{}:color={NO_TILE}[c0]",
                col * 256,
                row * 256
            )),
            many => g.push_str(&format!(
                "{labels}xstack=inputs={}:layout={}:fill={NO_TILE},pad={cw}:{ch}:0:0:color={NO_TILE}[c0]",
                many.len(),
                layout.join("|")
            )),
        }
        let mut last = "c0".to_owned();
        let (ox, oy) = (
            view.left - (tx0 as f64) * TILE,
            view.top - (ty0 as f64) * TILE,
        );
        g.push_str(&format!(
            ";[{last}]crop={:.0}:{:.0}:{:.0}:{:.0},scale={}:{}:flags=lanczos,format=rgb24[m0]",
            vw.round().max(1.0),
            vh.round().max(1.0),
            ox.round(),
            oy.round(),
            view.width,
            view.height
        ));
        last = "m0".to_owned();
        if !markers.is_empty() {
            // A red dot with a white rim, drawn once and placed per marker.
            let r = (f64::from(view.width.max(view.height)) / 80.0).clamp(6.0, 20.0);
            let side = (2.0 * r).ceil() as u32 + 1;
            let c = f64::from(side - 1) / 2.0;
            let inside = format!("lt(hypot(X-{c:.1},Y-{c:.1}),{:.1})", r * 0.7);
            g.push_str(&format!(
                ";color=c=black@0:s={side}x{side}:r=1:d=1,format=rgba,geq=r='if({inside},220,255)':g='if({inside},40,255)':b='if({inside},40,255)':a='if(lt(hypot(X-{c:.1},Y-{c:.1}),{r:.1}),255,0)',split={}",
                markers.len()
            ));
            for k in 0..markers.len() {
                g.push_str(&format!("[p{k}]"));
            }
            for (k, m) in markers.iter().enumerate() {
                let (wx, wy) = view.world(*m);
                let x = (wx - view.left) * view.scale - c;
                let y = (wy - view.top) * view.scale - c;
                let next = format!("m{}", k + 1);
                g.push_str(&format!(
                    ";[{last}][p{k}]overlay={x:.0}:{y:.0}:format=rgb[{next}]"
                ));
                last = next;
            }
        }
        let attribution = setting("DRAKE_MAPS_ATTRIBUTION").unwrap_or_default();
        if attribution.trim().is_empty() {
            g.push_str(&format!(";[{last}]null[vout]"));
        } else {
            let size = (f64::from(view.height) / 45.0).clamp(9.0, 24.0);
            g.push_str(&format!(
                ";[{last}]drawtext=fontfile={}:text={}:expansion=none:fontsize={size:.0}:fontcolor=0x333333:box=1:boxcolor=white@0.75:boxborderw=4:x=w-tw-8:y=h-th-8[vout]",
                text::default_font(),
                text::quote(&attribution)
            ));
        }
        let inputs: Vec<&dyn Input> = urls
            .iter()
            .filter_map(|u| self.tiles.get(u).map(AsRef::as_ref))
            .collect();
        let job = Job {
            inputs: inputs
                .into_iter()
                .map(|media| JobInput {
                    media,
                    options: Vec::new(),
                })
                .collect(),
            filter_complex: Some(g),
            outputs: vec![opts([
                ("map", "[vout]"),
                ("frames:v", "1"),
                ("c:v", "png"),
                ("f", "image2"),
            ])],
            progress_duration: None,
            progress_span: (0, 0),
            captions: None,
        };
        let mut done = ctx.ffmpeg_run(job).map_err(|e| match e {
            FfmpegError::InvalidInput(_) => TaskError::InvalidInput(format!(
                "{place}: a map tile from {template} is not a readable picture"
            )),
            e => e.into_task_error(),
        })?;
        match done.outputs.pop() {
            Some(png) if png.size() > 0 => Ok(png),
            _ => Err(TaskError::Failed(format!(
                "{place}: the map could not be drawn"
            ))),
        }
    }
}

/// A server setting the host passes as a WASI environment variable.
fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `lat,lng` in range.
fn parse_lat_lng(s: &str) -> Option<(f64, f64)> {
    let (a, b) = s.split_once(',')?;
    let (lat, lon): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0)
        .then_some((lat, lon))
}

/// `WxH`, each side 16 to [`MAX_SIDE`].
fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.trim().split_once(['x', 'X'])?;
    let side = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|v| (16..=MAX_SIDE).contains(v))
    };
    // Even sides: the movie's 4:2:0 pictures.
    Some((side(w)? & !1, side(h)? & !1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_mercator_puts_places_on_the_right_tiles() {
        // Paris at zoom 10: tile (518, 352), as OpenStreetMap numbers it.
        let (x, y) = world(10, 48.8566, 2.3522);
        assert_eq!(((x / TILE) as u32, (y / TILE) as u32), (518, 352));
        // The origin is the world's centre.
        assert_eq!(world(0, 0.0, 0.0), (128.0, 128.0));
    }

    #[test]
    fn centres_sizes_and_queries_parse() {
        assert_eq!(parse_lat_lng("37.20,-93.27"), Some((37.2, -93.27)));
        assert_eq!(parse_lat_lng(" 37.2 , -93.27 "), Some((37.2, -93.27)));
        assert_eq!(parse_lat_lng("Paris"), None);
        assert_eq!(parse_lat_lng("91,0"), None);
        assert_eq!(parse_size("640x641"), Some((640, 640)));
        assert_eq!(parse_size("640"), None);
        assert_eq!(parse_size("9999x10"), None);
        assert_eq!(
            drake_sdk::http::percent("Saint-Étienne, FR"),
            "Saint-%C3%89tienne%2C%20FR"
        );
    }
}

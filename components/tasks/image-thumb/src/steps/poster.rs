//! Step 7e: the "play" icon of a video poster — a white triangle pointing
//! right on a dark translucent disc, centred, sized from the thumbnail's
//! shorter side. Edges are anti-aliased from the exact distance to each
//! shape, so the icon looks smooth at any size.

use image::DynamicImage;

/// Disc radius as a fraction of the thumbnail's shorter side (the disc
/// spans 36% of it: visible on a 64 px thumbnail, not overwhelming).
const DISC_RADIUS: f32 = 0.18;
/// Triangle circumradius as a fraction of the disc radius.
const TRIANGLE_RADIUS: f32 = 0.55;
/// Disc colour and opacity (black at 50%).
const DISC: ([f32; 3], f32) = ([0.0, 0.0, 0.0], 0.5);
/// Triangle colour and opacity (white at 90%).
const TRIANGLE: ([f32; 3], f32) = ([255.0, 255.0, 255.0], 0.9);

/// Draw the icon on `img` (Rgb8 or Rgba8; anything else is converted).
pub fn draw(img: DynamicImage) -> DynamicImage {
    match img {
        DynamicImage::ImageRgb8(mut rgb) => {
            paint(rgb.width(), rgb.height(), |x, y, colour, a| {
                let p = rgb.get_pixel_mut(x, y);
                for c in 0..3 {
                    p[c] = blend(p[c], colour[c], a);
                }
            });
            DynamicImage::ImageRgb8(rgb)
        }
        DynamicImage::ImageRgba8(mut rgba) => {
            paint(rgba.width(), rgba.height(), |x, y, colour, a| {
                let p = rgba.get_pixel_mut(x, y);
                // Source-over compositing on a possibly transparent pixel.
                let dst_a = f32::from(p[3]) / 255.0;
                let out_a = a + dst_a * (1.0 - a);
                if out_a > 0.0 {
                    for c in 0..3 {
                        let v = (colour[c] * a + f32::from(p[c]) * dst_a * (1.0 - a)) / out_a;
                        p[c] = v.round().clamp(0.0, 255.0) as u8;
                    }
                }
                p[3] = (out_a * 255.0).round().clamp(0.0, 255.0) as u8;
            });
            DynamicImage::ImageRgba8(rgba)
        }
        other if other.color().has_alpha() => draw(DynamicImage::ImageRgba8(other.into_rgba8())),
        other => draw(DynamicImage::ImageRgb8(other.into_rgb8())),
    }
}

fn blend(dst: u8, src: f32, a: f32) -> u8 {
    (src * a + f32::from(dst) * (1.0 - a))
        .round()
        .clamp(0.0, 255.0) as u8
}

/// Call `put(x, y, colour, opacity)` for every pixel the icon touches: the
/// disc first, then the triangle over it.
fn paint(width: u32, height: u32, mut put: impl FnMut(u32, u32, [f32; 3], f32)) {
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let r = width.min(height) as f32 * DISC_RADIUS;
    let t = r * TRIANGLE_RADIUS;
    // Equilateral triangle pointing right, centred on its centroid.
    let half_side = t * 3f32.sqrt() / 2.0;
    let tri = [
        (cx + t, cy),
        (cx - t / 2.0, cy - half_side),
        (cx - t / 2.0, cy + half_side),
    ];

    let x0 = (cx - r - 1.0).floor().max(0.0) as u32;
    let y0 = (cy - r - 1.0).floor().max(0.0) as u32;
    let x1 = ((cx + r + 1.0).ceil() as u32).min(width);
    let y1 = ((cy + r + 1.0).ceil() as u32).min(height);
    for y in y0..y1 {
        for x in x0..x1 {
            // Pixel centre.
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let disc = coverage(((px - cx).powi(2) + (py - cy).powi(2)).sqrt() - r);
            if disc > 0.0 {
                put(x, y, DISC.0, DISC.1 * disc);
            }
            let triangle = coverage(triangle_distance(tri, (px, py)));
            if triangle > 0.0 {
                put(x, y, TRIANGLE.0, TRIANGLE.1 * triangle);
            }
        }
    }
}

/// Pixel coverage from a signed distance to an edge (negative inside).
fn coverage(distance: f32) -> f32 {
    (0.5 - distance).clamp(0.0, 1.0)
}

/// Signed distance (approximate outside the corners) from `p` to a
/// clockwise-or-counter-clockwise triangle: the largest distance to the
/// three edge lines, positive outside.
fn triangle_distance(tri: [(f32, f32); 3], p: (f32, f32)) -> f32 {
    let centroid = (
        (tri[0].0 + tri[1].0 + tri[2].0) / 3.0,
        (tri[0].1 + tri[1].1 + tri[2].1) / 3.0,
    );
    let mut worst = f32::MIN;
    for i in 0..3 {
        let (a, b) = (tri[i], tri[(i + 1) % 3]);
        let (ex, ey) = (b.0 - a.0, b.1 - a.1);
        let len = (ex * ex + ey * ey).sqrt().max(f32::EPSILON);
        // Normal pointing away from the centroid.
        let (mut nx, mut ny) = (ey / len, -ex / len);
        if (centroid.0 - a.0) * nx + (centroid.1 - a.1) * ny > 0.0 {
            nx = -nx;
            ny = -ny;
        }
        worst = worst.max((p.0 - a.0) * nx + (p.1 - a.1) * ny);
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icon_is_drawn_in_the_centre() {
        let img = image::RgbImage::from_pixel(200, 100, image::Rgb([200, 40, 40]));
        let out = draw(DynamicImage::ImageRgb8(img)).to_rgb8();
        // Centre: the white triangle.
        let c = out.get_pixel(100, 50);
        assert!(c[1] > 200 && c[2] > 200, "{c:?}");
        // Left of the triangle inside the disc: darkened.
        let d = out.get_pixel(100 - 14, 50);
        assert!(d[0] < 120 && d[1] < 40, "{d:?}");
        // Corners untouched.
        assert_eq!(out.get_pixel(0, 0).0, [200, 40, 40]);
        assert_eq!(out.get_pixel(199, 99).0, [200, 40, 40]);
    }

    #[test]
    fn transparent_background_gets_an_opaque_enough_icon() {
        let out = draw(DynamicImage::ImageRgba8(image::RgbaImage::new(50, 50))).to_rgba8();
        assert!(out.get_pixel(25, 25)[3] > 200);
        assert_eq!(out.get_pixel(0, 0)[3], 0);
    }

    #[test]
    fn tiny_images() {
        for (w, h) in [(1, 1), (2, 1), (1, 300)] {
            let out = draw(DynamicImage::ImageRgb8(image::RgbImage::new(w, h)));
            assert_eq!((out.width(), out.height()), (w, h));
        }
    }
}

//! Widgets (sxml.md §11): what each family looks like. The originals
//! were proprietary After Effects templates; drake draws each family a
//! look of its own from the same slots — pictures, text slots, `style`
//! layers — written down in docs/sxml-rendering.md.

use drake_sxml::{Kind, Node};

/// A widget family (by the type's prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `director.theme.*` and any unknown type (the generic renderer):
    /// full-frame pictures with a slow push-in, crossfades, legends.
    Director,
    /// `slideshow.reflect.*`: each picture on a dark stage above its
    /// mirror image, sliding in from the right.
    Reflect,
    /// `set.scrapbook.*`: photos with a white border and a shadow, turned
    /// a little this way and that on coloured paper, ink captions.
    Scrapbook,
    /// `set.moviestyle.*`: cinema letterbox (2.39:1), vignette, titles
    /// in the lower bar, fades through black.
    Moviestyle,
    /// `set.transitions.<name>.*`: full-frame pictures joined by the
    /// transition its name says.
    Transitions,
}

/// A widget's family and style layers.
pub struct Look {
    pub family: Family,
    /// `(layer, colour, visible)` from `<style>` children, lower case.
    styles: Vec<(String, Option<String>, bool)>,
    /// `set.transitions.<name>`: the `xfade` it joins with.
    transition: &'static str,
}

impl Look {
    pub fn of(widget: &Node) -> Look {
        let ty = widget.ty();
        let family = if ty.starts_with("slideshow.reflect.") {
            Family::Reflect
        } else if ty.starts_with("set.scrapbook.") {
            Family::Scrapbook
        } else if ty.starts_with("set.moviestyle.") {
            Family::Moviestyle
        } else if ty.starts_with("set.transitions.") {
            Family::Transitions
        } else {
            Family::Director
        };
        let styles = widget
            .children
            .iter()
            .filter(|c| c.kind == Kind::Style)
            .map(|s| {
                (
                    s.attr("layer").unwrap_or("").to_ascii_lowercase(),
                    s.attr("color").map(str::to_owned),
                    s.flag("visible") != Some(false),
                )
            })
            .collect();
        Look {
            family,
            styles,
            transition: transition_named(ty),
        }
    }

    /// The last `<style>` naming `layer` in one of its `:`-parts.
    fn style(&self, layer: &str) -> Option<&(String, Option<String>, bool)> {
        self.styles
            .iter()
            .rev()
            .find(|(name, _, _)| name.split(':').any(|part| part.contains(layer)))
    }

    /// Whether a layer is shown (`visible="false"` hides it).
    pub fn shows(&self, layer: &str) -> bool {
        self.style(layer).is_none_or(|s| s.2)
    }

    /// A layer's colour as `#RRGGBB[AA]`: its style's, or `default`.
    pub fn color(&self, layer: &str, default: &str) -> String {
        self.style(layer)
            .and_then(|s| s.1.clone())
            .unwrap_or_else(|| default.to_owned())
    }

    /// The backdrop pictures are drawn on (`background` layer; hidden:
    /// black).
    pub fn backdrop(&self) -> String {
        let default = match self.family {
            Family::Reflect => "#101018",
            Family::Scrapbook => "#F3E9D2",
            Family::Director | Family::Moviestyle | Family::Transitions => "#000000",
        };
        if self.shows("background") {
            self.color("background", default)
        } else {
            "#000000".to_owned()
        }
    }

    /// The `xfade` options joining two items when none is given.
    pub fn join(&self) -> String {
        let name = match self.family {
            Family::Director => "fade",
            Family::Reflect => "slideleft",
            Family::Scrapbook => "wipeleft",
            Family::Moviestyle => "fadeblack",
            Family::Transitions => self.transition,
        };
        format!("transition={name}")
    }

    /// How a caption of this family is written: the text node with the
    /// family's placement and colours where the author gave none.
    /// `None`: the family hides texts (`text` layer not visible).
    pub fn caption(&self, text: &Node, title: bool, (width, height): (u32, u32)) -> Option<Node> {
        if !self.shows("text") {
            return None;
        }
        let band = match self.family {
            Family::Moviestyle => moviestyle_band(width, height).1,
            _ => 0.0,
        };
        let (place, color, font): (&[(&str, f64)], &str, &str) = match (self.family, title) {
            (Family::Director | Family::Transitions, _) => return Some(text.clone()),
            (Family::Reflect, false) => (
                &[
                    ("left", 0.05),
                    ("width", 0.9),
                    ("top", 0.85),
                    ("height", 0.12),
                ],
                "#FFFFFF",
                "sans",
            ),
            (Family::Scrapbook, false) => (
                &[
                    ("left", 0.08),
                    ("width", 0.84),
                    ("top", 0.84),
                    ("height", 0.13),
                ],
                "#3A2E25",
                "serif",
            ),
            (Family::Moviestyle, false) => (
                &[
                    ("left", 0.1),
                    ("width", 0.8),
                    ("top", 1.0 - band + band * 0.15),
                    ("height", band * 0.7),
                ],
                "#F2F2F2",
                "sans bold",
            ),
            (_, true) => (
                &[("left", 0.1), ("width", 0.8), ("top", 0.3), ("height", 0.4)],
                match self.family {
                    Family::Scrapbook => "#3A2E25",
                    _ => "#F2F2F2",
                },
                match self.family {
                    Family::Scrapbook => "serif",
                    _ => "sans bold",
                },
            ),
        };
        let mut node = text.clone();
        let placed = ["left", "right", "top", "bottom", "width", "height"]
            .iter()
            .any(|a| text.attr(a).is_some());
        if !placed {
            for (k, v) in place {
                unless_given(&mut node, k, format!("{v:.4}"));
            }
        }
        node.attrs.retain(|(k, _)| k != "type");
        node.attrs.push(("type".to_owned(), "zone".to_owned()));
        unless_given(&mut node, "fontcolor", self.color("text", color));
        if font.contains("serif") && !font.contains("sans") {
            unless_given(&mut node, "face", "serif".to_owned());
        }
        if font.contains("bold") {
            unless_given(&mut node, "weight", "bold".to_owned());
        }
        Some(node)
    }
}

/// Set attribute `key` of `node` unless its author did.
fn unless_given(node: &mut Node, key: &str, value: String) {
    if node.attr(key).is_none() {
        node.attrs.push((key.to_owned(), value));
    }
}

/// Moviestyle's picture band: (pixel height, even; each bar's share of
/// the frame height).
pub fn moviestyle_band(width: u32, height: u32) -> (u32, f64) {
    // 2.39:1, never taller than the frame.
    let h = f64::from(height);
    let band = (f64::from(width) / 2.39).min(h);
    let px = (band as u32) & !1;
    (px.max(2), ((h - f64::from(px)) / 2.0) / h)
}

/// `set.transitions.<name>.NN` → the `xfade` transition its name says
/// (dissolve when the name says nothing drake knows).
pub fn transition_named(ty: &str) -> &'static str {
    let name = ty
        .strip_prefix("set.transitions.")
        .and_then(|rest| rest.split('.').next())
        .unwrap_or("")
        .to_ascii_lowercase();
    // Words a transition template's name holds → xfade's transition.
    const NAMED: &[(&[&str], &str)] = &[
        (&["black", "dip"], "fadeblack"),
        (&["white", "flash"], "fadewhite"),
        (&["wipe"], "wipeleft"),
        (&["slide", "push"], "slideleft"),
        (&["zoom"], "zoomin"),
        (&["circle", "iris"], "circleopen"),
        (&["blur"], "hblur"),
        (&["pixel", "mosaic"], "pixelize"),
        (&["radial", "clock"], "radial"),
        (&["squeeze"], "squeezev"),
    ];
    NAMED
        .iter()
        .find(|(words, _)| words.iter().any(|w| name.contains(w)))
        .map_or("fade", |&(_, transition)| transition)
}

/// The `xfade` options of `<transition type="custom">`: its
/// `set.transitions.*` widget's, else a crossfade.
pub fn custom_transition(t: &Node) -> String {
    let name = t
        .children
        .iter()
        .find(|w| w.kind == Kind::Widget && w.ty().starts_with("set.transitions."))
        .map_or("fade", |w| transition_named(w.ty()));
    format!("transition={name}")
}

/// Where scrapbook photo `i` lies: turned this way and that (degrees).
pub fn scrapbook_angle(i: usize) -> f64 {
    [-3.0, 2.5, -1.5, 3.5][i % 4]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_widgets_name_their_transition() {
        assert_eq!(transition_named("set.transitions.dissolve.01"), "fade");
        assert_eq!(transition_named("set.transitions.wipe.02"), "wipeleft");
        assert_eq!(
            transition_named("set.transitions.DipToBlack.01"),
            "fadeblack"
        );
        assert_eq!(transition_named("set.transitions.unheard.01"), "fade");
    }

    #[test]
    fn moviestyle_band_is_cinema_wide() {
        let (px, bar) = moviestyle_band(1280, 720);
        assert_eq!(px, 534);
        assert!((bar - 93.0 / 720.0).abs() < 1e-9, "{bar}");
    }
}

//! `html.scrape`: a page's title and the images and videos it shows, as
//! absolute URLs, deduplicated, in page order.
//!
//! Steps: fetch (at most [`MAX_PAGE_BYTES`]) → check it is HTML → decode
//! (BOM, then the `Content-Type` charset, then a `<meta charset>` in the
//! first 1024 bytes, then a statistical guess) → parse with html5ever (the
//! HTML5 algorithm, so broken markup reads as in a browser) → walk the
//! elements in document order. URLs resolve against the first `<base
//! href>`, itself resolved against the page's final URL after redirects;
//! anything that is not http(s) after resolution (`javascript:`, `data:`,
//! `mailto:`) is dropped.
//!
//! What counts, with its `source`:
//! - `img`: `src` (or `data-src` when `src` is missing or a `data:`
//!   placeholder, as lazy-loading pages do) → `img`; the largest `srcset`
//!   candidate → `srcset`;
//! - `picture > source`: the largest `srcset` candidate → `picture`;
//! - `video`: `src` → `video`, `poster` → `poster` (an image); `video >
//!   source`: `src` → `source`;
//! - `meta` Open Graph and Twitter cards: `og:image[:url|:secure_url]` →
//!   `og:image`, `og:video[…]` → `og:video`, `twitter:image[:src]` →
//!   `twitter:image`, `twitter:player` → `twitter:player` (a video); their
//!   `:width`/`:height` go to the card they follow;
//! - `link rel=image_src` → `link`;
//! - `iframe` embeds of known video hosts (YouTube, Vimeo, Dailymotion,
//!   Facebook, Twitch, Wistia, Streamable, TikTok, Loom, …) → `iframe`.
//!
//! `width`/`height` come from the element's attributes (digits only:
//! `100%` says nothing about the media).

use std::collections::HashMap;

use drake_sdk::{Ctx, FetchError, Task, TaskError, Values};
use encoding_rs::Encoding;
use scraper::{ElementRef, Html};
use serde::{Deserialize, Serialize};
use url::Url;

drake_sdk::task!(HtmlScrape);

/// Largest page read: 10 MiB, several times the heaviest real pages
/// (their weight is in the media, which is not downloaded).
pub const MAX_PAGE_BYTES: u64 = 10 << 20;

/// Most hits reported: a gallery of 2 000 images is already more than a
/// client shows; later media are dropped (the walk goes on only for the
/// title and the last card's size).
pub const MAX_HITS: usize = 2_000;

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the page.
    pub url: String,
}

/// One image or video found on the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// `image` or `video`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Absolute http(s) URL.
    pub url: String,
    /// Where it was found: `img`, `srcset`, `og:image`, `iframe`, …
    pub source: &'static str,
    /// Width in pixels, when the page states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels, when the page states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// The task.
pub struct HtmlScrape;

impl Task for HtmlScrape {
    const NAME: &'static str = "html.scrape";
    const SUMMARY: &'static str =
        "List a web page's title and the images and videos it shows (absolute URLs, page order).";
    const VALUES: &'static [&'static str] = &["page_title", "hits"];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let page = ctx
            .fetch(&p.url, Some(MAX_PAGE_BYTES))
            .map_err(|e| match e {
                FetchError::TooLarge(_) => TaskError::Limit(format!(
                    "url: the page is larger than {} MiB",
                    MAX_PAGE_BYTES >> 20
                )),
                e => e.into_task_error("url"),
            })?;
        let content_type = page.content_type();
        let final_url = Some(page.url()).filter(|u| !u.is_empty());
        let bytes = page.read_all();
        drop(page);
        if !looks_like_html(&content_type, &bytes) {
            let what = mime(&content_type);
            return Err(TaskError::InvalidInput(if what.is_empty() {
                "url: the page is not HTML".into()
            } else {
                format!("url: the page is not HTML ({what})")
            }));
        }
        let page_url = Url::parse(final_url.as_deref().unwrap_or(&p.url))
            .map_err(|e| TaskError::parameter("url", format!("not a URL: {e}")))?;
        let text = decode(&bytes, &content_type, page_url.host_str());
        drop(bytes);
        let (title, hits) = scrape(&text, &page_url);
        let hits = serde_json::to_value(hits)
            .map_err(|e| TaskError::Failed(format!("encoding the hits: {e}")))?;
        Ok(drake_sdk::values([
            ("page_title", title.unwrap_or_default().into()),
            ("hits", hits),
        ]))
    }
}

/// The MIME type of a `Content-Type` value, lowercase, without parameters.
fn mime(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// HTML by its declared type, or, when the type says nothing useful
/// (missing, `text/plain`, `application/octet-stream`), by its first bytes.
pub fn looks_like_html(content_type: &str, bytes: &[u8]) -> bool {
    match mime(content_type).as_str() {
        "text/html" | "application/xhtml+xml" => return true,
        "" | "text/plain" | "application/octet-stream" | "application/xml" | "text/xml" => {}
        _ => return false,
    }
    let head = &bytes[..bytes.len().min(1024)];
    if head.contains(&0) {
        return false;
    }
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<title",
        "<meta",
        "<img",
        "<div",
        "<p>",
    ]
    .iter()
    .any(|tag| text.contains(tag))
}

/// The page as text: BOM, then the `Content-Type` charset, then a
/// `<meta>` charset in the first 1024 bytes, then chardetng's guess.
pub fn decode(bytes: &[u8], content_type: &str, host: Option<&str>) -> String {
    let declared = charset_param(content_type).or_else(|| meta_charset(bytes));
    let encoding = match Encoding::for_bom(bytes) {
        Some((bom, _)) => bom,
        None => declared.unwrap_or_else(|| {
            let mut detector = chardetng::EncodingDetector::new();
            detector.feed(&bytes[..bytes.len().min(64 << 10)], bytes.len() <= 64 << 10);
            let tld = host.and_then(|h| h.rsplit('.').next()).map(str::as_bytes);
            detector.guess(tld, true)
        }),
    };
    // decode() honours a BOM and replaces malformed sequences.
    encoding.decode(bytes).0.into_owned()
}

fn charset_param(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| Encoding::for_label(value.trim().trim_matches(['"', '\'']).as_bytes()))?
    })
}

/// The charset a `<meta charset=…>` or `<meta http-equiv content="…;
/// charset=…">` in the first 1024 bytes names (HTML's prescan, simplified).
/// UTF-16 labels mean UTF-8 there, as the standard says.
fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
    let mut rest = head.as_str();
    while let Some(at) = rest.find("<meta") {
        rest = &rest[at + 5..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(pos) = tag.find("charset") {
            let value = tag[pos + 7..]
                .trim_start()
                .strip_prefix('=')
                .map(|v| v.trim_start().trim_start_matches(['"', '\'']))
                .unwrap_or("");
            let label: String = value
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | ';' | '/' | '>'))
                .collect();
            if let Some(encoding) = Encoding::for_label(label.as_bytes()) {
                return Some(
                    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
                        encoding_rs::UTF_8
                    } else {
                        encoding
                    },
                );
            }
        }
    }
    None
}

/// Hosts whose iframes are video players: (host or parent domain, path
/// prefix).
const VIDEO_EMBEDS: &[(&str, &str)] = &[
    ("youtube.com", "/embed/"),
    ("youtube-nocookie.com", "/embed/"),
    ("player.vimeo.com", "/video/"),
    ("dailymotion.com", "/embed/"),
    ("geo.dailymotion.com", "/player"),
    ("facebook.com", "/plugins/video.php"),
    ("player.twitch.tv", "/"),
    ("clips.twitch.tv", "/embed"),
    ("fast.wistia.net", "/embed/"),
    ("streamable.com", "/e/"),
    ("tiktok.com", "/embed"),
    ("loom.com", "/embed/"),
    ("rumble.com", "/embed/"),
    ("player.bilibili.com", "/"),
    ("ok.ru", "/videoembed/"),
    ("vk.com", "/video_ext.php"),
];

fn is_video_embed(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    VIDEO_EMBEDS.iter().any(|(domain, path)| {
        (host == *domain || host.ends_with(&format!(".{domain}"))) && url.path().starts_with(path)
    })
}

/// Leading digits of a dimension attribute (`640`, `640px`); `None` for
/// percentages and junk.
fn dimension(value: Option<&str>) -> Option<u32> {
    let v = value?.trim();
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    let rest = &v[digits.len()..];
    if digits.is_empty() || rest.starts_with('%') || rest.starts_with('.') && rest.contains('%') {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// The largest candidate of a `srcset` (by `w`, else by `x`; `1x` when a
/// candidate has no descriptor).
pub fn largest_candidate(srcset: &str) -> Option<&str> {
    let mut best: Option<(f64, &str)> = None;
    let mut rest = srcset;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
        if rest.is_empty() {
            break;
        }
        let end = rest
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let mut url = &rest[..end];
        rest = &rest[end..];
        let mut descriptor = "";
        if url.ends_with(',') {
            url = url.trim_end_matches(',');
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            descriptor = rest[..end].trim();
            rest = &rest[end..];
        }
        let score = match descriptor.chars().last() {
            Some('w') => descriptor[..descriptor.len() - 1].parse::<f64>().ok(),
            // Densities rank below any width: 1x = 1, 2x = 2.
            Some('x') => descriptor[..descriptor.len() - 1]
                .parse::<f64>()
                .ok()
                .map(|x| x / 1e6),
            _ => Some(1.0 / 1e6),
        };
        if let Some(score) = score
            && !url.is_empty()
            && best.is_none_or(|(s, _)| score > s)
        {
            best = Some((score, url));
        }
    }
    best.map(|(_, url)| url)
}

/// Collects hits in page order, without duplicates.
struct Hits {
    base: Url,
    list: Vec<Hit>,
    seen: HashMap<String, usize>,
    /// The last Open Graph / Twitter card hit, for its `:width`/`:height`.
    last_card: Option<usize>,
}

impl Hits {
    fn resolve(&self, raw: &str) -> Option<Url> {
        let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if raw.is_empty() {
            return None;
        }
        let url = self.base.join(raw).ok()?;
        matches!(url.scheme(), "http" | "https").then_some(url)
    }

    /// Add a hit; its index (a duplicate gives the first one's).
    fn add(
        &mut self,
        kind: &'static str,
        raw: &str,
        source: &'static str,
        size: (Option<u32>, Option<u32>),
    ) -> Option<usize> {
        let url = self.resolve(raw)?;
        self.add_url(kind, url, source, size)
    }

    fn add_url(
        &mut self,
        kind: &'static str,
        url: Url,
        source: &'static str,
        (width, height): (Option<u32>, Option<u32>),
    ) -> Option<usize> {
        let key = url.to_string();
        if let Some(&i) = self.seen.get(&key) {
            return Some(i);
        }
        if self.list.len() >= MAX_HITS {
            return None;
        }
        self.seen.insert(key.clone(), self.list.len());
        self.list.push(Hit {
            kind,
            url: key,
            source,
            width,
            height,
        });
        Some(self.list.len() - 1)
    }
}

fn size(el: &ElementRef<'_>) -> (Option<u32>, Option<u32>) {
    (dimension(el.attr("width")), dimension(el.attr("height")))
}

fn parent_name<'a>(el: &ElementRef<'a>) -> Option<&'a str> {
    el.parent()
        .and_then(ElementRef::wrap)
        .map(|p| p.value().name())
}

/// The title and the hits of a parsed page at `page_url`.
pub fn scrape(text: &str, page_url: &Url) -> (Option<String>, Vec<Hit>) {
    let doc = Html::parse_document(text);
    let elements = || {
        doc.root_element()
            .descendants()
            .filter_map(ElementRef::wrap)
    };
    // The first <base href> sets the base of every URL (and only the first).
    let base = elements()
        .find(|e| e.value().name() == "base" && e.attr("href").is_some())
        .and_then(|e| page_url.join(e.attr("href")?.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .unwrap_or_else(|| page_url.clone());
    let mut hits = Hits {
        base,
        list: Vec::new(),
        seen: HashMap::new(),
        last_card: None,
    };
    let mut title = None;
    let mut og_title = None;
    for el in elements() {
        let name = el.value().name();
        match name {
            "title" if title.is_none() && parent_name(&el) != Some("svg") => {
                let text: String = el.text().collect();
                let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
                title = Some(collapsed);
            }
            "img" => {
                let src = el
                    .attr("src")
                    .filter(|s| !s.trim_start().starts_with("data:") && !s.trim().is_empty());
                if let Some(src) = src.or_else(|| el.attr("data-src")) {
                    hits.add("image", src, "img", size(&el));
                }
                if let Some(best) = el.attr("srcset").and_then(largest_candidate) {
                    hits.add("image", best, "srcset", (None, None));
                }
            }
            "source" => match parent_name(&el) {
                Some("picture") => {
                    if let Some(best) = el.attr("srcset").and_then(largest_candidate) {
                        hits.add("image", best, "picture", size(&el));
                    }
                }
                Some("video") => {
                    if let Some(src) = el.attr("src") {
                        hits.add("video", src, "source", (None, None));
                    }
                }
                _ => {}
            },
            "video" => {
                if let Some(src) = el.attr("src") {
                    hits.add("video", src, "video", size(&el));
                }
                if let Some(poster) = el.attr("poster") {
                    hits.add("image", poster, "poster", (None, None));
                }
            }
            "iframe" => {
                if let Some(url) = el.attr("src").and_then(|s| hits.resolve(s))
                    && is_video_embed(&url)
                {
                    hits.add_url("video", url, "iframe", size(&el));
                }
            }
            "link" => {
                let rel = el.attr("rel").unwrap_or("").to_ascii_lowercase();
                if rel.split_ascii_whitespace().any(|r| r == "image_src")
                    && let Some(href) = el.attr("href")
                {
                    hits.add("image", href, "link", (None, None));
                }
            }
            "meta" => {
                let key = el
                    .attr("property")
                    .or_else(|| el.attr("name"))
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                let Some(content) = el.attr("content") else {
                    continue;
                };
                let card = match key.as_str() {
                    "og:image" | "og:image:url" | "og:image:secure_url" => {
                        Some(("image", "og:image"))
                    }
                    "og:video" | "og:video:url" | "og:video:secure_url" => {
                        Some(("video", "og:video"))
                    }
                    "twitter:image" | "twitter:image:src" => Some(("image", "twitter:image")),
                    "twitter:player" => Some(("video", "twitter:player")),
                    _ => None,
                };
                if let Some((kind, source)) = card {
                    hits.last_card = hits.add(kind, content, source, (None, None));
                    continue;
                }
                if key == "og:title" && og_title.is_none() {
                    og_title = Some(content.split_whitespace().collect::<Vec<_>>().join(" "));
                }
                let is_width = key.ends_with(":width");
                if (is_width || key.ends_with(":height"))
                    && [
                        "og:image:",
                        "og:video:",
                        "twitter:image:",
                        "twitter:player:",
                    ]
                    .iter()
                    .any(|p| key.starts_with(p))
                    && let Some(hit) = hits.last_card.and_then(|i| hits.list.get_mut(i))
                {
                    let slot = if is_width {
                        &mut hit.width
                    } else {
                        &mut hit.height
                    };
                    if slot.is_none() {
                        *slot = dimension(Some(content));
                    }
                }
            }
            _ => {}
        }
    }
    (title.filter(|t| !t.is_empty()).or(og_title), hits.list)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    fn page(html: &str) -> (Option<String>, Vec<Hit>) {
        scrape(
            html,
            &Url::parse("https://example.com/blog/post.html").unwrap(),
        )
    }

    fn urls(hits: &[Hit]) -> Vec<(&str, &str, &str)> {
        hits.iter()
            .map(|h| (h.kind, h.url.as_str(), h.source))
            .collect()
    }

    #[test]
    fn every_kind_of_media_in_page_order() {
        let (title, hits) = page(
            r#"<!doctype html><html><head>
            <title>  A   post
            </title>
            <meta property="og:image" content="/cards/post.jpg">
            <meta property="og:image:width" content="1200"><meta property="og:image:height" content="630">
            <meta name="twitter:image" content="https://cdn.example.com/t.png">
            <meta property="og:video" content="https://example.com/v.mp4">
            <link rel="image_src" href="thumb.jpg">
            </head><body>
            <img src="a.jpg" width="640" height="480px" srcset="a-320.jpg 320w, a-1280.jpg 1280w, a-640.jpg 640w">
            <img src="data:image/gif;base64,R0lGOD" data-src="lazy.jpg">
            <img src="javascript:alert(1)"><img src=""><img src="data:image/png;base64,xx">
            <picture><source srcset="p.webp 1x, p@2x.webp 2x"><img src="p.jpg" width="100%"></picture>
            <video src="clip.webm" poster="poster.jpg" width="320"><source src="clip.mp4"></video>
            <iframe src="https://www.youtube.com/embed/abc" width="560" height="315"></iframe>
            <iframe src="https://ads.example.net/frame"></iframe>
            <iframe src="//player.vimeo.com/video/42"></iframe>
            <img src="../a.jpg">
            </body></html>"#,
        );
        assert_eq!(title.as_deref(), Some("A post"));
        assert_eq!(
            urls(&hits),
            [
                ("image", "https://example.com/cards/post.jpg", "og:image"),
                ("image", "https://cdn.example.com/t.png", "twitter:image"),
                ("video", "https://example.com/v.mp4", "og:video"),
                ("image", "https://example.com/blog/thumb.jpg", "link"),
                ("image", "https://example.com/blog/a.jpg", "img"),
                ("image", "https://example.com/blog/a-1280.jpg", "srcset"),
                ("image", "https://example.com/blog/lazy.jpg", "img"),
                ("image", "https://example.com/blog/p@2x.webp", "picture"),
                ("image", "https://example.com/blog/p.jpg", "img"),
                ("video", "https://example.com/blog/clip.webm", "video"),
                ("image", "https://example.com/blog/poster.jpg", "poster"),
                ("video", "https://example.com/blog/clip.mp4", "source"),
                ("video", "https://www.youtube.com/embed/abc", "iframe"),
                ("video", "https://player.vimeo.com/video/42", "iframe"),
                ("image", "https://example.com/a.jpg", "img"),
            ]
        );
        assert_eq!((hits[0].width, hits[0].height), (Some(1200), Some(630)));
        assert_eq!((hits[4].width, hits[4].height), (Some(640), Some(480)));
        assert_eq!(hits[8].width, None, "100% is not a size");
        assert_eq!((hits[12].width, hits[12].height), (Some(560), Some(315)));
        let json = serde_json::to_value(&hits[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "image", "url": "https://cdn.example.com/t.png", "source": "twitter:image"})
        );
    }

    #[test]
    fn base_href_and_duplicates() {
        let (_, hits) = page(
            r#"<base href="https://static.example.org/img/"><base href="/ignored/">
            <img src="x.png"><img src="x.png"><img src="https://static.example.org/img/x.png">
            <img src="../y.png#frag">"#,
        );
        assert_eq!(
            urls(&hits),
            [
                ("image", "https://static.example.org/img/x.png", "img"),
                ("image", "https://static.example.org/y.png#frag", "img"),
            ]
        );
    }

    #[test]
    fn broken_markup_reads_as_a_browser_reads_it() {
        // An unclosed <title> holds raw text to the end: no elements.
        let (title, hits) = page("<title>Unclosed <b>title</b><img src=a.png>");
        assert_eq!(
            title.as_deref(),
            Some("Unclosed <b>title</b><img src=a.png>")
        );
        assert!(hits.is_empty(), "{hits:?}");
        // Unclosed, misnested and oddly spaced tags still give their images.
        let (_, hits2) = page(
            "<p><img src=a.png><table><tr><td><IMG SRC=C.PNG></td></tr></table><img\nsrc\n=\nd.png>",
        );
        assert_eq!(
            urls(&hits2),
            [
                ("image", "https://example.com/blog/a.png", "img"),
                ("image", "https://example.com/blog/C.PNG", "img"),
                ("image", "https://example.com/blog/d.png", "img"),
            ]
        );
    }

    #[test]
    fn srcset_candidates() {
        assert_eq!(largest_candidate("a.jpg 1x, b.jpg 2x"), Some("b.jpg"));
        assert_eq!(
            largest_candidate("a.jpg 300w,b.jpg 900w , c.jpg 600w"),
            Some("b.jpg")
        );
        assert_eq!(largest_candidate("only.jpg"), Some("only.jpg"));
        // As the standard reads it: a URL runs to the next whitespace.
        assert_eq!(largest_candidate("a.jpg,b.jpg 2x"), Some("a.jpg,b.jpg"));
        assert_eq!(largest_candidate("a.jpg, b.jpg 2x"), Some("b.jpg"));
        assert_eq!(largest_candidate("  ,  "), None);
        assert_eq!(
            largest_candidate("https://x.org/a,b.jpg 2x"),
            Some("https://x.org/a,b.jpg")
        );
    }

    #[test]
    fn charsets() {
        let latin1 = b"<html><head><meta charset=\"iso-8859-1\"></head><title>caf\xe9</title>";
        assert!(decode(latin1, "text/html", None).contains("café"));
        // The header wins over the meta; a BOM wins over both.
        let utf8 = "<meta charset=iso-8859-1><title>café</title>".as_bytes();
        assert!(decode(utf8, "text/html; charset=UTF-8", None).contains("café"));
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(utf8);
        assert!(decode(&bom, "text/html; charset=iso-8859-1", None).contains("café"));
        // No label: a guess (Shift_JIS here).
        let (sjis, _, _) =
            encoding_rs::SHIFT_JIS.encode("<title>日本語のページです。こんにちは、世界。</title>");
        assert!(decode(&sjis, "text/html", Some("example.jp")).contains("日本語"));
    }

    #[test]
    fn what_is_html() {
        assert!(looks_like_html("text/html; charset=utf-8", b""));
        assert!(looks_like_html("", b"\n  <!DOCTYPE html><html>"));
        assert!(looks_like_html("application/octet-stream", b"<p>hi</p>"));
        assert!(!looks_like_html("image/png", b"<html>"));
        assert!(!looks_like_html("", b"\x89PNG\r\n\x1a\n\0\0"));
        assert!(!looks_like_html("text/plain", b"just words"));
        assert!(!looks_like_html("application/json", b"{\"a\": \"<html>\"}"));
    }

    #[test]
    fn final_url_after_redirects_is_the_base() {
        let mut ctx = drake_sdk::FakeCtx::default().with_input(
            "http://short.example/x",
            "text/html",
            b"<title>T</title><img src=\"i.png\">".to_vec(),
        );
        ctx.redirects.insert(
            "http://short.example/x".into(),
            "https://www.example.com/dir/page".into(),
        );
        let v = drake_sdk::run_json::<HtmlScrape>(&mut ctx, r#"{"url": "http://short.example/x"}"#)
            .unwrap();
        assert_eq!(v["page_title"], "T");
        assert_eq!(v["hits"][0]["url"], "https://www.example.com/dir/i.png");
    }

    #[test]
    fn not_html_is_a_readable_error() {
        let mut ctx = drake_sdk::FakeCtx::default().with_input(
            "http://x/a.png",
            "image/png",
            vec![0x89, b'P', b'N', b'G'],
        );
        let e = drake_sdk::run_json::<HtmlScrape>(&mut ctx, r#"{"url": "http://x/a.png"}"#)
            .unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidInput(ref m) if m.contains("not HTML (image/png)")),
            "{e:?}"
        );
    }
}

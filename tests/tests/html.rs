//! `html.scrape` end to end: real pages from a Debian package checked
//! against an independent parser, every media source on one page, and
//! bad input (not HTML, over the cap, hostile URLs, redirects to private
//! addresses).
#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use std::path::Path;

use crate::common::{Drake, Fixtures};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/html")
            .join(name),
    )
    .unwrap()
}

/// `<title>` and the `<img src>` URLs of a page by the `tl` parser,
/// resolved against `base`, deduplicated, in order.
fn oracle(html: &str, base: &str) -> (String, Vec<String>) {
    let dom = tl::parse(html, tl::ParserOptions::default()).unwrap();
    let parser = dom.parser();
    let title = dom
        .query_selector("title")
        .and_then(|mut q| q.next())
        .and_then(|h| h.get(parser))
        .map(|n| {
            n.inner_text(parser)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let base = url::Url::parse(base).unwrap();
    let mut urls: Vec<String> = Vec::new();
    for handle in dom.query_selector("img").unwrap() {
        let Some(tag) = handle.get(parser).and_then(|n| n.as_tag()) else {
            continue;
        };
        let Some(Some(src)) = tag.attributes().get("src") else {
            continue;
        };
        let src = src.as_utf8_str();
        let Ok(url) = base.join(src.trim()) else {
            continue;
        };
        let url = url.to_string();
        if url.starts_with("http") && !urls.contains(&url) {
            urls.push(url);
        }
    }
    (title, urls)
}

#[tokio::test]
async fn real_pages_match_an_independent_parser() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let pages = [
        "famous.html",
        "atomiccommit.html",
        "books.html",
        "queryplanner.html",
    ];
    for name in pages {
        fx.add(name, "text/html; charset=utf-8", fixture(name));
    }
    // Through a redirect: URLs resolve against where the page ended up.
    let tasks: Vec<Value> = pages
        .iter()
        .map(|name| json!({"task_name": "html.scrape", "url": fx.url(&format!("/r/{name}"))}))
        .collect();
    let statuses = drake.create(json!(tasks), true).await;
    for (name, s) in pages.iter().zip(&statuses) {
        assert_eq!(s["status"], "success", "{name}: {s}");
        let r = &s["result"];
        let html = String::from_utf8(fixture(name)).unwrap();
        let (title, imgs) = oracle(&html, &fx.url(&format!("/f/{name}")));
        assert_eq!(r["page_title"], title, "{name}");
        let ours: Vec<&str> = r["hits"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["source"] == "img")
            .map(|h| h["url"].as_str().unwrap())
            .collect();
        assert!(imgs.len() >= 4, "{name}: the oracle found {imgs:?}");
        assert_eq!(ours, imgs, "{name}");
        for hit in r["hits"].as_array().unwrap() {
            assert!(
                hit["url"].as_str().unwrap().starts_with("http://127.0.0.1"),
                "{hit}"
            );
        }
    }
}

#[tokio::test]
async fn every_source_on_one_page() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    // Latin-1, declared only in a <meta>; broken markup; hostile URLs.
    let mut page = b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\">\
        <title>Caf\xe9   menu</title>\
        <meta property=\"og:image\" content=\"https://cdn.example.com/card.jpg\">\
        <meta property=\"og:image:width\" content=\"1200\">\
        <meta property=\"og:video:secure_url\" content=\"https://cdn.example.com/v.mp4\">\
        <meta name=\"twitter:player\" content=\"https://player.example.com/p\">\
        <base href=\"/static/\"></head><body><div><p>unclosed <b>tags\
        <img src=\"../img/a.png\" width=\"64\" height=\"48\">\
        <img src=\"javascript:alert(1)\"><img src=\"data:image/png;base64,AAAA\">\
        <a href=\"x\"><img srcset=\"s1.jpg 1x, s2.jpg 2x\" src=\"s1.jpg\"></a>\
        <video poster=\"p.jpg\"><source src=\"movie.webm\" type=\"video/webm\"></video>\
        <iframe src=\"https://www.youtube-nocookie.com/embed/xyz\" width=\"640\" height=\"360\"></iframe>\
        <img src=\"../img/a.png\">"
        .to_vec();
    page.extend(b"</table></td></div>");
    let url = fx.add("menu", "text/html", page);
    let statuses = drake
        .create(json!([{"task_name": "html.scrape", "url": url}]), true)
        .await;
    let r = &statuses[0]["result"];
    assert_eq!(statuses[0]["status"], "success", "{}", statuses[0]);
    assert_eq!(r["page_title"], "Café menu");
    let site = fx.url("");
    let hits: Vec<(String, String, String)> = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["type"].as_str().unwrap().to_owned(),
                h["url"].as_str().unwrap().replace(&site, ""),
                h["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("image", "https://cdn.example.com/card.jpg", "og:image"),
        ("video", "https://cdn.example.com/v.mp4", "og:video"),
        ("video", "https://player.example.com/p", "twitter:player"),
        ("image", "/img/a.png", "img"),
        ("image", "/static/s1.jpg", "img"),
        ("image", "/static/s2.jpg", "srcset"),
        ("image", "/static/p.jpg", "poster"),
        ("video", "/static/movie.webm", "source"),
        (
            "video",
            "https://www.youtube-nocookie.com/embed/xyz",
            "iframe",
        ),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
    .collect();
    assert_eq!(hits, want);
    assert_eq!(r["hits"][0]["width"], 1200);
    assert_eq!(
        (
            r["hits"][3]["width"].as_u64(),
            r["hits"][3]["height"].as_u64()
        ),
        (Some(64), Some(48))
    );
    assert!(r["hits"][4].get("width").is_none());
}

#[tokio::test]
async fn html_scrape_bad_input() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let image = fx.add("x.png", "image/png", common::png(10, 10));
    let binary = fx.add("blob", "application/octet-stream", common::noise(5_000));
    // 50 MB of HTML: over the 10 MiB cap.
    let mut huge = b"<html><body>".to_vec();
    huge.resize(50 << 20, b'a');
    let huge = fx.add("huge.html", "text/html", huge);
    let empty = fx.add("empty.html", "text/html", Vec::new());
    let statuses = drake
        .create(
            json!([
                {"task_name": "html.scrape", "url": image},
                {"task_name": "html.scrape", "url": binary},
                {"task_name": "html.scrape", "url": huge},
                {"task_name": "html.scrape", "url": fx.url("/redirect-to-metadata")},
                {"task_name": "html.scrape", "url": empty},
            ]),
            true,
        )
        .await;
    let msg = |i: usize| {
        statuses[i]["result"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    for s in &statuses[..4] {
        assert_eq!(s["status"], "error", "{s}");
    }
    assert!(msg(0).contains("not HTML (image/png)"), "{}", msg(0));
    assert!(msg(1).contains("not HTML"), "{}", msg(1));
    assert!(msg(2).contains("larger than 10 MiB"), "{}", msg(2));
    assert!(msg(3).contains("blocked"), "{}", msg(3));
    // An empty HTML page has nothing on it: that is a result.
    assert_eq!(statuses[4]["status"], "success", "{}", statuses[4]);
    assert_eq!(statuses[4]["result"]["hits"], json!([]));
}

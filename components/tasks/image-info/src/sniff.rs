//! The image format from its first bytes: the declared content type and the
//! URL's extension are not trusted.

use drake_sdk::TaskError;

/// A supported image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Webp,
    Avif,
}

impl Format {
    /// The MIME type reported as `content_type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Gif => "image/gif",
            Format::Webp => "image/webp",
            Format::Avif => "image/avif",
        }
    }

    /// The matching `image` crate format (AVIF is read by
    /// `drake_imaging::avif`).
    pub fn image_format(self) -> Option<image::ImageFormat> {
        match self {
            Format::Jpeg => Some(image::ImageFormat::Jpeg),
            Format::Png => Some(image::ImageFormat::Png),
            Format::Gif => Some(image::ImageFormat::Gif),
            Format::Webp => Some(image::ImageFormat::WebP),
            Format::Avif => None,
        }
    }
}

/// The format of `bytes`, or an input error naming what is supported.
pub fn sniff(bytes: &[u8]) -> Result<Format, TaskError> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(Format::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(Format::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Ok(Format::Gif)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Ok(Format::Webp)
    } else if drake_imaging::avif::sniff(bytes) {
        Ok(Format::Avif)
    } else {
        Err(TaskError::InvalidInput(
            "the file is not a supported image (jpeg, png, gif, webp, avif)".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Ok(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Ok(Format::Png));
        assert_eq!(sniff(b"GIF89a.."), Ok(Format::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(Format::Webp));
        assert!(sniff(b"RIFF\0\0\0\0WAVE").is_err());
        assert_eq!(sniff(b"\0\0\0\x14ftypavif\0\0\0\0mif1"), Ok(Format::Avif));
        assert!(sniff(b"\0\0\0\x14ftypheic\0\0\0\0mif1").is_err());
        assert!(sniff(b"").is_err());
        assert!(sniff(b"<html>").is_err());
    }
}

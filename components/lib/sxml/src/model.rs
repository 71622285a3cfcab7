//! The checked SXML tree.

use std::fmt;

/// An element kind (sxml.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `<body>`: the top-level sequence.
    Body,
    /// `<sequence>`: children back to back, transitions overlapping.
    Sequence,
    /// `<stack>`: children together, later ones on top.
    Stack,
    /// `<effect>`: a media presenter.
    Effect,
    /// `<text>`: a caption or text zone.
    Text,
    /// `<overlay>`: placed media.
    Overlay,
    /// `<audio>`: a sound file or TTS speech.
    Audio,
    /// `<image>`: a picture or a solid colour.
    Image,
    /// `<video>`: a clip.
    Video,
    /// `<transition>`: overlap between two sequence items.
    Transition,
    /// `<filter>`: post-processing.
    Filter,
    /// `<animator>`: motion or parameter animation.
    Animator,
    /// `<key>`: one keyframe of a custom animator.
    Key,
    /// `<camera>`: scene camera animation.
    Camera,
    /// `<widget>`: a theme template (`director.theme.*` only).
    Widget,
    /// `<track>`: a director theme's video, audio or caption track.
    Track,
    /// `<style>`: a widget layer's style.
    Style,
}

impl Kind {
    /// The element name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Body => "body",
            Kind::Sequence => "sequence",
            Kind::Stack => "stack",
            Kind::Effect => "effect",
            Kind::Text => "text",
            Kind::Overlay => "overlay",
            Kind::Audio => "audio",
            Kind::Image => "image",
            Kind::Video => "video",
            Kind::Transition => "transition",
            Kind::Filter => "filter",
            Kind::Animator => "animator",
            Kind::Key => "key",
            Kind::Camera => "camera",
            Kind::Widget => "widget",
            Kind::Track => "track",
            Kind::Style => "style",
        }
    }

    /// Plays in time (has a span of its own in a sequence or stack), as
    /// opposed to modifiers (filters, animators) and media.
    pub fn is_atom(self) -> bool {
        matches!(
            self,
            Kind::Sequence
                | Kind::Stack
                | Kind::Effect
                | Kind::Text
                | Kind::Overlay
                | Kind::Audio
                | Kind::Widget
        )
    }
}

/// A checked element.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it is.
    pub kind: Kind,
    /// Attributes as written (names checked, values valid for their type).
    pub attrs: Vec<(String, String)>,
    /// Text content, trimmed (text, TTS audio).
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Node>,
    /// 1-based line of the start tag.
    pub line: u32,
    /// 1-based column of the start tag.
    pub column: u32,
}

impl Node {
    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric attribute (already checked to parse).
    pub fn number(&self, name: &str) -> Option<f64> {
        self.attr(name).and_then(|v| v.trim().parse().ok())
    }

    /// A boolean attribute (already checked).
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.attr(name).map(|v| matches!(v.trim(), "true" | "1"))
    }

    /// `type`, or `""`.
    pub fn ty(&self) -> &str {
        self.attr("type").unwrap_or("")
    }

    /// `<kind> at line L, column C`, for messages.
    pub fn place(&self) -> String {
        format!(
            "<{}> at line {}, column {}",
            self.kind.name(),
            self.line,
            self.column
        )
    }

    /// Every node of the subtree, depth first, this one first.
    pub fn walk(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        let mut todo = vec![self];
        while let Some(node) = todo.pop() {
            out.push(node);
            todo.extend(node.children.iter().rev());
        }
        out
    }
}

/// A parsed document.
#[derive(Debug, Clone, PartialEq)]
pub struct Movie {
    /// The `<body>` (a sequence).
    pub body: Node,
    /// `<default>` children (a default transition and effect).
    pub defaults: Vec<Node>,
    /// What the document says that is ignored, as the original service
    /// ignored what it did not know: unknown attributes and elements.
    pub warnings: Vec<Warning>,
}

/// Something a document says that is ignored, with where (the same
/// record as an [`Error`]).
pub type Warning = Error;

/// A definition that cannot be rendered, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// 1-based line (0 when the problem is the whole document).
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl Error {
    pub(crate) fn at(line: u32, column: u32, message: impl Into<String>) -> Error {
        Error {
            line,
            column,
            message: message.into(),
        }
    }

    pub(crate) fn whole(message: impl Into<String>) -> Error {
        Error::at(0, 0, message)
    }

    pub(crate) fn on(node: &Node, message: impl fmt::Display) -> Error {
        Error::at(
            node.line,
            node.column,
            format!("<{}>: {message}", node.kind.name()),
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "definition: {}", self.message)
        } else {
            write!(
                f,
                "definition: line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for Error {}

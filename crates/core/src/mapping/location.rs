//! Positions in the mapping file and the error that carries one.
use std::fmt;

/// A position in a mapping file: `FILE:LINE:COL`, both 1-based, the column counted in
/// characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// File name as given to [`super::parse`].
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub col: usize,
}

impl Location {
    /// The location of byte `offset` of `text` (clamped to the text's end).
    pub fn at(file: &str, text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: file.to_string(),
            line: before.matches('\n').count() + 1,
            col: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A mapping file that cannot be used; displays as `FILE:LINE:COL: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct MappingError {
    /// File name as given to [`super::parse`].
    pub file: String,
    /// Where in the file, when known.
    pub location: Option<Location>,
    /// What is wrong, and how to fix it.
    pub message: String,
}

impl MappingError {
    pub(super) fn new(file: &str, text: &str, offset: Option<usize>, message: String) -> Self {
        MappingError {
            file: file.to_string(),
            location: offset.map(|o| Location::at(file, text, o)),
            message,
        }
    }
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

//! Turning an XML document's bytes into UTF-8 text before parsing.
//!
//! Reports arrive as UTF-8 (with or without BOM), UTF-16 with BOM, or in a legacy encoding
//! named in the XML declaration (ISO-8859-1, windows-1252, windows-1251) or, for e-mail
//! attachments, in the MIME charset. The document is decoded exactly once, choosing by the
//! order of RFC 7303: a BOM, then the MIME charset, then the XML declaration, then UTF-8. Bytes that are invalid in the
//! chosen encoding become U+FFFD instead of failing the whole report: a single bad byte in a
//! `header_from` must not lose a day of data.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};
use std::borrow::Cow;

/// Decodes `bytes` to text, choosing the encoding from the BOM, then `charset` (the MIME
/// charset the document came with, if any), then the XML declaration.
pub fn decode_document<'a>(bytes: &'a [u8], charset: Option<&'static Encoding>) -> Cow<'a, str> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        return decode_with(encoding, &bytes[bom_len..]);
    }
    if let Some(encoding) = utf16_without_bom(bytes) {
        return decode_with(encoding, bytes);
    }
    let declared = declared_encoding(bytes);
    let encoding = match charset {
        // A label of us-ascii or latin-1 on a document that is UTF-8 and says so (or says
        // nothing: XML's default) is the sender's mistake, not the document's encoding:
        // read by the label, the same report as a file and as an e-mail were two reports.
        Some(label)
            if label != UTF_8
                && declared.unwrap_or(UTF_8) == UTF_8
                && std::str::from_utf8(bytes).is_ok() =>
        {
            UTF_8
        }
        Some(label) => label,
        None => declared.unwrap_or(UTF_8),
    };
    decode_with(encoding, bytes)
}

fn decode_with<'a>(encoding: &'static Encoding, bytes: &'a [u8]) -> Cow<'a, str> {
    // `decode_without_bom_handling` borrows when the input is already valid UTF-8.
    encoding.decode_without_bom_handling(bytes).0
}

/// `<?` encoded as UTF-16 without a BOM (allowed by XML 1.0 appendix F).
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    match bytes {
        [b'<', 0, b'?', 0, ..] => Some(UTF_16LE),
        [0, b'<', 0, b'?', ..] => Some(UTF_16BE),
        _ => None,
    }
}

/// The `encoding="..."` pseudo-attribute of the XML declaration, if any.
fn declared_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(200)];
    let decl_end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..decl_end]).ok()?;
    let after = &decl[decl.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let label = after[1..].split(quote).next()?;
    // UTF-16 declared without a BOM in an ASCII-readable header is a lie; trust the bytes.
    Encoding::for_label(label.trim().as_bytes()).filter(|e| *e != UTF_16LE && *e != UTF_16BE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bom_is_stripped() {
        assert_eq!(decode_document(b"\xEF\xBB\xBF<a/>", None), "<a/>");
    }

    #[test]
    fn utf16le_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "<a>é</a>".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode_document(&bytes, None), "<a>é</a>");
    }

    #[test]
    fn declared_latin1_is_honoured() {
        let doc = b"<?xml version='1.0' encoding='ISO-8859-1'?><a>M\xFCller</a>";
        assert!(decode_document(doc, None).contains("Müller"));
    }

    #[test]
    fn windows_1252_quotes() {
        let doc = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><a>\x93q\x94</a>";
        assert!(decode_document(doc, None).contains("\u{201C}q\u{201D}"));
    }

    #[test]
    fn mime_charset_beats_the_declaration_and_decodes_once() {
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251
            .encode("<?xml version='1.0' encoding='windows-1251'?><a>Почта</a>");
        assert!(decode_document(&cp1251, None).contains("Почта"));
        assert!(decode_document(&cp1251, Some(encoding_rs::WINDOWS_1251)).contains("Почта"));
        let utf8 = "<?xml version='1.0' encoding='windows-1251'?><a>Почта</a>";
        assert!(decode_document(utf8.as_bytes(), Some(UTF_8)).contains("Почта"));
        // Labelled us-ascii (windows-1252 to encoding_rs) or latin-1 but UTF-8 throughout,
        // as it declares or by default: UTF-8.
        let mislabelled = "<?xml version='1.0' encoding='UTF-8'?><a>Bücher</a>";
        for label in [&b"us-ascii"[..], b"iso-8859-1"] {
            let label = Encoding::for_label(label);
            assert!(decode_document(mislabelled.as_bytes(), label).contains("Bücher"));
            assert!(decode_document("<a>Bücher</a>".as_bytes(), label).contains("Bücher"));
        }
        // Not valid UTF-8: the label is what there is to go by.
        let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode("<a>Bücher</a>");
        assert!(decode_document(&latin1, Encoding::for_label(b"iso-8859-1")).contains("Bücher"));
    }

    #[test]
    fn invalid_utf8_byte_becomes_replacement_character() {
        assert_eq!(
            decode_document(b"<a>bad\x91</a>", None),
            "<a>bad\u{FFFD}</a>"
        );
    }
}

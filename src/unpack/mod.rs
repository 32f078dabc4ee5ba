//! From the bytes of one input to the documents inside it. Containers only: which kind of
//! report a document is, is decided by `parse::detect`.
//!
//! Containers are recognised by content, never by file name: gzip (`1f 8b`), zip (`PK`),
//! e-mail and mbox (header lines), XML (`<`, possibly after a BOM), JSON (`{`). They nest
//! (an e-mail holding a zip holding XML). Every expansion is bounded: a size limit per
//! document, a budget for the whole input, a nesting depth and a member count, so a
//! decompression bomb is refused with a reason instead of exhausting memory.

mod mail;
mod message;

pub use mail::{MailFacts, MAX_MAIL_TEXT};

use crate::model::Reason;
use encoding_rs::Encoding;
use std::borrow::Cow;
use std::io::{Cursor, Read};

/// Bounds on what one input may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest single decompressed document.
    pub max_document_bytes: u64,
    /// Largest total of all decompressed documents of one input.
    pub max_total_bytes: u64,
    /// How deeply containers may nest (e-mail > zip > gzip > ... counts each level).
    pub max_depth: usize,
    /// Most members read from one zip archive or mbox file.
    pub max_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 100 * 1024 * 1024,
            max_total_bytes: 1024 * 1024 * 1024,
            max_depth: 8,
            max_members: 10_000,
        }
    }
}

/// One thing found in an input.
#[derive(Debug)]
pub struct Piece<'a> {
    /// Where inside the input it was found, e.g. `attachment.zip > report.xml`; empty for the
    /// input itself.
    pub location: String,
    pub content: Content<'a>,
    /// Found inside an e-mail message: the last [`Content::Message`] handed on, whose
    /// signature vouches for it. False for what a bare file (XML, gzip, zip) holds.
    pub in_message: bool,
    /// The `TLS-Report-Domain` header of the message it came in (RFC 8460 section 5.3): the
    /// policy domain of an SMTP TLS report whose policies name none.
    pub report_domain: Option<String>,
}

#[derive(Debug)]
pub enum Content<'a> {
    /// An XML or JSON document, still to be parsed, with the MIME charset it arrived with.
    Document {
        bytes: Cow<'a, [u8]>,
        charset: Option<&'static Encoding>,
    },
    /// An e-mail holding no XML or JSON document, or an RFC 6522 feedback report (ARF): what
    /// it says about itself, for `parse` to tell a failure report from a bounce or a stray
    /// message.
    Mail(MailFacts),
    /// Something that cannot be opened, or is nothing at all.
    Refused(Reason),
    /// An e-mail message inside no other (an input's own, each of an mbox's, one in a zip),
    /// handed on before anything found in it: its DKIM signature vouches for what it holds.
    Message(Cow<'a, [u8]>),
}

/// Finds every document in `bytes`, handing each to `found` as soon as it is found: a caller
/// that parses each in turn holds one decompressed document at a time, not every member of
/// a zip at once (five 100 MiB members in an 18 MB zip took 2.1 GB when all were held).
pub fn unpack<'a>(bytes: &'a [u8], limits: &Limits, found: &mut dyn FnMut(Piece<'a>)) {
    let mut unpacker = Unpacker {
        limits: *limits,
        budget: limits.max_total_bytes,
        found,
        count: 0,
        documents: 0,
        in_message: false,
        report_domain: None,
    };
    unpacker.any(Cow::Borrowed(bytes), String::new(), 0);
}

/// The most deflate can expand its input: 258 bytes from one bit-sized code, about 1,032 to 1.
const MAX_DEFLATE_RATIO: u64 = 1032;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Empty,
    Gzip,
    Zip,
    Xml,
    Json,
    Mbox,
    Mail,
    Unknown,
}

/// Recognises a format from the first bytes.
fn sniff(bytes: &[u8]) -> Format {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let head = &bytes[start..];
    match head {
        [] => Format::Empty,
        [0x1f, 0x8b, ..] => Format::Gzip,
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Format::Zip,
        // A UTF-8 byte order mark before an e-mail, an mbox or JSON (a file saved by a Windows
        // editor) is no XML; UTF-16 is XML's alone here.
        [0xEF, 0xBB, 0xBF, rest @ ..] => match sniff(rest) {
            format @ (Format::Mail | Format::Mbox | Format::Json) => format,
            _ => Format::Xml,
        },
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => Format::Xml,
        [b'<', ..] | [0, b'<', ..] => Format::Xml,
        [b'{', ..] | [b'[', ..] => Format::Json,
        _ if head.starts_with(b"From ") => Format::Mbox,
        _ if starts_with_header_line(head) => Format::Mail,
        _ => Format::Unknown,
    }
}

/// What an operating system adds to a zip it makes, beside the files put in it: macOS's
/// resource forks (`__MACOSX/._report.xml`), folder settings and icons (`.DS_Store`,
/// `Icon\r`), Windows's `Thumbs.db` and `desktop.ini`, in any case. Passed over: no report, and no reason to reject the zip.
fn is_file_system_metadata(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    name.starts_with("__MACOSX/")
        || base.starts_with("._")
        || matches!(
            base.as_str(),
            ".ds_store" | "thumbs.db" | "desktop.ini" | "icon\r"
        )
}

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// A file people put beside reports in a zip, by its extension: text, a PDF, a page, an
/// image, an office document.
fn is_note(name: &str) -> bool {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    matches!(
        extension.as_deref(),
        Some(
            "txt"
                | "md"
                | "pdf"
                | "htm"
                | "html"
                | "csv"
                | "png"
                | "jpg"
                | "jpeg"
                | "gif"
                | "doc"
                | "docx"
                | "rtf"
        )
    )
}

const UNRECOGNISED: &str = "unrecognised content (not XML, gzip, zip, JSON or e-mail)";

fn without_utf8_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// `Name: value` with an RFC 5322 field name, as the first line of a message.
fn starts_with_header_line(bytes: &[u8]) -> bool {
    let line_end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len());
    let line = &bytes[..line_end.min(998)];
    match line.iter().position(|b| *b == b':') {
        Some(colon) if colon > 0 => line[..colon]
            .iter()
            .all(|b| b.is_ascii_graphic() && *b != b':'),
        _ => false,
    }
}

struct Unpacker<'a, 'f> {
    limits: Limits,
    /// Decompressed bytes this input may still produce.
    budget: u64,
    found: &'f mut dyn FnMut(Piece<'a>),
    /// Pieces handed on so far.
    count: usize,
    /// Of those, the documents (possible reports).
    documents: usize,
    /// Inside an e-mail message (the one last announced as [`Content::Message`]).
    in_message: bool,
    /// The `TLS-Report-Domain` of the message being walked, if it has one.
    report_domain: Option<String>,
}

impl<'a> Unpacker<'a, '_> {
    fn push(&mut self, location: String, content: Content<'a>) {
        self.count += 1;
        self.documents += usize::from(matches!(content, Content::Document { .. }));
        let in_message = self.in_message;
        (self.found)(Piece {
            location,
            content,
            in_message,
            report_domain: self.report_domain.clone(),
        });
    }

    /// An e-mail message. One inside no other is announced first, with its bytes, so that
    /// its signature can be checked for the documents it holds (not counted: it is not one).
    fn message(&mut self, bytes: Cow<'a, [u8]>, location: String, depth: usize) {
        if self.in_message {
            return self.mail_bytes(&bytes, location, depth);
        }
        (self.found)(Piece {
            location: location.clone(),
            content: Content::Message(bytes.clone()),
            in_message: false,
            report_domain: None,
        });
        self.in_message = true;
        self.mail_bytes(&bytes, location, depth);
        self.in_message = false;
    }

    fn refuse(&mut self, location: String, reason: Reason) {
        self.push(location, Content::Refused(reason));
    }

    fn any(&mut self, bytes: Cow<'a, [u8]>, location: String, depth: usize) {
        self.any_with_charset(bytes, None, location, depth);
    }

    fn any_with_charset(
        &mut self,
        bytes: Cow<'a, [u8]>,
        charset: Option<&'static Encoding>,
        location: String,
        depth: usize,
    ) {
        if depth > self.limits.max_depth {
            let max = self.limits.max_depth;
            let reason = format!("containers nested deeper than {max} levels");
            return self.refuse(location, Reason::OverLimit(reason));
        }
        match sniff(&bytes) {
            Format::Empty => self.refuse(location, Reason::Empty),
            Format::Xml | Format::Json => self.push(location, Content::Document { bytes, charset }),
            Format::Gzip => self.gzip(&bytes, location, depth),
            Format::Zip => self.zip(&bytes, location, depth),
            Format::Mbox => self.mbox(without_utf8_bom(&bytes), location, depth),
            Format::Mail if bytes.starts_with(UTF8_BOM) => {
                let bytes = match bytes {
                    Cow::Borrowed(bytes) => Cow::Borrowed(&bytes[UTF8_BOM.len()..]),
                    Cow::Owned(bytes) => Cow::Owned(bytes[UTF8_BOM.len()..].to_vec()),
                };
                self.message(bytes, location, depth)
            }
            Format::Mail => self.message(bytes, location, depth),
            Format::Unknown => self.refuse(location, Reason::NotAReport(UNRECOGNISED.into())),
        }
    }

    /// Reads at most the document limit (and what is left of the budget) from `reader`.
    /// `declared` is the size the container claims for it (a zip entry's, a gzip trailer's):
    /// room for it is made at once, instead of doubling the buffer and copying it as it
    /// fills (most of the memmove of parsing). A stranger wrote it, so it is only a hint:
    /// never more than the limits, nor than deflate can expand `packed` bytes to.
    fn read_bounded(
        &mut self,
        reader: impl Read,
        out: &mut Vec<u8>,
        declared: u64,
        packed: usize,
    ) -> Result<(), Reason> {
        let cap = self.limits.max_document_bytes.min(self.budget);
        let already = out.len() as u64;
        let allowed = cap.saturating_sub(already);
        let hint = declared
            .min(allowed)
            .min((packed as u64).saturating_mul(MAX_DEFLATE_RATIO));
        out.reserve(usize::try_from(hint).unwrap_or(0));
        reader
            .take(allowed + 1)
            .read_to_end(out)
            .map_err(|e| Reason::Damaged(e.to_string()))?;
        if out.len() as u64 > cap {
            return Err(Reason::OverLimit(if cap < self.limits.max_document_bytes {
                format!(
                    "expands beyond {} bytes in total (decompression bomb?)",
                    self.limits.max_total_bytes
                )
            } else {
                format!(
                    "document larger than the limit of {} bytes (decompression bomb?)",
                    self.limits.max_document_bytes
                )
            }));
        }
        Ok(())
    }

    fn charge(&mut self, produced: usize) {
        self.budget = self.budget.saturating_sub(produced as u64);
    }

    /// Every gzip member in turn (multi-member streams); trailing non-gzip bytes are ignored,
    /// as gzip(1) does.
    fn gzip(&mut self, bytes: &[u8], location: String, depth: usize) {
        match self.gunzip(bytes) {
            Ok(out) => {
                self.charge(out.len());
                self.any(Cow::Owned(out), location, depth + 1);
            }
            Err(reason) => self.refuse(location, prefixed("gzip", reason)),
        }
    }

    fn gunzip(&mut self, bytes: &[u8]) -> Result<Vec<u8>, Reason> {
        let mut out = Vec::new();
        // The trailer's ISIZE is the size of the last member (mod 2^32): right for the usual
        // one-member file, a harmless hint otherwise.
        let declared = bytes
            .last_chunk::<4>()
            .map_or(0, |t| u32::from_le_bytes(*t));
        let mut rest = bytes;
        while rest.starts_with(&[0x1f, 0x8b]) {
            let mut decoder = flate2::bufread::GzDecoder::new(rest);
            let member = self.read_bounded(&mut decoder, &mut out, declared.into(), rest.len());
            if let Err(reason) = member {
                // A damaged later member must not throw away complete earlier ones.
                if out.is_empty() || rest.len() == bytes.len() {
                    return Err(reason);
                }
                log::debug!("ignoring damaged trailing gzip member: {reason}");
                break;
            }
            rest = decoder.into_inner();
        }
        if !rest.is_empty() {
            log::debug!("ignoring {} trailing bytes after gzip data", rest.len());
        }
        Ok(out)
    }

    fn zip(&mut self, bytes: &[u8], location: String, depth: usize) {
        let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
            Ok(archive) => archive,
            Err(e) => return self.refuse(location, Reason::Damaged(format!("zip: {e}"))),
        };
        if archive.len() > self.limits.max_members {
            let max = self.limits.max_members;
            let reason = format!("zip holds more than {max} members");
            return self.refuse(location, Reason::OverLimit(reason));
        }
        if archive.is_empty() {
            return self.refuse(location, Reason::NotAReport("zip archive is empty".into()));
        }
        let documents_before = self.documents;
        // Notes beside the reports (a README, a PDF) that are no report of any kind: passed
        // over beside a report, as an e-mail's other parts are, and rejected only when the
        // zip holds nothing else (a zip rejected for its README was rejected again on every
        // run, exit 3). Any other member that is no report is rejected as before: it may be
        // a report in a form duckmarc cannot read (bzip2, xz).
        let mut notes = Vec::new();
        for index in 0..archive.len() {
            let mut out = Vec::new();
            let (name, result) = match archive.by_index(index) {
                Ok(file) if file.is_dir() || is_file_system_metadata(file.name()) => continue,
                Ok(file) => {
                    let name = file.name().to_string();
                    let (declared, packed) = (file.size(), file.compressed_size() as usize);
                    (name, self.read_bounded(file, &mut out, declared, packed))
                }
                Err(e) => (
                    format!("member {index}"),
                    Err(Reason::Damaged(e.to_string())),
                ),
            };
            let member_location = join(&location, &name);
            match result {
                Ok(()) if matches!(sniff(&out), Format::Unknown) && is_note(&name) => {
                    notes.push(member_location)
                }
                Ok(()) => {
                    self.charge(out.len());
                    self.any(Cow::Owned(out), member_location, depth + 1);
                }
                Err(reason) => self.refuse(member_location, prefixed("zip", reason)),
            }
        }
        for member in notes {
            if self.documents > documents_before {
                log::info!("{member}: passed over, a note beside the zip's reports");
            } else {
                self.refuse(member, Reason::NotAReport(UNRECOGNISED.into()));
            }
        }
    }

    fn mbox(&mut self, bytes: &[u8], location: String, depth: usize) {
        let messages = mail_parser::mailbox::mbox::MessageIterator::new(bytes);
        for (index, message) in messages.enumerate() {
            let here = join(&location, &format!("message {}", index + 1));
            if index >= self.limits.max_members {
                let max = self.limits.max_members;
                let reason = format!("mbox holds more than {max} messages");
                return self.refuse(here, Reason::OverLimit(reason));
            }
            match message {
                Ok(message) => {
                    let contents = message.unwrap_contents();
                    self.charge(contents.len());
                    self.any(Cow::Owned(contents), here, depth + 1);
                }
                Err(e) => return self.refuse(here, Reason::Damaged(format!("mbox: {e}"))),
            }
        }
    }
}

/// `gzip: ...`, keeping the reason's kind.
fn prefixed(container: &str, reason: Reason) -> Reason {
    match reason {
        Reason::OverLimit(detail) => Reason::OverLimit(format!("{container}: {detail}")),
        other => Reason::Damaged(format!("{container}: {other}")),
    }
}

/// `location > name`, or `name` alone at the top of an input.
pub fn join(location: &str, name: &str) -> String {
    if location.is_empty() {
        name.to_string()
    } else {
        format!("{location} > {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Every piece of `data`, in the order found.
    fn unpack_all<'a>(data: &'a [u8], limits: &Limits) -> Vec<Piece<'a>> {
        let mut pieces = Vec::new();
        unpack(data, limits, &mut |piece| pieces.push(piece));
        pieces
    }

    fn xml_of(pieces: &[Piece]) -> Vec<String> {
        pieces
            .iter()
            .filter_map(|p| match &p.content {
                Content::Document { bytes, .. } => {
                    Some(String::from_utf8_lossy(bytes).into_owned())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn multi_member_gzip_with_trailing_bytes() {
        let mut data = gzip(b"<feedback>");
        data.extend(gzip(b"</feedback>"));
        data.extend_from_slice(b"\0\0garbage");
        let pieces = unpack_all(&data, &Limits::default());
        assert_eq!(xml_of(&pieces), vec!["<feedback></feedback>"]);
    }

    #[test]
    fn gzip_inside_gzip() {
        let data = gzip(&gzip(b"<feedback/>"));
        assert_eq!(
            xml_of(&unpack_all(&data, &Limits::default())),
            vec!["<feedback/>"]
        );
    }

    #[test]
    fn gzip_bomb_is_refused() {
        let data = gzip(&vec![b'<'; 4 * 1024 * 1024]);
        let limits = Limits {
            max_document_bytes: 1024 * 1024,
            ..Limits::default()
        };
        let pieces = unpack_all(&data, &limits);
        assert!(
            matches!(&pieces[0].content, Content::Refused(r) if r.to_string().contains("limit")),
            "{pieces:?}"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let mut data = b"<feedback/>".to_vec();
        for _ in 0..12 {
            data = gzip(&data);
        }
        let pieces = unpack_all(&data, &Limits::default());
        assert!(
            matches!(&pieces[0].content, Content::Refused(r) if r.to_string().contains("nested"))
        );
    }

    #[test]
    fn unknown_bytes_are_rejected_with_a_reason() {
        let pieces = unpack_all(b"\x00\x01binary", &Limits::default());
        assert!(
            matches!(&pieces[0].content, Content::Refused(Reason::NotAReport(r)) if r.contains("unrecognised"))
        );
    }

    #[test]
    fn empty_input_is_rejected() {
        let pieces = unpack_all(b"  \n", &Limits::default());
        assert!(matches!(
            &pieces[0].content,
            Content::Refused(Reason::Empty)
        ));
    }
}

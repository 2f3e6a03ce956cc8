//! MTOM/XOP bodies (`multipart/related`, RFC 2387 / W3C XOP): a streaming
//! reader that writes each attachment part to its own file as it arrives
//! and keeps only the SOAP envelope (the root part) in memory, and a writer
//! that builds such a body from the envelope and files on disk, streamed.
//!
//! The reader is push-based: feed it the body's chunks as they come off the
//! network. It holds at most one chunk plus a boundary's length at a time,
//! checks the per-file, total and count limits while bytes arrive, and
//! digests each part (SHA-256, GOST R 34.11-2012) on the way to disk.

use std::fs::File;
use std::io::{BufWriter, Cursor, Read, Write};
use std::path::{Path, PathBuf};

use super::digest::{Digester, Digests};
use super::{AttachmentError, Limits};

/// The XOP namespace of `xop:Include`.
pub const XOP_NS: &str = "http://www.w3.org/2004/08/xop/include";

/// Header lines of one part may take at most this many bytes.
const MAX_PART_HEADERS: usize = 16 * 1024;

/// The parameters of a `multipart/related` Content-Type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartType {
    pub boundary: String,
    /// Content-ID of the root part, without angle brackets.
    pub start: Option<String>,
    /// `type` (for MTOM `application/xop+xml`).
    pub root_type: Option<String>,
}

/// Whether a Content-Type header announces a multipart body.
pub fn is_multipart(content_type: &str) -> bool {
    content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
}

/// Reads a `multipart/related` Content-Type header.
pub fn parse_content_type(header: &str) -> Result<MultipartType, AttachmentError> {
    let (media, params) = split_params(header);
    if !media.eq_ignore_ascii_case("multipart/related") {
        return Err(AttachmentError::NotMultipart(format!(
            "Content-Type is {media:?}"
        )));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let boundary = get("boundary")
        .ok_or_else(|| AttachmentError::NotMultipart("Content-Type has no boundary".into()))?;
    // RFC 2046: 1 to 70 characters, none of them control characters.
    if boundary.is_empty()
        || boundary.len() > 70
        || boundary.chars().any(|c| c.is_control() || !c.is_ascii())
    {
        return Err(AttachmentError::NotMultipart(format!(
            "invalid boundary {boundary:?}"
        )));
    }
    Ok(MultipartType {
        boundary,
        start: get("start").map(|s| strip_angle(&s).to_string()),
        root_type: get("type"),
    })
}

/// Splits `media/type; a=b; c="d"` into the media type and its parameters
/// (quoted values unquoted, backslash escapes resolved).
fn split_params(header: &str) -> (String, Vec<(String, String)>) {
    let mut chars = header.chars().peekable();
    let mut media = String::new();
    while let Some(&c) = chars.peek() {
        if c == ';' {
            break;
        }
        media.push(c);
        chars.next();
    }
    let mut params = Vec::new();
    while chars.peek() == Some(&';') {
        chars.next();
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            name.push(c);
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
                while chars.peek().is_some_and(|&c| c != ';') {
                    chars.next();
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
        }
        let name = name.trim().to_string();
        if !name.is_empty() {
            params.push((name, value));
        }
    }
    (media.trim().to_string(), params)
}

fn strip_angle(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

/// The Content-ID an `xop:Include/@href` (`cid:…`, RFC 2392, percent
/// encoded) refers to.
pub fn cid_from_href(href: &str) -> Option<String> {
    let rest = href.trim();
    let rest = rest
        .strip_prefix("cid:")
        .or_else(|| rest.strip_prefix("CID:"))?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if i + 2 >= bytes.len() {
                return None;
            }
            let h = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    (!s.is_empty()).then_some(s)
}

/// `<xop:Include href="cid:…"/>` for a Content-ID.
pub fn xop_include(content_id: &str) -> String {
    let id = content_id
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;");
    format!("<xop:Include xmlns:xop=\"{XOP_NS}\" href=\"cid:{id}\"/>")
}

/// One attachment part written to disk.
#[derive(Debug, Clone)]
pub struct ReceivedPart {
    /// Without angle brackets; empty when the part had none.
    pub content_id: String,
    pub content_type: String,
    pub path: PathBuf,
    pub digests: Digests,
}

/// A whole multipart body: the envelope in memory, the parts on disk.
#[derive(Debug)]
pub struct Received {
    /// The folder the parts were written to.
    pub dir: PathBuf,
    pub root: Vec<u8>,
    pub root_content_type: String,
    pub parts: Vec<ReceivedPart>,
}

impl Received {
    /// The part an `xop:Include` href or a bare Content-ID names.
    pub fn part(&self, cid_or_href: &str) -> Option<&ReceivedPart> {
        let id = cid_from_href(cid_or_href).unwrap_or_else(|| strip_angle(cid_or_href).into());
        self.parts.iter().find(|p| p.content_id == id)
    }
}

enum State {
    Preamble,
    AfterDelimiter,
    Headers,
    Body,
    Epilogue,
}

enum Sink {
    None,
    Root {
        buf: Vec<u8>,
        content_type: String,
    },
    File {
        out: BufWriter<File>,
        digester: Digester,
        path: PathBuf,
        content_id: String,
        content_type: String,
    },
}

/// The streaming reader. Files are written under `dir` as `part-N.bin`;
/// callers rename them once the envelope says what they are.
pub struct MultipartReader {
    delim: Vec<u8>,
    start: Option<String>,
    dir: PathBuf,
    limits: Limits,
    state: State,
    buf: Vec<u8>,
    sink: Sink,
    root: Option<(Vec<u8>, String)>,
    parts: Vec<ReceivedPart>,
    created: Vec<PathBuf>,
    total: u64,
    seen_parts: usize,
    done: bool,
}

impl std::fmt::Debug for MultipartReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartReader")
            .field("dir", &self.dir)
            .field("parts", &self.parts.len())
            .finish_non_exhaustive()
    }
}

impl MultipartReader {
    /// A reader for a body announced by `content_type`, writing parts under
    /// `dir` (created when missing).
    pub fn new(content_type: &str, dir: &Path, limits: Limits) -> Result<Self, AttachmentError> {
        let mt = parse_content_type(content_type)?;
        std::fs::create_dir_all(dir).map_err(|e| AttachmentError::io(dir, e))?;
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(mt.boundary.as_bytes());
        Ok(MultipartReader {
            delim,
            start: mt.start,
            dir: dir.to_path_buf(),
            limits,
            state: State::Preamble,
            // The first boundary may open the body without a CRLF before it.
            buf: b"\r\n".to_vec(),
            sink: Sink::None,
            root: None,
            parts: Vec::new(),
            created: Vec::new(),
            total: 0,
            seen_parts: 0,
            done: false,
        })
    }

    /// Takes the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), AttachmentError> {
        if matches!(self.state, State::Epilogue) {
            return Ok(());
        }
        self.buf.extend_from_slice(chunk);
        self.process()
    }

    /// Ends the body: the closing boundary must have been seen.
    pub fn finish(mut self) -> Result<Received, AttachmentError> {
        if !matches!(self.state, State::Epilogue) {
            return Err(AttachmentError::Malformed(
                "the body ends before its closing boundary".into(),
            ));
        }
        let (root, root_content_type) = self.root.take().ok_or_else(|| {
            AttachmentError::Malformed(match &self.start {
                Some(s) => format!("no part has the root's Content-ID {s}"),
                None => "the body has no parts".into(),
            })
        })?;
        self.done = true;
        Ok(Received {
            dir: self.dir.clone(),
            root,
            root_content_type,
            parts: std::mem::take(&mut self.parts),
        })
    }

    fn process(&mut self) -> Result<(), AttachmentError> {
        loop {
            match self.state {
                State::Preamble => match find(&self.buf, &self.delim) {
                    Some(i) => {
                        self.buf.drain(..i + self.delim.len());
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        let keep = self.delim.len() - 1;
                        if self.buf.len() > keep {
                            self.buf.drain(..self.buf.len() - keep);
                        }
                        return Ok(());
                    }
                },
                State::AfterDelimiter => {
                    if self.buf.len() < 2 {
                        return Ok(());
                    }
                    if self.buf.starts_with(b"--") {
                        self.state = State::Epilogue;
                        self.buf.clear();
                        return Ok(());
                    }
                    match find(&self.buf, b"\r\n") {
                        Some(i) => {
                            if !self.buf[..i].iter().all(|b| *b == b' ' || *b == b'\t') {
                                return Err(AttachmentError::Malformed(
                                    "text after a boundary line".into(),
                                ));
                            }
                            self.buf.drain(..i + 2);
                            self.state = State::Headers;
                        }
                        None if self.buf.len() > 80 => {
                            return Err(AttachmentError::Malformed(
                                "a boundary line is not terminated".into(),
                            ));
                        }
                        None => return Ok(()),
                    }
                }
                State::Headers => {
                    let end = if self.buf.starts_with(b"\r\n") {
                        Some((0, 2))
                    } else {
                        find(&self.buf, b"\r\n\r\n").map(|i| (i, 4))
                    };
                    match end {
                        Some((i, n)) => {
                            let block = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                            self.buf.drain(..i + n);
                            self.open_part(&block)?;
                            self.state = State::Body;
                        }
                        None if self.buf.len() > MAX_PART_HEADERS => {
                            return Err(AttachmentError::Malformed(format!(
                                "a part's headers exceed {MAX_PART_HEADERS} bytes"
                            )));
                        }
                        None => return Ok(()),
                    }
                }
                State::Body => match find(&self.buf, &self.delim) {
                    Some(i) => {
                        let data: Vec<u8> = self.buf.drain(..i + self.delim.len()).collect();
                        self.write_body(&data[..i])?;
                        self.close_part()?;
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        let keep = self.delim.len() - 1;
                        if self.buf.len() > keep {
                            let n = self.buf.len() - keep;
                            let data: Vec<u8> = self.buf.drain(..n).collect();
                            self.write_body(&data)?;
                        }
                        return Ok(());
                    }
                },
                State::Epilogue => {
                    self.buf.clear();
                    return Ok(());
                }
            }
        }
    }

    fn open_part(&mut self, block: &str) -> Result<(), AttachmentError> {
        let headers = parse_headers(block);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let content_id = header("content-id")
            .map(|v| strip_angle(v).to_string())
            .unwrap_or_default();
        let content_type = header("content-type")
            .unwrap_or("application/octet-stream")
            .trim()
            .to_string();
        if let Some(cte) = header("content-transfer-encoding") {
            let cte = cte.trim().to_ascii_lowercase();
            if !matches!(cte.as_str(), "binary" | "8bit" | "7bit") {
                return Err(AttachmentError::Malformed(format!(
                    "part {content_id:?}: Content-Transfer-Encoding {cte} is not supported (MTOM sends binary)"
                )));
            }
        }
        let is_root = self.root.is_none()
            && match &self.start {
                Some(s) => *s == content_id,
                None => self.seen_parts == 0,
            };
        self.seen_parts += 1;
        if is_root {
            self.sink = Sink::Root {
                buf: Vec::new(),
                content_type,
            };
            return Ok(());
        }
        if self.parts.len() >= self.limits.max_files {
            return Err(AttachmentError::TooManyFiles {
                limit: self.limits.max_files,
            });
        }
        if self.parts.iter().any(|p| p.content_id == content_id) {
            return Err(AttachmentError::Malformed(format!(
                "two parts have Content-ID {content_id:?}"
            )));
        }
        let path = self.dir.join(format!("part-{}.bin", self.parts.len() + 1));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| AttachmentError::io(&path, e))?;
        self.created.push(path.clone());
        self.sink = Sink::File {
            out: BufWriter::with_capacity(64 * 1024, file),
            digester: Digester::new()?,
            path,
            content_id,
            content_type,
        };
        Ok(())
    }

    fn write_body(&mut self, data: &[u8]) -> Result<(), AttachmentError> {
        if data.is_empty() {
            return Ok(());
        }
        match &mut self.sink {
            Sink::None => Ok(()),
            Sink::Root { buf, .. } => {
                if buf.len() + data.len() > self.limits.max_envelope_bytes {
                    return Err(AttachmentError::EnvelopeTooLarge {
                        limit: self.limits.max_envelope_bytes,
                    });
                }
                buf.extend_from_slice(data);
                Ok(())
            }
            Sink::File {
                out,
                digester,
                path,
                content_id,
                ..
            } => {
                if digester.size() + data.len() as u64 > self.limits.max_file_bytes {
                    return Err(AttachmentError::FileTooLarge {
                        id: content_id.clone(),
                        limit: self.limits.max_file_bytes,
                    });
                }
                if self.total + data.len() as u64 > self.limits.max_total_bytes {
                    return Err(AttachmentError::TotalTooLarge {
                        limit: self.limits.max_total_bytes,
                    });
                }
                self.total += data.len() as u64;
                out.write_all(data)
                    .map_err(|e| AttachmentError::io(path, e))?;
                digester.update(data)
            }
        }
    }

    fn close_part(&mut self) -> Result<(), AttachmentError> {
        match std::mem::replace(&mut self.sink, Sink::None) {
            Sink::None => Ok(()),
            Sink::Root { buf, content_type } => {
                self.root = Some((buf, content_type));
                Ok(())
            }
            Sink::File {
                out,
                digester,
                path,
                content_id,
                content_type,
            } => {
                let file = out
                    .into_inner()
                    .map_err(|e| AttachmentError::io(&path, e.into_error()))?;
                file.sync_all().map_err(|e| AttachmentError::io(&path, e))?;
                self.parts.push(ReceivedPart {
                    content_id,
                    content_type,
                    path,
                    digests: digester.finish()?,
                });
                Ok(())
            }
        }
    }
}

impl Drop for MultipartReader {
    // A body that was not read to its end leaves no part files behind.
    fn drop(&mut self) {
        if !self.done {
            self.sink = Sink::None;
            for p in &self.created {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Reads a whole body from a blocking reader (files, tests, the verify
/// tool).
pub fn read_multipart(
    mut body: impl Read,
    content_type: &str,
    dir: &Path,
    limits: Limits,
) -> Result<Received, AttachmentError> {
    let mut reader = MultipartReader::new(content_type, dir, limits)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(AttachmentError::io(Path::new("<body>"), e)),
        };
        reader.feed(&buf[..n])?;
    }
    reader.finish()
}

fn parse_headers(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match hay[i..=last_start].iter().position(|b| *b == first) {
            Some(off) => {
                let at = i + off;
                if &hay[at..at + needle.len()] == needle {
                    return Some(at);
                }
                i = at + 1;
            }
            None => return None,
        }
    }
    None
}

/// One attachment part to send.
#[derive(Debug, Clone)]
pub struct OutgoingPart {
    /// Without angle brackets.
    pub content_id: String,
    pub content_type: String,
    pub path: PathBuf,
}

/// A `multipart/related` MTOM body to send: the SOAP envelope (with
/// `xop:Include` elements pointing at the parts) and files on disk.
#[derive(Debug, Clone)]
pub struct MtomBody {
    boundary: String,
    root_id: String,
    root: Vec<u8>,
    parts: Vec<(OutgoingPart, u64)>,
}

impl MtomBody {
    /// Builds the body; each file's size is read now, its bytes only when
    /// the body is written.
    pub fn new(root: Vec<u8>, parts: Vec<OutgoingPart>) -> Result<Self, AttachmentError> {
        let boundary = format!("uuid:{}", uuid::Uuid::new_v4());
        let mut sized = Vec::with_capacity(parts.len());
        for p in parts {
            if p.content_id.is_empty()
                || p.content_id.contains(['<', '>', '\r', '\n', '"'])
                || p.content_type.contains(['\r', '\n'])
            {
                return Err(AttachmentError::Malformed(format!(
                    "unusable Content-ID or type {:?}",
                    p.content_id
                )));
            }
            let size = std::fs::metadata(&p.path)
                .map_err(|e| AttachmentError::io(&p.path, e))?
                .len();
            sized.push((p, size));
        }
        Ok(MtomBody {
            boundary,
            root_id: format!("root.message@{}", uuid::Uuid::new_v4()),
            root,
            parts: sized,
        })
    }

    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The HTTP Content-Type of the body.
    pub fn content_type(&self) -> String {
        format!(
            "multipart/related; type=\"application/xop+xml\"; boundary=\"{}\"; start=\"<{}>\"; start-info=\"text/xml\"",
            self.boundary, self.root_id
        )
    }

    fn root_head(&self) -> String {
        format!(
            "--{}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{}>\r\n\r\n",
            self.boundary, self.root_id
        )
    }

    fn part_head(&self, p: &OutgoingPart) -> String {
        format!(
            "\r\n--{}\r\nContent-Type: {}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{}>\r\n\r\n",
            self.boundary, p.content_type, p.content_id
        )
    }

    fn tail(&self) -> String {
        format!("\r\n--{}--\r\n", self.boundary)
    }

    /// The body's length in bytes (for Content-Length).
    pub fn content_length(&self) -> u64 {
        let mut n = self.root_head().len() as u64 + self.root.len() as u64;
        for (p, size) in &self.parts {
            n += self.part_head(p).len() as u64 + size;
        }
        n + self.tail().len() as u64
    }

    /// A reader yielding the body, opening each file when its turn comes.
    pub fn reader(&self) -> Result<impl Read + Send + 'static, AttachmentError> {
        let mut pieces: Vec<Box<dyn Read + Send>> = Vec::new();
        let mut head = self.root_head().into_bytes();
        head.extend_from_slice(&self.root);
        pieces.push(Box::new(Cursor::new(head)));
        for (p, size) in &self.parts {
            pieces.push(Box::new(Cursor::new(self.part_head(p).into_bytes())));
            let f = File::open(&p.path).map_err(|e| AttachmentError::io(&p.path, e))?;
            // A file that grew since the size was taken must not make the
            // body longer than its Content-Length.
            pieces.push(Box::new(f.take(*size)));
        }
        pieces.push(Box::new(Cursor::new(self.tail().into_bytes())));
        Ok(Chain { pieces, at: 0 })
    }

    /// Writes the body to `w`, returning the bytes written.
    pub fn write_to(&self, w: &mut dyn Write) -> Result<u64, AttachmentError> {
        let mut r = self.reader()?;
        std::io::copy(&mut r, w).map_err(|e| AttachmentError::io(Path::new("<body>"), e))
    }
}

/// A whole MTOM body in memory (small answers: the emulator, tests):
/// the Content-Type and the bytes. `parts` are (Content-ID, type, bytes).
pub fn build_in_memory(root: &[u8], parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("uuid:{}", uuid::Uuid::new_v4());
    let root_id = format!("root.message@{}", uuid::Uuid::new_v4());
    let mut out = format!(
        "--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{root_id}>\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(root);
    for (id, ty, data) in parts {
        out.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Type: {ty}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{id}>\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(data);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        format!(
            "multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; start=\"<{root_id}>\"; start-info=\"text/xml\""
        ),
        out,
    )
}

struct Chain {
    pieces: Vec<Box<dyn Read + Send>>,
    at: usize,
}

impl Read for Chain {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at < self.pieces.len() {
            let n = self.pieces[self.at].read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.at += 1;
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn sample(boundary: &str, a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/xop+xml; type=\"text/xml\"\r\nContent-ID: <root@x>\r\n\r\n<Envelope/>").as_bytes());
        body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <a@b>\r\n\r\n").as_bytes());
        body.extend_from_slice(a);
        body.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-ID: <second>\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(b);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    }

    #[test]
    fn content_type_parameters() {
        let t = parse_content_type(
            "Multipart/Related; type=\"application/xop+xml\"; boundary=\"uuid:1;2\"; start=\"<root@x>\"",
        )
        .unwrap();
        assert_eq!(t.boundary, "uuid:1;2");
        assert_eq!(t.start.as_deref(), Some("root@x"));
        assert!(parse_content_type("text/xml; boundary=x").is_err());
        assert!(parse_content_type("multipart/related").is_err());
    }

    #[test]
    fn parts_go_to_files_in_any_chunking() {
        let a: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        // A part that holds text resembling the boundary.
        let b = b"\r\n-bound\r\n--boun".to_vec();
        let body = sample("bound", &a, &b);
        for chunk in [1usize, 3, 7, 64, 4096, body.len()] {
            let dir = tempfile::tempdir().unwrap();
            let mut r = MultipartReader::new(
                "multipart/related; boundary=bound; start=\"<root@x>\"",
                dir.path(),
                limits(),
            )
            .unwrap();
            for c in body.chunks(chunk) {
                r.feed(c).unwrap();
            }
            let got = r.finish().unwrap();
            assert_eq!(got.root, b"<Envelope/>");
            assert_eq!(got.parts.len(), 2);
            let pa = got.part("cid:a%40b").unwrap();
            assert_eq!(pa.content_id, "a@b");
            assert_eq!(std::fs::read(&pa.path).unwrap(), a, "chunk {chunk}");
            assert_eq!(pa.digests.size, a.len() as u64);
            let pb = got.part("second").unwrap();
            assert_eq!(std::fs::read(&pb.path).unwrap(), b, "chunk {chunk}");
        }
    }

    #[test]
    fn limits_are_enforced_and_partial_files_removed() {
        let a = vec![7u8; 10_000];
        let body = sample("bound", &a, b"x");
        let dir = tempfile::tempdir().unwrap();
        let mut l = limits();
        l.max_file_bytes = 5_000;
        let err = read_multipart(
            &body[..],
            "multipart/related; boundary=bound",
            dir.path(),
            l,
        )
        .unwrap_err();
        assert_eq!(err.code(), "attachment_file_too_large", "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let mut l = limits();
        l.max_total_bytes = 10_000;
        let err = read_multipart(
            &body[..],
            "multipart/related; boundary=bound",
            dir.path(),
            l,
        )
        .unwrap_err();
        assert_eq!(err.code(), "attachment_total_too_large", "{err}");

        let mut l = limits();
        l.max_files = 1;
        let err = read_multipart(
            &body[..],
            "multipart/related; boundary=bound",
            dir.path(),
            l,
        )
        .unwrap_err();
        assert_eq!(err.code(), "attachment_too_many", "{err}");

        let mut l = limits();
        l.max_envelope_bytes = 4;
        let err = read_multipart(
            &body[..],
            "multipart/related; boundary=bound",
            dir.path(),
            l,
        )
        .unwrap_err();
        assert_eq!(err.code(), "attachment_envelope_too_large", "{err}");
    }

    #[test]
    fn a_truncated_body_is_refused() {
        let body = sample("bound", b"abc", b"def");
        let dir = tempfile::tempdir().unwrap();
        let err = read_multipart(
            &body[..body.len() - 12],
            "multipart/related; boundary=bound",
            dir.path(),
            limits(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "attachment_malformed", "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn base64_parts_are_refused_clearly() {
        let body = b"--b\r\nContent-ID: <r>\r\n\r\n<x/>\r\n--b\r\nContent-ID: <p>\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--b--";
        let dir = tempfile::tempdir().unwrap();
        let err = read_multipart(
            &body[..],
            "multipart/related; boundary=b",
            dir.path(),
            limits(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("base64"), "{err}");
    }

    #[test]
    fn what_the_writer_writes_the_reader_reads() {
        let dir = tempfile::tempdir().unwrap();
        let f1 = dir.path().join("one.pdf");
        let f2 = dir.path().join("two.bin");
        std::fs::write(&f1, b"%PDF-1.4 first").unwrap();
        std::fs::write(&f2, vec![0u8; 70_000]).unwrap();
        let body = MtomBody::new(
            format!("<Envelope>{}</Envelope>", xop_include("a@1")).into_bytes(),
            vec![
                OutgoingPart {
                    content_id: "a@1".into(),
                    content_type: "application/pdf".into(),
                    path: f1.clone(),
                },
                OutgoingPart {
                    content_id: "b".into(),
                    content_type: "application/octet-stream".into(),
                    path: f2.clone(),
                },
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        let n = body.write_to(&mut out).unwrap();
        assert_eq!(n, body.content_length());
        assert_eq!(out.len() as u64, n);
        let rx = dir.path().join("rx");
        let got = read_multipart(&out[..], &body.content_type(), &rx, limits()).unwrap();
        assert!(
            String::from_utf8(got.root.clone())
                .unwrap()
                .contains("href=\"cid:a@1\"")
        );
        assert_eq!(
            std::fs::read(&got.part("cid:a@1").unwrap().path).unwrap(),
            std::fs::read(&f1).unwrap()
        );
        assert_eq!(got.part("b").unwrap().digests.size, 70_000);
    }

    #[test]
    fn hrefs_are_percent_decoded() {
        assert_eq!(cid_from_href("cid:a%40b.c").as_deref(), Some("a@b.c"));
        assert_eq!(cid_from_href("http://x"), None);
        assert_eq!(cid_from_href("cid:%zz"), None);
    }
}

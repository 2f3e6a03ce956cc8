//! Just enough of the xlsx format (Office Open XML, ECMA-376) to read
//! Минюст's export of the register: a ZIP of XML parts, of which the first
//! worksheet and the shared strings matter. Read with the project's XML
//! parser under size limits; nothing is evaluated (formulas are taken as
//! their cached values). The writer makes the same shape for the emulator.

use std::io::{Read, Write};

use crate::xml::{self, Document, Limits, NodeId};

const MAIN_NS: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const PKG_REL_NS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";

/// The largest part read from a workbook, uncompressed.
pub const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;
/// Parts in a workbook at most.
const MAX_PARTS: usize = 10_000;
/// Rows and columns read at most.
const MAX_ROWS: usize = 1_000_000;
const MAX_COLUMNS: usize = 256;

fn limits() -> Limits {
    Limits {
        max_bytes: MAX_PART_BYTES as usize,
        max_depth: 64,
        max_nodes: 20_000_000,
        max_attrs: 64,
    }
}

/// Reads one part of the archive, bounded.
fn part<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Option<Vec<u8>>, String> {
    let f = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    if f.size() > MAX_PART_BYTES {
        return Err(format!("{name} is larger than {MAX_PART_BYTES} bytes"));
    }
    let mut out = Vec::new();
    f.take(MAX_PART_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: {e}"))?;
    if out.len() as u64 > MAX_PART_BYTES {
        return Err(format!("{name} is larger than {MAX_PART_BYTES} bytes"));
    }
    Ok(Some(out))
}

fn parse(name: &str, bytes: &[u8]) -> Result<Document, String> {
    xml::parse_with(bytes, &limits()).map_err(|e| format!("{name}: {e}"))
}

/// Every text of `el`'s `t` descendants, in order (rich text runs included,
/// phonetic runs left out).
fn text_of(doc: &Document, el: NodeId) -> String {
    let mut s = String::new();
    for d in doc.descendants(el) {
        let e = doc.element(d);
        if e.is(MAIN_NS, "t")
            && !doc
                .parent(d)
                .is_some_and(|p| doc.element(p).is(MAIN_NS, "rPh"))
        {
            s.push_str(&doc.text(d));
        }
    }
    s
}

/// `B12` → column 1 (zero-based).
fn column(reference: &str) -> Option<usize> {
    let mut n = 0usize;
    let mut any = false;
    for c in reference.chars().take_while(|c| c.is_ascii_alphabetic()) {
        n = n * 26 + (c.to_ascii_uppercase() as usize - 'A' as usize + 1);
        any = true;
        if n > MAX_COLUMNS {
            return None;
        }
    }
    any.then(|| n - 1)
}

/// The rows of the workbook's first worksheet, each cell as text.
pub fn read_first_sheet(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not an xlsx (ZIP) file: {e}"))?;
    if zip.len() > MAX_PARTS {
        return Err(format!("the workbook has more than {MAX_PARTS} parts"));
    }
    let shared = match part(&mut zip, "xl/sharedStrings.xml")? {
        Some(b) => {
            let d = parse("sharedStrings.xml", &b)?;
            d.children_named(d.root(), MAIN_NS, "si")
                .map(|si| text_of(&d, si))
                .collect()
        }
        None => Vec::new(),
    };
    let sheet_path = first_sheet_path(&mut zip)?;
    let bytes = part(&mut zip, &sheet_path)?.ok_or_else(|| format!("{sheet_path} is missing"))?;
    let d = parse(&sheet_path, &bytes)?;
    let data = d
        .child(d.root(), MAIN_NS, "sheetData")
        .ok_or("the worksheet has no sheetData")?;
    let mut rows = Vec::new();
    for row in d.children_named(data, MAIN_NS, "row") {
        if rows.len() >= MAX_ROWS {
            return Err(format!("the worksheet has more than {MAX_ROWS} rows"));
        }
        let mut cells: Vec<String> = Vec::new();
        for (i, c) in d.children_named(row, MAIN_NS, "c").enumerate() {
            let e = d.element(c);
            let col = match e.attr("r") {
                Some(r) => column(r).ok_or_else(|| format!("cell reference {r:?}"))?,
                None => i,
            };
            if col >= MAX_COLUMNS {
                return Err(format!("more than {MAX_COLUMNS} columns"));
            }
            let v = d.child_text(c, MAIN_NS, "v").unwrap_or_default();
            let text = match e.attr("t") {
                Some("s") => {
                    let i: usize = v
                        .trim()
                        .parse()
                        .map_err(|_| format!("shared string index {v:?}"))?;
                    shared
                        .get(i)
                        .cloned()
                        .ok_or_else(|| format!("shared string {i} does not exist"))?
                }
                Some("inlineStr") => d
                    .child(c, MAIN_NS, "is")
                    .map(|is| text_of(&d, is))
                    .unwrap_or_default(),
                _ => v,
            };
            if cells.len() <= col {
                cells.resize(col + 1, String::new());
            }
            cells[col] = text;
        }
        rows.push(cells);
    }
    Ok(rows)
}

/// The first sheet's part, from the workbook and its relationships.
fn first_sheet_path<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
) -> Result<String, String> {
    let fallback = "xl/worksheets/sheet1.xml".to_owned();
    let (Some(wb), Some(rels)) = (
        part(zip, "xl/workbook.xml")?,
        part(zip, "xl/_rels/workbook.xml.rels")?,
    ) else {
        return Ok(fallback);
    };
    let wb = parse("workbook.xml", &wb)?;
    let rels = parse("workbook.xml.rels", &rels)?;
    let rid = wb
        .child(wb.root(), MAIN_NS, "sheets")
        .and_then(|s| wb.children_named(s, MAIN_NS, "sheet").next())
        .and_then(|s| {
            wb.element(s)
                .attrs
                .iter()
                .find(|a| a.ns.as_deref() == Some(REL_NS) && a.local == "id")
                .map(|a| a.value.clone())
        });
    let Some(rid) = rid else { return Ok(fallback) };
    let target = rels
        .children_named(rels.root(), PKG_REL_NS, "Relationship")
        .find(|r| rels.element(*r).attr("Id") == Some(rid.as_str()))
        .and_then(|r| rels.element(r).attr("Target").map(str::to_owned));
    Ok(match target {
        Some(t) if t.starts_with('/') => t.trim_start_matches('/').to_owned(),
        Some(t) if !t.contains("..") => format!("xl/{t}"),
        _ => fallback,
    })
}

/// An Excel serial date (1900 system) as a date.
pub fn serial_date(v: &str) -> Option<time::Date> {
    let n: f64 = v.trim().parse().ok()?;
    if !(1.0..2_958_466.0).contains(&n) {
        return None;
    }
    // Serial 1 is 1900-01-01; 60 is the non-existent 1900-02-29.
    let days = n.floor() as i64;
    let base = time::macros::date!(1899 - 12 - 30);
    Some(base + time::Duration::days(if days < 60 { days + 1 } else { days }))
}

/// A workbook of one sheet with these rows, as inline strings.
pub fn write_sheet(rows: &[Vec<String>]) -> Vec<u8> {
    let mut sheet = Document::new(None, "worksheet", Some(MAIN_NS));
    let root = sheet.root();
    let data = sheet.append_element(root, None, "sheetData", Some(MAIN_NS));
    for (r, row) in rows.iter().enumerate() {
        let re = sheet.append_element(data, None, "row", Some(MAIN_NS));
        sheet.set_attr(re, "r", &(r + 1).to_string());
        for (c, v) in row.iter().enumerate() {
            let ce = sheet.append_element(re, None, "c", Some(MAIN_NS));
            sheet.set_attr(ce, "r", &format!("{}{}", column_name(c), r + 1));
            sheet.set_attr(ce, "t", "inlineStr");
            let is = sheet.append_element(ce, None, "is", Some(MAIN_NS));
            sheet.append_text_element(is, None, "t", Some(MAIN_NS), v);
        }
    }
    let parts: [(&str, Vec<u8>); 5] = [
        (
            "[Content_Types].xml",
            br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_vec(),
        ),
        (
            "_rels/.rels",
            br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_vec(),
        ),
        (
            "xl/workbook.xml",
            br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_vec(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_vec(),
        ),
        ("xl/worksheets/sheet1.xml", xml::to_bytes(&sheet)),
    ];
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in parts {
            z.start_file(name, opts).expect("writing to memory");
            z.write_all(&data).expect("writing to memory");
        }
        z.finish().expect("writing to memory");
    }
    out.into_inner()
}

fn column_name(mut c: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_sheet_reads_back() {
        let rows = vec![
            vec!["№ п/п".to_owned(), "ИНН".into()],
            vec!["1".into(), "7705678126".into()],
        ];
        assert_eq!(read_first_sheet(&write_sheet(&rows)).unwrap(), rows);
    }

    #[test]
    fn columns_and_serial_dates() {
        assert_eq!(column("A1"), Some(0));
        assert_eq!(column("AA7"), Some(26));
        assert_eq!(column_name(27), "AB");
        assert_eq!(
            serial_date("45205"),
            Some(time::macros::date!(2023 - 10 - 06))
        );
        assert_eq!(serial_date("x"), None);
    }

    #[test]
    fn not_a_workbook_is_an_error() {
        assert!(read_first_sheet(b"PK\x03\x04 broken").is_err());
        assert!(read_first_sheet(b"plain text").is_err());
    }
}

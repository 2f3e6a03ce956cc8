//! XSD regular expressions (XML Schema 1.0, appendix F) translated to the
//! `regex` crate's syntax.
//!
//! The two dialects differ in ways that matter for validity: an XSD pattern
//! is implicitly anchored at both ends, `^` and `$` are ordinary characters,
//! `.` excludes only line ends, `\i`/`\c` are XML name characters, `\w` is
//! defined by Unicode categories, `\p{IsBlock}` names Unicode blocks (which
//! the `regex` crate does not know), and `[a-z-[aeiou]]` subtracts a class.
//! The translation parses the XSD syntax and writes an equivalent pattern
//! in which every literal is escaped, so no XSD character can take on a
//! meaning it does not have in XSD.

use std::fmt::Write as _;

/// A compiled XSD pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    pub source: String,
    regex: ::regex::Regex,
}

impl Pattern {
    pub fn new(xsd: &str) -> Result<Pattern, String> {
        let translated = translate(xsd)?;
        let regex = ::regex::RegexBuilder::new(&translated)
            // Schemas repeat large Unicode classes ("\w{1,2000}"); allow that
            // much program, bounded.
            .size_limit(64 << 20)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Pattern {
            source: xsd.to_owned(),
            regex,
        })
    }

    pub fn is_match(&self, v: &str) -> bool {
        self.regex.is_match(v)
    }
}

/// The `regex` crate pattern matching exactly what `xsd` matches.
pub(crate) fn translate(xsd: &str) -> Result<String, String> {
    let mut p = Parser {
        chars: xsd.chars().collect(),
        pos: 0,
        out: String::with_capacity(xsd.len() * 2 + 8),
        depth: 0,
    };
    p.out.push_str(r"\A(?:");
    p.regex()?;
    if p.pos < p.chars.len() {
        return Err(format!(
            "unexpected {:?} at position {}",
            p.chars[p.pos], p.pos
        ));
    }
    p.out.push_str(r")\z");
    Ok(p.out)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    out: String,
    depth: usize,
}

const MAX_DEPTH: usize = 100;

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at position {}", self.pos))
    }

    /// regExp ::= branch ( '|' branch )*
    fn regex(&mut self) -> Result<(), String> {
        self.branch()?;
        while self.peek() == Some('|') {
            self.pos += 1;
            self.out.push('|');
            self.branch()?;
        }
        Ok(())
    }

    /// branch ::= piece*
    fn branch(&mut self) -> Result<(), String> {
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            self.atom()?;
            self.quantifier()?;
        }
        Ok(())
    }

    fn quantifier(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(c @ ('?' | '*' | '+')) => {
                self.pos += 1;
                self.out.push(c);
            }
            Some('{') => {
                self.pos += 1;
                let min = self.number();
                let mut max = None;
                let mut comma = false;
                if self.peek() == Some(',') {
                    comma = true;
                    self.pos += 1;
                    max = self.number();
                }
                if self.next() != Some('}') {
                    return self.err("malformed quantifier");
                }
                let Some(min) = min else {
                    return self.err("quantifier without a minimum");
                };
                if let Some(max) = max
                    && max < min
                {
                    return self.err("quantifier maximum below its minimum");
                }
                match (comma, max) {
                    (false, _) => write!(self.out, "{{{min}}}"),
                    (true, None) => write!(self.out, "{{{min},}}"),
                    (true, Some(max)) => write!(self.out, "{{{min},{max}}}"),
                }
                .map_err(|e| e.to_string())?;
            }
            _ => return Ok(()),
        }
        // XSD has no lazy or possessive quantifiers, nor stacked ones.
        if matches!(self.peek(), Some('?' | '*' | '+' | '{')) {
            return self.err("a quantifier cannot follow a quantifier");
        }
        Ok(())
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return None;
        }
        self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }

    fn atom(&mut self) -> Result<(), String> {
        let Some(c) = self.next() else {
            return self.err("unexpected end");
        };
        match c {
            '(' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return self.err("groups nested too deeply");
                }
                self.out.push_str("(?:");
                self.regex()?;
                if self.next() != Some(')') {
                    return self.err("unclosed group");
                }
                self.depth -= 1;
                self.out.push(')');
            }
            '[' => {
                let class = self.class_expr()?;
                self.out.push_str(&class);
            }
            '.' => self.out.push_str(r"[^\n\r]"),
            '\\' => {
                let esc = self.escape()?;
                self.out.push_str(&esc.outside());
            }
            '?' | '*' | '+' | '{' | '}' | ')' | ']' => {
                return Err(format!(
                    "{c:?} must be escaped at position {}",
                    self.pos - 1
                ));
            }
            c => push_literal(&mut self.out, c),
        }
        Ok(())
    }

    /// After a backslash: a single-character or a multi-character escape,
    /// or a category escape.
    fn escape(&mut self) -> Result<Escape, String> {
        let Some(c) = self.next() else {
            return self.err("backslash at the end");
        };
        Ok(match c {
            'n' => Escape::Char('\n'),
            'r' => Escape::Char('\r'),
            't' => Escape::Char('\t'),
            '\\' | '|' | '.' | '?' | '*' | '+' | '(' | ')' | '{' | '}' | '-' | '[' | ']' | '^' => {
                Escape::Char(c)
            }
            's' => Escape::Class(r"\x20\t\n\r".into(), false),
            'S' => Escape::Class(r"\x20\t\n\r".into(), true),
            'i' => Escape::Class(NAME_START.into(), false),
            'I' => Escape::Class(NAME_START.into(), true),
            'c' => Escape::Class(format!("{NAME_START}{NAME_EXTRA}"), false),
            'C' => Escape::Class(format!("{NAME_START}{NAME_EXTRA}"), true),
            'd' => Escape::Class(r"\p{Nd}".into(), false),
            'D' => Escape::Class(r"\p{Nd}".into(), true),
            // \w = all characters but punctuation, separators and "other".
            'w' => Escape::Class(r"\p{P}\p{Z}\p{C}".into(), true),
            'W' => Escape::Class(r"\p{P}\p{Z}\p{C}".into(), false),
            'p' | 'P' => {
                if self.next() != Some('{') {
                    return self.err("\\p without {");
                }
                let start = self.pos;
                while self.peek().is_some_and(|c| c != '}') {
                    self.pos += 1;
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                if self.next() != Some('}') {
                    return self.err("unclosed \\p{");
                }
                Escape::Class(category(&name)?, c == 'P')
            }
            other => {
                return Err(format!(
                    "unknown escape \\{other} at position {}",
                    self.pos - 1
                ));
            }
        })
    }

    /// After `[`: a (possibly negated) group with optional subtraction,
    /// written as a `regex` class.
    fn class_expr(&mut self) -> Result<String, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("classes nested too deeply");
        }
        let negated = if self.peek() == Some('^') {
            self.pos += 1;
            true
        } else {
            false
        };
        let mut items = String::new();
        let mut first = true;
        let mut subtraction = None;
        loop {
            let Some(c) = self.peek() else {
                return self.err("unclosed character class");
            };
            match c {
                ']' if !first => {
                    self.pos += 1;
                    break;
                }
                '-' if self.chars.get(self.pos + 1) == Some(&'[') && !first => {
                    self.pos += 2;
                    subtraction = Some(self.class_expr()?);
                    if self.next() != Some(']') {
                        return self.err("a subtraction must end its class");
                    }
                    break;
                }
                _ => {}
            }
            let lo = self.class_char()?;
            first = false;
            match lo {
                ClassItem::Class(s) => items.push_str(&s),
                ClassItem::Char(lo) => {
                    // A range, unless the '-' is the last thing in the class.
                    if self.peek() == Some('-')
                        && !matches!(self.chars.get(self.pos + 1), Some(']') | Some('[') | None)
                    {
                        self.pos += 1;
                        let ClassItem::Char(hi) = self.class_char()? else {
                            return self.err("a range cannot end in a class escape");
                        };
                        if hi < lo {
                            return self.err("range out of order");
                        }
                        push_class_char(&mut items, lo);
                        items.push('-');
                        push_class_char(&mut items, hi);
                    } else {
                        push_class_char(&mut items, lo);
                    }
                }
            }
        }
        self.depth -= 1;
        if items.is_empty() {
            return self.err("empty character class");
        }
        let base = if negated {
            format!("[^{items}]")
        } else {
            format!("[{items}]")
        };
        Ok(match subtraction {
            // The `regex` crate spells subtraction `--` between classes.
            Some(sub) => format!("[{base}--{sub}]"),
            None => base,
        })
    }

    fn class_char(&mut self) -> Result<ClassItem, String> {
        let Some(c) = self.next() else {
            return self.err("unclosed character class");
        };
        match c {
            '\\' => Ok(match self.escape()? {
                Escape::Char(c) => ClassItem::Char(c),
                esc => ClassItem::Class(esc.outside()),
            }),
            // XSD wants '[' escaped and '-' only at the ends; like libxml2,
            // read them as literals elsewhere rather than refuse the schema.
            c => Ok(ClassItem::Char(c)),
        }
    }
}

enum Escape {
    Char(char),
    /// Class body and whether it is negated.
    Class(String, bool),
}

impl Escape {
    /// As a stand-alone `regex` atom (also valid nested inside a class).
    fn outside(&self) -> String {
        match self {
            Escape::Char(c) => {
                let mut s = String::new();
                push_literal(&mut s, *c);
                s
            }
            Escape::Class(body, false) => format!("[{body}]"),
            Escape::Class(body, true) => format!("[^{body}]"),
        }
    }
}

enum ClassItem {
    Char(char),
    Class(String),
}

/// XML NameStartChar (XML 1.0 fifth edition), as a class body.
const NAME_START: &str = r":A-Z_a-z\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{2FF}\x{370}-\x{37D}\x{37F}-\x{1FFF}\x{200C}-\x{200D}\x{2070}-\x{218F}\x{2C00}-\x{2FEF}\x{3001}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFFD}\x{10000}-\x{EFFFF}";
/// What NameChar adds to NameStartChar.
const NAME_EXTRA: &str = r"\-.0-9\x{B7}\x{300}-\x{36F}\x{203F}-\x{2040}";

fn push_literal(out: &mut String, c: char) {
    if c.is_alphanumeric() || c == ' ' || (c as u32) > 0x7F {
        out.push(c);
    } else {
        let _ = write!(out, r"\x{{{:X}}}", c as u32);
    }
}

fn push_class_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || (c as u32) > 0x7F && !c.is_whitespace() {
        out.push(c);
    } else {
        let _ = write!(out, r"\x{{{:X}}}", c as u32);
    }
}

/// A `\p{..}` name: a general category (`L`, `Lu`, …) or a block (`IsCyrillic`).
fn category(name: &str) -> Result<String, String> {
    const CATEGORIES: &[&str] = &[
        "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc",
        "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Z", "Zs", "Zl", "Zp", "S", "Sm", "Sc", "Sk", "So",
        "C", "Cc", "Cf", "Co", "Cn",
    ];
    if CATEGORIES.contains(&name) {
        return Ok(format!(r"\p{{{name}}}"));
    }
    if name == "Cs" {
        // Surrogates never occur in a Rust string.
        return Ok(r"\x{0}&&\x{1}".into());
    }
    if let Some(block) = name.strip_prefix("Is") {
        let (lo, hi) = BLOCKS
            .iter()
            .find(|(n, _, _)| *n == block)
            .map(|(_, lo, hi)| (*lo, *hi))
            .ok_or_else(|| format!("unknown Unicode block Is{block}"))?;
        // Surrogate blocks cannot match anything in a Rust string.
        if (0xD800..=0xDFFF).contains(&lo) {
            return Ok(r"\x{0}&&\x{1}".into());
        }
        return Ok(format!(r"\x{{{lo:X}}}-\x{{{hi:X}}}"));
    }
    Err(format!("unknown character category {name:?}"))
}

/// The block names of XML Schema 1.0 (Unicode 3.1).
const BLOCKS: &[(&str, u32, u32)] = &[
    ("BasicLatin", 0x0000, 0x007F),
    ("Latin-1Supplement", 0x0080, 0x00FF),
    ("LatinExtended-A", 0x0100, 0x017F),
    ("LatinExtended-B", 0x0180, 0x024F),
    ("IPAExtensions", 0x0250, 0x02AF),
    ("SpacingModifierLetters", 0x02B0, 0x02FF),
    ("CombiningDiacriticalMarks", 0x0300, 0x036F),
    ("Greek", 0x0370, 0x03FF),
    ("Cyrillic", 0x0400, 0x04FF),
    ("Armenian", 0x0530, 0x058F),
    ("Hebrew", 0x0590, 0x05FF),
    ("Arabic", 0x0600, 0x06FF),
    ("Syriac", 0x0700, 0x074F),
    ("Thaana", 0x0780, 0x07BF),
    ("Devanagari", 0x0900, 0x097F),
    ("Bengali", 0x0980, 0x09FF),
    ("Gurmukhi", 0x0A00, 0x0A7F),
    ("Gujarati", 0x0A80, 0x0AFF),
    ("Oriya", 0x0B00, 0x0B7F),
    ("Tamil", 0x0B80, 0x0BFF),
    ("Telugu", 0x0C00, 0x0C7F),
    ("Kannada", 0x0C80, 0x0CFF),
    ("Malayalam", 0x0D00, 0x0D7F),
    ("Sinhala", 0x0D80, 0x0DFF),
    ("Thai", 0x0E00, 0x0E7F),
    ("Lao", 0x0E80, 0x0EFF),
    ("Tibetan", 0x0F00, 0x0FFF),
    ("Myanmar", 0x1000, 0x109F),
    ("Georgian", 0x10A0, 0x10FF),
    ("HangulJamo", 0x1100, 0x11FF),
    ("Ethiopic", 0x1200, 0x137F),
    ("Cherokee", 0x13A0, 0x13FF),
    ("UnifiedCanadianAboriginalSyllabics", 0x1400, 0x167F),
    ("Ogham", 0x1680, 0x169F),
    ("Runic", 0x16A0, 0x16FF),
    ("Khmer", 0x1780, 0x17FF),
    ("Mongolian", 0x1800, 0x18AF),
    ("LatinExtendedAdditional", 0x1E00, 0x1EFF),
    ("GreekExtended", 0x1F00, 0x1FFF),
    ("GeneralPunctuation", 0x2000, 0x206F),
    ("SuperscriptsandSubscripts", 0x2070, 0x209F),
    ("CurrencySymbols", 0x20A0, 0x20CF),
    ("CombiningMarksforSymbols", 0x20D0, 0x20FF),
    ("LetterlikeSymbols", 0x2100, 0x214F),
    ("NumberForms", 0x2150, 0x218F),
    ("Arrows", 0x2190, 0x21FF),
    ("MathematicalOperators", 0x2200, 0x22FF),
    ("MiscellaneousTechnical", 0x2300, 0x23FF),
    ("ControlPictures", 0x2400, 0x243F),
    ("OpticalCharacterRecognition", 0x2440, 0x245F),
    ("EnclosedAlphanumerics", 0x2460, 0x24FF),
    ("BoxDrawing", 0x2500, 0x257F),
    ("BlockElements", 0x2580, 0x259F),
    ("GeometricShapes", 0x25A0, 0x25FF),
    ("MiscellaneousSymbols", 0x2600, 0x26FF),
    ("Dingbats", 0x2700, 0x27BF),
    ("BraillePatterns", 0x2800, 0x28FF),
    ("CJKRadicalsSupplement", 0x2E80, 0x2EFF),
    ("KangxiRadicals", 0x2F00, 0x2FDF),
    ("IdeographicDescriptionCharacters", 0x2FF0, 0x2FFF),
    ("CJKSymbolsandPunctuation", 0x3000, 0x303F),
    ("Hiragana", 0x3040, 0x309F),
    ("Katakana", 0x30A0, 0x30FF),
    ("Bopomofo", 0x3100, 0x312F),
    ("HangulCompatibilityJamo", 0x3130, 0x318F),
    ("Kanbun", 0x3190, 0x319F),
    ("BopomofoExtended", 0x31A0, 0x31BF),
    ("EnclosedCJKLettersandMonths", 0x3200, 0x32FF),
    ("CJKCompatibility", 0x3300, 0x33FF),
    ("CJKUnifiedIdeographsExtensionA", 0x3400, 0x4DB5),
    ("CJKUnifiedIdeographs", 0x4E00, 0x9FFF),
    ("YiSyllables", 0xA000, 0xA48F),
    ("YiRadicals", 0xA490, 0xA4CF),
    ("HangulSyllables", 0xAC00, 0xD7A3),
    ("HighSurrogates", 0xD800, 0xDB7F),
    ("HighPrivateUseSurrogates", 0xDB80, 0xDBFF),
    ("LowSurrogates", 0xDC00, 0xDFFF),
    ("PrivateUse", 0xE000, 0xF8FF),
    ("CJKCompatibilityIdeographs", 0xF900, 0xFAFF),
    ("AlphabeticPresentationForms", 0xFB00, 0xFB4F),
    ("ArabicPresentationForms-A", 0xFB50, 0xFDFF),
    ("CombiningHalfMarks", 0xFE20, 0xFE2F),
    ("CJKCompatibilityForms", 0xFE30, 0xFE4F),
    ("SmallFormVariants", 0xFE50, 0xFE6F),
    ("ArabicPresentationForms-B", 0xFE70, 0xFEFE),
    ("Specials", 0xFFF0, 0xFFFD),
    ("HalfwidthandFullwidthForms", 0xFF00, 0xFFEF),
    ("OldItalic", 0x10300, 0x1032F),
    ("Gothic", 0x10330, 0x1034F),
    ("Deseret", 0x10400, 0x1044F),
    ("ByzantineMusicalSymbols", 0x1D000, 0x1D0FF),
    ("MusicalSymbols", 0x1D100, 0x1D1FF),
    ("MathematicalAlphanumericSymbols", 0x1D400, 0x1D7FF),
    ("CJKUnifiedIdeographsExtensionB", 0x20000, 0x2A6D6),
    ("CJKCompatibilityIdeographsSupplement", 0x2F800, 0x2FA1F),
    ("Tags", 0xE0000, 0xE007F),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        Pattern::new(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .is_match(v)
    }

    #[test]
    fn patterns_are_anchored() {
        assert!(m(r"\d{4}", "2024"));
        assert!(!m(r"\d{4}", "20245"));
        assert!(!m(r"\d{4}", "x2024"));
        assert!(m("[0-9]{10}|[0-9]{12}", "123456789012"));
        assert!(!m("[0-9]{10}|[0-9]{12}", "12345678901"));
        assert!(m("a|b", "b"));
        assert!(!m("a|b", "ab"));
    }

    #[test]
    fn xsd_metacharacters() {
        // ^ and $ are ordinary characters in XSD.
        assert!(m("^a$", "^a$"));
        assert!(!m("^a$", "a"));
        assert!(m("a.c", "a-c"));
        assert!(!m("a.c", "a\nc"));
        assert!(!m("a.c", "a\rc"));
        assert!(m(r"\.\-\^\[\]\{\}\(\)\|\\", ".-^[]{}()|\\"));
        assert!(m("a&b~c#d", "a&b~c#d"));
        assert!(m("(text|image)/[a-zA-Z0-9\\-+.]*", "image/svg+xml"));
        assert!(m("[+\\-]?\\d{1,3}", "-12"));
        assert!(m("UTC[+\\-]\\d{2}:\\d{2}", "UTC+03:00"));
        assert!(m("[&&]", "&"));
        assert!(m("[a-]", "-"));
        assert!(m("[-a]", "-"));
    }

    #[test]
    fn multi_character_escapes() {
        assert!(m(r"\d", "٣"), "Arabic-Indic digit is Nd");
        assert!(!m(r"\d", "a"));
        assert!(m(r"\D", "a"));
        assert!(m(r"\s", "\t"));
        assert!(!m(r"\s", "\u{A0}"));
        assert!(m(r"\S", "\u{A0}"));
        assert!(m(r"\w", "Ж"));
        assert!(!m(r"\w", "-"));
        assert!(!m(r"\w", " "));
        assert!(m(r"\W", "!"));
        assert!(m(r"\i\c*", "_x.1-СвЮЛ"));
        assert!(!m(r"\i\c*", "1x"));
        assert!(m(r"\I", "1"));
        assert!(m(r"\C", " "));
        assert!(m(r"[\d\s]+", "1 2"));
        assert!(m(r"[^\d]", "x"));
    }

    #[test]
    fn categories_and_blocks() {
        assert!(m(r"\p{Lu}", "Ж"));
        assert!(!m(r"\p{Lu}", "ж"));
        assert!(m(r"\P{Lu}", "ж"));
        assert!(m(r"\p{IsCyrillic}+", "СвЮЛ"));
        assert!(!m(r"\p{IsCyrillic}", "a"));
        assert!(m(r"\p{IsBasicLatin}", "a"));
        assert!(m(r"[\p{IsCyrillic}\p{IsBasicLatin}]+", "ООО Ладога-1"));
        assert!(m(r"\P{IsCyrillic}", "a"));
        assert!(!m(r"\p{IsHighSurrogates}", "a"));
        assert!(Pattern::new(r"\p{IsNoSuchBlock}").is_err());
        assert!(Pattern::new(r"\p{Xx}").is_err());
    }

    #[test]
    fn class_subtraction() {
        assert!(m("[a-z-[aeiou]]+", "bcd"));
        assert!(!m("[a-z-[aeiou]]", "a"));
        assert!(m("[^a-z-[0-9]]", "A"));
        assert!(!m("[^a-z-[0-9]]", "5"));
        assert!(!m("[^a-z-[0-9]]", "b"));
        assert!(m("[a-z-[b-y-[c]]]", "c"));
        assert!(!m("[a-z-[b-y-[c]]]", "d"));
    }

    #[test]
    fn quantifiers() {
        assert!(m("a{2,3}", "aaa"));
        assert!(!m("a{2,3}", "aaaa"));
        assert!(m("a{2,}", "aaaaa"));
        assert!(m("(ab){2}", "abab"));
        assert!(m(r"\d{19}-(П|О|Д|-|\d){1,10}", "1234567890123456789-ПОД-1"));
        assert!(Pattern::new("a**").is_err());
        assert!(Pattern::new("a{3,2}").is_err());
        assert!(Pattern::new("a{,2}").is_err());
        assert!(Pattern::new("*a").is_err());
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for p in ["(a", "a)", "[a", "[]", "\\", "\\q", "[z-a]", "{1}"] {
            assert!(Pattern::new(p).is_err(), "{p}");
        }
    }

    #[test]
    fn fns_patterns() {
        let date = r"(((0[1-9]{1}|[1-2]{1}[0-9]{1})\.(0[1-9]{1}|1[0-2]{1}))|((30)\.(01|0[3-9]{1}|1[0-2]{1}))|((31)\.(01|03|05|07|08|10|12)))\.(18[0-9]{2}|19[0-9]{2}|20[0-9]{2})";
        assert!(m(date, "31.12.2023"));
        assert!(!m(date, "31.11.2023"));
        let kpp = "([0-9]{1}[1-9]{1}|[1-9]{1}[0-9]{1})([0-9]{2})([0-9A-F]{2})([0-9]{3})";
        assert!(m(kpp, "7707AB001"));
        assert!(!m(kpp, "0007AB001"));
    }
}

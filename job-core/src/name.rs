//! What a name may be: the one definition of the length and characters each kind of name
//! accepts, usable at run time ([`check_name`]) and in `const` context ([`name_problem`]).

use std::fmt;

/// A kind of name the framework stores: each becomes part of a Redis key or of a
/// separator-joined value, so each refuses the characters that would make two names collide.
///
/// | kind | length in bytes | refused |
/// |---|---|---|
/// | [`Namespace`](Self::Namespace) | 1 to 128 | `{`, `}`, control characters |
/// | [`JobType`](Self::JobType) | 1 to 128 | `\|`, `,`, control characters |
/// | [`Capability`](Self::Capability) | 1 to 128 | `\|`, `,`, control characters |
/// | [`Resource`](Self::Resource) | 1 to 512 | NUL |
/// | [`UniqueKey`](Self::UniqueKey) | 1 to 512 | NUL |
/// | [`AttributeName`](Self::AttributeName) | 1 to 128 | control characters |
/// | [`AttributeValue`](Self::AttributeValue) | 0 to 1024 | nothing |
///
/// Control characters are U+0000 to U+001F, U+007F and U+0080 to U+009F (C0, DEL and C1);
/// NUL is one of them.
///
/// ```
/// use job_core::NameKind;
///
/// assert_eq!(NameKind::JobType.as_str(), "job type");
/// assert_eq!(NameKind::JobType.max_len(), 128);
/// assert_eq!(NameKind::UniqueKey.max_len(), 512);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameKind {
    /// The namespace (key prefix) a client works in; it sits inside a Redis Cluster hash tag.
    Namespace,
    /// A job type's wire name, `Job::NAME`.
    JobType,
    /// A capability a job requires of the worker that takes it.
    Capability,
    /// The resource a job is bound to.
    Resource,
    /// A job's unique key.
    UniqueKey,
    /// The name of a job attribute.
    AttributeName,
    /// The value of a job attribute: data, so anything up to the length limit.
    AttributeValue,
}

impl NameKind {
    /// Returns the kind's name as messages spell it, like `"job type"`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Namespace => "namespace",
            Self::JobType => "job type",
            Self::Capability => "capability",
            Self::Resource => "resource",
            Self::UniqueKey => "unique key",
            Self::AttributeName => "attribute name",
            Self::AttributeValue => "attribute value",
        }
    }

    /// Returns the shortest length accepted, in bytes: 1, or 0 for an attribute value.
    #[must_use]
    pub const fn min_len(&self) -> usize {
        match self {
            Self::AttributeValue => 0,
            _ => 1,
        }
    }

    /// Returns the longest length accepted, in bytes.
    #[must_use]
    pub const fn max_len(&self) -> usize {
        match self {
            Self::Namespace | Self::JobType | Self::Capability | Self::AttributeName => 128,
            Self::Resource | Self::UniqueKey => 512,
            Self::AttributeValue => 1024,
        }
    }

    /// Returns the kind's rule in one sentence, for messages and docs.
    ///
    /// ```
    /// use job_core::NameKind;
    ///
    /// assert_eq!(
    ///     NameKind::JobType.rule(),
    ///     "1 to 128 bytes, without `|`, `,` or control characters"
    /// );
    /// ```
    #[must_use]
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::Namespace => "1 to 128 bytes, without `{`, `}` or control characters",
            Self::JobType => "1 to 128 bytes, without `|`, `,` or control characters",
            Self::Capability => "1 to 128 bytes, without `|`, `,`, spaces or control characters",
            Self::Resource | Self::UniqueKey => "1 to 512 bytes, without NUL",
            Self::AttributeName => "1 to 128 bytes, without control characters",
            Self::AttributeValue => "0 to 1024 bytes of any text",
        }
    }

    /// The reason `byte` (at `index` of `bytes`) is refused in this kind, if it is.
    const fn refuses(&self, bytes: &[u8], index: usize) -> Option<&'static str> {
        let byte = bytes[index];
        // C1 controls, U+0080 to U+009F, are `0xC2 0x80..=0x9F` in UTF-8.
        let c1 = byte == 0xC2 && index + 1 < bytes.len() && matches!(bytes[index + 1], 0x80..=0x9F);
        let control = byte < 0x20 || byte == 0x7F || c1;
        match self {
            Self::Namespace => match byte {
                b'{' | b'}' => Some(BRACE),
                _ if control => Some(CONTROL),
                _ => None,
            },
            Self::JobType => match byte {
                b'|' => Some(PIPE),
                b',' => Some(COMMA_IN_TYPE),
                _ if control => Some(CONTROL),
                _ => None,
            },
            Self::Capability => match byte {
                b'|' => Some(PIPE),
                b',' => Some(COMMA_IN_CAPABILITY),
                b' ' => Some(SPACE_IN_CAPABILITY),
                _ if control => Some(CONTROL),
                _ => None,
            },
            Self::Resource => match byte {
                0 => Some(NUL_IN_RESOURCE),
                _ => None,
            },
            Self::UniqueKey => match byte {
                0 => Some(NUL_IN_UNIQUE_KEY),
                _ => None,
            },
            Self::AttributeName if control => Some(CONTROL),
            Self::AttributeName | Self::AttributeValue => None,
        }
    }

    /// The reason for a name longer than [`max_len`](Self::max_len).
    const fn too_long(&self) -> &'static str {
        match self {
            Self::Namespace | Self::JobType | Self::Capability | Self::AttributeName => {
                "is longer than 128 bytes"
            }
            Self::Resource | Self::UniqueKey => "is longer than 512 bytes",
            Self::AttributeValue => "is longer than 1024 bytes",
        }
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const EMPTY: &str = "is empty";
const CONTROL: &str = "contains a control character (NUL included)";
const BRACE: &str = "contains `{` or `}`, which would break Redis Cluster hash tags";
const PIPE: &str = "contains `|`, which separates a job type from its required capabilities";
const COMMA_IN_TYPE: &str = "contains `,`, a separator in the names of queues";
const COMMA_IN_CAPABILITY: &str = "contains `,`, which separates required capabilities";
const SPACE_IN_CAPABILITY: &str =
    "contains a space (capabilities are single words like `gpu` or `region=eu`)";
const NUL_IN_RESOURCE: &str = "contains NUL, which is reserved as a separator";
const NUL_IN_UNIQUE_KEY: &str = "contains NUL, which separates a job type from its unique key";

/// Returns why `value` is not a valid name of `kind`, or `None` if it is.
///
/// The reason is short and lowercase, like `"is empty"` or `"contains `{` or `}`, which would
/// break Redis Cluster hash tags"`; [`check_name`] wraps it in an [`InvalidName`]. A `const fn`,
/// so names can be checked at compile time.
///
/// ```
/// use job_core::{NameKind, name_problem};
///
/// assert_eq!(name_problem(NameKind::JobType, "mail.send"), None);
/// assert_eq!(name_problem(NameKind::Namespace, ""), Some("is empty"));
/// const _: () = assert!(name_problem(NameKind::Capability, "region=eu").is_none());
/// ```
#[must_use]
pub const fn name_problem(kind: NameKind, value: &str) -> Option<&'static str> {
    let bytes = value.as_bytes();
    if bytes.len() < kind.min_len() {
        return Some(EMPTY);
    }
    if bytes.len() > kind.max_len() {
        return Some(kind.too_long());
    }
    let mut index = 0;
    while index < bytes.len() {
        if let Some(reason) = kind.refuses(bytes, index) {
            return Some(reason);
        }
        index += 1;
    }
    None
}

/// Checks that `value` is a valid name of `kind`.
///
/// ```
/// use job_core::{NameKind, check_name};
///
/// assert!(check_name(NameKind::JobType, "mail.send").is_ok());
/// let error = check_name(NameKind::JobType, "render|gpu").unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "invalid job type `render|gpu`: contains `|`, which separates a job type from its \
///      required capabilities"
/// );
/// ```
///
/// # Errors
///
/// Returns [`InvalidName`] when `value` is too short, too long, or holds a character the kind
/// refuses (see [`NameKind`]).
pub fn check_name(kind: NameKind, value: &str) -> Result<(), InvalidName> {
    match name_problem(kind, value) {
        None => Ok(()),
        Some(reason) => Err(InvalidName {
            kind,
            value: Shown::new(value).as_str().to_owned(),
            len: value.len(),
            reason,
        }),
    }
}

/// A name that breaks the rules of its [`NameKind`], from [`check_name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} `{value}`: {reason}")]
#[non_exhaustive]
pub struct InvalidName {
    /// The kind of name.
    pub kind: NameKind,
    /// The name as shown in the message: its first 64 characters, then `…` if it is longer,
    /// with control characters escaped as `char::escape_debug` does (`\0`, `\u{1b}`).
    pub value: String,
    /// The length of the whole name, in bytes.
    pub len: usize,
    /// Why the name is refused, like `"is empty"`: [`name_problem`]'s answer.
    pub reason: &'static str,
}

/// Characters of a name shown in messages; longer names are cut and end with `…`.
const SHOWN_CHARS: usize = 64;
/// Room for [`SHOWN_CHARS`] characters of 6 bytes each (the longest escape, `\u{9f}`; UTF-8
/// takes at most 4), then `…`.
const SHOWN_CAP: usize = SHOWN_CHARS * 6 + '…'.len_utf8();
/// Room for a whole message: `invalid <kind> `<shown>`: <reason>`.
const MESSAGE_CAP: usize = SHOWN_CAP + 160;

/// A bounded UTF-8 text built in `const` context, where `format!` is not available.
struct Text<const CAP: usize> {
    bytes: [u8; CAP],
    len: usize,
}

impl<const CAP: usize> Text<CAP> {
    const fn new() -> Self {
        Self {
            bytes: [0; CAP],
            len: 0,
        }
    }

    /// Appends `bytes`, which the callers keep whole UTF-8 sequences and within capacity.
    const fn push(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() && self.len < CAP {
            self.bytes[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
    }

    const fn as_str(&self) -> &str {
        let (bytes, _) = self.bytes.split_at(self.len);
        match std::str::from_utf8(bytes) {
            Ok(text) => text,
            // Unreachable: only whole UTF-8 sequences are pushed, and the capacities leave room.
            Err(_) => "",
        }
    }
}

/// A name as messages show it: cut to [`SHOWN_CHARS`] characters, control characters escaped.
struct Shown(Text<SHOWN_CAP>);

impl Shown {
    const fn new(value: &str) -> Self {
        let bytes = value.as_bytes();
        let mut text = Text::new();
        let (mut index, mut chars) = (0, 0);
        while index < bytes.len() {
            if chars == SHOWN_CHARS {
                text.push("…".as_bytes());
                break;
            }
            let width = utf8_width(bytes[index]);
            let (_, rest) = bytes.split_at(index);
            let (char_bytes, _) = rest.split_at(width);
            match control_code(char_bytes) {
                Some(code) => push_escape(&mut text, code),
                None => text.push(char_bytes),
            }
            index += width;
            chars += 1;
        }
        Self(text)
    }

    const fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// The length of the UTF-8 sequence that starts with `first`.
const fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// The code point of a control character's UTF-8 sequence, or `None` for any other character.
const fn control_code(char_bytes: &[u8]) -> Option<u8> {
    match char_bytes {
        [byte @ (0x00..=0x1F | 0x7F)] => Some(*byte),
        [0xC2, byte @ 0x80..=0x9F] => Some(*byte),
        _ => None,
    }
}

/// Writes a control character the way `char::escape_debug` does: `\0`, `\t`, `\r`, `\n`, or
/// `\u{..}` in lowercase hex without leading zeros.
const fn push_escape<const CAP: usize>(text: &mut Text<CAP>, code: u8) {
    match code {
        0 => text.push(b"\\0"),
        b'\t' => text.push(b"\\t"),
        b'\r' => text.push(b"\\r"),
        b'\n' => text.push(b"\\n"),
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            text.push(b"\\u{");
            if code >= 0x10 {
                text.push(&[HEX[(code >> 4) as usize]]);
            }
            text.push(&[HEX[(code & 0xF) as usize], b'}']);
        }
    }
}

/// Panics, at compile time when called in `const` context, with [`InvalidName`]'s message
/// if `value` is not a valid name of `kind`: the derive's check of a literal name. Reached
/// only through `__private`.
#[doc(hidden)]
#[track_caller]
#[allow(
    clippy::panic,
    reason = "a compile-time assertion: its panic is the compile error"
)]
pub const fn assert_name(kind: NameKind, value: &str) {
    if let Some(reason) = name_problem(kind, value) {
        let mut message = Text::<MESSAGE_CAP>::new();
        message.push(b"invalid ");
        message.push(kind.as_str().as_bytes());
        message.push(b" `");
        message.push(Shown::new(value).as_str().as_bytes());
        message.push(b"`: ");
        message.push(reason.as_bytes());
        panic!("{}", message.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [NameKind; 7] = [
        NameKind::Namespace,
        NameKind::JobType,
        NameKind::Capability,
        NameKind::Resource,
        NameKind::UniqueKey,
        NameKind::AttributeName,
        NameKind::AttributeValue,
    ];

    fn reason(kind: NameKind, value: &str) -> Option<&'static str> {
        let problem = name_problem(kind, value);
        assert_eq!(check_name(kind, value).err().map(|e| e.reason), problem);
        problem
    }

    #[test]
    fn name_normal_names_pass() {
        let cases = [
            (NameKind::JobType, "mail.send"),
            (NameKind::JobType, "esn.fired_event"),
            (NameKind::JobType, "письмо.отправить"),
            (NameKind::JobType, "Ping"),
            (NameKind::Capability, "region=eu"),
            (NameKind::Capability, "gpu"),
            (NameKind::Resource, "customer:42"),
            (NameKind::Resource, "a|b,c {d}"),
            (NameKind::UniqueKey, r#"["a","b"]"#),
            (NameKind::UniqueKey, "[42]"),
            (NameKind::Namespace, "t:my test:0a1b"),
            (NameKind::Namespace, "job"),
            (NameKind::AttributeName, "tenant"),
            (NameKind::AttributeName, "a|b,c{d}"),
            (NameKind::AttributeValue, ""),
            (NameKind::AttributeValue, "any\0thing\u{1b}|,{}"),
        ];
        for (kind, value) in cases {
            assert_eq!(reason(kind, value), None, "{kind} {value:?}");
        }
    }

    #[test]
    fn name_empty_is_refused_but_for_attribute_values() {
        for kind in ALL {
            let expected = (kind != NameKind::AttributeValue).then_some("is empty");
            assert_eq!(reason(kind, ""), expected, "{kind}");
            assert_eq!(kind.min_len(), usize::from(expected.is_some()));
        }
    }

    #[test]
    fn name_lengths_up_to_the_limit_pass() {
        let expected = [128, 128, 128, 512, 512, 128, 1024];
        for (kind, max) in ALL.into_iter().zip(expected) {
            assert_eq!(kind.max_len(), max, "{kind}");
            assert_eq!(reason(kind, &"a".repeat(max)), None, "{kind}");
            // A multi-byte character counts its bytes.
            let mut value = "é".repeat(max / 2);
            assert_eq!(reason(kind, &value), None, "{kind}");
            value.push('a');
            let too_long = format!("is longer than {max} bytes");
            assert_eq!(reason(kind, &value), Some(too_long.as_str()), "{kind}");
            assert_eq!(
                reason(kind, &"a".repeat(max + 1)),
                Some(too_long.as_str()),
                "{kind}"
            );
            assert_eq!(
                reason(kind, &"a".repeat(200 * 1024)),
                Some(too_long.as_str()),
                "{kind}"
            );
        }
        assert_eq!(
            reason(NameKind::JobType, &"t".repeat(129)),
            Some("is longer than 128 bytes")
        );
        assert_eq!(
            reason(NameKind::UniqueKey, &"k".repeat(513)),
            Some("is longer than 512 bytes")
        );
    }

    #[test]
    fn name_separators_of_types_and_capabilities_are_refused() {
        assert_eq!(
            reason(NameKind::JobType, "render|gpu"),
            Some("contains `|`, which separates a job type from its required capabilities")
        );
        assert_eq!(
            reason(NameKind::JobType, "render,paint"),
            Some("contains `,`, a separator in the names of queues")
        );
        assert_eq!(
            reason(NameKind::Capability, "gpu,cpu"),
            Some("contains `,`, which separates required capabilities")
        );
        assert_eq!(
            reason(NameKind::Capability, "gpu|cpu"),
            Some("contains `|`, which separates a job type from its required capabilities")
        );
        // Braces are fine outside the namespace.
        assert_eq!(reason(NameKind::JobType, "{render}"), None);
    }

    #[test]
    fn name_braces_in_namespace_are_refused() {
        let brace = Some("contains `{` or `}`, which would break Redis Cluster hash tags");
        assert_eq!(reason(NameKind::Namespace, "t:{x"), brace);
        assert_eq!(reason(NameKind::Namespace, "x}"), brace);
        assert_eq!(reason(NameKind::Namespace, "{app}"), brace);
        // The namespace's separators are fine: only the hash tag matters.
        assert_eq!(reason(NameKind::Namespace, "a|b,c"), None);
    }

    #[test]
    fn name_nul_is_refused_everywhere_but_in_values() {
        let control = Some("contains a control character (NUL included)");
        assert_eq!(reason(NameKind::Namespace, "a\0"), control);
        assert_eq!(reason(NameKind::JobType, "render\0gpu"), control);
        assert_eq!(reason(NameKind::Capability, "\0"), control);
        assert_eq!(reason(NameKind::AttributeName, "a\0b"), control);
        assert_eq!(
            reason(NameKind::UniqueKey, "a\0b"),
            Some("contains NUL, which separates a job type from its unique key")
        );
        assert_eq!(
            reason(NameKind::Resource, "\0"),
            Some("contains NUL, which is reserved as a separator")
        );
        assert_eq!(reason(NameKind::AttributeValue, "\0"), None);
    }

    #[test]
    fn name_control_characters_are_refused_c0_del_and_c1() {
        let control = Some("contains a control character (NUL included)");
        let kinds = [
            NameKind::Namespace,
            NameKind::JobType,
            NameKind::Capability,
            NameKind::AttributeName,
        ];
        for kind in kinds {
            let separators = ['{', '}', '|', ',', ' '];
            let chars = (0u32..=0x9F).filter_map(char::from_u32);
            for c in chars.filter(|c| !separators.contains(c)) {
                let value = format!("a{c}b");
                let expected = c.is_control().then_some(control).flatten();
                assert_eq!(reason(kind, &value), expected, "{kind} {c:?}");
            }
            // Next to C1 in UTF-8 (`0xC2 0xA0..`), but printable.
            assert_eq!(reason(kind, "a\u{A0}b\u{BF}"), None, "{kind}");
        }
        assert_eq!(reason(NameKind::JobType, "tab\there"), control);
        assert_eq!(reason(NameKind::JobType, "esc\u{1b}"), control);
        assert_eq!(reason(NameKind::JobType, "del\u{7f}"), control);
        assert_eq!(reason(NameKind::JobType, "c1\u{85}"), control);
        assert_eq!(reason(NameKind::Capability, "\u{9f}"), control);
        // Only NUL for resources and unique keys.
        assert_eq!(reason(NameKind::Resource, "a\tb\u{85}"), None);
        assert_eq!(reason(NameKind::UniqueKey, "a\nb\u{7f}"), None);
    }

    #[test]
    fn name_length_is_checked_before_characters() {
        assert_eq!(
            reason(NameKind::JobType, &"|".repeat(129)),
            Some("is longer than 128 bytes")
        );
    }

    #[test]
    fn name_error_shows_the_name_cut_and_escaped() {
        let error = check_name(NameKind::JobType, "render|gpu").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid job type `render|gpu`: contains `|`, which separates a job type from its \
             required capabilities"
        );
        assert_eq!((error.kind, error.len), (NameKind::JobType, 10));

        let error = check_name(NameKind::UniqueKey, "a\0b").unwrap_err();
        assert_eq!(error.value, "a\\0b");
        assert_eq!(
            error.to_string(),
            "invalid unique key `a\\0b`: contains NUL, which separates a job type from its \
             unique key"
        );

        let long = "ж".repeat(200 * 1024);
        let error = check_name(NameKind::Namespace, &long).unwrap_err();
        assert_eq!(error.value, format!("{}…", "ж".repeat(64)));
        assert_eq!(error.len, 400 * 1024);
        assert_eq!(
            error.to_string(),
            format!(
                "invalid namespace `{}…`: is longer than 128 bytes",
                "ж".repeat(64)
            )
        );
        // Exactly 64 characters: not cut.
        let error = check_name(NameKind::JobType, &format!("{}|", "a".repeat(63))).unwrap_err();
        assert_eq!(error.value, format!("{}|", "a".repeat(63)));
    }

    #[test]
    fn name_shown_escapes_like_escape_debug() {
        for c in (0u32..=0x9F).filter_map(char::from_u32) {
            let shown = Shown::new(&c.to_string()).as_str().to_owned();
            if c.is_control() {
                assert_eq!(shown, c.escape_debug().to_string(), "{c:?}");
            } else {
                assert_eq!(shown, c.to_string(), "{c:?}");
            }
        }
        // Quotes and backslashes stay as they are: a JSON unique key reads as written.
        assert_eq!(Shown::new(r#"["a\"b"]"#).as_str(), r#"["a\"b"]"#);
        // The widest shown name fits.
        let widest = "\u{9f}".repeat(100);
        let shown = Shown::new(&widest);
        assert_eq!(shown.as_str(), format!("{}…", "\\u{9f}".repeat(64)));
        assert_eq!(shown.as_str().len(), SHOWN_CAP);
    }

    #[test]
    fn name_assert_panics_with_the_error_message() {
        let cases = [
            (NameKind::JobType, "render|gpu".to_owned()),
            (NameKind::JobType, "render\0gpu".to_owned()),
            (NameKind::Capability, "gpu,cpu".to_owned()),
            (NameKind::Namespace, "{x}".to_owned()),
            (NameKind::AttributeValue, "\u{9f}".repeat(2000)),
            (NameKind::UniqueKey, String::new()),
            (NameKind::AttributeName, "\u{85}".repeat(64)),
        ];
        for (kind, value) in cases {
            let expected = check_name(kind, &value).unwrap_err().to_string();
            let panic = std::panic::catch_unwind(|| assert_name(kind, &value)).unwrap_err();
            let message = panic.downcast_ref::<String>().cloned().unwrap_or_else(|| {
                panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .unwrap()
            });
            assert_eq!(message, expected);
        }
        assert_name(NameKind::JobType, "mail.send");
        // The longest message fits.
        let longest = ALL.iter().map(|kind| kind.as_str().len()).max().unwrap()
            + [
                EMPTY,
                CONTROL,
                BRACE,
                PIPE,
                COMMA_IN_TYPE,
                COMMA_IN_CAPABILITY,
                NUL_IN_RESOURCE,
                NUL_IN_UNIQUE_KEY,
                "is longer than 1024 bytes",
            ]
            .iter()
            .map(|reason| reason.len())
            .max()
            .unwrap()
            + "invalid  ``: ".len()
            + SHOWN_CAP;
        assert!(longest <= MESSAGE_CAP, "{longest}");
    }

    #[test]
    fn name_kind_names_and_rules() {
        let names: Vec<_> = ALL.iter().map(NameKind::as_str).collect();
        assert_eq!(
            names,
            [
                "namespace",
                "job type",
                "capability",
                "resource",
                "unique key",
                "attribute name",
                "attribute value"
            ]
        );
        for kind in ALL {
            assert_eq!(kind.to_string(), kind.as_str());
            let bounds = format!("{} to {} bytes", kind.min_len(), kind.max_len());
            assert!(kind.rule().starts_with(&bounds), "{kind}: {}", kind.rule());
        }
    }

    #[test]
    fn name_problem_works_in_const() {
        const BAD: Option<&str> = name_problem(NameKind::JobType, "render|gpu");
        const GOOD: Option<&str> = name_problem(NameKind::JobType, "mail.send");
        assert!(BAD.is_some());
        assert!(GOOD.is_none());
        const _: () = assert_name(NameKind::Capability, "region=eu");
    }
}

//! Upload ids: the only thing from a request that ever becomes part of a path.
//!
//! An [`Id`] can only be built from text matching `^[A-Za-z0-9_-]{1,128}$`
//! (the grammar both protocol specs share) or minted from the operating
//! system's random source, so a value of this type can never hold a path
//! separator, a dot segment, a NUL or a percent escape.

use std::fmt;

/// Longest id accepted on input.
pub const MAX_LEN: usize = 128;

/// A validated upload id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

/// Why a text is not an id; the message is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidId {
    Empty,
    TooLong(usize),
    BadCharacter,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidId::Empty => f.write_str("the upload id is empty"),
            InvalidId::TooLong(n) => write!(
                f,
                "the upload id is {n} characters long; at most {MAX_LEN} are allowed"
            ),
            InvalidId::BadCharacter => f.write_str(
                "the upload id may only contain the letters A-Z and a-z, digits, '-' and '_'",
            ),
        }
    }
}

impl std::error::Error for InvalidId {}

impl Id {
    /// Parses an id given by a client.
    pub fn parse(text: &str) -> Result<Id, InvalidId> {
        if text.is_empty() {
            return Err(InvalidId::Empty);
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidId::BadCharacter);
        }
        if text.len() > MAX_LEN {
            return Err(InvalidId::TooLong(text.len()));
        }
        Ok(Id(text.to_owned()))
    }

    /// A new id: 32 lowercase hex digits from 128 bits of the OS CSPRNG.
    pub fn mint() -> std::io::Result<Id> {
        Ok(Id(random_hex::<16>()?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the lock file guarding this id: its last two characters.
    /// Ids share lock files (at most 64² of them, made once and kept), so
    /// starting an upload creates no lock file and removing one deletes none;
    /// ids that share one wait for each other only during short record updates.
    pub fn lock_name(&self) -> &str {
        let start = self.0.len().saturating_sub(2);
        &self.0[start..]
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `N` random bytes from the OS, as lowercase hex.
pub(crate) fn random_hex<const N: usize>() -> std::io::Result<String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| std::io::Error::other(format!("no random numbers: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_grammar() {
        for ok in [
            "a",
            "0",
            "A-z_9",
            "8f14e45f-ceea-467a-9575-5ff0b0a8c1a2",
            &"x".repeat(128),
        ] {
            assert_eq!(Id::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\0b",
            "%2e",
            "a b",
            "é",
            &"x".repeat(129),
            "../../evil",
        ] {
            assert!(Id::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn lock_names_are_the_last_two_characters() {
        assert_eq!(
            Id::parse("8f14e45f-ceea-467a-9575-5ff0b0a8c1a2")
                .unwrap()
                .lock_name(),
            "a2"
        );
        assert_eq!(Id::parse("x").unwrap().lock_name(), "x");
    }

    #[test]
    fn minted_ids_are_32_hex_and_differ() {
        let a = Id::mint().unwrap();
        let b = Id::mint().unwrap();
        assert_eq!(a.as_str().len(), 32);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}

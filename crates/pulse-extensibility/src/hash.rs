//! The one hash Pulse keeps stable across releases: 64-bit FNV-1a. Recorded values depend on it:
//! error-group fingerprints, migration checksums, and `PostgreSQL`'s shortened identifiers and
//! advisory-lock keys.

/// 64-bit FNV-1a of `bytes`.
#[must_use]
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_parts(&[bytes])
}

/// 64-bit FNV-1a of `parts` one after the other, as of their concatenation, without building it.
#[must_use]
pub const fn fnv1a_parts(parts: &[&[u8]]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut part = 0;
    while part < parts.len() {
        let bytes = parts[part];
        let mut index = 0;
        while index < bytes.len() {
            hash = (hash ^ bytes[index] as u64).wrapping_mul(0x0100_0000_01b3);
            index += 1;
        }
        part += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hash_as_their_concatenation() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_parts(&[b"foo", b"", b"bar"]), fnv1a(b"foobar"));
    }
}

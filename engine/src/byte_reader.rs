//! The one cursor every decoder reads bytes through: the transaction codec
//! (`tx`), the persisted records (`persist::codec`), state-sync metadata and
//! the native programs' instruction data (`program::DataReader`).
//!
//! It never indexes past the end: every short read is a [`Truncated`]
//! naming the field and the offset where it began, which each layer turns
//! into its own named error (`E: From<Truncated>`), so a decoder's `?`
//! yields that layer's error with the right offset and nothing else to do.

use std::marker::PhantomData;

/// A read that ran past the end: the field it was reading, and the offset
/// (from the start of the reader's bytes) where that field began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated {
    pub offset: usize,
    pub field: &'static str,
}

/// A forward-only cursor over `bytes` whose reads fail with `E`.
pub struct ByteReader<'a, E> {
    bytes: &'a [u8],
    offset: usize,
    error: PhantomData<fn() -> E>,
}

impl<'a, E: From<Truncated>> ByteReader<'a, E> {
    pub fn new(bytes: &'a [u8]) -> ByteReader<'a, E> {
        ByteReader { bytes, offset: 0, error: PhantomData }
    }

    /// Bytes read so far: the offset of the next field.
    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// The next `len` bytes, or `Truncated` at the current offset (the
    /// cursor does not move then).
    pub fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], E> {
        if len > self.remaining() {
            return Err(E::from(Truncated { offset: self.offset, field }));
        }
        let start = self.offset;
        self.offset += len;
        debug_assert!(self.offset <= self.bytes.len(), "the cursor stays within its bytes");
        Ok(&self.bytes[start..self.offset])
    }

    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], E> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, E> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Little-endian, as every integer in docs/format.md.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, E> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, E> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, E> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Short(Truncated);

    impl From<Truncated> for Short {
        fn from(t: Truncated) -> Short {
            Short(t)
        }
    }

    #[test]
    fn reads_little_endian_fields_in_order() {
        let bytes = [1, 2, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9, 9];
        let mut r = ByteReader::<Short>::new(&bytes);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(2));
        assert_eq!(r.u32("c"), Ok(3));
        assert_eq!(r.u64("d"), Ok(4));
        assert_eq!((r.offset(), r.remaining()), (15, 2));
        assert_eq!(r.array::<2>("e"), Ok([9, 9]));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn a_short_read_names_the_field_and_its_offset_and_does_not_move() {
        let mut r = ByteReader::<Short>::new(&[7, 1, 2, 3]);
        r.u8("head").unwrap();
        assert_eq!(r.u64("body"), Err(Short(Truncated { offset: 1, field: "body" })));
        assert_eq!(r.offset(), 1);
        assert_eq!(r.take(3, "tail"), Ok(&[1u8, 2, 3][..]));
        assert_eq!(r.take(usize::MAX, "huge"), Err(Short(Truncated { offset: 4, field: "huge" })));
    }
}

//! The hvscope wire protocol: messages and the `Ingest` gRPC service, generated at build time
//! from `proto/hvscope.proto` with protox (no system `protoc`). Helpers here are pure: they pack
//! and unpack the delta-encoded sample ids of a [`v1::Batch`].
#![forbid(unsafe_code)]

/// Generated code for package `hvscope.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod v1 {
    tonic::include_proto!("hvscope.v1");
}

use v1::Batch;

/// Ids and values of a batch did not line up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SamplesError {
    #[error("batch has {ids} sample ids but {values} values")]
    LengthMismatch { ids: usize, values: usize },
    #[error("sample id overflows u64 at position {index}")]
    IdOverflow { index: usize },
}

/// Sets the samples of `batch` from `(id, value)` pairs. Ids are sorted so that the deltas are
/// small (one byte each on the wire for dense ids).
pub fn pack_samples(batch: &mut Batch, samples: &mut [(u64, f64)]) {
    samples.sort_unstable_by_key(|s| s.0);
    batch.id_deltas.clear();
    batch.values.clear();
    batch.id_deltas.reserve(samples.len());
    batch.values.reserve(samples.len());
    let mut prev = 0u64;
    for &(id, value) in samples.iter() {
        batch.id_deltas.push(id - prev);
        batch.values.push(value);
        prev = id;
    }
}

/// Iterates over `(id, value)` of a batch, undoing the delta encoding.
pub fn unpack_samples(batch: &Batch) -> Result<Vec<(u64, f64)>, SamplesError> {
    if batch.id_deltas.len() != batch.values.len() {
        return Err(SamplesError::LengthMismatch {
            ids: batch.id_deltas.len(),
            values: batch.values.len(),
        });
    }
    let mut out = Vec::with_capacity(batch.values.len());
    let mut id = 0u64;
    for (index, (&delta, &value)) in batch.id_deltas.iter().zip(&batch.values).enumerate() {
        id = id
            .checked_add(delta)
            .ok_or(SamplesError::IdOverflow { index })?;
        out.push((id, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn samples_round_trip() {
        let mut b = Batch::default();
        let mut s = vec![(7, 1.5), (3, -2.0), (1000, f64::NAN), (4, 0.0)];
        pack_samples(&mut b, &mut s);
        assert_eq!(b.id_deltas, vec![3, 1, 3, 993]);
        let bytes = b.encode_to_vec();
        let back = Batch::decode(bytes.as_slice()).unwrap();
        let got = unpack_samples(&back).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (3, -2.0));
        assert_eq!(got[3].0, 1000);
        assert!(got[3].1.is_nan());
    }

    #[test]
    fn mismatch_and_overflow_are_errors() {
        let b = Batch {
            id_deltas: vec![1, 2],
            values: vec![1.0],
            ..Default::default()
        };
        assert_eq!(
            unpack_samples(&b),
            Err(SamplesError::LengthMismatch { ids: 2, values: 1 })
        );
        let b = Batch {
            id_deltas: vec![u64::MAX, 1],
            values: vec![1.0, 2.0],
            ..Default::default()
        };
        assert_eq!(
            unpack_samples(&b),
            Err(SamplesError::IdOverflow { index: 1 })
        );
    }

    #[test]
    fn dense_ids_cost_one_byte_each() {
        let mut b = Batch::default();
        let mut s: Vec<(u64, f64)> = (1..=100).map(|i| (i, 0.0)).collect();
        pack_samples(&mut b, &mut s);
        // packed field: tag + length + 100 one-byte varints
        let only_ids = Batch {
            id_deltas: b.id_deltas.clone(),
            ..Default::default()
        };
        assert_eq!(only_ids.encoded_len(), 2 + 100);
    }
}

//! Embedding files: ids plus an `[n, dim]` f32 matrix, stored as safetensors.
//!
//! Layout: one tensor `embeddings` (F32, `[n, dim]`) and the header metadata
//! `format = "densify-embeddings/1"` and `ids` = a JSON array of the n ids, so a file is
//! readable with any safetensors library (`safetensors.safe_open` in Python).

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{DataError, Result};

const FORMAT: &str = "densify-embeddings/1";

/// Row-major embeddings with one id per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    ids: Vec<String>,
    dim: usize,
    values: Vec<f32>,
}

impl Embeddings {
    /// Wraps `values` (row-major, `ids.len() * dim` numbers).
    pub fn new(ids: Vec<String>, dim: usize, values: Vec<f32>) -> Result<Self> {
        if dim == 0 || values.len() != ids.len() * dim {
            return Err(DataError::Mismatch(format!(
                "embeddings: {} values for {} ids of dimension {dim}",
                values.len(),
                ids.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        if let Some(id) = ids.iter().find(|id| !seen.insert(id.as_str())) {
            return Err(DataError::Mismatch(format!(
                "embeddings: id `{id}` appears twice"
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(DataError::Mismatch(format!(
                "embeddings: row `{}` (index {}) holds a non-finite value ({})",
                ids[i / dim],
                i / dim,
                values[i]
            )));
        }
        Ok(Self { ids, dim, values })
    }

    /// The row ids.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The matrix on `device`.
    ///
    /// # Shapes
    /// - returns `[n, dim]`
    pub fn to_tensor(&self, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.values.clone(), [self.len(), self.dim]),
            device,
        )
    }

    /// Writes the file (see the module docs for the layout).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes: Vec<u8> = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![self.len(), self.dim], &bytes)
            .map_err(|e| DataError::Mismatch(format!("{}: {e}", path.display())))?;
        let ids = serde_json::to_string(&self.ids).expect("strings serialise");
        let metadata = HashMap::from([
            ("format".to_owned(), FORMAT.to_owned()),
            ("ids".to_owned(), ids),
        ]);
        let bytes = safetensors::serialize([("embeddings", view)], Some(metadata))
            .map_err(|e| e.to_string())
            .and_then(densify_core::canonical_safetensors_header)
            .map_err(|e| DataError::io(path, std::io::Error::other(e)))?;
        densify_core::write_atomic(path, &bytes).map_err(|e| DataError::io(path, e))
    }

    /// Reads a file written by [`Embeddings::write`], checking its layout.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = densify_core::read_regular(path).map_err(|e| DataError::io(path, e))?;
        let bad = |message: String| DataError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        if metadata.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(format!("header metadata `format` must be `{FORMAT}`")));
        }
        let ids: Vec<String> = serde_json::from_str(metadata.get("ids").map_or("", String::as_str))
            .map_err(|e| {
                bad(format!(
                    "header metadata `ids` must be a JSON array of strings: {e}"
                ))
            })?;
        let tensor = file
            .tensor("embeddings")
            .map_err(|_| bad("no tensor named `embeddings`".into()))?;
        if tensor.dtype() != Dtype::F32 || tensor.shape().len() != 2 {
            return Err(bad(format!(
                "`embeddings` must be F32 with 2 dimensions, found {:?} {:?}",
                tensor.dtype(),
                tensor.shape()
            )));
        }
        let (rows, dim) = (tensor.shape()[0], tensor.shape()[1]);
        if rows != ids.len() {
            return Err(bad(format!("{rows} embedding rows but {} ids", ids.len())));
        }
        let values = tensor
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Self::new(ids, dim, values)
            .map_err(|e| DataError::Mismatch(format!("{}: {e}", path.display())))
    }

    /// Errors unless `other` has the same dimension; the message names both files.
    pub fn check_same_dim(
        &self,
        self_name: &Path,
        other: &Embeddings,
        other_name: &Path,
    ) -> Result<()> {
        if self.dim != other.dim {
            return Err(DataError::Mismatch(format!(
                "{}: embeddings have dimension {}, but {} has dimension {}; both must come from \
                 the same encoder",
                other_name.display(),
                other.dim,
                self_name.display(),
                self.dim
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_shapes() {
        let e = Embeddings::new(
            vec!["a".into(), "b".into()],
            3,
            vec![1., 2., 3., 4., 5., 6.],
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("densify-emb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("e.safetensors");
        e.write(&path).unwrap();
        let back = Embeddings::read(&path).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.row(1), &[4., 5., 6.]);
        assert!(Embeddings::new(vec!["a".into()], 3, vec![1.0; 4]).is_err());
        let other = Embeddings::new(vec!["q".into()], 2, vec![1.0; 2]).unwrap();
        let err = e
            .check_same_dim(&path, &other, Path::new("q.safetensors"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("q.safetensors: embeddings have dimension 2"),
            "{err}"
        );
        std::fs::write(dir.join("junk.safetensors"), b"junk").unwrap();
        assert!(Embeddings::read(dir.join("junk.safetensors")).is_err());
    }
}

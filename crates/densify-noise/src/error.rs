//! Errors of noise configurations.

/// A noise configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// A field has an invalid value.
    #[error("noise operator `{operator}`: `{field}` {message}")]
    Invalid {
        /// The operator.
        operator: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A `Result` whose error is [`NoiseError`].
pub type Result<T> = std::result::Result<T, NoiseError>;

//! Errors at the loss crate's configuration and input boundaries.

/// A loss configuration or a batch that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LossError {
    /// A configuration field has an invalid value.
    #[error("{loss}: `{field}` {message}")]
    Config {
        /// The loss.
        loss: &'static str,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The inputs of a batch do not fit together or hold invalid values.
    #[error("{0}")]
    Input(String),
}

impl LossError {
    /// The configuration error as a [`densify_core::InvalidField`] (input errors name no field).
    pub fn into_invalid_field(self) -> densify_core::InvalidField {
        match self {
            LossError::Config { field, message, .. } => {
                densify_core::InvalidField::new(field, message)
            }
            LossError::Input(message) => densify_core::InvalidField::new("", message),
        }
    }
}

/// A `Result` whose error is [`LossError`].
pub type Result<T> = std::result::Result<T, LossError>;

/// Errors unless `value` is a finite number > 0.
pub(crate) fn positive(loss: &'static str, field: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(LossError::Config {
            loss,
            field: field.to_owned(),
            message: format!("must be a finite number > 0, got {value}"),
        })
    }
}

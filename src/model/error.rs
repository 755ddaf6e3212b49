//! Validation errors with Kubernetes' field paths and wording.
//!
//! The constructors mirror Kubernetes' `field.ErrorType`s (`Required`, `Invalid`,
//! `NotSupported`, `Duplicate`, `Forbidden`, `TooLong`) so that messages read as the
//! real API server's do: `spec.containers[0].image: Required value`.

use std::fmt;

/// One problem with a field. Display: `spec.containers[0].image: Required value`.
///
/// `field` is the path in Kubernetes' notation (`spec.containers[0].ports[1].hostPort`);
/// it is empty when the problem is with the object as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field to blame, e.g. `spec.containers[0].image`.
    pub field: String,
    /// Kubernetes-style message, e.g. `Required value` or `Invalid value: "x": reason`.
    pub message: String,
}

/// The message of refused features that K1s does not implement (docs/decisions.md, "Pod fields").
pub const NOT_SUPPORTED: &str = "not supported by K1s";

/// The detail for host power (docs/decisions.md, "Security") refused because the server does not allow it.
pub const HOST_POWER_REFUSED: &str = "not supported by K1s unless the server is started allowing host power (it gives the pod power over the host)";

impl FieldError {
    /// Any message at a field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// `field: Required value`
    pub fn required(field: impl Into<String>) -> Self {
        Self::new(field, "Required value")
    }

    /// `field: Required value: detail`
    pub fn required_detail(field: impl Into<String>, detail: &str) -> Self {
        Self::new(field, format!("Required value: {detail}"))
    }

    /// `field: Invalid value: "value": detail` — `value` is shown as a JSON string.
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        Self::invalid_shown(field, &quote(value), detail)
    }

    /// `field: Invalid value: 70000: detail` — for numbers and other unquoted values.
    pub fn invalid_num(field: impl Into<String>, value: i64, detail: &str) -> Self {
        Self::invalid_shown(field, &value.to_string(), detail)
    }

    /// `field: Invalid value: <shown>: detail` with `shown` already formatted.
    pub fn invalid_shown(field: impl Into<String>, shown: &str, detail: &str) -> Self {
        if detail.is_empty() {
            Self::new(field, format!("Invalid value: {shown}"))
        } else {
            Self::new(field, format!("Invalid value: {shown}: {detail}"))
        }
    }

    /// `field: Unsupported value: "XYZ": supported values: "TCP", "UDP", "SCTP"`
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| quote(s)).collect();
        Self::new(
            field,
            format!(
                "Unsupported value: {}: supported values: {}",
                quote(value),
                list.join(", ")
            ),
        )
    }

    /// `field: Duplicate value: "x"`
    pub fn duplicate(field: impl Into<String>, value: &str) -> Self {
        Self::new(field, format!("Duplicate value: {}", quote(value)))
    }

    /// `field: Forbidden: detail`
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::new(field, format!("Forbidden: {detail}"))
    }

    /// `field: Forbidden: not supported by K1s`
    pub fn unsupported_by_k1s(field: impl Into<String>) -> Self {
        Self::forbidden(field, NOT_SUPPORTED)
    }

    /// `field: Forbidden: not supported by K1s unless … host power …`
    pub fn host_power(field: impl Into<String>) -> Self {
        Self::forbidden(field, HOST_POWER_REFUSED)
    }

    /// `field: Too long: may not be more than N bytes`
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::new(field, format!("Too long: may not be more than {max} bytes"))
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// All problems of one object; `causes` is never empty.
///
/// Display joins every cause with `"; "` (one line, for the CLI and the REST `error`);
/// the API layer puts `causes[0].field` in `field` and all causes in `causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Every problem found, in the order found (document order where practical).
    pub causes: Vec<FieldError>,
}

impl Invalid {
    /// An `Invalid` with a single cause.
    pub fn one(cause: FieldError) -> Self {
        Invalid {
            causes: vec![cause],
        }
    }

    /// `Some(Invalid)` when `causes` is non-empty, for `if let` at the end of a validation.
    pub fn from_causes(causes: Vec<FieldError>) -> Option<Self> {
        if causes.is_empty() {
            None
        } else {
            Some(Invalid { causes })
        }
    }

    /// The field of the first cause (what the REST error's `field` carries).
    pub fn field(&self) -> Option<&str> {
        self.causes
            .first()
            .map(|c| c.field.as_str())
            .filter(|f| !f.is_empty())
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.causes.is_empty() {
            return f.write_str("invalid object");
        }
        for (i, c) in self.causes.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

impl From<FieldError> for Invalid {
    fn from(e: FieldError) -> Self {
        Invalid::one(e)
    }
}

/// A request body whose bytes do not parse (the API answers 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBody(pub String);

impl fmt::Display for BadBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadBody {}

/// A string shown as Kubernetes shows values in messages (Go's `%q`; JSON quoting is
/// the same for everything users type).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        let e = FieldError::required("spec.containers[0].image");
        assert_eq!(e.to_string(), "spec.containers[0].image: Required value");
        let e = FieldError::not_supported("p", "XYZ", &["TCP", "UDP", "SCTP"]);
        assert_eq!(
            e.to_string(),
            r#"p: Unsupported value: "XYZ": supported values: "TCP", "UDP", "SCTP""#
        );
        let inv = Invalid {
            causes: vec![FieldError::required("a"), FieldError::duplicate("b", "x")],
        };
        assert_eq!(
            inv.to_string(),
            r#"a: Required value; b: Duplicate value: "x""#
        );
        assert_eq!(inv.field(), Some("a"));
        assert_eq!(FieldError::new("", "whole").to_string(), "whole");
        assert_eq!(
            FieldError::invalid("f", "a\"b", "why").to_string(),
            r#"f: Invalid value: "a\"b": why"#
        );
    }
}

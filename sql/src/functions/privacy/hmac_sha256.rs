//! `hmac_sha256`: a keyed hash of a value, keyed by a named secret.

use std::fmt::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility, scalar_doc_sections,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::secret;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HmacSha256 {
    signature: Signature,
    doc: Documentation,
}

impl HmacSha256 {
    pub fn new() -> Self {
        let doc = Documentation::builder(
            scalar_doc_sections::DOC_SECTION_OTHER,
            "HMAC-SHA256 of a value keyed by a named secret, as 64 lowercase hex digits: a stable pseudonym that \
             cannot be recomputed without the secret. The same value and secret always give the same hash; another \
             secret gives another. The secret's value comes from the environment of the process evaluating the \
             function (STRATA_SECRET_<NAME>_FILE, a file holding it, else STRATA_SECRET_<NAME>); plans, logs and \
             the run ledger carry only its name. NULL in, NULL out; other types are hashed as their text.",
            "hmac_sha256(value, 'secret_name')",
        )
        .with_sql_example(
            "SELECT hmac_sha256(concat_ws('|', vendor_id, pickup_at, pickup_zone), 'chillflow_salt') AS trip_key FROM trips",
        )
        .build();
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            doc,
        }
    }
}

impl Default for HmacSha256 {
    fn default() -> Self {
        Self::new()
    }
}

/// `value`'s HMAC-SHA256 under `key`, in hex.
fn hex_hmac(key: &[u8], value: &[u8]) -> Result<String> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|e| datafusion::common::DataFusionError::Execution(format!("hmac_sha256: {e}")))?;
    mac.update(value);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        let _ = write!(out, "{byte:02x}");
    }
    Ok(out)
}

impl ScalarUDFImpl for HmacSha256 {
    fn name(&self) -> &str {
        "hmac_sha256"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [_, name] = arg_types else {
            return plan_err!(
                "hmac_sha256(value, 'secret_name'): expected 2 arguments, got {}",
                arg_types.len()
            );
        };
        if !matches!(name, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
            return plan_err!("hmac_sha256: the secret is named by a string, got {name}");
        }
        Ok(vec![DataType::Utf8, DataType::Utf8])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) => name.clone(),
            _ => return exec_err!("hmac_sha256: the secret's name must be a string literal, not a column"),
        };
        let key = secret::value(&name)?;
        match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(value)) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                value.as_deref().map(|v| hex_hmac(&key, v.as_bytes())).transpose()?,
            ))),
            ColumnarValue::Scalar(other) => exec_err!("hmac_sha256: expected text, got {}", other.data_type()),
            ColumnarValue::Array(array) => {
                let values = as_string_array(array)?;
                let mut out = StringBuilder::with_capacity(values.len(), values.len() * 64);
                for i in 0..values.len() {
                    if values.is_null(i) {
                        out.append_null();
                    } else {
                        out.append_value(hex_hmac(&key, values.value(i).as_bytes())?);
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hex_hmac(b"Jefe", b"what do ya want for nothing?").unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

//! Strict decoding of script replies: a reply of unexpected shape is [`Error::Protocol`].

use redis::Value;

use crate::Error;

/// A script's reply, decoded with the script's name for error messages.
pub(crate) struct Reply {
    script: &'static str,
}

impl Reply {
    pub(crate) fn of(script: &'static str) -> Self {
        Self { script }
    }

    pub(crate) fn error(&self, detail: impl Into<String>) -> Error {
        Error::Protocol {
            script: self.script,
            detail: detail.into(),
        }
    }

    pub(crate) fn array(&self, value: Value) -> Result<Vec<Value>, Error> {
        match value {
            Value::Array(items) => Ok(items),
            other => Err(self.error(format!("expected an array, got {other:?}"))),
        }
    }

    pub(crate) fn int(&self, value: &Value) -> Result<i64, Error> {
        match value {
            Value::Int(n) => Ok(*n),
            Value::BulkString(bytes) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    self.error(format!(
                        "expected an integer, got {:?}",
                        String::from_utf8_lossy(bytes)
                    ))
                }),
            other => Err(self.error(format!("expected an integer, got {other:?}"))),
        }
    }

    pub(crate) fn bytes(&self, value: Value) -> Result<Vec<u8>, Error> {
        match value {
            Value::BulkString(bytes) => Ok(bytes),
            Value::SimpleString(s) => Ok(s.into_bytes()),
            other => Err(self.error(format!("expected a string, got {other:?}"))),
        }
    }

    pub(crate) fn string(&self, value: Value) -> Result<String, Error> {
        String::from_utf8(self.bytes(value)?).map_err(|_| self.error("expected UTF-8 text"))
    }

    /// An array of strings.
    pub(crate) fn strings(&self, value: Value) -> Result<Vec<String>, Error> {
        self.array(value)?
            .into_iter()
            .map(|item| self.string(item))
            .collect()
    }

    /// A reply with one integer per row, each 1 or 0.
    pub(crate) fn flags(&self, value: Value, rows: usize) -> Result<Vec<bool>, Error> {
        let items = self.array(value)?;
        if items.len() != rows {
            return Err(self.error(format!("expected {rows} answers, got {}", items.len())));
        }
        items.iter().map(|item| Ok(self.int(item)? == 1)).collect()
    }
}

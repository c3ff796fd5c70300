//! [`StageSecrets`]: the values `{"env": NAME}` channel settings name, on AWS. One Secrets
//! Manager secret per stage holds them as a JSON object (`{"SMTP_PASSWORD": "…"}`), read once per
//! cold start; a name it lacks is looked up in the function's environment.

use std::collections::HashMap;

/// The stage's secret values.
#[derive(Clone, Default)]
pub struct StageSecrets {
    values: HashMap<String, String>,
}

impl std::fmt::Debug for StageSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.values.keys().collect();
        names.sort();
        f.debug_struct("StageSecrets")
            .field("names", &names)
            .finish()
    }
}

/// Why the stage's secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Secrets Manager refused or failed.
    #[error("cannot read the stage's secret `{secret}`: {message}")]
    Read {
        /// The secret's id.
        secret: String,
        /// What went wrong.
        message: String,
    },
    /// The secret is not a JSON object of strings.
    #[error("the stage's secret `{0}` must be a JSON object of strings")]
    Shape(String),
}

impl StageSecrets {
    /// Reads secret `secret_id` (its ARN or name).
    pub async fn read(
        client: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
    ) -> Result<Self, SecretsError> {
        let answer = client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| SecretsError::Read {
                secret: secret_id.to_string(),
                message: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            })?;
        let text = answer.secret_string().unwrap_or("{}");
        let values: HashMap<String, String> =
            serde_json::from_str(text).map_err(|_| SecretsError::Shape(secret_id.to_string()))?;
        Ok(Self { values })
    }

    /// Secrets from given pairs (tests, and stages without a secret).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            values: pairs.into_iter().collect(),
        }
    }

    /// The value of `name`: the secret's, else the environment's.
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }
}

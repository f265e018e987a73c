//! Kafka client settings from the environment: `KAFKA_BOOTSTRAP_SERVERS` plus pass-through
//! `KAFKA_*` client properties (`KAFKA_SECURITY_PROTOCOL` → `security.protocol`).

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;
use rdkafka::ClientConfig;

/// Where clients connect when nothing says otherwise.
pub const DEFAULT_BOOTSTRAP_SERVERS: &str = "localhost:9092";

/// A client property that librdkafka refused, naming the variable it came from.
#[derive(Debug, thiserror::Error)]
#[error("invalid Kafka client setting {origin}={value}: {reason}")]
pub struct KafkaConfigError {
    /// The environment variable or builder call the value came from.
    pub origin: String,
    /// The value.
    pub value: String,
    /// librdkafka's reason.
    pub reason: String,
}

/// The client properties every consumer, producer and admin client of the app starts from.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    properties: Vec<(String, String, String)>,
}

impl KafkaSettings {
    /// Reads `KAFKA_*` variables from `env_vars`. A variable that does not name a librdkafka
    /// property (`KAFKA_HOME`, `KAFKA_OPTS`) is skipped with a warning; a bad value is an error.
    pub fn from_env(
        env_vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, KafkaConfigError> {
        let mut settings = Self {
            properties: vec![(
                "bootstrap.servers".into(),
                DEFAULT_BOOTSTRAP_SERVERS.into(),
                "default".into(),
            )],
        };
        let mut vars: Vec<(String, String)> = env_vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("KAFKA_"))
            .collect();
        vars.sort();
        for (var, value) in vars {
            let property = var["KAFKA_".len()..].to_ascii_lowercase().replace('_', ".");
            match check(&property, &value) {
                Ok(()) => settings.set(property, value, var),
                Err(KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, ..)) => {
                    tracing::warn!(%var, "ignoring {var}: `{property}` is not a Kafka client property");
                }
                Err(e) => return Err(rejected(var, value, e)),
            }
        }
        Ok(settings)
    }

    /// Sets a property, checking it with librdkafka.
    pub fn set_checked(&mut self, property: &str, value: &str) -> Result<(), KafkaConfigError> {
        check(property, value).map_err(|e| rejected(property.to_owned(), value.to_owned(), e))?;
        self.set(property.to_owned(), value.to_owned(), property.to_owned());
        Ok(())
    }

    fn set(&mut self, property: String, value: String, origin: String) {
        self.properties.retain(|(p, _, _)| *p != property);
        self.properties.push((property, value, origin));
    }

    /// The bootstrap servers in effect.
    pub fn bootstrap_servers(&self) -> &str {
        self.get("bootstrap.servers")
            .unwrap_or(DEFAULT_BOOTSTRAP_SERVERS)
    }

    /// A property's value, if set.
    pub fn get(&self, property: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(p, _, _)| p == property)
            .map(|(_, v, _)| v.as_str())
    }

    /// A client configuration: `defaults` (which the user's properties override, such as
    /// `auto.offset.reset`), then the user's properties, then `fixed` (what correctness
    /// depends on, such as `group.id` and manual offset storing).
    pub fn client_config(&self, defaults: &[(&str, &str)], fixed: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set_log_level(RDKafkaLogLevel::Warning);
        for (property, value) in defaults {
            config.set(*property, *value);
        }
        for (property, value, _) in &self.properties {
            config.set(property, value);
        }
        for (property, value) in fixed {
            config.set(*property, *value);
        }
        config
    }
}

fn check(property: &str, value: &str) -> Result<(), KafkaError> {
    ClientConfig::new()
        .set(property, value)
        .create_native_config()
        .map(drop)
}

fn rejected(origin: String, value: String, error: KafkaError) -> KafkaConfigError {
    let reason = match error {
        KafkaError::ClientConfig(_, desc, _, _) => desc,
        other => other.to_string(),
    };
    KafkaConfigError {
        origin,
        value,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn maps_kafka_variables_to_properties() {
        let s = KafkaSettings::from_env(vars(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "broker:19092"),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
            ("KAFKA_HOME", "/opt/kafka"),
            ("PATH", "/usr/bin"),
        ]))
        .unwrap();
        assert_eq!(s.bootstrap_servers(), "broker:19092");
        assert_eq!(s.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(s.get("sasl.mechanism"), Some("PLAIN"));
        assert_eq!(s.get("home"), None, "not a client property: skipped");
    }

    #[test]
    fn defaults_to_localhost() {
        assert_eq!(
            KafkaSettings::from_env(vec![]).unwrap().bootstrap_servers(),
            "localhost:9092"
        );
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = KafkaSettings::from_env(vars(&[("KAFKA_SECURITY_PROTOCOL", "carrier-pigeon")]))
            .unwrap_err();
        assert_eq!(err.origin, "KAFKA_SECURITY_PROTOCOL");
        assert!(
            err.to_string()
                .starts_with("invalid Kafka client setting KAFKA_SECURITY_PROTOCOL=carrier-pigeon"),
            "{err}"
        );
    }
}
